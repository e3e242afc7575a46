//! `aws_default_vpc`: the region's default VPC, adopted (never created) by
//! Terraform; compared as `aws_vpc` from the shared `DescribeVpcs` listing
//! (and `DescribeVpcAttribute` where the state sets `enable_dns_*`). Not
//! discoverable. No reconciler call.

use driftd_core::registry::ResourceType;
use driftd_core::Live;

use super::vpc::{canonical, project, ATTRIBUTES, CIDR_IS_CRITICAL};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::VPCS;

pub const NAME: &str = "aws_default_vpc";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: ATTRIBUTES,
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[CIDR_IS_CRITICAL],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &VPCS,
        parent: own_id,
        extract,
        settle: None,
    },
    plan: None,
};

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "VpcId");
    vec![(id.to_string(), live(id, canonical(i)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;
    use serde_json::json;

    #[test]
    fn adopted_default_vpc_compares_as_a_vpc_and_leaves_aws_vpc() {
        let d = desired(
            NAME,
            "vpc-d",
            json!({"id": "vpc-d", "cidr_block": "172.31.0.0/16", "instance_tenancy": "default",
                "enable_dns_support": true, "enable_dns_hostnames": true, "ipv6_cidr_block": "",
                "existing_default_vpc": true, "force_destroy": false, "tags": {}, "tags_all": {}}),
        );
        let i = item(json!({"VpcId": "vpc-d", "CidrBlock": "172.31.0.0/16",
            "InstanceTenancy": "default", "IsDefault": true, "Ipv6CidrBlockAssociationSet": [],
            "EnableDnsSupport": true, "EnableDnsHostnames": true, "Tags": {}}));
        assert_eq!(extract(&i, &DesiredSet::new(&[]))[0].1.attrs, d.attrs);
        let Source::Ec2List {
            extract: as_vpc, ..
        } = super::super::vpc::TYPE.source
        else {
            unreachable!()
        };
        assert!(as_vpc(&i, &DesiredSet::new(&[d])).is_empty());
    }
}
