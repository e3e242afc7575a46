//! `aws_nat_gateway`: the shared `DescribeNatGateways` listing. A gateway
//! in state `deleted`/`deleting`/`failed` is gone (AWS keeps listing it for
//! about an hour). The primary address is the one marked `IsPrimary` (or
//! the only one: moto does not mark it). moto answers `ConnectivityType`
//! `None`: not compared then. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{effective_tags, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::NAT_GATEWAYS;

pub const NAME: &str = "aws_nat_gateway";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("subnet_id", Shape::Block, true, Fix::No),
            AttrSpec::new("connectivity_type", Shape::Block, true, Fix::No),
            AttrSpec::new("allocation_id", Shape::Block, true, Fix::No),
            AttrSpec::new("private_ip", Shape::Block, false, Fix::No),
            AttrSpec::new("secondary_allocation_ids", Shape::Block, false, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "nat-gateway",
            attributes: &["subnet_id", "connectivity_type", "allocation_id"],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeNatGateways"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &NAT_GATEWAYS,
        parent: own_id,
        extract,
        settle: None,
    },
    plan: None,
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for k in [
        "subnet_id",
        "connectivity_type",
        "allocation_id",
        "private_ip",
    ] {
        m.insert(k.into(), string_or_empty(a.get(k)));
    }
    if let Some(Value::Array(_)) = a.get("secondary_allocation_ids") {
        m.insert(
            "secondary_allocation_ids".into(),
            string_set(strings(a.get("secondary_allocation_ids"))),
        );
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

pub fn canonical(i: &Item) -> Attrs {
    let addrs: Vec<&Map<String, Value>> = i
        .get("NatGatewayAddresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect();
    let primary = addrs
        .iter()
        .position(|a| a.get("IsPrimary") == Some(&json!(true)))
        .or(if addrs.len() == 1 { Some(0) } else { None });
    let mut m = Map::new();
    m.insert("subnet_id".into(), json!(get(i, "SubnetId")));
    // moto renders an unset type as `None`: not observed, not compared.
    let ct = get(i, "ConnectivityType");
    if !ct.is_empty() && ct != "None" {
        m.insert("connectivity_type".into(), json!(ct));
    }
    if let Some(p) = primary {
        m.insert("allocation_id".into(), json!(get(addrs[p], "AllocationId")));
        m.insert("private_ip".into(), json!(get(addrs[p], "PrivateIp")));
        let others = addrs
            .iter()
            .enumerate()
            .filter(|(n, _)| *n != p)
            .map(|(_, a)| get(a, "AllocationId"));
        m.insert("secondary_allocation_ids".into(), string_set(others));
    }
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    if matches!(get(i, "State"), "deleted" | "deleting" | "failed") {
        return vec![];
    }
    let id = get(i, "NatGatewayId");
    vec![(id.to_string(), live(id, canonical(i)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn state_and_recorded_answer_agree_and_deleted_is_gone() {
        let d = desired(
            NAME,
            "nat-1",
            json!({"id": "nat-1", "subnet_id": "subnet-1", "connectivity_type": "public",
                "allocation_id": "eipalloc-1", "private_ip": "10.0.1.5", "public_ip": "3.3.3.3",
                "association_id": "eipassoc-1", "network_interface_id": "eni-1",
                "secondary_allocation_ids": [], "secondary_private_ip_addresses": [],
                "secondary_private_ip_address_count": 0, "tags": {}, "tags_all": {"Name": "nat"}}),
        );
        let mut i = item(json!({"NatGatewayId": "nat-1", "SubnetId": "subnet-1",
            "VpcId": "vpc-1", "State": "available", "ConnectivityType": "public",
            "NatGatewayAddresses": [{"AllocationId": "eipalloc-1", "PrivateIp": "10.0.1.5",
                "PublicIp": "3.3.3.3", "NetworkInterfaceId": "eni-1", "IsPrimary": true}],
            "Tags": {"Name": "nat"}}));
        assert_eq!(extract(&i, &DesiredSet::new(&[]))[0].1.attrs, d.attrs);
        i.insert("State".into(), json!("deleted"));
        assert!(extract(&i, &DesiredSet::new(&[])).is_empty());
    }
}
