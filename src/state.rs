//! Reading Terraform state (format version 4: Terraform 0.12+ and OpenTofu).
//!
//! Why a parser of our own: driftd needs only the managed resource instances,
//! their addresses exactly as `terraform state list` prints them, their raw
//! attributes and their sensitive paths. Everything else in the file is
//! skipped, and every error names the file and the JSON position so that a
//! user can open it and look.

use std::fmt::Write as _;

use driftd_core::{Map, StateResource, Value};
use serde::Deserialize;

/// One parsed state file.
#[derive(Debug, Clone)]
pub struct StateFile {
    /// Where it came from (a path or an `s3://` URL), for reports and errors.
    pub source: String,
    pub serial: Option<u64>,
    pub lineage: Option<String>,
    pub terraform_version: Option<String>,
    /// Managed resource instances (data sources and deposed objects skipped).
    pub resources: Vec<StateResource>,
}

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{source_name}: invalid JSON at line {line}, column {column}: {message}")]
    Json {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{source_name}: state format version {version} is not supported; driftd reads version 4 (Terraform 0.12 and later, OpenTofu). Upgrade the state with a current `terraform` first")]
    UnsupportedVersion {
        source_name: String,
        version: String,
    },
    #[error("{source_name}: not a valid Terraform state at line {line}, column {column}: {message} (the JSON is well-formed but a field has the wrong type: was the file edited by hand or written by another tool?)")]
    Shape {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{source_name}: not a Terraform state file: {message}")]
    NotState {
        source_name: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct Peek {
    version: Option<Value>,
}

#[derive(Deserialize)]
struct RawState {
    #[serde(default)]
    terraform_version: Option<String>,
    #[serde(default)]
    serial: Option<u64>,
    #[serde(default)]
    lineage: Option<String>,
    #[serde(default)]
    resources: Vec<RawResource>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type")]
    rtype: String,
    name: String,
    #[serde(default)]
    instances: Vec<RawInstance>,
}

#[derive(Deserialize)]
struct RawInstance {
    #[serde(default)]
    index_key: Option<Value>,
    #[serde(default)]
    deposed: Option<String>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
    #[serde(default)]
    attributes_flat: Option<Map<String, Value>>,
    #[serde(default)]
    sensitive_attributes: Option<Value>,
}

fn json_error(source: &str, e: serde_json::Error) -> StateError {
    // Valid JSON of the wrong shape is not a truncated file: say so.
    if e.classify() == serde_json::error::Category::Data {
        return StateError::Shape {
            source_name: source.to_string(),
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        };
    }
    let what = strip_position(&e.to_string());
    let hint = if what.contains("recursion limit") {
        "nested more than 128 levels deep, which no Terraform state is"
    } else if e.classify() == serde_json::error::Category::Eof {
        "is the file truncated? re-pull it with `terraform state pull`"
    } else {
        "is the file truncated or corrupted? re-pull it with `terraform state pull`"
    };
    StateError::Json {
        source_name: source.to_string(),
        line: e.line(),
        column: e.column(),
        message: format!("{what} ({hint})"),
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Parse a state file's bytes. `source` names it in errors and reports.
pub fn parse(source: &str, bytes: &[u8]) -> Result<StateFile, StateError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StateError::NotState {
            source_name: source.into(),
            message: "the file is empty".into(),
        });
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(StateError::NotState {
            source_name: source.into(),
            message: "it does not start with a JSON object (`{`): is it compressed, encrypted or another format? `terraform state pull` writes a plain state".into(),
        });
    }
    let peek: Peek = serde_json::from_slice(bytes).map_err(|e| json_error(source, e))?;
    match &peek.version {
        Some(Value::Number(n)) if n.as_u64() == Some(4) => {}
        Some(v) => {
            return Err(StateError::UnsupportedVersion {
                source_name: source.into(),
                version: v.to_string(),
            })
        }
        None => {
            return Err(StateError::NotState {
                source_name: source.into(),
                message: "no \"version\" field".into(),
            })
        }
    }
    let raw: RawState = serde_json::from_slice(bytes).map_err(|e| json_error(source, e))?;
    let mut resources = Vec::new();
    for r in raw.resources {
        if r.mode.as_deref() == Some("data") {
            continue;
        }
        for inst in r.instances {
            if inst.deposed.is_some() {
                continue; // an object being replaced: not what the code describes
            }
            let attrs = inst.attributes.or(inst.attributes_flat).unwrap_or_default();
            let id = match attrs.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            resources.push(StateResource {
                address: address(
                    r.module.as_deref(),
                    &r.rtype,
                    &r.name,
                    inst.index_key.as_ref(),
                ),
                rtype: r.rtype.clone(),
                id,
                attrs,
                sensitive_paths: sensitive_paths(inst.sensitive_attributes.as_ref()),
            });
        }
    }
    Ok(StateFile {
        source: source.to_string(),
        serial: raw.serial,
        lineage: raw.lineage,
        terraform_version: raw.terraform_version,
        resources,
    })
}

/// A resource address as Terraform prints it.
pub fn address(module: Option<&str>, rtype: &str, name: &str, index: Option<&Value>) -> String {
    let mut s = String::new();
    if let Some(m) = module.filter(|m| !m.is_empty()) {
        s.push_str(m);
        s.push('.');
    }
    let _ = write!(s, "{rtype}.{name}");
    match index {
        Some(Value::Number(n)) => {
            let _ = write!(s, "[{n}]");
        }
        Some(Value::String(k)) => {
            s.push_str("[\"");
            for c in k.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    c => s.push(c),
                }
            }
            s.push_str("\"]");
        }
        _ => {}
    }
    s
}

