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
    /// Managed resource instances to compare (data sources skipped).
    pub resources: Vec<StateResource>,
    /// Instances that belong to the stack but are not compared: deposed
    /// objects, and instances whose stored form driftd cannot read exactly.
    /// Their ids still count as managed (never reported unmanaged).
    pub held: Vec<Held>,
}

/// A managed instance that is not compared, and why.
#[derive(Debug, Clone)]
pub struct Held {
    pub resource: StateResource,
    pub reason: HeldReason,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeldReason {
    /// A deposed object (replaced with `create_before_destroy`, destroyed by
    /// the next apply): not what the code describes, but still the stack's.
    Deposed(String),
    /// The instance's stored form cannot be read exactly (the message says
    /// why): every action on it is blocked, it is reported unknown.
    Unsupported(String),
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
    #[error("{source_name}: this state is encrypted by OpenTofu (state encryption, `encryption_version` {version}): driftd cannot decrypt it yet; give driftd a plain copy (`tofu state pull` with the encryption key configured writes one)")]
    Encrypted {
        source_name: String,
        version: String,
    },
    #[error("{source_name}: not a valid Terraform state: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// Is this JSON document an OpenTofu-encrypted state (or plan) file? Such a
/// file is `{"encrypted_data": "...", "encryption_version": "v0", "meta": {...}}`
/// and has no `version` field of its own.
pub fn is_opentofu_encrypted(v: &Value) -> bool {
    let Some(o) = v.as_object() else {
        return false;
    };
    !o.contains_key("version")
        && o.get("encrypted_data").is_some_and(Value::is_string)
        && o.contains_key("encryption_version")
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
    /// `null` is accepted as "no resources", as Terraform does.
    #[serde(default, deserialize_with = "null_is_empty")]
    resources: Vec<RawResource>,
}

fn null_is_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

struct RawResource {
    module: Option<String>,
    mode: Option<String>,
    rtype: String,
    name: String,
    instances: Vec<RawInstance>,
}

/// Is this a type driftd compares (whose attributes are projected)?
fn compared(rtype: &str) -> bool {
    use driftd_core::Schema as _;
    driftd_aws::AwsSchema::default()
        .supported_types()
        .contains(&rtype)
}

/// An instance of a type driftd does not compare, or of a data source: only
/// what its address needs. Its attributes (most of a typical state: IAM
/// policies, DNS records, ...) are skipped while parsing, never built.
#[derive(Deserialize)]
struct SkimInstance {
    #[serde(default, deserialize_with = "present")]
    index_key: Option<Value>,
    #[serde(default)]
    deposed: Option<String>,
}

/// `null` or a list.
struct OrEmpty<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrEmpty<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(OrEmpty(
            Option::<Vec<T>>::deserialize(d)?.unwrap_or_default(),
        ))
    }
}

