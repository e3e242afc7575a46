//! Policy: is a drift critical, and how large is a run's blast radius?
//!
//! Why two layers: simple rules in the config file cover most teams
//! (type, address, attribute, tags -> critical or not), evaluated in order,
//! first match wins, user rules before driftd's built-in defaults. Teams that
//! already write Open Policy Agent policies can add Rego files, evaluated
//! in-process with `regorus` (no sidecar): they may mark drifts critical or
//! not, and compute the run's blast-radius score. Anything no rule matches is
//! critical: an unknown change goes to a human. Before any rule, drift on a
//! sensitive attribute is critical unless a user rule names that attribute
//! exactly (`names_explicitly`): broad rules and Rego cannot release it.
//!
//! The blast-radius brake fails closed: a threshold needs a declared
//! `data.driftd.score` (`check_blast_radius`, a config error otherwise), and
//! a declared score that is undefined or not a number at run time blocks
//! reconcile for the stack (`Score`).
//!
//! The Rego contract (package `driftd`; every rule optional):
//! ```text
//! input = {"stack": "...", "threshold": 100,
//!          "drifts": [{"address", "type", "id", "kind": "changed|missing|unmanaged",
//!                      "action": "update|create|delete", "attributes": ["tags.Team", ...],
//!                      "critical": bool, "rule": "builtin:tags",
//!                      "changed_by": null | {"event_name", "event_time", "event_id",
//!                          "principal": {"kind", "name", "session", "arn"}, "via", ...}}]}
//! data.driftd.critical      set of addresses that are critical
//! data.driftd.non_critical  set of addresses that are not
//! data.driftd.score         the run's blast-radius score (number)
//! ```

use std::path::Path;

use serde_json::{json, Value};

pub use super::settings::{PolicyRule, PolicySettings};
use crate::glob::wildcard;
use crate::report::{DecisionAction, Drift, DriftKind};

/// Rules driftd applies after the user's (disable with `policy.builtin_rules = false`):
/// the generic `missing-or-unmanaged` first, then each registered type's own
/// rules in registry order, then the generic `tags` and `descriptions`.
pub fn builtin_rules() -> Vec<PolicyRule> {
    builtin_rules_of(&driftd_aws::registry::registry())
}

/// [`builtin_rules`] for a registry.
pub fn builtin_rules_of(registry: &driftd_core::Registry) -> Vec<PolicyRule> {
    use driftd_core::registry::RuleKind;
    let rule =
        |name: &str, types: &[&str], attributes: &[&str], kinds: &[DriftKind], critical: bool| {
            PolicyRule {
                name: format!("builtin:{name}"),
                types: types.iter().map(|s| s.to_string()).collect(),
                addresses: vec![],
                attributes: attributes.iter().map(|s| s.to_string()).collect(),
                kinds: kinds.to_vec(),
                tags: Default::default(),
                changed_by: vec![],
                critical,
                action: None,
            }
        };
    use DriftKind::*;
    // Creating or deleting whole resources is never automatic.
    let mut out = vec![rule(
        "missing-or-unmanaged",
        &[],
        &[],
        &[Missing, Unmanaged],
        true,
    )];
    for t in registry.types() {
        for r in t.default_rules {
            let kinds: Vec<DriftKind> = r
                .kinds
                .iter()
                .map(|k| match k {
                    RuleKind::Changed => Changed,
                    RuleKind::Missing => Missing,
                    RuleKind::Unmanaged => Unmanaged,
                })
                .collect();
            out.push(rule(r.name, &[t.name], r.attributes, &kinds, r.critical));
        }
    }
    out.push(rule("tags", &[], &["tags*"], &[Changed], false));
    out.push(rule(
        "descriptions",
        &[],
        &["description"],
        &[Changed],
        false,
    ));
    out
}

fn any_match(patterns: &[String], text: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| wildcard(p, text))
}

fn rule_matches(r: &PolicyRule, d: &Drift, attribute: Option<&str>, tags: &Value) -> bool {
    any_match(&r.types, &d.rtype)
        && any_match(&r.addresses, d.address.as_deref().unwrap_or(""))
        && (r.kinds.is_empty() || r.kinds.contains(&d.kind))
        && (r.attributes.is_empty() || attribute.is_some_and(|a| any_match(&r.attributes, a)))
        && r.tags.iter().all(|(k, v)| {
            tags.get(k)
                .and_then(Value::as_str)
                .is_some_and(|t| wildcard(v, t))
        })
        && (r.changed_by.is_empty()
            || d.changed_by.as_ref().is_some_and(|c| {
                let via = format!("via:{}", c.via);
                r.changed_by
                    .iter()
                    .any(|p| wildcard(p, &c.principal.name) || wildcard(p, &via))
            }))
}

/// The classification of one drift by the config rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub critical: bool,
    pub rule: String,
    /// A rule may force an action (e.g. `report_only`).
    pub action: Option<DecisionAction>,
    /// Critical because a sensitive attribute drifted and no user rule names
    /// it explicitly: nothing (a broad rule, Rego) may make it non-critical.
    pub sensitive: bool,
}

