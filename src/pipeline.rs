//! One run: scan -> decide -> act -> report.
//!
//! Why a separate stage after the scan: the scan only observes; everything
//! that changes the world (reconcile now, pull requests next) happens here,
//! behind the brakes: nothing is done for a stack whose scan was incomplete,
//! reconcile is off until a stack enables it, dry-run prints the exact calls,
//! a kill switch and an action budget bound every run, the blast-radius
//! budget sends large runs to humans, and every action is verified by
//! re-reading the resource and written to the audit log.

use std::collections::{BTreeMap, HashMap};

use driftd_aws::{ApiCalls, AwsReader, AwsReconciler, AwsSchema, Clients, Target};
use driftd_core::{Action, AttrDiff, Desired, ReadRequest, Reader, Reconciler, Schema, Value};
use serde_json::json;
use tracing::{error, info, warn};

use crate::audit::AuditLog;
use crate::config::{Config, ReconcileMode};
use crate::diff::{diff, is_sensitive, render_path, SENSITIVE};
use crate::env::Env;
use crate::history::{self, HistoryStore};
use crate::policy::{self, Classification, Score};
use crate::pr::{self, ProposedDrift};
use crate::report::*;
use crate::scan::{self, Detail, ScanOptions};

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

/// Differences that would re-create a missing resource: every desired value.
fn missing_diffs(desired: &Desired) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    for (k, v) in &desired.attrs {
        match (k.as_str(), v) {
            ("tags" | "rules" | "ingress" | "egress", Value::Object(m)) => {
                for (mk, mv) in m {
                    out.push(AttrDiff {
                        path: vec![k.clone(), mk.clone()],
                        expected: mv.clone(),
                        actual: Value::Null,
                    });
                }
            }
            _ => out.push(AttrDiff {
                path: vec![k.clone()],
                expected: v.clone(),
                actual: Value::Null,
            }),
        }
    }
    out
}

struct Planned {
    stack: usize,
    drift: usize,
    detail: Detail,
    actions: Vec<Action>,
    dry_run: bool,
}

fn mask_action(a: &Action, detail: &Detail) -> (Value, Value, Value) {
    if a.operation == "s3:PutBucketTagging" {
        // A whole tag set: mask the values of sensitive keys only, so the
        // other tags of `before` can still be put back.
        let secret = |k: &str| {
            is_sensitive(
                &["tags".to_string(), k.to_string()],
                &detail.sensitive_paths,
            )
        };
        return (
            mask_tags(&a.params, &secret),
            mask_tags(&a.before, &secret),
            mask_tags(&a.after, &secret),
        );
    }
    // Compare joined paths: a tag key may itself contain dots (`db.password`).
    let first = a.attribute.split('.').next().unwrap_or("").to_string();
    let sensitive = is_sensitive(std::slice::from_ref(&first), &[])
        || detail.sensitive_paths.iter().any(|sp| {
            let joined = sp
                .iter()
                .filter(|s| s.parse::<u64>().is_err())
                .cloned()
                .collect::<Vec<_>>()
                .join(".");
            a.attribute == joined
                || a.attribute.starts_with(&format!("{joined}."))
                || joined.starts_with(&format!("{}.", a.attribute))
        });
    if sensitive {
        let s = Value::String(SENSITIVE.into());
        (s.clone(), s.clone(), s)
    } else {
        (a.params.clone(), a.before.clone(), a.after.clone())
    }
}

/// Mask sensitive tag values in a tag document: `{"TagSet": [{"Key", "Value"}]}`
/// (S3 parameters) or a `{key: value}` map (the state's tags).
fn mask_tags(v: &Value, secret: &dyn Fn(&str) -> bool) -> Value {
    let masked = || Value::String(SENSITIVE.into());
    let mut v = v.clone();
    if let Some(set) = v.get_mut("TagSet").and_then(Value::as_array_mut) {
        for t in set {
            let key = t["Key"].as_str().unwrap_or_default().to_string();
            if secret(&key) && t.get("Value").is_some_and(|x| !x.is_null()) {
                t["Value"] = masked();
            }
        }
    } else if let Some(m) = v.as_object_mut() {
        for (k, x) in m.iter_mut() {
            if secret(k) && !x.is_null() {
                *x = masked();
            }
        }
    }
    v
}

