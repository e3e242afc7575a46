//! `aws_eip`: the shared `DescribeAddresses` listing (not paginated; also
//! serves `aws_eip_association`). `instance` and `network_interface` are
//! compared only where the state has them and no `aws_eip_association`
//! manages the address (the provider fills them in either way). Fields AWS
//! (or moto) does not send are not compared. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Desired, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, own_id, Item};
use crate::services::ec2::net::ADDRESSES;

pub const NAME: &str = "aws_eip";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("domain", Shape::Block, false, Fix::No),
            AttrSpec::new("public_ip", Shape::Block, true, Fix::No),
            AttrSpec::new("instance", Shape::Block, true, Fix::No),
            AttrSpec::new("network_interface", Shape::Block, true, Fix::No),
            AttrSpec::new("public_ipv4_pool", Shape::Block, false, Fix::No),
            AttrSpec::new("network_border_group", Shape::Block, false, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "eip-association",
            attributes: &["instance", "network_interface", "public_ip"],
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
        parent: own_id,
        extract,
        settle: Some(settle),
    },
    plan: None,
};

const TARGETS: &[(&str, &str)] = &[
    ("instance", "InstanceId"),
    ("network_interface", "NetworkInterfaceId"),
];

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for k in ["domain", "public_ip"] {
        m.insert(k.into(), string_or_empty(a.get(k)));
    }
    for k in ["public_ipv4_pool", "network_border_group"] {
        if a.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            m.insert(k.into(), string_or_empty(a.get(k)));
        }
    }
    for (k, _) in TARGETS {
        if a.get(*k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            m.insert((*k).into(), string_or_empty(a.get(*k)));
        }
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// An address associated through `aws_eip_association`: compared there.
fn has_association(alloc: &str, desired: &DesiredSet<'_>) -> bool {
    desired
        .of_type("aws_eip_association")
        .any(|d| attr(d, "allocation_id") == alloc)
}

pub fn settle(d: &mut Desired, all: &DesiredSet<'_>) {
    if has_association(&d.id, all) {
        for (k, _) in TARGETS {
            d.attrs.remove(*k);
        }
    }
}

pub fn canonical(i: &Item, desired: &DesiredSet<'_>) -> Attrs {
    let mut m = Map::new();
    m.insert("domain".into(), json!(get(i, "Domain")));
    m.insert("public_ip".into(), json!(get(i, "PublicIp")));
    for (k, f) in [
        ("public_ipv4_pool", "PublicIpv4Pool"),
        ("network_border_group", "NetworkBorderGroup"),
    ] {
        if let Some(Value::String(v)) = i.get(f) {
            m.insert(k.into(), json!(v));
        }
    }
    if !has_association(get(i, "AllocationId"), desired) {
        for (k, f) in TARGETS {
            m.insert((*k).into(), json!(get(i, f)));
        }
    }
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "AllocationId");
    if id.is_empty() {
        return vec![]; // EC2-Classic address
    }
    vec![(id.to_string(), live(id, canonical(i, desired)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn moto_empty_elements_and_association_ownership() {
        let d = desired(
            NAME,
            "eipalloc-1",
            json!({"id": "eipalloc-1", "allocation_id": "eipalloc-1", "domain": "vpc",
                "public_ip": "3.3.3.3", "instance": "", "network_interface": "",
                "association_id": "", "public_ipv4_pool": "amazon",
                "network_border_group": "us-east-1", "tags": null, "tags_all": {}}),
        );
        // moto: `<instanceId/>` (empty) and no pool / border group.
        let i = item(json!({"AllocationId": "eipalloc-1", "Domain": "vpc",
            "PublicIp": "3.3.3.3", "InstanceId": "", "NetworkInterfaceId": "",
            "PublicIpv4Pool": null, "NetworkBorderGroup": null, "Tags": {}}));
        let l = &extract(&i, &DesiredSet::new(&[]))[0].1.attrs;
        for (k, v) in l {
            if let Some(want) = d.attrs.get(k) {
                assert_eq!(want, v, "{k}");
            }
        }
        assert!(!d.attrs.contains_key("instance"));
        let mut d2 = desired(
            NAME,
            "eipalloc-1",
            json!({"id": "eipalloc-1", "domain": "vpc", "public_ip": "3.3.3.3",
                   "instance": "i-1", "tags_all": {}}),
        );
        let a = desired(
            "aws_eip_association",
            "eipassoc-1",
            json!({"id": "eipassoc-1", "allocation_id": "eipalloc-1", "instance_id": "i-1"}),
        );
        let all = vec![d2.clone(), a];
        settle(&mut d2, &DesiredSet::new(&all));
        assert!(!d2.attrs.contains_key("instance"));
        assert!(!extract(&i, &DesiredSet::new(&all))[0]
            .1
            .attrs
            .contains_key("instance"));
    }
}
