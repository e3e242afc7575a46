//! `aws_s3_bucket`: `ListBuckets` once per scope (discoverable), then per
//! managed bucket only the `Get*` calls its state needs (tags; provider-v3
//! inline `versioning`, `server_side_encryption_configuration`, `policy`,
//! `lifecycle_rule`, `logging`, `cors_rule`, `website`, `grant`,
//! `acceleration_status`, `request_payer`, `replication_configuration`,
//! `object_lock_configuration`, which split resources take over when they
//! exist).
//!
//! The inline blocks after `policy` are read by their split type's own call
//! (one `GetBucketLifecycleConfiguration` serves the inline `lifecycle_rule`
//! and an `aws_s3_bucket_lifecycle_configuration` of the same bucket): the
//! inline shape is mapped onto the split type's state shape and projected by
//! the split type's own normalizer, so both compare the same canonical form
//! (see [`INLINE`]). Normalizers of the inline forms:
//! - an empty block list (`lifecycle_rule = []`, ...), `acceleration_status =
//!   ""` and `request_payer = "BucketOwner"` are "not declared": provider v4
//!   computes these attributes from the live bucket (so `[]` says nothing
//!   about what the code wants), and comparing them would cost one call per
//!   bucket and configuration;
//! - `grant`: the provider writes grants only when they are not the owner's
//!   lone FULL_CONTROL (a private ACL), exploded to one key per permission
//!   (`type:id-or-uri:permission`, as `aws_s3_bucket_acl`); the canned `acl`
//!   is not comparable (it cannot be read back: its effect shows in the
//!   grants);
//! - `logging`: target_bucket and target_prefix only (the v3 block has no
//!   grants nor key format);
//! - `website`: `redirect_all_requests_to = "https://host"` is protocol +
//!   host name; `routing_rules` parsed;
//! - `replication_configuration`: v3 writes `delete_marker_replication_status`
//!   only when `Enabled`, while AWS answers `Disabled` for the V2 rules v3
//!   creates: `Disabled` and unset are the same on both sides;
//! - what only a split resource can write, and provider v4 does not copy into
//!   the bucket's computed blocks, is not compared on either side: lifecycle
//!   object-size filters and `newer_noncurrent_versions`, CORS rule ids,
//!   existing-object replication and replica modifications.

use driftd_core::registry::{
    AttrSpec, DefaultRule, EditorHint, Fix, ImportHints, ProjectContext, ResourceType, RuleKind,
    WholeSet,
};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::bucket_name;
use super::bucket_server_side_encryption_configuration::sse_rule;
use super::grants::grant_key;
use super::{
    bucket_accelerate_configuration as accelerate, bucket_acl as acl,
    bucket_cors_configuration as cors, bucket_lifecycle_configuration as lifecycle,
    bucket_logging as logging, bucket_object_lock_configuration as object_lock,
    bucket_replication_configuration as replication,
    bucket_request_payment_configuration as request_payment,
    bucket_website_configuration as website,
};
use crate::normalize::{as_bool, effective_tags, first_block, string_or_empty, strings};
use crate::ops::{self, Op};
use crate::policy::canonical_policy;
use crate::reconcile::{action, current, path_str, string, Unread};
use crate::registry::{AwsType, Source};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

