//! Reconcilers: put live EC2 and S3 resources back to their state's values.
//!
//! Why explicit actions (as Cloud Custodian does): every automated change is
//! one named API call with its parameters, planned first as plain data. The
//! engine can then print it (dry-run), budget it, audit it and only then
//! execute it. What cannot change in place (instance type needs a stop, an
//! AMI or subnet a replacement) is refused at planning time, never attempted.
//!
//! The calls are typed ([`crate::ops::Op`], one variant per API call): plans
//! build `Op` values, `apply` and `previous` match on them exhaustively. The
//! engine still sees the provider-agnostic `Action` (operation + params JSON).

use aws_sdk_ec2::types::{
    AttributeBooleanValue, HttpTokensState, InstanceMetadataEndpointState,
    InstanceMetadataTagsState, Tag as Ec2Tag,
};
use aws_sdk_s3::types::{
    BucketVersioningStatus, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag as S3Tag, Tagging, VersioningConfiguration,
};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable, Reconciler};
use serde_json::{json, Value};

use crate::ops::{self, Op};
use crate::schema::*;
use crate::Clients;

/// The AWS reconciler for one scope.
#[derive(Debug, Clone)]
pub struct AwsReconciler {
    pub clients: Clients,
}

/// The one place a planned call becomes an engine [`Action`].
fn action(d: &Desired, attribute: &str, op: Op, before: &Value, after: &Value) -> Action {
    let (operation, params) = op.into_parts();
    Action {
        rtype: d.rtype.clone(),
        id: d.id.clone(),
        attribute: attribute.to_string(),
        operation,
        params,
        before: before.clone(),
        after: after.clone(),
    }
}

fn path_str(p: &[String]) -> String {
    p.join(".")
}

/// A state value of the wrong JSON type for the call that would repair it.
fn wrong_type(d: &Desired, attribute: &str, want: &str, v: &Value) -> NotReconcilable {
    let got = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    NotReconcilable::Other(format!(
        "{} {attribute}: the state value is {got}, the API call needs {want}",
        d.rtype
    ))
}

fn string(d: &Desired, attribute: &str, v: &Value) -> Result<String, NotReconcilable> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| wrong_type(d, attribute, "a string", v))
}

fn boolean(d: &Desired, attribute: &str, v: &Value) -> Result<bool, NotReconcilable> {
    v.as_bool()
        .ok_or_else(|| wrong_type(d, attribute, "a boolean", v))
}

/// A parsed exploded rule key (`tcp:22-22:cidr:0.0.0.0/0`).
#[derive(Debug, PartialEq)]
pub struct RuleKey {
    pub protocol: String,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub kind: String,
    pub value: String,
}

/// Parse a rule key made by `normalize::rule_key`.
pub fn parse_rule_key(key: &str) -> Option<RuleKey> {
    let mut it = key.splitn(4, ':');
    let protocol = it.next()?.to_string();
    let ports = it.next()?;
    let kind = it.next()?.to_string();
    let value = it.next()?.to_string();
    let (from, to) = if ports == "*" {
        (None, None)
    } else {
        // "22-22", "-1--1": the separator is the first '-' after a digit.
        let b = ports.as_bytes();
        let i = (1..b.len()).find(|&i| b[i] == b'-' && b[i - 1].is_ascii_digit())?;
        (
            Some(ports[..i].parse().ok()?),
            Some(ports[i + 1..].parse().ok()?),
        )
    };
    Some(RuleKey {
        protocol,
        from,
        to,
        kind,
        value,
    })
}

fn rule_params(group: &str, key: &RuleKey, description: &str) -> ops::GroupPermissions {
    let protocol = if key.protocol == "all" {
        "-1"
    } else {
        key.protocol.as_str()
    };
    let (from_port, to_port) = match (key.from, key.to) {
        (Some(f), Some(t)) => (Some(f), Some(t)),
        _ => (None, None),
    };
    let mut perm = ops::IpPermission {
        ip_protocol: protocol.to_string(),
        from_port,
        to_port,
        ip_ranges: vec![],
        ipv6_ranges: vec![],
        prefix_list_ids: vec![],
        user_id_group_pairs: vec![],
    };
    let (value, description) = (key.value.clone(), description.to_string());
    match key.kind.as_str() {
        "cidr" => perm.ip_ranges.push(ops::IpRange {
            cidr_ip: value,
            description,
        }),
        "ipv6" => perm.ipv6_ranges.push(ops::Ipv6Range {
            cidr_ipv6: value,
            description,
        }),
        "pl" => perm.prefix_list_ids.push(ops::PrefixListId {
            prefix_list_id: value,
            description,
        }),
        _ => perm.user_id_group_pairs.push(ops::UserIdGroupPair {
            group_id: value,
            description,
        }),
    }
    ops::GroupPermissions {
        group_id: group.to_string(),
        ip_permissions: vec![perm],
    }
}

/// The SDK's permission for a typed one (an empty description is not sent).
fn sdk_permission(p: &ops::IpPermission) -> aws_sdk_ec2::types::IpPermission {
    use aws_sdk_ec2::types::{IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
    let desc = |d: &str| Some(d.to_string()).filter(|d| !d.is_empty());
    let mut b = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol(&p.ip_protocol)
        .set_from_port(p.from_port)
        .set_to_port(p.to_port);
    for r in &p.ip_ranges {
        b = b.ip_ranges(
            IpRange::builder()
                .cidr_ip(&r.cidr_ip)
                .set_description(desc(&r.description))
                .build(),
        );
    }
    for r in &p.ipv6_ranges {
        b = b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(&r.cidr_ipv6)
                .set_description(desc(&r.description))
                .build(),
        );
    }
    for r in &p.prefix_list_ids {
        b = b.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(&r.prefix_list_id)
                .set_description(desc(&r.description))
                .build(),
        );
    }
    for r in &p.user_id_group_pairs {
        b = b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(&r.group_id)
                .set_description(desc(&r.description))
                .build(),
        );
    }
    b.build()
}

