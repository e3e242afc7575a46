//! Detect: state -> fetch -> normalize -> diff -> a report of drifts.
//!
//! Why it is shaped like this:
//! - Stacks are loaded independently: a stack whose state fails is reported
//!   `failed` and the others go on ([`scope`]).
//! - Live reads are grouped by *scope* (region x endpoint x role), across
//!   stacks: two stacks in one region share one `DescribeInstances` listing
//!   ([`scope::build`], [`scope::read_all`]).
//! - A scope that will discover unmanaged resources starts its full
//!   instance listing before the state is loaded ([`scope::start_early`]):
//!   where pages are answered at once the listing is the long pole and
//!   takes a core, the parse another.
//! - A type whose read failed leaves its resources `unknown` (never
//!   `missing`) and marks their stacks `incomplete` ([`compare`]).
//! - Unmanaged detection in a scope runs only when every stack that covers it
//!   loaded: with a state missing, everything it manages would look
//!   unmanaged ([`unmanaged`]).

mod compare;
pub mod progress;
mod scope;
mod unmanaged;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::time::Instant;

use driftd_aws::{ApiCalls, AwsSchema, ClientOptions, Target};
use driftd_core::{Desired, Schema};
use tracing::{debug, info};

use crate::config::{Config, StackConfig};
use crate::report::*;

pub use compare::ManagedIds;
pub use scope::{in_shard, select_stacks};
use scope::{DiscoverIn, Loaded, ScopeKey, Sharding};

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
    /// Show progress on stderr: a live board on a terminal, plain lines
    /// otherwise (off: `--quiet`, the daemon).
    pub progress: bool,
    /// Scan only this shard: (index, count), stacks split by a stable hash.
    pub shard: Option<(u32, u32)>,
    /// An event-driven rescan: read only the resources the events name (and
    /// what shares their listing), then merge into the previous report
    /// ([`crate::events::rescan`]). `None`: a full scan.
    pub narrow: Option<std::sync::Arc<crate::events::rescan::Narrow>>,
}

use progress::Progress;

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
    pub managed_ids: ManagedIds,
    /// Live form of each unmanaged resource, by (region, type, id).
    pub unmanaged_live: BTreeMap<(String, String, String), driftd_core::Live>,
    /// Narrowed scans only: per stack, the addresses this run read and compared.
    pub rescanned: BTreeMap<String, BTreeSet<String>>,
}

/// Run one scan over the configured stacks and return its report.
pub async fn run(config: &Config, options: &ScanOptions, calls: &ApiCalls) -> Report {
    scan(config, options, calls).await.report
}

/// The client options of a run: the caller's, with the config's
/// `scan.attempt_timeout` when it sets one, and its `[scan.rate_limit]`.
pub fn client_options(config: &Config, base: &ClientOptions) -> ClientOptions {
    let mut c = base.clone();
    if let Some(t) = config.scan.attempt_timeout {
        c.attempt_timeout = t;
    }
    c.rate_limits = config.scan.rate_limits.clone();
    c
}

/// A stack's report before comparison: its load status, sources and counts.
fn stack_report(l: &Loaded, supported: &BTreeSet<&str>) -> StackReport {
    StackReport {
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
    }
}

