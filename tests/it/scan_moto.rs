//! The scan against moto: exact drift sets for every type and kind.

use std::path::Path;

use aws_sdk_ec2::types::{AttributeValue, InstanceType};
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption, VersioningConfiguration};
use driftd::aws::ApiCalls;
use driftd::env::MapEnv;
use driftd::report::{DriftKind, Report, ScopeStatus, StackStatus};
use driftd::scan::{self, ScanOptions};

use crate::moto::{client_options, Moto};
use crate::proxy::FaultProxy;
use crate::world::{self, perm_tcp, run_instance, seed, sse, StateBuilder};

pub async fn scan_text(config: &str, dir: &Path) -> Report {
    scan_with(config, dir, ScanOptions::default()).await
}

pub async fn scan_with(config: &str, dir: &Path, mut options: ScanOptions) -> Report {
    let cfg = driftd::config::parse(config, &dir.join("driftd.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    options.client = client_options();
    scan::run(&cfg, &options, &ApiCalls::new()).await
}

/// Every drift as one line: `kind address-or-type id? path: expected -> actual`.
pub fn lines(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let all = r
        .stacks
        .iter()
        .flat_map(|s| &s.drifts)
        .chain(r.unmanaged.iter().flat_map(|s| &s.drifts));
    for d in all {
        let who = d.address.clone().unwrap_or_else(|| d.rtype.clone());
        if d.attributes.is_empty() {
            out.push(format!("{} {who}", d.kind.as_str()));
        }
        for a in &d.attributes {
            out.push(format!(
                "{} {who} {}: {} -> {}",
                d.kind.as_str(),
                a.path,
                a.expected,
                a.actual
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_world_has_no_drift() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("untouched");
    seed(&c, &dir).await;
    let r = scan_text(&world::config_text(&moto.url), &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(r.exit_code(), 0);
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.status, StackStatus::Ok);
    assert_eq!(app.counts.managed, 8, "{:?}", app.counts);
    assert_eq!(app.counts.in_sync, 8);
    assert_eq!(app.sources[0].serial, Some(7));
    let net = r.stacks.iter().find(|s| s.name == "network").unwrap();
    assert_eq!(net.counts.in_sync, 6, "{:?}", net.counts);
    assert_eq!(r.unmanaged.len(), 1);
    assert_eq!(r.unmanaged[0].status, ScopeStatus::Ok);
    // The VPCs' default groups are AWS's own: not unmanaged unless strict.
    let strict = scan_with(
        &world::config_text(&moto.url),
        &dir,
        ScanOptions {
            strict: true,
            ..Default::default()
        },
    )
    .await;
    let defaults = strict.unmanaged[0]
        .drifts
        .iter()
        .filter(|d| d.rtype == "aws_security_group")
        .count();
    assert!(defaults >= 2, "{}", strict.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_changes_are_reported_exactly() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("drift");
    let w = seed(&c, &dir).await;
    let (ec2, s3) = (&c.ec2, &c.s3);

    // A rule added to a group by hand.
    ec2.authorize_security_group_ingress()
        .group_id(&w.sg_web)
        .ip_permissions(perm_tcp(22, "0.0.0.0/0", "debug"))
        .send()
        .await
        .unwrap();
    // The standalone rule revoked.
    ec2.revoke_security_group_ingress()
        .group_id(&w.sg_web)
        .ip_permissions(perm_tcp(8080, "10.0.0.0/8", "internal"))
        .send()
        .await
        .unwrap();
    // Tags: one changed, one added, one removed.
    let i0 = &w.instances[0];
    ec2.create_tags()
        .resources(i0)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Team")
                .value("ops")
                .build(),
        )
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Hotfix")
                .value("yes")
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.delete_tags()
        .resources(i0)
        .tags(aws_sdk_ec2::types::Tag::builder().key("Name").build())
        .send()
        .await
        .unwrap();
    // Instance type changed (stop, modify, start as AWS requires).
    let i1 = &w.instances[1];
    ec2.stop_instances().instance_ids(i1).send().await.unwrap();
    ec2.modify_instance_attribute()
        .instance_id(i1)
        .instance_type(
            AttributeValue::builder()
                .value(InstanceType::T3Large.as_str())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.start_instances().instance_ids(i1).send().await.unwrap();
    // An instance created outside Terraform, and one terminated.
    let stray = run_instance(&c, &w.subnet, &w.sg_web, "stray", "t3.nano").await;
    let extra = run_instance(&c, &w.subnet, &w.sg_web, "to-terminate", "t3.nano").await;
    // Buckets: versioning suspended (v3 inline), public access block removed,
    // encryption changed, policy changed (v4 split).
    s3.put_bucket_versioning()
        .bucket(&w.bucket_v3)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.delete_public_access_block()
        .bucket(&w.bucket_v4)
        .send()
        .await
        .unwrap();
    s3.put_bucket_encryption()
        .bucket(&w.bucket_v4)
        .server_side_encryption_configuration(sse(ServerSideEncryption::AwsKms))
        .send()
        .await
        .unwrap();
    let policy = world::POLICY_PUT
        .replace("BUCKET", &w.bucket_v4)
        .replace("s3:GetObject", "s3:*");
    s3.put_bucket_policy()
        .bucket(&w.bucket_v4)
        .policy(policy)
        .send()
        .await
        .unwrap();
    s3.create_bucket()
        .bucket("scratch-unmanaged")
        .send()
        .await
        .unwrap();

    // The terminated instance is in the state (a third web instance).
    let mut st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("app.tfstate")).unwrap()).unwrap();
    let mut gone = st["resources"][0]["instances"][1].clone();
    gone["index_key"] = serde_json::json!(2);
    gone["attributes"]["id"] = serde_json::json!(extra);
    st["resources"][0]["instances"]
        .as_array_mut()
        .unwrap()
        .push(gone);
    std::fs::write(dir.join("app.tfstate"), st.to_string()).unwrap();
    ec2.terminate_instances()
        .instance_ids(&extra)
        .send()
        .await
        .unwrap();

    let r = scan_text(&world::config_text(&moto.url), &dir).await;
    let kms = "arn:aws:kms:us-east-1:123456789012:key/abc";
    let expected = vec![
        r#"changed aws_instance.web[0] tags.Hotfix: null -> "yes""#.to_string(),
        r#"changed aws_instance.web[0] tags.Name: "web-0" -> null"#.to_string(),
        r#"changed aws_instance.web[0] tags.Team: "web" -> "ops""#.to_string(),
        r#"changed aws_instance.web[1] instance_type: "t3.micro" -> "t3.large""#.to_string(),
        r#"changed aws_s3_bucket.logs versioning.enabled: true -> false"#.to_string(),
        r#"changed aws_security_group.web ingress["tcp:22-22:cidr:0.0.0.0/0"]: null -> "debug""#.to_string(),
        format!(r#"changed module.assets.aws_s3_bucket_policy.this policy: {} -> {}"#,
            driftd::aws::policy::canonical_policy(&world::POLICY_STATE.replace("BUCKET", &w.bucket_v4)),
            driftd::aws::policy::canonical_policy(&world::POLICY_PUT.replace("BUCKET", &w.bucket_v4).replace("s3:GetObject", "s3:*"))),
        format!(r#"changed module.assets.aws_s3_bucket_server_side_encryption_configuration.this rule.apply_server_side_encryption_by_default.kms_master_key_id: "" -> "{kms}""#),
        r#"changed module.assets.aws_s3_bucket_server_side_encryption_configuration.this rule.apply_server_side_encryption_by_default.sse_algorithm: "AES256" -> "aws:kms""#.to_string(),
        "missing aws_instance.web[2]".to_string(),
        "missing aws_security_group_rule.web_internal".to_string(),
        "missing module.assets.aws_s3_bucket_public_access_block.this".to_string(),
        "unmanaged aws_instance".to_string(),
        "unmanaged aws_s3_bucket".to_string(),
    ];
    assert_eq!(lines(&r), expected, "{}", r.to_text());
    let unmanaged: Vec<&str> = r.unmanaged[0]
        .drifts
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(unmanaged, vec![stray.as_str(), "scratch-unmanaged"]);
    assert_eq!(r.exit_code(), 2);
    assert_eq!(
        r.summary.changed + r.summary.missing + r.summary.unmanaged,
        r.summary.drifts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_is_unknown_never_missing() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("faulty");
    seed(&c, &dir).await;
    let proxy = FaultProxy::start(&moto.url, vec!["Action=DescribeInstances".into()]).await;
    let r = scan_text(&world::config_text(&proxy.url), &dir).await;
    assert!(
        proxy.injected.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "retried before giving up"
    );
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.status, StackStatus::Incomplete, "{}", r.to_text());
    assert_eq!(app.counts.unknown, 2);
    assert!(
        app.drifts.iter().all(|d| d.kind != DriftKind::Missing),
        "{}",
        r.to_text()
    );
    assert!(
        app.errors[0].contains("DescribeInstances"),
        "{:?}",
        app.errors
    );
    // Other types of the same stack were still compared.
    assert_eq!(app.counts.in_sync, 6);
    assert_eq!(r.unmanaged[0].status, ScopeStatus::Incomplete);
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_stack_does_not_stop_the_others() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("broken");
    seed(&c, &dir).await;
    let mut cfg = world::config_text(&moto.url);
    std::fs::write(
        dir.join("truncated.tfstate"),
        b"{\"version\": 4, \"resources\": [{\"mode\": \"man",
    )
    .unwrap();
    std::fs::write(dir.join("v3.tfstate"), br#"{"version": 3, "modules": []}"#).unwrap();
    std::fs::create_dir_all(dir.join("empty-dir")).unwrap();
    for (name, state) in [
        ("truncated", "truncated.tfstate"),
        ("old", "v3.tfstate"),
        ("nodir", "empty-dir"),
        ("noglob", "empty-dir/**/*.tfstate"),
        ("nos3", "s3://no-such-bucket/x.tfstate"),
    ] {
        cfg.push_str(&format!(
            "\n[[stacks]]\nname = \"{name}\"\nstate = \"{state}\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
            moto.url
        ));
    }
    let r = scan_text(&cfg, &dir).await;
    let status = |n: &str| r.stacks.iter().find(|s| s.name == n).unwrap();
    assert_eq!(status("app").status, StackStatus::Ok);
    assert_eq!(status("network").status, StackStatus::Ok);
    let err = |n: &str| status(n).errors.join("\n");
    assert!(
        err("truncated").contains("truncated.tfstate: invalid JSON at line 1, column"),
        "{}",
        err("truncated")
    );
    assert!(
        err("old").contains("version 3 is not supported"),
        "{}",
        err("old")
    );
    assert!(err("nodir").contains("is a directory"), "{}", err("nodir"));
    assert!(
        err("noglob").contains("no state file matches"),
        "{}",
        err("noglob")
    );
    assert!(
        err("nos3").contains("s3://no-such-bucket/x.tfstate: cannot read the state object"),
        "{}",
        err("nos3")
    );
    for n in ["truncated", "old", "nodir", "noglob", "nos3"] {
        assert_eq!(status(n).status, StackStatus::Failed);
    }
    // With a state missing, unmanaged detection would guess: it is skipped.
    assert_eq!(r.unmanaged[0].status, ScopeStatus::Skipped);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(r.summary.stacks_failed, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_from_the_s3_backend_by_key_and_glob() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("s3state");
    seed(&c, &dir).await;
    c.s3.create_bucket()
        .bucket("tf-state")
        .send()
        .await
        .unwrap();
    for (key, file) in [
        ("prod/network/terraform.tfstate", "network.tfstate"),
        ("prod/app/terraform.tfstate", "app.tfstate"),
    ] {
        c.s3.put_object()
            .bucket("tf-state")
            .key(key)
            .body(std::fs::read(dir.join(file)).unwrap().into())
            .send()
            .await
            .unwrap();
    }
    let cfg = format!(
        "[[stacks]]\nname = \"all\"\nstate = \"s3://tf-state/prod/**.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n\n[[stacks]]\nname = \"one\"\nstate = \"s3://tf-state/prod/network/terraform.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
        moto.url, moto.url
    );
    let r = scan_text(&cfg, &dir).await;
    let all = r.stacks.iter().find(|s| s.name == "all").unwrap();
    assert_eq!(all.status, StackStatus::Ok, "{}", r.to_text());
    let locations: Vec<&str> = all.sources.iter().map(|s| s.location.as_str()).collect();
    assert_eq!(
        locations,
        vec![
            "s3://tf-state/prod/app/terraform.tfstate",
            "s3://tf-state/prod/network/terraform.tfstate"
        ]
    );
    assert_eq!(all.counts.in_sync, 14);
    // The state bucket itself is not managed by these stacks: unmanaged.
    assert_eq!(lines(&r), vec!["unmanaged aws_s3_bucket".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_rules_and_sensitive_values() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("ignore");
    let w = seed(&c, &dir).await;
    let stray = run_instance(&c, &w.subnet, &w.sg_web, "stray", "t3.nano").await;
    c.ec2
        .create_tags()
        .resources(&w.instances[0])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("LastPatched")
                .value("today")
                .build(),
        )
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Team")
                .value("ops-secret-7")
                .build(),
        )
        .send()
        .await
        .unwrap();
    std::fs::write(
        dir.join(".driftignore"),
        format!(
            "# migrated from driftctl\naws_instance.{stray}\naws_instance.*.tags.LastPatched\n"
        ),
    )
    .unwrap();
    // The state marks tags.Team sensitive: its values never appear.
    let mut st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("app.tfstate")).unwrap()).unwrap();
    st["resources"][0]["instances"][0]["sensitive_attributes"] = serde_json::json!([[{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "Team", "type": "string"}}]]);
    std::fs::write(dir.join("app.tfstate"), st.to_string()).unwrap();
    let r = scan_text(&world::config_text(&moto.url), &dir).await;
    assert_eq!(
        lines(&r),
        vec![
            r#"changed aws_instance.web[0] tags.Team: "(sensitive)" -> "(sensitive)""#.to_string()
        ]
    );
    let all = format!("{}{}{}", r.to_json(), r.to_text(), r.to_markdown());
    assert!(!all.contains("ops-secret-7"), "a sensitive value leaked");
    let _ = StateBuilder::default();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_together_equal_a_full_scan_unmanaged_included() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("shards");
    let w = seed(&c, &dir).await;
    run_instance(&c, &w.subnet, &w.sg_web, "stray", "t3.nano").await;
    crate::world::tag_instance(&c, &w.instances[0], "Team", "ops").await;
    let cfg = world::config_text(&moto.url);
    let full = lines(&scan_text(&cfg, &dir).await);
    let mut union = Vec::new();
    let mut stacks = Vec::new();
    for i in 0..2 {
        let r = scan_with(
            &cfg,
            &dir,
            ScanOptions {
                shard: Some((i, 2)),
                ..Default::default()
            },
        )
        .await;
        stacks.extend(r.stacks.iter().map(|s| s.name.clone()));
        union.extend(lines(&r));
    }
    union.sort();
    stacks.sort();
    assert_eq!(
        stacks,
        vec!["app".to_string(), "network".to_string()],
        "each stack in exactly one shard"
    );
    assert_eq!(
        union, full,
        "the shards' union is the full scan, unmanaged found exactly once"
    );
    assert!(full.contains(&"unmanaged aws_instance".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_rules_managed_in_another_stack_are_not_its_drift_in_a_partial_run() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("foreign-rules");
    seed(&c, &dir).await;
    // Move the standalone 8080 rule of group `web` into a stack of its own.
    let mut net: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("network.tfstate")).unwrap()).unwrap();
    let resources = net["resources"].as_array_mut().unwrap();
    let i = resources
        .iter()
        .position(|r| r["type"] == "aws_security_group_rule")
        .unwrap();
    let rule = resources.remove(i);
    std::fs::write(dir.join("network.tfstate"), net.to_string()).unwrap();
    let mut rules = net.clone();
    rules["resources"] = serde_json::json!([rule]);
    std::fs::write(dir.join("rules.tfstate"), rules.to_string()).unwrap();
    let cfg = world::config_text(&moto.url)
        + &format!("\n[[stacks]]\nname = \"rules\"\nstate = \"rules.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n", moto.url);
    // A per-stack run of `network` (as the daemon does) sees no drift.
    let r = scan_with(
        &cfg,
        &dir,
        ScanOptions {
            only_stacks: vec!["network".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(lines(&scan_text(&cfg, &dir).await), Vec::<String>::new());
}

/// Add one resource to a state file written by `world::seed`.
pub fn add_to_state(path: &Path, rtype: &str, name: &str, attrs: serde_json::Value) {
    let mut st: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    st["resources"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mode": "managed", "type": rtype, "name": name,
            "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}],
        }));
    std::fs::write(path, st.to_string()).unwrap();
}

/// An S3 tag set of these pairs (for `PutBucketTagging`).
pub fn s3_tagging(pairs: &[(&str, &str)]) -> aws_sdk_s3::types::Tagging {
    aws_sdk_s3::types::Tagging::builder()
        .set_tag_set(Some(
            pairs
                .iter()
                .map(|(k, v)| {
                    aws_sdk_s3::types::Tag::builder()
                        .key(*k)
                        .value(*v)
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vpc_rule_changed_in_place_is_reported_once_on_the_rule() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("vpc-rule-modified");
    let w = seed(&c, &dir).await;
    // ModifySecurityGroupRules keeps the sgr- id and changes CIDR and description.
    c.ec2
        .modify_security_group_rules()
        .group_id(&w.sg_db)
        .security_group_rules(
            aws_sdk_ec2::types::SecurityGroupRuleUpdate::builder()
                .security_group_rule_id(&w.vpc_rule_id)
                .security_group_rule(
                    aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
                        .ip_protocol("tcp")
                        .from_port(5432)
                        .to_port(5432)
                        .cidr_ipv4("10.9.0.0/16")
                        .description("postgres (widened)")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = scan_text(&world::config_text(&moto.url), &dir).await;
    let rule = "module.db.aws_vpc_security_group_ingress_rule.postgres";
    assert_eq!(
        lines(&r),
        vec![
            format!(r#"changed {rule} cidr_ipv4: "10.1.0.0/16" -> "10.9.0.0/16""#),
            format!(r#"changed {rule} description: "postgres" -> "postgres (widened)""#),
        ],
        "{}",
        r.to_text()
    );
    // When the rules cannot be read, their group is unknown, not drifted.
    let proxy =
        FaultProxy::start(&moto.url, vec!["Action=DescribeSecurityGroupRules".into()]).await;
    let r = scan_text(&world::config_text(&proxy.url), &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let net = r.stacks.iter().find(|s| s.name == "network").unwrap();
    assert_eq!(net.status, StackStatus::Incomplete);
    let unknown: Vec<&str> = net.unknown.iter().map(|u| u.address.as_str()).collect();
    assert_eq!(
        unknown,
        vec![
            "aws_security_group.db",
            "module.db.aws_vpc_security_group_ingress_rule.postgres"
        ],
        "{}",
        r.to_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vpc_rule_to_a_group_given_with_its_account_is_not_drift() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("vpc-rule-account-ref");
    let w = seed(&c, &dir).await;
    // db accepts 6379 from web; the provider stores the peer as ACCOUNT/sg-...
    // when the group is (or may be) in another account.
    let out = c
        .ec2
        .authorize_security_group_ingress()
        .group_id(&w.sg_db)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(6379)
                .to_port(6379)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&w.sg_web)
                        .user_id(world::ACCOUNT)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = out.security_group_rules()[0]
        .security_group_rule_id()
        .unwrap()
        .to_string();
    add_to_state(
        &dir.join("network.tfstate"),
        "aws_vpc_security_group_ingress_rule",
        "redis_from_web",
        serde_json::json!({"id": id, "security_group_rule_id": id, "security_group_id": w.sg_db,
            "ip_protocol": "tcp", "from_port": 6379, "to_port": 6379, "cidr_ipv4": null,
            "cidr_ipv6": null, "prefix_list_id": null,
            "referenced_security_group_id": format!("{}/{}", world::ACCOUNT, w.sg_web),
            "description": null, "tags": null, "tags_all": {}}),
    );
    let r = scan_text(&world::config_text(&moto.url), &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let net = r.stacks.iter().find(|s| s.name == "network").unwrap();
    assert_eq!(net.counts.in_sync, 7, "{:?}", net.counts);
}

/// The type added the registry way: in sync, changed, missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_ownership_controls_in_sync_changed_missing() {
    use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("ownership-controls");
    let w = seed(&c, &dir).await;
    let put = |o: ObjectOwnership| {
        c.s3.put_bucket_ownership_controls()
            .bucket(&w.bucket_v4)
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(o)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
    };
    put(ObjectOwnership::BucketOwnerEnforced).await.unwrap();
    add_to_state(
        &dir.join("app.tfstate"),
        "aws_s3_bucket_ownership_controls",
        "assets",
        serde_json::json!({"id": w.bucket_v4, "bucket": w.bucket_v4,
                           "rule": [{"object_ownership": "BucketOwnerEnforced"}]}),
    );
    let cfg = world::config_text(&moto.url);
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.counts.in_sync, 9, "{:?}", app.counts);

    put(ObjectOwnership::ObjectWriter).await.unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec![
            r#"changed aws_s3_bucket_ownership_controls.assets rule.object_ownership: "BucketOwnerEnforced" -> "ObjectWriter""#
        ],
        "{}",
        r.to_text()
    );

    c.s3.delete_bucket_ownership_controls()
        .bucket(&w.bucket_v4)
        .send()
        .await
        .unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec!["missing aws_s3_bucket_ownership_controls.assets"],
        "{}",
        r.to_text()
    );
}
