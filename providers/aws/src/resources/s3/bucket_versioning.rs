//! `aws_s3_bucket_versioning`: `GetBucketVersioning` per bucket (the same
//! call `aws_s3_bucket`'s inline `versioning` uses: made once per bucket).

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType, RuleKind};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::first_block;
use crate::ops::{self, Op};
use crate::reconcile::{action, current, path_str, Unread};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

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
    plan: Some(plan),
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

/// `PutBucketVersioning` of the bucket to `status` (also the bucket's
/// inline `versioning`).
pub(crate) fn put_versioning(d: &Desired, status: ops::VersioningStatus) -> Op {
    Op::PutBucketVersioning(ops::PutBucketVersioning {
        bucket: d.id.clone(),
        versioning_configuration: ops::VersioningConfiguration { status },
    })
}

/// Reconcile plan: `Enabled` or `Suspended` with one `PutBucketVersioning`
/// (anything else, e.g. `Disabled`, is refused).
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    let mut out = Vec::new();
    for x in diffs {
        let status = match x.expected.as_str() {
            Some("Enabled") => Some(ops::VersioningStatus::Enabled),
            Some("Suspended") => Some(ops::VersioningStatus::Suspended),
            _ => None,
        };
        match (path_str(&x.path).as_str(), status) {
            ("versioning_configuration.status", Some(s)) => out.push(action(
                d,
                "versioning_configuration.status",
                put_versioning(d, s),
                &x.actual,
                &x.expected,
            )),
            (p, _) => {
                return Err(NotReconcilable::Unsupported(format!(
                    "{} {p} to {}",
                    d.rtype, x.expected
                )))
            }
        }
    }
    Ok(out)
}

/// The bucket's versioning in `PutBucketVersioning`'s shape, for the audit log.
pub(crate) async fn previous_versioning(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Value, Unread> {
    let mut cfg = json!({});
    if let Some(o) = current(
        "GetBucketVersioning",
        s3.get_bucket_versioning().bucket(bucket).send(),
    )
    .await?
    {
        if let Some(st) = o.status() {
            cfg["Status"] = json!(st.as_str());
        }
        if let Some(m) = o.mfa_delete() {
            cfg["MFADelete"] = json!(m.as_str());
        }
    }
    Ok(json!({ "VersioningConfiguration": cfg }))
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
            prepared: None,
        };
        assert_eq!(
            project(&s, &ProjectContext::default())["versioning_configuration"],
            json!({"status": "Enabled"})
        );
    }
}
