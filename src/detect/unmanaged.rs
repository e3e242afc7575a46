//! Unmanaged detection: live resources of discoverable types in a scope
//! that no stack manages. Runs only where it is safe: every stack covering
//! the scope loaded, all of them are part of this run, and this shard owns
//! the scope; otherwise the scope is reported `skipped` with the reason.

use std::collections::{HashMap, HashSet};

use driftd_aws::AwsSchema;
use driftd_core::{Live, Schema, TypeRead};
use tracing::warn;

use crate::config::Config;
use crate::ignore::IgnoreRules;
use crate::report::*;

use super::scope::{target, DiscoverIn, Loaded, ScopeKey, ScopeRead};
use super::ScanOptions;

/// Discoverable resources managed by this run's stacks, by endpoint: a
/// bucket name is global, so one managed in any region is not unmanaged.
/// (Borrowed from the reads: at 100,000 instances, copies of every id were
/// 300,000 allocations made after the last read.)
pub(super) type ManagedAnywhere<'a> =
    HashSet<(Option<&'a str>, &'a str, &'a str), foldhash::fast::RandomState>;

pub(super) fn managed_anywhere<'a>(
    schema: &AwsSchema,
    results: &'a [ScopeRead],
) -> ManagedAnywhere<'a> {
    let discoverable: HashSet<&str> = schema.discoverable_types().iter().copied().collect();
    results
        .iter()
        .flat_map(|r| {
            r.desired.iter().map(move |d| {
                (
                    r.key.endpoint_url.as_deref(),
                    d.rtype.as_str(),
                    d.id.as_str(),
                )
            })
        })
        .filter(|(_, t, _)| discoverable.contains(t))
        .collect()
}

/// What unmanaged detection of one scope needs beyond its read.
pub(super) struct Context<'a> {
    pub config: &'a Config,
    pub options: &'a ScanOptions,
    pub schema: &'a AwsSchema,
    pub loaded: &'a [Loaded],
    pub others: &'a [Loaded],
    pub discover_in: &'a DiscoverIn<'a>,
    pub managed_anywhere: &'a ManagedAnywhere<'a>,
}

/// The unmanaged resources of one scope (`None` when no stack lists it).
/// Listing failures become data: the scope is `incomplete`, and every stack
/// covering it gets the error.
pub(super) fn scope(
    cx: &Context<'_>,
    read: &ScopeRead,
    reports: &mut [StackReport],
    unmanaged_live: &mut std::collections::BTreeMap<(String, String, String), Live>,
) -> Option<ScopeReport> {
    let ScopeRead {
        key,
        desired,
        inventory,
        discover,
        foreign_ids,
        ..
    } = read;
    let mut scope_failures = Vec::new();
    let mut listing_failed = false;
    if !cx.discover_in.listed.contains_key(key) {
        return None;
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
        sr.reason = Some(skipped_reason(cx.discover_in, key));
        return Some(sr);
    }
    let global_ignore = &cx.config.scan.ignore;
    let mut ignore: IgnoreRules = global_ignore.clone();
    for l in cx
        .loaded
        .iter()
        .chain(cx.others.iter())
        .filter(|l| &target(&l.stack, &key.region) == key)
    {
        ignore.extend(&l.stack.ignore);
    }
    type Fast = foldhash::fast::RandomState;
    let discoverable: HashSet<&str, Fast> =
        cx.schema.discoverable_types().iter().copied().collect();
    let managed: HashMap<&str, HashSet<&str, Fast>, Fast> = desired
        .iter()
        .filter(|d| discoverable.contains(d.rtype.as_str()))
        .fold(HashMap::default(), |mut m, d| {
            m.entry(d.rtype.as_str()).or_default().insert(d.id.as_str());
            m
        });
    let strict = cx.options.strict || cx.config.scan.strict;
    for t in cx.schema.discoverable_types() {
        match inventory.get(t) {
            Some(TypeRead::Complete(live)) => {
                for (id, l) in live {
                    if managed.get(t).is_some_and(|m| m.contains(id.as_str()))
                        || foreign_ids.get(*t).is_some_and(|m| m.contains(id))
                        || !unmanaged_candidate(l, strict)
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
            if cx
                .managed_anywhere
                .contains(&(key.endpoint_url.as_deref(), *t, id.as_str()))
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
        for (si, l) in cx.loaded.iter().enumerate() {
            if l.errors.is_empty() && l.stack.regions.iter().any(|r| &target(&l.stack, r) == key) {
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
    Some(sr)
}

/// Why unmanaged detection did not run in a scope.
fn skipped_reason(d: &DiscoverIn<'_>, key: &ScopeKey) -> String {
    if !d.on {
        "unmanaged detection is off".into()
    } else if d.outside.contains(key) {
        "not every stack covering this region was part of this run (--stack or per-stack schedule)"
            .into()
    } else if !d.sharding.owns(key) {
        format!(
            "unmanaged detection of this region runs in shard {}",
            d.sharding.owner(key).unwrap_or(0)
        )
    } else {
        "a stack covering this region failed to load its state: every resource it manages would look unmanaged".into()
    }
}

/// Is a live resource a candidate for "unmanaged"? Not when AWS created it or
/// another service owns it, unless strict.
fn unmanaged_candidate(l: &Live, strict: bool) -> bool {
    strict || (!l.auto_created && l.owned_by_service.is_none())
}
