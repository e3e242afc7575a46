//! Scope building: load every stack's state, choose the stacks of this run
//! (`--stack`, shards), and group resources by *scope* (region x endpoint x
//! role), across stacks, so that each scope is read once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use driftd_aws::{ApiCalls, AwsReader, AwsSchema, Clients, Target};
use driftd_core::{Desired, ReadRequest, Schema, StateResource};
use futures::stream::{self, StreamExt};
use tracing::info;

use crate::config::{Config, ScanSettings, StackConfig, StateLocation};
use crate::report::{StackReport, Unknown};
use crate::source;
use crate::state::StateFile;

use super::{Progress, ScanOptions};

/// FNV-1a: a stable hash (unlike std's, it never changes between builds).
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Does shard `index` of `count` own this stack?
pub fn in_shard(stack: &str, index: u32, count: u32) -> bool {
    count <= 1 || stable_hash(stack) % u64::from(count) == u64::from(index)
}

/// The stacks a run covers: `--stack` filters, then the shard.
pub fn select_stacks<'a>(config: &'a Config, options: &ScanOptions) -> Vec<&'a StackConfig> {
    config
        .stacks
        .iter()
        .filter(|s| options.only_stacks.is_empty() || options.only_stacks.contains(&s.name))
        .filter(|s| options.shard.is_none_or(|(i, n)| in_shard(&s.name, i, n)))
        .collect()
}

/// One stack's loaded state files, or why they could not be loaded.
pub(super) struct Loaded {
    pub stack: StackConfig,
    pub files: Vec<StateFile>,
    pub errors: Vec<String>,
}

/// A scope: where one set of live reads happens.
pub(super) type ScopeKey = Target;

pub(super) fn target(stack: &StackConfig, region: &str) -> Target {
    Target {
        region: region.to_string(),
        endpoint_url: stack.endpoint_url.clone(),
        assume_role_arn: stack.assume_role_arn.clone(),
    }
}

/// Free the attributes of resources of types driftd does not compare (most
/// of a typical state: IAM, DNS, monitoring, ...) as soon as the file is
/// parsed: only their type and address are used after (the report's
/// `unsupported` count), and every stack's state stays loaded until its
/// scope is read.
fn forget_unsupported(file: &mut StateFile) {
    let supported = AwsSchema::default().supported_types();
    for r in file.resources.iter_mut() {
        if !supported.contains(&r.rtype.as_str()) {
            r.attrs = Default::default();
            r.sensitive_paths = Vec::new();
        }
    }
}

async fn load_stack(
    stack: StackConfig,
    options: &ScanOptions,
    calls: &ApiCalls,
    settings: &ScanSettings,
) -> Loaded {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let needs_s3 = stack
        .sources
        .iter()
        .any(|s| matches!(s, StateLocation::S3 { .. }));
    let s3 = if needs_s3 {
        Some(
            Clients::new(&target(&stack, &stack.state_region), &options.client, calls)
                .await
                .s3,
        )
    } else {
        None
    };
    let dec = crate::encryption::Decryptor::for_stack(&stack, &options.client, calls);
    // The scan's schema: each compared instance is projected as it is parsed
    // with the same settings the scope's projection uses.
    let schema = AwsSchema {
        instance_attribute_reads: settings.instance_attribute_reads,
    };
    for loc in &stack.sources {
        let limits = source::ReadLimits {
            timeout: settings.state_timeout,
            attempts: settings.max_attempts,
        };
        match source::load(loc, s3.as_ref(), &limits, &dec, &schema).await {
            Ok(mut f) => {
                f.iter_mut().for_each(forget_unsupported);
                files.extend(f)
            }
            Err(e) => errors.push(e),
        }
    }
    Loaded {
        stack,
        files,
        errors,
    }
}

/// Load the state of these stacks, a few at a time.
pub(super) async fn load_all(
    stacks: Vec<StackConfig>,
    options: &ScanOptions,
    calls: &ApiCalls,
    settings: &ScanSettings,
) -> Vec<Loaded> {
    stream::iter(stacks)
        .map(|s| load_stack(s, options, calls, settings))
        .buffered(4)
        .collect()
        .await
}

/// With shards, exactly one shard looks for unmanaged resources in a scope.
#[derive(Clone, Copy)]
pub(super) struct Sharding {
    pub shard: Option<(u32, u32)>,
}