impl<'de> Deserialize<'de> for RawResource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawResource;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a resource object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<RawResource, A::Error> {
                use serde::de::Error as _;
                let (mut module, mut mode, mut rtype, mut name) =
                    (None, None, None::<String>, None::<String>);
                let mut instances: Option<Vec<RawInstance>> = None;
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "module" => module = m.next_value::<Option<String>>()?,
                        "mode" => mode = m.next_value::<Option<String>>()?,
                        "type" => rtype = Some(m.next_value()?),
                        "name" => name = Some(m.next_value()?),
                        "instances" if rtype.as_deref().is_some_and(|t| !in_pass(t)) => {
                            // A first pass ([`skim`]) for other types.
                            m.next_value::<serde::de::IgnoredAny>()?;
                            instances = Some(Vec::new());
                        }
                        "instances" => {
                            // Terraform writes `type` and `mode` first: an
                            // instance of a type not compared (or a data
                            // source) is skimmed. Without a type yet, in full.
                            let skim = mode.as_deref() == Some("data")
                                || rtype.as_deref().is_some_and(|t| !compared(t));
                            instances = Some(if skim {
                                m.next_value::<OrEmpty<SkimInstance>>()?
                                    .0
                                    .into_iter()
                                    .map(|i| RawInstance {
                                        index_key: i.index_key,
                                        deposed: i.deposed,
                                        attributes: None,
                                        attributes_flat: None,
                                        sensitive_attributes: None,
                                        prepared: None,
                                    })
                                    .collect()
                            } else {
                                // Projected one by one as they are parsed,
                                // when a schema is set for this parse.
                                m.next_value_seed(Instances {
                                    rtype: rtype.as_deref(),
                                })?
                            });
                        }
                        _ => {
                            m.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawResource {
                    module,
                    mode,
                    rtype: rtype.ok_or_else(|| A::Error::missing_field("type"))?,
                    name: name.ok_or_else(|| A::Error::missing_field("name"))?,
                    instances: instances.unwrap_or_default(),
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct RawInstance {
    #[serde(default, deserialize_with = "present")]
    index_key: Option<Value>,
    #[serde(default)]
    deposed: Option<String>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
    #[serde(default)]
    attributes_flat: Option<Map<String, Value>>,
    #[serde(default)]
    sensitive_attributes: Option<Value>,
    /// Its projection, when made while parsing ([`with_schema`]).
    #[serde(skip)]
    prepared: Option<Box<driftd_core::Prepared>>,
}

thread_local! {
    /// The only types a first pass on this thread parses ([`skim`]); none:
    /// every type.
    static ONLY: std::cell::Cell<Option<&'static [&'static str]>> =
        const { std::cell::Cell::new(None) };
}

/// Does the parse on this thread read this type's instances?
fn in_pass(rtype: &str) -> bool {
    ONLY.with(|o| o.get().is_none_or(|only| only.contains(&rtype)))
}

/// A first, quick pass over a plain version 4 state: the managed, current
/// instances of `types` only, projected with `schema`; every other
/// resource's instances are skipped as they are read, never built (on a
/// state of 100,000 instances and 100 VPCs, the VPCs in a tenth of the full
/// parse). A scope starts the calls only the state can decide from it
/// (`driftd_aws::EARLY_TYPES`) while the full parse goes on. `None`: not a
/// plain, valid version 4 state (the full parse says what is wrong).
pub fn skim(
    source: &str,
    bytes: &[u8],
    types: &'static [&'static str],
    schema: &driftd_aws::AwsSchema,
) -> Option<Vec<StateResource>> {
    struct Reset(Option<&'static [&'static str]>);
    impl Drop for Reset {
        fn drop(&mut self) {
            ONLY.with(|o| o.set(self.0));
        }
    }
    let _reset = Reset(ONLY.with(|o| o.replace(Some(types))));
    let s: Streamed = with_schema(schema, || serde_json::from_slice(bytes)).ok()?;
    let file = streamed(source, s)?;
    Some(
        file.resources
            .into_iter()
            .filter(|r| types.contains(&r.rtype.as_str()))
            .collect(),
    )
}

thread_local! {
    /// The schema the state being parsed on this thread is projected with,
    /// instance by instance ([`with_schema`]); none: raw forms are kept.
    static PREPARE: std::cell::RefCell<Option<driftd_aws::AwsSchema>> =
        const { std::cell::RefCell::new(None) };
}

/// Run a parse with each compared instance projected as soon as it is read
/// (its raw attributes dropped but for what locates it), so that a state of
/// 100,000 instances never holds all their raw forms at once: memory grows
/// with what is compared, not with what the state file holds. `schema` must
/// be the one the scan projects with (its settings shape the projection).
pub fn with_schema<T>(schema: &driftd_aws::AwsSchema, parse: impl FnOnce() -> T) -> T {
    struct Reset(Option<driftd_aws::AwsSchema>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0.take();
            PREPARE.with(|p| *p.borrow_mut() = prev);
        }
    }
    let prev = PREPARE.with(|p| p.borrow_mut().replace(schema.clone()));
    let _reset = Reset(prev);
    parse()
}

/// The `instances` of a compared resource: each one projected as it is
/// parsed when [`with_schema`] is in effect, else kept raw.
struct Instances<'a> {
    rtype: Option<&'a str>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Instances<'_> {
    type Value = Vec<RawInstance>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Instances<'_> {
    type Value = Vec<RawInstance>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of resource instances")
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(mut inst) = seq.next_element::<RawInstance>()? {
            if let (Some(rtype), None, Some(_)) = (self.rtype, &inst.deposed, &inst.attributes) {
                prepare(rtype, &mut inst);
            }
            out.push(inst);
        }
        Ok(out)
    }
}

