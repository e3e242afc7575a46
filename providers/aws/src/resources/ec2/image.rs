//! `aws_ami` (images the account owns; `aws_ami_copy` and
//! `aws_ami_from_instance` share its state shape): read with
//! `DescribeImages(Owners=[self])`, one listing per scope. An image made
//! public is critical. Images made by AWS Backup, DLM or Image Builder are
//! not unmanaged unless strict.

use aws_sdk_ec2::types::Image;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map};

use super::{ec2_tags, text};
use crate::normalize::{as_bool, effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute::{self, canonical};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_ami";

const fn attr(name: &'static str, critical: bool) -> AttrSpec {
    AttrSpec::new(name, Shape::Block, critical, Fix::No)
}

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            attr("name", false),
            attr("description", false),
            attr("architecture", false),
            attr("root_device_name", false),
            attr("virtualization_type", false),
            attr("ena_support", false),
            attr("imds_support", true),
            attr("public", true),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "ami-public",
            attributes: &["public", "imds_support"],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeImages"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::IMAGES,
        parent: listing::own_id,
        extract,
        settle: None,
    },
    plan: None,
};

const STRINGS: &[&str] = &[
    "name",
    "description",
    "architecture",
    "root_device_name",
    "virtualization_type",
    "imds_support",
];

/// Canonical desired attributes of an owned image.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for k in STRINGS {
        m.insert((*k).into(), string_or_empty(a.get(*k)));
    }
    m.insert(
        "ena_support".into(),
        json!(as_bool(a.get("ena_support")).unwrap_or(false)),
    );
    if let Some(b) = as_bool(a.get("public")) {
        m.insert("public".into(), json!(b));
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes from one `DescribeImages` entry.
pub fn live(i: &Image) -> Attrs {
    let mut m = Map::new();
    m.insert("name".into(), text(i.name()));
    m.insert("description".into(), text(i.description()));
    m.insert(
        "architecture".into(),
        text(i.architecture().map(|x| x.as_str())),
    );
    m.insert("root_device_name".into(), text(i.root_device_name()));
    m.insert(
        "virtualization_type".into(),
        text(i.virtualization_type().map(|x| x.as_str())),
    );
    m.insert(
        "imds_support".into(),
        text(i.imds_support().map(|x| x.as_str())),
    );
    m.insert(
        "ena_support".into(),
        json!(i.ena_support().unwrap_or(false)),
    );
    m.insert("public".into(), json!(i.public().unwrap_or(false)));
    m.insert("tags".into(), ec2_tags(i.tags()));
    m
}

/// Made by a service (AWS Backup, Data Lifecycle Manager, Image Builder).
pub fn service_owner(i: &Image) -> Option<String> {
    if i.name().is_some_and(|n| n.starts_with("AwsBackup_")) {
        return Some("backup".into());
    }
    i.tags().iter().find_map(|t| match (t.key(), t.value()) {
        (Some("aws:backup:source-resource"), _) => Some("backup".into()),
        (Some("aws:dlm:lifecycle-policy-id"), _) => Some("dlm".into()),
        (Some("CreatedBy"), Some("EC2 Image Builder")) | (Some("Ec2ImageBuilderArn"), _) => {
            Some("imagebuilder".into())
        }
        _ => None,
    })
}

/// The snapshots an image's block devices come from (they back the image:
/// not unmanaged on their own).
pub fn snapshots(i: &Image) -> impl Iterator<Item = &str> {
    i.block_device_mappings()
        .iter()
        .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
}

/// This type's live resources in one listed item.
fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "ImageId");
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
    use aws_sdk_ec2::types::{ArchitectureValues, ImdsSupportValues, Tag, VirtualizationType};

    /// Recorded provider v5 state and DescribeImages(Owners=self) answer.
    #[test]
    fn state_and_recorded_describe_images_agree() {
        let s = StateResource {
            address: "aws_ami.golden".into(),
            rtype: NAME.into(),
            id: "ami-1".into(),
            attrs: json!({"id": "ami-1", "name": "golden", "description": "",
                "architecture": "x86_64", "boot_mode": "", "ena_support": true,
                "imds_support": "v2.0", "root_device_name": "/dev/xvda",
                "virtualization_type": "hvm", "public": false, "owner_id": "123456789012",
                "ebs_block_device": [{"device_name": "/dev/xvda", "snapshot_id": "snap-1"}],
                "tags": {"Name": "golden"}, "tags_all": {"Name": "golden"}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        let mut i = Image::builder()
            .image_id("ami-1")
            .name("golden")
            .architecture(ArchitectureValues::X8664)
            .ena_support(true)
            .imds_support(ImdsSupportValues::V20)
            .root_device_name("/dev/xvda")
            .virtualization_type(VirtualizationType::Hvm)
            .public(false)
            .tags(Tag::builder().key("Name").value("golden").build())
            .build();
        assert_eq!(d, live(&i));
        assert_eq!(service_owner(&i), None);
        i.public = Some(true);
        assert_eq!(live(&i)["public"], json!(true));
    }

    #[test]
    fn backup_images_are_service_owned() {
        let i = Image::builder().name("AwsBackup_i-1").build();
        assert_eq!(service_owner(&i).as_deref(), Some("backup"));
    }
}
