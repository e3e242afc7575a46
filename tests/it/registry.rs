//! The registry is the one source of type knowledge: the engine names no
//! AWS type, and the README tables and IAM policies agree with it.
//! (No moto: these read files and the registry.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use driftd::aws::registry;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Names that start with `aws_` but are not resource types: log targets
/// (crate names) and OpenTofu's `aws_kms` key provider.
const NOT_TYPES: &[&str] = &[
    "\"aws_smithy_",
    "\"aws_sigv4",
    "\"aws_runtime",
    "\"aws_config",
    "\"aws_credential_types",
    "\"aws_sdk_",
    "\"aws_kms\"",
];

/// Every line of the engine's code outside tests: (file, line number, line).
fn engine_code_lines() -> Vec<(PathBuf, usize, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut out = Vec::new();
    for f in files {
        // Test-only files (`#[cfg(test)] mod tests;`).
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // Every `#[cfg(test)]` in src/ opens the file's trailing test module.
        let code = match text.find("#[cfg(test)]\nmod tests {") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for (n, line) in code.lines().enumerate() {
            out.push((f.clone(), n + 1, line.to_string()));
        }
    }
    out
}

#[test]
fn the_engine_names_no_aws_type_outside_tests() {
    let mut found = Vec::new();
    for (f, n, line) in engine_code_lines() {
        let mut rest = line.as_str();
        while let Some(i) = rest.find("\"aws_") {
            let lit = &rest[i..];
            if !NOT_TYPES.iter().any(|ok| lit.starts_with(ok)) {
                found.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
            rest = &rest[i + 1..];
        }
    }
    assert!(
        found.is_empty(),
        "AWS type literals in the engine (ask the registry instead):\n{}",
        found.join("\n")
    );
}

/// Nor an EC2 or S3 operation (`"s3:PutBucketTagging"`): what a provider's
/// calls carry is declared by the provider (`s3://` URLs are not operations).
#[test]
fn the_engine_names_no_aws_operation_outside_tests() {
    let mut found = Vec::new();
    for (f, n, line) in engine_code_lines() {
        for service in ["\"ec2:", "\"s3:"] {
            let mut rest = line.as_str();
            while let Some(i) = rest.find(service) {
                let after = &rest[i + service.len()..];
                if after.starts_with(|c: char| c.is_ascii_uppercase()) {
                    found.push(format!("{}:{n}: {}", f.display(), line.trim()));
                }
                rest = after;
            }
        }
    }
    assert!(
        found.is_empty(),
        "AWS operation names in the engine (declare them in the provider):\n{}",
        found.join("\n")
    );
}

/// The type names a README table cell lists: `aws_x`, then full names or
/// `_suffix` shorthands of the first full name (`aws_s3_bucket_versioning`, `_policy`).
fn named_types(cell: &str, known: &BTreeSet<&str>) -> Vec<String> {
    let names: Vec<&str> = cell
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    let Some(first) = names.first() else {
        return vec![];
    };
    let mut out = vec![first.to_string()];
    for short in &names[1..] {
        if known.contains(short) {
            out.push(short.to_string());
            continue;
        }
        let full = first
            .match_indices('_')
            .map(|(i, _)| format!("{}{short}", &first[..i]))
            .find(|c| known.contains(c.as_str()))
            .unwrap_or_else(|| panic!("README: cannot expand {short} after {first}"));
        out.push(full);
    }
    out
}

fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading}"));
    let rest = &readme[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn readme_what_is_compared_agrees_with_the_registry() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = section(&readme, "## What is compared");
    // The generated coverage table below it is checked on its own.
    let table = &table[..table.find(COVERAGE_BEGIN).unwrap_or(table.len())];
    let known: BTreeSet<&str> = registry::names().iter().copied().collect();
    let mut listed = BTreeSet::new();
    // Every unnamed attribute at once, so one run tells the whole fix.
    let mut unnamed = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (types, attrs) = (cells[1], cells[2]);
        for t in named_types(types, &known) {
            let reg =
                registry::get(&t).unwrap_or_else(|| panic!("README lists {t}, not registered"));
            for a in reg.info.attributes {
                if !attrs.contains(a.name) {
                    unnamed.push(format!("{t}.{}", a.name));
                }
            }
            listed.insert(t);
        }
    }
    assert!(
        unnamed.is_empty(),
        "README 'What is compared' rows do not mention these compared attributes: {}",
        unnamed.join(", ")
    );
    let missing: Vec<&&str> = known.iter().filter(|t| !listed.contains(**t)).collect();
    assert!(missing.is_empty(), "README does not list {missing:?}");
}

/// The built-in rules as the README shows them (between its markers).
pub fn builtin_rules_table() -> String {
    let mut out =
        String::from("| rule | types | attributes | kinds | class |\n|---|---|---|---|---|\n");
    let list = |v: &[String]| {
        if v.is_empty() {
            "any".to_string()
        } else {
            v.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for r in driftd::policy::builtin_rules() {
        let kinds: Vec<String> = r.kinds.iter().map(|k| k.as_str().to_string()).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            r.name,
            list(&r.types),
            list(&r.attributes),
            if kinds.is_empty() {
                "any".into()
            } else {
                kinds.join(", ")
            },
            if r.critical {
                "critical"
            } else {
                "non-critical"
            }
        ));
    }
    out
}

