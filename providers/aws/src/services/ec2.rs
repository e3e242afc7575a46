//! EC2 live reads: instances, security groups and their rules.
//!
//! Why it looks like this: EC2 answers one paginated `Describe*` call with a
//! thousand resources, so driftd never asks per resource when a page will do.
//! With unmanaged discovery on, each type is listed in full (it has to be);
//! without it, the read is narrowed by an id filter, 200 ids a call. The only
//! per-resource call is `DescribeInstanceAttribute` (EC2 offers no batch for
//! `disable_api_termination`), made only for instances whose state needs it,
//! with bounded concurrency.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::types::{Filter, Instance, InstanceAttributeName, IpPermission, SecurityGroup};
use aws_sdk_ec2::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use driftd_core::{Attrs, Desired, Live};
use futures::channel::oneshot;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use crate::normalize::{rule_key, tags_from_pairs, Peer};
use crate::schema::{strip_standalone, vpc_rule, StandaloneRules, AWS_SECURITY_GROUP_RULE};

/// Filter values per request: EC2's documented limit for one filter.
pub const FILTER_CHUNK: usize = 200;
/// Page size for list calls (EC2's maximum).
pub const PAGE_SIZE: i32 = 1000;

pub type ReadResult = Result<BTreeMap<String, Live>, String>;

fn err<E: std::error::Error + 'static>(op: &str, e: E) -> String {
    format!("{op}: {}", crate::errors::describe(&e))
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// Chunks of ids for filtered reads, or one `None` meaning "list everything".
fn id_chunks(ids: &BTreeSet<String>, discover: bool) -> Vec<Option<Vec<String>>> {
    if discover {
        return vec![None];
    }
    let ids: Vec<String> = ids.iter().cloned().collect();
    ids.chunks(FILTER_CHUNK).map(|c| Some(c.to_vec())).collect()
}

const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped"];

fn live_states() -> Vec<String> {
    LIVE_STATES.iter().map(|s| s.to_string()).collect()
}

/// When to split a scope's full `DescribeInstances` listing (discovery) into
/// disjoint listings run in parallel, each filtered by a group of
/// availability zones.
///
/// A `NextToken` chain is sequential: 100,000 instances are 100 pages one
/// after another. Every instance is placed in exactly one zone of its region
/// and `DescribeAvailabilityZones` with `AllAvailabilityZones` lists every
/// zone of the region (Local and Wavelength Zones too, opted in or not), so
/// listings filtered by `availability-zone` over disjoint groups of those
/// zones are a partition of the full listing: the same instances, each once.
/// The zones are dealt into `parts` groups (the filter takes several values),
/// so a region's 20-odd zones cost no more calls than 4 would.
///
/// A split pays only where the chain waits more than it works: parallel
/// chains overlap their waits, but their decoding (about 50 ms of CPU a
/// page of 1,000 instances here) still needs a core each. EC2's real pages
/// of 1,000 take 1-3 s to answer, so there the split is a gain of up to
/// `parts` times on the chain; where a page is answered at once, parallel
/// chains only crowd the CPU the scope's other reads need (on the replay
/// benchmark at 0 and 50 ms a call, with 2,000 buckets, a split made the
/// scope 1-4 s slower on 2 cores). So the full chain's first page is
/// fetched as a probe, its time split into the wait for its answer and the
/// reading and decoding after, and the split made only if the wait was over
/// `slow_page` times the rest (then `parts` chains need under a core for
/// decoding). Otherwise the chain goes on from that page, which is then not
/// an extra call.
///
/// Extra calls, at most: the zone call, the probe page, one partial page per
/// group but one (the pages of `n` instances in `k` groups are at most
/// `ceil(n / 1000) + k - 1`), and one call confirming the managed instances
/// the split did not find (see [`read_instances_sharing`]): `parts + 2` in
/// all, which must be within `max_overhead` of the minimal page count.
/// Hence no split below 80 pages (4 calls are 5% of 80), and only when the
/// scope's state manages more than `above` instances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitListing {
    /// Managed instances in the scope above which a split is considered
    /// (`scan.split_listing_above`).
    pub above: usize,
    /// Extra calls allowed, as a share of the minimal page count.
    pub max_overhead: f64,
    /// How many times its reading and decoding the probe page's wait must
    /// be for the split to be made (0: always; infinite: never).
    pub slow_page: f64,
}

/// Default `scan.split_listing_above`: 20 pages, so the one zone call is at most 5%.
pub const DEFAULT_SPLIT_ABOVE: usize = 20_000;

impl Default for SplitListing {
    fn default() -> Self {
        Self {
            above: DEFAULT_SPLIT_ABOVE,
            max_overhead: 0.05,
            slow_page: 2.0,
        }
    }
}

impl SplitListing {
    /// Worth a zone call for this many managed instances?
    pub fn considers(&self, managed: usize) -> bool {
        managed > self.above
    }

    /// Into how many listings to split a listing of at least `managed`
    /// instances in a region of `zones` zones (1: not split).
    pub fn parts(&self, managed: usize, zones: usize) -> usize {
        let pages = managed.div_ceil(PAGE_SIZE as usize).max(1) as f64;
        let budget = (self.max_overhead * pages).floor();
        // `parts + 2` extra calls at most (see the type's docs).
        let by_budget = if budget.is_finite() {
            (budget as usize).saturating_sub(2)
        } else {
            usize::MAX
        };
        match zones.min(by_budget) {
            k if k >= 2 => k,
            _ => 1,
        }
    }

    /// Is a page that waited `wait` for its answer and took `rest` to read
    /// and decode slow enough for a split to pay?
    pub fn slow(&self, wait: std::time::Duration, rest: std::time::Duration) -> bool {
        wait.as_secs_f64() > self.slow_page * rest.as_secs_f64()
    }

