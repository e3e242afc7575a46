//! The `[github]` table and each stack's `code` table.
//!
//! Why here and not in `config.rs`: the pull request stage owns its settings
//! and their validation; the main config passes the raw TOML and merges the
//! errors (field path, message) into its own list, so a user still sees every
//! problem of the file at once. Secrets are never inline: a token comes from
//! an environment variable or a file, a GitHub App key from a file.

use std::path::Path;

use super::{
    CodeLocation, CodeOptions, GithubAuth, GithubSettings, GroupBy, ImportRule, MissingMode,
};
use crate::env::Env;

pub const DEFAULT_API_URL: &str = "https://api.github.com";

type Errs = Vec<(String, String)>;

fn table<'a>(
    v: &'a toml::Value,
    field: &str,
    allowed: &[&str],
    errs: &mut Errs,
) -> Option<&'a toml::map::Map<String, toml::Value>> {
    let Some(t) = v.as_table() else {
        errs.push((field.into(), "must be a table".into()));
        return None;
    };
    for k in t.keys() {
        if k == "token" && allowed.contains(&"token_env") {
            errs.push((
                format!("{field}.token"),
                "tokens are never written in the config file (it ends up in repositories and logs): use token_env = \"GITHUB_TOKEN\" (the default) or token_file = \"/path/to/token\"".into(),
            ));
        } else if !allowed.contains(&k.as_str()) {
            errs.push((
                format!("{field}.{k}"),
                format!("unknown field; expected one of: {}", allowed.join(", ")),
            ));
        }
    }
    Some(t)
}

fn string(
    t: &toml::map::Map<String, toml::Value>,
    field: &str,
    key: &str,
    errs: &mut Errs,
) -> Option<String> {
    match t.get(key)? {
        toml::Value::String(s) => Some(s.clone()),
        _ => {
            errs.push((format!("{field}.{key}"), "must be a string".into()));
            None
        }
    }
}

fn integer(
    t: &toml::map::Map<String, toml::Value>,
    field: &str,
    key: &str,
    errs: &mut Errs,
) -> Option<i64> {
    match t.get(key)? {
        toml::Value::Integer(i) => Some(*i),
        _ => {
            errs.push((format!("{field}.{key}"), "must be an integer".into()));
            None
        }
    }
}

const GITHUB_KEYS: &[&str] = &[
    "api_url",
    "token_env",
    "token_file",
    "app_id",
    "installation_id",
    "private_key_file",
    "max_open_prs",
    "labels",
    "branch_prefix",
    "group_by",
    "committer_name",
    "committer_email",
];

