//! The three scenarios. Each runs in its own process (so its peak RSS is its
//! own), builds its clients inside the timed region, and counts every attempt
//! with the same `ApiCalls` interceptor driftd uses.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_ec2::types::Filter;
use aws_sdk_s3::error::ProvideErrorMetadata;
use driftd::aws::{ApiCalls, Clients};
use driftd::report::DriftKind;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::world::{
    client_options, raw_client_options, target, FoundDrift, Phase, ScenarioOut, World,
};

fn sdk_err<E: std::error::Error>(op: &'static str) -> impl FnOnce(E) -> anyhow::Error {
    move |e| anyhow!("{op}: {}", aws_sdk_ec2::error::DisplayErrorContext(e))
}

/// An S3 "not configured" answer is a normal answer, not a failure.
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

/// driftd's scan, through the library entry point the CLI uses.
pub async fn driftd_scan(world: &World) -> Result<ScenarioOut> {
    driftd_scan_config(&world.config_path).await
}

/// driftd's scan of the config at `config_path`.
pub async fn driftd_scan_config(config_path: &std::path::Path) -> Result<ScenarioOut> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config = driftd::config::parse(&text, config_path, &driftd::env::MapEnv::default())
        .map_err(|e| anyhow!("{e}"))?;
    let calls = ApiCalls::new();
    let options = driftd::scan::ScanOptions {
        client: client_options(),
        ..Default::default()
    };
    let t = Instant::now();
    let report = driftd::scan::run(&config, &options, &calls).await;
    let wall_secs = t.elapsed().as_secs_f64();

    let mut drifts = Vec::new();
    let mut stack_errors = Vec::new();
    let flatten = |d: &driftd::report::Drift| FoundDrift {
        kind: d.kind.as_str().to_string(),
        rtype: d.rtype.clone(),
        id: d.id.clone(),
        attributes: d
            .attributes
            .iter()
            .map(|a| format!("{}: {} -> {}", a.path, a.expected, a.actual))
            .collect(),
    };
    for s in &report.stacks {
        drifts.extend(s.drifts.iter().map(flatten));
        stack_errors.extend(s.errors.iter().cloned());
        stack_errors.extend(
            s.unknown
                .iter()
                .map(|u| format!("unknown {}: {}", u.id, u.reason)),
        );
    }
    for s in &report.unmanaged {
        drifts.extend(
            s.drifts
                .iter()
                .filter(|d| d.kind == DriftKind::Unmanaged)
                .map(flatten),
        );
        if let Some(r) = &s.reason {
            stack_errors.push(format!("unmanaged scope {}: {r}", s.region));
        }
    }
    Ok(ScenarioOut {
        wall_secs,
        calls: calls.by_operation(),
        phases: vec![],
        summary: Some(serde_json::to_value(&report.summary)?),
        drifts,
        stack_errors,
    })
}