    /// Split at all?
    pub fn splits(&self, managed: usize, zones: usize) -> bool {
        self.parts(managed, zones) > 1
    }
}

/// A zone of the region: its name, and whether it is an Availability Zone
/// (rather than a Local or Wavelength Zone, where few instances run).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Zone {
    local: bool,
    name: String,
}

/// Every zone of the client's region, whatever its opt-in status: an
/// instance can be in no other.
async fn zones(client: &Client) -> Result<Vec<Zone>, String> {
    let out = client
        .describe_availability_zones()
        .all_availability_zones(true)
        .send()
        .await
        .map_err(|e| err("DescribeAvailabilityZones", e))?;
    let mut z: Vec<Zone> = out
        .availability_zones()
        .iter()
        .filter_map(|z| {
            Some(Zone {
                local: z.zone_type().is_some_and(|t| t != "availability-zone"),
                name: z.zone_name()?.to_string(),
            })
        })
        .collect();
    z.sort();
    z.dedup();
    Ok(z)
}

/// `zones` dealt into `parts` groups in turn, the Availability Zones first
/// (sorted: they hold most instances, so each group gets its share of them),
/// then the Local and Wavelength Zones.
fn zone_groups(zones: &[Zone], parts: usize) -> Vec<Vec<String>> {
    let mut groups = vec![Vec::new(); parts.max(1)];
    for (i, z) in zones.iter().enumerate() {
        groups[i % parts.max(1)].push(z.name.clone());
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// One request's time in two: from sending to its answer's headers (the
/// wait: network and server), and from there to its output (reading the
/// body and deserializing it). Set by the SDK's interceptor hooks; a retried
/// request keeps its last attempt's.
#[derive(Debug, Default, Clone)]
struct Phases(Arc<std::sync::Mutex<[Option<Instant>; 3]>>);

impl Phases {
    fn mark(&self, i: usize) {
        self.0.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(Instant::now());
    }

    /// (wait, rest); zero where a hook did not run (a failed request).
    fn split(&self) -> (std::time::Duration, std::time::Duration) {
        let t = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        let between = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => std::time::Duration::ZERO,
        };
        (between(t[0], t[1]), between(t[1], t[2]))
    }
}

impl Intercept for Phases {
    fn name(&self) -> &'static str {
        "driftd-split-probe"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.mark(0);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.mark(1);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        _: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.mark(2);
        Ok(())
    }
}

/// What a scope's complete instance listing (discovery: every live
/// instance, `pending` to `stopped`) tells the other reads of the scope, so
/// that they make no `DescribeInstances` call of their own: the
/// `aws_ec2_instance_state` listing takes the states, the root-volume check
/// of the volume listing the launch volumes (see
/// [`compute::VOLUMES`]). Small facts, taken from each
/// page as it is converted (the pages are not kept).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InstanceFacts {
    /// `State.Name` of every listed instance, by instance id.
    pub states: HashMap<String, String>,
    /// The volumes created with their (listed) instance: see [`launch_volumes`].
    pub launch_volumes: HashSet<String>,
}

impl InstanceFacts {
    fn add(&mut self, i: &Instance) {
        let Some(id) = i.instance_id() else { return };
        let state = i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str())
            .unwrap_or_default();
        self.states.insert(id.to_string(), state.to_string());
        self.launch_volumes
            .extend(launch_volumes(i).map(str::to_string));
    }

    fn extend(&mut self, other: InstanceFacts) {
        // One part (an unsplit listing): taken whole, not rehashed.
        if self.states.is_empty() && self.launch_volumes.is_empty() {
            *self = other;
            return;
        }
        self.states.extend(other.states);
        self.launch_volumes.extend(other.launch_volumes);
    }
}

/// The volumes of an instance that were created with it: its root device,
/// or a launch-time block device mapping deleted with the instance
/// (`ebs_block_device` of `aws_instance`: Terraform manages it there). A
/// volume attached later keeps `DeleteOnTermination = false` unless changed.
/// The root is matched by the mapping, not by the attachment's device name:
/// moto attaches the root at `/dev/sda1` whatever the image's
/// `RootDeviceName` says.
pub fn launch_volumes(i: &Instance) -> impl Iterator<Item = &str> {
    let root = i.root_device_name().unwrap_or_default();
    i.block_device_mappings().iter().filter_map(move |m| {
        let ebs = m.ebs()?;
        let with_instance =
            m.device_name() == Some(root) || ebs.delete_on_termination() == Some(true);
        with_instance.then(|| ebs.volume_id()).flatten()
    })
}

/// The facts of a complete listing, or the listing's error (which the
/// reads depending on it then fail with, as their own call failing would).
pub type FactsResult = Result<Arc<InstanceFacts>, String>;

/// Where the instance read publishes [`InstanceFacts`]: sent once its
/// complete listing is made (all zones of a split listing together), or
/// dropped unsent when it makes none (discovery off: id-filtered reads).
pub type FactsSender = oneshot::Sender<FactsResult>;

/// The scope's instance facts, awaited by the reads that can use them;
/// `None` when there are none (no complete listing, or the instance read
/// was dropped, at the scan deadline): the reader then makes its own call.
#[derive(Clone)]
pub struct SharedInstances(Option<Shared<BoxFuture<'static, Option<FactsResult>>>>);

impl std::fmt::Debug for SharedInstances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "SharedInstances(awaited)"
        } else {
            "SharedInstances(none)"
        })
    }
}

impl SharedInstances {
    /// No complete listing in this scope: readers make their own calls.
    pub fn none() -> Self {
        Self(None)
    }

