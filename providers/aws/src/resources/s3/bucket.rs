//! `aws_s3_bucket`: `ListBuckets` once per scope (discoverable), then per
//! managed bucket only the `Get*` calls its state needs (tags; provider-v3
//! inline `versioning`, `server_side_encryption_configuration`, `policy`,
//! which split resources take over when they exist).

use driftd_core::registry::{
    AttrSpec, DefaultRule, EditorHint, Fix, ImportHints, ProjectContext, ResourceType, RuleKind,
    WholeSet,
};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::bucket_name;
use super::bucket_server_side_encryption_configuration::sse_rule;
use crate::normalize::{as_bool, effective_tags, first_block};
use crate::ops::{self, Op};
use crate::policy::canonical_policy;
use crate::reconcile::{action, current, path_str, string, Unread};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

pub const NAME: &str = "aws_s3_bucket";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("tags", Shape::Map, false, Fix::InPlace),
            AttrSpec::new("versioning", Shape::Block, false, Fix::InPlace),
            AttrSpec::new(
                "server_side_encryption_configuration",
                Shape::Block,
                true,
                Fix::InPlace,
            ),
            AttrSpec::new("policy", Shape::Leaf, true, Fix::InPlace),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        // `PutBucketTagging` sends the whole `TagSet`.
        whole_set_writes: &[WholeSet::new("tags", "TagSet", "Key", "Value")],
        default_rules: &[
            DefaultRule {
                name: "s3-encryption",
                attributes: &["server_side_encryption_configuration*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-policy",
                attributes: &["policy"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-versioning",
                attributes: &["versioning*"],
                kinds: &[RuleKind::Changed],
                critical: false,
            },
        ],
        editor: &[(
            "policy",
            EditorHint::Refuse(super::bucket_policy::POLICY_REFUSAL),
        )],
        import: Some(ImportHints {
            id_argument: Some("bucket"),
            name_argument: Some("bucket"),
            arguments: &["bucket", "tags"],
            blocks: &[],
            required: &["bucket"],
            note: "versioning, encryption, public access block and policy are separate resources (aws_s3_bucket_*): import them the same way if you manage them",
        }),
        read_actions: &[
            "s3:ListAllMyBuckets",
            "s3:GetBucketLocation",
            "s3:GetBucketTagging",
            "s3:GetBucketVersioning",
            "s3:GetEncryptionConfiguration",
            "s3:GetBucketPolicy",
        ],
        write_actions: &[
            "s3:PutBucketTagging",
            "s3:PutBucketVersioning",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketPolicy",
        ],
        project,
        live_id: bucket_name,
    },
    source: Source::Bucket,
    plan: Some(plan),
};

/// Canonical desired attributes with every inline block; the schema drops
/// those a split resource of the same bucket takes over.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    m.insert("tags".into(), effective_tags(a));
    if let Some(v) = first_block(a, "versioning") {
        let mut vm = Map::new();
        vm.insert(
            "enabled".into(),
            json!(as_bool(v.get("enabled")).unwrap_or(false)),
        );
        if let Some(b) = as_bool(v.get("mfa_delete")) {
            vm.insert("mfa_delete".into(), json!(b));
        }
        m.insert("versioning".into(), Value::Object(vm));
    }
    // No block in state: the bucket has AWS's default encryption, which the
    // code does not govern. Nothing to compare.
    if let Some(rule) =
        first_block(a, "server_side_encryption_configuration").and_then(|c| first_block(c, "rule"))
    {
        m.insert(
            "server_side_encryption_configuration".into(),
            json!({ "rule": sse_rule(rule) }),
        );
    }
    if let Some(Value::String(p)) = a.get("policy") {
        if !p.trim().is_empty() {
            m.insert("policy".into(), canonical_policy(p));
        }
    }
    m
}

/// Reconcile plan: the whole tag set in one `PutBucketTagging`, the inline
/// versioning, encryption (once, whole) and policy blocks with their `Put*`.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    let mut out = Vec::new();
    if diffs.iter().any(|x| x.path[0] == "tags") {
        // PutBucketTagging replaces the whole set: send the state's full set.
        let tags = d.attrs.get("tags").cloned().unwrap_or(json!({}));
        let tag_set = tags
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                Ok(ops::Tag {
                    key: k.clone(),
                    value: string(d, &format!("tags.{k}"), v)?,
                })
            })
            .collect::<Result<_, NotReconcilable>>()?;
        let op = Op::PutBucketTagging(ops::PutBucketTagging {
            bucket: d.id.clone(),
            tag_set,
        });
        out.push(action(d, "tags", op, &Value::Null, &tags));
    }
    let mut encryption_planned = false;
    for x in diffs.iter().filter(|x| x.path[0] != "tags") {
        match path_str(&x.path).as_str() {
            "versioning.enabled" => {
                let status = if x.expected == json!(true) {
                    ops::VersioningStatus::Enabled
                } else {
                    ops::VersioningStatus::Suspended
                };
                out.push(action(
                    d,
                    "versioning.enabled",
                    super::bucket_versioning::put_versioning(d, status),
                    &x.actual,
                    &x.expected,
                ));
            }
            p if p.starts_with("server_side_encryption_configuration") => {
                if !encryption_planned {
                    encryption_planned = true;
                    let rule = d.attrs["server_side_encryption_configuration"]["rule"].clone();
                    out.push(
                        super::bucket_server_side_encryption_configuration::sse_action(
                            d,
                            &rule,
                            "server_side_encryption_configuration",
                        )?,
                    );
                }
            }
            "policy" => out.push(action(
                d,
                "policy",
                Op::PutBucketPolicy(ops::PutBucketPolicy {
                    bucket: d.id.clone(),
                    policy: x.expected.to_string(),
                }),
                &x.actual,
                &x.expected,
            )),
            other => return Err(NotReconcilable::Unsupported(format!("{} {other}", d.rtype))),
        }
    }
    Ok(out)
}

/// The bucket's whole tag set in `PutBucketTagging`'s shape
/// (`{"TagSet": [..]}`, empty when it has none), for the audit log.
pub(crate) async fn previous_tagging(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Value, Unread> {
    let set: Vec<Value> = current(
        "GetBucketTagging",
        s3.get_bucket_tagging().bucket(bucket).send(),
    )
    .await?
    .map(|o| {
        o.tag_set()
            .iter()
            .map(|t| json!({"Key": t.key(), "Value": t.value()}))
            .collect()
    })
    .unwrap_or_default();
    Ok(json!({ "TagSet": set }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider-v3 state fixture with inline blocks.
    #[test]
    fn inline_blocks_project_to_canonical_form() {
        let s = StateResource {
            address: "aws_s3_bucket.b".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"bucket": "b1", "tags": {"Team": "x"}, "tags_all": {"Team": "x"},
                "versioning": [{"enabled": true, "mfa_delete": false}],
                "server_side_encryption_configuration": [{"rule": [{
                    "apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256", "kms_master_key_id": ""}],
                    "bucket_key_enabled": false}]}],
                "policy": ""})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
        };
        let d = project(&s, &ProjectContext::default());
        assert_eq!(
            d["versioning"],
            json!({"enabled": true, "mfa_delete": false})
        );
        assert_eq!(
            d["server_side_encryption_configuration"]["rule"]
                ["apply_server_side_encryption_by_default"]["sse_algorithm"],
            json!("AES256")
        );
        assert!(!d.contains_key("policy"), "an empty policy is not compared");
        assert_eq!((TYPE.info.live_id)(&s), "b1");
    }
}
