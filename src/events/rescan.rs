//! Event-driven rescans of just the named resources, merged into the
//! previous report.
//!
//! Why: an event names one resource; rescanning every stack of its region
//! costs the whole region's listings per event burst. A narrowed scan reads
//! only the resources an event names and those that share their listing or
//! point at them (a security group's standalone rules, a bucket's split
//! configurations, a route table's routes), with the same diff, decide and
//! reconcile stages. Its report is then merged into the stack's previous
//! (full) report before pull requests and history: the drifts of resources
//! that were not rescanned are carried over as they were, so a narrowed run
//! never closes a pull request or forgets the history of a drift it did not
//! look at. Without a previous complete report of a stack there is nothing
//! to merge into: the daemon rescans that stack in full instead.

use std::collections::{BTreeMap, BTreeSet};

use driftd_core::Desired;
use serde_json::Value;

use crate::history::{fingerprint, Seen, StackHistory};
use crate::report::{DriftKind, Report, StackStatus};

/// What a narrowed run rescans, and the report it is merged into.
#[derive(Debug, Clone)]
pub struct Narrow {
    /// (region, resource id) named by the events (EC2 ids, bucket names).
    pub resources: BTreeSet<(String, String)>,
    /// The previous report of the stacks (their last complete run).
    pub base: Report,
}

impl Narrow {
    /// The ids named in one region.
    pub fn named_in(&self, region: &str) -> BTreeSet<&str> {
        self.resources
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, id)| id.as_str())
            .collect()
    }
}

/// Does a desired resource belong to the rescan of these named ids? Its own
/// id is named (or contains a named id: `sg-1_ingress_…`, `r-rtb-1…`,
/// `bucket:config`), or one of its top-level attributes refers to one
/// (`security_group_id`, `route_table_id`, `bucket`, `instance_id`, …; a
/// single id, not a list of references such as `vpc_security_group_ids`).
/// Erring on the side of rescanning more is safe; less is not.
pub fn names(d: &Desired, named: &BTreeSet<&str>) -> bool {
    if named.is_empty() {
        return false;
    }
    if named.contains(d.id.as_str())
        || named
            .iter()
            .any(|n| n.len() >= 3 && contains_token(&d.id, n))
    {
        return true;
    }
    d.attrs.values().any(|v| refers(v, named))
}

/// `hay` contains `needle` bounded by non-id characters (not a prefix of a
/// longer id: `sg-1` is not in `sg-12`).
fn contains_token(hay: &str, needle: &str) -> bool {
    let is_id = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        // `r-rtb-1…`: route ids glue the table id after `r-`.
        let before_ok = before.is_none_or(|c| !is_id(c)) || hay[..i].ends_with("r-");
        let after_ok = after.is_none_or(|c| {
            !is_id(c) || c.is_ascii_digit() && needle.starts_with("rtb-") && hay.starts_with("r-")
        });
        before_ok && after_ok
    })
}

fn refers(v: &Value, named: &BTreeSet<&str>) -> bool {
    match v {
        Value::String(s) => {
            named.contains(s.as_str())
                // `ACCOUNT/sg-…` (cross-account group references).
                || s.rsplit_once('/').is_some_and(|(_, id)| named.contains(id))
        }
        // Lists of references (an instance's `vpc_security_group_ids`) are
        // not a shared listing: a change of the group does not change them.
        _ => false,
    }
}

/// Merge a narrowed run's report into its base: per stack, the base's drifts
/// and unknown resources of everything not rescanned are carried over, the
/// rescanned ones come from this run. Stacks absent from the base are left
/// as they are. Counts: `managed` and `ignored` are the base's, the others
/// follow the merged lists.
pub fn merge(report: &mut Report, narrow: &Narrow, rescanned: &BTreeMap<String, BTreeSet<String>>) {
    let empty = BTreeSet::new();
    for st in report.stacks.iter_mut() {
        let Some(base) = narrow.base.stacks.iter().find(|b| b.name == st.name) else {
            continue;
        };
        let again = rescanned.get(&st.name).unwrap_or(&empty);
        let fresh: BTreeSet<(Option<String>, String)> = st
            .drifts
            .iter()
            .map(|d| (d.address.clone(), d.id.clone()))
            .collect();
        for d in &base.drifts {
            let rescanned_now = match &d.address {
                Some(a) => again.contains(a),
                None => narrow.resources.iter().any(|(_, id)| id == &d.id),
            };
            if !rescanned_now && !fresh.contains(&(d.address.clone(), d.id.clone())) {
                st.drifts.push(d.clone());
            }
        }
        let unknown: BTreeSet<String> = st.unknown.iter().map(|u| u.address.clone()).collect();
        for u in &base.unknown {
            if !again.contains(&u.address) && !unknown.contains(&u.address) {
                st.unknown.push(u.clone());
            }
        }
        let kind = |k: DriftKind| {
            st.drifts
                .iter()
                .filter(|d| d.kind == k)
                .map(|d| &d.address)
                .collect::<BTreeSet<_>>()
                .len()
        };
        let (changed, missing) = (kind(DriftKind::Changed), kind(DriftKind::Missing));
        let c = &mut st.counts;
        c.managed = base.counts.managed.max(c.managed);
        c.ignored = base.counts.ignored;
        c.changed = changed;
        c.missing = missing;
        c.unknown = st.unknown.len();
        c.in_sync = c
            .managed
            .saturating_sub(c.changed + c.missing + c.unknown + c.ignored);
        c.unsupported = base.counts.unsupported.max(c.unsupported);
    }
    report.finish();
}