/// The rule name of the sensitive-attribute guard.
pub const SENSITIVE_RULE: &str = "builtin:sensitive";

/// Does a user rule name this attribute path explicitly? One of its
/// `attributes` entries is the path itself, character for character (no
/// `*` or `?`): `tags.ApiKey`, `tags["db.password"]`, `user_data`. A rule
/// without `attributes`, or with a glob such as `tags.*`, does not.
pub fn names_explicitly(r: &PolicyRule, path: &str) -> bool {
    r.attributes.iter().any(|p| p == path)
}

/// Classify a drift: each attribute by the first matching rule; the drift is
/// critical when any attribute is. `tags` are the resource's tags in state;
/// `sensitive` the (rendered) paths of its attributes that are sensitive
/// (the state's `sensitive_attributes`, or a secret-bearing attribute).
///
/// Precedence, exactly as the README says: user rules in their order, then
/// the built-in ones; the first rule that matches wins, whatever the drift's
/// kind. Anything no rule matches is critical. One exception comes first:
/// a sensitive attribute is classified only by user rules that name it
/// explicitly (see [`names_explicitly`]), else it is critical
/// (`builtin:sensitive`), with or without the built-in rules.
pub fn classify(
    settings: &PolicySettings,
    d: &Drift,
    tags: &Value,
    sensitive: &[String],
) -> Classification {
    let builtin = if settings.builtin_rules {
        builtin_rules()
    } else {
        vec![]
    };
    let rules: Vec<&PolicyRule> = settings.rules.iter().chain(builtin.iter()).collect();
    let to_class = |r: &PolicyRule| Classification {
        critical: r.critical,
        rule: if r.name.starts_with("builtin:") {
            r.name.clone()
        } else {
            format!("config:{}", r.name)
        },
        action: r.action,
        sensitive: false,
    };
    let first = |attr: Option<&str>| {
        rules
            .iter()
            .find(|r| rule_matches(r, d, attr, tags))
            .map(|r| to_class(r))
    };
    let guarded = |path: &str| {
        settings
            .rules
            .iter()
            .filter(|r| names_explicitly(r, path))
            .find(|r| rule_matches(r, d, Some(path), tags))
            .map(to_class)
            .unwrap_or(Classification {
                critical: true,
                rule: SENSITIVE_RULE.into(),
                action: None,
                sensitive: true,
            })
    };
    let default = Classification {
        critical: true,
        rule: "default: no rule matched, a human decides".into(),
        action: None,
        sensitive: false,
    };
    let per_attr: Vec<Classification> = if d.attributes.is_empty() {
        // A whole resource (missing, unmanaged): acting on it writes every
        // value it has, so its sensitive paths are guarded as for a change.
        std::iter::once(first(None).unwrap_or(default.clone()))
            .chain(sensitive.iter().map(|p| guarded(p)))
            .collect()
    } else {
        d.attributes
            .iter()
            .map(|a| {
                if sensitive.iter().any(|s| s == &a.path) {
                    guarded(&a.path)
                } else {
                    first(Some(&a.path)).unwrap_or(default.clone())
                }
            })
            .collect()
    };
    // Critical if any attribute is (a guarded sensitive one first, so the
    // report says why); a forced action counts only when every attribute
    // agrees on ignoring, else the most restrictive one wins.
    let mut out = per_attr
        .iter()
        .find(|c| c.sensitive)
        .or_else(|| per_attr.iter().find(|c| c.critical))
        .or_else(|| per_attr.first())
        .cloned()
        .unwrap_or(default);
    let forced: Vec<DecisionAction> = per_attr.iter().filter_map(|c| c.action).collect();
    out.action = if !forced.is_empty()
        && forced.len() == per_attr.len()
        && forced.iter().all(|a| *a == DecisionAction::Ignored)
    {
        Some(DecisionAction::Ignored)
    } else if forced.contains(&DecisionAction::ReportOnly) {
        Some(DecisionAction::ReportOnly)
    } else if forced.contains(&DecisionAction::PullRequest) {
        Some(DecisionAction::PullRequest)
    } else {
        None
    };
    out
}

/// Compile a Rego file once: a readable error with file and line on failure.
pub fn check_rego(path: &Path, text: &str) -> Result<(), String> {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy(path.display().to_string(), text.to_string())
        .map(|_| ())
        .map_err(|e| format!("invalid Rego: {}", one_line(&e.to_string())))?;
    // Evaluate once with an empty run, so that runtime errors surface now.
    evaluate_files(
        &[(path.to_path_buf(), text.to_string())],
        &json!({"stack": "", "threshold": 0, "drifts": []}),
    )
    .map(|_| ())
}

/// regorus errors span several lines (a source excerpt with a caret): keep
/// the location and the message on one line for config error lists.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && *l != "|" && !l.chars().all(|c| c == '^' || c == ' ' || c == '|')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the Rego files said about one stack's run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegoVerdict {
    pub critical: Vec<String>,
    pub non_critical: Vec<String>,
    pub score: Score,
}