/// The minimal call set driftd needs, made with the raw SDK clients: the
/// floor on this emulator.
pub async fn minimal(world: &World) -> Result<ScenarioOut> {
    let calls = ApiCalls::new();
    let t = Instant::now();
    let c = Clients::new(&target(&world.endpoint), &raw_client_options(), &calls).await;
    let ec2 = &c.ec2;
    let s3 = &c.s3;
    let conc = world.concurrency.max(1);

    let instances = async {
        let states: Vec<String> = ["pending", "running", "stopping", "stopped"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut n = 0usize;
        let mut pages = ec2
            .describe_instances()
            .max_results(1000)
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(states))
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err("DescribeInstances"))?;
            n += page
                .reservations()
                .iter()
                .map(|r| r.instances().len())
                .sum::<usize>();
        }
        Ok::<_, anyhow::Error>(n)
    };
    let groups = async {
        let mut n = 0usize;
        let mut pages = ec2
            .describe_security_groups()
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            n += page
                .map_err(sdk_err("DescribeSecurityGroups"))?
                .security_groups()
                .len();
        }
        Ok::<_, anyhow::Error>(n)
    };
    let buckets = async {
        let mut listed: Vec<(String, Option<String>)> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = s3
                .list_buckets()
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(sdk_err("ListBuckets"))?;
            listed.extend(out.buckets().iter().filter_map(|b| {
                b.name()
                    .map(|n| (n.to_string(), b.bucket_region().map(str::to_string)))
            }));
            token = out.continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let managed: BTreeSet<&str> = world.managed_buckets.iter().map(String::as_str).collect();
        let present: Vec<&str> = listed
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| managed.contains(n))
            .collect();
        stream::iter(present)
            .map(|b| async move {
                s3_ok(
                    "GetBucketTagging",
                    s3.get_bucket_tagging().bucket(b).send().await,
                )?;
                s3_ok(
                    "GetBucketVersioning",
                    s3.get_bucket_versioning().bucket(b).send().await,
                )?;
                Ok::<_, anyhow::Error>(())
            })
            .buffer_unordered(conc)
            .try_collect::<Vec<_>>()
            .await?;
        let candidates: Vec<&str> = listed
            .iter()
            .filter(|(n, r)| !managed.contains(n.as_str()) && r.is_none())
            .map(|(n, _)| n.as_str())
            .collect();
        stream::iter(candidates)
            .map(|b| async move {
                s3.get_bucket_location()
                    .bucket(b)
                    .send()
                    .await
                    .map_err(sdk_err("GetBucketLocation"))?;
                Ok::<_, anyhow::Error>(())
            })
            .buffer_unordered(conc)
            .try_collect::<Vec<_>>()
            .await?;
        Ok::<_, anyhow::Error>(listed.len())
    };
    let (i, g, b) = tokio::join!(instances, groups, buckets);
    let (i, g, b) = (i?, g?, b?);
    let wall_secs = t.elapsed().as_secs_f64();
    if i < world.live_instances.len()
        || g < world.group_ids.len()
        || b < world.managed_buckets.len()
    {
        bail!("the minimal replay saw {i} instances, {g} groups, {b} buckets: fewer than seeded");
    }
    Ok(ScenarioOut {
        wall_secs,
        calls: calls.by_operation(),
        ..Default::default()
    })
}

/// The per-resource pattern (as a `terraform refresh` does): one describe per
/// resource, concurrency as configured, on the sample of `world.sample`
/// (instances, groups) and on every managed bucket. Timed per phase so the
/// parent can extrapolate each type linearly to its full count.
pub async fn per_resource(world: &World) -> Result<ScenarioOut> {
    let calls = ApiCalls::new();
    let t = Instant::now();
    let c = Clients::new(&target(&world.endpoint), &raw_client_options(), &calls).await;
    let ec2 = &c.ec2;
    let s3 = &c.s3;
    let conc = world.concurrency.max(1);
    let mut phases = Vec::new();

    let before = calls.total();
    let tp = Instant::now();
    stream::iter(world.sample.instances.iter())
        .map(|id| async move {
            let out = ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(sdk_err("DescribeInstances"))?;
            if out.reservations().is_empty() {
                bail!("DescribeInstances {id}: not found");
            }
            Ok(())
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    phases.push(Phase {
        name: "instances".into(),
        secs: tp.elapsed().as_secs_f64(),
        calls: calls.total() - before,
        items: world.sample.instances.len(),
    });

    let before = calls.total();
    let tp = Instant::now();
    stream::iter(world.sample.groups.iter())
        .map(|id| async move {
            ec2.describe_security_groups()
                .group_ids(id)
                .send()
                .await
                .map_err(sdk_err("DescribeSecurityGroups"))?;
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    phases.push(Phase {
        name: "groups".into(),
        secs: tp.elapsed().as_secs_f64(),
        calls: calls.total() - before,
        items: world.sample.groups.len(),
    });

    let before = calls.total();
    let tp = Instant::now();
    stream::iter(world.managed_buckets.iter())
        .map(|b| async move {
            s3.head_bucket()
                .bucket(b)
                .send()
                .await
                .map_err(sdk_err("HeadBucket"))?;
            s3_ok(
                "GetBucketTagging",
                s3.get_bucket_tagging().bucket(b).send().await,
            )?;
            s3_ok(
                "GetBucketVersioning",
                s3.get_bucket_versioning().bucket(b).send().await,
            )?;
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    phases.push(Phase {
        name: "buckets".into(),
        secs: tp.elapsed().as_secs_f64(),
        calls: calls.total() - before,
        items: world.managed_buckets.len(),
    });

    Ok(ScenarioOut {
        wall_secs: t.elapsed().as_secs_f64(),
        calls: calls.by_operation(),
        phases,
        ..Default::default()
    })
}
