//! `aws_security_group`: read with `DescribeSecurityGroups` (one listing per
//! scope, shared with `aws_security_group_rule`). Inline `ingress`/`egress`
//! blocks explode into keyed sets (`protocol:ports:peer-kind:peer` ->
//! description); a VPC's `default` group is AWS-created.

use std::collections::BTreeMap;

use driftd_core::registry::{
    AttrSpec, DefaultRule, EditorHint, Fix, ImportHints, ProjectContext, ResourceType,
};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{Map, Value};

use crate::normalize::{as_bool, as_i64, effective_tags, rule_key, string_or_empty, strings, Peer};
use crate::ops::{self, Op};
use crate::reconcile::{action, path_str};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

pub const NAME: &str = "aws_security_group";

/// The built-in rule shared by the security group family: any rule change is critical.
pub const RULES_ARE_CRITICAL: DefaultRule = DefaultRule {
    name: "security-group-rules",
    attributes: &[
        "ingress*",
        "egress*",
        "rules*",
        "ip_protocol",
        "from_port",
        "to_port",
        "cidr_*",
        "prefix_list_id",
        "referenced_security_group_id",
    ],
    kinds: &[],
    critical: true,
};

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("name", Shape::Block, true, Fix::Disruptive),
            AttrSpec::new("description", Shape::Block, false, Fix::Disruptive),
            AttrSpec::new("vpc_id", Shape::Block, true, Fix::Disruptive),
            AttrSpec::new("tags", Shape::Map, false, Fix::InPlace),
            AttrSpec::new("ingress", Shape::Map, true, Fix::InPlace),
            AttrSpec::new("egress", Shape::Map, true, Fix::InPlace),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[RULES_ARE_CRITICAL],
        editor: &[
            ("ingress", EditorHint::KeyedBlocks),
            ("egress", EditorHint::KeyedBlocks),
        ],
        import: Some(ImportHints {
            id_argument: None,
            name_argument: Some("name"),
            arguments: &["name", "description", "vpc_id", "tags"],
            blocks: &[],
            required: &["name", "description"],
            note: "rules are not generated (Terraform leaves rules it does not manage alone): add ingress/egress blocks or aws_vpc_security_group_*_rule resources to manage them",
        }),
        read_actions: &["ec2:DescribeSecurityGroups"],
        write_actions: &[
            "ec2:CreateTags",
            "ec2:DeleteTags",
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
    source: Source::SecurityGroups,
    plan: Some(plan),
};

/// Canonical desired attributes of a group (rules owned by standalone rule
/// resources are removed afterwards, across resources: see `schema`).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let (a, id) = (&r.attrs, r.id.as_str());
    let mut m = Map::new();
    for key in ["name", "description", "vpc_id"] {
        m.insert(key.into(), string_or_empty(a.get(key)));
    }
    m.insert("tags".into(), effective_tags(a));
    for dir in ["ingress", "egress"] {
        let mut rules = BTreeMap::new();
        if let Some(Value::Array(blocks)) = a.get(dir) {
            for b in blocks.iter().filter_map(Value::as_object) {
                explode_block(b, id, "security_groups", &mut rules);
            }
        }
        m.insert(dir.into(), Value::Object(rules.into_iter().collect()));
    }
    m
}

/// Explode one Terraform rule block into keyed atoms (key -> description).
/// `groups_key` names the attribute that lists peer groups (`security_groups`
/// in inline blocks, `source_security_group_id` in `aws_security_group_rule`).
pub fn explode_block(
    b: &Attrs,
    own_group: &str,
    groups_key: &str,
    out: &mut BTreeMap<String, Value>,
) {
    let proto = b.get("protocol").and_then(Value::as_str).unwrap_or("-1");
    let from = as_i64(b.get("from_port"));
    let to = as_i64(b.get("to_port"));
    let desc = string_or_empty(b.get("description"));
    let mut add = |peer: Peer, v: &str| {
        out.insert(rule_key(proto, from, to, peer, v), desc.clone());
    };
    for c in strings(b.get("cidr_blocks")) {
        add(Peer::Cidr, c);
    }
    for c in strings(b.get("ipv6_cidr_blocks")) {
        add(Peer::Ipv6, c);
    }
    for c in strings(b.get("prefix_list_ids")) {
        add(Peer::PrefixList, c);
    }
    match b.get(groups_key) {
        Some(Value::String(g)) if !g.is_empty() => add(Peer::Group, g),
        Some(Value::Array(_)) => {
            for g in strings(b.get(groups_key)) {
                add(Peer::Group, g);
            }
        }
        _ => {}
    }
    if as_bool(b.get("self")) == Some(true) && !own_group.is_empty() {
        add(Peer::Group, own_group);
    }
}

/// Reconcile plan: tags one key at a time, each drifted rule one
/// authorize/revoke/update-description call; name, description and VPC
/// need a replacement and are refused.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    let mut out = Vec::new();
    for x in diffs {
        match x.path[0].as_str() {
            "tags" if x.path.len() == 2 => super::tag_actions(d, x, &mut out)?,
            "ingress" | "egress" if x.path.len() == 2 => {
                out.push(rule_action(d, &d.id, x.path[0] == "egress", x)?)
            }
            "name" | "description" | "vpc_id" => {
                return Err(NotReconcilable::Disruptive(x.path[0].clone()))
            }
            other => return Err(NotReconcilable::Unsupported(format!("{} {other}", d.rtype))),
        }
    }
    Ok(out)
}

