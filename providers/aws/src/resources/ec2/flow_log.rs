//! `aws_flow_log`: the shared `DescribeFlowLogs` listing. The resource the
//! log is attached to is read back as the provider does, by the prefix of
//! `ResourceId` (`vpc-` -> `vpc_id`, `subnet-` -> `subnet_id`, `eni-` ->
//! `eni_id`, `tgw-attach-` -> `transit_gateway_attachment_id`, `tgw-` ->
//! `transit_gateway_id`; the others `""`); `traffic_type` is not read for
//! transit gateway logs (the provider does not set it). Every attribute is
//! compared only where the state has it. A removed flow log (missing, by the
//! engine's rule) and a moved destination are critical. No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{as_i64, effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net2::FLOW_LOGS;

pub const NAME: &str = "aws_flow_log";

/// String attributes and the item field holding each.
const STRINGS: &[(&str, &str)] = &[
    ("traffic_type", "TrafficType"),
    ("log_destination_type", "LogDestinationType"),
    ("log_destination", "LogDestination"),
    ("log_group_name", "LogGroupName"),
    ("iam_role_arn", "DeliverLogsPermissionArn"),
    ("log_format", "LogFormat"),
];

/// The attachment attributes, by `ResourceId` prefix (most specific first).
const ATTACHED: &[(&str, &str)] = &[
    ("tgw-attach-", "transit_gateway_attachment_id"),
    ("tgw-", "transit_gateway_id"),
    ("vpc-", "vpc_id"),
    ("subnet-", "subnet_id"),
    ("eni-", "eni_id"),
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("traffic_type", Shape::Block, true, Fix::No),
            AttrSpec::new("log_destination_type", Shape::Block, true, Fix::No),
            AttrSpec::new("log_destination", Shape::Block, true, Fix::No),
            AttrSpec::new("log_group_name", Shape::Block, true, Fix::No),
            AttrSpec::new("iam_role_arn", Shape::Block, true, Fix::No),
            AttrSpec::new("max_aggregation_interval", Shape::Block, false, Fix::No),
            AttrSpec::new("log_format", Shape::Block, false, Fix::No),
            AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
            AttrSpec::new("subnet_id", Shape::Block, true, Fix::No),
            AttrSpec::new("eni_id", Shape::Block, true, Fix::No),
            AttrSpec::new("transit_gateway_id", Shape::Block, true, Fix::No),
            AttrSpec::new("transit_gateway_attachment_id", Shape::Block, true, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // A removed flow log is critical by the engine's own
        // `missing-or-unmanaged` rule.
        default_rules: &[DefaultRule {
            name: "flow-log-destination",
            attributes: &[
                "traffic_type",
                "log_destination*",
                "log_group_name",
                "iam_role_arn",
                "vpc_id",
                "subnet_id",
                "eni_id",
                "transit_gateway_*",
            ],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeFlowLogs"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    plan: None,
    source: Source::Ec2List {
        listing: &FLOW_LOGS,
        parent: own_id,
        extract,
        settle: None,
    },
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    let present = |k: &str| matches!(a.get(k), Some(Value::String(_)));
    for (k, _) in STRINGS {
        if present(k) {
            m.insert((*k).into(), string_or_empty(a.get(*k)));
        }
    }
    for (_, k) in ATTACHED {
        if present(k) {
            m.insert((*k).into(), string_or_empty(a.get(*k)));
        }
    }
    if let Some(n) = as_i64(a.get("max_aggregation_interval")) {
        m.insert("max_aggregation_interval".into(), json!(n));
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

pub fn canonical(i: &Item) -> Attrs {
    let resource = get(i, "ResourceId");
    let mut m = Map::new();
    for (k, field) in STRINGS {
        if *k == "traffic_type" && resource.starts_with("tgw-") {
            continue; // not read by the provider for transit gateways
        }
        m.insert((*k).into(), json!(get(i, field)));
    }
    let owner = ATTACHED
        .iter()
        .find(|(prefix, _)| resource.starts_with(prefix))
        .map(|(_, k)| *k);
    for (_, k) in ATTACHED {
        let v = if owner == Some(*k) { resource } else { "" };
        m.insert((*k).into(), json!(v));
    }
    if let Some(n) = i.get("MaxAggregationInterval").and_then(Value::as_i64) {
        m.insert("max_aggregation_interval".into(), json!(n));
    }
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "FlowLogId");
    vec![(id.to_string(), live(id, canonical(i)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    const FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

    fn state() -> Value {
        // What terraform-provider-aws v5 writes for a VPC log to S3.
        json!({"id": "fl-1", "arn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-1",
            "deliver_cross_account_role": "", "destination_options": [], "eni_id": "",
            "iam_role_arn": "", "log_destination": "arn:aws:s3:::flow-logs/vpc",
            "log_destination_type": "s3", "log_format": FORMAT, "log_group_name": "",
            "max_aggregation_interval": 600, "subnet_id": "", "tags": {"Name": "vpc"},
            "tags_all": {"Name": "vpc"}, "traffic_type": "ALL",
            "transit_gateway_attachment_id": "", "transit_gateway_id": "", "vpc_id": "vpc-1"})
    }

    fn recorded() -> Item {
        item(
            json!({"FlowLogId": "fl-1", "ResourceId": "vpc-1", "TrafficType": "ALL",
            "LogDestinationType": "s3", "LogDestination": "arn:aws:s3:::flow-logs/vpc",
            "LogGroupName": "", "DeliverLogsPermissionArn": "", "MaxAggregationInterval": 600,
            "LogFormat": FORMAT, "Tags": {"Name": "vpc"}}),
        )
    }

    #[test]
    fn state_and_recorded_answer_agree() {
        let d = desired(NAME, "fl-1", state());
        assert_eq!(
            extract(&recorded(), &DesiredSet::new(&[]))[0].1.attrs,
            d.attrs
        );
    }

    #[test]
    fn the_attached_resource_comes_from_the_id_prefix() {
        for (rid, key) in [
            ("subnet-1", "subnet_id"),
            ("eni-1", "eni_id"),
            ("tgw-1", "transit_gateway_id"),
            ("tgw-attach-1", "transit_gateway_attachment_id"),
        ] {
            let mut i = recorded();
            i.insert("ResourceId".into(), json!(rid));
            let c = canonical(&i);
            assert_eq!(c[key], json!(rid));
            assert_eq!(c["vpc_id"], json!(""));
            assert_eq!(c.contains_key("traffic_type"), !rid.starts_with("tgw-"));
        }
    }

    #[test]
    fn a_moved_destination_differs() {
        let d = desired(NAME, "fl-1", state());
        let mut i = recorded();
        i.insert("LogDestination".into(), json!("arn:aws:s3:::elsewhere"));
        assert_ne!(extract(&i, &DesiredSet::new(&[]))[0].1.attrs, d.attrs);
    }

    #[test]
    fn the_sdk_item_reads_the_interval() {
        use aws_sdk_ec2::types::{FlowLog, LogDestinationType, TrafficType};
        let f = FlowLog::builder()
            .flow_log_id("fl-1")
            .resource_id("vpc-1")
            .traffic_type(TrafficType::Reject)
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name("lg")
            .max_aggregation_interval(60)
            .build();
        let c = canonical(&crate::services::ec2::net2::flow_log_item(&f));
        assert_eq!(c["max_aggregation_interval"], json!(60));
        assert_eq!(c["log_group_name"], json!("lg"));
        assert_eq!(c["log_destination"], json!(""));
    }
}
