//! End to end: moto world -> scan -> decision -> a pull request that edits
//! the Terraform code, on a fake GitHub (real HTTP through octocrab).

use driftd::aws::ApiCalls;
use driftd::env::MapEnv;
use driftd::pipeline::{self, RunOptions};
use driftd::report::{DecisionAction, Report};
use driftd::scan::ScanOptions;

use crate::fake_github::FakeGithub;
use crate::moto::{client_options, Moto};
use crate::world::{self, perm_tcp, seed};

const NETWORK_TF: &str = r#"# The web tier's firewall.
resource "aws_security_group" "web" {
  name        = "web"
  description = "web tier"
  vpc_id      = var.vpc_id

  ingress {
    description = "https"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = {
    Name = "web" # shown in the console
  }
}
"#;

async fn run(config: &str, dir: &std::path::Path) -> Report {
    run_with(config, dir, false).await
}

async fn run_with(config: &str, dir: &std::path::Path, dry_run: bool) -> Report {
    let env = MapEnv::new([("GITHUB_TOKEN", "test-token")]);
    let cfg = driftd::config::parse(config, &dir.join("driftd.toml"), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        scan: ScanOptions {
            client: client_options(),
            ..Default::default()
        },
        dry_run,
    };
    pipeline::run(&cfg, &options, &ApiCalls::new(), &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_drift_becomes_one_pull_request_with_the_right_edit() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("pr-e2e");
    let w = seed(&c, &dir).await;
    let gh = FakeGithub::start("/api/v3", "acme/infra", &[("network/main.tf", NETWORK_TF)]).await;
    c.ec2
        .authorize_security_group_ingress()
        .group_id(&w.sg_web)
        .ip_permissions(perm_tcp(22, "0.0.0.0/0", "debug"))
        .send()
        .await
        .unwrap();
    let config = world::config_text(&moto.url).replace(
        "name = \"network\"\n",
        "name = \"network\"\ncode = { repository = \"acme/infra\", base_branch = \"main\", directory = \"network\" }\n",
    ) + &format!("\n[github]\napi_url = \"{}\"\n", gh.url);

    // --dry-run changes nothing, on GitHub either.
    run_with(&config, &dir, true).await;
    assert!(
        gh.pulls().is_empty() && !gh.branches().iter().any(|b| b.contains("driftd")),
        "a dry run opens nothing: {:?}",
        gh.branches()
    );

    for _ in 0..2 {
        let r = run(&config, &dir).await;
        let net = r.stacks.iter().find(|s| s.name == "network").unwrap();
        let d = &net.drifts[0];
        assert_eq!(
            d.decision.as_ref().unwrap().action,
            DecisionAction::PullRequest,
            "{}",
            r.to_text()
        );
        assert!(net.errors.is_empty(), "{:?}", net.errors);
    }
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1, "two runs with the same drift make one PR");
    let pr = &pulls[0];
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str(), pr.state.as_str()),
        ("driftd/network", "main", "open")
    );
    assert!(
        pr.labels.contains(&"severity/critical".to_string()),
        "{:?}",
        pr.labels
    );
    assert!(
        pr.body.contains("aws_security_group.web") && pr.body.contains("driftd:fingerprint"),
        "{}",
        pr.body
    );
    let edited = gh.file("driftd/network", "network/main.tf").unwrap();
    assert!(
        edited.starts_with("# The web tier's firewall.\nresource \"aws_security_group\" \"web\" {"),
        "{edited}"
    );
    assert!(
        edited.contains("Name = \"web\" # shown in the console"),
        "untouched bytes stay: {edited}"
    );
    assert!(
        edited.contains("from_port") && edited.contains("22") && edited.contains("\"debug\""),
        "{edited}"
    );
    assert_eq!(edited.matches("ingress {").count(), 2, "{edited}");

    // The drift is fixed in AWS: the PR is closed and its branch deleted.
    c.ec2
        .revoke_security_group_ingress()
        .group_id(&w.sg_web)
        .ip_permissions(perm_tcp(22, "0.0.0.0/0", "debug"))
        .send()
        .await
        .unwrap();
    let r = run(&config, &dir).await;
    let net = r.stacks.iter().find(|s| s.name == "network").unwrap();
    assert_eq!(
        net.pull_requests.as_ref().unwrap().closed.len(),
        1,
        "{}",
        r.to_text()
    );
    assert_eq!(gh.pulls()[0].state, "closed");
}
