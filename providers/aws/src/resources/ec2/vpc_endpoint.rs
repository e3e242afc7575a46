//! `aws_vpc_endpoint`: the shared `DescribeVpcEndpoints` listing, filtered
//! by the endpoints' VPCs (see `net2::VPC_ENDPOINTS`). `policy` is compared
//! as a JSON document (statement order, single-element lists and key order
//! carry no meaning); `route_table_ids`, `subnet_ids`, `security_group_ids`
//! as sets, each only where the state has it. An endpoint in state
//! `deleted`/`failed` is gone. Endpoints a service manages for you
//! (`RequesterManaged`) are not unmanaged. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{as_bool, effective_tags, string_or_empty, string_set, strings};
use crate::policy::canonical_policy;
use crate::registry::{AwsType, Source};
use crate::resources::s3::bucket_policy::POLICY_REFUSAL;
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, Item};
use crate::services::ec2::net2::VPC_ENDPOINTS;

pub const NAME: &str = "aws_vpc_endpoint";

/// Set attributes and the item field holding each.
const SETS: &[(&str, &str)] = &[
    ("route_table_ids", "RouteTableIds"),
    ("subnet_ids", "SubnetIds"),
    ("security_group_ids", "Groups"),
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
            AttrSpec::new("service_name", Shape::Block, true, Fix::No),
            AttrSpec::new("vpc_endpoint_type", Shape::Block, true, Fix::No),
            AttrSpec::new("policy", Shape::Leaf, true, Fix::No),
            AttrSpec::new("route_table_ids", Shape::Leaf, true, Fix::No),
            AttrSpec::new("subnet_ids", Shape::Leaf, true, Fix::No),
            AttrSpec::new("security_group_ids", Shape::Leaf, true, Fix::No),
            AttrSpec::new("private_dns_enabled", Shape::Block, true, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "vpc-endpoint",
            attributes: &[
                "vpc_id",
                "service_name",
                "vpc_endpoint_type",
                "policy",
                "route_table_ids",
                "subnet_ids",
                "security_group_ids",
                "private_dns_enabled",
            ],
            kinds: &[],
            critical: true,
        }],
        editor: &[("policy", EditorHint::Refuse(POLICY_REFUSAL))],
        import: None,
        read_actions: &["ec2:DescribeVpcEndpoints"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    plan: None,
    source: Source::Ec2List {
        listing: &VPC_ENDPOINTS,
        parent: |d| Some(attr(d, "vpc_id").to_string()).filter(|v| !v.is_empty()),
        extract,
        settle: None,
    },
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for k in ["vpc_id", "service_name", "vpc_endpoint_type"] {
        if matches!(a.get(k), Some(Value::String(_))) {
            m.insert(k.into(), string_or_empty(a.get(k)));
        }
    }
    if let Some(Value::String(p)) = a.get("policy") {
        m.insert("policy".into(), canonical_policy(p));
    }
    for (k, _) in SETS {
        if let Some(Value::Array(_)) = a.get(*k) {
            m.insert((*k).into(), string_set(strings(a.get(*k))));
        }
    }
    if let Some(b) = as_bool(a.get("private_dns_enabled")) {
        m.insert("private_dns_enabled".into(), json!(b));
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

pub fn canonical(i: &Item) -> Attrs {
    let mut m = Map::new();
    m.insert("vpc_id".into(), json!(get(i, "VpcId")));
    m.insert("service_name".into(), json!(get(i, "ServiceName")));
    // moto leaves the type out of Gateway endpoints: not observed then.
    let t = get(i, "VpcEndpointType");
    if !t.is_empty() {
        m.insert("vpc_endpoint_type".into(), json!(t));
    }
    m.insert("policy".into(), canonical_policy(get(i, "PolicyDocument")));
    for (k, field) in SETS {
        let ids: Vec<&str> = i
            .get(*field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        m.insert((*k).into(), string_set(ids));
    }
    if let Some(b) = i.get("PrivateDnsEnabled").and_then(Value::as_bool) {
        m.insert("private_dns_enabled".into(), json!(b));
    }
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    if matches!(
        get(i, "State").to_ascii_lowercase().as_str(),
        "deleted" | "failed"
    ) {
        return vec![];
    }
    let id = get(i, "VpcEndpointId");
    let mut l = live(id, canonical(i));
    if i.get("RequesterManaged") == Some(&json!(true)) {
        l.owned_by_service = Some("requester-managed".into());
    }
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    fn gateway_state() -> Value {
        // What terraform-provider-aws v5 writes for a Gateway endpoint.
        json!({"id": "vpce-1", "arn": "arn:aws:ec2:us-east-1:123456789012:vpc-endpoint/vpce-1",
            "auto_accept": null, "cidr_blocks": ["52.216.0.0/15"], "dns_entry": [],
            "dns_options": [], "ip_address_type": "", "network_interface_ids": [],
            "owner_id": "123456789012", "policy": POLICY, "prefix_list_id": "pl-63a5400a",
            "private_dns_enabled": false, "requester_managed": false,
            "route_table_ids": ["rtb-2", "rtb-1"], "security_group_ids": [],
            "service_name": "com.amazonaws.us-east-1.s3", "state": "available",
            "subnet_configuration": [], "subnet_ids": [], "tags": {"Name": "s3"},
            "tags_all": {"Name": "s3"}, "timeouts": null, "vpc_endpoint_type": "Gateway",
            "vpc_id": "vpc-1"})
    }

    /// A recorded DescribeVpcEndpoints answer (the policy re-serialized by
    /// AWS, with a scalar Action written as a list and keys reordered).
    fn recorded() -> Item {
        item(json!({"VpcEndpointId": "vpce-1", "VpcId": "vpc-1",
            "ServiceName": "com.amazonaws.us-east-1.s3", "VpcEndpointType": "Gateway",
            "State": "available",
            "PolicyDocument": "{\"Statement\":[{\"Action\":[\"s3:GetObject\"],\"Resource\":\"arn:aws:s3:::b/*\",\"Effect\":\"Allow\",\"Principal\":\"*\"}],\"Version\":\"2012-10-17\"}",
            "RouteTableIds": ["rtb-1", "rtb-2"], "SubnetIds": [], "Groups": [],
            "PrivateDnsEnabled": false, "RequesterManaged": false, "Tags": {"Name": "s3"}}))
    }

    #[test]
    fn state_and_recorded_answer_agree() {
        let d = desired(NAME, "vpce-1", gateway_state());
        let got = extract(&recorded(), &DesiredSet::new(&[]));
        assert_eq!(got[0].1.attrs, d.attrs);
        assert!(got[0].1.owned_by_service.is_none());
    }

    #[test]
    fn a_widened_policy_and_a_removed_route_table_differ() {
        let d = desired(NAME, "vpce-1", gateway_state());
        let mut i = recorded();
        i.insert(
            "PolicyDocument".into(),
            json!(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#),
        );
        i.insert("RouteTableIds".into(), json!(["rtb-1"]));
        let l = &extract(&i, &DesiredSet::new(&[]))[0].1.attrs;
        assert_ne!(l["policy"], d.attrs["policy"]);
        assert_eq!(l["route_table_ids"], json!(["rtb-1"]));
    }

    #[test]
    fn deleted_and_failed_endpoints_are_gone_requester_managed_is_owned() {
        for st in ["deleted", "failed", "Deleted"] {
            let mut i = recorded();
            i.insert("State".into(), json!(st));
            assert!(extract(&i, &DesiredSet::new(&[])).is_empty(), "{st}");
        }
        let mut i = recorded();
        i.insert("State".into(), json!("pendingAcceptance"));
        i.insert("RequesterManaged".into(), json!(true));
        assert!(extract(&i, &DesiredSet::new(&[]))[0]
            .1
            .owned_by_service
            .is_some());
    }

    /// Attributes the state does not have are not compared (an old state
    /// without `security_group_ids`, a null `private_dns_enabled`).
    #[test]
    fn only_declared_attributes_are_projected() {
        let d = desired(
            NAME,
            "vpce-2",
            json!({"id": "vpce-2", "vpc_id": "vpc-1", "service_name": "com.amazonaws.us-east-1.ec2",
                   "vpc_endpoint_type": "Interface", "subnet_ids": ["subnet-1"],
                   "private_dns_enabled": null, "tags": null, "tags_all": {}}),
        );
        let keys: Vec<&str> = d.attrs.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "service_name",
                "subnet_ids",
                "tags",
                "vpc_endpoint_type",
                "vpc_id"
            ]
        );
    }

    #[test]
    fn the_sdk_item_reads_groups_by_id() {
        use aws_sdk_ec2::types::{SecurityGroupIdentifier, VpcEndpoint, VpcEndpointType};
        let e = VpcEndpoint::builder()
            .vpc_endpoint_id("vpce-2")
            .vpc_id("vpc-1")
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .groups(
                SecurityGroupIdentifier::builder()
                    .group_id("sg-1")
                    .group_name("default")
                    .build(),
            )
            .subnet_ids("subnet-1")
            .private_dns_enabled(true)
            .build();
        let c = canonical(&crate::services::ec2::net2::endpoint_item(&e));
        assert_eq!(c["security_group_ids"], json!(["sg-1"]));
        assert_eq!(c["subnet_ids"], json!(["subnet-1"]));
        assert_eq!(c["vpc_endpoint_type"], json!("Interface"));
        assert_eq!(c["policy"], Value::Null);
    }
}
