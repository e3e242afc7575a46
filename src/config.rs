//! Configuration: parse the TOML file, interpolate `${ENV}`, then validate
//! into a checked [`Config`].
//!
//! Why two steps (as ripgrep and Vector do): parsing only checks shape;
//! validation checks meaning and collects *every* error, each with the path
//! of the field at fault, so a user fixes a config in one round trip. The
//! field-by-field reference is `config/driftd.example.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use driftd_aws::InstanceAttributeReads;
use serde::Deserialize;

use crate::env::Env;
use crate::ignore::IgnoreRules;

/// Raw file shape. Unknown fields are errors: a typo must not silently
/// disable a setting.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    scan: RawScan,
    #[serde(default)]
    policy: crate::decide::settings::RawPolicy,
    #[serde(default)]
    reconcile: RawReconcile,
    history: Option<RawHistory>,
    #[serde(default)]
    daemon: RawDaemon,
    /// Parsed by the `pr` module.
    github: Option<toml::Value>,
    /// Parsed by the `attribution` module.
    attribution: Option<toml::Value>,
    /// Parsed by the `events` module.
    events: Option<toml::Value>,
    #[serde(default)]
    stacks: Vec<RawStack>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReconcile {
    max_actions: Option<usize>,
    kill_switch: Option<bool>,
    persistence: Option<u32>,
    audit_log: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    location: String,
    region: Option<String>,
    endpoint_url: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    listen: Option<String>,
    grace_period_seconds: Option<u64>,
    jitter_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScan {
    concurrency: Option<usize>,
    max_attempts: Option<u32>,
    state_timeout: Option<RawDuration>,
    instance_attribute_reads: Option<String>,
    unmanaged: Option<bool>,
    strict: Option<bool>,
    driftignore: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
    attempt_timeout: Option<RawDuration>,
    stack_timeout: Option<RawDuration>,
    rate_limit: Option<RawRateLimit>,
    split_listing_above: Option<usize>,
}

/// `[scan.rate_limit]`: client-side token buckets per (account, region, API: each EC2 action its own).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    enabled: Option<bool>,
    ec2_read: Option<RawBucket>,
    ec2_write: Option<RawBucket>,
    s3_read: Option<RawBucket>,
    s3_write: Option<RawBucket>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBucket {
    burst: u32,
    per_second: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    name: String,
    state: OneOrMany,
    #[serde(default)]
    regions: Vec<String>,
    assume_role_arn: Option<String>,
    endpoint_url: Option<String>,
    state_region: Option<String>,
    driftignore: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
    reconcile: Option<String>,
    schedule: Option<String>,
    /// Parsed by the `pr` module.
    code: Option<toml::Value>,
    /// OpenTofu state encryption; parsed by the `encryption` module.
    encryption: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub scan: ScanSettings,
    pub policy: PolicySettings,
    pub reconcile: ReconcileSettings,
    pub history: Option<HistorySettings>,
    pub daemon: DaemonSettings,
    /// `[github]`: how pull requests are made (when any stack has `code`).
    pub github: Option<crate::pr::GithubSettings>,
    /// `[attribution]`: who changed a drifted resource (CloudTrail); absent: off.
    pub attribution: Option<crate::attribution::AttributionSettings>,
    /// `[events]`: event-driven rescans from an SQS queue (daemon only).
    pub events: Option<crate::events::EventsSettings>,
    pub stacks: Vec<StackConfig>,
}

/// `[policy]` belongs to the decide stage (which validates and builds it).
pub use crate::decide::settings::{PolicyRule, PolicySettings};

/// `[reconcile]`: brakes on automatic changes.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// At most this many API actions per run, all stacks together.
    pub max_actions: usize,
    /// Stop all automatic changes (also: env `DRIFTD_KILL_SWITCH=1`).
    pub kill_switch: bool,
    /// Act only on drift seen in this many consecutive scans.
    pub persistence: u32,
    /// Append-only JSON-lines audit log of every action.
    pub audit_log: Option<PathBuf>,
}

/// Per-stack reconcile mode (used by the decide stage, which owns it).
pub use crate::decide::settings::ReconcileMode;

/// `[history]`: where scan history lives (for `first_seen` and persistence).
#[derive(Debug, Clone)]
pub struct HistorySettings {
    pub location: HistoryLocation,
    pub region: String,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

/// `[daemon]`.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub listen: String,
    pub grace_period: std::time::Duration,
    pub jitter: std::time::Duration,
}

