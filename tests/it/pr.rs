//! The pull request lifecycle against the fake GitHub (real HTTP through
//! octocrab): open once, update in place, close when the drift is gone,
//! respect a human's "no", cap open PRs, never leak sensitive values.

use std::path::Path;

use driftd::env::MapEnv;
use driftd::pr::{
    self, parse_code, parse_github, CodeLocation, GithubAuth, GithubSettings, GroupBy,
    ProposedDrift,
};
use serde_json::{json, Value};

use crate::fake_github::{FakeGithub, GhFault};
use crate::pr_editor::{app, drift};

const REPO: &str = "acme/infra";
const DIR: &str = "stacks/app";

async fn fake(prefix: &str) -> FakeGithub {
    let files: Vec<(String, String)> = app()
        .into_iter()
        .map(|(p, c)| (format!("{DIR}/{p}"), c))
        .chain([("README.md".to_string(), "# infra\n".to_string())])
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    FakeGithub::start(prefix, REPO, &refs).await
}

fn settings(gh: &FakeGithub) -> GithubSettings {
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

fn api_type(live: &str) -> ProposedDrift {
    drift(
        "aws_instance.api",
        "aws_instance",
        &[("instance_type", json!("t3.micro"), json!(live))],
    )
}

fn main_tf_with(live: &str) -> String {
    app()["main.tf"].replacen(
        "instance_type   = \"t3.micro\"   // keep small",
        &format!("instance_type   = \"{live}\"   // keep small"),
        1,
    )
}

#[tokio::test]
async fn five_runs_with_the_same_drift_make_one_pr_and_one_commit() {
    let gh = fake("").await;
    let s = settings(&gh);
    let drifts = vec![api_type("t3.large")];
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(pr::sync_stack(&s, "app", &code(), &drifts).await.unwrap());
    }
    assert_eq!(outcomes[0].opened.len(), 1, "{:?}", outcomes[0]);
    for o in &outcomes[1..] {
        assert!(o.opened.is_empty() && o.updated.is_empty() && o.closed.is_empty());
        assert_eq!(o.unchanged, outcomes[0].opened);
    }
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(gh.commits_created(), 1);
    let p = &pulls[0];
    assert_eq!(p.head, "driftd/app");
    assert_eq!(p.base, "main");
    assert_eq!(p.state, "open");
    assert_eq!(p.labels, vec!["drift"]);
    assert_eq!(
        p.title,
        "driftd: align app with live infrastructure (1 change)"
    );
    assert!(p.body.contains(
        "| `aws_instance.api` | `instance_type` | `\"t3.micro\"` | `t3.large` | 2024-05-01T10:00:00Z |"
    ), "{}", p.body);
    assert!(p.body.contains("<!-- driftd:fingerprint="));
    assert!(p.body.contains("- `stacks/app/main.tf`"));
    assert!(p.body.contains("rule keep-live"));
    // Exact content on the branch; everything else untouched.
    assert_eq!(
        gh.file("driftd/app", "stacks/app/main.tf").unwrap(),
        main_tf_with("t3.large")
    );
    let base = gh.files("main").unwrap();
    let branch = gh.files("driftd/app").unwrap();
    for (path, content) in &base {
        if path != "stacks/app/main.tf" {
            assert_eq!(&branch[path], content, "{path} changed");
        }
    }
    assert_eq!(
        gh.head_author("driftd/app").unwrap(),
        json!({"name": "driftd", "email": "driftd@users.noreply.github.com"})
    );
    let msg = gh.head_message("driftd/app").unwrap();
    assert!(msg.starts_with("driftd: align app with live infrastructure (1 change)\n\n- aws_instance.api instance_type: t3.large"), "{msg}");
}

