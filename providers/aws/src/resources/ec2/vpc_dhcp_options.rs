//! `aws_vpc_dhcp_options`: the shared `DescribeDhcpOptions` listing. Each
//! DHCP configuration key maps to the provider's attribute: single-valued
//! keys (`domain-name`, `netbios-node-type`,
//! `ipv6-address-preferred-lease-time`) as strings, the server lists as
//! ordered lists (the order is the resolvers' order), each compared only
//! where the state has it; a key AWS does not list reads as `""`/`[]`, as
//! the provider writes it. The set AWS creates for a region (only
//! `domain-name-servers = AmazonProvidedDNS` and the region's
//! `ec2.internal`/`<region>.compute.internal` domain) is AWS's, never
//! unmanaged unless `--strict`. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{effective_tags, string_or_empty, strings};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net2::DHCP_OPTIONS;

pub const NAME: &str = "aws_vpc_dhcp_options";

/// (state attribute, DHCP configuration key, is a list).
const FIELDS: &[(&str, &str, bool)] = &[
    ("domain_name", "domain-name", false),
    ("domain_name_servers", "domain-name-servers", true),
    ("ntp_servers", "ntp-servers", true),
    ("netbios_name_servers", "netbios-name-servers", true),
    ("netbios_node_type", "netbios-node-type", false),
    (
        "ipv6_address_preferred_lease_time",
        "ipv6-address-preferred-lease-time",
        false,
    ),
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("domain_name", Shape::Block, true, Fix::No),
            AttrSpec::new("domain_name_servers", Shape::Leaf, true, Fix::No),
            AttrSpec::new("ntp_servers", Shape::Leaf, true, Fix::No),
            AttrSpec::new("netbios_name_servers", Shape::Leaf, true, Fix::No),
            AttrSpec::new("netbios_node_type", Shape::Block, true, Fix::No),
            AttrSpec::new(
                "ipv6_address_preferred_lease_time",
                Shape::Block,
                false,
                Fix::No,
            ),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "dhcp-options-servers",
            attributes: &[
                "domain_name",
                "domain_name_servers",
                "ntp_servers",
                "netbios_name_servers",
                "netbios_node_type",
            ],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeDhcpOptions"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    plan: None,
    source: Source::Ec2List {
        listing: &DHCP_OPTIONS,
        parent: own_id,
        extract,
        settle: None,
    },
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for (k, _, list) in FIELDS {
        match (a.get(*k), list) {
            (None | Some(Value::Null), _) => {}
            (Some(v), true) => {
                m.insert((*k).into(), json!(strings(Some(v))));
            }
            (Some(v), false) => {
                m.insert((*k).into(), string_or_empty(Some(v)));
            }
        }
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

fn values<'a>(i: &'a Item, key: &str) -> Vec<&'a str> {
    i.get("DhcpConfigurations")
        .and_then(|c| c.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

pub fn canonical(i: &Item) -> Attrs {
    let mut m = Map::new();
    for (k, key, list) in FIELDS {
        let v = values(i, key);
        if *list {
            m.insert((*k).into(), json!(v));
        } else {
            m.insert((*k).into(), json!(v.first().copied().unwrap_or_default()));
        }
    }
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

/// The region's AWS-created set: Amazon's resolver and the region's domain,
/// nothing else.
pub fn is_aws_default(i: &Item) -> bool {
    let Some(conf) = i.get("DhcpConfigurations").and_then(Value::as_object) else {
        return false;
    };
    let domain = values(i, "domain-name");
    conf.keys()
        .all(|k| k == "domain-name" || k == "domain-name-servers")
        && values(i, "domain-name-servers") == ["AmazonProvidedDNS"]
        && domain.len() <= 1
        && domain
            .first()
            .is_none_or(|d| *d == "ec2.internal" || d.ends_with(".compute.internal"))
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "DhcpOptionsId");
    let mut l = live(id, canonical(i));
    l.auto_created = is_aws_default(i);
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn state_and_recorded_answer_agree() {
        // What terraform-provider-aws v5 writes (unset keys: "" and []).
        let d = desired(
            NAME,
            "dopt-1",
            json!({"id": "dopt-1", "arn": "arn:aws:ec2:us-east-1:123456789012:dhcp-options/dopt-1",
                "domain_name": "corp.internal", "domain_name_servers": ["10.0.0.2", "AmazonProvidedDNS"],
                "ipv6_address_preferred_lease_time": "", "netbios_name_servers": [],
                "netbios_node_type": "2", "ntp_servers": ["10.0.0.3"], "owner_id": "123456789012",
                "tags": {"Name": "corp"}, "tags_all": {"Name": "corp"}}),
        );
        let i = item(json!({"DhcpOptionsId": "dopt-1", "OwnerId": "123456789012",
            "DhcpConfigurations": {"domain-name": ["corp.internal"],
                "domain-name-servers": ["10.0.0.2", "AmazonProvidedDNS"],
                "netbios-node-type": ["2"], "ntp-servers": ["10.0.0.3"]},
            "Tags": {"Name": "corp"}}));
        let got = extract(&i, &DesiredSet::new(&[]));
        assert_eq!(got[0].1.attrs, d.attrs);
        assert!(!got[0].1.auto_created);
        // Resolvers reordered: drift (the order is the lookup order).
        let mut j = i.clone();
        j["DhcpConfigurations"]["domain-name-servers"] = json!(["AmazonProvidedDNS", "10.0.0.2"]);
        assert_ne!(
            canonical(&j)["domain_name_servers"],
            d.attrs["domain_name_servers"]
        );
    }

    #[test]
    fn the_region_default_set_is_aws_s() {
        for domain in ["ec2.internal", "eu-west-1.compute.internal"] {
            let i = item(json!({"DhcpOptionsId": "dopt-d", "DhcpConfigurations": {
                "domain-name": [domain], "domain-name-servers": ["AmazonProvidedDNS"]}, "Tags": {}}));
            assert!(
                extract(&i, &DesiredSet::new(&[]))[0].1.auto_created,
                "{domain}"
            );
        }
        let i = item(json!({"DhcpOptionsId": "dopt-2", "DhcpConfigurations": {
            "domain-name": ["corp"], "domain-name-servers": ["AmazonProvidedDNS"]}, "Tags": {}}));
        assert!(!extract(&i, &DesiredSet::new(&[]))[0].1.auto_created);
    }

    #[test]
    fn the_sdk_item_maps_keys_to_values() {
        use aws_sdk_ec2::types::{AttributeValue, DhcpConfiguration, DhcpOptions};
        let o = DhcpOptions::builder()
            .dhcp_options_id("dopt-1")
            .dhcp_configurations(
                DhcpConfiguration::builder()
                    .key("domain-name-servers")
                    .values(AttributeValue::builder().value("10.0.0.2").build())
                    .values(AttributeValue::builder().value("10.0.0.3").build())
                    .build(),
            )
            .build();
        let c = canonical(&crate::services::ec2::net2::dhcp_item(&o));
        assert_eq!(c["domain_name_servers"], json!(["10.0.0.2", "10.0.0.3"]));
        assert_eq!(c["domain_name"], json!(""));
        assert_eq!(c["ntp_servers"], json!([]));
    }
}
