//! `aws_route_table_association`: an explicit (non-main) association from
//! the shared `DescribeRouteTables` listing, by its `rtbassoc-` id; a subnet
//! moved to another table gets a new id there, so this one is missing. Not
//! discoverable. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, Item};
use crate::services::ec2::net::ROUTE_TABLES;

pub const NAME: &str = "aws_route_table_association";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("route_table_id", Shape::Block, true, Fix::No),
            AttrSpec::new("subnet_id", Shape::Block, true, Fix::No),
            AttrSpec::new("gateway_id", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "route-table-association",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeRouteTables"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &ROUTE_TABLES,
        parent: |d| Some(attr(d, "route_table_id").to_string()),
        extract,
        settle: None,
    },
    plan: None,
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    for k in ["route_table_id", "subnet_id", "gateway_id"] {
        m.insert(k.into(), string_or_empty(r.attrs.get(k)));
    }
    m
}

/// Live associations of one table (`main`: the main one, else explicit ones).
pub fn associations(i: &Item, main: bool) -> Vec<&Attrs> {
    i.get("Associations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|a| (a.get("Main") == Some(&json!(true))) == main)
        .filter(|a| !matches!(get(a, "State"), "disassociated" | "failed"))
        .collect()
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let rtb = get(i, "RouteTableId");
    associations(i, false)
        .into_iter()
        .map(|a| {
            let id = get(a, "RouteTableAssociationId");
            let mut m = Map::new();
            m.insert("route_table_id".into(), json!(rtb));
            m.insert("subnet_id".into(), json!(get(a, "SubnetId")));
            m.insert("gateway_id".into(), json!(get(a, "GatewayId")));
            (id.to_string(), live(id, m))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn explicit_associations_only() {
        let d = desired(
            NAME,
            "rtbassoc-1",
            json!({"id": "rtbassoc-1", "route_table_id": "rtb-1", "subnet_id": "subnet-1",
                   "gateway_id": ""}),
        );
        let i = item(json!({"RouteTableId": "rtb-1", "Associations": [
            {"RouteTableAssociationId": "rtbassoc-1", "SubnetId": "subnet-1", "GatewayId": "",
             "Main": false, "State": "associated"},
            {"RouteTableAssociationId": "rtbassoc-m", "SubnetId": "", "GatewayId": "",
             "Main": true, "State": "associated"}]}));
        let got = extract(&i, &DesiredSet::new(&[]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.attrs, d.attrs);
    }
}
