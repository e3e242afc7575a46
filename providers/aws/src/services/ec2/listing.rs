//! Shared EC2 listings: one paginated `Describe*` per scope, read once for
//! every type that takes its live data from it.
//!
//! Why: EC2 types come in families that one call answers (a route table, its
//! routes and its associations are all in `DescribeRouteTables`). A type says
//! which [`Listing`] it reads (`Source::Ec2List`), how a desired resource
//! names the listed item it lives in (`parent`: the filter value) and how to
//! cut its own live resources out of one listed item (`extract`). The reader
//! makes each needed listing once: unfiltered when unmanaged resources are
//! looked for and one of its types is discoverable, else filtered by the
//! union of the parents (200 values a call), and not at all when no type
//! needs it. A failed listing makes every type of it unknown.
//!
//! A listed item is a canonical JSON map built once per SDK item (AWS field
//! names, tags as a `{key: value}` map without `aws:` keys), so types never
//! touch SDK structs and unit tests can use recorded responses as JSON.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_ec2::types::{Filter, Tag};
use aws_sdk_ec2::Client;
use driftd_core::{Desired, Live};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{InstanceFacts, SharedInstances};
use crate::registry::{AwsType, Source, TYPES};

/// One listed item, canonical JSON (see the module docs).
pub type Item = Map<String, Value>;

/// Read every item (filter values: `None` lists all; at most
/// [`super::FILTER_CHUNK`] values, the caller chunks).
pub type ReadFn =
    for<'a> fn(&'a Client, Option<Vec<String>>) -> BoxFuture<'a, Result<Vec<Item>, String>>;

/// Per-item extra calls made after the listing, only for what the desired
/// resources need (the scope's desired resources, a concurrency bound, and
/// the scope's instance facts, which can make a call unneeded). Idempotent:
/// run again over items it already enriched (for a [`EarlyListing`]'s part
/// of the state), it calls only for what is still missing and drops what the
/// scope's desired resources do not compare.
pub type EnrichFn = for<'a> fn(
    &'a Client,
    &'a mut [Item],
    &'a DesiredSet<'a>,
    usize,
    &'a SharedInstances,
) -> BoxFuture<'a, Result<(), String>>;

/// The items of a listing made from the scope's complete instance listing
/// instead of its own call (filter values as [`Plan::filter`]).
pub type FromInstancesFn = fn(&InstanceFacts, Option<&BTreeSet<String>>) -> Vec<Item>;

/// A shared listing, declared once (under `services/ec2/`).
#[derive(Debug)]
pub struct Listing {
    /// The API operation (also its IAM action after `ec2:`).
    pub operation: &'static str,
    /// The filter the parent ids go into (`vpc-id`).
    pub filter: &'static str,
    pub read: ReadFn,
    /// Extra per-item calls (`DescribeVpcAttribute`), if any.
    pub enrich: Option<EnrichFn>,
    /// The items from the scope's [`InstanceFacts`] when they are there
    /// (one `DescribeInstances` a scope); `read` is the fallback.
    pub from_instances: Option<FromInstancesFn>,
}

