//! Seeding moto with the benchmark world, and writing the matching state.
//!
//! The state is built from what moto reports *after* seeding (not from what
//! was asked for), so an untouched world has zero drift. Then a known amount
//! of drift is applied: a few tag changes, a few terminated instances, a few
//! resources nobody manages. The scan must report exactly that.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_ec2::types::{
    Instance, InstanceType, IpPermission, IpRange, ResourceType, SecurityGroup, Tag,
    TagSpecification,
};
use aws_sdk_s3::types::{BucketVersioningStatus, Tagging, VersioningConfiguration};
use driftd::aws::Clients;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use crate::world::{Expected, Scale, World};

/// An AMI id moto accepts without registering anything.
const AMI: &str = "ami-12c6146b";
/// moto's default account.
const ACCOUNT: &str = "123456789012";
/// Instances per `RunInstances` call: moto paginates `DescribeInstances` by
/// reservation, so many small reservations keep pages realistic.
const PER_RESERVATION: usize = 10;

pub const INSTANCE_TAG_VALUE: &str = "driftd";
pub const UNMANAGED_TAG_VALUE: &str = "unmanaged";
const GROUP_PREFIX: &str = "bench-sg-";
const UNMANAGED_GROUP_PREFIX: &str = "bench-unmanaged-sg-";
const BUCKET_PREFIX: &str = "driftd-bench-";
const UNMANAGED_BUCKET_PREFIX: &str = "driftd-bench-unmanaged-";

/// Resources left out of the state (reported `unmanaged`), per type.
const UNMANAGED_EACH: usize = 3;
/// Managed resources given a tag change after the state is written.
const DRIFT_INSTANCES: usize = 5;
const DRIFT_GROUPS: usize = 3;
const DRIFT_BUCKETS: usize = 2;
/// Managed instances terminated after the state is written (`missing`).
const TERMINATED: usize = 2;

fn sdk_err<E: std::error::Error>(op: &'static str) -> impl FnOnce(E) -> anyhow::Error {
    move |e| anyhow!("{op}: {}", aws_sdk_ec2::error::DisplayErrorContext(e))
}

fn ec2_tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn tag_spec(rt: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(rt);
    for (k, v) in tags {
        b = b.tags(ec2_tag(k, v));
    }
    b.build()
}

fn s3_tagging(tags: &[(&str, &str)]) -> Result<Tagging> {
    let set = tags
        .iter()
        .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(*k).value(*v).build())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tagging::builder().set_tag_set(Some(set)).build()?)
}

fn say(t0: Instant, msg: &str) {
    eprintln!("[{:7.1}s] {msg}", t0.elapsed().as_secs_f64());
}

/// Evenly spread indices: `n` of `0..len`.
fn spread(len: usize, n: usize, offset: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n)
        .map(|k| (k * len / n.max(1) + offset) % len)
        .collect()
}

/// Refuse to seed a moto that already holds a benchmark world.
pub async fn ensure_fresh(c: &Clients) -> Result<()> {
    let out =
        c.s3.list_buckets()
            .send()
            .await
            .map_err(sdk_err("ListBuckets"))?;
    if out
        .buckets()
        .iter()
        .any(|b| b.name().is_some_and(|n| n.starts_with(BUCKET_PREFIX)))
    {
        bail!("this moto already holds a benchmark world: start a fresh moto_server (bench/run.sh does)");
    }
    Ok(())
}

