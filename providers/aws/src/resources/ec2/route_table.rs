//! `aws_route_table`: the shared `DescribeRouteTables` listing (which also
//! serves `aws_route`, `aws_route_table_association`,
//! `aws_main_route_table_association` and `aws_default_route_table`).
//!
//! Inline `route` is a keyed set: destination -> its non-empty targets. The
//! live side is filtered the way the provider's Read filters it: the `local`
//! route (unless the state has it), propagated routes
//! (`Origin=EnableVgwRoutePropagation`), gateway-endpoint prefix-list routes
//! and `VpcLattice` routes are AWS's. Destinations owned by standalone
//! `aws_route` resources leave the set on both sides (the provider writes
//! them into the table's state too), so one change is reported once, on the
//! route. A blackholed route (target gone) shows `blackhole: true`. A VPC's
//! main table is AWS-created. No reconciler call.

use std::collections::BTreeSet;

use driftd_core::registry::{AttrSpec, DefaultRule, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Desired, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{effective_tags, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, own_id, Item};
use crate::services::ec2::net::ROUTE_TABLES;

pub const NAME: &str = "aws_route_table";

/// Route targets: state key and DescribeRouteTables field (`vpc_endpoint_id`
/// comes from a `vpce-` GatewayId).
pub const TARGETS: &[(&str, &str)] = &[
    ("gateway_id", "GatewayId"),
    ("nat_gateway_id", "NatGatewayId"),
    ("transit_gateway_id", "TransitGatewayId"),
    ("vpc_peering_connection_id", "VpcPeeringConnectionId"),
    ("egress_only_gateway_id", "EgressOnlyInternetGatewayId"),
    ("network_interface_id", "NetworkInterfaceId"),
    ("carrier_gateway_id", "CarrierGatewayId"),
    ("local_gateway_id", "LocalGatewayId"),
    ("core_network_arn", "CoreNetworkArn"),
    ("vpc_endpoint_id", ""),
];

/// Route changes move traffic: critical.
pub const ROUTES_ARE_CRITICAL: DefaultRule = DefaultRule {
    name: "routes",
    attributes: &["route*", "propagating_vgws*", "vpc_id"],
    kinds: &[],
    critical: true,
};

/// The arguments a `route` block is known by (its destination), for the
/// PR editor: one of them is set in every route.
pub const ROUTE_KEYS: &[&str] = &[
    "cidr_block",
    "ipv6_cidr_block",
    "destination_prefix_list_id",
];

pub const ATTRIBUTES: &[AttrSpec] = &[
    AttrSpec::new("route", Shape::Map, true, Fix::No),
    AttrSpec::new("propagating_vgws", Shape::Block, true, Fix::No),
    AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
    AttrSpec::new("tags", Shape::Map, false, Fix::No),
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: ATTRIBUTES,
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[ROUTES_ARE_CRITICAL],
        editor: &[("route", EditorHint::KeyedBy(ROUTE_KEYS))],
        import: None,
        read_actions: &["ec2:DescribeRouteTables"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &ROUTE_TABLES,
        parent: own_id,
        extract,
        settle: Some(settle),
    },
    plan: None,
};

/// The destination of a state route object (`cidr_block`, `ipv6_cidr_block`
/// lower-cased, or `destination_prefix_list_id`), with the key names given.
pub fn destination(b: &Attrs, keys: [&str; 3]) -> String {
    for (n, k) in keys.iter().enumerate() {
        let v = b.get(*k).and_then(Value::as_str).unwrap_or_default();
        if !v.is_empty() {
            return if n == 1 {
                v.to_ascii_lowercase()
            } else {
                v.to_string()
            };
        }
    }
    String::new()
}

/// The destination of a live route.
pub fn live_destination(r: &Item) -> String {
    destination(
        r,
        [
            "DestinationCidrBlock",
            "DestinationIpv6CidrBlock",
            "DestinationPrefixListId",
        ],
    )
}

/// A route's non-empty targets (the provider hashes routes without the ENI
/// when a NAT gateway is the target).
fn targets_of(mut m: Map<String, Value>) -> Value {
    m.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
    if m.contains_key("nat_gateway_id") {
        m.remove("network_interface_id");
    }
    Value::Object(m)
}

/// A live route's targets, every key present (`""` when unset).
pub fn live_targets(r: &Item) -> Map<String, Value> {
    let gw = get(r, "GatewayId");
    let mut m = Map::new();
    for (key, field) in TARGETS {
        let v = match *key {
            "gateway_id" if gw.starts_with("vpce-") => "",
            "vpc_endpoint_id" if gw.starts_with("vpce-") => gw,
            "vpc_endpoint_id" => "",
            _ => get(r, field),
        };
        m.insert((*key).into(), json!(v));
    }
    m
}

/// Is this live route AWS's own, as the provider's Read decides?
/// `keep_local`: destinations whose `local` route the state holds.
pub fn aws_route(r: &Item, keep_local: &BTreeSet<String>) -> bool {
    let gw = get(r, "GatewayId");
    (gw == "local" && !keep_local.contains(&live_destination(r)))
        || gw == "VpcLattice"
        || get(r, "Origin") == "EnableVgwRoutePropagation"
        || (!get(r, "DestinationPrefixListId").is_empty() && gw.starts_with("vpce-"))
}

/// Inline routes of a state `route` set: destination -> targets.
pub fn project_routes(a: &Attrs) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(Value::Array(routes)) = a.get("route") {
        for b in routes.iter().filter_map(Value::as_object) {
            let dest = destination(
                b,
                [
                    "cidr_block",
                    "ipv6_cidr_block",
                    "destination_prefix_list_id",
                ],
            );
            let t: Map<String, Value> = TARGETS
                .iter()
                .map(|(k, _)| ((*k).to_string(), string_or_empty(b.get(*k))))
                .collect();
            out.insert(dest, targets_of(t));
        }
    }
    out
}

