//! `aws_s3_bucket_notification`: `GetBucketNotificationConfiguration` per
//! bucket (declared here, made by the S3 service with the bucket's other
//! reads). S3 has no "not configured" error for it: a bucket with no
//! destination and no EventBridge answers empty lists, which is *missing*
//! for a declared resource. Not discoverable (part of a bucket). No
//! reconciler call (a Put sends test events to every destination).
//!
//! Normalizers: each destination list (`topic`, `queue`, `lambda_function`)
//! is compared as a list sorted by `id` (the provider writes the ids AWS
//! holds); `events` is a set; S3 answers filter rule names as
//! `Prefix`/`Suffix` (or lower case), matched case-insensitively; a missing
//! filter is `""` prefix and suffix.

use aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput;
use aws_sdk_s3::types::NotificationConfigurationFilter;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{as_bool, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_notification";

/// The destination lists: state attribute and its ARN field.
const LISTS: [(&str, &str); 3] = [
    ("topic", "topic_arn"),
    ("queue", "queue_arn"),
    ("lambda_function", "lambda_function_arn"),
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("eventbridge", Shape::Block, true, Fix::No),
            AttrSpec::new("topic", Shape::Block, true, Fix::No),
            AttrSpec::new("queue", Shape::Block, true, Fix::No),
            AttrSpec::new("lambda_function", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Critical: a changed destination sends the bucket's object events
        // (keys, sizes, requesters) somewhere else.
        default_rules: &[DefaultRule {
            name: "s3-notification",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketNotification"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: None,
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketNotificationConfiguration",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await;
        // S3-compatible endpoints (moto among them) answer a bucket without
        // notifications with an empty body instead of an empty document.
        if let Err(e) = &r {
            if let Some(raw) = e.raw_response() {
                let empty = raw
                    .body()
                    .bytes()
                    .is_some_and(|b| b.trim_ascii().is_empty());
                if raw.status().is_success() && empty {
                    return Ok(Fetch::Absent);
                }
            }
        }
        Ok(match classify(DOC.operation, &[], r)? {
            Fetch::Present(o) => match live(&o) {
                Some(a) => Fetch::Present(a),
                None => Fetch::Absent,
            },
            Fetch::Absent => Fetch::Absent,
            Fetch::Gone => Fetch::Gone,
        })
    })
}

/// One destination in canonical form.
fn entry(id: Value, arn: Value, events: Value, prefix: Value, suffix: Value) -> Value {
    json!({"id": id, "arn": arn, "events": events,
           "filter_prefix": prefix, "filter_suffix": suffix})
}

fn sorted(mut v: Vec<Value>) -> Value {
    v.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Value::Array(v)
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    m.insert(
        "eventbridge".into(),
        json!(as_bool(r.attrs.get("eventbridge")).unwrap_or(false)),
    );
    for (list, arn) in LISTS {
        let items = match r.attrs.get(list) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
            _ => Vec::new(),
        };
        let v = items
            .into_iter()
            .map(|c| {
                entry(
                    string_or_empty(c.get("id")),
                    string_or_empty(c.get(arn)),
                    string_set(strings(c.get("events"))),
                    string_or_empty(c.get("filter_prefix")),
                    string_or_empty(c.get("filter_suffix")),
                )
            })
            .collect();
        m.insert(list.into(), sorted(v));
    }
    m
}

fn filter_value(f: Option<&NotificationConfigurationFilter>, name: &str) -> Value {
    let v = f
        .and_then(|f| f.key())
        .map(|k| k.filter_rules())
        .unwrap_or_default()
        .iter()
        .find(|r| {
            r.name()
                .is_some_and(|n| n.as_str().eq_ignore_ascii_case(name))
        })
        .and_then(|r| r.value())
        .unwrap_or_default();
    json!(v)
}

/// Canonical live attributes from a GetBucketNotificationConfiguration
/// answer; `None` when the bucket has no notification at all.
pub fn live(o: &GetBucketNotificationConfigurationOutput) -> Option<Attrs> {
    let ev = |e: &[aws_sdk_s3::types::Event]| string_set(e.iter().map(|e| e.as_str()));
    let topic: Vec<Value> = o
        .topic_configurations()
        .iter()
        .map(|c| {
            entry(
                json!(c.id().unwrap_or_default()),
                json!(c.topic_arn()),
                ev(c.events()),
                filter_value(c.filter(), "prefix"),
                filter_value(c.filter(), "suffix"),
            )
        })
        .collect();
    let queue: Vec<Value> = o
        .queue_configurations()
        .iter()
        .map(|c| {
            entry(
                json!(c.id().unwrap_or_default()),
                json!(c.queue_arn()),
                ev(c.events()),
                filter_value(c.filter(), "prefix"),
                filter_value(c.filter(), "suffix"),
            )
        })
        .collect();
    let lambda: Vec<Value> = o
        .lambda_function_configurations()
        .iter()
        .map(|c| {
            entry(
                json!(c.id().unwrap_or_default()),
                json!(c.lambda_function_arn()),
                ev(c.events()),
                filter_value(c.filter(), "prefix"),
                filter_value(c.filter(), "suffix"),
            )
        })
        .collect();
    let eventbridge = o.event_bridge_configuration().is_some();
    if !eventbridge && topic.is_empty() && queue.is_empty() && lambda.is_empty() {
        return None;
    }
    let mut m = Map::new();
    m.insert("eventbridge".into(), json!(eventbridge));
    m.insert("topic".into(), sorted(topic));
    m.insert("queue".into(), sorted(queue));
    m.insert("lambda_function".into(), sorted(lambda));
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, QueueConfiguration, S3KeyFilter, TopicConfiguration,
    };

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_notification.n".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    fn recorded(queue_arn: &str) -> GetBucketNotificationConfigurationOutput {
        let filter = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(
                        FilterRule::builder()
                            .name(FilterRuleName::from("Prefix"))
                            .value("logs/")
                            .build(),
                    )
                    .build(),
            )
            .build();
        GetBucketNotificationConfigurationOutput::builder()
            .queue_configurations(
                QueueConfiguration::builder()
                    .id("q1")
                    .queue_arn(queue_arn)
                    .events(Event::from("s3:ObjectRemoved:*"))
                    .events(Event::from("s3:ObjectCreated:*"))
                    .filter(filter)
                    .build()
                    .unwrap(),
            )
            .topic_configurations(
                TopicConfiguration::builder()
                    .id("t1")
                    .topic_arn("arn:aws:sns:eu-west-1:123456789012:t")
                    .events(Event::from("s3:ObjectCreated:Put"))
                    .build()
                    .unwrap(),
            )
            .build()
    }

    /// The state of a provider-v5 `aws_s3_bucket_notification` and the
    /// recorded GetBucketNotificationConfiguration answer for the bucket.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(json!({
            "id": "b1", "bucket": "b1", "eventbridge": false, "lambda_function": [],
            "queue": [{"id": "q1", "queue_arn": "arn:aws:sqs:eu-west-1:123456789012:q",
                       "events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                       "filter_prefix": "logs/", "filter_suffix": ""}],
            "topic": [{"id": "t1", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:t",
                       "events": ["s3:ObjectCreated:Put"], "filter_prefix": "", "filter_suffix": ""}]
        }));
        let d = project(&s, &ProjectContext::default());
        assert_eq!(
            Some(d.clone()),
            live(&recorded("arn:aws:sqs:eu-west-1:123456789012:q"))
        );
        assert_eq!((TYPE.info.live_id)(&s), "b1");
        let other = live(&recorded("arn:aws:sqs:eu-west-1:999999999999:q")).unwrap();
        assert_ne!(d["queue"], other["queue"]);
        assert_eq!(d["topic"], other["topic"]);
    }

    #[test]
    fn an_empty_answer_is_absent() {
        assert_eq!(
            live(&GetBucketNotificationConfigurationOutput::builder().build()),
            None
        );
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
