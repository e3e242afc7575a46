//! Reconcilers: put live EC2 and S3 resources back to their state's values.
//!
//! Why explicit actions (as Cloud Custodian does): every automated change is
//! one named API call with its parameters, planned first as plain data. The
//! engine can then print it (dry-run), budget it, audit it and only then
//! execute it. What cannot change in place (instance type needs a stop, an
//! AMI or subnet a replacement) is refused at planning time, never attempted.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, HttpTokensState, InstanceMetadataEndpointState,
    InstanceMetadataTagsState, IpPermission, IpRange, Ipv6Range, PrefixListId, Tag as Ec2Tag,
    UserIdGroupPair,
};
use aws_sdk_s3::types::{
    BucketVersioningStatus, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag as S3Tag, Tagging, VersioningConfiguration,
};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable, Reconciler};
use serde_json::{json, Value};

use crate::schema::*;
use crate::Clients;

/// The AWS reconciler for one scope.
#[derive(Debug, Clone)]
pub struct AwsReconciler {
    pub clients: Clients,
}

fn action(
    d: &Desired,
    attribute: &str,
    operation: &str,
    params: Value,
    before: &Value,
    after: &Value,
) -> Action {
    Action {
        rtype: d.rtype.clone(),
        id: d.id.clone(),
        attribute: attribute.to_string(),
        operation: operation.to_string(),
        params,
        before: before.clone(),
        after: after.clone(),
    }
}

fn path_str(p: &[String]) -> String {
    p.join(".")
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

fn rule_params(group: &str, key: &RuleKey, description: &str) -> Value {
    let protocol = if key.protocol == "all" {
        "-1"
    } else {
        key.protocol.as_str()
    };
    let mut perm = json!({"IpProtocol": protocol});
    if let (Some(f), Some(t)) = (key.from, key.to) {
        perm["FromPort"] = json!(f);
        perm["ToPort"] = json!(t);
    }
    let peer = match key.kind.as_str() {
        "cidr" => json!({"IpRanges": [{"CidrIp": key.value, "Description": description}]}),
        "ipv6" => json!({"Ipv6Ranges": [{"CidrIpv6": key.value, "Description": description}]}),
        "pl" => json!({"PrefixListIds": [{"PrefixListId": key.value, "Description": description}]}),
        _ => json!({"UserIdGroupPairs": [{"GroupId": key.value, "Description": description}]}),
    };
    for (k, v) in peer.as_object().unwrap() {
        perm[k] = v.clone();
    }
    json!({"GroupId": group, "IpPermissions": [perm]})
}

fn perm_from_params(p: &Value) -> IpPermission {
    let perm = &p["IpPermissions"][0];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut b = IpPermission::builder().ip_protocol(s(&perm["IpProtocol"]));
    if let (Some(f), Some(t)) = (perm["FromPort"].as_i64(), perm["ToPort"].as_i64()) {
        b = b.from_port(f as i32).to_port(t as i32);
    }
    let desc = |v: &Value| {
        v["Description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(str::to_string)
    };
    for r in perm["IpRanges"].as_array().into_iter().flatten() {
        b = b.ip_ranges(
            IpRange::builder()
                .cidr_ip(s(&r["CidrIp"]))
                .set_description(desc(r))
                .build(),
        );
    }
    for r in perm["Ipv6Ranges"].as_array().into_iter().flatten() {
        b = b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(s(&r["CidrIpv6"]))
                .set_description(desc(r))
                .build(),
        );
    }
    for r in perm["PrefixListIds"].as_array().into_iter().flatten() {
        b = b.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(s(&r["PrefixListId"]))
                .set_description(desc(r))
                .build(),
        );
    }
    for r in perm["UserIdGroupPairs"].as_array().into_iter().flatten() {
        b = b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(s(&r["GroupId"]))
                .set_description(desc(r))
                .build(),
        );
    }
    b.build()
}

fn tag_actions(d: &Desired, diff: &AttrDiff, out: &mut Vec<Action>) {
    let key = &diff.path[1];
    if diff.expected.is_null() {
        out.push(action(
            d,
            &path_str(&diff.path),
            "ec2:DeleteTags",
            json!({"Resources": [d.id], "Tags": [{"Key": key}]}),
            &diff.actual,
            &diff.expected,
        ));
    } else {
        out.push(action(
            d,
            &path_str(&diff.path),
            "ec2:CreateTags",
            json!({"Resources": [d.id], "Tags": [{"Key": key, "Value": diff.expected}]}),
            &diff.actual,
            &diff.expected,
        ));
    }
}