impl Sharding {
    /// The shard that looks for unmanaged resources in this scope.
    pub fn owner(&self, key: &ScopeKey) -> Option<u32> {
        self.shard.map(|(_, n)| {
            let k = format!(
                "{}|{:?}|{:?}",
                key.region, key.endpoint_url, key.assume_role_arn
            );
            (stable_hash(&k) % u64::from(n)) as u32
        })
    }

    /// Does this run's shard own the scope?
    pub fn owns(&self, key: &ScopeKey) -> bool {
        match (self.owner(key), self.shard) {
            (Some(o), Some((i, _))) => o == i,
            _ => true,
        }
    }
}

/// Standalone security group rules of stacks this run does not scan (other
/// shards', or left out by `--stack`): they project together with the
/// scope's groups, so that a group's rules managed in another stack are not
/// reported as drift of the group.
pub(super) fn foreign_rules(
    schema: &AwsSchema,
    not_scanned: &[&Loaded],
) -> BTreeMap<ScopeKey, Vec<StateResource>> {
    // Types whose resources in other stacks change how this scope compares
    // (standalone security group rules): the registry says which.
    let registry = schema.registry();
    let mut foreign_rules: BTreeMap<ScopeKey, Vec<StateResource>> = BTreeMap::new();
    for l in not_scanned.iter().filter(|l| l.errors.is_empty()) {
        let rules: Vec<StateResource> = l
            .files
            .iter()
            .flat_map(|f| f.resources.iter())
            .filter(|r| registry.needed_from_other_stacks(&r.rtype))
            .cloned()
            .collect();
        let regions = schema.regions(&rules);
        for (r, region) in rules.into_iter().zip(regions) {
            let region = region.unwrap_or_else(|| l.stack.regions[0].clone());
            foreign_rules
                .entry(target(&l.stack, &region))
                .or_default()
                .push(r);
        }
    }
    foreign_rules
}

/// The scopes of a run.
pub(super) struct Scopes {
    /// Resources of supported types by scope, with the index of their stack.
    pub members: BTreeMap<ScopeKey, Vec<(usize, StateResource)>>,
    /// Scopes a stack lists (for unmanaged detection), and whether all their stacks loaded.
    pub listed: BTreeMap<ScopeKey, bool>,
    /// Resources that are managed but never read or diffed (other shards'
    /// stacks, deposed objects, unsupported state forms), by scope: their ids
    /// only keep them from being reported unmanaged.
    pub foreign: BTreeMap<ScopeKey, Vec<StateResource>>,
}

/// Group this run's resources by scope (moving them out of `loaded`: the
/// reports' counts are taken before), and note the other shards' managed ids.
pub(super) fn build(
    schema: &AwsSchema,
    supported: &BTreeSet<&str>,
    loaded: &mut [Loaded],
    reports: &mut [StackReport],
    others: &mut [Loaded],
    sharding: Sharding,
) -> Scopes {
    let mut scopes: BTreeMap<ScopeKey, Vec<(usize, StateResource)>> = BTreeMap::new();
    let mut listed: BTreeMap<ScopeKey, bool> = BTreeMap::new();
    let mut foreign: BTreeMap<ScopeKey, Vec<StateResource>> = BTreeMap::new();
    for (si, l) in loaded.iter_mut().enumerate() {
        let ok = l.errors.is_empty();
        for r in &l.stack.regions {
            let e = listed.entry(target(&l.stack, r)).or_insert(true);
            *e &= ok;
        }
        if !ok {
            continue;
        }
        hold(schema, supported, l, Some(&mut reports[si]), &mut foreign);
        // Moved, not copied: the report's counts were taken above.
        let resources: Vec<StateResource> = l
            .files
            .iter_mut()
            .flat_map(|f| std::mem::take(&mut f.resources))
            .filter(|r| supported.contains(r.rtype.as_str()))
            .collect();
        let regions = schema.regions(&resources);
        for (r, region) in resources.into_iter().zip(regions) {
            let region = region.unwrap_or_else(|| l.stack.regions[0].clone());
            scopes
                .entry(target(&l.stack, &region))
                .or_default()
                .push((si, r));
        }
    }
    // Other shards' stacks: their regions' scopes, and their managed
    // resources there (ids only matter: they are never read or diffed).
    for l in others.iter_mut() {
        let ok = l.errors.is_empty();
        for r in &l.stack.regions {
            let e = listed.entry(target(&l.stack, r)).or_insert(true);
            *e &= ok;
        }
        hold(schema, supported, l, None, &mut foreign);
        let resources: Vec<StateResource> = l
            .files
            .iter_mut()
            .flat_map(|f| std::mem::take(&mut f.resources))
            .filter(|r| schema.discoverable_types().contains(&r.rtype.as_str()))
            .collect();
        let regions = schema.regions(&resources);
        for (r, region) in resources.into_iter().zip(regions) {
            let region = region.unwrap_or_else(|| l.stack.regions[0].clone());
            foreign
                .entry(target(&l.stack, &region))
                .or_default()
                .push(r);
        }
    }
    for key in listed.keys() {
        if sharding.owns(key) {
            scopes.entry(key.clone()).or_default();
        }
    }
    Scopes {
        members: scopes,
        listed,
        foreign,
    }
}

