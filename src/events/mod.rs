//! Event-driven rescans: AWS change events from an SQS queue.
//!
//! Why: a scan every 30 minutes leaves a change that opened port 22 to the
//! world unseen for up to 30 minutes. An EventBridge rule sends CloudTrail's
//! "AWS API Call via CloudTrail" events of EC2 and S3 to an SQS queue
//! (`deploy/terraform/events`); `driftd daemon` long-polls it, turns each
//! event into the resource ids it names, deduplicates a burst into one set
//! and rescans just the stacks of those resources, then deletes the messages
//! (only after the rescan is recorded). A message that cannot be parsed is
//! never deleted: after `max_receives` receives the queue's redrive policy
//! moves it to the dead-letter queue.

pub mod rescan;
pub mod sqs;

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

/// `[events]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsSettings {
    pub queue_url: String,
    pub region: String,
    /// SQS endpoint override (VPC endpoint, tests).
    pub endpoint_url: Option<String>,
    /// The queue's redrive `maxReceiveCount`: a message that failed this many
    /// times is reported as poison (and left for the dead-letter queue).
    pub max_receives: u32,
    /// Long-poll wait per receive (1 to 20 s).
    pub wait_seconds: i32,
    /// Collect a burst for at most this long before rescanning.
    pub batch_window: std::time::Duration,
    /// A poison message is hidden this long per receive (at most 15 min)
    /// before it is seen again, then dead-lettered by the queue after
    /// `max_receives` receives.
    pub poison_backoff: std::time::Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    queue_url: String,
    region: String,
    endpoint_url: Option<String>,
    max_receives: Option<i64>,
    wait_seconds: Option<i64>,
    batch_window: Option<String>,
    poison_backoff: Option<String>,
}

/// Parse `[events]`; errors are (field, message) pairs.
pub fn parse_settings(v: &toml::Value) -> Result<EventsSettings, Vec<(String, String)>> {
    let raw: RawEvents = v
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| vec![("events".to_string(), e.message().to_string())])?;
    let mut errors = Vec::new();
    if !(raw.queue_url.starts_with("https://") || raw.queue_url.starts_with("http://")) {
        errors.push((
            "events.queue_url".into(),
            format!(
                "`{}` is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
                raw.queue_url
            ),
        ));
    }
    if !crate::config::is_region(&raw.region) {
        errors.push((
            "events.region".into(),
            format!("`{}` does not look like an AWS region", raw.region),
        ));
    }
    let endpoint_url = raw.endpoint_url.filter(|u| !u.is_empty());
    if let Some(u) = &endpoint_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            errors.push((
                "events.endpoint_url".into(),
                format!("`{u}` is not an http(s) URL"),
            ));
        }
    }
    let max_receives = raw.max_receives.unwrap_or(5);
    if !(1..=1000).contains(&max_receives) {
        errors.push((
            "events.max_receives".into(),
            format!("{max_receives} is out of range: use 1 to 1000 (the queue's maxReceiveCount)"),
        ));
    }
    let wait_seconds = raw.wait_seconds.unwrap_or(20);
    if !(0..=20).contains(&wait_seconds) {
        errors.push((
            "events.wait_seconds".into(),
            format!("{wait_seconds} is out of range: use 0 to 20"),
        ));
    }
    let batch_window = match raw.batch_window.as_deref() {
        None => std::time::Duration::from_secs(2),
        Some(t) => match humantime::parse_duration(t.trim()) {
            Ok(d) if d <= std::time::Duration::from_secs(300) => d,
            Ok(_) => {
                errors.push(("events.batch_window".into(), "use at most 5m".into()));
                std::time::Duration::from_secs(2)
            }
            Err(e) => {
                errors.push((
                    "events.batch_window".into(),
                    format!("`{t}` is not a duration ({e})"),
                ));
                std::time::Duration::from_secs(2)
            }
        },
    };
    let poison_backoff = match raw.poison_backoff.as_deref() {
        None => std::time::Duration::from_secs(30),
        Some(t) => match humantime::parse_duration(t.trim()) {
            Ok(d) if d <= std::time::Duration::from_secs(900) => d,
            Ok(_) => {
                errors.push(("events.poison_backoff".into(), "use at most 15m".into()));
                std::time::Duration::from_secs(30)
            }
            Err(e) => {
                errors.push((
                    "events.poison_backoff".into(),
                    format!("`{t}` is not a duration ({e})"),
                ));
                std::time::Duration::from_secs(30)
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(EventsSettings {
        queue_url: raw.queue_url,
        region: raw.region,
        endpoint_url,
        max_receives: max_receives as u32,
        wait_seconds: wait_seconds as i32,
        batch_window,
        poison_backoff,
    })
}

/// One change, as named by an EventBridge CloudTrail event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub region: String,
    pub account: Option<String>,
    pub event_name: String,
    pub event_id: Option<String>,
    /// RFC 3339 time of the API call.
    pub event_time: Option<String>,
    /// EC2 ids (`i-…`, `sg-…`, …) and S3 bucket names.
    pub resource_ids: BTreeSet<String>,
}

/// Why a message is not a change event to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAChange {
    /// Not JSON, or not an "AWS API Call via CloudTrail" event: poison.
    Malformed(String),
    /// A well-formed event with nothing to rescan (read-only, failed call,
    /// another service, no resource id): deleted.
    Irrelevant(String),
}

