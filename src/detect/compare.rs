//! Comparison: each managed resource of a scope against its live read ->
//! in sync, changed, missing, or unknown (a read that failed is never
//! "missing").

use std::collections::BTreeMap;

use driftd_aws::AwsSchema;
use driftd_core::{Schema, TypeRead};

use crate::diff::{diff, is_sensitive, render_path, SENSITIVE};
use crate::ignore::IgnoreRules;
use crate::report::*;

use super::scope::{Loaded, ScopeRead};
use super::Detail;

/// Compare one scope's resources; drifts, unknowns and counts go to their
/// stack's report, the unmasked details of each drift to `details`.
pub(super) fn scope(
    schema: &AwsSchema,
    read: &ScopeRead,
    loaded: &[Loaded],
    stack_ignores: &[IgnoreRules],
    reports: &mut [StackReport],
    details: &mut BTreeMap<(String, String), Detail>,
    managed_ids: &mut BTreeMap<String, BTreeMap<String, String>>,
) {
    let ScopeRead {
        key,
        stacks,
        sensitive,
        desired,
        inventory,
        ..
    } = read;
    // The last type's read: a scope's resources come type by type.
    let mut last: Option<(&str, Option<&TypeRead>)> = None;
    for ((si, sensitive_paths), d) in stacks.iter().zip(sensitive).zip(desired) {
        let stack = &loaded[*si].stack;
        let report = &mut reports[*si];
        let ignore = &stack_ignores[*si];
        report.counts.managed += 1;
        // The stack's name copied once per stack, not once per resource.
        let ids = match managed_ids.get_mut(&stack.name) {
            Some(ids) => ids,
            None => managed_ids.entry(stack.name.clone()).or_default(),
        };
        ids.insert(d.id.clone(), d.address.clone());
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
                own_failure = TypeRead::Failed(driftd_core::ReadError::classify(e.clone()));
                Some(&own_failure)
            }
            None => match last {
                Some((t, read)) if t == d.rtype => read,
                _ => {
                    let read = inventory.get(&d.rtype);
                    last = Some((d.rtype.as_str(), read));
                    read
                }
            },
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
                    // A live resource settled in sync as its page was read
                    // has no attributes left: nothing to compare (an absent
                    // attribute never is), and its desired form stays frozen.
                    let all = if l.attrs.is_empty() {
                        Vec::new()
                    } else {
                        diff(&d.attrs.peek(), &l.attrs, |a| schema.shape(&d.rtype, a))
                    };
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
}