/// The history to store after a merge: this run's observations, plus the
/// carried drifts as the base saw them (a narrowed run neither counts nor
/// forgets what it did not rescan).
pub fn carry_history(history: &mut StackHistory, report: &Report, stack: &str, base_time: &str) {
    let Some(st) = report.stacks.iter().find(|s| s.name == stack) else {
        return;
    };
    if st.status != StackStatus::Ok {
        return;
    }
    for d in &st.drifts {
        history
            .drifts
            .entry(fingerprint(d))
            .or_insert_with(|| Seen {
                first_seen: d
                    .first_seen
                    .clone()
                    .unwrap_or_else(|| base_time.to_string()),
                last_seen: base_time.to_string(),
                count: d.seen.unwrap_or(1),
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Counts, Drift, StackReport};
    use serde_json::json;

    fn desired(rtype: &str, id: &str, attrs: Value) -> Desired {
        Desired {
            address: format!("{rtype}.x"),
            rtype: rtype.into(),
            id: id.into(),
            attrs: attrs.as_object().cloned().unwrap_or_default().into(),
        }
    }

    #[test]
    fn a_named_resource_and_what_shares_its_listing() {
        let named: BTreeSet<&str> = ["sg-0123456789abcdef0", "logs", "rtb-0a1b2c3d"].into();
        let n = |d: &Desired| names(d, &named);
        assert!(n(&desired("g", "sg-0123456789abcdef0", json!({}))));
        // A standalone rule of the group, by attribute and by its id.
        assert!(n(&desired(
            "r",
            "sgrule-1",
            json!({"security_group_id": "sg-0123456789abcdef0"})
        )));
        assert!(n(&desired(
            "r",
            "sg-0123456789abcdef0_ingress_tcp_22_22_0.0.0.0/0",
            json!({})
        )));
        assert!(n(&desired(
            "r",
            "sgrule-2",
            json!({"source_security_group_id": "111111111111/sg-0123456789abcdef0"})
        )));
        // A bucket's split configuration; its notification config id.
        assert!(n(&desired("v", "logs", json!({"bucket": "logs"}))));
        assert!(n(&desired("i", "logs:EntireBucket", json!({}))));
        // A route of the table (`r-rtb-…1080289494`).
        assert!(n(&desired("route", "r-rtb-0a1b2c3d1080289494", json!({}))));
        // Not: another group, a longer id, a bucket sharing a prefix, other values.
        assert!(!n(&desired("g", "sg-0123456789abcdef1", json!({}))));
        assert!(!n(&desired("g", "sg-0123456789abcdef01", json!({}))));
        assert!(!n(&desired(
            "b",
            "logs-archive",
            json!({"bucket": "logs-archive"})
        )));
        assert!(!n(&desired(
            "i",
            "i-1",
            json!({"tags": {"Name": "logs"}, "count": 2})
        )));
        // An instance in the named group: a reference, not a shared listing.
        assert!(!n(&desired(
            "i",
            "i-2",
            json!({"vpc_security_group_ids": ["sg-0123456789abcdef0"]})
        )));
        assert!(!names(&desired("g", "sg-1", json!({})), &BTreeSet::new()));
    }

    fn drift(address: &str, id: &str) -> Drift {
        Drift {
            address: Some(address.into()),
            rtype: "aws_instance".into(),
            id: id.into(),
            kind: DriftKind::Changed,
            attributes: vec![],
            first_seen: Some("2026-12-01T09:00:00Z".into()),
            seen: Some(3),
            decision: None,
            changed_by: None,
            unattributed: None,
        }
    }

    fn stack(drifts: Vec<Drift>, managed: usize) -> StackReport {
        StackReport {
            name: "app".into(),
            status: StackStatus::Ok,
            errors: vec![],
            sources: vec![],
            counts: Counts {
                managed,
                ..Default::default()
            },
            drifts,
            unknown: vec![],
            blast_radius: None,
            actions: vec![],
            pull_requests: None,
        }
    }

    fn report(stacks: Vec<StackReport>) -> Report {
        let mut r = Report {
            schema_version: crate::report::SCHEMA_VERSION,
            driftd_version: "t".into(),
            generated_at: "2026-12-01T10:00:00Z".into(),
            summary: Default::default(),
            stacks,
            unmanaged: vec![],
        };
        r.finish();
        r
    }

    #[test]
    fn a_narrowed_report_keeps_the_drifts_it_did_not_rescan() {
        // Base: a and b drifted. The rescan of a finds it in sync, and c drifted.
        let base = report(vec![stack(
            vec![
                drift("aws_instance.a", "i-a"),
                drift("aws_instance.b", "i-b"),
            ],
            3,
        )]);
        let narrow = Narrow {
            resources: [
                ("us-east-1".to_string(), "i-a".to_string()),
                ("us-east-1".into(), "i-c".into()),
            ]
            .into(),
            base,
        };
        let mut fresh = report(vec![stack(vec![drift("aws_instance.c", "i-c")], 2)]);
        let rescanned = BTreeMap::from([(
            "app".to_string(),
            BTreeSet::from(["aws_instance.a".to_string(), "aws_instance.c".to_string()]),
        )]);
        merge(&mut fresh, &narrow, &rescanned);
        let st = &fresh.stacks[0];
        let ids: Vec<&str> = st.drifts.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["i-b", "i-c"]);
        assert_eq!(
            (st.counts.managed, st.counts.changed, st.counts.in_sync),
            (3, 2, 1)
        );
        assert_eq!(fresh.summary.changed, 2);
        // History: the carried drift keeps its sightings.
        let mut h = StackHistory::default();
        carry_history(&mut h, &fresh, "app", "2026-12-01T10:00:00Z");
        let b = &h.drifts[&fingerprint(&st.drifts[0])];
        assert_eq!(
            (b.count, b.first_seen.as_str()),
            (3, "2026-12-01T09:00:00Z")
        );
    }
}
