//! Named normalizers: pure functions that remove false drift.
//!
//! Why: most "drift" a naive comparison finds is not drift at all: tag maps
//! that include AWS-reserved keys, `tags` versus `tags_all`, protocol `-1`
//! versus `all`, a policy document with its keys in another order, a `null`
//! that means the same as `""`. Each normalizer here removes one such class,
//! has a name that says which, and a test that shows the false drift it
//! removes. Both sides (state and live) go through the same functions.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// `tags_all` (provider default tags merged in) when the state has it, else
/// `tags`; `null` means no tags. Live tags include default tags, so comparing
/// against `tags` alone would report every default tag as drift.
pub fn effective_tags(attrs: &Map<String, Value>) -> Value {
    for key in ["tags_all", "tags"] {
        if let Some(Value::Object(m)) = attrs.get(key) {
            if key == "tags_all" && m.is_empty() && attrs.get("tags").is_some_and(non_empty_map) {
                continue;
            }
            return Value::Object(strip_aws_reserved_tags(m.clone()));
        }
    }
    Value::Object(Map::new())
}

fn non_empty_map(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty())
}

/// Tags whose key starts with `aws:` are set by AWS services (CloudFormation,
/// Auto Scaling) and cannot be set by users: never drift.
pub fn strip_aws_reserved_tags(mut tags: Map<String, Value>) -> Map<String, Value> {
    tags.retain(|k, _| !k.starts_with("aws:"));
    tags
}

/// Build a tag map from AWS key/value pairs, through [`strip_aws_reserved_tags`].
pub fn tags_from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let map: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    Value::Object(strip_aws_reserved_tags(map))
}

/// A string attribute where `null` and `""` mean the same thing ("not set").
pub fn string_or_empty(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        Some(Value::Bool(b)) => Value::String(b.to_string()),
        _ => Value::String(String::new()),
    }
}

/// A list that Terraform models as a set: sorted, deduplicated strings.
pub fn string_set<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    let set: BTreeSet<&str> = items.into_iter().filter(|s| !s.is_empty()).collect();
    Value::Array(
        set.into_iter()
            .map(|s| Value::String(s.to_string()))
            .collect(),
    )
}

/// Strings of a JSON array attribute (non-strings skipped).
pub fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The first element of a nested block list (`[{...}]`), Terraform's encoding
/// of a single nested block.
pub fn first_block<'a>(attrs: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    match attrs.get(key) {
        Some(Value::Array(a)) => a.first().and_then(Value::as_object),
        Some(Value::Object(o)) => Some(o),
        _ => None,
    }
}

/// A boolean that state may hold as a bool or a string.
pub fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// An integer that state may hold as a number or a string.
pub fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// IP protocol names: `-1` and `all` are the same, and AWS accepts numbers for
/// the common protocols but answers with names.
pub fn ip_protocol(p: &str) -> String {
    match p.trim().to_ascii_lowercase().as_str() {
        "-1" | "all" | "" => "all".into(),
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        other => other.into(),
    }
}

/// The kind of source or destination of one security group rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Cidr,
    Ipv6,
    PrefixList,
    Group,
}

/// One exploded security group rule: protocol, ports and one peer. Terraform
/// blocks and AWS permissions both group several peers under one
/// protocol/port pair, in different ways; exploding both into atoms is what
/// lets rules be compared as a set, independent of grouping and order.
pub fn rule_key(
    protocol: &str,
    from: Option<i64>,
    to: Option<i64>,
    peer: Peer,
    value: &str,
) -> String {
    let proto = ip_protocol(protocol);
    let ports = if proto == "all" {
        "*".to_string()
    } else {
        format!("{}-{}", from.unwrap_or(-1), to.unwrap_or(-1))
    };
    let (kind, value) = match peer {
        Peer::Cidr => ("cidr", value),
        Peer::Ipv6 => ("ipv6", value),
        Peer::PrefixList => ("pl", value),
        Peer::Group => ("sg", group_ref(value)),
    };
    format!("{proto}:{ports}:{kind}:{value}")
}

/// A security group reference may carry its owner (`123456789012/sg-1`): the
/// group id alone identifies it.
pub fn group_ref(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

/// The instance profile name from its ARN (`arn:aws:iam::1:instance-profile/path/name`).
/// Terraform stores the name; EC2 answers with the ARN.
pub fn instance_profile_name(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

/// The region field of an ARN (`arn:aws:ec2:us-east-1:...`), if any.
pub fn arn_region(arn: &str) -> Option<String> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let region = parts.nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn default_tags_in_tags_all_are_not_drift() {
        // Provider default_tags appear in tags_all (and live) but not in tags.
        let a = obj(json!({"tags": {"Name": "web"}, "tags_all": {"Name": "web", "Team": "core"}}));
        assert_eq!(effective_tags(&a), json!({"Name": "web", "Team": "core"}));
    }

    #[test]
    fn old_state_without_tags_all_uses_tags() {
        let a = obj(json!({"tags": {"Name": "web"}}));
        assert_eq!(effective_tags(&a), json!({"Name": "web"}));
        let a = obj(json!({"tags": null}));
        assert_eq!(effective_tags(&a), json!({}));
    }

    #[test]
    fn aws_reserved_tags_are_not_drift() {
        let t = tags_from_pairs([("Name", "a"), ("aws:cloudformation:stack-name", "x")]);
        assert_eq!(t, json!({"Name": "a"}));
    }

    #[test]
    fn null_and_empty_string_are_equal() {
        assert_eq!(string_or_empty(None), string_or_empty(Some(&json!(""))));
        assert_eq!(string_or_empty(Some(&Value::Null)), json!(""));
    }

    #[test]
    fn sets_ignore_order_and_duplicates() {
        assert_eq!(string_set(["b", "a", "b"]), string_set(["a", "b"]));
    }

    #[test]
    fn protocol_aliases() {
        assert_eq!(ip_protocol("-1"), "all");
        assert_eq!(ip_protocol("6"), "tcp");
        assert_eq!(ip_protocol("TCP"), "tcp");
        // Ports of an all-protocol rule are meaningless (state says 0-0, AWS says none).
        assert_eq!(
            rule_key("-1", Some(0), Some(0), Peer::Cidr, "0.0.0.0/0"),
            rule_key("all", None, None, Peer::Cidr, "0.0.0.0/0")
        );
    }

    #[test]
    fn cidrs_are_kept_whole() {
        // Regression: two /8 sources on one port must not collapse into one key.
        assert_ne!(
            rule_key("tcp", Some(80), Some(80), Peer::Cidr, "10.0.0.0/8"),
            rule_key("tcp", Some(80), Some(80), Peer::Cidr, "11.0.0.0/8")
        );
        assert_eq!(
            rule_key("tcp", Some(80), Some(80), Peer::Ipv6, "::/0"),
            "tcp:80-80:ipv6:::/0"
        );
    }

    #[test]
    fn group_owner_prefix_is_ignored() {
        assert_eq!(
            rule_key("tcp", Some(1), Some(2), Peer::Group, "123456789012/sg-1"),
            "tcp:1-2:sg:sg-1"
        );
    }

    #[test]
    fn instance_profile_arn_to_name() {
        assert_eq!(
            instance_profile_name("arn:aws:iam::1:instance-profile/a/b/web"),
            "web"
        );
    }

    #[test]
    fn arn_region_parsing() {
        assert_eq!(
            arn_region("arn:aws:ec2:eu-west-1:1:instance/i-1").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_region("nope"), None);
    }
}
