//! The AWS schema: the cross-type half of the state projection.
//!
//! Each type's own projection, compared attributes and shapes live in its
//! file under `resources/` and are reached through [`crate::registry`]; what
//! stays here is what spans types: split S3 resources taking over their
//! bucket's inline blocks, standalone rules leaving their group's sets, and
//! regions inherited from a related resource. Canonical attribute paths
//! follow Terraform's (nested single blocks lose their `[0]`), so a drift
//! path can be found again in the `.tf` code.

use std::collections::{BTreeSet, HashMap};

use driftd_core::registry::{ProjectContext, Registry};
use driftd_core::{Attrs, Canon, Desired, Prepared, Schema, Shape, StateResource};
use serde_json::Value;

use crate::normalize::arn_region;
use crate::registry::{self, Source};

pub use crate::resources::ec2::default_security_group::NAME as AWS_DEFAULT_SECURITY_GROUP;
pub use crate::resources::ec2::instance::NAME as AWS_INSTANCE;
pub use crate::resources::ec2::security_group::NAME as AWS_SECURITY_GROUP;
pub use crate::resources::ec2::security_group_rule::NAME as AWS_SECURITY_GROUP_RULE;
pub use crate::resources::ec2::vpc_security_group_rule::{
    canonical as vpc_rule, rule_key_of as vpc_rule_key, EGRESS_NAME as AWS_VPC_SG_EGRESS_RULE,
    INGRESS_NAME as AWS_VPC_SG_INGRESS_RULE,
};
pub use crate::resources::s3::bucket::NAME as AWS_S3_BUCKET;
pub use crate::resources::s3::bucket_name;
pub use crate::resources::s3::bucket_policy::NAME as AWS_S3_BUCKET_POLICY;
pub use crate::resources::s3::bucket_public_access_block::{
    FIELDS as PAB_FIELDS, NAME as AWS_S3_BUCKET_PAB,
};
pub use crate::resources::s3::bucket_server_side_encryption_configuration::{
    sse_rule, NAME as AWS_S3_BUCKET_SSE,
};
pub use crate::resources::s3::bucket_versioning::{
    versioning_status, NAME as AWS_S3_BUCKET_VERSIONING,
};

/// Which instances get a per-instance `DescribeInstanceAttribute` call for
/// `disable_api_termination` (EC2 has no batched read for it): `Protected`
/// (default: only instances whose state enables termination protection,
/// catching the dangerous drift at one call per protected instance), `All`
/// (every managed instance), `None` (never compared).
pub use driftd_core::registry::TerminationReads as InstanceAttributeReads;

/// The AWS schema (pure: no clients).
#[derive(Debug, Clone, Default)]
pub struct AwsSchema {
    pub instance_attribute_reads: InstanceAttributeReads,
}

/// Direction of a security group rule.
pub fn direction_key(egress: bool) -> &'static str {
    if egress {
        "egress"
    } else {
        "ingress"
    }
}

