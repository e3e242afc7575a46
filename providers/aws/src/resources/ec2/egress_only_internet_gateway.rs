//! `aws_egress_only_internet_gateway`: the shared
//! `DescribeEgressOnlyInternetGateways` listing (unfiltered: the call has no
//! id filter); `vpc_id` is the VPC it is attached to (`""` when detached).
//! Discoverable. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, Item};
use crate::services::ec2::net2::EGRESS_ONLY_IGWS;

pub const NAME: &str = "aws_egress_only_internet_gateway";

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
            name: "egress-only-internet-gateway-attachment",
            attributes: &["vpc_id"],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeEgressOnlyInternetGateways"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    plan: None,
    source: Source::Ec2List {
        listing: &EGRESS_ONLY_IGWS,
        // No id filter exists: one unfiltered listing per scope.
        parent: |_| None,
        extract,
        settle: None,
    },
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    m.insert("vpc_id".into(), string_or_empty(r.attrs.get("vpc_id")));
    m.insert("tags".into(), effective_tags(&r.attrs));
    m
}

/// The attached VPC (`""` when detached).
fn attached_vpc(i: &Item) -> &str {
    i.get("Attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a.get("State").and_then(Value::as_str) != Some("detached"))
        .find_map(|a| a.get("VpcId").and_then(Value::as_str))
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
    let id = get(i, "EgressOnlyInternetGatewayId");
    vec![(id.to_string(), live(id, canonical(i)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    /// State as the provider writes it and a recorded answer agree; a
    /// detached gateway has no VPC.
    #[test]
    fn state_and_recorded_answer_agree() {
        let d = desired(
            NAME,
            "eigw-1",
            json!({"id": "eigw-1", "vpc_id": "vpc-1", "tags": {"Name": "v6"},
                   "tags_all": {"Name": "v6"}}),
        );
        let mut i = item(json!({"EgressOnlyInternetGatewayId": "eigw-1",
            "Attachments": [{"VpcId": "vpc-1", "State": "attached"}],
            "Tags": {"Name": "v6"}}));
        assert_eq!(extract(&i, &DesiredSet::new(&[]))[0].1.attrs, d.attrs);
        i.insert(
            "Attachments".into(),
            json!([{"VpcId": "vpc-1", "State": "detached"}]),
        );
        assert_eq!(canonical(&i)["vpc_id"], json!(""));
    }

    #[test]
    fn the_sdk_item_keeps_the_attachment() {
        use aws_sdk_ec2::types::{
            AttachmentStatus, EgressOnlyInternetGateway, InternetGatewayAttachment,
        };
        let g = EgressOnlyInternetGateway::builder()
            .egress_only_internet_gateway_id("eigw-1")
            .attachments(
                InternetGatewayAttachment::builder()
                    .vpc_id("vpc-1")
                    .state(AttachmentStatus::Attached)
                    .build(),
            )
            .build();
        let i = crate::services::ec2::net2::eigw_item(&g);
        assert_eq!(
            canonical(&i),
            json!({"vpc_id": "vpc-1", "tags": {}})
                .as_object()
                .unwrap()
                .clone()
        );
    }
}
