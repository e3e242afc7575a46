//! `aws_s3_bucket_website_configuration`: `GetBucketWebsite` per bucket
//! (declared here, made by the S3 service with the bucket's other reads);
//! `NoSuchWebsiteConfiguration` means the bucket has none (missing). Not
//! discoverable; no reconciler call.
//!
//! Normalizers: routing rules are compared parsed, in API form
//! (`{"Condition": {..}, "Redirect": {..}}`), never as the JSON string: the
//! state's `routing_rules` string when set, else its `routing_rule` blocks;
//! empty strings, nulls and empty objects dropped, codes as strings. Their
//! order is kept (S3 applies the first match). Computed `website_endpoint`
//! and `website_domain` are not compared.

use aws_sdk_s3::operation::get_bucket_website::GetBucketWebsiteOutput;
use aws_sdk_s3::types::RoutingRule;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{first_block, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_website_configuration";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("index_document", Shape::Block, true, Fix::No),
            AttrSpec::new("error_document", Shape::Block, true, Fix::No),
            AttrSpec::new("redirect_all_requests_to", Shape::Block, true, Fix::No),
            AttrSpec::new("routing_rules", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Website hosting serves the bucket over HTTP and redirects move
        // traffic: every change is critical.
        default_rules: &[DefaultRule {
            name: "s3-website",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketWebsite"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("website"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketWebsite",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client.get_bucket_website().bucket(bucket).send().await;
        Ok(
            match classify(DOC.operation, &["NoSuchWebsiteConfiguration"], r)? {
                Fetch::Present(o) => Fetch::Present(live(&o)),
                Fetch::Absent => Fetch::Absent,
                Fetch::Gone => Fetch::Gone,
            },
        )
    })
}

/// Drop empty strings, nulls and empty objects/arrays; numbers become
/// strings (the API's codes are strings).
fn prune(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) => Some(Value::String(n.to_string())),
        Value::Object(m) => {
            let o: Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                .collect();
            (!o.is_empty()).then_some(Value::Object(o))
        }
        Value::Array(a) => {
            let a: Vec<Value> = a.iter().filter_map(prune).collect();
            (!a.is_empty()).then_some(Value::Array(a))
        }
        other => Some(other.clone()),
    }
}

fn rules_value(rules: Vec<Value>) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| prune(r).unwrap_or_else(|| json!({})))
            .collect(),
    )
}

/// `routing_rule` blocks (snake_case) in API form.
fn rules_from_blocks(blocks: &[Value]) -> Vec<Value> {
    let pascal = |m: Option<&Map<String, Value>>, keys: &[(&str, &str)]| {
        let mut o = Map::new();
        if let Some(m) = m {
            for (snake, api) in keys {
                if let Some(v) = m.get(*snake) {
                    o.insert((*api).into(), v.clone());
                }
            }
        }
        Value::Object(o)
    };
    blocks
        .iter()
        .filter_map(Value::as_object)
        .map(|b| {
            json!({
                "Condition": pascal(first_block(b, "condition"), &[
                    ("http_error_code_returned_equals", "HttpErrorCodeReturnedEquals"),
                    ("key_prefix_equals", "KeyPrefixEquals"),
                ]),
                "Redirect": pascal(first_block(b, "redirect"), &[
                    ("host_name", "HostName"),
                    ("http_redirect_code", "HttpRedirectCode"),
                    ("protocol", "Protocol"),
                    ("replace_key_prefix_with", "ReplaceKeyPrefixWith"),
                    ("replace_key_with", "ReplaceKeyWith"),
                ]),
            })
        })
        .collect()
}

/// Canonical desired attributes.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let sub =
        |block: &str, key: &str| string_or_empty(first_block(a, block).and_then(|b| b.get(key)));
    let parsed = a
        .get("routing_rules")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    let rules = match parsed {
        Some(Value::Array(rules)) => rules,
        _ => match a.get("routing_rule") {
            Some(Value::Array(b)) => rules_from_blocks(b),
            _ => Vec::new(),
        },
    };
    canonical(
        sub("index_document", "suffix"),
        sub("error_document", "key"),
        sub("redirect_all_requests_to", "host_name"),
        sub("redirect_all_requests_to", "protocol"),
        rules_value(rules),
    )
}