/// Rules managed by standalone rule resources, per (group id, direction).
/// They are compared on the rule resources, and left out of the group's own
/// `ingress`/`egress` on both sides so that one change is reported once.
pub type StandaloneRules = HashMap<(String, &'static str), BTreeSet<String>>;

/// Collect the rule keys owned by standalone rule resources in `desired`.
pub fn standalone_rules(desired: &[Desired]) -> StandaloneRules {
    let mut out: StandaloneRules = HashMap::new();
    for d in desired {
        // Only rule resources are looked into (the others stay frozen).
        let sg = || {
            d.attrs
                .get("security_group_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        match d.rtype.as_str() {
            AWS_SECURITY_GROUP_RULE => {
                let egress = d.attrs.get("type").and_then(Value::as_str) == Some("egress");
                if let Some(Value::Object(rules)) = d.attrs.get("rules") {
                    out.entry((sg(), direction_key(egress)))
                        .or_default()
                        .extend(rules.keys().cloned());
                }
            }
            AWS_VPC_SG_INGRESS_RULE | AWS_VPC_SG_EGRESS_RULE => {
                let egress = d.rtype == AWS_VPC_SG_EGRESS_RULE;
                if let Some(key) = vpc_rule_key(&d.attrs) {
                    out.entry((sg(), direction_key(egress)))
                        .or_default()
                        .insert(key);
                }
            }
            _ => {}
        }
    }
    out
}

/// How `attr` of `rtype` is compared (the registry's declaration).
pub fn shape(rtype: &str, attr: &str) -> Shape {
    if let Some(a) = registry::get(rtype).and_then(|t| t.info.attribute(attr)) {
        return a.shape;
    }
    match attr {
        "tags" | "ingress" | "egress" | "rules" => Shape::Map,
        "policy" => Shape::Leaf,
        _ => Shape::Block,
    }
}

/// Split configuration resources (read per bucket, not the bucket itself).
fn split(rtype: &str) -> Option<Source> {
    registry::get(rtype)
        .map(|t| t.source)
        .filter(|s| s.per_bucket() && !matches!(s, Source::Bucket))
}

impl Schema for AwsSchema {
    fn supported_types(&self) -> &'static [&'static str] {
        registry::names()
    }

    fn discoverable_types(&self) -> &'static [&'static str] {
        registry::discoverable()
    }

    fn registry(&self) -> Registry {
        registry::registry()
    }

    fn regions(&self, resources: &[StateResource]) -> Vec<Option<String>> {
        let own = |r: &StateResource| {
            r.raw("region")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| r.raw("arn").and_then(Value::as_str).and_then(arn_region))
        };
        // Split S3 resources carry no region (before provider v6): they live
        // where their bucket lives.
        let bucket_regions: HashMap<String, String> = resources
            .iter()
            .filter(|r| r.rtype == AWS_S3_BUCKET)
            .filter_map(|r| Some((bucket_name(r), own(r)?)))
            .collect();
        // Standalone group rules carry no region either: their group's.
        let group_regions: HashMap<String, String> = resources
            .iter()
            .filter(|r| r.rtype == AWS_SECURITY_GROUP)
            .filter_map(|r| Some((r.id.clone(), own(r)?)))
            .collect();
        resources
            .iter()
            .map(|r| {
                own(r).or_else(|| {
                    if split(&r.rtype).is_some() {
                        bucket_regions.get(&bucket_name(r)).cloned()
                    } else if r.rtype == AWS_SECURITY_GROUP_RULE {
                        r.raw("security_group_id")
                            .and_then(Value::as_str)
                            .and_then(|g| group_regions.get(g).cloned())
                    } else {
                        None
                    }
                })
            })
            .collect()
    }

    fn shape(&self, rtype: &str, attr: &str) -> Shape {
        shape(rtype, attr)
    }

    fn prepare(&self, r: &mut StateResource) {
        let Some(t) = registry::get(&r.rtype) else {
            return;
        };
        if r.prepared.is_some() {
            return;
        }
        let ctx = self.context();
        let attrs = (t.info.project)(r, &ctx);
        let live_id = (t.info.live_id)(r);
        let locating = LOCATING
            .iter()
            .filter_map(|k| Some((*k, r.attrs.remove(*k)?)))
            .collect();
        r.attrs = Attrs::new();
        r.prepared = Some(Box::new(Prepared {
            live_id,
            // Frozen from the start: the state's canonical forms are held
            // until their live pages arrive (see `driftd_core::canon`).
            attrs: Canon::frozen(&attrs),
            context: ctx,
            locating,
        }));
    }

    fn desired(&self, resources: &[StateResource]) -> Vec<Desired> {
        let p = Projection::new(self, resources);
        let mut out: Vec<Desired> = Vec::with_capacity(resources.len());
        for r in resources {
            out.push(p.one(r, r.prepared.clone()));
        }
        p.finish(out)
    }

    fn desired_freeing(&self, resources: &mut [StateResource]) -> Vec<Desired> {
        let p = Projection::new(self, resources);
        let mut out: Vec<Desired> = Vec::with_capacity(resources.len());
        for r in resources.iter_mut() {
            // The projection moves out; what locates the resource stays
            // until it is projected (its bucket decides what is `taken`).
            let prepared = r.prepared.as_mut().map(|p| {
                Box::new(Prepared {
                    live_id: std::mem::take(&mut p.live_id),
                    attrs: std::mem::take(&mut p.attrs),
                    context: p.context,
                    locating: Vec::new(),
                })
            });
            out.push(p.one(r, prepared));
            r.attrs = Attrs::new();
            r.prepared = None;
        }
        p.finish(out)
    }
}

