//! `aws_ebs_snapshot`: read with `DescribeSnapshots(OwnerIds=[self])`, one
//! listing per scope, kept to the account's own snapshots (OwnerId: some
//! endpoints answer with others' too). Snapshots that back an image (made by
//! CreateImage or CopyImage, or named by an owned image) or that AWS Backup
//! and DLM made are not unmanaged unless strict.

use aws_sdk_ec2::types::Snapshot;
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

pub const NAME: &str = "aws_ebs_snapshot";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("volume_id", Shape::Block, false, Fix::No),
            AttrSpec::new("description", Shape::Block, false, Fix::No),
            AttrSpec::new("encrypted", Shape::Block, true, Fix::No),
            AttrSpec::new("volume_size", Shape::Block, false, Fix::No),
            AttrSpec::new("storage_tier", Shape::Block, false, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "ebs-snapshot-encryption",
            attributes: &["encrypted"],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeSnapshots"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::SNAPSHOTS,
        parent: listing::own_id,
        extract,
        settle: None,
    },
    plan: None,
};

/// Canonical desired attributes of a snapshot.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    m.insert("volume_id".into(), string_or_empty(a.get("volume_id")));
    m.insert("description".into(), string_or_empty(a.get("description")));
    if let Some(b) = as_bool(a.get("encrypted")) {
        m.insert("encrypted".into(), json!(b));
    }
    if let Some(n) = as_i64(a.get("volume_size")).filter(|n| *n > 0) {
        m.insert("volume_size".into(), json!(n));
    }
    // Computed ("standard"); an old state may lack it.
    if let Some(t) = a
        .get("storage_tier")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        m.insert("storage_tier".into(), json!(t));
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes from one `DescribeSnapshots` entry.
pub fn live(s: &Snapshot) -> Attrs {
    let mut m = Map::new();
    m.insert("volume_id".into(), text(s.volume_id()));
    m.insert("description".into(), text(s.description()));
    if let Some(b) = s.encrypted() {
        m.insert("encrypted".into(), json!(b));
    }
    if let Some(n) = s.volume_size() {
        m.insert("volume_size".into(), json!(n));
    }
    if let Some(t) = s.storage_tier() {
        m.insert("storage_tier".into(), json!(t.as_str()));
    }
    m.insert("tags".into(), ec2_tags(s.tags()));
    m
}

/// Made by a service, or backing an image (by its description: CreateImage
/// writes `Created by CreateImage(i-…) for ami-…`, CopyImage `Copied for
/// DestinationAmi ami-…`; AWS's own image snapshots say `… for AMI ami-…`).
pub fn service_owner(s: &Snapshot) -> Option<String> {
    let d = s.description().unwrap_or_default().to_ascii_lowercase();
    if d.contains(" for ami-") || d.contains(" for ami ami-") || d.contains("destinationami ami-") {
        return Some("ami".into());
    }
    s.tags().iter().find_map(|t| match t.key() {
        Some("aws:backup:source-resource") => Some("backup".into()),
        Some("aws:dlm:lifecycle-policy-id") => Some("dlm".into()),
        _ => None,
    })
}

/// This type's live resources in one listed item.
fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "SnapshotId");
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
    use aws_sdk_ec2::types::{StorageTier, Tag};

    /// Recorded provider v5 state and DescribeSnapshots answer.
    #[test]
    fn state_and_recorded_describe_snapshots_agree() {
        let st = StateResource {
            address: "aws_ebs_snapshot.nightly".into(),
            rtype: NAME.into(),
            id: "snap-1".into(),
            attrs: json!({"id": "snap-1", "volume_id": "vol-1", "description": "nightly",
                "encrypted": true, "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k",
                "owner_id": "123456789012", "owner_alias": "", "volume_size": 20,
                "storage_tier": "standard", "outpost_arn": "", "permanent_restore": null,
                "temporary_restore_days": null, "data_encryption_key_id": "",
                "tags": {"Name": "nightly"}, "tags_all": {"Name": "nightly"}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&st, &ProjectContext::default());
        let s = Snapshot::builder()
            .snapshot_id("snap-1")
            .volume_id("vol-1")
            .description("nightly")
            .encrypted(true)
            .owner_id("123456789012")
            .volume_size(20)
            .storage_tier(StorageTier::Standard)
            .tags(Tag::builder().key("Name").value("nightly").build())
            .build();
        assert_eq!(d, live(&s));
        assert_eq!(service_owner(&s), None);
    }

    #[test]
    fn image_backing_and_backup_snapshots_are_service_owned() {
        let mk = |d: &str| Snapshot::builder().description(d).build();
        for d in [
            "Created by CreateImage(i-0abc) for ami-0def",
            "Copied for DestinationAmi ami-0def from SourceAmi ami-1 for SourceSnapshot snap-1",
            "Auto-created snapshot for AMI ami-03cf127a",
        ] {
            assert_eq!(service_owner(&mk(d)).as_deref(), Some("ami"), "{d}");
        }
        let b = Snapshot::builder()
            .tags(
                Tag::builder()
                    .key("aws:backup:source-resource")
                    .value("x")
                    .build(),
            )
            .build();
        assert_eq!(service_owner(&b).as_deref(), Some("backup"));
    }
}
