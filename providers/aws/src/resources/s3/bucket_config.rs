//! Shared by the per-configuration S3 types (inventory, analytics, metrics,
//! intelligent tiering): their id `bucket:name` and their filter, flattened.

use aws_sdk_s3::types::Tag;
use driftd_core::StateResource;
use serde_json::{json, Map, Value};

use super::bucket_name;
use crate::normalize::{first_block, string_or_empty};

/// `bucket:name`, the provider's id (from `bucket` and `name`, else the id).
pub fn config_id(r: &StateResource) -> String {
    match r.attrs.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => format!("{}:{n}", bucket_name(r)),
        _ => r.id.clone(),
    }
}

/// The state's `filter:[{prefix, tags, access_point}]` as
/// `{prefix, tags, access_point}` (no filter: `""`, `{}`, `""`).
pub fn state_filter(attrs: &Map<String, Value>) -> Value {
    let f = first_block(attrs, "filter");
    let tags = match f.and_then(|f| f.get("tags")) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    json!({
        "prefix": string_or_empty(f.and_then(|f| f.get("prefix"))),
        "tags": tags,
        "access_point": string_or_empty(f.and_then(|f| f.get("access_point"))),
    })
}

/// A live filter (`Prefix`, one `Tag`, or `And{Prefix, Tags}`) in the
/// [`state_filter`] form: the provider flattens a single tag into the map.
pub fn live_filter<'a>(
    prefix: Option<&str>,
    tags: impl IntoIterator<Item = &'a Tag>,
    access_point: Option<&str>,
) -> Value {
    let tags: Map<String, Value> = tags
        .into_iter()
        .map(|t| (t.key().to_string(), json!(t.value())))
        .collect();
    json!({
        "prefix": prefix.unwrap_or_default(),
        "tags": tags,
        "access_point": access_point.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_filters() {
        let r = StateResource {
            address: "x.y".into(),
            rtype: "aws_s3_bucket_metric".into(),
            id: "b1:m1".into(),
            attrs: json!({"bucket": "b1", "name": "m1", "filter": []})
                .as_object()
                .unwrap()
                .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        assert_eq!(config_id(&r), "b1:m1");
        assert_eq!(state_filter(&r.attrs), live_filter(None, [], None));
        let t = Tag::builder().key("k").value("v").build().unwrap();
        let s = json!({"filter": [{"prefix": "p/", "tags": {"k": "v"}}]});
        assert_eq!(
            state_filter(s.as_object().unwrap()),
            live_filter(Some("p/"), [&t], None)
        );
    }
}
