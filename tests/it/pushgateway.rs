//! CronJob mode against a real Pushgateway (Debian's `prometheus-pushgateway`;
//! `tests/ops/check.sh` installs it when run as root, as CI does).
//!
//! Each `driftd scan --pushgateway` run is a new process that replaces its
//! group. What must hold across runs: a stack whose state cannot be loaded
//! keeps its last complete drift gauges in the group (no resolve-then-fire
//! of the critical-drift alert), with or without `[history]`; with
//! `[history]` counters and the scan-duration histogram are running totals;
//! without it counters restart each run, and the per-stack gauges the batch
//! alerts use (last scan status, last success) are still right.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::moto::{aws_env, Moto};
use crate::world::{self, seed};

struct Pushgateway {
    child: Child,
    url: String,
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start a Pushgateway on a free loopback port, without persistence; `None`
/// (after saying so) when it is not installed and no CI requires it.
fn start_pushgateway() -> Option<Pushgateway> {
    let port = free_port();
    let spawned = ["prometheus-pushgateway", "pushgateway"]
        .iter()
        .find_map(|bin| {
            Command::new(bin)
                .args([
                    "--persistence.file=",
                    &format!("--web.listen-address=127.0.0.1:{port}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        });
    let Some(child) = spawned else {
        let required = std::env::var("DRIFTD_REQUIRE_TOOLS").as_deref() == Ok("1")
            || std::env::var("CI").is_ok();
        assert!(
            !required,
            "prometheus-pushgateway is required (CI or DRIFTD_REQUIRE_TOOLS=1): apt-get install -y prometheus-pushgateway"
        );
        eprintln!("skipped: prometheus-pushgateway not installed (apt-get install -y prometheus-pushgateway)");
        return None;
    };
    let pg = Pushgateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if get(&pg.url, "/-/ready").is_some_and(|(s, _)| s == 200) {
            return Some(pg);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the Pushgateway did not become ready on {}", pg.url);
}

fn get(base: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let buf = String::from_utf8_lossy(&buf).to_string();
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The value of the series `name` whose labels include all of `labels`, in
/// the group `instance` of the Pushgateway's exposition.
fn value(text: &str, name: &str, instance: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let (series, v) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{')?;
        let ok = n == name
            && rest.contains(&format!("instance=\"{instance}\""))
            && labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        ok.then(|| v.parse().ok()).flatten()
    })
}

/// One CronJob run: `driftd scan --pushgateway`; returns its exit code.
async fn cronjob_run(cfg: &std::path::Path, url: &str, instance: &str) -> i32 {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.args(["scan", "--quiet", "--exit-zero-on-drift", "--config"])
        .arg(cfg)
        .args(["--pushgateway", url, "--push-instance", instance]);
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning: push"), "{stderr}");
    assert!(!stderr.contains("warning: earlier"), "{stderr}");
    out.status.code().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_runs_keep_the_last_complete_figures_in_a_real_pushgateway() {
    let Some(pg) = start_pushgateway() else {
        return;
    };
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("pushgateway");
    let w = seed(&c, &dir).await;
    // Out-of-band drift on an instance of app.
    world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    let state = dir.join("app.tfstate");
    let good_state = std::fs::read(&state).unwrap();
    let base = world::config_text(&moto.url);
    let with_history = dir.join("with-history.toml");
    std::fs::write(
        &with_history,
        base.clone() + "\n[history]\nlocation = \"history\"\n",
    )
    .unwrap();
    let without_history = dir.join("without-history.toml");
    std::fs::write(&without_history, &base).unwrap();

    for (cfg, instance, history) in [
        (&with_history, "hist", true),
        (&without_history, "nohist", false),
    ] {
        std::fs::write(&state, &good_state).unwrap();
        // Run 1: complete, with drift.
        assert_eq!(cronjob_run(cfg, &pg.url, instance).await, 0);
        let (_, text) = get(&pg.url, "/metrics").unwrap();
        let drift = |text: &str| {
            value(
                text,
                "driftd_drifted_resources",
                instance,
                &[("stack", "app"), ("kind", "changed")],
            )
        };
        let drifted = drift(&text);
        assert!(
            drifted.is_some_and(|v| v >= 1.0),
            "{instance}: no drift pushed:\n{text}"
        );
        // Every counter series exists, at 0 when nothing happened.
        for status in ["incomplete", "failed"] {
            assert_eq!(
                value(
                    &text,
                    "driftd_scans_total",
                    instance,
                    &[("stack", "app"), ("status", status)]
                ),
                Some(0.0),
                "{instance}: {status}\n{text}"
            );
        }
        assert_eq!(
            value(
                &text,
                "driftd_reconcile_actions_total",
                instance,
                &[("stack", "network"), ("outcome", "failed")]
            ),
            Some(0.0),
            "{text}"
        );
        let last_success = |text: &str| {
            value(
                text,
                "driftd_last_successful_scan_timestamp_seconds",
                instance,
                &[("stack", "app")],
            )
        };
        let success1 = last_success(&text).expect("last success pushed");

        // Run 2: app's state cannot be loaded (truncated).
        std::fs::write(&state, &good_state[..good_state.len() / 2]).unwrap();
        assert_eq!(cronjob_run(cfg, &pg.url, instance).await, 1);
        let (_, text) = get(&pg.url, "/metrics").unwrap();
        // The last complete drift figures stay: the alert does not resolve.
        assert_eq!(
            drift(&text),
            drifted,
            "{instance}: drift gauge dropped:\n{text}"
        );
        // (Equal up to float rounding through the history's JSON.)
        assert!(
            last_success(&text).is_some_and(|t| (t - success1).abs() < 0.01),
            "{instance}:\n{text}"
        );
        assert_eq!(
            value(
                &text,
                "driftd_last_scan_status",
                instance,
                &[("stack", "app"), ("status", "failed")]
            ),
            Some(1.0),
            "{instance}:\n{text}"
        );
        assert_eq!(
            value(
                &text,
                "driftd_last_scan_status",
                instance,
                &[("stack", "network"), ("status", "ok")]
            ),
            Some(1.0),
            "{instance}:\n{text}"
        );
        let count = value(
            &text,
            "driftd_scan_duration_seconds_count",
            instance,
            &[("stack", "app")],
        );
        let ok = value(
            &text,
            "driftd_scans_total",
            instance,
            &[("stack", "app"), ("status", "ok")],
        );
        let failed = value(
            &text,
            "driftd_scans_total",
            instance,
            &[("stack", "app"), ("status", "failed")],
        );
        if history {
            // Totals across runs: the histogram and the counters keep growing.
            assert_eq!(count, Some(2.0), "{text}");
            assert_eq!((ok, failed), (Some(1.0), Some(1.0)), "{text}");
        } else {
            // Without [history] counters restart each run (Pushgateway
            // convention: the batch alerts use the gauges above).
            assert_eq!(count, Some(1.0), "{text}");
            assert_eq!((ok, failed), (Some(0.0), Some(1.0)), "{text}");
        }

        // Run 3: complete again.
        std::fs::write(&state, &good_state).unwrap();
        assert_eq!(cronjob_run(cfg, &pg.url, instance).await, 0);
        let (_, text) = get(&pg.url, "/metrics").unwrap();
        assert_eq!(drift(&text), drifted, "{text}");
        assert!(last_success(&text).unwrap() >= success1);
        assert_eq!(
            value(
                &text,
                "driftd_last_scan_status",
                instance,
                &[("stack", "app"), ("status", "ok")]
            ),
            Some(1.0),
            "{text}"
        );
        if history {
            assert_eq!(
                value(
                    &text,
                    "driftd_scan_duration_seconds_count",
                    instance,
                    &[("stack", "app")]
                ),
                Some(3.0),
                "{text}"
            );
        }
    }
}
