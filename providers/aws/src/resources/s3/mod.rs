//! S3 resource types: the bucket and its split configuration resources
//! (as CloudQuery's child tables of the bucket: each is read per bucket).

pub mod bucket;
pub mod bucket_accelerate_configuration;
pub mod bucket_acl;
pub mod bucket_analytics_configuration;
pub mod bucket_config;
pub mod bucket_cors_configuration;
pub mod bucket_intelligent_tiering_configuration;
pub mod bucket_inventory;
pub mod bucket_lifecycle_configuration;
pub mod bucket_logging;
pub mod bucket_metric;
pub mod bucket_notification;
pub mod bucket_object_lock_configuration;
pub mod bucket_ownership_controls;
pub mod bucket_policy;
pub mod bucket_public_access_block;
pub mod bucket_replication_configuration;
pub mod bucket_request_payment_configuration;
pub mod bucket_server_side_encryption_configuration;
pub mod bucket_versioning;
pub mod bucket_website_configuration;
pub mod grants;

use driftd_core::StateResource;
use serde_json::Value;

/// The bucket a resource is about: `bucket` attribute, else the id.
pub fn bucket_name(r: &StateResource) -> String {
    r.raw("bucket")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| r.id.clone())
}
