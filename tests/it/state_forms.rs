//! Unusual but valid state forms, and state locations that must never hang:
//! Terraform 0.11's flatmap (`attributes_flat`), deposed objects, resources
//! with no id, FIFOs and other non-regular files, slow and truncated S3
//! downloads. Why: each of these once produced false drift (and a reconcile
//! that would have deleted real tags), a false "unmanaged", a blinded read,
//! or a scan that never finished.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftd::report::{Report, StackReport, StackStatus};
use serde_json::{json, Map, Value};

use crate::moto::{aws_env, Moto};
use crate::proxy::FaultProxy;
use crate::world::{self, run_instance, seed};

/// Terraform 0.11's flatmap of a JSON attribute object: maps get `.%`,
/// lists `.#` (sets keyed by a hash-like number, as 0.11 wrote them),
/// every leaf a string.
fn flatten(attrs: &Value) -> Value {
    fn go(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match v {
            Value::Null => {}
            Value::Object(m) if !prefix.is_empty() => {
                out.insert(key("%"), json!(m.len().to_string()));
                for (k, x) in m {
                    out.insert(key(k), json!(leaf(x)));
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    go(k, x, out);
                }
            }
            Value::Array(a) => {
                out.insert(key("#"), json!(a.len().to_string()));
                let set = prefix.ends_with("_ids");
                for (i, x) in a.iter().enumerate() {
                    let idx = if set { 1_000_003 * (i + 7) } else { i };
                    match x {
                        Value::Object(m) => {
                            // A nested block: its own attributes, flattened below it.
                            for (k, y) in m {
                                go(&key(&format!("{idx}.{k}")), y, out);
                            }
                        }
                        other => {
                            out.insert(key(&idx.to_string()), json!(leaf(other)));
                        }
                    }
                }
            }
            other => {
                out.insert(prefix.to_string(), json!(leaf(other)));
            }
        }
    }
    fn leaf(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    let mut out = Map::new();
    go("", attrs, &mut out);
    Value::Object(out)
}

fn stack<'a>(r: &'a Report, name: &str) -> &'a StackReport {
    r.stacks
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stack {name}"))
}

