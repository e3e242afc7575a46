//! EC2 resource types.

pub mod default_network_acl;
pub mod default_route_table;
pub mod default_security_group;
pub mod default_subnet;
pub mod default_vpc;
pub mod ebs_encryption_by_default;
pub mod ebs_snapshot;
pub mod ebs_volume;
pub mod ec2_instance_state;
pub mod egress_only_internet_gateway;
pub mod eip;
pub mod eip_association;
pub mod flow_log;
pub mod image;
pub mod instance;
pub mod internet_gateway;
pub mod key_pair;
pub mod launch_template;
pub mod main_route_table_association;
pub mod nat_gateway;
pub mod network_acl;
pub mod network_acl_association;
pub mod network_acl_rule;
pub mod network_interface;
pub mod network_interface_sg_attachment;
pub mod placement_group;
pub mod route;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod security_group_rule;
pub mod subnet;
pub mod volume_attachment;
pub mod vpc;
pub mod vpc_dhcp_options;
pub mod vpc_dhcp_options_association;
pub mod vpc_endpoint;
pub mod vpc_ipv4_cidr_block_association;
pub mod vpc_peering_connection;
pub mod vpc_security_group_rule;

/// EC2 `Tag` pairs as a canonical tag map (`aws:` keys dropped).
pub fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> serde_json::Value {
    crate::normalize::tags_from_pairs(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

/// An optional API string as a canonical string (`None` is `""`, as in state).
pub fn text(v: Option<&str>) -> serde_json::Value {
    serde_json::Value::String(v.unwrap_or_default().to_string())
}

/// `ec2:CreateTags` or `ec2:DeleteTags` for one drifted tag key (EC2 tags are
/// written one key at a time).
pub(crate) fn tag_actions(
    d: &driftd_core::Desired,
    diff: &driftd_core::AttrDiff,
    out: &mut Vec<driftd_core::Action>,
) -> Result<(), driftd_core::NotReconcilable> {
    use crate::ops::{self, Op};
    use crate::reconcile::{action, path_str, string};
    let key = diff.path[1].clone();
    let attribute = path_str(&diff.path);
    let op = if diff.expected.is_null() {
        Op::DeleteTags(ops::DeleteTags {
            resources: vec![d.id.clone()],
            tags: vec![ops::TagKey { key }],
        })
    } else {
        Op::CreateTags(ops::CreateTags {
            resources: vec![d.id.clone()],
            tags: vec![ops::Tag {
                key,
                value: string(d, &attribute, &diff.expected)?,
            }],
        })
    };
    out.push(action(d, &attribute, op, &diff.actual, &diff.expected));
    Ok(())
}
