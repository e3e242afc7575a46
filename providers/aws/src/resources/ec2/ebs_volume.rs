//! `aws_ebs_volume`: read with `DescribeVolumes` (one listing per scope,
//! shared with `aws_volume_attachment`). A volume attached as an instance's
//! root device was created with the instance: not unmanaged unless strict.

use aws_sdk_ec2::types::Volume;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::{ec2_tags, text};
use crate::normalize::{as_bool, as_i64, effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute::{self, canonical};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_ebs_volume";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("availability_zone", Shape::Block, false, Fix::No),
            AttrSpec::new("size", Shape::Block, false, Fix::No),
            AttrSpec::new("type", Shape::Block, false, Fix::No),
            AttrSpec::new("iops", Shape::Block, false, Fix::No),
            AttrSpec::new("throughput", Shape::Block, false, Fix::No),
            AttrSpec::new("encrypted", Shape::Block, true, Fix::No),
            AttrSpec::new("kms_key_id", Shape::Block, true, Fix::No),
            AttrSpec::new("multi_attach_enabled", Shape::Block, false, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "ebs-volume-encryption",
            attributes: &["encrypted", "kms_key_id"],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeVolumes"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::VOLUMES,
        parent: listing::own_id,
        extract,
        settle: None,
    },
    plan: None,
};

/// Volume types whose `iops` is provisioned (elsewhere AWS reports a
/// baseline the provider stores but nobody set: never compared).
fn provisioned_iops(t: &str) -> bool {
    matches!(t, "io1" | "io2" | "gp3")
}

/// Canonical desired attributes of a volume.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let ty = a.get("type").and_then(Value::as_str).unwrap_or_default();
    let mut m = Map::new();
    m.insert(
        "availability_zone".into(),
        string_or_empty(a.get("availability_zone")),
    );
    m.insert("type".into(), string_or_empty(a.get("type")));
    if let Some(n) = as_i64(a.get("size")) {
        m.insert("size".into(), json!(n));
    }
    if provisioned_iops(ty) {
        if let Some(n) = as_i64(a.get("iops")).filter(|n| *n > 0) {
            m.insert("iops".into(), json!(n));
        }
    }
    if ty == "gp3" {
        if let Some(n) = as_i64(a.get("throughput")).filter(|n| *n > 0) {
            m.insert("throughput".into(), json!(n));
        }
    }
    if let Some(b) = as_bool(a.get("encrypted")) {
        m.insert("encrypted".into(), json!(b));
    }
    // Computed: the account's default key when unset; compared when known.
    if let Some(k) = a.get("kms_key_id").and_then(Value::as_str) {
        if !k.is_empty() {
            m.insert("kms_key_id".into(), json!(k));
        }
    }
    if let Some(b) = as_bool(a.get("multi_attach_enabled")) {
        m.insert("multi_attach_enabled".into(), json!(b));
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes from one `DescribeVolumes` entry.
pub fn live(v: &Volume) -> Attrs {
    let ty = v.volume_type().map(|t| t.as_str()).unwrap_or_default();
    let mut m = Map::new();
    m.insert("availability_zone".into(), text(v.availability_zone()));
    m.insert("type".into(), json!(ty));
    if let Some(n) = v.size() {
        m.insert("size".into(), json!(n));
    }
    if provisioned_iops(ty) {
        if let Some(n) = v.iops() {
            m.insert("iops".into(), json!(n));
        }
    }
    if ty == "gp3" {
        if let Some(n) = v.throughput() {
            m.insert("throughput".into(), json!(n));
        }
    }
    if let Some(b) = v.encrypted() {
        m.insert("encrypted".into(), json!(b));
    }
    if let Some(k) = v.kms_key_id() {
        m.insert("kms_key_id".into(), json!(k));
    }
    m.insert(
        "multi_attach_enabled".into(),
        json!(v.multi_attach_enabled().unwrap_or(false)),
    );
    m.insert("tags".into(), ec2_tags(v.tags()));
    m
}

/// Attached as the root device of an instance (`root_devices`: instance id
/// -> its root device name, from `DescribeInstances`): created with it.
pub fn is_root_of_instance(
    v: &Volume,
    root_devices: &std::collections::HashMap<String, String>,
) -> bool {
    v.attachments().iter().any(|a| {
        a.instance_id()
            .and_then(|i| root_devices.get(i))
            .is_some_and(|root| a.device() == Some(root.as_str()))
    })
}

/// This type's live resources in one listed item.
fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "VolumeId");
    let mut l = listing::live(id, canonical(i));
    l.auto_created = i.get("RootOfInstance") == Some(&json!(true));
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{Tag, VolumeAttachment, VolumeType};

    fn state(attrs: Value) -> StateResource {
        StateResource {
            address: "aws_ebs_volume.data".into(),
            rtype: NAME.into(),
            id: "vol-1".into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// Recorded (provider v5 state, DescribeVolumes answer) for a gp2 volume:
    /// the baseline iops AWS reports (100) is stored but never compared.
    #[test]
    fn state_and_recorded_describe_volumes_agree() {
        let s = state(
            json!({"id": "vol-1", "availability_zone": "us-east-1a", "size": 20,
            "type": "gp2", "iops": 100, "throughput": 0, "encrypted": true,
            "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k", "snapshot_id": "",
            "multi_attach_enabled": false, "outpost_arn": "", "final_snapshot": false,
            "tags": {"Name": "data"}, "tags_all": {"Name": "data", "Team": "core"}}),
        );
        let d = project(&s, &ProjectContext::default());
        assert!(!d.contains_key("iops"));
        let v = Volume::builder()
            .volume_id("vol-1")
            .availability_zone("us-east-1a")
            .size(20)
            .volume_type(VolumeType::Gp2)
            .iops(100)
            .encrypted(true)
            .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/k")
            .multi_attach_enabled(false)
            .tags(Tag::builder().key("Name").value("data").build())
            .tags(Tag::builder().key("Team").value("core").build())
            .tags(Tag::builder().key("aws:backup:x").value("y").build())
            .build();
        assert_eq!(d, live(&v));
    }

    #[test]
    fn gp3_iops_and_throughput_are_compared() {
        let s = state(json!({"type": "gp3", "iops": 3000, "throughput": 125, "size": 8}));
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d["iops"], json!(3000));
        assert_eq!(d["throughput"], json!(125));
        let v = Volume::builder()
            .volume_type(VolumeType::Gp3)
            .iops(4000)
            .throughput(125)
            .size(8)
            .build();
        assert_eq!(live(&v)["iops"], json!(4000));
    }

    #[test]
    fn root_volumes_are_recognised_by_the_instance_root_device() {
        let roots = [("i-1".to_string(), "/dev/xvda".to_string())]
            .into_iter()
            .collect();
        let att = |dev: &str| {
            Volume::builder()
                .attachments(
                    VolumeAttachment::builder()
                        .instance_id("i-1")
                        .device(dev)
                        .build(),
                )
                .build()
        };
        assert!(is_root_of_instance(&att("/dev/xvda"), &roots));
        assert!(!is_root_of_instance(&att("/dev/sdf"), &roots));
    }
}