    /// A sender for the instance read and the shared side for the others.
    pub fn channel() -> (FactsSender, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self(Some(rx.map(Result::ok).boxed().shared())))
    }

    /// Facts already made (tests, recorded responses).
    pub fn ready(facts: FactsResult) -> Self {
        Self(Some(futures::future::ready(Some(facts)).boxed().shared()))
    }

    /// Wait for the facts (`None`: there are none, make your own call).
    pub async fn get(&self) -> Option<FactsResult> {
        match &self.0 {
            None => None,
            Some(f) => f.clone().await,
        }
    }
}

/// What one listing of instances produced: the live instances, the root
/// volume of each managed instance whose state describes it, and (for a
/// full listing) the facts other reads use.
#[derive(Default)]
struct Part {
    live: BTreeMap<String, Live>,
    root_volume_of: HashMap<String, String>,
    facts: InstanceFacts,
}

/// Pages of one `NextToken` chain, fetched (and deserialized, on another
/// runtime thread) by a task of their own ahead of their conversion, at most
/// the channel's capacity waiting. Dropped (a deadline, an error), the fetch
/// stops with it.
struct Feed {
    rx: tokio::sync::mpsc::Receiver<Result<DescribeInstancesOutput, String>>,
    fetch: AbortOnDrop,
}

/// Where a feed's fetch task sends its pages.
type PageSender = tokio::sync::mpsc::Sender<Result<DescribeInstancesOutput, String>>;

impl Feed {
    /// The channel of a feed and the sending side for its fetch task.
    fn channel(
        capacity: usize,
    ) -> (
        PageSender,
        tokio::sync::mpsc::Receiver<Result<DescribeInstancesOutput, String>>,
    ) {
        tokio::sync::mpsc::channel(capacity.max(1))
    }

    /// Fetch the chain's pages from `token` (its start when `None`) into `tx`.
    async fn fetch(client: Client, filters: Vec<Filter>, token: Option<String>, tx: PageSender) {
        let mut pages = chain(&client, filters, token).send();
        // A slot first: no page is fetched before there is room for it.
        while let Ok(slot) = tx.reserve().await {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|e| err("DescribeInstances", e));
            let failed = page.is_err();
            slot.send(page);
            if failed {
                break;
            }
        }
    }

    /// Start fetching the chain from `token`, `capacity` pages ahead at most.
    fn spawn(client: Client, filters: Vec<Filter>, token: Option<String>, capacity: usize) -> Self {
        let (tx, rx) = Self::channel(capacity);
        let fetch = tokio::spawn(Self::fetch(client, filters, token, tx));
        Self {
            rx,
            fetch: AbortOnDrop(Some(fetch)),
        }
    }
}

/// The `NextToken` chain of a listing with these filters, from `token` (its
/// start when `None`), 1,000 instances a page.
fn chain(
    client: &Client,
    filters: Vec<Filter>,
    token: Option<String>,
) -> aws_sdk_ec2::operation::describe_instances::paginator::DescribeInstancesPaginator {
    client
        .describe_instances()
        .max_results(PAGE_SIZE)
        .set_filters(Some(filters))
        .set_next_token(token)
        .into_paginator()
}

/// One listing: its filters, the page it goes on from (a probe page) and the
/// fetch already going on from there (an [`EarlyListing`]'s).
struct Listing {
    filters: Vec<Filter>,
    first: Option<DescribeInstancesOutput>,
    feed: Option<Feed>,
}

impl Listing {
    fn new(filters: Vec<Filter>) -> Self {
        Self {
            filters,
            first: None,
            feed: None,
        }
    }

    /// The scope's one full chain, going on from `first` (a probe page).
    fn full(live_states: &Filter, first: Option<DescribeInstancesOutput>) -> Self {
        Self {
            first,
            ..Self::new(vec![live_states.clone()])
        }
    }
}

/// One listing (all pages), each page converted as it arrives and dropped.
///
/// With `ahead`, the next page is fetched (and deserialized, on another
/// runtime thread) while this one is converted: a lone `NextToken` chain is
/// otherwise fetch, convert, fetch, one core at a time. One page ahead at
/// most (the fetch waits until the page before it is taken), so it costs one
/// page of memory; split listings, already parallel, do not read ahead.
///
/// The listing goes on from its `first` page (already fetched, with the same
/// filters) instead of starting, and takes its pages from its `feed` when it
/// has one (the pages after `first`).
async fn list_instances(
    client: &Client,
    listing: Listing,
    wanted: &HashMap<&str, &Desired>,
    discover: bool,
    ahead: bool,
    keep_facts: bool,
) -> Result<Part, String> {
    let Listing {
        filters,
        first,
        feed,
    } = listing;
    let mut part = Part::default();
    let mut token = None;
    if let Some(page) = first {
        token = page.next_token.clone();
        convert_instances(&mut part, page, wanted, discover, keep_facts);
        if token.is_none() {
            return Ok(part);
        }
    }
    let mut feed = match feed {
        Some(feed) => feed,
        None if ahead => Feed::spawn(client.clone(), filters, token, 1),
        None => {
            let mut pages = chain(client, filters, token).send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| err("DescribeInstances", e))?;
                convert_instances(&mut part, page, wanted, discover, keep_facts);
            }
            return Ok(part);
        }
    };
    while let Some(page) = feed.rx.recv().await {
        convert_instances(&mut part, page?, wanted, discover, keep_facts);
    }
    // The channel also closes if the fetch died (a panic): then the pages
    // read so far are not the listing, and nothing may be judged missing.
    fetch_finished(feed.fetch.0.take()).await?;
    Ok(part)
}

