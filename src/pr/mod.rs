//! Pull requests that change the Terraform code to match the live infrastructure.
//!
//! Why this module exists: when policy decides that a drift should be kept
//! (the live value is the right one), the fix is a code change, reviewed like
//! any other. driftd prepares that change the way Renovate prepares a
//! dependency bump: one deterministic branch per logical change, one pull
//! request per branch, updated in place when the drift changes, closed when it
//! goes away, and never re-proposed after a human said no.
//!
//! The pieces:
//! - [`editor`]: finds the code behind each drifted attribute (modules,
//!   `count`/`for_each`, variables and `.tfvars`) and edits it in place, byte
//!   for byte outside the edit; anything it cannot express safely becomes a
//!   "needs a human" item instead of a guess.
//! - [`body`]: fingerprints, titles, PR bodies and their hidden metadata.
//! - [`github`]: the pull request lifecycle against the GitHub REST API
//!   (octocrab), for github.com and GitHub Enterprise.
//! - [`local`]: the same lifecycle for a local checkout, as patch files.
//! - [`config`]: the `[github]` table and each stack's `code` table.

pub mod body;
pub mod config;
pub mod editor;
pub mod fmt;
pub mod generate;
pub mod github;
pub mod local;

use std::path::PathBuf;

use crate::report::{AttrChange, DriftKind, Report};

pub use config::{parse_code, parse_code_options, parse_github};
pub use generate::import_proposals;

/// One drift to propose, already decided "pull_request" by policy. Values are
/// already masked: an expected/actual of `"(sensitive)"` is never written to
/// code, PR body, commit or log; it is listed under "needs a human".
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedDrift {
    /// Terraform address; `None` for unmanaged resources.
    pub address: Option<String>,
    pub rtype: String,
    pub id: String,
    pub kind: DriftKind,
    /// Path (as rendered by `diff::render_path`), expected (state), actual (live).
    pub attributes: Vec<AttrChange>,
    /// When the drift was first seen, RFC 3339.
    pub first_seen: Option<String>,
    pub critical: bool,
    /// The policy rule or decision that sent it to a pull request.
    pub reason: String,
    /// The live attributes (canonical, as compared) of an unmanaged
    /// resource: what its generated `resource` block is written from.
    /// `None` for changed and missing resources.
    pub live: Option<serde_json::Map<String, serde_json::Value>>,
    /// Who made the change (the drift's CloudTrail `changed_by`), shown in
    /// the body; not part of the fingerprint.
    pub changed_by: Option<crate::attribution::ChangedBy>,
}

impl ProposedDrift {
    /// The name shown to humans: the address, or `type id` when unmanaged.
    pub fn display_name(&self) -> String {
        self.address
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.rtype, self.id))
    }
}

/// Where a stack's Terraform code lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeLocation {
    /// A GitHub repository: pull requests are opened there.
    GitHub {
        /// `owner/name`.
        repository: String,
        base_branch: String,
        /// The stack's directory inside the repository (`""` for the root).
        directory: String,
    },
    /// A local directory: the result is a patch file per branch in `patch_dir`.
    Local { path: PathBuf, patch_dir: PathBuf },
}

/// What a stack's pull requests may do beyond changed attributes: the
/// options of its `code` table (`missing`, `import`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeOptions {
    /// Missing resources: report only (default) or propose their removal.
    pub missing: MissingMode,
    /// Unmanaged resources this stack imports: those any rule matches;
    /// empty (default): none.
    pub import: Vec<ImportRule>,
    /// Managed resources of the stack's root module, id -> address, for
    /// references in generated code (`aws_subnet.app.id`). Filled in by
    /// the caller from the state; not configured.
    pub managed_ids: std::collections::BTreeMap<String, String>,
}

/// What a pull request does with a resource gone from AWS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissingMode {
    /// Infrastructure should be re-applied: listed under "needs a human".
    #[default]
    Report,
    /// Code follows reality: remove the block and add a `removed` block
    /// (`lifecycle { destroy = false }`).
    Remove,
}

