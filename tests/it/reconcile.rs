//! Decide and reconcile against moto: policy, brakes, verification, audit.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use driftd::env::MapEnv;
use driftd::report::{ActionOutcome, DecisionAction, Report};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::moto::{aws_env, Moto};
use crate::proxy::FaultProxy;
use crate::scan_moto::s3_tagging;
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
    assert_eq!((b.score, b.over_budget), (Some(20.0), true));
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
    c.s3.put_bucket_tagging()
        .bucket(&w.bucket_v3)
        .tagging(s3_tagging(&[("Owner", "someone"), ("LastScan", "today")]))
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

/// Change one resource of a state file written by `seed`.
fn patch_state(path: &Path, rtype: &str, name: &str, f: impl FnOnce(&mut Value)) {
    let mut st: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let r = st["resources"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["type"] == rtype && r["name"] == name)
        .unwrap();
    f(&mut r["instances"][0]);
    std::fs::write(path, st.to_string()).unwrap();
}

fn audit_lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Issue 9, item 1: a tag the state marks sensitive (an API key) rotated out
/// of band is reported masked and never written back, not even by a broad
/// or catch-all non-critical rule; only a rule naming the attribute does it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_tag_rotated_out_of_band_is_not_written_back() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("rec-sensitive")).await;
    let (old, rotated) = ("old-api-key-4f1e", "rotated-api-key-9c2d");
    crate::world::tag_instance(&c, &w.instances[0], "ApiKey", old).await;
    patch_state(&w.dir.join("app.tfstate"), "aws_instance", "web", |inst| {
        inst["attributes"]["tags"]["ApiKey"] = json!(old);
        inst["attributes"]["tags_all"]["ApiKey"] = json!(old);
        inst["sensitive_attributes"] = json!([
            [{"type": "get_attr", "value": "user_data"}],
            [{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "ApiKey", "type": "string"}}]
        ]);
    });
    // The key is rotated out of band; an ordinary tag drifts too.
    crate::world::tag_instance(&c, &w.instances[0], "ApiKey", rotated).await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;

    let broad = "[policy]\n\n[[policy.rules]]\nname = \"tags-are-fine\"\nattributes = [\"tags.*\"]\ncriticality = \"non_critical\"\n\n[[policy.rules]]\nname = \"all-fine\"\ncriticality = \"non_critical\"\n";
    for (i, extra) in ["", broad].iter().enumerate() {
        let cfg =
            config(&moto.url, "apply", "").replace("[reconcile]", &format!("{extra}\n[reconcile]"));
        let r = run(&cfg, &w.dir, &MapEnv::default(), false).await;
        let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
        let d = app
            .drifts
            .iter()
            .find(|d| d.address.as_deref() == Some("aws_instance.web[0]"))
            .unwrap();
        let dec = d.decision.as_ref().unwrap();
        assert_eq!(
            (dec.action, dec.critical, dec.rule.as_str()),
            (DecisionAction::ReportOnly, true, "builtin:sensitive"),
            "config {i}: {}",
            r.to_text()
        );
        assert!(dec.reason.contains("sensitive"), "{}", dec.reason);
        let key = d
            .attributes
            .iter()
            .find(|a| a.path == "tags.ApiKey")
            .unwrap();
        assert_eq!(
            (key.expected.as_str(), key.actual.as_str()),
            (Some("(sensitive)"), Some("(sensitive)"))
        );
        assert!(
            !app.actions
                .iter()
                .any(|a| a.address == "aws_instance.web[0]"),
            "config {i}: {:?}",
            app.actions
        );
        assert_eq!(
            live_tag(&c, &w.instances[0], "ApiKey").await.as_deref(),
            Some(rotated),
            "config {i}"
        );
        assert_eq!(
            live_tag(&c, &w.instances[0], "Team").await.as_deref(),
            Some("ops")
        );
        let json = r.to_json();
        assert!(!json.contains(old) && !json.contains(rotated), "config {i}");
    }

    // A rule that names the attribute exactly lets driftd put it back.
    let exact = "[policy]\n\n[[policy.rules]]\nname = \"api-key-is-ours\"\nattributes = [\"tags.ApiKey\"]\ncriticality = \"non_critical\"\n";
    let cfg =
        config(&moto.url, "apply", "").replace("[reconcile]", &format!("{exact}\n[reconcile]"));
    let r = run(&cfg, &w.dir, &MapEnv::default(), false).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let dec = app.drifts[0].decision.as_ref().unwrap();
    assert_eq!(dec.action, DecisionAction::Reconcile, "{}", r.to_text());
    assert_eq!(
        live_tag(&c, &w.instances[0], "ApiKey").await.as_deref(),
        Some(old)
    );
    let audit = std::fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    assert!(!audit.contains(old) && !audit.contains(rotated), "{audit}");
}

