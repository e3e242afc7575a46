//! `aws_s3_bucket_lifecycle_configuration`: `GetBucketLifecycleConfiguration`
//! per bucket (declared here, made by the S3 service with the bucket's other
//! reads); `NoSuchLifecycleConfiguration` means the bucket has none
//! (missing). Not discoverable; no reconciler call.
//!
//! Normalizers (provider v5, SDKv2 and framework forms):
//! - rules are matched by `id` (`rule.<id>.…`), never by position; a rule
//!   added or removed shows in `rule_ids`;
//! - the filter: no filter, `filter {}`, `filter { prefix = "" }` and the
//!   legacy top-level `prefix = ""` all mean "whole bucket"; `And` and the
//!   single conditions are merged into one {prefix, tags, sizes} form;
//! - dates compared as the day (`2025-01-01T00:00:00Z` in state, midnight
//!   UTC from the API); `days = 0`, `expired_object_delete_marker = false`,
//!   `null` mean unset;
//! - `transition` and `noncurrent_version_transition` are sets;
//! - `transition_default_minimum_object_size` only when the state has one.

use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput;
use aws_sdk_s3::types::LifecycleRule;
use aws_sdk_s3::Client;
use aws_smithy_types::date_time::Format;
use driftd_core::registry::{AttrSpec, DefaultRule, EditorHint, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{as_bool, as_i64, first_block, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_lifecycle_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("rule", Shape::Block, true, Fix::No),
            AttrSpec::new("rule_ids", Shape::Block, true, Fix::No),
            AttrSpec::new(
                "transition_default_minimum_object_size",
                Shape::Block,
                false,
                Fix::No,
            ),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Transitions only move objects between storage classes (cost);
        // everything else (expirations, status, filters, rules added or
        // removed, the configuration deleted) decides which data S3 deletes
        // or keeps: critical.
        default_rules: &[
            DefaultRule {
                name: "s3-lifecycle-storage-class",
                attributes: &[
                    "rule*.transition",
                    "rule*.noncurrent_version_transition",
                    "rule*.abort_incomplete_multipart_upload*",
                    "transition_default_minimum_object_size",
                ],
                kinds: &[],
                critical: false,
            },
            DefaultRule {
                name: "s3-lifecycle",
                attributes: &[],
                kinds: &[],
                critical: true,
            },
        ],
        editor: &[
            ("rule", EditorHint::KeyedBy(&["id"])),
            (
                "rule_ids",
                EditorHint::Refuse("a lifecycle rule was added or removed live: add or remove its `rule` block by hand"),
            ),
        ],
        import: None,
        read_actions: &["s3:GetLifecycleConfiguration"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("lifecycle_rule"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketLifecycleConfiguration",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await;
        Ok(
            match classify(DOC.operation, &["NoSuchLifecycleConfiguration"], r)? {
                Fetch::Present(o) => Fetch::Present(live(&o)),
                Fetch::Absent => Fetch::Absent,
                Fetch::Gone => Fetch::Gone,
            },
        )
    })
}

/// A date as its day, `YYYY-MM-DD` (`""`: unset).
fn day(s: &str) -> String {
    s.get(..10).unwrap_or(s).to_string()
}

fn sorted(mut v: Vec<Value>) -> Value {
    v.sort_by_key(|x| x.to_string());
    v.dedup();
    Value::Array(v)
}

fn filter(prefix: &str, tags: Map<String, Value>, gt: i64, lt: i64) -> Value {
    json!({"prefix": prefix, "tags": tags, "object_size_greater_than": gt,
           "object_size_less_than": lt})
}

fn expiration(date: &str, days: i64, marker: bool) -> Value {
    json!({"date": day(date), "days": days, "expired_object_delete_marker": marker})
}

fn transition(date: &str, days: i64, class: &str) -> Value {
    json!({"date": day(date), "days": days, "storage_class": class})
}

fn noncurrent(days: i64, newer: i64) -> Value {
    json!({"noncurrent_days": days, "newer_noncurrent_versions": newer})
}

fn noncurrent_transition(days: i64, newer: i64, class: &str) -> Value {
    json!({"noncurrent_days": days, "newer_noncurrent_versions": newer, "storage_class": class})
}

fn canonical(rules: Vec<(String, Value)>, min_size: Option<Value>) -> Attrs {
    let mut ids: Vec<String> = rules.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    let mut m = Map::new();
    m.insert("rule".into(), Value::Object(rules.into_iter().collect()));
    m.insert("rule_ids".into(), json!(ids));
    if let Some(s) = min_size {
        m.insert("transition_default_minimum_object_size".into(), s);
    }
    m
}

fn blocks<'a>(m: &'a Map<String, Value>, key: &str) -> Vec<&'a Map<String, Value>> {
    match m.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    }
}