/// `data.driftd.score` as evaluated.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Score {
    /// The rule is not defined for this input (or no file declares it).
    #[default]
    Undefined,
    Number(f64),
    /// Defined, but not a number: the JSON type it had (`string`, ...).
    NotANumber(String),
}

impl Score {
    fn of(v: Option<&Value>) -> Score {
        match v {
            None => Score::Undefined,
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Score::Number)
                .unwrap_or(Score::NotANumber("number out of range".into())),
            Some(Value::Null) => Score::NotANumber("null".into()),
            Some(Value::Bool(_)) => Score::NotANumber("boolean".into()),
            Some(Value::String(_)) => Score::NotANumber("string".into()),
            Some(Value::Array(_)) => Score::NotANumber("array".into()),
            Some(Value::Object(_)) => Score::NotANumber("object".into()),
        }
    }
}

/// The package driftd reads, as regorus names it.
const PACKAGE: &str = "data.driftd";

/// Does any of the files define `data.driftd.score` (a rule `score`, or
/// `default score`, in `package driftd`)? Decided on the syntax tree, not by
/// evaluating: a score undefined for one input is still declared.
pub fn declares_score(files: &[(std::path::PathBuf, String)]) -> bool {
    use regorus::unstable::{Expr, Rule, RuleHead};
    files.iter().any(|(path, text)| {
        let mut engine = regorus::Engine::new();
        if engine
            .add_policy(path.display().to_string(), text.clone())
            .is_err()
        {
            return false;
        }
        if engine.get_packages().ok().as_deref() != Some(&[PACKAGE.to_string()][..]) {
            return false;
        }
        engine.get_modules().iter().any(|m| {
            m.policy.iter().any(|r| {
                let refr = match r.as_ref() {
                    Rule::Spec {
                        head: RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. },
                        ..
                    } => refr,
                    Rule::Default { refr, .. } => refr,
                    _ => return false,
                };
                matches!(refr.as_ref(), Expr::Var { span, .. } if span.text() == "score")
            })
        })
    })
}

/// Config check of the blast-radius brake (fails closed): a threshold needs
/// a Rego file with a rule `score` in `package driftd`; Rego files of which
/// none is `package driftd` are read by nobody; a score that evaluates to
/// something other than a number (for an empty run) is an error. `rego` are
/// the files that compiled. Returns (field, message) pairs.
pub fn check_blast_radius(
    threshold: Option<f64>,
    rego: &[(std::path::PathBuf, String)],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let packages: Vec<String> = rego
        .iter()
        .flat_map(|(path, text)| {
            let mut engine = regorus::Engine::new();
            match engine.add_policy(path.display().to_string(), text.clone()) {
                Ok(_) => engine.get_packages().unwrap_or_default(),
                Err(_) => vec![],
            }
        })
        .collect();
    if !rego.is_empty() && !packages.iter().any(|p| p == PACKAGE) {
        let found: Vec<String> = packages
            .iter()
            .map(|p| format!("`package {}`", p.trim_start_matches("data.")))
            .collect();
        out.push((
            "policy.rego".to_string(),
            format!(
                "no file is in `package driftd`, the only package driftd reads (found {}): nothing in them would be used",
                found.join(", ")
            ),
        ));
    }
    let declared = declares_score(rego);
    if threshold.is_some() && !declared {
        out.push((
            "policy.blast_radius_threshold".to_string(),
            if rego.is_empty() {
                "is set, but no Rego file computes a score, so the brake would never hold: add `rego = [\"config/policy/blast_radius.rego\"]` (a rule `score` in `package driftd`), or remove the threshold".to_string()
            } else {
                "is set, but no Rego file defines `score` in `package driftd` (data.driftd.score), so the brake would never hold: rename the package or rule, or remove the threshold".to_string()
            },
        ));
    }
    if declared {
        let empty = json!({"stack": "", "threshold": threshold.unwrap_or(0.0), "drifts": []});
        if let Ok(RegoVerdict {
            score: Score::NotANumber(t),
            ..
        }) = evaluate_files(rego, &empty)
        {
            out.push((
                "policy.rego".to_string(),
                format!("data.driftd.score must be a number, it is a {t}"),
            ));
        }
    }
    out
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::Object(o)) => o.keys().cloned().collect(),
        _ => vec![],
    }
}

