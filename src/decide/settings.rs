//! `[policy]` settings, owned by the decide stage: the raw file shape, a
//! pure validation that collects every error, and a build step that reads
//! the Rego files and compiles them (run by `config::parse` after every
//! other check, so that validate-config still reports every error at once).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::report::{DecisionAction, DriftKind};

/// Per-stack reconcile mode (`[[stacks]] reconcile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReconcileMode {
    #[default]
    Off,
    DryRun,
    Apply,
}

/// `[policy]` as written in the file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    builtin_rules: Option<bool>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    rego: Vec<String>,
    blast_radius_threshold: Option<f64>,
}

/// One `[[policy.rules]]` entry as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    changed_by: Vec<String>,
    criticality: String,
    action: Option<String>,
}

/// `[policy]`: how drift is classified.
#[derive(Debug, Clone, Default)]
pub struct PolicySettings {
    /// User rules, evaluated in order before the built-in ones; first match wins.
    pub rules: Vec<PolicyRule>,
    /// Apply driftd's built-in rules after the user's (see `policy::builtin_rules`).
    pub builtin_rules: bool,
    /// Rego files: (path, text), already compiled once at load.
    pub rego: Vec<(PathBuf, String)>,
    /// Blast-radius budget per stack and run (Rego `data.driftd.score`).
    pub blast_radius_threshold: f64,
}

/// One `[[policy.rules]]` entry. Empty lists match everything.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    pub name: String,
    pub types: Vec<String>,
    pub addresses: Vec<String>,
    pub attributes: Vec<String>,
    pub kinds: Vec<DriftKind>,
    pub tags: BTreeMap<String, String>,
    /// Globs on who changed it (`changed_by` of the drift): the principal
    /// (`role/break-glass`, `sso/Admin*`, `service/autoscaling.amazonaws.com`)
    /// or the channel (`via:console`). Never matches an unattributed drift.
    pub changed_by: Vec<String>,
    pub critical: bool,
    pub action: Option<DecisionAction>,
}

/// A validated `[policy]`, before its files are read ([`PolicySpec::build`]).
#[derive(Debug, Clone)]
pub struct PolicySpec {
    rules: Vec<PolicyRule>,
    builtin_rules: bool,
    /// Rego files, resolved against the config file's directory.
    rego: Vec<PathBuf>,
    threshold: Option<f64>,
}

/// A (field, message) problem, for the config's error list.
pub type FieldError = (String, String);

impl RawPolicy {
    /// Pure validation: every problem, no file read.
    pub fn validate(self, base: &Path) -> (PolicySpec, Vec<FieldError>) {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut add = |f: String, m: String| errors.push((f, m));
        let mut rules = Vec::new();
        for (i, r) in self.rules.into_iter().enumerate() {
            let f = |k: &str| format!("policy.rules[{i}].{k}");
            let critical = match r.criticality.as_str() {
                "critical" => true,
                "non_critical" => false,
                other => {
                    add(
                        f("criticality"),
                        format!("`{other}` is not one of: critical, non_critical"),
                    );
                    true
                }
            };
            let kinds = r
                .kinds
                .iter()
                .filter_map(|k| match k.as_str() {
                    "changed" => Some(DriftKind::Changed),
                    "missing" => Some(DriftKind::Missing),
                    "unmanaged" => Some(DriftKind::Unmanaged),
                    other => {
                        add(
                            f("kinds"),
                            format!("`{other}` is not one of: changed, missing, unmanaged"),
                        );
                        None
                    }
                })
                .collect();
            let action = r.action.as_deref().and_then(|a| match a {
                "reconcile" => Some(DecisionAction::Reconcile),
                "pull_request" => Some(DecisionAction::PullRequest),
                "report_only" => Some(DecisionAction::ReportOnly),
                "ignore" | "ignored" => Some(DecisionAction::Ignored),
                other => {
                    add(
                        f("action"),
                        format!(
                            "`{other}` is not one of: reconcile, pull_request, report_only, ignore"
                        ),
                    );
                    None
                }
            });
            if r.name.is_empty() {
                add(
                    f("name"),
                    "every rule needs a name (it is shown in reports)".into(),
                );
            }
            rules.push(PolicyRule {
                name: r.name,
                types: r.types,
                addresses: r.addresses,
                attributes: r.attributes,
                kinds,
                tags: r.tags,
                changed_by: r.changed_by,
                critical,
                action,
            });
        }
        if let Some(t) = self.blast_radius_threshold {
            if t.is_nan() || t < 0.0 {
                add(
                    "policy.blast_radius_threshold".into(),
                    "must be a number >= 0".into(),
                );
            }
        }
        let spec = PolicySpec {
            rules,
            builtin_rules: self.builtin_rules.unwrap_or(true),
            rego: self.rego.iter().map(|f| base.join(f)).collect(),
            threshold: self.blast_radius_threshold,
        };
        (spec, errors)
    }
}

impl PolicySpec {
    /// Build: read and compile the Rego files, check the blast-radius brake.
    pub fn build(self) -> (PolicySettings, Vec<FieldError>) {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut rego = Vec::new();
        for (i, path) in self.rego.into_iter().enumerate() {
            match std::fs::read_to_string(&path) {
                Ok(text) => match super::policy::check_rego(&path, &text) {
                    Ok(()) => rego.push((path, text)),
                    Err(e) => errors.push((format!("policy.rego[{i}]"), e)),
                },
                Err(e) => errors.push((
                    format!("policy.rego[{i}]"),
                    format!("cannot read {}: {e}", path.display()),
                )),
            }
        }
        errors.extend(super::policy::check_blast_radius(self.threshold, &rego));
        let settings = PolicySettings {
            rules: self.rules,
            builtin_rules: self.builtin_rules,
            rego,
            blast_radius_threshold: self.threshold.unwrap_or(100.0),
        };
        (settings, errors)
    }
}