/// How a type cuts its live resources out of one listed item.
pub type ExtractFn = fn(&Item, &DesiredSet<'_>) -> Vec<(String, Live)>;
/// The id of the listed item a desired resource lives in (`None`: cannot
/// tell, the listing is then made unfiltered).
pub type ParentFn = fn(&Desired) -> Option<String>;
/// A cross-resource rule applied to a type's projection after every
/// resource of the scope is projected (inline routes owned by `aws_route`).
pub type SettleFn = fn(&mut Desired, &DesiredSet<'_>);

/// A scope's desired resources, indexed by type, and the listings' own
/// types also by (type, id).
///
/// Why: a listing's types look desired resources up for every listed item
/// (is this route table adopted as a default one, which routes are
/// standalone, which VPC attributes does the state set). A scan of the
/// whole scope per listed item was quadratic: at 100,000 instances and 400
/// route tables it was 1.5 s of the scan, after every read had finished.
pub struct DesiredSet<'a> {
    by_type: HashMap<&'a str, Vec<&'a Desired>>,
    by_id: HashMap<(&'a str, &'a str), Vec<&'a Desired>>,
}

impl<'a> DesiredSet<'a> {
    /// Index `all` (one pass; the id index only over the types read from a
    /// listing: at 100,000 instances one over every resource would be
    /// megabytes for lookups no listing makes).
    pub fn new(all: &'a [Desired]) -> Self {
        let mut by_type: HashMap<&str, Vec<&Desired>> = HashMap::new();
        for d in all {
            by_type.entry(d.rtype.as_str()).or_default().push(d);
        }
        let mut by_id: HashMap<(&str, &str), Vec<&Desired>> = HashMap::new();
        for (t, ds) in &by_type {
            if listed(t) {
                for d in ds {
                    by_id.entry((*t, d.id.as_str())).or_default().push(*d);
                }
            }
        }
        Self { by_type, by_id }
    }

    /// The desired resources of one type, in state order.
    pub fn of_type(&self, rtype: &str) -> impl Iterator<Item = &'a Desired> + '_ {
        self.by_type.get(rtype).into_iter().flatten().copied()
    }

    /// The desired resources of this type with this id, in state order (two
    /// stacks of a scope may manage one resource).
    pub fn with_id<'s>(
        &'s self,
        rtype: &'s str,
        id: &'s str,
    ) -> Box<dyn Iterator<Item = &'a Desired> + 's> {
        if listed(rtype) {
            Box::new(self.by_id.get(&(rtype, id)).into_iter().flatten().copied())
        } else {
            Box::new(self.of_type(rtype).filter(move |d| d.id == id))
        }
    }

    /// The first desired resource of this type with this id.
    pub fn get(&self, rtype: &str, id: &str) -> Option<&'a Desired> {
        self.with_id(rtype, id).next()
    }

    /// Whether a desired resource of this type has this id.
    pub fn has(&self, rtype: &str, id: &str) -> bool {
        self.get(rtype, id).is_some()
    }
}

/// Whether a type is read from a shared listing (its ids are indexed).
fn listed(rtype: &str) -> bool {
    static LISTED: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    LISTED
        .get_or_init(|| {
            TYPES
                .iter()
                .filter(|t| ec2_list(t).is_some())
                .map(|t| t.info.name)
                .collect()
        })
        .contains(rtype)
}

/// One listing to make in a scope and the types it serves.
#[derive(Debug)]
pub struct Plan {
    pub listing: &'static Listing,
    pub types: Vec<&'static AwsType>,
    /// `None`: unfiltered; `Some`: these filter values.
    pub filter: Option<BTreeSet<String>>,
}

fn ec2_list(t: &AwsType) -> Option<(&'static Listing, ParentFn)> {
    match t.source {
        Source::Ec2List {
            listing, parent, ..
        } => Some((listing, parent)),
        _ => None,
    }
}

/// The listings a scope needs, in registry order.
pub fn plans(desired: &DesiredSet<'_>, discover: bool) -> Vec<Plan> {
    let mut out: Vec<Plan> = Vec::new();
    for t in TYPES.iter().copied() {
        let Some((listing, _)) = ec2_list(t) else {
            continue;
        };
        match out.iter_mut().find(|p| std::ptr::eq(p.listing, listing)) {
            Some(p) => p.types.push(t),
            None => out.push(Plan {
                listing,
                types: vec![t],
                filter: Some(BTreeSet::new()),
            }),
        }
    }
    for p in &mut out {
        let unfiltered = discover && p.types.iter().any(|t| t.info.discoverable);
        let mut values = BTreeSet::new();
        let mut any = false;
        let mut all = unfiltered;
        for t in &p.types {
            let (_, parent) = ec2_list(t).expect("ec2 list type");
            for d in desired.of_type(t.info.name) {
                any = true;
                match parent(d) {
                    Some(v) if !v.is_empty() => {
                        values.insert(v);
                    }
                    Some(_) => {}
                    None => all = true,
                }
            }
        }
        p.filter = if all {
            None
        } else if any {
            Some(values)
        } else {
            Some(BTreeSet::new())
        };
    }
    out
}