const EC2_PREFIXES: &[&str] = &[
    "i", "sg", "vpc", "subnet", "vol", "eni", "igw", "rtb", "acl", "nat", "eipalloc", "lt", "ami",
    "snap", "sgr", "pl", "tgw", "vpce", "eigw", "dopt", "key",
];

fn is_ec2_id(s: &str) -> bool {
    match s.split_once('-') {
        Some((p, rest)) => {
            EC2_PREFIXES.contains(&p)
                && rest.len() >= 8
                && rest.len() <= 17
                && rest.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn collect_ec2_ids(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) if is_ec2_id(s) => {
            out.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| collect_ec2_ids(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_ec2_ids(x, out)),
        _ => {}
    }
}

/// Parse an SQS message body holding an EventBridge event.
pub fn parse_event(body: &str) -> Result<ChangeEvent, NotAChange> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| NotAChange::Malformed(format!("not JSON ({e})")))?;
    let detail_type = v.get("detail-type").and_then(Value::as_str).unwrap_or("");
    if detail_type != "AWS API Call via CloudTrail" {
        return Err(NotAChange::Malformed(format!(
            "not an \"AWS API Call via CloudTrail\" event (detail-type `{detail_type}`)"
        )));
    }
    let detail = v
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| NotAChange::Malformed("no detail".into()))?;
    let s = |x: &Value, k: &str| x.get(k).and_then(Value::as_str).map(str::to_string);
    let event_name = s(detail, "eventName").unwrap_or_default();
    if detail.get("readOnly").and_then(Value::as_bool) == Some(true) {
        return Err(NotAChange::Irrelevant(format!("{event_name} is read-only")));
    }
    if let Some(code) = s(detail, "errorCode") {
        return Err(NotAChange::Irrelevant(format!(
            "{event_name} failed ({code})"
        )));
    }
    let region = s(detail, "awsRegion")
        .or_else(|| s(&v, "region"))
        .ok_or_else(|| NotAChange::Malformed("no region".into()))?;
    let mut ids = BTreeSet::new();
    match s(detail, "eventSource").as_deref() {
        Some("ec2.amazonaws.com") => {
            for k in ["requestParameters", "responseElements"] {
                if let Some(x) = detail.get(k) {
                    collect_ec2_ids(x, &mut ids);
                }
            }
        }
        Some("s3.amazonaws.com") => {
            if let Some(b) = detail
                .get("requestParameters")
                .and_then(|r| r.get("bucketName"))
                .and_then(Value::as_str)
            {
                ids.insert(b.to_string());
            }
        }
        other => {
            return Err(NotAChange::Irrelevant(format!(
                "event source {} is not scanned",
                other.unwrap_or("(none)")
            )))
        }
    }
    if ids.is_empty() {
        return Err(NotAChange::Irrelevant(format!(
            "{event_name} names no resource"
        )));
    }
    Ok(ChangeEvent {
        region,
        account: s(&v, "account").or_else(|| s(detail, "recipientAccountId")),
        event_name,
        event_id: s(detail, "eventID"),
        event_time: s(detail, "eventTime").or_else(|| s(&v, "time")),
        resource_ids: ids,
    })
}

