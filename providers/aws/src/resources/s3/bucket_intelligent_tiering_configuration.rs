//! `aws_s3_bucket_intelligent_tiering_configuration`: one paginated
//! `ListBucketIntelligentTieringConfigurations` per bucket whose state
//! declares one serves all of them (ids `bucket:name`,
//! `Source::BucketConfigs`); a configuration the answer lacks is missing. Not
//! discoverable (part of a bucket). No reconciler call. Non-critical by
//! default: it moves objects between storage tiers of the same bucket (cost
//! and retrieval latency), never to another place or principal.
//!
//! moto 5.1.22 drops the Put (the listing stays empty): tested with recorded
//! answers here, not against moto.
//!
//! Normalizers: `tiering` is a set (sorted by access tier, days); the filter
//! is flattened to `{prefix, tags}` (one `Tag` or `And.Tags`, as the provider
//! does); status defaults to `Enabled`.

use aws_sdk_s3::types::IntelligentTieringConfiguration;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_config::{config_id, live_filter, state_filter};
use crate::normalize::{as_i64, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{list_configs, BucketConfigs, Configs, Fetch};

pub const NAME: &str = "aws_s3_bucket_intelligent_tiering_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("status", Shape::Block, true, Fix::No),
            AttrSpec::new("filter", Shape::Block, true, Fix::No),
            AttrSpec::new("tiering", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "s3-intelligent-tiering",
            attributes: &[],
            kinds: &[],
            critical: false,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetIntelligentTieringConfiguration"],
        write_actions: &[],
        project,
        live_id: config_id,
    },
    source: Source::BucketConfigs { list: &LIST },
    plan: None,
};

static LIST: BucketConfigs = BucketConfigs {
    operation: "ListBucketIntelligentTieringConfigurations",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Configs>, String>> {
    Box::pin(list_configs(
        LIST.operation,
        &["NoSuchConfiguration"],
        move |token| {
            client
                .list_bucket_intelligent_tiering_configurations()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
        },
        |page, out| {
            for c in page.intelligent_tiering_configuration_list() {
                out.insert(c.id().to_string(), live(c));
            }
            (
                page.is_truncated(),
                page.next_continuation_token().map(str::to_string),
            )
        },
    ))
}

fn tierings(mut v: Vec<(String, i64)>) -> Value {
    v.sort();
    v.dedup();
    Value::Array(
        v.into_iter()
            .map(|(t, d)| json!({"access_tier": t, "days": d}))
            .collect(),
    )
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let t = match a.get("tiering") {
        Some(Value::Array(v)) => v
            .iter()
            .filter_map(Value::as_object)
            .map(|t| {
                (
                    string_or_empty(t.get("access_tier"))
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    as_i64(t.get("days")).unwrap_or(0),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let status = match string_or_empty(a.get("status")) {
        Value::String(s) if s.is_empty() => json!("Enabled"),
        v => v,
    };
    canonical(status, state_filter(a), tierings(t))
}

/// Canonical live attributes of one listed configuration.
pub fn live(c: &IntelligentTieringConfiguration) -> Attrs {
    let f = c.filter();
    let and = f.and_then(|f| f.and());
    let prefix = f.and_then(|f| f.prefix()).or(and.and_then(|a| a.prefix()));
    let tags = f
        .and_then(|f| f.tag())
        .into_iter()
        .chain(and.map(|a| a.tags()).unwrap_or_default());
    let t = c
        .tierings()
        .iter()
        .map(|t| (t.access_tier().as_str().to_string(), i64::from(t.days())))
        .collect();
    canonical(
        json!(c.status().as_str()),
        live_filter(prefix, tags, None),
        tierings(t),
    )
}

fn canonical(status: Value, filter: Value, tiering: Value) -> Attrs {
    let mut m = Map::new();
    m.insert("status".into(), status);
    m.insert("filter".into(), filter);
    m.insert("tiering".into(), tiering);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        IntelligentTieringAccessTier, IntelligentTieringAndOperator, IntelligentTieringFilter,
        IntelligentTieringStatus, Tag, Tiering,
    };

    /// A recorded ListBucketIntelligentTieringConfigurations entry (AWS
    /// answers `And` for a prefix with tags).
    fn recorded(days: i32) -> IntelligentTieringConfiguration {
        IntelligentTieringConfiguration::builder()
            .id("archive")
            .status(IntelligentTieringStatus::Enabled)
            .filter(
                IntelligentTieringFilter::builder()
                    .and(
                        IntelligentTieringAndOperator::builder()
                            .prefix("data/")
                            .tags(Tag::builder().key("class").value("cold").build().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .tierings(
                Tiering::builder()
                    .access_tier(IntelligentTieringAccessTier::DeepArchiveAccess)
                    .days(180)
                    .build()
                    .unwrap(),
            )
            .tierings(
                Tiering::builder()
                    .access_tier(IntelligentTieringAccessTier::ArchiveAccess)
                    .days(days)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_intelligent_tiering_configuration.t".into(),
            rtype: NAME.into(),
            id: "b1:archive".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(
            json!({"id": "b1:archive", "bucket": "b1", "name": "archive",
            "status": "Enabled", "filter": [{"prefix": "data/", "tags": {"class": "cold"}}],
            "tiering": [{"access_tier": "ARCHIVE_ACCESS", "days": 90},
                        {"access_tier": "DEEP_ARCHIVE_ACCESS", "days": 180}]}),
        );
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(&recorded(90)));
        let other = live(&recorded(125));
        assert_ne!(d["tiering"], other["tiering"]);
        assert_eq!(d["filter"], other["filter"]);
        assert_eq!((TYPE.info.live_id)(&s), "b1:archive");
    }

    /// No filter in state (`[]`) and none in the answer; a single `Tag`.
    #[test]
    fn filters_flatten_like_the_provider() {
        let s = state(
            json!({"bucket": "b1", "name": "all", "status": "Disabled", "filter": [],
            "tiering": [{"access_tier": "ARCHIVE_ACCESS", "days": 90}]}),
        );
        let c = IntelligentTieringConfiguration::builder()
            .id("all")
            .status(IntelligentTieringStatus::Disabled)
            .tierings(
                Tiering::builder()
                    .access_tier(IntelligentTieringAccessTier::ArchiveAccess)
                    .days(90)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(project(&s, &ProjectContext::default()), live(&c));
        let one = IntelligentTieringFilter::builder()
            .tag(Tag::builder().key("k").value("v").build().unwrap())
            .build();
        let c1 = IntelligentTieringConfiguration::builder()
            .id("all")
            .status(IntelligentTieringStatus::Enabled)
            .filter(one)
            .tierings(
                Tiering::builder()
                    .access_tier(IntelligentTieringAccessTier::ArchiveAccess)
                    .days(90)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(live(&c1)["filter"]["tags"], json!({"k": "v"}));
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