/// Take a loaded stack's held instances (deposed objects, unsupported state
/// forms): report the unsupported ones as unknown (no action can touch them),
/// and keep the ids of all of them as managed, per scope, for discovery.
fn hold(
    schema: &AwsSchema,
    supported: &BTreeSet<&str>,
    l: &mut Loaded,
    mut report: Option<&mut StackReport>,
    foreign: &mut BTreeMap<ScopeKey, Vec<StateResource>>,
) {
    let held: Vec<crate::state::Held> = l
        .files
        .iter_mut()
        .flat_map(|f| std::mem::take(&mut f.held))
        .filter(|h| supported.contains(h.resource.rtype.as_str()))
        .collect();
    let mut ids = Vec::new();
    for h in held {
        if let (crate::state::HeldReason::Unsupported(why), Some(report)) =
            (&h.reason, report.as_deref_mut())
        {
            report.counts.managed += 1;
            report.counts.unknown += 1;
            report.unknown.push(Unknown {
                address: h.resource.address.clone(),
                rtype: h.resource.rtype.clone(),
                id: h.resource.id.clone(),
                reason: why.clone(),
            });
        }
        if schema
            .discoverable_types()
            .contains(&h.resource.rtype.as_str())
        {
            ids.push(h.resource);
        }
    }
    let regions = schema.regions(&ids);
    for (r, region) in ids.into_iter().zip(regions) {
        let region = region.unwrap_or_else(|| l.stack.regions[0].clone());
        foreign
            .entry(target(&l.stack, &region))
            .or_default()
            .push(r);
    }
}

/// What one scope's read produced; resource `i` projects to `desired[i]`.
pub(super) struct ScopeRead {
    pub key: ScopeKey,
    /// Index in `loaded` of the stack of each resource.
    pub stacks: Vec<usize>,
    /// Sensitive paths of each resource (from its state).
    pub sensitive: Vec<Vec<Vec<String>>>,
    pub desired: Vec<Desired>,
    pub inventory: driftd_core::Inventory,
    /// Unmanaged detection ran in this scope.
    pub discover: bool,
    /// Ids managed by other shards' stacks in this scope, by type.
    pub foreign_ids: HashMap<String, BTreeSet<String>>,
}

/// Where unmanaged detection may run.
pub(super) struct DiscoverIn<'a> {
    /// `scan.unmanaged` and not `--no-unmanaged`.
    pub on: bool,
    pub listed: &'a BTreeMap<ScopeKey, bool>,
    /// Scopes of stacks left out by `--stack`.
    pub outside: &'a BTreeSet<ScopeKey>,
    pub sharding: Sharding,
}

impl DiscoverIn<'_> {
    pub fn allows(&self, key: &ScopeKey) -> bool {
        may_discover(self.on, self.outside, self.sharding, key)
            && self.listed.get(key).copied().unwrap_or(false)
    }
}

/// Whether unmanaged detection may run in a scope as far as is known before
/// any state is loaded ([`DiscoverIn::allows`] also needs every stack of the
/// scope loaded).
pub(super) fn may_discover(
    on: bool,
    outside: &BTreeSet<ScopeKey>,
    sharding: Sharding,
    key: &ScopeKey,
) -> bool {
    on && !outside.contains(key) && sharding.owns(key)
}

/// The reader of one scope, with the scan's settings.
async fn connect(
    key: &ScopeKey,
    config: &Config,
    options: &ScanOptions,
    calls: &ApiCalls,
) -> AwsReader {
    let mut reader = AwsReader::connect(key, &options.client, calls, config.scan.concurrency).await;
    reader.split.above = config.scan.split_listing_above;
    reader
}

/// A scope's reader, connected before the state is loaded, with its full
/// instance listing already going ([`driftd_aws::ec2::EarlyListing`]).
pub(super) struct Early {
    /// The scope's calls (a child of the run's).
    pub calls: ApiCalls,
    pub reader: AwsReader,
}

