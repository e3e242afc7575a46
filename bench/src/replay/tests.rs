//! The replay endpoint against the real SDK deserializers (and driftd's
//! scan): fast, loopback only, run by `cargo test --workspace`.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use driftd::aws::{ApiCalls, ClientOptions, Clients};

use super::limits::{Limits, Settings};
use super::model::{Spec, World};
use super::server::{self, State};
use crate::world::{client_options, target};

fn spec(n: usize) -> Spec {
    Spec::proportional(n, 11)
}

async fn up(n: usize, s: Settings) -> (std::sync::Arc<State>, String) {
    let st = State::new(World::generate(&spec(n)), s);
    let addr = server::start(st.clone()).await.unwrap();
    (st, format!("http://{addr}"))
}

fn no_limits() -> Settings {
    Settings {
        limits: Limits {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn live_states() -> Filter {
    Filter::builder()
        .name("instance-state-name")
        .set_values(Some(vec!["pending".into(), "running".into()]))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_parses_pages_and_pagination_is_real() {
    let (st, url) = up(2500, no_limits()).await;
    let calls = ApiCalls::new();
    let c = Clients::new(&target(&url), &client_options(), &calls).await;

    // 2,503 instances (3 unmanaged), 2 terminated: 3 pages of at most 1,000.
    let mut pages = c
        .ec2
        .describe_instances()
        .max_results(1000)
        .filters(live_states())
        .into_paginator()
        .send();
    let mut sizes = Vec::new();
    let mut first = None;
    while let Some(p) = pages.next().await {
        let p = p.unwrap();
        let n: usize = p.reservations().iter().map(|r| r.instances().len()).sum();
        sizes.push(n);
        if first.is_none() {
            first = p.reservations()[0].instances().first().cloned();
        }
    }
    assert_eq!(sizes, vec![1000, 1000, 501]);
    let i = first.unwrap();
    let w = &st.world;
    assert_eq!(i.instance_id(), Some(w.instances[0].id.as_str()));
    assert_eq!(
        i.subnet_id(),
        Some(w.subnets[w.instances[0].subnet].id.as_str())
    );
    assert_eq!(
        i.security_groups()[0].group_id(),
        Some(w.groups[w.instances[0].group].id.as_str())
    );
    assert_eq!(i.tags().len(), 2);
    let mo = i.metadata_options().unwrap();
    assert_eq!(mo.http_tokens().map(|t| t.as_str()), Some("required"));
    assert_eq!(mo.http_put_response_hop_limit(), Some(2));
    assert_eq!(i.source_dest_check(), Some(true));
    assert_eq!(i.network_interfaces().len(), 1);
    assert_eq!(
        i.block_device_mappings()[0].ebs().unwrap().volume_id(),
        Some(w.instances[0].volume.as_str())
    );

    // Filters: by id, by zone; an unknown id by InstanceIds is an error.
    let ids = vec![
        w.instances[7].id.clone(),
        w.instances[5].id.clone(),
        "i-0000000000000dead".to_string(),
    ];
    let out = c
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-id")
                .set_values(Some(ids))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.reservations()[0].instances().len(), 2);
    let e = c
        .ec2
        .describe_instances()
        .instance_ids("i-0000000000000dead")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidInstanceID.NotFound"));
    // Terminated ones show without the state filter.
    let all: usize = c
        .ec2
        .describe_instances()
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    assert_eq!(all, 2503);

    // Groups, rules, network.
    let g = c
        .ec2
        .describe_security_groups()
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert_eq!(g.security_groups().len(), 100);
    assert!(g.next_token().is_some());
    let sg = &g.security_groups()[0];
    assert_eq!(
        sg.ip_permissions()[0].from_port(),
        Some(w.groups[0].port as i32)
    );
    assert_eq!(sg.ip_permissions_egress()[0].ip_protocol(), Some("-1"));
    let r = c
        .ec2
        .describe_security_group_rules()
        .filters(
            Filter::builder()
                .name("group-id")
                .values(&w.groups[0].id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.security_group_rules().len(), 2);
    let v = c.ec2.describe_vpcs().send().await.unwrap();
    assert_eq!(v.vpcs().len(), w.vpcs.len());
    assert_eq!(v.vpcs()[0].cidr_block_association_set().len(), 1);
    let sn = c.ec2.describe_subnets().send().await.unwrap();
    assert_eq!(sn.subnets().len(), w.subnets.len());
    assert_eq!(sn.subnets()[0].map_public_ip_on_launch(), Some(false));
    let rt = c.ec2.describe_route_tables().send().await.unwrap();
    assert_eq!(rt.route_tables().len(), w.subnets.len());
    assert_eq!(
        rt.route_tables()[0].associations()[0].subnet_id(),
        Some(w.subnets[0].id.as_str())
    );
    let a = c
        .ec2
        .describe_vpc_attribute()
        .vpc_id(&w.vpcs[0].id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(a.enable_dns_hostnames().and_then(|v| v.value()), Some(true));
    assert!(c
        .ec2
        .describe_nat_gateways()
        .send()
        .await
        .unwrap()
        .nat_gateways()
        .is_empty());

    // S3.
    let b = c.s3.list_buckets().send().await.unwrap();
    assert_eq!(b.buckets().len(), w.buckets.len());
    assert_eq!(b.buckets()[0].bucket_region(), Some("us-east-1"));
    let name = &w.buckets[0].name;
    let t = c.s3.get_bucket_tagging().bucket(name).send().await.unwrap();
    assert_eq!(t.tag_set().len(), 2);
    let ver =
        c.s3.get_bucket_versioning()
            .bucket(name)
            .send()
            .await
            .unwrap();
    assert_eq!(ver.status().map(|s| s.as_str()), Some("Enabled"));
    let enc =
        c.s3.get_bucket_encryption()
            .bucket(name)
            .send()
            .await
            .unwrap();
    assert!(enc.server_side_encryption_configuration().is_some());
    c.s3.head_bucket().bucket(name).send().await.unwrap();
    let e =
        c.s3.get_public_access_block()
            .bucket(name)
            .send()
            .await
            .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchPublicAccessBlockConfiguration"));
    let e =
        c.s3.get_bucket_policy()
            .bucket(name)
            .send()
            .await
            .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchBucketPolicy"));

    // Client and server agree on the counts.
    assert_eq!(st.stats().calls, calls.by_operation());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_buckets_throttle_with_aws_codes() {
    let s = Settings {
        limits: Limits {
            enabled: true,
            ec2_burst: 3.0,
            ec2_refill: 0.001,
            s3_burst: 2.0,
            s3_refill: 0.001,
        },
        ..Default::default()
    };
    let (st, url) = up(50, s).await;
    let calls = ApiCalls::new();
    let once = ClientOptions {
        max_attempts: 1,
        ..client_options()
    };
    let c = Clients::new(&target(&url), &once, &calls).await;
    for _ in 0..3 {
        c.ec2.describe_vpcs().send().await.unwrap();
    }
    let e = c.ec2.describe_vpcs().send().await.unwrap_err();
    assert_eq!(e.code(), Some("RequestLimitExceeded"));
    // Another action has its own bucket.
    c.ec2.describe_subnets().send().await.unwrap();
    let b = &st.world.buckets[0].name;
    for _ in 0..2 {
        c.s3.get_bucket_versioning().bucket(b).send().await.unwrap();
    }
    let e =
        c.s3.get_bucket_versioning()
            .bucket(b)
            .send()
            .await
            .unwrap_err();
    assert_eq!(e.code(), Some("SlowDown"));
    // Another bucket (prefix) is not throttled.
    let b2 = &st.world.buckets[1].name;
    c.s3.get_bucket_versioning()
        .bucket(b2)
        .send()
        .await
        .unwrap();
    let stats = st.stats();
    assert_eq!(stats.throttled.get("DescribeVpcs"), Some(&1));
    assert_eq!(stats.throttled.get("GetBucketVersioning"), Some(&1));
    assert_eq!(stats.calls.get("DescribeVpcs"), Some(&4));
    assert_eq!(stats.calls, calls.by_operation());
}

/// The generated state and the served XML agree: a scan reports exactly the
/// applied drift, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driftd_reports_exactly_the_applied_drift() {
    let (st, url) = up(300, no_limits()).await;
    let dir = std::env::temp_dir().join(format!("driftd-replay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bench.tfstate"),
        super::model::terraform_bytes(&st.world.state()),
    )
    .unwrap();
    let config = dir.join("driftd.toml");
    std::fs::write(
        &config,
        format!("[[stacks]]\nname = \"bench\"\nstate = \"bench.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{url}\"\n"),
    )
    .unwrap();
    let out = crate::scenarios::driftd_scan_config(&config).await.unwrap();
    let e = st.world.expected();
    let changed: std::collections::BTreeSet<&str> = out
        .drifts
        .iter()
        .filter(|d| d.kind == "changed")
        .map(|d| d.id.as_str())
        .collect();
    let want: std::collections::BTreeSet<&str> = e.changed.iter().map(String::as_str).collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.stack_errors.is_empty(), "{:?}", out.stack_errors);
    assert_eq!(
        changed,
        want,
        "{:#?}",
        out.drifts
            .iter()
            .filter(|d| d.kind == "changed")
            .collect::<Vec<_>>()
    );
    for d in out.drifts.iter().filter(|d| d.kind == "changed") {
        assert!(d.attributes.iter().all(|a| a.starts_with("tags")), "{d:?}");
    }
    let missing: Vec<&str> = out
        .drifts
        .iter()
        .filter(|d| d.kind == "missing")
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(missing.len(), e.missing.len(), "{missing:?}");
    let unmanaged: Vec<String> = out
        .drifts
        .iter()
        .filter(|d| d.kind == "unmanaged")
        .map(|d| format!("{} {}", d.rtype, d.id))
        .collect();
    assert_eq!(unmanaged.len(), e.unmanaged, "{unmanaged:?}");
}
