//! `aws_s3_bucket_server_side_encryption_configuration`: `GetBucketEncryption`
//! per bucket (shared with the bucket's inline block).

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{as_bool, first_block, string_or_empty};
use crate::registry::{AwsType, Source};

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
