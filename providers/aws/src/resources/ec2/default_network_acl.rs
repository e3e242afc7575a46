//! `aws_default_network_acl`: a VPC's default NACL, adopted by Terraform;
//! compared as `aws_network_acl` (same rule canonical form and settling)
//! from the shared `DescribeNetworkAcls` listing, except `subnet_ids`:
//! every subnet not associated elsewhere lands on the default NACL, so the
//! state's list is not the live one. Known by `default_network_acl_id`.
//! Not discoverable. No reconciler call.

use driftd_core::registry::{AttrSpec, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};

use super::network_acl::{canonical, RULES_ARE_CRITICAL};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::NETWORK_ACLS;

pub const NAME: &str = "aws_default_network_acl";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("ingress", Shape::Map, true, Fix::No),
            AttrSpec::new("egress", Shape::Map, true, Fix::No),
            AttrSpec::new("vpc_id", Shape::Block, false, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[RULES_ARE_CRITICAL],
        editor: &[
            ("ingress", EditorHint::KeyedBy(&["rule_no"])),
            ("egress", EditorHint::KeyedBy(&["rule_no"])),
        ],
        import: None,
        read_actions: &["ec2:DescribeNetworkAcls"],
        write_actions: &[],
        project,
        live_id: |r| {
            r.attrs
                .get("default_network_acl_id")
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(&r.id)
                .to_string()
        },
    },
    source: Source::Ec2List {
        listing: &NETWORK_ACLS,
        parent: own_id,
        extract,
        settle: Some(super::network_acl::settle),
    },
    plan: None,
};

pub fn project(r: &StateResource, c: &ProjectContext) -> Attrs {
    let mut m = super::network_acl::project(r, c);
    m.remove("subnet_ids");
    m
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "NetworkAclId");
    let mut m = canonical(i, desired);
    m.remove("subnet_ids");
    vec![(id.to_string(), live(id, m))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;
    use serde_json::json;

    /// moto's default NACL: rule 100 allow-all and 32767 deny, both ways.
    #[test]
    fn default_rules_adopted() {
        let allow = json!({"action": "allow", "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "",
            "from_port": 0, "to_port": 0, "icmp_code": 0, "icmp_type": 0, "protocol": "-1",
            "rule_no": 100});
        let d = desired(
            NAME,
            "acl-d",
            json!({"id": "acl-d", "default_network_acl_id": "acl-d", "vpc_id": "vpc-1",
                   "subnet_ids": ["subnet-1"], "ingress": [allow], "egress": [allow],
                   "tags_all": {}}),
        );
        let e = |eg: bool, n: i64, a: &str| {
            json!({"RuleNumber": n, "Egress": eg,
            "Protocol": "-1", "RuleAction": a, "CidrBlock": "0.0.0.0/0"})
        };
        let i = item(
            json!({"NetworkAclId": "acl-d", "VpcId": "vpc-1", "IsDefault": true,
            "Entries": [e(false, 100, "allow"), e(true, 100, "allow"),
                        e(false, 32767, "deny"), e(true, 32767, "deny")],
            "Associations": [{"SubnetId": "subnet-1"}, {"SubnetId": "subnet-2"}], "Tags": {}}),
        );
        assert_eq!(
            extract(&i, &DesiredSet::new(std::slice::from_ref(&d)))[0]
                .1
                .attrs,
            d.attrs
        );
    }
}
