//! S3 grants as set keys, shared by the types that hold them
//! (`aws_s3_bucket_acl` grants, `aws_s3_bucket_logging` target grants): a
//! grant is `type:grantee:permission`, the grantee its id, URI or e-mail,
//! and the display name is never compared.

use aws_sdk_s3::types::Grantee;
use serde_json::{Map, Value};

use crate::normalize::{first_block, string_or_empty};

/// One grant as its set key: `type:grantee:permission`.
pub fn grant_key(kind: &str, id: &str, uri: &str, email: &str, permission: &str) -> String {
    let who = [id, uri, email]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    format!("{kind}:{who}:{permission}")
}

/// The keys of grant blocks as the state holds them (`grantee` block with
/// `type`, `id`, `uri`, `email_address`; `permission`).
pub fn state_grant_keys(blocks: Option<&Value>) -> Vec<String> {
    let s = |m: &Map<String, Value>, k: &str| {
        string_or_empty(m.get(k))
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    match blocks {
        Some(Value::Array(g)) => g
            .iter()
            .filter_map(Value::as_object)
            .map(|g| {
                let e = Map::new();
                let who = first_block(g, "grantee").unwrap_or(&e);
                grant_key(
                    &s(who, "type"),
                    &s(who, "id"),
                    &s(who, "uri"),
                    &s(who, "email_address"),
                    &s(g, "permission"),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The key of a grant in an API answer.
pub fn live_grant_key(who: Option<&Grantee>, permission: &str) -> String {
    grant_key(
        who.map(|w| w.r#type().as_str()).unwrap_or_default(),
        who.and_then(|w| w.id()).unwrap_or_default(),
        who.and_then(|w| w.uri()).unwrap_or_default(),
        who.and_then(|w| w.email_address()).unwrap_or_default(),
        permission,
    )
}