/// Issue 9, item 3: the blast-radius brake fails closed. A threshold without
/// a score source is a config error (validate-config and start); a score
/// that cannot be computed at run time blocks reconcile, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blast_radius_brake_fails_closed() {
    let (moto, c, w) = drifted_world("rec-brake").await;
    let with_policy = |policy: &str| {
        config(&moto.url, "apply", "")
            .replace("[reconcile]", &format!("[policy]\n{policy}\n\n[reconcile]"))
    };
    let write = |name: &str, text: &str| {
        std::fs::write(w.dir.join(name), text).unwrap();
        format!("rego = [\"{name}\"]\n")
    };
    let wrong_package = write("pkg.rego", "package blast\nscore := 1\n");
    let wrong_rule = write("rule.rego", "package driftd\nblast_score := 1\n");
    let string_score = write("string.rego", "package driftd\nscore := \"high\"\n");
    for (policy, want) in [
        (
            "blast_radius_threshold = 15".to_string(),
            "policy.blast_radius_threshold",
        ),
        (
            format!("{wrong_package}blast_radius_threshold = 15"),
            "`package blast`",
        ),
        (
            format!("{wrong_rule}blast_radius_threshold = 15"),
            "no Rego file defines `score`",
        ),
        (
            format!("{string_score}blast_radius_threshold = 15"),
            "must be a number, it is a string",
        ),
    ] {
        let text = with_policy(&policy);
        let e = driftd::config::parse(&text, &w.dir.join("driftd.toml"), &MapEnv::default())
            .err()
            .unwrap_or_else(|| panic!("accepted: {policy}"))
            .to_string();
        assert!(e.contains(want), "{policy}: {e}");
        // validate-config says so too (and so does every start: same check).
        let path = w.dir.join("driftd.toml");
        std::fs::write(&path, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
            .args(["validate-config", "--config", path.to_str().unwrap()])
            .env_remove("DRIFTD_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{policy}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{policy}"
        );
    }

    // Valid at load (the score is a number for an empty run), not at run time.
    for (name, text, why) in [
        (
            "undef.rego",
            "package driftd\nimport rego.v1\nscore := 1 if { count(input.drifts) == 0 }\n",
            "undefined",
        ),
        (
            "late.rego",
            "package driftd\nimport rego.v1\nscore := \"high\" if { count(input.drifts) > 0 }\n",
            "is a string",
        ),
    ] {
        let policy = format!("{}blast_radius_threshold = 15", write(name, text));
        let r = run(&with_policy(&policy), &w.dir, &MapEnv::default(), false).await;
        let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
        let b = app
            .blast_radius
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no blast radius: {}", r.to_text()));
        assert_eq!((b.score, b.over_budget), (None, true), "{name}");
        assert!(b.error.as_deref().unwrap().contains(why), "{name}: {b:?}");
        assert!(app.actions.is_empty(), "{name}: {:?}", app.actions);
        let d = app.drifts[0].decision.as_ref().unwrap();
        assert_eq!(d.action, DecisionAction::ReportOnly, "{name}");
        assert!(
            d.reason.contains("blast radius cannot be computed"),
            "{name}: {}",
            d.reason
        );
        assert!(
            app.errors.iter().any(|e| e.contains("blast radius")),
            "{name}"
        );
        assert_eq!(r.exit_code(), 1, "{name}");
        assert!(
            r.to_text().contains("blast radius UNKNOWN"),
            "{}",
            r.to_text()
        );
        assert_eq!(
            live_tag(&c, &w.instances[0], "Team").await.as_deref(),
            Some("ops")
        );
    }
}

/// A proxy in front of moto: `answer(head, body)` may answer a request
/// itself (a whole HTTP response); everything else is forwarded.
type Answer = Arc<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;

/// A proxy in front of moto that answers EC2 CreateTags with a 200 and
/// drops it: the write "succeeded", the drift is still there.
async fn lying_proxy(upstream: &str) -> (String, Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let swallowed = Arc::new(AtomicU64::new(0));
    let counter = swallowed.clone();
    let (url, task) = intercept_proxy(
        upstream,
        Arc::new(move |_, body| {
            body.contains("Action=CreateTags").then(|| {
                counter.fetch_add(1, Ordering::SeqCst);
                let msg = "<CreateTagsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>lie</requestId><return>true</return></CreateTagsResponse>";
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}", msg.len())
            })
        }),
    )
    .await;
    (url, swallowed, task)
}