/// Canonical desired attributes of a route table (or the default one).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    m.insert("route".into(), Value::Object(project_routes(a)));
    if let Some(Value::Array(_)) = a.get("propagating_vgws") {
        m.insert(
            "propagating_vgws".into(),
            string_set(strings(a.get("propagating_vgws"))),
        );
    }
    m.insert("vpc_id".into(), string_or_empty(a.get("vpc_id")));
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Destinations of `rtb` owned by standalone `aws_route` resources.
pub fn owned_by_routes(rtb: &str, desired: &DesiredSet<'_>) -> BTreeSet<String> {
    desired
        .of_type(super::route::NAME)
        .filter(|d| attr(d, "route_table_id") == rtb)
        .map(|d| {
            destination(
                &d.attrs,
                [
                    "destination_cidr_block",
                    "destination_ipv6_cidr_block",
                    "destination_prefix_list_id",
                ],
            )
        })
        .collect()
}

/// Post-projection: standalone routes leave the table's inline set.
pub fn settle(d: &mut Desired, all: &DesiredSet<'_>) {
    let owned = owned_by_routes(&d.id, all);
    if let Some(Value::Object(routes)) = d.attrs.get_mut("route") {
        routes.retain(|k, _| !owned.contains(k));
    }
}

/// Canonical live attributes of one listed table, given its desired form.
pub fn canonical(i: &Item, want: Option<&Desired>, desired: &DesiredSet<'_>) -> Attrs {
    let rtb = get(i, "RouteTableId");
    let keep_local: BTreeSet<String> = want
        .and_then(|d| d.attrs.get("route"))
        .and_then(Value::as_object)
        .map(|r| {
            r.iter()
                .filter(|(_, v)| v.get("gateway_id").and_then(Value::as_str) == Some("local"))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let owned = owned_by_routes(rtb, desired);
    let mut routes = Map::new();
    for r in i
        .get("Routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        let dest = live_destination(r);
        if aws_route(r, &keep_local) || owned.contains(&dest) {
            continue;
        }
        let mut t = targets_of(live_targets(r));
        if get(r, "State") == "blackhole" {
            t["blackhole"] = json!(true);
        }
        routes.insert(dest, t);
    }
    let mut m = Map::new();
    m.insert("route".into(), Value::Object(routes));
    if let Some(Value::Array(v)) = i.get("PropagatingVgws") {
        m.insert(
            "propagating_vgws".into(),
            string_set(v.iter().filter_map(Value::as_str)),
        );
    }
    m.insert("vpc_id".into(), json!(get(i, "VpcId")));
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

/// Whether a listed table is its VPC's main table.
pub fn is_main(i: &Item) -> bool {
    i.get("Associations")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.get("Main") == Some(&json!(true))))
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "RouteTableId");
    if desired.has("aws_default_route_table", id) {
        return vec![];
    }
    let want = desired.get(NAME, id);
    let mut l = live(id, canonical(i, want, desired));
    l.auto_created = is_main(i);
    vec![(id.to_string(), l)]
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    pub fn route(dest: &str, gw: &str, origin: &str) -> Value {
        json!({"DestinationCidrBlock": dest, "DestinationIpv6CidrBlock": "",
               "DestinationPrefixListId": "", "GatewayId": gw, "NatGatewayId": "",
               "TransitGatewayId": "", "VpcPeeringConnectionId": "",
               "EgressOnlyInternetGatewayId": "", "NetworkInterfaceId": "", "InstanceId": "",
               "CarrierGatewayId": "", "LocalGatewayId": "", "CoreNetworkArn": "",
               "Origin": origin, "State": "active"})
    }

    fn state_route(cidr: &str, gw: &str) -> Value {
        json!({"cidr_block": cidr, "ipv6_cidr_block": "", "destination_prefix_list_id": "",
               "carrier_gateway_id": "", "core_network_arn": "", "egress_only_gateway_id": "",
               "gateway_id": gw, "local_gateway_id": "", "nat_gateway_id": "",
               "network_interface_id": "", "transit_gateway_id": "", "vpc_endpoint_id": "",
               "vpc_peering_connection_id": ""})
    }

    pub fn desired(rtype: &str, id: &str, attrs: Value) -> Desired {
        let s = StateResource {
            address: format!("{rtype}.x"),
            rtype: rtype.into(),
            id: id.into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let t = crate::registry::get(rtype).unwrap();
        Desired {
            address: s.address.clone(),
            rtype: rtype.into(),
            id: (t.info.live_id)(&s),
            attrs: (t.info.project)(&s, &ProjectContext::default()).into(),
        }
    }

    /// Recorded DescribeRouteTables answer (real shape) with a local route,
    /// a propagated route and a gateway-endpoint route: none is drift.
    #[test]
    fn aws_routes_are_not_drift() {
        let d = desired(
            NAME,
            "rtb-1",
            json!({"id": "rtb-1", "vpc_id": "vpc-1", "propagating_vgws": [],
                   "route": [state_route("0.0.0.0/0", "igw-1")], "tags": {}, "tags_all": {}}),
        );
        let mut vpce = route("", "vpce-1", "CreateRoute");
        vpce["DestinationPrefixListId"] = json!("pl-63a5400a");
        let i = item(json!({"RouteTableId": "rtb-1", "VpcId": "vpc-1",
            "Routes": [route("10.0.0.0/16", "local", "CreateRouteTable"),
                       route("0.0.0.0/0", "igw-1", "CreateRoute"),
                       route("192.168.0.0/16", "vgw-1", "EnableVgwRoutePropagation"), vpce],
            "Associations": [], "PropagatingVgws": [], "Tags": {}}));
        let got = extract(&i, &DesiredSet::new(std::slice::from_ref(&d)));
        assert_eq!(got[0].1.attrs, d.attrs);
        assert!(!got[0].1.auto_created);
    }

    #[test]
    fn a_changed_target_and_a_blackhole_are_drift() {
        let d = desired(
            NAME,
            "rtb-1",
            json!({"id": "rtb-1", "vpc_id": "vpc-1",
                   "route": [state_route("0.0.0.0/0", "igw-1")], "tags_all": {}}),
        );
        let mut r = route("0.0.0.0/0", "", "CreateRoute");
        r["NatGatewayId"] = json!("nat-1");
        r["State"] = json!("blackhole");
        let i = item(
            json!({"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": [r],
            "Associations": [{"Main": true}], "Tags": {}}),
        );
        let got = extract(&i, &DesiredSet::new(std::slice::from_ref(&d)));
        assert_eq!(
            got[0].1.attrs["route"]["0.0.0.0/0"],
            json!({"nat_gateway_id": "nat-1", "blackhole": true})
        );
        assert!(got[0].1.auto_created, "main table");
    }

    #[test]
    fn standalone_routes_leave_the_inline_set() {
        let mut t = desired(
            NAME,
            "rtb-1",
            json!({"id": "rtb-1", "vpc_id": "vpc-1",
                   "route": [state_route("0.0.0.0/0", "igw-1")], "tags_all": {}}),
        );
        let r = desired(
            super::super::route::NAME,
            "r-rtb-11080489",
            json!({"id": "r-rtb-11080489", "route_table_id": "rtb-1",
                   "destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}),
        );
        let all = vec![t.clone(), r];
        settle(&mut t, &DesiredSet::new(&all));
        assert_eq!(t.attrs["route"], json!({}));
        let i = item(json!({"RouteTableId": "rtb-1", "VpcId": "vpc-1",
            "Routes": [route("0.0.0.0/0", "igw-9", "CreateRoute")], "Tags": {}}));
        assert_eq!(
            extract(&i, &DesiredSet::new(&all))[0].1.attrs["route"],
            json!({})
        );
    }
}