/// Seed the world, write the state and config, apply the drift.
pub async fn seed(
    c: &Clients,
    scale: &Scale,
    concurrency: usize,
    workdir: &Path,
    endpoint: &str,
) -> Result<World> {
    let t0 = Instant::now();
    let ec2 = &c.ec2;
    let s3 = &c.s3;

    // Security groups: one ingress rule each (plus moto's default egress).
    let total_groups = scale.groups + UNMANAGED_EACH;
    say(
        t0,
        &format!("seeding {total_groups} security groups ({UNMANAGED_EACH} unmanaged)"),
    );
    let group_ids: Vec<String> = stream::iter(0..total_groups)
        .map(|g| async move {
            let unmanaged = g >= scale.groups;
            let name = if unmanaged {
                format!("{UNMANAGED_GROUP_PREFIX}{:05}", g - scale.groups)
            } else {
                format!("{GROUP_PREFIX}{g:05}")
            };
            let out = ec2
                .create_security_group()
                .group_name(&name)
                .description(format!("driftd bench group {g}"))
                .tag_specifications(tag_spec(
                    ResourceType::SecurityGroup,
                    &[("bench", INSTANCE_TAG_VALUE), ("Name", &name)],
                ))
                .send()
                .await
                .map_err(sdk_err("CreateSecurityGroup"))?;
            let id = out
                .group_id()
                .ok_or_else(|| anyhow!("CreateSecurityGroup: no group id"))?
                .to_string();
            let cidr = format!("10.{}.{}.0/24", (g / 256) % 256, g % 256);
            ec2.authorize_security_group_ingress()
                .group_id(&id)
                .ip_permissions(
                    IpPermission::builder()
                        .ip_protocol("tcp")
                        .from_port(443)
                        .to_port(443)
                        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                        .build(),
                )
                .send()
                .await
                .map_err(sdk_err("AuthorizeSecurityGroupIngress"))?;
            Ok::<_, anyhow::Error>(id)
        })
        .buffered(concurrency)
        .try_collect()
        .await?;

    // Instances: reservations of ten, each in one of the managed groups.
    let batches = scale.instances.div_ceil(PER_RESERVATION);
    say(
        t0,
        &format!(
            "seeding {} instances in {batches} reservations (+{UNMANAGED_EACH} unmanaged)",
            scale.instances
        ),
    );
    let managed_groups = &group_ids[..scale.groups];
    let run = |count: usize, group: Option<String>, tag_value: &'static str, batch: usize| async move {
        let mut req = ec2
            .run_instances()
            .image_id(AMI)
            .instance_type(InstanceType::T3Micro)
            .min_count(count as i32)
            .max_count(count as i32)
            .tag_specifications(tag_spec(
                ResourceType::Instance,
                &[("bench", tag_value), ("batch", &batch.to_string())],
            ));
        if let Some(g) = group {
            req = req.security_group_ids(g);
        }
        req.send().await.map_err(sdk_err("RunInstances"))?;
        Ok::<_, anyhow::Error>(())
    };
    stream::iter(0..batches)
        .map(|b| {
            let count = PER_RESERVATION.min(scale.instances - b * PER_RESERVATION);
            let group = (!managed_groups.is_empty())
                .then(|| managed_groups[b % managed_groups.len()].clone());
            run(count, group, INSTANCE_TAG_VALUE, b)
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    run(UNMANAGED_EACH, None, UNMANAGED_TAG_VALUE, batches).await?;

    // Buckets: tagged; every fifth versioned.
    let total_buckets = scale.buckets + UNMANAGED_EACH;
    say(
        t0,
        &format!("seeding {total_buckets} buckets ({UNMANAGED_EACH} unmanaged)"),
    );
    let bucket_names: Vec<String> = (0..total_buckets)
        .map(|b| {
            if b >= scale.buckets {
                format!("{UNMANAGED_BUCKET_PREFIX}{:04}", b - scale.buckets)
            } else {
                format!("{BUCKET_PREFIX}{b:04}")
            }
        })
        .collect();
    stream::iter(bucket_names.iter().enumerate())
        .map(|(b, name)| async move {
            s3.create_bucket()
                .bucket(name)
                .send()
                .await
                .map_err(sdk_err("CreateBucket"))?;
            s3.put_bucket_tagging()
                .bucket(name)
                .tagging(s3_tagging(&[
                    ("bench", INSTANCE_TAG_VALUE),
                    ("index", &b.to_string()),
                ])?)
                .send()
                .await
                .map_err(sdk_err("PutBucketTagging"))?;
            if b % 5 == 0 {
                s3.put_bucket_versioning()
                    .bucket(name)
                    .versioning_configuration(
                        VersioningConfiguration::builder()
                            .status(BucketVersioningStatus::Enabled)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(sdk_err("PutBucketVersioning"))?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;

    // Read back what moto reports: the state is made of it.
    say(t0, "reading the seeded world back");
    let mut instances: Vec<Instance> = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk_err("DescribeInstances"))?;
        for r in page.reservations() {
            instances.extend(r.instances().iter().cloned());
        }
    }
    let managed_instances: Vec<&Instance> = instances
        .iter()
        .filter(|i| {
            i.tags()
                .iter()
                .any(|t| t.key() == Some("bench") && t.value() == Some(INSTANCE_TAG_VALUE))
        })
        .collect();
    if managed_instances.len() != scale.instances {
        bail!(
            "moto reports {} benchmark instances, {} were seeded",
            managed_instances.len(),
            scale.instances
        );
    }
    let mut groups: Vec<SecurityGroup> = Vec::new();
    let mut pages = ec2
        .describe_security_groups()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk_err("DescribeSecurityGroups"))?;
        groups.extend(page.security_groups().iter().cloned());
    }
    let managed_groups: Vec<&SecurityGroup> = groups
        .iter()
        .filter(|g| g.group_name().is_some_and(|n| n.starts_with(GROUP_PREFIX)))
        .collect();
    let managed_buckets: Vec<String> = bucket_names[..scale.buckets].to_vec();
    let bucket_facts: Vec<(String, Value, bool)> = stream::iter(managed_buckets.iter())
        .map(|b| async move {
            let tags = s3
                .get_bucket_tagging()
                .bucket(b)
                .send()
                .await
                .map_err(sdk_err("GetBucketTagging"))?;
            let tags = tags_json(tags.tag_set().iter().map(|t| (t.key(), t.value())));
            let v = s3
                .get_bucket_versioning()
                .bucket(b)
                .send()
                .await
                .map_err(sdk_err("GetBucketVersioning"))?;
            let enabled = v.status() == Some(&BucketVersioningStatus::Enabled);
            Ok::<_, anyhow::Error>((b.clone(), tags, enabled))
        })
        .buffered(concurrency)
        .try_collect()
        .await?;

    // The state.
    let state = json!({
        "version": 4,
        "terraform_version": "1.6.6",
        "serial": 1,
        "lineage": "bench",
        "outputs": {},
        "resources": [
            resource("aws_instance", "fleet", managed_instances.iter().map(|i| instance_state(i)).collect()),
            resource("aws_security_group", "group", managed_groups.iter().map(|g| group_state(g)).collect()),
            resource("aws_s3_bucket", "bucket", bucket_facts.iter().map(|(b, t, v)| bucket_state(b, t, *v)).collect()),
        ],
    });
    std::fs::create_dir_all(workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let state_path = workdir.join("bench.tfstate");
    std::fs::write(&state_path, serde_json::to_vec(&state)?)
        .with_context(|| format!("writing {}", state_path.display()))?;
    let config_path = workdir.join("driftd.toml");
    std::fs::write(
        &config_path,
        format!(
            "[scan]\nconcurrency = {concurrency}\nattempt_timeout = {attempt}\n\n[[stacks]]\nname = \"bench\"\nstate = \"bench.tfstate\"\nregions = [\"{}\"]\nendpoint_url = \"{endpoint}\"\n",
            crate::world::REGION,
            // The CLI scenario gets the same per-attempt timeout as the others.
            attempt = crate::world::ATTEMPT_TIMEOUT.as_secs(),
        ),
    )
    .with_context(|| format!("writing {}", config_path.display()))?;

    // Drift: tag changes, terminated instances.
    let instance_ids: Vec<String> = managed_instances
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    let group_ids: Vec<String> = managed_groups
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect();
    let drift_instances: Vec<String> = spread(instance_ids.len(), DRIFT_INSTANCES, 0)
        .into_iter()
        .map(|i| instance_ids[i].clone())
        .collect();
    let terminated: Vec<String> = spread(instance_ids.len(), TERMINATED, 1)
        .into_iter()
        .map(|i| instance_ids[i].clone())
        .filter(|id| !drift_instances.contains(id))
        .collect();
    let drift_groups: Vec<String> = spread(group_ids.len(), DRIFT_GROUPS, 0)
        .into_iter()
        .map(|i| group_ids[i].clone())
        .collect();
    let drift_buckets: Vec<String> = spread(managed_buckets.len(), DRIFT_BUCKETS, 0)
        .into_iter()
        .map(|i| managed_buckets[i].clone())
        .collect();
    say(
        t0,
        &format!(
            "applying drift: tags of {} instances, {} groups, {} buckets; {} instances terminated",
            drift_instances.len(),
            drift_groups.len(),
            drift_buckets.len(),
            terminated.len()
        ),
    );
    let ec2_drift: Vec<String> = drift_instances
        .iter()
        .chain(&drift_groups)
        .cloned()
        .collect();
    if !ec2_drift.is_empty() {
        ec2.create_tags()
            .set_resources(Some(ec2_drift))
            .tags(ec2_tag("bench", "drifted"))
            .send()
            .await
            .map_err(sdk_err("CreateTags"))?;
    }
    for b in &drift_buckets {
        s3.put_bucket_tagging()
            .bucket(b)
            .tagging(s3_tagging(&[("bench", "drifted")])?)
            .send()
            .await
            .map_err(sdk_err("PutBucketTagging"))?;
    }
    if !terminated.is_empty() {
        ec2.terminate_instances()
            .set_instance_ids(Some(terminated.clone()))
            .send()
            .await
            .map_err(sdk_err("TerminateInstances"))?;
    }
    say(t0, "seeded");

    let mut changed: Vec<String> = drift_instances;
    changed.extend(drift_groups);
    changed.extend(drift_buckets);
    let live_instances: Vec<String> = instance_ids
        .iter()
        .filter(|id| !terminated.contains(id))
        .cloned()
        .collect();
    Ok(World {
        endpoint: endpoint.to_string(),
        concurrency,
        config_path,
        state_path,
        scale: scale.clone(),
        state_instances: instance_ids.len(),
        state_groups: group_ids.len(),
        state_buckets: managed_buckets.len(),
        live_instances,
        group_ids,
        managed_buckets,
        expected: Expected {
            missing: terminated,
            unmanaged: 3 * UNMANAGED_EACH,
            changed,
        },
        seed_secs: t0.elapsed().as_secs_f64(),
        sample: Default::default(),
    })
}

fn resource(rtype: &str, name: &str, attrs: Vec<Value>) -> Value {
    json!({
        "mode": "managed",
        "type": rtype,
        "name": name,
        "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
        "instances": attrs
            .into_iter()
            .enumerate()
            .map(|(i, a)| json!({"index_key": i, "schema_version": 1, "attributes": a}))
            .collect::<Vec<_>>(),
    })
}

fn tags_json<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<Map<String, Value>>(),
    )
}