async fn intercept_proxy(upstream: &str, answer: Answer) -> (String, tokio::task::JoinHandle<()>) {
    async fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 8192];
        let head_end = loop {
            let n = s.read(&mut tmp).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&tmp[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = s.read(&mut tmp).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        Some((head, buf[head_end..].to_vec()))
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (upstream, answer) = (upstream.clone(), answer.clone());
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut client).await else {
                    return;
                };
                if let Some(resp) = answer(&head, &String::from_utf8_lossy(&body)) {
                    let _ = client.write_all(resp.as_bytes()).await;
                    let _ = client.shutdown().await;
                    return;
                }
                let Ok(mut up) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let mut new_head: String = head
                    .trim_end()
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                new_head.push_str("Connection: close\r\n\r\n");
                if up.write_all(new_head.as_bytes()).await.is_err()
                    || up.write_all(&body).await.is_err()
                {
                    return;
                }
                let mut resp = Vec::new();
                let _ = up.read_to_end(&mut resp).await;
                let _ = client.write_all(&resp).await;
                let _ = client.shutdown().await;
            });
        }
    });
    (url, task)
}

/// Issue 9, item 4: a failed action (the write answered 200 but the re-read
/// shows the drift, or the write failed) makes the run exit 1 and logs an
/// error at the default level, even with `--exit-zero-on-drift`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_action_exits_1_and_logs_an_error() {
    let (moto, c, w) = drifted_world("rec-failed").await;
    // 200, not done: verification catches it.
    let (url, swallowed, task) = lying_proxy(&moto.url).await;
    let r = run(
        &config(&url, "apply", ""),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert!(swallowed.load(Ordering::SeqCst) >= 1);
    assert_eq!(app.actions.len(), 1, "{}", r.to_text());
    assert_eq!(app.actions[0].outcome, ActionOutcome::Failed);
    assert!(
        app.actions[0]
            .error
            .as_deref()
            .unwrap()
            .contains("still drifted"),
        "{:?}",
        app.actions[0]
    );
    assert_eq!(r.exit_code(), 1, "{}", r.to_text());

    // Through the binary, at the default log level, with --exit-zero-on-drift.
    let out = scan_binary(&w.dir, &url, &["--exit-zero-on-drift"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ERROR") && stderr.contains("reconcile action failed"),
        "{stderr}"
    );
    assert!(stderr.contains("still drifted"), "{stderr}");
    task.abort();

    // The write itself fails (HTTP 500 on every attempt).
    let proxy = FaultProxy::start(&moto.url, vec!["Action=CreateTags".into()]).await;
    let r = run(
        &config(&proxy.url, "apply", ""),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(
        app.actions[0].outcome,
        ActionOutcome::Failed,
        "{}",
        r.to_text()
    );
    assert_eq!(r.exit_code(), 1);
    let out = scan_binary(&w.dir, &proxy.url, &["--exit-zero-on-drift"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("reconcile action failed"), "{stderr}");
    assert_eq!(
        live_tag(&c, &w.instances[0], "Team").await.as_deref(),
        Some("ops")
    );
}

/// `driftd scan` (the binary, default log level) with reconcile = "apply".
async fn scan_binary(dir: &Path, endpoint: &str, extra_args: &[&str]) -> std::process::Output {
    let path = dir.join("driftd.toml");
    std::fs::write(&path, config(endpoint, "apply", "")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.args(["scan", "--config", path.to_str().unwrap()])
        .args(extra_args)
        .env_remove("DRIFTD_CONFIG")
        .env_remove("DRIFTD_LOG");
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Issue 9, item 5: whole-document writes log the complete previous document
/// as `before` (sensitive values masked), in the call's own parameter shape;
/// `started` lines carry the outcome `pending`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_document_writes_audit_the_previous_document() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("rec-before")).await;
    let token = "bucket-token-secret-7d3a";
    patch_state(&w.dir.join("app.tfstate"), "aws_s3_bucket", "logs", |b| {
        b["attributes"]["tags"]["Token"] = json!(token);
        b["attributes"]["tags_all"]["Token"] = json!(token);
        b["sensitive_attributes"] = json!([[{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "Token", "type": "string"}}]]);
    });
    // Out of band: tags, versioning, policy of the v3 bucket; encryption and
    // public access block of the v4 bucket.
    c.s3.put_bucket_tagging()
        .bucket(&w.bucket_v3)
        .tagging(s3_tagging(&[("Owner", "someone"), ("Token", token)]))
        .send()
        .await
        .unwrap();
    c.s3.put_bucket_versioning()
        .bucket(&w.bucket_v3)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let oob_policy = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Sid\":\"OutOfBand\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::{}/*\"}}]}}",
        w.bucket_v3
    );
    c.s3.put_bucket_policy()
        .bucket(&w.bucket_v3)
        .policy(&oob_policy)
        .send()
        .await
        .unwrap();
    c.s3.put_bucket_encryption()
        .bucket(&w.bucket_v4)
        .server_side_encryption_configuration(world::sse(
            aws_sdk_s3::types::ServerSideEncryption::AwsKms,
        ))
        .send()
        .await
        .unwrap();
    c.s3.put_public_access_block()
        .bucket(&w.bucket_v4)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .block_public_policy(false)
                .ignore_public_acls(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // An unmanaged bucket: classified by the same rules (item 6), never deleted.
    c.s3.create_bucket()
        .bucket("stray-unmanaged")
        .send()
        .await
        .unwrap();
    // Everything non-critical for this test (a user rule before the built-in ones).
    let cfg = config(&moto.url, "apply", "").replace(
        "[reconcile]",
        "[policy]\n\n[[policy.rules]]\nname = \"test-all\"\ncriticality = \"non_critical\"\n\n[reconcile]",
    );
    let r = run(&cfg, &w.dir, &MapEnv::default(), false).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let lines = audit_lines(&w.dir);
    let text = std::fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    assert!(
        !text.contains(token) && !r.to_json().contains(token),
        "{text}"
    );
    for l in lines.iter().filter(|l| l["event"] == "started") {
        assert_eq!(l["outcome"], "pending", "{l}");
    }
    let done = |op: &str, bucket: &str| -> Value {
        lines
            .iter()
            .find(|l| {
                l["event"] == "succeeded" && l["operation"] == op && l["before"]["Bucket"] == bucket
            })
            .unwrap_or_else(|| {
                panic!(
                    "no succeeded {op} on {bucket} with a before document:\n{text}\n{}",
                    r.to_text()
                )
            })["before"]
            .clone()
    };
    let mut set: Vec<(String, String)> = done("s3:PutBucketTagging", &w.bucket_v3)["TagSet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().into(),
                t["Value"].as_str().unwrap().into(),
            )
        })
        .collect();
    set.sort();
    assert_eq!(
        set,
        vec![
            ("Owner".into(), "someone".into()),
            ("Token".into(), "(sensitive)".into())
        ]
    );
    assert_eq!(
        done("s3:PutBucketVersioning", &w.bucket_v3)["VersioningConfiguration"]["Status"],
        "Suspended"
    );
    let before_policy: Value = serde_json::from_str(
        done("s3:PutBucketPolicy", &w.bucket_v3)["Policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(before_policy["Statement"][0]["Sid"], "OutOfBand");
    assert_eq!(
        done("s3:PutBucketEncryption", &w.bucket_v4)["Rules"][0]
            ["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "aws:kms"
    );
    assert_eq!(
        done("s3:PutPublicAccessBlock", &w.bucket_v4)["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": false, "BlockPublicPolicy": false, "IgnorePublicAcls": false, "RestrictPublicBuckets": false})
    );
    let stray = r
        .unmanaged
        .iter()
        .flat_map(|sc| &sc.drifts)
        .find(|d| d.id == "stray-unmanaged")
        .unwrap_or_else(|| panic!("{}", r.to_text()));
    let dec = stray.decision.as_ref().unwrap();
    assert_eq!(
        (dec.action, dec.critical, dec.rule.as_str()),
        (DecisionAction::ReportOnly, false, "config:test-all")
    );
    // The report's actions carry the same documents, and the writes held.
    assert!(
        app.actions
            .iter()
            .all(|a| a.outcome == ActionOutcome::Succeeded),
        "{}",
        r.to_text()
    );
    let pab =
        c.s3.get_public_access_block()
            .bucket(&w.bucket_v4)
            .send()
            .await
            .unwrap();
    assert_eq!(
        pab.public_access_block_configuration()
            .unwrap()
            .block_public_acls(),
        Some(true)
    );
}

/// Issue 9, item 5: a whole-document write whose previous document cannot be
/// read (for the audit log) is not made: no undo, no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_document_write_is_not_made_when_its_previous_document_cannot_be_read() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("rec-before-fails")).await;
    c.s3.put_bucket_tagging()
        .bucket(&w.bucket_v3)
        .tagging(s3_tagging(&[("Owner", "someone")]))
        .send()
        .await
        .unwrap();
    // The scan's GetBucketTagging of the bucket goes through; every later one fails.
    let gets = Arc::new(AtomicU64::new(0));
    let puts = Arc::new(AtomicU64::new(0));
    let (g, p, bucket) = (gets.clone(), puts.clone(), w.bucket_v3.clone());
    let (url, task) = intercept_proxy(
        &moto.url,
        Arc::new(move |head, _| {
            let first = head.lines().next().unwrap_or("");
            if !(head.contains(bucket.as_str()) && first.contains("tagging")) {
                return None;
            }
            if first.starts_with("PUT") {
                p.fetch_add(1, Ordering::SeqCst);
            }
            (first.starts_with("GET") && g.fetch_add(1, Ordering::SeqCst) >= 1).then(|| {
                let msg = "<Error><Code>InternalError</Code><Message>injected</Message><RequestId>x</RequestId></Error>";
                format!("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}", msg.len())
            })
        }),
    )
    .await;
    let r = run(
        &config(&url, "apply", ""),
        &w.dir,
        &MapEnv::default(),
        false,
    )
    .await;
    task.abort();
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    let a = app
        .actions
        .iter()
        .find(|a| a.operation == "s3:PutBucketTagging")
        .unwrap_or_else(|| panic!("{}", r.to_text()));
    assert_eq!(a.outcome, ActionOutcome::Failed, "{a:?}");
    assert!(
        a.error.as_deref().unwrap().contains("GetBucketTagging"),
        "{a:?}"
    );
    assert_eq!(puts.load(Ordering::SeqCst), 0, "the write was not made");
    assert!(gets.load(Ordering::SeqCst) >= 2);
    assert_eq!(r.exit_code(), 1);
    let tags =
        c.s3.get_bucket_tagging()
            .bucket(&w.bucket_v3)
            .send()
            .await
            .unwrap();
    assert_eq!(tags.tag_set()[0].value(), "someone");
    // Audited as failed, never as started.
    let lines = audit_lines(&w.dir);
    assert!(lines.iter().all(|l| l["event"] != "started"), "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l["event"] == "failed" && l["operation"] == "s3:PutBucketTagging"));
}

/// Issue 9, item 1, for missing resources: re-creating a missing resource
/// writes every value of its state, so a sensitive one among them keeps the
/// drift critical even when a user rule makes missing resources non-critical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_resource_with_a_sensitive_value_is_not_recreated() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("rec-missing-sensitive")).await;
    c.s3.delete_bucket_policy()
        .bucket(&w.bucket_v4)
        .send()
        .await
        .unwrap();
    let missing_ok = "[policy]\n\n[[policy.rules]]\nname = \"recreate-missing\"\nkinds = [\"missing\"]\ncriticality = \"non_critical\"\n";
    let cfg = config(&moto.url, "dry_run", "")
        .replace("[reconcile]", &format!("{missing_ok}\n[reconcile]"));
    let addr = "module.assets.aws_s3_bucket_policy.this";
    let outcome = |r: &Report| {
        let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
        let d = app
            .drifts
            .iter()
            .find(|d| d.address.as_deref() == Some(addr))
            .unwrap_or_else(|| panic!("{}", r.to_text()));
        let dec = d.decision.clone().unwrap();
        let planned = app.actions.iter().any(|a| a.address == addr);
        (dec.critical, dec.rule, planned)
    };

    // Control: with nothing sensitive, the rule lets the policy be re-created.
    let r = run(&cfg, &w.dir, &MapEnv::default(), false).await;
    assert_eq!(
        outcome(&r),
        (false, "config:recreate-missing".to_string(), true),
        "{}",
        r.to_text()
    );

    // The state marks the policy sensitive: nothing is re-created.
    patch_state(
        &w.dir.join("app.tfstate"),
        "aws_s3_bucket_policy",
        "this",
        |inst| {
            inst["sensitive_attributes"] = json!([[{"type": "get_attr", "value": "policy"}]]);
        },
    );
    let r = run(&cfg, &w.dir, &MapEnv::default(), false).await;
    assert_eq!(
        outcome(&r),
        (true, "builtin:sensitive".to_string(), false),
        "{}",
        r.to_text()
    );
}
