//! `aws_route`: one route of a table, from the shared `DescribeRouteTables`
//! listing. The provider's id (`r-<rtb><crc32>`) is not AWS's: a route is
//! known by `<route_table_id>_<destination>` (its import id). Every target
//! key the state has is compared (`""` when unset), except
//! `network_interface_id` when the route targets an instance or a NAT
//! gateway (AWS fills it in). Not discoverable (live routes not owned by
//! anything show on their table). No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::route_table::{aws_route, destination, live_destination, live_targets, TARGETS};
use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, Item};
use crate::services::ec2::net::ROUTE_TABLES;

pub const NAME: &str = "aws_route";

const DESTINATIONS: [&str; 3] = [
    "destination_cidr_block",
    "destination_ipv6_cidr_block",
    "destination_prefix_list_id",
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("gateway_id", Shape::Block, true, Fix::No),
            AttrSpec::new("nat_gateway_id", Shape::Block, true, Fix::No),
            AttrSpec::new("transit_gateway_id", Shape::Block, true, Fix::No),
            AttrSpec::new("vpc_peering_connection_id", Shape::Block, true, Fix::No),
            AttrSpec::new("egress_only_gateway_id", Shape::Block, true, Fix::No),
            AttrSpec::new("network_interface_id", Shape::Block, true, Fix::No),
            AttrSpec::new("carrier_gateway_id", Shape::Block, true, Fix::No),
            AttrSpec::new("local_gateway_id", Shape::Block, true, Fix::No),
            AttrSpec::new("core_network_arn", Shape::Block, true, Fix::No),
            AttrSpec::new("vpc_endpoint_id", Shape::Block, true, Fix::No),
            AttrSpec::new("blackhole", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "route",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeRouteTables"],
        write_actions: &[],
        project,
        live_id,
    },
    source: Source::Ec2List {
        listing: &ROUTE_TABLES,
        parent: |d| Some(attr(d, "route_table_id").to_string()),
        extract,
        settle: None,
    },
    plan: None,
};

/// `<route_table_id>_<destination>`.
pub fn live_id(r: &StateResource) -> String {
    format!(
        "{}_{}",
        r.attrs
            .get("route_table_id")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        destination(&r.attrs, DESTINATIONS)
    )
}

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    m.insert(
        "route_table_id".into(),
        string_or_empty(a.get("route_table_id")),
    );
    for k in DESTINATIONS {
        m.insert(k.into(), string_or_empty(a.get(k)));
    }
    let filled = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    for (k, _) in TARGETS {
        if *k == "network_interface_id" && (filled("instance_id") || filled("nat_gateway_id")) {
            continue;
        }
        m.insert((*k).into(), string_or_empty(a.get(*k)));
    }
    m.insert("blackhole".into(), json!(false));
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let rtb = get(i, "RouteTableId");
    let mut out = Vec::new();
    for r in i
        .get("Routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        if aws_route(r, &Default::default()) {
            continue;
        }
        let mut m = live_targets(r);
        m.insert("route_table_id".into(), json!(rtb));
        for (k, f) in DESTINATIONS.iter().zip([
            "DestinationCidrBlock",
            "DestinationIpv6CidrBlock",
            "DestinationPrefixListId",
        ]) {
            m.insert((*k).into(), json!(get(r, f)));
        }
        m.insert("blackhole".into(), json!(get(r, "State") == "blackhole"));
        let id = format!("{rtb}_{}", live_destination(r));
        out.push((id.clone(), live(&id, m)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item, route};
    use super::*;

    #[test]
    fn state_and_recorded_route_agree_by_natural_key() {
        let d = desired(
            NAME,
            "r-rtb-11080489",
            json!({"id": "r-rtb-11080489", "route_table_id": "rtb-1",
                "destination_cidr_block": "0.0.0.0/0", "destination_ipv6_cidr_block": "",
                "destination_prefix_list_id": "", "gateway_id": "igw-1", "nat_gateway_id": "",
                "instance_id": "", "network_interface_id": "", "transit_gateway_id": "",
                "vpc_peering_connection_id": "", "egress_only_gateway_id": "",
                "carrier_gateway_id": "", "local_gateway_id": "", "core_network_arn": "",
                "vpc_endpoint_id": "", "origin": "CreateRoute", "state": "active"}),
        );
        assert_eq!(d.id, "rtb-1_0.0.0.0/0");
        let i = item(json!({"RouteTableId": "rtb-1",
            "Routes": [route("10.0.0.0/16", "local", "CreateRouteTable"),
                       route("0.0.0.0/0", "igw-1", "CreateRoute")]}));
        let got = extract(&i, &DesiredSet::new(&[]));
        assert_eq!(got.len(), 1, "local route is AWS's");
        assert_eq!(got[0].0, d.id);
        for (k, v) in &d.attrs {
            assert_eq!(got[0].1.attrs.get(k), Some(v), "{k}");
        }
    }
}
