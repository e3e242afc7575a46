//! Attribute diff: desired (state, canonical) versus live (canonical).
//!
//! Why generic: all type knowledge lives in the provider's registry (which
//! attributes, which normalizers, which shape: one file per type, see
//! docs/architecture.md); this module only walks two canonical values. The one rule that matters most here: a live attribute
//! that is *absent* was not observed, and is never reported as drift.

pub use driftd_core::AttrDiff;
use driftd_core::Value;
#[cfg(test)]
use driftd_core::{Attrs, Shape};

pub use driftd_core::compare::diff;

/// Render a path the way users write it: `tags.Name`, `tags["Cost Center"]`,
/// `ingress["tcp:22-22:cidr:0.0.0.0/0"]`.
pub fn render_path(path: &[String]) -> String {
    let mut s = String::new();
    for (i, seg) in path.iter().enumerate() {
        let plain = !seg.is_empty()
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            if i > 0 {
                s.push('.');
            }
            s.push_str(seg);
        } else {
            s.push_str(&format!("[{}]", Value::String(seg.clone())));
        }
    }
    s
}

/// Attributes that carry secrets whatever the state says.
pub const ALWAYS_SENSITIVE: &[&str] = &[
    "user_data",
    "user_data_base64",
    "password",
    "secret",
    "private_key",
];

/// Value shown in place of a sensitive one, in every output.
pub const SENSITIVE: &str = "(sensitive)";

/// Is this drift path covered by a sensitive path of the state?
pub fn is_sensitive(path: &[String], sensitive_paths: &[Vec<String>]) -> bool {
    if path
        .first()
        .is_some_and(|p| ALWAYS_SENSITIVE.contains(&p.as_str()))
    {
        return true;
    }
    sensitive_paths.iter().any(|sp| {
        // Index steps of nested blocks (`root_block_device.0.kms_key_id`) do
        // not appear in canonical paths.
        let sp: Vec<&String> = sp.iter().filter(|s| s.parse::<u64>().is_err()).collect();
        sp.iter().zip(path).all(|(a, b)| *a == b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attrs {
        v.as_object().unwrap().clone()
    }

    fn shape(k: &str) -> Shape {
        match k {
            "tags" | "ingress" => Shape::Map,
            "policy" => Shape::Leaf,
            _ => Shape::Block,
        }
    }

    #[test]
    fn equal_is_no_drift() {
        let a = attrs(json!({"instance_type": "t3.micro", "tags": {"a": "1"}}));
        assert!(diff(&a, &a, shape).is_empty());
    }

    #[test]
    fn unobserved_live_attributes_are_never_drift() {
        let d = attrs(
            json!({"instance_type": "t3.micro", "metadata_options": {"http_tokens": "required"}}),
        );
        let l = attrs(json!({"instance_type": "t3.micro"}));
        assert!(diff(&d, &l, shape).is_empty());
    }

    #[test]
    fn maps_report_added_removed_and_changed_keys() {
        let d = attrs(json!({"tags": {"a": "1", "b": "2"}}));
        let l = attrs(json!({"tags": {"a": "9", "c": "3"}}));
        let out = diff(&d, &l, shape);
        let got: Vec<(String, Value, Value)> = out
            .into_iter()
            .map(|x| (render_path(&x.path), x.expected, x.actual))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tags.a".into(), json!("1"), json!("9")),
                ("tags.b".into(), json!("2"), Value::Null),
                ("tags.c".into(), Value::Null, json!("3")),
            ]
        );
    }

    #[test]
    fn blocks_compare_only_declared_keys() {
        let d = attrs(json!({"metadata_options": {"http_tokens": "required"}}));
        let l = attrs(
            json!({"metadata_options": {"http_tokens": "optional", "http_endpoint": "enabled"}}),
        );
        let out = diff(&d, &l, shape);
        assert_eq!(out.len(), 1);
        assert_eq!(render_path(&out[0].path), "metadata_options.http_tokens");
    }

    #[test]
    fn paths_render_like_hcl() {
        let p = |v: &[&str]| render_path(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&["tags", "Cost Center"]), "tags[\"Cost Center\"]");
        assert_eq!(
            p(&["ingress", "tcp:22-22:cidr:0.0.0.0/0"]),
            "ingress[\"tcp:22-22:cidr:0.0.0.0/0\"]"
        );
        assert_eq!(
            p(&["root_block_device", "volume_size"]),
            "root_block_device.volume_size"
        );
    }

    #[test]
    fn sensitive_paths_mask_below_them() {
        let sp = vec![
            vec!["tags".to_string(), "token".to_string()],
            vec!["root_block_device".into(), "0".into(), "kms_key_id".into()],
        ];
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_sensitive(&p(&["tags", "token"]), &sp));
        assert!(!is_sensitive(&p(&["tags", "Name"]), &sp));
        assert!(is_sensitive(&p(&["root_block_device", "kms_key_id"]), &sp));
        assert!(is_sensitive(&p(&["user_data"]), &[]));
    }
}