fn state_rule(r: &Map<String, Value>) -> Value {
    let s = |m: Option<&Map<String, Value>>, k: &str| {
        string_or_empty(m.and_then(|m| m.get(k)))
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let n = |m: Option<&Map<String, Value>>, k: &str| as_i64(m.and_then(|m| m.get(k))).unwrap_or(0);
    let f = first_block(r, "filter");
    let and = f.and_then(|f| first_block(f, "and"));
    let mut tags = Map::new();
    if let Some(t) = f.and_then(|f| first_block(f, "tag")) {
        tags.insert(s(Some(t), "key"), json!(s(Some(t), "value")));
    }
    if let Some(Value::Object(t)) = and.and_then(|a| a.get("tags")) {
        for (k, v) in t {
            tags.insert(k.clone(), string_or_empty(Some(v)));
        }
    }
    let prefix = [s(and, "prefix"), s(f, "prefix"), s(Some(r), "prefix")]
        .into_iter()
        .find(|p| !p.is_empty())
        .unwrap_or_default();
    let gt = n(and, "object_size_greater_than").max(n(f, "object_size_greater_than"));
    let lt = n(and, "object_size_less_than").max(n(f, "object_size_less_than"));
    let e = first_block(r, "expiration");
    let nve = first_block(r, "noncurrent_version_expiration");
    let abort = first_block(r, "abort_incomplete_multipart_upload");
    json!({
        "status": s(Some(r), "status"),
        "filter": filter(&prefix, tags, gt, lt),
        "expiration": expiration(&s(e, "date"), n(e, "days"),
            as_bool(e.and_then(|e| e.get("expired_object_delete_marker"))).unwrap_or(false)),
        "transition": sorted(blocks(r, "transition").into_iter()
            .map(|t| transition(&s(Some(t), "date"), n(Some(t), "days"), &s(Some(t), "storage_class")))
            .collect()),
        "noncurrent_version_expiration": noncurrent(n(nve, "noncurrent_days"),
            n(nve, "newer_noncurrent_versions")),
        "noncurrent_version_transition": sorted(blocks(r, "noncurrent_version_transition").into_iter()
            .map(|t| noncurrent_transition(n(Some(t), "noncurrent_days"),
                n(Some(t), "newer_noncurrent_versions"), &s(Some(t), "storage_class")))
            .collect()),
        "abort_incomplete_multipart_upload": {"days_after_initiation": n(abort, "days_after_initiation")},
    })
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let rules = blocks(&r.attrs, "rule")
        .into_iter()
        .map(|b| {
            (
                string_or_empty(b.get("id"))
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                state_rule(b),
            )
        })
        .collect();
    let min_size = r
        .attrs
        .get("transition_default_minimum_object_size")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| json!(s));
    canonical(rules, min_size)
}

fn date(d: Option<&aws_smithy_types::DateTime>) -> String {
    d.and_then(|d| d.fmt(Format::DateTime).ok())
        .unwrap_or_default()
}

// `Rule.Prefix` is deprecated in the API but still answered for legacy rules.
#[allow(deprecated)]
fn live_rule(r: &LifecycleRule) -> Value {
    let f = r.filter();
    let and = f.and_then(|f| f.and());
    let mut tags = Map::new();
    if let Some(t) = f.and_then(|f| f.tag()) {
        tags.insert(t.key().to_string(), json!(t.value()));
    }
    for t in and.map(|a| a.tags()).unwrap_or_default() {
        tags.insert(t.key().to_string(), json!(t.value()));
    }
    let prefix = [
        and.and_then(|a| a.prefix()),
        f.and_then(|f| f.prefix()),
        r.prefix(),
    ]
    .into_iter()
    .flatten()
    .find(|p| !p.is_empty())
    .unwrap_or_default();
    let gt = and
        .and_then(|a| a.object_size_greater_than())
        .or(f.and_then(|f| f.object_size_greater_than()))
        .unwrap_or(0);
    let lt = and
        .and_then(|a| a.object_size_less_than())
        .or(f.and_then(|f| f.object_size_less_than()))
        .unwrap_or(0);
    let e = r.expiration();
    let nve = r.noncurrent_version_expiration();
    json!({
        "status": r.status().as_str(),
        "filter": filter(prefix, tags, gt, lt),
        "expiration": expiration(&date(e.and_then(|e| e.date())),
            e.and_then(|e| e.days()).map(i64::from).unwrap_or(0),
            e.and_then(|e| e.expired_object_delete_marker()).unwrap_or(false)),
        "transition": sorted(r.transitions().iter()
            .map(|t| transition(&date(t.date()), t.days().map(i64::from).unwrap_or(0),
                t.storage_class().map(|c| c.as_str()).unwrap_or_default()))
            .collect()),
        "noncurrent_version_expiration": noncurrent(
            nve.and_then(|n| n.noncurrent_days()).map(i64::from).unwrap_or(0),
            nve.and_then(|n| n.newer_noncurrent_versions()).map(i64::from).unwrap_or(0)),
        "noncurrent_version_transition": sorted(r.noncurrent_version_transitions().iter()
            .map(|t| noncurrent_transition(t.noncurrent_days().map(i64::from).unwrap_or(0),
                t.newer_noncurrent_versions().map(i64::from).unwrap_or(0),
                t.storage_class().map(|c| c.as_str()).unwrap_or_default()))
            .collect()),
        "abort_incomplete_multipart_upload": {"days_after_initiation":
            r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation())
                .map(i64::from).unwrap_or(0)},
    })
}