pub const NAME: &str = "aws_s3_bucket";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("tags", Shape::Map, false, Fix::InPlace),
            AttrSpec::new("versioning", Shape::Block, false, Fix::InPlace),
            AttrSpec::new(
                "server_side_encryption_configuration",
                Shape::Block,
                true,
                Fix::InPlace,
            ),
            AttrSpec::new("policy", Shape::Leaf, true, Fix::InPlace),
            AttrSpec::new("lifecycle_rule", Shape::Block, true, Fix::No),
            AttrSpec::new("logging", Shape::Block, true, Fix::No),
            AttrSpec::new("cors_rule", Shape::Block, true, Fix::No),
            AttrSpec::new("website", Shape::Block, true, Fix::No),
            AttrSpec::new("grant", Shape::Block, true, Fix::No),
            AttrSpec::new("acceleration_status", Shape::Block, false, Fix::No),
            AttrSpec::new("request_payer", Shape::Block, false, Fix::No),
            AttrSpec::new("replication_configuration", Shape::Block, true, Fix::No),
            AttrSpec::new("object_lock_configuration", Shape::Block, true, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        // `PutBucketTagging` sends the whole `TagSet`.
        whole_set_writes: &[WholeSet::new("tags", "TagSet", "Key", "Value")],
        default_rules: &[
            DefaultRule {
                name: "s3-encryption",
                attributes: &["server_side_encryption_configuration*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-policy",
                attributes: &["policy"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-versioning",
                attributes: &["versioning*"],
                kinds: &[RuleKind::Changed],
                critical: false,
            },
            // The inline blocks classify as their split types do.
            DefaultRule {
                name: "s3-lifecycle-storage-class",
                attributes: &[
                    "lifecycle_rule.rule*.transition",
                    "lifecycle_rule.rule*.noncurrent_version_transition",
                    "lifecycle_rule.rule*.abort_incomplete_multipart_upload*",
                ],
                kinds: &[],
                critical: false,
            },
            DefaultRule {
                name: "s3-lifecycle",
                attributes: &["lifecycle_rule*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-logging-layout",
                attributes: &["logging.target_prefix"],
                kinds: &[],
                critical: false,
            },
            DefaultRule {
                name: "s3-logging",
                attributes: &["logging*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-cors",
                attributes: &["cors_rule*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-website",
                attributes: &["website*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-acl",
                attributes: &["grant*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-accelerate",
                attributes: &["acceleration_status"],
                kinds: &[],
                critical: false,
            },
            DefaultRule {
                name: "s3-request-payment",
                attributes: &["request_payer"],
                kinds: &[],
                critical: false,
            },
            DefaultRule {
                name: "s3-replication",
                attributes: &["replication_configuration*"],
                kinds: &[],
                critical: true,
            },
            DefaultRule {
                name: "s3-object-lock",
                attributes: &["object_lock_configuration*"],
                kinds: &[],
                critical: true,
            },
        ],
        // Inline blocks compared in their split type's canonical form (rules
        // keyed by id, sets, parsed documents): a drift path does not name an
        // argument of the bucket's code, so the editor leaves them to a human
        // with the live value. `acceleration_status` and `request_payer` are
        // plain arguments and are edited in place.
        editor: &[
            (
                "policy",
                EditorHint::Refuse(super::bucket_policy::POLICY_REFUSAL),
            ),
            ("lifecycle_rule", EditorHint::Refuse(INLINE_REFUSAL)),
            ("logging", EditorHint::Refuse(INLINE_REFUSAL)),
            ("cors_rule", EditorHint::Refuse(INLINE_REFUSAL)),
            ("website", EditorHint::Refuse(INLINE_REFUSAL)),
            ("grant", EditorHint::Refuse(INLINE_REFUSAL)),
            ("replication_configuration", EditorHint::Refuse(INLINE_REFUSAL)),
            ("object_lock_configuration", EditorHint::Refuse(INLINE_REFUSAL)),
        ],
        import: Some(ImportHints {
            id_argument: Some("bucket"),
            name_argument: Some("bucket"),
            arguments: &["bucket", "tags"],
            blocks: &[],
            required: &["bucket"],
            note: "versioning, encryption, public access block, policy, lifecycle, logging, CORS, website, ACL, acceleration, request payment, replication and object lock are separate resources (aws_s3_bucket_*): import them the same way if you manage them",
        }),
        read_actions: &[
            "s3:ListAllMyBuckets",
            "s3:GetBucketLocation",
            "s3:GetBucketTagging",
            "s3:GetBucketVersioning",
            "s3:GetEncryptionConfiguration",
            "s3:GetBucketPolicy",
            "s3:GetLifecycleConfiguration",
            "s3:GetBucketLogging",
            "s3:GetBucketCORS",
            "s3:GetBucketWebsite",
            "s3:GetBucketAcl",
            "s3:GetAccelerateConfiguration",
            "s3:GetBucketRequestPayment",
            "s3:GetReplicationConfiguration",
            "s3:GetBucketObjectLockConfiguration",
        ],
        write_actions: &[
            "s3:PutBucketTagging",
            "s3:PutBucketVersioning",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketPolicy",
        ],
        project,
        live_id: bucket_name,
    },
    source: Source::Bucket,
    plan: Some(plan),
};

/// Why the editor leaves a drifted inline block to a human.
pub const INLINE_REFUSAL: &str = "a provider-v3 inline block of aws_s3_bucket, compared in its split resource's form (rules by id, sets): change the block by hand to the live value, or move it to its aws_s3_bucket_* resource";

/// One provider-v3 inline block read by a split type's per-bucket call.
#[derive(Debug)]
pub struct Inline {
    /// The bucket's attribute (state and canonical).
    pub attr: &'static str,
    /// The split type whose `BucketDoc` call reads it (made once per bucket
    /// for both), and which takes the attribute over when the stack has one.
    pub split: &'static str,
    /// The canonical state value; `None`: not declared (not compared, no call).
    pub desired: fn(&Attrs) -> Option<Value>,
    /// The canonical live value from the split type's canonical document
    /// (`None`: the bucket has none).
    pub live: fn(Option<&Attrs>) -> Value,
}

/// The inline blocks compared through a split type's read.
pub static INLINE: &[Inline] = &[
    Inline {
        attr: "lifecycle_rule",
        split: lifecycle::NAME,
        desired: lifecycle_rule,
        live: |d| match d {
            Some(d) => {
                lifecycle_inline_form(json!({"rule": d.get("rule"), "rule_ids": d.get("rule_ids")}))
            }
            None => Value::Null,
        },
    },
    Inline {
        attr: "logging",
        split: logging::NAME,
        desired: logging_block,
        live: |d| match d {
            Some(d) => {
                json!({"target_bucket": d.get("target_bucket"), "target_prefix": d.get("target_prefix")})
            }
            None => Value::Null,
        },
    },
    Inline {
        attr: "cors_rule",
        split: cors::NAME,
        desired: cors_rule,
        live: |d| {
            d.and_then(|d| d.get("cors_rule"))
                .map(|r| cors_inline_form(r.clone()))
                .unwrap_or(Value::Null)
        },
    },
    Inline {
        attr: "website",
        split: website::NAME,
        desired: website_block,
        live: |d| d.map(|d| Value::Object(d.clone())).unwrap_or(Value::Null),
    },
    Inline {
        attr: "grant",
        split: acl::NAME,
        desired: grant,
        live: |d| {
            d.and_then(|d| d.get("access_control_policy"))
                .and_then(|p| p.get("grant"))
                .cloned()
                .unwrap_or(Value::Null)
        },
    },
    Inline {
        attr: "acceleration_status",
        split: accelerate::NAME,
        desired: acceleration_status,
        live: |d| {
            d.and_then(|d| d.get("status"))
                .cloned()
                .unwrap_or(Value::Null)
        },
    },
    Inline {
        attr: "request_payer",
        split: request_payment::NAME,
        desired: request_payer,
        live: |d| {
            d.and_then(|d| d.get("payer"))
                .cloned()
                .unwrap_or(Value::Null)
        },
    },
    Inline {
        attr: "replication_configuration",
        split: replication::NAME,
        desired: replication_configuration,
        live: |d| match d {
            Some(d) => delete_marker_unset(Value::Object(d.clone())),
            None => Value::Null,
        },
    },
    Inline {
        attr: "object_lock_configuration",
        split: object_lock::NAME,
        desired: object_lock_configuration,
        live: |d| d.map(|d| Value::Object(d.clone())).unwrap_or(Value::Null),
    },
];

/// The inline block a split type reads, by the split type's name.
pub fn inline_of(split: &str) -> Option<&'static Inline> {
    INLINE.iter().find(|i| i.split == split)
}

/// A split type's projection of a synthetic state resource.
fn split_project(project: fn(&StateResource, &ProjectContext) -> Attrs, attrs: Value) -> Attrs {
    let r = StateResource {
        address: String::new(),
        rtype: String::new(),
        id: String::new(),
        attrs: match attrs {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        sensitive_paths: vec![],
        prepared: None,
    };
    project(&r, &ProjectContext::default())
}

/// The non-empty block list of an attribute.
fn blocks<'a>(a: &'a Map<String, Value>, key: &str) -> Vec<&'a Map<String, Value>> {
    match a.get(key) {
        Some(Value::Array(v)) => v.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    }
}

fn text(m: Option<&Map<String, Value>>, key: &str) -> String {
    string_or_empty(m.and_then(|m| m.get(key)))
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// v3 `lifecycle_rule` blocks in `aws_s3_bucket_lifecycle_configuration`'s
/// state shape, projected by its normalizer: `{rule: {<id>: ..}, rule_ids}`.
fn lifecycle_rule(a: &Attrs) -> Option<Value> {
    let rules: Vec<Value> = blocks(a, "lifecycle_rule")
        .into_iter()
        .map(|r| {
            let tags = match r.get("tags") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            let prefix = text(Some(r), "prefix");
            let enabled = as_bool(r.get("enabled")).unwrap_or(false);
            json!({
                "id": text(Some(r), "id"),
                "status": if enabled { "Enabled" } else { "Disabled" },
                "filter": [{"prefix": prefix, "and": [{"prefix": prefix, "tags": tags}]}],
                "expiration": r.get("expiration").cloned().unwrap_or(json!([])),
                "transition": r.get("transition").cloned().unwrap_or(json!([])),
                "noncurrent_version_expiration": blocks(r, "noncurrent_version_expiration")
                    .into_iter()
                    .map(|b| json!({"noncurrent_days": b.get("days")}))
                    .collect::<Vec<_>>(),
                "noncurrent_version_transition": blocks(r, "noncurrent_version_transition")
                    .into_iter()
                    .map(|b| json!({"noncurrent_days": b.get("days"),
                                    "storage_class": b.get("storage_class")}))
                    .collect::<Vec<_>>(),
                "abort_incomplete_multipart_upload":
                    [{"days_after_initiation": r.get("abort_incomplete_multipart_upload_days")}],
            })
        })
        .collect();
    if rules.is_empty() {
        return None;
    }
    let c = split_project(lifecycle::project, json!({ "rule": rules }));
    Some(lifecycle_inline_form(
        json!({"rule": c.get("rule"), "rule_ids": c.get("rule_ids")}),
    ))
}

/// v3 `logging { target_bucket, target_prefix }`, as `aws_s3_bucket_logging`
/// projects them.
fn logging_block(a: &Attrs) -> Option<Value> {
    let b = first_block(a, "logging")?;
    let c = split_project(logging::project, Value::Object(b.clone()));
    Some(json!({"target_bucket": c.get("target_bucket"), "target_prefix": c.get("target_prefix")}))
}

/// v3 `cors_rule` blocks as `aws_s3_bucket_cors_configuration`'s sorted set.
fn cors_rule(a: &Attrs) -> Option<Value> {
    if blocks(a, "cors_rule").is_empty() {
        return None;
    }
    split_project(cors::project, json!({"cors_rule": a.get("cors_rule")}))
        .remove("cors_rule")
        .map(cors_inline_form)
}

/// v3 `website { index_document, error_document, redirect_all_requests_to,
/// routing_rules }` in `aws_s3_bucket_website_configuration`'s form.
fn website_block(a: &Attrs) -> Option<Value> {
    let w = first_block(a, "website")?;
    let redirect = text(Some(w), "redirect_all_requests_to");
    let (protocol, host) = match redirect.split_once("://") {
        Some((p, h)) => (p.to_string(), h.trim_end_matches('/').to_string()),
        None => (String::new(), redirect.clone()),
    };
    let c = split_project(
        website::project,
        json!({
            "index_document": [{"suffix": text(Some(w), "index_document")}],
            "error_document": [{"key": text(Some(w), "error_document")}],
            "redirect_all_requests_to": [{"host_name": host, "protocol": protocol}],
            "routing_rules": w.get("routing_rules"),
        }),
    );
    Some(Value::Object(c))
}

/// v3 `grant` (a set of grantee + permissions) as `aws_s3_bucket_acl`'s grant
/// keys, one per permission. Empty: the ACL is private or canned.
fn grant(a: &Attrs) -> Option<Value> {
    let mut keys: Vec<String> = blocks(a, "grant")
        .into_iter()
        .flat_map(|g| {
            let (kind, id, uri) = (
                text(Some(g), "type"),
                text(Some(g), "id"),
                text(Some(g), "uri"),
            );
            strings(g.get("permissions"))
                .into_iter()
                .map(move |p| grant_key(&kind, &id, &uri, "", p))
                .collect::<Vec<_>>()
        })
        .collect();
    if keys.is_empty() {
        return None;
    }
    keys.sort();
    keys.dedup();
    Some(json!(keys))
}

fn acceleration_status(a: &Attrs) -> Option<Value> {
    let s = text(Some(a), "acceleration_status");
    if s.is_empty() {
        return None;
    }
    split_project(accelerate::project, json!({ "status": s })).remove("status")
}

fn request_payer(a: &Attrs) -> Option<Value> {
    let p = text(Some(a), "request_payer");
    if p.is_empty() || p == "BucketOwner" {
        return None;
    }
    split_project(request_payment::project, json!({ "payer": p })).remove("payer")
}

/// `Disabled` delete-marker replication is how AWS answers for the V2 rules
/// v3 writes without `delete_marker_replication_status`: the same as unset.
/// Existing-object replication and replica modifications cannot be written
/// inline (only by the split resource, whose values provider v4 does not
/// copy into the bucket's state): not compared.
fn delete_marker_unset(mut v: Value) -> Value {
    if let Some(Value::Array(rules)) = v.get_mut("rule") {
        for r in rules {
            if r.get("delete_marker_replication") == Some(&json!("Disabled")) {
                r["delete_marker_replication"] = json!("");
            }
            if let Some(o) = r.as_object_mut() {
                o.remove("existing_object_replication");
            }
            if let Some(Value::Object(ssc)) = r.get_mut("source_selection_criteria") {
                ssc.remove("replica_modifications");
            }
        }
    }
    v
}

/// The lifecycle fields the inline block cannot hold (object size filters,
/// `newer_noncurrent_versions`: split-resource only, and not copied into a
/// v4 bucket's state) are not compared: removed on both sides.
fn lifecycle_inline_form(mut v: Value) -> Value {
    if let Some(Value::Object(rules)) = v.get_mut("rule") {
        for r in rules.values_mut() {
            if let Some(Value::Object(f)) = r.get_mut("filter") {
                f.remove("object_size_greater_than");
                f.remove("object_size_less_than");
            }
            if let Some(Value::Object(n)) = r.get_mut("noncurrent_version_expiration") {
                n.remove("newer_noncurrent_versions");
            }
            if let Some(Value::Array(t)) = r.get_mut("noncurrent_version_transition") {
                for x in t.iter_mut() {
                    if let Some(o) = x.as_object_mut() {
                        o.remove("newer_noncurrent_versions");
                    }
                }
                t.sort_by_key(|x| x.to_string());
                t.dedup();
            }
        }
    }
    v
}

/// A CORS rule's `id` cannot be written inline (v3's `cors_rule` has none):
/// not compared.
fn cors_inline_form(mut v: Value) -> Value {
    if let Value::Array(rules) = &mut v {
        for r in rules.iter_mut() {
            if let Some(o) = r.as_object_mut() {
                o.remove("id");
            }
        }
        rules.sort_by_key(|x| x.to_string());
        rules.dedup();
    }
    v
}

/// v3 `replication_configuration { role, rules {..} }` in
/// `aws_s3_bucket_replication_configuration`'s state shape, projected by it.
fn replication_configuration(a: &Attrs) -> Option<Value> {
    let rc = first_block(a, "replication_configuration")?;
    let status = |s: String| {
        if s.is_empty() {
            json!([])
        } else {
            json!([{ "status": s }])
        }
    };
    let rules: Vec<Value> = blocks(rc, "rules")
        .into_iter()
        .map(|r| {
            let f = first_block(r, "filter");
            let d = first_block(r, "destination");
            let kms = first_block(r, "source_selection_criteria")
                .and_then(|s| first_block(s, "sse_kms_encrypted_objects"))
                .map(|k| match as_bool(k.get("enabled")) {
                    Some(true) => "Enabled".to_string(),
                    Some(false) => "Disabled".to_string(),
                    None => String::new(),
                })
                .unwrap_or_default();
            let m = d.and_then(|d| first_block(d, "metrics"));
            let rt = d.and_then(|d| first_block(d, "replication_time"));
            json!({
                "id": r.get("id"), "priority": r.get("priority"), "status": r.get("status"),
                "prefix": r.get("prefix"),
                "filter": match f {
                    Some(f) => json!([{"prefix": f.get("prefix"), "and": [{"tags": f.get("tags")}]}]),
                    None => json!([]),
                },
                "delete_marker_replication": status(text(Some(r), "delete_marker_replication_status")),
                "source_selection_criteria": [{"sse_kms_encrypted_objects": status(kms)}],
                "destination": [{
                    "bucket": d.and_then(|d| d.get("bucket")),
                    "account": d.and_then(|d| d.get("account_id")),
                    "storage_class": d.and_then(|d| d.get("storage_class")),
                    "access_control_translation": d.and_then(|d| d.get("access_control_translation")),
                    "encryption_configuration": [{"replica_kms_key_id": d.and_then(|d| d.get("replica_kms_key_id"))}],
                    "metrics": [{"status": text(m, "status"), "event_threshold": [{"minutes": m.and_then(|m| m.get("minutes"))}]}],
                    "replication_time": [{"status": text(rt, "status"), "time": [{"minutes": rt.and_then(|m| m.get("minutes"))}]}],
                }],
            })
        })
        .collect();
    let c = split_project(
        replication::project,
        json!({"role": rc.get("role"), "rule": rules}),
    );
    Some(delete_marker_unset(Value::Object(c)))
}

/// v3 `object_lock_configuration { object_lock_enabled, rule {..} }`: the
/// block has `aws_s3_bucket_object_lock_configuration`'s shape.
fn object_lock_configuration(a: &Attrs) -> Option<Value> {
    let b = first_block(a, "object_lock_configuration")?;
    Some(Value::Object(split_project(
        object_lock::project,
        Value::Object(b.clone()),
    )))
}

/// Canonical desired attributes with every inline block; the schema drops
/// those a split resource of the same bucket takes over.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    m.insert("tags".into(), effective_tags(a));
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
    // No block in state: the bucket has AWS's default encryption, which the
    // code does not govern. Nothing to compare.
    if let Some(rule) =
        first_block(a, "server_side_encryption_configuration").and_then(|c| first_block(c, "rule"))
    {
        m.insert(
            "server_side_encryption_configuration".into(),
            json!({ "rule": sse_rule(rule) }),
        );
    }
    if let Some(Value::String(p)) = a.get("policy") {
        if !p.trim().is_empty() {
            m.insert("policy".into(), canonical_policy(p));
        }
    }
    for i in INLINE {
        if let Some(v) = (i.desired)(a) {
            m.insert(i.attr.into(), v);
        }
    }
    m
}

/// Reconcile plan: the whole tag set in one `PutBucketTagging`, the inline
/// versioning, encryption (once, whole) and policy blocks with their `Put*`.
fn plan(d: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable> {
    let mut out = Vec::new();
    if diffs.iter().any(|x| x.path[0] == "tags") {
        // PutBucketTagging replaces the whole set: send the state's full set.
        let tags = d.attrs.get("tags").cloned().unwrap_or(json!({}));
        let tag_set = tags
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                Ok(ops::Tag {
                    key: k.clone(),
                    value: string(d, &format!("tags.{k}"), v)?,
                })
            })
            .collect::<Result<_, NotReconcilable>>()?;
        let op = Op::PutBucketTagging(ops::PutBucketTagging {
            bucket: d.id.clone(),
            tag_set,
        });
        out.push(action(d, "tags", op, &Value::Null, &tags));
    }
    let mut encryption_planned = false;
    for x in diffs.iter().filter(|x| x.path[0] != "tags") {
        match path_str(&x.path).as_str() {
            "versioning.enabled" => {
                let status = if x.expected == json!(true) {
                    ops::VersioningStatus::Enabled
                } else {
                    ops::VersioningStatus::Suspended
                };
                out.push(action(
                    d,
                    "versioning.enabled",
                    super::bucket_versioning::put_versioning(d, status),
                    &x.actual,
                    &x.expected,
                ));
            }
            p if p.starts_with("server_side_encryption_configuration") => {
                if !encryption_planned {
                    encryption_planned = true;
                    let rule = d.attrs["server_side_encryption_configuration"]["rule"].clone();
                    out.push(
                        super::bucket_server_side_encryption_configuration::sse_action(
                            d,
                            &rule,
                            "server_side_encryption_configuration",
                        )?,
                    );
                }
            }
            "policy" => out.push(action(
                d,
                "policy",
                Op::PutBucketPolicy(ops::PutBucketPolicy {
                    bucket: d.id.clone(),
                    policy: x.expected.to_string(),
                }),
                &x.actual,
                &x.expected,
            )),
            other => return Err(NotReconcilable::Unsupported(format!("{} {other}", d.rtype))),
        }
    }
    Ok(out)
}

/// The bucket's whole tag set in `PutBucketTagging`'s shape
/// (`{"TagSet": [..]}`, empty when it has none), for the audit log.
pub(crate) async fn previous_tagging(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Value, Unread> {
    let set: Vec<Value> = current(
        "GetBucketTagging",
        s3.get_bucket_tagging().bucket(bucket).send(),
    )
    .await?
    .map(|o| {
        o.tag_set()
            .iter()
            .map(|t| json!({"Key": t.key(), "Value": t.value()}))
            .collect()
    })
    .unwrap_or_default();
    Ok(json!({ "TagSet": set }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider-v3 state fixture with inline blocks.
    #[test]
    fn inline_blocks_project_to_canonical_form() {
        let s = StateResource {
            address: "aws_s3_bucket.b".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs: json!({"bucket": "b1", "tags": {"Team": "x"}, "tags_all": {"Team": "x"},
                "versioning": [{"enabled": true, "mfa_delete": false}],
                "server_side_encryption_configuration": [{"rule": [{
                    "apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256", "kms_master_key_id": ""}],
                    "bucket_key_enabled": false}]}],
                "policy": ""})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        assert_eq!(
            d["versioning"],
            json!({"enabled": true, "mfa_delete": false})
        );
        assert_eq!(
            d["server_side_encryption_configuration"]["rule"]
                ["apply_server_side_encryption_by_default"]["sse_algorithm"],
            json!("AES256")
        );
        assert!(!d.contains_key("policy"), "an empty policy is not compared");
        assert_eq!((TYPE.info.live_id)(&s), "b1");
    }

    fn v3(extra: Value) -> StateResource {
        let mut attrs =
            json!({"id": "b1", "bucket": "b1", "acl": "private", "tags": {}, "tags_all": {},
            "versioning": [{"enabled": false, "mfa_delete": false}],
            "server_side_encryption_configuration": [], "policy": "",
            "lifecycle_rule": [], "logging": [], "cors_rule": [], "website": [], "grant": [],
            "acceleration_status": "", "request_payer": "BucketOwner",
            "replication_configuration": [], "object_lock_configuration": []})
            .as_object()
            .unwrap()
            .clone();
        attrs.extend(extra.as_object().unwrap().clone());
        StateResource {
            address: "aws_s3_bucket.b".into(),
            rtype: NAME.into(),
            id: "b1".into(),
            attrs,
            sensitive_paths: vec![],
            prepared: None,
        }
    }

    fn inline(attr: &str) -> &'static Inline {
        INLINE.iter().find(|i| i.attr == attr).unwrap()
    }

    /// The corpus's v3 buckets (every block empty, `request_payer =
    /// "BucketOwner"`, `acceleration_status = ""`) declare none of the new
    /// blocks: nothing more is compared, no call is made.
    #[test]
    fn empty_blocks_are_not_declared() {
        let d = project(&v3(json!({})), &ProjectContext::default());
        for i in INLINE {
            assert!(!d.contains_key(i.attr), "{}", i.attr);
        }
        for i in INLINE {
            assert_eq!(
                registry_split(i.split).replaces(),
                Some(i.attr),
                "{} takes over {}",
                i.split,
                i.attr
            );
        }
    }

    fn registry_split(name: &str) -> Source {
        crate::registry::get(name).unwrap().source
    }

    /// v3 lifecycle rules as the provider's Read writes them (a rule with tags
    /// and transitions, a date expiration, a noncurrent-version rule) and the
    /// recorded GetBucketLifecycleConfiguration answer for the same bucket
    /// (rules in another order, `And` filter, date at midnight UTC).
    #[test]
    fn lifecycle_rule_projects_like_the_split_type() {
        use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput as Out;
        use aws_sdk_s3::types::{
            AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleExpiration, LifecycleRule,
            LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration,
            NoncurrentVersionTransition, Tag, Transition, TransitionDefaultMinimumObjectSize,
            TransitionStorageClass,
        };
        let s = v3(json!({"lifecycle_rule": [
            {"id": "logs", "prefix": "logs/", "tags": {"class": "log"}, "enabled": true,
             "abort_incomplete_multipart_upload_days": 7,
             "expiration": [{"date": "", "days": 90, "expired_object_delete_marker": false}],
             "transition": [{"date": "", "days": 60, "storage_class": "GLACIER"},
                            {"date": "", "days": 30, "storage_class": "STANDARD_IA"}],
             "noncurrent_version_expiration": [], "noncurrent_version_transition": []},
            {"id": "old", "prefix": "", "tags": null, "enabled": false,
             "abort_incomplete_multipart_upload_days": 0,
             "expiration": [{"date": "2030-01-01", "days": 0, "expired_object_delete_marker": false}],
             "transition": [], "noncurrent_version_expiration": [{"days": 30}],
             "noncurrent_version_transition": [{"days": 10, "storage_class": "GLACIER"}]}]}));
        let logs = |days: i32| {
            LifecycleRule::builder()
                .id("logs")
                .status(ExpirationStatus::Enabled)
                .filter(
                    LifecycleRuleFilter::builder()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .prefix("logs/")
                                .tags(Tag::builder().key("class").value("log").build().unwrap())
                                .build(),
                        )
                        .build(),
                )
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(7)
                        .build(),
                )
                .expiration(LifecycleExpiration::builder().days(days).build())
                .transitions(
                    Transition::builder()
                        .days(30)
                        .storage_class(TransitionStorageClass::StandardIa)
                        .build(),
                )
                .transitions(
                    Transition::builder()
                        .days(60)
                        .storage_class(TransitionStorageClass::Glacier)
                        .build(),
                )
                .build()
                .unwrap()
        };
        let old = LifecycleRule::builder()
            .id("old")
            .status(ExpirationStatus::Disabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .expiration(
                LifecycleExpiration::builder()
                    .date(aws_smithy_types::DateTime::from_secs(1_893_456_000))
                    .build(),
            )
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(30)
                    .build(),
            )
            .noncurrent_version_transitions(
                NoncurrentVersionTransition::builder()
                    .noncurrent_days(10)
                    .storage_class(TransitionStorageClass::Glacier)
                    .build(),
            )
            .build()
            .unwrap();
        let answer = |days: i32| {
            Out::builder()
                .rules(old.clone())
                .rules(logs(days))
                .transition_default_minimum_object_size(
                    TransitionDefaultMinimumObjectSize::AllStorageClasses128K,
                )
                .build()
        };
        let d = project(&s, &ProjectContext::default());
        let i = inline("lifecycle_rule");
        assert_eq!(
            d["lifecycle_rule"],
            (i.live)(Some(&lifecycle::live(&answer(90))))
        );
        assert_eq!(d["lifecycle_rule"]["rule_ids"], json!(["logs", "old"]));
        assert_eq!(
            d["lifecycle_rule"]["rule"]["old"]["expiration"]["date"],
            json!("2030-01-01")
        );
        // A shorter expiration is a change of that rule; no configuration
        // left is the block gone.
        assert_ne!(
            d["lifecycle_rule"],
            (i.live)(Some(&lifecycle::live(&answer(1))))
        );
        // What only a split resource can set (a size filter, newer
        // noncurrent versions; provider v4 does not copy them into the
        // bucket's computed block) is not compared.
        let mut split_only = answer(90);
        let mut rules = split_only.rules.take().unwrap();
        let i0 = rules.iter().position(|r| r.id() == Some("old")).unwrap();
        rules[i0] = {
            let mut r = rules[i0].clone();
            r.filter = Some(
                LifecycleRuleFilter::builder()
                    .prefix("")
                    .object_size_greater_than(1024)
                    .build(),
            );
            r.noncurrent_version_expiration = Some(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(30)
                    .newer_noncurrent_versions(3)
                    .build(),
            );
            r
        };
        split_only.rules = Some(rules);
        assert_eq!(
            d["lifecycle_rule"],
            (i.live)(Some(&lifecycle::live(&split_only)))
        );
        assert_eq!((i.live)(None), Value::Null);
    }

    /// `logging` (a set of one block), `cors_rule`, `website` and `grant`
    /// against recorded answers of the split types' calls.
    #[test]
    fn logging_cors_website_and_grants_project_like_the_split_types() {
        use aws_sdk_s3::operation::get_bucket_acl::GetBucketAclOutput;
        use aws_sdk_s3::operation::get_bucket_website::GetBucketWebsiteOutput;
        use aws_sdk_s3::types::{
            CorsRule, ErrorDocument, Grant, Grantee, IndexDocument, LoggingEnabled, Owner,
            Permission, Protocol, RedirectAllRequestsTo, Type,
        };
        const OWNER: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
        const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
        let s = v3(json!({
            "logging": [{"target_bucket": "logs", "target_prefix": "b1/"}],
            "cors_rule": [{"allowed_headers": ["*"], "allowed_methods": ["PUT", "GET"],
                           "allowed_origins": ["https://a.example"], "expose_headers": [],
                           "max_age_seconds": 0}],
            "website": [{"index_document": "index.html", "error_document": "error.html",
                         "redirect_all_requests_to": "", "routing_rules":
                         "[{\"Condition\":{\"KeyPrefixEquals\":\"docs/\"},\"Redirect\":{\"ReplaceKeyPrefixWith\":\"documents/\"}}]"}],
            "acl": null,
            "grant": [{"id": OWNER, "type": "CanonicalUser", "uri": "", "permissions": ["FULL_CONTROL"]},
                      {"id": "", "type": "Group", "uri": LOG_DELIVERY, "permissions": ["WRITE", "READ_ACP"]}]}));
        let d = project(&s, &ProjectContext::default());

        let log = |bucket: &str| {
            logging::live(
                &LoggingEnabled::builder()
                    .target_bucket(bucket)
                    .target_prefix("b1/")
                    .build()
                    .unwrap(),
            )
        };
        let i = inline("logging");
        assert_eq!(d["logging"], (i.live)(Some(&log("logs"))));
        assert_eq!(
            d["logging"],
            json!({"target_bucket": "logs", "target_prefix": "b1/"})
        );
        assert_ne!(d["logging"], (i.live)(Some(&log("elsewhere"))));

        let rule = |origin: &str| {
            CorsRule::builder()
                .allowed_headers("*")
                .allowed_methods("GET")
                .allowed_methods("PUT")
                .allowed_origins(origin)
                .build()
                .unwrap()
        };
        let i = inline("cors_rule");
        assert_eq!(
            d["cors_rule"],
            (i.live)(Some(&cors::live(&[rule("https://a.example")])))
        );
        assert_ne!(d["cors_rule"], (i.live)(Some(&cors::live(&[rule("*")]))));
        // A rule id (only a split resource sets one) is not compared.
        let mut with_id = rule("https://a.example");
        with_id.id = Some("web".into());
        assert_eq!(d["cors_rule"], (i.live)(Some(&cors::live(&[with_id]))));
        assert_eq!((i.live)(None), Value::Null);

        let site = |key: &str| {
            website::live(
                &GetBucketWebsiteOutput::builder()
                    .index_document(
                        IndexDocument::builder()
                            .suffix("index.html")
                            .build()
                            .unwrap(),
                    )
                    .error_document(ErrorDocument::builder().key(key).build().unwrap())
                    .routing_rules(
                        aws_sdk_s3::types::RoutingRule::builder()
                            .condition(
                                aws_sdk_s3::types::Condition::builder()
                                    .key_prefix_equals("docs/")
                                    .build(),
                            )
                            .redirect(
                                aws_sdk_s3::types::Redirect::builder()
                                    .replace_key_prefix_with("documents/")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
        };
        let i = inline("website");
        assert_eq!(d["website"], (i.live)(Some(&site("error.html"))));
        assert_ne!(d["website"], (i.live)(Some(&site("404.html"))));
        // A redirect-only website: `https://example.com` is protocol + host.
        let r = project(
            &v3(
                json!({"website": [{"index_document": "", "error_document": "",
                "redirect_all_requests_to": "https://example.com", "routing_rules": ""}]}),
            ),
            &ProjectContext::default(),
        );
        let redirect = website::live(
            &GetBucketWebsiteOutput::builder()
                .redirect_all_requests_to(
                    RedirectAllRequestsTo::builder()
                        .host_name("example.com")
                        .protocol(Protocol::Https)
                        .build()
                        .unwrap(),
                )
                .build(),
        );
        assert_eq!(r["website"], (i.live)(Some(&redirect)));

        let grant =
            |who: Grantee, p: Permission| Grant::builder().grantee(who).permission(p).build();
        let owner = || {
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id(OWNER)
                .display_name("me")
                .build()
                .unwrap()
        };
        let group = |uri: &str| {
            Grantee::builder()
                .r#type(Type::Group)
                .uri(uri)
                .build()
                .unwrap()
        };
        let acl_answer = |extra: Option<Grant>| {
            let mut b = GetBucketAclOutput::builder()
                .owner(Owner::builder().id(OWNER).build())
                .grants(grant(group(LOG_DELIVERY), Permission::ReadAcp))
                .grants(grant(owner(), Permission::FullControl))
                .grants(grant(group(LOG_DELIVERY), Permission::Write));
            if let Some(g) = extra {
                b = b.grants(g);
            }
            acl::live(&b.build())
        };
        let i = inline("grant");
        assert_eq!(d["grant"], (i.live)(Some(&acl_answer(None))));
        let public = grant(
            group("http://acs.amazonaws.com/groups/global/AllUsers"),
            Permission::Read,
        );
        assert_ne!(d["grant"], (i.live)(Some(&acl_answer(Some(public)))));
        assert!(!d.contains_key("acl"), "the canned ACL is not comparable");
    }

    /// `acceleration_status`, `request_payer` (recorded answers: moto does not
    /// serve requestPayment), replication and object lock.
    #[test]
    fn scalars_replication_and_object_lock_project_like_the_split_types() {
        use aws_sdk_s3::types::{
            DefaultRetention, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
            ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
            ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter,
            ReplicationRuleStatus, SourceSelectionCriteria, SseKmsEncryptedObjects,
            SseKmsEncryptedObjectsStatus, StorageClass,
        };
        const ROLE: &str = "arn:aws:iam::123456789012:role/repl";
        let s = v3(json!({
            "acceleration_status": "Enabled", "request_payer": "Requester",
            "replication_configuration": [{"role": ROLE, "rules": [
                {"id": "dr", "priority": 1, "status": "Enabled", "prefix": "",
                 "filter": [{"prefix": "data/", "tags": {}}],
                 "delete_marker_replication_status": "",
                 "source_selection_criteria": [{"sse_kms_encrypted_objects": [{"enabled": true}]}],
                 "destination": [{"bucket": "arn:aws:s3:::dst", "storage_class": "STANDARD_IA",
                                  "replica_kms_key_id": "", "account_id": "",
                                  "access_control_translation": [], "replication_time": [],
                                  "metrics": []}]}]}],
            "object_lock_configuration": [{"object_lock_enabled": "Enabled",
                "rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 30, "years": 0}]}]}]}));
        let d = project(&s, &ProjectContext::default());

        let i = inline("acceleration_status");
        assert_eq!(
            d["acceleration_status"],
            (i.live)(Some(&accelerate::live(Some("Enabled"))))
        );
        assert_ne!(
            d["acceleration_status"],
            (i.live)(Some(&accelerate::live(Some("Suspended"))))
        );
        assert_eq!((i.live)(None), Value::Null);

        let i = inline("request_payer");
        assert_eq!(
            d["request_payer"],
            (i.live)(Some(&request_payment::live(Some("Requester"))))
        );
        // Reset to the bucket owner (also an answer without Payer).
        assert_ne!(
            d["request_payer"],
            (i.live)(Some(&request_payment::live(None)))
        );

        let repl = |status: ReplicationRuleStatus| {
            ReplicationConfiguration::builder()
                .role(ROLE)
                .rules(
                    ReplicationRule::builder()
                        .id("dr")
                        .priority(1)
                        .filter(ReplicationRuleFilter::builder().prefix("data/").build())
                        .status(status)
                        .delete_marker_replication(
                            DeleteMarkerReplication::builder()
                                .status(DeleteMarkerReplicationStatus::Disabled)
                                .build(),
                        )
                        .source_selection_criteria(
                            SourceSelectionCriteria::builder()
                                .sse_kms_encrypted_objects(
                                    SseKmsEncryptedObjects::builder()
                                        .status(SseKmsEncryptedObjectsStatus::Enabled)
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .destination(
                            Destination::builder()
                                .bucket("arn:aws:s3:::dst")
                                .storage_class(StorageClass::StandardIa)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        let i = inline("replication_configuration");
        assert_eq!(
            d["replication_configuration"],
            (i.live)(Some(&replication::live(Some(&repl(
                ReplicationRuleStatus::Enabled
            )))))
        );
        assert_ne!(
            d["replication_configuration"],
            (i.live)(Some(&replication::live(Some(&repl(
                ReplicationRuleStatus::Disabled
            )))))
        );

        let lock = |days: i32| {
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(days)
                                .years(0)
                                .build(),
                        )
                        .build(),
                )
                .build()
        };
        let i = inline("object_lock_configuration");
        assert_eq!(
            d["object_lock_configuration"],
            (i.live)(Some(&object_lock::live(Some(&lock(30)))))
        );
        assert_ne!(
            d["object_lock_configuration"],
            (i.live)(Some(&object_lock::live(Some(&lock(1)))))
        );
    }

    /// Every inline block declared; a split resource of the same bucket in
    /// the stack takes exactly its own block over (one change, one report).
    #[test]
    fn a_split_resource_takes_over_its_inline_block_only() {
        use driftd_core::Schema;
        let b = v3(json!({
            "lifecycle_rule": [{"id": "a", "enabled": true, "expiration": [{"days": 1}]}],
            "logging": [{"target_bucket": "logs", "target_prefix": ""}],
            "cors_rule": [{"allowed_methods": ["GET"], "allowed_origins": ["*"]}],
            "website": [{"index_document": "index.html"}],
            "grant": [{"id": "o", "type": "CanonicalUser", "permissions": ["FULL_CONTROL"]}],
            "acceleration_status": "Enabled", "request_payer": "Requester",
            "replication_configuration": [{"role": "r", "rules": [{"id": "x", "status": "Enabled"}]}],
            "object_lock_configuration": [{"object_lock_enabled": "Enabled", "rule": []}]}));
        let schema = crate::schema::AwsSchema::default();
        let all = schema.desired(std::slice::from_ref(&b));
        for i in INLINE {
            assert!(all[0].attrs.contains_key(i.attr), "{}", i.attr);
        }
        for i in INLINE {
            let split = StateResource {
                address: format!("{}.x", i.split),
                rtype: i.split.into(),
                id: "b1".into(),
                attrs: json!({"id": "b1", "bucket": "b1"})
                    .as_object()
                    .unwrap()
                    .clone(),
                sensitive_paths: vec![],
                prepared: None,
            };
            let d = schema.desired(&[b.clone(), split]);
            for j in INLINE {
                assert_eq!(
                    d[0].attrs.contains_key(j.attr),
                    j.attr != i.attr,
                    "{} with {}",
                    j.attr,
                    i.split
                );
            }
        }
    }
}