/// Parse and validate `[github]`. `None` (no table) means defaults with a
/// token from `GITHUB_TOKEN`.
pub fn parse_github(
    v: Option<&toml::Value>,
    env: &dyn Env,
) -> Result<GithubSettings, Vec<(String, String)>> {
    let f = "github";
    let mut errs = Errs::new();
    let empty = toml::Value::Table(Default::default());
    let t = match table(v.unwrap_or(&empty), f, GITHUB_KEYS, &mut errs) {
        Some(t) => t,
        None => return Err(errs),
    };
    let mut s = GithubSettings::new(GithubAuth::Token(String::new()));

    if let Some(url) = string(t, f, "api_url", &mut errs) {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errs.push((
                "github.api_url".into(),
                format!("`{url}` is not an http(s) URL: use https://api.github.com or https://HOST/api/v3 for GitHub Enterprise"),
            ));
        }
        s.api_url = url;
    }

    let app_id = integer(t, f, "app_id", &mut errs);
    let installation_id = integer(t, f, "installation_id", &mut errs);
    let key_file = string(t, f, "private_key_file", &mut errs);
    let token_env = string(t, f, "token_env", &mut errs);
    let token_file = string(t, f, "token_file", &mut errs);
    let app = app_id.is_some() || installation_id.is_some() || key_file.is_some();
    if app {
        if token_env.is_some() || token_file.is_some() {
            errs.push((
                "github".into(),
                "choose one authentication: a token (token_env/token_file) or a GitHub App (app_id, installation_id, private_key_file)".into(),
            ));
        }
        let mut missing = Vec::new();
        if app_id.is_none() {
            missing.push("app_id");
        }
        if installation_id.is_none() {
            missing.push("installation_id");
        }
        if key_file.is_none() {
            missing.push("private_key_file");
        }
        if !missing.is_empty() {
            errs.push((
                "github".into(),
                format!(
                    "GitHub App authentication needs app_id, installation_id and private_key_file; missing: {}",
                    missing.join(", ")
                ),
            ));
        }
        let pem = key_file.as_ref().and_then(|p| match std::fs::read_to_string(p) {
            Ok(k) if k.contains("PRIVATE KEY") => Some(k),
            Ok(_) => {
                errs.push((
                    "github.private_key_file".into(),
                    format!("{p} does not contain a PEM private key (download it from the App's settings page)"),
                ));
                None
            }
            Err(e) => {
                errs.push((
                    "github.private_key_file".into(),
                    format!("cannot read {p}: {e}"),
                ));
                None
            }
        });
        for (k, v) in [("app_id", app_id), ("installation_id", installation_id)] {
            if v.is_some_and(|v| v <= 0) {
                errs.push((format!("github.{k}"), "must be a positive integer".into()));
            }
        }
        if let (Some(a), Some(i), Some(pem)) = (app_id, installation_id, pem) {
            s.auth = GithubAuth::App {
                app_id: a.max(0) as u64,
                installation_id: i.max(0) as u64,
                private_key_pem: pem,
            };
        }
    } else if let Some(p) = token_file {
        match std::fs::read_to_string(&p) {
            Ok(tok) if !tok.trim().is_empty() => s.auth = GithubAuth::Token(tok.trim().into()),
            Ok(_) => errs.push(("github.token_file".into(), format!("{p} is empty"))),
            Err(e) => errs.push(("github.token_file".into(), format!("cannot read {p}: {e}"))),
        }
        if token_env.is_some() {
            errs.push((
                "github".into(),
                "set token_env or token_file, not both".into(),
            ));
        }
    } else {
        let name = token_env.unwrap_or_else(|| "GITHUB_TOKEN".into());
        match env.var(&name) {
            Some(tok) if !tok.trim().is_empty() => s.auth = GithubAuth::Token(tok.trim().into()),
            _ => errs.push((
                "github.token_env".into(),
                format!("environment variable {name} is not set: export a GitHub token with contents and pull requests write access, or set token_file, or a GitHub App"),
            )),
        }
    }

    if let Some(n) = integer(t, f, "max_open_prs", &mut errs) {
        if !(1..=1000).contains(&n) {
            errs.push((
                "github.max_open_prs".into(),
                format!("{n} is out of range: use 1 to 1000"),
            ));
        } else {
            s.max_open_prs = n as usize;
        }
    }
    match t.get("labels") {
        None => {}
        Some(toml::Value::Array(a)) => {
            let mut labels = Vec::new();
            for (i, l) in a.iter().enumerate() {
                match l.as_str() {
                    Some(l) if !l.trim().is_empty() => labels.push(l.to_string()),
                    _ => errs.push((
                        format!("github.labels[{i}]"),
                        "must be a non-empty string".into(),
                    )),
                }
            }
            s.labels = labels;
        }
        Some(_) => errs.push((
            "github.labels".into(),
            "must be a list of strings, e.g. [\"drift\"]".into(),
        )),
    }
    if let Some(p) = string(t, f, "branch_prefix", &mut errs) {
        let p = p.trim_end_matches('/').to_string();
        if p.is_empty()
            || p.starts_with('/')
            || p.contains("..")
            || p.chars()
                .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c))
        {
            errs.push((
                "github.branch_prefix".into(),
                format!("`{p}` is not a valid git branch prefix"),
            ));
        }
        s.branch_prefix = p;
    }
    if let Some(g) = string(t, f, "group_by", &mut errs) {
        match g.as_str() {
            "stack" => s.group_by = GroupBy::Stack,
            "resource" => s.group_by = GroupBy::Resource,
            other => errs.push((
                "github.group_by".into(),
                format!("`{other}` is not one of: stack, resource"),
            )),
        }
    }
    if let Some(n) = string(t, f, "committer_name", &mut errs) {
        s.committer_name = n;
    }
    if let Some(e) = string(t, f, "committer_email", &mut errs) {
        if !e.contains('@') {
            errs.push((
                "github.committer_email".into(),
                format!("`{e}` is not an email address"),
            ));
        }
        s.committer_email = e;
    }
    if errs.is_empty() {
        Ok(s)
    } else {
        Err(errs)
    }
}

/// Parse a stack's `code` table (`field` is its path, e.g. `stacks[0].code`).
///
/// ```toml
/// code = { repository = "acme/infra", base_branch = "main", directory = "stacks/app" }
/// code = { path = "../infra/stacks/app", patch_dir = "patches" }
/// ```
pub fn parse_code(
    v: &toml::Value,
    field: &str,
    base_dir: &Path,
) -> Result<CodeLocation, Vec<(String, String)>> {
    let mut errs = Errs::new();
    let keys = [
        "repository",
        "base_branch",
        "directory",
        "path",
        "patch_dir",
        "missing",
        "import",
    ];
    let Some(t) = table(v, field, &keys, &mut errs) else {
        return Err(errs);
    };
    if let Err(e) = parse_code_options(v, field) {
        errs.extend(e);
    }
    let repo = string(t, field, "repository", &mut errs);
    let path = string(t, field, "path", &mut errs);
    let out = match (repo, path) {
        (Some(_), Some(_)) | (None, None) => {
            errs.push((
                field.into(),
                "set either repository (GitHub, owner/name) or path (a local directory)".into(),
            ));
            None
        }
        (Some(r), None) => {
            let parts: Vec<&str> = r.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                errs.push((
                    format!("{field}.repository"),
                    format!("`{r}` is not owner/name"),
                ));
            }
            for k in ["patch_dir"] {
                if t.contains_key(k) {
                    errs.push((format!("{field}.{k}"), "only for local code (path)".into()));
                }
            }
            let directory = string(t, field, "directory", &mut errs)
                .unwrap_or_default()
                .trim_matches('/')
                .to_string();
            if directory.split('/').any(|s| s == "..") {
                errs.push((
                    format!("{field}.directory"),
                    "must be a path inside the repository (no `..`)".into(),
                ));
            }
            let base_branch =
                string(t, field, "base_branch", &mut errs).unwrap_or_else(|| "main".into());
            if base_branch.is_empty() {
                errs.push((format!("{field}.base_branch"), "must not be empty".into()));
            }
            Some(CodeLocation::GitHub {
                repository: r,
                base_branch,
                directory: if directory == "." {
                    String::new()
                } else {
                    directory
                },
            })
        }
        (None, Some(p)) => {
            for k in ["base_branch", "directory"] {
                if t.contains_key(k) {
                    errs.push((
                        format!("{field}.{k}"),
                        "only for GitHub code (repository)".into(),
                    ));
                }
            }
            let path = base_dir.join(&p);
            if !path.is_dir() {
                errs.push((
                    format!("{field}.path"),
                    format!("{} is not a directory", path.display()),
                ));
            }
            let patch_dir = string(t, field, "patch_dir", &mut errs)
                .map(|d| base_dir.join(d))
                .unwrap_or_else(|| path.join(".driftd-patches"));
            Some(CodeLocation::Local { path, patch_dir })
        }
    };
    match out {
        Some(c) if errs.is_empty() => Ok(c),
        _ => Err(errs),
    }
}

