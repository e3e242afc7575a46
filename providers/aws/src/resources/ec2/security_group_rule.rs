//! `aws_security_group_rule`: AWS has no object for a Terraform `sgrule-*`
//! id, so its live side is synthesized from its group's permissions (read
//! by the shared `DescribeSecurityGroups` call). Its rules leave the group's
//! own sets on both sides, so one change is reported once. Rules in other
//! stacks of a scope matter to groups of this one: they are always loaded.

use std::collections::BTreeMap;

use driftd_core::registry::{AttrSpec, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::security_group::rule_action;
use super::security_group::{explode_block, RULES_ARE_CRITICAL};
use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

pub const NAME: &str = "aws_security_group_rule";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("security_group_id", Shape::Block, true, Fix::No),
            AttrSpec::new("type", Shape::Block, true, Fix::No),
            AttrSpec::new("rules", Shape::Map, true, Fix::InPlace),
        ],
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[RULES_ARE_CRITICAL],
        editor: &[(
            "rules",
            EditorHint::Refuse("standalone security group rule resources are not edited automatically: add, change or remove the rule resource"),
        )],
        import: None,
        read_actions: &["ec2:DescribeSecurityGroups"],
        write_actions: &[
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
            "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
        ],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::GroupPermissions,
    plan: Some(plan),
};

/// Canonical desired attributes: the group, the direction and the exploded rules.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let sg = a
        .get("security_group_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut rules = BTreeMap::new();
    explode_block(a, sg, "source_security_group_id", &mut rules);
    let mut m = Map::new();
    m.insert("security_group_id".into(), json!(sg));
    m.insert("type".into(), string_or_empty(a.get("type")));
    m.insert("rules".into(), Value::Object(rules.into_iter().collect()));
    m
}

/// Reconcile plan: each drifted rule of the standalone resource is one call
/// on the group it points into.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    let group = d
        .attrs
        .get("security_group_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let egress = d.attrs.get("type").and_then(Value::as_str) == Some("egress");
    diffs
        .iter()
        .map(|x| match x.path[0].as_str() {
            "rules" if x.path.len() == 2 => rule_action(d, group, egress, x),
            other => Err(NotReconcilable::Unsupported(format!("{} {other}", d.rtype))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_with_a_source_group_explodes_per_peer() {
        let s = StateResource {
            address: "aws_security_group_rule.r".into(),
            rtype: NAME.into(),
            id: "sgrule-1".into(),
            attrs: json!({"type": "egress", "security_group_id": "sg-1", "protocol": "-1",
                "from_port": 0, "to_port": 0, "cidr_blocks": ["10.0.0.0/8"],
                "source_security_group_id": null, "self": true, "description": "all"})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d["type"], json!("egress"));
        assert_eq!(
            d["rules"],
            json!({"all:*:cidr:10.0.0.0/8": "all", "all:*:sg:sg-1": "all"})
        );
    }
}