/// Whether a page fetch ran to its end (`Err` if it panicked or was
/// cancelled: its listing is incomplete).
async fn fetch_finished(fetch: Option<tokio::task::JoinHandle<()>>) -> Result<(), String> {
    match fetch {
        Some(task) => task.await.map_err(|e| {
            format!("DescribeInstances: the page fetch stopped before the last page ({e})")
        }),
        None => Ok(()),
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// One `DescribeInstances` page into `part` (the page is dropped after).
fn convert_instances(
    part: &mut Part,
    page: DescribeInstancesOutput,
    wanted: &HashMap<&str, &Desired>,
    discover: bool,
    keep_facts: bool,
) {
    for r in page.reservations.unwrap_or_default() {
        for i in r.instances.unwrap_or_default() {
            let Some(id) = i.instance_id() else { continue };
            if keep_facts {
                // A complete listing: the facts the scope's other reads use.
                part.facts.add(&i);
            }
            let mut live = Live {
                id: id.to_string(),
                ..Default::default()
            };
            if i.tags()
                .iter()
                .any(|t| t.key() == Some("aws:autoscaling:groupName"))
            {
                live.owned_by_service = Some("autoscaling".into());
            }
            if discover && !wanted.contains_key(id) {
                // Unmanaged: its canonical form, for import pull requests.
                live.attrs = crate::resources::ec2::instance::live(&i, None);
            }
            if let Some(d) = wanted.get(id) {
                live.attrs = crate::resources::ec2::instance::live(&i, None);
                // In sync: only its id is kept (at 100k instances the live
                // side would otherwise double the heap). What is added
                // below (root volume, termination protection) is still
                // compared. The desired form is read thawed and dropped:
                // it stays frozen (`driftd_core::canon`).
                let desired = d.attrs.peek();
                live.settle(&desired, |a| {
                    crate::schema::shape(crate::resources::ec2::instance::NAME, a)
                });
                // Root volumes, only where the state describes them.
                if desired.contains_key("root_block_device") {
                    let root = i.root_device_name().unwrap_or_default();
                    if let Some(vol) = i
                        .block_device_mappings()
                        .iter()
                        .find(|b| b.device_name() == Some(root))
                        .and_then(|b| b.ebs())
                        .and_then(|e| e.volume_id())
                    {
                        part.root_volume_of.insert(id.to_string(), vol.to_string());
                    }
                }
            }
            part.live.insert(id.to_string(), live);
        }
    }
}

/// Read instances. Terminated and shutting-down instances are left out by the
/// API filter: to Terraform they are gone, so they come out as `missing`.
pub async fn read_instances(
    client: &Client,
    desired: &[&Desired],
    discover: bool,
    concurrency: usize,
) -> ReadResult {
    read_instances_split(
        client,
        desired,
        discover,
        concurrency,
        SplitListing::default(),
    )
    .await
}

/// [`read_instances`], with the listing split as `split` says. Filtered
/// reads (200 ids a call) run `concurrency` at a time; a full listing
/// (discovery) is one `NextToken` chain, or one chain per availability zone
/// when the scope is large ([`SplitListing`]).
pub async fn read_instances_split(
    client: &Client,
    desired: &[&Desired],
    discover: bool,
    concurrency: usize,
    split: SplitListing,
) -> ReadResult {
    read_instances_sharing(client, desired, discover, concurrency, split, None).await
}

/// [`read_instances_split`], publishing the [`InstanceFacts`] of its
/// complete listing (discovery) to `facts` as soon as the listing is made,
/// before the per-instance calls that follow it: or its error. Without
/// discovery nothing is sent (the sender is dropped).
pub async fn read_instances_sharing(
    client: &Client,
    desired: &[&Desired],
    discover: bool,
    concurrency: usize,
    split: SplitListing,
    facts: Option<FactsSender>,
) -> ReadResult {
    read_instances_from(client, desired, discover, concurrency, split, facts, None).await
}

/// [`read_instances_sharing`], its full listing (discovery) taken from
/// `early` when the scope started one before its state was loaded (dropped,
/// its fetch stopped, without discovery).
pub async fn read_instances_from(
    client: &Client,
    desired: &[&Desired],
    discover: bool,
    concurrency: usize,
    split: SplitListing,
    facts: Option<FactsSender>,
    early: Option<EarlyListing>,
) -> ReadResult {
    let facts = facts.filter(|_| discover);
    let mut early = early.filter(|_| discover);
    let mut wanted: HashMap<&str, &Desired> = HashMap::with_capacity(desired.len());
    wanted.extend(desired.iter().map(|d| (d.id.as_str(), *d)));
    let managed = wanted.len();
    if managed == 0 && !discover {
        return Ok(BTreeMap::new());
    }
    // The ids as filter values (a full listing needs no copy of them).
    let ids: BTreeSet<String> = if discover {
        BTreeSet::new()
    } else {
        wanted.keys().map(|s| s.to_string()).collect()
    };
    let live_states = filter("instance-state-name", &live_states());
    // Each page is converted as it arrives and then dropped: only the
    // canonical attributes of managed instances are kept (memory stays
    // proportional to what is compared, not to the API's answer).
    let mut listings: Vec<Listing> = Vec::new();
    let mut zoned = false;
    for chunk in id_chunks(&ids, discover) {
        match chunk {
            Some(chunk) => listings.push(Listing::new(vec![
                live_states.clone(),
                filter("instance-id", &chunk),
            ])),
            None => {
                let (full, split_by_zone) = match early.take() {
                    Some(early) => early.plan(client, managed, split, &live_states).await,
                    None => plan_full_listing(client, managed, split, &live_states, None).await,
                };
                zoned = split_by_zone;
                listings.extend(full);
            }
        }
    }
    // The instances whose termination protection is read (see below),
    // found while the pages are still coming, not after the last one.
    let asks_protection: HashSet<&str> = desired
        .iter()
        .filter(|d| d.attrs.has("disable_api_termination"))
        .map(|d| d.id.as_str())
        .collect();
    let wanted_ref = &wanted;
    let ahead = listings.len() == 1;
    let keep_facts = facts.is_some();
    let parts: Result<Vec<Part>, String> = stream::iter(listings)
        .map(|listing| list_instances(client, listing, wanted_ref, discover, ahead, keep_facts))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await;
    let parts = match parts {
        Ok(p) if zoned => confirm_split(client, p, wanted_ref, &live_states, keep_facts).await,
        p => p,
    };
    let parts = match parts {
        Ok(p) => p,
        Err(e) => {
            if let Some(tx) = facts {
                let _ = tx.send(Err(e.clone()));
            }
            return Err(e);
        }
    };
    let mut out: BTreeMap<String, Live> = BTreeMap::new();
    let mut root_volume_of: HashMap<String, String> = HashMap::new();
    // A split listing is complete only with every zone's part.
    let mut all = InstanceFacts::default();
    for mut p in parts {
        // Merged, not inserted one by one (one part: moved).
        out.append(&mut p.live);
        if root_volume_of.is_empty() {
            root_volume_of = p.root_volume_of;
        } else {
            root_volume_of.extend(p.root_volume_of);
        }
        all.extend(p.facts);
    }
    if let Some(tx) = facts {
        let _ = tx.send(Ok(Arc::new(all)));
    }
    let volumes = read_volumes(client, root_volume_of.values().cloned().collect()).await?;

    // Termination protection: one call per instance whose canonical desired
    // form asks for it (see `InstanceAttributeReads`).
    let protected: Vec<String> = if asks_protection.is_empty() {
        Vec::new()
    } else {
        out.keys()
            .filter(|id| asks_protection.contains(id.as_str()))
            .cloned()
            .collect()
    };
    let protection: HashMap<String, bool> = stream::iter(protected)
        .map(|id| async move {
            let out = client
                .describe_instance_attribute()
                .instance_id(&id)
                .attribute(InstanceAttributeName::DisableApiTermination)
                .send()
                .await
                .map_err(|e| err("DescribeInstanceAttribute", e))?;
            let v = out
                .disable_api_termination()
                .and_then(|v| v.value())
                .unwrap_or(false);
            Ok::<_, String>((id, v))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;

    if root_volume_of.is_empty() && protection.is_empty() {
        return Ok(out);
    }
    for (id, live) in out.iter_mut() {
        if let Some(root) = root_volume_of.get(id).and_then(|v| volumes.get(v)) {
            live.attrs
                .insert("root_block_device".into(), Value::Object(root.clone()));
        }
        if let Some(p) = protection.get(id) {
            live.attrs
                .insert("disable_api_termination".into(), json!(p));
        }
    }
    Ok(out)
}

/// A full chain's first page, timed: the wait for its answer (send to
/// headers) and the reading and decoding after it ([`Phases`]).
struct Probed {
    page: DescribeInstancesOutput,
    wait: std::time::Duration,
    rest: std::time::Duration,
}

/// Fetch the full chain's first page as a probe of how its pages are spent.
async fn probe(client: &Client, live_states: &Filter) -> Result<Probed, String> {
    let phases = Phases::default();
    let page = client
        .describe_instances()
        .max_results(PAGE_SIZE)
        .filters(live_states.clone())
        .customize()
        .interceptor(phases.clone())
        .send()
        .await
        .map_err(|e| err("DescribeInstances", e))?;
    let (wait, rest) = phases.split();
    Ok(Probed { page, wait, rest })
}

/// How a scope's full listing is made, and whether it is split: the one
/// chain (going on from the probe page when [`SplitListing`] probed and did
/// not split), or one listing per group of zones. `probed`: the chain's
/// first page, already fetched (by an [`EarlyListing`]).
async fn plan_full_listing(
    client: &Client,
    managed: usize,
    split: SplitListing,
    live_states: &Filter,
    probed: Option<Probed>,
) -> (Vec<Listing>, bool) {
    let full = |probed: Option<Probed>| {
        (
            vec![Listing::full(live_states, probed.map(|p| p.page))],
            false,
        )
    };
    if !split.considers(managed) {
        return full(probed);
    }
    let t = Instant::now();
    let z = match zones(client).await {
        Ok(z) if split.splits(managed, z.len()) => z,
        Ok(_) => return full(probed),
        // Not allowed or failed: the one sequential listing.
        Err(e) => {
            tracing::warn!(error = %e, "no split listing");
            return full(probed);
        }
    };
    let zone_call = t.elapsed();
    let probed = match probed {
        Some(p) => p,
        None => match probe(client, live_states).await {
            Ok(p) => p,
            Err(e) => {
                // The chain starts again and reports its own error.
                tracing::debug!(error = %e, "split probe failed");
                return full(None);
            }
        },
    };
    let (wait, rest) = (probed.wait, probed.rest);
    if probed.page.next_token().is_none() {
        // One page: the whole listing.
        return full(Some(probed));
    }
    if !split.slow(wait, rest) {
        tracing::debug!(
            page_wait_ms = wait.as_millis() as u64,
            page_read_ms = rest.as_millis() as u64,
            "DescribeInstances not split: a page's wait is not over its decoding"
        );
        return full(Some(probed));
    }
    drop(probed);
    let groups = zone_groups(&z, split.parts(managed, z.len()));
    tracing::info!(
        zones = z.len(),
        listings = groups.len(),
        managed,
        page_wait_ms = wait.as_millis() as u64,
        page_read_ms = rest.as_millis() as u64,
        zone_call_ms = zone_call.as_millis() as u64,
        "DescribeInstances split by availability zone"
    );
    let parts = groups
        .into_iter()
        .map(|g| Listing::new(vec![live_states.clone(), filter("availability-zone", &g)]))
        .collect();
    (parts, true)
}

/// Pages an [`EarlyListing`] fetches ahead of its scope's state, at most. A
/// decoded page of 1,000 instances is about 4 MB: on the replay benchmark
/// at 100,000 instances, 16 took the scan's peak RSS from 233-237 MB to
/// 267-280 MB (over the 250 MB target), 8 left it where it was.
pub const EARLY_PAGES: usize = 8;

/// A scope's full instance listing (discovery), started before the scope's
/// state is loaded: the listing is the scan's long pole where pages are
/// answered at once (its decoding takes a core, 100 pages one after
/// another at 100,000 instances), and the state's parsing another core, so
/// they overlap instead of adding up.
///
/// The full chain's first page is fetched and timed as the split probe
/// ([`SplitListing`]). A page whose wait is not over its decoding is never
/// split, whatever the scope manages: then the chain goes on at once,
/// [`EARLY_PAGES`] ahead at most (a bound on memory, however long the state
/// takes). A slow page stops it there: whether to split needs the managed
/// count, from the state ([`EarlyListing::plan`]). So the calls are the
/// ones the listing makes without it, the zone call less where the probe
/// already says there will be no split. Dropped (the scope does not
/// discover after all: a stack's state failed), its fetch stops; its pages
/// so far were calls made for nothing, at most `EARLY_PAGES + 1`.
pub struct EarlyListing {
    probe: oneshot::Receiver<Result<(Probed, bool), String>>,
    feed: Feed,
}

impl std::fmt::Debug for EarlyListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EarlyListing")
    }
}

impl EarlyListing {
    /// Start the full listing of `client`'s region now.
    pub fn start(client: &Client, split: SplitListing) -> Self {
        let client = client.clone();
        let (probe_tx, probe_rx) = oneshot::channel();
        let (tx, rx) = Feed::channel(EARLY_PAGES);
        let live_states = filter("instance-state-name", &live_states());
        let fetch = tokio::spawn(async move {
            let probed = probe(&client, &live_states).await;
            let token = match &probed {
                Ok(p) if !split.slow(p.wait, p.rest) => p.page.next_token.clone(),
                _ => None,
            };
            let goes_on = token.is_some();
            if probe_tx.send(probed.map(|p| (p, goes_on))).is_err() || !goes_on {
                return;
            }
            Feed::fetch(client, vec![live_states], token, tx).await;
        });
        Self {
            probe: probe_rx,
            feed: Feed {
                rx,
                fetch: AbortOnDrop(Some(fetch)),
            },
        }
    }

    /// The listing, now that the scope's state says how many instances it
    /// manages: the chain already going on, or what [`plan_full_listing`]
    /// decides with the probe page (a slow one: maybe a split).
    async fn plan(
        self,
        client: &Client,
        managed: usize,
        split: SplitListing,
        live_states: &Filter,
    ) -> (Vec<Listing>, bool) {
        match self.probe.await {
            Ok(Ok((probed, true))) => {
                let chain = Listing {
                    feed: Some(self.feed),
                    ..Listing::full(live_states, Some(probed.page))
                };
                (vec![chain], false)
            }
            Ok(Ok((probed, false))) => {
                plan_full_listing(client, managed, split, live_states, Some(probed)).await
            }
            // The probe failed (or its task died): the listing starts again
            // and reports its own error.
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "early listing's first page failed");
                plan_full_listing(client, managed, split, live_states, None).await
            }
            Err(_) => plan_full_listing(client, managed, split, live_states, None).await,
        }
    }
}