/// The attributes of instance `index` of the first `rtype` resource (named
/// `name` when given) in a state file of the seeded world.
fn attrs_of(dir: &Path, file: &str, rtype: &str, name: Option<&str>, index: usize) -> Value {
    let st: Value = serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
    st["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == rtype && name.is_none_or(|n| r["name"] == n))
        .unwrap_or_else(|| panic!("no {rtype} in {file}"))["instances"][index]["attributes"]
        .clone()
}

fn app_instance_attrs(dir: &Path, index: usize) -> Value {
    attrs_of(dir, "app.tfstate", "aws_instance", None, index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flatmap_deposed_and_no_id_resources_give_no_false_drift_or_unmanaged() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("state-forms");
    let w = seed(&c, &dir).await;
    // Two more instances: one held in a flatmap driftd cannot read exactly,
    // one only as a deposed object.
    let unreadable = run_instance(&c, &w.subnet, &w.sg_web, "unreadable", "t3.micro").await;
    let deposed = run_instance(&c, &w.subnet, &w.sg_web, "deposed", "t3.micro").await;

    let flat = flatten(&app_instance_attrs(&dir, 0));
    assert_eq!(flat["tags.%"], "2", "{flat}");
    assert_eq!(flat["tags.Name"], "web-0", "{flat}");
    let state = json!({"version": 4, "terraform_version": "0.12.31", "serial": 3, "lineage": "flat",
        "resources": [
        {"mode": "managed", "type": "aws_instance", "name": "flat", "instances": [
            {"schema_version": 1, "attributes_flat": flat}]},
        {"mode": "managed", "type": "aws_security_group", "name": "web", "instances": [
            {"schema_version": 1, "attributes_flat": flatten(&attrs_of(&dir, "network.tfstate", "aws_security_group", Some("web"), 0))}]},
        {"mode": "managed", "type": "aws_s3_bucket", "name": "v3", "instances": [
            {"schema_version": 0, "attributes_flat": flatten(&attrs_of(&dir, "app.tfstate", "aws_s3_bucket", None, 0))}]},
        {"mode": "managed", "type": "aws_instance", "name": "unreadable", "instances": [
            {"schema_version": 1, "attributes_flat": {"id": unreadable, "instance_type": "t3.micro",
                "tags.%": "3", "tags.Name": "unreadable"}}]},
        {"mode": "managed", "type": "aws_instance", "name": "replaced", "instances": [
            {"attributes": app_instance_attrs(&dir, 1)},
            {"deposed": "00000001", "attributes": {"id": deposed, "instance_type": "t2.nano",
                "tags": {"Name": "not what is live"}}}]},
        {"mode": "managed", "type": "aws_instance", "name": "noid", "instances": [
            {"attributes": {"instance_type": "t3.micro", "tags": {}}}]},
        {"mode": "managed", "type": "aws_s3_bucket", "name": "noid", "instances": [
            {"attributes": {"tags": {}, "versioning": [{"enabled": false}]}}]}
    ]});
    std::fs::write(dir.join("flat.tfstate"), state.to_string()).unwrap();
    let cfg = world::config_text(&moto.url)
        + &format!(
            "\n[[stacks]]\nname = \"flat\"\nstate = \"flat.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\nreconcile = \"dry_run\"\n\n[reconcile]\naudit_log = \"audit.jsonl\"\n",
            moto.url
        );
    let r = world::run_pipeline(&cfg, &dir, &driftd::env::MapEnv::default(), false).await;
    let text = r.to_text();
    let flat = stack(&r, "flat");
    assert_eq!(flat.status, StackStatus::Ok, "{text}");
    // The flatmap instance is read exactly: in sync, so nothing to put back.
    assert!(flat.drifts.is_empty(), "false drift: {text}");
    assert!(
        r.stacks.iter().all(|s| s.actions.is_empty()),
        "no action (no DeleteTags): {text}"
    );
    assert_eq!(
        flat.counts.in_sync, 4,
        "instance, group and bucket in flatmap, and replaced: {text}"
    );
    assert_eq!(flat.counts.changed, 0, "{text}");
    // The unreadable flatmap, and the resources with no id: unknown, unsupported.
    let reasons: Vec<(String, String)> = flat
        .unknown
        .iter()
        .map(|u| (u.address.clone(), u.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for (addr, want) in [
        (
            "aws_instance.unreadable",
            "unsupported state form: attributes_flat",
        ),
        ("aws_instance.noid", "unsupported: no id"),
        ("aws_s3_bucket.noid", "unsupported: no id"),
    ] {
        let (_, why) = reasons
            .iter()
            .find(|(a, _)| a == addr)
            .unwrap_or_else(|| panic!("{addr} not unknown: {reasons:?}"));
        assert!(why.starts_with(want), "{addr}: {why}");
    }
    // A resource with no id does not blind the reads of the others.
    let app = stack(&r, "app");
    assert_eq!(app.status, StackStatus::Ok, "{text}");
    assert_eq!(app.counts.in_sync, 8, "{text}");
    // The held instances are the stack's: never reported unmanaged.
    let unmanaged: Vec<&str> = r
        .unmanaged
        .iter()
        .flat_map(|s| &s.drifts)
        .map(|d| d.id.as_str())
        .collect();
    assert!(
        !unmanaged.contains(&deposed.as_str()),
        "deposed: {unmanaged:?}"
    );
    assert!(
        !unmanaged.contains(&unreadable.as_str()),
        "unsupported form: {unmanaged:?}"
    );
    assert_eq!(r.exit_code(), 0, "{text}");
}

/// Run the driftd binary; fail (and kill it) if it has not ended in `limit`.
fn driftd_within(args: &[&str], limit: Duration) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.args(args)
        .env_remove("DRIFTD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("driftd {args:?} did not finish within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_fifo_or_other_non_regular_state_path_is_refused_without_blocking() {
    let moto = Moto::start();
    let dir = world::temp_dir("state-fifo");
    let mkfifo = |p: &Path| {
        let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
        assert!(ok, "mkfifo {}", p.display());
    };
    mkfifo(&dir.join("pipe.tfstate"));
    std::fs::create_dir_all(dir.join("g")).unwrap();
    std::fs::write(
        dir.join("g/good.tfstate"),
        json!({"version": 4, "resources": []}).to_string(),
    )
    .unwrap();
    mkfifo(&dir.join("g/pipe.tfstate"));
    std::os::unix::fs::symlink(dir.join("pipe.tfstate"), dir.join("link.tfstate")).unwrap();
    std::fs::write(
        dir.join("other.tfstate"),
        json!({"version": 4, "resources": []}).to_string(),
    )
    .unwrap();
    let mut cfg = String::from("[scan]\nmax_attempts = 2\n");
    for (name, state) in [
        ("fifo", "pipe.tfstate"),
        ("globbed", "g/*.tfstate"),
        ("linked", "link.tfstate"),
        ("other", "other.tfstate"),
    ] {
        cfg.push_str(&format!(
            "\n[[stacks]]\nname = \"{name}\"\nstate = \"{state}\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
            moto.url
        ));
    }
    let path = dir.join("driftd.toml");
    std::fs::write(&path, cfg).unwrap();
    let p = path.to_str().unwrap();
    let (code, stdout, stderr) = driftd_within(
        &["scan", "--config", p, "--output", "json", "--quiet"],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let st = |n: &str| {
        r["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()
            .clone()
    };
    for (name, file) in [
        ("fifo", "pipe.tfstate"),
        ("globbed", "g/pipe.tfstate"),
        ("linked", "link.tfstate"),
    ] {
        let s = st(name);
        assert_eq!(s["status"], "failed", "{name}: {s}");
        let errors = s["errors"].to_string();
        assert!(
            errors.contains(file) && errors.contains("a FIFO (named pipe), not a regular file"),
            "{name}: {errors}"
        );
    }
    assert_eq!(st("other")["status"], "ok", "{}", st("other"));
    // A run of another stack alone is not touched by them at all.
    let (code, _, stderr) = driftd_within(
        &["scan", "--config", p, "--stack", "other", "--quiet"],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{stderr}");
}

async fn s3_state_world(name: &str) -> (Moto, std::path::PathBuf) {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir(name);
    c.s3.create_bucket().bucket("tfstate").send().await.unwrap();
    // Big enough that half of it is not a valid state either.
    let mut resources = Vec::new();
    for i in 0..200 {
        resources.push(json!({"mode": "managed", "type": "aws_lambda_function", "name": format!("f{i}"),
            "instances": [{"attributes": {"id": format!("f{i}"), "description": "x".repeat(100)}}]}));
    }
    let state = json!({"version": 4, "serial": 1, "lineage": "s3", "resources": resources});
    c.s3.put_object()
        .bucket("tfstate")
        .key("app.tfstate")
        .body(state.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    std::fs::write(
        dir.join("local.tfstate"),
        json!({"version": 4, "resources": []}).to_string(),
    )
    .unwrap();
    (moto, dir)
}

fn s3_config(endpoint: &str, local_endpoint: &str, extra: &str) -> String {
    format!(
        "[scan]\nunmanaged = false\n{extra}\n\n[[stacks]]\nname = \"s3\"\nstate = \"s3://tfstate/app.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{endpoint}\"\n\n[[stacks]]\nname = \"local\"\nstate = \"local.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{local_endpoint}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_s3_state_download_is_retried_and_bounded() {
    let (moto, dir) = s3_state_world("state-truncated").await;
    // Twice cut short, then whole: read on the third attempt.
    let proxy = FaultProxy::start_truncating(&moto.url, "GET /tfstate/app.tfstate", 2).await;
    let cfg = s3_config(&proxy.url, &moto.url, "max_attempts = 5");
    let r = crate::scan_moto::scan_text(&cfg, &dir).await;
    let s3 = stack(&r, "s3");
    assert_eq!(s3.status, StackStatus::Ok, "{}", r.to_text());
    assert_eq!(s3.counts.unsupported, 200);
    assert_eq!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst), 2);

    // Always cut short: the stack fails after max_attempts downloads, with the cause.
    let proxy = FaultProxy::start_truncating(&moto.url, "GET /tfstate/app.tfstate", 1000).await;
    let cfg = s3_config(&proxy.url, &moto.url, "max_attempts = 3");
    let r = crate::scan_moto::scan_text(&cfg, &dir).await;
    let s3 = stack(&r, "s3");
    assert_eq!(s3.status, StackStatus::Failed, "{}", r.to_text());
    let errors = s3.errors.join("; ");
    assert!(
        errors.contains(
            "s3://tfstate/app.tfstate: reading the object body failed after 3 attempt(s)"
        ),
        "{errors}"
    );
    assert_eq!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(stack(&r, "local").status, StackStatus::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_s3_state_read_times_out_and_other_stacks_go_on() {
    let (moto, dir) = s3_state_world("state-slow").await;
    let proxy = FaultProxy::start_with(&moto.url, vec![], Duration::from_secs(8)).await;
    let cfg = s3_config(&proxy.url, &moto.url, "max_attempts = 1\nstate_timeout = 1");
    let t = Instant::now();
    let r = crate::scan_moto::scan_text(&cfg, &dir).await;
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    let s3 = stack(&r, "s3");
    assert_eq!(s3.status, StackStatus::Failed, "{}", r.to_text());
    let errors = s3.errors.join("; ");
    assert!(
        errors.contains("s3://tfstate/app.tfstate: reading the state timed out after 1s"),
        "{errors}"
    );
    assert_eq!(stack(&r, "local").status, StackStatus::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_errors_read_as_code_and_message() {
    let moto = Moto::start();
    let dir = world::temp_dir("state-sdk-error");
    let cfg = format!(
        "[scan]\nunmanaged = false\nmax_attempts = 1\n\n[[stacks]]\nname = \"s3\"\nstate = \"s3://no-such-bucket/app.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
        moto.url
    );
    let r = crate::scan_moto::scan_text(&cfg, &dir).await;
    let errors = stack(&r, "s3").errors.join("; ");
    assert!(errors.contains("NoSuchBucket: "), "{errors}");
    assert!(
        !errors.contains("Error {") && !errors.contains("unhandled error"),
        "a struct dump: {errors}"
    );
}
