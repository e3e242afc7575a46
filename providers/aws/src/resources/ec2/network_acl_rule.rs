//! `aws_network_acl_rule`: one entry of a NACL from the shared
//! `DescribeNetworkAcls` listing, known by `<acl>:<ingress|egress>:<rule
//! number>` (the provider's `nacl-<hash>` id is not AWS's). Compared in the
//! NACL's canonical rule form (protocol number, ports / ICMP zeroed where
//! they do not apply). Not discoverable: unowned entries show on their
//! NACL. No reconciler call.

use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::network_acl::{aws_rule, live_rule, state_rule, RULES_ARE_CRITICAL};
use crate::normalize::{as_bool, as_i64};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, Item};
use crate::services::ec2::net::NETWORK_ACLS;

pub const NAME: &str = "aws_network_acl_rule";

const FIELDS: &[&str] = &[
    "action",
    "protocol",
    "cidr_block",
    "ipv6_cidr_block",
    "from_port",
    "to_port",
    "icmp_type",
    "icmp_code",
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("rule_action", Shape::Block, true, Fix::No),
            AttrSpec::new("protocol", Shape::Block, true, Fix::No),
            AttrSpec::new("cidr_block", Shape::Block, true, Fix::No),
            AttrSpec::new("ipv6_cidr_block", Shape::Block, true, Fix::No),
            AttrSpec::new("from_port", Shape::Block, true, Fix::No),
            AttrSpec::new("to_port", Shape::Block, true, Fix::No),
            AttrSpec::new("icmp_type", Shape::Block, true, Fix::No),
            AttrSpec::new("icmp_code", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[RULES_ARE_CRITICAL],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeNetworkAcls"],
        write_actions: &[],
        project,
        live_id,
    },
    source: Source::Ec2List {
        listing: &NETWORK_ACLS,
        parent: |d| Some(attr(d, "network_acl_id").to_string()),
        extract,
        settle: None,
    },
    plan: None,
};

fn key(acl: &str, egress: bool, n: i64) -> String {
    format!("{acl}:{}:{n}", if egress { "egress" } else { "ingress" })
}

pub fn live_id(r: &StateResource) -> String {
    key(
        r.attrs
            .get("network_acl_id")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        as_bool(r.attrs.get("egress")).unwrap_or(false),
        as_i64(r.attrs.get("rule_number")).unwrap_or(0),
    )
}

/// The canonical rule spread into top-level attributes (Terraform's names).
fn spread(acl: &str, egress: bool, n: i64, rule: &Value) -> Attrs {
    let mut m = Map::new();
    m.insert("network_acl_id".into(), json!(acl));
    m.insert("egress".into(), json!(egress));
    m.insert("rule_number".into(), json!(n));
    for f in FIELDS {
        let name = if *f == "action" { "rule_action" } else { f };
        m.insert(name.into(), rule[*f].clone());
    }
    m
}

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    spread(
        a.get("network_acl_id")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        as_bool(a.get("egress")).unwrap_or(false),
        as_i64(a.get("rule_number")).unwrap_or(0),
        &state_rule(a, "rule_action"),
    )
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let acl = get(i, "NetworkAclId");
    i.get("Entries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(live_rule)
        .filter(|(_, n, _)| !aws_rule(*n))
        .map(|(eg, n, r)| {
            let id = key(acl, eg, n);
            (id.clone(), live(&id, spread(acl, eg, n, &r)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn config_protocol_names_and_live_numbers_agree() {
        let d = desired(
            NAME,
            "nacl-2938491",
            json!({"id": "nacl-2938491", "network_acl_id": "acl-1", "rule_number": 200,
                "egress": true, "protocol": "tcp", "rule_action": "deny",
                "cidr_block": "10.0.0.0/8", "ipv6_cidr_block": "", "from_port": 22,
                "to_port": 22, "icmp_type": null, "icmp_code": null}),
        );
        assert_eq!(d.id, "acl-1:egress:200");
        let i = item(json!({"NetworkAclId": "acl-1", "Entries": [
            {"RuleNumber": 200, "Egress": true, "Protocol": "6", "RuleAction": "deny",
             "CidrBlock": "10.0.0.0/8", "Ipv6CidrBlock": "", "From": 22, "To": 22,
             "IcmpType": 0, "IcmpCode": 0}]}));
        let got = extract(&i, &DesiredSet::new(&[]));
        assert_eq!(got[0].0, d.id);
        assert_eq!(got[0].1.attrs, d.attrs);
    }
}