/// A split listing's parts, once checked: a managed instance none of them
/// found is missing only if a listing by its id does not find it either.
/// If that listing finds one (its zone was not in the zone list, or the
/// `availability-zone` filter does not match as documented: moto 5.1.22's
/// never matches), the split was not a partition, and the scope is listed
/// again in one chain (its unmanaged instances may be missing from the parts
/// too). In the usual case, nothing missing, this makes no call.
async fn confirm_split(
    client: &Client,
    parts: Vec<Part>,
    wanted: &HashMap<&str, &Desired>,
    live_states: &Filter,
    keep_facts: bool,
) -> Result<Vec<Part>, String> {
    let unseen: BTreeSet<String> = wanted
        .keys()
        .filter(|id| !parts.iter().any(|p| p.live.contains_key(**id)))
        .map(|id| id.to_string())
        .collect();
    let mut found = 0;
    for chunk in id_chunks(&unseen, false).into_iter().flatten() {
        let filters = vec![live_states.clone(), filter("instance-id", &chunk)];
        found += list_instances(client, Listing::new(filters), wanted, false, false, false)
            .await?
            .live
            .len();
    }
    if found == 0 {
        return Ok(parts);
    }
    tracing::warn!(
        missed = found,
        "the listing split by availability zone missed live managed instances; listing the scope again in one chain"
    );
    drop(parts);
    let chain = Listing::full(live_states, None);
    Ok(vec![
        list_instances(client, chain, wanted, true, true, keep_facts).await?,
    ])
}