fn strings(
    t: &toml::map::Map<String, toml::Value>,
    field: &str,
    key: &str,
    errs: &mut Errs,
) -> Vec<String> {
    match t.get(key) {
        None => vec![],
        Some(toml::Value::String(s)) => vec![s.clone()],
        Some(toml::Value::Array(a))
            if a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        }
        Some(_) => {
            errs.push((
                format!("{field}.{key}"),
                "must be a string or a list of non-empty strings".into(),
            ));
            vec![]
        }
    }
}

/// The options of a stack's `code` table (`field` is its path):
///
/// ```toml
/// code = { repository = "acme/infra", directory = "stacks/app",
///          missing = "remove",       # or "report" (default)
///          import = { tags = { "terraform:stack" = "app" }, regions = ["eu-west-1"],
///                     vpc_ids = ["vpc-0abc"], name_prefix = "app-" } }
/// ```
///
/// Without `import` no unmanaged resource is proposed for this stack; with
/// it (a rule, or a list of rules), one matching every condition of any rule
/// (a rule needs at least one of tags, vpc_ids, name_prefix). Unmanaged
/// buckets are listed without their tags (a call per bucket): match them by
/// `name_prefix`.
pub fn parse_code_options(
    v: &toml::Value,
    field: &str,
) -> Result<CodeOptions, Vec<(String, String)>> {
    let mut errs = Errs::new();
    let mut o = CodeOptions::default();
    let Some(t) = v.as_table() else {
        return Err(vec![(field.into(), "must be a table".into())]);
    };
    if let Some(m) = string(t, field, "missing", &mut errs) {
        match m.as_str() {
            "report" => o.missing = MissingMode::Report,
            "remove" => o.missing = MissingMode::Remove,
            other => errs.push((
                format!("{field}.missing"),
                format!("`{other}` is not one of: report (default: missing resources stay in the report, to be re-applied), remove (a pull request removes their code, with a `removed` block)"),
            )),
        }
    }
    let rules: Vec<(String, &toml::Value)> = match t.get("import") {
        None => vec![],
        Some(toml::Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(n, v)| (format!("{field}.import[{n}]"), v))
            .collect(),
        Some(v) => vec![(format!("{field}.import"), v)],
    };
    for (f, i) in rules {
        let keys = ["regions", "tags", "vpc_ids", "name_prefix"];
        if let Some(it) = table(i, &f, &keys, &mut errs) {
            let mut rule = ImportRule {
                regions: strings(it, &f, "regions", &mut errs),
                vpc_ids: strings(it, &f, "vpc_ids", &mut errs),
                name_prefixes: strings(it, &f, "name_prefix", &mut errs),
                ..Default::default()
            };
            match it.get("tags") {
                None => {}
                Some(toml::Value::Table(tags)) => {
                    for (k, v) in tags {
                        match v.as_str() {
                            Some(v) => {
                                rule.tags.insert(k.clone(), v.to_string());
                            }
                            None => errs.push((format!("{f}.tags.{k}"), "must be a string".into())),
                        }
                    }
                }
                Some(_) => errs.push((
                    format!("{f}.tags"),
                    "must be a table, e.g. { \"terraform:stack\" = \"app\" }".into(),
                )),
            }
            if rule.tags.is_empty() && rule.vpc_ids.is_empty() && rule.name_prefixes.is_empty() {
                errs.push((
                    f.clone(),
                    "give at least one of tags, vpc_ids, name_prefix: a region alone would import every unmanaged resource of the region into this stack".into(),
                ));
            }
            o.import.push(rule);
        }
    }
    if errs.is_empty() {
        Ok(o)
    } else {
        Err(errs)
    }
}
