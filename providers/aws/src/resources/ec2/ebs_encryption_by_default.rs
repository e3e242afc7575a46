//! `aws_ebs_encryption_by_default`: a region-scoped singleton with a random
//! `terraform-…` id, read with one `GetEbsEncryptionByDefault` per scope
//! (only when the state has one). Turned off where the state says on is
//! critical: new volumes would be unencrypted. Not discoverable.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map};

use crate::normalize::as_bool;
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute;
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_ebs_encryption_by_default";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("enabled", Shape::Block, true, Fix::No)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "ebs-encryption-by-default",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:GetEbsEncryptionByDefault"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::EBS_ENCRYPTION_BY_DEFAULT,
        parent: |_| Some("scope".to_string()),
        extract,
        settle: None,
    },
    plan: None,
};

/// Canonical desired attributes: `enabled` (schema default true).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    live(as_bool(r.attrs.get("enabled")).unwrap_or(true))
}

/// Canonical live attributes from `GetEbsEncryptionByDefault`.
pub fn live(enabled: bool) -> Attrs {
    let mut m = Map::new();
    m.insert("enabled".into(), json!(enabled));
    m
}

/// The scope's one answer, for every such resource the state declares.
fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let on = i.get("EbsEncryptionByDefault") == Some(&json!(true));
    desired
        .of_type(NAME)
        .map(|d| (d.id.clone(), listing::live(&d.id, live(on))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_state_projects_to_the_api_answer() {
        let s = StateResource {
            address: "aws_ebs_encryption_by_default.on".into(),
            rtype: NAME.into(),
            id: "terraform-20240101000000000000000001".into(),
            attrs:
                serde_json::json!({"id": "terraform-20240101000000000000000001", "enabled": true})
                    .as_object()
                    .unwrap()
                    .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        // GetEbsEncryptionByDefault: {"EbsEncryptionByDefault": true}
        assert_eq!(project(&s, &ProjectContext::default()), live(true));
        assert_ne!(project(&s, &ProjectContext::default()), live(false));
    }
}
