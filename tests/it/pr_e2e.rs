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

pub(crate) const NETWORK_TF: &str = r#"# The web tier's firewall.
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

const EDGE_TF: &str = r#"resource "aws_security_group" "edge" {
  name        = "edge"
  description = "edge tier"
  vpc_id      = var.vpc_id
}

resource "aws_instance" "api" {
  ami                    = "ami-12c6146b"
  instance_type          = "t3.micro"
  vpc_security_group_ids = [aws_security_group.edge.id]
}
"#;

/// Issue 12, end to end on moto and the fake GitHub: a terminated instance
/// becomes a removal, an unmanaged instance and bucket tagged for the stack
/// become imports (generated code that parses, references the managed
/// group by address, and is fmt-aligned), in one PR; re-runs change nothing;
/// a human's close is respected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_and_import_prs_end_to_end() {
    use crate::world::{instance_state, run_instance, sg_state, StateBuilder};
    use aws_sdk_ec2::types::Tag;

    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("pr-e2e-edge");
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = c
        .ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.9.1.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let sg = c
        .ec2
        .create_security_group()
        .group_name("edge")
        .description("edge tier")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let api = run_instance(&c, &subnet, &sg, "api", "t3.micro").await;
    // Unmanaged: one tagged for the stack, one not.
    let worker = run_instance(&c, &subnet, &sg, "edge-worker", "t3.small").await;
    let stray = run_instance(&c, &subnet, &sg, "stray", "t3.small").await;
    c.ec2
        .create_tags()
        .resources(&worker)
        .tags(Tag::builder().key("terraform:stack").value("edge").build())
        .send()
        .await
        .unwrap();
    c.s3.create_bucket()
        .bucket("edge-uploads")
        .send()
        .await
        .unwrap();
    c.s3.put_bucket_tagging()
        .bucket("edge-uploads")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("terraform:stack")
                        .value("edge")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // The state: the group and the api instance.
    let groups = c
        .ec2
        .describe_security_groups()
        .group_ids(&sg)
        .send()
        .await
        .unwrap();
    let insts = c
        .ec2
        .describe_instances()
        .instance_ids(&api)
        .send()
        .await
        .unwrap();
    let inst = insts.reservations()[0].instances()[0].clone();
    let mut st = StateBuilder::default();
    st.add(
        None,
        "aws_security_group",
        "edge",
        None,
        sg_state(&groups.security_groups()[0]),
    );
    st.add(
        None,
        "aws_instance",
        "api",
        None,
        instance_state(&c, &inst).await,
    );
    st.write(&dir.join("edge.tfstate"));
    // Then the api instance is terminated out of band.
    c.ec2
        .terminate_instances()
        .instance_ids(&api)
        .send()
        .await
        .unwrap();

    let gh = FakeGithub::start("", "acme/infra", &[("edge/main.tf", EDGE_TF)]).await;
    let config = format!(
        r#"[[stacks]]
name = "edge"
state = "edge.tfstate"
regions = ["us-east-1"]
endpoint_url = "{}"
code = {{ repository = "acme/infra", directory = "edge", missing = "remove", import = [{{ tags = {{ "terraform:stack" = "edge" }} }}, {{ name_prefix = "edge-" }}] }}

[github]
api_url = "{}"
"#,
        moto.url, gh.url
    );

    let r = run(&config, &dir).await;
    let edge = r.stacks.iter().find(|s| s.name == "edge").unwrap();
    assert!(edge.errors.is_empty(), "{:?}\n{}", edge.errors, r.to_text());
    let prs = edge.pull_requests.as_ref().unwrap();
    assert_eq!(prs.opened.len(), 1, "{prs:?}\n{}", r.to_text());
    let unmanaged: Vec<_> = r.unmanaged.iter().flat_map(|s| s.drifts.iter()).collect();
    let decided = |id: &str| {
        unmanaged
            .iter()
            .find(|d| d.id == id)
            .and_then(|d| d.decision.as_ref())
            .map(|d| d.action)
    };
    assert_eq!(
        decided(&worker),
        Some(DecisionAction::PullRequest),
        "{}\n{:?}",
        r.to_text(),
        gh.files("driftd/edge")
    );
    assert_eq!(decided("edge-uploads"), Some(DecisionAction::PullRequest));
    assert_eq!(decided(&stray), Some(DecisionAction::ReportOnly));

    let main = gh.file("driftd/edge", "edge/main.tf").unwrap();
    assert!(
        main.contains(
            "removed {\n  from = aws_instance.api\n\n  lifecycle {\n    destroy = false\n  }\n}\n"
        ),
        "{main}"
    );
    assert!(
        !main.contains("resource \"aws_instance\" \"api\""),
        "{main}"
    );
    let imported = gh.file("driftd/edge", "edge/imported.tf").unwrap();
    let body =
        hcl_edit::parser::parse_body(&imported).unwrap_or_else(|e| panic!("{e}\n{imported}"));
    assert_eq!(body.get_blocks("import").count(), 2, "{imported}");
    assert_eq!(body.get_blocks("resource").count(), 2, "{imported}");
    assert!(
        imported.contains(&format!("  id = \"{worker}\"")),
        "{imported}"
    );
    assert!(
        imported.contains("resource \"aws_instance\" \"edge_worker\" {"),
        "{imported}"
    );
    assert!(
        imported.contains("vpc_security_group_ids = [aws_security_group.edge.id]"),
        "references by address: {imported}"
    );
    assert!(
        imported.contains("resource \"aws_s3_bucket\" \"edge_uploads\" {"),
        "{imported}"
    );
    assert!(imported.contains("bucket = \"edge-uploads\""), "{imported}");
    assert!(!imported.contains(&stray), "{imported}");
    assert!(driftd::pr::fmt::is_aligned(&imported), "{imported}");
    let pr = &gh.pulls()[0];
    assert!(pr.body.contains("### Generated code"), "{}", pr.body);

    // Re-runs: no new commit, no comment, same PR.
    let commits = gh.commits_created();
    for _ in 0..2 {
        let r = run(&config, &dir).await;
        let prs = r.stacks[0].pull_requests.clone().unwrap();
        assert_eq!(prs.unchanged.len(), 1, "{prs:?}");
    }
    assert_eq!(gh.commits_created(), commits);
    assert_eq!(gh.pulls().len(), 1);
    assert!(gh.pulls()[0].comments.is_empty());

    // A human closes it: not proposed again.
    gh.human_close(1);
    let r = run(&config, &dir).await;
    let prs = r.stacks[0].pull_requests.clone().unwrap();
    assert_eq!(
        prs.respected_human_close,
        vec!["driftd/edge".to_string()],
        "{prs:?}"
    );
    assert_eq!(gh.pulls().len(), 1);
}
