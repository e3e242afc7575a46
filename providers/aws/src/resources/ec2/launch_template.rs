//! `aws_launch_template`: `DescribeLaunchTemplates` (one listing per scope)
//! and one batched `DescribeLaunchTemplateVersions(Versions=[$Latest])` for
//! the data fields: the provider's state mirrors the LATEST version, not
//! the default one. A version created out of band moves `latest_version`
//! and shows its changed fields. Image, security groups, instance profile,
//! key, IMDS options and user data are critical; launch templates created
//! by EKS, Batch or Karpenter are not unmanaged unless strict.

use aws_sdk_ec2::types::{LaunchTemplate, LaunchTemplateVersion};
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::{ec2_tags, text};
use crate::normalize::{as_i64, effective_tags, first_block, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute::{self, canonical};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_launch_template";

const fn attr(name: &'static str, critical: bool) -> AttrSpec {
    AttrSpec::new(name, Shape::Block, critical, Fix::No)
}

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            attr("name", false),
            attr("description", false),
            attr("default_version", false),
            attr("latest_version", false),
            attr("image_id", true),
            attr("instance_type", false),
            attr("key_name", true),
            attr("vpc_security_group_ids", true),
            attr("ebs_optimized", false),
            attr("user_data", true),
            attr("iam_instance_profile", true),
            attr("metadata_options", true),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "launch-template-access",
            attributes: &[
                "image_id",
                "key_name",
                "vpc_security_group_ids",
                "user_data",
                "iam_instance_profile*",
                "metadata_options*",
            ],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &[
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeLaunchTemplateVersions",
        ],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::LAUNCH_TEMPLATES,
        // Listed by name (DescribeLaunchTemplates has no id filter, and
        // LaunchTemplateIds fails whole on one unknown id); no name: list all.
        parent: |d| Some(listing::attr(d, "name").to_string()).filter(|n| !n.is_empty()),
        extract,
        settle: None,
    },
    plan: None,
};

const STRINGS: &[&str] = &[
    "name",
    "description",
    "image_id",
    "instance_type",
    "key_name",
    "user_data",
    "ebs_optimized",
];

/// Canonical desired attributes of a launch template (its latest version).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for k in STRINGS {
        m.insert((*k).into(), string_or_empty(a.get(*k)));
    }
    for k in ["default_version", "latest_version"] {
        if let Some(n) = as_i64(a.get(k)).filter(|n| *n > 0) {
            m.insert(k.into(), json!(n));
        }
    }
    m.insert(
        "vpc_security_group_ids".into(),
        string_set(strings(a.get("vpc_security_group_ids"))),
    );
    if let Some(b) = first_block(a, "iam_instance_profile") {
        let p = non_empty(b, &["arn", "name"]);
        if !p.is_empty() {
            m.insert("iam_instance_profile".into(), Value::Object(p));
        }
    }
    if let Some(b) = first_block(a, "metadata_options") {
        let mut o = non_empty(
            b,
            &[
                "http_endpoint",
                "http_tokens",
                "http_protocol_ipv6",
                "instance_metadata_tags",
            ],
        );
        if let Some(n) = as_i64(b.get("http_put_response_hop_limit")).filter(|n| *n > 0) {
            o.insert("http_put_response_hop_limit".into(), json!(n));
        }
        if !o.is_empty() {
            m.insert("metadata_options".into(), Value::Object(o));
        }
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

fn non_empty(b: &Attrs, keys: &[&str]) -> Attrs {
    keys.iter()
        .filter_map(|k| {
            b.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| ((*k).to_string(), json!(s)))
        })
        .collect()
}

/// Canonical live attributes from a `DescribeLaunchTemplates` entry and its
/// `$Latest` version (booleans as the provider's strings).
pub fn live(t: &LaunchTemplate, latest: Option<&LaunchTemplateVersion>) -> Attrs {
    let mut m = Map::new();
    m.insert("name".into(), text(t.launch_template_name()));
    if let Some(n) = t.default_version_number() {
        m.insert("default_version".into(), json!(n));
    }
    if let Some(n) = t.latest_version_number() {
        m.insert("latest_version".into(), json!(n));
    }
    m.insert("tags".into(), ec2_tags(t.tags()));
    if let Some(v) = latest {
        m.extend(version_live(v));
    }
    m
}