/// Root volume details by volume id, 200 ids a call.
async fn read_volumes(
    client: &Client,
    ids: BTreeSet<String>,
) -> Result<HashMap<String, Attrs>, String> {
    let mut out = HashMap::new();
    for chunk in id_chunks(&ids, false).into_iter().flatten() {
        let mut pages = client
            .describe_volumes()
            .filters(filter("volume-id", &chunk))
            .max_results(500)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("DescribeVolumes", e))?;
            for v in page.volumes() {
                let mut m = Map::new();
                if let Some(n) = v.size() {
                    m.insert("volume_size".into(), json!(n));
                }
                if let Some(t) = v.volume_type() {
                    m.insert("volume_type".into(), json!(t.as_str()));
                }
                if let Some(e) = v.encrypted() {
                    m.insert("encrypted".into(), json!(e));
                }
                out.insert(v.volume_id().unwrap_or_default().to_string(), m);
            }
        }
    }
    Ok(out)
}

/// Every security group in `ids` (or all, when discovering), raw.
pub async fn describe_groups(
    client: &Client,
    ids: &BTreeSet<String>,
    discover: bool,
) -> Result<Vec<SecurityGroup>, String> {
    // Groups outside `ids` (unmanaged candidates) keep only id and name.
    let slim = |g: SecurityGroup| {
        if g.group_id().is_some_and(|id| ids.contains(id)) {
            g
        } else {
            SecurityGroup::builder()
                .set_group_id(g.group_id)
                .set_group_name(g.group_name)
                .build()
        }
    };
    let mut groups = Vec::new();
    if ids.is_empty() && !discover {
        return Ok(groups);
    }
    for chunk in id_chunks(ids, discover) {
        let mut req = client.describe_security_groups().max_results(PAGE_SIZE);
        if let Some(chunk) = chunk {
            req = req.filters(filter("group-id", &chunk));
        }
        let mut pages = req.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("DescribeSecurityGroups", e))?;
            groups.extend(
                page.security_groups
                    .unwrap_or_default()
                    .into_iter()
                    .map(slim),
            );
        }
    }
    Ok(groups)
}

