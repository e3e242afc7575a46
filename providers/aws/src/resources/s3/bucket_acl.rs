//! `aws_s3_bucket_acl`: `GetBucketAcl` per bucket (declared here, made by the
//! S3 service with the bucket's other reads). AWS always answers with an
//! owner and grants, so the resource is never "missing" while its bucket
//! exists. Not discoverable; no reconciler call.
//!
//! Compared: `access_control_policy` (the provider's Read always writes it
//! from GetBucketAcl): `grant` as a set keyed by grantee (type + id, URI or
//! e-mail) and permission, and `owner.id`; every `display_name` is ignored
//! (AWS is removing it). The canned `acl` is not compared: the provider takes
//! it from the resource id, it cannot be read back (its effect shows in the
//! grants). A state without `access_control_policy` compares nothing.

use aws_sdk_s3::operation::get_bucket_acl::GetBucketAclOutput;
use aws_sdk_s3::Client;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::bucket_name;
use super::grants::{live_grant_key, state_grant_keys};
use crate::normalize::{first_block, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::s3::{classify, BucketDoc, Fetch};

pub const NAME: &str = "aws_s3_bucket_acl";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new(
            "access_control_policy",
            Shape::Block,
            true,
            Fix::No,
        )],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        // Grants decide who may read or write the bucket: critical.
        default_rules: &[DefaultRule {
            name: "s3-acl",
            attributes: &[],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["s3:GetBucketAcl"],
        write_actions: &[],
        project,
        live_id: bucket_name,
    },
    source: Source::BucketDoc {
        replaces: Some("grant"),
        doc: &DOC,
    },
    plan: None,
};

static DOC: BucketDoc = BucketDoc {
    operation: "GetBucketAcl",
    read,
};

fn read<'a>(client: &'a Client, bucket: &'a str) -> BoxFuture<'a, Result<Fetch<Attrs>, String>> {
    Box::pin(async move {
        let r = client.get_bucket_acl().bucket(bucket).send().await;
        Ok(match classify(DOC.operation, &[], r)? {
            Fetch::Present(o) => Fetch::Present(live(&o)),
            Fetch::Absent => Fetch::Absent,
            Fetch::Gone => Fetch::Gone,
        })
    })
}

fn canonical(mut grants: Vec<String>, owner: Value) -> Attrs {
    grants.sort();
    grants.dedup();
    let mut m = Map::new();
    m.insert(
        "access_control_policy".into(),
        json!({ "grant": grants, "owner": { "id": owner } }),
    );
    m
}

/// Canonical desired attributes: `access_control_policy`, when the state
/// has one.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let Some(policy) = first_block(&r.attrs, "access_control_policy") else {
        return Map::new();
    };
    let grants = state_grant_keys(policy.get("grant"));
    let owner = string_or_empty(first_block(policy, "owner").and_then(|o| o.get("id")));
    canonical(grants, owner)
}

/// Canonical live attributes from a GetBucketAcl answer.
pub fn live(o: &GetBucketAclOutput) -> Attrs {
    let grants = o
        .grants()
        .iter()
        .map(|g| {
            live_grant_key(
                g.grantee(),
                g.permission().map(|p| p.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    canonical(
        grants,
        json!(o.owner().and_then(|w| w.id()).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{Grant, Grantee, Owner, Permission, Type};

    const OWNER: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
    const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

    fn grant(kind: Type, who: &str, p: Permission) -> Grant {
        let mut g = Grantee::builder()
            .r#type(kind.clone())
            .display_name("ignored");
        g = if kind == Type::Group {
            g.uri(who)
        } else {
            g.id(who)
        };
        Grant::builder()
            .grantee(g.build().unwrap())
            .permission(p)
            .build()
    }

    fn recorded(extra: Option<Grant>) -> GetBucketAclOutput {
        let mut b = GetBucketAclOutput::builder()
            .owner(Owner::builder().id(OWNER).display_name("webfile").build())
            .grants(grant(Type::CanonicalUser, OWNER, Permission::FullControl))
            .grants(grant(Type::Group, LOG_DELIVERY, Permission::Write));
        if let Some(g) = extra {
            b = b.grants(g);
        }
        b.build()
    }

    fn state() -> StateResource {
        StateResource {
            address: "aws_s3_bucket_acl.a".into(),
            rtype: NAME.into(),
            id: "b1,log-delivery-write".into(),
            attrs: json!({
                "id": "b1,log-delivery-write", "bucket": "b1", "expected_bucket_owner": "",
                "acl": "log-delivery-write",
                "access_control_policy": [{
                    "grant": [
                      {"permission": "WRITE", "grantee": [{"type": "Group", "uri": LOG_DELIVERY,
                        "id": "", "email_address": "", "display_name": ""}]},
                      {"permission": "FULL_CONTROL", "grantee": [{"type": "CanonicalUser", "id": OWNER,
                        "uri": "", "email_address": "", "display_name": "other name"}]}],
                    "owner": [{"id": OWNER, "display_name": ""}]}]})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    /// The state provider v5 writes for a canned ACL (grants read back, in
    /// another order, other display names) and the recorded answer agree; a
    /// public grant does not; the id carrying the ACL still names the bucket.
    #[test]
    fn state_and_recorded_answer_agree_and_a_public_grant_is_drift() {
        let ctx = ProjectContext::default();
        let d = project(&state(), &ctx);
        assert_eq!(d, live(&recorded(None)));
        assert_eq!((TYPE.info.live_id)(&state()), "b1");
        let public = grant(
            Type::Group,
            "http://acs.amazonaws.com/groups/global/AllUsers",
            Permission::Read,
        );
        assert_ne!(d, live(&recorded(Some(public))));
    }

    /// Only a canned `acl` in state: nothing to compare.
    #[test]
    fn a_state_without_a_policy_compares_nothing() {
        let mut s = state();
        s.attrs.remove("access_control_policy");
        assert!(project(&s, &ProjectContext::default()).is_empty());
    }

    #[test]
    fn it_is_registered_once() {
        assert!(std::ptr::eq(crate::registry::get(NAME).unwrap(), &TYPE));
    }
}