/// `[scan]`: settings for every stack.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Concurrent per-resource API calls per scope (S3 buckets, instance attributes).
    pub concurrency: usize,
    /// Attempts per AWS request (adaptive retry with backoff between).
    pub max_attempts: u32,
    /// Deadline for reading one state location (a file, a glob, an S3 prefix).
    pub state_timeout: std::time::Duration,
    pub instance_attribute_reads: InstanceAttributeReads,
    /// Report resources no stack manages.
    pub unmanaged: bool,
    /// Also report resources AWS creates itself (default security groups) as unmanaged.
    pub strict: bool,
    /// Global ignore rules (driftignore file, then `ignore` entries).
    pub ignore: IgnoreRules,
    /// Timeout of one AWS request attempt (then it is retried); `None`: the
    /// client default (`driftd_aws::client::DEFAULT_ATTEMPT_TIMEOUT`, 15 s).
    pub attempt_timeout: Option<std::time::Duration>,
    /// Deadline of a scope's live reads (per stack and region): what is not
    /// read by then is unknown and the stack incomplete.
    pub stack_timeout: std::time::Duration,
    /// `[scan.rate_limit]`: one token bucket per (account, region, API: each
    /// EC2 action its own) for the whole process; AWS's documented sizes less a margin by default.
    pub rate_limits: driftd_aws::RateLimits,
    /// Managed instances in a scope above which its full instance listing
    /// may be split by availability zone and run in parallel.
    pub split_listing_above: usize,
}

/// One `[[stacks]]` entry.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub name: String,
    pub sources: Vec<StateLocation>,
    pub regions: Vec<String>,
    pub assume_role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    /// Region of the S3 state bucket (defaults to the first region).
    pub state_region: String,
    pub ignore: IgnoreRules,
    pub reconcile: ReconcileMode,
    /// Daemon schedule (the original text, and the parsed form).
    pub schedule: Option<(String, cron::Schedule)>,
    /// Where the stack's Terraform code lives (for pull requests or patches).
    pub code: Option<crate::pr::CodeLocation>,
    /// How to read OpenTofu encrypted state (`encryption` module).
    pub encryption: Option<crate::encryption::Encryption>,
    /// The `code` table's `missing` and `import` options.
    pub code_options: crate::pr::CodeOptions,
}

/// Parse a cron expression: the usual 5-field crontab form (minute first), or
/// the `cron` crate's 6/7-field form (seconds first, optional year), or a
/// macro such as `@hourly`.
pub fn parse_schedule(text: &str) -> Result<cron::Schedule, String> {
    use std::str::FromStr;
    let t = text.trim();
    let fields = t.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {t}")
    } else {
        t.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| {
        format!("`{text}` is not a cron schedule ({e}); use 5 fields like \"*/30 * * * *\" (minute hour day month weekday)")
    })
}

/// Where a state file (or a set of them) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A local path, possibly with wildcards (`*`, `?`, `**`).
    Local(PathBuf),
    /// An S3 object, or objects when `key` has wildcards.
    S3 { bucket: String, key: String },
}

impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Local(p) => write!(f, "{}", p.display()),
            StateLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Field path, e.g. `stacks[1].regions[0]`; empty for whole-file errors.
    pub field: String,
    pub message: String,
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{}: {n} error{} in the configuration:",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            if e.field.is_empty() {
                writeln!(f, "  - {}", e.message)?;
            } else {
                writeln!(f, "  - {}: {}", e.field, e.message)?;
            }
        }
        write!(
            f,
            "See config/driftd.example.toml for every field, documented."
        )
    }
}

impl std::error::Error for ConfigErrors {}

struct Errors(Vec<ConfigError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Read, interpolate and validate a config file.
pub fn load(path: &Path, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let fail = |message: String| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![ConfigError {
            field: String::new(),
            message,
        }],
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(format!(
            "cannot read the file: {e} (pass --config PATH or set DRIFTD_CONFIG)"
        ))
    })?;
    parse(&text, path, env)
}