/// Which unmanaged resources belong to a stack (every set condition must
/// hold). Without a match a resource stays in the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRule {
    /// Regions (any of); empty: the stack's regions.
    pub regions: Vec<String>,
    /// Tags that must all be present with these values, e.g.
    /// `{ "terraform:stack" = "app" }`.
    pub tags: std::collections::BTreeMap<String, String>,
    /// VPC ids (any of): the resource's `vpc_id`, or its subnet's.
    pub vpc_ids: Vec<String>,
    /// Name prefixes (any of): the `Name` tag, else the bucket/group name.
    pub name_prefixes: Vec<String>,
}

/// How driftd authenticates to GitHub.
#[derive(Clone, PartialEq, Eq)]
pub enum GithubAuth {
    /// A personal access token or fine-grained token.
    Token(String),
    /// A GitHub App installation.
    App {
        app_id: u64,
        installation_id: u64,
        private_key_pem: String,
    },
}

impl std::fmt::Debug for GithubAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, even in debug output.
        match self {
            GithubAuth::Token(_) => write!(f, "Token(***)"),
            GithubAuth::App {
                app_id,
                installation_id,
                ..
            } => write!(
                f,
                "App {{ app_id: {app_id}, installation_id: {installation_id}, private_key_pem: *** }}"
            ),
        }
    }
}

/// How drifts are grouped into branches (and pull requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// One branch per stack: `driftd/<stack>`.
    #[default]
    Stack,
    /// One branch per resource: `driftd/<stack>/<slug of address>`.
    Resource,
}

/// The `[github]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubSettings {
    /// `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise.
    pub api_url: String,
    pub auth: GithubAuth,
    /// Open driftd pull requests allowed per repository.
    pub max_open_prs: usize,
    /// Labels applied to every driftd pull request; `severity/critical` is
    /// added when any drift in it is critical.
    pub labels: Vec<String>,
    /// Branch names start with this (`driftd/<stack>...`).
    pub branch_prefix: String,
    pub group_by: GroupBy,
    pub committer_name: String,
    pub committer_email: String,
}

impl GithubSettings {
    /// Defaults with the given auth.
    pub fn new(auth: GithubAuth) -> Self {
        Self {
            api_url: config::DEFAULT_API_URL.into(),
            auth,
            max_open_prs: 10,
            labels: vec!["drift".into()],
            branch_prefix: "driftd".into(),
            group_by: GroupBy::Stack,
            committer_name: "driftd".into(),
            committer_email: "driftd@users.noreply.github.com".into(),
        }
    }
}

/// Something driftd could not (or must not) express as a code change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeedsHuman {
    /// Address, or `type id` for unmanaged resources.
    pub resource: String,
    /// The drifting attribute path, if any.
    pub attribute: Option<String>,
    /// The live value, for humans (`(sensitive)` when sensitive).
    pub live_value: String,
    /// Why it was not changed automatically, and what to do.
    pub reason: String,
}

/// What [`sync_stack`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackPrOutcome {
    /// Pull requests (URLs; patch file paths for local code) opened.
    pub opened: Vec<String>,
    /// Pull requests whose branch and body were updated (drift changed).
    pub updated: Vec<String>,
    /// Pull requests closed because their drift is gone.
    pub closed: Vec<String>,
    /// Pull requests left as they were (same drift).
    pub unchanged: Vec<String>,
    /// Branches not opened because of `max_open_prs`.
    pub held_back: Vec<String>,
    /// Drifts that need a human (also listed in the PR bodies).
    pub needs_human: Vec<NeedsHuman>,
    /// Branches not proposed again because a human closed a pull request
    /// with the same drift without merging it.
    pub respected_human_close: Vec<String>,
}

/// Errors of the pull request stage. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PrError {
    #[error("GitHub API: {action}: {message}")]
    GitHub { action: String, message: String },
    #[error("GitHub authentication: {0}")]
    Auth(String),
    #[error("reading the stack's code: {0}")]
    Code(String),
    #[error("local code: {0}")]
    Io(String),
}

