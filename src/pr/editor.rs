//! The code editor: from a drift to a byte-exact change of the `.tf` files.
//!
//! Why it works on byte ranges: hcl-edit parses with spans, so every value
//! can be located in the original text; the editor then splices new text into
//! exactly that range and leaves every other byte (comments, alignment, blank
//! lines, ordering) untouched. The result is re-parsed before it is accepted.
//!
//! Why it refuses so often: a wrong edit in a pull request is worse than none.
//! A value is only changed when it is a literal that belongs to the drifted
//! resource alone: directly in the resource block, in a variable's default or
//! a `.tfvars` entry used once, in a local module used once, or in the entry
//! of a `for_each` map / `count`-indexed list of the drifted instance. Every
//! other case (computed expressions, values shared by several instances or
//! resources, registry modules, sensitive values, policy documents, missing
//! and unmanaged resources) becomes a [`NeedsHuman`] item with the live value.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use driftd_core::registry::EditorHint;
use hcl_edit::expr::{Expression, Object, ObjectKey, TraversalOperator};
use hcl_edit::structure::{Block, Body};
use hcl_edit::Span;
use serde_json::Value;

use super::{CodeOptions, MissingMode, NeedsHuman, ProposedDrift};
use crate::report::{show, DriftKind};

/// Repository-relative path (with `/`) -> file content.
pub type Files = BTreeMap<String, String>;

const SENSITIVE: &str = "(sensitive)";

/// The result of planning the code changes for a set of drifts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditPlan {
    /// Changed files only: path -> new content.
    pub files: BTreeMap<String, String>,
    /// The changes made, one per drifted attribute.
    pub applied: Vec<Applied>,
    pub needs_human: Vec<NeedsHuman>,
    /// Remarks for the PR body (what generated code leaves out).
    pub notes: Vec<String>,
}

/// One attribute changed in code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub resource: String,
    pub attribute: String,
    /// What the code said (source text), or `(not set)`.
    pub code_value: String,
    pub live_value: String,
    pub file: String,
}

/// Local module directories referenced from `dir` (normalized), for loaders
/// that fetch files lazily.
pub fn module_dirs(files: &Files, dir: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (path, text) in files_in(files, dir, ".tf") {
        let _ = path;
        if let Ok(body) = hcl_edit::parser::parse_body(text) {
            for b in body.get_blocks("module") {
                if let Some(src) = b
                    .body
                    .get_attribute("source")
                    .and_then(|a| lit_str(&a.value))
                {
                    if is_local_source(src) {
                        out.insert(join(dir, src));
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Plan the code changes for `drifts` of the stack whose root module is `dir`
/// (default [`CodeOptions`]: missing and unmanaged resources need a human).
pub fn plan(files: &Files, dir: &str, drifts: &[&ProposedDrift]) -> EditPlan {
    plan_with(files, dir, drifts, &CodeOptions::default())
}

/// [`plan`] with the stack's options: removal of missing resources, import
/// of unmanaged ones.
pub fn plan_with(
    files: &Files,
    dir: &str,
    drifts: &[&ProposedDrift],
    options: &CodeOptions,
) -> EditPlan {
    let ws = Workspace::parse(files);
    let mut planner = Planner {
        ws: &ws,
        root: dir.to_string(),
        drifts,
        options,
        imported: Vec::new(),
        edits: Vec::new(),
        plan: EditPlan::default(),
    };
    for (i, d) in drifts.iter().enumerate() {
        planner.drift(i, d);
    }
    planner.finish(files)
}

// ---------------------------------------------------------------------------
// Parsed files

struct Workspace {
    /// path -> parsed body (files that parse).
    bodies: BTreeMap<String, Body>,
    /// path -> parse error.
    errors: BTreeMap<String, String>,
    texts: BTreeMap<String, String>,
}

impl Workspace {
    fn parse(files: &Files) -> Self {
        let mut ws = Workspace {
            bodies: BTreeMap::new(),
            errors: BTreeMap::new(),
            texts: BTreeMap::new(),
        };
        for (p, t) in files {
            if !(p.ends_with(".tf") || p.ends_with(".tfvars")) {
                continue;
            }
            ws.texts.insert(p.clone(), t.clone());
            match hcl_edit::parser::parse_body(t) {
                Ok(b) => {
                    ws.bodies.insert(p.clone(), b);
                }
                Err(e) => {
                    ws.errors.insert(p.clone(), e.to_string());
                }
            }
        }
        ws
    }

    /// `.tf` bodies directly in `dir`, sorted by path.
    fn tf(&self, dir: &str) -> Vec<(&str, &Body)> {
        self.bodies
            .iter()
            .filter(|(p, _)| parent(p) == dir && p.ends_with(".tf"))
            .map(|(p, b)| (p.as_str(), b))
            .collect()
    }

    /// The `kind "label"...` blocks of a directory's `.tf` files, with their
    /// file; an error when the directory does not parse.
    fn blocks<'a>(
        &'a self,
        dir: &str,
        kind: &'a str,
        labels: &[&str],
    ) -> Result<Vec<(&'a str, &'a Block)>, String> {
        if let Some(e) = self.parse_errors(dir) {
            return Err(format!("cannot parse the code: {e}"));
        }
        Ok(self
            .tf(dir)
            .into_iter()
            .flat_map(|(f, b)| {
                b.get_blocks(kind)
                    .filter(|x| x.has_exact_labels(labels))
                    .map(move |x| (f, x))
            })
            .collect())
    }

    fn parse_errors(&self, dir: &str) -> Option<String> {
        let errs: Vec<String> = self
            .errors
            .iter()
            .filter(|(p, _)| parent(p) == dir)
            .map(|(p, e)| format!("{p}: {e}"))
            .collect();
        (!errs.is_empty()).then(|| errs.join("; "))
    }

    fn text(&self, file: &str) -> &str {
        self.texts.get(file).map(String::as_str).unwrap_or("")
    }
}

fn files_in<'a>(files: &'a Files, dir: &str, ext: &str) -> Vec<(&'a str, &'a str)> {
    files
        .iter()
        .filter(|(p, _)| parent(p) == dir && p.ends_with(ext))
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect()
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

fn is_local_source(s: &str) -> bool {
    s.starts_with("./") || s.starts_with("../")
}

/// Join and normalize `dir` + relative `rel` (keeps leading `..`).
pub fn join(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in dir.split('/').chain(rel.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

// ---------------------------------------------------------------------------
// Addresses and paths

/// An instance key of `count` (`[1]`) or `for_each` (`["a"]`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum InstanceKey {
    Int(i64),
    Str(String),
}

/// A parsed resource address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub modules: Vec<(String, Option<InstanceKey>)>,
    pub rtype: String,
    pub name: String,
    pub key: Option<InstanceKey>,
}

/// Parse `module.a.aws_instance.web[1]` / `aws_s3_bucket.b["x"]`.
pub fn parse_address(s: &str) -> Option<Address> {
    let segs = split_address(s)?;
    let mut modules = Vec::new();
    let mut i = 0;
    while i + 1 < segs.len() && segs[i].0 == "module" && segs[i].1.is_none() {
        modules.push(segs[i + 1].clone());
        i += 2;
    }
    if segs.len() != i + 2 || segs[i].1.is_some() || segs[i].0 == "data" {
        return None;
    }
    Some(Address {
        modules,
        rtype: segs[i].0.clone(),
        name: segs[i + 1].0.clone(),
        key: segs[i + 1].1.clone(),
    })
}

type AddrSeg = (String, Option<InstanceKey>);

fn split_address(s: &str) -> Option<Vec<AddrSeg>> {
    let mut out: Vec<AddrSeg> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'.' && b[i] != b'[' {
            i += 1;
        }
        let name = s[start..i].to_string();
        if name.is_empty() {
            return None;
        }
        let mut key = None;
        if i < b.len() && b[i] == b'[' {
            let (k, next) = parse_bracket(s, i)?;
            key = Some(match k {
                Value::String(s) => InstanceKey::Str(s),
                Value::Number(n) => InstanceKey::Int(n.as_i64()?),
                _ => return None,
            });
            i = next;
        }
        out.push((name, key));
        if i < b.len() {
            if b[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    Some(out)
}

/// Parse `[<json>]` at `i`; returns the value and the index after `]`.
fn parse_bracket(s: &str, i: usize) -> Option<(Value, usize)> {
    let rest = &s[i + 1..];
    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    let v = de.next()?.ok()?;
    let used = de.byte_offset();
    let after = i + 1 + used;
    if s.as_bytes().get(after) != Some(&b']') {
        return None;
    }
    Some((v, after + 1))
}

/// Parse a drift path (`tags["Cost Center"]`, `metadata_options.http_tokens`).
pub fn parse_path(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'[' {
            let (v, next) = parse_bracket(s, i)?;
            out.push(match v {
                Value::String(s) => s,
                other => other.to_string(),
            });
            i = next;
        } else {
            if b[i] == b'.' {
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                i += 1;
            }
            if start == i {
                return None;
            }
            out.push(s[start..i].to_string());
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Rendering values as HCL

/// Render a JSON value as an HCL literal.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            if o.is_empty() {
                "{}".into()
            } else {
                format!(
                    "{{ {} }}",
                    o.iter()
                        .map(|(k, v)| format!("{} = {}", render_key(k), render(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        }
    }
}

/// A quoted HCL string, with template sequences escaped.
pub fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                o.push(c);
                o.push(c);
            }
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An object key: bare when it is an identifier, else quoted.
pub fn render_key(k: &str) -> String {
    if is_ident(k) && !matches!(k, "null" | "true" | "false") {
        k.to_string()
    } else {
        quote(k)
    }
}

/// The JSON value of a literal expression, if it is one.
fn literal(e: &Expression) -> Option<Value> {
    Some(match e {
        Expression::Null(_) => Value::Null,
        Expression::Bool(b) => Value::Bool(*b.value()),
        Expression::Number(n) => {
            let n = n.value();
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64()?)
            }
        }
        Expression::String(s) => Value::String(s.value().to_string()),
        Expression::Array(a) => Value::Array(a.iter().map(literal).collect::<Option<_>>()?),
        Expression::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, v) in o.iter() {
                m.insert(key_str(k)?, literal(v.expr())?);
            }
            Value::Object(m)
        }
        Expression::Parenthesis(p) => literal(p.inner())?,
        _ => return None,
    })
}

/// `toset(x)`, `tolist(x)`, `tomap(x)` (and parentheses) around `x`: `x`.
/// A literal set, list or map of instance keys is as literal as a map.
fn unwrap_conversion(e: &Expression) -> &Expression {
    match e {
        Expression::FuncCall(f)
            if f.name.namespace.is_empty()
                && matches!(f.name.name.value().as_str(), "toset" | "tolist" | "tomap")
                && f.args.len() == 1
                && !f.args.expand_final() =>
        {
            f.args.get(0).map(unwrap_conversion).unwrap_or(e)
        }
        Expression::Parenthesis(p) => unwrap_conversion(p.inner()),
        _ => e,
    }
}

/// An object or array: edited entry by entry even when other entries are
/// expressions.
fn is_container(e: &Expression) -> bool {
    matches!(e, Expression::Object(_) | Expression::Array(_))
}

fn lit_str(e: &Expression) -> Option<&str> {
    match e {
        Expression::String(s) => Some(s.value().as_str()),
        _ => None,
    }
}

fn key_str(k: &ObjectKey) -> Option<String> {
    match k {
        ObjectKey::Ident(i) => Some(i.value().as_str().to_string()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.value().to_string()),
        ObjectKey::Expression(Expression::Variable(v)) => Some(v.value().as_str().to_string()),
        _ => None,
    }
}

/// Loose equality as Terraform converts: `"20"` == `20`, `"true"` == `true`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        (Value::String(s), Value::Bool(x)) | (Value::Bool(x), Value::String(s)) => {
            s == if *x { "true" } else { "false" }
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        _ => a == b,
    }
}

/// Sets compare regardless of order (security group ids and such).
fn same_unordered(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            let mut x: Vec<String> = x.iter().map(|v| v.to_string()).collect();
            let mut y: Vec<String> = y.iter().map(|v| v.to_string()).collect();
            x.sort();
            y.sort();
            x == y
        }
        _ => same(a, b),
    }
}

// ---------------------------------------------------------------------------
// Text helpers

fn line_start(t: &str, pos: usize) -> usize {
    t[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0)
}

/// Index just after the `\n` ending the line containing `pos` (or the end).
fn line_end_incl(t: &str, pos: usize) -> usize {
    t[pos..].find('\n').map(|i| pos + i + 1).unwrap_or(t.len())
}

fn indent_of(t: &str, pos: usize) -> String {
    let ls = line_start(t, pos);
    t[ls..pos]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// Only whitespace between the start of the line and `pos`.
fn alone_before(t: &str, pos: usize) -> bool {
    t[line_start(t, pos)..pos].trim().is_empty()
}

/// Only whitespace, a comma and/or a comment between `pos` and the line end.
fn alone_after(t: &str, pos: usize) -> bool {
    let end = t[pos..].find('\n').map(|i| pos + i).unwrap_or(t.len());
    let rest = t[pos..end].trim_start();
    let rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    rest.is_empty() || rest.starts_with('#') || rest.starts_with("//")
}

/// The range of whole lines covering `r` when it stands alone on them.
fn whole_lines(t: &str, r: &Range<usize>) -> Option<Range<usize>> {
    (alone_before(t, r.start) && alone_after(t, r.end))
        .then(|| line_start(t, r.start)..line_end_incl(t, r.end))
}

fn is_blank_line(t: &str, start: usize) -> bool {
    let end = t[start..].find('\n').map(|i| start + i).unwrap_or(t.len());
    start < t.len() && t[start..end].trim().is_empty()
}

/// The column of `=` on the line of `key_start`.
fn eq_col(t: &str, key_start: usize) -> Option<usize> {
    let ls = line_start(t, key_start);
    let end = t[ls..].find('\n').map(|i| ls + i).unwrap_or(t.len());
    t[ls..end].find('=')
}

/// The `=` column of an aligned group of `key = value` lines (as
/// `terraform fmt` aligns them), to align a new sibling the same way.
fn aligned_eq_col(t: &str, key_starts: &[usize]) -> Option<usize> {
    let cols: Vec<usize> = key_starts.iter().filter_map(|k| eq_col(t, *k)).collect();
    let last = *cols.last()?;
    let padded = key_starts.last().is_some_and(|k| {
        let ls = line_start(t, *k);
        t[ls..ls + last].ends_with("  ")
    });
    (cols.iter().all(|c| *c == last) && (cols.len() > 1 || padded)).then_some(last)
}

fn attr_line(indent: &str, key: &str, value: &str, eq_col: Option<usize>) -> String {
    let lhs = format!("{indent}{key}");
    let pad = match eq_col {
        Some(c) if c > lhs.len() => c - lhs.len(),
        _ => 1,
    };
    format!("{lhs}{}= {value}\n", " ".repeat(pad))
}

// ---------------------------------------------------------------------------
// Planning

#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    file: String,
    range: Range<usize>,
    text: String,
    /// Order of insertion for edits at the same position.
    seq: usize,
    /// The drift that asked for it (its items become "needs a human" when
    /// the file would not parse).
    owner: (usize, String),
}

/// The module scope a resource is found in.
#[derive(Clone)]
struct Scope<'w> {
    dir: String,
    /// The calling module block, its file, and the caller's scope.
    caller: Option<(&'w Block, &'w str, Box<Scope<'w>>)>,
}

/// A located literal: where a value is written.
#[derive(Clone)]
struct Site<'w> {
    file: &'w str,
    expr: &'w Expression,
    /// Reached through `count.index` / `each.*`: belongs to one instance only.
    per_instance: bool,
    /// Describes the hops (`var.x default`, `terraform.tfvars`), for the body.
    via: Vec<String>,
}

