//! The decision ladder, table-tested: no moto, no clients, no files.

use super::*;

fn class(critical: bool, sensitive: bool, action: Option<DecisionAction>) -> Classification {
    Classification {
        critical,
        rule: "r".into(),
        action,
        sensitive,
    }
}

fn facts() -> Facts {
    Facts {
        complete: true,
        has_code: false,
        reconcile: ReconcileMode::Apply,
        persistence: 1,
        policy_failed: false,
        over_budget: None,
    }
}

fn budget(score: Option<f64>, error: Option<&str>) -> Option<BlastRadius> {
    Some(BlastRadius {
        score,
        threshold: 10.0,
        over_budget: true,
        error: error.map(str::to_string),
    })
}

use DecisionAction::{Ignored, PullRequest, ReportOnly};

/// (name, classification, seen, facts, expected action or None for
/// "reconcile", expected reason prefix)
#[allow(clippy::type_complexity)]
fn rows() -> Vec<(
    &'static str,
    Classification,
    Option<u32>,
    Facts,
    Option<DecisionAction>,
    &'static str,
)> {
    let nc = class(false, false, None);
    let f = facts();
    vec![
        (
            "plain non-critical reconciles",
            nc.clone(),
            None,
            f.clone(),
            None,
            "",
        ),
        (
            "ignored by a rule",
            class(false, false, Some(Ignored)),
            None,
            f.clone(),
            Some(Ignored),
            "a policy rule ignores it",
        ),
        (
            "ignored wins over critical",
            class(true, false, Some(Ignored)),
            None,
            f.clone(),
            Some(Ignored),
            "a policy rule ignores it",
        ),
        (
            "ignored wins over an incomplete scan",
            class(false, false, Some(Ignored)),
            None,
            Facts {
                complete: false,
                ..f.clone()
            },
            Some(Ignored),
            "a policy rule",
        ),
        (
            "policy failed",
            nc.clone(),
            None,
            Facts {
                policy_failed: true,
                ..f.clone()
            },
            Some(ReportOnly),
            "policy evaluation failed",
        ),
        (
            "policy failed beats code",
            nc.clone(),
            None,
            Facts {
                policy_failed: true,
                has_code: true,
                ..f.clone()
            },
            Some(ReportOnly),
            "policy evaluation failed",
        ),
        (
            "incomplete scan",
            nc.clone(),
            None,
            Facts {
                complete: false,
                ..f.clone()
            },
            Some(ReportOnly),
            "the scan of this stack is incomplete",
        ),
        (
            "incomplete scan beats critical with code",
            class(true, false, None),
            None,
            Facts {
                complete: false,
                has_code: true,
                ..f.clone()
            },
            Some(ReportOnly),
            "the scan of this stack is incomplete",
        ),
        (
            "sensitive, no code",
            class(true, true, None),
            None,
            f.clone(),
            Some(ReportOnly),
            "a sensitive attribute changed",
        ),
        (
            "sensitive, code",
            class(true, true, None),
            None,
            Facts {
                has_code: true,
                ..f.clone()
            },
            Some(PullRequest),
            "a sensitive attribute changed",
        ),
        (
            "sensitive beats a forced action",
            class(true, true, Some(PullRequest)),
            None,
            f.clone(),
            Some(ReportOnly),
            "a sensitive attribute",
        ),
        (
            "critical, no code",
            class(true, false, None),
            None,
            f.clone(),
            Some(ReportOnly),
            "critical: a human decides",
        ),
        (
            "critical, code",
            class(true, false, None),
            None,
            Facts {
                has_code: true,
                ..f.clone()
            },
            Some(PullRequest),
            "critical: a human decides",
        ),
        (
            "critical beats reconcile off",
            class(true, false, None),
            None,
            Facts {
                reconcile: ReconcileMode::Off,
                ..f.clone()
            },
            Some(ReportOnly),
            "critical",
        ),
        (
            "forced report_only",
            class(false, false, Some(ReportOnly)),
            None,
            Facts {
                has_code: true,
                ..f.clone()
            },
            Some(ReportOnly),
            "forced by the policy rule",
        ),
        (
            "forced pull_request without code",
            class(false, false, Some(PullRequest)),
            None,
            f.clone(),
            Some(PullRequest),
            "forced by the policy rule",
        ),
        (
            "forced beats reconcile off",
            class(false, false, Some(ReportOnly)),
            None,
            Facts {
                reconcile: ReconcileMode::Off,
                ..f.clone()
            },
            Some(ReportOnly),
            "forced",
        ),
        (
            "reconcile off, no code",
            nc.clone(),
            None,
            Facts {
                reconcile: ReconcileMode::Off,
                ..f.clone()
            },
            Some(ReportOnly),
            "non-critical, but reconcile is off",
        ),
        (
            "reconcile off, code",
            nc.clone(),
            None,
            Facts {
                reconcile: ReconcileMode::Off,
                has_code: true,
                ..f.clone()
            },
            Some(PullRequest),
            "non-critical, but reconcile is off",
        ),
        (
            "reconcile off beats persistence",
            nc.clone(),
            Some(1),
            Facts {
                reconcile: ReconcileMode::Off,
                persistence: 3,
                ..f.clone()
            },
            Some(ReportOnly),
            "non-critical, but",
        ),
        (
            "dry-run mode still plans",
            nc.clone(),
            None,
            Facts {
                reconcile: ReconcileMode::DryRun,
                ..f.clone()
            },
            None,
            "",
        ),
        (
            "persistence: first sighting waits",
            nc.clone(),
            None,
            Facts {
                persistence: 2,
                ..f.clone()
            },
            Some(ReportOnly),
            "seen in 1 of 2 consecutive scans: waiting",
        ),
        (
            "persistence: seen once of three",
            nc.clone(),
            Some(1),
            Facts {
                persistence: 3,
                ..f.clone()
            },
            Some(ReportOnly),
            "seen in 1 of 3",
        ),
        (
            "persistence: seen twice of three",
            nc.clone(),
            Some(2),
            Facts {
                persistence: 3,
                has_code: true,
                ..f.clone()
            },
            Some(ReportOnly),
            "seen in 2 of 3",
        ),
        (
            "persistence reached",
            nc.clone(),
            Some(3),
            Facts {
                persistence: 3,
                ..f.clone()
            },
            None,
            "",
        ),
        (
            "persistence exceeded",
            nc.clone(),
            Some(9),
            Facts {
                persistence: 3,
                ..f.clone()
            },
            None,
            "",
        ),
        (
            "persistence beats blast radius",
            nc.clone(),
            Some(1),
            Facts {
                persistence: 2,
                over_budget: budget(Some(50.0), None),
                ..f.clone()
            },
            Some(ReportOnly),
            "seen in 1 of 2",
        ),
        (
            "over budget, no code",
            nc.clone(),
            None,
            Facts {
                over_budget: budget(Some(50.0), None),
                ..f.clone()
            },
            Some(ReportOnly),
            "blast radius 50 exceeds the budget 10",
        ),
        (
            "over budget, code",
            nc.clone(),
            None,
            Facts {
                over_budget: budget(Some(50.0), None),
                has_code: true,
                ..f.clone()
            },
            Some(PullRequest),
            "blast radius 50 exceeds",
        ),
        (
            "score not computable",
            nc.clone(),
            None,
            Facts {
                over_budget: budget(None, Some("undefined")),
                ..f.clone()
            },
            Some(ReportOnly),
            "blast radius cannot be computed (undefined)",
        ),
        (
            "score with error",
            nc.clone(),
            None,
            Facts {
                over_budget: budget(Some(1.0), Some("odd")),
                ..f.clone()
            },
            Some(ReportOnly),
            "blast radius cannot be computed (odd)",
        ),
        (
            "code does not stop reconcile",
            nc.clone(),
            None,
            Facts {
                has_code: true,
                ..f.clone()
            },
            None,
            "",
        ),
    ]
}

