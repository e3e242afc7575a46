//! `aws_instance`: read with `DescribeInstances` (one paginated listing per
//! scope), root volumes with `DescribeVolumes`, termination protection with
//! `DescribeInstanceAttribute` where the state needs it.

use aws_sdk_ec2::types::Instance;
use driftd_core::registry::{
    AttrSpec, DefaultRule, Fix, ImportHints, ProjectContext, ResourceType, TerminationReads,
};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{
    as_bool, as_i64, effective_tags, first_block, instance_profile_name, string_or_empty,
    string_set, strings, tags_from_pairs,
};
use crate::ops::{self, Op};
use crate::reconcile::{action, boolean, path_str, string, wrong_type};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

pub const NAME: &str = "aws_instance";

const fn crit(name: &'static str, fix: Fix) -> AttrSpec {
    AttrSpec::new(name, Shape::Block, true, fix)
}

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            crit("instance_type", Fix::Disruptive),
            crit("ami", Fix::Disruptive),
            AttrSpec::new("tags", Shape::Map, false, Fix::InPlace),
            crit("vpc_security_group_ids", Fix::No),
            crit("subnet_id", Fix::Disruptive),
            AttrSpec::new("monitoring", Shape::Block, false, Fix::InPlace),
            crit("disable_api_termination", Fix::InPlace),
            crit("source_dest_check", Fix::InPlace),
            crit("ebs_optimized", Fix::Disruptive),
            crit("iam_instance_profile", Fix::No),
            crit("metadata_options", Fix::InPlace),
            crit("root_block_device", Fix::No),
            crit("key_name", Fix::Disruptive),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[
            DefaultRule {
                name: "instance-identity",
                attributes: &[
                    "instance_type",
                    "ami",
                    "vpc_security_group_ids",
                    "subnet_id",
                    "iam_instance_profile",
                    "key_name",
                    "metadata_options*",
                    "root_block_device*",
                    "disable_api_termination",
                    "ebs_optimized",
                    "source_dest_check",
                ],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "monitoring",
                attributes: &["monitoring"],
                kinds: &[driftd_core::registry::RuleKind::Changed],
                critical: false,
            },
        ],
        editor: &[],
        import: Some(ImportHints {
            id_argument: None,
            name_argument: None,
            arguments: &[
                "ami",
                "instance_type",
                "subnet_id",
                "vpc_security_group_ids",
                "key_name",
                "iam_instance_profile",
                "monitoring",
                "ebs_optimized",
                "source_dest_check",
                "disable_api_termination",
                "tags",
            ],
            blocks: &["metadata_options", "root_block_device"],
            required: &["ami", "instance_type"],
            note: "user_data and network interfaces are not generated",
        }),
        read_actions: &[
            "ec2:DescribeInstances",
            "ec2:DescribeVolumes",
            "ec2:DescribeInstanceAttribute",
            // Large scopes: the zones to split the listing by.
            "ec2:DescribeAvailabilityZones",
        ],
        write_actions: &[
            "ec2:CreateTags",
            "ec2:DeleteTags",
            "ec2:ModifyInstanceMetadataOptions",
            "ec2:MonitorInstances",
            "ec2:UnmonitorInstances",
            "ec2:ModifyInstanceAttribute",
        ],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Instances,
    plan: Some(plan),
};

/// Canonical desired attributes of an instance.
pub fn project(r: &StateResource, ctx: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for key in [
        "instance_type",
        "ami",
        "subnet_id",
        "iam_instance_profile",
        "key_name",
    ] {
        m.insert(key.into(), string_or_empty(a.get(key)));
    }
    m.insert("tags".into(), effective_tags(a));
    m.insert(
        "vpc_security_group_ids".into(),
        string_set(strings(a.get("vpc_security_group_ids"))),
    );
    m.insert(
        "monitoring".into(),
        json!(as_bool(a.get("monitoring")).unwrap_or(false)),
    );
    for key in ["source_dest_check", "ebs_optimized"] {
        if let Some(b) = as_bool(a.get(key)) {
            m.insert(key.into(), json!(b));
        }
    }
    let protection = as_bool(a.get("disable_api_termination")).unwrap_or(false);
    match ctx.termination_protection {
        TerminationReads::All => {
            m.insert("disable_api_termination".into(), json!(protection));
        }
        TerminationReads::Protected if protection => {
            m.insert("disable_api_termination".into(), json!(true));
        }
        _ => {}
    }
    if let Some(block) = first_block(a, "metadata_options") {
        let mut mo = Map::new();
        for key in ["http_endpoint", "http_tokens", "instance_metadata_tags"] {
            if let Some(Value::String(s)) = block.get(key) {
                if !s.is_empty() {
                    mo.insert(key.into(), json!(s));
                }
            }
        }
        if let Some(n) = as_i64(block.get("http_put_response_hop_limit")) {
            mo.insert("http_put_response_hop_limit".into(), json!(n));
        }
        if !mo.is_empty() {
            m.insert("metadata_options".into(), Value::Object(mo));
        }
    }
    if let Some(block) = first_block(a, "root_block_device") {
        let mut rb = Map::new();
        if let Some(n) = as_i64(block.get("volume_size")) {
            rb.insert("volume_size".into(), json!(n));
        }
        if let Some(Value::String(s)) = block.get("volume_type") {
            if !s.is_empty() {
                rb.insert("volume_type".into(), json!(s));
            }
        }
        if let Some(b) = as_bool(block.get("encrypted")) {
            rb.insert("encrypted".into(), json!(b));
        }
        if !rb.is_empty() {
            m.insert("root_block_device".into(), Value::Object(rb));
        }
    }
    m
}

