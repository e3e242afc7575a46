//! Semantic comparison of IAM policy documents (bucket policies).
//!
//! Why: AWS stores a policy and gives it back re-serialized: keys reordered,
//! whitespace gone, a one-element list turned into a scalar, `{"AWS": "*"}`
//! turned into `"*"`. Comparing text would report all of that as drift. We
//! parse both sides and bring them to one canonical JSON value.

use serde_json::{Map, Value};

/// Keys whose values are sets of strings: scalar and one-element list are equal,
/// order does not matter.
const SET_KEYS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

/// Canonical form of a policy document given as text. Text that is not JSON
/// is returned as a string, so that it is still compared (as text).
pub fn canonical_policy(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => canonical_document(v),
        Err(_) => Value::String(text.to_string()),
    }
}

fn canonical_document(v: Value) -> Value {
    let Value::Object(mut doc) = v else { return v };
    if let Some(stmts) = doc.remove("Statement") {
        let list = match stmts {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut list: Vec<Value> = list.into_iter().map(canonical_statement).collect();
        // Statement order carries no meaning.
        list.sort_by_key(|s| s.to_string());
        doc.insert("Statement".into(), Value::Array(list));
    }
    Value::Object(doc)
}

fn canonical_statement(v: Value) -> Value {
    let Value::Object(stmt) = v else { return v };
    let mut out = Map::new();
    for (k, v) in stmt {
        let v = match k.as_str() {
            "Sid" if v.as_str() == Some("") => continue,
            "Principal" | "NotPrincipal" => canonical_principal(v),
            "Condition" => canonical_condition(v),
            key if SET_KEYS.contains(&key) => string_set(v),
            _ => v,
        };
        out.insert(k, v);
    }
    Value::Object(out)
}

fn canonical_principal(v: Value) -> Value {
    match v {
        // "*" is shorthand for {"AWS": "*"}.
        Value::String(s) if s == "*" => {
            let mut m = Map::new();
            m.insert("AWS".into(), string_set(Value::String(s)));
            Value::Object(m)
        }
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = if k == "AWS" { account_to_root(v) } else { v };
                    (k, string_set(v))
                })
                .collect(),
        ),
        other => other,
    }
}

/// IAM stores a bare account id principal as the account's root ARN.
fn account_to_root(v: Value) -> Value {
    let fix = |s: String| {
        if s.len() == 12 && s.chars().all(|c| c.is_ascii_digit()) {
            format!("arn:aws:iam::{s}:root")
        } else {
            s
        }
    };
    match v {
        Value::String(s) => Value::String(fix(s)),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| match x {
                    Value::String(s) => Value::String(fix(s)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

fn canonical_condition(v: Value) -> Value {
    match v {
        Value::Object(ops) => Value::Object(
            ops.into_iter()
                .map(|(op, keys)| {
                    let keys = match keys {
                        Value::Object(k) => {
                            Value::Object(k.into_iter().map(|(k, v)| (k, string_set(v))).collect())
                        }
                        other => other,
                    };
                    (op, keys)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Scalars and lists of scalars become a sorted, deduplicated list of strings
/// (condition values `true` and `"true"` are the same to IAM).
fn string_set(v: Value) -> Value {
    let items = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut strings: Vec<String> = items
        .into_iter()
        .map(|i| match i {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect();
    strings.sort();
    strings.dedup();
    Value::Array(strings.into_iter().map(Value::String).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_whitespace_and_scalar_lists_are_not_drift() {
        let state = r#"{"Version":"2012-10-17","Statement":[{"Sid":"r","Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/*"}]}"#;
        let live = r#"{
            "Statement": {"Resource": ["arn:aws:s3:::b/*"], "Action": "s3:GetObject",
                          "Principal": "*", "Effect": "Allow", "Sid": "r"},
            "Version": "2012-10-17"
        }"#;
        assert_eq!(canonical_policy(state), canonical_policy(live));
    }

    #[test]
    fn statement_and_action_order_are_not_drift() {
        let a = r#"{"Statement":[{"Effect":"Deny","Action":["b","a"]},{"Effect":"Allow","Action":"c"}]}"#;
        let b = r#"{"Statement":[{"Effect":"Allow","Action":["c"]},{"Effect":"Deny","Action":["a","b"]}]}"#;
        assert_eq!(canonical_policy(a), canonical_policy(b));
    }

    #[test]
    fn condition_value_types_are_not_drift() {
        let a = r#"{"Statement":[{"Effect":"Deny","Condition":{"Bool":{"aws:SecureTransport":false}}}]}"#;
        let b = r#"{"Statement":[{"Effect":"Deny","Condition":{"Bool":{"aws:SecureTransport":["false"]}}}]}"#;
        assert_eq!(canonical_policy(a), canonical_policy(b));
    }

    #[test]
    fn account_id_principal_equals_its_root_arn() {
        let a = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"s3:GetObject"}]}"#;
        let b = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject"}]}"#;
        assert_eq!(canonical_policy(a), canonical_policy(b));
    }

    #[test]
    fn a_real_change_is_drift() {
        let a = r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#;
        let b = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#;
        assert_ne!(canonical_policy(a), canonical_policy(b));
    }

    #[test]
    fn empty_and_invalid_text() {
        assert_eq!(canonical_policy(""), Value::Null);
        assert_eq!(
            canonical_policy("not json"),
            Value::String("not json".into())
        );
    }
}
