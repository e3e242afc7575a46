//! `aws_internet_gateway`: the shared `DescribeInternetGateways` listing;
//! `vpc_id` is the VPC it is attached to (`""` when detached). No
//! reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::INTERNET_GATEWAYS;

pub const NAME: &str = "aws_internet_gateway";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "internet-gateway-attachment",
            attributes: &["vpc_id"],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeInternetGateways"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &INTERNET_GATEWAYS,
        parent: own_id,
        extract,
        settle: None,
    },
    plan: None,
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    m.insert("vpc_id".into(), string_or_empty(r.attrs.get("vpc_id")));
    m.insert("tags".into(), effective_tags(&r.attrs));
    m
}

/// The attached VPC (`""` when detached).
pub fn attached_vpc(i: &Item) -> &str {
    i.get("Attachments")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|a| a.get("VpcId"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub fn canonical(i: &Item) -> Attrs {
    let mut m = Map::new();
    m.insert("vpc_id".into(), json!(attached_vpc(i)));
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "InternetGatewayId");
    vec![(id.to_string(), live(id, canonical(i)))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_and_detached() {
        let s = StateResource {
            address: "aws_internet_gateway.gw".into(),
            rtype: NAME.into(),
            id: "igw-1".into(),
            attrs: json!({"id": "igw-1", "vpc_id": "vpc-1", "owner_id": "123456789012",
                "arn": "arn:aws:ec2:us-east-1:123456789012:internet-gateway/igw-1",
                "tags": null, "tags_all": {}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let recorded: Item = json!({"InternetGatewayId": "igw-1",
            "Attachments": [{"VpcId": "vpc-1", "State": "available"}], "Tags": {}})
        .as_object()
        .unwrap()
        .clone();
        assert_eq!(
            project(&s, &ProjectContext::default()),
            canonical(&recorded)
        );
        let detached: Item = json!({"InternetGatewayId": "igw-1", "Attachments": [], "Tags": {}})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(canonical(&detached)["vpc_id"], json!(""));
    }
}
