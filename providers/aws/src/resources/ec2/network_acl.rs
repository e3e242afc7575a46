//! `aws_network_acl`: the shared `DescribeNetworkAcls` listing (which also
//! serves `aws_network_acl_rule`, `aws_network_acl_association` and
//! `aws_default_network_acl`).
//!
//! `ingress` / `egress` are keyed sets: rule number -> the rule, with the
//! protocol as its IANA number (`tcp` = `6`, `all` = `-1`), ports 0 for
//! all-protocol and ICMP rules, ICMP type/code 0 for the others (the
//! provider's Read and moto's omitted zero elements agree then). The
//! catch-all deny rules 32767 / 32768 are AWS's. Rules owned by
//! `aws_network_acl_rule` and subnets owned by `aws_network_acl_association`
//! leave the NACL's own sets on both sides, so one change is reported once.
//! A VPC's default NACL is AWS-created. No reconciler call.

use std::collections::BTreeSet;

use driftd_core::registry::{AttrSpec, DefaultRule, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Desired, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{as_i64, effective_tags, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, own_id, Item};
use crate::services::ec2::net::NETWORK_ACLS;

pub const NAME: &str = "aws_network_acl";

pub const RULES_ARE_CRITICAL: DefaultRule = DefaultRule {
    name: "network-acl-rules",
    attributes: &[
        "ingress*",
        "egress*",
        "subnet_ids*",
        "rule_*",
        "protocol",
        "cidr_block",
        "ipv6_cidr_block",
        "from_port",
        "to_port",
        "icmp_*",
        "network_acl_id",
        "subnet_id",
    ],
    kinds: &[],
    critical: true,
};

pub const ATTRIBUTES: &[AttrSpec] = &[
    AttrSpec::new("ingress", Shape::Map, true, Fix::No),
    AttrSpec::new("egress", Shape::Map, true, Fix::No),
    AttrSpec::new("subnet_ids", Shape::Block, true, Fix::No),
    AttrSpec::new("vpc_id", Shape::Block, false, Fix::No),
    AttrSpec::new("tags", Shape::Map, false, Fix::No),
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: ATTRIBUTES,
        discoverable: true,
        needed_from_other_stacks: false,
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
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &NETWORK_ACLS,
        parent: own_id,
        extract,
        settle: Some(settle),
    },
    plan: None,
};

/// IANA protocol number as a string (`-1` for all).
pub fn protocol_number(p: &str) -> String {
    match p.trim().to_ascii_lowercase().as_str() {
        "all" | "-1" | "" => "-1".into(),
        "tcp" => "6".into(),
        "udp" => "17".into(),
        "icmp" => "1".into(),
        "icmpv6" | "ipv6-icmp" => "58".into(),
        other => other.into(),
    }
}

/// One canonical rule.
#[allow(clippy::too_many_arguments)]
pub fn rule(
    action: &str,
    protocol: &str,
    cidr: &str,
    ipv6: &str,
    from: i64,
    to: i64,
    icmp_type: i64,
    icmp_code: i64,
) -> Value {
    let p = protocol_number(protocol);
    let icmp = p == "1" || p == "58";
    let (from, to) = if p == "-1" || icmp {
        (0, 0)
    } else {
        (from, to)
    };
    let (t, c) = if icmp { (icmp_type, icmp_code) } else { (0, 0) };
    json!({"action": action.to_ascii_lowercase(), "protocol": p, "cidr_block": cidr,
           "ipv6_cidr_block": ipv6, "from_port": from, "to_port": to,
           "icmp_type": t, "icmp_code": c})
}

/// A state rule object (`ingress`/`egress` block or `aws_network_acl_rule`
/// attributes, with the key names given: action, number).
pub fn state_rule(b: &Attrs, action_key: &str) -> Value {
    let n = |k: &str| as_i64(b.get(k)).unwrap_or(0);
    let st = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    rule(
        &st(action_key),
        &st("protocol"),
        &st("cidr_block"),
        &st("ipv6_cidr_block"),
        n("from_port"),
        n("to_port"),
        n("icmp_type"),
        n("icmp_code"),
    )
}

/// A live entry as (egress, rule number, rule).
pub fn live_rule(e: &Item) -> (bool, i64, Value) {
    let n = |k: &str| e.get(k).and_then(Value::as_i64).unwrap_or(0);
    (
        e.get("Egress") == Some(&json!(true)),
        n("RuleNumber"),
        rule(
            get(e, "RuleAction"),
            get(e, "Protocol"),
            get(e, "CidrBlock"),
            get(e, "Ipv6CidrBlock"),
            n("From"),
            n("To"),
            n("IcmpType"),
            n("IcmpCode"),
        ),
    )
}

/// AWS's catch-all deny rules.
pub fn aws_rule(number: i64) -> bool {
    number == 32767 || number == 32768
}

/// Rules (`"ingress"`/`"egress"`, number) of `acl` owned by `aws_network_acl_rule`.
pub fn owned_rules(acl: &str, desired: &DesiredSet<'_>) -> BTreeSet<(&'static str, String)> {
    desired
        .of_type("aws_network_acl_rule")
        .filter(|d| attr(d, "network_acl_id") == acl)
        .map(|d| {
            let egress = d.attrs.get("egress") == Some(&json!(true));
            (
                if egress { "egress" } else { "ingress" },
                as_i64(d.attrs.get("rule_number")).unwrap_or(0).to_string(),
            )
        })
        .collect()
}

