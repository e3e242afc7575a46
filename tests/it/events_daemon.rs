//! Event-driven rescans end to end: `driftd daemon` with `[events]` on moto's
//! SQS, CloudTrail-shaped EventBridge events in the queue -> narrowed
//! rescans -> `/reports/latest` (with `changed_by` from the fake CloudTrail)
//! -> messages deleted; a burst of 1,000 messages for 10 resources is 10
//! rescanned resources in one run; poison messages dead-letter; the events
//! loop follows a SIGHUP config reload.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use driftd::events::example_event;
use driftd::report::Report;
use serde_json::json;

use crate::daemon::{
    free_port, get, promtool_check, series, signal, start_daemon_with, wait_exit, wait_for,
};
use crate::events_sqs::{queue, sqs, visible};
use crate::fake_cloudtrail::{record, FakeCloudTrail};
use crate::moto::{Moto, REGION};
use crate::world::{self, seed};

/// A 6-field cron expression that fires once a day, `secs` from now (UTC).
fn once_in(secs: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let day = t % 86_400;
    format!("{} {} {} * * *", day % 60, (day / 60) % 60, day / 3600)
}

fn config(moto: &str, ct: &str, queue_url: &str, schedule: &str, port: u16) -> String {
    world::config_text(moto)
        .replace(
            "name = \"app\"\n",
            &format!("name = \"app\"\nschedule = \"{schedule}\"\n"),
        )
        .replace(
            "name = \"network\"\n",
            &format!("name = \"network\"\nschedule = \"{schedule}\"\n"),
        )
        + &format!(
            r#"
[daemon]
listen = "127.0.0.1:{port}"
grace_period_seconds = 30

[history]
location = "history"

[attribution]
endpoint_url = "{ct}"

[events]
queue_url = "{queue_url}"
region = "{REGION}"
endpoint_url = "{moto}"
wait_seconds = 1
batch_window = "180s"
max_receives = 2
poison_backoff = "1s"
"#
        )
}

fn latest(port: u16) -> Option<Report> {
    let (code, body) = get(port, "/reports/latest")?;
    (code == 200).then(|| serde_json::from_str(&body).unwrap())
}

fn has_drift(r: &Report, id: &str) -> bool {
    r.stacks
        .iter()
        .flat_map(|s| s.drifts.iter())
        .any(|d| d.id == id)
}

