//! The daemon and CronJob modes: schedules, /metrics, signals, shards, push.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftd::env::MapEnv;
use driftd::metrics::METRIC_NAMES;
use driftd::scan::{in_shard, select_stacks, ScanOptions};

use crate::moto::{aws_env, Moto};
use crate::proxy::FaultProxy;
use crate::world::{self, seed};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET a path on loopback; (status, body).
pub(crate) fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The value of one series in an exposition (0 when absent).
pub(crate) fn series(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub(crate) fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(config: &std::path::Path, port: u16) -> Daemon {
    start_daemon_with(config, port, &[])
}

pub(crate) fn start_daemon_with(
    config: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> Daemon {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.args([
        "daemon",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DRIFTD_LOG", "info")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in aws_env().into_iter().chain(env.iter().copied()) {
        cmd.env(k, v);
    }
    Daemon(cmd.spawn().unwrap())
}

pub(crate) fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

pub(crate) fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// `promtool check metrics` on an exposition, when promtool is installed
/// (CI installs it and sets DRIFTD_REQUIRE_TOOLS=1).
pub(crate) fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var("DRIFTD_REQUIRE_TOOLS").is_err(),
            "promtool is required (DRIFTD_REQUIRE_TOOLS is set)"
        );
        eprintln!("skipped promtool check: promtool not installed (apt-get install prometheus)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn daemon_config(endpoint: &str, schedule: &str, port: u16) -> String {
    world::config_text(endpoint).replace(
        "name = \"app\"\n",
        &format!("name = \"app\"\nschedule = \"{schedule}\"\n"),
    ) + &format!("\n[daemon]\nlisten = \"127.0.0.1:{port}\"\ngrace_period_seconds = 30\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_scans_on_schedule_and_exports_metrics() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("daemon");
    seed(&c, &dir).await;
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, daemon_config(&moto.url, "*/2 * * * * *", port)).unwrap();
    let mut d = start_daemon(&cfg, port);
    wait_for("/healthz", Duration::from_secs(20), || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    wait_for("/readyz", Duration::from_secs(20), || {
        get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    let ok = "driftd_scans_total{stack=\"app\",status=\"ok\"}";
    let mut first = 0.0;
    wait_for("a first scan", Duration::from_secs(30), || {
        first = get(port, "/metrics")
            .map(|(_, b)| series(&b, ok))
            .unwrap_or(0.0);
        first >= 1.0
    });
    wait_for("a second scan", Duration::from_secs(30), || {
        get(port, "/metrics").is_some_and(|(_, b)| series(&b, ok) > first)
    });
    let (_, text) = get(port, "/metrics").unwrap();
    assert!(
        series(
            &text,
            "driftd_aws_api_requests_total{operation=\"DescribeInstances\""
        ) >= 2.0,
        "{text}"
    );
    assert!(
        series(
            &text,
            "driftd_last_successful_scan_timestamp_seconds{stack=\"app\"}"
        ) > 1.7e9
    );
    assert_eq!(series(&text, "driftd_drifted_resources{"), 0.0);
    for name in METRIC_NAMES.iter().filter(|n| {
        ![
            "driftd_pull_requests_total",
            "driftd_reconcile_actions_total",
            "driftd_scans_skipped_total",
            "driftd_unmanaged_resources",
            "driftd_drifted_resources",
        ]
        .contains(n)
    }) {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
    promtool_check(&text);
    // The same document as `driftd scan --output json`.
    let (_, latest) = get(port, "/reports/latest").unwrap();
    let latest: serde_json::Value = serde_json::from_str(&latest).unwrap();
    for key in [
        "schema_version",
        "driftd_version",
        "generated_at",
        "summary",
        "stacks",
        "unmanaged",
    ] {
        assert!(latest.get(key).is_some(), "{key} missing: {latest}");
    }
    let report: driftd::report::Report = serde_json::from_value(latest.clone()).unwrap();
    assert_eq!(report.stacks.len(), 1, "network has no schedule: {latest}");
    assert_eq!(report.stacks[0].name, "app");
    assert_eq!(report.stacks[0].status, driftd::report::StackStatus::Ok);
    assert_eq!(report.summary.stacks, 1);
    assert_eq!(get(port, "/nope").unwrap().0, 404);

    signal(&d.0, "-TERM");
    assert_eq!(wait_exit(&mut d.0, Duration::from_secs(30)), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_ticks_are_skipped_and_sigterm_lets_the_run_finish() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("daemon-slow");
    seed(&c, &dir).await;
    // Every AWS call takes 700 ms: a scan lasts several seconds, ticks come every second.
    let proxy = FaultProxy::start_with(&moto.url, vec![], Duration::from_millis(700)).await;
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, daemon_config(&proxy.url, "* * * * * *", port)).unwrap();
    let mut d = start_daemon(&cfg, port);
    wait_for("a skipped tick", Duration::from_secs(40), || {
        get(port, "/metrics")
            .is_some_and(|(_, b)| series(&b, "driftd_scans_skipped_total{stack=\"app\"}") >= 1.0)
    });
    // A scan is running now (ticks are being skipped): SIGTERM waits for it.
    let before = get(port, "/metrics")
        .map(|(_, b)| series(&b, "driftd_scans_total{stack=\"app\""))
        .unwrap();
    signal(&d.0, "-TERM");
    let t = Instant::now();
    assert_eq!(
        wait_exit(&mut d.0, Duration::from_secs(60)),
        Some(0),
        "clean exit after draining"
    );
    assert!(
        t.elapsed() > Duration::from_millis(300),
        "it waited for the running scan"
    );
    let _ = before;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("daemon-twice");
    seed(&c, &dir).await;
    let proxy = FaultProxy::start_with(&moto.url, vec![], Duration::from_millis(1500)).await;
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, daemon_config(&proxy.url, "* * * * * *", port)).unwrap();
    let mut d = start_daemon(&cfg, port);
    wait_for("a skipped tick", Duration::from_secs(40), || {
        get(port, "/metrics")
            .is_some_and(|(_, b)| series(&b, "driftd_scans_skipped_total{stack=\"app\"}") >= 1.0)
    });
    signal(&d.0, "-TERM");
    std::thread::sleep(Duration::from_millis(300));
    signal(&d.0, "-TERM");
    assert_eq!(wait_exit(&mut d.0, Duration::from_secs(5)), Some(130));
}

#[test]
fn shards_split_stacks_stably_and_completely() {
    let mut text = String::new();
    for i in 0..25 {
        text.push_str(&format!("[[stacks]]\nname = \"stack-{i}\"\nstate = \"s{i}.tfstate\"\nregions = [\"us-east-1\"]\n\n"));
    }
    let cfg = driftd::config::parse(
        &text,
        std::path::Path::new("/x/driftd.toml"),
        &MapEnv::default(),
    )
    .unwrap();
    let mut seen = Vec::new();
    for i in 0..4 {
        let opts = ScanOptions {
            shard: Some((i, 4)),
            ..Default::default()
        };
        let names: Vec<String> = select_stacks(&cfg, &opts)
            .iter()
            .map(|s| s.name.clone())
            .collect();
        assert!(!names.is_empty(), "shard {i} is empty");
        seen.extend(names);
    }
    seen.sort();
    let mut all: Vec<String> = cfg.stacks.iter().map(|s| s.name.clone()).collect();
    all.sort();
    assert_eq!(
        seen, all,
        "the union of the shards is the full scan, with no stack twice"
    );
    // Stable: the hash does not depend on the build or the run.
    assert!(in_shard("stack-0", 0, 1));
    let owner: Vec<u32> = (0..4).filter(|&i| in_shard("prod-network", i, 4)).collect();
    assert_eq!(owner.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_pushes_metrics_and_a_failed_push_keeps_the_exit_code() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("push");
    seed(&c, &dir).await;
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, world::config_text(&moto.url)).unwrap();

    // A loopback receiver standing in for the Pushgateway (the CronJob
    // behaviour across runs is tested against a real one in pushgateway.rs).
    // It answers the read of the last pushed group (empty), then takes the push.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut buf, mut s) = loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4];
            s.read_exact(&mut head).await.unwrap();
            if &head != b"GET " {
                // Not a read: put the bytes back in front of the rest.
                break (head.to_vec(), s);
            }
            let mut tmp = [0u8; 4096];
            let _ = s.read(&mut tmp).await;
            let body = r#"{"status":"success","data":[]}"#;
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            s.write_all(answer.as_bytes()).await.unwrap();
        };
        let mut tmp = [0u8; 65536];
        loop {
            let n = s.read(&mut tmp).await.unwrap();
            buf.extend_from_slice(&tmp[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                    return text;
                }
            }
            if n == 0 {
                return text;
            }
        }
    });
    let cfg_path = cfg.clone();
    let run = move |push: String, textfile: Option<std::path::PathBuf>| {
        let cfg = &cfg_path;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
        cmd.args([
            "scan",
            "--config",
            cfg.to_str().unwrap(),
            "--quiet",
            "--pushgateway",
            &push,
        ]);
        if let Some(t) = textfile {
            cmd.arg("--metrics-textfile").arg(t);
        }
        for (k, v) in aws_env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let textfile = dir.join("driftd.prom");
    let run2 = run.clone();
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        let textfile = textfile.clone();
        move || run2(url, Some(textfile))
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let request = receiver.await.unwrap();
    assert!(
        request.starts_with("PUT /metrics/job/driftd/instance/all HTTP/1.1"),
        "{request}"
    );
    assert!(
        request.contains("driftd_scans_total{stack=\"app\",status=\"ok\"} 1"),
        "{request}"
    );
    let prom = std::fs::read_to_string(&textfile).unwrap();
    assert!(prom.contains("driftd_build_info"));
    promtool_check(&prom);

    // Nobody listens there: a warning, and the scan's own exit code.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = tokio::task::spawn_blocking(move || run(closed, None))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: push to"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn invalid_schedules_are_config_errors() {
    let text = "[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = [\"us-east-1\"]\nschedule = \"every tuesday\"\n\n[daemon]\nlisten = \"nowhere\"\n";
    let e = driftd::config::parse(
        text,
        std::path::Path::new("/x/driftd.toml"),
        &MapEnv::default(),
    )
    .unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("stacks[0].schedule: `every tuesday` is not a cron schedule"),
        "{shown}"
    );
    assert!(shown.contains("daemon.listen"), "{shown}");
    for ok in ["*/30 * * * *", "0 */5 * * * *", "@hourly"] {
        assert!(driftd::config::parse_schedule(ok).is_ok(), "{ok}");
    }
}

#[test]
fn dashboards_and_alerts_use_only_exported_metrics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    let mut checked = 0;
    for e in entries {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("driftd_") {
            let tail = &rest[i..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &tail[name.len().max(1)..];
            // Names in prose (file names, job names) are not metrics.
            if name.ends_with('_')
                || !name.contains('_')
                || name.starts_with("driftd_alerts")
                || name.starts_with("driftd_grafana")
            {
                continue;
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .fold(name.clone(), |n, s| {
                    n.strip_suffix(s).map(str::to_string).unwrap_or(n)
                });
            assert!(
                METRIC_NAMES.contains(&base.as_str()),
                "{} uses {name}, which driftd does not export",
                p.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 10 || !root.join("driftd-grafana.json").exists(),
        "only {checked} metric references found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_counters_carry_over_between_runs_through_history() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("carry");
    seed(&c, &dir).await;
    let cfg = dir.join("driftd.toml");
    std::fs::write(
        &cfg,
        world::config_text(&moto.url) + "\n[history]\nlocation = \"history\"\n",
    )
    .unwrap();
    let prom = dir.join("driftd.prom");
    for _ in 0..2 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
        cmd.args([
            "scan",
            "--quiet",
            "--config",
            cfg.to_str().unwrap(),
            "--metrics-textfile",
            prom.to_str().unwrap(),
        ]);
        for (k, v) in aws_env() {
            cmd.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&prom).unwrap();
    // Each run is a new process; the second one still counts two scans.
    assert_eq!(
        series(&text, "driftd_scans_total{stack=\"app\",status=\"ok\"}"),
        2.0,
        "{text}"
    );
    assert!(dir.join("history/@metrics-all.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_valid_config_and_keeps_the_old_one_otherwise() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("daemon-hup");
    seed(&c, &dir).await;
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, daemon_config(&moto.url, "*/2 * * * * *", port)).unwrap();
    let mut d = start_daemon(&cfg, port);
    wait_for("a scan of app", Duration::from_secs(30), || {
        get(port, "/metrics").is_some_and(|(_, b)| {
            series(&b, "driftd_scans_total{stack=\"app\",status=\"ok\"}") >= 1.0
        })
    });

    // An invalid config is refused: the daemon keeps running the old one.
    std::fs::write(&cfg, "[[stacks]]\nname = \"broken\"\n").unwrap();
    signal(&d.0, "-HUP");
    std::thread::sleep(Duration::from_secs(1));
    assert!(d.0.try_wait().unwrap().is_none(), "still running");
    let before = get(port, "/metrics")
        .map(|(_, b)| series(&b, "driftd_scans_total{stack=\"app\",status=\"ok\"}"))
        .unwrap();
    wait_for("app still scanned", Duration::from_secs(30), || {
        get(port, "/metrics").is_some_and(|(_, b)| {
            series(&b, "driftd_scans_total{stack=\"app\",status=\"ok\"}") > before
        })
    });

    // A valid one with a schedule for network too takes effect.
    let text = daemon_config(&moto.url, "*/2 * * * * *", port).replace(
        "name = \"network\"\n",
        "name = \"network\"\nschedule = \"*/2 * * * * *\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
    signal(&d.0, "-HUP");
    wait_for("a scan of network", Duration::from_secs(30), || {
        get(port, "/metrics").is_some_and(|(_, b)| {
            series(&b, "driftd_scans_total{stack=\"network\",status=\"ok\"}") >= 1.0
        })
    });
    signal(&d.0, "-TERM");
    assert_eq!(wait_exit(&mut d.0, Duration::from_secs(30)), Some(0));
}

/// A yearly schedule: the daemon runs, no scan happens during the test.
const NEVER: &str = "0 0 1 1 *";

#[test]
fn every_counter_exists_at_zero_from_start_up() {
    let dir = world::temp_dir("daemon-zero");
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, daemon_config("http://127.0.0.1:9", NEVER, port)).unwrap();
    let mut d = start_daemon(&cfg, port);
    wait_for("/healthz", Duration::from_secs(20), || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    let (_, text) = get(port, "/metrics").unwrap();
    // Before any scan: every counter of the scheduled stack, at 0, so the
    // first failure is an increase (increase() cannot see a new series).
    for series in [
        "driftd_scans_total{stack=\"app\",status=\"ok\"} 0",
        "driftd_scans_total{stack=\"app\",status=\"incomplete\"} 0",
        "driftd_scans_total{stack=\"app\",status=\"failed\"} 0",
        "driftd_scans_skipped_total{stack=\"app\"} 0",
        "driftd_reconcile_actions_total{outcome=\"failed\",stack=\"app\"} 0",
        "driftd_reconcile_actions_total{outcome=\"succeeded\",stack=\"app\"} 0",
        "driftd_reconcile_actions_total{outcome=\"dry_run\",stack=\"app\"} 0",
        "driftd_reconcile_actions_total{outcome=\"skipped\",stack=\"app\"} 0",
        "driftd_pull_requests_total{action=\"opened\",stack=\"app\"} 0",
        "driftd_pull_requests_total{action=\"updated\",stack=\"app\"} 0",
        "driftd_pull_requests_total{action=\"closed\",stack=\"app\"} 0",
        "driftd_scan_duration_seconds_count{stack=\"app\"} 0",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    // network has no schedule: the daemon never scans it, so no series (a
    // series would make the never-scanned stale-scan alert fire for it).
    assert!(!text.contains("stack=\"network\""), "{text}");
    promtool_check(&text);
    // No run has finished: no report yet.
    assert_eq!(get(port, "/reports/latest").unwrap().0, 404);
    signal(&d.0, "-TERM");
    assert_eq!(wait_exit(&mut d.0, Duration::from_secs(30)), Some(0));
}

/// A loopback endpoint that accepts connections and never answers.
fn black_hole() -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let mut held = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        l.set_nonblocking(true).unwrap();
        while Instant::now() < deadline {
            match l.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    });
    (url, h)
}

fn stuck_config(endpoint: &str, port: u16) -> String {
    daemon_config(endpoint, "* * * * * *", port)
        .replace("grace_period_seconds = 30", "grace_period_seconds = 2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_run_fails_liveness_and_sigterm_exits_after_the_grace_period() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("daemon-stuck");
    seed(&c, &dir).await;
    // Every AWS call goes to an endpoint that never answers (60 s per
    // attempt, several attempts): the first run of app is stuck for minutes.
    let (hole, _h) = black_hole();
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, stuck_config(&hole, port)).unwrap();
    // Ticks every second; a run counts as wedged after 10 s here (by default
    // 10 schedule intervals, at least 15 minutes: src/daemon.rs unit test).
    let mut d = start_daemon_with(&cfg, port, &[("DRIFTD_WEDGED_AFTER_SECONDS", "10")]);
    wait_for(
        "/healthz ok while the run is young",
        Duration::from_secs(20),
        || get(port, "/healthz").is_some_and(|(s, _)| s == 200),
    );
    // The run never ends: after 10 s the scheduler is wedged and liveness
    // fails (the kubelet restarts the pod).
    let mut body = String::new();
    wait_for("/healthz to fail", Duration::from_secs(40), || {
        get(port, "/healthz").is_some_and(|(s, b)| {
            body = b;
            s == 503
        })
    });
    assert!(body.contains("stack app"), "{body}");
    let skipped = get(port, "/metrics")
        .map(|(_, b)| series(&b, "driftd_scans_skipped_total{stack=\"app\"}"))
        .unwrap();
    assert!(skipped >= 5.0, "ticks were skipped: {skipped}");
    // SIGTERM: the run does not finish; after the 2 s grace the daemon exits 1.
    let t = Instant::now();
    signal(&d.0, "-TERM");
    assert_eq!(wait_exit(&mut d.0, Duration::from_secs(15)), Some(1));
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "it waited the grace period"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_blocked_reading_a_fifo_does_not_make_the_daemon_unkillable() {
    let dir = world::temp_dir("daemon-fifo");
    // app's state is a FIFO nobody writes to: opening it blocks a thread
    // (unless the state reader refuses non-regular files, which is also fine:
    // then the run is not stuck and the daemon drains normally).
    let fifo = dir.join("app.tfstate");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let port = free_port();
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, stuck_config("http://127.0.0.1:9", port)).unwrap();
    let mut d = start_daemon(&cfg, port);
    wait_for("/healthz", Duration::from_secs(20), || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stuck = false;
    while Instant::now() < deadline && !stuck {
        stuck = get(port, "/metrics")
            .is_some_and(|(_, b)| series(&b, "driftd_scans_skipped_total{stack=\"app\"}") >= 1.0);
        std::thread::sleep(Duration::from_millis(200));
    }
    signal(&d.0, "-TERM");
    let code = wait_exit(&mut d.0, Duration::from_secs(15));
    if stuck {
        assert_eq!(
            code,
            Some(1),
            "exits after the grace period, run still stuck"
        );
    } else {
        assert!(matches!(code, Some(0) | Some(1)), "{code:?}");
    }
}
