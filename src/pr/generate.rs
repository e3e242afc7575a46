//! Import pull requests: Terraform code generated from an unmanaged
//! resource's live attributes.
//!
//! Why hints from the registry: what an `import` block needs differs per
//! resource type (the import id, the arguments Terraform requires, which
//! compared attributes can be written back, which are nested blocks). That
//! per-type knowledge is declared in the type's own file in the provider
//! (`ResourceType::import`); this module only applies it.
//!
//! What is generated: an `import { to = ADDR  id = "..." }` block (Terraform
//! 1.5+, OpenTofu 1.6+) and a `resource` block with only the compared
//! attributes plus the required arguments, in `imported.tf` of the stack's
//! directory (appended when the file exists). A live value equal to the id
//! of a resource the stack manages in its root module is written as a
//! reference (`<type>.web.id`), not as the id.
//!
//! Which stack an unmanaged resource belongs to is a config rule
//! ([`super::ImportRule`]); resources AWS created itself, resources another
//! service owns (Auto Scaling instances) and resources carrying an
//! `aws:autoscaling:groupName` tag are never proposed.

use std::collections::{BTreeMap, BTreeSet};

use driftd_core::Live;
use serde_json::{Map, Value};

use super::editor::{quote, render, render_key};
use super::{ImportRule, ProposedDrift};
use crate::config::Config;
use crate::report::{DecisionAction, DriftKind, Report, ScopeReport, ScopeStatus};

/// How one resource type is imported and written: the type's registry entry
/// says it (`ResourceType::import`).
pub use driftd_core::registry::ImportHints as Importable;

/// The import hints of a type, when driftd can generate its import.
pub fn importable(rtype: &str) -> Option<&'static Importable> {
    driftd_aws::registry::registry()
        .get(rtype)
        .and_then(|t| t.import.as_ref())
}

/// The tag Auto Scaling puts on its instances.
const ASG_TAG: &str = "aws:autoscaling:groupName";

fn tags(l: &Map<String, Value>) -> Map<String, Value> {
    l.get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The name of a live resource for humans and rules: its `Name` tag, else
/// its naming argument, else its id.
pub fn live_name(rtype: &str, id: &str, attrs: &Map<String, Value>) -> String {
    if let Some(n) = tags(attrs).get("Name").and_then(Value::as_str) {
        if !n.is_empty() {
            return n.to_string();
        }
    }
    let t = importable(rtype);
    if let Some(a) = t.and_then(|t| t.name_argument) {
        if t.and_then(|t| t.id_argument) == Some(a) {
            return id.to_string();
        }
        if let Some(n) = attrs.get(a).and_then(Value::as_str) {
            if !n.is_empty() {
                return n.to_string();
            }
        }
    }
    id.to_string()
}

/// Whether a live resource may ever be proposed for import.
pub fn proposable(rtype: &str, live: &Live) -> bool {
    importable(rtype).is_some()
        && !live.auto_created
        && live.owned_by_service.is_none()
        && !tags(&live.attrs).contains_key(ASG_TAG)
}

/// Does `rule` put this live resource (found in `region`) in the stack?
pub fn matches(
    rule: &ImportRule,
    stack_regions: &[String],
    region: &str,
    rtype: &str,
    live: &Live,
) -> bool {
    let regions = if rule.regions.is_empty() {
        stack_regions
    } else {
        &rule.regions[..]
    };
    if !regions.iter().any(|r| r == region) {
        return false;
    }
    let t = tags(&live.attrs);
    if !rule
        .tags
        .iter()
        .all(|(k, v)| t.get(k).and_then(Value::as_str) == Some(v.as_str()))
    {
        return false;
    }
    if !rule.vpc_ids.is_empty() {
        let vpc = live.attrs.get("vpc_id").and_then(Value::as_str);
        if !vpc.is_some_and(|v| rule.vpc_ids.iter().any(|x| x == v)) {
            return false;
        }
    }
    if !rule.name_prefixes.is_empty() {
        let name = live_name(rtype, &live.id, &live.attrs);
        if !rule
            .name_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
        {
            return false;
        }
    }
    true
}

/// The unmanaged resources of `scopes` that any of `rules` maps to the stack, as
/// proposals (their live form attached). `live` holds the live form of every
/// unmanaged resource by (region, type, id).
pub fn import_proposals(
    rules: &[ImportRule],
    stack_regions: &[String],
    scopes: &[&ScopeReport],
    live: &BTreeMap<(String, String, String), Live>,
) -> Vec<ProposedDrift> {
    let mut out = Vec::new();
    for sc in scopes {
        for d in sc.drifts.iter().filter(|d| d.kind == DriftKind::Unmanaged) {
            let Some(l) = live.get(&(sc.region.clone(), d.rtype.clone(), d.id.clone())) else {
                continue;
            };
            if !proposable(&d.rtype, l)
                || !rules
                    .iter()
                    .any(|rule| matches(rule, stack_regions, &sc.region, &d.rtype, l))
            {
                continue;
            }
            out.push(ProposedDrift {
                address: None,
                rtype: d.rtype.clone(),
                id: d.id.clone(),
                kind: DriftKind::Unmanaged,
                attributes: vec![],
                first_seen: d.first_seen.clone(),
                critical: d.decision.as_ref().is_some_and(|x| x.critical),
                reason: format!(
                    "unmanaged, and the stack's import rule maps it here (region {})",
                    sc.region
                ),
                live: Some(l.attrs.clone()),
                changed_by: d.changed_by.clone(),
            });
        }
    }
    out
}

/// A Terraform name from a live name: lower-case letters, digits and `_`,
/// starting with a letter; unique among `taken`.
pub fn terraform_name(name: &str, taken: &BTreeSet<String>) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let mut s = s.trim_matches('_').to_string();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s = format!("r_{s}");
    }
    let s = s.trim_end_matches('_').to_string();
    if !taken.contains(&s) {
        return s;
    }
    (2..)
        .map(|n| format!("{s}_{n}"))
        .find(|c| !taken.contains(c))
        .expect("a free name")
}

