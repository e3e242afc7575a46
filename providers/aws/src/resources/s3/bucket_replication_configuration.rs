//! `aws_s3_bucket_replication_configuration`: `GetBucketReplication` per
//! bucket (declared here, made by the S3 service with the bucket's other
//! reads); `ReplicationConfigurationNotFoundError` means the bucket has none
//! (missing). Not discoverable (part of a bucket). No reconciler call.
//!
//! Normalizers: rules are keyed by `id` (compared as a list sorted by id; the
//! provider writes the ids AWS assigned); the rule filter is flattened to
//! `{prefix, tags}`: no filter, `filter {}`, `filter { prefix = "" }`, a V1
//! top-level `prefix` and `and { prefix }` all give the same prefix, and a
//! single `tag` or `and.tags` give the same tag map; `priority` absent (V1
//! rules) is `0`, as the provider writes it; absent nested blocks are `""`
//! statuses and `0` minutes; `token` is Terraform-only.

use aws_sdk_s3::types::{ReplicationConfiguration, ReplicationRule};
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{as_i64, first_block, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_replication_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("role", Shape::Block, true, Fix::No),
            AttrSpec::new("rule", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Critical: a changed destination copies every new object elsewhere;
        // a disabled rule silently ends disaster recovery.
        default_rules: &[DefaultRule {
            name: "s3-replication",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[("rule", EditorHint::KeyedBy(&["id"]))],
        import: None,
        read_actions: &["s3:GetReplicationConfiguration"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("replication_configuration"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketReplication",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client.get_bucket_replication().bucket(bucket).send().await;
        Ok(
            match classify(DOC.operation, &["ReplicationConfigurationNotFoundError"], r)? {
                Fetch::Present(o) => Fetch::Present(live(o.replication_configuration())),
                Fetch::Absent => Fetch::Absent,
                Fetch::Gone => Fetch::Gone,
            },
        )
    })
}

/// A status held in a one-element block (`delete_marker_replication` etc.).
fn status_of(b: Option<&Map<String, Value>>, key: &str) -> Value {
    string_or_empty(
        b.and_then(|b| first_block(b, key))
            .and_then(|s| s.get("status")),
    )
}

fn sorted(mut v: Vec<Value>) -> Value {
    v.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Value::Array(v)
}

fn tags_of(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// One state rule in canonical form.
fn state_rule(r: &Map<String, Value>) -> Value {
    let f = first_block(r, "filter");
    let and = f.and_then(|f| first_block(f, "and"));
    let mut prefix = string_or_empty(f.and_then(|f| f.get("prefix")));
    for p in [
        and.and_then(|a| a.get("prefix")),
        r.get("prefix"), // V1 schema
    ] {
        if prefix == json!("") {
            prefix = string_or_empty(p);
        }
    }
    let mut tags = tags_of(and.and_then(|a| a.get("tags")));
    if let Some(t) = f.and_then(|f| first_block(f, "tag")) {
        if let Some(k) = t.get("key").and_then(Value::as_str) {
            tags.insert(k.into(), string_or_empty(t.get("value")));
        }
    }
    let d = first_block(r, "destination");
    let ssc = first_block(r, "source_selection_criteria");
    let minutes = |k: &str, inner: &str| {
        d.and_then(|d| first_block(d, k))
            .and_then(|m| first_block(m, inner))
            .and_then(|t| as_i64(t.get("minutes")))
            .unwrap_or(0)
    };
    canonical_rule(
        string_or_empty(r.get("id")),
        as_i64(r.get("priority")).unwrap_or(0),
        string_or_empty(r.get("status")),
        prefix,
        tags,
        status_of(Some(r), "delete_marker_replication"),
        status_of(Some(r), "existing_object_replication"),
        json!({
            "replica_modifications": status_of(ssc, "replica_modifications"),
            "sse_kms_encrypted_objects": status_of(ssc, "sse_kms_encrypted_objects"),
        }),
        json!({
            "bucket": string_or_empty(d.and_then(|d| d.get("bucket"))),
            "account": string_or_empty(d.and_then(|d| d.get("account"))),
            "storage_class": string_or_empty(d.and_then(|d| d.get("storage_class"))),
            "owner": string_or_empty(d.and_then(|d| first_block(d, "access_control_translation"))
                .and_then(|a| a.get("owner"))),
            "replica_kms_key_id": string_or_empty(d.and_then(|d| first_block(d, "encryption_configuration"))
                .and_then(|a| a.get("replica_kms_key_id"))),
            "metrics": {"status": status_of(d, "metrics"), "minutes": minutes("metrics", "event_threshold")},
            "replication_time": {"status": status_of(d, "replication_time"), "minutes": minutes("replication_time", "time")},
        }),
    )
}

#[allow(clippy::too_many_arguments)]
fn canonical_rule(
    id: Value,
    priority: i64,
    status: Value,
    prefix: Value,
    tags: Map<String, Value>,
    delete_marker: Value,
    existing: Value,
    ssc: Value,
    destination: Value,
) -> Value {
    json!({"id": id, "priority": priority, "status": status,
           "filter": {"prefix": prefix, "tags": tags},
           "delete_marker_replication": delete_marker,
           "existing_object_replication": existing,
           "source_selection_criteria": ssc,
           "destination": destination})
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let rules = match r.attrs.get("rule") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_object)
            .map(state_rule)
            .collect(),
        _ => Vec::new(),
    };
    let mut m = Map::new();
    m.insert("role".into(), string_or_empty(r.attrs.get("role")));
    m.insert("rule".into(), sorted(rules));
    m
}

// `Prefix` (V1 rules) is deprecated in the SDK, but AWS still answers it.
#[allow(deprecated)]
fn live_rule(r: &ReplicationRule) -> Value {
    let f = r.filter();
    let and = f.and_then(|f| f.and());
    let prefix = [
        f.and_then(|f| f.prefix()),
        and.and_then(|a| a.prefix()),
        r.prefix(),
    ]
    .into_iter()
    .flatten()
    .find(|p| !p.is_empty())
    .unwrap_or_default();
    let mut tags = Map::new();
    for t in and.map(|a| a.tags()).unwrap_or_default() {
        tags.insert(t.key().into(), json!(t.value()));
    }
    if let Some(t) = f.and_then(|f| f.tag()) {
        tags.insert(t.key().into(), json!(t.value()));
    }
    let d = r.destination();
    let ssc = r.source_selection_criteria();
    let m = d.and_then(|d| d.metrics());
    let rt = d.and_then(|d| d.replication_time());
    canonical_rule(
        json!(r.id().unwrap_or_default()),
        r.priority().unwrap_or(0).into(),
        json!(r.status().as_str()),
        json!(prefix),
        tags,
        json!(r
            .delete_marker_replication()
            .and_then(|x| x.status())
            .map(|s| s.as_str())
            .unwrap_or_default()),
        json!(r
            .existing_object_replication()
            .map(|x| x.status().as_str())
            .unwrap_or_default()),
        json!({
            "replica_modifications": ssc.and_then(|s| s.replica_modifications())
                .map(|x| x.status().as_str()).unwrap_or_default(),
            "sse_kms_encrypted_objects": ssc.and_then(|s| s.sse_kms_encrypted_objects())
                .map(|x| x.status().as_str()).unwrap_or_default(),
        }),
        json!({
            "bucket": d.map(|d| d.bucket()).unwrap_or_default(),
            "account": d.and_then(|d| d.account()).unwrap_or_default(),
            "storage_class": d.and_then(|d| d.storage_class()).map(|s| s.as_str()).unwrap_or_default(),
            "owner": d.and_then(|d| d.access_control_translation()).map(|a| a.owner().as_str()).unwrap_or_default(),
            "replica_kms_key_id": d.and_then(|d| d.encryption_configuration())
                .and_then(|e| e.replica_kms_key_id()).unwrap_or_default(),
            "metrics": {"status": m.map(|m| m.status().as_str()).unwrap_or_default(),
                        "minutes": m.and_then(|m| m.event_threshold()).and_then(|t| t.minutes()).unwrap_or(0)},
            "replication_time": {"status": rt.map(|m| m.status().as_str()).unwrap_or_default(),
                                 "minutes": rt.and_then(|m| m.time()).and_then(|t| t.minutes()).unwrap_or(0)},
        }),
    )
}

/// Canonical live attributes from a GetBucketReplication answer.
pub fn live(c: Option<&ReplicationConfiguration>) -> Attrs {
    let mut m = Map::new();
    m.insert(
        "role".into(),
        json!(c.map(|c| c.role()).unwrap_or_default()),
    );
    m.insert(
        "rule".into(),
        sorted(
            c.map(|c| c.rules())
                .unwrap_or_default()
                .iter()
                .map(live_rule)
                .collect(),
        ),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, ReplicationRuleFilter,
        ReplicationRuleStatus, StorageClass,
    };

    const ROLE: &str = "arn:aws:iam::123456789012:role/repl";

    fn state(rules: Value) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_replication_configuration.r".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"id": "b1", "bucket": "b1", "role": ROLE, "token": null, "rule": rules})
                .as_object()
                .unwrap()
                .clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// A recorded V2 answer: `Filter {}` (whole bucket), Priority and
    /// DeleteMarkerReplication as AWS returns them, plus a V1 prefix rule.
    #[allow(deprecated)]
    fn recorded(dest: &str) -> ReplicationConfiguration {
        ReplicationConfiguration::builder()
            .role(ROLE)
            .rules(
                ReplicationRule::builder()
                    .id("v1")
                    .prefix("logs/")
                    .status(ReplicationRuleStatus::Enabled)
                    .destination(
                        Destination::builder()
                            .bucket("arn:aws:s3:::dst")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .rules(
                ReplicationRule::builder()
                    .id("all")
                    .priority(1)
                    .filter(ReplicationRuleFilter::builder().build())
                    .status(ReplicationRuleStatus::Enabled)
                    .delete_marker_replication(
                        DeleteMarkerReplication::builder()
                            .status(DeleteMarkerReplicationStatus::Disabled)
                            .build(),
                    )
                    .destination(
                        Destination::builder()
                            .bucket(dest)
                            .storage_class(StorageClass::StandardIa)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    /// The state of a provider-v5 resource (rules in config order, `filter {}`
    /// written as `[{"prefix": "", "tag": [], "and": []}]`) and the recorded
    /// answer agree; a changed destination does not.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(json!([
            {"id": "all", "priority": 1, "status": "Enabled", "prefix": "",
             "filter": [{"prefix": "", "tag": [], "and": []}],
             "delete_marker_replication": [{"status": "Disabled"}],
             "existing_object_replication": [], "source_selection_criteria": [],
             "destination": [{"bucket": "arn:aws:s3:::dst", "account": "", "storage_class": "STANDARD_IA",
                              "access_control_translation": [], "encryption_configuration": [],
                              "metrics": [], "replication_time": []}]},
            {"id": "v1", "priority": 0, "status": "Enabled", "prefix": "logs/", "filter": [],
             "delete_marker_replication": [], "existing_object_replication": [],
             "source_selection_criteria": [],
             "destination": [{"bucket": "arn:aws:s3:::dst", "storage_class": ""}]}
        ]));
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(Some(&recorded("arn:aws:s3:::dst"))));
        assert_ne!(d, live(Some(&recorded("arn:aws:s3:::elsewhere"))));
        assert_eq!((TYPE.info.live_id)(&s), "b1");
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