fn rule_action(
    d: &Desired,
    group: &str,
    egress: bool,
    diff: &AttrDiff,
) -> Result<Action, NotReconcilable> {
    let key = parse_rule_key(&diff.path[1])
        .ok_or_else(|| NotReconcilable::Other(format!("cannot parse rule {}", diff.path[1])))?;
    let dir = if egress { "Egress" } else { "Ingress" };
    let (op, desc) = match (&diff.expected, &diff.actual) {
        (Value::Null, a) => (
            format!("ec2:RevokeSecurityGroup{dir}"),
            a.as_str().unwrap_or_default(),
        ),
        (e, Value::Null) => (
            format!("ec2:AuthorizeSecurityGroup{dir}"),
            e.as_str().unwrap_or_default(),
        ),
        (e, _) => (
            format!("ec2:UpdateSecurityGroupRuleDescriptions{dir}"),
            e.as_str().unwrap_or_default(),
        ),
    };
    Ok(action(
        d,
        &path_str(&diff.path),
        &op,
        rule_params(group, &key, desc),
        &diff.actual,
        &diff.expected,
    ))
}

fn s3_tags(d: &Desired, diffs: &[AttrDiff], out: &mut Vec<Action>) {
    if diffs.iter().any(|x| x.path[0] == "tags") {
        // PutBucketTagging replaces the whole set: send the state's full set.
        let tags = d.attrs.get("tags").cloned().unwrap_or(json!({}));
        let set: Vec<Value> = tags
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        out.push(action(
            d,
            "tags",
            "s3:PutBucketTagging",
            json!({"Bucket": d.id, "TagSet": set}),
            &Value::Null,
            &tags,
        ));
    }
}

fn sse_action(d: &Desired, rule: &Value, attribute: &str) -> Action {
    let def = &rule["apply_server_side_encryption_by_default"];
    let mut params = json!({"Bucket": d.id, "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": def["sse_algorithm"]},
        "BucketKeyEnabled": rule["bucket_key_enabled"]}]});
    if def["kms_master_key_id"]
        .as_str()
        .is_some_and(|k| !k.is_empty())
    {
        params["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] =
            def["kms_master_key_id"].clone();
    }
    action(
        d,
        attribute,
        "s3:PutBucketEncryption",
        params,
        &Value::Null,
        rule,
    )
}