/// A live value as HCL: a managed resource's id becomes its address's
/// `.id`, recursively through lists.
fn value(v: &Value, refs: &BTreeMap<String, String>, own_id: &str) -> String {
    match v {
        Value::String(s) if s != own_id => match refs.get(s) {
            Some(addr) => format!("{addr}.id"),
            None => quote(s),
        },
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| value(x, refs, own_id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => render(other),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The generated code: `import` and `resource` blocks (aligned by the
/// caller with [`super::fmt::align`]). `Err` says why it needs a human.
/// `refs`: managed id -> root-module address.
pub fn generate(
    rtype: &str,
    id: &str,
    name: &str,
    attrs: &Map<String, Value>,
    refs: &BTreeMap<String, String>,
) -> Result<String, String> {
    let t = importable(rtype).ok_or_else(|| {
        format!("driftd cannot generate code for {rtype}: import it by hand (an `import` block and `terraform plan -generate-config-out`)")
    })?;
    let mut args: Map<String, Value> = attrs.clone();
    if let Some(a) = t.id_argument {
        args.insert(a.into(), Value::String(id.into()));
    }
    let missing: Vec<&str> = t
        .required
        .iter()
        .copied()
        .filter(|a| args.get(*a).is_none_or(is_empty))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the live form lacks required argument(s) {}: import it by hand",
            missing.join(", ")
        ));
    }
    let addr = format!("{rtype}.{name}");
    let mut o = format!(
        "import {{\n  to = {addr}\n  id = {}\n}}\n\nresource {} {} {{\n",
        quote(id),
        quote(rtype),
        quote(name)
    );
    for a in t.arguments {
        let Some(v) = args.get(*a) else { continue };
        if is_empty(v) && !t.required.contains(a) {
            continue;
        }
        if *a == "tags" {
            let mut tags: Vec<(&String, &Value)> = v
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .collect();
            tags.sort_by(|x, y| x.0.cmp(y.0));
            if tags.is_empty() {
                continue;
            }
            o.push_str("  tags = {\n");
            for (k, v) in tags {
                o.push_str(&format!("    {} = {}\n", render_key(k), render(v)));
            }
            o.push_str("  }\n");
            continue;
        }
        o.push_str(&format!("  {a} = {}\n", value(v, refs, id)));
    }
    for b in t.blocks {
        let Some(Value::Object(inner)) = args.get(*b) else {
            continue;
        };
        let rows: Vec<(&String, &Value)> = inner.iter().filter(|(_, v)| !is_empty(v)).collect();
        if rows.is_empty() {
            continue;
        }
        o.push_str(&format!("\n  {b} {{\n"));
        for (k, v) in rows {
            o.push_str(&format!("    {k} = {}\n", value(v, refs, id)));
        }
        o.push_str("  }\n");
    }
    o.push_str("}\n");
    Ok(o)
}

/// For each stack with import rules: the unmanaged resources of `report`
/// its rules map to it, or why the unmanaged list is not complete enough to
/// sync on (a partial list would close import PRs). The decision of each
/// mapped resource in the report becomes `pull_request`.
pub fn stack_imports(
    config: &Config,
    report: &mut Report,
    live: &BTreeMap<(String, String, String), Live>,
) -> BTreeMap<String, Result<Vec<ProposedDrift>, String>> {
    let mut out = BTreeMap::new();
    for s in &config.stacks {
        if s.code_options.import.is_empty() {
            continue;
        }
        let scopes: Vec<&ScopeReport> = report
            .unmanaged
            .iter()
            .filter(|sc| s.regions.contains(&sc.region) && sc.endpoint_url == s.endpoint_url)
            .collect();
        let bad: Vec<String> = scopes
            .iter()
            .filter(|sc| sc.status != ScopeStatus::Ok)
            .map(|sc| {
                format!(
                    "unmanaged detection in {} is not complete ({})",
                    sc.region,
                    sc.reason.clone().unwrap_or_default()
                )
            })
            .collect();
        let v = if !bad.is_empty() {
            Err(bad.join("; "))
        } else if scopes.is_empty() {
            Err("unmanaged detection did not run for the stack's regions".into())
        } else {
            Ok(import_proposals(
                &s.code_options.import,
                &s.regions,
                &scopes,
                live,
            ))
        };
        out.insert(s.name.clone(), v);
    }
    for sc in report.unmanaged.iter_mut() {
        for d in sc.drifts.iter_mut() {
            let stack = out.iter().find_map(|(s, v)| {
                v.as_ref()
                    .ok()?
                    .iter()
                    .any(|p| p.rtype == d.rtype && p.id == d.id)
                    .then_some(s)
            });
            if let (Some(stack), Some(dec)) = (stack, d.decision.as_mut()) {
                dec.action = DecisionAction::PullRequest;
                dec.reason = format!(
                    "the import rule of stack {stack} maps it there: an import pull request"
                );
            }
        }
    }
    out
}