/// Parse and validate config text; `path` locates relative paths and names errors.
pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let mut errors = Errors(Vec::new());
    let wrap = |errors: Vec<ConfigError>| ConfigErrors {
        file: path.to_path_buf(),
        errors,
    };
    let mut value: toml::Value = toml::from_str(text).map_err(|e| {
        wrap(vec![ConfigError {
            field: String::new(),
            message: format!("not valid TOML: {}", e.message()) + &span_hint(text, e.span()),
        }])
    })?;
    interpolate(&mut value, "", env, &mut errors);
    // Shape errors (wrong types, unknown fields) one at a time: record the
    // error at its field path, drop that field, and deserialize again, so
    // that every error is reported at once, with the meaning checks below.
    let mut shape_fields: Vec<String> = Vec::new();
    let mut first = true;
    let raw: RawConfig = loop {
        match serde_path_to_error::deserialize::<_, RawConfig>(value.clone()) {
            Ok(r) => break r,
            Err(e) => {
                let mut segments: Vec<String> = e.path().iter().map(segment_text).collect();
                let message = e.inner().message().to_string();
                // An unknown field's error points at its table: drop the field only.
                if let Some(name) = message
                    .strip_prefix("unknown field `")
                    .and_then(|m| m.split_once('`'))
                    .map(|m| m.0)
                {
                    if segments.last().map(String::as_str) != Some(name) {
                        segments.push(name.to_string());
                    }
                }
                let field = field_path(&segments);
                let mut at = locate(text, &segments)
                    .map(|(n, line)| format!(" (line {n}: `{line}`)"))
                    .unwrap_or_default();
                if at.is_empty() && first {
                    // The value has no positions: parse the text again for the line.
                    at = toml::from_str::<RawConfig>(text)
                        .err()
                        .and_then(|e| e.span())
                        .map(|span| {
                            let start = span.start.min(text.len());
                            let line_no = text[..start].matches('\n').count() + 1;
                            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                            format!(" (line {line_no}: `{line}`)")
                        })
                        .unwrap_or_default();
                }
                first = false;
                errors.add(field.clone(), format!("{message}{at}"));
                // A missing field gets an empty placeholder (every required
                // field is a string) rather than its table being dropped: an
                // array element removed would renumber the later ones.
                let missing = message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.split_once('`'))
                    .map(|m| m.0.to_string());
                let fixed = match missing {
                    Some(name) => insert_placeholder(&mut value, &segments, &name),
                    None => remove_path(&mut value, &segments),
                };
                if shape_fields.len() >= 100 || !fixed {
                    return Err(wrap(errors.0));
                }
                shape_fields.push(field);
            }
        }
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let shape_errors = errors.0.len();
    let (mut config, pending) = validate(raw, path, &base, &mut errors, env);
    build(&mut config, pending, &mut errors);
    // A field dropped for its type is not reported again as missing.
    let mut i = 0;
    errors.0.retain(|e| {
        i += 1;
        i <= shape_errors
            || !shape_fields.iter().any(|f| {
                e.field == *f
                    || e.field.starts_with(&format!("{f}."))
                    || e.field.starts_with(&format!("{f}["))
            })
    });
    if errors.0.is_empty() {
        Ok(config)
    } else {
        Err(wrap(errors.0))
    }
}

fn segment_text(s: &serde_path_to_error::Segment) -> String {
    match s {
        serde_path_to_error::Segment::Seq { index } => format!("[{index}]"),
        serde_path_to_error::Segment::Map { key } => key.clone(),
        serde_path_to_error::Segment::Enum { variant } => variant.clone(),
        serde_path_to_error::Segment::Unknown => "?".into(),
    }
}

/// `stacks[0].regions` from `["stacks", "[0]", "regions"]`.
fn field_path(segments: &[String]) -> String {
    let mut out = String::new();
    for s in segments {
        if !s.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(s);
    }
    out
}

/// Remove the value at `segments` (false when there is nothing to remove).
fn remove_path(v: &mut toml::Value, segments: &[String]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut cur = v;
    for s in parents {
        cur = match (cur, s.strip_prefix('[').and_then(|x| x.strip_suffix(']'))) {
            (toml::Value::Array(a), Some(i)) => {
                match i.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                    Some(x) => x,
                    None => return false,
                }
            }
            (toml::Value::Table(t), None) => match t.get_mut(s.as_str()) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match (
        cur,
        last.strip_prefix('[').and_then(|x| x.strip_suffix(']')),
    ) {
        (toml::Value::Array(a), Some(i)) => match i.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        (toml::Value::Table(t), None) => t.remove(last.as_str()).is_some(),
        _ => false,
    }
}

/// Put `name = ""` into the table at `segments` (false when there is no such
/// table, or the field is already there).
fn insert_placeholder(v: &mut toml::Value, segments: &[String], name: &str) -> bool {
    let mut cur = v;
    for s in segments {
        cur = match (cur, s.strip_prefix('[').and_then(|x| x.strip_suffix(']'))) {
            (toml::Value::Array(a), Some(i)) => {
                match i.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                    Some(x) => x,
                    None => return false,
                }
            }
            (toml::Value::Table(t), None) => match t.get_mut(s.as_str()) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match cur {
        toml::Value::Table(t) if !t.contains_key(name) => {
            t.insert(name.to_string(), toml::Value::String(String::new()));
            true
        }
        _ => false,
    }
}

/// The line of the field at `segments` in a plainly written file (`[scan]`
/// and `[[stacks]]` headers, `key = value` lines): (number, trimmed text).
fn locate<'a>(text: &'a str, segments: &[String]) -> Option<(usize, &'a str)> {
    let key_at = segments.iter().rposition(|s| !s.starts_with('['))?;
    let key = &segments[key_at];
    let table = field_path(&segments[..key_at]);
    let mut current = String::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t
            .strip_prefix("[[")
            .and_then(|x| x.split_once("]]"))
            .map(|x| x.0.trim())
        {
            let c = counts.entry(name.to_string()).or_insert(0);
            current = format!("{name}[{c}]");
            *c += 1;
        } else if let Some(name) = t
            .strip_prefix('[')
            .and_then(|x| x.split_once(']'))
            .map(|x| x.0.trim())
        {
            current = name.to_string();
        } else if current == table {
            let k = t.split_once('=').map(|x| x.0.trim().trim_matches('"'));
            if k == Some(key.as_str()) {
                return Some((n + 1, t));
            }
        }
    }
    None
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

/// Replace `${NAME}` and `${NAME:-default}` in every string value; `$${` is a literal `${`.
fn interpolate(v: &mut toml::Value, field: &str, env: &dyn Env, errors: &mut Errors) {
    match v {
        toml::Value::String(s) if s.contains('$') => match expand(s, env) {
            Ok(x) => *s = x,
            Err(m) => {
                // Recorded once here; blank it so later checks do not repeat it.
                errors.add(field, m);
                s.clear();
            }
        },
        toml::Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                interpolate(x, &format!("{field}[{i}]"), env, errors);
            }
        }
        toml::Value::Table(t) => {
            for (k, x) in t.iter_mut() {
                let f = if field.is_empty() {
                    k.clone()
                } else {
                    format!("{field}.{k}")
                };
                interpolate(x, &f, env, errors);
            }
        }
        _ => {}
    }
}

