//! `aws_main_route_table_association`: a VPC's main association from the
//! shared `DescribeRouteTables` listing, by its `rtbassoc-` id (re-pointing
//! the main table makes a new id: the old one is missing). Never
//! unmanaged. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map};

use super::route_table_association::associations;
use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, Item};
use crate::services::ec2::net::ROUTE_TABLES;

pub const NAME: &str = "aws_main_route_table_association";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
            AttrSpec::new("route_table_id", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "main-route-table",
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
    for k in ["vpc_id", "route_table_id"] {
        m.insert(k.into(), string_or_empty(r.attrs.get(k)));
    }
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    associations(i, true)
        .into_iter()
        .map(|a| {
            let id = get(a, "RouteTableAssociationId");
            let mut m = Map::new();
            m.insert("vpc_id".into(), json!(get(i, "VpcId")));
            m.insert("route_table_id".into(), json!(get(i, "RouteTableId")));
            (id.to_string(), live(id, m))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn the_main_association_only() {
        let d = desired(
            NAME,
            "rtbassoc-m",
            json!({"id": "rtbassoc-m", "vpc_id": "vpc-1", "route_table_id": "rtb-1",
                   "original_route_table_id": "rtb-0"}),
        );
        let i = item(
            json!({"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Associations": [
            {"RouteTableAssociationId": "rtbassoc-m", "Main": true, "State": "associated"},
            {"RouteTableAssociationId": "rtbassoc-2", "SubnetId": "subnet-1", "Main": false}]}),
        );
        let got = extract(&i, &DesiredSet::new(&[]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "rtbassoc-m");
        assert_eq!(got[0].1.attrs, d.attrs);
    }
}