fn no_action(has_code: bool) -> DecisionAction {
    if has_code {
        DecisionAction::PullRequest
    } else {
        DecisionAction::ReportOnly
    }
}

/// Run one full pass: scan, decide, reconcile, record history.
pub async fn run(config: &Config, options: &RunOptions, calls: &ApiCalls, env: &dyn Env) -> Report {
    let store = match &config.history {
        Some(h) => Some(HistoryStore::open(h, &options.scan.client, calls).await),
        None => None,
    };
    // Lock, before scanning, every stack this run may act on (reconcile,
    // pull requests, history): a concurrent run of the same stack must not
    // act twice, nor act on a scan taken before the other run's changes.
    // A dry run acts on nothing and takes no lock.
    let lock_store = match (&store, &config.reconcile.audit_log) {
        (Some(s), _) => s.clone(),
        (None, Some(audit)) => HistoryStore::local(
            &audit
                .parent()
                .map(|p| p.join(".driftd-locks"))
                .unwrap_or_default(),
        ),
        (None, None) => HistoryStore::local(
            &config
                .path
                .parent()
                .map(|p| p.join(".driftd-locks"))
                .unwrap_or_default(),
        ),
    };
    let mut locks = Vec::new();
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    if !options.dry_run {
        for sc in scan::select_stacks(config, &options.scan) {
            let acts =
                sc.reconcile != ReconcileMode::Off || sc.code.is_some() || config.history.is_some();
            if !acts {
                continue;
            }
            match lock_store.try_lock(&sc.name).await {
                Ok(history::LockResult::Acquired(l)) => locks.push(l),
                Ok(history::LockResult::HeldBy { acquired_at }) => {
                    held.insert(
                        sc.name.clone(),
                        format!(
                            "another driftd run holds the lock on this stack (since {acquired_at})"
                        ),
                    );
                }
                Err(e) => {
                    held.insert(
                        sc.name.clone(),
                        format!("cannot take the lock on this stack: {e}"),
                    );
                }
            }
        }
    }
    let scan::Scan {
        mut report,
        details,
        managed_ids,
        unmanaged_live,
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
    let schema = AwsSchema {
        instance_attribute_reads: config.scan.instance_attribute_reads,
    };

    // History: first_seen and consecutive sightings.
    let mut histories = BTreeMap::new();
    for st in report.stacks.iter_mut() {
        let prev = match &store {
            Some(s) if st.status != StackStatus::Failed => match s.load(&st.name).await {
                Ok(h) => h,
                Err(e) => {
                    // Without history, persistence cannot be judged: act on nothing.
                    st.errors.push(e);
                    st.status = st.status.max(StackStatus::Incomplete);
                    Default::default()
                }
            },
            _ => Default::default(),
        };
        let next = history::observe(&prev, &mut st.drifts, &now);
        if st.status == StackStatus::Ok {
            histories.insert(st.name.clone(), next);
        }
    }
    for sc in report.unmanaged.iter_mut() {
        for d in sc.drifts.iter_mut() {
            d.first_seen.get_or_insert_with(|| now.clone());
            d.seen.get_or_insert(1);
            // Classified like any drift (user rules first); never deleted.
            let c = policy::classify(&config.policy, d, &json!({}), &[]);
            d.decision = Some(if c.action == Some(DecisionAction::Ignored) {
                Decision {
                    action: DecisionAction::Ignored,
                    critical: c.critical,
                    rule: c.rule,
                    reason: "a policy rule ignores it".into(),
                }
            } else {
                Decision {
                    action: DecisionAction::ReportOnly,
                    critical: c.critical,
                    rule: c.rule,
                    reason: "unmanaged resources are never changed automatically: import them or delete them".into(),
                }
            });
        }
    }

    // Decide.
    let mut reconcilers: HashMap<Target, AwsReconciler> = HashMap::new();
    let mut planned: Vec<Planned> = Vec::new();
    // A declared score must be computable, else nothing is reconciled (the
    // config check makes a threshold without a declared score an error).
    let expects_score = policy::declares_score(&config.policy.rego);
    for (si, st) in report.stacks.iter_mut().enumerate() {
        let Some(stack_cfg) = config.stacks.iter().find(|s| s.name == st.name) else {
            continue;
        };
        let has_code = stack_cfg.code.is_some();
        let complete = st.status == StackStatus::Ok;
        let tags_of = |d: &Drift| {
            d.address
                .as_ref()
                .and_then(|a| details.get(&(st.name.clone(), a.clone())))
                .and_then(|x| x.desired.attrs.get("tags").cloned())
                .unwrap_or(json!({}))
        };
        // The (rendered) attribute paths of each drift that are sensitive.
        let sensitive_of = |d: &Drift| -> Vec<String> {
            d.address
                .as_ref()
                .and_then(|a| details.get(&(st.name.clone(), a.clone())))
                .map(|x| {
                    // Re-creating a missing resource writes every desired
                    // value: its sensitive ones count as drifting too.
                    let recreate;
                    let diffs = if d.kind == DriftKind::Missing {
                        recreate = missing_diffs(&x.desired);
                        &recreate
                    } else {
                        &x.diffs
                    };
                    diffs
                        .iter()
                        .filter(|a| is_sensitive(&a.path, &x.sensitive_paths))
                        .map(|a| render_path(&a.path))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut classes: Vec<Classification> = st
            .drifts
            .iter()
            .map(|d| policy::classify(&config.policy, d, &tags_of(d), &sensitive_of(d)))
            .collect();
        let mut policy_error = None;
        if !config.policy.rego.is_empty() && !st.drifts.is_empty() {
            let pairs: Vec<(&Drift, &Classification)> =
                st.drifts.iter().zip(classes.iter()).collect();
            let input = policy::rego_input(&st.name, config.policy.blast_radius_threshold, &pairs);
            match policy::evaluate(&config.policy, &input) {
                Ok(v) => {
                    for (d, c) in st.drifts.iter().zip(classes.iter_mut()) {
                        let addr = d.address.clone().unwrap_or_default();
                        if v.critical.contains(&addr) {
                            *c = Classification {
                                critical: true,
                                rule: "rego".into(),
                                action: c.action,
                                sensitive: c.sensitive,
                            };
                        } else if v.non_critical.contains(&addr) && !c.sensitive {
                            // A sensitive attribute stays critical: Rego
                            // names resources, not the attribute.
                            *c = Classification {
                                critical: false,
                                rule: "rego".into(),
                                action: c.action,
                                sensitive: false,
                            };
                        }
                    }
                    let t = config.policy.blast_radius_threshold;
                    let unknown = |why: String| BlastRadius {
                        score: None,
                        threshold: t,
                        over_budget: true,
                        error: Some(why),
                    };
                    st.blast_radius = match v.score {
                        Score::Number(score) => Some(BlastRadius {
                            score: Some(score),
                            threshold: t,
                            over_budget: score > t,
                            error: None,
                        }),
                        Score::Undefined if !expects_score => None,
                        Score::Undefined => Some(unknown(
                            "data.driftd.score is undefined for this run".into(),
                        )),
                        Score::NotANumber(ty) => Some(unknown(format!(
                            "data.driftd.score is a {ty}, not a number"
                        ))),
                    };
                    if let Some(e) = st.blast_radius.as_ref().and_then(|b| b.error.clone()) {
                        warn!(stack = %st.name, error = %e, "blast radius cannot be computed: nothing is reconciled");
                        st.errors.push(format!(
                            "blast radius: {e}: nothing is reconciled for this stack"
                        ));
                    }
                }
                Err(e) => policy_error = Some(e),
            }
        }
        if let Some(e) = &policy_error {
            st.errors.push(format!("policy: {e}"));
            st.status = st.status.max(StackStatus::Incomplete);
        }
        let over_budget = st.blast_radius.as_ref().filter(|b| b.over_budget).cloned();
        for (di, (d, c)) in st.drifts.iter_mut().zip(classes).enumerate() {
            let decide = |action: DecisionAction, reason: String| Decision {
                action,
                critical: c.critical,
                rule: c.rule.clone(),
                reason,
            };
            let decision = if c.action == Some(DecisionAction::Ignored) {
                decide(DecisionAction::Ignored, "a policy rule ignores it".into())
            } else if policy_error.is_some() {
                decide(
                    DecisionAction::ReportOnly,
                    "policy evaluation failed: no action".into(),
                )
            } else if !complete {
                decide(
                    DecisionAction::ReportOnly,
                    "the scan of this stack is incomplete: no action on partial data".into(),
                )
            } else if c.sensitive {
                decide(
                    no_action(has_code),
                    "a sensitive attribute changed: a human decides (only a policy rule naming the attribute exactly lets driftd reconcile it)".into(),
                )
            } else if c.critical {
                decide(no_action(has_code), "critical: a human decides".into())
            } else if let Some(
                forced @ (DecisionAction::ReportOnly | DecisionAction::PullRequest),
            ) = c.action
            {
                decide(forced, "forced by the policy rule".into())
            } else if stack_cfg.reconcile == ReconcileMode::Off {
                decide(
                    no_action(has_code),
                    "non-critical, but reconcile is off for this stack".into(),
                )
            } else if d.seen.unwrap_or(1) < config.reconcile.persistence {
                decide(
                    DecisionAction::ReportOnly,
                    format!(
                        "seen in {} of {} consecutive scans: waiting",
                        d.seen.unwrap_or(1),
                        config.reconcile.persistence
                    ),
                )
            } else if let Some(b) = &over_budget {
                decide(
                    no_action(has_code),
                    match (b.score, &b.error) {
                        (Some(score), None) => format!(
                            "blast radius {} exceeds the budget {}: a human decides",
                            score, b.threshold
                        ),
                        (_, e) => format!(
                            "blast radius cannot be computed ({}): a human decides",
                            e.as_deref().unwrap_or("no score")
                        ),
                    },
                )
            } else {
                let detail = d
                    .address
                    .as_ref()
                    .and_then(|a| details.get(&(st.name.clone(), a.clone())));
                match detail {
                    None => decide(
                        DecisionAction::ReportOnly,
                        "no live details to act on".into(),
                    ),
                    Some(detail) => {
                        let rec = match reconcilers.get(&detail.target) {
                            Some(r) => r.clone(),
                            None => {
                                let r = AwsReconciler {
                                    clients: Clients::new(
                                        &detail.target,
                                        &crate::scan::client_options(config, &options.scan.client),
                                        calls,
                                    )
                                    .await,
                                };
                                reconcilers.insert(detail.target.clone(), r.clone());
                                r
                            }
                        };
                        let diffs = if d.kind == DriftKind::Missing {
                            missing_diffs(&detail.desired)
                        } else {
                            detail.diffs.clone()
                        };
                        // Whole-set writes (S3 tags) keep ignored attributes as they are live.
                        let mut desired = detail.desired.clone();
                        for x in detail
                            .ignored
                            .iter()
                            .filter(|x| x.path.len() == 2 && x.path[0] == "tags")
                        {
                            if let Some(Value::Object(tags)) = desired.attrs.get_mut("tags") {
                                match &x.actual {
                                    Value::Null => {
                                        tags.remove(&x.path[1]);
                                    }
                                    v => {
                                        tags.insert(x.path[1].clone(), v.clone());
                                    }
                                }
                            }
                        }
                        match rec.plan(&desired, &diffs) {
                            Ok(actions) if !actions.is_empty() => {
                                let dry_run =
                                    options.dry_run || stack_cfg.reconcile == ReconcileMode::DryRun;
                                planned.push(Planned {
                                    stack: si,
                                    drift: di,
                                    // Verified against what was asked for (ignored attributes as live).
                                    detail: Detail {
                                        desired: desired.clone(),
                                        ..detail.clone()
                                    },
                                    actions,
                                    dry_run,
                                });
                                decide(
                                    DecisionAction::Reconcile,
                                    "non-critical: the state's value is put back".to_string(),
                                )
                            }
                            Ok(_) => decide(DecisionAction::ReportOnly, "nothing to change".into()),
                            Err(e) => decide(no_action(has_code), format!("cannot reconcile: {e}")),
                        }
                    }
                }
            };
            d.decision = Some(decision);
        }
    }

    // Stacks another run holds: reported, never acted on.
    for (si, st) in report.stacks.iter_mut().enumerate() {
        let Some(reason) = held.get(&st.name) else {
            continue;
        };
        warn!(stack = %st.name, %reason, "not acting");
        st.errors.push(reason.clone());
        histories.remove(&st.name);
        for d in st.drifts.iter_mut() {
            if let Some(dec) = d.decision.as_mut().filter(|x| {
                matches!(
                    x.action,
                    DecisionAction::Reconcile | DecisionAction::PullRequest
                )
            }) {
                dec.action = DecisionAction::ReportOnly;
                dec.reason = reason.clone();
            }
        }
        planned.retain(|p| p.stack != si);
        // No pull request sync either (it could close PRs the other run keeps).
        st.status = st.status.max(StackStatus::Incomplete);
    }

    // Act.
    let kill = kill_switch(config, env);
    let audit = config.reconcile.audit_log.as_deref().map(AuditLog::new);
    let mut used = 0usize;
    for p in planned {
        let st_name = report.stacks[p.stack].name.clone();
        let address = report.stacks[p.stack].drifts[p.drift]
            .address
            .clone()
            .unwrap_or_default();
        let over = !p.dry_run && !kill && used + p.actions.len() > config.reconcile.max_actions;
        let mut records: Vec<ActionRecord> = Vec::new();
        let rec = reconcilers.get(&p.detail.target).cloned();
        let mut applied_paths = Vec::new();
        for a in &p.actions {
            let (params, before, after) = mask_action(a, &p.detail);
            let mut r = ActionRecord {
                address: address.clone(),
                rtype: a.rtype.clone(),
                id: a.id.clone(),
                attribute: a.attribute.clone(),
                operation: a.operation.clone(),
                params,
                before,
                after,
                outcome: ActionOutcome::Skipped,
                dry_run: p.dry_run,
                error: None,
            };
            if p.dry_run {
                r.outcome = ActionOutcome::DryRun;
            } else if kill {
                r.error =
                    Some("kill switch is on (DRIFTD_KILL_SWITCH or reconcile.kill_switch)".into());
            } else if over {
                r.error = Some(format!(
                    "the action budget of this run (reconcile.max_actions = {}) is spent",
                    config.reconcile.max_actions
                ));
            } else {
                // Whole-document writes: log the complete previous document,
                // so the change can be undone; if it cannot be read, no action.
                if let Some(fut) = rec.as_ref().map(|x| x.previous(a)) {
                    match fut.await {
                        Ok(Some(doc)) => {
                            let with_doc = Action {
                                before: doc,
                                ..a.clone()
                            };
                            r.before = mask_action(&with_doc, &p.detail).1;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            r.outcome = ActionOutcome::Failed;
                            r.error = Some(format!("not done: {e}"));
                            records.push(r);
                            continue;
                        }
                    }
                }
                if let Some(log) = &audit {
                    if let Err(e) = log.started(&st_name, &r) {
                        // No audit trail, no action.
                        r.outcome = ActionOutcome::Failed;
                        r.error = Some(e);
                        records.push(r);
                        continue;
                    }
                }
                used += 1;
                match rec.as_ref().map(|x| x.apply(a)) {
                    Some(fut) => match fut.await {
                        Ok(()) => {
                            r.outcome = ActionOutcome::Succeeded;
                            applied_paths.push(a.attribute.clone());
                        }
                        Err(e) => {
                            r.outcome = ActionOutcome::Failed;
                            r.error = Some(e);
                        }
                    },
                    None => {
                        r.outcome = ActionOutcome::Failed;
                        r.error = Some("no client".into());
                    }
                }
            }
            records.push(r);
        }
        // Verify: re-read the resource; what we changed must no longer differ.
        if !applied_paths.is_empty() {
            let still = match &rec {
                Some(r) => verify(&schema, &p.detail, &r.clients, config.scan.concurrency).await,
                None => Err("no client".into()),
            };
            for r in records
                .iter_mut()
                .filter(|r| r.outcome == ActionOutcome::Succeeded)
            {
                match &still {
                    Err(e) => {
                        r.outcome = ActionOutcome::Failed;
                        r.error = Some(format!("could not verify: {e}"));
                    }
                    Ok(paths) if still_drifted(paths, &r.attribute, &p.detail.desired) => {
                        r.outcome = ActionOutcome::Failed;
                        r.error = Some("still drifted when re-read after the change".into());
                    }
                    Ok(_) => {}
                }
            }
        }
        for r in &records {
            if let Some(log) = &audit {
                if let Err(e) = log.append(&st_name, r.outcome.as_str(), r) {
                    warn!(error = %e, "audit log write failed");
                }
            }
            if r.outcome == ActionOutcome::Failed {
                // At the default log level: a failed change needs a human.
                error!(stack = %st_name, address = %r.address, operation = %r.operation, error = r.error.as_deref().unwrap_or(""), "reconcile action failed");
            } else {
                info!(stack = %st_name, address = %r.address, operation = %r.operation, outcome = r.outcome.as_str(), dry_run = r.dry_run, "reconcile action");
            }
        }
        let st = &mut report.stacks[p.stack];
        if over || kill {
            if let Some(dec) = st.drifts[p.drift].decision.as_mut() {
                dec.reason = format!(
                    "{} (not done: {})",
                    dec.reason,
                    records[0].error.clone().unwrap_or_default()
                );
            }
        }
        st.actions.extend(records);
    }

    // Pull requests: only for complete stacks (an empty proposal closes PRs,
    // which must never happen because a read failed).
    if let (Some(settings), false) = (&config.github, options.dry_run) {
        // Unmanaged resources a stack's import rule maps to it (issue 12).
        let imports = pr::generate::stack_imports(config, &mut report, &unmanaged_live);
        for st in report
            .stacks
            .iter_mut()
            .filter(|s| s.status == StackStatus::Ok)
        {
            let Some(stack_cfg) = config.stacks.iter().find(|s| s.name == st.name) else {
                continue;
            };
            let Some(code) = stack_cfg.code.as_ref() else {
                continue;
            };
            let mut code_options = stack_cfg.code_options.clone();
            code_options.managed_ids = managed_ids.get(&st.name).cloned().unwrap_or_default();
            let imported = match imports.get(&st.name) {
                Some(Err(e)) => {
                    // Never sync on a partial list: it would close import PRs.
                    st.errors.push(format!("pull requests: not synced: {e}"));
                    continue;
                }
                Some(Ok(v)) => v.clone(),
                None => vec![],
            };
            let proposals: Vec<ProposedDrift> = st
                .drifts
                .iter()
                .filter(|d| {
                    d.decision
                        .as_ref()
                        .is_some_and(|x| x.action == DecisionAction::PullRequest)
                })
                .map(|d| {
                    let dec = d.decision.as_ref().expect("filtered");
                    ProposedDrift {
                        address: d.address.clone(),
                        rtype: d.rtype.clone(),
                        id: d.id.clone(),
                        kind: d.kind,
                        attributes: d.attributes.clone(),
                        first_seen: d.first_seen.clone(),
                        critical: dec.critical,
                        reason: format!("{} ({})", dec.reason, dec.rule),
                        live: None,
                    }
                })
                .chain(imported)
                .collect();
            match pr::sync_stack_with(settings, &st.name, code, &code_options, &proposals).await {
                Ok(o) => {
                    info!(stack = %st.name, opened = o.opened.len(), updated = o.updated.len(), closed = o.closed.len(), "pull requests");
                    st.pull_requests = Some(PullRequests {
                        opened: o.opened,
                        updated: o.updated,
                        closed: o.closed,
                        unchanged: o.unchanged,
                        held_back: o.held_back,
                        needs_human: o
                            .needs_human
                            .iter()
                            .map(|n| match &n.attribute {
                                Some(a) => format!("{} {a}: {}", n.resource, n.reason),
                                None => format!("{}: {}", n.resource, n.reason),
                            })
                            .collect(),
                        respected_human_close: o.respected_human_close,
                    });
                }
                Err(e) => st.errors.push(format!("pull requests: {e}")),
            }
        }
    }

    // History is saved last: only for complete stacks.
    if let (Some(store), false) = (&store, options.dry_run) {
        for (stack, h) in &histories {
            if let Err(e) = store.save(stack, h).await {
                if let Some(st) = report.stacks.iter_mut().find(|s| &s.name == stack) {
                    st.errors.push(e);
                    st.status = st.status.max(StackStatus::Incomplete);
                }
            }
        }
    }
    for l in &locks {
        lock_store.unlock(l).await;
    }
    report.finish();
    report
}

/// Does a remaining difference belong to what this action changed? An action
/// on a whole resource (`public_access_block`) owns every remaining path.
fn still_drifted(paths: &[String], attribute: &str, desired: &Desired) -> bool {
    let whole = !desired
        .attrs
        .contains_key(attribute.split('.').next().unwrap_or(""));
    paths.iter().any(|p| {
        whole
            || p == attribute
            || p.starts_with(&format!("{attribute}."))
            || attribute.starts_with(&format!("{p}."))
    })
}

/// Re-read one resource; the paths (dot-joined) that still differ.
async fn verify(
    schema: &AwsSchema,
    detail: &Detail,
    clients: &Clients,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    // The reconciler's clients: same target, no second credential resolution.
    let reader = AwsReader {
        clients: clients.clone(),
        region: detail.target.region.clone(),
        concurrency,
    };
    let desired = [detail.desired.clone()];
    let inv = reader
        .read(ReadRequest {
            desired: &desired,
            discover_unmanaged: false,
        })
        .await;
    // `lookup` sees per-resource read failures (one unreadable bucket) as
    // failures, never as "gone".
    match inv.lookup(&detail.desired.rtype, &detail.desired.id) {
        Ok(Some(live)) => Ok(diff(&detail.desired.attrs, &live.attrs, |a| {
            schema.shape(&detail.desired.rtype, a)
        })
        .iter()
        .map(|d| d.path.join("."))
        .collect()),
        Ok(None) => Err("the resource is gone".into()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_tag_keys_with_dots_are_masked() {
        let detail = Detail {
            target: Target {
                region: "us-east-1".into(),
                endpoint_url: None,
                assume_role_arn: None,
            },
            desired: Desired {
                address: "aws_instance.a".into(),
                rtype: "aws_instance".into(),
                id: "i-1".into(),
                attrs: Default::default(),
            },
            diffs: vec![],
            ignored: vec![],
            sensitive_paths: vec![vec!["tags".into(), "db.password".into()]],
        };
        let action = |attr: &str| Action {
            rtype: "aws_instance".into(),
            id: "i-1".into(),
            attribute: attr.into(),
            operation: "ec2:CreateTags".into(),
            params: json!({"Tags": [{"Key": "db.password", "Value": "hunter2"}]}),
            before: json!("hunter3"),
            after: json!("hunter2"),
        };
        let (p, b, a) = mask_action(&action("tags.db.password"), &detail);
        assert!(!format!("{p}{b}{a}").contains("hunter"));
        let (p, _, _) = mask_action(&action("tags.Team"), &detail);
        assert!(p.to_string().contains("hunter2"), "other tags are shown");
        let (p, _, _) = mask_action(&action("user_data"), &detail);
        assert_eq!(p, json!(SENSITIVE));

        // A whole tag set: only the sensitive tag's values are masked.
        let whole = Action {
            rtype: "aws_s3_bucket".into(),
            id: "b".into(),
            attribute: "tags".into(),
            operation: "s3:PutBucketTagging".into(),
            params: json!({"Bucket": "b", "TagSet": [{"Key": "db.password", "Value": "hunter2"}, {"Key": "Team", "Value": "web"}]}),
            before: json!({"Bucket": "b", "TagSet": [{"Key": "db.password", "Value": "hunter3"}, {"Key": "Team", "Value": "ops"}]}),
            after: json!({"db.password": "hunter2", "Team": "web"}),
        };
        let (p, b, a) = mask_action(&whole, &detail);
        assert!(!format!("{p}{b}{a}").contains("hunter"), "{p} {b} {a}");
        assert_eq!(
            b,
            json!({"Bucket": "b", "TagSet": [{"Key": "db.password", "Value": SENSITIVE}, {"Key": "Team", "Value": "ops"}]})
        );
        assert_eq!(a, json!({"db.password": SENSITIVE, "Team": "web"}));
    }
}
