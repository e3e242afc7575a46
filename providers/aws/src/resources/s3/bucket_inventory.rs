//! `aws_s3_bucket_inventory`: one paginated `ListBucketInventoryConfigurations`
//! per bucket whose state declares an inventory serves all of them (ids
//! `bucket:name`, `Source::BucketConfigs`); a configuration the answer lacks is
//! missing. Not discoverable (part of a bucket). No reconciler call.
//! Non-critical by default: it configures a daily or weekly report of the
//! bucket's object list, not access to the objects or where they are stored.
//!
//! Normalizers: `optional_fields` is a set; no filter is prefix `""`;
//! destination encryption is `sse_s3`, `sse_kms:<key id>` or `""`.

use aws_sdk_s3::types::InventoryConfiguration;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_config::config_id;
use crate::normalize::{as_bool, first_block, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::s3::{list_configs, BucketConfigs, Configs, Fetch};

pub const NAME: &str = "aws_s3_bucket_inventory";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("enabled", Shape::Block, true, Fix::No),
            AttrSpec::new("included_object_versions", Shape::Block, true, Fix::No),
            AttrSpec::new("optional_fields", Shape::Block, true, Fix::No),
            AttrSpec::new("schedule", Shape::Block, true, Fix::No),
            AttrSpec::new("filter", Shape::Block, true, Fix::No),
            AttrSpec::new("destination", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-inventory",
            attributes: &[],
            kinds: &[],
            critical: false,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetInventoryConfiguration"],
        write_actions: &[],
        project,
        live_id: config_id,
    },
    source: Source::BucketConfigs { list: &LIST },
    plan: None,
};

static LIST: BucketConfigs = BucketConfigs {
    operation: "ListBucketInventoryConfigurations",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Configs>, String>> {
    Box::pin(list_configs(
        LIST.operation,
        &["NoSuchConfiguration", "NoSuchInventoryConfig"],
        move |token| {
            client
                .list_bucket_inventory_configurations()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
        },
        |page, out| {
            for c in page.inventory_configuration_list() {
                out.insert(c.id().to_string(), live(c));
            }
            (
                page.is_truncated(),
                page.next_continuation_token().map(str::to_string),
            )
        },
    ))
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let dest = first_block(a, "destination").and_then(|d| first_block(d, "bucket"));
    let enc = dest.and_then(|d| first_block(d, "encryption"));
    let encryption = match (
        enc.and_then(|e| first_block(e, "sse_kms")),
        enc.and_then(|e| e.get("sse_s3")),
    ) {
        (Some(k), _) => format!(
            "sse_kms:{}",
            string_or_empty(k.get("key_id"))
                .as_str()
                .unwrap_or_default()
        ),
        (None, Some(Value::Array(v))) if !v.is_empty() => "sse_s3".into(),
        (None, Some(Value::Object(_))) => "sse_s3".into(),
        _ => String::new(),
    };
    canonical(
        as_bool(a.get("enabled")).unwrap_or(true),
        string_or_empty(a.get("included_object_versions")),
        string_set(strings(a.get("optional_fields"))),
        string_or_empty(first_block(a, "schedule").and_then(|s| s.get("frequency"))),
        string_or_empty(first_block(a, "filter").and_then(|s| s.get("prefix"))),
        json!({
            "bucket_arn": string_or_empty(dest.and_then(|d| d.get("bucket_arn"))),
            "format": string_or_empty(dest.and_then(|d| d.get("format"))),
            "account_id": string_or_empty(dest.and_then(|d| d.get("account_id"))),
            "prefix": string_or_empty(dest.and_then(|d| d.get("prefix"))),
            "encryption": encryption,
        }),
    )
}

/// Canonical live attributes of one listed configuration.
pub fn live(c: &InventoryConfiguration) -> Attrs {
    let d = c.destination().and_then(|d| d.s3_bucket_destination());
    let enc = d.and_then(|d| d.encryption());
    let encryption = match (enc.and_then(|e| e.ssekms()), enc.and_then(|e| e.sses3())) {
        (Some(k), _) => format!("sse_kms:{}", k.key_id()),
        (None, Some(_)) => "sse_s3".into(),
        _ => String::new(),
    };
    canonical(
        c.is_enabled(),
        json!(c.included_object_versions().as_str()),
        string_set(c.optional_fields().iter().map(|f| f.as_str())),
        json!(c
            .schedule()
            .map(|s| s.frequency().as_str())
            .unwrap_or_default()),
        json!(c.filter().map(|f| f.prefix()).unwrap_or_default()),
        json!({
            "bucket_arn": d.map(|d| d.bucket()).unwrap_or_default(),
            "format": d.map(|d| d.format().as_str()).unwrap_or_default(),
            "account_id": d.and_then(|d| d.account_id()).unwrap_or_default(),
            "prefix": d.and_then(|d| d.prefix()).unwrap_or_default(),
            "encryption": encryption,
        }),
    )
}

fn canonical(
    enabled: bool,
    versions: Value,
    optional_fields: Value,
    frequency: Value,
    filter_prefix: Value,
    destination: Value,
) -> Attrs {
    let mut m = Map::new();
    m.insert("enabled".into(), json!(enabled));
    m.insert("included_object_versions".into(), versions);
    m.insert("optional_fields".into(), optional_fields);
    m.insert("schedule".into(), json!({ "frequency": frequency }));
    m.insert("filter".into(), json!({ "prefix": filter_prefix }));
    m.insert("destination".into(), destination);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        InventoryDestination, InventoryEncryption, InventoryFormat, InventoryFrequency,
        InventoryIncludedObjectVersions, InventoryOptionalField, InventoryS3BucketDestination,
        InventorySchedule, Sses3,
    };

    pub(crate) fn recorded(id: &str, frequency: InventoryFrequency) -> InventoryConfiguration {
        InventoryConfiguration::builder()
            .id(id)
            .is_enabled(true)
            .included_object_versions(InventoryIncludedObjectVersions::Current)
            .optional_fields(InventoryOptionalField::Size)
            .optional_fields(InventoryOptionalField::ETag)
            .schedule(
                InventorySchedule::builder()
                    .frequency(frequency)
                    .build()
                    .unwrap(),
            )
            .destination(
                InventoryDestination::builder()
                    .s3_bucket_destination(
                        InventoryS3BucketDestination::builder()
                            .bucket("arn:aws:s3:::reports")
                            .format(InventoryFormat::Csv)
                            .encryption(
                                InventoryEncryption::builder()
                                    .sses3(Sses3::builder().build())
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap()
    }

    /// The state of a provider-v5 `aws_s3_bucket_inventory` (no filter,
    /// fields in another order) and the recorded listing entry agree.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = StateResource {
            address: "aws_s3_bucket_inventory.i".into(),
            rtype: NAME.into(),
            id: "b1:daily".into(),
            attrs: json!({"id": "b1:daily", "bucket": "b1", "name": "daily", "enabled": true,
                "included_object_versions": "Current", "optional_fields": ["ETag", "Size"],
                "schedule": [{"frequency": "Daily"}], "filter": [],
                "destination": [{"bucket": [{"bucket_arn": "arn:aws:s3:::reports", "format": "CSV",
                    "account_id": "", "prefix": "", "encryption": [{"sse_kms": [], "sse_s3": [{}]}]}]}]})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(&recorded("daily", InventoryFrequency::Daily)));
        assert_ne!(d, live(&recorded("daily", InventoryFrequency::Weekly)));
        assert_eq!((TYPE.info.live_id)(&s), "b1:daily");
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