/// Subnets associated through `aws_network_acl_association` resources.
pub fn owned_subnets<'a>(desired: &DesiredSet<'a>) -> BTreeSet<&'a str> {
    desired
        .of_type("aws_network_acl_association")
        .map(|d| attr(d, "subnet_id"))
        .collect()
}

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for dir in ["ingress", "egress"] {
        let mut rules = Map::new();
        if let Some(Value::Array(blocks)) = a.get(dir) {
            for b in blocks.iter().filter_map(Value::as_object) {
                let n = as_i64(b.get("rule_no")).unwrap_or(0);
                if !aws_rule(n) {
                    rules.insert(n.to_string(), state_rule(b, "action"));
                }
            }
        }
        m.insert(dir.into(), Value::Object(rules));
    }
    m.insert(
        "subnet_ids".into(),
        string_set(strings(a.get("subnet_ids"))),
    );
    m.insert("vpc_id".into(), string_or_empty(a.get("vpc_id")));
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Drop what rule and association resources own from a NACL's sets.
fn strip(id: &str, m: &mut Attrs, desired: &DesiredSet<'_>) {
    for (dir, n) in owned_rules(id, desired) {
        if let Some(Value::Object(rules)) = m.get_mut(dir) {
            rules.remove(&n);
        }
    }
    let subnets = owned_subnets(desired);
    if let Some(Value::Array(s)) = m.get_mut("subnet_ids") {
        s.retain(|v| !v.as_str().is_some_and(|v| subnets.contains(v)));
    }
}

pub fn settle(d: &mut Desired, all: &DesiredSet<'_>) {
    let id = d.id.clone();
    strip(&id, &mut d.attrs, all);
}

/// Canonical live attributes of one listed NACL.
pub fn canonical(i: &Item, desired: &DesiredSet<'_>) -> Attrs {
    let mut m = Map::new();
    let (mut ingress, mut egress) = (Map::new(), Map::new());
    for e in i
        .get("Entries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        let (eg, n, r) = live_rule(e);
        if aws_rule(n) {
            continue;
        }
        if eg { &mut egress } else { &mut ingress }.insert(n.to_string(), r);
    }
    m.insert("ingress".into(), Value::Object(ingress));
    m.insert("egress".into(), Value::Object(egress));
    let subnets = i
        .get("Associations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("SubnetId").and_then(Value::as_str));
    m.insert("subnet_ids".into(), string_set(subnets));
    m.insert("vpc_id".into(), json!(get(i, "VpcId")));
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    strip(get(i, "NetworkAclId"), &mut m, desired);
    m
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "NetworkAclId");
    if desired.has("aws_default_network_acl", id) {
        return vec![];
    }
    let mut l = live(id, canonical(i, desired));
    l.auto_created = i.get("IsDefault") == Some(&json!(true));
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    /// A provider-v5 state (protocol numbers) and a moto answer (protocol
    /// as given, zero ports and ICMP omitted, no 32767 on custom NACLs) plus
    /// the real 32767 / 32768 entries: in sync.
    #[test]
    fn state_and_recorded_entries_agree() {
        let d = desired(
            NAME,
            "acl-1",
            json!({"id": "acl-1", "vpc_id": "vpc-1", "subnet_ids": ["subnet-1"],
                "ingress": [{"action": "allow", "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "",
                    "from_port": 443, "to_port": 443, "icmp_code": 0, "icmp_type": 0,
                    "protocol": "6", "rule_no": 100}],
                "egress": [{"action": "allow", "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "",
                    "from_port": 0, "to_port": 0, "icmp_code": 0, "icmp_type": 0,
                    "protocol": "-1", "rule_no": 100}],
                "tags": {}, "tags_all": {}}),
        );
        let i = item(
            json!({"NetworkAclId": "acl-1", "VpcId": "vpc-1", "IsDefault": false,
            "Entries": [
                {"RuleNumber": 100, "Egress": false, "Protocol": "tcp", "RuleAction": "allow",
                 "CidrBlock": "0.0.0.0/0", "Ipv6CidrBlock": "", "From": 443, "To": 443,
                 "IcmpType": 0, "IcmpCode": 0},
                {"RuleNumber": 100, "Egress": true, "Protocol": "-1", "RuleAction": "allow",
                 "CidrBlock": "0.0.0.0/0", "Ipv6CidrBlock": "", "From": 0, "To": 0,
                 "IcmpType": 0, "IcmpCode": 0},
                {"RuleNumber": 32767, "Egress": true, "Protocol": "-1", "RuleAction": "deny",
                 "CidrBlock": "0.0.0.0/0", "Ipv6CidrBlock": "", "From": 0, "To": 0,
                 "IcmpType": 0, "IcmpCode": 0}],
            "Associations": [{"NetworkAclAssociationId": "aclassoc-1", "SubnetId": "subnet-1"}],
            "Tags": {}}),
        );
        assert_eq!(
            extract(&i, &DesiredSet::new(std::slice::from_ref(&d)))[0]
                .1
                .attrs,
            d.attrs
        );
        // A rule owned by aws_network_acl_rule leaves the NACL's set.
        let r = desired(
            "aws_network_acl_rule",
            "nacl-1",
            json!({"id": "nacl-1", "network_acl_id": "acl-1", "rule_number": 100,
                   "egress": false, "protocol": "6", "rule_action": "allow",
                   "cidr_block": "0.0.0.0/0", "from_port": 443, "to_port": 443}),
        );
        let all = vec![d.clone(), r];
        let mut d2 = d.clone();
        settle(&mut d2, &DesiredSet::new(&all));
        assert_eq!(d2.attrs["ingress"], json!({}));
        assert_eq!(extract(&i, &DesiredSet::new(&all))[0].1.attrs, d2.attrs);
    }
}
