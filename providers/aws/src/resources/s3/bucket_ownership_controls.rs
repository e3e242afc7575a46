//! `aws_s3_bucket_ownership_controls`: `GetBucketOwnershipControls` per bucket
//! (declared here, made by the S3 service with the bucket's other reads);
//! `OwnershipControlsNotFoundError` means the bucket has none (missing).
//! Not discoverable: it only exists as part of a bucket. No reconciler call.

use aws_sdk_s3::types::OwnershipControls;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{first_block, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_ownership_controls";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("rule", Shape::Block, true, Fix::No)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-ownership",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketOwnershipControls"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: None,
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketOwnershipControls",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client
            .get_bucket_ownership_controls()
            .bucket(bucket)
            .send()
            .await;
        Ok(
            match classify(DOC.operation, &["OwnershipControlsNotFoundError"], r)? {
                Fetch::Present(o) => Fetch::Present(live(o.ownership_controls())),
                Fetch::Absent => Fetch::Absent,
                Fetch::Gone => Fetch::Gone,
            },
        )
    })
}

/// Canonical desired attributes: `rule.object_ownership`.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let rule = first_block(&r.attrs, "rule");
    canonical(string_or_empty(
        rule.and_then(|b| b.get("object_ownership")),
    ))
}

/// Canonical live attributes from a GetBucketOwnershipControls answer.
pub fn live(c: Option<&OwnershipControls>) -> Attrs {
    let o = c
        .and_then(|c| c.rules().first())
        .map(|r| r.object_ownership().as_str().to_string())
        .unwrap_or_default();
    canonical(json!(o))
}

fn canonical(object_ownership: Value) -> Attrs {
    let mut m = Map::new();
    m.insert(
        "rule".into(),
        json!({ "object_ownership": object_ownership }),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{ObjectOwnership, OwnershipControlsRule};

    /// The state of a provider-v5 `aws_s3_bucket_ownership_controls` and the
    /// recorded GetBucketOwnershipControls answer for the same bucket.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = StateResource {
            address: "aws_s3_bucket_ownership_controls.o".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"id": "b1", "bucket": "b1",
                          "rule": [{"object_ownership": "BucketOwnerEnforced"}]})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let recorded = OwnershipControls::builder()
            .rules(
                OwnershipControlsRule::builder()
                    .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(Some(&recorded)));
        assert_eq!(
            d["rule"],
            json!({"object_ownership": "BucketOwnerEnforced"})
        );
        assert_eq!((TYPE.info.live_id)(&s), "b1");
        let other = OwnershipControls::builder()
            .rules(
                OwnershipControlsRule::builder()
                    .object_ownership(ObjectOwnership::ObjectWriter)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_ne!(d, live(Some(&other)));
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
