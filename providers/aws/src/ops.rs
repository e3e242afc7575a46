//! Typed reconcile calls: one variant per AWS API call driftd makes.
//!
//! The engine sees a provider-agnostic [`Action`] (`operation` string and
//! `params` JSON) for dry-run output, reports and the audit log. The AWS
//! provider plans [`Op`] values and turns them into that pair with
//! [`Op::into_parts`]; `apply` turns an `Action` back with
//! `Op::try_from(&Action)` and matches on the enum. The serialised params are
//! the API's own parameter names (`Resources`, `Tags`, `Bucket`, `TagSet`...),
//! byte for byte what driftd printed and logged before the enum existed (see
//! the table test in `reconcile.rs`).

use driftd_core::Action;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One AWS API call, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "operation", content = "params")]
pub enum Op {
    #[serde(rename = "ec2:CreateTags")]
    CreateTags(CreateTags),
    #[serde(rename = "ec2:DeleteTags")]
    DeleteTags(DeleteTags),
    #[serde(rename = "ec2:MonitorInstances")]
    MonitorInstances(InstanceIds),
    #[serde(rename = "ec2:UnmonitorInstances")]
    UnmonitorInstances(InstanceIds),
    #[serde(rename = "ec2:ModifyInstanceAttribute")]
    ModifyInstanceAttribute(ModifyInstanceAttribute),
    #[serde(rename = "ec2:ModifyInstanceMetadataOptions")]
    ModifyInstanceMetadataOptions(ModifyInstanceMetadataOptions),
    #[serde(rename = "ec2:AuthorizeSecurityGroupIngress")]
    AuthorizeSecurityGroupIngress(GroupPermissions),
    #[serde(rename = "ec2:RevokeSecurityGroupIngress")]
    RevokeSecurityGroupIngress(GroupPermissions),
    #[serde(rename = "ec2:UpdateSecurityGroupRuleDescriptionsIngress")]
    UpdateSecurityGroupRuleDescriptionsIngress(GroupPermissions),
    #[serde(rename = "ec2:AuthorizeSecurityGroupEgress")]
    AuthorizeSecurityGroupEgress(GroupPermissions),
    #[serde(rename = "ec2:RevokeSecurityGroupEgress")]
    RevokeSecurityGroupEgress(GroupPermissions),
    #[serde(rename = "ec2:UpdateSecurityGroupRuleDescriptionsEgress")]
    UpdateSecurityGroupRuleDescriptionsEgress(GroupPermissions),
    #[serde(rename = "s3:PutBucketTagging")]
    PutBucketTagging(PutBucketTagging),
    #[serde(rename = "s3:PutBucketVersioning")]
    PutBucketVersioning(PutBucketVersioning),
    #[serde(rename = "s3:PutBucketEncryption")]
    PutBucketEncryption(PutBucketEncryption),
    #[serde(rename = "s3:PutPublicAccessBlock")]
    PutPublicAccessBlock(PutPublicAccessBlock),
    #[serde(rename = "s3:PutBucketPolicy")]
    PutBucketPolicy(PutBucketPolicy),
}

/// An `Action` whose operation driftd does not make, or whose params do not
/// have that operation's shape. The message names the operation only (never
/// a parameter value: they may be sensitive).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown or malformed operation {operation}: its parameters are not in the shape driftd plans for it")]
pub struct MalformedOp {
    pub operation: String,
}

impl Op {
    /// The `(operation, params)` pair of an [`Action`].
    pub fn into_parts(self) -> (String, Value) {
        // Serialising these plain structs cannot fail (string keys only).
        let mut v = serde_json::to_value(self).unwrap_or_default();
        let operation = match v.get_mut("operation").map(Value::take) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let params = v.get_mut("params").map(Value::take).unwrap_or_default();
        (operation, params)
    }
}

impl TryFrom<&Action> for Op {
    type Error = MalformedOp;

    fn try_from(a: &Action) -> Result<Self, MalformedOp> {
        let mut m = serde_json::Map::new();
        m.insert("operation".into(), Value::String(a.operation.clone()));
        m.insert("params".into(), a.params.clone());
        serde_json::from_value(Value::Object(m)).map_err(|_| MalformedOp {
            operation: a.operation.clone(),
        })
    }
}

/// `ec2:CreateTags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateTags {
    pub resources: Vec<String>,
    pub tags: Vec<Tag>,
}

/// `ec2:DeleteTags` (by key, whatever the value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteTags {
    pub resources: Vec<String>,
    pub tags: Vec<TagKey>,
}

/// A tag (EC2 and S3 share the shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A tag key alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagKey {
    pub key: String,
}

