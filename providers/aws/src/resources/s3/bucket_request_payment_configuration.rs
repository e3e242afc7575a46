//! `aws_s3_bucket_request_payment_configuration`: `GetBucketRequestPayment`
//! per bucket (declared here, made by the S3 service with the bucket's other
//! reads). AWS always answers with a `Payer` (`BucketOwner` by default), so
//! the resource is never "missing": deleting it in Terraform resets the payer
//! to `BucketOwner`, which is what a changed `payer` reports. An answer
//! without `Payer` (moto 5.1.22, which does not route `?requestPayment`) is
//! read as `BucketOwner`, the API's default. Not discoverable; no reconciler
//! call.

use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_request_payment_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("payer", Shape::Block, false, Fix::No)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Who pays for requests: a cost setting, it opens no access.
        default_rules: &[DefaultRule {
            name: "s3-request-payment",
            attributes: &[],
            kinds: &[],
            critical: false,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketRequestPayment"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("request_payer"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketRequestPayment",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client
            .get_bucket_request_payment()
            .bucket(bucket)
            .send()
            .await;
        Ok(match classify(DOC.operation, &[], r)? {
            Fetch::Present(o) => Fetch::Present(live(o.payer().map(|p| p.as_str()))),
            Fetch::Absent => Fetch::Absent,
            Fetch::Gone => Fetch::Gone,
        })
    })
}

/// Canonical desired attributes: `payer`.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    canonical(string_or_empty(r.attrs.get("payer")))
}

/// Canonical live attributes from a GetBucketRequestPayment `Payer` (absent:
/// the default, `BucketOwner`).
pub fn live(payer: Option<&str>) -> Attrs {
    canonical(json!(payer
        .filter(|p| !p.is_empty())
        .unwrap_or("BucketOwner")))
}

fn canonical(payer: Value) -> Attrs {
    let mut m = Map::new();
    m.insert("payer".into(), payer);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_bucket_request_payment::GetBucketRequestPaymentOutput;
    use aws_sdk_s3::types::Payer;

    fn state(payer: &str) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_request_payment_configuration.p".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"id": "b1", "bucket": "b1", "expected_bucket_owner": "",
                          "payer": payer})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// Recorded answers (moto cannot serve this call): in sync, changed, and
    /// the default when AWS omits `Payer`.
    #[test]
    fn state_and_recorded_answers() {
        let requester = GetBucketRequestPaymentOutput::builder()
            .payer(Payer::Requester)
            .build();
        let owner = GetBucketRequestPaymentOutput::builder()
            .payer(Payer::BucketOwner)
            .build();
        let ctx = ProjectContext::default();
        let d = project(&state("Requester"), &ctx);
        assert_eq!(d, live(requester.payer().map(|p| p.as_str())));
        assert_eq!(d["payer"], json!("Requester"));
        // Changed: someone reset the payer to the bucket owner.
        let l = live(owner.payer().map(|p| p.as_str()));
        assert_eq!(l["payer"], json!("BucketOwner"));
        assert_ne!(d, l);
        // No Payer in the answer means the default.
        assert_eq!(project(&state("BucketOwner"), &ctx), live(None));
        assert_eq!((TYPE.info.live_id)(&state("Requester")), "b1");
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
