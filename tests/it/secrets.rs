//! Secrets never leak. Why: a drift report travels far (CI logs, pull
//! requests, dashboards, chat), so a value the state marks sensitive, a
//! secret-bearing attribute (`user_data`, `password`) or the GitHub token
//! must appear in none of driftd's outputs. This test plants unique values,
//! drifts them in moto, runs the real binary end to end (reconcile dry run
//! with an audit log, a pull request on the fake GitHub, history, metrics,
//! every report format, debug JSON logs) and searches every byte written.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::fake_github::FakeGithub;
use crate::moto::{aws_env, Moto};
use crate::world::{self, seed};

const MAIN_TF: &str = "resource \"aws_instance\" \"web\" {\n  count         = 2\n  ami           = \"ami-12c6146b\"\n  instance_type = \"t3.micro\"\n}\n";

fn all_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_appear_in_no_output() {
    let pid = std::process::id();
    let tag_secret = format!("tag-secret-{pid}-a1");
    let live_secret = format!("live-secret-{pid}-b2");
    let user_data = format!("userdata-secret-{pid}-c3");
    let password = format!("password-secret-{pid}-d4");
    let token = format!("ghp_token_secret_{pid}_e5");

    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("secrets");
    let w = seed(&c, &dir).await;
    // Plant: a tag value the state marks sensitive, user_data, a password.
    let mut st: Value =
        serde_json::from_slice(&std::fs::read(dir.join("app.tfstate")).unwrap()).unwrap();
    let inst = &mut st["resources"][0]["instances"][0];
    inst["attributes"]["tags"]["Team"] = json!(tag_secret);
    inst["attributes"]["tags_all"]["Team"] = json!(tag_secret);
    inst["attributes"]["user_data"] = json!(user_data);
    inst["attributes"]["password"] = json!(password);
    inst["sensitive_attributes"] = json!([
        [{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "Team", "type": "string"}}],
        [{"type": "get_attr", "value": "user_data"}],
        [{"type": "get_attr", "value": "password"}]
    ]);
    std::fs::write(dir.join("app.tfstate"), st.to_string()).unwrap();
    // Drift them: the live tag is another secret, and both instances' type
    // changes (critical: a pull request carrying the sensitive drift too);
    // a bucket's tag changes (non-critical: reconcile, dry run, audited).
    c.ec2
        .create_tags()
        .resources(&w.instances[0])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Team")
                .value(&live_secret)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for i in &w.instances {
        c.ec2
            .modify_instance_attribute()
            .instance_id(i)
            .instance_type(
                aws_sdk_ec2::types::AttributeValue::builder()
                    .value("t3.large")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    c.s3.put_bucket_tagging()
        .bucket(&w.bucket_v3)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("Owner")
                        .value("someone-else")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let gh = FakeGithub::start("", "acme/infra", &[("app/main.tf", MAIN_TF)]).await;
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let cfg = world::config_text(&moto.url).replace(
        "name = \"app\"\n",
        "name = \"app\"\nreconcile = \"dry_run\"\ncode = { repository = \"acme/infra\", base_branch = \"main\", directory = \"app\" }\n",
    ) + &format!(
        "\n[reconcile]\naudit_log = \"out/audit.jsonl\"\n\n[history]\nlocation = \"out/history\"\n\n[github]\napi_url = \"{}\"\n",
        gh.url
    );
    let cfg_path = dir.join("driftd.toml");
    std::fs::write(&cfg_path, cfg).unwrap();

    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    for format in ["json", "text", "markdown"] {
        let args: Vec<String> = vec![
            "scan".into(),
            "--config".into(),
            cfg_path.display().to_string(),
            "--output".into(),
            format.into(),
            "--log-format".into(),
            "json".into(),
            "--report-file".into(),
            out_dir
                .join(format!("report-{format}.json"))
                .display()
                .to_string(),
            "--metrics-textfile".into(),
            out_dir
                .join(format!("metrics-{format}.prom"))
                .display()
                .to_string(),
        ];
        let token = token.clone();
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
            cmd.args(&args)
                .env_remove("DRIFTD_CONFIG")
                .env("DRIFTD_LOG", "debug")
                .env("GITHUB_TOKEN", &token);
            for (k, v) in aws_env() {
                cmd.env(k, v);
            }
            cmd.output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        outputs.push((format!("stdout ({format})"), out.stdout));
        outputs.push((format!("stderr ({format})"), out.stderr));
    }
    all_files(&out_dir, &mut outputs);

    // The run did what it should, so the search below means something.
    let report: Value = serde_json::from_slice(&outputs[0].1).unwrap();
    let app = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "app")
        .unwrap()
        .clone();
    assert_eq!(app["actions"][0]["outcome"], "dry_run", "{app}");
    assert!(app["drifts"].to_string().contains("(sensitive)"), "{app}");
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1, "{app}");
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "audit.jsonl",
        "history",
        "metrics-json.prom",
        "report-markdown.json",
    ] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "{want} in {names:?}"
        );
    }
    // Logs are on (driftd's own; the SDK's wire logs stay capped at info,
    // see `trace_logs_never_print_wire_bodies`).
    assert!(
        String::from_utf8_lossy(&outputs[1].1).contains("\"level\":\"INFO\""),
        "logs are on"
    );

    // Everything on the fake GitHub: PRs, comments, commits, every file on
    // every branch, and the request log.
    {
        let st = gh.state.lock().unwrap();
        for p in &st.pulls {
            outputs.push((
                format!("PR #{}", p.number),
                format!(
                    "{}\n{}\n{}\n{:?}",
                    p.title,
                    p.body,
                    p.comments.join("\n"),
                    p.labels
                )
                .into_bytes(),
            ));
        }
        for (sha, c) in &st.commits {
            outputs.push((
                format!("commit {sha}"),
                format!("{} {}", c.message, c.author).into_bytes(),
            ));
        }
        for (sha, b) in &st.blobs {
            outputs.push((format!("blob {sha}"), b.clone()));
        }
        outputs.push(("GitHub request log".into(), st.log.join("\n").into_bytes()));
    }

    for (what, bytes) in &outputs {
        let text = String::from_utf8_lossy(bytes);
        for secret in [&tag_secret, &live_secret, &user_data, &password, &token] {
            assert!(
                !text.contains(secret.as_str()),
                "{secret} leaked into {what}:\n{}",
                &text[text.find(secret.as_str()).unwrap().saturating_sub(300)..]
                    .chars()
                    .take(600)
                    .collect::<String>()
            );
        }
    }
}

