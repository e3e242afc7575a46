//! `aws_vpc_security_group_ingress_rule` and `aws_vpc_security_group_egress_rule`.
//!
//! One file for both: they are one type family in the Terraform provider
//! (one schema, one `DescribeSecurityGroupRules` read, one projection); only
//! the direction differs, and it is the type name itself. Two registry
//! entries, one declaration.

use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::security_group::RULES_ARE_CRITICAL;
use crate::normalize::{as_i64, effective_tags, rule_key, string_or_empty, Peer};
use crate::registry::{AwsType, Source};

pub const INGRESS_NAME: &str = "aws_vpc_security_group_ingress_rule";
pub const EGRESS_NAME: &str = "aws_vpc_security_group_egress_rule";

const ATTRIBUTES: &[AttrSpec] = &[
    AttrSpec::new("security_group_id", Shape::Block, true, Fix::No),
    AttrSpec::new("ip_protocol", Shape::Block, true, Fix::No),
    AttrSpec::new("from_port", Shape::Block, true, Fix::No),
    AttrSpec::new("to_port", Shape::Block, true, Fix::No),
    AttrSpec::new("cidr_ipv4", Shape::Block, true, Fix::No),
    AttrSpec::new("cidr_ipv6", Shape::Block, true, Fix::No),
    AttrSpec::new("prefix_list_id", Shape::Block, true, Fix::No),
    AttrSpec::new("referenced_security_group_id", Shape::Block, true, Fix::No),
    AttrSpec::new("description", Shape::Block, false, Fix::No),
    AttrSpec::new("tags", Shape::Map, false, Fix::No),
];

const fn family(name: &'static str) -> AwsType {
    AwsType {
        info: ResourceType {
            name,
            attributes: ATTRIBUTES,
            discoverable: false,
            needed_from_other_stacks: true,
            whole_set_writes: &[],
            default_rules: &[RULES_ARE_CRITICAL],
            editor: &[],
            import: None,
            read_actions: &["ec2:DescribeSecurityGroupRules"],
            write_actions: &[],
            project,
            live_id: |r| r.id.clone(),
        },
        source: Source::SecurityGroupRules,
        plan: None,
    }
}

pub static INGRESS: AwsType = family(INGRESS_NAME);
pub static EGRESS: AwsType = family(EGRESS_NAME);

/// Canonical desired attributes (also applied to the live rule).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    canonical(&r.attrs)
}

/// Canonical `aws_vpc_security_group_{ingress,egress}_rule`, from state
/// attributes or from a DescribeSecurityGroupRules answer in the same names.
pub fn canonical(a: &Attrs) -> Attrs {
    let mut m = Map::new();
    let proto =
        crate::normalize::ip_protocol(a.get("ip_protocol").and_then(Value::as_str).unwrap_or("-1"));
    m.insert(
        "security_group_id".into(),
        string_or_empty(a.get("security_group_id")),
    );
    if proto != "all" {
        for key in ["from_port", "to_port"] {
            m.insert(key.into(), json!(as_i64(a.get(key)).unwrap_or(-1)));
        }
    }
    m.insert("ip_protocol".into(), json!(proto));
    for key in ["cidr_ipv4", "cidr_ipv6", "prefix_list_id", "description"] {
        m.insert(key.into(), string_or_empty(a.get(key)));
    }
    // A group in another account is stored as `ACCOUNT/sg-...`; AWS answers
    // with the bare id. The rule keys already compare the id alone.
    let group = string_or_empty(a.get("referenced_security_group_id"));
    m.insert(
        "referenced_security_group_id".into(),
        json!(crate::normalize::group_ref(group.as_str().unwrap_or(""))),
    );
    m.insert("tags".into(), effective_tags(a));
    m
}

/// The exploded key of a canonical rule (the key its group's sets use).
pub fn rule_key_of(a: &Attrs) -> Option<String> {
    let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
    let (peer, value) = [
        (Peer::Cidr, "cidr_ipv4"),
        (Peer::Ipv6, "cidr_ipv6"),
        (Peer::PrefixList, "prefix_list_id"),
        (Peer::Group, "referenced_security_group_id"),
    ]
    .into_iter()
    .find_map(|(p, k)| (!s(k).is_empty()).then(|| (p, s(k))))?;
    Some(rule_key(
        s("ip_protocol"),
        as_i64(a.get("from_port")),
        as_i64(a.get("to_port")),
        peer,
        value,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded DescribeSecurityGroupRules answer for an all-protocol rule
    /// (`-1`, ports -1) and the state's (`ip_protocol = "-1"`, no ports).
    #[test]
    fn all_protocols_compare_without_ports() {
        let state = json!({"security_group_id": "sg-1", "ip_protocol": "-1",
            "cidr_ipv4": "10.0.0.0/8", "description": "", "tags": null});
        let live = json!({"security_group_id": "sg-1", "ip_protocol": "-1", "from_port": -1,
            "to_port": -1, "cidr_ipv4": "10.0.0.0/8", "cidr_ipv6": "", "prefix_list_id": "",
            "referenced_security_group_id": "", "description": "", "tags": {}});
        let (d, l) = (
            canonical(state.as_object().unwrap()),
            canonical(live.as_object().unwrap()),
        );
        assert_eq!(d, l);
        assert_eq!(rule_key_of(&d).as_deref(), Some("all:*:cidr:10.0.0.0/8"));
    }
}