/// A scope's full listing and its extra calls, started before the whole
/// state is parsed, for the desired resources a quick first pass over the
/// state found (`driftd::state::skim`): the calls only the state can decide
/// (`DescribeVpcAttribute`, two per VPC) are paced by the action's token
/// bucket, so they are the long pole of a scope with many VPCs, and they
/// start while the rest of the state is still being parsed. The read takes
/// its items and enriches them again with the whole scope
/// ([`EnrichFn`] is idempotent), so the result is the one it would have
/// read; the calls are the same as long as the pass found what the parse
/// finds. Dropped unused (the scope does not list in full after all), its
/// task stops.
pub struct EarlyListing {
    pub listing: &'static Listing,
    task: Option<tokio::task::JoinHandle<Result<Vec<Item>, String>>>,
}

impl std::fmt::Debug for EarlyListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EarlyListing({})", self.listing.operation)
    }
}

impl Drop for EarlyListing {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl EarlyListing {
    /// List `listing` in full on `client` now, and make its extra calls for
    /// `desired` (the resources found so far, of the types it reads).
    pub fn start(
        client: &Client,
        listing: &'static Listing,
        desired: Vec<Desired>,
        concurrency: usize,
    ) -> Self {
        let client = client.clone();
        let task = tokio::spawn(async move {
            let mut items = (listing.read)(&client, None).await?;
            if let Some(enrich) = listing.enrich {
                let set = DesiredSet::new(&desired);
                enrich(
                    &client,
                    &mut items,
                    &set,
                    concurrency,
                    &SharedInstances::none(),
                )
                .await?;
            }
            Ok(items)
        });
        Self {
            listing,
            task: Some(task),
        }
    }

    /// Its items, or `None` when it failed (the read lists again and reports
    /// its own error).
    async fn items(mut self) -> Option<Vec<Item>> {
        match self.task.take()?.await {
            Ok(Ok(items)) => Some(items),
            Ok(Err(e)) => {
                tracing::debug!(listing = self.listing.operation, error = %e, "early listing failed");
                None
            }
            Err(_) => None,
        }
    }
}

impl Plan {
    /// Whether the listing is made at all.
    pub fn needed(&self) -> bool {
        self.filter.as_ref().is_none_or(|f| !f.is_empty())
    }

    /// Make the listing (chunked) and its extra calls. A listing that can
    /// be made from the scope's instance facts waits for them and makes its
    /// own call only when there are none; their error is its error.
    pub async fn run(
        &self,
        client: &Client,
        desired: &DesiredSet<'_>,
        concurrency: usize,
        instances: &SharedInstances,
    ) -> Result<Vec<Item>, String> {
        self.run_from(client, desired, concurrency, instances, None)
            .await
    }

    /// [`Plan::run`], taking the items of `early` (this listing, in full)
    /// when the plan is the full listing too.
    pub async fn run_from(
        &self,
        client: &Client,
        desired: &DesiredSet<'_>,
        concurrency: usize,
        instances: &SharedInstances,
        early: Option<EarlyListing>,
    ) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        if !self.needed() {
            return Ok(items);
        }
        let early = match early {
            Some(e) if self.filter.is_none() && std::ptr::eq(e.listing, self.listing) => {
                e.items().await
            }
            _ => None,
        };
        if let Some(mut items) = early {
            if let Some(enrich) = self.listing.enrich {
                enrich(client, &mut items, desired, concurrency, instances).await?;
            }
            return Ok(items);
        }
        let shared = match self.listing.from_instances {
            Some(from) => match instances.get().await {
                Some(facts) => Some(from(&*facts?, self.filter.as_ref())),
                None => None,
            },
            None => None,
        };
        match (&self.filter, shared) {
            (_, Some(shared)) => items = shared,
            (None, None) => items = (self.listing.read)(client, None).await?,
            (Some(values), None) => {
                let values: Vec<String> = values.iter().cloned().collect();
                for chunk in values.chunks(super::FILTER_CHUNK) {
                    items.extend((self.listing.read)(client, Some(chunk.to_vec())).await?);
                }
            }
        }
        if let Some(enrich) = self.listing.enrich {
            enrich(client, &mut items, desired, concurrency, instances).await?;
        }
        Ok(items)
    }

