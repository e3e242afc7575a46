//! Bad input: broken state files, broken configs, unreachable AWS, and a
//! fuzzer over the state parser. Why: state files come from many Terraform
//! versions, backends and hands, and configs are written by people. driftd
//! must answer every one of them with an error that names the file (or the
//! field) and says what to do, keep reporting the other stacks, exit 1, and
//! never panic or overflow its stack.

use std::path::Path;
use std::process::{Command, Output};

use driftd::state;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::moto::{aws_env, Moto};
use crate::world::{self, seed};

fn driftd(args: &[&str], env: &[(&str, &str)], clear_aws: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.args(args).env_remove("DRIFTD_CONFIG");
    if clear_aws {
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// JSON nested `depth` levels: `[[[...]]]`.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The broken corpus: (stack name, file name, bytes). `None` bytes: a directory.
fn corpus() -> Vec<(&'static str, &'static str, Option<Vec<u8>>)> {
    let managed = |instances: Value| {
        json!({"version": 4, "serial": 1, "lineage": "l", "resources": [
            {"mode": "managed", "type": "aws_instance", "name": "x", "instances": instances}]})
        .to_string()
        .into_bytes()
    };
    let good = json!({"version": 4, "serial": 1, "lineage": "l", "resources": []}).to_string();
    let mut non_utf8 = br#"{"version": 4, "lineage": ""#.to_vec();
    non_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    non_utf8.extend_from_slice(br#"", "resources": []}"#);
    vec![
        ("truncated", "truncated.tfstate", Some(good.as_bytes()[..good.len() / 2].to_vec())),
        ("v3", "v3.tfstate", Some(br#"{"version": 3, "serial": 1, "modules": []}"#.to_vec())),
        ("v5", "v5.tfstate", Some(br#"{"version": 5, "serial": 1, "resources": []}"#.to_vec())),
        ("version-string", "vstr.tfstate", Some(br#"{"version": "4", "resources": []}"#.to_vec())),
        ("resources-object", "resobj.tfstate", Some(br#"{"version": 4, "resources": {"a": 1}}"#.to_vec())),
        ("instances-string", "inststr.tfstate", Some(managed(json!("nope")))),
        ("attributes-number", "attrnum.tfstate", Some(managed(json!([{"attributes": 42}])))),
        ("deep-attrs", "deep-attrs.tfstate", Some(
            format!(r#"{{"version": 4, "resources": [{{"mode": "managed", "type": "aws_instance", "name": "x", "instances": [{{"attributes": {{"id": "i-1", "tags": {}}}}}]}}]}}"#, nested(100_000)).into_bytes())),
        ("deep-version", "deep-version.tfstate", Some(format!("{{\"version\": {}}}", nested(100_000)).into_bytes())),
        ("non-utf8", "nonutf8.tfstate", Some(non_utf8)),
        ("empty", "empty.tfstate", Some(Vec::new())),
        ("whitespace", "blank.tfstate", Some(b"  \n\t\n".to_vec())),
        ("not-json", "binary.tfstate", Some(vec![0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00])),
        ("array", "array.tfstate", Some(b"[]".to_vec())),
        ("directory", "dir.tfstate", None),
        ("opentofu-encrypted", "tofu.tfstate", Some(br#"{"meta": {"key_provider.pbkdf2.key": "eyJzYWx0IjoiIn0="}, "encrypted_data": "ZW5jcnlwdGVk", "encryption_version": "v0"}"#.to_vec())),
        ("index-true", "idxtrue.tfstate", Some(managed(json!([{"index_key": true, "attributes": {"id": "i-1"}}])))),
        ("index-null", "idxnull.tfstate", Some(managed(json!([{"index_key": null, "attributes": {"id": "i-1"}}])))),
        ("index-object", "idxobj.tfstate", Some(managed(json!([{"index_key": {"k": 1}, "attributes": {"id": "i-1"}}])))),
        ("index-float", "idxfloat.tfstate", Some(managed(json!([{"index_key": 0.5, "attributes": {"id": "i-1"}}])))),
        ("duplicate-address", "dup.tfstate", Some(managed(json!([{"attributes": {"id": "i-1"}}, {"attributes": {"id": "i-2"}}])))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_state_files_fail_their_stack_only_with_a_named_error() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("bad-states");
    seed(&c, &dir).await;
    let mut cfg = world::config_text(&moto.url);
    for (stack, file, bytes) in corpus() {
        match bytes {
            Some(b) => std::fs::write(dir.join(file), b).unwrap(),
            None => std::fs::create_dir_all(dir.join(file)).unwrap(),
        }
        cfg.push_str(&format!(
            "\n[[stacks]]\nname = \"{stack}\"\nstate = \"{file}\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
            moto.url
        ));
    }
    // A huge but valid attribute (10 MB) is not an error: the stack is read.
    let huge = json!({"version": 4, "serial": 1, "lineage": "l", "resources": [
        {"mode": "managed", "type": "aws_lambda_function", "name": "big", "instances": [
            {"attributes": {"id": "big", "source_code": "x".repeat(10 << 20)}}]}]});
    std::fs::write(dir.join("huge.tfstate"), huge.to_string()).unwrap();
    cfg.push_str(&format!(
        "\n[[stacks]]\nname = \"huge\"\nstate = \"huge.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
        moto.url
    ));
    // `resources: null` is a valid, empty state (Terraform accepts it).
    std::fs::write(
        dir.join("null-resources.tfstate"),
        br#"{"version": 4, "serial": 1, "lineage": "l", "resources": null}"#,
    )
    .unwrap();
    cfg.push_str(&format!(
        "\n[[stacks]]\nname = \"null-resources\"\nstate = \"null-resources.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
        moto.url
    ));
    // Deep nesting in a field driftd does not read is skipped without
    // recursion (serde_json ignores it iteratively): accepted, no overflow.
    std::fs::write(
        dir.join("deep-unread.tfstate"),
        format!(
            "{{\"version\": 4, \"resources\": [], \"x\": {}}}",
            nested(100_000)
        ),
    )
    .unwrap();
    cfg.push_str(&format!(
        "\n[[stacks]]\nname = \"deep-unread\"\nstate = \"deep-unread.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
        moto.url
    ));
    let path = dir.join("driftd.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = driftd(
        &[
            "scan",
            "--config",
            path.to_str().unwrap(),
            "--output",
            "json",
            "--quiet",
        ],
        &aws_env(),
        false,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let stack = |n: &str| {
        r["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("no stack {n}"))
            .clone()
    };
    for (name, file, _) in corpus() {
        let s = stack(name);
        let errors = s["errors"].to_string();
        eprintln!("{name}: {errors}");
        assert_eq!(s["status"], "failed", "{name}: {s}");
        assert!(
            errors.contains(file),
            "{name}: the error names the file: {errors}"
        );
    }
    // Each error says what is wrong, in words a user can act on.
    for (name, want) in [
        ("truncated", "is the file truncated?"),
        ("v3", "version 3 is not supported"),
        ("v5", "version 5 is not supported"),
        ("resources-object", "wrong type"),
        ("instances-string", "wrong type"),
        ("attributes-number", "wrong type"),
        ("deep-attrs", "recursion limit"),
        ("deep-version", "recursion limit"),
        ("non-utf8", "invalid JSON"),
        ("not-json", "does not start with a JSON object"),
        ("array", "does not start with a JSON object"),
        ("empty", "empty"),
        ("whitespace", "empty"),
        ("directory", "directory"),
        ("opentofu-encrypted", "this state is encrypted by OpenTofu"),
        (
            "index-true",
            "aws_instance.x: index_key true is neither a whole number",
        ),
        ("index-null", "aws_instance.x: index_key null is neither"),
        (
            "index-object",
            "aws_instance.x: index_key {\\\"k\\\":1} is neither",
        ),
        ("index-float", "aws_instance.x: index_key 0.5 is neither"),
        ("duplicate-address", "aws_instance.x appears twice"),
    ] {
        let errors = stack(name)["errors"].to_string();
        assert!(errors.contains(want), "{name}: want {want:?} in {errors}");
    }
    for good in ["app", "network", "huge", "deep-unread", "null-resources"] {
        assert_eq!(stack(good)["status"], "ok", "{good}: {}", stack(good));
    }
    assert_eq!(stack("app")["counts"]["in_sync"], 8);
    assert_eq!(stack("huge")["counts"]["unsupported"], 1);
}

/// A stack of one EC2 instance against `endpoint`, with `max_attempts`.
fn one_instance_config(dir: &Path, endpoint: &str) -> String {
    let st = json!({"version": 4, "serial": 1, "lineage": "l", "resources": [
        {"mode": "managed", "type": "aws_instance", "name": "web", "instances": [
            {"attributes": {"id": "i-0123456789abcdef0", "instance_type": "t3.micro"}}]}]});
    std::fs::write(dir.join("one.tfstate"), st.to_string()).unwrap();
    format!(
        "[scan]\nmax_attempts = 1\n\n[[stacks]]\nname = \"one\"\nstate = \"one.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{endpoint}\"\n"
    )
}

fn scan_json(
    dir: &Path,
    cfg: &str,
    env: &[(&str, &str)],
    clear_aws: bool,
) -> (Option<i32>, Value, String) {
    let path = dir.join("driftd.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = driftd(
        &[
            "scan",
            "--config",
            path.to_str().unwrap(),
            "--output",
            "json",
            "--quiet",
        ],
        env,
        clear_aws,
    );
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let r = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), r, stderr)
}

#[test]
fn no_credentials_and_unreachable_endpoints_say_what_to_fix() {
    let dir = world::temp_dir("bad-creds");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let cfg = one_instance_config(&dir, "http://127.0.0.1:1");
    // No credentials anywhere: no AWS_* variables, no ~/.aws, no IMDS.
    let env = [
        ("HOME", home.to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_REGION", "us-east-1"),
    ];
    let (code, r, stderr) = scan_json(&dir, &cfg, &env, true);
    assert_eq!(code, Some(1), "{stderr}");
    let st = &r["stacks"][0];
    assert_eq!(st["status"], "incomplete", "{r}");
    assert_eq!(st["counts"]["unknown"], 1, "{r}");
    let errors = st["errors"].to_string();
    eprintln!("no credentials: {errors}");
    assert!(errors.contains("credentials"), "{errors}");

    // Credentials, but nothing listens at the endpoint.
    let (code, r, stderr) = scan_json(&dir, &cfg, &aws_env(), false);
    assert_eq!(code, Some(1), "{stderr}");
    let st = &r["stacks"][0];
    assert_eq!(st["status"], "incomplete", "{r}");
    assert_eq!(st["counts"]["unknown"], 1, "{r}");
    assert!(
        st["drifts"].as_array().unwrap().is_empty(),
        "unknown, never missing: {r}"
    );
    let errors = st["errors"].to_string();
    eprintln!("unreachable: {errors}");
    assert!(
        errors.contains("aws_instance in us-east-1: live read failed"),
        "{errors}"
    );
}

#[test]
fn config_errors_name_the_field_and_the_fix() {
    let dir = world::temp_dir("bad-config");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown field",
            "[scan]\nconcurency = 4\n\n[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = [\"us-east-1\"]\n",
            &["unknown field `concurency`", "concurrency"],
        ),
        (
            "unknown stack field",
            "[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregion = [\"us-east-1\"]\n",
            &["unknown field `region`", "regions"],
        ),
        (
            "wrong type",
            "[scan]\nconcurrency = \"eight\"\n\n[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = [\"us-east-1\"]\n",
            &["invalid type", "line 2: `concurrency = \"eight\"`"],
        ),
        (
            "wrong type in a stack",
            "[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = \"us-east-1\"\nreconcile = true\n",
            &["invalid type", "line 5: `reconcile = true`"],
        ),
        ("not TOML", "[[stacks]\nname = ", &["driftd.toml", "line"]),
        (
            "a type error hides nothing",
            "[scan]\nunmanaged = \"yes\"\nmax_attempts = 0\n\n[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = \"eu-west-1\"\n",
            &[
                "3 errors",
                "scan.unmanaged: invalid type: string \"yes\", expected a boolean (line 2",
                "scan.max_attempts: 0 is out of range",
                "stacks[0].regions: invalid type: string \"eu-west-1\", expected a sequence (line 8",
            ],
        ),
        (
            "a token in the config",
            "[github]\ntoken = \"ghp_plain\"\n\n[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = [\"us-east-1\"]\n",
            &["token"],
        ),
    ];
    for (what, cfg, wants) in cases {
        let path = dir.join("driftd.toml");
        std::fs::write(&path, cfg).unwrap();
        let out = driftd(
            &["validate-config", "--config", path.to_str().unwrap()],
            &aws_env(),
            false,
        );
        let stderr = text(&out.stderr);
        eprintln!("{what}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for w in *wants {
            assert!(stderr.contains(w), "{what}: want {w:?} in {stderr}");
        }
        // `scan` refuses the same config the same way, before any AWS call.
        let out = driftd(
            &["scan", "--config", path.to_str().unwrap()],
            &aws_env(),
            false,
        );
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(out.stdout.is_empty(), "{what}");
    }
}

// Fuzzing the state parser. The HCL editor has its own property test
// (`pr_editor::props`). Longer runs: PROPTEST_CASES=100000 (docs/reliability.md).

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const SOURCE: &str = "fuzz/terraform.tfstate";

/// Parse; an error must name the source first.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = state::parse(SOURCE, bytes) {
        let msg = e.to_string();
        prop_assert!(msg.starts_with(&format!("{SOURCE}: ")), "{msg}");
    }
    Ok(())
}

fn valid_state() -> Value {
    json!({"version": 4, "terraform_version": "1.6.6", "serial": 7, "lineage": "l", "outputs": {},
        "resources": [
        {"mode": "managed", "type": "aws_instance", "name": "web", "provider": "p",
         "instances": [
            {"index_key": 0, "schema_version": 1, "attributes": {"id": "i-1", "instance_type": "t3.micro",
              "tags": {"Name": "web"}, "user_data": "c2VjcmV0", "root_block_device": [{"volume_size": 8}]},
             "sensitive_attributes": [[{"type": "get_attr", "value": "user_data"}]]},
            {"index_key": "b", "attributes_flat": {"id": "i-2"}, "deposed": "d1"}]},
        {"module": "module.x", "mode": "data", "type": "aws_ami", "name": "a", "instances": [{"attributes": {"id": "ami-1"}}]},
        {"mode": "managed", "type": "aws_s3_bucket", "name": "b", "instances": [
            {"attributes": {"id": "b", "policy": "{\"Version\":\"2012-10-17\"}", "versioning": [{"enabled": true}]},
             "sensitive_attributes": []}]}
    ]})
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every node of a JSON value, as a pointer (`/resources/0/instances`).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn arbitrary_json_never_panics(v in any_json()) {
        check(v.to_string().as_bytes())?;
        // With the right version, the rest is whatever it is.
        let mut s = valid_state();
        s["resources"] = v.clone();
        check(s.to_string().as_bytes())?;
    }

    #[test]
    fn byte_flips_and_truncations_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut b = serde_json::to_vec_pretty(&valid_state()).unwrap();
        for (i, byte) in flips {
            let i = i.index(b.len());
            b[i] = byte;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len() + 1));
        }
        check(&b)?;
    }

    #[test]
    fn replaced_json_values_never_panic(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), any_json()), 1..4),
    ) {
        let mut s = valid_state();
        for (i, v) in picks {
            let mut all = Vec::new();
            pointers(&s, String::new(), &mut all);
            let p = &all[i.index(all.len())];
            *s.pointer_mut(p).unwrap() = v;
        }
        check(s.to_string().as_bytes())?;
    }
}

#[test]
fn the_valid_state_of_the_fuzzer_parses() {
    let f = state::parse(SOURCE, valid_state().to_string().as_bytes()).unwrap();
    assert_eq!(f.resources.len(), 2);
}
