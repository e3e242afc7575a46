//! Attribution end to end: the real SDK client over real HTTP to the fake
//! CloudTrail, drifts from moto, `changed_by` in every output.

use std::time::{Duration, Instant};

use driftd::env::MapEnv;
use driftd::report::{Drift, Report};

use crate::fake_cloudtrail::{record, FakeCloudTrail};
use crate::moto::Moto;
use crate::world::{self, seed};

fn config(moto: &str, ct: &str, extra: &str) -> String {
    world::config_text(moto)
        + &format!(
            "\n[history]\nlocation = \"history\"\n\n[attribution]\nendpoint_url = \"{ct}\"\n{extra}\n"
        )
}

fn drift<'a>(r: &'a Report, id: &str) -> &'a Drift {
    r.stacks
        .iter()
        .flat_map(|s| s.drifts.iter())
        .chain(r.unmanaged.iter().flat_map(|s| s.drifts.iter()))
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("no drift of {id}: {}", r.to_text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_by_in_every_output_and_cached_across_scans() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("attr-all")).await;
    let id = w.instances[0].clone();
    world::tag_instance(&c, &id, "Team", "ops").await;
    let ct = FakeCloudTrail::start().await;
    // Older: a Terraform apply. The change: a console CreateTags. Newer: a
    // read (ReadOnly) and a failed write, both skipped.
    ct.add(
        &id,
        Duration::from_secs(7200),
        record(
            "RunInstances",
            "deployer",
            "tf",
            "Terraform/1.9.0 terraform-provider-aws/5.80.0",
            false,
        ),
    );
    let ev = ct.add(
        &id,
        Duration::from_secs(600),
        record(
            "CreateTags",
            "ops-admin",
            "jane",
            "console.ec2.amazonaws.com",
            true,
        ),
    );
    let mut read = record("DescribeInstances", "reader", "r", "aws-cli/2.15", false);
    read["readOnly"] = serde_json::json!(true);
    ct.add(&id, Duration::from_secs(60), read);
    let mut failed = record(
        "ModifyInstanceAttribute",
        "intruder",
        "x",
        "aws-cli/2.15",
        false,
    );
    failed["errorCode"] = serde_json::json!("UnauthorizedOperation");
    ct.add(&id, Duration::from_secs(30), failed);
    // Page by 2: the write event is on the second page.
    ct.state.lock().unwrap().page_size = 2;

    let cfg = config(&moto.url, &ct.url, "");
    let r = world::run_pipeline(&cfg, &w.dir, &MapEnv::default(), true).await;
    let d = drift(&r, &id);
    let by = d.changed_by.as_ref().unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(by.event_id, ev);
    assert_eq!(by.event_name, "CreateTags");
    assert_eq!(by.principal.name, "role/ops-admin");
    assert_eq!(by.principal.session.as_deref(), Some("jane"));
    assert_eq!(by.via, "console");
    assert_eq!(by.source_ip.as_deref(), Some("203.0.113.7"));
    // JSON, text, Markdown.
    let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let jd = j["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["drifts"].as_array().unwrap().iter())
        .find(|x| x["id"] == id.as_str())
        .unwrap();
    assert_eq!(jd["changed_by"]["principal"]["name"], "role/ops-admin");
    assert_eq!(jd["changed_by"]["event_name"], "CreateTags");
    let text = r.to_text();
    assert!(
        text.contains("changed by role/ops-admin, session jane, via console, ")
            && text.contains(", CreateTags\n"),
        "{text}"
    );
    let md = r.to_markdown();
    assert!(
        md.contains("Changed by (CloudTrail)") && md.contains(&ev),
        "{md}"
    );
    let first = ct.requests_for(&id);
    assert_eq!(first, 2, "two pages read");

    // Second scan: the same drift comes from the cache, no new lookup.
    let r2 = world::run_pipeline(&cfg, &w.dir, &MapEnv::default(), true).await;
    assert_eq!(drift(&r2, &id).changed_by.as_ref().unwrap().event_id, ev);
    assert_eq!(ct.requests_for(&id), first, "cached across scans");
    assert!(w.dir.join("history/@attribution.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_a_failed_lookup_leaves_the_drift_unattributed() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("attr-throttle")).await;
    let (a, b) = (w.instances[0].clone(), w.instances[1].clone());
    world::tag_instance(&c, &a, "Team", "ops").await;
    let ct = FakeCloudTrail::start().await;
    ct.add(
        &a,
        Duration::from_secs(60),
        record("CreateTags", "ops-admin", "jane", "aws-cli/2.15", false),
    );
    // Throttled once, then answered: the SDK retries.
    ct.state.lock().unwrap().throttle_next = 1;
    let r = world::run_pipeline(
        &config(&moto.url, &ct.url, ""),
        &w.dir,
        &MapEnv::default(),
        true,
    )
    .await;
    assert_eq!(drift(&r, &a).changed_by.as_ref().unwrap().via, "cli");
    assert_eq!(ct.state.lock().unwrap().throttled, 1);

    // Always throttled: the drift is reported, unattributed, with the reason.
    world::tag_instance(&c, &b, "Team", "ops").await;
    ct.state.lock().unwrap().throttle_next = 1000;
    let r = world::run_pipeline(
        &config(&moto.url, &ct.url, ""),
        &w.dir,
        &MapEnv::default(),
        true,
    )
    .await;
    let d = drift(&r, &b);
    assert!(d.changed_by.is_none());
    let why = d.unattributed.as_deref().unwrap();
    assert!(why.contains("ThrottlingException"), "{why}");
    assert!(r
        .to_text()
        .contains(&format!("changed by: unknown ({why})")));
    assert!(
        r.stacks.iter().all(|s| s.errors.is_empty()),
        "{}",
        r.to_text()
    );
    // The cached attribution of the first drift survives.
    assert!(drift(&r, &a).changed_by.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_are_paced_bounded_in_time_and_counted() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("attr-pace")).await;
    for id in w.instances.iter().chain([&w.sg_web, &w.sg_db]) {
        world::tag_instance(&c, id, "Team", "ops").await;
    }
    let ct = FakeCloudTrail::start().await;
    let r = world::run_pipeline(
        &config(
            &moto.url,
            &ct.url,
            "requests_per_second = 2\nmax_lookups = 3",
        ),
        &w.dir,
        &MapEnv::default(),
        true,
    )
    .await;
    let times: Vec<Instant> = ct
        .state
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|x| x.1)
        .collect();
    assert_eq!(times.len(), 3, "max_lookups bounds the calls");
    for p in times.windows(2) {
        assert!(
            p[1] - p[0] >= Duration::from_millis(450),
            "{:?}",
            p[1] - p[0]
        );
    }
    let reasons: Vec<String> = r
        .stacks
        .iter()
        .flat_map(|s| s.drifts.iter())
        .filter_map(|d| d.unattributed.clone())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|x| x.contains("attribution.max_lookups (3)")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|x| x.contains("no write event")),
        "{reasons:?}"
    );

    // A CloudTrail that hangs: the run still ends within the time budget.
    ct.state.lock().unwrap().delay = Duration::from_secs(30);
    std::fs::remove_dir_all(w.dir.join("history")).unwrap();
    let t = Instant::now();
    let r = world::run_pipeline(
        &config(&moto.url, &ct.url, "timeout = \"2s\""),
        &w.dir,
        &MapEnv::default(),
        true,
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let d = drift(&r, &w.instances[0]);
    assert!(
        d.unattributed.as_deref().unwrap().contains("time budget"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lines_of_a_reconcile_carry_changed_by() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = seed(&c, &world::temp_dir("attr-audit")).await;
    let id = w.instances[0].clone();
    world::tag_instance(&c, &id, "Team", "ops").await;
    let ct = FakeCloudTrail::start().await;
    let ev = ct.add(
        &id,
        Duration::from_secs(60),
        record(
            "CreateTags",
            "ops-admin",
            "jane",
            "console.amazonaws.com",
            true,
        ),
    );
    let cfg = config(&moto.url, &ct.url, "").replace(
        "name = \"app\"\n",
        "name = \"app\"\nreconcile = \"apply\"\n",
    ) + "\n[reconcile]\naudit_log = \"audit.jsonl\"\n";
    let r = world::run_pipeline(&cfg, &w.dir, &MapEnv::default(), false).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.actions.len(), 1, "{}", r.to_text());
    assert_eq!(app.actions[0].changed_by.as_ref().unwrap().event_id, ev);
    let audit = std::fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{audit}");
    for l in &lines {
        assert_eq!(
            l["changed_by"]["principal"]["name"], "role/ops-admin",
            "{l}"
        );
        assert_eq!(l["changed_by"]["event_id"], ev.as_str());
    }
}
