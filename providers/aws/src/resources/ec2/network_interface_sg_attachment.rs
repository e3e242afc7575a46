//! `aws_network_interface_sg_attachment`: one security group on one ENI.
//! AWS has no object for it: its live side is the ENI's groups, from the
//! `DescribeNetworkInterfaces` listing shared with `aws_network_interface`.
//! The group gone from the ENI (or the ENI gone) is missing: critical, as
//! that group may be the one that allows or restricts access. The ENI's own
//! `security_groups` leaves attached groups out (see `network_interface`).

use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute;
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_network_interface_sg_attachment";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("security_group_id", Shape::Block, true, Fix::No),
            AttrSpec::new("network_interface_id", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeNetworkInterfaces"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::NETWORK_INTERFACES,
        parent: |d| {
            Some(listing::attr(d, "network_interface_id").to_string()).filter(|v| !v.is_empty())
        },
        extract,
        settle: None,
    },
    plan: None,
};

/// The (security group, ENI) pair: from the attributes, else from the id
/// (`sg_eni`, or the import form `eni_sg`: told apart by prefix).
pub fn pair(r: &StateResource) -> (String, String) {
    let attr = |k: &str| {
        r.attrs
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut sg = attr("security_group_id");
    let mut eni = attr("network_interface_id");
    for part in r.id.split('_') {
        if part.starts_with("sg-") && sg.is_none() {
            sg = Some(part.to_string());
        } else if part.starts_with("eni-") && eni.is_none() {
            eni = Some(part.to_string());
        }
    }
    (sg.unwrap_or_default(), eni.unwrap_or_default())
}

/// Canonical desired attributes: the pair.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let (sg, eni) = pair(r);
    let mut m = Map::new();
    m.insert(
        "security_group_id".into(),
        string_or_empty(Some(&json!(sg))),
    );
    m.insert("network_interface_id".into(), json!(eni));
    m
}

/// The live pair, if the ENI (its id and group ids) still carries the group.
pub fn live(desired: &Attrs, eni: &str, groups: &[&str]) -> Option<Attrs> {
    let sg = desired
        .get("security_group_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    groups.contains(&sg).then(|| {
        let mut m = Map::new();
        m.insert("security_group_id".into(), json!(sg));
        m.insert("network_interface_id".into(), json!(eni));
        m
    })
}

/// The attachments the state declares on this listed ENI that it still carries.
fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let eni = listing::get(i, "NetworkInterfaceId");
    let groups: Vec<&str> = i
        .get("Groups")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    desired
        .of_type(NAME)
        .filter(|d| listing::attr(d, "network_interface_id") == eni)
        .filter_map(|d| {
            live(&d.attrs, eni, &groups).map(|a| (d.id.clone(), listing::live(&d.id, a)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{GroupIdentifier, NetworkInterface};

    fn res(id: &str, attrs: Value) -> StateResource {
        StateResource {
            address: "aws_network_interface_sg_attachment.a".into(),
            rtype: NAME.into(),
            id: id.into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    #[test]
    fn both_id_forms_parse_by_prefix() {
        let a = res("sg-1_eni-2", json!({}));
        let b = res("eni-2_sg-1", json!({}));
        assert_eq!(pair(&a), ("sg-1".into(), "eni-2".into()));
        assert_eq!(pair(&b), pair(&a));
        let c = res(
            "sg-1_eni-2",
            json!({"security_group_id": "sg-1", "network_interface_id": "eni-2"}),
        );
        assert_eq!(
            project(&c, &ProjectContext::default()),
            project(&a, &ProjectContext::default())
        );
    }

    fn desired(attrs: &Attrs) -> driftd_core::Desired {
        driftd_core::Desired {
            address: "aws_network_interface_sg_attachment.a".into(),
            rtype: NAME.into(),
            id: "sg-1_eni-2".into(),
            attrs: attrs.clone().into(),
        }
    }

    #[test]
    fn the_group_on_the_recorded_eni_is_the_live_side() {
        let d = project(&res("sg-1_eni-2", json!({})), &ProjectContext::default());
        let with = NetworkInterface::builder()
            .network_interface_id("eni-2")
            .groups(GroupIdentifier::builder().group_id("sg-9").build())
            .groups(GroupIdentifier::builder().group_id("sg-1").build())
            .build();
        let with = compute::eni_item(&with);
        assert_eq!(
            extract(&with, &DesiredSet::new(&[desired(&d)]))[0].1.attrs,
            d
        );
        let without = NetworkInterface::builder()
            .network_interface_id("eni-2")
            .groups(GroupIdentifier::builder().group_id("sg-9").build())
            .build();
        let without = compute::eni_item(&without);
        assert!(extract(&without, &DesiredSet::new(&[desired(&d)])).is_empty());
    }
}
