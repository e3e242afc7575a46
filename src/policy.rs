//! Policy: is a drift critical, and how large is a run's blast radius?
//!
//! Why two layers: simple rules in the config file cover most teams
//! (type, address, attribute, tags -> critical or not), evaluated in order,
//! first match wins, user rules before driftd's built-in defaults. Teams that
//! already write Open Policy Agent policies can add Rego files, evaluated
//! in-process with `regorus` (no sidecar): they may mark drifts critical or
//! not, and compute the run's blast-radius score. Anything no rule matches is
//! critical: an unknown change goes to a human.
//!
//! The Rego contract (package `driftd`; every rule optional):
//! ```text
//! input = {"stack": "...", "threshold": 100,
//!          "drifts": [{"address", "type", "id", "kind": "changed|missing|unmanaged",
//!                      "action": "update|create|delete", "attributes": ["tags.Team", ...],
//!                      "critical": bool, "rule": "builtin:tags"}]}
//! data.driftd.critical      set of addresses that are critical
//! data.driftd.non_critical  set of addresses that are not
//! data.driftd.score         the run's blast-radius score (number)
//! ```

use std::path::Path;

use serde_json::{json, Value};

use crate::config::{PolicyRule, PolicySettings};
use crate::ignore::wildcard;
use crate::report::{DecisionAction, Drift, DriftKind};

/// Rules driftd applies after the user's (disable with `policy.builtin_rules = false`).
pub fn builtin_rules() -> Vec<PolicyRule> {
    let rule =
        |name: &str, types: &[&str], attributes: &[&str], kinds: &[DriftKind], critical: bool| {
            PolicyRule {
                name: format!("builtin:{name}"),
                types: types.iter().map(|s| s.to_string()).collect(),
                addresses: vec![],
                attributes: attributes.iter().map(|s| s.to_string()).collect(),
                kinds: kinds.to_vec(),
                tags: Default::default(),
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
}

/// The classification of one drift by the config rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub critical: bool,
    pub rule: String,
    /// A rule may force an action (e.g. `report_only`).
    pub action: Option<DecisionAction>,
}

/// Classify a drift: each attribute by the first matching rule; the drift is
/// critical when any attribute is. `tags` are the resource's tags in state.
pub fn classify(settings: &PolicySettings, d: &Drift, tags: &Value) -> Classification {
    let builtin = if settings.builtin_rules {
        builtin_rules()
    } else {
        vec![]
    };
    let rules: Vec<&PolicyRule> = settings.rules.iter().chain(builtin.iter()).collect();
    // Creating or deleting whole resources stays critical unless a user rule
    // names that kind explicitly (a broad rule must not re-open a deleted
    // security group rule by accident).
    let first = |attr: Option<&str>| {
        rules
            .iter()
            .filter(|r| {
                d.kind == DriftKind::Changed
                    || r.name.starts_with("builtin:")
                    || r.kinds.contains(&d.kind)
            })
            .find(|r| rule_matches(r, d, attr, tags))
            .map(|r| Classification {
                critical: r.critical,
                rule: if r.name.starts_with("builtin:") {
                    r.name.clone()
                } else {
                    format!("config:{}", r.name)
                },
                action: r.action,
            })
    };
    let default = Classification {
        critical: true,
        rule: "default: no rule matched, a human decides".into(),
        action: None,
    };
    let per_attr: Vec<Classification> = if d.attributes.is_empty() {
        vec![first(None).unwrap_or(default.clone())]
    } else {
        d.attributes
            .iter()
            .map(|a| first(Some(&a.path)).unwrap_or(default.clone()))
            .collect()
    };
    // Critical if any attribute is; a forced action counts only when every
    // attribute agrees on ignoring, else the most restrictive one wins.
    let mut out = per_attr
        .iter()
        .find(|c| c.critical)
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
    pub score: Option<f64>,
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
        score: json.get("score").and_then(Value::as_f64),
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
        let c = |d: &Drift| classify(&s, d, &json!({}));
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
            critical: true,
            action: None,
        };
        let s = settings(vec![rule]);
        let d = drift("aws_instance", DriftKind::Changed, &["tags.Team"]);
        let c = classify(&s, &d, &json!({"Environment": "prod"}));
        assert!(c.critical);
        assert_eq!(c.rule, "config:prod-tags-matter");
        assert!(!classify(&s, &d, &json!({"Environment": "dev"})).critical);
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
            critical,
            action,
        }
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
            classify(&s, &d, &json!({})).action,
            Some(DecisionAction::ReportOnly)
        );
        // One ignored attribute does not ignore the others.
        let d = drift(
            "aws_instance",
            DriftKind::Changed,
            &["tags.LastPatched", "tags.Team"],
        );
        assert_eq!(classify(&s, &d, &json!({})).action, None);
        let d = drift("aws_instance", DriftKind::Changed, &["tags.LastPatched"]);
        assert_eq!(
            classify(&s, &d, &json!({})).action,
            Some(DecisionAction::Ignored)
        );
    }

    #[test]
    fn a_broad_user_rule_does_not_make_missing_resources_non_critical() {
        let s = settings(vec![rule("dev-is-fine", &[], &[], false, None)]);
        assert!(
            classify(
                &s,
                &drift("aws_security_group_rule", DriftKind::Missing, &[]),
                &json!({})
            )
            .critical
        );
        // Unless it names the kind.
        let s = settings(vec![rule(
            "dev-missing-ok",
            &[],
            &[DriftKind::Missing],
            false,
            None,
        )]);
        assert!(
            !classify(
                &s,
                &drift("aws_security_group_rule", DriftKind::Missing, &[]),
                &json!({})
            )
            .critical
        );
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
        let c = classify(&s, &d, &json!({}));
        let v = evaluate(&s, &rego_input("app", 100.0, &[(&d, &c)])).unwrap();
        assert_eq!(v.critical, vec!["aws_instance.x".to_string()]);
        assert_eq!(v.score, Some(5.0));
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