/// Canonical live attributes from a GetBucketLifecycleConfiguration answer.
pub fn live(o: &GetBucketLifecycleConfigurationOutput) -> Attrs {
    let rules = o
        .rules()
        .iter()
        .map(|r| (r.id().unwrap_or_default().to_string(), live_rule(r)))
        .collect();
    canonical(
        rules,
        o.transition_default_minimum_object_size()
            .map(|s| json!(s.as_str())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleExpiration, LifecycleRuleFilter,
        Transition, TransitionDefaultMinimumObjectSize, TransitionStorageClass,
    };

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_lifecycle_configuration.l".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    #[allow(deprecated)]
    fn rule(
        id: &str,
        filter: Option<LifecycleRuleFilter>,
        prefix: Option<&str>,
        days: i32,
    ) -> LifecycleRule {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .set_filter(filter)
            .set_prefix(prefix.map(str::to_string))
            .expiration(LifecycleExpiration::builder().days(days).build())
            .build()
            .unwrap()
    }

    /// Provider-v5 state (SDKv2 form: "" and 0 for unset, a rule without a
    /// filter, one with `filter {}` and one with a legacy `prefix`), and the
    /// recorded answer with the rules in another order and dates at
    /// midnight UTC.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(json!({
            "id": "b1", "bucket": "b1", "expected_bucket_owner": "",
            "transition_default_minimum_object_size": "all_storage_classes_128K",
            "rule": [
              {"id": "logs", "status": "Enabled", "prefix": "",
               "filter": [{"prefix": "logs/", "object_size_greater_than": 0, "object_size_less_than": 0,
                           "tag": [], "and": []}],
               "expiration": [{"date": "", "days": 90, "expired_object_delete_marker": false}],
               "transition": [{"date": null, "days": 60, "storage_class": "GLACIER"},
                              {"date": null, "days": 30, "storage_class": "STANDARD_IA"}],
               "noncurrent_version_expiration": [], "noncurrent_version_transition": [],
               "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}]},
              {"id": "all", "status": "Enabled", "prefix": "", "filter": [{"prefix": ""}],
               "expiration": [{"date": "2030-01-01T00:00:00Z", "days": 0, "expired_object_delete_marker": false}],
               "transition": [], "noncurrent_version_expiration": [], "noncurrent_version_transition": [],
               "abort_incomplete_multipart_upload": []},
              {"id": "legacy", "status": "Enabled", "prefix": "tmp/", "filter": [],
               "expiration": [{"days": 1}]}]
        }));
        let logs = LifecycleRule::builder()
            .id("logs")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .expiration(LifecycleExpiration::builder().days(90).build())
            .transitions(
                Transition::builder()
                    .days(30)
                    .storage_class(TransitionStorageClass::StandardIa)
                    .build(),
            )
            .transitions(
                Transition::builder()
                    .days(60)
                    .storage_class(TransitionStorageClass::Glacier)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(7)
                    .build(),
            )
            .build()
            .unwrap();
        let all = LifecycleRule::builder()
            .id("all")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().build())
            .expiration(
                LifecycleExpiration::builder()
                    .date(aws_smithy_types::DateTime::from_secs(1_893_456_000))
                    .build(),
            )
            .build()
            .unwrap();
        let recorded = GetBucketLifecycleConfigurationOutput::builder()
            .rules(rule("legacy", None, Some("tmp/"), 1))
            .rules(all)
            .rules(logs)
            .transition_default_minimum_object_size(
                TransitionDefaultMinimumObjectSize::AllStorageClasses128K,
            )
            .build();
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(&recorded));
        assert_eq!(d["rule_ids"], json!(["all", "legacy", "logs"]));
        assert_eq!(d["rule"]["all"]["expiration"]["date"], json!("2030-01-01"));
        assert_eq!((TYPE.info.live_id)(&s), "b1");
    }

    /// A shorter expiration is a change of that rule only; an extra live
    /// rule shows in `rule_ids`.
    #[test]
    fn a_changed_and_an_added_rule_are_drift() {
        let s = state(json!({"id": "b1", "bucket": "b1", "rule": [
            {"id": "a", "status": "Enabled", "filter": [], "expiration": [{"days": 30}]}]}));
        let d = project(&s, &ProjectContext::default());
        let same = GetBucketLifecycleConfigurationOutput::builder()
            .rules(rule(
                "a",
                Some(LifecycleRuleFilter::builder().prefix("").build()),
                None,
                30,
            ))
            .build();
        assert_eq!(d, live(&same));
        let shorter = GetBucketLifecycleConfigurationOutput::builder()
            .rules(rule("a", None, None, 1))
            .build();
        let l = live(&shorter);
        assert_eq!(l["rule_ids"], d["rule_ids"]);
        assert_ne!(l["rule"], d["rule"]);
        let more = GetBucketLifecycleConfigurationOutput::builder()
            .rules(rule("a", None, None, 30))
            .rules(rule("b", None, None, 1))
            .build();
        assert_ne!(live(&more)["rule_ids"], d["rule_ids"]);
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