#[tokio::test]
async fn changed_drift_updates_the_same_pr() {
    let gh = fake("").await;
    let s = settings(&gh);
    pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    gh.push_main("README.md", "# infra, moved on\n");
    let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.xlarge")])
        .await
        .unwrap();
    assert_eq!(o.updated.len(), 1, "{o:?}");
    assert!(o.opened.is_empty());
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(pulls[0].body.contains("`t3.xlarge`"));
    assert!(!pulls[0].body.contains("`t3.large`"));
    assert_eq!(
        gh.file("driftd/app", "stacks/app/main.tf").unwrap(),
        main_tf_with("t3.xlarge")
    );
    // Rebuilt on the current base.
    assert_eq!(
        gh.file("driftd/app", "README.md").unwrap(),
        "# infra, moved on\n"
    );
    assert_eq!(gh.commits_created(), 2);
}

#[tokio::test]
async fn resolved_drift_closes_the_pr_and_deletes_the_branch() {
    let gh = fake("").await;
    let s = settings(&gh);
    pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    assert!(gh.branches().contains(&"driftd/app".to_string()));
    let o = pr::sync_stack(&s, "app", &code(), &[]).await.unwrap();
    assert_eq!(o.closed.len(), 1, "{o:?}");
    let p = &gh.pulls()[0];
    assert_eq!(p.state, "closed");
    assert!(p.comments[0].contains("gone"), "{:?}", p.comments);
    assert_eq!(gh.branches(), vec!["main".to_string()]);
    // And it comes back if the same drift reappears (driftd closed it, not a human).
    let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    assert_eq!(o.opened.len(), 1, "{o:?}");
}

#[tokio::test]
async fn a_human_closed_pr_is_not_recreated_for_the_same_drift() {
    let gh = fake("").await;
    let s = settings(&gh);
    pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    gh.human_close(1);
    for _ in 0..2 {
        let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
            .await
            .unwrap();
        assert_eq!(o.respected_human_close, vec!["driftd/app".to_string()]);
        assert!(o.opened.is_empty() && o.updated.is_empty());
    }
    assert_eq!(gh.pulls().len(), 1);
    // A new live value is a new proposal.
    let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.2xlarge")])
        .await
        .unwrap();
    assert_eq!(o.opened.len(), 1, "{o:?}");
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 2);
    assert_eq!(pulls[1].state, "open");
    assert_eq!(
        gh.file("driftd/app", "stacks/app/main.tf").unwrap(),
        main_tf_with("t3.2xlarge")
    );
}

#[tokio::test]
async fn the_cap_holds_back_extra_prs_per_repository() {
    let gh = fake("").await;
    let mut s = settings(&gh);
    s.group_by = GroupBy::Resource;
    s.max_open_prs = 2;
    let drifts = vec![
        api_type("t3.large"),
        drift(
            "module.storage.aws_s3_bucket_versioning.assets",
            "aws_s3_bucket_versioning",
            &[(
                "versioning_configuration.status",
                json!("Enabled"),
                json!("Suspended"),
            )],
        ),
        drift(
            "aws_instance.web[1]",
            "aws_instance",
            &[("instance_type", json!("t3.micro"), json!("t3.small"))],
        ),
    ];
    let o = pr::sync_stack(&s, "app", &code(), &drifts).await.unwrap();
    assert_eq!(o.opened.len(), 2, "{o:?}");
    assert_eq!(o.held_back.len(), 1, "{o:?}");
    let heads: Vec<String> = gh.pulls().iter().map(|p| p.head.clone()).collect();
    assert!(
        heads.iter().all(|h| h.starts_with("driftd/app/")),
        "{heads:?}"
    );
    assert!(
        heads.contains(&"driftd/app/aws_instance.api".to_string()),
        "{heads:?}"
    );
    // Next run: the same two stay, the third is still held back.
    let o = pr::sync_stack(&s, "app", &code(), &drifts).await.unwrap();
    assert_eq!(
        (o.unchanged.len(), o.held_back.len(), o.opened.len()),
        (2, 1, 0),
        "{o:?}"
    );
    // One resolves: its PR closes and the held-back one opens.
    let o = pr::sync_stack(&s, "app", &code(), &drifts[1..])
        .await
        .unwrap();
    assert_eq!(
        (o.closed.len(), o.opened.len(), o.held_back.len()),
        (1, 1, 0),
        "{o:?}"
    );
    assert_eq!(gh.pulls().iter().filter(|p| p.state == "open").count(), 2);
}