/// Connect a reader for each scope in `keys` and start its full instance
/// listing: scopes that will discover unmanaged resources (unless a state of
/// theirs fails to load), read while the state is parsed.
///
/// Each also starts its VPC listing with the `DescribeVpcAttribute` calls
/// its state decides, from a first pass over its stacks' states
/// ([`skim_scope`]) while the full parse goes on: those calls are paced by
/// the action's token bucket (100 VPCs: 200 calls, about 6 s), so they are
/// the long pole of a scope with many VPCs.
pub(super) async fn start_early(
    config: &Config,
    options: &ScanOptions,
    calls: &ApiCalls,
    keys: BTreeSet<ScopeKey>,
    stacks: &[StackConfig],
) -> BTreeMap<ScopeKey, Early> {
    let connect = keys.into_iter().map(|key| async move {
        let skim = skim_scope(stacks, &key, config);
        let calls = calls.child();
        let reader = connect(&key, config, options, &calls).await;
        reader.start_instance_listing();
        if let Some(desired) = skim.await {
            reader.start_vpc_listing(desired);
        }
        (key, Early { calls, reader })
    });
    futures::future::join_all(connect)
        .await
        .into_iter()
        .collect()
}

/// The [`driftd_aws::EARLY_TYPES`] resources of the stacks covering `key`,
/// by a first pass over their states on a thread of its own
/// ([`source::skim_local`]), within `scan.state_timeout`. `None` (the scope's
/// calls then wait for the full parse, as without it) when a stack covering
/// it has a state that pass does not read: on S3, encrypted, or not a
/// valid plain state. A resource of another region of the stack is in it
/// too; it is never listed here, so it adds no call.
fn skim_scope(
    stacks: &[StackConfig],
    key: &ScopeKey,
    config: &Config,
) -> impl std::future::Future<Output = Option<Vec<Desired>>> {
    let covering: Vec<StackConfig> = stacks
        .iter()
        .filter(|s| s.regions.iter().any(|r| target(s, r) == *key))
        .cloned()
        .collect();
    let readable = !covering.is_empty()
        && covering.iter().all(|s| {
            s.encryption.is_none()
                && s.sources
                    .iter()
                    .all(|l| matches!(l, StateLocation::Local(_)))
        });
    let schema = AwsSchema {
        instance_attribute_reads: config.scan.instance_attribute_reads,
    };
    let timeout = config.scan.state_timeout;
    let (tx, rx) = tokio::sync::oneshot::channel();
    if readable {
        // A thread of its own, as the full parse's: a file system that
        // never answers holds only this thread, and the wait below ends.
        let spawned = std::thread::Builder::new()
            .name("driftd-state-skim".into())
            .spawn(move || {
                let mut found = Vec::new();
                for s in &covering {
                    for l in &s.sources {
                        match source::skim_local(l, driftd_aws::EARLY_TYPES, &schema) {
                            Some(r) => found.extend(r),
                            None => return,
                        }
                    }
                }
                let _ = tx.send(schema.desired(&found));
            });
        if spawned.is_err() {
            tracing::debug!("cannot start the state's first pass");
        }
    }
    // Not readable (or no thread): the sender is dropped unsent, `None` at once.
    async move { tokio::time::timeout(timeout, rx).await.ok()?.ok() }
}

