//! `aws_s3_bucket_public_access_block`: `GetPublicAccessBlock` per bucket;
//! `NoSuchPublicAccessBlockConfiguration` means absent (missing).

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::json;

use super::bucket_name;
use crate::normalize::as_bool;
use crate::ops::{self, Op};
use crate::reconcile::{action, boolean, current, Unread};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};
use serde_json::Value;

pub const NAME: &str = "aws_s3_bucket_public_access_block";

pub const FIELDS: &[&str] = &[
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
];

const fn field(name: &'static str) -> AttrSpec {
    AttrSpec::new(name, Shape::Block, true, Fix::InPlace)
}

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            field("block_public_acls"),
            field("block_public_policy"),
            field("ignore_public_acls"),
            field("restrict_public_buckets"),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-public-access",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketPublicAccessBlock"],
        write_actions: &["s3:PutBucketPublicAccessBlock"],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketConfig { replaces: None },
    plan: Some(plan),
};

/// Canonical desired attributes: the four flags, `false` when unset.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    FIELDS
        .iter()
        .map(|k| {
            (
                k.to_string(),
                json!(as_bool(r.attrs.get(*k)).unwrap_or(false)),
            )
        })
        .collect()
}

/// Reconcile plan: any drift puts the state's four flags back in one
/// `PutPublicAccessBlock`.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    if diffs.is_empty() {
        return Ok(vec![]);
    }
    let flag = |i: usize| -> Result<bool, NotReconcilable> {
        let k = FIELDS[i];
        boolean(d, k, d.attrs.get(k).unwrap_or(&Value::Bool(false)))
    };
    let op = Op::PutPublicAccessBlock(ops::PutPublicAccessBlock {
        bucket: d.id.clone(),
        public_access_block_configuration: ops::PublicAccessBlock {
            block_public_acls: flag(0)?,
            block_public_policy: flag(1)?,
            ignore_public_acls: flag(2)?,
            restrict_public_buckets: flag(3)?,
        },
    });
    Ok(vec![action(
        d,
        "public_access_block",
        op,
        &Value::Null,
        &Value::Object(d.attrs.peek().into_owned()),
    )])
}

/// The bucket's public access block in `PutPublicAccessBlock`'s shape
/// (`null` configuration when it has none), for the audit log.
pub(crate) async fn previous_public_access_block(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Value, Unread> {
    let cfg = current(
        "GetPublicAccessBlock",
        s3.get_public_access_block().bucket(bucket).send(),
    )
    .await?
    .and_then(|o| {
        o.public_access_block_configuration().map(|c| {
            json!({"BlockPublicAcls": c.block_public_acls(),
                   "BlockPublicPolicy": c.block_public_policy(),
                   "IgnorePublicAcls": c.ignore_public_acls(),
                   "RestrictPublicBuckets": c.restrict_public_buckets()})
        })
    });
    Ok(json!({ "PublicAccessBlockConfiguration": cfg }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_compared() {
        let s = StateResource {
            address: "aws_s3_bucket_public_access_block.p".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"bucket": "b1", "block_public_acls": true})
                .as_object()
                .unwrap()
                .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d.len(), 4);
        assert_eq!(d["block_public_acls"], json!(true));
        assert_eq!(d["restrict_public_buckets"], json!(false));
        let declared: Vec<&str> = TYPE.info.attributes.iter().map(|a| a.name).collect();
        assert_eq!(declared, FIELDS);
    }
}