#[tokio::test]
async fn sensitive_values_never_appear_and_critical_is_labelled() {
    let gh = fake("").await;
    let s = settings(&gh);
    let mut d = drift(
        "aws_instance.api",
        "aws_instance",
        &[
            ("instance_type", json!("t3.micro"), json!("t3.large")),
            ("user_data", json!("(sensitive)"), json!("(sensitive)")),
        ],
    );
    d.critical = true;
    let o = pr::sync_stack(&s, "app", &code(), &[d]).await.unwrap();
    assert_eq!(o.opened.len(), 1);
    assert_eq!(o.needs_human.len(), 1);
    assert_eq!(o.needs_human[0].live_value, "(sensitive)");
    let p = &gh.pulls()[0];
    assert_eq!(p.labels, vec!["drift", "severity/critical"]);
    assert!(p.body.contains("### Needs a human"));
    assert!(
        p.body
            .contains("| `aws_instance.api` | `user_data` | `(sensitive)` |"),
        "{}",
        p.body
    );
    // The mask itself is never written into code.
    for (path, content) in gh.files("driftd/app").unwrap() {
        assert!(!content.contains("(sensitive)"), "{path}");
        assert!(!content.contains("user_data"), "{path}");
    }
    assert!(!gh.head_message("driftd/app").unwrap().contains("user_data"));
}

#[tokio::test]
async fn github_enterprise_api_prefix_works_and_5xx_are_retried() {
    let gh = fake("/api/v3").await;
    let s = settings(&gh);
    assert!(s.api_url.ends_with("/api/v3"));
    gh.fail_next(2);
    let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    assert_eq!(o.opened.len(), 1, "{o:?}");
    let log = gh.log();
    assert!(
        log.iter().all(|l| l
            .split(' ')
            .nth(1)
            .unwrap()
            .starts_with("/api/v3/repos/acme/infra")),
        "{log:?}"
    );
    assert_eq!(gh.pulls().len(), 1);
}

#[tokio::test]
async fn only_needs_human_drift_opens_nothing() {
    let gh = fake("").await;
    let s = settings(&gh);
    let d = drift(
        "aws_instance.web[0]",
        "aws_instance",
        &[("ami", json!("ami-a"), json!("ami-b"))],
    );
    let o = pr::sync_stack(&s, "app", &code(), &[d]).await.unwrap();
    assert!(o.opened.is_empty());
    assert_eq!(o.needs_human.len(), 1);
    assert!(gh.pulls().is_empty());
}

