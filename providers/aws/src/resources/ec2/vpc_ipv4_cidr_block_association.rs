//! `aws_vpc_ipv4_cidr_block_association`: a secondary IPv4 CIDR of a VPC,
//! from the shared `DescribeVpcs` listing (`CidrBlockAssociationSet`), by
//! its `vpc-cidr-assoc-` id; `disassociated` / `disassociating` / `failed`
//! ones are gone. The primary CIDR belongs to `aws_vpc`. Not discoverable.
//! No reconciler call.

use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, Item};
use crate::services::ec2::net::VPCS;

pub const NAME: &str = "aws_vpc_ipv4_cidr_block_association";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("vpc_id", Shape::Block, false, Fix::No),
            AttrSpec::new("cidr_block", Shape::Block, false, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeVpcs"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &VPCS,
        parent: |d| Some(attr(d, "vpc_id").to_string()),
        extract,
        settle: None,
    },
    plan: None,
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    for k in ["vpc_id", "cidr_block"] {
        m.insert(k.into(), string_or_empty(r.attrs.get(k)));
    }
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let vpc = get(i, "VpcId");
    let primary = get(i, "CidrBlock");
    i.get("CidrBlockAssociationSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|a| {
            !matches!(
                get(a, "State"),
                "disassociated" | "disassociating" | "failed"
            )
        })
        .filter(|a| get(a, "CidrBlock") != primary)
        .map(|a| {
            let id = get(a, "AssociationId");
            let mut m = Map::new();
            m.insert("vpc_id".into(), json!(vpc));
            m.insert("cidr_block".into(), json!(get(a, "CidrBlock")));
            (id.to_string(), live(id, m))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn secondary_cidrs_only() {
        let d = desired(
            NAME,
            "vpc-cidr-assoc-2",
            json!({"id": "vpc-cidr-assoc-2", "vpc_id": "vpc-1", "cidr_block": "10.1.0.0/16",
                   "ipv4_ipam_pool_id": "", "ipv4_netmask_length": null}),
        );
        let i = item(json!({"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16",
            "CidrBlockAssociationSet": [
                {"AssociationId": "vpc-cidr-assoc-1", "CidrBlock": "10.0.0.0/16", "State": "associated"},
                {"AssociationId": "vpc-cidr-assoc-2", "CidrBlock": "10.1.0.0/16", "State": "associated"},
                {"AssociationId": "vpc-cidr-assoc-3", "CidrBlock": "10.2.0.0/16", "State": "disassociated"}]}));
        let got = extract(&i, &DesiredSet::new(&[]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.attrs, d.attrs);
    }
}
