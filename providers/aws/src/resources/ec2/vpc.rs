//! `aws_vpc`: the shared `DescribeVpcs` listing; `enable_dns_support` and
//! `enable_dns_hostnames` need one `DescribeVpcAttribute` each, made only
//! for VPCs whose state carries them. A default VPC is AWS-created (and
//! belongs to `aws_default_vpc` when one adopts it). No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{as_bool, effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::{VPCS, VPC_ATTRIBUTES};

pub const NAME: &str = "aws_vpc";

/// Compared attributes shared with `aws_default_vpc`.
pub const ATTRIBUTES: &[AttrSpec] = &[
    AttrSpec::new("cidr_block", Shape::Block, true, Fix::No),
    AttrSpec::new("instance_tenancy", Shape::Block, false, Fix::No),
    AttrSpec::new("ipv6_cidr_block", Shape::Block, false, Fix::No),
    AttrSpec::new("enable_dns_support", Shape::Block, false, Fix::No),
    AttrSpec::new("enable_dns_hostnames", Shape::Block, false, Fix::No),
    AttrSpec::new("tags", Shape::Map, false, Fix::No),
];

pub const CIDR_IS_CRITICAL: DefaultRule = DefaultRule {
    name: "vpc-cidr",
    attributes: &["cidr_block"],
    kinds: &[],
    critical: true,
};

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: ATTRIBUTES,
        discoverable: true,
        needed_from_other_stacks: false,
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

/// Canonical desired attributes (`enable_dns_*` only where the state has them).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for key in ["cidr_block", "instance_tenancy", "ipv6_cidr_block"] {
        m.insert(key.into(), string_or_empty(a.get(key)));
    }
    for (attr, _) in VPC_ATTRIBUTES {
        if let Some(b) = as_bool(a.get(*attr)) {
            m.insert((*attr).into(), json!(b));
        }
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes of one listed VPC.
pub fn canonical(i: &Item) -> Attrs {
    let mut m = Map::new();
    m.insert("cidr_block".into(), json!(get(i, "CidrBlock")));
    m.insert("instance_tenancy".into(), json!(get(i, "InstanceTenancy")));
    let v6 = i
        .get("Ipv6CidrBlockAssociationSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a.get("State").and_then(Value::as_str) == Some("associated"))
        .and_then(|a| a.get("Ipv6CidrBlock"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    m.insert("ipv6_cidr_block".into(), json!(v6));
    for (attr, field) in VPC_ATTRIBUTES {
        if let Some(v) = i.get(*field) {
            m.insert((*attr).into(), v.clone());
        }
    }
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "VpcId");
    // Adopted by aws_default_vpc: that type's, not an aws_vpc.
    if desired.has("aws_default_vpc", id) {
        return vec![];
    }
    let mut l = live(id, canonical(i));
    l.auto_created = i.get("IsDefault") == Some(&json!(true));
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_vpc.main".into(),
            rtype: NAME.into(),
            id: "vpc-1".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// A provider-v5 state and the recorded DescribeVpcs (+ attribute) answer.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(json!({"id": "vpc-1", "cidr_block": "10.0.0.0/16",
            "instance_tenancy": "default", "enable_dns_support": true,
            "enable_dns_hostnames": false, "ipv6_cidr_block": "",
            "assign_generated_ipv6_cidr_block": false, "dhcp_options_id": "dopt-1",
            "main_route_table_id": "rtb-1", "tags": {"Name": "main"},
            "tags_all": {"Name": "main", "Env": "prod"}}));
        let recorded: Item = json!({"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16",
            "InstanceTenancy": "default", "DhcpOptionsId": "dopt-1", "IsDefault": false,
            "CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-1",
                "CidrBlock": "10.0.0.0/16", "State": "associated"}],
            "Ipv6CidrBlockAssociationSet": [], "EnableDnsSupport": true,
            "EnableDnsHostnames": false,
            "Tags": {"Name": "main", "Env": "prod"}})
        .as_object()
        .unwrap()
        .clone();
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, canonical(&recorded));
        let got = extract(&recorded, &DesiredSet::new(&[]));
        assert_eq!(got.len(), 1);
        assert!(!got[0].1.auto_created);
        let mut changed = recorded.clone();
        changed.insert("EnableDnsSupport".into(), json!(false));
        assert_ne!(d, canonical(&changed));
        // Without the attribute in state it is neither projected nor read.
        let s2 = state(json!({"id": "vpc-1", "cidr_block": "10.0.0.0/16"}));
        assert!(!project(&s2, &ProjectContext::default()).contains_key("enable_dns_support"));
    }

    #[test]
    fn a_default_vpc_is_aws_created() {
        let i: Item = json!({"VpcId": "vpc-d", "IsDefault": true})
            .as_object()
            .unwrap()
            .clone();
        assert!(extract(&i, &DesiredSet::new(&[]))[0].1.auto_created);
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
