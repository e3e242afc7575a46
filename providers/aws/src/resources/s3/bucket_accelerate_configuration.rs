//! `aws_s3_bucket_accelerate_configuration`: `GetBucketAccelerateConfiguration`
//! per bucket (declared here, made by the S3 service with the bucket's other
//! reads). There is no not-found error: an answer without `Status` means
//! acceleration was never configured, so the split resource is missing.
//! `MethodNotAllowed` / `UnsupportedArgument` (regions without acceleration)
//! are read failures, not drift. Not discoverable; no reconciler call.

use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_accelerate_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("status", Shape::Block, false, Fix::No)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Acceleration changes cost and the endpoint used, not who can read.
        default_rules: &[DefaultRule {
            name: "s3-accelerate",
            attributes: &[],
            kinds: &[],
            critical: false,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetAccelerateConfiguration"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("acceleration_status"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketAccelerateConfiguration",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client
            .get_bucket_accelerate_configuration()
            .bucket(bucket)
            .send()
            .await;
        Ok(match classify(DOC.operation, &[], r)? {
            Fetch::Present(o) => match o.status() {
                Some(s) => Fetch::Present(live(Some(s.as_str()))),
                None => Fetch::Absent,
            },
            Fetch::Absent => Fetch::Absent,
            Fetch::Gone => Fetch::Gone,
        })
    })
}

/// Canonical desired attributes: `status`.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    canonical(string_or_empty(r.attrs.get("status")))
}

/// Canonical live attributes from a GetBucketAccelerateConfiguration `Status`.
pub fn live(status: Option<&str>) -> Attrs {
    canonical(json!(status.unwrap_or_default()))
}

fn canonical(status: Value) -> Attrs {
    let mut m = Map::new();
    m.insert("status".into(), status);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_bucket_accelerate_configuration::GetBucketAccelerateConfigurationOutput;
    use aws_sdk_s3::types::BucketAccelerateStatus;

    fn state(status: &str) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_accelerate_configuration.a".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"id": "b1", "bucket": "b1", "expected_bucket_owner": "",
                          "status": status})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// Provider-v5 state and the recorded answer for the same bucket.
    #[test]
    fn state_and_recorded_answer_agree() {
        let recorded = GetBucketAccelerateConfigurationOutput::builder()
            .status(BucketAccelerateStatus::Enabled)
            .build();
        let d = project(&state("Enabled"), &ProjectContext::default());
        assert_eq!(d, live(recorded.status().map(|s| s.as_str())));
        assert_eq!(d["status"], json!("Enabled"));
        assert_ne!(project(&state("Suspended"), &ProjectContext::default()), d);
        assert_eq!((TYPE.info.live_id)(&state("Enabled")), "b1");
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