struct Resource<'w> {
    scope: Scope<'w>,
    file: &'w str,
    block: &'w Block,
    addr: Address,
}

type Human = String;

/// The instance being resolved: its key and its resource's `for_each`.
#[derive(Clone, Copy)]
struct Inst<'w, 'k> {
    key: &'k Option<InstanceKey>,
    for_each: Option<(&'w str, &'w Expression)>,
}

impl Inst<'_, '_> {
    const NONE: Inst<'static, 'static> = Inst {
        key: &None,
        for_each: None,
    };
}

impl<'w> Resource<'w> {
    fn inst(&self) -> Inst<'w, '_> {
        Inst {
            key: &self.addr.key,
            for_each: self
                .block
                .body
                .get_attribute("for_each")
                .map(|a| (self.file, &a.value)),
        }
    }
}

struct Planner<'w, 'd> {
    ws: &'w Workspace,
    root: String,
    drifts: &'d [&'d ProposedDrift],
    options: &'d CodeOptions,
    /// Names given to imported resources in this plan.
    imported: Vec<String>,
    edits: Vec<Edit>,
    plan: EditPlan,
}

impl<'w> Planner<'w, '_> {
    fn human(&mut self, d: &ProposedDrift, attr: Option<&str>, live: &Value, reason: String) {
        let live_value = if live.as_str() == Some(SENSITIVE) {
            SENSITIVE.to_string()
        } else {
            show(live)
        };
        self.plan.needs_human.push(NeedsHuman {
            resource: d.display_name(),
            attribute: attr.map(str::to_string),
            live_value,
            reason,
        });
    }

    fn drift(&mut self, idx: usize, d: &ProposedDrift) {
        match d.kind {
            DriftKind::Missing if self.options.missing == MissingMode::Remove => {
                return self.remove_missing(idx, d);
            }
            DriftKind::Missing => {
                return self.human(
                    d,
                    None,
                    &Value::String("(absent)".into()),
                    "the resource no longer exists in AWS: run `terraform apply` to recreate it, or delete its block and `terraform state rm` it".into(),
                )
            }
            DriftKind::Unmanaged if !self.options.import.is_empty() && d.live.is_some() => {
                return self.import(idx, d);
            }
            DriftKind::Unmanaged => {
                return self.human(
                    d,
                    None,
                    &Value::String(d.id.clone()),
                    "no stack manages this resource: import it into Terraform (an `import` block) or delete it".into(),
                )
            }
            DriftKind::Changed => {}
        }
        let res = match self.locate(d) {
            Ok(r) => r,
            Err(why) => {
                for a in &d.attributes {
                    self.human(d, Some(&a.path), &a.actual, why.clone());
                }
                return;
            }
        };
        for a in &d.attributes {
            if a.expected.as_str() == Some(SENSITIVE) || a.actual.as_str() == Some(SENSITIVE) {
                self.human(
                    d,
                    Some(&a.path),
                    &a.actual,
                    "the value is sensitive: driftd never writes it; set it yourself".into(),
                );
                continue;
            }
            let Some(path) = parse_path(&a.path) else {
                self.human(
                    d,
                    Some(&a.path),
                    &a.actual,
                    "unrecognized attribute path".into(),
                );
                continue;
            };
            let owner = (idx, a.path.clone());
            match self.attribute(&res, d, &path, &a.expected, &a.actual, &owner) {
                Ok(Change::Edits(edits, file, code_value)) => {
                    if let Err(why) = self.accept(edits) {
                        self.human(d, Some(&a.path), &a.actual, why);
                    } else {
                        self.plan.applied.push(Applied {
                            resource: d.display_name(),
                            attribute: a.path.clone(),
                            code_value,
                            live_value: show(&a.actual),
                            file,
                        });
                    }
                }
                Ok(Change::AlreadyLive) => {}
                Err(why) => self.human(d, Some(&a.path), &a.actual, why),
            }
        }
    }

    /// An unmanaged resource the stack's import rule maps here: an `import`
    /// block and a generated `resource` block appended to `imported.tf` of
    /// the stack directory (see [`super::generate`]).
    fn import(&mut self, idx: usize, d: &ProposedDrift) {
        let live = d.live.as_ref().expect("checked by the caller");
        let shown = Value::String(d.id.clone());
        if let Some(e) = self.ws.parse_errors(&self.root) {
            return self.human(d, None, &shown, format!("cannot parse the code: {e}"));
        }
        let mut taken: BTreeSet<String> = self.imported.iter().cloned().collect();
        for (_, b) in self.ws.tf(&self.root) {
            // Imported already (a merged PR waiting for apply, or by hand).
            if b.get_blocks("import").any(|ib| {
                ib.body.get_attribute("id").and_then(|a| lit_str(&a.value)) == Some(d.id.as_str())
            }) {
                return;
            }
            for r in b.get_blocks("resource") {
                if r.labels.first().map(|l| l.as_str()) == Some(d.rtype.as_str()) {
                    if let Some(n) = r.labels.get(1) {
                        taken.insert(n.as_str().to_string());
                    }
                }
            }
        }
        let name = super::generate::terraform_name(
            &super::generate::live_name(&d.rtype, &d.id, live),
            &taken,
        );
        // Only root-module resources can be referenced from the root module.
        let refs: BTreeMap<String, String> = self
            .options
            .managed_ids
            .iter()
            .filter(|(id, a)| {
                !id.is_empty() && !a.starts_with("module.") && !a.starts_with("data.")
            })
            .map(|(id, a)| (id.clone(), a.clone()))
            .collect();
        let code = match super::generate::generate(&d.rtype, &d.id, &name, live, &refs) {
            Ok(c) => c,
            Err(why) => return self.human(d, None, &shown, why),
        };
        let file = join(&self.root, "imported.tf");
        let existing = self.ws.text(&file);
        let sep = if self.imported.is_empty() {
            match existing {
                "" => "",
                t if t.ends_with('\n') => "\n",
                _ => "\n\n",
            }
        } else {
            "\n"
        };
        let at = existing.len();
        let owner = (idx, "(import)".to_string());
        let e = self.edit(&file, at..at, format!("{sep}{code}"), &owner);
        match self.accept(vec![e]) {
            Ok(()) => {
                self.imported.push(name.clone());
                self.plan.applied.push(Applied {
                    resource: d.display_name(),
                    attribute: "(import)".into(),
                    code_value: "(not in code)".into(),
                    live_value: format!("imported as {}.{name}", d.rtype),
                    file,
                });
                if let Some(t) = super::generate::importable(&d.rtype) {
                    self.plan
                        .notes
                        .push(format!("`{}.{name}` ({}): {}", d.rtype, d.id, t.note));
                }
            }
            Err(why) => self.human(d, None, &shown, why),
        }
    }

    /// A resource gone from AWS, code follows reality: its block is replaced
    /// by `removed { from = ADDR  lifecycle { destroy = false } }`
    /// (Terraform 1.7+), so that Terraform forgets it without planning a
    /// re-creation. An instance of a `count`/`for_each` resource, a block in
    /// a module called from several places, or a block other code refers to
    /// needs a human.
    fn remove_missing(&mut self, idx: usize, d: &ProposedDrift) {
        let absent = Value::String("(absent)".into());
        let address = d.address.clone().unwrap_or_default();
        // Removed in code already (a merged PR waiting for apply, or by hand).
        let removed_already = self.ws.tf(&self.root).into_iter().any(|(f, b)| {
            b.get_blocks("removed").any(|r| {
                r.body
                    .get_attribute("from")
                    .and_then(|a| a.value.span())
                    .is_some_and(|s| self.ws.text(f)[s].trim() == address)
            })
        });
        if removed_already {
            return;
        }
        let res = match self.locate(d) {
            Ok(r) => r,
            Err(why) => {
                let why = if why.contains("is used by") {
                    format!("{why}: the module is called from several places, and removing the resource there removes it from every caller; change the module by hand (or give it an input that disables the resource)")
                } else {
                    format!("{why}; the resource no longer exists in AWS")
                };
                return self.human(d, None, &absent, why);
            }
        };
        if let Some(key) = &res.addr.key {
            let why = match key {
                InstanceKey::Str(k) => {
                    let fe = res
                        .block
                        .body
                        .get_attribute("for_each")
                        .and_then(|a| a.value.span())
                        .map(|s| self.ws.text(res.file)[s].trim().to_string())
                        .unwrap_or_default();
                    format!(
                        "an instance of a for_each resource (a `removed` block cannot name one instance): drop the key {} from its for_each (`for_each = {fe}` in {}, or where that value is set); Terraform then forgets the instance, which no longer exists",
                        Value::String(k.clone()),
                        res.file
                    )
                }
                InstanceKey::Int(i) => format!(
                    "instance [{i}] of a count resource: lowering count removes the last instance, not necessarily [{i}]; if [{i}] is the last, lower count by one in {}, else move the resource to for_each (with `moved` blocks) and drop its key",
                    res.file
                ),
            };
            return self.human(d, None, &absent, why);
        }
        let local = format!("{}.{}", res.addr.rtype, res.addr.name);
        let text = self.ws.text(res.file);
        let Some(bspan) = res.block.span() else {
            return self.human(d, None, &absent, "no position information".into());
        };
        let refs: Vec<String> = self
            .ws
            .tf(&res.scope.dir)
            .into_iter()
            .filter_map(|(f, _)| {
                let t = self.ws.text(f);
                let n = word_matches(t, &local)
                    .into_iter()
                    .filter(|at| !(f == res.file && bspan.contains(at)))
                    .count();
                (n > 0).then(|| format!("{f} ({n})"))
            })
            .collect();
        if !refs.is_empty() {
            return self.human(
                d,
                None,
                &absent,
                format!(
                    "other code refers to {local} ({}): remove those references, then its block (with a `removed` block, lifecycle destroy = false)",
                    refs.join(", ")
                ),
            );
        }
        let Some(lines) = whole_lines(text, &bspan) else {
            return self.human(
                d,
                None,
                &absent,
                "the resource block shares its lines with other code: remove it by hand".into(),
            );
        };
        let indent = indent_of(text, bspan.start);
        let removed = format!(
            "{indent}removed {{\n{indent}  from = {address}\n\n{indent}  lifecycle {{\n{indent}    destroy = false\n{indent}  }}\n{indent}}}\n"
        );
        let owner = (idx, "(resource)".to_string());
        let mut edits = Vec::new();
        let file;
        if res.scope.caller.is_none() {
            // In place: the removed block stands where the resource was.
            edits.push(self.edit(res.file, lines, removed, &owner));
            file = res.file.to_string();
        } else {
            // In the module: the block goes (with one separating blank
            // line); the removed block goes to the root module, after the
            // module call's file.
            let mut r = lines;
            if r.start > 0 && is_blank_line(text, line_start(text, r.start - 1)) {
                r.start = line_start(text, r.start - 1);
            } else if is_blank_line(text, r.end) {
                r.end = line_end_incl(text, r.end);
            }
            edits.push(self.edit(res.file, r, String::new(), &owner));
            let mut top = &res.scope;
            while let Some((_, _, caller)) = &top.caller {
                if caller.caller.is_none() {
                    break;
                }
                top = caller;
            }
            let root_file = top
                .caller
                .as_ref()
                .map(|(_, f, _)| *f)
                .expect("a module scope has a caller");
            let rt = self.ws.text(root_file);
            let sep = if rt.ends_with('\n') { "\n" } else { "\n\n" };
            edits.push(self.edit(
                root_file,
                rt.len()..rt.len(),
                format!("{sep}{removed}"),
                &owner,
            ));
            file = root_file.to_string();
        }
        match self.accept(edits) {
            Ok(()) => {
                self.plan.applied.push(Applied {
                    resource: d.display_name(),
                    attribute: "(resource)".into(),
                    code_value: format!("resource \"{}\" \"{}\"", res.addr.rtype, res.addr.name),
                    live_value: "(absent): removed, destroy = false".into(),
                    file,
                });
                self.plan.notes.push(format!("`{address}` is gone from AWS: its block is replaced by a `removed` block, so `terraform plan` forgets it instead of re-creating it"));
            }
            Err(why) => self.human(d, None, &absent, why),
        }
    }

    /// Add edits unless they overlap edits already accepted (identical edits
    /// are merged: several instances asking for the same change).
    fn accept(&mut self, edits: Vec<Edit>) -> Result<(), Human> {
        let mut fresh = Vec::new();
        for e in edits {
            if self
                .edits
                .iter()
                .any(|x| x.file == e.file && x.range == e.range && x.text == e.text)
            {
                continue;
            }
            let clash = self.edits.iter().chain(fresh.iter()).find(|x: &&Edit| {
                x.file == e.file
                    && x.range.start < e.range.end.max(e.range.start + 1)
                    && e.range.start < x.range.end.max(x.range.start + 1)
                    && !(x.range.is_empty() && e.range.is_empty())
                    && !(x.range.is_empty() && x.range.start == e.range.start)
                    && !(e.range.is_empty() && e.range.start == x.range.start)
            });
            if clash.is_some() {
                return Err(
                    "this change overlaps another change in the same place: edit it by hand".into(),
                );
            }
            fresh.push(e);
        }
        self.edits.extend(fresh);
        Ok(())
    }

    fn finish(mut self, files: &Files) -> EditPlan {
        let mut by_file: BTreeMap<String, Vec<Edit>> = BTreeMap::new();
        for e in std::mem::take(&mut self.edits) {
            by_file.entry(e.file.clone()).or_default().push(e);
        }
        for (file, mut edits) in by_file {
            let old = files.get(&file).map(String::as_str).unwrap_or("");
            edits.sort_by(|a, b| {
                (a.range.start, !a.range.is_empty(), a.seq).cmp(&(
                    b.range.start,
                    !b.range.is_empty(),
                    b.seq,
                ))
            });
            let mut out = String::with_capacity(old.len() + 256);
            let mut pos = 0;
            for e in &edits {
                out.push_str(&old[pos..e.range.start.max(pos)]);
                out.push_str(&e.text);
                pos = pos.max(e.range.end);
            }
            out.push_str(&old[pos..]);
            // A file `terraform fmt` left aligned stays aligned: realign
            // exactly as it would (a no-op for every chain the edits did not
            // touch). A hand-aligned file keeps its bytes.
            if super::fmt::is_aligned(old) {
                out = super::fmt::align(&out);
            }
            if let Err(err) = hcl_edit::parser::parse_body(&out) {
                // Never propose code that does not parse: undo this file.
                let owners: BTreeSet<(usize, String)> =
                    edits.iter().map(|e| e.owner.clone()).collect();
                for (idx, path) in owners {
                    let d = self.drifts[idx];
                    self.plan
                        .applied
                        .retain(|a| !(a.resource == d.display_name() && a.attribute == path));
                    let live = d
                        .attributes
                        .iter()
                        .find(|a| a.path == path)
                        .map(|a| a.actual.clone())
                        .unwrap_or(Value::Null);
                    self.human(
                        d,
                        Some(&path),
                        &live,
                        format!("driftd could not edit {file} safely ({err}); please report this and edit it by hand"),
                    );
                }
                continue;
            }
            if out != old {
                self.plan.files.insert(file, out);
            }
        }
        self.plan.needs_human.sort();
        self.plan.needs_human.dedup();
        self.plan
    }

    // -- locating -----------------------------------------------------------

    fn locate(&self, d: &ProposedDrift) -> Result<Resource<'w>, Human> {
        let address = d.address.as_deref().unwrap_or("");
        let addr = parse_address(address)
            .ok_or_else(|| format!("cannot find code for address `{address}`"))?;
        let mut scope = Scope {
            dir: self.root.clone(),
            caller: None,
        };
        for (name, key) in &addr.modules {
            let found = self.ws.blocks(&scope.dir, "module", &[name.as_str()])?;
            let [(file, block)] = found[..] else {
                return Err(format!(
                    "module \"{name}\" not found in {}",
                    show_dir(&scope.dir)
                ));
            };
            if key.is_some()
                || block.body.has_attribute("count")
                || block.body.has_attribute("for_each")
            {
                return Err(format!("module \"{name}\" has count/for_each: a change inside it would change every instance"));
            }
            let source = block
                .body
                .get_attribute("source")
                .and_then(|a| lit_str(&a.value))
                .unwrap_or("");
            if !is_local_source(source) {
                return Err(format!("module \"{name}\" comes from `{source}`, not a local directory: change the module or its inputs"));
            }
            let dir = join(&scope.dir, source);
            let users = self.module_users(&dir);
            if users > 1 {
                return Err(format!("the module directory {dir} is used by {users} module blocks: a change there would change all of them"));
            }
            if self.ws.tf(&dir).is_empty() {
                return Err(format!("module \"{name}\": no .tf files found in {dir}"));
            }
            scope = Scope {
                dir,
                caller: Some((block, file, Box::new(scope))),
            };
        }
        let found = self.ws.blocks(
            &scope.dir,
            "resource",
            &[addr.rtype.as_str(), addr.name.as_str()],
        )?;
        let [(file, block)] = found[..] else {
            return Err(format!(
                "resource \"{}\" \"{}\" not found in {} (generated code, or a different directory?)",
                addr.rtype,
                addr.name,
                show_dir(&scope.dir)
            ));
        };
        let multi = block.body.has_attribute("count") || block.body.has_attribute("for_each");
        if addr.key.is_some() != multi {
            return Err(format!(
                "the code of {address} does not match its address (count/for_each changed?)"
            ));
        }
        Ok(Resource {
            scope,
            file,
            block,
            addr,
        })
    }

    /// How many module blocks (in any loaded directory) use `dir`.
    fn module_users(&self, dir: &str) -> usize {
        self.ws
            .bodies
            .iter()
            .filter(|(p, _)| p.ends_with(".tf"))
            .flat_map(|(p, b)| {
                let here = parent(p).to_string();
                b.get_blocks("module")
                    .filter_map(|m| {
                        m.body
                            .get_attribute("source")
                            .and_then(|a| lit_str(&a.value))
                    })
                    .filter(move |s| is_local_source(s) && join(&here, s) == dir)
                    .collect::<Vec<_>>()
            })
            .count()
    }

    // -- attributes ---------------------------------------------------------

    fn attribute(
        &mut self,
        res: &Resource<'w>,
        d: &ProposedDrift,
        path: &[String],
        expected: &Value,
        actual: &Value,
        owner: &(usize, String),
    ) -> Result<Change, Human> {
        let first = path[0].as_str();
        // What the type's registry entry says about this attribute.
        let hint = driftd_aws::registry::registry()
            .get(&res.addr.rtype)
            .map_or(EditorHint::Plain, |t| t.editor_hint(first));
        match hint {
            EditorHint::Refuse(why) => return Err(why.into()),
            EditorHint::KeyedBlocks if path.len() == 2 => {
                return self.sg_rule(res, d, first, &path[1], expected, actual, owner);
            }
            EditorHint::KeyedBy(keys) if path.len() >= 2 => {
                return self.keyed_by(res, d, keys, path, expected, actual, owner);
            }
            EditorHint::KeyedBy(_) => {
                return Err(format!("`{first}` is a set of blocks: edit them by hand"))
            }
            EditorHint::KeyedBlocks | EditorHint::Plain => {}
        }
        if first == "tags" && path.len() == 2 {
            return self.tag(res, d, &path[1], expected, actual, owner);
        }
        if path.len() > 1 && matches!(first, "tags" | "tags_all") {
            return Err("unsupported tags path".into());
        }
        self.plain(res, d, path, expected, actual, owner)
    }

    /// A literal attribute, possibly inside nested blocks.
    fn plain(
        &mut self,
        res: &Resource<'w>,
        d: &ProposedDrift,
        path: &[String],
        expected: &Value,
        actual: &Value,
        owner: &(usize, String),
    ) -> Result<Change, Human> {
        self.plain_in(res, res.block, d, path, path, expected, actual, owner)
    }

    /// One element of a keyed set of blocks ([`EditorHint::KeyedBy`]):
    /// `path` is `[block, key, rest..]`.
    #[allow(clippy::too_many_arguments)]
    fn keyed_by(
        &mut self,
        res: &Resource<'w>,
        d: &ProposedDrift,
        keys: &[&str],
        path: &[String],
        expected: &Value,
        actual: &Value,
        owner: &(usize, String),
    ) -> Result<Change, Human> {
        let (name, key, rest) = (path[0].as_str(), path[1].as_str(), &path[2..]);
        let body = &res.block.body;
        if body.get_blocks("dynamic").next().is_some() {
            return Err(format!("`{name}` uses dynamic blocks: edit it by hand"));
        }
        if body.has_attribute(name) {
            return Err(format!(
                "`{name}` is written as an attribute, not blocks: edit it by hand"
            ));
        }
        // The blocks whose key argument is a literal equal to `key`; a block
        // whose key is an expression makes the match unknowable.
        let mut matched = Vec::new();
        for b in body.get_blocks(name) {
            let mut key_of = None;
            for k in keys {
                if let Some(a) = b.body.get_attribute(k) {
                    match literal(&a.value) {
                        Some(Value::String(s)) if !s.is_empty() => key_of = Some(s),
                        Some(Value::Number(n)) => key_of = Some(n.to_string()),
                        Some(Value::String(_)) | Some(Value::Null) => {}
                        _ => {
                            return Err(format!(
                                "a `{name}` block's `{k}` is computed: cannot tell which block drifted; edit it by hand"
                            ))
                        }
                    }
                }
            }
            if key_of.as_deref() == Some(key) {
                matched.push(b);
            }
        }
        let block = match matched[..] {
            [b] => Some(b),
            [] => None,
            _ => {
                return Err(format!(
                    "several `{name}` blocks for {key}: edit them by hand"
                ))
            }
        };
        let text = self.ws.text(res.file);
        match (block, rest.is_empty()) {
            (Some(b), false) => self.plain_in(res, b, d, rest, path, expected, actual, owner),
            (None, false) => Err(format!(
                "no `{name}` block for {key} in the code: edit it by hand"
            )),
            (Some(b), true) if is_absent(actual) => {
                self.shared_check(res, d, path, actual, false)?;
                let span = b.span().ok_or("no position information")?;
                let r =
                    whole_lines(text, &span).ok_or("the block shares its lines with other code")?;
                let code = text[r.clone()].trim().to_string();
                Ok(Change::Edits(
                    vec![self.edit(res.file, r, String::new(), owner)],
                    res.file.to_string(),
                    code,
                ))
            }
            (None, true) if is_absent(actual) => Ok(Change::AlreadyLive),
            (Some(b), true) => {
                let (Some(want), have) = (actual.as_object(), expected.as_object()) else {
                    return Err(format!("`{name}` {key}: the live value is not a block"));
                };
                let mut fields: Vec<&String> = want.keys().collect();
                fields.extend(have.into_iter().flat_map(|h| h.keys()));
                fields.sort();
                fields.dedup();
                let (mut edits, mut codes) = (Vec::new(), Vec::new());
                for f in fields {
                    let none = Value::Null;
                    let live = want.get(f).unwrap_or(&none);
                    let state = have.and_then(|h| h.get(f)).unwrap_or(&none);
                    if live == state {
                        continue;
                    }
                    let sub = [f.clone()];
                    match self.plain_in(res, b, d, &sub, path, state, live, owner)? {
                        Change::Edits(e, _, code) => {
                            edits.extend(e);
                            codes.push(format!("{f} = {code}"));
                        }
                        Change::AlreadyLive => {}
                    }
                }
                if edits.is_empty() {
                    return Ok(Change::AlreadyLive);
                }
                Ok(Change::Edits(edits, res.file.to_string(), codes.join(", ")))
            }
            (None, true) => {
                let [k] = keys else {
                    return Err(format!(
                        "a `{name}` block for {key} is live only: add it by hand (driftd cannot tell which argument holds {key})"
                    ));
                };
                let Some(want) = actual.as_object() else {
                    return Err(format!("`{name}` {key}: the live value is not a block"));
                };
                if want.values().any(|v| v.is_object() || v.is_array()) || !is_ident(k) {
                    return Err(format!(
                        "a `{name}` block for {key} is live only and has nested values: add it by hand"
                    ));
                }
                self.shared_check(res, d, path, actual, false)?;
                let ind = child_indent(text, res.block);
                let unit = indent_unit(text, res.block, &ind);
                let inner = ind_n(&ind, &unit, 1);
                let mut block = format!("\n{ind}{name} {{\n");
                // A numeric key (a NACL `rule_no`) is written as a number.
                let key_value = key
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(key.into()), Value::from);
                block.push_str(&attr_line(&inner, k, &render(&key_value), None));
                for (f, v) in want {
                    if !is_absent(v) && is_ident(f) {
                        block.push_str(&attr_line(&inner, f, &render(v), None));
                    }
                }
                block.push_str(&format!("{ind}}}\n"));
                let at = block_insert_end(text, res.block)?;
                Ok(Change::Edits(
                    vec![self.edit(res.file, at..at, block, owner)],
                    res.file.to_string(),
                    "(not set)".into(),
                ))
            }
        }
    }

    /// [`Self::plain`] from inside `start` (the resource block or one of
    /// its nested blocks); `full` is the drift's whole path (for the
    /// shared-value check).
    #[allow(clippy::too_many_arguments)]
    fn plain_in(
        &mut self,
        res: &Resource<'w>,
        start: &Block,
        d: &ProposedDrift,
        path: &[String],
        full: &[String],
        expected: &Value,
        actual: &Value,
        owner: &(usize, String),
    ) -> Result<Change, Human> {
        let text = self.ws.text(res.file);
        let mut body = &start.body;
        let mut container: &Block = start;
        let (last, inner) = path.split_last().expect("non-empty path");
        // Only argument and block names can be written: a key of a set or
        // map (a CIDR, a rule number, a JSON key) is not one, and writing it
        // would break the file. Such a path needs its type's editor hint.
        if let Some(bad) = path.iter().find(|s| !is_ident(s)) {
            return Err(format!(
                "`{bad}` is a key inside `{}`, not an argument driftd can write: edit it by hand",
                full[0]
            ));
        }
        for (i, seg) in inner.iter().enumerate() {
            if body
                .get_blocks("dynamic")
                .any(|b| b.has_exact_labels(&[seg.as_str()]))
            {
                return Err(format!(
                    "`{seg}` is a dynamic block: edit its content by hand"
                ));
            }
            let blocks: Vec<&Block> = body.get_blocks(seg).collect();
            match blocks[..] {
                [b] => {
                    body = &b.body;
                    container = b;
                }
                [] => {
                    if body.has_attribute(seg) {
                        return Err(format!(
                            "`{seg}` is written as an attribute, not a block: edit it by hand"
                        ));
                    }
                    if is_absent(actual) {
                        return Ok(Change::AlreadyLive);
                    }
                    // Insert the missing nested block(s) with the attribute.
                    let mut nested = String::new();
                    let chain = &inner[i..];
                    let ind = child_indent(text, container);
                    let unit = indent_unit(text, container, &ind);
                    for (depth, s) in chain.iter().enumerate() {
                        nested.push_str(&format!("{}{} {{\n", ind_n(&ind, &unit, depth), s));
                    }
                    nested.push_str(&attr_line(
                        &ind_n(&ind, &unit, chain.len()),
                        last,
                        &render(actual),
                        None,
                    ));
                    for depth in (0..chain.len()).rev() {
                        nested.push_str(&format!("{}}}\n", ind_n(&ind, &unit, depth)));
                    }
                    self.shared_check(res, d, full, actual, false)?;
                    let at = block_insert_end(text, container)?;
                    return Ok(Change::Edits(
                        vec![self.edit(res.file, at..at, nested, owner)],
                        res.file.to_string(),
                        "(not set)".into(),
                    ));
                }
                _ => {
                    return Err(format!(
                        "several `{seg}` blocks: cannot tell which one drifted"
                    ))
                }
            }
        }
        match body.get_attribute(last) {
            Some(attr) => {
                let site = self.resolve(&res.scope, res.file, &attr.value, res.inst(), 0)?;
                self.shared_check(res, d, full, actual, site.per_instance)?;
                let code = literal(site.expr).ok_or_else(|| {
                    "the value is partly computed (a collection with expressions in it): change it by hand".to_string()
                })?;
                let unordered = last.ends_with("_ids") || last.ends_with("security_groups");
                let eq = |a: &Value, b: &Value| {
                    if unordered {
                        same_unordered(a, b)
                    } else {
                        same(a, b)
                    }
                };
                if eq(&code, actual) {
                    return Ok(Change::AlreadyLive);
                }
                if !eq(&code, expected) {
                    return Err(format!(
                        "the code says {} but the state says {}: a code change is waiting to be applied; reconcile by hand",
                        render(&code),
                        render(expected)
                    ));
                }
                let stext = self.ws.text(site.file);
                let span = site.expr.span().ok_or("no position information")?;
                let code_value = stext[span.clone()].to_string();
                if is_absent(actual) && site.via.is_empty() {
                    // Remove the attribute line.
                    let aspan = attr.span().ok_or("no position information")?;
                    let r = whole_lines(text, &aspan)
                        .ok_or("the attribute shares its line with other code")?;
                    return Ok(Change::Edits(
                        vec![self.edit(res.file, r, String::new(), owner)],
                        res.file.to_string(),
                        code_value,
                    ));
                }
                if is_absent(actual) {
                    return Err(format!(
                        "the live value is unset but the code sets it through {}: remove it by hand",
                        site.via.join(" -> ")
                    ));
                }
                Ok(Change::Edits(
                    vec![self.edit(site.file, span, render(actual), owner)],
                    site.file.to_string(),
                    code_value,
                ))
            }
            None => {
                if is_absent(actual) {
                    return Err("the code does not set this attribute (the provider default applies): nothing to change in code".into());
                }
                self.shared_check(res, d, full, actual, false)?;
                let (at, indent, eq_col) = attr_insert_point(text, container)?;
                Ok(Change::Edits(
                    vec![self.edit(
                        res.file,
                        at..at,
                        attr_line(&indent, last, &render(actual), eq_col),
                        owner,
                    )],
                    res.file.to_string(),
                    "(not set)".into(),
                ))
            }
        }
    }

    /// One tag: add, change or remove a key of the `tags` object literal.
    fn tag(
        &mut self,
        res: &Resource<'w>,
        d: &ProposedDrift,
        key: &str,
        expected: &Value,
        actual: &Value,
        owner: &(usize, String),
    ) -> Result<Change, Human> {
        let text = self.ws.text(res.file);
        let path = ["tags".to_string(), key.to_string()];
        let Some(attr) = res.block.body.get_attribute("tags") else {
            if actual.is_null() || !expected.is_null() {
                return Err("the tag is not in the resource's `tags`: it probably comes from the provider's default_tags".into());
            }
            self.shared_check(res, d, &path, actual, false)?;
            // `tags = {` opens a multi-line value: `terraform fmt` never
            // aligns it with the attributes around it.
            let (at, indent, _) = attr_insert_point(text, res.block)?;
            let unit = indent_unit(text, res.block, &indent);
            let value = format!(
                "{{\n{indent}{unit}{} = {}\n{indent}}}",
                render_key(key),
                render(actual)
            );
            return Ok(Change::Edits(
                vec![self.edit(
                    res.file,
                    at..at,
                    attr_line(&indent, "tags", &value, None),
                    owner,
                )],
                res.file.to_string(),
                "(not set)".into(),
            ));
        };
        let site = self.resolve(&res.scope, res.file, &attr.value, res.inst(), 0)?;
        let Expression::Object(obj) = site.expr else {
            return Err("`tags` is not a literal map: edit it by hand".into());
        };
        self.shared_check(res, d, &path, actual, site.per_instance)?;
        let stext = self.ws.text(site.file);
        let entry = obj.iter().find(|(k, _)| key_str(k).as_deref() == Some(key));
        match (entry, actual.is_null()) {
            (Some((k, v)), true) => {
                let ks = k.span().ok_or("no position information")?;
                let vs = v.expr().span().ok_or("no position information")?;
                let code_value = stext[vs.clone()].to_string();
                let r = remove_entry_range(stext, obj, ks.start..vs.end)?;
                Ok(Change::Edits(
                    vec![self.edit(site.file, r, String::new(), owner)],
                    site.file.to_string(),
                    code_value,
                ))
            }
            (Some((_, v)), false) => {
                let vs = v.expr().span().ok_or("no position information")?;
                let code_value = stext[vs.clone()].to_string();
                match literal(v.expr()) {
                    Some(c) if same(&c, actual) => return Ok(Change::AlreadyLive),
                    Some(c) if !same(&c, expected) && !expected.is_null() => {
                        return Err(format!("the code says {} but the state says {}: a code change is waiting to be applied", render(&c), render(expected)))
                    }
                    Some(_) => {}
                    None => {
                        // Follow a variable/local used as the tag value.
                        let inner = self.resolve(&res.scope, site.file, v.expr(), res.inst(), 1)?;
                        let ispan = inner.expr.span().ok_or("no position information")?;
                        let itext = self.ws.text(inner.file);
                        let code_value = itext[ispan.clone()].to_string();
                        return Ok(Change::Edits(
                            vec![self.edit(inner.file, ispan, render(actual), owner)],
                            inner.file.to_string(),
                            code_value,
                        ));
                    }
                }
                Ok(Change::Edits(
                    vec![self.edit(site.file, vs, render(actual), owner)],
                    site.file.to_string(),
                    code_value,
                ))
            }
            (None, true) => Err("the tag is not in the resource's `tags`: it probably comes from the provider's default_tags".into()),
            (None, false) => {
                if !expected.is_null() {
                    return Err("the tag is not in the resource's `tags`: it probably comes from the provider's default_tags".into());
                }
                let (at, line) = object_insert(stext, obj, key, actual)?;
                Ok(Change::Edits(
                    vec![self.edit(site.file, at..at, line, owner)],
                    site.file.to_string(),
                    "(not set)".into(),
                ))
            }
        }
    }

    /// A security group rule atom: `ingress["tcp:22-22:cidr:0.0.0.0/0"]`.
    #[allow(clippy::too_many_arguments)]
    fn sg_rule(
        &mut self,
        res: &Resource<'w>,
        d: &ProposedDrift,
        dir: &str,
        key: &str,
        expected: &Value,
        actual: &Value,
        owner: &(usize, String),
    ) -> Result<Change, Human> {
        let rule = RuleKey::parse(key).ok_or("unrecognized rule key")?;
        let text = self.ws.text(res.file);
        let body = &res.block.body;
        if body.get_blocks("dynamic").next().is_some() {
            return Err("the security group uses dynamic blocks: edit its rules by hand".into());
        }
        if body.has_attribute("ingress") || body.has_attribute("egress") {
            return Err(
                "rules are written as attributes (`ingress = [...]`): edit them by hand".into(),
            );
        }
        let path = [dir.to_string(), key.to_string()];
        self.shared_check(res, d, &path, actual, false)?;
        let blocks: Vec<&Block> = body.get_blocks(dir).collect();
        let matching: Vec<(&Block, RulePeers)> = blocks
            .iter()
            .filter_map(|b| RulePeers::of(b).map(|p| (*b, p)))
            .filter(|(_, p)| {
                p.proto == rule.proto
                    && (rule.proto == "all" || (p.from, p.to) == (rule.from, rule.to))
            })
            .filter(|(_, p)| p.contains(&rule))
            .collect();
        let all_literal = blocks.iter().all(|b| RulePeers::of(b).is_some());
        match (expected.is_null(), actual.is_null()) {
            (true, false) => {
                if !matching.is_empty() {
                    return Ok(Change::AlreadyLive);
                }
                if body.get_blocks("ingress").next().is_none()
                    && body.get_blocks("egress").next().is_none()
                {
                    return Err("this group has no inline rules (it probably uses standalone rule resources): add an aws_vpc_security_group_*_rule resource by hand".into());
                }
                let ind = child_indent(text, res.block);
                let unit = indent_unit(text, res.block, &ind);
                let block = rule.render(dir, actual.as_str().unwrap_or(""), &ind, &unit);
                // After the last rule block of either direction, else at the end.
                let last = body
                    .blocks()
                    .filter(|b| b.has_ident("ingress") || b.has_ident("egress"))
                    .filter_map(|b| b.span())
                    .max_by_key(|s| s.end);
                let (at, block) = match last {
                    Some(s) => (line_end_incl(text, s.end), format!("\n{block}")),
                    None => (block_insert_end(text, res.block)?, format!("\n{block}")),
                };
                Ok(Change::Edits(
                    vec![self.edit(res.file, at..at, block, owner)],
                    res.file.to_string(),
                    "(not set)".into(),
                ))
            }
            (false, true) => {
                let [(b, peers)] = &matching[..] else {
                    return Err(if matching.is_empty() && !all_literal {
                        "the rule is not written literally (computed ports or peers): remove it by hand".into()
                    } else if matching.is_empty() {
                        "no matching rule block in the code: a code change is waiting to be applied?".into()
                    } else {
                        "several blocks declare this rule: remove it by hand".into()
                    });
                };
                let bspan = b.span().ok_or("no position information")?;
                let code_value = format!("{dir} block ({} peer(s))", peers.count);
                if peers.count == 1 {
                    let mut r = whole_lines(text, &bspan)
                        .ok_or("the rule block shares its line with other code")?;
                    // Drop one separating blank line too.
                    let prev_blank = r.start > 0 && {
                        let pl = line_start(text, r.start - 1);
                        is_blank_line(text, pl)
                    };
                    if prev_blank
                        && (is_blank_line(text, r.end)
                            || text[r.end..].trim_start().starts_with('}'))
                    {
                        r.start = line_start(text, r.start - 1);
                    }
                    return Ok(Change::Edits(
                        vec![self.edit(res.file, r, String::new(), owner)],
                        res.file.to_string(),
                        code_value,
                    ));
                }
                let (arr, idx) = peers
                    .element(&rule)
                    .ok_or("the peer is not in a literal list")?;
                let r = remove_element_range(text, arr, idx)?;
                Ok(Change::Edits(
                    vec![self.edit(res.file, r, String::new(), owner)],
                    res.file.to_string(),
                    code_value,
                ))
            }
            (false, false) => {
                let [(b, peers)] = &matching[..] else {
                    return Err("cannot find exactly one block for this rule: change its description by hand".into());
                };
                if peers.count > 1 {
                    return Err("the description is shared by several peers of one block in code but differs live: split the block by hand".into());
                }
                let new = actual.as_str().unwrap_or("");
                match b.body.get_attribute("description") {
                    Some(a) => {
                        let s = a.value.span().ok_or("no position information")?;
                        let code_value = text[s.clone()].to_string();
                        if literal(&a.value).is_none() {
                            return Err("the description is computed: change it by hand".into());
                        }
                        Ok(Change::Edits(
                            vec![self.edit(res.file, s, quote(new), owner)],
                            res.file.to_string(),
                            code_value,
                        ))
                    }
                    None => {
                        let (at, indent, eq_col) = attr_insert_point(text, b)?;
                        Ok(Change::Edits(
                            vec![self.edit(
                                res.file,
                                at..at,
                                attr_line(&indent, "description", &quote(new), eq_col),
                                owner,
                            )],
                            res.file.to_string(),
                            "(not set)".into(),
                        ))
                    }
                }
            }
            (true, true) => Ok(Change::AlreadyLive),
        }
    }

    fn edit(&self, file: &str, range: Range<usize>, text: String, owner: &(usize, String)) -> Edit {
        Edit {
            file: file.to_string(),
            range,
            text,
            seq: self.edits.len() + self.plan.applied.len(),
            owner: owner.clone(),
        }
    }

    /// A value written once for every instance of a `count`/`for_each`
    /// resource may only change when every instance drifted the same way.
    fn shared_check(
        &self,
        res: &Resource<'w>,
        d: &ProposedDrift,
        path: &[String],
        actual: &Value,
        per_instance: bool,
    ) -> Result<(), Human> {
        if res.addr.key.is_none() || per_instance {
            return Ok(());
        }
        let rendered = d
            .attributes
            .iter()
            .find(|a| parse_path(&a.path).as_deref() == Some(path))
            .map(|a| a.path.clone())
            .unwrap_or_default();
        let all = self.instances(res);
        let Some(all) = all else {
            return Err(format!("the value is shared by every instance of {}.{} and the number of instances is computed: change it by hand", res.addr.rtype, res.addr.name));
        };
        let base = strip_key(d.address.as_deref().unwrap_or(""));
        let drifted: BTreeSet<InstanceKey> = self
            .drifts
            .iter()
            .filter(|x| x.kind == DriftKind::Changed)
            .filter(|x| x.address.as_deref().map(strip_key) == Some(base))
            .filter(|x| {
                x.attributes
                    .iter()
                    .any(|a| a.path == rendered && same(&a.actual, actual))
            })
            .filter_map(|x| parse_address(x.address.as_deref()?)?.key)
            .collect();
        let missing: Vec<String> = all
            .iter()
            .filter(|k| !drifted.contains(k))
            .map(show_key)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the value is shared by all {} instances of {base}, but {} did not drift the same way: change it by hand (or index it per instance)",
                all.len(),
                missing.join(", ")
            ))
        }
    }

    /// Every instance key of a `count`/`for_each` resource, when literal.
    fn instances(&self, res: &Resource<'w>) -> Option<Vec<InstanceKey>> {
        let body = &res.block.body;
        if let Some(c) = body.get_attribute("count") {
            let site = self
                .resolve(&res.scope, res.file, &c.value, Inst::NONE, 1)
                .ok()?;
            let n = literal(site.expr)?.as_i64()?;
            return Some((0..n).map(InstanceKey::Int).collect());
        }
        let fe = body.get_attribute("for_each")?;
        let site = self
            .resolve(&res.scope, res.file, &fe.value, Inst::NONE, 1)
            .ok()?;
        match literal(unwrap_conversion(site.expr))? {
            Value::Object(o) => Some(o.keys().map(|k| InstanceKey::Str(k.clone())).collect()),
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(|s| InstanceKey::Str(s.to_string())))
                .collect(),
            _ => None,
        }
    }

    // -- resolving expressions to literals ------------------------------------

    fn resolve(
        &self,
        scope: &Scope<'w>,
        file: &'w str,
        expr: &'w Expression,
        inst: Inst<'w, '_>,
        depth: usize,
    ) -> Result<Site<'w>, Human> {
        let key = inst.key;
        if depth > 8 {
            return Err(
                "the value is defined through too many indirections: change it by hand".into(),
            );
        }
        let inner = unwrap_conversion(expr);
        if !std::ptr::eq(inner, expr) {
            // `toset([...])`, `tolist(...)`, `tomap({...})`: the literal inside.
            return self.resolve(scope, file, inner, inst, depth + 1);
        }
        if literal(expr).is_some() || is_container(expr) {
            return Ok(Site {
                file,
                expr,
                per_instance: false,
                via: Vec::new(),
            });
        }
        let computed = || {
            let t = self.ws.text(file);
            let src = expr.span().map(|s| t[s].to_string()).unwrap_or_default();
            format!(
                "the value is computed (`{}`): change it by hand",
                src.trim()
            )
        };
        let (root, ops): (&str, &[hcl_edit::Decorated<TraversalOperator>]) = match expr {
            Expression::Variable(v) => (v.value().as_str(), &[]),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(v) => (v.value().as_str(), &t.operators[..]),
                _ => return Err(computed()),
            },
            Expression::Parenthesis(p) => {
                return self.resolve(scope, file, p.inner(), inst, depth + 1)
            }
            _ => return Err(computed()),
        };
        let attr_name = |i: usize| match ops.get(i).map(|o| o.value()) {
            Some(TraversalOperator::GetAttr(n)) => Some(n.value().as_str()),
            _ => None,
        };
        let (mut site, rest) = match root {
            "var" => {
                let name = attr_name(0).ok_or_else(computed)?;
                (self.variable(scope, name, depth)?, &ops[1..])
            }
            "local" => {
                let name = attr_name(0).ok_or_else(computed)?;
                self.used_once(&scope.dir, &format!("local.{name}"))?;
                let found: Vec<(&str, &Expression)> = self
                    .ws
                    .tf(&scope.dir)
                    .into_iter()
                    .flat_map(|(f, b)| {
                        b.get_blocks("locals")
                            .filter_map(|l| l.body.get_attribute(name))
                            .map(move |a| (f, &a.value))
                    })
                    .collect();
                let [(f, e)] = found[..] else {
                    return Err(computed());
                };
                let mut s = self.resolve(scope, f, e, inst, depth + 1)?;
                s.via.insert(0, format!("local.{name}"));
                (s, &ops[1..])
            }
            "each" => {
                if attr_name(0) != Some("value") {
                    return Err(computed());
                }
                return self
                    .each_value(scope, inst, &ops[1..], depth)
                    .ok_or_else(computed);
            }
            _ => return Err(computed()),
        };
        for op in rest {
            site = self.step(site, op.value(), key).ok_or_else(computed)?;
        }
        if literal(site.expr).is_none() && !is_container(site.expr) {
            return Err(computed());
        }
        Ok(site)
    }

    /// `each.value...`: the entry of the resource's literal `for_each` map.
    fn each_value(
        &self,
        scope: &Scope<'w>,
        inst: Inst<'w, '_>,
        rest: &'w [hcl_edit::Decorated<TraversalOperator>],
        depth: usize,
    ) -> Option<Site<'w>> {
        let Some(InstanceKey::Str(k)) = inst.key else {
            return None;
        };
        let (file, fe) = inst.for_each?;
        let s = self.resolve(scope, file, fe, Inst::NONE, depth + 1).ok()?;
        let Expression::Object(o) = s.expr else {
            return None;
        };
        let (_, v) = o.iter().find(|(ok, _)| key_str(ok).as_deref() == Some(k))?;
        let mut site = Site {
            file: s.file,
            expr: v.expr(),
            per_instance: true,
            via: s.via.clone(),
        };
        for op in rest {
            site = self.step(site, op.value(), inst.key)?;
        }
        literal(site.expr).map(|_| site)
    }

    /// Apply one traversal operator to a literal site.
    fn step(
        &self,
        site: Site<'w>,
        op: &'w TraversalOperator,
        key: &Option<InstanceKey>,
    ) -> Option<Site<'w>> {
        let (sel, per_instance) = match op {
            TraversalOperator::GetAttr(n) => (Value::String(n.value().as_str().into()), false),
            TraversalOperator::LegacyIndex(i) => (Value::from(*i.value()), false),
            TraversalOperator::Index(e) => match literal(e) {
                Some(v) => (v, false),
                None => {
                    let t = match e {
                        Expression::Traversal(t) => t,
                        _ => return None,
                    };
                    let root = match &t.expr {
                        Expression::Variable(v) => v.value().as_str(),
                        _ => return None,
                    };
                    let attr = match t.operators.first().map(|o| o.value()) {
                        Some(TraversalOperator::GetAttr(n)) if t.operators.len() == 1 => {
                            n.value().as_str()
                        }
                        _ => return None,
                    };
                    match (root, attr, key) {
                        ("count", "index", Some(InstanceKey::Int(i))) => (Value::from(*i), true),
                        ("each", "key", Some(InstanceKey::Str(k))) => {
                            (Value::String(k.clone()), true)
                        }
                        _ => return None,
                    }
                }
            },
            _ => return None,
        };
        let next: &'w Expression = match (site.expr, &sel) {
            (Expression::Array(a), v) => {
                a.get(usize::try_from(v.as_i64().or_else(|| v.as_str()?.parse().ok())?).ok()?)?
            }
            (Expression::Object(o), v) => {
                let k = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                o.iter()
                    .find(|(ok, _)| key_str(ok).as_deref() == Some(&k))?
                    .1
                    .expr()
            }
            _ => return None,
        };
        Some(Site {
            file: site.file,
            expr: next,
            per_instance: site.per_instance || per_instance,
            via: site.via,
        })
    }

    /// Where `var.name` gets its value: the calling module block's argument,
    /// a `.tfvars` entry (root module), or the variable's literal default.
    fn variable(&self, scope: &Scope<'w>, name: &str, depth: usize) -> Result<Site<'w>, Human> {
        self.used_once(&scope.dir, &format!("var.{name}"))?;
        if let Some((block, file, caller)) = &scope.caller {
            if let Some(a) = block.body.get_attribute(name) {
                let mut s = self.resolve(caller, file, &a.value, Inst::NONE, depth + 1)?;
                s.via.insert(0, format!("module argument {name}"));
                return Ok(s);
            }
        } else {
            // .tfvars: terraform.tfvars, then *.auto.tfvars in order, last wins.
            let mut auto: Vec<&str> = Vec::new();
            let mut other: Vec<&str> = Vec::new();
            for (p, b) in &self.ws.bodies {
                if parent(p) != scope.dir || !p.ends_with(".tfvars") || !b.has_attribute(name) {
                    continue;
                }
                let base = p.rsplit('/').next().unwrap_or(p);
                if base == "terraform.tfvars" || base.ends_with(".auto.tfvars") {
                    auto.push(p);
                } else {
                    other.push(p);
                }
            }
            auto.sort_by_key(|p| {
                (
                    !p.ends_with("/terraform.tfvars") && *p != "terraform.tfvars",
                    *p,
                )
            });
            let pick = match (auto.last(), &other[..]) {
                (Some(p), _) => Some(*p),
                (None, [p]) => Some(*p),
                (None, []) => None,
                (None, many) => {
                    return Err(format!(
                        "var.{name} is set in several .tfvars files ({}): which one applies depends on -var-file; change it by hand",
                        many.join(", ")
                    ))
                }
            };
            if let Some(p) = pick {
                let body = &self.ws.bodies[p];
                let a = body.get_attribute(name).expect("checked");
                if literal(&a.value).is_none() {
                    return Err(format!("var.{name} in {p} is not a literal"));
                }
                let p: &'w str = self.ws.bodies.get_key_value(p).expect("present").0;
                return Ok(Site {
                    file: p,
                    expr: &a.value,
                    per_instance: false,
                    via: vec![format!("var.{name} in {p}")],
                });
            }
        }
        for (f, b) in self.ws.tf(&scope.dir) {
            if let Some(v) = b
                .get_blocks("variable")
                .find(|v| v.has_exact_labels(&[name]))
            {
                return match v.body.get_attribute("default") {
                    Some(a) if literal(&a.value).is_some() => Ok(Site {
                        file: f,
                        expr: &a.value,
                        per_instance: false,
                        via: vec![format!("var.{name} default")],
                    }),
                    _ => Err(format!("var.{name} has no literal default and no .tfvars entry (it is set by -var, TF_VAR_{name} or the pipeline): change it there")),
                };
            }
        }
        Err(format!(
            "variable \"{name}\" not found in {}",
            show_dir(&scope.dir)
        ))
    }

    /// Refuse to edit a variable or local that several places read.
    fn used_once(&self, dir: &str, name: &str) -> Result<(), Human> {
        let mut n = 0;
        for (p, _) in self.ws.tf(dir) {
            let t = self.ws.text(p);
            let mut from = 0;
            while let Some(i) = t[from..].find(name) {
                let at = from + i;
                let end = at + name.len();
                let before_ok = at == 0 || !is_word(t.as_bytes()[at - 1]);
                let after_ok = end >= t.len() || !is_word(t.as_bytes()[end]);
                if before_ok && after_ok {
                    n += 1;
                }
                from = end;
            }
        }
        if n > 1 {
            Err(format!("{name} is used in {n} places in {}: changing it would change more than the drifted resource; change it by hand", show_dir(dir)))
        } else {
            Ok(())
        }
    }
}