fn tag_actions(d: &Desired, diff: &AttrDiff, out: &mut Vec<Action>) -> Result<(), NotReconcilable> {
    let key = diff.path[1].clone();
    let attribute = path_str(&diff.path);
    let op = if diff.expected.is_null() {
        Op::DeleteTags(ops::DeleteTags {
            resources: vec![d.id.clone()],
            tags: vec![ops::TagKey { key }],
        })
    } else {
        Op::CreateTags(ops::CreateTags {
            resources: vec![d.id.clone()],
            tags: vec![ops::Tag {
                key,
                value: string(d, &attribute, &diff.expected)?,
            }],
        })
    };
    out.push(action(d, &attribute, op, &diff.actual, &diff.expected));
    Ok(())
}

fn rule_action(
    d: &Desired,
    group: &str,
    egress: bool,
    diff: &AttrDiff,
) -> Result<Action, NotReconcilable> {
    let key = parse_rule_key(&diff.path[1])
        .ok_or_else(|| NotReconcilable::Other(format!("cannot parse rule {}", diff.path[1])))?;
    let desc = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let op = match (&diff.expected, &diff.actual, egress) {
        (Value::Null, a, false) => {
            Op::RevokeSecurityGroupIngress(rule_params(group, &key, &desc(a)))
        }
        (Value::Null, a, true) => Op::RevokeSecurityGroupEgress(rule_params(group, &key, &desc(a))),
        (e, Value::Null, false) => {
            Op::AuthorizeSecurityGroupIngress(rule_params(group, &key, &desc(e)))
        }
        (e, Value::Null, true) => {
            Op::AuthorizeSecurityGroupEgress(rule_params(group, &key, &desc(e)))
        }
        (e, _, false) => {
            Op::UpdateSecurityGroupRuleDescriptionsIngress(rule_params(group, &key, &desc(e)))
        }
        (e, _, true) => {
            Op::UpdateSecurityGroupRuleDescriptionsEgress(rule_params(group, &key, &desc(e)))
        }
    };
    Ok(action(
        d,
        &path_str(&diff.path),
        op,
        &diff.actual,
        &diff.expected,
    ))
}

fn s3_tags(d: &Desired, diffs: &[AttrDiff], out: &mut Vec<Action>) -> Result<(), NotReconcilable> {
    if diffs.iter().any(|x| x.path[0] == "tags") {
        // PutBucketTagging replaces the whole set: send the state's full set.
        let tags = d.attrs.get("tags").cloned().unwrap_or(json!({}));
        let tag_set = tags
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                Ok(ops::Tag {
                    key: k.clone(),
                    value: string(d, &format!("tags.{k}"), v)?,
                })
            })
            .collect::<Result<_, NotReconcilable>>()?;
        let op = Op::PutBucketTagging(ops::PutBucketTagging {
            bucket: d.id.clone(),
            tag_set,
        });
        out.push(action(d, "tags", op, &Value::Null, &tags));
    }
    Ok(())
}

fn sse_action(d: &Desired, rule: &Value, attribute: &str) -> Result<Action, NotReconcilable> {
    let def = &rule["apply_server_side_encryption_by_default"];
    let kms_master_key_id = def["kms_master_key_id"]
        .as_str()
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let op = Op::PutBucketEncryption(ops::PutBucketEncryption {
        bucket: d.id.clone(),
        rules: vec![ops::SseRule {
            apply_server_side_encryption_by_default: ops::SseByDefault {
                sse_algorithm: string(
                    d,
                    &format!("{attribute}.apply_server_side_encryption_by_default.sse_algorithm"),
                    &def["sse_algorithm"],
                )?,
                kms_master_key_id,
            },
            bucket_key_enabled: boolean(
                d,
                &format!("{attribute}.bucket_key_enabled"),
                &rule["bucket_key_enabled"],
            )?,
        }],
    });
    Ok(action(d, attribute, op, &Value::Null, rule))
}

fn versioning(d: &Desired, status: ops::VersioningStatus) -> Op {
    Op::PutBucketVersioning(ops::PutBucketVersioning {
        bucket: d.id.clone(),
        versioning_configuration: ops::VersioningConfiguration { status },
    })
}

impl AwsReconciler {
    fn plan_instance(
        &self,
        d: &Desired,
        diffs: &[AttrDiff],
    ) -> Result<Vec<Action>, NotReconcilable> {
        let mut out = Vec::new();
        for x in diffs {
            match x.path[0].as_str() {
                "tags" if x.path.len() == 2 => tag_actions(d, x, &mut out)?,
                "monitoring" => {
                    let ids = ops::InstanceIds {
                        instance_ids: vec![d.id.clone()],
                    };
                    let op = if x.expected == json!(true) {
                        Op::MonitorInstances(ids)
                    } else {
                        Op::UnmonitorInstances(ids)
                    };
                    out.push(action(d, "monitoring", op, &x.actual, &x.expected));
                }
                attr @ ("disable_api_termination" | "source_dest_check") => {
                    let value = Some(ops::BoolValue {
                        value: boolean(d, attr, &x.expected)?,
                    });
                    let mut m = ops::ModifyInstanceAttribute {
                        instance_id: d.id.clone(),
                        disable_api_termination: None,
                        source_dest_check: None,
                    };
                    if attr == "source_dest_check" {
                        m.source_dest_check = value;
                    } else {
                        m.disable_api_termination = value;
                    }
                    out.push(action(
                        d,
                        attr,
                        Op::ModifyInstanceAttribute(m),
                        &x.actual,
                        &x.expected,
                    ));
                }
                "metadata_options" if x.path.len() == 2 => {
                    let attribute = path_str(&x.path);
                    let mut m = ops::ModifyInstanceMetadataOptions {
                        instance_id: d.id.clone(),
                        http_tokens: None,
                        http_endpoint: None,
                        http_put_response_hop_limit: None,
                        instance_metadata_tags: None,
                    };
                    match x.path[1].as_str() {
                        "http_tokens" => m.http_tokens = Some(string(d, &attribute, &x.expected)?),
                        "http_endpoint" => {
                            m.http_endpoint = Some(string(d, &attribute, &x.expected)?)
                        }
                        "http_put_response_hop_limit" => {
                            m.http_put_response_hop_limit = Some(
                                x.expected
                                    .as_i64()
                                    .and_then(|n| i32::try_from(n).ok())
                                    .ok_or_else(|| {
                                        wrong_type(d, &attribute, "a whole number", &x.expected)
                                    })?,
                            )
                        }
                        "instance_metadata_tags" => {
                            m.instance_metadata_tags = Some(string(d, &attribute, &x.expected)?)
                        }
                        other => {
                            return Err(NotReconcilable::Unsupported(format!(
                                "metadata_options.{other}"
                            )))
                        }
                    }
                    out.push(action(
                        d,
                        &attribute,
                        Op::ModifyInstanceMetadataOptions(m),
                        &x.actual,
                        &x.expected,
                    ));
                }
                "instance_type" | "ebs_optimized" | "ami" | "subnet_id" | "key_name" => {
                    return Err(NotReconcilable::Disruptive(x.path[0].clone()))
                }
                other => return Err(NotReconcilable::Unsupported(format!("{} {other}", d.rtype))),
            }
        }
        Ok(out)
    }