/// A CloudTrail-shaped EventBridge event (tests, the demo, docs).
pub fn example_event(source: &str, event_name: &str, region: &str, request: Value) -> String {
    serde_json::json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{source}"),
        "account": "123456789012",
        "time": "2026-12-01T10:32:00Z",
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole",
                "arn": "arn:aws:sts::123456789012:assumed-role/ops-admin/jane"},
            "eventTime": "2026-12-01T10:32:00Z",
            "eventSource": format!("{source}.amazonaws.com"),
            "eventName": event_name,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": request,
            "responseElements": null,
            "readOnly": false,
            "eventID": "0f3c2f7a-2d5c-4f0e-9d5c-7d6b8c6e1a01",
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "123456789012"
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ec2_and_s3_events_name_their_resources() {
        let e = parse_event(&example_event(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            "eu-west-1",
            json!({"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22}]}}),
        ))
        .unwrap();
        assert_eq!(e.region, "eu-west-1");
        assert_eq!(
            e.resource_ids,
            BTreeSet::from(["sg-0123456789abcdef0".to_string()])
        );
        let e = parse_event(&example_event(
            "ec2",
            "CreateTags",
            "us-east-1",
            json!({"resourcesSet": {"items": [{"resourceId": "i-0abc12345678def00"}, {"resourceId": "vpc-12345678"}]}}),
        ))
        .unwrap();
        assert_eq!(e.resource_ids.len(), 2);
        let e = parse_event(&example_event(
            "s3",
            "PutBucketVersioning",
            "us-east-1",
            json!({"bucketName": "logs-bucket", "VersioningConfiguration": {"Status": "Suspended"}}),
        ))
        .unwrap();
        assert_eq!(e.resource_ids, BTreeSet::from(["logs-bucket".to_string()]));
    }

    #[test]
    fn poison_and_irrelevant_messages() {
        assert!(matches!(
            parse_event("{not json"),
            Err(NotAChange::Malformed(_))
        ));
        assert!(matches!(
            parse_event(
                r#"{"detail-type": "EC2 Instance State-change Notification", "detail": {}}"#
            ),
            Err(NotAChange::Malformed(_))
        ));
        let mut v: Value = serde_json::from_str(&example_event(
            "ec2",
            "DescribeInstances",
            "us-east-1",
            json!({"instanceId": "i-0abc12345678def00"}),
        ))
        .unwrap();
        v["detail"]["readOnly"] = json!(true);
        assert!(matches!(
            parse_event(&v.to_string()),
            Err(NotAChange::Irrelevant(_))
        ));
        v["detail"]["readOnly"] = json!(false);
        v["detail"]["errorCode"] = json!("UnauthorizedOperation");
        assert!(matches!(
            parse_event(&v.to_string()),
            Err(NotAChange::Irrelevant(_))
        ));
        let iam = example_event("iam", "CreateRole", "us-east-1", json!({"roleName": "x"}));
        assert!(matches!(parse_event(&iam), Err(NotAChange::Irrelevant(_))));
    }

    #[test]
    fn settings() {
        let v: toml::Value = toml::from_str(
            "queue_url = \"https://sqs.eu-west-1.amazonaws.com/1/driftd-events\"\nregion = \"eu-west-1\"",
        )
        .unwrap();
        let s = parse_settings(&v).unwrap();
        assert_eq!(s.max_receives, 5);
        let v: toml::Value =
            toml::from_str("queue_url = \"sqs\"\nregion = \"west\"\nmax_receives = 0").unwrap();
        let fields: Vec<String> = parse_settings(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(
            fields,
            ["events.queue_url", "events.region", "events.max_receives"]
        );
    }
}