/// Offsets of `needle` in `t` not inside a longer word (`aws_x.y` but not
/// `aws_x.yz` or `data.aws_x.y`).
fn word_matches(t: &str, needle: &str) -> Vec<usize> {
    let b = t.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = t[from..].find(needle) {
        let at = from + i;
        let end = at + needle.len();
        let before_ok = at == 0 || !(is_word(b[at - 1]) || b[at - 1] == b'.');
        let after_ok = end >= b.len() || !is_word(b[end]);
        if before_ok && after_ok {
            out.push(at);
        }
        from = end;
    }
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

enum Change {
    Edits(Vec<Edit>, String, String),
    /// The code already has the live value (changed another way).
    AlreadyLive,
}

fn is_absent(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

fn strip_key(a: &str) -> &str {
    match a.rfind('[') {
        Some(i) if a.ends_with(']') && !a[i..].contains('.') => &a[..i],
        _ => a,
    }
}

fn show_key(k: &InstanceKey) -> String {
    match k {
        InstanceKey::Int(i) => format!("[{i}]"),
        InstanceKey::Str(s) => format!("[{}]", Value::String(s.clone())),
    }
}

fn show_dir(d: &str) -> String {
    if d.is_empty() {
        "the stack directory".into()
    } else {
        d.to_string()
    }
}

// -- block geometry ----------------------------------------------------------

/// Indentation of the structures inside `block` (from its first structure,
/// else the block's own indentation plus two spaces).
fn child_indent(t: &str, block: &Block) -> String {
    if let Some(s) = block.body.iter().find_map(|s| s.span()) {
        if alone_before(t, s.start) {
            return indent_of(t, s.start);
        }
    }
    let bs = block.span().map(|s| s.start).unwrap_or(0);
    format!("{}  ", indent_of(t, bs))
}

/// One level of indentation, as used by this block.
fn indent_unit(t: &str, block: &Block, child: &str) -> String {
    let bs = block.span().map(|s| s.start).unwrap_or(0);
    let own = indent_of(t, bs);
    child
        .strip_prefix(own.as_str())
        .filter(|u| !u.is_empty())
        .unwrap_or("  ")
        .to_string()
}

fn ind_n(base: &str, unit: &str, n: usize) -> String {
    format!("{base}{}", unit.repeat(n))
}

/// Where a new structure goes at the end of a block: the start of the line
/// holding its closing brace.
fn block_insert_end(t: &str, block: &Block) -> Result<usize, Human> {
    let s = block.span().ok_or("no position information")?;
    let close = s.end - 1;
    if t.as_bytes().get(close) != Some(&b'}') {
        return Err("unexpected block layout".into());
    }
    if !alone_before(t, close) {
        return Err("the block is written on one line: edit it by hand".into());
    }
    Ok(line_start(t, close))
}

/// Where a new attribute goes: after the last attribute of the block (else
/// at the start of the body); with its indentation and `=` column.
fn attr_insert_point(t: &str, block: &Block) -> Result<(usize, String, Option<usize>), Human> {
    let indent = child_indent(t, block);
    // After the attributes that lead the body (Terraform style puts
    // arguments before nested blocks), else after the last attribute.
    let mut leading = None;
    let mut group = Vec::new();
    for st in block.body.iter() {
        if st.is_block() {
            break;
        }
        leading = st.span();
        if let Some(s) = st.span() {
            group.push(s.start);
        }
    }
    let had_leading = leading.is_some();
    let last_attr = leading.or_else(|| {
        block
            .body
            .attributes()
            .filter_map(|a| a.span())
            .max_by_key(|s| s.end)
    });
    match last_attr {
        Some(s) => {
            if !alone_after(t, s.end) {
                return Err("the block is written on one line: edit it by hand".into());
            }
            if !had_leading {
                group = vec![s.start];
            }
            let eq = aligned_eq_col(t, &group);
            Ok((line_end_incl(t, s.end), indent, eq))
        }
        None => {
            let bs = block.span().ok_or("no position information")?;
            let open = t[bs.clone()]
                .find('{')
                .map(|i| bs.start + i)
                .ok_or("unexpected block layout")?;
            if !alone_after(t, open + 1) {
                return Err("the block is written on one line: edit it by hand".into());
            }
            Ok((line_end_incl(t, open + 1), indent, None))
        }
    }
}

/// Removal range for an object entry spanning `r`: whole lines when the
/// entry has its own line, else the entry and one separating comma.
fn remove_entry_range(t: &str, obj: &Object, r: Range<usize>) -> Result<Range<usize>, Human> {
    if let Some(lines) = whole_lines(t, &r) {
        return Ok(lines);
    }
    let _ = obj;
    inline_removal(t, r)
}

fn inline_removal(t: &str, r: Range<usize>) -> Result<Range<usize>, Human> {
    let after = &t[r.end..];
    let trimmed = after.trim_start_matches([' ', '\t']);
    if let Some(rest) = trimmed.strip_prefix(',') {
        let ws = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let end = t.len() - rest.len() + ws;
        return Ok(r.start..end);
    }
    // Last entry: eat the comma before it.
    let before = &t[..r.start];
    let b = before.trim_end_matches([' ', '\t']);
    if let Some(b2) = b.strip_suffix(',') {
        return Ok(b2.len()..r.end);
    }
    // Only entry on a one-line collection.
    if b.ends_with('{') || b.ends_with('[') {
        let ws_after = after.len() - trimmed.len();
        return Ok(b.len()..r.end + ws_after);
    }
    Err("cannot remove the entry without reformatting: edit it by hand".into())
}

fn remove_element_range(
    t: &str,
    arr: &hcl_edit::expr::Array,
    idx: usize,
) -> Result<Range<usize>, Human> {
    let r = arr
        .get(idx)
        .and_then(|e| e.span())
        .ok_or("no position information")?;
    if let Some(lines) = whole_lines(t, &r) {
        return Ok(lines);
    }
    inline_removal(t, r)
}

/// Insertion point and text for a new `key = value` entry of an object.
fn object_insert(
    t: &str,
    obj: &Object,
    key: &str,
    value: &Value,
) -> Result<(usize, String), Human> {
    let entries: Vec<(Range<usize>, Range<usize>)> = obj
        .iter()
        .filter_map(|(k, v)| Some((k.span()?, v.expr().span()?)))
        .collect();
    let close = {
        let s = obj.span().ok_or("no position information")?;
        s.end - 1
    };
    let rendered_key = render_key(key);
    match entries.last() {
        Some((ks, vs)) if alone_before(t, ks.start) && alone_after(t, vs.end) => {
            let indent = indent_of(t, ks.start);
            let starts: Vec<usize> = entries.iter().map(|(k, _)| k.start).collect();
            let eq = aligned_eq_col(t, &starts);
            // After the last entry's line (the closing brace has its own line,
            // or follows right after).
            let at = line_end_incl(t, vs.end);
            if at > close {
                return Err("unexpected object layout".into());
            }
            Ok((at, attr_line(&indent, &rendered_key, &render(value), eq)))
        }
        Some((_, vs)) => {
            // One-line object: `{ a = "b" }` -> `{ a = "b", k = "v" }`.
            Ok((vs.end, format!(", {rendered_key} = {}", render(value))))
        }
        None => {
            let open = obj.span().ok_or("no position information")?.start;
            let indent = indent_of(t, open);
            if alone_before(t, close) && close > open {
                Ok((
                    line_start(t, close),
                    attr_line(
                        &format!("{indent}    "),
                        &rendered_key,
                        &render(value),
                        None,
                    ),
                ))
            } else {
                Ok((open + 1, format!(" {rendered_key} = {} ", render(value))))
            }
        }
    }
}

// -- security group rules ----------------------------------------------------

/// A parsed rule key `<protocol>:<from>-<to>|*:<cidr|ipv6|pl|sg>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuleKey {
    proto: String,
    from: i64,
    to: i64,
    kind: String,
    value: String,
}

impl RuleKey {
    fn parse(k: &str) -> Option<Self> {
        let mut it = k.splitn(4, ':');
        let proto = it.next()?.to_string();
        let ports = it.next()?;
        let kind = it.next()?.to_string();
        let value = it.next()?.to_string();
        let (from, to) = if ports == "*" {
            (0, 0)
        } else {
            let (a, b) = ports
                .rsplit_once('-')
                .filter(|(a, _)| !a.is_empty())
                .or_else(|| {
                    // Negative ports (`-1--1`) for ICMP.
                    let i = ports[1..].find('-')? + 1;
                    Some((&ports[..i], &ports[i + 1..]))
                })?;
            (a.parse().ok()?, b.parse().ok()?)
        };
        if !matches!(kind.as_str(), "cidr" | "ipv6" | "pl" | "sg") {
            return None;
        }
        Some(Self {
            proto,
            from,
            to,
            kind,
            value,
        })
    }

    fn list_attr(&self) -> &'static str {
        match self.kind.as_str() {
            "cidr" => "cidr_blocks",
            "ipv6" => "ipv6_cidr_blocks",
            "pl" => "prefix_list_ids",
            _ => "security_groups",
        }
    }

    fn render(&self, dir: &str, description: &str, ind: &str, unit: &str) -> String {
        let (proto, from, to) = if self.proto == "all" {
            ("-1".to_string(), 0, 0)
        } else {
            (self.proto.clone(), self.from, self.to)
        };
        let mut rows: Vec<(&str, String)> = vec![
            ("from_port", from.to_string()),
            ("to_port", to.to_string()),
            ("protocol", quote(&proto)),
            (self.list_attr(), format!("[{}]", quote(&self.value))),
        ];
        if !description.is_empty() {
            rows.push(("description", quote(description)));
        }
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut o = format!("{ind}{dir} {{\n");
        for (k, v) in rows {
            o.push_str(&format!("{ind}{unit}{k:<w$} = {v}\n"));
        }
        o.push_str(&format!("{ind}}}\n"));
        o
    }
}