/// `--log trace` shows driftd's own traces and never the SDK's wire logs
/// (raw response bodies carry live tag values); the explicitly unsafe
/// switch lets them through, which is what makes this test meaningful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_never_print_wire_bodies() {
    let secret = format!("wire-secret-{}-f6", std::process::id());
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("secrets-trace");
    let w = seed(&c, &dir).await;
    // The live value of a tag the state marks sensitive.
    world::tag_instance(&c, &w.instances[0], "ApiKey", &secret).await;
    let mut st: Value =
        serde_json::from_slice(&std::fs::read(dir.join("app.tfstate")).unwrap()).unwrap();
    let inst = &mut st["resources"][0]["instances"][0];
    inst["attributes"]["tags"]["ApiKey"] = json!("old-key");
    inst["attributes"]["tags_all"]["ApiKey"] = json!("old-key");
    inst["sensitive_attributes"] = json!([
        [{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "ApiKey", "type": "string"}}]
    ]);
    std::fs::write(dir.join("app.tfstate"), st.to_string()).unwrap();
    let cfg_path = dir.join("driftd.toml");
    std::fs::write(&cfg_path, world::config_text(&moto.url)).unwrap();

    let run = |extra: Vec<(&'static str, &'static str)>, args: Vec<String>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
        cmd.args(&args)
            .env_remove("DRIFTD_CONFIG")
            .env_remove("DRIFTD_LOG")
            .env_remove("DRIFTD_UNSAFE_LOG_WIRE");
        for (k, v) in aws_env().into_iter().chain(extra) {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let base: Vec<String> = vec![
        "scan".into(),
        "--config".into(),
        cfg_path.display().to_string(),
        "--log".into(),
        "trace".into(),
        "--quiet".into(),
    ];
    for format in ["text", "json"] {
        let mut args = base.clone();
        args.extend(["--log-format".to_string(), format.to_string()]);
        let out = tokio::task::spawn_blocking(move || run(vec![], args))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("scope read"),
            "driftd's logs are on: {stderr}"
        );
        assert!(
            !stderr.contains(&secret),
            "{format}: the secret leaked into the logs:\n{}",
            &stderr[stderr.find(&secret).unwrap().saturating_sub(300)..]
                .chars()
                .take(600)
                .collect::<String>()
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains(&secret));
    }
    // The unsafe switch (flag or environment) shows the wire: the secret is
    // there, so the assertion above could fail.
    let mut args = base.clone();
    args.push("--unsafe-log-wire".into());
    let out = tokio::task::spawn_blocking(move || run(vec![], args))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&secret));
    let args = base.clone();
    let out = tokio::task::spawn_blocking(move || run(vec![("DRIFTD_UNSAFE_LOG_WIRE", "1")], args))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&secret));
    assert!(stderr.contains("unsafe-log-wire"), "a warning says so");
}
