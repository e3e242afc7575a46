//! `aws_s3_bucket_policy`: `GetBucketPolicy` per bucket (shared with the
//! bucket's inline `policy`), compared as a JSON document, not as text.

use driftd_core::registry::{AttrSpec, DefaultRule, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{Map, Value};

use super::bucket_name;
use crate::ops::{self, Op};
use crate::policy::canonical_policy;
use crate::reconcile::{action, current, Unread};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};
use serde_json::json;

pub const NAME: &str = "aws_s3_bucket_policy";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("policy", Shape::Leaf, true, Fix::InPlace)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-policy",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[("policy", EditorHint::Refuse(POLICY_REFUSAL))],
        import: None,
        read_actions: &["s3:GetBucketPolicy"],
        write_actions: &["s3:PutBucketPolicy"],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketConfig {
        replaces: Some("policy"),
    },
    plan: Some(plan),
};

/// Why the PR editor leaves policy documents alone (any type's `policy`).
pub const POLICY_REFUSAL: &str = "policy documents are not edited automatically: update the policy (often built with jsonencode or a heredoc) to the live document";

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    m.insert(
        "policy".into(),
        canonical_policy(r.attrs.get("policy").and_then(Value::as_str).unwrap_or("")),
    );
    m
}

/// Reconcile plan: any drift puts the state's whole policy back in one
/// `PutBucketPolicy`.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    if diffs.is_empty() {
        return Ok(vec![]);
    }
    let p = d.attrs.get("policy").cloned().unwrap_or(Value::Null);
    let op = Op::PutBucketPolicy(ops::PutBucketPolicy {
        bucket: d.id.clone(),
        policy: p.to_string(),
    });
    Ok(vec![action(d, "policy", op, &Value::Null, &p)])
}

/// The bucket's policy in `PutBucketPolicy`'s shape (`{"Policy": null}`
/// when it has none), for the audit log.
pub(crate) async fn previous_policy(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Value, Unread> {
    let p = current(
        "GetBucketPolicy",
        s3.get_bucket_policy().bucket(bucket).send(),
    )
    .await?
    .and_then(|o| o.policy().map(str::to_string));
    Ok(json!({ "Policy": p }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_single_values_do_not_matter() {
        let s = |p: &str| StateResource {
            address: "aws_s3_bucket_policy.p".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"bucket": "b1", "policy": p})
                .as_object()
                .unwrap()
                .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let a = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/*"}]}"#;
        // The same document as GetBucketPolicy returned it (recorded): keys reordered.
        let b = r#"{"Statement":[{"Resource":"arn:aws:s3:::b1/*","Action":["s3:GetObject"],"Principal":"*","Effect":"Allow"}],"Version":"2012-10-17"}"#;
        let ctx = ProjectContext::default();
        assert_eq!(project(&s(a), &ctx), project(&s(b), &ctx));
    }
}