/// The raw attributes a prepared resource keeps ([`Schema::prepare`]): its
/// id, and what [`Schema::regions`] and a scope's cross-resource rules read
/// from the raw form (its own region, its bucket, a rule's group). The rest
/// of the raw form is in its projection, or never read.
pub const LOCATING: &[&str] = &["id", "region", "arn", "bucket", "security_group_id"];

impl AwsSchema {
    fn context(&self) -> ProjectContext {
        ProjectContext {
            termination_protection: self.instance_attribute_reads,
        }
    }
}

/// One projection of a scope's resources: the per-resource step, then the
/// cross-resource rules on the canonical forms.
struct Projection {
    /// Split S3 resources take precedence over the bucket's inline blocks.
    taken: HashMap<String, BTreeSet<&'static str>>,
    ctx: ProjectContext,
}

impl Projection {
    fn new(schema: &AwsSchema, resources: &[StateResource]) -> Self {
        let mut taken: HashMap<String, BTreeSet<&'static str>> = HashMap::new();
        for r in resources {
            if let Some(attr) = split(&r.rtype).and_then(Source::replaces) {
                taken.entry(bucket_name(r)).or_default().insert(attr);
            }
        }
        Self {
            taken,
            ctx: schema.context(),
        }
    }

    /// One resource's canonical form: its projection made at parse time
    /// (`prepared`), else made now from its raw form.
    fn one(&self, r: &StateResource, prepared: Option<Box<Prepared>>) -> Desired {
        let Some(t) = registry::get(&r.rtype) else {
            return Desired {
                address: r.address.clone(),
                rtype: r.rtype.clone(),
                id: r.id.clone(),
                attrs: Canon::default(),
            };
        };
        let (id, mut attrs) = match prepared {
            Some(p) => {
                // Prepared by the same (configured) schema as this scope's:
                // the engine parses and projects with one schema.
                debug_assert_eq!(p.context, self.ctx);
                (p.live_id, p.attrs)
            }
            None => ((t.info.live_id)(r), (t.info.project)(r, &self.ctx).into()),
        };
        if matches!(t.source, Source::Bucket) {
            if let Some(gone) = self.taken.get(&bucket_name(r)) {
                attrs.retain(|k, _| !gone.contains(k.as_str()));
            }
        }
        Desired {
            address: r.address.clone(),
            rtype: r.rtype.clone(),
            id,
            attrs,
        }
    }

    fn finish(&self, mut out: Vec<Desired>) -> Vec<Desired> {
        crate::services::ec2::listing::settle(&mut out);
        let standalone = standalone_rules(&out);
        for d in out.iter_mut() {
            let groups =
                registry::get(&d.rtype).is_some_and(|t| matches!(t.source, Source::SecurityGroups));
            if groups && !standalone.is_empty() {
                strip_standalone(&d.id.clone(), &mut d.attrs, &standalone);
            }
            // Held frozen until compared: what a rule above thawed or
            // changed is encoded again (a no-op for the untouched).
            d.attrs.freeze();
        }
        out
    }
}