fn instance_state(i: &Instance) -> Value {
    let id = i.instance_id().unwrap_or_default();
    let tags = tags_json(
        i.tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    );
    let mut a = Map::new();
    a.insert("id".into(), json!(id));
    a.insert(
        "arn".into(),
        json!(format!(
            "arn:aws:ec2:{}:{ACCOUNT}:instance/{id}",
            crate::world::REGION
        )),
    );
    a.insert(
        "instance_type".into(),
        json!(i.instance_type().map(|t| t.as_str()).unwrap_or_default()),
    );
    a.insert("ami".into(), json!(i.image_id().unwrap_or_default()));
    a.insert("tags".into(), tags.clone());
    a.insert("tags_all".into(), tags);
    a.insert(
        "vpc_security_group_ids".into(),
        json!(i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .collect::<Vec<_>>()),
    );
    a.insert("subnet_id".into(), json!(i.subnet_id().unwrap_or_default()));
    a.insert(
        "monitoring".into(),
        json!(i
            .monitoring()
            .and_then(|m| m.state())
            .is_some_and(|s| matches!(s.as_str(), "enabled" | "pending"))),
    );
    if let Some(b) = i.source_dest_check() {
        a.insert("source_dest_check".into(), json!(b));
    }
    if let Some(b) = i.ebs_optimized() {
        a.insert("ebs_optimized".into(), json!(b));
    }
    a.insert("iam_instance_profile".into(), json!(""));
    a.insert("key_name".into(), json!(i.key_name().unwrap_or_default()));
    a.insert("disable_api_termination".into(), json!(false));
    if let Some(mo) = i.metadata_options() {
        let mut o = Map::new();
        if let Some(v) = mo.http_endpoint() {
            o.insert("http_endpoint".into(), json!(v.as_str()));
        }
        if let Some(v) = mo.http_tokens() {
            o.insert("http_tokens".into(), json!(v.as_str()));
        }
        if let Some(v) = mo.http_put_response_hop_limit() {
            o.insert("http_put_response_hop_limit".into(), json!(v));
        }
        if let Some(v) = mo.instance_metadata_tags() {
            o.insert("instance_metadata_tags".into(), json!(v.as_str()));
        }
        a.insert("metadata_options".into(), json!([Value::Object(o)]));
    }
    Value::Object(a)
}

