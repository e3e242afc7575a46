//! Fingerprints, titles and pull request bodies.
//!
//! Why a fingerprint: the lifecycle must recognise "the same drift" across
//! runs without any database. The fingerprint is the SHA-256 of the sorted
//! set of (resource, attribute, live value) of a branch; it is stored in the
//! PR body as a hidden HTML comment next to JSON metadata, so GitHub itself
//! is the state: same fingerprint, nothing to do; a closed-unmerged PR with
//! fingerprint F means "a human said no to F".

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::editor::EditPlan;
use super::ProposedDrift;

/// Marker of the fingerprint comment.
pub const FINGERPRINT_MARKER: &str = "<!-- driftd:fingerprint=";
/// Marker of the metadata comment.
pub const METADATA_MARKER: &str = "<!-- driftd:metadata ";
/// Added to the body when driftd itself closes a PR (so that a later
/// reappearance of the same drift is not mistaken for a human rejection).
pub const CLOSED_BY_DRIFTD: &str = "<!-- driftd:closed-by-driftd -->";

/// The fingerprint of a set of drifts.
pub fn fingerprint(drifts: &[&ProposedDrift]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for d in drifts {
        let who = d.display_name();
        if d.attributes.is_empty() {
            lines.push(format!("{who}\t({})\t", d.kind.as_str()));
        }
        for a in &d.attributes {
            lines.push(format!("{who}\t{}\t{}", a.path, a.actual));
        }
    }
    lines.sort();
    lines.dedup();
    hex::encode(Sha256::digest(lines.join("\n").as_bytes()))
}

/// Machine-readable metadata stored in the body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    pub driftd: u32,
    pub stack: String,
    pub branch: String,
    pub fingerprint: String,
    pub drifts: Vec<MetaDrift>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetaDrift {
    pub resource: String,
    pub attribute: Option<String>,
    pub live: serde_json::Value,
    /// When this (resource, attribute, live value) was first proposed or
    /// seen: carried over from the previous body, so that an update of the
    /// pull request does not move it (without `[history]`, a scan only
    /// knows its own time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
}

