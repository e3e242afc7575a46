//! The replay scenarios run in child processes: the minimal call set and the
//! per-resource pattern, both with raw SDK clients (driftd's `Clients`: same
//! retry, timeouts, path-style S3, counted by the same `ApiCalls`), both
//! paced at the token-bucket model so they are never throttled (each at its
//! best). driftd itself runs `crate::scenarios::driftd_scan_config`.

use std::time::Instant;

use anyhow::{anyhow, Result};
use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use aws_sdk_s3::error::ProvideErrorMetadata;
use driftd::aws::{ApiCalls, Clients};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::limits::Limits;
use super::model::{Spec, World};
use super::Pacer;
use crate::world::{raw_client_options, target, ScenarioOut};

/// What a replay scenario child is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ctx {
    pub endpoint: String,
    pub spec: Spec,
    pub concurrency: usize,
    pub limits: Limits,
    pub dilation: f64,
    pub config_path: std::path::PathBuf,
}

fn sdk_err<E: std::error::Error>(op: &'static str) -> impl FnOnce(E) -> anyhow::Error {
    move |e| anyhow!("{op}: {}", aws_sdk_ec2::error::DisplayErrorContext(e))
}

fn s3_ok<T, E>(
    op: &'static str,
    r: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NoSuchTagSet") => Ok(()),
        Err(e) => Err(sdk_err(op)(e)),
    }
}