/// Project one resource with this thread's schema ([`with_schema`]); none set:
/// left raw.
fn prepare_resource(r: &mut StateResource) {
    use driftd_core::Schema as _;
    PREPARE.with(|p| {
        if let Some(schema) = p.borrow().as_ref() {
            schema.prepare(r);
        }
    });
}

/// Project one parsed instance ([`prepare_resource`]).
fn prepare(rtype: &str, inst: &mut RawInstance) {
    if PREPARE.with(|p| p.borrow().is_none()) {
        return;
    }
    let attrs = inst.attributes.take().unwrap_or_default();
    let mut r = StateResource {
        address: String::new(),
        rtype: rtype.to_string(),
        id: id_of(attrs.get("id")),
        attrs,
        sensitive_paths: Vec::new(),
        prepared: None,
    };
    prepare_resource(&mut r);
    inst.attributes = Some(r.attrs);
    inst.prepared = r.prepared;
}

/// `attributes.id`, as a string (a number in some old states).
fn id_of(id: Option<&Value>) -> String {
    match id {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
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
            if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
                if is_opentofu_encrypted(&v) {
                    return Err(StateError::Encrypted {
                        source_name: source.into(),
                        version: match &v["encryption_version"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    });
                }
            }
            return Err(StateError::NotState {
                source_name: source.into(),
                message: "no \"version\" field".into(),
            });
        }
    }
    let raw: RawState = serde_json::from_slice(bytes).map_err(|e| json_error(source, e))?;
    build(source, raw)
}

/// A version 4 state with its version, read in one pass from a reader
/// (the fields of [`RawState`], not `#[serde(flatten)]`: that would buffer
/// the whole document first).
#[derive(Deserialize)]
struct Streamed {
    version: Option<Value>,
    #[serde(default)]
    terraform_version: Option<String>,
    #[serde(default)]
    serial: Option<u64>,
    #[serde(default)]
    lineage: Option<String>,
    #[serde(default, deserialize_with = "null_is_empty")]
    resources: Vec<RawResource>,
}

/// Parse a state from a reader, in one pass, without holding its bytes:
/// a 200 MB file then never sits in memory next to its parsed form. Only a
/// plain, valid version 4 state comes out; anything else (`None`) is read
/// again the usual way ([`parse`]), which says exactly what is wrong.
pub fn parse_reader(source: &str, reader: impl std::io::Read) -> Option<StateFile> {
    streamed(source, serde_json::from_reader(reader).ok()?)
}

/// The state of a [`Streamed`] parse, when it is a valid version 4 one.
fn streamed(source: &str, s: Streamed) -> Option<StateFile> {
    match &s.version {
        Some(Value::Number(n)) if n.as_u64() == Some(4) => build(
            source,
            RawState {
                terraform_version: s.terraform_version,
                serial: s.serial,
                lineage: s.lineage,
                resources: s.resources,
            },
        )
        .ok(),
        _ => None,
    }
}