/// Exploded rules of a group's permissions: key -> description.
pub fn explode_permissions(perms: &[IpPermission]) -> Map<String, Value> {
    let mut out = BTreeMap::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let (from, to) = (p.from_port().map(i64::from), p.to_port().map(i64::from));
        let mut add = |peer, v: Option<&str>, d: Option<&str>| {
            if let Some(v) = v {
                out.insert(
                    rule_key(proto, from, to, peer, v),
                    json!(d.unwrap_or_default()),
                );
            }
        };
        for r in p.ip_ranges() {
            add(Peer::Cidr, r.cidr_ip(), r.description());
        }
        for r in p.ipv6_ranges() {
            add(Peer::Ipv6, r.cidr_ipv6(), r.description());
        }
        for r in p.prefix_list_ids() {
            add(Peer::PrefixList, r.prefix_list_id(), r.description());
        }
        for r in p.user_id_group_pairs() {
            add(Peer::Group, r.group_id(), r.description());
        }
    }
    out.into_iter().collect()
}

/// A group's exploded (ingress, egress) rules.
type RuleSets = (Map<String, Value>, Map<String, Value>);

/// Canonical live security groups, and the live side of `aws_security_group_rule`
/// resources (synthesized from their groups' permissions: AWS has no object
/// for a Terraform `sgrule-*` id).
pub fn security_groups_live(
    groups: &[SecurityGroup],
    desired_groups: &BTreeSet<String>,
    rule_resources: &[&Desired],
    standalone: &StandaloneRules,
) -> (BTreeMap<String, Live>, BTreeMap<String, Live>) {
    let mut by_id: HashMap<&str, RuleSets> = HashMap::new();
    let mut out = BTreeMap::new();
    for g in groups {
        let Some(id) = g.group_id() else { continue };
        let ingress = explode_permissions(g.ip_permissions());
        let egress = explode_permissions(g.ip_permissions_egress());
        let mut live = Live {
            id: id.to_string(),
            auto_created: g.group_name() == Some("default"),
            ..Default::default()
        };
        if desired_groups.contains(id) {
            let mut m = Map::new();
            m.insert("name".into(), json!(g.group_name().unwrap_or_default()));
            m.insert(
                "description".into(),
                json!(g.description().unwrap_or_default()),
            );
            m.insert("vpc_id".into(), json!(g.vpc_id().unwrap_or_default()));
            m.insert(
                "tags".into(),
                tags_from_pairs(
                    g.tags()
                        .iter()
                        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                ),
            );
            m.insert("ingress".into(), Value::Object(ingress.clone()));
            m.insert("egress".into(), Value::Object(egress.clone()));
            strip_standalone(id, &mut m, standalone);
            live.attrs = m;
        }
        by_id.insert(id, (ingress, egress));
        out.insert(id.to_string(), live);
    }

    let mut rules = BTreeMap::new();
    for d in rule_resources
        .iter()
        .filter(|d| d.rtype == AWS_SECURITY_GROUP_RULE)
    {
        let sg = d
            .attrs
            .get("security_group_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let egress = d.attrs.get("type").and_then(Value::as_str) == Some("egress");
        let Some((ing, eg)) = by_id.get(sg) else {
            continue;
        };
        let live_rules = if egress { eg } else { ing };
        let Some(Value::Object(want)) = d.attrs.get("rules") else {
            continue;
        };
        let present: Map<String, Value> = want
            .keys()
            .filter_map(|k| live_rules.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        if present.is_empty() {
            continue; // every atom of the rule is gone: missing
        }
        let mut m = d.attrs.peek().into_owned();
        m.insert("rules".into(), Value::Object(present));
        rules.insert(
            d.id.clone(),
            Live {
                id: d.id.clone(),
                attrs: m,
                ..Default::default()
            },
        );
    }
    (out, rules)
}

/// `aws_vpc_security_group_{ingress,egress}_rule` resources, read with
/// `DescribeSecurityGroupRules` filtered by their groups (200 a call).
pub async fn read_vpc_rules(client: &Client, desired: &[&Desired]) -> ReadResult {
    let groups: BTreeSet<String> = desired
        .iter()
        .filter_map(|d| d.attrs.get("security_group_id").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let wanted: BTreeSet<&str> = desired.iter().map(|d| d.id.as_str()).collect();
    let mut out = BTreeMap::new();
    for chunk in id_chunks(&groups, false).into_iter().flatten() {
        let mut pages = client
            .describe_security_group_rules()
            .filters(filter("group-id", &chunk))
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("DescribeSecurityGroupRules", e))?;
            for r in page.security_group_rules() {
                let Some(id) = r.security_group_rule_id() else {
                    continue;
                };
                if !wanted.contains(id) {
                    continue;
                }
                let mut raw = Map::new();
                let s = |v: Option<&str>| json!(v.unwrap_or_default());
                raw.insert("security_group_id".into(), s(r.group_id()));
                raw.insert("ip_protocol".into(), s(r.ip_protocol()));
                raw.insert("from_port".into(), json!(r.from_port()));
                raw.insert("to_port".into(), json!(r.to_port()));
                raw.insert("cidr_ipv4".into(), s(r.cidr_ipv4()));
                raw.insert("cidr_ipv6".into(), s(r.cidr_ipv6()));
                raw.insert("prefix_list_id".into(), s(r.prefix_list_id()));
                raw.insert(
                    "referenced_security_group_id".into(),
                    s(r.referenced_group_info().and_then(|g| g.group_id())),
                );
                raw.insert("description".into(), s(r.description()));
                let tags: Map<String, Value> = r
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            json!(t.value().unwrap_or_default()),
                        )
                    })
                    .collect();
                raw.insert("tags".into(), Value::Object(tags));
                let attrs = vpc_rule(&raw);
                out.insert(
                    id.to_string(),
                    Live {
                        id: id.to_string(),
                        attrs,
                        ..Default::default()
                    },
                );
            }
        }
    }
    Ok(out)
}

