//! Two runs of one stack at once (a CronJob overlapping a manual run): one
//! acts, the other reports the lock and does nothing.

use std::path::Path;

use driftd::env::MapEnv;
use driftd::report::{ActionOutcome, Report, StackStatus};

use crate::moto::Moto;
use crate::proxy::FaultProxy;
use crate::world::{self, seed};

async fn run(config: &str, dir: &Path) -> Report {
    world::run_pipeline(config, dir, &MapEnv::default(), false).await
}

fn config(endpoint: &str, history: &str) -> String {
    world::config_text(endpoint).replace(
        "name = \"app\"\n",
        "name = \"app\"\nreconcile = \"apply\"\n",
    ) + &format!(
        "\n[reconcile]\naudit_log = \"audit.jsonl\"\n\n[history]\nlocation = \"{history}\"\n"
    )
}

fn succeeded(r: &Report) -> usize {
    r.stacks
        .iter()
        .flat_map(|s| &s.actions)
        .filter(|a| a.outcome == ActionOutcome::Succeeded)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_stops_acting_and_a_stale_one_is_taken_over() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("lock-held");
    let w = seed(&c, &dir).await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    std::fs::create_dir_all(dir.join("history")).unwrap();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    std::fs::write(
        dir.join("history/app.lock"),
        format!(r#"{{"token":"x","pid":1,"acquired_at":"{now}"}}"#),
    )
    .unwrap();

    let r = run(&config(&moto.url, "history"), &dir).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert!(app.actions.is_empty());
    assert!(
        app.errors
            .iter()
            .any(|e| e.contains("another driftd run holds the lock")),
        "{:?}",
        app.errors
    );
    assert_eq!(app.status, StackStatus::Incomplete);
    assert_eq!(r.exit_code(), 1);
    assert!(
        dir.join("history/app.lock").exists(),
        "someone else's lock is left alone"
    );

    // Two hours old: its run died. Taken over, acted, released.
    std::fs::write(
        dir.join("history/app.lock"),
        r#"{"token":"x","pid":1,"acquired_at":"2000-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let r = run(&config(&moto.url, "history"), &dir).await;
    assert_eq!(succeeded(&r), 1, "{}", r.to_text());
    assert!(!dir.join("history/app.lock").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_act_once() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("lock-race");
    let w = seed(&c, &dir).await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    // Slow AWS: both runs are in flight at the same time.
    let proxy =
        FaultProxy::start_with(&moto.url, vec![], std::time::Duration::from_millis(150)).await;
    let cfg = config(&proxy.url, "history");
    let (a, b) = tokio::join!(run(&cfg, &dir), run(&cfg, &dir));
    assert_eq!(
        succeeded(&a) + succeeded(&b),
        1,
        "exactly one run acts:\n{}\n{}",
        a.to_text(),
        b.to_text()
    );
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert_eq!(
        audit.matches("\"event\":\"succeeded\"").count(),
        1,
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_lock_is_a_conditional_put() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("lock-s3");
    let w = seed(&c, &dir).await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    c.s3.create_bucket()
        .bucket("driftd-history")
        .send()
        .await
        .unwrap();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    c.s3.put_object()
        .bucket("driftd-history")
        .key("prod/app.lock")
        .body(
            format!(r#"{{"token":"x","pid":1,"acquired_at":"{now}"}}"#)
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let cfg = config(&moto.url, "s3://driftd-history/prod").replace(
        "location = \"s3://driftd-history/prod\"\n",
        &format!("location = \"s3://driftd-history/prod\"\nendpoint_url = \"{}\"\nregion = \"us-east-1\"\n", moto.url),
    );
    let r = run(&cfg, &dir).await;
    assert_eq!(succeeded(&r), 0, "{}", r.to_text());
    c.s3.delete_object()
        .bucket("driftd-history")
        .key("prod/app.lock")
        .send()
        .await
        .unwrap();
    let r = run(&cfg, &dir).await;
    assert_eq!(succeeded(&r), 1, "{}", r.to_text());
    // Released, and the history written beside it.
    let keys: Vec<String> =
        c.s3.list_objects_v2()
            .bucket("driftd-history")
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
    assert!(
        keys.contains(&"prod/app.json".to_string()) && !keys.contains(&"prod/app.lock".to_string()),
        "{keys:?}"
    );
}