/// Run one scan over the configured stacks: build scopes, read each once,
/// compare, detect unmanaged resources.
pub async fn scan(config: &Config, options: &ScanOptions, calls: &ApiCalls) -> Scan {
    let started = Instant::now();
    let options = &ScanOptions {
        client: client_options(config, &options.client),
        ..options.clone()
    };
    let progress = Progress::for_run(options.progress, std::io::stderr().is_terminal());
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
        .flat_map(|s| {
            s.regions
                .iter()
                .map(|r| scope::target(s, r))
                .collect::<Vec<_>>()
        })
        .collect();
    // Stacks of the other shards: their state is loaded (not scanned) so that
    // the shard owning a region knows everything that is managed there.
    let sharded_out: Vec<StackConfig> = config
        .stacks
        .iter()
        .filter(|s| in_filter(s) && !stacks.iter().any(|x| x.name == s.name))
        .cloned()
        .collect();
    let sharding = Sharding {
        shard: options.shard,
    };
    // The scopes that will list every instance (discovery), their listing
    // started now: it runs while the state is parsed ([`scope::start_early`]).
    let discovery_on = config.scan.unmanaged && !options.no_unmanaged;
    let early_keys: BTreeSet<ScopeKey> = if options.narrow.is_none() {
        stacks
            .iter()
            .flat_map(|s| s.regions.iter().map(|r| scope::target(s, r)))
            .filter(|k| scope::may_discover(discovery_on, &outside, sharding, k))
            .collect()
    } else {
        BTreeSet::new()
    };
    progress.say(&format!("loading state of {} stack(s)", stacks.len()));
    let scanned = stacks.clone();
    let (early, mut loaded) = tokio::join!(
        scope::start_early(config, options, calls, early_keys, &scanned),
        scope::load_all(stacks, options, calls, &config.scan)
    );
    let mut others = scope::load_all(sharded_out, options, calls, &config.scan).await;
    // Stacks left out by --stack (a per-stack daemon run): only their
    // standalone security group rules matter here, so that a group's rules
    // managed in another stack are not reported as drift of the group.
    let left_out: Vec<StackConfig> = config
        .stacks
        .iter()
        .filter(|s| !in_filter(s))
        .cloned()
        .collect();
    let filtered_out = scope::load_all(left_out, options, calls, &config.scan).await;
    debug!(
        stacks = loaded.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "state loaded"
    );
    // Parsing built and dropped every raw form: give those pages back once,
    // before the reads (not per scope: a trim walks the whole heap).
    crate::mem::release();
    let not_scanned: Vec<&Loaded> = others.iter().chain(filtered_out.iter()).collect();
    let foreign_rules = scope::foreign_rules(&schema, &not_scanned);
    drop(not_scanned);

    let supported: BTreeSet<&str> = schema.supported_types().iter().copied().collect();
    let mut reports: Vec<StackReport> =
        loaded.iter().map(|l| stack_report(l, &supported)).collect();
    let scopes = scope::build(
        &schema,
        &supported,
        &mut loaded,
        &mut reports,
        &mut others,
        sharding,
    );
    let discover_in = DiscoverIn {
        on: discovery_on,
        listed: &scopes.listed,
        outside: &outside,
        sharding,
    };
    progress.expect_scopes(scopes.members.len());
    progress.say(&format!(
        "reading {} scope(s) (region x endpoint x role)",
        scopes.members.len()
    ));
    let ticker = progress.ticker(progress::lines_interval(
        std::env::var("DRIFTD_PROGRESS_INTERVAL").ok(),
    ));
    let names: Vec<&str> = loaded.iter().map(|l| l.stack.name.as_str()).collect();
    let results = scope::read_all(
        config,
        options,
        calls,
        &schema,
        &progress,
        &names,
        scopes.members,
        &scopes.foreign,
        &foreign_rules,
        &discover_in,
        options.narrow.as_deref(),
        early,
    )
    .await;
    if let Some(t) = ticker {
        t.abort();
    }
    progress.finish();
    debug!(
        scopes = results.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "scopes read"
    );
    let mut rescanned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if options.narrow.is_some() {
        for read in &results {
            for (i, d) in read.desired.iter().enumerate() {
                rescanned
                    .entry(loaded[read.stacks[i]].stack.name.clone())
                    .or_default()
                    .insert(d.address.clone());
            }
        }
        // Stacks of the run with nothing named: rescanned, nothing read.
        for l in &loaded {
            rescanned.entry(l.stack.name.clone()).or_default();
        }
    }

    let mut scope_reports = Vec::new();
    let mut details = BTreeMap::new();
    let mut managed_ids = ManagedIds::default();
    let mut unmanaged_live = BTreeMap::new();
    // Only the ids a listing could not place are looked up in it.
    let managed_anywhere = if results.iter().any(|r| !r.inventory.gaps.is_empty()) {
        unmanaged::managed_anywhere(&schema, &results)
    } else {
        unmanaged::ManagedAnywhere::default()
    };
    // Global rules, then the stack's: merged once per stack, not per resource.
    let stack_ignores: Vec<crate::ignore::IgnoreRules> = loaded
        .iter()
        .map(|l| {
            let mut r = config.scan.ignore.clone();
            r.extend(&l.stack.ignore);
            r
        })
        .collect();
    let cx = unmanaged::Context {
        config,
        options,
        schema: &schema,
        loaded: &loaded,
        others: &others,
        discover_in: &discover_in,
        managed_anywhere: &managed_anywhere,
    };
    for read in &results {
        compare::scope(
            &schema,
            read,
            &loaded,
            &stack_ignores,
            &mut reports,
            &mut details,
            &mut managed_ids,
        );
        if let Some(sr) = unmanaged::scope(&cx, read, &mut reports, &mut unmanaged_live) {
            scope_reports.push(sr);
        }
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
        rescanned,
    }
}
