//! driftd under faults: throttling, 5xx, slow answers and dropped
//! connections from AWS; rate limits and errors from GitHub; runs that died
//! half-way. Why: driftd is pointed at production and acts on what it sees,
//! so a failed call must never look like a deleted resource, a retry must
//! never duplicate a pull request, and a crashed run must converge on the
//! next one. Every fault here is injected on loopback (a proxy in front of
//! moto, a fake GitHub), deterministically.

use std::path::Path;
use std::time::{Duration, Instant};

use driftd::aws::{ApiCalls, ClientOptions, StaticCredentials};
use driftd::env::MapEnv;
use driftd::metrics::Metrics;
use driftd::pipeline::{self, RunOptions};
use driftd::pr::{self, CodeLocation, GithubAuth, GithubSettings, ProposedDrift};
use driftd::report::{DecisionAction, DriftKind, Report, StackStatus};
use driftd::scan::{self, ScanOptions};
use serde_json::json;

use crate::fake_github::{FakeGithub, GhFault};
use crate::moto::Moto;
use crate::pr_editor::{app, drift};
use crate::proxy::{Chaos, FaultProxy};
use crate::scan_moto::lines;
use crate::world::{self, perm_tcp, seed};

/// The SDK defaults (5 attempts), with moto's credentials.
fn options5() -> ClientOptions {
    ClientOptions {
        max_attempts: 5,
        static_credentials: Some(StaticCredentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }),
        ..Default::default()
    }
}

