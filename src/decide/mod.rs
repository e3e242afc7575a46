//! Decide: what to do about each drift. Pure: no I/O, no clients.
//!
//! The decision ladder (first rung that applies wins), for each drift of a
//! stack, after classification by the policy ([`policy`]):
//!
//! 1. a policy rule ignores it -> `ignored`
//! 2. the policy (Rego) failed for the stack -> `report_only`
//! 3. the stack's scan is incomplete -> `report_only`
//! 4. a sensitive attribute drifted -> a human (`pull_request` or `report_only`)
//! 5. critical -> a human
//! 6. a rule forces `report_only` / `pull_request` -> that action
//! 7. reconcile is off for the stack -> a human
//! 8. seen in fewer consecutive scans than `reconcile.persistence` -> wait
//! 9. blast radius over budget (or not computable) -> a human
//! 10. otherwise -> reconcile, if the act stage can plan it ([`after_plan`])
//!
//! Then, per planned action, the brakes of one run ([`brake`]): dry-run,
//! kill switch, action budget. "A human" is a pull request when the stack
//! has `code`, else report only.

pub mod policy;
pub mod settings;

use driftd_core::{AttrDiff, Desired, Value};
use serde_json::json;
use tracing::warn;

use crate::report::{
    BlastRadius, Decision, DecisionAction, Drift, DriftKind, ScopeReport, StackReport, StackStatus,
};
use policy::{Classification, Score};
use settings::{PolicySettings, ReconcileMode};