fn evaluate_files(
    files: &[(std::path::PathBuf, String)],
    input: &Value,
) -> Result<RegoVerdict, String> {
    if files.is_empty() {
        return Ok(RegoVerdict::default());
    }
    let mut engine = regorus::Engine::new();
    for (path, text) in files {
        engine
            .add_policy(path.display().to_string(), text.clone())
            .map_err(|e| format!("invalid Rego: {e}"))?;
    }
    engine
        .set_input_json(&input.to_string())
        .map_err(|e| format!("Rego input: {e}"))?;
    let results = engine
        .eval_query("data.driftd".to_string(), false)
        .map_err(|e| format!("Rego evaluation failed: {e}"))?;
    let Some(value) = results
        .result
        .first()
        .and_then(|r| r.expressions.first())
        .map(|e| e.value.clone())
    else {
        return Ok(RegoVerdict::default());
    };
    let json: Value = serde_json::from_str(&value.to_json_str().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    Ok(RegoVerdict {
        critical: strings(json.get("critical")),
        non_critical: strings(json.get("non_critical")),
        score: Score::of(json.get("score")),
    })
}

/// The Rego input for a stack's drifts (values are never included: a policy
/// decides on shapes, and secrets stay out of the engine).
pub fn rego_input(stack: &str, threshold: f64, drifts: &[(&Drift, &Classification)]) -> Value {
    let items: Vec<Value> = drifts
        .iter()
        .map(|(d, c)| {
            json!({
                "address": d.address, "type": d.rtype, "id": d.id, "kind": d.kind.as_str(),
                "action": match d.kind { DriftKind::Changed => "update", DriftKind::Missing => "create", DriftKind::Unmanaged => "delete" },
                "attributes": d.attributes.iter().map(|a| a.path.clone()).collect::<Vec<_>>(),
                "critical": c.critical, "rule": c.rule,
                "changed_by": d.changed_by,
            })
        })
        .collect();
    json!({"stack": stack, "threshold": threshold, "drifts": items})
}

/// Evaluate the configured Rego files for one stack.
pub fn evaluate(settings: &PolicySettings, input: &Value) -> Result<RegoVerdict, String> {
    evaluate_files(&settings.rego, input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::AttrChange;

    /// The built-in rules as they were written before the registry (kept to
    /// prove the registry's rules classify every drift the same way).
    fn legacy_builtin_rules() -> Vec<PolicyRule> {
        let rule = |name: &str,
                    types: &[&str],
                    attributes: &[&str],
                    kinds: &[DriftKind],
                    critical: bool| {
            PolicyRule {
                name: format!("builtin:{name}"),
                types: types.iter().map(|s| s.to_string()).collect(),
                addresses: vec![],
                attributes: attributes.iter().map(|s| s.to_string()).collect(),
                kinds: kinds.to_vec(),
                tags: Default::default(),
                changed_by: vec![],
                critical,
                action: None,
            }
        };
        use DriftKind::*;
        vec![
            // Creating or deleting whole resources is never automatic.
            rule(
                "missing-or-unmanaged",
                &[],
                &[],
                &[Missing, Unmanaged],
                true,
            ),
            rule(
                "security-group-rules",
                &[
                    "aws_security_group",
                    "aws_security_group_rule",
                    "aws_vpc_security_group_*",
                ],
                &[
                    "ingress*",
                    "egress*",
                    "rules*",
                    "ip_protocol",
                    "from_port",
                    "to_port",
                    "cidr_*",
                    "prefix_list_id",
                    "referenced_security_group_id",
                ],
                &[],
                true,
            ),
            rule(
                "s3-public-access",
                &["aws_s3_bucket_public_access_block"],
                &[],
                &[],
                true,
            ),
            rule(
                "s3-encryption",
                &["aws_s3_bucket_server_side_encryption_configuration"],
                &[],
                &[],
                true,
            ),
            rule(
                "s3-encryption",
                &["aws_s3_bucket"],
                &["server_side_encryption_configuration*"],
                &[],
                true,
            ),
            rule("s3-policy", &["aws_s3_bucket_policy"], &[], &[], true),
            rule("s3-policy", &["aws_s3_bucket"], &["policy"], &[], true),
            rule(
                "instance-identity",
                &["aws_instance"],
                &[
                    "instance_type",
                    "ami",
                    "vpc_security_group_ids",
                    "subnet_id",
                    "iam_instance_profile",
                    "key_name",
                    "metadata_options*",
                    "root_block_device*",
                    "disable_api_termination",
                    "ebs_optimized",
                    "source_dest_check",
                ],
                &[],
                true,
            ),
            rule("tags", &[], &["tags*"], &[Changed], false),
            rule(
                "monitoring",
                &["aws_instance"],
                &["monitoring"],
                &[Changed],
                false,
            ),
            rule("descriptions", &[], &["description"], &[Changed], false),
            rule(
                "s3-versioning",
                &["aws_s3_bucket"],
                &["versioning*"],
                &[Changed],
                false,
            ),
            rule(
                "s3-versioning",
                &["aws_s3_bucket_versioning"],
                &[],
                &[Changed],
                false,
            ),
        ]
    }

    /// Every drift of every type that had built-in rules is classified by the
    /// same rule, with the same criticality, as before the registry.
    #[test]
    fn registry_rules_classify_like_the_legacy_list() {
        let (new, old) = (builtin_rules(), legacy_builtin_rules());
        let first = |rules: &[PolicyRule], d: &Drift, a: Option<&str>| {
            rules
                .iter()
                .find(|r| rule_matches(r, d, a, &json!({})))
                .map(|r| (r.name.clone(), r.critical))
        };
        let reg = driftd_aws::registry::registry();
        // The types that existed before the registry (types added since have
        // no legacy rules to agree with).
        let legacy_types = [
            "aws_instance",
            "aws_security_group",
            "aws_security_group_rule",
            "aws_vpc_security_group_ingress_rule",
            "aws_vpc_security_group_egress_rule",
            "aws_s3_bucket",
            "aws_s3_bucket_versioning",
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_policy",
        ];
        assert!(legacy_types.iter().all(|t| reg.get(t).is_some()));
        let mut checked = 0;
        for t in legacy_types {
            let mut attrs: Vec<String> = reg
                .get(t)
                .unwrap()
                .attributes
                .iter()
                // The bucket's provider-v3 inline blocks beyond these four
                // came with the registry: no legacy rule to agree with.
                .filter(|a| {
                    t != "aws_s3_bucket"
                        || [
                            "tags",
                            "versioning",
                            "server_side_encryption_configuration",
                            "policy",
                        ]
                        .contains(&a.name)
                })
                .flat_map(|a| [a.name.to_string(), format!("{}.k", a.name)])
                .collect();
            // Drifts can only be on attributes the type compares (and sub-paths).
            attrs.push("other".into());
            for kind in [DriftKind::Changed, DriftKind::Missing, DriftKind::Unmanaged] {
                let d = drift(t, kind, &[]);
                assert_eq!(first(&new, &d, None), first(&old, &d, None), "{t} {kind:?}");
                for a in &attrs {
                    assert_eq!(
                        first(&new, &d, Some(a)),
                        first(&old, &d, Some(a)),
                        "{t} {kind:?} {a}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    fn drift(rtype: &str, kind: DriftKind, paths: &[&str]) -> Drift {
        Drift {
            address: Some(format!("{rtype}.x")),
            rtype: rtype.into(),
            id: "id-1".into(),
            kind,
            attributes: paths
                .iter()
                .map(|p| AttrChange {
                    path: p.to_string(),
                    expected: Value::Null,
                    actual: Value::Null,
                })
                .collect(),
            first_seen: None,
            seen: None,
            decision: None,
            changed_by: None,
            unattributed: None,
        }
    }

    fn settings(rules: Vec<PolicyRule>) -> PolicySettings {
        PolicySettings {
            rules,
            builtin_rules: true,
            rego: vec![],
            blast_radius_threshold: 100.0,
        }
    }

    #[test]
    fn builtin_defaults() {
        let s = settings(vec![]);
        let c = |d: &Drift| classify(&s, d, &json!({}), &[]);
        assert!(!c(&drift("aws_instance", DriftKind::Changed, &["tags.Team"])).critical);
        assert!(
            c(&drift(
                "aws_instance",
                DriftKind::Changed,
                &["tags.Team", "instance_type"]
            ))
            .critical
        );
        assert!(
            c(&drift(
                "aws_security_group",
                DriftKind::Changed,
                &["ingress[\"tcp:22-22:cidr:0.0.0.0/0\"]"]
            ))
            .critical
        );
        assert!(
            c(&drift(
                "aws_s3_bucket_public_access_block",
                DriftKind::Missing,
                &[]
            ))
            .critical
        );
        assert!(
            !c(&drift(
                "aws_s3_bucket",
                DriftKind::Changed,
                &["versioning.enabled"]
            ))
            .critical
        );
        assert_eq!(
            c(&drift(
                "aws_instance",
                DriftKind::Changed,
                &["something_new"]
            ))
            .rule,
            "default: no rule matched, a human decides"
        );
    }

    #[test]
    fn user_rules_come_first_and_match_tags() {
        let rule = PolicyRule {
            name: "prod-tags-matter".into(),
            types: vec![],
            addresses: vec![],
            attributes: vec!["tags.*".into()],
            kinds: vec![],
            tags: [("Environment".to_string(), "prod".to_string())].into(),
            changed_by: vec![],
            critical: true,
            action: None,
        };
        let s = settings(vec![rule]);
        let d = drift("aws_instance", DriftKind::Changed, &["tags.Team"]);
        let c = classify(&s, &d, &json!({"Environment": "prod"}), &[]);
        assert!(c.critical);
        assert_eq!(c.rule, "config:prod-tags-matter");
        assert!(!classify(&s, &d, &json!({"Environment": "dev"}), &[]).critical);
    }

    fn rule(
        name: &str,
        attributes: &[&str],
        kinds: &[DriftKind],
        critical: bool,
        action: Option<DecisionAction>,
    ) -> PolicyRule {
        PolicyRule {
            name: name.into(),
            types: vec![],
            addresses: vec![],
            attributes: attributes.iter().map(|s| s.to_string()).collect(),
            kinds: kinds.to_vec(),
            tags: Default::default(),
            changed_by: vec![],
            critical,
            action,
        }
    }

    #[test]
    fn changed_by_matcher_and_rego_input() {
        use crate::attribution::{ChangedBy, Principal};
        let break_glass = PolicyRule {
            changed_by: vec!["role/break-glass*".into()],
            ..rule("break-glass-critical", &[], &[], true, None)
        };
        let autoscaler = PolicyRule {
            changed_by: vec!["service/autoscaling.amazonaws.com".into()],
            ..rule(
                "autoscaler-ignored",
                &[],
                &[],
                false,
                Some(DecisionAction::Ignored),
            )
        };
        let s = PolicySettings {
            builtin_rules: false,
            ..settings(vec![break_glass, autoscaler])
        };
        let by = |name: &str| ChangedBy {
            event_name: "ModifyInstanceAttribute".into(),
            event_time: "2026-12-01T10:32:00Z".into(),
            event_id: "e".into(),
            event_source: None,
            principal: Principal {
                kind: "assumed_role".into(),
                name: name.into(),
                session: Some("s".into()),
                arn: None,
                account_id: None,
            },
            via: "console".into(),
            source_ip: None,
            user_agent: None,
            error_code: None,
        };
        let mut d = drift("aws_instance", DriftKind::Changed, &["instance_type"]);
        // Unattributed: no changed_by rule matches.
        assert!(classify(&s, &d, &json!({}), &[])
            .rule
            .starts_with("default"));
        d.changed_by = Some(by("role/break-glass-admin"));
        let c = classify(&s, &d, &json!({}), &[]);
        assert!(c.critical);
        assert_eq!(c.rule, "config:break-glass-critical");
        d.changed_by = Some(by("service/autoscaling.amazonaws.com"));
        let c = classify(&s, &d, &json!({}), &[]);
        assert_eq!(c.action, Some(DecisionAction::Ignored));
        let input = rego_input("web", 10.0, &[(&d, &c)]);
        assert_eq!(
            input["drifts"][0]["changed_by"]["principal"]["name"],
            "service/autoscaling.amazonaws.com"
        );
    }

    #[test]
    fn forced_actions_combine_across_attributes() {
        let s = settings(vec![
            rule(
                "owner-by-hand",
                &["tags.Owner"],
                &[],
                false,
                Some(DecisionAction::ReportOnly),
            ),
            rule(
                "noise",
                &["tags.LastPatched"],
                &[],
                false,
                Some(DecisionAction::Ignored),
            ),
        ]);
        // The forced report_only of one attribute holds for the drift.
        let d = drift(
            "aws_instance",
            DriftKind::Changed,
            &["tags.CostCenter", "tags.Owner"],
        );
        assert_eq!(
            classify(&s, &d, &json!({}), &[]).action,
            Some(DecisionAction::ReportOnly)
        );
        // One ignored attribute does not ignore the others.
        let d = drift(
            "aws_instance",
            DriftKind::Changed,
            &["tags.LastPatched", "tags.Team"],
        );
        assert_eq!(classify(&s, &d, &json!({}), &[]).action, None);
        let d = drift("aws_instance", DriftKind::Changed, &["tags.LastPatched"]);
        assert_eq!(
            classify(&s, &d, &json!({}), &[]).action,
            Some(DecisionAction::Ignored)
        );
    }

    /// Precedence, exactly as the README says: user rules in order, then the
    /// built-in ones, first match wins, for every kind of drift.
    #[test]
    fn precedence_table() {
        use DriftKind::*;
        let catch_all_ok = rule("all-fine", &[], &[], false, None);
        let missing_ok = rule("missing-ok", &[], &[Missing], false, None);
        let tags_critical = rule("tags-matter", &["tags.*"], &[], true, None);
        let changed_ok = rule("changed-ok", &[], &[Changed], false, None);
        let typed_ok = PolicyRule {
            types: vec!["aws_s3_bucket_public_access_block".into()],
            ..rule("pab-ok", &[], &[], false, None)
        };
        // (user rules, drift type, kind, attribute paths) -> (critical, rule)
        #[allow(clippy::type_complexity)]
        let table: Vec<(Vec<PolicyRule>, &str, DriftKind, Vec<&str>, bool, &str)> = vec![
            // No user rule: the built-in ones.
            (
                vec![],
                "aws_security_group_rule",
                Missing,
                vec![],
                true,
                "builtin:missing-or-unmanaged",
            ),
            (
                vec![],
                "aws_instance",
                Unmanaged,
                vec![],
                true,
                "builtin:missing-or-unmanaged",
            ),
            (
                vec![],
                "aws_instance",
                Changed,
                vec!["tags.Team"],
                false,
                "builtin:tags",
            ),
            // A user rule with no matchers comes before every built-in rule,
            // for missing and unmanaged resources too.
            (
                vec![catch_all_ok.clone()],
                "aws_security_group_rule",
                Missing,
                vec![],
                false,
                "config:all-fine",
            ),
            (
                vec![catch_all_ok.clone()],
                "aws_instance",
                Unmanaged,
                vec![],
                false,
                "config:all-fine",
            ),
            (
                vec![catch_all_ok.clone()],
                "aws_instance",
                Changed,
                vec!["instance_type"],
                false,
                "config:all-fine",
            ),
            // A rule naming a kind matches that kind only.
            (
                vec![missing_ok.clone()],
                "aws_instance",
                Missing,
                vec![],
                false,
                "config:missing-ok",
            ),
            (
                vec![missing_ok.clone()],
                "aws_instance",
                Unmanaged,
                vec![],
                true,
                "builtin:missing-or-unmanaged",
            ),
            (
                vec![changed_ok.clone()],
                "aws_instance",
                Missing,
                vec![],
                true,
                "builtin:missing-or-unmanaged",
            ),
            // A rule with attribute matchers never matches a whole resource.
            (
                vec![rule("attrs-ok", &["*"], &[], false, None)],
                "aws_instance",
                Missing,
                vec![],
                true,
                "builtin:missing-or-unmanaged",
            ),
            // Types match missing resources of that type.
            (
                vec![typed_ok.clone()],
                "aws_s3_bucket_public_access_block",
                Missing,
                vec![],
                false,
                "config:pab-ok",
            ),
            (
                vec![typed_ok],
                "aws_s3_bucket_public_access_block",
                Changed,
                vec!["block_public_acls"],
                false,
                "config:pab-ok",
            ),
            // User rules in their order: the first match wins.
            (
                vec![tags_critical.clone(), catch_all_ok.clone()],
                "aws_instance",
                Changed,
                vec!["tags.Team"],
                true,
                "config:tags-matter",
            ),
            (
                vec![catch_all_ok.clone(), tags_critical],
                "aws_instance",
                Changed,
                vec!["tags.Team"],
                false,
                "config:all-fine",
            ),
            // Critical when any attribute is.
            (
                vec![],
                "aws_instance",
                Changed,
                vec!["tags.Team", "instance_type"],
                true,
                "builtin:instance-identity",
            ),
        ];
        for (i, (rules, rtype, kind, paths, critical, rule_name)) in table.into_iter().enumerate() {
            let c = classify(
                &settings(rules),
                &drift(rtype, kind, &paths),
                &json!({}),
                &[],
            );
            assert_eq!(
                (c.critical, c.rule.as_str()),
                (critical, rule_name),
                "row {i}: {rtype} {kind:?} {paths:?}"
            );
        }
        // Without the built-in rules, unmatched drift is critical.
        let s = PolicySettings {
            builtin_rules: false,
            ..settings(vec![])
        };
        let c = classify(
            &s,
            &drift("aws_instance", Changed, &["tags.Team"]),
            &json!({}),
            &[],
        );
        assert!(c.critical && c.rule.starts_with("default"), "{c:?}");
    }

    /// A sensitive attribute is critical unless a user rule names it exactly.
    #[test]
    fn sensitive_attributes_need_an_explicit_rule() {
        use DriftKind::*;
        let secret = vec!["tags.ApiKey".to_string()];
        let exact_ok = rule("api-key-rotates", &["tags.ApiKey"], &[], false, None);
        let glob_ok = rule("all-tags", &["tags.*"], &[], false, None);
        let glob_exactish = rule("api-glob", &["tags.Api?ey"], &[], false, None);
        let catch_all_ok = rule("all-fine", &[], &[], false, None);
        let ignore_all = rule("quiet", &[], &[], false, Some(DecisionAction::Ignored));
        let exact_critical = rule("api-key-critical", &["tags.ApiKey"], &[], true, None);
        let other_type = PolicyRule {
            types: vec!["aws_s3_bucket".into()],
            ..exact_ok.clone()
        };
        #[allow(clippy::type_complexity)]
        let table: Vec<(Vec<PolicyRule>, bool, bool, &str)> = vec![
            // (user rules, builtin rules on) -> (critical, guarded, rule)
            (vec![], true, true, SENSITIVE_RULE),
            (vec![], false, true, SENSITIVE_RULE),
            (vec![glob_ok.clone()], true, true, SENSITIVE_RULE),
            (vec![glob_exactish], true, true, SENSITIVE_RULE),
            (vec![catch_all_ok.clone()], true, true, SENSITIVE_RULE),
            (vec![ignore_all], true, true, SENSITIVE_RULE),
            (vec![other_type], true, true, SENSITIVE_RULE),
            (
                vec![exact_ok.clone()],
                true,
                false,
                "config:api-key-rotates",
            ),
            // The explicit rule counts wherever it stands among the user rules.
            (
                vec![catch_all_ok, glob_ok, exact_ok],
                false,
                false,
                "config:api-key-rotates",
            ),
            (vec![exact_critical], true, false, "config:api-key-critical"),
        ];
        for (i, (rules, builtin, guarded, rule_name)) in table.into_iter().enumerate() {
            let s = PolicySettings {
                builtin_rules: builtin,
                ..settings(rules)
            };
            let d = drift("aws_instance", Changed, &["tags.ApiKey"]);
            let c = classify(&s, &d, &json!({}), &secret);
            assert_eq!(
                (c.sensitive, c.rule.as_str()),
                (guarded, rule_name),
                "row {i}: {c:?}"
            );
            assert_eq!(c.critical, rule_name != "config:api-key-rotates", "row {i}");
            assert_eq!(c.action, None, "row {i}: a broad ignore does not hide it");
        }
        // A sensitive attribute makes the whole drift critical; others are
        // classified as usual.
        let d = drift("aws_instance", Changed, &["tags.ApiKey", "tags.Team"]);
        let c = classify(&settings(vec![]), &d, &json!({}), &secret);
        assert!(
            c.critical && c.sensitive && c.rule == SENSITIVE_RULE,
            "{c:?}"
        );
        let d = drift("aws_instance", Changed, &["tags.Team"]);
        assert!(!classify(&settings(vec![]), &d, &json!({}), &secret).critical);
    }

    #[test]
    fn a_threshold_needs_a_working_score() {
        let f = |name: &str, text: &str| (std::path::PathBuf::from(name), text.to_string());
        let shipped = f(
            "blast_radius.rego",
            include_str!("../../config/policy/blast_radius.rego"),
        );
        assert!(declares_score(std::slice::from_ref(&shipped)));
        assert!(check_blast_radius(Some(15.0), std::slice::from_ref(&shipped)).is_empty());
        assert!(check_blast_radius(None, &[]).is_empty());
        let only_critical = f(
            "c.rego",
            "package driftd\nimport rego.v1\ncritical contains d.address if { some d in input.drifts }\n",
        );
        assert!(check_blast_radius(None, std::slice::from_ref(&only_critical)).is_empty());
        let fields = |t: Option<f64>, files: &[(std::path::PathBuf, String)]| {
            check_blast_radius(t, files)
                .into_iter()
                .map(|(field, msg)| format!("{field}: {msg}"))
                .collect::<Vec<_>>()
        };
        // No Rego at all.
        let e = fields(Some(15.0), &[]);
        assert!(
            e.len() == 1
                && e[0].starts_with("policy.blast_radius_threshold: is set, but no Rego file"),
            "{e:?}"
        );
        // The rule is not named `score`.
        let e = fields(Some(15.0), &[f("b.rego", "package driftd\nblast := 3\n")]);
        assert!(
            e.len() == 1 && e[0].contains("no Rego file defines `score`"),
            "{e:?}"
        );
        // A Rego file without a score, and no threshold: fine.
        assert!(fields(None, std::slice::from_ref(&only_critical)).is_empty());
        // The package is not driftd (with or without a threshold).
        let e = fields(Some(15.0), &[f("b.rego", "package blast\nscore := 3\n")]);
        assert!(e.iter().any(|x| x.contains("`package blast`")), "{e:?}");
        assert!(
            e.iter()
                .any(|x| x.starts_with("policy.blast_radius_threshold")),
            "{e:?}"
        );
        let e = fields(None, &[f("b.rego", "package driftd.extra\nscore := 3\n")]);
        assert!(
            e.len() == 1 && e[0].contains("`package driftd.extra`"),
            "{e:?}"
        );
        // A string score.
        let e = fields(
            Some(15.0),
            &[f("b.rego", "package driftd\nscore := \"high\"\n")],
        );
        assert!(
            e.len() == 1 && e[0].contains("must be a number, it is a string"),
            "{e:?}"
        );
        // `default score` counts as declared.
        assert!(declares_score(&[f(
            "d.rego",
            "package driftd\ndefault score := 0\n"
        )]));
        // At run time a declared score may still be undefined or a string.
        let cond = f(
            "u.rego",
            "package driftd\nimport rego.v1\nscore := 1 if { input.stack == \"never\" }\n",
        );
        assert!(declares_score(std::slice::from_ref(&cond)));
        let v = evaluate_files(
            &[cond],
            &json!({"stack": "app", "threshold": 1, "drifts": []}),
        )
        .unwrap();
        assert_eq!(v.score, Score::Undefined);
        let v = evaluate_files(
            &[f("s.rego", "package driftd\nscore := \"x\"\n")],
            &json!({"stack": "app", "threshold": 1, "drifts": []}),
        )
        .unwrap();
        assert_eq!(v.score, Score::NotANumber("string".into()));
    }

    #[test]
    fn rego_marks_and_scores() {
        let text = r#"package driftd
import rego.v1
critical contains d.address if { some d in input.drifts; d.type == "aws_instance" }
weights := {"delete": 10, "update": 5, "create": 1}
score := sum([weights[d.action] | some d in input.drifts])
"#;
        let s = PolicySettings {
            rego: vec![("p.rego".into(), text.into())],
            ..settings(vec![])
        };
        let d = drift("aws_instance", DriftKind::Changed, &["tags.Team"]);
        let c = classify(&s, &d, &json!({}), &[]);
        let v = evaluate(&s, &rego_input("app", 100.0, &[(&d, &c)])).unwrap();
        assert_eq!(v.critical, vec!["aws_instance.x".to_string()]);
        assert_eq!(v.score, Score::Number(5.0));
    }

    #[test]
    fn invalid_rego_names_file_and_line() {
        let e = check_rego(Path::new("bad.rego"), "package driftd\nscore := \n").unwrap_err();
        assert!(
            e.contains("bad.rego:3:1") && e.contains("expecting expression"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
}