fn expand(s: &str, env: &dyn Env) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("${") {
            let end = t
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in \"{s}\""))?;
            let expr = &t[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            match (env.var(name), default) {
                (Some(v), None) => out.push_str(&v),
                (Some(v), Some(_)) if !v.is_empty() => out.push_str(&v),
                (_, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set (set it, or write ${{{name}:-default}})"
                    ))
                }
            }
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

pub(crate) fn is_region(r: &str) -> bool {
    // e.g. us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts.last().unwrap().chars().all(|c| c.is_ascii_digit())
}

fn parse_location(s: &str, base: &Path) -> Result<StateLocation, String> {
    if let Some(rest) = s.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || key.is_empty() {
            return Err(format!("`{s}` is not an S3 state location: expected s3://BUCKET/KEY or s3://BUCKET/PREFIX/**.tfstate"));
        }
        return Ok(StateLocation::S3 {
            bucket: bucket.into(),
            key: key.into(),
        });
    }
    if s.contains("://") {
        return Err(format!(
            "`{s}`: only local paths and s3:// locations are supported"
        ));
    }
    if s.trim().is_empty() {
        return Err("empty state location".into());
    }
    Ok(StateLocation::Local(base.join(s)))
}

fn read_ignore(path: &Path, field: &str, errors: &mut Errors) -> IgnoreRules {
    match std::fs::read_to_string(path) {
        Ok(text) => IgnoreRules::parse(&text, &path.display().to_string()).unwrap_or_else(|es| {
            es.into_iter().for_each(|e| errors.add(field, e));
            IgnoreRules::default()
        }),
        Err(e) => {
            errors.add(field, format!("cannot read {}: {e}", path.display()));
            IgnoreRules::default()
        }
    }
}

fn inline_ignore(list: &[String], field: &str, errors: &mut Errors) -> IgnoreRules {
    IgnoreRules::parse(&list.join("\n"), field).unwrap_or_else(|es| {
        es.into_iter().for_each(|e| errors.add(field, e));
        IgnoreRules::default()
    })
}