    /// Each type's live resources from the listed items.
    pub fn extract(
        &self,
        items: &[Item],
        desired: &DesiredSet<'_>,
    ) -> Vec<(&'static str, BTreeMap<String, Live>)> {
        self.types
            .iter()
            .map(|t| {
                let Source::Ec2List { extract, .. } = t.source else {
                    unreachable!("planned types read a listing")
                };
                let live: BTreeMap<String, Live> =
                    items.iter().flat_map(|i| extract(i, desired)).collect();
                (t.info.name, live)
            })
            .collect()
    }
}

/// Apply the types' [`SettleFn`]s to a projected scope.
pub fn settle(out: &mut [Desired]) {
    // The registry is asked once a type, not once a resource.
    let mut hook_of: HashMap<&str, Option<SettleFn>> = HashMap::new();
    let hooks: Vec<(usize, SettleFn)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let hook = *hook_of.entry(d.rtype.as_str()).or_insert_with(|| {
                match crate::registry::get(&d.rtype).map(|t| t.source) {
                    Some(Source::Ec2List {
                        settle: Some(f), ..
                    }) => Some(f),
                    _ => None,
                }
            });
            hook.map(|f| (i, f))
        })
        .collect();
    drop(hook_of);
    if hooks.is_empty() {
        return;
    }
    // Every hook sees the scope as projected (none sees another's result):
    // settle copies of the hooked resources, then put them back. Copying
    // the whole scope instead doubled the heap of a 100,000-instance scan.
    let scope = DesiredSet::new(out);
    let settled: Vec<(usize, Desired)> = hooks
        .into_iter()
        .map(|(i, f)| {
            let mut d = out[i].clone();
            f(&mut d, &scope);
            (i, d)
        })
        .collect();
    drop(scope);
    for (i, d) in settled {
        out[i] = d;
    }
}

// ---- helpers for listings and types ----

/// An EC2 filter.
pub fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// A string field (absent and `""` both become `""`: moto renders absent
/// values as empty elements).
pub fn s(v: Option<&str>) -> Value {
    json!(v.unwrap_or_default())
}

/// EC2 tags as a canonical map, `aws:` keys dropped.
pub fn tags(t: &[Tag]) -> Value {
    crate::normalize::tags_from_pairs(
        t.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

/// A string field of an item (`""` when absent).
pub fn get<'a>(i: &'a Item, key: &str) -> &'a str {
    i.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A string attribute of a desired resource (`""` when absent).
pub fn attr<'a>(d: &'a Desired, key: &str) -> &'a str {
    d.attrs.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A live resource.
pub fn live(id: &str, attrs: Map<String, Value>) -> Live {
    Live {
        id: id.to_string(),
        attrs,
        ..Default::default()
    }
}

/// The parent id is the resource's own id.
pub fn own_id(d: &Desired) -> Option<String> {
    Some(d.id.clone())
}