/// The calls a scan of this world needs, and no more: one paginated listing
/// per API that a managed or discoverable type reads (1,000 a page where the
/// API pages), `DescribeVpcAttribute` twice per VPC (the state compares
/// `enable_dns_support` / `enable_dns_hostnames`), `ListBuckets`, and
/// `GetBucketTagging` + `GetBucketVersioning` per managed bucket.
pub async fn minimal(ctx: &Ctx) -> Result<ScenarioOut> {
    let world = World::generate(&ctx.spec);
    let managed: Vec<String> = world.managed_buckets().map(|b| b.name.clone()).collect();
    let vpc_ids: Vec<String> = world.vpcs.iter().map(|v| v.id.clone()).collect();
    drop(world);
    let pacer = Pacer::new(ctx.limits.clone(), ctx.dilation);
    let calls = ApiCalls::new();
    let conc = ctx.concurrency.max(1);
    let t = Instant::now();
    let c = Clients::new(&target(&ctx.endpoint), &raw_client_options(), &calls).await;
    let (ec2, s3, pacer) = (&c.ec2, &c.s3, &pacer);

    let instances = async {
        let states: Vec<String> = ["pending", "running", "stopping", "stopped"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut token: Option<String> = None;
        let mut n = 0usize;
        loop {
            pacer.wait("DescribeInstances", true).await;
            let page = ec2
                .describe_instances()
                .max_results(1000)
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .set_values(Some(states.clone()))
                        .build(),
                )
                .set_next_token(token.take())
                .send()
                .await
                .map_err(sdk_err("DescribeInstances"))?;
            n += page
                .reservations()
                .iter()
                .map(|r| r.instances().len())
                .sum::<usize>();
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok::<_, anyhow::Error>(n);
            }
        }
    };
    let groups = async {
        let mut token: Option<String> = None;
        loop {
            pacer.wait("DescribeSecurityGroups", true).await;
            let page = ec2
                .describe_security_groups()
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(sdk_err("DescribeSecurityGroups"))?;
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok::<_, anyhow::Error>(());
            }
        }
    };
    let network = async {
        pacer.wait("DescribeVpcs", true).await;
        ec2.describe_vpcs()
            .send()
            .await
            .map_err(sdk_err("DescribeVpcs"))?;
        stream::iter(vpc_ids.iter().flat_map(|v| {
            [
                (v, VpcAttributeName::EnableDnsSupport),
                (v, VpcAttributeName::EnableDnsHostnames),
            ]
        }))
        .map(|(v, a)| async move {
            pacer.wait("DescribeVpcAttribute", true).await;
            ec2.describe_vpc_attribute()
                .vpc_id(v)
                .attribute(a)
                .send()
                .await
                .map_err(sdk_err("DescribeVpcAttribute"))?;
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
        Ok::<_, anyhow::Error>(())
    };
    // One unpaginated listing each (the world has none or few of these),
    // all in flight at once: no listing depends on another.
    let listings = async {
        type Fut<'a> = futures::future::BoxFuture<'a, Result<()>>;
        macro_rules! once {
            ($op:literal, $req:expr) => {{
                let f: Fut<'_> = Box::pin(async move {
                    pacer.wait($op, true).await;
                    $req.send().await.map_err(sdk_err($op))?;
                    Ok(())
                });
                f
            }};
        }
        futures::future::try_join_all(vec![
            once!("DescribeSubnets", ec2.describe_subnets()),
            once!("DescribeRouteTables", ec2.describe_route_tables()),
            once!("DescribeInternetGateways", ec2.describe_internet_gateways()),
            once!("DescribeNatGateways", ec2.describe_nat_gateways()),
            once!("DescribeAddresses", ec2.describe_addresses()),
            once!("DescribeNetworkAcls", ec2.describe_network_acls()),
            once!(
                "DescribeNetworkInterfaces",
                ec2.describe_network_interfaces()
            ),
            once!("DescribeVolumes", ec2.describe_volumes()),
            once!("DescribeKeyPairs", ec2.describe_key_pairs()),
            once!("DescribeImages", ec2.describe_images().owners("self")),
            once!(
                "DescribeSnapshots",
                ec2.describe_snapshots().owner_ids("self")
            ),
            once!("DescribeLaunchTemplates", ec2.describe_launch_templates()),
            // Discovery of the types the world has none of: still one
            // listing each, or unmanaged ones would go unseen.
            once!("DescribeDhcpOptions", ec2.describe_dhcp_options()),
            once!(
                "DescribeEgressOnlyInternetGateways",
                ec2.describe_egress_only_internet_gateways()
            ),
            once!("DescribeFlowLogs", ec2.describe_flow_logs()),
            once!("DescribeVpcEndpoints", ec2.describe_vpc_endpoints()),
            once!(
                "DescribeVpcPeeringConnections",
                ec2.describe_vpc_peering_connections()
            ),
        ])
        .await?;
        Ok::<_, anyhow::Error>(())
    };
    let buckets = async {
        pacer.wait("ListBuckets", false).await;
        let listed = s3
            .list_buckets()
            .send()
            .await
            .map_err(sdk_err("ListBuckets"))?;
        let present: std::collections::BTreeSet<&str> =
            listed.buckets().iter().filter_map(|b| b.name()).collect();
        stream::iter(managed.iter().filter(|b| present.contains(b.as_str())))
            .map(|b| async move {
                pacer.wait(&format!("s3:{b}"), false).await;
                s3_ok(
                    "GetBucketTagging",
                    s3.get_bucket_tagging().bucket(b).send().await,
                )?;
                pacer.wait(&format!("s3:{b}"), false).await;
                s3_ok(
                    "GetBucketVersioning",
                    s3.get_bucket_versioning().bucket(b).send().await,
                )?;
                Ok::<_, anyhow::Error>(())
            })
            .buffer_unordered(conc)
            .try_collect::<Vec<_>>()
            .await?;
        Ok::<_, anyhow::Error>(())
    };
    let (i, g, n, l, b) = tokio::join!(instances, groups, network, listings, buckets);
    i?;
    g?;
    n?;
    l?;
    b?;
    Ok(ScenarioOut {
        wall_secs: t.elapsed().as_secs_f64(),
        calls: calls.by_operation(),
        ..Default::default()
    })
}