/// `ec2:MonitorInstances` / `ec2:UnmonitorInstances`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InstanceIds {
    pub instance_ids: Vec<String>,
}

/// `{"Value": bool}`, the API's attribute boolean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BoolValue {
    pub value: bool,
}

/// `ec2:ModifyInstanceAttribute`: one attribute a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyInstanceAttribute {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_api_termination: Option<BoolValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_dest_check: Option<BoolValue>,
}

/// `ec2:ModifyInstanceMetadataOptions`: the options it sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyInstanceMetadataOptions {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_tokens: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_put_response_hop_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_metadata_tags: Option<String>,
}

/// The six security group rule calls: a group and its permissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GroupPermissions {
    pub group_id: String,
    pub ip_permissions: Vec<IpPermission>,
}

/// One permission; driftd plans one peer a permission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IpPermission {
    /// `-1` for all protocols.
    pub ip_protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<IpRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_ranges: Vec<Ipv6Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_list_ids: Vec<PrefixListId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_id_group_pairs: Vec<UserIdGroupPair>,
}

/// An IPv4 peer (`Description` may be empty: then none is sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IpRange {
    pub cidr_ip: String,
    pub description: String,
}

/// An IPv6 peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Ipv6Range {
    pub cidr_ipv6: String,
    pub description: String,
}

/// A prefix list peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PrefixListId {
    pub prefix_list_id: String,
    pub description: String,
}

/// A security group peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UserIdGroupPair {
    pub group_id: String,
    pub description: String,
}

/// `s3:PutBucketTagging`: the whole tag set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutBucketTagging {
    pub bucket: String,
    pub tag_set: Vec<Tag>,
}

/// `s3:PutBucketVersioning`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutBucketVersioning {
    pub bucket: String,
    pub versioning_configuration: VersioningConfiguration,
}

/// The versioning document driftd writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VersioningConfiguration {
    pub status: VersioningStatus,
}

/// A bucket's versioning status (a bucket never goes back to unversioned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

/// `s3:PutBucketEncryption`: the whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutBucketEncryption {
    pub bucket: String,
    pub rules: Vec<SseRule>,
}

/// One encryption rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SseRule {
    pub apply_server_side_encryption_by_default: SseByDefault,
    pub bucket_key_enabled: bool,
}

/// The default encryption of new objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SseByDefault {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: String,
    /// Only sent when the state names a key.
    #[serde(
        rename = "KMSMasterKeyID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kms_master_key_id: Option<String>,
}

/// `s3:PutPublicAccessBlock`: all four flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutPublicAccessBlock {
    pub bucket: String,
    pub public_access_block_configuration: PublicAccessBlock,
}

/// The four public access block flags.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub block_public_policy: bool,
    pub ignore_public_acls: bool,
    pub restrict_public_buckets: bool,
}

/// `s3:PutBucketPolicy`: the policy document as JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutBucketPolicy {
    pub bucket: String,
    pub policy: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(operation: &str, params: Value) -> Action {
        Action {
            rtype: "t".into(),
            id: "i".into(),
            attribute: "a".into(),
            operation: operation.into(),
            params,
            before: Value::Null,
            after: Value::Null,
        }
    }

    #[test]
    fn unknown_or_malformed_operations_are_errors_not_panics() {
        for (op, params) in [
            ("ec2:RebootInstances", json!({"InstanceIds": ["i-1"]})),
            ("ec2:CreateTags", json!({"Resources": ["i-1"]})),
            ("ec2:CreateTags", json!({"Resources": "i-1", "Tags": []})),
            (
                "ec2:CreateTags",
                json!({"Resources": ["i-1"], "Tags": [{"Key": "k", "Value": 5}]}),
            ),
            (
                "s3:PutBucketVersioning",
                json!({"Bucket": "b", "VersioningConfiguration": {"Status": "Off"}}),
            ),
            (
                "s3:PutBucketPolicy",
                json!({"Bucket": "b", "Policy": "p", "Extra": 1}),
            ),
            ("s3:PutBucketPolicy", Value::Null),
        ] {
            let e = Op::try_from(&action(op, params)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("unknown or malformed operation {op}: its parameters are not in the shape driftd plans for it")
            );
        }
    }

    #[test]
    fn malformed_params_never_echo_their_values() {
        let a = action(
            "s3:PutBucketTagging",
            json!({"Bucket": "b", "TagSet": [{"Key": "db.password", "Value": 12345}]}),
        );
        let e = Op::try_from(&a).unwrap_err().to_string();
        assert!(!e.contains("12345") && !e.contains("db.password"), "{e}");
    }
}