/// The resources of a parsed version 4 state.
fn build(source: &str, raw: RawState) -> Result<StateFile, StateError> {
    let invalid = |message: String| StateError::Invalid {
        source_name: source.into(),
        message,
    };
    let mut resources = Vec::new();
    let mut held = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in raw.resources {
        if r.mode.as_deref() == Some("data") {
            continue;
        }
        let block = address(r.module.as_deref(), &r.rtype, &r.name, None);
        for inst in r.instances {
            match &inst.index_key {
                None => {}
                Some(Value::String(_)) => {}
                Some(Value::Number(n)) if n.is_u64() => {}
                Some(other) => {
                    return Err(invalid(format!(
                        "{block}: index_key {other} is neither a whole number (count) nor a string (for_each)"
                    )))
                }
            }
            let addr = address(
                r.module.as_deref(),
                &r.rtype,
                &r.name,
                inst.index_key.as_ref(),
            );
            let mut unsupported = None;
            let attrs = match (inst.attributes, inst.attributes_flat) {
                (Some(a), _) => a,
                (None, Some(flat)) => match unflatten(&flat) {
                    Ok(a) => a,
                    Err(why) => {
                        unsupported = Some(format!(
                            "unsupported state form: attributes_flat (Terraform 0.11) that driftd cannot read exactly: {why}; rewrite the state with Terraform 0.12 or later (`terraform apply -refresh-only`)"
                        ));
                        flat
                    }
                },
                (None, None) => Map::new(),
            };
            let mut resource = StateResource {
                address: addr,
                rtype: r.rtype.clone(),
                id: String::new(),
                attrs,
                sensitive_paths: sensitive_paths(inst.sensitive_attributes.as_ref()),
                prepared: inst.prepared,
            };
            resource.id = id_of(resource.raw("id"));
            if let Some(key) = inst.deposed {
                // An object being replaced: not what the code describes.
                held.push(Held {
                    resource,
                    reason: HeldReason::Deposed(key),
                });
                continue;
            }
            if !seen.insert(resource.address.clone()) {
                return Err(invalid(format!(
                    "{} appears twice (two instances with the same index_key)",
                    resource.address
                )));
            }
            match unsupported {
                Some(why) => held.push(Held {
                    resource,
                    reason: HeldReason::Unsupported(why),
                }),
                None => {
                    // Instances that came before their resource's `type` (a
                    // state not written by Terraform): projected now, so at
                    // most this file's raw forms were held at once.
                    if resource.prepared.is_none() {
                        prepare_resource(&mut resource);
                    }
                    resources.push(resource)
                }
            }
        }
    }
    Ok(StateFile {
        source: source.to_string(),
        serial: raw.serial,
        lineage: raw.lineage,
        terraform_version: raw.terraform_version,
        resources,
        held,
    })
}

/// Terraform's placeholder for a value not known until apply (flatmap era).
const UNKNOWN_VALUE: &str = "74D93920-ED26-11E3-AC10-0800200C9A66";

/// Rebuild nested attributes from Terraform 0.11's flatmap form
/// (`tags.% = "2"`, `tags.Name = "web"`, `ingress.# = "1"`,
/// `ingress.123.from_port = "22"`), into the shape `attributes` has: maps
/// from `.%`, lists and sets from `.#` (elements in index order), nested
/// blocks as objects. Leaves stay strings (flatmap has no types; the
/// projection reads numbers and booleans from strings). Anything that cannot
/// be placed exactly (a count that does not match, a dotted key with no
/// count, a non-string value, an unknown value) is an error: the resource is
/// then refused rather than guessed.
pub fn unflatten(flat: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut entries = Vec::with_capacity(flat.len());
    for (k, v) in flat {
        match v {
            Value::String(s) if s == UNKNOWN_VALUE => {
                return Err(format!("`{k}` holds an unknown value"))
            }
            Value::String(s) => entries.push((k.as_str(), s.as_str())),
            other => return Err(format!("`{k}` is {other}, not a string")),
        }
    }
    flat_object(&entries, "")
}

