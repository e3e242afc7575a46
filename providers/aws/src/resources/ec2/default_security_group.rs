//! `aws_default_security_group`: a VPC's `default` group, adopted (never
//! created) by Terraform, which revokes every rule the group had and keeps
//! exactly the `ingress`/`egress` blocks it declares. Compared as
//! `aws_security_group` compares (same projection, same keyed rule sets,
//! same standalone-rule ownership) from the same `DescribeSecurityGroups`
//! listing: no call of its own. A group adopted this way is this type's
//! only: it leaves `aws_security_group`'s live set (never reported there,
//! not even with `--strict`). Not discoverable (every VPC has one). No
//! reconciler call.

use driftd_core::registry::{AttrSpec, EditorHint, Fix, ResourceType};
use driftd_core::Shape;

use super::security_group::{project, RULES_ARE_CRITICAL};
use crate::registry::{AwsType, Source};

pub const NAME: &str = "aws_default_security_group";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("name", Shape::Block, true, Fix::No),
            AttrSpec::new("description", Shape::Block, false, Fix::No),
            AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
            AttrSpec::new("ingress", Shape::Map, true, Fix::No),
            AttrSpec::new("egress", Shape::Map, true, Fix::No),
        ],
        discoverable: false,
        // A group adopted in another stack must leave this stack's
        // aws_security_group live set too.
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[RULES_ARE_CRITICAL],
        editor: &[
            ("ingress", EditorHint::KeyedBlocks),
            ("egress", EditorHint::KeyedBlocks),
        ],
        import: None,
        read_actions: &["ec2:DescribeSecurityGroups"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    plan: None,
    source: Source::SecurityGroups,
};

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{IpPermission, IpRange, SecurityGroup, UserIdGroupPair};
    use driftd_core::registry::ProjectContext;
    use driftd_core::StateResource;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn state() -> StateResource {
        // What terraform-provider-aws v5 writes for an adopted default group.
        StateResource {
            address: "aws_default_security_group.default".into(),
            rtype: NAME.into(),
            id: "sg-d".into(),
            attrs: json!({"id": "sg-d", "arn": "arn:aws:ec2:us-east-1:123456789012:security-group/sg-d",
                "name": "default", "name_prefix": "", "description": "default VPC security group",
                "vpc_id": "vpc-1", "owner_id": "123456789012", "revoke_rules_on_delete": false,
                "ingress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "self": true,
                    "cidr_blocks": [], "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                    "security_groups": [], "description": ""}],
                "egress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "self": false,
                    "cidr_blocks": ["10.0.0.0/8"], "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                    "security_groups": [], "description": "https out"}],
                "tags": {"Name": "locked"}, "tags_all": {"Name": "locked"}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// A recorded DescribeSecurityGroups answer for the same group.
    fn recorded() -> SecurityGroup {
        SecurityGroup::builder()
            .group_id("sg-d")
            .group_name("default")
            .description("default VPC security group")
            .vpc_id("vpc-1")
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("Name")
                    .value("locked")
                    .build(),
            )
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-d").build())
                    .build(),
            )
            .ip_permissions_egress(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(
                        IpRange::builder()
                            .cidr_ip("10.0.0.0/8")
                            .description("https out")
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[test]
    fn state_and_recorded_group_agree_and_an_added_rule_differs() {
        let desired = project(&state(), &ProjectContext::default());
        let ids = BTreeSet::from(["sg-d".to_string()]);
        let (live, _) = crate::services::ec2::security_groups_live(
            &[recorded()],
            &ids,
            &[],
            &Default::default(),
        );
        assert_eq!(live["sg-d"].attrs, desired);
        // AWS's own allow-all egress put back by hand: drift on egress.
        let mut g = recorded();
        g.ip_permissions_egress = Some(vec![
            g.ip_permissions_egress()[0].clone(),
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        ]);
        let (live, _) =
            crate::services::ec2::security_groups_live(&[g], &ids, &[], &Default::default());
        let eg = live["sg-d"].attrs["egress"].as_object().unwrap();
        assert_eq!(eg.len(), 2);
        assert!(eg.contains_key("all:*:cidr:0.0.0.0/0"), "{eg:?}");
    }
}
