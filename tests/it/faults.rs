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

// ---- One unreadable bucket, a region whose reads all fail, endpoints that
// never answer, throttling back-off.

use crate::proxy::{Answer, Rule};

/// `world::config_text` plus a stack `west` in us-west-2 (state `west.tfstate`).
fn config_with_west(endpoint: &str) -> String {
    world::config_text(endpoint)
        + &format!(
            "\n[[stacks]]\nname = \"west\"\nstate = \"west.tfstate\"\nregions = [\"us-west-2\"]\nendpoint_url = \"{endpoint}\"\n"
        )
}

async fn s3_tag(c: &driftd::aws::Clients, bucket: &str, key: &str, value: &str) {
    use aws_sdk_s3::types::{Tag, Tagging};
    c.s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key(key).value(value).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn stack<'a>(r: &'a Report, name: &str) -> &'a driftd::report::StackReport {
    r.stacks.iter().find(|s| s.name == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unreadable_bucket_makes_only_that_bucket_unknown() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faults-one-bucket");
    let w = seed(&c, &dir).await;
    // A second region: stack `west` manages one bucket there, with drift.
    let west = driftd::aws::Clients::new(
        &driftd::aws::Target {
            region: "us-west-2".into(),
            endpoint_url: Some(moto.url.clone()),
            assume_role_arn: None,
        },
        &crate::moto::client_options(),
        &ApiCalls::new(),
    )
    .await;
    west.s3
        .create_bucket()
        .bucket("west-data")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3_tag(&west, "west-data", "Owner", "someone-else").await;
    let mut st = world::StateBuilder::default();
    st.add(
        None,
        "aws_s3_bucket",
        "west",
        None,
        json!({"id": "west-data", "bucket": "west-data", "arn": "arn:aws:s3:::west-data",
               "region": "us-west-2", "tags": {"Owner": "platform"}, "tags_all": {"Owner": "platform"}}),
    );
    st.write(&dir.join("west.tfstate"));
    // Drift on the readable managed bucket of the same stack and region.
    s3_tag(&c, &w.bucket_v4, "Owner", "someone-else").await;
    // Unmanaged buckets: one readable, one answering 403 to everything.
    for b in ["scratch-unmanaged", "zz-unreadable"] {
        c.s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let proxy = FaultProxy::start_rules(
        &moto.url,
        vec![
            Rule::bucket(&w.bucket_v3, 403, "AccessDenied"),
            Rule::bucket("zz-unreadable", 403, "AccessDenied"),
        ],
    )
    .await;
    let r = scan_counted(&config_with_west(&proxy.url), &dir, &ApiCalls::new()).await;
    let text = r.to_text();
    assert!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst) >= 2);

    // The unreadable managed bucket, and only it, is unknown.
    let app = stack(&r, "app");
    assert_eq!(app.status, StackStatus::Incomplete, "{text}");
    let unknown: Vec<&str> = app.unknown.iter().map(|u| u.address.as_str()).collect();
    assert_eq!(unknown, vec!["aws_s3_bucket.logs"], "{text}");
    assert!(
        app.unknown[0].reason.contains("logs-v3") && app.unknown[0].reason.contains("AccessDenied"),
        "{:?}",
        app.unknown[0]
    );
    // The other bucket of the stack is compared: its drift is reported, its
    // split resources are in sync.
    let l = lines(&r);
    assert!(
        l.contains(&"changed module.assets.aws_s3_bucket.this tags.Owner: \"platform\" -> \"someone-else\"".to_string()),
        "{l:#?}"
    );
    assert!(
        app.drifts.iter().all(|d| d.kind != DriftKind::Missing),
        "{text}"
    );
    assert_eq!(app.counts.unknown, 1);
    // The other region's drift is seen; its stack manages nothing unreadable.
    assert!(
        l.contains(
            &"changed aws_s3_bucket.west tags.Owner: \"platform\" -> \"someone-else\"".to_string()
        ),
        "{l:#?}"
    );
    let west_r = stack(&r, "west");
    assert_eq!(west_r.status, StackStatus::Ok, "{text}");
    assert_eq!(west_r.counts.unknown, 0);
    assert_eq!(stack(&r, "network").status, StackStatus::Ok, "{text}");
    // Unmanaged detection: incomplete for the one bucket it cannot place, in
    // each region; everything else is still reported.
    assert!(
        l.contains(&"unmanaged aws_s3_bucket".to_string()),
        "scratch-unmanaged is still reported: {l:#?}"
    );
    let unmanaged_ids: Vec<&str> = r
        .unmanaged
        .iter()
        .flat_map(|s| &s.drifts)
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(unmanaged_ids, vec!["scratch-unmanaged"], "{text}");
    assert_eq!(r.unmanaged.len(), 2);
    for sc in &r.unmanaged {
        assert_eq!(sc.status, driftd::report::ScopeStatus::Incomplete, "{text}");
        let reason = sc.reason.as_deref().unwrap_or("");
        assert!(reason.contains("zz-unreadable"), "{reason}");
        // A managed bucket is not unmanaged anywhere, readable or not.
        assert!(!reason.contains("logs-v3"), "{reason}");
    }
    // A failed live read is never a clean run.
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_whose_reads_all_fail_is_incomplete_and_exits_1() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faults-region-down");
    seed(&c, &dir).await;
    // `west` manages nothing yet in us-west-2: only unmanaged detection reads there.
    world::StateBuilder::default().write(&dir.join("west.tfstate"));
    // Every request signed for us-west-2 (EC2 and S3) fails, after retries.
    let proxy = FaultProxy::start_rules(
        &moto.url,
        vec![Rule::always(&["/us-west-2/"], 500, "InternalError")],
    )
    .await;
    let started = Instant::now();
    let r = scan_counted(&config_with_west(&proxy.url), &dir, &ApiCalls::new()).await;
    let text = r.to_text();
    assert!(
        proxy.injected.load(std::sync::atomic::Ordering::SeqCst) >= 6,
        "retried"
    );
    let west = stack(&r, "west");
    assert_eq!(west.status, StackStatus::Incomplete, "{text}");
    let errors = west.errors.join("\n");
    for op in ["DescribeInstances", "DescribeSecurityGroups", "ListBuckets"] {
        assert!(errors.contains(op), "{op} in {errors}");
    }
    let scope = r
        .unmanaged
        .iter()
        .find(|s| s.region == "us-west-2")
        .unwrap();
    assert_eq!(scope.status, driftd::report::ScopeStatus::Incomplete);
    // us-east-1 is unaffected.
    for name in ["app", "network"] {
        assert_eq!(stack(&r, name).status, StackStatus::Ok, "{text}");
    }
    assert_eq!(r.summary.stacks_incomplete, 1);
    assert_eq!(r.exit_code(), 1);
    // No `ok` scan and no fresh success timestamp for `west`.
    let m = Metrics::new();
    m.record_report(&r, started.elapsed());
    let metrics = m.encode();
    assert!(
        !metrics.contains("driftd_scans_total{stack=\"west\",status=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        !metrics.lines().any(|l| l
            .starts_with("driftd_last_successful_scan_timestamp_seconds{stack=\"west\"}")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(
        metrics.contains("driftd_scans_total{stack=\"app\",status=\"ok\"} 1"),
        "{metrics}"
    );
}

fn timeouts_config(endpoint: &str, scan: &str) -> String {
    world::config_text(endpoint).replacen("[scan]\n", &format!("[scan]\n{scan}\n"), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_never_answers_fails_within_the_timeouts() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faults-hang");
    seed(&c, &dir).await;
    let hang = Rule {
        any: vec![" HTTP/1.1".into()],
        answer: Answer::Hang,
        fraction: 1.0,
        max_consecutive: 0,
    };
    let proxy = FaultProxy::start_rules(&moto.url, vec![hang.clone()]).await;
    // Per attempt: 5 attempts of 1 s (plus at most 0.2+0.4+0.8+1.6 s of backoff).
    let t = Instant::now();
    let r = scan_counted(
        &timeouts_config(&proxy.url, "attempt_timeout = \"1s\""),
        &dir,
        &ApiCalls::new(),
    )
    .await;
    let took = t.elapsed();
    assert!(took < Duration::from_secs(20), "{took:?}");
    let app = stack(&r, "app");
    assert_eq!(app.status, StackStatus::Incomplete, "{}", r.to_text());
    assert_eq!(app.counts.unknown, 8, "{}", r.to_text());
    assert!(
        app.errors
            .iter()
            .any(|e| e.contains("timeout") || e.contains("timed out")),
        "{:?}",
        app.errors
    );
    assert_eq!(r.exit_code(), 1);

    // The per-stack deadline: attempts may be long, the scope read is not.
    let t = Instant::now();
    let r = scan_counted(
        &timeouts_config(&proxy.url, "attempt_timeout = 30\nstack_timeout = \"2s\""),
        &dir,
        &ApiCalls::new(),
    )
    .await;
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    let app = stack(&r, "app");
    assert_eq!(app.status, StackStatus::Incomplete, "{}", r.to_text());
    assert!(
        app.errors.iter().any(|e| e.contains("scan.stack_timeout")),
        "{:?}",
        app.errors
    );
    assert!(app.drifts.iter().all(|d| d.kind != DriftKind::Missing));

    // Bad values are config errors.
    for bad in ["attempt_timeout = \"soon\"", "stack_timeout = 0"] {
        let e = driftd::config::parse(
            &timeouts_config(&proxy.url, bad),
            &dir.join("driftd.toml"),
            &MapEnv::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("scan."), "{bad}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_backs_off_in_proportion() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faults-throttle-time");
    let w = seed(&c, &dir).await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    let clean = scan_counted(&world::config_text(&moto.url), &dir, &ApiCalls::new()).await;
    let fraction = |answer: Answer| Rule {
        any: vec![" HTTP/1.1".into()],
        answer,
        fraction: 0.3,
        max_consecutive: 2,
    };
    let mut took = Vec::new();
    for answer in [
        Answer::Error {
            status: 500,
            code: "InternalError",
        },
        Answer::Throttle,
    ] {
        let proxy = FaultProxy::start_rules(&moto.url, vec![fraction(answer.clone())]).await;
        let calls = ApiCalls::new();
        let t = Instant::now();
        let r = scan_counted(&world::config_text(&proxy.url), &dir, &calls).await;
        let secs = t.elapsed();
        assert_eq!(essence(&r), essence(&clean), "{answer:?}: {}", r.to_text());
        let faults = proxy.injected.load(std::sync::atomic::Ordering::SeqCst);
        assert!(faults >= 3, "{answer:?}: only {faults} faults");
        eprintln!(
            "30% {answer:?}: {secs:?}, {faults} faults, calls {:?}",
            calls.snapshot()
        );
        took.push(secs);
    }
    // Throttling costs about what 5xx cost (the SDK's adaptive mode took 8-20 s per retry).
    assert!(
        took[1] <= took[0] * 3 + Duration::from_secs(4),
        "30% 5xx {:?}, 30% throttled {:?}",
        took[0],
        took[1]
    );
}