#[test]
fn ladder_table() {
    let rows = rows();
    assert!(rows.len() >= 30);
    for (name, c, seen, f, want, reason) in rows {
        match (ladder(&c, seen, &f), want) {
            (Step::Reconcile, None) => {}
            (Step::Done(d), Some(a)) => {
                assert_eq!(d.action, a, "{name}: {d:?}");
                assert!(d.reason.starts_with(reason), "{name}: {}", d.reason);
                assert_eq!(d.critical, c.critical, "{name}");
                assert_eq!(d.rule, c.rule, "{name}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn after_plan_table() {
    let c = class(false, false, None);
    type Row = (
        Option<Result<usize, String>>,
        bool,
        DecisionAction,
        &'static str,
    );
    let rows: Vec<Row> = vec![
        (None, true, ReportOnly, "no live details to act on"),
        (Some(Ok(0)), true, ReportOnly, "nothing to change"),
        (
            Some(Ok(2)),
            false,
            DecisionAction::Reconcile,
            "non-critical: the state's value is put back",
        ),
        (
            Some(Err("no plan".into())),
            false,
            ReportOnly,
            "cannot reconcile: no plan",
        ),
        (
            Some(Err("no plan".into())),
            true,
            PullRequest,
            "cannot reconcile: no plan",
        ),
    ];
    for (plan, has_code, action, reason) in rows {
        let d = after_plan(&c, has_code, plan.clone());
        assert_eq!((d.action, d.reason.as_str()), (action, reason), "{plan:?}");
    }
}

#[test]
fn brake_table() {
    let kill = "kill switch is on (DRIFTD_KILL_SWITCH or reconcile.kill_switch)";
    let spent = "the action budget of this run (reconcile.max_actions = 3) is spent";
    let rows: Vec<(bool, bool, usize, usize, Brake)> = vec![
        (true, false, 0, 1, Brake::DryRun),
        (true, true, 0, 1, Brake::DryRun),
        (true, false, 3, 5, Brake::DryRun),
        (false, true, 0, 1, Brake::Stop(kill.into())),
        (false, true, 9, 9, Brake::Stop(kill.into())),
        (false, false, 0, 1, Brake::Go),
        (false, false, 2, 1, Brake::Go),
        (false, false, 0, 3, Brake::Go),
        (false, false, 3, 1, Brake::Stop(spent.into())),
        (false, false, 2, 2, Brake::Stop(spent.into())),
        (false, false, 0, 4, Brake::Stop(spent.into())),
    ];
    for (dry, k, used, n, want) in rows {
        assert_eq!(brake(dry, k, used, n, 3), want, "{dry} {k} {used} {n}");
    }
}

#[test]
fn missing_resources_recreate_every_keyed_value() {
    let desired = Desired {
        address: "a".into(),
        rtype: "t".into(),
        id: "i".into(),
        attrs: serde_json::from_value::<driftd_core::Attrs>(
            json!({"tags": {"A": "1", "B": "2"}, "x": 1}),
        )
        .unwrap()
        .into(),
    };
    let paths: Vec<Vec<String>> = diffs_to_apply(DriftKind::Missing, &desired, &[])
        .into_iter()
        .map(|d| d.path)
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(diffs_to_apply(DriftKind::Changed, &desired, &[]).is_empty());
}

#[test]
fn the_decide_stage_owns_its_settings_and_never_imports_the_config() {
    // config -> decide::settings only: no import circle (issue 10).
    for (name, src) in [
        ("mod.rs", include_str!("mod.rs")),
        ("policy.rs", include_str!("policy.rs")),
        ("settings.rs", include_str!("settings.rs")),
    ] {
        assert!(!src.contains(concat!("crate::", "config")), "{name}");
    }
}