#[tokio::test]
async fn a_wrong_base_branch_says_what_to_fix() {
    let gh = fake("").await;
    let s = settings(&gh);
    let c = CodeLocation::GitHub {
        repository: REPO.into(),
        base_branch: "trunk".into(),
        directory: DIR.into(),
    };
    let e = pr::sync_stack(&s, "app", &c, &[api_type("t3.large")])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("base branch `trunk` not found"), "{e}");
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("driftd-pr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn local_code_writes_a_patch_per_branch() {
    let root = tmp("local");
    for (p, c) in app() {
        let f = root.join("code").join(&p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    let c = CodeLocation::Local {
        path: root.join("code"),
        patch_dir: root.join("patches"),
    };
    let s = GithubSettings::new(GithubAuth::Token(String::new()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run = |d: &[ProposedDrift]| rt.block_on(pr::sync_stack(&s, "app", &c, d)).unwrap();
    let o = run(&[api_type("t3.large")]);
    assert_eq!(o.opened.len(), 1, "{o:?}");
    let patch = std::fs::read_to_string(root.join("patches/driftd__app.patch")).unwrap();
    assert!(
        patch.contains(
            "diff --git a/main.tf b/main.tf\n--- a/main.tf\n+++ b/main.tf\n@@ -16,7 +16,7 @@\n"
        ),
        "{patch}"
    );
    assert!(patch.contains("-  instance_type   = \"t3.micro\"   // keep small\n+  instance_type   = \"t3.large\"   // keep small\n"));
    let o = run(&[api_type("t3.large")]);
    assert_eq!(o.unchanged.len(), 1);
    let o = run(&[]);
    assert_eq!(o.closed.len(), 1);
    assert!(!root.join("patches/driftd__app.patch").exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn github_config_is_validated_with_clear_messages() {
    let env = MapEnv::new([("GITHUB_TOKEN", "t0k"), ("GH_ENTERPRISE", "e1")]);
    let s = parse_github(None, &env).unwrap();
    assert_eq!(s.auth, GithubAuth::Token("t0k".into()));
    assert_eq!(s.api_url, "https://api.github.com");
    assert_eq!(s.labels, vec!["drift"]);
    assert_eq!(s.branch_prefix, "driftd");

    let v: toml::Value = toml::from_str(
        "api_url = \"https://ghe.example.com/api/v3/\"\ntoken_env = \"GH_ENTERPRISE\"\nmax_open_prs = 3\nlabels = [\"drift\", \"infra\"]\ngroup_by = \"resource\"\n",
    )
    .unwrap();
    let s = parse_github(Some(&v), &env).unwrap();
    assert_eq!(s.api_url, "https://ghe.example.com/api/v3");
    assert_eq!(s.auth, GithubAuth::Token("e1".into()));
    assert_eq!((s.max_open_prs, s.group_by), (3, GroupBy::Resource));

    let v: toml::Value =
        toml::from_str("token = \"ghp_x\"\nmax_open_prs = 0\ngroup_by = \"repo\"\nlables = []\n")
            .unwrap();
    let errs = parse_github(Some(&v), &env).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
    assert!(fields.contains(&"github.token"), "{errs:?}");
    assert!(fields.contains(&"github.max_open_prs"));
    assert!(fields.contains(&"github.group_by"));
    assert!(fields.contains(&"github.lables"));
    let token_msg = &errs.iter().find(|(f, _)| f == "github.token").unwrap().1;
    assert!(token_msg.contains("token_env"), "{token_msg}");

    let errs = parse_github(None, &MapEnv::default()).unwrap_err();
    assert!(errs[0].1.contains("GITHUB_TOKEN is not set"), "{errs:?}");

    let v: toml::Value = toml::from_str("app_id = 12\n").unwrap();
    let errs = parse_github(Some(&v), &env).unwrap_err();
    assert!(
        errs.iter()
            .any(|(_, m)| m.contains("missing: installation_id, private_key_file")),
        "{errs:?}"
    );
}

#[test]
fn code_config_is_validated() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let v: toml::Value =
        toml::from_str("repository = \"acme/infra\"\ndirectory = \"stacks/app/\"").unwrap();
    assert_eq!(
        parse_code(&v, "stacks[0].code", base).unwrap(),
        CodeLocation::GitHub {
            repository: "acme/infra".into(),
            base_branch: "main".into(),
            directory: "stacks/app".into()
        }
    );
    let v: toml::Value = toml::from_str("path = \"tests/fixtures/tf/app\"").unwrap();
    match parse_code(&v, "stacks[0].code", base).unwrap() {
        CodeLocation::Local { path, patch_dir } => {
            assert!(path.ends_with("tests/fixtures/tf/app"));
            assert!(patch_dir.ends_with(".driftd-patches"));
        }
        other => panic!("{other:?}"),
    }
    let v: toml::Value =
        toml::from_str("repository = \"infra\"\npath = \"x\"\nbranch = \"main\"").unwrap();
    let errs = parse_code(&v, "stacks[0].code", base).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
    assert!(fields.contains(&"stacks[0].code.branch"), "{errs:?}");
    assert!(fields.contains(&"stacks[0].code"), "{errs:?}");
}

fn app_key_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf/test-github-app-key.pem")
}

#[tokio::test]
async fn github_app_auth_exchanges_a_signed_jwt_for_an_installation_token() {
    let gh = fake("/api/v3").await;
    gh.app_mode();
    let env = MapEnv::default();
    let v: toml::Value = toml::from_str(&format!(
        "api_url = \"{}\"\napp_id = 42\ninstallation_id = 7\nprivate_key_file = \"{}\"\n",
        gh.url,
        app_key_path().display()
    ))
    .unwrap();
    let s = parse_github(Some(&v), &env).unwrap();
    assert!(matches!(
        s.auth,
        GithubAuth::App {
            app_id: 42,
            installation_id: 7,
            ..
        }
    ));
    assert!(!format!("{:?}", s.auth).contains("PRIVATE KEY"));
    let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    assert_eq!(o.opened.len(), 1, "{o:?}");
    let jwts = gh.jwts();
    assert_eq!(jwts.len(), 1);
    let parts: Vec<&str> = jwts[0].split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&driftd::pr::github::base64_decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], "42");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    // The RS256 signature verifies against the key's public half.
    let dir = tmp("jwt");
    let ok = std::process::Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(app_key_path())
        .arg("-out")
        .arg(dir.join("pub.pem"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        std::fs::write(dir.join("input"), format!("{}.{}", parts[0], parts[1])).unwrap();
        std::fs::write(
            dir.join("sig"),
            driftd::pr::github::base64_decode(parts[2]).unwrap(),
        )
        .unwrap();
        let verified = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(dir.join("pub.pem"))
            .arg("-signature")
            .arg(dir.join("sig"))
            .arg(dir.join("input"))
            .output()
            .unwrap();
        assert!(verified.status.success(), "{verified:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 12, fix 3: the closing comment's POST took effect but its answer
/// was lost: the retry finds it and does not post it again.
#[tokio::test]
async fn a_lost_answer_to_the_closing_comment_posts_it_once() {
    let gh = fake("").await;
    let s = settings(&gh);
    pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    gh.fault(
        "POST /repos/acme/infra/issues/1/comments",
        GhFault::DropAfter,
        1,
    );
    let o = pr::sync_stack(&s, "app", &code(), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.closed.len(), 1, "{o:?}");
    assert_eq!(gh.faults_injected(), vec![GhFault::DropAfter]);
    let p = &gh.pulls()[0];
    assert_eq!(p.state, "closed");
    assert_eq!(p.comments.len(), 1, "{:?}", p.comments);
}

/// Issue 12, fix 4: without `[history]` every scan says "first seen: now";
/// an update of the PR keeps the time its previous body showed.
#[tokio::test]
async fn first_seen_is_carried_over_from_the_previous_body() {
    let gh = fake("").await;
    let s = settings(&gh);
    let mut a = api_type("t3.large");
    a.first_seen = Some("2024-05-01T10:00:00Z".into());
    pr::sync_stack(&s, "app", &code(), &[a.clone()])
        .await
        .unwrap();
    // The next scan, no history: both drifts "first seen" now.
    let now = "2024-05-02T10:00:00Z";
    a.first_seen = Some(now.into());
    a.attributes.push(driftd::report::AttrChange {
        path: "monitoring".into(),
        expected: json!(false),
        actual: json!(true),
    });
    let o = pr::sync_stack(&s, "app", &code(), &[a.clone()])
        .await
        .unwrap();
    assert_eq!(o.updated.len(), 1, "{o:?}");
    let body = gh.pulls()[0].body.clone();
    assert!(
        body.contains("| `aws_instance.api` | `instance_type` | `\"t3.micro\"` | `t3.large` | 2024-05-01T10:00:00Z |"),
        "{body}"
    );
    assert!(
        body.contains(
            "| `aws_instance.api` | `monitoring` | `false` | `true` | 2024-05-02T10:00:00Z |"
        ),
        "{body}"
    );
    // And the next update again.
    a.first_seen = Some("2024-05-03T10:00:00Z".into());
    a.attributes[1].actual = json!(true);
    a.attributes.push(driftd::report::AttrChange {
        path: "tags.Team".into(),
        expected: Value::Null,
        actual: json!("ops"),
    });
    pr::sync_stack(&s, "app", &code(), &[a]).await.unwrap();
    let body = gh.pulls()[0].body.clone();
    assert!(
        body.contains("`t3.large` | 2024-05-01T10:00:00Z |"),
        "{body}"
    );
    assert!(body.contains("`true` | 2024-05-02T10:00:00Z |"), "{body}");
    assert!(body.contains("`ops` | 2024-05-03T10:00:00Z |"), "{body}");
}

/// Issue 12, fix 5: changing `group_by` closes the old PR as superseded,
/// linking the new one; it does not say the drift is gone.
#[tokio::test]
async fn changing_group_by_says_superseded_and_links_the_new_pr() {
    let gh = fake("").await;
    let mut s = settings(&gh);
    pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    s.group_by = GroupBy::Resource;
    let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    assert_eq!((o.opened.len(), o.closed.len()), (1, 1), "{o:?}");
    let pulls = gh.pulls();
    assert_eq!(pulls[0].state, "closed");
    assert_eq!(pulls[1].head, "driftd/app/aws_instance.api");
    let c = &pulls[0].comments;
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].contains("superseded by https://github.example/acme/infra/pull/2"),
        "{c:?}"
    );
    assert!(!c[0].contains("gone"), "{c:?}");
    // Stable afterwards.
    let o = pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap();
    assert_eq!(
        (o.unchanged.len(), o.closed.len(), o.opened.len()),
        (1, 0, 0),
        "{o:?}"
    );
}

/// Issue 12, fix 6: a GitHub Enterprise api_url without /api/v3 gets a 404
/// from the web server: the error says to set api_url.
#[tokio::test]
async fn enterprise_without_api_v3_hints_at_api_url() {
    let gh = fake("/api/v3").await;
    let mut s = settings(&gh);
    s.api_url = gh.url.trim_end_matches("/api/v3").to_string();
    let e = pr::sync_stack(&s, "app", &code(), &[api_type("t3.large")])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("404"), "{e}");
    assert!(
        e.contains(&format!("set api_url = \"{}/api/v3\"", s.api_url)),
        "{e}"
    );
}

/// Issue 12: the `code` table's `missing` and `import` options.
#[test]
fn code_missing_and_import_options_are_validated() {
    use driftd::pr::{parse_code_options, ImportRule, MissingMode};
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let v: toml::Value = toml::from_str(
        "repository = \"acme/infra\"\nmissing = \"remove\"\nimport = [{ tags = { \"terraform:stack\" = \"app\" }, regions = [\"eu-west-1\"] }, { name_prefix = \"app-\" }]",
    )
    .unwrap();
    parse_code(&v, "stacks[0].code", base).unwrap();
    let o = parse_code_options(&v, "stacks[0].code").unwrap();
    assert_eq!(o.missing, MissingMode::Remove);
    assert_eq!(
        o.import,
        vec![
            ImportRule {
                regions: vec!["eu-west-1".into()],
                tags: [("terraform:stack".to_string(), "app".to_string())].into(),
                ..Default::default()
            },
            ImportRule {
                name_prefixes: vec!["app-".into()],
                ..Default::default()
            },
        ]
    );
    // Defaults: report only, no imports.
    let v: toml::Value = toml::from_str("repository = \"acme/infra\"").unwrap();
    let o = parse_code_options(&v, "stacks[0].code").unwrap();
    assert_eq!((o.missing, o.import.len()), (MissingMode::Report, 0));
    // Errors say what to write.
    let v: toml::Value = toml::from_str(
        "repository = \"acme/infra\"\nmissing = \"delete\"\nimport = { regions = [\"us-east-1\"], owner = \"x\" }",
    )
    .unwrap();
    let errs = parse_code(&v, "stacks[0].code", base).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
    assert!(fields.contains(&"stacks[0].code.missing"), "{errs:?}");
    assert!(fields.contains(&"stacks[0].code.import.owner"), "{errs:?}");
    assert!(
        errs.iter()
            .any(|(f, m)| f == "stacks[0].code.import" && m.contains("at least one of tags")),
        "{errs:?}"
    );
}

/// Issue 12: an import in local patch mode: a new `imported.tf` as a
/// `git apply`-able new-file diff, ids of managed resources as references,
/// generated code aligned as `terraform fmt` aligns it; idempotent.
#[test]
fn local_import_patch_creates_imported_tf() {
    use driftd::pr::{CodeOptions, ImportRule};
    use driftd::report::DriftKind;
    let root = tmp("local-import");
    std::fs::create_dir_all(root.join("code")).unwrap();
    std::fs::write(
        root.join("code/main.tf"),
        "resource \"aws_security_group\" \"web\" {\n  name = \"web\"\n}\n",
    )
    .unwrap();
    let c = CodeLocation::Local {
        path: root.join("code"),
        patch_dir: root.join("patches"),
    };
    let s = GithubSettings::new(GithubAuth::Token(String::new()));
    let options = CodeOptions {
        import: vec![ImportRule {
            name_prefixes: vec!["web".into()],
            ..Default::default()
        }],
        managed_ids: [("sg-1".to_string(), "aws_security_group.web".to_string())].into(),
        ..Default::default()
    };
    let live = json!({
        "ami": "ami-1", "instance_type": "t3.small", "subnet_id": "subnet-9",
        "vpc_security_group_ids": ["sg-1"], "key_name": "", "monitoring": false,
        "tags": {"Name": "web-2", "aws:cloudformation:stack-name": "x", "Team": "web"},
        "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 2}
    });
    let d = ProposedDrift {
        address: None,
        rtype: "aws_instance".into(),
        id: "i-0abc".into(),
        kind: DriftKind::Unmanaged,
        attributes: vec![],
        first_seen: None,
        critical: true,
        reason: "import rule".into(),
        live: live.as_object().cloned(),
        changed_by: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let o = rt
        .block_on(pr::sync_stack_with(
            &s,
            "app",
            &c,
            &options,
            std::slice::from_ref(&d),
        ))
        .unwrap();
    assert_eq!(o.opened.len(), 1, "{o:?}");
    let patch = std::fs::read_to_string(root.join("patches/driftd__app.patch")).unwrap();
    let want = "diff --git a/imported.tf b/imported.tf\nnew file mode 100644\n--- /dev/null\n+++ b/imported.tf\n@@ -0,0 +1,21 @@\n\
+import {\n+  to = aws_instance.web_2\n+  id = \"i-0abc\"\n+}\n+\n\
+resource \"aws_instance\" \"web_2\" {\n\
+  ami                    = \"ami-1\"\n\
+  instance_type          = \"t3.small\"\n\
+  subnet_id              = \"subnet-9\"\n\
+  vpc_security_group_ids = [aws_security_group.web.id]\n\
+  monitoring             = false\n\
+  tags = {\n+    Name = \"web-2\"\n+    Team = \"web\"\n+  }\n+\n\
+  metadata_options {\n\
+    http_put_response_hop_limit = 2\n\
+    http_tokens                 = \"required\"\n\
+  }\n+}\n";
    assert!(patch.contains(want), "{patch}");
    let o = rt
        .block_on(pr::sync_stack_with(&s, "app", &c, &options, &[d]))
        .unwrap();
    assert_eq!(o.unchanged.len(), 1, "{o:?}");
    let _ = std::fs::remove_dir_all(&root);
}
