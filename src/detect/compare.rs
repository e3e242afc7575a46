//! Comparison: each managed resource of a scope against its live read ->
//! in sync, changed, missing, or unknown (a read that failed is never
//! "missing").

use std::collections::{BTreeMap, HashMap};

use driftd_aws::AwsSchema;
use driftd_core::{Live, Schema, TypeRead};

use crate::diff::{diff, is_sensitive, render_path, SENSITIVE};
use crate::ignore::IgnoreRules;
use crate::report::*;

use super::scope::{Loaded, ScopeRead};
use super::Detail;

/// Each stack's managed ids (id, address), in the order compared; a stack's
/// map is built only when it is asked for ([`ManagedIds::stack`]: a pull
/// request references them), not for every scan. Inserted one by one into
/// a B-tree, 100,000 ids cost about 60 string comparisons each, after the
/// last read.
#[derive(Debug, Clone, Default)]
pub struct ManagedIds(BTreeMap<String, Vec<(String, String)>>);

impl ManagedIds {
    /// The stack's managed ids: id -> address (the last one compared wins).
    pub fn stack(&self, name: &str) -> BTreeMap<String, String> {
        self.0
            .get(name)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Live resources of one type by id, for the lookups of many resources of
/// that type: in a B-tree of 100,000 ids a lookup costs about 35 string
/// comparisons and as many cache misses, in a hash map one of each. The
/// index is built once a type has had [`ById::INDEX_AFTER`] lookups and
/// has more than [`ById::INDEX_ABOVE`] live resources (a few managed ones
/// among many listed are looked up in the tree).
#[derive(Default)]
struct ById<'a> {
    rtype: &'a str,
    lookups: usize,
    index: Option<HashMap<&'a str, &'a Live, foldhash::fast::RandomState>>,
}

impl<'a> ById<'a> {
    const INDEX_AFTER: usize = 1024;
    const INDEX_ABOVE: usize = 4096;

    /// `live`: the type's read in `inventory`.
    fn get<'b>(
        &mut self,
        inventory: &'a driftd_core::Inventory,
        rtype: &'a str,
        live: &'b BTreeMap<String, Live>,
        id: &str,
    ) -> Option<&'b Live>
    where
        'a: 'b,
    {
        if self.rtype != rtype {
            *self = ById {
                rtype,
                ..ById::default()
            };
        }
        if let Some(index) = &self.index {
            return index.get(id).copied();
        }
        self.lookups += 1;
        if let (true, Some(TypeRead::Complete(all))) = (
            self.lookups > Self::INDEX_AFTER && live.len() > Self::INDEX_ABOVE,
            inventory.get(rtype),
        ) {
            let index: HashMap<&str, &Live, _> = all.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let found = index.get(id).copied();
            self.index = Some(index);
            return found;
        }
        live.get(id)
    }
}

/// Compare one scope's resources; drifts, unknowns and counts go to their
/// stack's report, the unmasked details of each drift to `details`.
pub(super) fn scope(
    schema: &AwsSchema,
    read: &ScopeRead,
    loaded: &[Loaded],
    stack_ignores: &[IgnoreRules],
    reports: &mut [StackReport],
    details: &mut BTreeMap<(String, String), Detail>,
    managed_ids: &mut ManagedIds,
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
    let mut by_id = ById::default();
    for ((si, sensitive_paths), d) in stacks.iter().zip(sensitive).zip(desired) {
        let stack = &loaded[*si].stack;
        let report = &mut reports[*si];
        let ignore = &stack_ignores[*si];
        report.counts.managed += 1;
        // The stack's name copied once per stack, not once per resource.
        let ids = match managed_ids.0.get_mut(&stack.name) {
            Some(ids) => ids,
            None => managed_ids.0.entry(stack.name.clone()).or_default(),
        };
        ids.push((d.id.clone(), d.address.clone()));
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
            Some(TypeRead::Complete(live)) => match by_id.get(inventory, &d.rtype, live, &d.id) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use driftd_core::Inventory;

    fn inventory(n: usize) -> Inventory {
        let live: BTreeMap<String, Live> = (0..n)
            .map(|i| {
                let id = format!("i-{i:017x}");
                let l = Live {
                    id: id.clone(),
                    ..Default::default()
                };
                (id, l)
            })
            .collect();
        let mut inv = Inventory::default();
        inv.types
            .insert("aws_instance".into(), TypeRead::Complete(live));
        inv
    }

    /// Past the thresholds the lookups go through the hash index, and they
    /// find what the tree finds: present ids, absent ids (missing).
    #[test]
    fn lookups_by_index_find_what_the_tree_finds() {
        let inv = inventory(ById::INDEX_ABOVE + 10);
        let Some(TypeRead::Complete(live)) = inv.get("aws_instance") else {
            unreachable!()
        };
        let mut by_id = ById::default();
        // Every third id is one the listing lacks.
        for i in 0..(3 * ById::INDEX_AFTER) {
            let id = if i % 3 == 0 {
                format!("i-missing-{i}")
            } else {
                format!("i-{i:017x}")
            };
            let got = by_id.get(&inv, "aws_instance", live, &id).map(|l| &l.id);
            assert_eq!(got, live.get(&id).map(|l| &l.id), "{id}");
        }
        assert!(by_id.index.is_some(), "indexed after {}", ById::INDEX_AFTER);
        // Another type starts over (and a small one is never indexed).
        let small = inventory(10);
        let Some(TypeRead::Complete(few)) = small.get("aws_instance") else {
            unreachable!()
        };
        let mut by_id = ById::default();
        for _ in 0..(2 * ById::INDEX_AFTER) {
            assert!(by_id
                .get(&small, "aws_instance", few, "i-00000000000000003")
                .is_some());
        }
        assert!(by_id.index.is_none());
    }

    #[test]
    fn a_stacks_managed_ids_map_keeps_the_last_address_of_an_id() {
        let mut ids = ManagedIds::default();
        ids.0.entry("a".into()).or_default().extend([
            ("i-2".to_string(), "aws_instance.x".to_string()),
            ("i-1".to_string(), "aws_instance.y".to_string()),
            ("i-2".to_string(), "aws_instance.z".to_string()),
        ]);
        let m = ids.stack("a");
        assert_eq!(m.len(), 2);
        assert_eq!(m["i-2"], "aws_instance.z");
        assert_eq!(m["i-1"], "aws_instance.y");
        assert!(ids.stack("b").is_empty());
    }
}