/// Canonical live attributes of an instance (the live side of [`project`]).
pub fn live(i: &Instance, root: Option<&Attrs>) -> Attrs {
    let mut m = Map::new();
    let s = |v: Option<&str>| json!(v.unwrap_or_default());
    m.insert(
        "instance_type".into(),
        s(i.instance_type().map(|t| t.as_str())),
    );
    m.insert("ami".into(), s(i.image_id()));
    m.insert("subnet_id".into(), s(i.subnet_id()));
    m.insert("key_name".into(), s(i.key_name()));
    m.insert(
        "iam_instance_profile".into(),
        json!(i
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(instance_profile_name)
            .unwrap_or_default()),
    );
    m.insert(
        "tags".into(),
        tags_from_pairs(
            i.tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        ),
    );
    m.insert(
        "vpc_security_group_ids".into(),
        crate::normalize::string_set(i.security_groups().iter().filter_map(|g| g.group_id())),
    );
    if let Some(state) = i.monitoring().and_then(|m| m.state()) {
        m.insert(
            "monitoring".into(),
            json!(matches!(state.as_str(), "enabled" | "pending")),
        );
    }
    if let Some(b) = i.source_dest_check() {
        m.insert("source_dest_check".into(), json!(b));
    }
    if let Some(b) = i.ebs_optimized() {
        m.insert("ebs_optimized".into(), json!(b));
    }
    if let Some(mo) = i.metadata_options() {
        let mut o = Map::new();
        if let Some(v) = mo.http_endpoint() {
            o.insert("http_endpoint".into(), json!(v.as_str()));
        }
        if let Some(v) = mo.http_tokens() {
            o.insert("http_tokens".into(), json!(v.as_str()));
        }
        if let Some(v) = mo.http_put_response_hop_limit() {
            o.insert("http_put_response_hop_limit".into(), json!(v));
        }
        if let Some(v) = mo.instance_metadata_tags() {
            o.insert("instance_metadata_tags".into(), json!(v.as_str()));
        }
        m.insert("metadata_options".into(), Value::Object(o));
    }
    if let Some(root) = root {
        m.insert("root_block_device".into(), Value::Object(root.clone()));
    }
    m
}

/// Reconcile plan: tags, monitoring, termination protection, source/dest
/// check and metadata options in place; what needs a stop or a replacement
/// is refused.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    let mut out = Vec::new();
    for x in diffs {
        match x.path[0].as_str() {
            "tags" if x.path.len() == 2 => super::tag_actions(d, x, &mut out)?,
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
                    "http_endpoint" => m.http_endpoint = Some(string(d, &attribute, &x.expected)?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        GroupIdentifier, IamInstanceProfile, InstanceMetadataOptionsResponse, InstanceType,
        Monitoring, MonitoringState, Tag,
    };

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_instance.web".into(),
            rtype: NAME.into(),
            id: "i-1".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// A state fixture (provider v5 layout) and the DescribeInstances answer
    /// for the same instance project to the same canonical attributes.
    #[test]
    fn state_and_recorded_describe_instances_agree() {
        let s = state(json!({
            "instance_type": "t3.micro", "ami": "ami-1", "subnet_id": "subnet-1",
            "iam_instance_profile": "web", "key_name": "", "tags": {"Name": "web"},
            "tags_all": {"Name": "web"}, "vpc_security_group_ids": ["sg-2", "sg-1"],
            "monitoring": false, "source_dest_check": true, "ebs_optimized": false,
            "disable_api_termination": false,
            "metadata_options": [{"http_endpoint": "enabled", "http_tokens": "required",
                                  "http_put_response_hop_limit": 2, "instance_metadata_tags": "disabled"}],
        }));
        let desired = project(&s, &ProjectContext::default());
        let recorded = Instance::builder()
            .instance_id("i-1")
            .instance_type(InstanceType::T3Micro)
            .image_id("ami-1")
            .subnet_id("subnet-1")
            .iam_instance_profile(
                IamInstanceProfile::builder()
                    .arn("arn:aws:iam::123456789012:instance-profile/web")
                    .build(),
            )
            .tags(Tag::builder().key("Name").value("web").build())
            .security_groups(GroupIdentifier::builder().group_id("sg-1").build())
            .security_groups(GroupIdentifier::builder().group_id("sg-2").build())
            .monitoring(
                Monitoring::builder()
                    .state(MonitoringState::Disabled)
                    .build(),
            )
            .source_dest_check(true)
            .ebs_optimized(false)
            .metadata_options(
                InstanceMetadataOptionsResponse::builder()
                    .http_endpoint("enabled".into())
                    .http_tokens("required".into())
                    .http_put_response_hop_limit(2)
                    .instance_metadata_tags("disabled".into())
                    .build(),
            )
            .build();
        let mut live = live(&recorded, None);
        live.insert("key_name".into(), json!(""));
        assert_eq!(desired, live);
        assert!(!desired.contains_key("disable_api_termination"));
    }

    #[test]
    fn termination_protection_follows_the_context() {
        let s = state(json!({"disable_api_termination": true}));
        let all = ProjectContext {
            termination_protection: TerminationReads::All,
        };
        let none = ProjectContext {
            termination_protection: TerminationReads::None,
        };
        assert_eq!(project(&s, &all)["disable_api_termination"], json!(true));
        assert!(!project(&s, &none).contains_key("disable_api_termination"));
    }
}
