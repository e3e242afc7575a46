//! `aws_vpc_dhcp_options_association`: a VPC's DHCP options set, from the
//! shared `DescribeVpcs` listing (`DhcpOptionsId`; `default` when none).
//! The provider's id (`<dopt>-<vpc>`) is not AWS's: known by its VPC. Not
//! discoverable. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, Item};
use crate::services::ec2::net::VPCS;

pub const NAME: &str = "aws_vpc_dhcp_options_association";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new(
            "dhcp_options_id",
            Shape::Block,
            true,
            Fix::No,
        )],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "dhcp-options",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeVpcs"],
        write_actions: &[],
        project,
        live_id: |r| {
            r.attrs
                .get("vpc_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        },
    },
    source: Source::Ec2List {
        listing: &VPCS,
        parent: |d| Some(d.id.clone()),
        extract,
        settle: None,
    },
    plan: None,
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    m.insert(
        "dhcp_options_id".into(),
        string_or_empty(r.attrs.get("dhcp_options_id")),
    );
    m
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "VpcId");
    // Only VPCs an association names (every VPC has a set).
    if !desired.has(NAME, id) {
        return vec![];
    }
    let mut m = Map::new();
    let dopt = get(i, "DhcpOptionsId");
    m.insert(
        "dhcp_options_id".into(),
        json!(if dopt.is_empty() { "default" } else { dopt }),
    );
    vec![(id.to_string(), live(id, m))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn known_by_vpc() {
        let d = desired(
            NAME,
            "dopt-1-vpc-1",
            json!({"id": "dopt-1-vpc-1", "vpc_id": "vpc-1", "dhcp_options_id": "dopt-1"}),
        );
        assert_eq!(d.id, "vpc-1");
        let i = item(json!({"VpcId": "vpc-1", "DhcpOptionsId": "dopt-2"}));
        let got = extract(&i, &DesiredSet::new(std::slice::from_ref(&d)));
        assert_eq!(got[0].1.attrs["dhcp_options_id"], json!("dopt-2"));
    }
}
