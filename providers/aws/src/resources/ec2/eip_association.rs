//! `aws_eip_association`: an address's association from the shared
//! `DescribeAddresses` listing, by its `eipassoc-` id (re-associating makes
//! a new id: the old one is missing). `network_interface_id` is compared
//! only when the association names no instance (AWS fills in the
//! instance's ENI). Not discoverable. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, Item};
use crate::services::ec2::net::ADDRESSES;

pub const NAME: &str = "aws_eip_association";

const FIELDS: &[(&str, &str)] = &[
    ("allocation_id", "AllocationId"),
    ("instance_id", "InstanceId"),
    ("network_interface_id", "NetworkInterfaceId"),
    ("private_ip_address", "PrivateIpAddress"),
    ("public_ip", "PublicIp"),
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("allocation_id", Shape::Block, true, Fix::No),
            AttrSpec::new("instance_id", Shape::Block, true, Fix::No),
            AttrSpec::new("network_interface_id", Shape::Block, true, Fix::No),
            AttrSpec::new("private_ip_address", Shape::Block, true, Fix::No),
            AttrSpec::new("public_ip", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "eip-association",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeAddresses"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &ADDRESSES,
        parent: |d| Some(attr(d, "allocation_id").to_string()).filter(|s| !s.is_empty()),
        extract,
        settle: None,
    },
    plan: None,
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let has_instance = a
        .get("instance_id")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let mut m = Map::new();
    for (k, _) in FIELDS {
        if *k == "network_interface_id" && has_instance {
            continue;
        }
        m.insert((*k).into(), string_or_empty(a.get(*k)));
    }
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "AssociationId");
    if id.is_empty() {
        return vec![];
    }
    let m: Map<String, Value> = FIELDS
        .iter()
        .map(|(k, f)| ((*k).to_string(), json!(get(i, f))))
        .collect();
    vec![(id.to_string(), live(id, m))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn association_by_id() {
        let d = desired(
            NAME,
            "eipassoc-1",
            json!({"id": "eipassoc-1", "allocation_id": "eipalloc-1", "instance_id": "i-1",
                   "network_interface_id": "eni-1", "private_ip_address": "10.0.1.4",
                   "public_ip": "3.3.3.3", "allow_reassociation": null}),
        );
        let i = item(
            json!({"AllocationId": "eipalloc-1", "AssociationId": "eipassoc-1",
            "InstanceId": "i-1", "NetworkInterfaceId": "eni-1",
            "PrivateIpAddress": "10.0.1.4", "PublicIp": "3.3.3.3"}),
        );
        let got = extract(&i, &DesiredSet::new(&[]));
        for (k, v) in &d.attrs {
            assert_eq!(got[0].1.attrs.get(k), Some(v), "{k}");
        }
        let free = item(json!({"AllocationId": "eipalloc-1", "AssociationId": ""}));
        assert!(extract(&free, &DesiredSet::new(&[])).is_empty());
    }
}