async fn scan_counted(config: &str, dir: &Path, calls: &ApiCalls) -> Report {
    let cfg = driftd::config::parse(config, &dir.join("driftd.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let options = ScanOptions {
        client: options5(),
        ..Default::default()
    };
    scan::run(&cfg, &options, calls).await
}

/// What must not change under faults: drifts, and per stack its status and
/// counts, and per unmanaged scope its status (not `generated_at`, nor the
/// endpoint the scan went through).
fn essence(r: &Report) -> (Vec<String>, Vec<String>, Vec<String>) {
    let stacks = r
        .stacks
        .iter()
        .map(|s| format!("{} {:?} {:?} {:?}", s.name, s.status, s.counts, s.errors))
        .collect();
    let scopes = r
        .unmanaged
        .iter()
        .map(|s| format!("{} {:?} {:?}", s.region, s.status, s.reason))
        .collect();
    (lines(r), stacks, scopes)
}

fn api_attempts(calls: &ApiCalls, outcome: &str) -> u64 {
    calls
        .snapshot()
        .iter()
        .filter(|((_, _, o), _)| o.as_str() == outcome)
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_throttling_5xx_slow_and_dropped_calls_give_the_same_report() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faults-chaos");
    let w = seed(&c, &dir).await;
    // Some drift, so that the comparison covers every kind.
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    c.ec2
        .authorize_security_group_ingress()
        .group_id(&w.sg_web)
        .ip_permissions(perm_tcp(22, "0.0.0.0/0", "debug"))
        .send()
        .await
        .unwrap();
    c.s3.create_bucket()
        .bucket("scratch-unmanaged")
        .send()
        .await
        .unwrap();

    let clean_calls = ApiCalls::new();
    let clean = scan_counted(&world::config_text(&moto.url), &dir, &clean_calls).await;
    assert_eq!(clean.summary.stacks_incomplete, 0, "{}", clean.to_text());
    assert_eq!(api_attempts(&clean_calls, "throttled"), 0);
    assert!(!lines(&clean).is_empty());

    // A scan makes about 17 calls: four scans through the proxy give every
    // fault kind several chances (each scan draws new faults).
    let proxy = FaultProxy::start_chaos(&moto.url, Chaos::default()).await;
    let calls = ApiCalls::new();
    for round in 0..4 {
        let faulty = scan_counted(&world::config_text(&proxy.url), &dir, &calls).await;
        assert_eq!(
            essence(&faulty),
            essence(&clean),
            "round {round}: {}",
            faulty.to_text()
        );
        assert!(
            faulty
                .stacks
                .iter()
                .flat_map(|s| &s.drifts)
                .all(|d| d.kind != DriftKind::Missing),
            "a failed call must never make a resource missing: {}",
            faulty.to_text()
        );
    }
    let (throttled, server_error, dropped, slowed) = proxy.counts.get();
    eprintln!("chaos: {throttled} throttled, {server_error} 5xx, {dropped} dropped, {slowed} slow; calls {:?}", calls.snapshot());
    // Enough faults of every kind were injected (the seed is fixed).
    assert!(
        throttled + server_error + dropped >= 10,
        "{:?}",
        proxy.counts.get()
    );
    assert!(
        throttled >= 2 && server_error >= 2 && dropped >= 2 && slowed >= 2,
        "{:?}",
        proxy.counts.get()
    );
    // Retries are visible, by outcome, in the counter and the metrics.
    assert_eq!(api_attempts(&calls, "throttled"), throttled);
    assert_eq!(api_attempts(&calls, "server_error"), server_error);
    assert!(api_attempts(&calls, "transport_error") >= dropped);
    assert!(calls.total() > clean_calls.total());
    let m = Metrics::new();
    m.sync_api_calls(&calls);
    let text = m.encode();
    let throttled_metric: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("driftd_aws_api_requests_total{") && l.contains("outcome=\"throttled\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(throttled_metric as u64, throttled, "{text}");
}

fn gh_config(endpoint: &str, gh: &FakeGithub) -> String {
    world::config_text(endpoint).replace(
        "name = \"app\"\n",
        "name = \"app\"\nreconcile = \"apply\"\ncode = { repository = \"acme/infra\", base_branch = \"main\", directory = \"app\" }\n",
    ) + &format!(
        "\n[reconcile]\naudit_log = \"audit.jsonl\"\n\n[github]\napi_url = \"{}\"\n",
        gh.url
    )
}

async fn run_pipeline(config: &str, dir: &Path) -> Report {
    let env = MapEnv::new([("GITHUB_TOKEN", "test-token")]);
    let cfg = driftd::config::parse(config, &dir.join("driftd.toml"), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut client = options5();
    client.max_attempts = 2;
    let options = RunOptions {
        scan: ScanOptions {
            client,
            ..Default::default()
        },
        dry_run: false,
    };
    pipeline::run(&cfg, &options, &ApiCalls::new(), &env).await
}

const APP_TF: &str = "resource \"aws_instance\" \"web\" {\n  count         = 2\n  ami           = \"ami-12c6146b\"\n  instance_type = \"t3.micro\"\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_whose_reads_all_fail_means_incomplete_unknown_and_no_action() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faults-s3down");
    let w = seed(&c, &dir).await;
    // A non-critical drift (reconcile would revert it) and a critical one
    // (a pull request would propose it).
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
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
    let gh = FakeGithub::start("", "acme/infra", &[("app/main.tf", APP_TF)]).await;
    // Every S3 call fails (EC2 calls are POSTs, S3 reads are GETs).
    let proxy = FaultProxy::start(&moto.url, vec!["GET /".into()]).await;
    let r = run_pipeline(&gh_config(&proxy.url, &gh), &dir).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.status, StackStatus::Incomplete, "{}", r.to_text());
    assert_eq!(app.counts.unknown, 6, "every S3 resource: {:?}", app.counts);
    assert!(app.unknown.iter().all(|u| u.rtype.starts_with("aws_s3_")));
    assert!(
        app.errors.iter().any(|e| e.contains("aws_s3_bucket")),
        "{:?}",
        app.errors
    );
    assert!(app.drifts.iter().all(|d| d.kind != DriftKind::Missing));
    // The instance drift is seen, and nothing is done about it.
    assert_eq!(app.drifts.len(), 2, "{}", r.to_text());
    for d in &app.drifts {
        let dec = d.decision.as_ref().unwrap();
        assert_eq!(dec.action, DecisionAction::ReportOnly, "{dec:?}");
        assert!(dec.reason.contains("incomplete"), "{dec:?}");
    }
    assert!(app.actions.is_empty());
    assert!(app.pull_requests.is_none());
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap_or_default();
    assert!(audit.is_empty(), "no action, no audit line: {audit}");
    assert!(gh.log().is_empty(), "GitHub was called: {:?}", gh.log());
    assert!(gh.pulls().is_empty());
    assert_eq!(gh.branches(), vec!["main".to_string()]);
    assert_eq!(r.exit_code(), 1);
    // AWS was not touched either.
    let out = c
        .ec2
        .describe_instances()
        .instance_ids(&w.instances[0])
        .send()
        .await
        .unwrap();
    let tags = out.reservations()[0].instances()[0].tags().to_vec();
    assert!(tags
        .iter()
        .any(|t| t.key() == Some("Team") && t.value() == Some("ops")));
}

