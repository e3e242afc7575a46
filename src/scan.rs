//! The scan pipeline: state -> fetch -> normalize -> diff -> report.
//!
//! Why it is shaped like this:
//! - Stacks are loaded independently: a stack whose state fails is reported
//!   `failed` and the others go on.
//! - Live reads are grouped by *scope* (region x endpoint x role), across
//!   stacks: two stacks in one region share one `DescribeInstances` listing.
//! - A type whose read failed leaves its resources `unknown` (never
//!   `missing`) and marks their stacks `incomplete`.
//! - Unmanaged detection in a scope runs only when every stack that covers it
//!   loaded: with a state missing, everything it manages would look unmanaged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::time::Instant;

use driftd_aws::{ApiCalls, AwsReader, AwsSchema, ClientOptions, Clients, Target};
use driftd_core::{Desired, Live, ReadRequest, Schema, StateResource, TypeRead};
use futures::stream::{self, StreamExt};
use tracing::{info, warn};

use crate::config::{Config, StackConfig, StateLocation};
use crate::diff::{diff, is_sensitive, render_path, SENSITIVE};
use crate::report::*;
use crate::source;
use crate::state::StateFile;

/// Options of one scan run (from the command line).
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Report AWS-created and service-owned resources as unmanaged too.
    pub strict: bool,
    /// Only these stacks (all when empty).
    pub only_stacks: Vec<String>,
    /// Turn unmanaged detection off for this run.
    pub no_unmanaged: bool,
    pub client: ClientOptions,
    /// Print progress lines on stderr (only when it is a terminal).
    pub progress: bool,
    /// Scan only this shard: (index, count), stacks split by a stable hash.
    pub shard: Option<(u32, u32)>,
}

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

struct Loaded {
    stack: StackConfig,
    files: Vec<StateFile>,
    errors: Vec<String>,
}

/// A scope: where one set of live reads happens.
type ScopeKey = Target;

/// What one scope's read produced; resource `i` projects to `desired[i]`.
struct ScopeRead {
    key: ScopeKey,
    /// Index in `loaded` of the stack of each resource.
    stacks: Vec<usize>,
    /// Sensitive paths of each resource (from its state).
    sensitive: Vec<Vec<Vec<String>>>,
    desired: Vec<Desired>,
    inventory: driftd_core::Inventory,
    /// Unmanaged detection ran in this scope.
    discover: bool,
    /// Ids managed by other shards' stacks in this scope, by type.
    foreign_ids: HashMap<String, BTreeSet<String>>,
}

fn target(stack: &StackConfig, region: &str) -> Target {
    Target {
        region: region.to_string(),
        endpoint_url: stack.endpoint_url.clone(),
        assume_role_arn: stack.assume_role_arn.clone(),
    }
}

struct Progress {
    on: bool,
}

impl Progress {
    fn say(&self, msg: &str) {
        if self.on {
            eprintln!("driftd: {msg}");
        }
    }
}

async fn load_stack(
    stack: StackConfig,
    options: &ScanOptions,
    calls: &ApiCalls,
    settings: &crate::config::ScanSettings,
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
    for loc in &stack.sources {
        let limits = source::ReadLimits {
            timeout: settings.state_timeout,
            attempts: settings.max_attempts,
        };
        match source::load(loc, s3.as_ref(), &limits, &dec).await {
            Ok(f) => files.extend(f),
            Err(e) => errors.push(e),
        }
    }
    Loaded {
        stack,
        files,
        errors,
    }
}

/// What the decide and act stages need beyond the report: the canonical
/// desired form and the unmasked differences of each drifted resource.
#[derive(Debug, Clone)]
pub struct Detail {
    pub target: Target,
    pub desired: Desired,
    /// Differences after ignore rules (empty for missing resources).
    pub diffs: Vec<driftd_core::AttrDiff>,
    /// Differences the ignore rules dropped: a reconcile must leave them as
    /// they are live (e.g. a whole-set S3 tag write keeps ignored tags).
    pub ignored: Vec<driftd_core::AttrDiff>,
    pub sensitive_paths: Vec<Vec<String>>,
}