/// The data fields of a template's latest version, canonical.
pub fn version_live(v: &LaunchTemplateVersion) -> Attrs {
    let mut m = Map::new();
    m.insert("description".into(), text(v.version_description()));
    let data = v.launch_template_data();
    let d = |f: fn(&aws_sdk_ec2::types::ResponseLaunchTemplateData) -> Option<&str>| {
        text(data.and_then(f))
    };
    m.insert("image_id".into(), d(|x| x.image_id()));
    m.insert("key_name".into(), d(|x| x.key_name()));
    m.insert("user_data".into(), d(|x| x.user_data()));
    m.insert(
        "instance_type".into(),
        d(|x| x.instance_type().map(|t| t.as_str())),
    );
    m.insert(
        "ebs_optimized".into(),
        json!(data
            .and_then(|x| x.ebs_optimized())
            .map(|b| b.to_string())
            .unwrap_or_default()),
    );
    m.insert(
        "vpc_security_group_ids".into(),
        string_set(
            data.map(|x| x.security_group_ids())
                .unwrap_or_default()
                .iter()
                .map(String::as_str),
        ),
    );
    // Absent blocks read as empty values, so a removed block is drift.
    let mut p = Map::new();
    let ip = data.and_then(|x| x.iam_instance_profile());
    p.insert("arn".into(), text(ip.and_then(|i| i.arn())));
    p.insert("name".into(), text(ip.and_then(|i| i.name())));
    m.insert("iam_instance_profile".into(), Value::Object(p));
    let mut o = Map::new();
    let mo = data.and_then(|x| x.metadata_options());
    o.insert(
        "http_endpoint".into(),
        text(mo.and_then(|x| x.http_endpoint()).map(|x| x.as_str())),
    );
    o.insert(
        "http_tokens".into(),
        text(mo.and_then(|x| x.http_tokens()).map(|x| x.as_str())),
    );
    o.insert(
        "http_protocol_ipv6".into(),
        text(mo.and_then(|x| x.http_protocol_ipv6()).map(|x| x.as_str())),
    );
    o.insert(
        "instance_metadata_tags".into(),
        text(
            mo.and_then(|x| x.instance_metadata_tags())
                .map(|x| x.as_str()),
        ),
    );
    o.insert(
        "http_put_response_hop_limit".into(),
        json!(mo
            .and_then(|x| x.http_put_response_hop_limit())
            .unwrap_or(0)),
    );
    m.insert("metadata_options".into(), Value::Object(o));
    m
}

/// Created by a service for itself (EKS node groups, Batch, Karpenter).
pub fn service_owner(t: &LaunchTemplate) -> Option<String> {
    let name = t.launch_template_name().unwrap_or_default();
    if name.starts_with("eks-") || name.starts_with("Batch-lt-") {
        return Some(name.split('-').next().unwrap_or_default().to_string());
    }
    t.tags()
        .iter()
        .filter_map(|t| t.key())
        .find(|k| {
            *k == "eks:nodegroup-name"
                || *k == "AWSBatchServiceTag"
                || k.starts_with("karpenter.k8s.aws/")
        })
        .map(|k| k.split([':', '/']).next().unwrap_or(k).to_string())
}