fn validate(
    raw: RawConfig,
    path: &Path,
    base: &Path,
    errors: &mut Errors,
    env: &dyn Env,
) -> (Config, Pending) {
    let mut ignores: Vec<PendingIgnore> = Vec::new();
    let s = raw.scan;
    let concurrency = s.concurrency.unwrap_or(8);
    if !(1..=256).contains(&concurrency) {
        errors.add(
            "scan.concurrency",
            format!("{concurrency} is out of range: use 1 to 256"),
        );
    }
    let max_attempts = s.max_attempts.unwrap_or(5);
    if !(1..=20).contains(&max_attempts) {
        errors.add(
            "scan.max_attempts",
            format!("{max_attempts} is out of range: use 1 to 20"),
        );
    }
    let attempt_timeout =
        duration_setting(s.attempt_timeout.as_ref(), "scan.attempt_timeout", errors);
    let stack_timeout = duration_setting(s.stack_timeout.as_ref(), "scan.stack_timeout", errors)
        .unwrap_or(DEFAULT_STACK_TIMEOUT);
    let rate_limits = rate_limit_setting(s.rate_limit.as_ref(), errors);
    let split_listing_above = s
        .split_listing_above
        .unwrap_or(driftd_aws::ec2::DEFAULT_SPLIT_ABOVE);
    let state_timeout = duration_setting(s.state_timeout.as_ref(), "scan.state_timeout", errors)
        .unwrap_or(std::time::Duration::from_secs(120));
    let instance_attribute_reads =
        match s.instance_attribute_reads.as_deref().unwrap_or("protected") {
            "protected" => InstanceAttributeReads::Protected,
            "all" => InstanceAttributeReads::All,
            "none" => InstanceAttributeReads::None,
            other => {
                errors.add(
                    "scan.instance_attribute_reads",
                    format!("`{other}` is not one of: protected, all, none"),
                );
                InstanceAttributeReads::Protected
            }
        };
    let mut ignore = IgnoreRules::default();
    // The driftignore file is read by the build step, and goes first.
    ignores.push(PendingIgnore {
        stack: None,
        path: base.join(s.driftignore.as_deref().unwrap_or(".driftignore")),
        field: "scan.driftignore".into(),
        optional: s.driftignore.is_none(),
    });
    ignore.extend(&inline_ignore(&s.ignore, "scan.ignore", errors));

    if raw.stacks.is_empty() {
        errors.add("stacks", "no stacks configured: add at least one [[stacks]] entry with a name, state and regions");
    }
    let mut names = BTreeSet::new();
    let mut stacks = Vec::new();
    for (i, st) in raw.stacks.into_iter().enumerate() {
        let f = |k: &str| format!("stacks[{i}].{k}");
        if st.name.is_empty()
            || !st
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            errors.add(
                f("name"),
                format!(
                    "`{}` is not a valid stack name: use letters, digits, `-`, `_` and `.`",
                    st.name
                ),
            );
        } else if !names.insert(st.name.clone()) {
            errors.add(f("name"), format!("duplicate stack name `{}`", st.name));
        }
        let locations = match st.state {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        if locations.is_empty() {
            errors.add(
                f("state"),
                "no state location: give a path, a glob or an s3:// URL",
            );
        }
        let mut sources = Vec::new();
        for (j, l) in locations.iter().enumerate() {
            match parse_location(l, base) {
                Ok(loc) => sources.push(loc),
                Err(m) => errors.add(format!("stacks[{i}].state[{j}]"), m),
            }
        }
        if st.regions.is_empty() {
            errors.add(f("regions"), "no regions: list the AWS regions this stack's resources live in, e.g. [\"eu-west-1\"]");
        }
        for (j, r) in st.regions.iter().enumerate() {
            if !is_region(r) {
                errors.add(
                    format!("stacks[{i}].regions[{j}]"),
                    format!("`{r}` does not look like an AWS region (e.g. us-east-1)"),
                );
            }
        }
        if let Some(r) = &st.state_region {
            if !is_region(r) {
                errors.add(
                    f("state_region"),
                    format!("`{r}` does not look like an AWS region"),
                );
            }
        }
        let assume_role_arn = st.assume_role_arn.filter(|a| !a.is_empty());
        if let Some(arn) = &assume_role_arn {
            if !(arn.starts_with("arn:") && arn.contains(":role/")) {
                errors.add(
                    f("assume_role_arn"),
                    format!("`{arn}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                );
            }
        }
        let endpoint_url = st.endpoint_url.filter(|u| !u.is_empty());
        if let Some(u) = &endpoint_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                errors.add(f("endpoint_url"), format!("`{u}` is not an http(s) URL"));
            }
        }
        let mut stack_ignore = IgnoreRules::default();
        if let Some(p) = &st.driftignore {
            ignores.push(PendingIgnore {
                stack: Some(stacks.len()),
                path: base.join(p),
                field: f("driftignore"),
                optional: false,
            });
        }
        stack_ignore.extend(&inline_ignore(&st.ignore, &f("ignore"), errors));
        let reconcile = match st.reconcile.as_deref().unwrap_or("off") {
            "off" => ReconcileMode::Off,
            "dry_run" => ReconcileMode::DryRun,
            "apply" => ReconcileMode::Apply,
            other => {
                errors.add(
                    f("reconcile"),
                    format!("`{other}` is not one of: off, dry_run, apply"),
                );
                ReconcileMode::Off
            }
        };
        let schedule = st
            .schedule
            .as_ref()
            .and_then(|text| match parse_schedule(text) {
                Ok(s) => Some((text.clone(), s)),
                Err(m) => {
                    errors.add(f("schedule"), m);
                    None
                }
            });
        let code =
            st.code
                .as_ref()
                .and_then(|v| match crate::pr::parse_code(v, &f("code"), base) {
                    Ok(c) => Some(c),
                    Err(es) => {
                        es.into_iter().for_each(|(field, m)| errors.add(field, m));
                        None
                    }
                });
        let encryption = st.encryption.as_ref().and_then(|v| {
            crate::encryption::parse(v, &f("encryption"), base, env)
                .map_err(|es| es.into_iter().for_each(|(field, m)| errors.add(field, m)))
                .ok()
        });
        let code_options = st
            .code
            .as_ref()
            .and_then(|v| crate::pr::parse_code_options(v, &f("code")).ok())
            .unwrap_or_default();
        stacks.push(StackConfig {
            encryption,
            reconcile,
            schedule,
            code,
            code_options,
            state_region: st
                .state_region
                .or_else(|| st.regions.first().cloned())
                .unwrap_or_default(),
            name: st.name,
            sources,
            regions: st.regions,
            assume_role_arn,
            endpoint_url,
            ignore: stack_ignore,
        });
    }
    // Pure validation here; the Rego files are read and compiled by the
    // build step (`parse`), after every other check.
    let (policy, policy_errors) = raw.policy.validate(base);
    policy_errors
        .into_iter()
        .for_each(|(f, m)| errors.add(f, m));
    let r = raw.reconcile;
    let reconcile = ReconcileSettings {
        max_actions: r.max_actions.unwrap_or(10),
        kill_switch: r.kill_switch.unwrap_or(false),
        persistence: r.persistence.unwrap_or(1),
        audit_log: r.audit_log.filter(|p| !p.is_empty()).map(|p| base.join(p)),
    };
    if reconcile.persistence == 0 {
        errors.add(
            "reconcile.persistence",
            "0 is out of range: use 1 (act on first sight) or more",
        );
    }
    let acting = stacks.iter().any(|s| s.reconcile != ReconcileMode::Off);
    if acting && reconcile.audit_log.is_none() {
        errors.add(
            "reconcile.audit_log",
            "a stack enables reconcile: set audit_log to a writable path (every action is audited)",
        );
    }
    let history = raw.history.map(|h| {
        let location = match h.location.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    errors.add(
                        "history.location",
                        "expected s3://BUCKET/PREFIX or a local directory",
                    );
                }
                HistoryLocation::S3 {
                    bucket: bucket.into(),
                    prefix: prefix.trim_end_matches('/').into(),
                }
            }
            None => HistoryLocation::Local(base.join(&h.location)),
        };
        HistorySettings {
            location,
            region: h
                .region
                .or_else(|| stacks.first().map(|s| s.state_region.clone()))
                .unwrap_or_else(|| "us-east-1".into()),
            endpoint_url: h.endpoint_url.filter(|u| !u.is_empty()),
        }
    });
    if reconcile.persistence > 1 && history.is_none() {
        errors.add(
            "reconcile.persistence",
            "a persistence threshold above 1 needs [history] to remember earlier scans",
        );
    }
    let d = raw.daemon;
    let daemon = DaemonSettings {
        listen: d.listen.unwrap_or_else(|| "0.0.0.0:9090".into()),
        grace_period: std::time::Duration::from_secs(d.grace_period_seconds.unwrap_or(300)),
        jitter: std::time::Duration::from_secs(d.jitter_seconds.unwrap_or(0)),
    };
    if daemon.listen.parse::<std::net::SocketAddr>().is_err() {
        errors.add(
            "daemon.listen",
            format!(
                "`{}` is not an address:port such as 0.0.0.0:9090",
                daemon.listen
            ),
        );
    }
    let attribution = raw.attribution.as_ref().and_then(|v| {
        crate::attribution::parse_settings(v)
            .map_err(|es| es.into_iter().for_each(|(field, m)| errors.add(field, m)))
            .ok()
    });
    let events = raw.events.as_ref().and_then(|v| {
        crate::events::parse_settings(v)
            .map_err(|es| es.into_iter().for_each(|(field, m)| errors.add(field, m)))
            .ok()
    });
    let config = Config {
        path: path.to_path_buf(),
        attribution,
        events,
        // Set by the build step from `policy` (returned with the config).
        policy: PolicySettings::default(),
        reconcile,
        history,
        daemon,
        github: {
            let on_github = stacks
                .iter()
                .any(|s| matches!(s.code, Some(crate::pr::CodeLocation::GitHub { .. })));
            if raw.github.is_some() || on_github {
                match crate::pr::parse_github(raw.github.as_ref(), env) {
                    Ok(g) => Some(g),
                    Err(es) => {
                        es.into_iter().for_each(|(field, m)| errors.add(field, m));
                        None
                    }
                }
            } else if stacks.iter().any(|s| s.code.is_some()) {
                // Local code only: patches, no GitHub credentials needed.
                Some(crate::pr::GithubSettings::new(
                    crate::pr::GithubAuth::Token(String::new()),
                ))
            } else {
                None
            }
        },
        scan: ScanSettings {
            concurrency,
            max_attempts,
            state_timeout,
            instance_attribute_reads,
            unmanaged: s.unmanaged.unwrap_or(true),
            strict: s.strict.unwrap_or(false),
            ignore,
            attempt_timeout,
            stack_timeout,
            rate_limits,
            split_listing_above,
        },
        stacks,
    };
    (config, Pending { policy, ignores })
}