fn rule_json(r: &RoutingRule) -> Value {
    let c = r.condition();
    let d = r.redirect();
    json!({
        "Condition": {
            "HttpErrorCodeReturnedEquals": c.and_then(|c| c.http_error_code_returned_equals()),
            "KeyPrefixEquals": c.and_then(|c| c.key_prefix_equals()),
        },
        "Redirect": {
            "HostName": d.and_then(|d| d.host_name()),
            "HttpRedirectCode": d.and_then(|d| d.http_redirect_code()),
            "Protocol": d.and_then(|d| d.protocol()).map(|p| p.as_str()),
            "ReplaceKeyPrefixWith": d.and_then(|d| d.replace_key_prefix_with()),
            "ReplaceKeyWith": d.and_then(|d| d.replace_key_with()),
        },
    })
}

/// Canonical live attributes from a GetBucketWebsite answer.
pub fn live(o: &GetBucketWebsiteOutput) -> Attrs {
    let redirect = o.redirect_all_requests_to();
    canonical(
        json!(o.index_document().map(|d| d.suffix()).unwrap_or_default()),
        json!(o.error_document().map(|d| d.key()).unwrap_or_default()),
        json!(redirect.map(|r| r.host_name()).unwrap_or_default()),
        json!(redirect
            .and_then(|r| r.protocol())
            .map(|p| p.as_str())
            .unwrap_or_default()),
        rules_value(o.routing_rules().iter().map(rule_json).collect()),
    )
}

fn canonical(suffix: Value, key: Value, host: Value, protocol: Value, rules: Value) -> Attrs {
    let mut m = Map::new();
    m.insert("index_document".into(), json!({ "suffix": suffix }));
    m.insert("error_document".into(), json!({ "key": key }));
    m.insert(
        "redirect_all_requests_to".into(),
        json!({ "host_name": host, "protocol": protocol }),
    );
    m.insert("routing_rules".into(), rules);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{Condition, ErrorDocument, IndexDocument, Redirect};

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_s3_bucket_website_configuration.w".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    fn recorded(prefix: &str) -> GetBucketWebsiteOutput {
        GetBucketWebsiteOutput::builder()
            .index_document(
                IndexDocument::builder()
                    .suffix("index.html")
                    .build()
                    .unwrap(),
            )
            .error_document(ErrorDocument::builder().key("error.html").build().unwrap())
            .routing_rules(
                RoutingRule::builder()
                    .condition(Condition::builder().key_prefix_equals(prefix).build())
                    .redirect(
                        Redirect::builder()
                            .replace_key_prefix_with("documents/")
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    /// The state the provider-v5 Read writes (blocks and the JSON string,
    /// with other key order and spacing) and the recorded GetBucketWebsite
    /// answer for the same bucket.
    #[test]
    fn state_and_recorded_answer_agree() {
        let s = state(json!({
            "id": "b1", "bucket": "b1", "expected_bucket_owner": "",
            "index_document": [{"suffix": "index.html"}],
            "error_document": [{"key": "error.html"}],
            "redirect_all_requests_to": [],
            "routing_rule": [{"condition": [{"http_error_code_returned_equals": "", "key_prefix_equals": "docs/"}],
                              "redirect": [{"host_name": "", "http_redirect_code": "", "protocol": "",
                                            "replace_key_prefix_with": "documents/", "replace_key_with": ""}]}],
            "routing_rules": "[{\"Redirect\": {\"ReplaceKeyPrefixWith\": \"documents/\"}, \"Condition\": {\"KeyPrefixEquals\": \"docs/\"}}]",
            "website_domain": "s3-website-us-east-1.amazonaws.com",
            "website_endpoint": "b1.s3-website-us-east-1.amazonaws.com"
        }));
        let ctx = ProjectContext::default();
        let d = project(&s, &ctx);
        assert_eq!(d, live(&recorded("docs/")));
        assert_eq!(
            d["routing_rules"],
            json!([{"Condition": {"KeyPrefixEquals": "docs/"},
                    "Redirect": {"ReplaceKeyPrefixWith": "documents/"}}])
        );
        // The blocks alone (no JSON string) project the same.
        let mut only_blocks = s.clone();
        only_blocks
            .attrs
            .insert("routing_rules".into(), Value::Null);
        assert_eq!(project(&only_blocks, &ctx), d);
        assert_ne!(d, live(&recorded("img/")));
        assert_eq!((TYPE.info.live_id)(&s), "b1");
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
