//! One run: detect -> decide -> act -> report.
//!
//! Why a separate stage after the scan: the scan only observes ([`crate::detect`]);
//! what to do is decided by pure functions ([`crate::decide`]); everything
//! that changes the world (reconcile, pull requests, history) happens in
//! [`crate::act`], behind the brakes: nothing is done for a stack whose scan
//! was incomplete, reconcile is off until a stack enables it, dry-run prints
//! the exact calls, a kill switch and an action budget bound every run, the
//! blast-radius budget sends large runs to humans, and every action is
//! verified by re-reading the resource and written to the audit log.
//! See docs/pipeline.md.

use driftd_aws::ApiCalls;
use serde_json::json;

use crate::act::{self, reconcile::Planned, reconcile::Planner, Locks};
use crate::config::{Config, ReconcileMode};
use crate::decide::{self, policy, Facts, Step};
use crate::diff::{is_sensitive, render_path};
use crate::env::Env;
use crate::history::HistoryStore;
use crate::report::*;
use crate::scan::{self, ScanOptions};

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub scan: ScanOptions,
    /// Force dry-run for every stack (`--dry-run`).
    pub dry_run: bool,
}

/// Is the kill switch on (config, or env `DRIFTD_KILL_SWITCH`)?
pub fn kill_switch(config: &Config, env: &dyn Env) -> bool {
    config.reconcile.kill_switch
        || env.var("DRIFTD_KILL_SWITCH").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
}

/// Run one full pass: detect, decide, act, report.
pub async fn run(config: &Config, options: &RunOptions, calls: &ApiCalls, env: &dyn Env) -> Report {
    let store = match &config.history {
        Some(h) => Some(HistoryStore::open(h, &options.scan.client, calls).await),
        None => None,
    };
    let lock_store = act::lock_store(config, store.as_ref());
    let locks = Locks::take(config, &options.scan, options.dry_run, lock_store).await;

    // Detect.
    let scan::Scan {
        mut report,
        details,
        managed_ids,
        unmanaged_live,
        rescanned,
    } = scan::scan(config, &options.scan, calls).await;
    // Who changed each drifted resource (CloudTrail); bounded, never fails.
    if let Some(a) = &config.attribution {
        let target_of = |stack: &str, d: &Drift| {
            d.address
                .as_ref()
                .and_then(|addr| details.get(&(stack.to_string(), addr.clone())))
                .map(|x| x.target.clone())
        };
        crate::attribution::attribute_report(
            a,
            &mut report,
            &target_of,
            store.as_ref(),
            &options.scan.client,
            calls,
        )
        .await;
    }
    let now = report.generated_at.clone();
    let mut histories = act::observe_history(store.as_ref(), &mut report).await;

    // Decide (planning a reconcile needs the provider's reconciler).
    decide::unmanaged(&config.policy, &mut report.unmanaged, &now);
    let mut planner = Planner::new(config, &options.scan.client, calls);
    let mut planned: Vec<Planned> = Vec::new();
    // A declared score must be computable, else nothing is reconciled (the
    // config check makes a threshold without a declared score an error).
    let expects_score = policy::declares_score(&config.policy.rego);
    for (si, st) in report.stacks.iter_mut().enumerate() {
        let Some(stack_cfg) = config.stacks.iter().find(|s| s.name == st.name) else {
            continue;
        };
        let name = st.name.clone();
        let detail_of = |d: &Drift| {
            d.address
                .as_ref()
                .and_then(|a| details.get(&(name.clone(), a.clone())))
        };
        let tags_of = |d: &Drift| {
            detail_of(d)
                .and_then(|x| x.desired.attrs.get("tags").cloned())
                .unwrap_or(json!({}))
        };
        // The (rendered) attribute paths of each drift that are sensitive.
        // Re-creating a missing resource writes every desired value: its
        // sensitive ones count as drifting too.
        let sensitive_of = |d: &Drift| -> Vec<String> {
            detail_of(d)
                .map(|x| {
                    decide::diffs_to_apply(d.kind, &x.desired, &x.diffs)
                        .iter()
                        .filter(|a| is_sensitive(&a.path, &x.sensitive_paths))
                        .map(|a| render_path(&a.path))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (classes, policy_failed) =
            decide::classify_stack(&config.policy, expects_score, st, &tags_of, &sensitive_of);
        let facts = Facts {
            complete: st.status == StackStatus::Ok,
            has_code: stack_cfg.code.is_some(),
            reconcile: stack_cfg.reconcile,
            persistence: config.reconcile.persistence,
            policy_failed,
            over_budget: st.blast_radius.as_ref().filter(|b| b.over_budget).cloned(),
        };
        for (di, (d, c)) in st.drifts.iter_mut().zip(classes).enumerate() {
            let decision = match decide::ladder(&c, d.seen, &facts) {
                Step::Done(decision) => decision,
                Step::Reconcile => {
                    let detail = d
                        .address
                        .as_ref()
                        .and_then(|a| details.get(&(name.clone(), a.clone())));
                    let plan = match detail {
                        None => None,
                        Some(detail) => Some(match planner.plan(d.kind, detail).await {
                            Ok((detail, actions)) if !actions.is_empty() => {
                                let n = actions.len();
                                planned.push(Planned {
                                    stack: si,
                                    drift: di,
                                    detail,
                                    actions,
                                    dry_run: options.dry_run
                                        || stack_cfg.reconcile == ReconcileMode::DryRun,
                                });
                                Ok(n)
                            }
                            Ok(_) => Ok(0),
                            Err(e) => Err(e),
                        }),
                    };
                    decide::after_plan(&c, facts.has_code, plan)
                }
            };
            d.decision = Some(decision);
        }
    }

    // Act.
    act::hold_back(&locks.refused, &mut report, &mut planned, &mut histories);
    let kill = kill_switch(config, env);
    act::reconcile::execute(config, &planner, planned, kill, &mut report).await;
    // An event-driven rescan: carry over what it did not rescan before the
    // pull requests (which would otherwise close) and the history (which
    // would otherwise forget).
    if let Some(n) = &options.scan.narrow {
        crate::events::rescan::merge(&mut report, n, &rescanned);
        for (stack, h) in histories.iter_mut() {
            crate::events::rescan::carry_history(h, &report, stack, &n.base.generated_at);
        }
    }
    act::pull_requests(
        config,
        options.dry_run,
        &mut report,
        &managed_ids,
        &unmanaged_live,
    )
    .await;
    act::save_history(store.as_ref(), options.dry_run, &histories, &mut report).await;
    locks.release().await;

    // Report.
    report.finish();
    report
}