/// Read each scope once, a few scopes at a time; `early`: the scopes
/// started before the state was loaded.
#[allow(clippy::too_many_arguments)]
pub(super) async fn read_all(
    config: &Config,
    options: &ScanOptions,
    calls: &ApiCalls,
    schema: &AwsSchema,
    progress: &Progress,
    names: &[&str],
    members: BTreeMap<ScopeKey, Vec<(usize, StateResource)>>,
    foreign: &BTreeMap<ScopeKey, Vec<StateResource>>,
    foreign_rules: &BTreeMap<ScopeKey, Vec<StateResource>>,
    discover_in: &DiscoverIn<'_>,
    narrow: Option<&crate::events::rescan::Narrow>,
    mut early: BTreeMap<ScopeKey, Early>,
) -> Vec<ScopeRead> {
    stream::iter(members)
            .map(|(key, members)| {
                let mut discover = discover_in.allows(&key);
                let early = early.remove(&key);
                let mut foreign_ids: HashMap<String, BTreeSet<String>> = if discover {
                    schema.desired(foreign.get(&key).map(Vec::as_slice).unwrap_or(&[])).into_iter().fold(HashMap::new(), |mut m, d| {
                        m.entry(d.rtype).or_default().insert(d.id);
                        m
                    })
                } else {
                    HashMap::new()
                };
                async move {
                    let (stacks, mut resources): (Vec<usize>, Vec<StateResource>) = members.into_iter().unzip();
                    let stack_names: Vec<&str> = stacks.iter().filter_map(|&i| names.get(i).copied()).collect();
                    let label = super::progress::label(&key.region, &stack_names);
                    let (shown, early) = match early {
                        Some(e) => (progress.scope_counting(label, e.calls), Some(e.reader)),
                        None => (progress.scope(label, calls), None),
                    };
                    // Other stacks' standalone rules project together with this
                    // scope's groups (and are read, never reported: the report
                    // walks only this run's resources, the first ones).
                    let own = resources.len();
                    resources.extend(foreign_rules.get(&key).cloned().unwrap_or_default());
                    // Each raw form is freed as soon as it is projected.
                    let mut desired = schema.desired_freeing(&mut resources);
                    resources.truncate(own);
                    // Raw state attributes are no longer needed: keep only the
                    // sensitive paths, and free the rest before the live read.
                    let mut sensitive: Vec<Vec<Vec<String>>> = resources.into_iter().map(|r| r.sensitive_paths).collect();
                    // Collected in place, it would keep the resources' allocation
                    // (about 14 MB at 100,000 instances) for a tenth of its size.
                    sensitive.shrink_to_fit();
                    let mut stacks = stacks;
                    let mut own = own;
                    if let Some(n) = narrow {
                        // An event-driven rescan: keep the resources the events
                        // name (and those sharing their listing); the others'
                        // ids only keep them from being reported unmanaged.
                        let named = n.named_in(&key.region);
                        let keep: Vec<bool> = desired[..own].iter().map(|d| crate::events::rescan::names(d, &named)).collect();
                        let kept_ids: BTreeSet<&str> = desired[..own].iter().zip(&keep).filter(|(_, k)| **k).map(|(d, _)| d.id.as_str()).collect();
                        // A named id no stack manages is a candidate unmanaged
                        // resource: only then is the scope listed in full.
                        discover &= named.iter().any(|id| !kept_ids.contains(id));
                        if !discover {
                            foreign_ids.clear();
                        }
                        let rest = desired.split_off(own);
                        let mut kept = Vec::new();
                        let mut kept_stacks = Vec::new();
                        let mut kept_sensitive = Vec::new();
                        for (((d, s), sens), k) in std::mem::take(&mut desired).into_iter().zip(stacks).zip(sensitive).zip(keep) {
                            if k {
                                kept.push(d);
                                kept_stacks.push(s);
                                kept_sensitive.push(sens);
                            } else if discover {
                                foreign_ids.entry(d.rtype).or_default().insert(d.id);
                            }
                        }
                        own = kept.len();
                        kept.extend(rest);
                        desired = kept;
                        stacks = kept_stacks;
                        sensitive = kept_sensitive;
                    }
                    let t = Instant::now();
                    // Every read of the scope ends by `scan.stack_timeout`.
                    let deadline = tokio::time::Instant::now() + config.scan.stack_timeout;
                    let reader = match early {
                        Some(reader) => {
                            if !discover {
                                // A state of the scope failed: no full listing.
                                reader.drop_instance_listing();
                            }
                            reader
                        }
                        None => connect(&key, config, options, &shown.calls).await,
                    };
                    // Read with the other stacks' rules included, then keep this run's own.
                    // A resource with no id cannot be read (and must not fail the read of the others).
                    let readable: std::borrow::Cow<[Desired]> = if desired.iter().any(|d| d.id.is_empty()) {
                        desired.iter().filter(|d| !d.id.is_empty()).cloned().collect::<Vec<_>>().into()
                    } else {
                        desired.as_slice().into()
                    };
                    let inventory = reader
                        .read_within(ReadRequest { desired: &readable, discover_unmanaged: discover }, Some(deadline))
                        .await;
                    drop(readable);
                    desired.truncate(own);
                    info!(region = %key.region, resources = desired.len(), elapsed_ms = t.elapsed().as_millis() as u64, "scope read");
                    shown.done(desired.len());
                    ScopeRead { key, stacks, sensitive, desired, inventory, discover, foreign_ids }
                }
            })
            .buffer_unordered(4)
            .collect()
            .await
}
