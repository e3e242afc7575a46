//! Reconcilers: put live EC2 and S3 resources back to their state's values.
//!
//! Why explicit actions (as Cloud Custodian does): every automated change is
//! one named API call with its parameters, planned first as plain data. The
//! engine can then print it (dry-run), budget it, audit it and only then
//! execute it. What cannot change in place (instance type needs a stop, an
//! AMI or subnet a replacement) is refused at planning time, never attempted.
//!
//! The calls are typed ([`crate::ops::Op`], one variant per API call). Each
//! type plans its own calls (its registry entry's `plan`, in its file under
//! `resources/`, built with the helpers here); this file keeps the generic
//! machinery: dispatch to the type's plan, `apply` and `previous` (matching
//! on `Op` exhaustively; each whole document is read by the type owning it).
//! The engine still sees the provider-agnostic `Action` (operation + params JSON).

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
use crate::Clients;

/// The AWS reconciler for one scope.
#[derive(Debug, Clone)]
pub struct AwsReconciler {
    pub clients: Clients,
}

/// The one place a planned call becomes an engine [`Action`].
pub(crate) fn action(
    d: &Desired,
    attribute: &str,
    op: Op,
    before: &Value,
    after: &Value,
) -> Action {
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

/// A drift path as the action's attribute (`metadata_options.http_tokens`).
pub(crate) fn path_str(p: &[String]) -> String {
    p.join(".")
}

/// A state value of the wrong JSON type for the call that would repair it.
pub(crate) fn wrong_type(d: &Desired, attribute: &str, want: &str, v: &Value) -> NotReconcilable {
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

/// A state value the call needs as a string.
pub(crate) fn string(d: &Desired, attribute: &str, v: &Value) -> Result<String, NotReconcilable> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| wrong_type(d, attribute, "a string", v))
}

/// A state value the call needs as a boolean.
pub(crate) fn boolean(d: &Desired, attribute: &str, v: &Value) -> Result<bool, NotReconcilable> {
    v.as_bool()
        .ok_or_else(|| wrong_type(d, attribute, "a boolean", v))
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

/// A document read for the audit log failed: the `Get*` call and why.
#[derive(Debug)]
pub(crate) struct Unread {
    call: &'static str,
    message: String,
}

/// The answer of the `Get*` call (`call`) reading the document a `Put*`
/// replaces: `None` when the bucket has no such document.
pub(crate) async fn current<O, E, R>(
    call: &'static str,
    req: impl std::future::Future<Output = Result<O, aws_sdk_s3::error::SdkError<E, R>>>,
) -> Result<Option<O>, Unread>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match req.await {
        Ok(o) => Ok(Some(o)),
        Err(e)
            if e.code()
                .is_some_and(|c| crate::services::s3::ABSENT_CODES.contains(&c)) =>
        {
            Ok(None)
        }
        Err(e) => Err(Unread {
            call,
            message: crate::errors::describe(&e),
        }),
    }
}

impl AwsReconciler {
    /// The whole document an action replaces, read just before the write, in
    /// the call's own parameter shape (so the same call puts it back):
    /// `{"Bucket": .., "TagSet": [..]}`, `{"Bucket": .., "Rules": [..]}`,
    /// `{"Bucket": .., "PublicAccessBlockConfiguration": {..}}`,
    /// `{"Bucket": .., "Policy": ".."}`, `{"Bucket": .., "VersioningConfiguration": {..}}`.
    /// The document is `null` when the bucket had none (undo: the matching
    /// Delete call). `Ok(None)` for actions that change one value (their
    /// `before` is already exact). Each document is read by the type file
    /// that owns it.
    pub async fn previous(&self, a: &Action) -> Result<Option<Value>, String> {
        use crate::resources::s3::{
            bucket, bucket_policy, bucket_public_access_block as pab,
            bucket_server_side_encryption_configuration as sse, bucket_versioning,
        };
        let s3 = &self.clients.s3;
        // An action that does not parse is reported by `apply`, which fails on it.
        let Ok(op) = Op::try_from(a) else {
            return Ok(None);
        };
        let (bucket, doc) = match &op {
            Op::PutBucketTagging(p) => (&p.bucket, bucket::previous_tagging(s3, &p.bucket).await),
            Op::PutBucketEncryption(p) => {
                (&p.bucket, sse::previous_encryption(s3, &p.bucket).await)
            }
            Op::PutPublicAccessBlock(p) => (
                &p.bucket,
                pab::previous_public_access_block(s3, &p.bucket).await,
            ),
            Op::PutBucketPolicy(p) => (
                &p.bucket,
                bucket_policy::previous_policy(s3, &p.bucket).await,
            ),
            Op::PutBucketVersioning(p) => (
                &p.bucket,
                bucket_versioning::previous_versioning(s3, &p.bucket).await,
            ),
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
        let doc = doc.map_err(|u| {
            format!(
                "{} (reading the document {} replaces, for the audit log): {}",
                u.call, a.operation, u.message
            )
        })?;
        let mut out = json!({ "Bucket": bucket });
        for (k, v) in doc.as_object().into_iter().flatten() {
            out[k] = v.clone();
        }
        Ok(Some(out))
    }
}

#[async_trait::async_trait]
impl Reconciler for AwsReconciler {
    /// The type's own plan (its registry entry's `plan`); a type without
    /// one is report-only.
    fn plan(&self, d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
        match crate::registry::get(&d.rtype).and_then(|t| t.plan) {
            Some(plan) => plan(d, diffs),
            None => Err(NotReconcilable::Unsupported(d.rtype.clone())),
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
    use crate::schema::*;

    fn desired(rtype: &str, id: &str, attrs: Value) -> Desired {
        Desired {
            address: format!("{rtype}.x"),
            rtype: rtype.into(),
            id: id.into(),
            attrs: attrs.as_object().unwrap().clone().into(),
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
