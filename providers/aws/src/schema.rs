//! The AWS schema: which attributes of each supported type are compared, and
//! how Terraform state projects into the canonical form the scanners produce.
//!
//! Why an explicit list: driftd compares what the code declares and what is
//! meaningful, never "every attribute the API returns". Each compared
//! attribute is listed here, per type; everything else cannot drift.
//! Canonical attribute paths follow Terraform's (nested single blocks lose
//! their `[0]`), so a drift path can be found again in the `.tf` code.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use driftd_core::{Attrs, Desired, Schema, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{
    arn_region, as_bool, as_i64, effective_tags, first_block, rule_key, string_or_empty,
    string_set, strings, Peer,
};
use crate::policy::canonical_policy;

pub const AWS_INSTANCE: &str = "aws_instance";
pub const AWS_SECURITY_GROUP: &str = "aws_security_group";
pub const AWS_SECURITY_GROUP_RULE: &str = "aws_security_group_rule";
pub const AWS_VPC_SG_INGRESS_RULE: &str = "aws_vpc_security_group_ingress_rule";
pub const AWS_VPC_SG_EGRESS_RULE: &str = "aws_vpc_security_group_egress_rule";
pub const AWS_S3_BUCKET: &str = "aws_s3_bucket";
pub const AWS_S3_BUCKET_VERSIONING: &str = "aws_s3_bucket_versioning";
pub const AWS_S3_BUCKET_SSE: &str = "aws_s3_bucket_server_side_encryption_configuration";
pub const AWS_S3_BUCKET_PAB: &str = "aws_s3_bucket_public_access_block";
pub const AWS_S3_BUCKET_POLICY: &str = "aws_s3_bucket_policy";

pub const SUPPORTED_TYPES: &[&str] = &[
    AWS_INSTANCE,
    AWS_SECURITY_GROUP,
    AWS_SECURITY_GROUP_RULE,
    AWS_VPC_SG_INGRESS_RULE,
    AWS_VPC_SG_EGRESS_RULE,
    AWS_S3_BUCKET,
    AWS_S3_BUCKET_VERSIONING,
    AWS_S3_BUCKET_SSE,
    AWS_S3_BUCKET_PAB,
    AWS_S3_BUCKET_POLICY,
];

/// Types listed in full when looking for unmanaged resources. Rules are not:
/// an unmanaged rule shows up as drift of its (managed) security group.
pub const DISCOVERABLE_TYPES: &[&str] = &[AWS_INSTANCE, AWS_SECURITY_GROUP, AWS_S3_BUCKET];

const S3_SPLIT_TYPES: &[&str] = &[
    AWS_S3_BUCKET_VERSIONING,
    AWS_S3_BUCKET_SSE,
    AWS_S3_BUCKET_PAB,
    AWS_S3_BUCKET_POLICY,
];

/// Which instances get a per-instance `DescribeInstanceAttribute` call for
/// `disable_api_termination` (EC2 has no batched read for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceAttributeReads {
    /// Only instances whose state enables termination protection: catches the
    /// dangerous drift (protection turned off) at one call per protected instance.
    #[default]
    Protected,
    /// Every managed instance: one call each.
    All,
    /// Never: `disable_api_termination` is not compared.
    None,
}

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
        let sg = d
            .attrs
            .get("security_group_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        match d.rtype.as_str() {
            AWS_SECURITY_GROUP_RULE => {
                let egress = d.attrs.get("type").and_then(Value::as_str) == Some("egress");
                if let Some(Value::Object(rules)) = d.attrs.get("rules") {
                    out.entry((sg.to_string(), direction_key(egress)))
                        .or_default()
                        .extend(rules.keys().cloned());
                }
            }
            AWS_VPC_SG_INGRESS_RULE | AWS_VPC_SG_EGRESS_RULE => {
                let egress = d.rtype == AWS_VPC_SG_EGRESS_RULE;
                if let Some(key) = vpc_rule_key(&d.attrs) {
                    out.entry((sg.to_string(), direction_key(egress)))
                        .or_default()
                        .insert(key);
                }
            }
            _ => {}
        }
    }
    out
}

