//! `aws_s3_bucket_logging`: `GetBucketLogging` per bucket (declared here, made
//! by the S3 service with the bucket's other reads). There is no not-found
//! error: an answer without `LoggingEnabled` means logging is off, so the
//! split resource is missing. Not discoverable; no reconciler call.
//!
//! Normalizers: `target_grant` is a set keyed by grantee (type + id, URI or
//! e-mail) and permission, `display_name` ignored (AWS is removing it);
//! `target_object_key_format`: none and `simple_prefix {}` are the same
//! (simple prefixes are the default format).

use aws_sdk_s3::types::LoggingEnabled;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use super::grants::{live_grant_key, state_grant_keys};
use crate::normalize::{first_block, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_logging";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("target_bucket", Shape::Block, true, Fix::No),
            AttrSpec::new("target_prefix", Shape::Block, false, Fix::No),
            AttrSpec::new("target_grant", Shape::Block, true, Fix::No),
            AttrSpec::new("target_object_key_format", Shape::Block, false, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Logging off, logs sent to another bucket, or log access granted to
        // someone else loses or leaks the audit trail: critical. Where in the
        // target the logs land (prefix, key format) is housekeeping.
        default_rules: &[
            DefaultRule {
                name: "s3-logging-layout",
                attributes: &["target_prefix", "target_object_key_format*"],
                kinds: &[],
                critical: false,
            },
            DefaultRule {
                name: "s3-logging",
                attributes: &[],
                kinds: &[],
                critical: true,
            },
        ],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketLogging"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("logging"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketLogging",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client.get_bucket_logging().bucket(bucket).send().await;
        Ok(match classify(DOC.operation, &[], r)? {
            Fetch::Present(o) => match o.logging_enabled() {
                Some(l) => Fetch::Present(live(l)),
                None => Fetch::Absent,
            },
            Fetch::Absent => Fetch::Absent,
            Fetch::Gone => Fetch::Gone,
        })
    })
}

fn sorted(mut v: Vec<String>) -> Value {
    v.sort();
    v.dedup();
    json!(v)
}

/// `simple` (also when none is configured: the default) or
/// `partitioned:<date source>`.
fn key_format(partition_date_source: Option<&str>) -> Value {
    match partition_date_source {
        Some(s) => json!(format!("partitioned:{s}")),
        None => json!("simple"),
    }
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let grants = state_grant_keys(a.get("target_grant"));
    let s = |m: &Map<String, Value>, k: &str| {
        string_or_empty(m.get(k))
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let format = first_block(a, "target_object_key_format");
    let partitioned = format
        .and_then(|f| first_block(f, "partitioned_prefix"))
        .map(|p| s(p, "partition_date_source"));
    canonical(
        string_or_empty(a.get("target_bucket")),
        string_or_empty(a.get("target_prefix")),
        sorted(grants),
        key_format(partitioned.as_deref()),
    )
}

/// Canonical live attributes from GetBucketLogging's `LoggingEnabled`.
pub fn live(l: &LoggingEnabled) -> Attrs {
    let grants = l
        .target_grants()
        .iter()
        .map(|g| {
            live_grant_key(
                g.grantee(),
                g.permission().map(|p| p.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    let f = l.target_object_key_format();
    let partitioned = f.and_then(|f| f.partitioned_prefix()).map(|p| {
        p.partition_date_source()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    });
    canonical(
        json!(l.target_bucket()),
        json!(l.target_prefix()),
        sorted(grants),
        key_format(partitioned.as_deref()),
    )
}

fn canonical(bucket: Value, prefix: Value, grants: Value, format: Value) -> Attrs {
    let mut m = Map::new();
    m.insert("target_bucket".into(), bucket);
    m.insert("target_prefix".into(), prefix);
    m.insert("target_grant".into(), grants);
    m.insert("target_object_key_format".into(), format);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        BucketLogsPermission, Grantee, PartitionDateSource, PartitionedPrefix, TargetGrant,
        TargetObjectKeyFormat, Type,
    };

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_logging.l".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// The state a provider-v5 `aws_s3_bucket_logging` writes, and the
    /// recorded GetBucketLogging answer for the same bucket.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(json!({
            "id": "b1", "bucket": "b1", "expected_bucket_owner": "",
            "target_bucket": "logs", "target_prefix": "b1/",
            "target_grant": [{"permission": "READ", "grantee": [{
                "type": "Group", "id": "", "email_address": "", "display_name": "",
                "uri": "http://acs.amazonaws.com/groups/s3/LogDelivery"}]}],
            "target_object_key_format": [{"partitioned_prefix": [{"partition_date_source": "EventTime"}],
                                          "simple_prefix": []}]
        }));
        let recorded = LoggingEnabled::builder()
            .target_bucket("logs")
            .target_prefix("b1/")
            .target_grants(
                TargetGrant::builder()
                    .grantee(
                        Grantee::builder()
                            .r#type(Type::Group)
                            .uri("http://acs.amazonaws.com/groups/s3/LogDelivery")
                            .display_name("ignored")
                            .build()
                            .unwrap(),
                    )
                    .permission(BucketLogsPermission::Read)
                    .build(),
            )
            .target_object_key_format(
                TargetObjectKeyFormat::builder()
                    .partitioned_prefix(
                        PartitionedPrefix::builder()
                            .partition_date_source(PartitionDateSource::EventTime)
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(&recorded));
        assert_eq!(
            d["target_grant"],
            json!(["Group:http://acs.amazonaws.com/groups/s3/LogDelivery:READ"])
        );
        assert_eq!((TYPE.info.live_id)(&s), "b1");
    }

    /// No grants and no key format in state (`[]`): AWS omitting them, or
    /// answering `SimplePrefix {}`, is in sync; a retarget is not.
    #[test]
    fn defaults_are_in_sync_and_a_retarget_is_not() {
        let s = state(json!({"id": "b1", "bucket": "b1", "target_bucket": "logs",
                             "target_prefix": "", "target_grant": [],
                             "target_object_key_format": []}));
        let d = project(&s, &ProjectContext::default());
        let plain = LoggingEnabled::builder()
            .target_bucket("logs")
            .target_prefix("")
            .build()
            .unwrap();
        assert_eq!(d, live(&plain));
        let simple = LoggingEnabled::builder()
            .target_bucket("logs")
            .target_prefix("")
            .target_object_key_format(
                TargetObjectKeyFormat::builder()
                    .simple_prefix(aws_sdk_s3::types::SimplePrefix::builder().build())
                    .build(),
            )
            .build()
            .unwrap();
        assert_eq!(d, live(&simple));
        let other = LoggingEnabled::builder()
            .target_bucket("elsewhere")
            .target_prefix("")
            .build()
            .unwrap();
        assert_ne!(d, live(&other));
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