    fn plan_group(&self, d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
        let mut out = Vec::new();
        for x in diffs {
            match x.path[0].as_str() {
                "tags" if x.path.len() == 2 => tag_actions(d, x, &mut out)?,
                "ingress" | "egress" if x.path.len() == 2 => {
                    out.push(rule_action(d, &d.id, x.path[0] == "egress", x)?)
                }
                "name" | "description" | "vpc_id" => {
                    return Err(NotReconcilable::Disruptive(x.path[0].clone()))
                }
                other => return Err(NotReconcilable::Unsupported(format!("{} {other}", d.rtype))),
            }
        }
        Ok(out)
    }

    fn plan_s3(&self, d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
        let mut out = Vec::new();
        match d.rtype.as_str() {
            AWS_S3_BUCKET => {
                s3_tags(d, diffs, &mut out)?;
                let mut encryption_planned = false;
                for x in diffs.iter().filter(|x| x.path[0] != "tags") {
                    match path_str(&x.path).as_str() {
                        "versioning.enabled" => {
                            let status = if x.expected == json!(true) {
                                ops::VersioningStatus::Enabled
                            } else {
                                ops::VersioningStatus::Suspended
                            };
                            out.push(action(
                                d,
                                "versioning.enabled",
                                versioning(d, status),
                                &x.actual,
                                &x.expected,
                            ));
                        }
                        p if p.starts_with("server_side_encryption_configuration") => {
                            if !encryption_planned {
                                encryption_planned = true;
                                let rule =
                                    d.attrs["server_side_encryption_configuration"]["rule"].clone();
                                out.push(sse_action(
                                    d,
                                    &rule,
                                    "server_side_encryption_configuration",
                                )?);
                            }
                        }
                        "policy" => out.push(action(
                            d,
                            "policy",
                            Op::PutBucketPolicy(ops::PutBucketPolicy {
                                bucket: d.id.clone(),
                                policy: x.expected.to_string(),
                            }),
                            &x.actual,
                            &x.expected,
                        )),
                        other => {
                            return Err(NotReconcilable::Unsupported(format!(
                                "{} {other}",
                                d.rtype
                            )))
                        }
                    }
                }
            }
            AWS_S3_BUCKET_VERSIONING => {
                for x in diffs {
                    let status = match x.expected.as_str() {
                        Some("Enabled") => Some(ops::VersioningStatus::Enabled),
                        Some("Suspended") => Some(ops::VersioningStatus::Suspended),
                        _ => None,
                    };
                    match (path_str(&x.path).as_str(), status) {
                        ("versioning_configuration.status", Some(s)) => out.push(action(
                            d,
                            "versioning_configuration.status",
                            versioning(d, s),
                            &x.actual,
                            &x.expected,
                        )),
                        (p, _) => {
                            return Err(NotReconcilable::Unsupported(format!(
                                "{} {p} to {}",
                                d.rtype, x.expected
                            )))
                        }
                    }
                }
            }
            AWS_S3_BUCKET_SSE if !diffs.is_empty() => {
                out.push(sse_action(
                    d,
                    &d.attrs.get("rule").cloned().unwrap_or(Value::Null),
                    "rule",
                )?);
            }
            AWS_S3_BUCKET_PAB if !diffs.is_empty() => {
                let flag = |i: usize| -> Result<bool, NotReconcilable> {
                    let k = PAB_FIELDS[i];
                    boolean(d, k, d.attrs.get(k).unwrap_or(&Value::Bool(false)))
                };
                let op = Op::PutPublicAccessBlock(ops::PutPublicAccessBlock {
                    bucket: d.id.clone(),
                    public_access_block_configuration: ops::PublicAccessBlock {
                        block_public_acls: flag(0)?,
                        block_public_policy: flag(1)?,
                        ignore_public_acls: flag(2)?,
                        restrict_public_buckets: flag(3)?,
                    },
                });
                out.push(action(
                    d,
                    "public_access_block",
                    op,
                    &Value::Null,
                    &Value::Object(d.attrs.clone()),
                ));
            }
            AWS_S3_BUCKET_POLICY if !diffs.is_empty() => {
                let p = d.attrs.get("policy").cloned().unwrap_or(Value::Null);
                let op = Op::PutBucketPolicy(ops::PutBucketPolicy {
                    bucket: d.id.clone(),
                    policy: p.to_string(),
                });
                out.push(action(d, "policy", op, &Value::Null, &p));
            }
            _ => {}
        }
        Ok(out)
    }
}

/// Error codes meaning "this bucket has no such document" (not a failure).
const NO_DOCUMENT: &[&str] = &[
    "NoSuchTagSet",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchBucketPolicy",
];

/// The whole bucket documents the `Put*` calls replace.
enum Document {
    Tagging,
    Encryption,
    PublicAccessBlock,
    Policy,
    Versioning,
}