/// The per-resource pattern of a `terraform refresh`, run in full: one read
/// per resource of the state (a lower bound of what the provider makes:
/// one `DescribeInstances` per instance where Terraform also reads
/// attributes, credit specification and volumes), paced at the token-bucket
/// model with `concurrency` in flight.
pub async fn per_resource(ctx: &Ctx) -> Result<ScenarioOut> {
    let world = World::generate(&ctx.spec);
    let instances: Vec<String> = world.managed_instances().map(|i| i.id.clone()).collect();
    let groups: Vec<String> = world
        .groups
        .iter()
        .filter(|g| g.managed)
        .map(|g| g.id.clone())
        .collect();
    let vpcs: Vec<String> = world.vpcs.iter().map(|v| v.id.clone()).collect();
    let subnets: Vec<String> = world.subnets.iter().map(|s| s.id.clone()).collect();
    let tables: Vec<String> = world
        .subnets
        .iter()
        .map(|s| s.route_table.clone())
        .collect();
    let buckets: Vec<String> = world.managed_buckets().map(|b| b.name.clone()).collect();
    drop(world);
    let pacer = Pacer::new(ctx.limits.clone(), ctx.dilation);
    let calls = ApiCalls::new();
    let conc = ctx.concurrency.max(1);
    let t = Instant::now();
    let c = Clients::new(&target(&ctx.endpoint), &raw_client_options(), &calls).await;
    let (ec2, s3, pacer) = (&c.ec2, &c.s3, &pacer);

    #[derive(Clone, Copy)]
    enum Kind {
        Instance,
        Group,
        Vpc,
        Subnet,
        Table,
        Bucket,
    }
    let work: Vec<(Kind, &String)> = instances
        .iter()
        .map(|i| (Kind::Instance, i))
        .chain(groups.iter().map(|g| (Kind::Group, g)))
        .chain(vpcs.iter().map(|v| (Kind::Vpc, v)))
        .chain(subnets.iter().map(|s| (Kind::Subnet, s)))
        .chain(tables.iter().map(|r| (Kind::Table, r)))
        .chain(buckets.iter().map(|b| (Kind::Bucket, b)))
        .collect();
    stream::iter(work)
        .map(|(k, id)| async move {
            match k {
                Kind::Instance => {
                    pacer.wait("DescribeInstances", true).await;
                    ec2.describe_instances()
                        .instance_ids(id)
                        .send()
                        .await
                        .map_err(sdk_err("DescribeInstances"))?;
                }
                Kind::Group => {
                    pacer.wait("DescribeSecurityGroups", true).await;
                    ec2.describe_security_groups()
                        .group_ids(id)
                        .send()
                        .await
                        .map_err(sdk_err("DescribeSecurityGroups"))?;
                }
                Kind::Vpc => {
                    pacer.wait("DescribeVpcs", true).await;
                    ec2.describe_vpcs()
                        .vpc_ids(id)
                        .send()
                        .await
                        .map_err(sdk_err("DescribeVpcs"))?;
                    for a in [
                        VpcAttributeName::EnableDnsSupport,
                        VpcAttributeName::EnableDnsHostnames,
                    ] {
                        pacer.wait("DescribeVpcAttribute", true).await;
                        ec2.describe_vpc_attribute()
                            .vpc_id(id)
                            .attribute(a)
                            .send()
                            .await
                            .map_err(sdk_err("DescribeVpcAttribute"))?;
                    }
                }
                Kind::Subnet => {
                    pacer.wait("DescribeSubnets", true).await;
                    ec2.describe_subnets()
                        .subnet_ids(id)
                        .send()
                        .await
                        .map_err(sdk_err("DescribeSubnets"))?;
                }
                Kind::Table => {
                    pacer.wait("DescribeRouteTables", true).await;
                    ec2.describe_route_tables()
                        .route_table_ids(id)
                        .send()
                        .await
                        .map_err(sdk_err("DescribeRouteTables"))?;
                }
                Kind::Bucket => {
                    let key = format!("s3:{id}");
                    pacer.wait(&key, false).await;
                    s3.head_bucket()
                        .bucket(id)
                        .send()
                        .await
                        .map_err(sdk_err("HeadBucket"))?;
                    pacer.wait(&key, false).await;
                    s3_ok(
                        "GetBucketTagging",
                        s3.get_bucket_tagging().bucket(id).send().await,
                    )?;
                    pacer.wait(&key, false).await;
                    s3_ok(
                        "GetBucketVersioning",
                        s3.get_bucket_versioning().bucket(id).send().await,
                    )?;
                }
            }
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(ScenarioOut {
        wall_secs: t.elapsed().as_secs_f64(),
        calls: calls.by_operation(),
        ..Default::default()
    })
}

/// Calls the per-resource pattern makes for `spec` (for the time-dilation
/// estimate), by operation.
pub fn per_resource_calls(spec: &Spec) -> Vec<(&'static str, usize)> {
    let subnets = spec.vpcs.max(1) * super::model::SUBNETS_PER_VPC;
    vec![
        ("DescribeInstances", spec.instances),
        ("DescribeSecurityGroups", spec.groups),
        ("DescribeVpcs", spec.vpcs.max(1)),
        ("DescribeVpcAttribute", 2 * spec.vpcs.max(1)),
        ("DescribeSubnets", subnets),
        ("DescribeRouteTables", subnets),
        ("HeadBucket", spec.buckets),
        ("GetBucketTagging", spec.buckets),
        ("GetBucketVersioning", spec.buckets),
    ]
}
