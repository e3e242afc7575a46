//! S3 split configuration types added the registry way (issue 11, part A):
//! lifecycle, logging, CORS, website, ACL, accelerate, request payment.
//! Each: in sync on a world built the way Terraform builds it, changed,
//! missing (where the API can say so). Request payment cannot be written in
//! moto 5.1.22 (`?requestPayment` is not routed): its changed case runs on
//! recorded answers in the type's unit tests; here only the default answer.

use std::path::Path;

use crate::moto::Moto;
use crate::scan_moto::{lines, scan_text};
use crate::world::{self, seed};

/// Add one resource to a state file written by `world::seed`.
fn add_to_state(path: &Path, rtype: &str, name: &str, attrs: serde_json::Value) {
    let mut st: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    st["resources"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mode": "managed", "type": rtype, "name": name,
            "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}],
        }));
    std::fs::write(path, st.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_accelerate_configuration_in_sync_changed_missing() {
    use aws_sdk_s3::types::{AccelerateConfiguration, BucketAccelerateStatus};
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("s3a-accelerate");
    let w = seed(&c, &dir).await;
    let put = |s: BucketAccelerateStatus| {
        c.s3.put_bucket_accelerate_configuration()
            .bucket(&w.bucket_v4)
            .accelerate_configuration(AccelerateConfiguration::builder().status(s).build())
            .send()
    };
    let cfg = world::config_text(&moto.url);
    let st = dir.join("app.tfstate");
    add_to_state(
        &st,
        "aws_s3_bucket_accelerate_configuration",
        "assets",
        serde_json::json!({"id": w.bucket_v4, "bucket": w.bucket_v4,
                           "expected_bucket_owner": "", "status": "Enabled"}),
    );
    // Never configured: an empty answer, so the resource is missing.
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec!["missing aws_s3_bucket_accelerate_configuration.assets"],
        "{}",
        r.to_text()
    );

    put(BucketAccelerateStatus::Enabled).await.unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(app.counts.in_sync, 9, "{:?}", app.counts);

    put(BucketAccelerateStatus::Suspended).await.unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec![
            r#"changed aws_s3_bucket_accelerate_configuration.assets status: "Enabled" -> "Suspended""#
        ],
        "{}",
        r.to_text()
    );
}

/// moto 5.1.22 does not route `?requestPayment` (it answers a ListObjects
/// body): the read fails, and the bucket's resources are unknown, never
/// drifted. In sync / changed run on recorded answers in the unit tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_request_payment_unreadable_in_moto_is_unknown_not_drift() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("s3a-request-payment");
    let w = seed(&c, &dir).await;
    let cfg = world::config_text(&moto.url);
    add_to_state(
        &dir.join("app.tfstate"),
        "aws_s3_bucket_request_payment_configuration",
        "assets",
        serde_json::json!({"id": w.bucket_v4, "bucket": w.bucket_v4,
                           "expected_bucket_owner": "", "payer": "Requester"}),
    );
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert!(app.counts.unknown >= 1, "{:?}", app.counts);
    assert!(
        r.to_text().contains("GetBucketRequestPayment"),
        "{}",
        r.to_text()
    );
}
