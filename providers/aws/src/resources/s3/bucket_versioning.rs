//! `aws_s3_bucket_versioning`: `GetBucketVersioning` per bucket (the same
//! call `aws_s3_bucket`'s inline `versioning` uses: made once per bucket).

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType, RuleKind};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::first_block;
use crate::registry::{AwsType, Source};

pub const NAME: &str = "aws_s3_bucket_versioning";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new(
            "versioning_configuration",
            Shape::Block,
            false,
            Fix::InPlace,
        )],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-versioning",
            attributes: &[],
            kinds: &[RuleKind::Changed],
            critical: false,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketVersioning"],
        write_actions: &["s3:PutBucketVersioning"],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketConfig {
        replaces: Some("versioning"),
    },
};

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut vm = Map::new();
    if let Some(v) = first_block(&r.attrs, "versioning_configuration") {
        vm.insert(
            "status".into(),
            json!(versioning_status(v.get("status").and_then(Value::as_str))),
        );
        if let Some(Value::String(s)) = v.get("mfa_delete") {
            if !s.is_empty() {
                vm.insert("mfa_delete".into(), json!(s));
            }
        }
    }
    let mut m = Map::new();
    m.insert("versioning_configuration".into(), Value::Object(vm));
    m
}

/// Versioning status: a bucket that never had versioning answers with no
/// status at all, which Terraform calls `Disabled`.
pub fn versioning_status(s: Option<&str>) -> &str {
    match s {
        None | Some("") => "Disabled",
        Some(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_never_versioned_bucket_is_disabled() {
        // Recorded GetBucketVersioning of a fresh bucket: no Status element.
        assert_eq!(versioning_status(None), "Disabled");
        assert_eq!(versioning_status(Some("Suspended")), "Suspended");
        let s = StateResource {
            address: "aws_s3_bucket_versioning.v".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"bucket": "b1", "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}]})
                .as_object()
                .unwrap()
                .clone(),
            sensitive_paths: vec![],
        };
        assert_eq!(
            project(&s, &ProjectContext::default())["versioning_configuration"],
            json!({"status": "Enabled"})
        );
    }
}