impl AwsReconciler {
    fn plan_instance(
        &self,
        d: &Desired,
        diffs: &[AttrDiff],
    ) -> Result<Vec<Action>, NotReconcilable> {
        let mut out = Vec::new();
        let mut metadata = serde_json::Map::new();
        for x in diffs {
            match x.path[0].as_str() {
                "tags" if x.path.len() == 2 => tag_actions(d, x, &mut out),
                "monitoring" => {
                    let op = if x.expected == json!(true) {
                        "ec2:MonitorInstances"
                    } else {
                        "ec2:UnmonitorInstances"
                    };
                    out.push(action(
                        d,
                        "monitoring",
                        op,
                        json!({"InstanceIds": [d.id]}),
                        &x.actual,
                        &x.expected,
                    ));
                }
                "disable_api_termination" | "source_dest_check" => {
                    let name = if x.path[0] == "source_dest_check" {
                        "SourceDestCheck"
                    } else {
                        "DisableApiTermination"
                    };
                    out.push(action(
                        d,
                        &x.path[0],
                        "ec2:ModifyInstanceAttribute",
                        json!({"InstanceId": d.id, name: {"Value": x.expected}}),
                        &x.actual,
                        &x.expected,
                    ));
                }
                "metadata_options" if x.path.len() == 2 => {
                    let api = match x.path[1].as_str() {
                        "http_tokens" => "HttpTokens",
                        "http_endpoint" => "HttpEndpoint",
                        "http_put_response_hop_limit" => "HttpPutResponseHopLimit",
                        "instance_metadata_tags" => "InstanceMetadataTags",
                        other => {
                            return Err(NotReconcilable::Unsupported(format!(
                                "metadata_options.{other}"
                            )))
                        }
                    };
                    metadata.insert(api.into(), x.expected.clone());
                    out.push(action(
                        d,
                        &path_str(&x.path),
                        "ec2:ModifyInstanceMetadataOptions",
                        json!({"InstanceId": d.id, api: x.expected}),
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
                "tags" if x.path.len() == 2 => tag_actions(d, x, &mut out),
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
                s3_tags(d, diffs, &mut out);
                for x in diffs.iter().filter(|x| x.path[0] != "tags") {
                    match path_str(&x.path).as_str() {
                        "versioning.enabled" => {
                            let status = if x.expected == json!(true) {
                                "Enabled"
                            } else {
                                "Suspended"
                            };
                            out.push(action(d, "versioning.enabled", "s3:PutBucketVersioning",
                                json!({"Bucket": d.id, "VersioningConfiguration": {"Status": status}}), &x.actual, &x.expected));
                        }
                        p if p.starts_with("server_side_encryption_configuration") => {
                            if !out.iter().any(|a| a.operation == "s3:PutBucketEncryption") {
                                let rule =
                                    d.attrs["server_side_encryption_configuration"]["rule"].clone();
                                out.push(sse_action(
                                    d,
                                    &rule,
                                    "server_side_encryption_configuration",
                                ));
                            }
                        }
                        "policy" => out.push(action(
                            d,
                            "policy",
                            "s3:PutBucketPolicy",
                            json!({"Bucket": d.id, "Policy": x.expected.to_string()}),
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
                    match (path_str(&x.path).as_str(), x.expected.as_str()) {
                        (
                            "versioning_configuration.status",
                            Some(s @ ("Enabled" | "Suspended")),
                        ) => out.push(action(
                            d,
                            "versioning_configuration.status",
                            "s3:PutBucketVersioning",
                            json!({"Bucket": d.id, "VersioningConfiguration": {"Status": s}}),
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
                ));
            }
            AWS_S3_BUCKET_PAB if !diffs.is_empty() => {
                let mut cfg = serde_json::Map::new();
                for (k, api) in PAB_FIELDS.iter().zip([
                    "BlockPublicAcls",
                    "BlockPublicPolicy",
                    "IgnorePublicAcls",
                    "RestrictPublicBuckets",
                ]) {
                    cfg.insert(api.into(), d.attrs.get(*k).cloned().unwrap_or(json!(false)));
                }
                out.push(action(
                    d,
                    "public_access_block",
                    "s3:PutPublicAccessBlock",
                    json!({"Bucket": d.id, "PublicAccessBlockConfiguration": cfg}),
                    &Value::Null,
                    &Value::Object(d.attrs.clone()),
                ));
            }
            AWS_S3_BUCKET_POLICY if !diffs.is_empty() => {
                let p = d.attrs.get("policy").cloned().unwrap_or(Value::Null);
                out.push(action(
                    d,
                    "policy",
                    "s3:PutBucketPolicy",
                    json!({"Bucket": d.id, "Policy": p.to_string()}),
                    &Value::Null,
                    &p,
                ));
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
        let bucket = a.params["Bucket"].as_str().unwrap_or_default().to_string();
        let fail = |op: &str, e: &(dyn std::error::Error + 'static)| {
            format!(
                "{op} (reading the document {} replaces, for the audit log): {}",
                a.operation,
                crate::errors::describe(e)
            )
        };
        macro_rules! get {
            ($op:literal, $req:expr) => {
                match $req.bucket(&bucket).send().await {
                    Ok(o) => Some(o),
                    Err(e) if e.code().is_some_and(|c| NO_DOCUMENT.contains(&c)) => None,
                    Err(e) => return Err(fail($op, &e)),
                }
            };
        }
        let doc = match a.operation.as_str() {
            "s3:PutBucketTagging" => {
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
            "s3:PutBucketEncryption" => {
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
            "s3:PutPublicAccessBlock" => {
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
            "s3:PutBucketPolicy" => {
                let p = get!("GetBucketPolicy", s3.get_bucket_policy())
                    .and_then(|o| o.policy().map(str::to_string));
                json!({ "Policy": p })
            }
            "s3:PutBucketVersioning" => {
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
            _ => return Ok(None),
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
        let p = &a.params;
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", a.operation);
        macro_rules! send {
            ($req:expr) => {
                $req.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| fail(&crate::errors::describe(&e)))
            };
        }
        match a.operation.as_str() {
            "ec2:CreateTags" => send!(ec2.create_tags().resources(s(&p["Resources"][0])).tags(
                Ec2Tag::builder()
                    .key(s(&p["Tags"][0]["Key"]))
                    .value(s(&p["Tags"][0]["Value"]))
                    .build()
            )),
            "ec2:DeleteTags" => send!(ec2
                .delete_tags()
                .resources(s(&p["Resources"][0]))
                .tags(Ec2Tag::builder().key(s(&p["Tags"][0]["Key"])).build())),
            "ec2:MonitorInstances" => send!(ec2
                .monitor_instances()
                .instance_ids(s(&p["InstanceIds"][0]))),
            "ec2:UnmonitorInstances" => send!(ec2
                .unmonitor_instances()
                .instance_ids(s(&p["InstanceIds"][0]))),
            "ec2:ModifyInstanceAttribute" => {
                let mut req = ec2
                    .modify_instance_attribute()
                    .instance_id(s(&p["InstanceId"]));
                if let Some(v) = p["DisableApiTermination"]["Value"].as_bool() {
                    req = req
                        .disable_api_termination(AttributeBooleanValue::builder().value(v).build());
                }
                if let Some(v) = p["SourceDestCheck"]["Value"].as_bool() {
                    req = req.source_dest_check(AttributeBooleanValue::builder().value(v).build());
                }
                send!(req)
            }
            "ec2:ModifyInstanceMetadataOptions" => {
                let mut req = ec2
                    .modify_instance_metadata_options()
                    .instance_id(s(&p["InstanceId"]));
                if let Some(v) = p["HttpTokens"].as_str() {
                    req = req.http_tokens(HttpTokensState::from(v));
                }
                if let Some(v) = p["HttpEndpoint"].as_str() {
                    req = req.http_endpoint(InstanceMetadataEndpointState::from(v));
                }
                if let Some(v) = p["HttpPutResponseHopLimit"].as_i64() {
                    req = req.http_put_response_hop_limit(v as i32);
                }
                if let Some(v) = p["InstanceMetadataTags"].as_str() {
                    req = req.instance_metadata_tags(InstanceMetadataTagsState::from(v));
                }
                send!(req)
            }
            "ec2:AuthorizeSecurityGroupIngress" => send!(ec2
                .authorize_security_group_ingress()
                .group_id(s(&p["GroupId"]))
                .ip_permissions(perm_from_params(p))),
            "ec2:RevokeSecurityGroupIngress" => send!(ec2
                .revoke_security_group_ingress()
                .group_id(s(&p["GroupId"]))
                .ip_permissions(perm_from_params(p))),
            "ec2:AuthorizeSecurityGroupEgress" => send!(ec2
                .authorize_security_group_egress()
                .group_id(s(&p["GroupId"]))
                .ip_permissions(perm_from_params(p))),
            "ec2:RevokeSecurityGroupEgress" => send!(ec2
                .revoke_security_group_egress()
                .group_id(s(&p["GroupId"]))
                .ip_permissions(perm_from_params(p))),
            "ec2:UpdateSecurityGroupRuleDescriptionsIngress" => send!(ec2
                .update_security_group_rule_descriptions_ingress()
                .group_id(s(&p["GroupId"]))
                .ip_permissions(perm_from_params(p))),
            "ec2:UpdateSecurityGroupRuleDescriptionsEgress" => send!(ec2
                .update_security_group_rule_descriptions_egress()
                .group_id(s(&p["GroupId"]))
                .ip_permissions(perm_from_params(p))),
            "s3:PutBucketTagging" => {
                let set: Vec<S3Tag> = p["TagSet"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| {
                        S3Tag::builder()
                            .key(s(&t["Key"]))
                            .value(s(&t["Value"]))
                            .build()
                            .ok()
                    })
                    .collect();
                let tagging = Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .map_err(|e| fail(&e))?;
                send!(s3
                    .put_bucket_tagging()
                    .bucket(s(&p["Bucket"]))
                    .tagging(tagging))
            }
            "s3:PutBucketVersioning" => send!(s3
                .put_bucket_versioning()
                .bucket(s(&p["Bucket"]))
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::from(
                            s(&p["VersioningConfiguration"]["Status"]).as_str()
                        ))
                        .build()
                )),
            "s3:PutBucketEncryption" => {
                let r = &p["Rules"][0];
                let def = &r["ApplyServerSideEncryptionByDefault"];
                let by_default = ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(s(&def["SSEAlgorithm"]).as_str()))
                    .set_kms_master_key_id(def["KMSMasterKeyID"].as_str().map(str::to_string))
                    .build()
                    .map_err(|e| fail(&e))?;
                let cfg = ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(by_default)
                            .set_bucket_key_enabled(r["BucketKeyEnabled"].as_bool())
                            .build(),
                    )
                    .build()
                    .map_err(|e| fail(&e))?;
                send!(s3
                    .put_bucket_encryption()
                    .bucket(s(&p["Bucket"]))
                    .server_side_encryption_configuration(cfg))
            }
            "s3:PutPublicAccessBlock" => {
                let c = &p["PublicAccessBlockConfiguration"];
                let cfg = PublicAccessBlockConfiguration::builder()
                    .block_public_acls(c["BlockPublicAcls"].as_bool().unwrap_or(false))
                    .block_public_policy(c["BlockPublicPolicy"].as_bool().unwrap_or(false))
                    .ignore_public_acls(c["IgnorePublicAcls"].as_bool().unwrap_or(false))
                    .restrict_public_buckets(c["RestrictPublicBuckets"].as_bool().unwrap_or(false))
                    .build();
                send!(s3
                    .put_public_access_block()
                    .bucket(s(&p["Bucket"]))
                    .public_access_block_configuration(cfg))
            }
            "s3:PutBucketPolicy" => send!(s3
                .put_bucket_policy()
                .bucket(s(&p["Bucket"]))
                .policy(s(&p["Policy"]))),
            other => Err(format!("driftd does not know how to call {other}")),
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