// GitHub: rate limits, 5xx, dropped connections, half-done runs.

const REPO: &str = "acme/infra";
const DIR: &str = "stacks/app";

async fn fake_repo() -> FakeGithub {
    let files: Vec<(String, String)> = app()
        .into_iter()
        .map(|(p, c)| (format!("{DIR}/{p}"), c))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    FakeGithub::start("", REPO, &refs).await
}

fn gh_settings(gh: &FakeGithub) -> GithubSettings {
    let mut s = GithubSettings::new(GithubAuth::Token("test-token".into()));
    s.api_url = gh.url.clone();
    s
}

fn code() -> CodeLocation {
    CodeLocation::GitHub {
        repository: REPO.into(),
        base_branch: "main".into(),
        directory: DIR.into(),
    }
}

fn api_type() -> ProposedDrift {
    drift(
        "aws_instance.api",
        "aws_instance",
        &[("instance_type", json!("t3.micro"), json!("t3.large"))],
    )
}

fn count(log: &[String], prefix: &str) -> usize {
    log.iter().filter(|l| l.starts_with(prefix)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_5xx_and_rate_limits_are_retried_without_duplicates() {
    let gh = fake_repo().await;
    let s = gh_settings(&gh);
    gh.fault("GET /repos/acme/infra/pulls", GhFault::ServerError, 2);
    gh.fault(
        "GET /repos/acme/infra/git/commits/",
        GhFault::RateLimited { reset_in: 1 },
        1,
    );
    gh.fault(
        "POST /repos/acme/infra/git/refs",
        GhFault::TooMany { retry_after: 1 },
        1,
    );
    gh.fault("POST /repos/acme/infra/pulls", GhFault::ServerError, 1);
    gh.fault("POST /repos/acme/infra/issues/", GhFault::Drop, 1);
    let t = Instant::now();
    let o = pr::sync_stack(&s, "app", &code(), &[api_type()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = t.elapsed();
    assert_eq!(o.opened.len(), 1, "{o:?}");
    assert_eq!(gh.faults_injected().len(), 6, "{:?}", gh.faults_injected());
    // GitHub's waits were honoured (retry-after 1 s, reset in about 1 s),
    // and the whole sync stayed bounded.
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    // Exactly one branch, one PR, one commit, labels once.
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0].head, "driftd/app");
    assert_eq!(
        gh.branches(),
        vec!["driftd/app".to_string(), "main".to_string()]
    );
    assert_eq!(gh.commits_created(), 1);
    let log = gh.log();
    assert_eq!(count(&log, "POST /repos/acme/infra/pulls"), 2, "{log:?}");
    assert_eq!(count(&log, "POST /repos/acme/infra/git/refs"), 2, "{log:?}");
    assert_eq!(
        count(&log, "POST /repos/acme/infra/issues/1/labels"),
        2,
        "{log:?}"
    );

    // The next run with the same drift changes nothing.
    let o = pr::sync_stack(&s, "app", &code(), &[api_type()])
        .await
        .unwrap();
    assert_eq!((o.opened.len(), o.unchanged.len()), (0, 1), "{o:?}");
    assert_eq!(gh.pulls().len(), 1);
    assert_eq!(gh.commits_created(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_github_rate_limit_fails_fast_with_a_clear_error() {
    let gh = fake_repo().await;
    let s = gh_settings(&gh);
    // Exhausted for the next hour: waiting would stall the whole run.
    gh.fault("GET ", GhFault::RateLimited { reset_in: 3600 }, 100);
    let t = Instant::now();
    let e = pr::sync_stack(&s, "app", &code(), &[api_type()])
        .await
        .unwrap_err()
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(
        e.contains("403") && e.contains("rate limit") && e.contains("next run"),
        "{e}"
    );
    assert_eq!(gh.log().len(), 1, "no pointless retries: {:?}", gh.log());
    // A 5xx that never ends: bounded attempts, then an error that says so.
    let gh = fake_repo().await;
    gh.fault("GET ", GhFault::ServerError, 100);
    let e = pr::sync_stack(&gh_settings(&gh), "app", &code(), &[api_type()])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("502") && e.contains("after 5 attempts"), "{e}");
    assert_eq!(gh.log().len(), 5);
    assert!(gh.pulls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_died_after_pushing_the_branch_converges_to_one_pr() {
    let gh = fake_repo().await;
    let s = gh_settings(&gh);
    // The previous run pushed its branch, then died before opening the PR.
    gh.push_branch("driftd/app", &format!("{DIR}/main.tf"), "# half-done\n");
    let o = pr::sync_stack(&s, "app", &code(), &[api_type()])
        .await
        .unwrap();
    assert_eq!(o.opened.len(), 1, "{o:?}");
    assert_eq!(gh.pulls().len(), 1);
    assert_eq!(
        gh.branches(),
        vec!["driftd/app".to_string(), "main".to_string()]
    );
    // The branch now holds this run's edit, not the half-done one.
    let main_tf = gh.file("driftd/app", &format!("{DIR}/main.tf")).unwrap();
    assert!(main_tf.contains("t3.large"), "{main_tf}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_create_branch_or_pr_makes_no_duplicate() {
    let gh = fake_repo().await;
    let s = gh_settings(&gh);
    // GitHub did the work, the connection dropped before the answer: the
    // retries find the branch and the PR already there.
    gh.fault("POST /repos/acme/infra/git/refs", GhFault::DropAfter, 1);
    gh.fault("POST /repos/acme/infra/pulls", GhFault::DropAfter, 1);
    let o = pr::sync_stack(&s, "app", &code(), &[api_type()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.opened.len(), 1, "{o:?}");
    assert_eq!(gh.faults_injected().len(), 2);
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(
        gh.branches(),
        vec!["driftd/app".to_string(), "main".to_string()]
    );
    let o = pr::sync_stack(&s, "app", &code(), &[api_type()])
        .await
        .unwrap();
    assert_eq!(o.unchanged.len(), 1, "{o:?}");
    assert_eq!(gh.pulls().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_applied_but_never_recorded_converges() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faults-crash-reconcile");
    let w = seed(&c, &dir).await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    let config = world::config_text(&moto.url).replace(
        "name = \"app\"\n",
        "name = \"app\"\nreconcile = \"apply\"\n",
    ) + "\n[reconcile]\naudit_log = \"audit.jsonl\"\n";
    // The run wrote `started`, made the change, and died before writing
    // the outcome.
    let started = json!({"time": "2026-01-01T00:00:00Z", "event": "started", "stack": "app",
        "address": "aws_instance.web[0]", "type": "aws_instance", "id": w.instances[0],
        "attribute": "tags.Team", "operation": "ec2:CreateTags", "before": "ops", "after": "web",
        "outcome": "skipped", "dry_run": false});
    std::fs::write(dir.join("audit.jsonl"), format!("{started}\n")).unwrap();
    crate::world::tag_instance(&c, &w.instances[0], "Team", "web").await;

    let r = run_pipeline(&config, &dir).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.status, StackStatus::Ok, "{}", r.to_text());
    assert!(app.drifts.is_empty(), "{}", r.to_text());
    assert!(r.stacks.iter().all(|s| s.actions.is_empty()));
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 1, "no new action: {audit}");
    assert_eq!(r.exit_code(), 0);
}