fn metric(port: u16, prefix: &str) -> f64 {
    get(port, "/metrics")
        .map(|(_, b)| series(&b, prefix))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_the_queue_rescan_just_their_resources_and_reach_the_report() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("events-daemon");
    let w = seed(&c, &dir).await;
    let changed = w.instances[0].clone();
    let not_named = w.instances[1].clone();
    let ct = FakeCloudTrail::start().await;
    let ev = ct.add(
        &changed,
        Duration::from_secs(300),
        record(
            "CreateTags",
            "ops-admin",
            "jane",
            "console.ec2.amazonaws.com",
            true,
        ),
    );
    let q = sqs(&moto).await;
    let first_queue = queue(&q, "driftd-first", 2).await;
    let burst_queue = queue(&q, "driftd-burst", 2).await;
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    // Both stacks scan once, a few seconds after start-up: the base report.
    let schedule = once_in(4);
    std::fs::write(
        &cfg,
        config(&moto.url, &ct.url, &first_queue, &schedule, port),
    )
    .unwrap();
    let mut d = start_daemon_with(&cfg, port, &[]);
    let ok = |stack: &str| format!("driftd_scans_total{{stack=\"{stack}\",status=\"ok\"}}");
    wait_for("the scheduled scans", Duration::from_secs(60), || {
        metric(port, &ok("app")) >= 1.0 && metric(port, &ok("network")) >= 1.0
    });
    let base = latest(port).unwrap();
    assert!(!has_drift(&base, &changed), "{}", base.to_text());
    let base_managed: usize = base.stacks.iter().map(|s| s.counts.managed).sum();

    // Out-of-band changes: one resource the events name, one they do not.
    world::tag_instance(&c, &changed, "Team", "ops").await;
    world::tag_instance(&c, &not_named, "Team", "ops").await;
    // 1,000 CloudTrail-shaped events for 10 resources (5 managed, 5 ids no
    // stack manages: candidates for unmanaged detection).
    let mut ids = vec![
        changed.clone(),
        w.sg_web.clone(),
        w.sg_db.clone(),
        w.bucket_v3.clone(),
        w.bucket_v4.clone(),
    ];
    ids.extend((0..5).map(|i| format!("i-0000000000000000{i}")));
    for chunk in 0..100 {
        let mut req = q.send_message_batch().queue_url(&burst_queue);
        for j in 0..10 {
            let id = &ids[(chunk * 10 + j) % 10];
            let body = if id.starts_with("sg-") {
                example_event(
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    REGION,
                    json!({"groupId": id}),
                )
            } else if id.starts_with("i-") {
                example_event(
                    "ec2",
                    "CreateTags",
                    REGION,
                    json!({"resourcesSet": {"items": [{"resourceId": id}]}}),
                )
            } else {
                example_event("s3", "PutBucketTagging", REGION, json!({"bucketName": id}))
            };
            req = req.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{j}"))
                    .message_body(body)
                    .build()
                    .unwrap(),
            );
        }
        req.send().await.unwrap();
    }
    assert_eq!(visible(&q, &burst_queue).await, 1000);

    // SIGHUP: the events loop follows the reloaded config to the burst queue.
    std::fs::write(
        &cfg,
        config(&moto.url, &ct.url, &burst_queue, &schedule, port),
    )
    .unwrap();
    signal(&d.0, "-HUP");
    let mut emptied = false;
    for _ in 0..600 {
        if visible(&q, &burst_queue).await == 0 {
            emptied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(emptied, "the burst was not consumed");
    // Deleted only after the rescan was recorded: the report has it already.
    let r = latest(port).unwrap();
    let drift = r
        .stacks
        .iter()
        .flat_map(|s| s.drifts.iter())
        .find(|d| d.id == changed)
        .unwrap_or_else(|| panic!("no drift of {changed}: {}", r.to_text()));
    let by = drift.changed_by.as_ref().expect("attributed");
    assert_eq!(by.event_id, ev);
    assert_eq!(by.principal.name, "role/ops-admin");
    // Narrowed: the instance no event named was not rescanned (its drift
    // waits for the next full scan), and the merged report still counts
    // every managed resource.
    assert!(!has_drift(&r, &not_named), "{}", r.to_text());
    let managed: usize = r.stacks.iter().map(|s| s.counts.managed).sum();
    assert_eq!(managed, base_managed);

    let (_, text) = get(port, "/metrics").unwrap();
    assert_eq!(
        series(&text, "driftd_events_received_total{outcome=\"change\"}"),
        1000.0,
        "{text}"
    );
    assert_eq!(
        series(&text, "driftd_event_rescanned_resources_total"),
        10.0,
        "{text}"
    );
    assert_eq!(
        series(&text, "driftd_event_rescans_total{mode=\"resource\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        series(&text, "driftd_event_rescans_total{mode=\"stack\"}"),
        0.0
    );
    assert_eq!(series(&text, "driftd_event_to_report_seconds_count"), 1.0);
    assert!(text.contains("# TYPE driftd_events_lag_seconds gauge"));
    // One narrowed run per stack of the region, on top of the scheduled one.
    assert_eq!(series(&text, &ok("app")), 2.0, "{text}");
    promtool_check(&text);

    // A poison message: never deleted, dead-lettered after max_receives.
    q.send_message()
        .queue_url(&burst_queue)
        .message_body("{not json")
        .send()
        .await
        .unwrap();
    let dlq = burst_queue.replace("driftd-burst", "driftd-burst-dlq");
    let mut dead = false;
    for _ in 0..150 {
        if visible(&q, &dlq).await == 1 {
            dead = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(dead, "the poison message was not dead-lettered");
    assert_eq!(visible(&q, &burst_queue).await, 0);
    assert!(metric(port, "driftd_events_received_total{outcome=\"poison\"}") >= 2.0);

    signal(&d.0, "-TERM");
    assert_eq!(wait_exit(&mut d.0, Duration::from_secs(30)), Some(0));
}

/// A narrowed run keeps the pull request of a drift it did not rescan open,
/// and closes it only once a rescan of that resource finds it fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_run_never_closes_a_pull_request_it_did_not_rescan() {
    use crate::fake_github::FakeGithub;
    use crate::world::perm_tcp;
    use driftd::report::DecisionAction;
    use std::sync::Arc;

    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("events-narrow-pr");
    let w = seed(&c, &dir).await;
    let gh = FakeGithub::start(
        "/api/v3",
        "acme/infra",
        &[("network/main.tf", crate::pr_e2e::NETWORK_TF)],
    )
    .await;
    c.ec2
        .authorize_security_group_ingress()
        .group_id(&w.sg_web)
        .ip_permissions(perm_tcp(22, "0.0.0.0/0", "debug"))
        .send()
        .await
        .unwrap();
    let config = world::config_text(&moto.url).replace(
        "name = \"network\"\n",
        "name = \"network\"\ncode = { repository = \"acme/infra\", base_branch = \"main\", directory = \"network\" }\n",
    ) + &format!("\n[github]\napi_url = \"{}\"\n\n[history]\nlocation = \"history\"\n", gh.url);
    let env = driftd::env::MapEnv::new([("GITHUB_TOKEN", "test-token")]);
    let cfg = driftd::config::parse(&config, &dir.join("driftd.toml"), &env).unwrap();
    let run = |narrow: Option<(Report, &str)>| {
        let options = driftd::pipeline::RunOptions {
            scan: driftd::scan::ScanOptions {
                client: crate::moto::client_options(),
                narrow: narrow.map(|(base, id)| {
                    Arc::new(driftd::events::rescan::Narrow {
                        resources: [(REGION.to_string(), id.to_string())].into(),
                        base,
                    })
                }),
                ..Default::default()
            },
            dry_run: false,
        };
        let cfg = &cfg;
        let env = &env;
        async move { driftd::pipeline::run(cfg, &options, &driftd::aws::ApiCalls::new(), env).await }
    };
    let sg_drift = |r: &Report| {
        r.stacks
            .iter()
            .flat_map(|s| s.drifts.iter())
            .find(|d| d.id == w.sg_web)
            .cloned()
    };
    let full = run(None).await;
    let d = sg_drift(&full).unwrap_or_else(|| panic!("{}", full.to_text()));
    assert_eq!(d.decision.unwrap().action, DecisionAction::PullRequest);
    assert_eq!(gh.pulls().len(), 1, "{}", full.to_text());
    assert_eq!(gh.pulls()[0].state, "open");

    // The rule is revoked, but the event names an instance: the group is not
    // rescanned, its drift is carried over, its pull request stays open.
    c.ec2
        .revoke_security_group_ingress()
        .group_id(&w.sg_web)
        .ip_permissions(perm_tcp(22, "0.0.0.0/0", "debug"))
        .send()
        .await
        .unwrap();
    world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    let r = run(Some((full, &w.instances[0]))).await;
    let carried = sg_drift(&r).unwrap_or_else(|| panic!("carried: {}", r.to_text()));
    assert_eq!(carried.seen, Some(1), "not counted again: {carried:?}");
    assert!(
        r.stacks
            .iter()
            .flat_map(|s| s.drifts.iter())
            .any(|d| d.id == w.instances[0]),
        "{}",
        r.to_text()
    );
    assert_eq!(gh.pulls()[0].state, "open", "{}", r.to_text());

    // The event names the group: rescanned, fixed, its pull request closed.
    let r = run(Some((r, &w.sg_web))).await;
    assert!(sg_drift(&r).is_none(), "{}", r.to_text());
    assert_eq!(gh.pulls()[0].state, "closed", "{}", r.to_text());
    // The instance's drift, not rescanned this time, is still reported.
    assert!(r
        .stacks
        .iter()
        .flat_map(|s| s.drifts.iter())
        .any(|d| d.id == w.instances[0]));
}