/// The exploded key of a canonical `aws_vpc_security_group_*_rule`.
pub fn vpc_rule_key(a: &Attrs) -> Option<String> {
    let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
    let (peer, value) = [
        (Peer::Cidr, "cidr_ipv4"),
        (Peer::Ipv6, "cidr_ipv6"),
        (Peer::PrefixList, "prefix_list_id"),
        (Peer::Group, "referenced_security_group_id"),
    ]
    .into_iter()
    .find_map(|(p, k)| (!s(k).is_empty()).then(|| (p, s(k))))?;
    Some(rule_key(
        s("ip_protocol"),
        as_i64(a.get("from_port")),
        as_i64(a.get("to_port")),
        peer,
        value,
    ))
}

impl Schema for AwsSchema {
    fn supported_types(&self) -> &'static [&'static str] {
        SUPPORTED_TYPES
    }

    fn discoverable_types(&self) -> &'static [&'static str] {
        DISCOVERABLE_TYPES
    }

    fn regions(&self, resources: &[StateResource]) -> Vec<Option<String>> {
        let own = |r: &StateResource| {
            r.attrs
                .get("region")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    r.attrs
                        .get("arn")
                        .and_then(Value::as_str)
                        .and_then(arn_region)
                })
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
                    if S3_SPLIT_TYPES.contains(&r.rtype.as_str()) {
                        bucket_regions.get(&bucket_name(r)).cloned()
                    } else if r.rtype == AWS_SECURITY_GROUP_RULE {
                        r.attrs
                            .get("security_group_id")
                            .and_then(Value::as_str)
                            .and_then(|g| group_regions.get(g).cloned())
                    } else {
                        None
                    }
                })
            })
            .collect()
    }

    fn shape(&self, _rtype: &str, attr: &str) -> Shape {
        match attr {
            "tags" | "ingress" | "egress" | "rules" => Shape::Map,
            "policy" => Shape::Leaf,
            _ => Shape::Block,
        }
    }

    fn desired(&self, resources: &[StateResource]) -> Vec<Desired> {
        // Split S3 resources take precedence over the bucket's inline blocks.
        let mut split: HashMap<&str, BTreeSet<String>> = HashMap::new();
        for r in resources
            .iter()
            .filter(|r| S3_SPLIT_TYPES.contains(&r.rtype.as_str()))
        {
            split
                .entry(r.rtype.as_str())
                .or_default()
                .insert(bucket_name(r));
        }
        let has_split = |t: &str, b: &str| split.get(t).is_some_and(|s| s.contains(b));

        let mut out: Vec<Desired> = Vec::with_capacity(resources.len());
        let mut groups = Vec::new();
        for r in resources {
            let attrs = match r.rtype.as_str() {
                AWS_INSTANCE => self.instance(&r.attrs),
                AWS_SECURITY_GROUP => {
                    groups.push(out.len());
                    security_group(&r.attrs, &r.id)
                }
                AWS_SECURITY_GROUP_RULE => security_group_rule(&r.attrs),
                AWS_VPC_SG_INGRESS_RULE | AWS_VPC_SG_EGRESS_RULE => vpc_rule(&r.attrs),
                AWS_S3_BUCKET => {
                    let b = bucket_name(r);
                    bucket(
                        &r.attrs,
                        !has_split(AWS_S3_BUCKET_VERSIONING, &b),
                        !has_split(AWS_S3_BUCKET_SSE, &b),
                        !has_split(AWS_S3_BUCKET_POLICY, &b),
                    )
                }
                AWS_S3_BUCKET_VERSIONING => bucket_versioning(&r.attrs),
                AWS_S3_BUCKET_SSE => bucket_sse(&r.attrs),
                AWS_S3_BUCKET_PAB => bucket_pab(&r.attrs),
                AWS_S3_BUCKET_POLICY => {
                    let mut m = Map::new();
                    m.insert(
                        "policy".into(),
                        canonical_policy(
                            r.attrs.get("policy").and_then(Value::as_str).unwrap_or(""),
                        ),
                    );
                    m
                }
                _ => Map::new(),
            };
            let id = if S3_SPLIT_TYPES.contains(&r.rtype.as_str()) || r.rtype == AWS_S3_BUCKET {
                bucket_name(r)
            } else {
                r.id.clone()
            };
            out.push(Desired {
                address: r.address.clone(),
                rtype: r.rtype.clone(),
                id,
                attrs,
            });
        }
        let standalone = standalone_rules(&out);
        for i in groups {
            let d = &mut out[i];
            strip_standalone(&d.id.clone(), &mut d.attrs, &standalone);
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

/// The bucket a resource is about: `bucket` attribute, else the id.
pub fn bucket_name(r: &StateResource) -> String {
    r.attrs
        .get("bucket")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| r.id.clone())
}

impl AwsSchema {
    fn instance(&self, a: &Attrs) -> Attrs {
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
        match self.instance_attribute_reads {
            InstanceAttributeReads::All => {
                m.insert("disable_api_termination".into(), json!(protection));
            }
            InstanceAttributeReads::Protected if protection => {
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
}

fn security_group(a: &Attrs, id: &str) -> Attrs {
    let mut m = Map::new();
    for key in ["name", "description", "vpc_id"] {
        m.insert(key.into(), string_or_empty(a.get(key)));
    }
    m.insert("tags".into(), effective_tags(a));
    for dir in ["ingress", "egress"] {
        let mut rules = BTreeMap::new();
        if let Some(Value::Array(blocks)) = a.get(dir) {
            for b in blocks.iter().filter_map(Value::as_object) {
                explode_block(b, id, "security_groups", &mut rules);
            }
        }
        m.insert(dir.into(), Value::Object(rules.into_iter().collect()));
    }
    m
}

/// Explode one Terraform rule block into keyed atoms (key -> description).
/// `groups_key` names the attribute that lists peer groups (`security_groups`
/// in inline blocks, `source_security_group_id` in `aws_security_group_rule`).
fn explode_block(b: &Attrs, own_group: &str, groups_key: &str, out: &mut BTreeMap<String, Value>) {
    let proto = b.get("protocol").and_then(Value::as_str).unwrap_or("-1");
    let from = as_i64(b.get("from_port"));
    let to = as_i64(b.get("to_port"));
    let desc = string_or_empty(b.get("description"));
    let mut add = |peer: Peer, v: &str| {
        out.insert(rule_key(proto, from, to, peer, v), desc.clone());
    };
    for c in strings(b.get("cidr_blocks")) {
        add(Peer::Cidr, c);
    }
    for c in strings(b.get("ipv6_cidr_blocks")) {
        add(Peer::Ipv6, c);
    }
    for c in strings(b.get("prefix_list_ids")) {
        add(Peer::PrefixList, c);
    }
    match b.get(groups_key) {
        Some(Value::String(g)) if !g.is_empty() => add(Peer::Group, g),
        Some(Value::Array(_)) => {
            for g in strings(b.get(groups_key)) {
                add(Peer::Group, g);
            }
        }
        _ => {}
    }
    if as_bool(b.get("self")) == Some(true) && !own_group.is_empty() {
        add(Peer::Group, own_group);
    }
}

fn security_group_rule(a: &Attrs) -> Attrs {
    let sg = a
        .get("security_group_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut rules = BTreeMap::new();
    explode_block(a, sg, "source_security_group_id", &mut rules);
    let mut m = Map::new();
    m.insert("security_group_id".into(), json!(sg));
    m.insert("type".into(), string_or_empty(a.get("type")));
    m.insert("rules".into(), Value::Object(rules.into_iter().collect()));
    m
}

/// Canonical `aws_vpc_security_group_{ingress,egress}_rule`.
pub fn vpc_rule(a: &Attrs) -> Attrs {
    let mut m = Map::new();
    let proto =
        crate::normalize::ip_protocol(a.get("ip_protocol").and_then(Value::as_str).unwrap_or("-1"));
    m.insert(
        "security_group_id".into(),
        string_or_empty(a.get("security_group_id")),
    );
    if proto != "all" {
        for key in ["from_port", "to_port"] {
            m.insert(key.into(), json!(as_i64(a.get(key)).unwrap_or(-1)));
        }
    }
    m.insert("ip_protocol".into(), json!(proto));
    for key in ["cidr_ipv4", "cidr_ipv6", "prefix_list_id", "description"] {
        m.insert(key.into(), string_or_empty(a.get(key)));
    }
    // A group in another account is stored as `ACCOUNT/sg-...`; AWS answers
    // with the bare id. The rule keys already compare the id alone.
    let group = string_or_empty(a.get("referenced_security_group_id"));
    m.insert(
        "referenced_security_group_id".into(),
        json!(crate::normalize::group_ref(group.as_str().unwrap_or(""))),
    );
    m.insert("tags".into(), effective_tags(a));
    m
}

fn bucket(a: &Attrs, inline_versioning: bool, inline_sse: bool, inline_policy: bool) -> Attrs {
    let mut m = Map::new();
    m.insert("tags".into(), effective_tags(a));
    if inline_versioning {
        if let Some(v) = first_block(a, "versioning") {
            let mut vm = Map::new();
            vm.insert(
                "enabled".into(),
                json!(as_bool(v.get("enabled")).unwrap_or(false)),
            );
            if let Some(b) = as_bool(v.get("mfa_delete")) {
                vm.insert("mfa_delete".into(), json!(b));
            }
            m.insert("versioning".into(), Value::Object(vm));
        }
    }
    if inline_sse {
        // No block in state: the bucket has AWS's default encryption, which the
        // code does not govern. Nothing to compare.
        if let Some(rule) = first_block(a, "server_side_encryption_configuration")
            .and_then(|c| first_block(c, "rule"))
        {
            m.insert(
                "server_side_encryption_configuration".into(),
                json!({ "rule": sse_rule(rule) }),
            );
        }
    }
    if inline_policy {
        if let Some(Value::String(p)) = a.get("policy") {
            if !p.trim().is_empty() {
                m.insert("policy".into(), canonical_policy(p));
            }
        }
    }
    m
}

/// Canonical SSE rule: `{apply_server_side_encryption_by_default: {...}, bucket_key_enabled}`.
pub fn sse_rule(rule: &Attrs) -> Value {
    let default = first_block(rule, "apply_server_side_encryption_by_default");
    let get = |k: &str| string_or_empty(default.and_then(|d| d.get(k)));
    json!({
        "apply_server_side_encryption_by_default": {
            "sse_algorithm": get("sse_algorithm"),
            "kms_master_key_id": get("kms_master_key_id"),
        },
        "bucket_key_enabled": as_bool(rule.get("bucket_key_enabled")).unwrap_or(false),
    })
}

fn bucket_versioning(a: &Attrs) -> Attrs {
    let mut vm = Map::new();
    if let Some(v) = first_block(a, "versioning_configuration") {
        vm.insert(
            "status".into(),
            json!(versioning_status(v.get("status").and_then(Value::as_str))),
        );
        if let Some(Value::String(s)) = v.get("mfa_delete") {
            if !s.is_empty() {
                vm.insert("mfa_delete".into(), json!(s));
            }
        }
    }
    let mut m = Map::new();
    m.insert("versioning_configuration".into(), Value::Object(vm));
    m
}

/// Versioning status: a bucket that never had versioning answers with no
/// status at all, which Terraform calls `Disabled`.
pub fn versioning_status(s: Option<&str>) -> &str {
    match s {
        None | Some("") => "Disabled",
        Some(s) => s,
    }
}

fn bucket_sse(a: &Attrs) -> Attrs {
    let mut m = Map::new();
    if let Some(rule) = first_block(a, "rule") {
        m.insert("rule".into(), sse_rule(rule));
    }
    m
}

pub const PAB_FIELDS: &[&str] = &[
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
];

fn bucket_pab(a: &Attrs) -> Attrs {
    PAB_FIELDS
        .iter()
        .map(|k| (k.to_string(), json!(as_bool(a.get(*k)).unwrap_or(false))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(rtype: &str, id: &str, attrs: Value) -> StateResource {
        StateResource {
            address: format!("{rtype}.x"),
            rtype: rtype.into(),
            id: id.into(),
            attrs: attrs.as_object().unwrap().clone(),
            sensitive_paths: vec![],
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
