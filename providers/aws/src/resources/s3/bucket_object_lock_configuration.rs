//! `aws_s3_bucket_object_lock_configuration`: `GetObjectLockConfiguration` per
//! bucket (declared here, made by the S3 service with the bucket's other
//! reads); `ObjectLockConfigurationNotFoundError` means the bucket has none
//! (missing). Not discoverable (part of a bucket). No reconciler call:
//! raising retention or setting COMPLIANCE cannot be undone for the objects
//! written meanwhile.
//!
//! Normalizers: `rule = []` (no default retention) and an answer without
//! `Rule` are the same; `days`/`years` unset are `0` (the provider writes 0,
//! and moto echoes `Years: 0` next to `Days`); `token` is Terraform-only.

use aws_sdk_s3::types::ObjectLockConfiguration;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{as_i64, first_block, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_object_lock_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("object_lock_enabled", Shape::Block, true, Fix::No),
            AttrSpec::new("rule", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Critical: a shortened retention or COMPLIANCE -> GOVERNANCE lets
        // objects be deleted that policy says must be kept.
        default_rules: &[DefaultRule {
            name: "s3-object-lock",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketObjectLockConfiguration"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("object_lock_configuration"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetObjectLockConfiguration",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await;
        Ok(
            match classify(DOC.operation, &["ObjectLockConfigurationNotFoundError"], r)? {
                Fetch::Present(o) => Fetch::Present(live(o.object_lock_configuration())),
                Fetch::Absent => Fetch::Absent,
                Fetch::Gone => Fetch::Gone,
            },
        )
    })
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let ret = first_block(&r.attrs, "rule").and_then(|b| first_block(b, "default_retention"));
    let enabled = match string_or_empty(r.attrs.get("object_lock_enabled")) {
        Value::String(s) if s.is_empty() => json!("Enabled"),
        v => v,
    };
    canonical(
        enabled,
        string_or_empty(ret.and_then(|d| d.get("mode"))),
        ret.and_then(|d| as_i64(d.get("days"))).unwrap_or(0),
        ret.and_then(|d| as_i64(d.get("years"))).unwrap_or(0),
    )
}

/// Canonical live attributes from a GetObjectLockConfiguration answer.
pub fn live(c: Option<&ObjectLockConfiguration>) -> Attrs {
    let d = c.and_then(|c| c.rule()).and_then(|r| r.default_retention());
    canonical(
        json!(c
            .and_then(|c| c.object_lock_enabled())
            .map(|e| e.as_str())
            .unwrap_or_default()),
        json!(d
            .and_then(|d| d.mode())
            .map(|m| m.as_str())
            .unwrap_or_default()),
        d.and_then(|d| d.days()).unwrap_or(0).into(),
        d.and_then(|d| d.years()).unwrap_or(0).into(),
    )
}

fn canonical(enabled: Value, mode: Value, days: i64, years: i64) -> Attrs {
    let mut m = Map::new();
    m.insert("object_lock_enabled".into(), enabled);
    m.insert(
        "rule".into(),
        json!({"default_retention": {"mode": mode, "days": days, "years": years}}),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    };

    fn recorded(mode: ObjectLockRetentionMode, days: i32) -> ObjectLockConfiguration {
        ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .rule(
                ObjectLockRule::builder()
                    .default_retention(
                        DefaultRetention::builder()
                            .mode(mode)
                            .days(days)
                            .years(0)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    /// The state of a provider-v5 `aws_s3_bucket_object_lock_configuration`
    /// and the recorded GetObjectLockConfiguration answer (moto's, with its
    /// `Years: 0` echo) for the same bucket.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = StateResource {
            address: "aws_s3_bucket_object_lock_configuration.l".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"id": "b1", "bucket": "b1", "expected_bucket_owner": "",
                          "object_lock_enabled": "Enabled", "token": null,
                          "rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 30, "years": 0}]}]})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        assert_eq!(
            d,
            live(Some(&recorded(ObjectLockRetentionMode::Compliance, 30)))
        );
        assert_ne!(
            d,
            live(Some(&recorded(ObjectLockRetentionMode::Governance, 30)))
        );
        assert_ne!(
            d,
            live(Some(&recorded(ObjectLockRetentionMode::Compliance, 1)))
        );
        assert_eq!((TYPE.info.live_id)(&s), "b1");
    }

    /// `rule = []` in state and no `Rule` in the answer are the same.
    #[test]
    fn no_default_retention_either_way() {
        let s = StateResource {
            address: "aws_s3_bucket_object_lock_configuration.l".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"bucket": "b1", "object_lock_enabled": "Enabled", "rule": []})
                .as_object()
                .unwrap()
                .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let c = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .build();
        assert_eq!(project(&s, &ProjectContext::default()), live(Some(&c)));
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