/// A scan's report and, per (stack, address), the details of its drifts.
#[derive(Debug, Clone)]
pub struct Scan {
    pub report: Report,
    pub details: BTreeMap<(String, String), Detail>,
    /// Per stack, every managed resource's id -> address (pull requests
    /// reference them in generated code).
    pub managed_ids: BTreeMap<String, BTreeMap<String, String>>,
    /// Live form of each unmanaged resource, by (region, type, id).
    pub unmanaged_live: BTreeMap<(String, String, String), Live>,
}

/// Run one scan over the configured stacks and return its report.
pub async fn run(config: &Config, options: &ScanOptions, calls: &ApiCalls) -> Report {
    scan(config, options, calls).await.report
}

/// The client options of a run: the caller's, with the config's
/// `scan.attempt_timeout` when it sets one.
pub fn client_options(config: &Config, base: &ClientOptions) -> ClientOptions {
    let mut c = base.clone();
    if let Some(t) = config.scan.attempt_timeout {
        c.attempt_timeout = t;
    }
    c
}

/// Run one scan over the configured stacks.
pub async fn scan(config: &Config, options: &ScanOptions, calls: &ApiCalls) -> Scan {
    let started = Instant::now();
    let options = &ScanOptions {
        client: client_options(config, &options.client),
        ..options.clone()
    };
    let progress = Progress {
        on: options.progress && std::io::stderr().is_terminal(),
    };
    let schema = AwsSchema {
        instance_attribute_reads: config.scan.instance_attribute_reads,
    };
    let stacks: Vec<StackConfig> = select_stacks(config, options)
        .into_iter()
        .cloned()
        .collect();
    // Stacks left out by --stack: unmanaged detection in the regions they
    // cover would report their resources, so it is skipped there.
    let in_filter =
        |s: &StackConfig| options.only_stacks.is_empty() || options.only_stacks.contains(&s.name);
    let outside: BTreeSet<ScopeKey> = config
        .stacks
        .iter()
        .filter(|s| !in_filter(s))
        .flat_map(|s| s.regions.iter().map(|r| target(s, r)).collect::<Vec<_>>())
        .collect();
    // Stacks of the other shards: their state is loaded (not scanned) so that
    // the shard owning a region knows everything that is managed there.
    let sharded_out: Vec<StackConfig> = config
        .stacks
        .iter()
        .filter(|s| in_filter(s) && !stacks.iter().any(|x| x.name == s.name))
        .cloned()
        .collect();
    progress.say(&format!("loading state of {} stack(s)", stacks.len()));
    let mut loaded: Vec<Loaded> = stream::iter(stacks)
        .map(|s| load_stack(s, options, calls, &config.scan))
        .buffered(4)
        .collect()
        .await;
    let mut others: Vec<Loaded> = stream::iter(sharded_out)
        .map(|s| load_stack(s, options, calls, &config.scan))
        .buffered(4)
        .collect()
        .await;
    // Stacks left out by --stack (a per-stack daemon run): only their
    // standalone security group rules matter here, so that a group's rules
    // managed in another stack are not reported as drift of the group.
    let left_out: Vec<StackConfig> = config
        .stacks
        .iter()
        .filter(|s| !in_filter(s))
        .cloned()
        .collect();
    let filtered_out: Vec<Loaded> = stream::iter(left_out)
        .map(|s| load_stack(s, options, calls, &config.scan))
        .buffered(4)
        .collect()
        .await;
    const RULE_TYPES: &[&str] = &[
        "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
    ];
    let mut foreign_rules: BTreeMap<ScopeKey, Vec<StateResource>> = BTreeMap::new();
    for l in others
        .iter()
        .chain(filtered_out.iter())
        .filter(|l| l.errors.is_empty())
    {
        let rules: Vec<StateResource> = l
            .files
            .iter()
            .flat_map(|f| f.resources.iter())
            .filter(|r| RULE_TYPES.contains(&r.rtype.as_str()))
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

    let supported: BTreeSet<&str> = schema.supported_types().iter().copied().collect();
    // Per-stack reports.
    let mut reports: Vec<StackReport> = loaded
        .iter()
        .map(|l| StackReport {
            name: l.stack.name.clone(),
            status: if l.errors.is_empty() {
                StackStatus::Ok
            } else {
                StackStatus::Failed
            },
            errors: l.errors.clone(),
            sources: l
                .files
                .iter()
                .map(|f| SourceInfo {
                    location: f.source.clone(),
                    serial: f.serial,
                    lineage: f.lineage.clone(),
                    terraform_version: f.terraform_version.clone(),
                    resources: f.resources.len(),
                })
                .collect(),
            counts: Counts {
                unsupported: if l.errors.is_empty() {
                    l.files
                        .iter()
                        .flat_map(|f| &f.resources)
                        .filter(|r| !supported.contains(r.rtype.as_str()))
                        .count()
                } else {
                    0
                },
                ..Default::default()
            },
            drifts: Vec::new(),
            unknown: Vec::new(),
            blast_radius: None,
            actions: Vec::new(),
            pull_requests: None,
        })
        .collect();
    // Group resources of supported types by scope, remembering their stack.
    let mut scopes: BTreeMap<ScopeKey, Vec<(usize, StateResource)>> = BTreeMap::new();
    // Scopes a stack lists (for unmanaged detection), and whether all their stacks loaded.
    let mut listed: BTreeMap<ScopeKey, bool> = BTreeMap::new();
    // Resources that are managed but never read or diffed (other shards'
    // stacks, deposed objects, unsupported state forms), by scope: their ids
    // only keep them from being reported unmanaged.
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
        hold(&schema, &supported, l, Some(&mut reports[si]), &mut foreign);
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
        hold(&schema, &supported, l, None, &mut foreign);
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
    // With shards, exactly one shard looks for unmanaged resources in a scope.
    let owner = |key: &ScopeKey| -> Option<u32> {
        options.shard.map(|(_, n)| {
            let k = format!(
                "{}|{:?}|{:?}",
                key.region, key.endpoint_url, key.assume_role_arn
            );
            (stable_hash(&k) % u64::from(n)) as u32
        })
    };
    let owns = |key: &ScopeKey| match (owner(key), options.shard) {
        (Some(o), Some((i, _))) => o == i,
        _ => true,
    };
    for key in listed.keys() {
        if owns(key) {
            scopes.entry(key.clone()).or_default();
        }
    }

    // Read each scope once, a few scopes at a time.
    let discover_on = config.scan.unmanaged && !options.no_unmanaged;
    let results: Vec<ScopeRead> = stream::iter(scopes)
            .map(|(key, members)| {
                let schema = &schema;
                let progress = &progress;
                let foreign_rules = &foreign_rules;
                let discover = discover_on && listed.get(&key).copied().unwrap_or(false) && !outside.contains(&key) && owns(&key);
                let foreign_ids: HashMap<String, BTreeSet<String>> = if discover {
                    schema.desired(foreign.get(&key).map(Vec::as_slice).unwrap_or(&[])).into_iter().fold(HashMap::new(), |mut m, d| {
                        m.entry(d.rtype).or_default().insert(d.id);
                        m
                    })
                } else {
                    HashMap::new()
                };
                async move {
                    let (stacks, mut resources): (Vec<usize>, Vec<StateResource>) = members.into_iter().unzip();
                    // Other stacks' standalone rules project together with this
                    // scope's groups (and are read, never reported: the report
                    // walks only this run's resources, the first ones).
                    let own = resources.len();
                    resources.extend(foreign_rules.get(&key).cloned().unwrap_or_default());
                    let mut desired = schema.desired(&resources);
                    resources.truncate(own);
                    // Raw state attributes are no longer needed: keep only the
                    // sensitive paths, and free the rest before the live read.
                    let sensitive: Vec<Vec<Vec<String>>> = resources.into_iter().map(|r| r.sensitive_paths).collect();
                    let t = Instant::now();
                    // Every read of the scope ends by `scan.stack_timeout`.
                    let deadline = tokio::time::Instant::now() + config.scan.stack_timeout;
                    let reader =
                        AwsReader::connect(&key, &options.client, calls, config.scan.concurrency).await;
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
                    progress.say(&format!("read {} resource(s) in {} ({:.1}s)", desired.len(), key.region, t.elapsed().as_secs_f64()));
                    ScopeRead { key, stacks, sensitive, desired, inventory, discover, foreign_ids }
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;

    let mut scope_reports = Vec::new();
    let mut details = BTreeMap::new();
    // Discoverable resources managed by this run's stacks, by endpoint: a
    // bucket name is global, so one managed in any region is not unmanaged.
    let managed_anywhere: BTreeSet<(Option<String>, String, String)> = results
        .iter()
        .flat_map(|r| {
            r.desired
                .iter()
                .map(move |d| (r.key.endpoint_url.clone(), d.rtype.clone(), d.id.clone()))
        })
        .filter(|(_, t, _)| schema.discoverable_types().contains(&t.as_str()))
        .collect();
    let mut managed_ids: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut unmanaged_live = BTreeMap::new();
    let global_ignore = &config.scan.ignore;
    // Global rules, then the stack's: merged once per stack, not per resource.
    let stack_ignores: Vec<crate::ignore::IgnoreRules> = loaded
        .iter()
        .map(|l| {
            let mut r = global_ignore.clone();
            r.extend(&l.stack.ignore);
            r
        })
        .collect();

    for ScopeRead {
        key,
        stacks,
        sensitive,
        desired,
        inventory,
        discover,
        foreign_ids,
    } in &results
    {
        let mut scope_failures = Vec::new();
        let mut listing_failed = false;
        for ((si, sensitive_paths), d) in stacks.iter().zip(sensitive).zip(desired) {
            let stack = &loaded[*si].stack;
            let report = &mut reports[*si];
            let ignore = &stack_ignores[*si];
            report.counts.managed += 1;
            managed_ids
                .entry(stack.name.clone())
                .or_default()
                .insert(d.id.clone(), d.address.clone());
            if ignore.ignores_resource(&d.rtype, &d.id) {
                report.counts.ignored += 1;
                continue;
            }
            let unknown = |reason: String| Unknown {
                address: d.address.clone(),
                rtype: d.rtype.clone(),
                id: d.id.clone(),
                reason,
            };
            if d.id.is_empty() {
                report.counts.unknown += 1;
                report
                    .unknown
                    .push(unknown("unsupported: no id (the state records no id for this resource, so it cannot be read)".into()));
                continue;
            }
            // One resource's own read failed (one bucket answering 403):
            // that resource is unknown, the others of its type are compared.
            let own_failure;
            let read = match inventory.failed.get(&d.rtype).and_then(|m| m.get(&d.id)) {
                Some(e) => {
                    own_failure = TypeRead::Failed(e.clone());
                    Some(&own_failure)
                }
                None => inventory.get(&d.rtype),
            };
            match read {
                None => {
                    report.counts.unknown += 1;
                    report.unknown.push(unknown("not read".into()));
                }
                Some(TypeRead::Failed(e)) => {
                    report.counts.unknown += 1;
                    report.status = report.status.max(StackStatus::Incomplete);
                    let msg = format!("{} in {}: live read failed: {e}", d.rtype, key.region);
                    if !report.errors.contains(&msg) {
                        report.errors.push(msg.clone());
                    }
                    report.unknown.push(unknown(msg));
                }
                Some(TypeRead::Complete(live)) => match live.get(&d.id) {
                    None => {
                        details.insert(
                            (stack.name.clone(), d.address.clone()),
                            Detail {
                                target: key.clone(),
                                desired: d.clone(),
                                diffs: vec![],
                                ignored: vec![],
                                sensitive_paths: sensitive_paths.clone(),
                            },
                        );
                        report.counts.missing += 1;
                        report.drifts.push(Drift {
                            address: Some(d.address.clone()),
                            rtype: d.rtype.clone(),
                            id: d.id.clone(),
                            kind: DriftKind::Missing,
                            attributes: vec![],
                            first_seen: None,
                            seen: None,
                            decision: None,
                            changed_by: None,
                            unattributed: None,
                        });
                    }
                    Some(l) => {
                        let all = diff(&d.attrs, &l.attrs, |a| schema.shape(&d.rtype, a));
                        let had = !all.is_empty();
                        let (kept, ignored_diffs): (
                            Vec<driftd_core::AttrDiff>,
                            Vec<driftd_core::AttrDiff>,
                        ) = all
                            .into_iter()
                            .partition(|a| !ignore.ignores_attribute(&d.rtype, &d.id, &a.path));
                        let attributes: Vec<AttrChange> = kept
                            .iter()
                            .cloned()
                            .map(|a| {
                                let secret = is_sensitive(&a.path, sensitive_paths);
                                let mask = |v: serde_json::Value| {
                                    if secret && !v.is_null() {
                                        serde_json::Value::String(SENSITIVE.into())
                                    } else {
                                        v
                                    }
                                };
                                AttrChange {
                                    path: render_path(&a.path),
                                    expected: mask(a.expected),
                                    actual: mask(a.actual),
                                }
                            })
                            .collect();
                        if attributes.is_empty() {
                            if had {
                                report.counts.ignored += 1;
                            } else {
                                report.counts.in_sync += 1;
                            }
                        } else {
                            details.insert(
                                (stack.name.clone(), d.address.clone()),
                                Detail {
                                    target: key.clone(),
                                    desired: d.clone(),
                                    diffs: kept,
                                    ignored: ignored_diffs,
                                    sensitive_paths: sensitive_paths.clone(),
                                },
                            );
                            report.counts.changed += 1;
                            report.drifts.push(Drift {
                                address: Some(d.address.clone()),
                                rtype: d.rtype.clone(),
                                id: d.id.clone(),
                                kind: DriftKind::Changed,
                                attributes,
                                first_seen: None,
                                seen: None,
                                decision: None,
                                changed_by: None,
                                unattributed: None,
                            });
                        }
                    }
                },
            }
        }

        // Unmanaged resources of this scope.
        let listed_here = listed.contains_key(key);
        if !listed_here {
            continue;
        }
        let mut sr = ScopeReport {
            region: key.region.clone(),
            endpoint_url: key.endpoint_url.clone(),
            assume_role_arn: key.assume_role_arn.clone(),
            status: ScopeStatus::Ok,
            reason: None,
            drifts: vec![],
        };
        if !*discover {
            sr.status = ScopeStatus::Skipped;
            sr.reason = Some(if !discover_on {
                "unmanaged detection is off".into()
            } else if outside.contains(key) {
                "not every stack covering this region was part of this run (--stack or per-stack schedule)".into()
            } else if !owns(key) {
                format!(
                    "unmanaged detection of this region runs in shard {}",
                    owner(key).unwrap_or(0)
                )
            } else {
                "a stack covering this region failed to load its state: every resource it manages would look unmanaged".into()
            });
            scope_reports.push(sr);
            continue;
        }
        let mut ignore = global_ignore.clone();
        for l in loaded
            .iter()
            .chain(others.iter())
            .filter(|l| &target(&l.stack, &key.region) == key)
        {
            ignore.extend(&l.stack.ignore);
        }
        let managed: HashMap<&str, BTreeSet<&str>> =
            desired.iter().fold(HashMap::new(), |mut m, d| {
                m.entry(d.rtype.as_str()).or_default().insert(d.id.as_str());
                m
            });
        for t in schema.discoverable_types() {
            match inventory.get(t) {
                Some(TypeRead::Complete(live)) => {
                    for (id, l) in live {
                        if managed.get(t).is_some_and(|m| m.contains(id.as_str()))
                            || foreign_ids.get(*t).is_some_and(|m| m.contains(id))
                            || !unmanaged_candidate(l, options.strict || config.scan.strict)
                            || ignore.ignores_resource(t, id)
                        {
                            continue;
                        }
                        unmanaged_live
                            .insert((key.region.clone(), t.to_string(), id.clone()), l.clone());
                        sr.drifts.push(Drift {
                            address: None,
                            rtype: t.to_string(),
                            id: id.clone(),
                            kind: DriftKind::Unmanaged,
                            attributes: vec![],
                            first_seen: None,
                            seen: None,
                            decision: None,
                            changed_by: None,
                            unattributed: None,
                        });
                    }
                }
                Some(TypeRead::Failed(e)) => {
                    listing_failed = true;
                    scope_failures.push(format!("{t}: {e}"));
                }
                None => {}
            }
            // Resources the listing could not place (one bucket whose region
            // could not be read): incomplete for those alone, unless a stack
            // of this run manages them (then they are not unmanaged anywhere).
            for (id, reason) in inventory.gaps.get(*t).into_iter().flatten() {
                if managed_anywhere.contains(&(key.endpoint_url.clone(), t.to_string(), id.clone()))
                    || foreign_ids.get(*t).is_some_and(|m| m.contains(id))
                    || ignore.ignores_resource(t, id)
                {
                    continue;
                }
                scope_failures.push(format!("{t}: {reason}"));
            }
        }
        if !scope_failures.is_empty() {
            sr.status = ScopeStatus::Incomplete;
            sr.reason = Some(format!(
                "listing failed, unmanaged resources may be missing from this list: {}",
                scope_failures.join("; ")
            ));
            warn!(region = %key.region, "unmanaged detection incomplete");
            // A failed read is never a clean run: every stack covering this
            // scope gets the error (exit 1). A failed listing also makes it
            // incomplete (no `ok` scan, no fresh success timestamp), even
            // when it has no resource of the failed types; a few resources
            // that could not be placed (one bucket's region) do not: every
            // resource of the stack was still compared.
            let msg = format!(
                "unmanaged detection in {} incomplete: {}",
                key.region,
                scope_failures.join("; ")
            );
            for (si, l) in loaded.iter().enumerate() {
                if l.errors.is_empty()
                    && l.stack.regions.iter().any(|r| &target(&l.stack, r) == key)
                {
                    let report = &mut reports[si];
                    if listing_failed {
                        report.status = report.status.max(StackStatus::Incomplete);
                    }
                    if !report.errors.contains(&msg) {
                        report.errors.push(msg.clone());
                    }
                }
            }
        }
        scope_reports.push(sr);
    }

    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        driftd_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        summary: Summary::default(),
        stacks: reports,
        unmanaged: scope_reports,
    };
    report.finish();
    info!(
        stacks = report.summary.stacks,
        drifts = report.summary.drifts,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "scan finished"
    );
    Scan {
        report,
        details,
        managed_ids,
        unmanaged_live,
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

/// Is a live resource a candidate for "unmanaged"? Not when AWS created it or
/// another service owns it, unless strict.
fn unmanaged_candidate(l: &Live, strict: bool) -> bool {
    strict || (!l.auto_created && l.owned_by_service.is_none())
}