/// Ids of managed resources of one type.
pub fn ids_of(desired: &[&Desired], rtype: &str) -> BTreeSet<String> {
    desired
        .iter()
        .filter(|d| d.rtype == rtype)
        .map(|d| d.id.clone())
        .collect()
}

/// The compute listings (volumes, ENIs, key pairs, launch templates, images, ...).
pub mod compute;
/// Shared listings (`Source::Ec2List`): one `Describe*` per scope for every
/// type that reads it.
pub mod listing;
/// The network listings (VPCs, subnets, route tables, NACLs, gateways, ...).
pub mod net;
/// More network listings (endpoints, egress-only gateways, DHCP options,
/// peering connections, flow logs).
pub mod net2;

#[cfg(test)]
mod split_tests {
    use super::*;

    /// Every reader waiting on the facts gets what was sent; a sender
    /// dropped unsent (no complete listing, or the read dropped at the
    /// deadline) is `None`, so each reader makes its own call.
    #[tokio::test]
    async fn shared_instance_facts_reach_every_reader_or_none() {
        let (tx, shared) = SharedInstances::channel();
        let other = shared.clone();
        let mut f = InstanceFacts::default();
        f.states.insert("i-1".into(), "running".into());
        tx.send(Ok(Arc::new(f.clone()))).unwrap();
        for s in [&shared, &other] {
            assert_eq!(*s.get().await.unwrap().unwrap(), f);
        }
        let (tx, shared) = SharedInstances::channel();
        drop(tx);
        assert!(shared.get().await.is_none());
        assert!(SharedInstances::none().get().await.is_none());
    }

    #[test]
    fn a_split_is_made_only_when_its_extra_calls_are_within_five_percent() {
        let s = SplitListing::default();
        assert!(!s.considers(DEFAULT_SPLIT_ABOVE));
        assert!(s.considers(DEFAULT_SPLIT_ABOVE + 1));
        // 100 pages: 5 extra calls allowed, so 3 listings (3 + 2 extra).
        assert_eq!(s.parts(100_000, 4), 3);
        assert_eq!(s.parts(100_000, 6), 3, "6 zones in 3 groups");
        assert_eq!(
            s.parts(100_000, 25),
            3,
            "a region's local zones cost nothing"
        );
        assert_eq!(s.parts(140_000, 6), 5);
        assert_eq!(s.parts(80_000, 6), 2);
        assert!(
            !s.splits(79_000, 6),
            "below 80 pages: 3 extra calls are over 5%"
        );
        assert!(!s.splits(1_000_000, 1), "one zone: nothing to split");
        // Worst case for every size and zone count that splits: the zone
        // call, the probe page, each group but one a partial page more than
        // its share, one confirming call.
        for managed in (1_000..=300_000).step_by(7_000) {
            for zones in 1..=30 {
                if s.splits(managed, zones) {
                    let minimal = managed.div_ceil(PAGE_SIZE as usize);
                    let worst = minimal + s.parts(managed, zones) + 2;
                    assert!(
                        worst as f64 <= minimal as f64 * 1.05,
                        "{managed} in {zones} zones: {worst} calls vs {minimal}"
                    );
                }
            }
        }
    }

    #[test]
    fn zones_are_dealt_into_groups_availability_zones_first() {
        let z = |name: &str, local: bool| Zone {
            local,
            name: name.into(),
        };
        let mut zones = vec![
            z("us-east-1-bos-1a", true),
            z("us-east-1b", false),
            z("us-east-1a", false),
            z("us-east-1-wl1-nyc-wlz-1", true),
            z("us-east-1c", false),
        ];
        zones.sort();
        let groups = zone_groups(&zones, 2);
        assert_eq!(
            groups,
            vec![
                vec!["us-east-1a", "us-east-1c", "us-east-1-wl1-nyc-wlz-1"],
                vec!["us-east-1b", "us-east-1-bos-1a"],
            ]
        );
        // A partition: every zone once.
        let mut all: Vec<String> = groups.concat();
        all.sort();
        assert_eq!(all.len(), zones.len());
        assert_eq!(zone_groups(&zones[..1], 4), vec![vec!["us-east-1a"]]);
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_page_fetch_that_died_makes_the_listing_fail_not_end() {
        let done = tokio::spawn(async {});
        assert_eq!(super::fetch_finished(Some(done)).await, Ok(()));
        let died = tokio::spawn(async { panic!("a bug in a page fetch") });
        let e = super::fetch_finished(Some(died)).await.unwrap_err();
        assert!(e.contains("before the last page"), "{e}");
    }
}