/// Differences that would re-create a missing resource: every desired value.
/// Keyed sets (the registry's `Shape::Map` attributes) give one difference per key.
pub fn missing_diffs(desired: &Desired) -> Vec<AttrDiff> {
    use driftd_core::Schema as _;
    let schema = driftd_aws::AwsSchema::default();
    let mut out = Vec::new();
    for (k, v) in &desired.attrs {
        match (schema.shape(&desired.rtype, k), v) {
            (driftd_core::Shape::Map, Value::Object(m)) => {
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

/// The action that hands a drift to a human.
pub fn no_action(has_code: bool) -> DecisionAction {
    if has_code {
        DecisionAction::PullRequest
    } else {
        DecisionAction::ReportOnly
    }
}

/// What the ladder knows about a drift's stack and run.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The stack's scan is complete (`ok`).
    pub complete: bool,
    /// The stack has `code` (pull requests are possible).
    pub has_code: bool,
    pub reconcile: ReconcileMode,
    /// `reconcile.persistence`.
    pub persistence: u32,
    /// The stack's policy (Rego) evaluation failed.
    pub policy_failed: bool,
    /// The stack's blast radius, when over budget or not computable.
    pub over_budget: Option<BlastRadius>,
}

/// The ladder's answer for one drift.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Decided: nothing for the act stage to plan.
    Done(Decision),
    /// Eligible for reconcile: the act stage plans it, then [`after_plan`].
    Reconcile,
}

fn decision(c: &Classification, action: DecisionAction, reason: impl Into<String>) -> Decision {
    Decision {
        action,
        critical: c.critical,
        rule: c.rule.clone(),
        reason: reason.into(),
    }
}

/// The decision ladder for one drift (see the module docs).
pub fn ladder(c: &Classification, seen: Option<u32>, f: &Facts) -> Step {
    let human = no_action(f.has_code);
    let done = |a, r: String| Step::Done(decision(c, a, r));
    if c.action == Some(DecisionAction::Ignored) {
        done(DecisionAction::Ignored, "a policy rule ignores it".into())
    } else if f.policy_failed {
        done(
            DecisionAction::ReportOnly,
            "policy evaluation failed: no action".into(),
        )
    } else if !f.complete {
        done(
            DecisionAction::ReportOnly,
            "the scan of this stack is incomplete: no action on partial data".into(),
        )
    } else if c.sensitive {
        done(
            human,
            "a sensitive attribute changed: a human decides (only a policy rule naming the attribute exactly lets driftd reconcile it)".into(),
        )
    } else if c.critical {
        done(human, "critical: a human decides".into())
    } else if let Some(forced @ (DecisionAction::ReportOnly | DecisionAction::PullRequest)) =
        c.action
    {
        done(forced, "forced by the policy rule".into())
    } else if f.reconcile == ReconcileMode::Off {
        done(
            human,
            "non-critical, but reconcile is off for this stack".into(),
        )
    } else if seen.unwrap_or(1) < f.persistence {
        done(
            DecisionAction::ReportOnly,
            format!(
                "seen in {} of {} consecutive scans: waiting",
                seen.unwrap_or(1),
                f.persistence
            ),
        )
    } else if let Some(b) = &f.over_budget {
        done(
            human,
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
        Step::Reconcile
    }
}

/// What a reconcile plan means for a drift the ladder found eligible:
/// `Ok(n)` a plan of `n` actions, `Err` no plan possible; `None` when the
/// scan kept no live details of the drift.
pub fn after_plan(
    c: &Classification,
    has_code: bool,
    plan: Option<Result<usize, String>>,
) -> Decision {
    match plan {
        None => decision(c, DecisionAction::ReportOnly, "no live details to act on"),
        Some(Ok(0)) => decision(c, DecisionAction::ReportOnly, "nothing to change"),
        Some(Ok(_)) => decision(
            c,
            DecisionAction::Reconcile,
            "non-critical: the state's value is put back",
        ),
        Some(Err(e)) => decision(c, no_action(has_code), format!("cannot reconcile: {e}")),
    }
}

/// The brakes of one run, per planned drift (its `n` actions).
#[derive(Debug, Clone, PartialEq)]
pub enum Brake {
    /// Print the exact calls, change nothing.
    DryRun,
    /// Not done: the reason (kill switch, action budget spent).
    Stop(String),
    /// Go ahead.
    Go,
}

/// Brakes for a drift of `n` actions when `used` actions of the run's
/// budget `max_actions` are spent.
pub fn brake(dry_run: bool, kill: bool, used: usize, n: usize, max_actions: usize) -> Brake {
    if dry_run {
        Brake::DryRun
    } else if kill {
        Brake::Stop("kill switch is on (DRIFTD_KILL_SWITCH or reconcile.kill_switch)".into())
    } else if used + n > max_actions {
        Brake::Stop(format!(
            "the action budget of this run (reconcile.max_actions = {max_actions}) is spent"
        ))
    } else {
        Brake::Go
    }
}

/// Decide on unmanaged resources: classified like any drift (user rules
/// first), never changed automatically.
pub fn unmanaged(policy_settings: &PolicySettings, scopes: &mut [ScopeReport], now: &str) {
    for sc in scopes.iter_mut() {
        for d in sc.drifts.iter_mut() {
            d.first_seen.get_or_insert_with(|| now.to_string());
            d.seen.get_or_insert(1);
            let c = policy::classify(policy_settings, d, &json!({}), &[]);
            d.decision = Some(if c.action == Some(DecisionAction::Ignored) {
                decision(&c, DecisionAction::Ignored, "a policy rule ignores it")
            } else {
                decision(
                    &c,
                    DecisionAction::ReportOnly,
                    "unmanaged resources are never changed automatically: import them or delete them",
                )
            });
        }
    }
}

/// Classify a stack's drifts (config rules, then Rego) and set its blast
/// radius. Policy failures become data: an error on the stack, which is
/// then incomplete, and `true` returned (nothing is acted on).
pub fn classify_stack(
    settings: &PolicySettings,
    expects_score: bool,
    st: &mut StackReport,
    tags_of: &dyn Fn(&Drift) -> Value,
    sensitive_of: &dyn Fn(&Drift) -> Vec<String>,
) -> (Vec<Classification>, bool) {
    let mut classes: Vec<Classification> = st
        .drifts
        .iter()
        .map(|d| policy::classify(settings, d, &tags_of(d), &sensitive_of(d)))
        .collect();
    let mut policy_error = None;
    if !settings.rego.is_empty() && !st.drifts.is_empty() {
        let pairs: Vec<(&Drift, &Classification)> = st.drifts.iter().zip(classes.iter()).collect();
        let input = policy::rego_input(&st.name, settings.blast_radius_threshold, &pairs);
        match policy::evaluate(settings, &input) {
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
                let t = settings.blast_radius_threshold;
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
    (classes, policy_error.is_some())
}

/// The facts of a drift that come from its kind: re-creating a missing
/// resource writes every desired value.
pub fn diffs_to_apply(kind: DriftKind, desired: &Desired, diffs: &[AttrDiff]) -> Vec<AttrDiff> {
    if kind == DriftKind::Missing {
        missing_diffs(desired)
    } else {
        diffs.to_vec()
    }
}

#[cfg(test)]
mod tests;
