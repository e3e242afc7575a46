//! The `driftd` binary: exit codes, output formats, config validation.

use std::process::{Command, Output};

use crate::moto::{aws_env, Moto};
use crate::world::{self, seed};

fn driftd(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.args(args).env_remove("DRIFTD_CONFIG");
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_example_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/driftd.example.toml");
    let out = driftd(&["validate-config", "--config", path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_config_lists_every_error() {
    let dir = world::temp_dir("cli-validate");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[scan]\nconcurrency = 0\n\n[[stacks]]\nname = \"\"\nstate = []\nregions = [\"moon-1\"]\n",
    )
    .unwrap();
    let out = driftd(&["validate-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "4 errors",
        "scan.concurrency",
        "stacks[0].name",
        "stacks[0].state",
        "stacks[0].regions[0]",
    ] {
        assert!(err.contains(want), "missing {want} in:\n{err}");
    }
    let out = driftd(&[
        "validate-config",
        "--config",
        dir.join("nope.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_formats() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cli-scan");
    let w = seed(&c, &dir).await;
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, world::config_text(&moto.url)).unwrap();
    let cfg = cfg.to_str().unwrap();

    let out = driftd(&["validate-config", "--config", cfg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = driftd(&["scan", "--config", cfg, "--output", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["summary"]["drifts"], 0);

    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    let report_file = dir.join("report.json");
    let out = driftd(&[
        "scan",
        "--config",
        cfg,
        "--report-file",
        report_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CHANGED   aws_instance.web[0]") && text.contains("tags.Team: web -> ops"),
        "{text}"
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(saved["summary"]["changed"], 1);
    // The state's user_data never leaks into any output.
    assert!(!text.contains("c2VjcmV0"));

    let out = driftd(&[
        "scan", "--config", cfg, "--output", "markdown", "--stack", "app",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| Kind | Resource | Attribute | Code (state) | Live |"),
        "{md}"
    );
    assert!(md.contains("| changed | `aws_instance.web[0]`"), "{md}");

    let out = driftd(&["scan", "--config", cfg, "--stack", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such stack: nope"));

    // A broken stack: the others are still reported, exit 1.
    std::fs::write(dir.join("app.tfstate"), "{\"version\": 4,").unwrap();
    let out = driftd(&["scan", "--config", cfg, "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["stacks_failed"], 1);
    assert_eq!(report["stacks"][1]["name"], "network");
    assert_eq!(report["stacks"][1]["status"], "ok");
}

/// Progress on stderr: plain lines when it is not a terminal (per scope:
/// its stacks, calls, pages, throttled retries, elapsed; and while it runs),
/// nothing with `--quiet`; never on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_lines_when_not_a_terminal_and_nothing_with_quiet() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cli-progress");
    seed(&c, &dir).await;
    let cfg = dir.join("driftd.toml");
    std::fs::write(&cfg, world::config_text(&moto.url)).unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = |quiet: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
        cmd.args(["scan", "--config", cfg, "--output", "json"])
            .env_remove("DRIFTD_CONFIG")
            .env("DRIFTD_PROGRESS_INTERVAL", "0.1");
        if quiet {
            cmd.arg("--quiet");
        }
        for (k, v) in aws_env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(false);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("driftd: ")).collect();
    // The report alone on stdout.
    let _: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the report");
    assert!(
        lines.contains(&"driftd: loading state of 2 stack(s)"),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("driftd: reading us-east-1 (stacks app, network)")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("driftd: still reading us-east-1 (stacks app, network): ")),
        "{err}"
    );
    let done = lines
        .iter()
        .find(|l| l.starts_with("driftd: read "))
        .unwrap_or_else(|| panic!("{err}"));
    for want in [
        " resource(s) in us-east-1 (stacks app, network): ",
        " calls, ",
        " pages, ",
        " S3 requests, 0 throttled retries (",
    ] {
        assert!(done.contains(want), "{want} in {done}");
    }
    // No terminal escapes when stderr is not a terminal.
    assert!(!err.contains('\x1b') || !err.contains("\x1b[1A"), "{err}");

    let out = run(true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.lines().any(|l| l.starts_with("driftd: ")), "{err}");
    let _: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the report");
}