/// Remove the rules owned by standalone rule resources from a group's
/// canonical `ingress`/`egress` (used on both the state and the live side).
pub fn strip_standalone(group_id: &str, attrs: &mut Attrs, standalone: &StandaloneRules) {
    for dir in ["ingress", "egress"] {
        if let (Some(owned), Some(Value::Object(rules))) = (
            standalone.get(&(group_id.to_string(), dir)),
            attrs.get_mut(dir),
        ) {
            rules.retain(|k, _| !owned.contains(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(rtype: &str, id: &str, attrs: Value) -> StateResource {
        StateResource {
            address: format!("{rtype}.x"),
            rtype: rtype.into(),
            id: id.into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    #[test]
    fn inline_rule_blocks_explode_into_sets() {
        let sg = res(
            AWS_SECURITY_GROUP,
            "sg-1",
            json!({"name": "web", "description": "d", "vpc_id": "vpc-1", "tags": null,
                   "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443,
                                "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"], "ipv6_cidr_blocks": [],
                                "security_groups": [], "self": true, "description": "https",
                                "prefix_list_ids": []}],
                   "egress": []}),
        );
        let d = AwsSchema::default().desired(&[sg]);
        assert_eq!(
            d[0].attrs["ingress"],
            json!({"tcp:443-443:cidr:0.0.0.0/0": "https", "tcp:443-443:cidr:10.0.0.0/8": "https",
                   "tcp:443-443:sg:sg-1": "https"})
        );
        assert_eq!(d[0].attrs["tags"], json!({}));
    }

    #[test]
    fn standalone_rules_are_not_counted_twice() {
        let sg = res(
            AWS_SECURITY_GROUP,
            "sg-1",
            json!({"name": "web", "ingress": [{"protocol": "tcp", "from_port": 22, "to_port": 22,
                    "cidr_blocks": ["10.0.0.0/8"]}], "egress": []}),
        );
        let rule = res(
            AWS_SECURITY_GROUP_RULE,
            "sgrule-1",
            json!({"type": "ingress", "security_group_id": "sg-1", "protocol": "tcp",
                   "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"], "self": false}),
        );
        let d = AwsSchema::default().desired(&[sg, rule]);
        assert_eq!(d[0].attrs["ingress"], json!({}));
        assert_eq!(
            d[1].attrs["rules"],
            json!({"tcp:22-22:cidr:10.0.0.0/8": ""})
        );
    }

    #[test]
    fn split_s3_resources_replace_inline_blocks() {
        let b = res(
            AWS_S3_BUCKET,
            "b1",
            json!({"bucket": "b1", "versioning": [{"enabled": true, "mfa_delete": false}],
                   "server_side_encryption_configuration": [], "policy": ""}),
        );
        let d = AwsSchema::default().desired(std::slice::from_ref(&b));
        assert_eq!(
            d[0].attrs["versioning"],
            json!({"enabled": true, "mfa_delete": false})
        );
        let v = res(
            AWS_S3_BUCKET_VERSIONING,
            "b1",
            json!({"bucket": "b1", "versioning_configuration": [{"status": "Enabled"}]}),
        );
        let d = AwsSchema::default().desired(&[b, v]);
        assert!(!d[0].attrs.contains_key("versioning"));
        assert_eq!(
            d[1].attrs["versioning_configuration"],
            json!({"status": "Enabled"})
        );
    }

    #[test]
    fn termination_protection_is_read_only_when_state_sets_it() {
        let i = res(
            AWS_INSTANCE,
            "i-1",
            json!({"disable_api_termination": false}),
        );
        let d = AwsSchema::default().desired(std::slice::from_ref(&i));
        assert!(!d[0].attrs.contains_key("disable_api_termination"));
        let all = AwsSchema {
            instance_attribute_reads: InstanceAttributeReads::All,
        };
        assert_eq!(
            all.desired(&[i])[0].attrs["disable_api_termination"],
            json!(false)
        );
    }

    #[test]
    fn a_vpc_rule_to_another_accounts_group_compares_the_group_id() {
        // Recorded: the provider's state for a rule referencing a group of
        // another account, and DescribeSecurityGroupRules' answer for it.
        let state = res(
            AWS_VPC_SG_INGRESS_RULE,
            "sgr-1",
            json!({"security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": 443,
                   "to_port": 443, "referenced_security_group_id": "210987654321/sg-0abc",
                   "description": "peer", "tags": null}),
        );
        let d = AwsSchema::default().desired(&[state]);
        let live = vpc_rule(
            json!({"security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": 443,
                   "to_port": 443, "referenced_security_group_id": "sg-0abc",
                   "description": "peer", "tags": {}})
            .as_object()
            .unwrap(),
        );
        assert_eq!(d[0].attrs, live);
        assert_eq!(live["referenced_security_group_id"], json!("sg-0abc"));
    }

    #[test]
    fn split_resources_take_their_buckets_region() {
        let b = res(
            AWS_S3_BUCKET,
            "b1",
            json!({"bucket": "b1", "region": "eu-west-1"}),
        );
        let p = res(
            AWS_S3_BUCKET_POLICY,
            "b1",
            json!({"bucket": "b1", "policy": "{}"}),
        );
        let i = res(
            AWS_INSTANCE,
            "i-1",
            json!({"arn": "arn:aws:ec2:us-east-2:1:instance/i-1"}),
        );
        let r = AwsSchema::default().regions(&[b, p, i]);
        assert_eq!(
            r,
            vec![
                Some("eu-west-1".into()),
                Some("eu-west-1".into()),
                Some("us-east-2".into())
            ]
        );
    }
}
