//! `aws_s3_bucket_cors_configuration`: `GetBucketCors` per bucket (declared
//! here, made by the S3 service with the bucket's other reads);
//! `NoSuchCORSConfiguration` means the bucket has none (missing). Not
//! discoverable; no reconciler call.
//!
//! Normalizers: `cors_rule` is a set (the provider's TypeSet), and so is each
//! list inside a rule (headers, methods, origins, expose headers); an unset
//! `id` is `""`, an unset `max_age_seconds` is 0 (the provider always sends
//! it). Compared whole: any added, removed or changed rule is one change.

use aws_sdk_s3::types::CorsRule;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{as_i64, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_cors_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("cors_rule", Shape::Block, true, Fix::No)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // CORS decides which web origins may read the bucket from a browser:
        // it opens access, so every change is critical.
        default_rules: &[DefaultRule {
            name: "s3-cors",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketCORS"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("cors_rule"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketCors",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client.get_bucket_cors().bucket(bucket).send().await;
        Ok(
            match classify(DOC.operation, &["NoSuchCORSConfiguration"], r)? {
                Fetch::Present(o) => Fetch::Present(live(o.cors_rules())),
                Fetch::Absent => Fetch::Absent,
                Fetch::Gone => Fetch::Gone,
            },
        )
    })
}

fn rule<'a>(
    id: &str,
    headers: impl IntoIterator<Item = &'a str>,
    methods: impl IntoIterator<Item = &'a str>,
    origins: impl IntoIterator<Item = &'a str>,
    expose: impl IntoIterator<Item = &'a str>,
    max_age: i64,
) -> Value {
    json!({
        "id": id,
        "allowed_headers": string_set(headers),
        "allowed_methods": string_set(methods),
        "allowed_origins": string_set(origins),
        "expose_headers": string_set(expose),
        "max_age_seconds": max_age,
    })
}

fn canonical(mut rules: Vec<Value>) -> Attrs {
    rules.sort_by_key(|r| r.to_string());
    rules.dedup();
    let mut m = Map::new();
    m.insert("cors_rule".into(), Value::Array(rules));
    m
}

/// Canonical desired attributes: `cors_rule` as a sorted set.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let rules = match r.attrs.get("cors_rule") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_object)
            .map(|c| {
                rule(
                    string_or_empty(c.get("id")).as_str().unwrap_or_default(),
                    strings(c.get("allowed_headers")),
                    strings(c.get("allowed_methods")),
                    strings(c.get("allowed_origins")),
                    strings(c.get("expose_headers")),
                    as_i64(c.get("max_age_seconds")).unwrap_or(0),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    canonical(rules)
}

/// Canonical live attributes from GetBucketCors's `CORSRules`.
pub fn live(rules: &[CorsRule]) -> Attrs {
    canonical(
        rules
            .iter()
            .map(|c| {
                rule(
                    c.id().unwrap_or_default(),
                    c.allowed_headers().iter().map(String::as_str),
                    c.allowed_methods().iter().map(String::as_str),
                    c.allowed_origins().iter().map(String::as_str),
                    c.expose_headers().iter().map(String::as_str),
                    c.max_age_seconds().map(i64::from).unwrap_or(0),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(methods: &[&str], origins: &[&str], max_age: Option<i32>) -> CorsRule {
        let mut b = CorsRule::builder()
            .set_allowed_methods(Some(methods.iter().map(|s| s.to_string()).collect()))
            .set_allowed_origins(Some(origins.iter().map(|s| s.to_string()).collect()));
        if let Some(m) = max_age {
            b = b.max_age_seconds(m);
        }
        b.build().unwrap()
    }

    /// Provider-v5 state (two rules, lists in another order than AWS's) and
    /// the recorded GetBucketCors answer for the same bucket.
    #[test]
    fn state_and_recorded_answer_agree_in_any_order() {
        let s = StateResource {
            address: "aws_s3_bucket_cors_configuration.c".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"id": "b1", "bucket": "b1", "expected_bucket_owner": "",
                "cors_rule": [
                  {"id": "", "allowed_headers": [], "allowed_methods": ["GET"],
                   "allowed_origins": ["*"], "expose_headers": [], "max_age_seconds": 0},
                  {"id": "", "allowed_headers": ["*"], "allowed_methods": ["POST", "PUT"],
                   "allowed_origins": ["https://b.example", "https://a.example"],
                   "expose_headers": ["ETag"], "max_age_seconds": 3000}]})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let mut put = CorsRule::builder()
            .allowed_headers("*")
            .allowed_methods("PUT")
            .allowed_methods("POST")
            .allowed_origins("https://a.example")
            .allowed_origins("https://b.example")
            .expose_headers("ETag")
            .max_age_seconds(3000);
        put = put.set_id(None);
        let recorded = vec![put.build().unwrap(), cors(&["GET"], &["*"], None)];
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live(&recorded));
        assert_eq!((TYPE.info.live_id)(&s), "b1");
        // Widened origins are a change.
        let wider = vec![recorded[0].clone(), cors(&["GET", "DELETE"], &["*"], None)];
        assert_ne!(d, live(&wider));
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