/// Run `read` over every page of a paginated call with an optional filter.
#[macro_export]
macro_rules! ec2_pages {
    ($client:expr, $op:literal, $call:ident, $filter:expr, $values:expr, $field:ident, $conv:expr) => {
        $crate::ec2_pages!($client, $op, $call, filters $filter, $values, $field, $conv)
    };
    // `filter` or `filters`: the SDK's name of the request's filter list
    // (DescribeNatGateways and DescribeFlowLogs say `Filter`).
    ($client:expr, $op:literal, $call:ident, $set:ident $filter:expr, $values:expr, $field:ident, $conv:expr) => {{
        let mut req = $client.$call();
        if let Some(v) = $values {
            req = req.$set($crate::services::ec2::listing::filter($filter, &v));
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| format!("{}: {}", $op, $crate::errors::describe(&e)))?;
            for x in page.$field() {
                out.push($conv(x));
            }
        }
        Ok(out)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(rtype: &str, id: &str, address: &str) -> Desired {
        Desired {
            address: address.into(),
            rtype: rtype.into(),
            id: id.into(),
            attrs: Map::new().into(),
        }
    }

    /// The index answers what a scan of the scope answered: by type in
    /// state order, every resource of one (type, id) (two stacks may manage
    /// one VPC), the first of them for `get`; types read elsewhere (not
    /// id-indexed) by a scan of their own type.
    #[test]
    fn the_scope_index_answers_as_a_scan_would() {
        let all = vec![
            desired("aws_vpc", "vpc-1", "a.aws_vpc.main"),
            desired("aws_instance", "i-1", "a.aws_instance.web"),
            desired("aws_subnet", "subnet-1", "a.aws_subnet.a"),
            desired("aws_vpc", "vpc-1", "b.aws_vpc.shared"),
            desired("aws_vpc", "vpc-2", "a.aws_vpc.other"),
        ];
        let set = DesiredSet::new(&all);
        let held: usize = ["aws_vpc", "aws_instance", "aws_subnet"]
            .iter()
            .map(|t| set.of_type(t).count())
            .sum();
        assert_eq!(held, 5);
        let vpcs: Vec<&str> = set.of_type("aws_vpc").map(|d| d.address.as_str()).collect();
        assert_eq!(
            vpcs,
            ["a.aws_vpc.main", "b.aws_vpc.shared", "a.aws_vpc.other"]
        );
        let both: Vec<&str> = set
            .with_id("aws_vpc", "vpc-1")
            .map(|d| d.address.as_str())
            .collect();
        assert_eq!(both, ["a.aws_vpc.main", "b.aws_vpc.shared"]);
        assert_eq!(
            set.get("aws_vpc", "vpc-1").map(|d| d.address.as_str()),
            Some("a.aws_vpc.main")
        );
        assert!(set.has("aws_subnet", "subnet-1"));
        assert!(!set.has("aws_subnet", "vpc-1"));
        assert!(!set.has("aws_default_vpc", "vpc-1"));
        // aws_instance is read by its own listing, not indexed by id.
        assert!(set.has("aws_instance", "i-1"));
        assert!(!set.has("aws_instance", "i-2"));
        assert_eq!(set.of_type("aws_route_table").count(), 0);
    }

    /// An enrichment run again over items it enriched for part of the
    /// state (an [`EarlyListing`]'s) keeps what the whole scope compares,
    /// drops what it does not, and calls for nothing it already has (the
    /// client here answers nothing: a call would fail the test).
    #[tokio::test]
    async fn the_vpc_enrichment_is_idempotent() {
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let client = Client::from_conf(conf);
        let mut main = desired("aws_vpc", "vpc-1", "a.aws_vpc.main");
        main.attrs = json!({"enable_dns_support": true})
            .as_object()
            .unwrap()
            .clone()
            .into();
        let all = vec![main];
        let set = DesiredSet::new(&all);
        let item = |id: &str| -> Item {
            json!({"VpcId": id, "EnableDnsSupport": false, "EnableDnsHostnames": true})
                .as_object()
                .unwrap()
                .clone()
        };
        let mut items = vec![item("vpc-1"), item("vpc-2")];
        let enrich = super::super::net::VPCS.enrich.unwrap();
        enrich(&client, &mut items, &set, 4, &SharedInstances::none())
            .await
            .unwrap();
        assert_eq!(
            Value::Array(items.into_iter().map(Value::Object).collect()),
            json!([{"VpcId": "vpc-1", "EnableDnsSupport": false}, {"VpcId": "vpc-2"}])
        );
    }
}
