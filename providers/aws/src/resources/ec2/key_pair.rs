//! `aws_key_pair`: read with `DescribeKeyPairs` (one unpaginated listing per
//! scope). The id is the key name. `public_key` is never read back by the
//! provider, so a replaced key shows in `key_pair_id` and `fingerprint`:
//! critical (it grants SSH access). Every key pair is discoverable.

use aws_sdk_ec2::types::KeyPairInfo;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::{ec2_tags, text};
use crate::normalize::effective_tags;
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute::{self, canonical};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_key_pair";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("key_pair_id", Shape::Block, true, Fix::No),
            AttrSpec::new("fingerprint", Shape::Block, true, Fix::No),
            AttrSpec::new("key_type", Shape::Block, true, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "key-pair-identity",
            attributes: &["key_pair_id", "fingerprint", "key_type"],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeKeyPairs"],
        write_actions: &[],
        project,
        live_id: |r| {
            r.attrs
                .get("key_name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(&r.id)
                .to_string()
        },
    },
    source: Source::Ec2List {
        listing: &compute::KEY_PAIRS,
        parent: listing::own_id,
        extract,
        settle: None,
    },
    plan: None,
};

/// Canonical desired attributes (only those the state knows: computed
/// values of an old state may be empty).
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for k in ["key_pair_id", "fingerprint", "key_type"] {
        if let Some(v) = a.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes from one `DescribeKeyPairs` entry.
pub fn live(k: &KeyPairInfo) -> Attrs {
    let mut m = Map::new();
    m.insert("key_pair_id".into(), text(k.key_pair_id()));
    m.insert("fingerprint".into(), text(k.key_fingerprint()));
    // Absent in some answers (moto): not observed, so not compared.
    if let Some(t) = k.key_type() {
        m.insert("key_type".into(), json!(t.as_str()));
    }
    m.insert("tags".into(), ec2_tags(k.tags()));
    m
}

/// This type's live resources in one listed item.
fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "KeyName");
    let l = listing::live(id, canonical(i));
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{KeyType, Tag};

    /// Recorded provider v5 state and DescribeKeyPairs answer for one key.
    #[test]
    fn state_and_recorded_describe_key_pairs_agree() {
        let s = StateResource {
            address: "aws_key_pair.deploy".into(),
            rtype: NAME.into(),
            id: "deploy".into(),
            attrs: json!({"id": "deploy", "key_name": "deploy", "key_name_prefix": "",
                "public_key": "ssh-ed25519 AAAAC3Nza deploy@ci", "key_pair_id": "key-0abc",
                "fingerprint": "SHA256:abc", "key_type": "ed25519",
                "arn": "arn:aws:ec2:us-east-1:123456789012:key-pair/deploy",
                "tags": null, "tags_all": {}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        assert!(!d.contains_key("public_key"));
        assert_eq!((TYPE.info.live_id)(&s), "deploy");
        let k = KeyPairInfo::builder()
            .key_name("deploy")
            .key_pair_id("key-0abc")
            .key_fingerprint("SHA256:abc")
            .key_type(KeyType::Ed25519)
            .build();
        assert_eq!(d, live(&k));
        // Deleted and re-imported under the same name: another id.
        let replaced = KeyPairInfo::builder()
            .key_name("deploy")
            .key_pair_id("key-0def")
            .key_fingerprint("SHA256:def")
            .key_type(KeyType::Ed25519)
            .tags(Tag::builder().key("by").value("hand").build())
            .build();
        assert_ne!(d["key_pair_id"], live(&replaced)["key_pair_id"]);
    }
}