/// Sensitive paths, read loosely: the shape changed across Terraform versions
/// (a list of paths, each a list of `{type, value}` steps; newer versions may
/// write a single step). Anything unrecognized is ignored, never an error.
fn sensitive_paths(v: Option<&Value>) -> Vec<Vec<String>> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    let step = |s: &Value| -> Option<String> {
        let o = s.as_object()?;
        match o.get("value")? {
            Value::String(x) => Some(x.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(inner) => inner.get("value").map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            _ => None,
        }
    };
    items
        .iter()
        .filter_map(|p| match p {
            Value::Array(steps) => {
                let path: Vec<String> = steps.iter().filter_map(step).collect();
                (!path.is_empty()).then_some(path)
            }
            Value::Object(_) => step(p).map(|s| vec![s]),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_like_terraform() {
        assert_eq!(
            address(None, "aws_instance", "web", None),
            "aws_instance.web"
        );
        assert_eq!(
            address(None, "aws_instance", "web", Some(&json!(0))),
            "aws_instance.web[0]"
        );
        assert_eq!(
            address(
                Some("module.net"),
                "aws_security_group",
                "web",
                Some(&json!("a"))
            ),
            "module.net.aws_security_group.web[\"a\"]"
        );
        assert_eq!(
            address(None, "t", "n", Some(&json!("q\"x"))),
            "t.n[\"q\\\"x\"]"
        );
    }

    #[test]
    fn skips_data_sources_and_deposed() {
        let s = json!({"version": 4, "serial": 3, "lineage": "l", "resources": [
            {"mode": "data", "type": "aws_ami", "name": "a", "instances": [{"attributes": {"id": "ami-1"}}]},
            {"mode": "managed", "type": "aws_instance", "name": "w", "instances": [
                {"attributes": {"id": "i-1"}}, {"deposed": "abc", "attributes": {"id": "i-0"}}]}
        ]});
        let f = parse("s.tfstate", s.to_string().as_bytes()).unwrap();
        assert_eq!(f.resources.len(), 1);
        assert_eq!(f.resources[0].id, "i-1");
        assert_eq!(f.serial, Some(3));
    }

    #[test]
    fn sensitive_paths_loosely() {
        let v = json!([[{"type": "get_attr", "value": "password"}],
                       [{"type": "get_attr", "value": "x"}, {"type": "index", "value": {"value": 0, "type": "number"}}],
                       {"type": "get_attr", "value": "single"}, 42]);
        assert_eq!(
            sensitive_paths(Some(&v)),
            vec![
                vec!["password".to_string()],
                vec!["x".into(), "0".into()],
                vec!["single".into()]
            ]
        );
    }

    #[test]
    fn clear_errors() {
        let e = parse("a.tfstate", b"{\"version\": 4, \"resources\": [").unwrap_err();
        assert!(
            e.to_string().contains("a.tfstate: invalid JSON at line 1"),
            "{e}"
        );
        let e = parse("b.tfstate", br#"{"version": 3, "modules": []}"#).unwrap_err();
        assert!(e.to_string().contains("version 3 is not supported"), "{e}");
        let e = parse("c.tfstate", b"").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = parse("d.tfstate", br#"{"version": 4, "resources": {"x": 1}}"#).unwrap_err();
        assert!(e.to_string().contains("d.tfstate"), "{e}");
        assert!(e.to_string().contains("wrong type"), "{e}");
        assert!(!e.to_string().contains("truncated"), "{e}");
    }
}