/// A parsed exploded rule key (`tcp:22-22:cidr:0.0.0.0/0`).
#[derive(Debug, PartialEq)]
pub struct RuleKey {
    pub protocol: String,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub kind: String,
    pub value: String,
}

/// Parse a rule key made by `normalize::rule_key`.
pub fn parse_rule_key(key: &str) -> Option<RuleKey> {
    let mut it = key.splitn(4, ':');
    let protocol = it.next()?.to_string();
    let ports = it.next()?;
    let kind = it.next()?.to_string();
    let value = it.next()?.to_string();
    let (from, to) = if ports == "*" {
        (None, None)
    } else {
        // "22-22", "-1--1": the separator is the first '-' after a digit.
        let b = ports.as_bytes();
        let i = (1..b.len()).find(|&i| b[i] == b'-' && b[i - 1].is_ascii_digit())?;
        (
            Some(ports[..i].parse().ok()?),
            Some(ports[i + 1..].parse().ok()?),
        )
    };
    Some(RuleKey {
        protocol,
        from,
        to,
        kind,
        value,
    })
}

fn rule_params(group: &str, key: &RuleKey, description: &str) -> ops::GroupPermissions {
    let protocol = if key.protocol == "all" {
        "-1"
    } else {
        key.protocol.as_str()
    };
    let (from_port, to_port) = match (key.from, key.to) {
        (Some(f), Some(t)) => (Some(f), Some(t)),
        _ => (None, None),
    };
    let mut perm = ops::IpPermission {
        ip_protocol: protocol.to_string(),
        from_port,
        to_port,
        ip_ranges: vec![],
        ipv6_ranges: vec![],
        prefix_list_ids: vec![],
        user_id_group_pairs: vec![],
    };
    let (value, description) = (key.value.clone(), description.to_string());
    match key.kind.as_str() {
        "cidr" => perm.ip_ranges.push(ops::IpRange {
            cidr_ip: value,
            description,
        }),
        "ipv6" => perm.ipv6_ranges.push(ops::Ipv6Range {
            cidr_ipv6: value,
            description,
        }),
        "pl" => perm.prefix_list_ids.push(ops::PrefixListId {
            prefix_list_id: value,
            description,
        }),
        _ => perm.user_id_group_pairs.push(ops::UserIdGroupPair {
            group_id: value,
            description,
        }),
    }
    ops::GroupPermissions {
        group_id: group.to_string(),
        ip_permissions: vec![perm],
    }
}

/// The one call that repairs one drifted rule of `group` (also used by
/// `aws_security_group_rule`).
pub(crate) fn rule_action(
    d: &Desired,
    group: &str,
    egress: bool,
    diff: &AttrDiff,
) -> Result<Action, NotReconcilable> {
    let key = parse_rule_key(&diff.path[1])
        .ok_or_else(|| NotReconcilable::Other(format!("cannot parse rule {}", diff.path[1])))?;
    let desc = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let op = match (&diff.expected, &diff.actual, egress) {
        (Value::Null, a, false) => {
            Op::RevokeSecurityGroupIngress(rule_params(group, &key, &desc(a)))
        }
        (Value::Null, a, true) => Op::RevokeSecurityGroupEgress(rule_params(group, &key, &desc(a))),
        (e, Value::Null, false) => {
            Op::AuthorizeSecurityGroupIngress(rule_params(group, &key, &desc(e)))
        }
        (e, Value::Null, true) => {
            Op::AuthorizeSecurityGroupEgress(rule_params(group, &key, &desc(e)))
        }
        (e, _, false) => {
            Op::UpdateSecurityGroupRuleDescriptionsIngress(rule_params(group, &key, &desc(e)))
        }
        (e, _, true) => {
            Op::UpdateSecurityGroupRuleDescriptionsEgress(rule_params(group, &key, &desc(e)))
        }
    };
    Ok(action(
        d,
        &path_str(&diff.path),
        op,
        &diff.actual,
        &diff.expected,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
    use serde_json::json;

    #[test]
    fn rule_keys_round_trip() {
        assert_eq!(
            parse_rule_key("tcp:22-22:cidr:0.0.0.0/0").unwrap(),
            RuleKey {
                protocol: "tcp".into(),
                from: Some(22),
                to: Some(22),
                kind: "cidr".into(),
                value: "0.0.0.0/0".into()
            }
        );
        assert_eq!(parse_rule_key("icmp:-1--1:sg:sg-1").unwrap().from, Some(-1));
        assert_eq!(parse_rule_key("all:*:ipv6:::/0").unwrap().value, "::/0");
    }

    /// A state fixture's inline rules and the recorded DescribeSecurityGroups
    /// permissions for them explode into the same keys.
    #[test]
    fn state_blocks_and_recorded_permissions_explode_alike() {
        let s = StateResource {
            address: "aws_security_group.web".into(),
            rtype: NAME.into(),
            id: "sg-1".into(),
            attrs: json!({"name": "web", "description": "d", "vpc_id": "vpc-1",
                "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443,
                             "cidr_blocks": ["0.0.0.0/0"], "self": true, "description": "https"}],
                "egress": []})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let desired = project(&s, &ProjectContext::default());
        let recorded = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("0.0.0.0/0")
                    .description("https")
                    .build(),
            )
            .user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id("sg-1")
                    .description("https")
                    .build(),
            )
            .build();
        let live = crate::services::ec2::explode_permissions(&[recorded]);
        assert_eq!(desired["ingress"], Value::Object(live));
        assert_eq!(desired["egress"], json!({}));
    }
}