/// The README's per-type coverage table, generated from the registry: what
/// is discoverable, what reconcile may repair in place, how the PR editor
/// edits each type's attributes.
fn coverage_table() -> String {
    use driftd_core::registry::{EditorHint, Fix};
    let mut out = String::from(
        "| type | unmanaged detection | reconciled in place | PR editing |\n|---|---|---|---|\n",
    );
    for name in registry::names() {
        let t = &registry::get(name).unwrap().info;
        let fixed: Vec<String> = t
            .attributes
            .iter()
            .filter(|a| a.fix == Fix::InPlace)
            .map(|a| format!("`{}`", a.name))
            .collect();
        let mut editing = Vec::new();
        for (attr, hint) in t.editor {
            editing.push(match hint {
                EditorHint::Plain => continue,
                EditorHint::KeyedBlocks => format!("`{attr}`: rule blocks matched by rule"),
                EditorHint::KeyedBy(keys) => format!(
                    "`{attr}`: blocks matched by {}",
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
                EditorHint::Refuse(_) => format!("`{attr}`: needs a human"),
            });
        }
        let editing = if editing.is_empty() {
            "every attribute, in place".to_string()
        } else {
            format!("in place; {}", editing.join("; "))
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            t.name,
            if t.discoverable { "yes" } else { "no" },
            if fixed.is_empty() {
                "no".to_string()
            } else {
                fixed.join(", ")
            },
            editing
        ));
    }
    out
}

const COVERAGE_BEGIN: &str =
    "<!-- coverage: generated from the registry (tests/it/registry.rs) -->\n";
const COVERAGE_END: &str = "<!-- /coverage -->";

#[test]
fn readme_coverage_table_is_the_registrys() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let want = coverage_table();
    let (a, b) = (
        readme
            .find(COVERAGE_BEGIN)
            .expect("README: coverage begin marker")
            + COVERAGE_BEGIN.len(),
        readme
            .find(COVERAGE_END)
            .expect("README: coverage end marker"),
    );
    if std::env::var_os("DRIFTD_UPDATE_DOCS").is_some() {
        let updated = format!("{}{want}{}", &readme[..a], &readme[b..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[a..b],
        want,
        "README coverage table differs from the registry: run with DRIFTD_UPDATE_DOCS=1 to regenerate"
    );
}

const BEGIN: &str = "<!-- builtin-rules: generated from the registry (tests/it/registry.rs) -->\n";
const END: &str = "<!-- /builtin-rules -->";

#[test]
fn readme_default_policy_table_is_the_registrys() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let want = builtin_rules_table();
    if std::env::var_os("DRIFTD_UPDATE_DOCS").is_some() {
        let (a, b) = (
            readme.find(BEGIN).unwrap() + BEGIN.len(),
            readme.find(END).unwrap(),
        );
        let updated = format!("{}{want}{}", &readme[..a], &readme[b..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    let (a, b) = (
        readme
            .find(BEGIN)
            .expect("README: builtin-rules begin marker")
            + BEGIN.len(),
        readme.find(END).expect("README: builtin-rules end marker"),
    );
    assert_eq!(
        &readme[a..b],
        want,
        "README built-in rules differ from the registry: run with DRIFTD_UPDATE_DOCS=1 to regenerate"
    );
}

fn policy_actions(file: &str, allow_only: bool) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/iam").join(file)).unwrap(),
    )
    .unwrap();
    let mut out = BTreeSet::new();
    for s in v["Statement"].as_array().unwrap() {
        if allow_only && s["Effect"] != "Allow" {
            continue;
        }
        match &s["Action"] {
            serde_json::Value::String(a) => {
                out.insert(a.clone());
            }
            serde_json::Value::Array(a) => {
                out.extend(a.iter().filter_map(|x| x.as_str()).map(str::to_string))
            }
            _ => {}
        }
    }
    out
}

#[test]
fn iam_policies_grant_what_the_registry_declares() {
    let scan = policy_actions("driftd-scan-policy.json", true);
    let reconcile = policy_actions("driftd-reconcile-policy.json", true);
    let mut problems = Vec::new();
    for t in registry::TYPES {
        for a in t.info.read_actions {
            if !scan.contains(*a) {
                problems.push(format!("scan policy lacks {a} ({})", t.info.name));
            }
        }
        for a in t.info.write_actions {
            if !reconcile.contains(*a) {
                problems.push(format!("reconcile policy lacks {a} ({})", t.info.name));
            }
        }
    }
    // And the live-read statements grant nothing the registry does not
    // declare (state, history and KMS statements are the engine's own).
    let declared: BTreeSet<&str> = registry::TYPES
        .iter()
        .flat_map(|t| t.info.read_actions.iter().copied())
        .collect();
    // (cloudtrail:LookupEvents: attribution, `[attribution]`.)
    let engine_own = [
        "s3:GetObject",
        "s3:ListBucket",
        "kms:Decrypt",
        "cloudtrail:LookupEvents",
    ];
    for a in &scan {
        if !declared.contains(a.as_str()) && !engine_own.contains(&a.as_str()) {
            problems.push(format!("scan policy grants {a}, which no type declares"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
