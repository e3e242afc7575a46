//! Decide and reconcile against moto: policy, brakes, verification, audit.

use std::path::Path;

use driftd::env::MapEnv;
use driftd::report::{ActionOutcome, DecisionAction, Report};

use crate::moto::Moto;
use crate::proxy::FaultProxy;
use crate::world::{self, seed};

async fn run(config: &str, dir: &Path, env: &MapEnv, dry_run: bool) -> Report {
    world::run_pipeline(config, dir, env, dry_run).await
}

/// The two-stack world config with reconcile settings for the app stack.
fn config(endpoint: &str, mode: &str, extra: &str) -> String {
    world::config_text(endpoint).replace(
        "name = \"app\"\n",
        &format!("name = \"app\"\nreconcile = \"{mode}\"\n"),
    ) + &format!("\n[reconcile]\naudit_log = \"audit.jsonl\"\n{extra}\n")
}

async fn live_tag(c: &driftd::aws::Clients, id: &str, key: &str) -> Option<String> {
    let out = c
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let i = &out.reservations()[0].instances()[0];
    i.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

async fn live_type(c: &driftd::aws::Clients, id: &str) -> String {
    let out = c
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    out.reservations()[0].instances()[0]
        .instance_type()
        .unwrap()
        .as_str()
        .to_string()
}

fn decisions(r: &Report, stack: &str) -> Vec<(String, DecisionAction)> {
    let st = r.stacks.iter().find(|s| s.name == stack).unwrap();
    st.drifts
        .iter()
        .map(|d| {
            (
                d.address.clone().unwrap(),
                d.decision.as_ref().unwrap().action,
            )
        })
        .collect()
}

async fn drifted_world(name: &str) -> (Moto, driftd::aws::Clients, world::World) {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir(name)).await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    // A critical drift on the other instance: its type (moto allows the change).
    c.ec2
        .modify_instance_attribute()
        .instance_id(&w.instances[1])
        .instance_type(
            aws_sdk_ec2::types::AttributeValue::builder()
                .value("t3.large")
                .build(),
        )
        .send()
        .await
        .unwrap();
    (moto, c, w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_reverted_verified_and_audited_critical_drift_is_left() {
    let (moto, c, w) = drifted_world("rec-apply").await;
    let r = run(
        &config(&moto.url, "apply", ""),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    assert_eq!(
        decisions(&r, "app"),
        vec![
            ("aws_instance.web[0]".into(), DecisionAction::Reconcile),
            ("aws_instance.web[1]".into(), DecisionAction::ReportOnly)
        ]
    );
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.actions.len(), 1, "{}", r.to_text());
    let a = &app.actions[0];
    assert_eq!(
        (a.operation.as_str(), a.outcome),
        ("ec2:CreateTags", ActionOutcome::Succeeded),
        "{a:?}"
    );
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("web")
    );
    assert_eq!(
        live_type(&c, &w.instances[1]).await,
        "t3.large",
        "critical drift must not be touched"
    );
    let crit = &app.drifts[1].decision.as_ref().unwrap();
    assert!(
        crit.critical && crit.rule == "builtin:instance-identity",
        "{crit:?}"
    );

    // Audit: started, then succeeded, with before/after and the operation.
    let audit = std::fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert_eq!(lines[0]["event"], "started");
    assert_eq!(lines[1]["event"], "succeeded");
    for key in [
        "time",
        "stack",
        "address",
        "attribute",
        "before",
        "after",
        "operation",
        "outcome",
        "dry_run",
    ] {
        assert!(
            lines[1].get(key).is_some(),
            "audit line lacks {key}: {}",
            lines[1]
        );
    }
    assert_eq!(
        (lines[1]["before"].as_str(), lines[1]["after"].as_str()),
        (Some("ops"), Some("web"))
    );

    // Idempotent: the next run has nothing to do.
    let r2 = run(
        &config(&moto.url, "apply", ""),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    assert!(
        r2.stacks.iter().all(|s| s.actions.is_empty()),
        "{}",
        r2.to_text()
    );
    assert_eq!(
        std::fs::read_to_string(w.dir.join("audit.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_kill_switch_change_nothing() {
    let (moto, c, w) = drifted_world("rec-dry").await;
    let r = run(
        &config(&moto.url, "dry_run", ""),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.actions[0].outcome, ActionOutcome::DryRun);
    assert_eq!(
        app.actions[0].params,
        serde_json::json!({"Resources": [w.instances[0]], "Tags": [{"Key": "Team", "Value": "web"}]})
    );
    assert!(
        r.to_text().contains("would call ec2:CreateTags"),
        "{}",
        r.to_text()
    );
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("ops")
    );

    // --dry-run wins over apply.
    let r = run(
        &config(&moto.url, "apply", ""),
        &w.dir,
        &MapEnv::default(),
        true,
    )
    .await;
    assert_eq!(
        r.stacks.iter().find(|s| s.name == "app").unwrap().actions[0].outcome,
        ActionOutcome::DryRun
    );
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("ops")
    );

    let env = MapEnv::new([("DRIFTD_KILL_SWITCH", "1")]);
    let r = run(&config(&moto.url, "apply", ""), &w.dir, &env, false).await;
    let a = &r.stacks.iter().find(|s| s.name == "app").unwrap().actions[0];
    assert_eq!(a.outcome, ActionOutcome::Skipped);
    assert!(a.error.as_deref().unwrap().contains("kill switch"));
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("ops")
    );
    // Every planned action is audited, with its dry-run flag; none was made.
    let audit = std::fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    let events: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| format!("{}/{}", v["event"].as_str().unwrap(), v["dry_run"]))
        .collect();
    assert_eq!(
        events,
        vec!["dry_run/true", "dry_run/true", "skipped/false"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blast_radius_budget_and_rego_criticality() {
    let (moto, c, w) = drifted_world("rec-rego").await;
    let rego = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/policy/blast_radius.rego");
    // Two instance updates score 2 x (5 x 2) = 20: over a budget of 15.
    let extra = format!(
        "[policy]\nrego = [\"{}\"]\nblast_radius_threshold = 15\n",
        rego.display()
    );
    let r = run(
        &config(&moto.url, "apply", "").replace("[reconcile]", &format!("{extra}\n[reconcile]")),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let b = app.blast_radius.as_ref().unwrap();
    assert_eq!((b.score, b.over_budget), (20.0, true));
    assert!(app.actions.is_empty());
    let d = app.drifts[0].decision.as_ref().unwrap();
    assert_eq!(d.action, DecisionAction::ReportOnly);
    assert!(
        d.reason.contains("blast radius 20 exceeds the budget 15"),
        "{}",
        d.reason
    );
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("ops")
    );

    // A Rego policy that marks instances critical changes the decision.
    let custom = w.dir.join("instances.rego");
    std::fs::write(&custom, "package driftd\nimport rego.v1\ncritical contains d.address if { some d in input.drifts; d.type == \"aws_instance\" }\n").unwrap();
    let extra = format!("[policy]\nrego = [\"{}\"]\n", custom.display());
    let r = run(
        &config(&moto.url, "apply", "").replace("[reconcile]", &format!("{extra}\n[reconcile]")),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let d = app.drifts[0].decision.as_ref().unwrap();
    assert_eq!(
        (d.action, d.critical, d.rule.as_str()),
        (DecisionAction::ReportOnly, true, "rego")
    );
    assert!(app.actions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistence_threshold_acts_on_the_second_scan() {
    let (moto, c, w) = drifted_world("rec-persist").await;
    let extra = "persistence = 2\n\n[history]\nlocation = \"history\"\n";
    let r = run(
        &config(&moto.url, "apply", extra),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let d = app.drifts[0].decision.as_ref().unwrap();
    assert!(d.reason.contains("seen in 1 of 2"), "{}", d.reason);
    assert!(app.actions.is_empty());
    let first_seen = app.drifts[0].first_seen.clone().unwrap();
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("ops")
    );

    let r = run(
        &config(&moto.url, "apply", extra),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.drifts[0].seen, Some(2));
    assert_eq!(
        app.drifts[0].first_seen.as_deref(),
        Some(first_seen.as_str())
    );
    assert_eq!(app.actions[0].outcome, ActionOutcome::Succeeded);
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("web")
    );
    assert!(w.dir.join("history/app.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_scan_means_no_action_and_budget_caps_actions() {
    let (moto, c, w) = drifted_world("rec-incomplete").await;
    crate::world::tag_instance(&c, &w.instances[1], "Team", "ops").await;
    // S3 reads fail: the app stack is incomplete, its instance drift visible.
    let proxy = FaultProxy::start(&moto.url, vec!["?tagging".into(), "?versioning".into()]).await;
    let r = run(
        &config(&proxy.url, "apply", ""),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.status, driftd::report::StackStatus::Incomplete);
    assert!(app.actions.is_empty());
    assert!(app
        .drifts
        .iter()
        .all(|d| d.decision.as_ref().unwrap().action == DecisionAction::ReportOnly));
    assert!(app.drifts[0]
        .decision
        .as_ref()
        .unwrap()
        .reason
        .contains("incomplete"));
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("ops")
    );
    drop(proxy);

    // max_actions = 1: one instance's tag is reverted, the other's is not.
    c.ec2
        .modify_instance_attribute()
        .instance_id(&w.instances[1])
        .instance_type(
            aws_sdk_ec2::types::AttributeValue::builder()
                .value("t3.micro")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = run(
        &config(&moto.url, "apply", "max_actions = 1"),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let outcomes: Vec<ActionOutcome> = app.actions.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        vec![ActionOutcome::Succeeded, ActionOutcome::Skipped],
        "{}",
        r.to_text()
    );
    assert!(app.actions[1]
        .error
        .as_deref()
        .unwrap()
        .contains("max_actions = 1"));
}

#[test]
fn invalid_policy_is_a_config_error_with_file_and_line() {
    let dir = world::temp_dir("rec-badrego");
    std::fs::write(dir.join("bad.rego"), "package driftd\n\nscore := \n").unwrap();
    let text = "[policy]\nrego = [\"bad.rego\"]\n\n[[policy.rules]]\nname = \"x\"\ncriticality = \"meh\"\n\n[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = [\"us-east-1\"]\nreconcile = \"apply\"\n";
    let e = driftd::config::parse(text, &dir.join("driftd.toml"), &MapEnv::default()).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("policy.rego[0]") && shown.contains("bad.rego:4:1"),
        "{shown}"
    );
    assert!(shown.contains("policy.rules[0].criticality"), "{shown}");
    assert!(shown.contains("reconcile.audit_log"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_tag_reconcile_keeps_ignored_tags_and_dry_run_writes_no_history() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("rec-s3tags");
    let w = seed(&c, &dir).await;
    // Owner drifted (reconciled), LastScan added out of band (ignored: kept).
    let set = |pairs: &[(&str, &str)]| {
        aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        aws_sdk_s3::types::Tag::builder()
                            .key(*k)
                            .value(*v)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    c.s3.put_bucket_tagging()
        .bucket(&w.bucket_v3)
        .tagging(set(&[("Owner", "someone"), ("LastScan", "today")]))
        .send()
        .await
        .unwrap();
    let extra = "\n[history]\nlocation = \"history\"\n";
    let cfg = config(&moto.url, "apply", extra).replace(
        "[scan]\n",
        "[scan]\nignore = [\"aws_s3_bucket.*.tags.LastScan\"]\n",
    );

    // A dry run acts on nothing: no change, no history written.
    let r = run(&cfg, &w.dir, &MapEnv::default(), true).await;
    assert!(r
        .stacks
        .iter()
        .flat_map(|s| &s.actions)
        .all(|a| a.outcome == ActionOutcome::DryRun));
    assert!(
        !w.dir.join("history/app.json").exists(),
        "a dry run writes no history"
    );

    let r = run(&cfg, &w.dir, &MapEnv::default(), false).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let a = app
        .actions
        .iter()
        .find(|a| a.operation == "s3:PutBucketTagging")
        .expect("a bucket tag action");
    assert_eq!(a.outcome, ActionOutcome::Succeeded, "{}", r.to_text());
    let tags =
        c.s3.get_bucket_tagging()
            .bucket(&w.bucket_v3)
            .send()
            .await
            .unwrap();
    let mut got: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("LastScan".to_string(), "today".to_string()),
            ("Owner".to_string(), "platform".to_string())
        ]
    );
}