/// The earliest "first seen" of each (resource, attribute, live value) of a
/// previous body.
fn previous_first_seen(
    previous: Option<&str>,
) -> std::collections::BTreeMap<(String, Option<String>, String), String> {
    previous
        .and_then(parse_metadata)
        .map(|m| {
            m.drifts
                .into_iter()
                .filter_map(|d| {
                    Some(((d.resource, d.attribute, d.live.to_string()), d.first_seen?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The earlier of two RFC 3339 UTC times (same format: they sort as text).
fn earliest(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The fingerprint stored in a PR body, if any.
pub fn parse_fingerprint(body: &str) -> Option<String> {
    let i = body.find(FINGERPRINT_MARKER)? + FINGERPRINT_MARKER.len();
    let rest = &body[i..];
    let end = rest.find(" -->")?;
    let f = rest[..end].trim();
    (f.len() == 64 && f.chars().all(|c| c.is_ascii_hexdigit())).then(|| f.to_string())
}

/// The metadata stored in a PR body, if any.
pub fn parse_metadata(body: &str) -> Option<Metadata> {
    let i = body.find(METADATA_MARKER)? + METADATA_MARKER.len();
    let rest = &body[i..];
    let end = rest.find(" -->")?;
    serde_json::from_str(&rest[..end]).ok()
}

/// Number of attribute changes in a group (a missing/unmanaged resource counts one).
pub fn change_count(drifts: &[&ProposedDrift]) -> usize {
    drifts.iter().map(|d| d.attributes.len().max(1)).sum()
}

pub fn title(subject: &str, drifts: &[&ProposedDrift]) -> String {
    let n = change_count(drifts);
    format!(
        "driftd: align {subject} with live infrastructure ({n} change{})",
        if n == 1 { "" } else { "s" }
    )
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ").replace('`', "'")
}

/// The commit message: a summary line and the changed attributes. No values
/// beyond what the PR body shows; never a sensitive one.
pub fn commit_message(subject: &str, drifts: &[&ProposedDrift], plan: &EditPlan) -> String {
    let mut m = title(subject, drifts);
    m.push_str("\n\n");
    for a in &plan.applied {
        let _ = writeln!(m, "- {} {}: {}", a.resource, a.attribute, a.live_value);
    }
    if !plan.needs_human.is_empty() {
        let _ = writeln!(
            m,
            "\n{} item(s) need a human: see the pull request.",
            plan.needs_human.len()
        );
    }
    m
}

/// "Who changed it": each drift's CloudTrail event (`[attribution]`), one
/// line per resource; nothing when no drift is attributed.
fn render_changed_by(o: &mut String, drifts: &[&ProposedDrift]) {
    let mut lines: Vec<String> = drifts
        .iter()
        .filter_map(|d| {
            let c = d.changed_by.as_ref()?;
            Some(format!(
                "- `{}`: changed by {} (CloudTrail event `{}`)",
                cell(&d.display_name()),
                cell(&c.summary()),
                cell(&c.event_id)
            ))
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    lines.sort();
    lines.dedup();
    let _ = writeln!(o, "### Who changed it\n");
    for l in lines {
        let _ = writeln!(o, "{l}");
    }
    o.push('\n');
}

/// The pull request body.
///
/// `previous` is the body this one replaces (the open pull request's, or the
/// old patch file): "first seen" never moves later than what it said.
pub fn render(
    stack: &str,
    branch: &str,
    drifts: &[&ProposedDrift],
    plan: &EditPlan,
    fingerprint: &str,
    previous: Option<&str>,
) -> String {
    let before = previous_first_seen(previous);
    let seen_of = |who: &str, attr: Option<&str>, live: &serde_json::Value| {
        let own = drifts
            .iter()
            .find(|d| d.display_name() == who)
            .and_then(|d| d.first_seen.clone());
        earliest(
            before
                .get(&(who.to_string(), attr.map(str::to_string), live.to_string()))
                .cloned(),
            own,
        )
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "driftd found live infrastructure that differs from the Terraform code of stack `{}`, and policy decided the **live values are right**: this pull request changes the code to match them.\n",
        cell(stack)
    );
    let _ = writeln!(o, "Merging it and running `terraform plan` should show no changes for these attributes. Closing it without merging tells driftd not to propose the same drift again.\n");
    let _ = writeln!(o, "### Changes\n");
    if plan.applied.is_empty() {
        let _ = writeln!(o, "_No change could be made automatically._\n");
    } else {
        let _ = writeln!(
            o,
            "| Resource | Attribute | Code value | Live value | First seen |\n|---|---|---|---|---|"
        );
        for a in &plan.applied {
            let live = drifts
                .iter()
                .find(|d| d.display_name() == a.resource)
                .and_then(|d| d.attributes.iter().find(|x| x.path == a.attribute))
                .map(|x| x.actual.clone())
                .unwrap_or_default();
            let seen =
                seen_of(&a.resource, Some(&a.attribute), &live).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                o,
                "| `{}` | `{}` | `{}` | `{}` | {} |",
                cell(&a.resource),
                cell(&a.attribute),
                cell(&a.code_value),
                cell(&a.live_value),
                cell(&seen)
            );
        }
        o.push('\n');
    }
    let _ = writeln!(o, "### Decision\n");
    let mut reasons: Vec<(String, String, bool)> = drifts
        .iter()
        .map(|d| (d.display_name(), d.reason.clone(), d.critical))
        .collect();
    reasons.sort();
    reasons.dedup();
    for (who, why, critical) in reasons {
        let _ = writeln!(
            o,
            "- `{}`: {}{}",
            cell(&who),
            cell(&why),
            if critical { " (**critical**)" } else { "" }
        );
    }
    o.push('\n');
    render_changed_by(&mut o, drifts);
    if !plan.notes.is_empty() {
        let _ = writeln!(o, "### Generated code\n");
        let _ = writeln!(o, "Imports use `import` blocks (Terraform 1.5+, OpenTofu 1.6+); removals use `removed` blocks with `destroy = false` (Terraform 1.7+). Review the generated blocks: they hold only the compared attributes and the required arguments.\n");
        for n in &plan.notes {
            let _ = writeln!(o, "- {}", cell(n));
        }
        o.push('\n');
    }
    let files: Vec<&String> = plan.files.keys().collect();
    if !files.is_empty() {
        let _ = writeln!(o, "### Files touched\n");
        for f in files {
            let _ = writeln!(o, "- `{}`", cell(f));
        }
        o.push('\n');
    }
    if !plan.needs_human.is_empty() {
        let _ = writeln!(o, "### Needs a human\n");
        let _ = writeln!(
            o,
            "driftd did not change these, because it could not do so safely:\n"
        );
        let _ = writeln!(
            o,
            "| Resource | Attribute | Live value | Why |\n|---|---|---|---|"
        );
        for h in &plan.needs_human {
            let _ = writeln!(
                o,
                "| `{}` | {} | `{}` | {} |",
                cell(&h.resource),
                h.attribute
                    .as_deref()
                    .map(|a| format!("`{}`", cell(a)))
                    .unwrap_or_else(|| "-".into()),
                cell(&h.live_value),
                cell(&h.reason)
            );
        }
        o.push('\n');
    }
    let meta = Metadata {
        driftd: 1,
        stack: stack.into(),
        branch: branch.into(),
        fingerprint: fingerprint.into(),
        drifts: drifts
            .iter()
            .flat_map(|d| {
                let who = d.display_name();
                let mut v: Vec<MetaDrift> = d
                    .attributes
                    .iter()
                    .map(|a| MetaDrift {
                        resource: who.clone(),
                        attribute: Some(a.path.clone()),
                        live: a.actual.clone(),
                        first_seen: seen_of(&who, Some(&a.path), &a.actual),
                    })
                    .collect();
                if v.is_empty() {
                    let live = serde_json::Value::String(d.kind.as_str().into());
                    v.push(MetaDrift {
                        first_seen: seen_of(&who, None, &live),
                        resource: who,
                        attribute: None,
                        live,
                    });
                }
                v
            })
            .collect(),
    };
    // `>` is escaped so that no value can end the HTML comment early.
    let json = serde_json::to_string(&meta)
        .expect("metadata serializes")
        .replace('>', "\\u003e");
    let _ = writeln!(o, "<sub>Generated by driftd. Values shown as `(sensitive)` are never written anywhere.</sub>\n");
    let _ = writeln!(o, "{FINGERPRINT_MARKER}{fingerprint} -->");
    let _ = writeln!(o, "{METADATA_MARKER}{json} -->");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::{ChangedBy, Principal};
    use crate::report::{AttrChange, DriftKind};

    fn proposed(changed_by: Option<ChangedBy>) -> ProposedDrift {
        ProposedDrift {
            address: Some("aws_security_group.web".into()),
            rtype: "aws_security_group".into(),
            id: "sg-0123456789abcdef0".into(),
            kind: DriftKind::Changed,
            attributes: vec![AttrChange {
                path: "description".into(),
                expected: serde_json::json!("web"),
                actual: serde_json::json!("web | edited"),
            }],
            first_seen: None,
            critical: false,
            reason: "keep live (config:r)".into(),
            live: None,
            changed_by,
        }
    }

    #[test]
    fn the_body_says_who_changed_it_and_the_fingerprint_does_not_depend_on_it() {
        let by = ChangedBy {
            event_name: "ModifySecurityGroupRules".into(),
            event_time: "2026-12-01T10:32:41Z".into(),
            event_id: "0f3c2f7a-0000-4f0e-9d5c-7d6b8c6e1a01".into(),
            event_source: Some("ec2.amazonaws.com".into()),
            principal: Principal {
                kind: "assumed_role".into(),
                name: "role/ops-admin".into(),
                session: Some("jane".into()),
                arn: None,
                account_id: None,
            },
            via: "console".into(),
            source_ip: Some("203.0.113.7".into()),
            user_agent: None,
            error_code: None,
        };
        let with = proposed(Some(by));
        let without = proposed(None);
        assert_eq!(fingerprint(&[&with]), fingerprint(&[&without]));
        let plan = EditPlan::default();
        let body = render(
            "app",
            "driftd/app",
            &[&with],
            &plan,
            &fingerprint(&[&with]),
            None,
        );
        assert!(body.contains("### Who changed it"), "{body}");
        assert!(
            body.contains("- `aws_security_group.web`: changed by role/ops-admin, session jane, via console, 2026-12-01 10:32Z, ModifySecurityGroupRules (CloudTrail event `0f3c2f7a-0000-4f0e-9d5c-7d6b8c6e1a01`)"),
            "{body}"
        );
        let body = render(
            "app",
            "driftd/app",
            &[&without],
            &plan,
            &fingerprint(&[&without]),
            None,
        );
        assert!(!body.contains("Who changed it"), "{body}");
    }
}