/// Propose (open, update or close) the pull requests of one stack.
///
/// `drifts` is the full current set for the stack: a branch whose drift is no
/// longer in it is closed. Calling it again with the same drifts changes
/// nothing.
pub async fn sync_stack(
    settings: &GithubSettings,
    stack: &str,
    code: &CodeLocation,
    drifts: &[ProposedDrift],
) -> Result<StackPrOutcome, PrError> {
    sync_stack_with(settings, stack, code, &CodeOptions::default(), drifts).await
}

/// [`sync_stack`] with the stack's [`CodeOptions`]: removal PRs for missing
/// resources, import PRs for unmanaged ones.
pub async fn sync_stack_with(
    settings: &GithubSettings,
    stack: &str,
    code: &CodeLocation,
    options: &CodeOptions,
    drifts: &[ProposedDrift],
) -> Result<StackPrOutcome, PrError> {
    match code {
        CodeLocation::GitHub {
            repository,
            base_branch,
            directory,
        } => {
            github::sync(
                settings,
                stack,
                repository,
                base_branch,
                directory,
                options,
                drifts,
            )
            .await
        }
        CodeLocation::Local { path, patch_dir } => {
            local::sync(settings, stack, path, patch_dir, options, drifts)
        }
    }
}

/// Every drift of one stack of a report, as proposals (non-critical, reason
/// "report"). For end-to-end tests and for running without a policy engine.
pub fn proposals_from_report(report: &Report, stack: &str) -> Vec<ProposedDrift> {
    report
        .stacks
        .iter()
        .filter(|s| s.name == stack)
        .flat_map(|s| s.drifts.iter())
        .map(|d| ProposedDrift {
            address: d.address.clone(),
            rtype: d.rtype.clone(),
            id: d.id.clone(),
            kind: d.kind,
            attributes: d.attributes.clone(),
            first_seen: None,
            critical: false,
            reason: "drift found by the scan".into(),
            live: None,
            changed_by: d.changed_by.clone(),
        })
        .collect()
}

/// One branch's worth of drifts: the unit of a pull request.
#[derive(Debug, Clone)]
pub(crate) struct Group<'a> {
    pub branch: String,
    /// The stack, or the resource, for titles.
    pub subject: String,
    pub drifts: Vec<&'a ProposedDrift>,
}

/// Split drifts into branches, sorted by branch name.
pub(crate) fn groups<'a>(
    settings: &GithubSettings,
    stack: &str,
    drifts: &'a [ProposedDrift],
) -> Vec<Group<'a>> {
    let base = format!("{}/{}", settings.branch_prefix, slug(stack));
    let mut out: std::collections::BTreeMap<String, Group<'a>> = Default::default();
    for d in drifts {
        let (branch, subject) = match settings.group_by {
            GroupBy::Stack => (base.clone(), stack.to_string()),
            GroupBy::Resource => {
                let name = d.display_name();
                (format!("{base}/{}", slug(&name)), name)
            }
        };
        out.entry(branch.clone())
            .or_insert_with(|| Group {
                branch,
                subject,
                drifts: Vec::new(),
            })
            .drifts
            .push(d);
    }
    out.into_values().collect()
}

/// A branch-name-safe slug: `module.app.aws_instance.web["a b"]` ->
/// `module.app.aws_instance.web-a-b`. Deterministic; distinct addresses of
/// one stack stay distinct in practice (a hash suffix is added when the slug
/// had to drop characters).
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    let mut lossy = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            out.push(c);
        } else {
            lossy = true;
            if !out.ends_with('-') {
                out.push('-');
            }
        }
    }
    let mut out = out.trim_matches(|c| c == '-' || c == '.').to_string();
    while out.contains("..") {
        out = out.replace("..", ".");
    }
    if lossy {
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(s.as_bytes()));
        out = format!("{out}-{}", &h[..8]);
    }
    if out.is_empty() {
        out = "x".into();
    }
    out
}
