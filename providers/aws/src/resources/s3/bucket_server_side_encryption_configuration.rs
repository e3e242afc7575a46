//! `aws_s3_bucket_server_side_encryption_configuration`: `GetBucketEncryption`
//! per bucket (shared with the bucket's inline block).

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{as_bool, first_block, string_or_empty};
use crate::ops::{self, Op};
use crate::reconcile::{action, boolean, current, string, Unread};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

pub const NAME: &str = "aws_s3_bucket_server_side_encryption_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("rule", Shape::Block, true, Fix::InPlace)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-encryption",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetEncryptionConfiguration"],
        write_actions: &["s3:PutEncryptionConfiguration"],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketConfig {
        replaces: Some("server_side_encryption_configuration"),
    },
    plan: Some(plan),
};

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    if let Some(rule) = first_block(&r.attrs, "rule") {
        m.insert("rule".into(), sse_rule(rule));
    }
    m
}

/// Canonical SSE rule: `{apply_server_side_encryption_by_default: {...}, bucket_key_enabled}`.
pub fn sse_rule(rule: &Attrs) -> Value {
    let default = first_block(rule, "apply_server_side_encryption_by_default");
    let get = |k: &str| string_or_empty(default.and_then(|d| d.get(k)));
    json!({
        "apply_server_side_encryption_by_default": {
            "sse_algorithm": get("sse_algorithm"),
            "kms_master_key_id": get("kms_master_key_id"),
        },
        "bucket_key_enabled": as_bool(rule.get("bucket_key_enabled")).unwrap_or(false),
    })
}

/// One `PutBucketEncryption` with the state's whole rule (also the bucket's
/// inline `server_side_encryption_configuration`, as `attribute`).
pub(crate) fn sse_action(
    d: &Desired,
    rule: &Value,
    attribute: &str,
) -> Result<Action, NotReconcilable> {
    let def = &rule["apply_server_side_encryption_by_default"];
    let kms_master_key_id = def["kms_master_key_id"]
        .as_str()
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let op = Op::PutBucketEncryption(ops::PutBucketEncryption {
        bucket: d.id.clone(),
        rules: vec![ops::SseRule {
            apply_server_side_encryption_by_default: ops::SseByDefault {
                sse_algorithm: string(
                    d,
                    &format!("{attribute}.apply_server_side_encryption_by_default.sse_algorithm"),
                    &def["sse_algorithm"],
                )?,
                kms_master_key_id,
            },
            bucket_key_enabled: boolean(
                d,
                &format!("{attribute}.bucket_key_enabled"),
                &rule["bucket_key_enabled"],
            )?,
        }],
    });
    Ok(action(d, attribute, op, &Value::Null, rule))
}

/// Reconcile plan: any drift puts the state's whole rule back, once.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    if diffs.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![sse_action(
        d,
        &d.attrs.get("rule").cloned().unwrap_or(Value::Null),
        "rule",
    )?])
}

/// The bucket's encryption rules in `PutBucketEncryption`'s shape
/// (`{"Rules": null}` when it has none), for the audit log.
pub(crate) async fn previous_encryption(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Value, Unread> {
    let rules: Option<Vec<Value>> = current(
        "GetBucketEncryption",
        s3.get_bucket_encryption().bucket(bucket).send(),
    )
    .await?
    .and_then(|o| {
        o.server_side_encryption_configuration().map(|c| {
            c.rules()
                .iter()
                .map(|r| {
                    let mut by_default = json!({});
                    if let Some(d) = r.apply_server_side_encryption_by_default() {
                        by_default["SSEAlgorithm"] = json!(d.sse_algorithm().as_str());
                        if let Some(k) = d.kms_master_key_id() {
                            by_default["KMSMasterKeyID"] = json!(k);
                        }
                    }
                    json!({"ApplyServerSideEncryptionByDefault": by_default,
                           "BucketKeyEnabled": r.bucket_key_enabled()})
                })
                .collect()
        })
    });
    Ok(json!({ "Rules": rules }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_key_id_and_bucket_key_take_their_defaults() {
        let rule =
            json!({"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]});
        assert_eq!(
            sse_rule(rule.as_object().unwrap()),
            json!({"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": ""},
                   "bucket_key_enabled": false})
        );
    }
}
