//! The drift report: one data structure, three renderings (JSON, text, Markdown).
//!
//! Why one structure: the JSON is the contract (`schema_version`), and text
//! and Markdown are views of it, so they can never disagree. Everything is
//! sorted before rendering: the same world gives byte-identical output, which
//! makes reports diffable and tests exact.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped on any incompatible change of the JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema_version: u32,
    pub driftd_version: String,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub summary: Summary,
    pub stacks: Vec<StackReport>,
    /// Unmanaged resources, per scanned scope (region of an account/endpoint).
    pub unmanaged: Vec<ScopeReport>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub stacks: usize,
    pub stacks_failed: usize,
    pub stacks_incomplete: usize,
    pub drifts: usize,
    pub changed: usize,
    pub missing: usize,
    pub unmanaged: usize,
    pub unknown: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum StackStatus {
    /// Every resource was read.
    Ok,
    /// Some reads failed: those resources are `unknown`; no action may be taken.
    Incomplete,
    /// The state could not be loaded: nothing was compared.
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackReport {
    pub name: String,
    pub status: StackStatus,
    pub errors: Vec<String>,
    pub sources: Vec<SourceInfo>,
    pub counts: Counts,
    pub drifts: Vec<Drift>,
    /// Managed resources whose live read failed.
    pub unknown: Vec<Unknown>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub blast_radius: Option<BlastRadius>,
    /// Reconcile actions of this run.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub actions: Vec<ActionRecord>,
    /// What happened to this stack's pull requests in this run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pull_requests: Option<PullRequests>,
}

/// Pull request outcome of one stack (URLs, or patch paths for local code).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PullRequests {
    pub opened: Vec<String>,
    pub updated: Vec<String>,
    pub closed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Branches not opened because of `github.max_open_prs`.
    pub held_back: Vec<String>,
    /// Drifts the code cannot express safely: a human edits these.
    pub needs_human: Vec<String>,
    /// Branches whose PR a human closed for this same drift: not re-proposed.
    pub respected_human_close: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    pub location: String,
    pub serial: Option<u64>,
    pub lineage: Option<String>,
    pub terraform_version: Option<String>,
    /// Managed resource instances in the file (all types).
    pub resources: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Resources of supported types compared.
    pub managed: usize,
    /// Resources in state of types driftd does not scan.
    pub unsupported: usize,
    pub in_sync: usize,
    pub changed: usize,
    pub missing: usize,
    pub unknown: usize,
    /// Resources (or all their drifting attributes) ignored by rules.
    pub ignored: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    Changed,
    Missing,
    Unmanaged,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Changed => "changed",
            DriftKind::Missing => "missing",
            DriftKind::Unmanaged => "unmanaged",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Drift {
    /// Terraform address; absent for unmanaged resources.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub address: Option<String>,
    #[serde(rename = "type")]
    pub rtype: String,
    pub id: String,
    pub kind: DriftKind,
    /// Changed attributes (empty for missing and unmanaged).
    pub attributes: Vec<AttrChange>,
    /// When this drift (same address, attributes and live values) was first
    /// seen; needs a history store, else the time of this scan.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_seen: Option<String>,
    /// Consecutive scans that have seen it (1 without a history store).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seen: Option<u32>,
    /// What driftd decided to do about it, and why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision: Option<Decision>,
    /// Who changed it: the newest CloudTrail write event of the resource
    /// (`[attribution]`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub changed_by: Option<crate::attribution::ChangedBy>,
    /// Why there is no `changed_by` (lookup failed, nothing found, budget).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unattributed: Option<String>,
}

/// The decision for one drift.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    pub action: DecisionAction,
    pub critical: bool,
    /// The policy rule that classified it (`builtin:tags`, `config:my-rule`, `rego:file.rego`).
    pub rule: String,
    /// Why this action (and not a stronger one).
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DecisionAction {
    Reconcile,
    PullRequest,
    ReportOnly,
    Ignored,
}

impl DecisionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionAction::Reconcile => "reconcile",
            DecisionAction::PullRequest => "pull_request",
            DecisionAction::ReportOnly => "report_only",
            DecisionAction::Ignored => "ignored",
        }
    }
}