/// This type's live resources in one listed item.
fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "LaunchTemplateId");
    let mut l = listing::live(id, canonical(i));
    l.owned_by_service = i
        .get("ServiceOwner")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        InstanceType, LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecification,
        LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptions,
        ResponseLaunchTemplateData, Tag,
    };

    fn recorded(
        version: i64,
        tokens: LaunchTemplateHttpTokensState,
    ) -> (LaunchTemplate, LaunchTemplateVersion) {
        let t = LaunchTemplate::builder()
            .launch_template_id("lt-1")
            .launch_template_name("web")
            .default_version_number(1)
            .latest_version_number(version)
            .tags(Tag::builder().key("Name").value("web").build())
            .build();
        let v = LaunchTemplateVersion::builder()
            .launch_template_id("lt-1")
            .version_number(version)
            .version_description("v1")
            .launch_template_data(
                ResponseLaunchTemplateData::builder()
                    .image_id("ami-1")
                    .instance_type(InstanceType::T3Micro)
                    .key_name("deploy")
                    .security_group_ids("sg-1")
                    .ebs_optimized(true)
                    .iam_instance_profile(
                        LaunchTemplateIamInstanceProfileSpecification::builder()
                            .name("web")
                            .build(),
                    )
                    .metadata_options(
                        LaunchTemplateInstanceMetadataOptions::builder()
                            .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                            .http_tokens(tokens)
                            .http_put_response_hop_limit(1)
                            .build(),
                    )
                    .build(),
            )
            .build();
        (t, v)
    }

    fn state() -> StateResource {
        StateResource {
            address: "aws_launch_template.web".into(),
            rtype: NAME.into(),
            id: "lt-1".into(),
            attrs: json!({"id": "lt-1", "name": "web", "name_prefix": "", "description": "v1",
                "default_version": 1, "latest_version": 1, "update_default_version": null,
                "image_id": "ami-1", "instance_type": "t3.micro", "key_name": "deploy",
                "user_data": "", "vpc_security_group_ids": ["sg-1"], "security_group_names": [],
                "ebs_optimized": "true", "disable_api_termination": false, "kernel_id": "",
                "block_device_mappings": [], "network_interfaces": [],
                "iam_instance_profile": [{"arn": "", "name": "web"}],
                "metadata_options": [{"http_endpoint": "enabled", "http_tokens": "required",
                    "http_put_response_hop_limit": 1, "http_protocol_ipv6": "",
                    "instance_metadata_tags": ""}],
                "tags": {"Name": "web"}, "tags_all": {"Name": "web"}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// Recorded state and DescribeLaunchTemplates(+Versions $Latest) agree,
    /// comparing the nested blocks on the keys the state sets.
    #[test]
    fn state_and_recorded_latest_version_agree() {
        let d = project(&state(), &ProjectContext::default());
        let (t, v) = recorded(1, LaunchTemplateHttpTokensState::Required);
        let l = live(&t, Some(&v));
        let diffs: Vec<&String> = d
            .keys()
            .filter(|k| match (&d[*k], l.get(*k)) {
                (Value::Object(dm), Some(Value::Object(lm))) => {
                    dm.iter().any(|(kk, vv)| lm.get(kk) != Some(vv))
                }
                (dv, lv) => Some(dv) != lv,
            })
            .collect();
        assert!(diffs.is_empty(), "{diffs:?}\n{d:?}\n{l:?}");
    }

    #[test]
    fn a_new_version_reenabling_imdsv1_is_seen() {
        let (t, v) = recorded(2, LaunchTemplateHttpTokensState::Optional);
        let l = live(&t, Some(&v));
        assert_eq!(l["latest_version"], json!(2));
        assert_eq!(l["metadata_options"]["http_tokens"], json!("optional"));
        assert_eq!(l["ebs_optimized"], json!("true"));
    }

    #[test]
    fn service_created_templates_are_recognised() {
        let t = LaunchTemplate::builder()
            .launch_template_name("eks-1234")
            .build();
        assert_eq!(service_owner(&t).as_deref(), Some("eks"));
        let t = LaunchTemplate::builder()
            .launch_template_name("nodes")
            .tags(
                Tag::builder()
                    .key("karpenter.k8s.aws/cluster")
                    .value("c")
                    .build(),
            )
            .build();
        assert_eq!(service_owner(&t).as_deref(), Some("karpenter.k8s.aws"));
        let (t, _) = recorded(1, LaunchTemplateHttpTokensState::Required);
        assert_eq!(service_owner(&t), None);
    }
}