fn flat_object(entries: &[(&str, &str)], at: &str) -> Result<Map<String, Value>, String> {
    let mut scalars: Vec<(&str, &str)> = Vec::new();
    let mut groups: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for &(k, v) in entries {
        match k.split_once('.') {
            None => scalars.push((k, v)),
            Some((head, rest)) => groups.entry(head).or_default().push((rest, v)),
        }
    }
    let mut out = Map::new();
    for (k, v) in scalars {
        if k.is_empty() || k == "#" || k == "%" || groups.contains_key(k) {
            return Err(format!("`{at}{k}` cannot be placed"));
        }
        out.insert(k.to_string(), Value::String(v.to_string()));
    }
    for (name, items) in groups {
        let path = format!("{at}{name}");
        let value = flat_nested(&items, &path)?;
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

fn flat_count(items: &[(&str, &str)], marker: &str, path: &str) -> Result<Option<usize>, String> {
    match items.iter().find(|(k, _)| *k == marker) {
        None => Ok(None),
        Some((_, n)) => n
            .parse()
            .map(Some)
            .map_err(|_| format!("`{path}.{marker}` is {n:?}, not a count")),
    }
}

fn flat_nested(items: &[(&str, &str)], path: &str) -> Result<Value, String> {
    let map_count = flat_count(items, "%", path)?;
    let list_count = flat_count(items, "#", path)?;
    match (map_count, list_count) {
        (Some(n), None) => {
            let m: Map<String, Value> = items
                .iter()
                .filter(|(k, _)| *k != "%")
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            if m.len() != n {
                return Err(format!(
                    "map `{path}` declares {n} entries and holds {}",
                    m.len()
                ));
            }
            Ok(Value::Object(m))
        }
        (None, Some(n)) => {
            let mut elems: std::collections::BTreeMap<i64, Vec<(&str, &str)>> = Default::default();
            for &(k, v) in items.iter().filter(|(k, _)| *k != "#") {
                let (idx, rest) = match k.split_once('.') {
                    Some((i, r)) => (i, Some(r)),
                    None => (k, None),
                };
                let i: i64 = idx
                    .parse()
                    .map_err(|_| format!("`{path}.{k}` is not an element of the list"))?;
                elems.entry(i).or_default().push((rest.unwrap_or(""), v));
            }
            if elems.len() != n {
                return Err(format!(
                    "list `{path}` declares {n} elements and holds {}",
                    elems.len()
                ));
            }
            let mut out = Vec::with_capacity(n);
            for (i, parts) in elems {
                let at = format!("{path}.{i}");
                if let [("", v)] = parts[..] {
                    out.push(Value::String(v.to_string()));
                } else if parts.iter().any(|(k, _)| k.is_empty()) {
                    return Err(format!("`{at}` is both a value and a block"));
                } else {
                    out.push(Value::Object(flat_object(&parts, &format!("{at}."))?));
                }
            }
            Ok(Value::Array(out))
        }
        (Some(_), Some(_)) => Err(format!("`{path}` is both a map and a list")),
        (None, None) => Err(format!(
            "`{path}.*` keys without a `{path}.%` or `{path}.#` count"
        )),
    }
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
    fn attributes_of_types_not_compared_are_skipped_while_parsing() {
        // In Terraform's key order (`mode`, `type`, `name`, ..., `instances`):
        // `json!` would sort them, and with `instances` before `type` the
        // attributes are read in full (correct, only not skimmed).
        let s = r#"{"version": 4, "serial": 1, "lineage": "l", "resources": [
            {"mode": "managed", "type": "aws_iam_policy", "name": "p", "instances": [
                {"index_key": 0, "attributes": {"id": "arn:aws:iam::1:policy/p", "policy": "{...}"}},
                {"index_key": 1, "attributes": 5, "sensitive_attributes": "odd"}]},
            {"mode": "data", "type": "aws_instance", "name": "d", "instances": [{"attributes": [1, 2]}]},
            {"mode": "managed", "type": "aws_instance", "name": "w", "instances": [
                {"attributes": {"id": "i-1", "tags": {"a": "b"}}}]}
        ]}"#;
        let f = parse("s.tfstate", s.as_bytes()).unwrap();
        let addrs: Vec<&str> = f.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addrs,
            [
                "aws_iam_policy.p[0]",
                "aws_iam_policy.p[1]",
                "aws_instance.w"
            ]
        );
        // Counted (the report's `unsupported`), never built.
        assert!(f.resources[0].attrs.is_empty());
        assert!(f.resources[1].attrs.is_empty());
        // A compared type keeps its attributes.
        assert_eq!(f.resources[2].id, "i-1");
        assert_eq!(f.resources[2].attrs["tags"], json!({"a": "b"}));
        // Addresses are still checked.
        let dup = r#"{"version": 4, "resources": [
            {"mode": "managed", "type": "aws_iam_policy", "name": "p", "instances": [
                {"index_key": 0}, {"index_key": 0}]}]}"#;
        assert!(parse("d.tfstate", dup.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("appears twice"));
        // A resource without a type is still a shape error.
        let bad = json!({"version": 4, "resources": [{"name": "x", "instances": []}]});
        assert!(parse("b.tfstate", bad.to_string().as_bytes()).is_err());
    }

    #[test]
    fn compared_instances_are_projected_while_parsing_and_their_raw_form_dropped() {
        use driftd_core::Schema as _;
        let s = r#"{"version": 4, "serial": 1, "lineage": "l", "resources": [
            {"mode": "managed", "type": "aws_instance", "name": "w", "instances": [
                {"index_key": 0, "attributes": {"id": "i-1", "instance_type": "t3.micro",
                  "arn": "arn:aws:ec2:eu-west-1:1:instance/i-1", "tags": {"a": "b"},
                  "user_data": "c2VjcmV0", "ebs_block_device": [{"volume_size": 8}],
                  "disable_api_termination": true}},
                {"index_key": 1, "deposed": "00d1", "attributes": {"id": "i-2", "user_data": "x"}}]},
            {"mode": "managed", "type": "aws_s3_bucket_versioning", "name": "v", "instances": [
                {"attributes": {"id": "b", "bucket": "b", "versioning_configuration": [{"status": "Enabled"}]}}]}
        ]}"#;
        let schema = driftd_aws::AwsSchema::default();
        let raw = parse("s.tfstate", s.as_bytes()).unwrap();
        let early = with_schema(&schema, || parse("s.tfstate", s.as_bytes())).unwrap();
        // Outside `with_schema`, nothing is prepared (the setting is scoped).
        assert!(parse("s.tfstate", s.as_bytes()).unwrap().resources[0]
            .prepared
            .is_none());
        let i = &early.resources[0];
        assert!(i.prepared.is_some());
        // Only what locates it is kept raw: no user data, no block devices.
        assert!(i.attrs.is_empty());
        let kept = |r: &StateResource| -> Vec<&str> {
            r.prepared
                .as_ref()
                .unwrap()
                .locating
                .iter()
                .map(|(k, _)| *k)
                .collect()
        };
        assert_eq!(kept(i), ["id", "arn"]);
        assert_eq!(i.id, "i-1");
        assert_eq!(kept(&early.resources[1]), ["id", "bucket"]);
        // The deposed object is held raw (never projected).
        assert!(early.held[0].resource.prepared.is_none());
        assert!(early.held[0].resource.attrs.contains_key("user_data"));
        // `instances` before `type` (not Terraform's order): projected in
        // the build step instead, with the same result.
        let late = s
            .replace(
                r#""type": "aws_instance", "name": "w", "instances""#,
                r#""name": "w", "instances""#,
            )
            .replace(
                r#"}]},
            {"mode": "managed", "type": "aws_s3_bucket_versioning""#,
                r#"}], "type": "aws_instance"},
            {"mode": "managed", "type": "aws_s3_bucket_versioning""#,
            );
        let late = with_schema(&schema, || parse("s.tfstate", late.as_bytes())).unwrap();
        assert!(late.resources[0].prepared.is_some() && late.resources[0].attrs.is_empty());
        assert_eq!(
            schema.desired(&late.resources),
            schema.desired(&raw.resources)
        );
        // The same regions and canonical forms as projecting afterwards.
        assert_eq!(
            schema.regions(&early.resources),
            schema.regions(&raw.resources)
        );
        assert_eq!(
            schema.desired(&early.resources),
            schema.desired(&raw.resources)
        );
        assert_eq!(
            schema.desired(&early.resources)[0].attrs["instance_type"],
            json!("t3.micro")
        );
    }

    #[test]
    fn a_state_read_from_a_reader_equals_the_one_read_from_bytes() {
        let s = json!({"version": 4, "serial": 3, "lineage": "l", "terraform_version": "1.6.6", "resources": [
            {"mode": "managed", "type": "aws_instance", "name": "w", "instances": [
                {"index_key": 0, "attributes": {"id": "i-1", "tags": {"a": "b"}}, "sensitive_attributes": [[{"type": "get_attr", "value": "user_data"}]]},
                {"deposed": "abc", "attributes": {"id": "i-0"}}]}
        ]})
        .to_string();
        let a = parse("s.tfstate", s.as_bytes()).unwrap();
        let b = parse_reader("s.tfstate", s.as_bytes()).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        // Anything else is left to `parse`, which names the error.
        for other in [
            r#"{"version": 3, "modules": []}"#,
            r#"{"encrypted_data": "x", "encryption_version": "v0", "meta": {}}"#,
            r#"{"version": 4, "resources": [{"type": "aws_instance""#,
            "",
            r#"{"version": 4, "resources": [{"mode": "managed", "type": "aws_instance", "name": "w", "instances": [{"index_key": true}]}]}"#,
        ] {
            assert!(parse_reader("x", other.as_bytes()).is_none(), "{other}");
            assert!(parse("x", other.as_bytes()).is_err(), "{other}");
        }
    }

    #[test]
    fn the_first_pass_finds_the_types_asked_for_as_the_full_parse_does() {
        use driftd_core::Schema as _;
        const VPCS: &[&str] = &["aws_vpc", "aws_default_vpc"];
        let vpc = |id: &str| json!({"id": id, "cidr_block": "10.0.0.0/16", "enable_dns_support": true, "tags": {}});
        let s = json!({"version": 4, "serial": 3, "lineage": "l", "resources": [
            {"mode": "managed", "type": "aws_instance", "name": "w", "instances": [
                {"index_key": 0, "attributes": {"id": "i-1", "instance_type": "t3.micro"}}]},
            {"mode": "data", "type": "aws_vpc", "name": "d", "instances": [{"attributes": vpc("vpc-data")}]},
            {"module": "module.net", "mode": "managed", "type": "aws_vpc", "name": "main", "instances": [
                {"attributes": vpc("vpc-1")}, {"deposed": "abc", "attributes": vpc("vpc-0")}]},
            {"mode": "managed", "type": "aws_default_vpc", "name": "default", "instances": [
                {"attributes": vpc("vpc-2")}]},
            // Instances before the type (not Terraform's order): still right.
            {"instances": [{"attributes": {"id": "i-2"}}], "mode": "managed", "type": "aws_instance", "name": "late"}
        ]})
        .to_string();
        let schema = driftd_aws::AwsSchema::default();
        let first = skim("s.tfstate", s.as_bytes(), VPCS, &schema).unwrap();
        let full = with_schema(&schema, || parse("s.tfstate", s.as_bytes())).unwrap();
        let of_vpcs: Vec<StateResource> = full
            .resources
            .into_iter()
            .filter(|r| VPCS.contains(&r.rtype.as_str()))
            .collect();
        let ids: Vec<&str> = first.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["vpc-1", "vpc-2"], "no data source, no deposed object");
        assert_eq!(schema.desired(&first), schema.desired(&of_vpcs));
        assert!(schema.desired(&first)[0].attrs.has("enable_dns_support"));
        // The pass leaves the thread as it found it: a parse after it reads every type.
        let after = parse_reader("s.tfstate", s.as_bytes()).unwrap();
        assert_eq!(after.resources.len(), 4);
        // Not a plain version 4 state: no answer (the full parse says why).
        for other in [
            r#"{"version": 3, "modules": []}"#,
            r#"{"version": 4, "resources": ["#,
            "",
        ] {
            assert!(
                skim("x", other.as_bytes(), VPCS, &schema).is_none(),
                "{other}"
            );
        }
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
        // The deposed object is held: the stack's, never compared.
        assert_eq!(f.held.len(), 1);
        assert_eq!(f.held[0].resource.id, "i-0");
        assert_eq!(f.held[0].reason, HeldReason::Deposed("abc".into()));
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

    fn one_instance(inst: Value) -> Vec<u8> {
        json!({"version": 4, "resources": [
            {"mode": "managed", "type": "aws_instance", "name": "web", "instances": [inst]}]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn flatmap_reads_into_the_same_shape_as_attributes() {
        let flat = json!({
            "id": "i-1", "instance_type": "t3.micro", "monitoring": "false",
            "tags.%": "2", "tags.Name": "web", "tags.kubernetes.io/role": "node",
            "vpc_security_group_ids.#": "2",
            "vpc_security_group_ids.3512954421": "sg-2", "vpc_security_group_ids.112233": "sg-1",
            "root_block_device.#": "1", "root_block_device.0.volume_size": "8",
            "root_block_device.0.encrypted": "true",
            "ingress.#": "1", "ingress.2541437006.from_port": "22",
            "ingress.2541437006.cidr_blocks.#": "2", "ingress.2541437006.cidr_blocks.0": "10.0.0.0/8",
            "ingress.2541437006.cidr_blocks.1": "192.168.0.0/16",
            "ingress.2541437006.security_groups.#": "0",
            "ebs_block_device.#": "0"
        });
        let f = parse("s", &one_instance(json!({"attributes_flat": flat}))).unwrap();
        assert!(f.held.is_empty(), "{:?}", f.held);
        let a = &f.resources[0].attrs;
        assert_eq!(f.resources[0].id, "i-1");
        assert_eq!(
            a["tags"],
            json!({"Name": "web", "kubernetes.io/role": "node"})
        );
        assert_eq!(a["vpc_security_group_ids"], json!(["sg-1", "sg-2"]));
        assert_eq!(
            a["root_block_device"],
            json!([{"volume_size": "8", "encrypted": "true"}])
        );
        assert_eq!(
            a["ingress"],
            json!([{"from_port": "22", "cidr_blocks": ["10.0.0.0/8", "192.168.0.0/16"], "security_groups": []}])
        );
        assert_eq!(a["ebs_block_device"], json!([]));
        assert_eq!(a["monitoring"], json!("false"));
    }

    #[test]
    fn flatmap_that_cannot_be_placed_exactly_is_held_unsupported() {
        for (what, flat) in [
            (
                "count mismatch",
                json!({"id": "i-1", "tags.%": "3", "tags.Name": "web"}),
            ),
            ("no count", json!({"id": "i-1", "tags.Name": "web"})),
            ("unknown", json!({"id": "i-1", "ami": UNKNOWN_VALUE})),
            (
                "not a string",
                json!({"id": "i-1", "tags.%": 1, "tags.Name": "web"}),
            ),
            ("bad index", json!({"id": "i-1", "sg.#": "1", "sg.x": "a"})),
            (
                "map of lists",
                json!({"id": "i-1", "m.%": "1", "m.a.#": "1", "m.a.0": "x"}),
            ),
        ] {
            let f = parse("s", &one_instance(json!({"attributes_flat": flat}))).unwrap();
            assert!(f.resources.is_empty(), "{what}");
            assert_eq!(f.held.len(), 1, "{what}");
            assert_eq!(f.held[0].resource.id, "i-1", "{what}");
            match &f.held[0].reason {
                HeldReason::Unsupported(m) => {
                    assert!(m.starts_with("unsupported state form"), "{what}: {m}")
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn odd_index_keys_and_duplicates_are_rejected_per_file() {
        for key in [
            json!(true),
            json!(null),
            json!({"a": 1}),
            json!(1.5),
            json!(-1),
            json!([0]),
        ] {
            let s = json!({"version": 4, "resources": [{"mode": "managed", "type": "aws_instance", "name": "w",
                "instances": [{"index_key": key, "attributes": {"id": "i-1"}}]}]});
            let e = parse("k.tfstate", s.to_string().as_bytes()).unwrap_err();
            let m = e.to_string();
            assert!(m.starts_with("k.tfstate: "), "{m}");
            assert!(m.contains("aws_instance.w: index_key"), "{m}");
        }
        let s = json!({"version": 4, "resources": [{"mode": "managed", "type": "aws_instance", "name": "w",
            "instances": [{"attributes": {"id": "i-1"}}, {"attributes": {"id": "i-2"}}]}]});
        let e = parse("d.tfstate", s.to_string().as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("aws_instance.w appears twice"),
            "{e}"
        );
        // A deposed object shares its address with the current one: fine.
        let s = json!({"version": 4, "resources": [{"mode": "managed", "type": "aws_instance", "name": "w",
            "instances": [{"attributes": {"id": "i-1"}}, {"deposed": "x", "attributes": {"id": "i-2"}}]}]});
        assert!(parse("d.tfstate", s.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn null_resources_are_no_resources() {
        let f = parse("n", br#"{"version": 4, "serial": 1, "resources": null}"#).unwrap();
        assert!(f.resources.is_empty());
        let f = parse(
            "n",
            br#"{"version": 4, "resources": [{"mode": "managed", "type": "t", "name": "n", "instances": null}]}"#,
        )
        .unwrap();
        assert!(f.resources.is_empty());
    }

    #[test]
    fn opentofu_encrypted_state_is_recognised() {
        let enc = json!({"meta": {"key_provider.pbkdf2.k": "eyJzYWx0Ijoi"}, "encrypted_data": "c2VjcmV0", "encryption_version": "v0"});
        assert!(is_opentofu_encrypted(&enc));
        assert!(!is_opentofu_encrypted(&json!({"version": 4})));
        let e = parse("t.tfstate", enc.to_string().as_bytes()).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("t.tfstate: this state is encrypted by OpenTofu"),
            "{m}"
        );
        assert!(!m.contains("no \"version\" field"), "{m}");
    }
}