impl AwsReconciler {
    /// The whole document an action replaces, read just before the write, in
    /// the call's own parameter shape (so the same call puts it back):
    /// `{"Bucket": .., "TagSet": [..]}`, `{"Bucket": .., "Rules": [..]}`,
    /// `{"Bucket": .., "PublicAccessBlockConfiguration": {..}}`,
    /// `{"Bucket": .., "Policy": ".."}`, `{"Bucket": .., "VersioningConfiguration": {..}}`.
    /// The document is `null` when the bucket had none (undo: the matching
    /// Delete call). `Ok(None)` for actions that change one value (their
    /// `before` is already exact).
    pub async fn previous(&self, a: &Action) -> Result<Option<Value>, String> {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        let s3 = &self.clients.s3;
        // An action that does not parse is reported by `apply`, which fails on it.
        let Ok(op) = Op::try_from(a) else {
            return Ok(None);
        };
        let (bucket, document) = match &op {
            Op::PutBucketTagging(p) => (&p.bucket, Document::Tagging),
            Op::PutBucketEncryption(p) => (&p.bucket, Document::Encryption),
            Op::PutPublicAccessBlock(p) => (&p.bucket, Document::PublicAccessBlock),
            Op::PutBucketPolicy(p) => (&p.bucket, Document::Policy),
            Op::PutBucketVersioning(p) => (&p.bucket, Document::Versioning),
            // One value each: their `before` is already exact.
            Op::CreateTags(_)
            | Op::DeleteTags(_)
            | Op::MonitorInstances(_)
            | Op::UnmonitorInstances(_)
            | Op::ModifyInstanceAttribute(_)
            | Op::ModifyInstanceMetadataOptions(_)
            | Op::AuthorizeSecurityGroupIngress(_)
            | Op::RevokeSecurityGroupIngress(_)
            | Op::UpdateSecurityGroupRuleDescriptionsIngress(_)
            | Op::AuthorizeSecurityGroupEgress(_)
            | Op::RevokeSecurityGroupEgress(_)
            | Op::UpdateSecurityGroupRuleDescriptionsEgress(_) => return Ok(None),
        };
        let fail = |op: &str, e: &(dyn std::error::Error + 'static)| {
            format!(
                "{op} (reading the document {} replaces, for the audit log): {}",
                a.operation,
                crate::errors::describe(e)
            )
        };
        macro_rules! get {
            ($op:literal, $req:expr) => {
                match $req.bucket(bucket).send().await {
                    Ok(o) => Some(o),
                    Err(e) if e.code().is_some_and(|c| NO_DOCUMENT.contains(&c)) => None,
                    Err(e) => return Err(fail($op, &e)),
                }
            };
        }
        let doc = match document {
            Document::Tagging => {
                let set: Vec<Value> = get!("GetBucketTagging", s3.get_bucket_tagging())
                    .map(|o| {
                        o.tag_set()
                            .iter()
                            .map(|t| json!({"Key": t.key(), "Value": t.value()}))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({"TagSet": set})
            }
            Document::Encryption => {
                let rules: Option<Vec<Value>> =
                    get!("GetBucketEncryption", s3.get_bucket_encryption()).and_then(|o| {
                        o.server_side_encryption_configuration().map(|c| {
                            c.rules()
                                .iter()
                                .map(|r| {
                                    let mut by_default = json!({});
                                    if let Some(d) = r.apply_server_side_encryption_by_default() {
                                        by_default["SSEAlgorithm"] =
                                            json!(d.sse_algorithm().as_str());
                                        if let Some(k) = d.kms_master_key_id() {
                                            by_default["KMSMasterKeyID"] = json!(k);
                                        }
                                    }
                                    json!({"ApplyServerSideEncryptionByDefault": by_default,
                                           "BucketKeyEnabled": r.bucket_key_enabled()})
                                })
                                .collect()
                        })
                    });
                json!({ "Rules": rules })
            }
            Document::PublicAccessBlock => {
                let cfg =
                    get!("GetPublicAccessBlock", s3.get_public_access_block()).and_then(|o| {
                        o.public_access_block_configuration().map(|c| {
                            json!({"BlockPublicAcls": c.block_public_acls(),
                               "BlockPublicPolicy": c.block_public_policy(),
                               "IgnorePublicAcls": c.ignore_public_acls(),
                               "RestrictPublicBuckets": c.restrict_public_buckets()})
                        })
                    });
                json!({ "PublicAccessBlockConfiguration": cfg })
            }
            Document::Policy => {
                let p = get!("GetBucketPolicy", s3.get_bucket_policy())
                    .and_then(|o| o.policy().map(str::to_string));
                json!({ "Policy": p })
            }
            Document::Versioning => {
                let mut cfg = json!({});
                if let Some(o) = get!("GetBucketVersioning", s3.get_bucket_versioning()) {
                    if let Some(st) = o.status() {
                        cfg["Status"] = json!(st.as_str());
                    }
                    if let Some(m) = o.mfa_delete() {
                        cfg["MFADelete"] = json!(m.as_str());
                    }
                }
                json!({ "VersioningConfiguration": cfg })
            }
        };
        let mut out = json!({ "Bucket": bucket });
        for (k, v) in doc.as_object().into_iter().flatten() {
            out[k] = v.clone();
        }
        Ok(Some(out))
    }
}

#[async_trait::async_trait]
impl Reconciler for AwsReconciler {
    fn plan(&self, d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
        match d.rtype.as_str() {
            AWS_INSTANCE => self.plan_instance(d, diffs),
            AWS_SECURITY_GROUP => self.plan_group(d, diffs),
            AWS_SECURITY_GROUP_RULE => {
                let group = d
                    .attrs
                    .get("security_group_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let egress = d.attrs.get("type").and_then(Value::as_str) == Some("egress");
                diffs
                    .iter()
                    .map(|x| match x.path[0].as_str() {
                        "rules" if x.path.len() == 2 => rule_action(d, group, egress, x),
                        other => Err(NotReconcilable::Unsupported(format!("{} {other}", d.rtype))),
                    })
                    .collect()
            }
            AWS_S3_BUCKET
            | AWS_S3_BUCKET_VERSIONING
            | AWS_S3_BUCKET_SSE
            | AWS_S3_BUCKET_PAB
            | AWS_S3_BUCKET_POLICY => self.plan_s3(d, diffs),
            other => Err(NotReconcilable::Unsupported(other.to_string())),
        }
    }

    async fn apply(&self, a: &Action) -> Result<(), driftd_core::ReadError> {
        self.call(a).await.map_err(driftd_core::ReadError::classify)
    }
}

impl AwsReconciler {
    /// [`Reconciler::apply`], with the readable message as error.
    async fn call(&self, a: &Action) -> Result<(), String> {
        let (ec2, s3) = (&self.clients.ec2, &self.clients.s3);
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", a.operation);
        let op = Op::try_from(a).map_err(|e| e.to_string())?;
        macro_rules! send {
            ($req:expr) => {
                $req.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| fail(&crate::errors::describe(&e)))
            };
        }
        macro_rules! rules {
            ($builder:ident, $p:expr) => {{
                let p = $p;
                send!(ec2
                    .$builder()
                    .group_id(&p.group_id)
                    .set_ip_permissions(Some(
                        p.ip_permissions.iter().map(sdk_permission).collect()
                    )))
            }};
        }
        match op {
            Op::CreateTags(p) => send!(ec2
                .create_tags()
                .set_resources(Some(p.resources))
                .set_tags(Some(
                    p.tags
                        .into_iter()
                        .map(|t| Ec2Tag::builder().key(t.key).value(t.value).build())
                        .collect()
                ))),
            Op::DeleteTags(p) => send!(ec2
                .delete_tags()
                .set_resources(Some(p.resources))
                .set_tags(Some(
                    p.tags
                        .into_iter()
                        .map(|t| Ec2Tag::builder().key(t.key).build())
                        .collect()
                ))),
            Op::MonitorInstances(p) => send!(ec2
                .monitor_instances()
                .set_instance_ids(Some(p.instance_ids))),
            Op::UnmonitorInstances(p) => send!(ec2
                .unmonitor_instances()
                .set_instance_ids(Some(p.instance_ids))),
            Op::ModifyInstanceAttribute(p) => {
                let b = |v: ops::BoolValue| AttributeBooleanValue::builder().value(v.value).build();
                send!(ec2
                    .modify_instance_attribute()
                    .instance_id(p.instance_id)
                    .set_disable_api_termination(p.disable_api_termination.map(b))
                    .set_source_dest_check(p.source_dest_check.map(b)))
            }
            Op::ModifyInstanceMetadataOptions(p) => send!(ec2
                .modify_instance_metadata_options()
                .instance_id(p.instance_id)
                .set_http_tokens(p.http_tokens.as_deref().map(HttpTokensState::from))
                .set_http_endpoint(
                    p.http_endpoint
                        .as_deref()
                        .map(InstanceMetadataEndpointState::from)
                )
                .set_http_put_response_hop_limit(p.http_put_response_hop_limit)
                .set_instance_metadata_tags(
                    p.instance_metadata_tags
                        .as_deref()
                        .map(InstanceMetadataTagsState::from)
                )),
            Op::AuthorizeSecurityGroupIngress(p) => rules!(authorize_security_group_ingress, p),
            Op::RevokeSecurityGroupIngress(p) => rules!(revoke_security_group_ingress, p),
            Op::UpdateSecurityGroupRuleDescriptionsIngress(p) => {
                rules!(update_security_group_rule_descriptions_ingress, p)
            }
            Op::AuthorizeSecurityGroupEgress(p) => rules!(authorize_security_group_egress, p),
            Op::RevokeSecurityGroupEgress(p) => rules!(revoke_security_group_egress, p),
            Op::UpdateSecurityGroupRuleDescriptionsEgress(p) => {
                rules!(update_security_group_rule_descriptions_egress, p)
            }
            Op::PutBucketTagging(p) => {
                let set: Vec<S3Tag> = p
                    .tag_set
                    .into_iter()
                    .filter_map(|t| S3Tag::builder().key(t.key).value(t.value).build().ok())
                    .collect();
                let tagging = Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .map_err(|e| fail(&e))?;
                send!(s3.put_bucket_tagging().bucket(p.bucket).tagging(tagging))
            }
            Op::PutBucketVersioning(p) => {
                let status = match p.versioning_configuration.status {
                    ops::VersioningStatus::Enabled => BucketVersioningStatus::Enabled,
                    ops::VersioningStatus::Suspended => BucketVersioningStatus::Suspended,
                };
                send!(s3
                    .put_bucket_versioning()
                    .bucket(p.bucket)
                    .versioning_configuration(
                        VersioningConfiguration::builder().status(status).build()
                    ))
            }
            Op::PutBucketEncryption(p) => {
                let mut cfg = ServerSideEncryptionConfiguration::builder();
                for r in p.rules {
                    let def = r.apply_server_side_encryption_by_default;
                    let by_default = ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::from(def.sse_algorithm.as_str()))
                        .set_kms_master_key_id(def.kms_master_key_id)
                        .build()
                        .map_err(|e| fail(&e))?;
                    cfg = cfg.rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(by_default)
                            .bucket_key_enabled(r.bucket_key_enabled)
                            .build(),
                    );
                }
                let cfg = cfg.build().map_err(|e| fail(&e))?;
                send!(s3
                    .put_bucket_encryption()
                    .bucket(p.bucket)
                    .server_side_encryption_configuration(cfg))
            }
            Op::PutPublicAccessBlock(p) => {
                let c = p.public_access_block_configuration;
                let cfg = PublicAccessBlockConfiguration::builder()
                    .block_public_acls(c.block_public_acls)
                    .block_public_policy(c.block_public_policy)
                    .ignore_public_acls(c.ignore_public_acls)
                    .restrict_public_buckets(c.restrict_public_buckets)
                    .build();
                send!(s3
                    .put_public_access_block()
                    .bucket(p.bucket)
                    .public_access_block_configuration(cfg))
            }
            Op::PutBucketPolicy(p) => {
                send!(s3.put_bucket_policy().bucket(p.bucket).policy(p.policy))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(rtype: &str, id: &str, attrs: Value) -> Desired {
        Desired {
            address: format!("{rtype}.x"),
            rtype: rtype.into(),
            id: id.into(),
            attrs: attrs.as_object().unwrap().clone(),
        }
    }

    fn diff(path: &[&str], expected: Value, actual: Value) -> AttrDiff {
        AttrDiff {
            path: path.iter().map(|s| s.to_string()).collect(),
            expected,
            actual,
        }
    }

    async fn reconciler() -> AwsReconciler {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        AwsReconciler {
            clients: Clients::from_sdk_config(&sdk, true, &crate::ApiCalls::new()),
        }
    }

    /// One plan per case, covering every operation driftd plans.
    pub(super) async fn planned_cases() -> Vec<Action> {
        let r = reconciler().await;
        let mut out = Vec::new();
        let sg = desired(AWS_SECURITY_GROUP, "sg-1", json!({}));
        out.extend(
            r.plan(
                &sg,
                &[
                    diff(&["tags", "Team"], json!("web"), json!("ops")),
                    diff(&["tags", "Old"], Value::Null, json!("x")),
                    diff(
                        &["ingress", "tcp:22-22:cidr:0.0.0.0/0"],
                        Value::Null,
                        json!("debug"),
                    ),
                    diff(
                        &["ingress", "tcp:443-443:ipv6:::/0"],
                        json!("https"),
                        Value::Null,
                    ),
                    diff(
                        &["ingress", "udp:53-53:pl:pl-1"],
                        json!("dns"),
                        json!("old"),
                    ),
                    diff(&["egress", "all:*:sg:sg-2"], json!(""), Value::Null),
                    diff(
                        &["egress", "icmp:-1--1:cidr:10.0.0.0/8"],
                        Value::Null,
                        json!(""),
                    ),
                    diff(
                        &["egress", "tcp:80-80:cidr:10.0.0.0/8"],
                        json!("new"),
                        json!("old"),
                    ),
                ],
            )
            .unwrap(),
        );
        let i = desired(AWS_INSTANCE, "i-1", json!({}));
        out.extend(
            r.plan(
                &i,
                &[
                    diff(&["monitoring"], json!(true), json!(false)),
                    diff(&["monitoring"], json!(false), json!(true)),
                    diff(&["disable_api_termination"], json!(true), json!(false)),
                    diff(&["source_dest_check"], json!(false), json!(true)),
                    diff(
                        &["metadata_options", "http_tokens"],
                        json!("required"),
                        json!("optional"),
                    ),
                    diff(
                        &["metadata_options", "http_endpoint"],
                        json!("enabled"),
                        json!("disabled"),
                    ),
                    diff(
                        &["metadata_options", "http_put_response_hop_limit"],
                        json!(2),
                        json!(1),
                    ),
                    diff(
                        &["metadata_options", "instance_metadata_tags"],
                        json!("disabled"),
                        json!("enabled"),
                    ),
                ],
            )
            .unwrap(),
        );
        let rule = desired(
            AWS_SECURITY_GROUP_RULE,
            "sgrule-1",
            json!({"security_group_id": "sg-3", "type": "egress"}),
        );
        out.extend(
            r.plan(
                &rule,
                &[diff(
                    &["rules", "tcp:0-65535:ipv6:::/0"],
                    json!("all"),
                    Value::Null,
                )],
            )
            .unwrap(),
        );
        let rule = desired(
            AWS_SECURITY_GROUP_RULE,
            "sgrule-2",
            json!({"security_group_id": "sg-3", "type": "ingress"}),
        );
        out.extend(
            r.plan(
                &rule,
                &[diff(
                    &["rules", "tcp:22-22:sg:sg-9"],
                    Value::Null,
                    json!("ssh"),
                )],
            )
            .unwrap(),
        );
        let b = desired(
            AWS_S3_BUCKET,
            "b1",
            json!({"tags": {"Team": "web", "Env": "prod"},
                   "server_side_encryption_configuration": {"rule": {
                       "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": "k-1"},
                       "bucket_key_enabled": true}}}),
        );
        out.extend(
            r.plan(
                &b,
                &[
                    diff(&["tags", "Team"], json!("web"), json!("ops")),
                    diff(&["versioning", "enabled"], json!(true), json!(false)),
                    diff(
                        &[
                            "server_side_encryption_configuration",
                            "rule",
                            "bucket_key_enabled",
                        ],
                        json!(true),
                        json!(false),
                    ),
                    diff(
                        &[
                            "server_side_encryption_configuration",
                            "rule",
                            "apply_server_side_encryption_by_default",
                            "kms_master_key_id",
                        ],
                        json!("k-1"),
                        json!(""),
                    ),
                    diff(
                        &["policy"],
                        json!({"Version": "2012-10-17", "Statement": []}),
                        Value::Null,
                    ),
                ],
            )
            .unwrap(),
        );
        let b = desired(
            AWS_S3_BUCKET,
            "b2",
            json!({"tags": null,
                   "server_side_encryption_configuration": {"rule": {
                       "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256", "kms_master_key_id": ""},
                       "bucket_key_enabled": false}}}),
        );
        out.extend(
            r.plan(
                &b,
                &[
                    diff(&["tags", "Team"], Value::Null, json!("ops")),
                    diff(&["versioning", "enabled"], json!(false), json!(true)),
                    diff(
                        &[
                            "server_side_encryption_configuration",
                            "rule",
                            "apply_server_side_encryption_by_default",
                            "sse_algorithm",
                        ],
                        json!("AES256"),
                        json!("aws:kms"),
                    ),
                ],
            )
            .unwrap(),
        );
        let v = desired(AWS_S3_BUCKET_VERSIONING, "b3", json!({}));
        out.extend(
            r.plan(
                &v,
                &[
                    diff(
                        &["versioning_configuration", "status"],
                        json!("Suspended"),
                        json!("Enabled"),
                    ),
                    diff(
                        &["versioning_configuration", "status"],
                        json!("Enabled"),
                        json!("Suspended"),
                    ),
                ],
            )
            .unwrap(),
        );
        let e = desired(
            AWS_S3_BUCKET_SSE,
            "b4",
            json!({"rule": {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": ""},
                            "bucket_key_enabled": true}}),
        );
        out.extend(
            r.plan(
                &e,
                &[diff(
                    &["rule", "bucket_key_enabled"],
                    json!(true),
                    json!(false),
                )],
            )
            .unwrap(),
        );
        let pab = desired(
            AWS_S3_BUCKET_PAB,
            "b5",
            json!({"block_public_acls": true, "block_public_policy": false,
                   "ignore_public_acls": true, "restrict_public_buckets": false}),
        );
        out.extend(
            r.plan(
                &pab,
                &[diff(&["block_public_policy"], json!(false), json!(true))],
            )
            .unwrap(),
        );
        let pol = desired(
            AWS_S3_BUCKET_POLICY,
            "b6",
            json!({"policy": {"Statement": [{"Effect": "Allow"}]}}),
        );
        out.extend(
            r.plan(
                &pol,
                &[diff(&["policy"], json!({"Statement": []}), json!({}))],
            )
            .unwrap(),
        );
        out
    }

    /// (attribute, operation, params) of each planned action, exactly as the
    /// string-dispatched planner (before `ops::Op`) printed them.
    const PLANNED_BEFORE_THE_ENUM: &[(&str, &str, &str)] = &[
        (
            "tags.Team",
            "ec2:CreateTags",
            r#"{"Resources":["sg-1"],"Tags":[{"Key":"Team","Value":"web"}]}"#,
        ),
        (
            "tags.Old",
            "ec2:DeleteTags",
            r#"{"Resources":["sg-1"],"Tags":[{"Key":"Old"}]}"#,
        ),
        (
            "ingress.tcp:22-22:cidr:0.0.0.0/0",
            "ec2:RevokeSecurityGroupIngress",
            r#"{"GroupId":"sg-1","IpPermissions":[{"FromPort":22,"IpProtocol":"tcp","IpRanges":[{"CidrIp":"0.0.0.0/0","Description":"debug"}],"ToPort":22}]}"#,
        ),
        (
            "ingress.tcp:443-443:ipv6:::/0",
            "ec2:AuthorizeSecurityGroupIngress",
            r#"{"GroupId":"sg-1","IpPermissions":[{"FromPort":443,"IpProtocol":"tcp","Ipv6Ranges":[{"CidrIpv6":"::/0","Description":"https"}],"ToPort":443}]}"#,
        ),
        (
            "ingress.udp:53-53:pl:pl-1",
            "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
            r#"{"GroupId":"sg-1","IpPermissions":[{"FromPort":53,"IpProtocol":"udp","PrefixListIds":[{"Description":"dns","PrefixListId":"pl-1"}],"ToPort":53}]}"#,
        ),
        (
            "egress.all:*:sg:sg-2",
            "ec2:AuthorizeSecurityGroupEgress",
            r#"{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"-1","UserIdGroupPairs":[{"Description":"","GroupId":"sg-2"}]}]}"#,
        ),
        (
            "egress.icmp:-1--1:cidr:10.0.0.0/8",
            "ec2:RevokeSecurityGroupEgress",
            r#"{"GroupId":"sg-1","IpPermissions":[{"FromPort":-1,"IpProtocol":"icmp","IpRanges":[{"CidrIp":"10.0.0.0/8","Description":""}],"ToPort":-1}]}"#,
        ),
        (
            "egress.tcp:80-80:cidr:10.0.0.0/8",
            "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
            r#"{"GroupId":"sg-1","IpPermissions":[{"FromPort":80,"IpProtocol":"tcp","IpRanges":[{"CidrIp":"10.0.0.0/8","Description":"new"}],"ToPort":80}]}"#,
        ),
        (
            "monitoring",
            "ec2:MonitorInstances",
            r#"{"InstanceIds":["i-1"]}"#,
        ),
        (
            "monitoring",
            "ec2:UnmonitorInstances",
            r#"{"InstanceIds":["i-1"]}"#,
        ),
        (
            "disable_api_termination",
            "ec2:ModifyInstanceAttribute",
            r#"{"DisableApiTermination":{"Value":true},"InstanceId":"i-1"}"#,
        ),
        (
            "source_dest_check",
            "ec2:ModifyInstanceAttribute",
            r#"{"InstanceId":"i-1","SourceDestCheck":{"Value":false}}"#,
        ),
        (
            "metadata_options.http_tokens",
            "ec2:ModifyInstanceMetadataOptions",
            r#"{"HttpTokens":"required","InstanceId":"i-1"}"#,
        ),
        (
            "metadata_options.http_endpoint",
            "ec2:ModifyInstanceMetadataOptions",
            r#"{"HttpEndpoint":"enabled","InstanceId":"i-1"}"#,
        ),
        (
            "metadata_options.http_put_response_hop_limit",
            "ec2:ModifyInstanceMetadataOptions",
            r#"{"HttpPutResponseHopLimit":2,"InstanceId":"i-1"}"#,
        ),
        (
            "metadata_options.instance_metadata_tags",
            "ec2:ModifyInstanceMetadataOptions",
            r#"{"InstanceId":"i-1","InstanceMetadataTags":"disabled"}"#,
        ),
        (
            "rules.tcp:0-65535:ipv6:::/0",
            "ec2:AuthorizeSecurityGroupEgress",
            r#"{"GroupId":"sg-3","IpPermissions":[{"FromPort":0,"IpProtocol":"tcp","Ipv6Ranges":[{"CidrIpv6":"::/0","Description":"all"}],"ToPort":65535}]}"#,
        ),
        (
            "rules.tcp:22-22:sg:sg-9",
            "ec2:RevokeSecurityGroupIngress",
            r#"{"GroupId":"sg-3","IpPermissions":[{"FromPort":22,"IpProtocol":"tcp","ToPort":22,"UserIdGroupPairs":[{"Description":"ssh","GroupId":"sg-9"}]}]}"#,
        ),
        (
            "tags",
            "s3:PutBucketTagging",
            r#"{"Bucket":"b1","TagSet":[{"Key":"Env","Value":"prod"},{"Key":"Team","Value":"web"}]}"#,
        ),
        (
            "versioning.enabled",
            "s3:PutBucketVersioning",
            r#"{"Bucket":"b1","VersioningConfiguration":{"Status":"Enabled"}}"#,
        ),
        (
            "server_side_encryption_configuration",
            "s3:PutBucketEncryption",
            r#"{"Bucket":"b1","Rules":[{"ApplyServerSideEncryptionByDefault":{"KMSMasterKeyID":"k-1","SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}"#,
        ),
        (
            "policy",
            "s3:PutBucketPolicy",
            r#"{"Bucket":"b1","Policy":"{\"Statement\":[],\"Version\":\"2012-10-17\"}"}"#,
        ),
        (
            "tags",
            "s3:PutBucketTagging",
            r#"{"Bucket":"b2","TagSet":[]}"#,
        ),
        (
            "versioning.enabled",
            "s3:PutBucketVersioning",
            r#"{"Bucket":"b2","VersioningConfiguration":{"Status":"Suspended"}}"#,
        ),
        (
            "server_side_encryption_configuration",
            "s3:PutBucketEncryption",
            r#"{"Bucket":"b2","Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"},"BucketKeyEnabled":false}]}"#,
        ),
        (
            "versioning_configuration.status",
            "s3:PutBucketVersioning",
            r#"{"Bucket":"b3","VersioningConfiguration":{"Status":"Suspended"}}"#,
        ),
        (
            "versioning_configuration.status",
            "s3:PutBucketVersioning",
            r#"{"Bucket":"b3","VersioningConfiguration":{"Status":"Enabled"}}"#,
        ),
        (
            "rule",
            "s3:PutBucketEncryption",
            r#"{"Bucket":"b4","Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}"#,
        ),
        (
            "public_access_block",
            "s3:PutPublicAccessBlock",
            r#"{"Bucket":"b5","PublicAccessBlockConfiguration":{"BlockPublicAcls":true,"BlockPublicPolicy":false,"IgnorePublicAcls":true,"RestrictPublicBuckets":false}}"#,
        ),
        (
            "policy",
            "s3:PutBucketPolicy",
            r#"{"Bucket":"b6","Policy":"{\"Statement\":[{\"Effect\":\"Allow\"}]}"}"#,
        ),
    ];

    #[tokio::test]
    async fn planned_params_are_byte_for_byte_those_of_before() {
        let planned = planned_cases().await;
        assert_eq!(planned.len(), PLANNED_BEFORE_THE_ENUM.len());
        for (a, (attribute, operation, params)) in planned.iter().zip(PLANNED_BEFORE_THE_ENUM) {
            assert_eq!(
                (
                    a.attribute.as_str(),
                    a.operation.as_str(),
                    serde_json::to_string(&a.params).unwrap().as_str()
                ),
                (*attribute, *operation, *params)
            );
        }
    }

    #[tokio::test]
    async fn every_operation_round_trips_through_the_enum() {
        let planned = planned_cases().await;
        let mut seen = std::collections::BTreeSet::new();
        for a in &planned {
            let op = Op::try_from(a).unwrap();
            let (operation, params) = op.into_parts();
            assert_eq!(operation, a.operation);
            assert_eq!(
                serde_json::to_string(&params).unwrap(),
                serde_json::to_string(&a.params).unwrap()
            );
            seen.insert(operation);
        }
        // Every variant of `Op` is planned by at least one case.
        assert_eq!(seen.len(), 17, "{seen:?}");
    }

    #[tokio::test]
    async fn malformed_actions_fail_to_apply_without_a_call() {
        let r = reconciler().await;
        let mut a = planned_cases().await.remove(0);
        a.params = json!({"Resources": ["sg-1"], "Tags": [{"Key": "Team", "Value": 1}]});
        let e = r.apply(&a).await.unwrap_err();
        assert_eq!(e.kind, driftd_core::ReadErrorKind::Other);
        assert!(
            e.message
                .starts_with("unknown or malformed operation ec2:CreateTags"),
            "{}",
            e.message
        );
        a.operation = "ec2:TerminateInstances".into();
        let e = r.apply(&a).await.unwrap_err();
        assert!(e
            .message
            .starts_with("unknown or malformed operation ec2:TerminateInstances"));
        // `previous` reads nothing for it (apply reports the error).
        assert_eq!(r.previous(&a).await, Ok(None));
    }

    #[tokio::test]
    async fn state_values_of_the_wrong_type_are_refused_at_planning() {
        let r = reconciler().await;
        let d = desired(AWS_INSTANCE, "i-1", json!({}));
        let e = r.plan(
            &d,
            &[diff(&["source_dest_check"], json!("yes"), json!(true))],
        );
        assert!(matches!(e, Err(NotReconcilable::Other(_))), "{e:?}");
        let b = desired(AWS_S3_BUCKET, "b", json!({"tags": {"a": 1}}));
        let e = r.plan(&b, &[diff(&["tags", "a"], json!(1), json!("2"))]);
        assert!(matches!(e, Err(NotReconcilable::Other(_))), "{e:?}");
    }

    #[test]
    fn rule_keys_round_trip() {
        assert_eq!(
            parse_rule_key("tcp:22-22:cidr:0.0.0.0/0").unwrap(),
            RuleKey {
                protocol: "tcp".into(),
                from: Some(22),
                to: Some(22),
                kind: "cidr".into(),
                value: "0.0.0.0/0".into()
            }
        );
        assert_eq!(parse_rule_key("icmp:-1--1:sg:sg-1").unwrap().from, Some(-1));
        assert_eq!(parse_rule_key("all:*:ipv6:::/0").unwrap().value, "::/0");
    }

    #[tokio::test]
    async fn tags_and_rules_plan_to_exact_calls() {
        let r = reconciler().await;
        let d = desired(AWS_SECURITY_GROUP, "sg-1", json!({}));
        let plan = r
            .plan(
                &d,
                &[
                    diff(&["tags", "Team"], json!("web"), json!("ops")),
                    diff(
                        &["ingress", "tcp:22-22:cidr:0.0.0.0/0"],
                        Value::Null,
                        json!("debug"),
                    ),
                ],
            )
            .unwrap();
        assert_eq!(plan[0].operation, "ec2:CreateTags");
        assert_eq!(
            plan[0].params,
            json!({"Resources": ["sg-1"], "Tags": [{"Key": "Team", "Value": "web"}]})
        );
        assert_eq!(plan[1].operation, "ec2:RevokeSecurityGroupIngress");
        assert_eq!(
            plan[1].params["IpPermissions"][0]["IpRanges"][0]["CidrIp"],
            "0.0.0.0/0"
        );
    }

    #[tokio::test]
    async fn stopping_or_replacing_is_refused() {
        let r = reconciler().await;
        let d = desired(AWS_INSTANCE, "i-1", json!({}));
        let e = r.plan(
            &d,
            &[
                diff(&["tags", "a"], json!("1"), Value::Null),
                diff(&["instance_type"], json!("t3.micro"), json!("t3.large")),
            ],
        );
        assert_eq!(e, Err(NotReconcilable::Disruptive("instance_type".into())));
        // AWS refuses an instance type change on a running instance; moto does not.
        let e = r.plan(&d, &[diff(&["ami"], json!("a"), json!("b"))]);
        assert!(matches!(e, Err(NotReconcilable::Disruptive(_))));
    }

    #[tokio::test]
    async fn monitoring_uses_its_own_calls() {
        let r = reconciler().await;
        let d = desired(AWS_INSTANCE, "i-1", json!({}));
        let plan = r
            .plan(&d, &[diff(&["monitoring"], json!(true), json!(false))])
            .unwrap();
        assert_eq!(plan[0].operation, "ec2:MonitorInstances");
    }

    #[tokio::test]
    async fn bucket_tags_send_the_whole_set() {
        let r = reconciler().await;
        let d = desired(AWS_S3_BUCKET, "b", json!({"tags": {"a": "1", "b": "2"}}));
        let plan = r
            .plan(&d, &[diff(&["tags", "a"], json!("1"), json!("9"))])
            .unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(
            plan[0].params["TagSet"],
            json!([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        );
    }
}