/// The blast-radius evaluation of one stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlastRadius {
    /// `null` when the score could not be computed (see `error`).
    pub score: Option<f64>,
    pub threshold: f64,
    /// Over the budget, or not computable: nothing is reconciled (fail closed).
    pub over_budget: bool,
    /// Why the score could not be computed (the rule undefined for this run,
    /// or not a number).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// One reconcile action, as executed (or not).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionRecord {
    pub address: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub id: String,
    pub attribute: String,
    pub operation: String,
    pub params: Value,
    pub before: Value,
    pub after: Value,
    pub outcome: ActionOutcome,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Who made the change this action reverts (the drift's `changed_by`):
    /// in the report and in every audit line.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub changed_by: Option<crate::attribution::ChangedBy>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Made and verified by re-reading the resource.
    Succeeded,
    /// The call failed, or the drift was still there when re-read.
    Failed,
    /// Dry-run: printed, not made.
    DryRun,
    /// Not made: kill switch or action budget.
    Skipped,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Succeeded => "succeeded",
            ActionOutcome::Failed => "failed",
            ActionOutcome::DryRun => "dry_run",
            ActionOutcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttrChange {
    pub path: String,
    /// The state's value; `null` when the state does not have it.
    pub expected: Value,
    /// The live value; `null` when the live resource does not have it.
    pub actual: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unknown {
    pub address: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScopeStatus {
    Ok,
    /// Unmanaged detection was not run (reason says why).
    Skipped,
    /// Some listings failed; the unmanaged list may be short.
    Incomplete,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScopeReport {
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub assume_role_arn: Option<String>,
    pub status: ScopeStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub drifts: Vec<Drift>,
}

impl Report {
    /// Sort everything and compute the summary.
    pub fn finish(&mut self) {
        let key = |d: &Drift| (d.address.clone(), d.rtype.clone(), d.id.clone(), d.kind);
        let mut s = Summary {
            stacks: self.stacks.len(),
            ..Default::default()
        };
        self.stacks.sort_by(|a, b| a.name.cmp(&b.name));
        for st in &mut self.stacks {
            st.drifts.sort_by_key(key);
            st.unknown.sort_by(|a, b| a.address.cmp(&b.address));
            st.errors.sort();
            match st.status {
                StackStatus::Failed => s.stacks_failed += 1,
                StackStatus::Incomplete => s.stacks_incomplete += 1,
                StackStatus::Ok => {}
            }
            s.unknown += st.unknown.len();
            for d in &st.drifts {
                match d.kind {
                    DriftKind::Changed => s.changed += 1,
                    DriftKind::Missing => s.missing += 1,
                    DriftKind::Unmanaged => s.unmanaged += 1,
                }
            }
        }
        self.unmanaged.sort_by(|a, b| {
            (&a.region, &a.endpoint_url, &a.assume_role_arn).cmp(&(
                &b.region,
                &b.endpoint_url,
                &b.assume_role_arn,
            ))
        });
        for sc in &mut self.unmanaged {
            sc.drifts.sort_by_key(key);
            s.unmanaged += sc.drifts.len();
        }
        s.drifts = s.changed + s.missing + s.unmanaged;
        self.summary = s;
    }

    /// `terraform plan -detailed-exitcode` style: 1 on any error (a failed or
    /// incomplete stack, an error while acting, a failed reconcile action),
    /// else 2 when there is drift, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.summary.stacks_failed > 0
            || self.summary.stacks_incomplete > 0
            || self.stacks.iter().any(|s| {
                !s.errors.is_empty() || s.actions.iter().any(|a| a.outcome == ActionOutcome::Failed)
            })
        {
            1
        } else if self.summary.drifts > 0 {
            2
        } else {
            0
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes") + "\n"
    }

    /// A human report for a terminal.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let s = &self.summary;
        let _ = writeln!(
            o,
            "driftd: {} stack{}, {} drift{} ({} changed, {} missing, {} unmanaged){}{}",
            s.stacks,
            plural(s.stacks),
            s.drifts,
            plural(s.drifts),
            s.changed,
            s.missing,
            s.unmanaged,
            if s.stacks_failed > 0 {
                format!(", {} stack(s) FAILED", s.stacks_failed)
            } else {
                String::new()
            },
            if s.stacks_incomplete > 0 {
                format!(", {} stack(s) INCOMPLETE", s.stacks_incomplete)
            } else {
                String::new()
            },
        );
        for st in &self.stacks {
            let _ = writeln!(
                o,
                "\nstack {} [{}]: {} resources compared, {} in sync, {} changed, {} missing, {} unknown",
                st.name,
                status_str(st.status),
                st.counts.managed,
                st.counts.in_sync,
                st.counts.changed,
                st.counts.missing,
                st.counts.unknown,
            );
            for e in &st.errors {
                let _ = writeln!(o, "  error: {e}");
            }
            for d in &st.drifts {
                drift_text(&mut o, d);
            }
            if let Some(b) = &st.blast_radius {
                let _ = match (&b.score, &b.error) {
                    (Some(score), None) => writeln!(
                        o,
                        "  blast radius {} (budget {}){}",
                        score,
                        b.threshold,
                        if b.over_budget {
                            ": OVER BUDGET, nothing reconciled"
                        } else {
                            ""
                        }
                    ),
                    (_, e) => writeln!(
                        o,
                        "  blast radius UNKNOWN (budget {}): {}, nothing reconciled",
                        b.threshold,
                        e.as_deref().unwrap_or("no score")
                    ),
                };
            }
            for a in &st.actions {
                let _ = writeln!(
                    o,
                    "  {} {} {} {} {}{}",
                    if a.dry_run { "would call" } else { "called" },
                    a.operation,
                    a.params,
                    a.address,
                    a.outcome.as_str(),
                    a.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
            if !st.unknown.is_empty() {
                let _ = writeln!(
                    o,
                    "  {} resource(s) unknown (not compared), e.g. {}: {}",
                    st.unknown.len(),
                    st.unknown[0].address,
                    st.unknown[0].reason
                );
            }
        }
        for sc in &self.unmanaged {
            let _ = write!(o, "\nunmanaged in {}", scope_name(sc));
            match (&sc.status, &sc.reason) {
                (ScopeStatus::Ok, _) => {
                    let _ = writeln!(o, ": {}", sc.drifts.len());
                }
                (_, r) => {
                    let _ = writeln!(
                        o,
                        " [{}]: {}",
                        if sc.status == ScopeStatus::Skipped {
                            "skipped"
                        } else {
                            "incomplete"
                        },
                        r.as_deref().unwrap_or("")
                    );
                }
            }
            for d in &sc.drifts {
                drift_text(&mut o, d);
            }
        }
        o
    }

    /// Markdown for pull request and CI comments.
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        let s = &self.summary;
        let _ = writeln!(o, "## driftd report\n");
        let _ = writeln!(
            o,
            "**{}** drift(s) in {} stack(s): {} changed, {} missing, {} unmanaged.{}\n",
            s.drifts,
            s.stacks,
            s.changed,
            s.missing,
            s.unmanaged,
            if s.stacks_failed + s.stacks_incomplete > 0 {
                format!(
                    " :warning: {} failed, {} incomplete.",
                    s.stacks_failed, s.stacks_incomplete
                )
            } else {
                String::new()
            }
        );
        for st in &self.stacks {
            let _ = writeln!(o, "### Stack `{}` ({})\n", st.name, status_str(st.status));
            for e in &st.errors {
                let _ = writeln!(o, "- :x: {}", md_escape(e));
            }
            if !st.errors.is_empty() {
                o.push('\n');
            }
            if st.drifts.is_empty() {
                let _ = writeln!(
                    o,
                    "No drift in {} compared resource(s).\n",
                    st.counts.managed
                );
                continue;
            }
            drift_table(&mut o, &st.drifts);
        }
        for sc in self
            .unmanaged
            .iter()
            .filter(|sc| !sc.drifts.is_empty() || sc.status != ScopeStatus::Ok)
        {
            let _ = writeln!(o, "### Unmanaged in {}\n", md_escape(&scope_name(sc)));
            if let Some(r) = &sc.reason {
                let _ = writeln!(o, "_{}_\n", md_escape(r));
            }
            if !sc.drifts.is_empty() {
                drift_table(&mut o, &sc.drifts);
            }
        }
        o
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn status_str(s: StackStatus) -> &'static str {
    match s {
        StackStatus::Ok => "ok",
        StackStatus::Incomplete => "INCOMPLETE",
        StackStatus::Failed => "FAILED",
    }
}

fn scope_name(sc: &ScopeReport) -> String {
    let mut s = sc.region.clone();
    if let Some(e) = &sc.endpoint_url {
        s.push_str(&format!(" via {e}"));
    }
    if let Some(r) = &sc.assume_role_arn {
        s.push_str(&format!(" as {r}"));
    }
    s
}

/// A value for humans: `null` is "(absent)", strings unquoted when simple.
pub fn show(v: &Value) -> String {
    match v {
        Value::Null => "(absent)".into(),
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn drift_text(o: &mut String, d: &Drift) {
    let name = d.address.clone().unwrap_or_else(|| d.rtype.clone());
    let _ = writeln!(
        o,
        "  {:<9} {} ({})",
        d.kind.as_str().to_uppercase(),
        name,
        d.id
    );
    for a in &d.attributes {
        let _ = writeln!(
            o,
            "            {}: {} -> {}",
            a.path,
            show(&a.expected),
            show(&a.actual)
        );
    }
    if let Some(c) = &d.changed_by {
        let _ = writeln!(o, "            changed by {}", c.summary());
    } else if let Some(r) = &d.unattributed {
        let _ = writeln!(o, "            changed by: unknown ({r})");
    }
    if let Some(dec) = &d.decision {
        let _ = writeln!(
            o,
            "            => {}{} ({}: {})",
            dec.action.as_str(),
            if dec.critical { ", critical" } else { "" },
            dec.rule,
            dec.reason
        );
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn drift_table(o: &mut String, drifts: &[Drift]) {
    let _ = writeln!(
        o,
        "| Kind | Resource | Attribute | Code (state) | Live | Decision |\n|---|---|---|---|---|---|"
    );
    for d in drifts {
        let dec = d.decision.as_ref().map(|x| x.action.as_str()).unwrap_or("");
        let name = format!(
            "`{}` ({})",
            d.address.clone().unwrap_or_else(|| d.rtype.clone()),
            d.id
        );
        if d.attributes.is_empty() {
            let _ = writeln!(
                o,
                "| {} | {} | | | | {dec} |",
                d.kind.as_str(),
                md_escape(&name)
            );
        }
        for a in &d.attributes {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | `{}` | `{}` | {dec} |",
                d.kind.as_str(),
                md_escape(&name),
                md_escape(&a.path),
                md_escape(&show(&a.expected)),
                md_escape(&show(&a.actual))
            );
        }
    }
    o.push('\n');
    let mut any = false;
    for d in drifts {
        let Some(c) = &d.changed_by else { continue };
        if !any {
            let _ = writeln!(o, "Changed by (CloudTrail):\n");
            any = true;
        }
        let _ = writeln!(
            o,
            "- `{}` ({}): {} (event `{}`)",
            md_escape(&d.address.clone().unwrap_or_else(|| d.rtype.clone())),
            md_escape(&d.id),
            md_escape(&c.summary()),
            md_escape(&c.event_id)
        );
    }
    if any {
        o.push('\n');
    }
}
