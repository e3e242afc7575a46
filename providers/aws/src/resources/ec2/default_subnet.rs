//! `aws_default_subnet`: a default subnet (one per AZ), adopted by
//! Terraform; compared as `aws_subnet` from the shared `DescribeSubnets`
//! listing. Not discoverable. No reconciler call.

use driftd_core::registry::ResourceType;
use driftd_core::Live;

use super::subnet::{canonical, project, ATTRIBUTES, PUBLIC_IP_IS_CRITICAL};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::SUBNETS;

pub const NAME: &str = "aws_default_subnet";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: ATTRIBUTES,
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[PUBLIC_IP_IS_CRITICAL],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeSubnets"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &SUBNETS,
        parent: own_id,
        extract,
        settle: None,
    },
    plan: None,
};

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "SubnetId");
    vec![(id.to_string(), live(id, canonical(i)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;
    use serde_json::json;

    #[test]
    fn adopted_default_subnet_leaves_aws_subnet() {
        let d = desired(
            NAME,
            "subnet-d",
            json!({"id": "subnet-d", "availability_zone": "us-east-1a", "vpc_id": "vpc-d",
                "cidr_block": "172.31.0.0/20", "map_public_ip_on_launch": true,
                "tags_all": {}}),
        );
        let i = item(json!({"SubnetId": "subnet-d", "VpcId": "vpc-d",
            "CidrBlock": "172.31.0.0/20", "AvailabilityZone": "us-east-1a",
            "MapPublicIpOnLaunch": true, "AssignIpv6AddressOnCreation": false,
            "DefaultForAz": true, "Ipv6CidrBlock": "", "Tags": {}}));
        let l = &extract(&i, &DesiredSet::new(&[]))[0].1.attrs;
        for (k, v) in l {
            assert_eq!(d.attrs.get(k), Some(v), "{k}");
        }
        let Source::Ec2List {
            extract: as_subnet, ..
        } = super::super::subnet::TYPE.source
        else {
            unreachable!()
        };
        assert!(as_subnet(&i, &DesiredSet::new(&[d])).is_empty());
    }
}
