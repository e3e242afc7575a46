//! `aws_placement_group`: read with `DescribePlacementGroups` (unpaginated),
//! filtered by name. Every argument forces replacement, so drift is a
//! replaced group (another `placement_group_id`), its strategy, and tags.
//! Not discoverable for now: only state-declared groups are read (moto
//! 5.1.22 does not implement the call; tested with recorded responses).

use aws_sdk_ec2::types::PlacementGroup;
use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::{ec2_tags, text};
use crate::normalize::{as_i64, effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute::{self, canonical};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_placement_group";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("strategy", Shape::Block, false, Fix::No),
            AttrSpec::new("partition_count", Shape::Block, false, Fix::No),
            AttrSpec::new("spread_level", Shape::Block, false, Fix::No),
            AttrSpec::new("placement_group_id", Shape::Block, false, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribePlacementGroups"],
        write_actions: &[],
        project,
        live_id: |r| {
            r.attrs
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(&r.id)
                .to_string()
        },
    },
    source: Source::Ec2List {
        listing: &compute::PLACEMENT_GROUPS,
        parent: listing::own_id,
        extract,
        settle: None,
    },
    plan: None,
};

/// Canonical desired attributes (computed values only when the state has them).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    m.insert("strategy".into(), string_or_empty(a.get("strategy")));
    if let Some(n) = as_i64(a.get("partition_count")).filter(|n| *n > 0) {
        m.insert("partition_count".into(), json!(n));
    }
    for k in ["spread_level", "placement_group_id"] {
        if let Some(v) = a.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes from one `DescribePlacementGroups` entry.
pub fn live(g: &PlacementGroup) -> Attrs {
    let mut m = Map::new();
    m.insert("strategy".into(), text(g.strategy().map(|s| s.as_str())));
    if let Some(n) = g.partition_count() {
        m.insert("partition_count".into(), json!(n));
    }
    if let Some(s) = g.spread_level() {
        m.insert("spread_level".into(), json!(s.as_str()));
    }
    m.insert("placement_group_id".into(), text(g.group_id()));
    m.insert("tags".into(), ec2_tags(g.tags()));
    m
}

/// This type's live resources in one listed item.
fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "GroupName");
    let l = listing::live(id, canonical(i));
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{PlacementGroupState, PlacementStrategy, Tag};

    /// Recorded provider v5 state and DescribePlacementGroups answer (moto
    /// does not implement the call).
    #[test]
    fn state_and_recorded_describe_placement_groups_agree() {
        let s = StateResource {
            address: "aws_placement_group.hpc".into(),
            rtype: NAME.into(),
            id: "hpc".into(),
            attrs: json!({"id": "hpc", "name": "hpc", "strategy": "partition",
                "partition_count": 3, "spread_level": "", "placement_group_id": "pg-0abc",
                "arn": "arn:aws:ec2:us-east-1:123456789012:placement-group/hpc",
                "tags": {"Name": "hpc"}, "tags_all": {"Name": "hpc"}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        assert_eq!((TYPE.info.live_id)(&s), "hpc");
        let d = project(&s, &ProjectContext::default());
        let g = PlacementGroup::builder()
            .group_name("hpc")
            .group_id("pg-0abc")
            .strategy(PlacementStrategy::Partition)
            .partition_count(3)
            .state(PlacementGroupState::Available)
            .tags(Tag::builder().key("Name").value("hpc").build())
            .build();
        assert_eq!(d, live(&g));
        let replaced = PlacementGroup::builder()
            .group_name("hpc")
            .group_id("pg-0def")
            .strategy(PlacementStrategy::Cluster)
            .build();
        let l = live(&replaced);
        assert_eq!(l["placement_group_id"], json!("pg-0def"));
        assert_eq!(l["strategy"], json!("cluster"));
    }
}