/// The literal protocol, ports and peers of an inline rule block.
struct RulePeers<'w> {
    proto: String,
    from: i64,
    to: i64,
    lists: HashMap<&'static str, &'w hcl_edit::expr::Array>,
    count: usize,
}

impl<'w> RulePeers<'w> {
    fn of(b: &'w Block) -> Option<Self> {
        let get = |k: &str| b.body.get_attribute(k).map(|a| &a.value);
        let proto = literal(get("protocol")?)?;
        let proto = driftd_aws::normalize::ip_protocol(&match proto {
            Value::String(s) => s,
            other => other.to_string(),
        });
        let num = |k: &str| -> Option<i64> {
            match literal(get(k)?)? {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
        };
        let from = num("from_port")?;
        let to = num("to_port")?;
        let mut lists = HashMap::new();
        let mut count = 0;
        for k in [
            "cidr_blocks",
            "ipv6_cidr_blocks",
            "prefix_list_ids",
            "security_groups",
        ] {
            match get(k) {
                None => {}
                Some(Expression::Array(a)) => {
                    if a.iter().any(|e| literal(e).is_none()) {
                        return None;
                    }
                    count += a.len();
                    lists.insert(k, a);
                }
                Some(_) => return None,
            }
        }
        match get("self").map(literal) {
            None | Some(Some(Value::Bool(false))) => {}
            Some(Some(Value::Bool(true))) => count += 1,
            _ => return None,
        }
        Some(Self {
            proto,
            from,
            to,
            lists,
            count,
        })
    }

    fn element(&self, rule: &RuleKey) -> Option<(&'w hcl_edit::expr::Array, usize)> {
        let arr = *self.lists.get(rule.list_attr())?;
        let idx = arr.iter().position(|e| {
            literal(e)
                .and_then(|v| v.as_str().map(str::to_string))
                .is_some_and(|v| {
                    if rule.kind == "sg" {
                        driftd_aws::normalize::group_ref(&v) == rule.value
                    } else {
                        v == rule.value
                    }
                })
        })?;
        Some((arr, idx))
    }

    fn contains(&self, rule: &RuleKey) -> bool {
        self.element(rule).is_some()
    }
}