/// What validation leaves to the build step: files to read and compile.
struct Pending {
    policy: crate::decide::settings::PolicySpec,
    ignores: Vec<PendingIgnore>,
}

/// A driftignore file to read: for the global rules, or stack `stack`'s.
/// Its rules come before the inline `ignore` entries (later rules win).
struct PendingIgnore {
    stack: Option<usize>,
    path: PathBuf,
    field: String,
    /// The default `.driftignore`: read only if it is a file.
    optional: bool,
}

/// Build: read the files validation named (driftignore files, Rego files,
/// compiled here) into the config. Every error is added to the list.
fn build(config: &mut Config, pending: Pending, errors: &mut Errors) {
    for p in pending.ignores {
        if p.optional && !p.path.is_file() {
            continue;
        }
        let mut rules = read_ignore(&p.path, &p.field, errors);
        let target = match p.stack {
            None => &mut config.scan.ignore,
            Some(i) => &mut config.stacks[i].ignore,
        };
        rules.extend(target);
        *target = rules;
    }
    let (policy, policy_errors) = pending.policy.build();
    policy_errors
        .into_iter()
        .for_each(|(f, m)| errors.add(f, m));
    config.policy = policy;
}

/// Default `scan.stack_timeout`.
pub const DEFAULT_STACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A duration setting: seconds (`10`) or text with a unit (`"10s"`, `"2m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// A duration setting between 1 s and 24 h (`None` when unset or invalid).
/// `[scan.rate_limit]`, checked: every bucket holds at least one request and refills.
fn rate_limit_setting(raw: Option<&RawRateLimit>, errors: &mut Errors) -> driftd_aws::RateLimits {
    let mut limits = driftd_aws::RateLimits::default();
    let Some(raw) = raw else {
        return limits;
    };
    if let Some(on) = raw.enabled {
        limits.enabled = on;
    }
    for (name, bucket, target) in [
        ("ec2_read", &raw.ec2_read, &mut limits.ec2_read),
        ("ec2_write", &raw.ec2_write, &mut limits.ec2_write),
        ("s3_read", &raw.s3_read, &mut limits.s3_read),
        ("s3_write", &raw.s3_write, &mut limits.s3_write),
    ] {
        let Some(b) = bucket else { continue };
        if !(1..=100_000).contains(&b.burst) {
            errors.add(
                format!("scan.rate_limit.{name}.burst"),
                format!("{} is out of range: use 1 to 100000", b.burst),
            );
        }
        if !(b.per_second.is_finite() && b.per_second > 0.0 && b.per_second <= 100_000.0) {
            errors.add(
                format!("scan.rate_limit.{name}.per_second"),
                format!(
                    "{} is out of range: use more than 0, up to 100000",
                    b.per_second
                ),
            );
        }
        *target = driftd_aws::limit::Bucket::new(b.burst, b.per_second);
    }
    limits
}

fn duration_setting(
    raw: Option<&RawDuration>,
    field: &str,
    errors: &mut Errors,
) -> Option<std::time::Duration> {
    let d = match raw {
        None => return None,
        Some(RawDuration::Seconds(n)) => std::time::Duration::from_secs(*n),
        Some(RawDuration::Text(t)) => match humantime::parse_duration(t.trim()) {
            Ok(d) => d,
            Err(e) => {
                errors.add(
                    field,
                    format!("`{t}` is not a duration ({e}): use e.g. \"15s\" or \"2m\""),
                );
                return None;
            }
        },
    };
    if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(86_400) {
        errors.add(
            field,
            format!(
                "{} is out of range: use 1s to 24h",
                humantime::format_duration(d)
            ),
        );
        return None;
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    fn p(text: &str, env: &MapEnv) -> Result<Config, ConfigErrors> {
        parse(text, Path::new("/etc/driftd/driftd.toml"), env)
    }

    #[test]
    fn minimal_config_and_defaults() {
        let c = p("[[stacks]]\nname = \"net\"\nstate = \"states/net.tfstate\"\nregions = [\"us-east-1\"]\n", &MapEnv::default()).unwrap();
        assert_eq!(c.scan.concurrency, 8);
        assert_eq!(
            c.stacks[0].sources,
            vec![StateLocation::Local(
                "/etc/driftd/states/net.tfstate".into()
            )]
        );
        assert_eq!(c.stacks[0].state_region, "us-east-1");
        assert!(c.scan.unmanaged && !c.scan.strict);
    }

    #[test]
    fn env_interpolation() {
        let env = MapEnv::new([("EP", "http://127.0.0.1:5000"), ("B", "tf")]);
        let c = p(
            "[[stacks]]\nname = \"a\"\nstate = [\"s3://${B}/x/**.tfstate\"]\nregions = [\"us-east-1\"]\nendpoint_url = \"${EP}\"\nassume_role_arn = \"${ROLE:-}\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(
            c.stacks[0].endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            c.stacks[0].sources[0],
            StateLocation::S3 {
                bucket: "tf".into(),
                key: "x/**.tfstate".into()
            }
        );
        assert_eq!(expand("a$${b}", &env).unwrap(), "a${b}");
    }

    #[test]
    fn rate_limits_default_to_aws_buckets_and_are_checked() {
        let base = "[[stacks]]\nname = \"a\"\nstate = \"x.tfstate\"\nregions = [\"us-east-1\"]\n";
        let c = p(base, &MapEnv::default()).unwrap();
        assert_eq!(c.scan.rate_limits, driftd_aws::RateLimits::default());
        // AWS's documented buckets (100 / 20, 200 / 5) less a margin for
        // jitter (a read action's burst 10%, its refill 5%).
        assert_eq!(c.scan.rate_limits.ec2_read.burst, 90);
        assert_eq!(c.scan.rate_limits.ec2_read.per_second, 19.0);
        assert_eq!(c.scan.rate_limits.ec2_write.per_second, 4.5);
        let c = p(
            &format!("[scan.rate_limit]\nec2_read = {{ burst = 10, per_second = 2.5 }}\n{base}"),
            &MapEnv::default(),
        )
        .unwrap();
        assert_eq!(
            c.scan.rate_limits.ec2_read,
            driftd_aws::limit::Bucket::new(10, 2.5)
        );
        assert_eq!(
            c.scan.rate_limits.ec2_write.burst, 180,
            "unset buckets keep their defaults"
        );
        let e = p(
            &format!("[scan.rate_limit]\nec2_read = {{ burst = 0, per_second = 0 }}\n{base}"),
            &MapEnv::default(),
        )
        .unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(
            fields.contains(&"scan.rate_limit.ec2_read.burst"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"scan.rate_limit.ec2_read.per_second"),
            "{fields:?}"
        );
    }

    #[test]
    fn every_error_at_once_with_field_paths() {
        let text = r#"
[scan]
concurrency = 0
instance_attribute_reads = "some"

[[stacks]]
name = "a b"
state = ["s3://only-bucket", "x.tfstate"]
regions = ["useast1"]
endpoint_url = "${NOPE}"

[[stacks]]
name = "ok"
state = []
regions = []
assume_role_arn = "role"
"#;
        let e = p(text, &MapEnv::default()).unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|e| e.field.as_str()).collect();
        for want in [
            "stacks[0].endpoint_url",
            "scan.concurrency",
            "scan.instance_attribute_reads",
            "stacks[0].name",
            "stacks[0].state[0]",
            "stacks[0].regions[0]",
            "stacks[1].state",
            "stacks[1].regions",
            "stacks[1].assume_role_arn",
        ] {
            assert!(fields.contains(&want), "missing {want} in {fields:?}");
        }
        let shown = e.to_string();
        assert!(shown.contains("driftd.toml: 9 errors"), "{shown}");
    }

    #[test]
    fn unknown_fields_are_errors() {
        let e = p("[scan]\nconcurency = 3\n", &MapEnv::default()).unwrap_err();
        assert!(e.to_string().contains("unknown field `concurency`"), "{e}");
    }

    #[test]
    fn regions() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-4")
        );
        assert!(!is_region("useast1") && !is_region("us-east") && !is_region("US-EAST-1"));
    }

    #[test]
    fn type_errors_do_not_hide_other_errors() {
        let text = "[scan]\nunmanaged = \"yes\"\nmax_attempts = 0\nconcurency = 2\n\n[[stacks]]\nname = \"a\"\nstate = \"a.tfstate\"\nregions = \"eu-west-1\"\n\n[[stacks]]\nname = \"b\"\nstate = \"b.tfstate\"\nregions = [\"eu-west-1\"]\nreconcile = 3\n";
        let e = p(text, &MapEnv::default()).unwrap_err();
        let shown = e.to_string();
        for want in [
            "scan.unmanaged: invalid type: string \"yes\", expected a boolean (line 2: `unmanaged = \"yes\"`)",
            "scan.max_attempts: 0 is out of range",
            "scan.concurency: unknown field `concurency`",
            "stacks[0].regions: invalid type: string \"eu-west-1\", expected a sequence (line 9: `regions = \"eu-west-1\"`)",
            "stacks[1].reconcile: invalid type: integer `3`, expected a string (line 15",
        ] {
            assert!(shown.contains(want), "want {want:?} in {shown}");
        }
        // The dropped `regions` is not reported again as missing.
        assert!(!shown.contains("no regions"), "{shown}");
        assert!(shown.contains("5 errors"), "{shown}");
    }

    #[test]
    fn a_missing_field_keeps_the_other_stacks_numbered() {
        let text = "[[stacks]]\nstate = \"a.tfstate\"\nregions = [\"eu-west-1\"]\n\n[[stacks]]\nname = \"b\"\nstate = \"b.tfstate\"\nregions = \"eu-west-1\"\n";
        let e = p(text, &MapEnv::default()).unwrap_err();
        let fields: Vec<(&str, &str)> = e
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(fields.len(), 2, "{fields:?}");
        assert_eq!(fields[0].0, "stacks[0]");
        assert!(
            fields[0].1.starts_with("missing field `name`"),
            "{fields:?}"
        );
        assert_eq!(fields[1].0, "stacks[1].regions");
        assert!(fields[1].1.contains("line 8"), "{fields:?}");
    }
}