fn rule_blocks(perms: &[IpPermission]) -> Value {
    let blocks: Vec<Value> = perms
        .iter()
        .map(|p| {
            json!({
                "cidr_blocks": p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect::<Vec<_>>(),
                "ipv6_cidr_blocks": p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()).collect::<Vec<_>>(),
                "prefix_list_ids": p.prefix_list_ids().iter().filter_map(|r| r.prefix_list_id()).collect::<Vec<_>>(),
                "security_groups": p.user_id_group_pairs().iter().filter_map(|r| r.group_id()).collect::<Vec<_>>(),
                "self": false,
                "from_port": p.from_port().unwrap_or(0),
                "to_port": p.to_port().unwrap_or(0),
                "protocol": p.ip_protocol().unwrap_or("-1"),
                "description": "",
            })
        })
        .collect();
    Value::Array(blocks)
}

fn group_state(g: &SecurityGroup) -> Value {
    let id = g.group_id().unwrap_or_default();
    let tags = tags_json(
        g.tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    );
    json!({
        "id": id,
        "arn": format!("arn:aws:ec2:{}:{ACCOUNT}:security-group/{id}", crate::world::REGION),
        "name": g.group_name().unwrap_or_default(),
        "description": g.description().unwrap_or_default(),
        "vpc_id": g.vpc_id().unwrap_or_default(),
        "owner_id": ACCOUNT,
        "tags": tags,
        "tags_all": tags,
        "ingress": rule_blocks(g.ip_permissions()),
        "egress": rule_blocks(g.ip_permissions_egress()),
        "revoke_rules_on_delete": false,
    })
}

fn bucket_state(name: &str, tags: &Value, versioned: bool) -> Value {
    json!({
        "id": name,
        "bucket": name,
        "arn": format!("arn:aws:s3:::{name}"),
        "region": crate::world::REGION,
        "tags": tags,
        "tags_all": tags,
        "versioning": [{"enabled": versioned, "mfa_delete": false}],
        "server_side_encryption_configuration": [],
        "policy": "",
        "force_destroy": false,
    })
}
