//! `aws_volume_attachment`: AWS has no object for a Terraform `vai-<hash>`
//! id; its live side is found in the attachments of its volume, from the
//! `DescribeVolumes` listing shared with `aws_ebs_volume` (as the provider's
//! Read does: same device and instance, state not `detached`). Existence is
//! the drift: a detached (or moved) volume is missing. Not discoverable.

use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute;
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_volume_attachment";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("device_name", Shape::Block, true, Fix::No),
            AttrSpec::new("instance_id", Shape::Block, true, Fix::No),
            AttrSpec::new("volume_id", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeVolumes"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::VOLUMES,
        parent: |d| Some(listing::attr(d, "volume_id").to_string()).filter(|v| !v.is_empty()),
        extract,
        settle: None,
    },
    plan: None,
};

/// Canonical desired attributes: the (device, instance, volume) triple.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    for k in ["device_name", "instance_id", "volume_id"] {
        m.insert(k.into(), string_or_empty(r.attrs.get(k)));
    }
    m
}

/// The live attachment a desired one names, if its listed volume (a
/// `DescribeVolumes` item) still has it.
pub fn live(desired: &Attrs, v: &Item) -> Option<Attrs> {
    let s = |k: &str| desired.get(k).and_then(Value::as_str).unwrap_or_default();
    if matches!(
        listing::get(v, "State"),
        "available" | "deleting" | "deleted" | "error"
    ) {
        return None;
    }
    let found = v
        .get("Attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|a| {
            let f = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
            f("Device") == s("device_name")
                && f("InstanceId") == s("instance_id")
                && f("State") != "detached"
        });
    found.then(|| {
        let mut m = Map::new();
        m.insert("device_name".into(), json!(s("device_name")));
        m.insert("instance_id".into(), json!(s("instance_id")));
        m.insert("volume_id".into(), json!(listing::get(v, "VolumeId")));
        m
    })
}

/// The attachments the state declares on this listed volume that it still has.
fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let vol = listing::get(i, "VolumeId");
    desired
        .of_type(NAME)
        .filter(|d| listing::attr(d, "volume_id") == vol)
        .filter_map(|d| live(&d.attrs, i).map(|a| (d.id.clone(), listing::live(&d.id, a))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{Volume, VolumeAttachment, VolumeAttachmentState, VolumeState};

    fn recorded(state: VolumeState, dev: &str, att: VolumeAttachmentState) -> Item {
        let v = Volume::builder()
            .volume_id("vol-1")
            .state(state)
            .attachments(
                VolumeAttachment::builder()
                    .volume_id("vol-1")
                    .instance_id("i-1")
                    .device(dev)
                    .state(att)
                    .build(),
            )
            .build();
        compute::volume_item(&v)
    }

    #[test]
    fn an_attachment_is_found_by_device_and_instance() {
        let s = StateResource {
            address: "aws_volume_attachment.data".into(),
            rtype: NAME.into(),
            id: "vai-3327424217".into(),
            attrs: json!({"id": "vai-3327424217", "device_name": "/dev/sdh", "instance_id": "i-1",
                "volume_id": "vol-1", "force_detach": null, "skip_destroy": null,
                "stop_instance_before_detaching": null})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        let v = recorded(
            VolumeState::InUse,
            "/dev/sdh",
            VolumeAttachmentState::Attached,
        );
        assert_eq!(live(&d, &v), Some(d.clone()));
        // Moved to another device, detached, or the volume is available: gone.
        let v = recorded(
            VolumeState::InUse,
            "/dev/sdj",
            VolumeAttachmentState::Attached,
        );
        assert_eq!(live(&d, &v), None);
        let v = recorded(
            VolumeState::InUse,
            "/dev/sdh",
            VolumeAttachmentState::Detached,
        );
        assert_eq!(live(&d, &v), None);
        let v = recorded(
            VolumeState::Available,
            "/dev/sdh",
            VolumeAttachmentState::Attached,
        );
        assert_eq!(live(&d, &v), None);
    }
}
