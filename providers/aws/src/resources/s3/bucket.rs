//! `aws_s3_bucket`: `ListBuckets` once per scope (discoverable), then per
//! managed bucket only the `Get*` calls its state needs (tags; provider-v3
//! inline `versioning`, `server_side_encryption_configuration`, `policy`,
//! which split resources take over when they exist).

use driftd_core::registry::{
    AttrSpec, DefaultRule, EditorHint, Fix, ImportHints, ProjectContext, ResourceType, RuleKind,
};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::bucket_name;
use super::bucket_server_side_encryption_configuration::sse_rule;
use crate::normalize::{as_bool, effective_tags, first_block};
use crate::policy::canonical_policy;
use crate::registry::{AwsType, Source};

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
        whole_set_writes: &["tags"],
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
