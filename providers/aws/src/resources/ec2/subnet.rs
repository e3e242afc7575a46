//! `aws_subnet`: the shared `DescribeSubnets` listing. A default subnet
//! (`DefaultForAz`) is AWS-created. Fields AWS (or moto) does not send are
//! not compared. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{as_bool, effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::SUBNETS;

pub const NAME: &str = "aws_subnet";

pub const ATTRIBUTES: &[AttrSpec] = &[
    AttrSpec::new("cidr_block", Shape::Block, true, Fix::No),
    AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
    AttrSpec::new("availability_zone", Shape::Block, false, Fix::No),
    AttrSpec::new("map_public_ip_on_launch", Shape::Block, true, Fix::No),
    AttrSpec::new(
        "assign_ipv6_address_on_creation",
        Shape::Block,
        false,
        Fix::No,
    ),
    AttrSpec::new("ipv6_cidr_block", Shape::Block, false, Fix::No),
    AttrSpec::new("enable_dns64", Shape::Block, false, Fix::No),
    AttrSpec::new("ipv6_native", Shape::Block, false, Fix::No),
    AttrSpec::new("tags", Shape::Map, false, Fix::No),
];

/// A subnet that starts giving public IPs exposes what is launched in it.
pub const PUBLIC_IP_IS_CRITICAL: DefaultRule = DefaultRule {
    name: "subnet-public-ip",
    attributes: &["map_public_ip_on_launch", "cidr_block", "vpc_id"],
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

const STRINGS: &[&str] = &[
    "cidr_block",
    "vpc_id",
    "availability_zone",
    "ipv6_cidr_block",
];
const BOOLS: &[(&str, &str)] = &[
    ("map_public_ip_on_launch", "MapPublicIpOnLaunch"),
    (
        "assign_ipv6_address_on_creation",
        "AssignIpv6AddressOnCreation",
    ),
    ("enable_dns64", "EnableDns64"),
    ("ipv6_native", "Ipv6Native"),
];

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for key in STRINGS {
        m.insert((*key).into(), string_or_empty(a.get(*key)));
    }
    for (key, _) in BOOLS {
        m.insert((*key).into(), json!(as_bool(a.get(*key)).unwrap_or(false)));
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes of one listed subnet.
pub fn canonical(i: &Item) -> Attrs {
    let mut m = Map::new();
    for (key, field) in [
        ("cidr_block", "CidrBlock"),
        ("vpc_id", "VpcId"),
        ("availability_zone", "AvailabilityZone"),
        ("ipv6_cidr_block", "Ipv6CidrBlock"),
    ] {
        m.insert(key.into(), json!(get(i, field)));
    }
    for (key, field) in BOOLS {
        if let Some(Value::Bool(b)) = i.get(*field) {
            m.insert((*key).into(), json!(b));
        }
    }
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

/// Live subnets; `skip_type` adopts them elsewhere (`aws_default_subnet`).
pub fn extract_as(i: &Item, desired: &DesiredSet<'_>, other: &str) -> Vec<(String, Live)> {
    let id = get(i, "SubnetId");
    if desired.has(other, id) {
        return vec![];
    }
    let mut l = live(id, canonical(i));
    l.auto_created = i.get("DefaultForAz") == Some(&json!(true));
    vec![(id.to_string(), l)]
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    extract_as(i, desired, "aws_default_subnet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_recorded_answer_agree() {
        let s = StateResource {
            address: "aws_subnet.a".into(),
            rtype: NAME.into(),
            id: "subnet-1".into(),
            attrs: json!({"id": "subnet-1", "cidr_block": "10.0.1.0/24", "vpc_id": "vpc-1",
                "availability_zone": "us-east-1a", "availability_zone_id": "use1-az1",
                "map_public_ip_on_launch": false, "assign_ipv6_address_on_creation": false,
                "ipv6_cidr_block": "", "enable_dns64": false, "ipv6_native": false,
                "private_dns_hostname_type_on_launch": "ip-name",
                "tags": {"Name": "a"}, "tags_all": {"Name": "a"}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        // Recorded from moto: no EnableDns64 / Ipv6Native elements.
        let recorded: Item = json!({"SubnetId": "subnet-1", "VpcId": "vpc-1",
            "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "us-east-1a",
            "MapPublicIpOnLaunch": false, "AssignIpv6AddressOnCreation": false,
            "DefaultForAz": false, "EnableDns64": null, "Ipv6Native": null,
            "Ipv6CidrBlock": "", "Tags": {"Name": "a"}})
        .as_object()
        .unwrap()
        .clone();
        let d = project(&s, &ProjectContext::default());
        let l = canonical(&recorded);
        for (k, v) in &l {
            assert_eq!(d.get(k), Some(v), "{k}");
        }
        assert!(!l.contains_key("enable_dns64"), "not sent: not compared");
        let mut public = recorded.clone();
        public.insert("MapPublicIpOnLaunch".into(), json!(true));
        assert_eq!(canonical(&public)["map_public_ip_on_launch"], json!(true));
        assert!(!extract(&recorded, &DesiredSet::new(&[]))[0].1.auto_created);
    }
}
