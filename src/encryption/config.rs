//! A stack's `encryption` table, named as OpenTofu's `encryption` block.
//!
//! Why the same names: a team that turned on OpenTofu state encryption
//! already has a block like
//!
//! ```hcl
//! encryption {
//!   key_provider "pbkdf2" "main" { passphrase = var.passphrase }
//!   method "aes_gcm" "main" { keys = key_provider.pbkdf2.main }
//!   state {
//!     method = method.aes_gcm.main
//!     fallback { method = method.aes_gcm.old }
//!   }
//! }
//! ```
//!
//! and should be able to copy it into TOML line by line:
//! `[stacks.encryption.key_provider.pbkdf2.main]`,
//! `[stacks.encryption.method.aes_gcm.main]` with `keys = "key_provider.pbkdf2.main"`,
//! `[stacks.encryption.state]` with `method = "method.aes_gcm.main"`.
//! The metadata key under which a provider's parameters sit in the file is
//! OpenTofu's too: `key_provider.<type>.<name>`, or `encrypted_metadata_alias`.
//!
//! The one difference: a passphrase is never written in the config. It comes
//! from an environment variable (`passphrase_env`) or a file
//! (`passphrase_file`), is read once when the config is loaded, held in a
//! zeroise-on-drop buffer and never printed (not even by `Debug`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::env::Env;

/// OpenTofu refuses shorter pbkdf2 passphrases (`MinimumPassphraseLength`),
/// so a shorter one cannot be the one that encrypted a state.
pub const MIN_PASSPHRASE_LEN: usize = 16;

/// A secret held in memory: zeroised when the last copy is dropped, and
/// redacted from `Debug`.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<Vec<u8>>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Arc::new(Zeroizing::new(bytes)))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// A validated `encryption` table.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// By address (`key_provider.pbkdf2.main`).
    pub key_providers: BTreeMap<String, KeyProvider>,
    /// By address (`method.aes_gcm.main`).
    pub methods: BTreeMap<String, Method>,
    /// `state.method`, then each `fallback`'s method, in the order tried.
    pub chain: Vec<String>,
    /// `state.enforced`: the `unencrypted` method is not allowed.
    pub enforced: bool,
}

impl Encryption {
    /// Whether a plain (unencrypted) state is accepted: only with the
    /// `unencrypted` method in the chain, as OpenTofu does during a migration.
    pub fn accepts_unencrypted(&self) -> bool {
        self.chain
            .iter()
            .any(|m| matches!(self.methods.get(m), Some(Method::Unencrypted)))
    }
}

#[derive(Debug, Clone)]
pub struct KeyProvider {
    /// `key_provider.<type>.<name>`.
    pub addr: String,
    /// Where its metadata sits in the file's `meta`: the address, or
    /// `encrypted_metadata_alias`.
    pub meta_key: String,
    pub kind: KeyProviderKind,
}

#[derive(Debug, Clone)]
pub enum KeyProviderKind {
    Pbkdf2 {
        passphrase: Secret,
        /// Where the passphrase came from, for error messages.
        passphrase_from: String,
    },
    AwsKms(AwsKms),
}

#[derive(Debug, Clone)]
pub struct AwsKms {
    pub kms_key_id: String,
    /// Defaults to the stack's `state_region`.
    pub region: Option<String>,
    /// Defaults to the stack's `endpoint_url`.
    pub endpoint_url: Option<String>,
    /// Defaults to the stack's `assume_role_arn`.
    pub assume_role_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Method {
    AesGcm {
        /// Address of the key provider (`keys = "key_provider.pbkdf2.main"`).
        keys: String,
        /// Additional authenticated data; must match the one used to encrypt.
        aad: Vec<u8>,
    },
    Unencrypted,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEncryption {
    #[serde(default)]
    key_provider: BTreeMap<String, BTreeMap<String, toml::Value>>,
    #[serde(default)]
    method: BTreeMap<String, BTreeMap<String, toml::Value>>,
    state: Option<RawTarget>,
    /// OpenTofu's `plan` and `remote_state_data_sources` targets: accepted so
    /// that a copied block loads, and unused (driftd reads only state).
    #[allow(dead_code)]
    plan: Option<toml::Value>,
    #[allow(dead_code)]
    remote_state_data_sources: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    method: Option<String>,
    fallback: Option<Box<RawTarget>>,
    enforced: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPbkdf2 {
    /// Rejected: never in plain text.
    passphrase: Option<toml::Value>,
    passphrase_env: Option<String>,
    passphrase_file: Option<String>,
    /// OpenTofu's encryption-side parameters: when reading, the ones stored
    /// in the file's metadata are used, so these are only checked.
    key_length: Option<i64>,
    iterations: Option<i64>,
    salt_length: Option<i64>,
    hash_function: Option<String>,
    encrypted_metadata_alias: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAwsKms {
    kms_key_id: Option<String>,
    /// Used by OpenTofu for GenerateDataKey only; checked, unused for reading.
    key_spec: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    assume_role_arn: Option<String>,
    /// Used by OpenTofu when encrypting; reading uses the context stored in
    /// the file's metadata, as OpenTofu does.
    #[allow(dead_code)]
    encryption_context: Option<BTreeMap<String, String>>,
    encrypted_metadata_alias: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAesGcm {
    keys: Option<String>,
    #[serde(default)]
    aad: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnencrypted {}

type Errs = Vec<(String, String)>;

/// OpenTofu's name rule for key provider and method types and names.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn de<T: serde::de::DeserializeOwned>(v: &toml::Value, field: &str, errs: &mut Errs) -> Option<T> {
    match T::deserialize(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push((field.to_string(), e.message().to_string()));
            None
        }
    }
}

/// Strip one trailing newline (`echo secret > file` writes one).
fn strip_newline(mut b: Vec<u8>) -> Vec<u8> {
    if b.last() == Some(&b'\n') {
        b.pop();
        if b.last() == Some(&b'\r') {
            b.pop();
        }
    }
    b
}

fn passphrase(
    raw: &RawPbkdf2,
    field: &str,
    base: &Path,
    env: &dyn Env,
    errs: &mut Errs,
) -> Option<(Secret, String)> {
    if raw.passphrase.is_some() {
        errs.push((
            format!("{field}.passphrase"),
            "a passphrase is never written in the config file: put it in an environment variable named by passphrase_env, or in a file named by passphrase_file".into(),
        ));
        return None;
    }
    let (bytes, from) = match (&raw.passphrase_env, &raw.passphrase_file) {
        (Some(_), Some(_)) | (None, None) => {
            errs.push((
                field.to_string(),
                "set one of passphrase_env (the name of an environment variable) or passphrase_file (a file holding the passphrase)".into(),
            ));
            return None;
        }
        (Some(name), None) => {
            if !valid_env_name(name) {
                // Never echo it: `${VAR}` interpolation may have put the
                // passphrase itself here.
                errs.push((
                    format!("{field}.passphrase_env"),
                    "must be the NAME of an environment variable (letters, digits and `_`), not its value".into(),
                ));
                return None;
            }
            match env.var(name) {
                Some(v) if !v.is_empty() => (
                    Zeroizing::new(v.into_bytes()),
                    format!("environment variable {name}"),
                ),
                _ => {
                    errs.push((
                        format!("{field}.passphrase_env"),
                        format!("environment variable {name} is not set or empty"),
                    ));
                    return None;
                }
            }
        }
        (None, Some(file)) => {
            let path = base.join(file);
            match std::fs::read(&path) {
                Ok(b) => (
                    Zeroizing::new(strip_newline(b)),
                    format!("file {}", path.display()),
                ),
                Err(e) => {
                    errs.push((
                        format!("{field}.passphrase_file"),
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    return None;
                }
            }
        }
    };
    if bytes.len() < MIN_PASSPHRASE_LEN {
        errs.push((
            field.to_string(),
            format!("the passphrase from {from} is shorter than {MIN_PASSPHRASE_LEN} characters: OpenTofu refuses such a passphrase, so it cannot be the one that encrypted the state"),
        ));
        return None;
    }
    Some((Secret::new(bytes.to_vec()), from))
}

fn pbkdf2_params(raw: &RawPbkdf2, field: &str, errs: &mut Errs) {
    if let Some(h) = &raw.hash_function {
        if h != "sha256" && h != "sha512" {
            errs.push((
                format!("{field}.hash_function"),
                format!("`{h}` is not one of: sha256, sha512"),
            ));
        }
    }
    for (name, v, min) in [
        ("key_length", raw.key_length, 1),
        ("iterations", raw.iterations, 200_000),
        ("salt_length", raw.salt_length, 1),
    ] {
        if let Some(n) = v {
            if n < min {
                errs.push((
                    format!("{field}.{name}"),
                    format!("{n} is below OpenTofu's minimum of {min}"),
                ));
            }
        }
    }
}

fn key_provider(
    ptype: &str,
    name: &str,
    v: &toml::Value,
    base: &Path,
    env: &dyn Env,
    errs: &mut Errs,
) -> Option<KeyProvider> {
    let field = format!("key_provider.{ptype}.{name}");
    let addr = field.clone();
    let alias = |a: &Option<String>, errs: &mut Errs| match a.as_deref() {
        None => Some(addr.clone()),
        Some("") => {
            errs.push((
                format!("{field}.encrypted_metadata_alias"),
                "is empty: remove it or name the metadata key".into(),
            ));
            None
        }
        Some(a) => Some(a.to_string()),
    };
    match ptype {
        "pbkdf2" => {
            let raw: RawPbkdf2 = de(v, &field, errs)?;
            pbkdf2_params(&raw, &field, errs);
            let meta_key = alias(&raw.encrypted_metadata_alias, errs);
            let (passphrase, passphrase_from) = passphrase(&raw, &field, base, env, errs)?;
            Some(KeyProvider {
                addr: addr.clone(),
                meta_key: meta_key?,
                kind: KeyProviderKind::Pbkdf2 {
                    passphrase,
                    passphrase_from,
                },
            })
        }
        "aws_kms" => {
            let raw: RawAwsKms = de(v, &field, errs)?;
            let meta_key = alias(&raw.encrypted_metadata_alias, errs);
            let key = raw.kms_key_id.clone().filter(|k| !k.is_empty());
            if key.is_none() {
                errs.push((
                    format!("{field}.kms_key_id"),
                    "missing: the KMS key id, ARN or alias that wraps the state's data key".into(),
                ));
            }
            if let Some(spec) = &raw.key_spec {
                if spec != "AES_256" && spec != "AES_128" {
                    errs.push((
                        format!("{field}.key_spec"),
                        format!("`{spec}` is not one of: AES_256, AES_128"),
                    ));
                }
            }
            if let Some(u) = &raw.endpoint_url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    errs.push((
                        format!("{field}.endpoint_url"),
                        format!("`{u}` is not an http(s) URL"),
                    ));
                }
            }
            if let Some(arn) = &raw.assume_role_arn {
                if !(arn.starts_with("arn:") && arn.contains(":role/")) {
                    errs.push((
                        format!("{field}.assume_role_arn"),
                        format!("`{arn}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                    ));
                }
            }
            Some(KeyProvider {
                addr: addr.clone(),
                meta_key: meta_key?,
                kind: KeyProviderKind::AwsKms(AwsKms {
                    kms_key_id: key?,
                    region: raw.region.filter(|r| !r.is_empty()),
                    endpoint_url: raw.endpoint_url.filter(|u| !u.is_empty()),
                    assume_role_arn: raw.assume_role_arn.filter(|a| !a.is_empty()),
                }),
            })
        }
        other => {
            errs.push((
                format!("key_provider.{other}"),
                format!("unknown key provider type `{other}`: driftd reads states encrypted with the pbkdf2 and aws_kms key providers"),
            ));
            None
        }
    }
}

fn method(mtype: &str, name: &str, v: &toml::Value, errs: &mut Errs) -> Option<Method> {
    let field = format!("method.{mtype}.{name}");
    match mtype {
        "aes_gcm" => {
            let raw: RawAesGcm = de(v, &field, errs)?;
            match raw.keys {
                Some(k) => Some(Method::AesGcm {
                    keys: k,
                    aad: raw.aad,
                }),
                None => {
                    errs.push((
                        format!("{field}.keys"),
                        "missing: name the key provider, e.g. keys = \"key_provider.pbkdf2.main\""
                            .into(),
                    ));
                    None
                }
            }
        }
        "unencrypted" => {
            de::<RawUnencrypted>(v, &field, errs)?;
            Some(Method::Unencrypted)
        }
        other => {
            errs.push((
                format!("method.{other}"),
                format!("unknown method `{other}`: driftd reads the aes_gcm and unencrypted methods (OpenTofu's external method is not supported)"),
            ));
            None
        }
    }
}

/// Validate a stack's `encryption` table. `field` prefixes error paths,
/// `base` locates a relative `passphrase_file`, `env` serves `passphrase_env`.
pub fn parse(
    v: &toml::Value,
    field: &str,
    base: &Path,
    env: &dyn Env,
) -> Result<Encryption, Vec<(String, String)>> {
    let mut errs: Errs = Vec::new();
    let Some(raw) = de::<RawEncryption>(v, field, &mut errs) else {
        return Err(errs);
    };
    let mut local: Errs = Vec::new();
    let mut key_providers = BTreeMap::new();
    for (ptype, named) in &raw.key_provider {
        for (name, body) in named {
            if !valid_name(ptype) || !valid_name(name) {
                local.push((
                    format!("key_provider.{ptype}.{name}"),
                    "key provider types and names use letters, digits, `_` and `-`".into(),
                ));
                continue;
            }
            if let Some(kp) = key_provider(ptype, name, body, base, env, &mut local) {
                key_providers.insert(kp.addr.clone(), kp);
            }
        }
    }
    let mut seen_meta: BTreeMap<String, String> = BTreeMap::new();
    for kp in key_providers.values() {
        if let Some(other) = seen_meta.insert(kp.meta_key.clone(), kp.addr.clone()) {
            local.push((
                kp.addr.clone(),
                format!("its metadata key `{}` is also {other}'s: set a distinct encrypted_metadata_alias (OpenTofu refuses this too)", kp.meta_key),
            ));
        }
    }
    let mut methods = BTreeMap::new();
    for (mtype, named) in &raw.method {
        for (name, body) in named {
            if !valid_name(mtype) || !valid_name(name) {
                local.push((
                    format!("method.{mtype}.{name}"),
                    "method types and names use letters, digits, `_` and `-`".into(),
                ));
                continue;
            }
            if let Some(m) = method(mtype, name, body, &mut local) {
                if let Method::AesGcm { keys, aad: _ } = &m {
                    if !key_providers.contains_key(keys) {
                        let known: Vec<&str> = key_providers.keys().map(String::as_str).collect();
                        local.push((
                            format!("method.{mtype}.{name}.keys"),
                            format!(
                                "`{keys}` is not a declared key provider (declared: {})",
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        ));
                    }
                }
                methods.insert(format!("method.{mtype}.{name}"), m);
            }
        }
    }
    let mut chain = Vec::new();
    let mut enforced = false;
    match &raw.state {
        None => local.push((
            "state".into(),
            "missing: name the method that reads the state, e.g. state = { method = \"method.aes_gcm.main\" }".into(),
        )),
        Some(t) => {
            enforced = t.enforced.unwrap_or(false);
            let mut cur = Some(t);
            let mut at = "state".to_string();
            while let Some(t) = cur {
                match &t.method {
                    None => local.push((
                        format!("{at}.method"),
                        "missing: e.g. method = \"method.aes_gcm.main\"".into(),
                    )),
                    Some(m) if !methods.contains_key(m) && !raw_declares(&raw, m) => {
                        let known: Vec<&str> = methods.keys().map(String::as_str).collect();
                        local.push((
                            format!("{at}.method"),
                            format!(
                                "`{m}` is not a declared method (declared: {})",
                                if known.is_empty() { "none".to_string() } else { known.join(", ") }
                            ),
                        ));
                    }
                    Some(m) => chain.push(m.clone()),
                }
                if t.enforced.is_some() && at != "state" {
                    local.push((
                        format!("{at}.enforced"),
                        "enforced belongs to the state table, not a fallback".into(),
                    ));
                }
                at.push_str(".fallback");
                cur = t.fallback.as_deref();
            }
        }
    }
    if enforced {
        for m in &chain {
            if matches!(methods.get(m), Some(Method::Unencrypted)) {
                local.push((
                    "state.enforced".into(),
                    format!(
                        "is true, so the unencrypted method `{m}` is not allowed (as in OpenTofu)"
                    ),
                ));
            }
        }
    }
    errs.extend(local.into_iter().map(|(f, m)| (format!("{field}.{f}"), m)));
    if errs.is_empty() {
        Ok(Encryption {
            key_providers,
            methods,
            chain,
            enforced,
        })
    } else {
        Err(errs)
    }
}

/// A method that is declared but failed its own validation: do not report
/// the reference to it as undeclared too.
fn raw_declares(raw: &RawEncryption, addr: &str) -> bool {
    let mut parts = addr.splitn(3, '.');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("method"), Some(t), Some(n)) if raw.method.get(t).is_some_and(|m| m.contains_key(n))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    const PASS: &str = "correct-horse-battery-staple";

    fn parse_text(text: &str, env: &MapEnv) -> Result<Encryption, Vec<(String, String)>> {
        let v: toml::Value = toml::from_str(text).unwrap();
        parse(&v, "stacks[0].encryption", Path::new("/nonexistent"), env)
    }

    fn err_text(r: Result<Encryption, Vec<(String, String)>>) -> String {
        match r {
            Ok(_) => panic!("expected errors"),
            Err(es) => es
                .iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    const GOOD: &str = r#"
[key_provider.pbkdf2.new]
passphrase_env = "NEW_PASS"
[key_provider.pbkdf2.old]
passphrase_env = "OLD_PASS"
iterations = 600000
hash_function = "sha512"
[key_provider.aws_kms.kms]
kms_key_id = "alias/tofu"
region = "eu-west-1"
key_spec = "AES_256"
encryption_context = { Environment = "prod" }
[method.aes_gcm.new]
keys = "key_provider.pbkdf2.new"
[method.aes_gcm.old]
keys = "key_provider.pbkdf2.old"
[method.aes_gcm.kms]
keys = "key_provider.aws_kms.kms"
[method.unencrypted.migrate]
[state]
method = "method.aes_gcm.new"
fallback = { method = "method.aes_gcm.old", fallback = { method = "method.unencrypted.migrate" } }
"#;

    #[test]
    fn opentofu_names_and_fallback_chain() {
        let env = MapEnv::new([("NEW_PASS", PASS), ("OLD_PASS", "an-older-passphrase-1")]);
        let e = parse_text(GOOD, &env).unwrap();
        assert_eq!(
            e.chain,
            [
                "method.aes_gcm.new",
                "method.aes_gcm.old",
                "method.unencrypted.migrate"
            ]
        );
        assert!(e.accepts_unencrypted());
        assert_eq!(
            e.key_providers["key_provider.pbkdf2.new"].meta_key,
            "key_provider.pbkdf2.new"
        );
        match &e.key_providers["key_provider.pbkdf2.new"].kind {
            KeyProviderKind::Pbkdf2 { passphrase, .. } => {
                assert_eq!(passphrase.expose(), PASS.as_bytes())
            }
            k => panic!("{k:?}"),
        }
        // Debug output never holds the passphrase.
        assert!(!format!("{e:?}").contains(PASS));
    }

    #[test]
    fn plain_text_passphrase_is_refused_without_echoing_it() {
        let t = "[key_provider.pbkdf2.p]\npassphrase = \"correct-horse-battery-staple\"\n[method.aes_gcm.m]\nkeys = \"key_provider.pbkdf2.p\"\n[state]\nmethod = \"method.aes_gcm.m\"\n";
        let e = err_text(parse_text(t, &MapEnv::default()));
        assert!(e.contains("never written in the config file"), "{e}");
        assert!(!e.contains(PASS), "{e}");
        // An interpolated value put where the variable's name belongs.
        let t = t.replace("passphrase = ", "passphrase_env = ");
        let e = err_text(parse_text(&t, &MapEnv::default()));
        assert!(e.contains("NAME of an environment variable"), "{e}");
        assert!(!e.contains(PASS), "{e}");
    }

    #[test]
    fn every_mistake_is_reported_with_its_field() {
        let t = r#"
[key_provider.pbkdf2.p]
passphrase_env = "UNSET_VAR"
hash_function = "sha1"
[key_provider.pbkdf2.short]
passphrase_env = "SHORT"
[key_provider.gcp_kms.g]
kms_encryption_key = "x"
[key_provider.aws_kms.k]
region = "eu-west-1"
[method.aes_gcm.m]
keys = "key_provider.pbkdf2.nope"
[method.external.x]
encrypt_command = ["x"]
[method.unencrypted.u]
[state]
enforced = true
method = "method.aes_gcm.missing"
fallback = { method = "method.unencrypted.u" }
"#;
        let e = err_text(parse_text(t, &MapEnv::new([("SHORT", "too-short")])));
        for want in [
            "stacks[0].encryption.key_provider.pbkdf2.p.passphrase_env: environment variable UNSET_VAR is not set",
            "stacks[0].encryption.key_provider.pbkdf2.p.hash_function: `sha1` is not one of: sha256, sha512",
            "stacks[0].encryption.key_provider.pbkdf2.short: the passphrase from environment variable SHORT is shorter than 16",
            "stacks[0].encryption.key_provider.gcp_kms: unknown key provider type `gcp_kms`",
            "stacks[0].encryption.key_provider.aws_kms.k.kms_key_id: missing",
            "stacks[0].encryption.method.aes_gcm.m.keys: `key_provider.pbkdf2.nope` is not a declared key provider",
            "stacks[0].encryption.method.external: unknown method `external`",
            "stacks[0].encryption.state.method: `method.aes_gcm.missing` is not a declared method",
            "stacks[0].encryption.state.enforced: is true, so the unencrypted method `method.unencrypted.u` is not allowed",
        ] {
            assert!(e.contains(want), "want {want:?} in:\n{e}");
        }
        assert!(!e.contains("too-short"), "{e}");
    }

    /// The README's example is a valid configuration.
    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## OpenTofu encrypted state").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let block = &section[start..start + section[start..].find("```").unwrap()];
        let cfg = crate::config::parse(
            block,
            Path::new("/nonexistent/driftd.toml"),
            &MapEnv::new([("TOFU_STATE_PASSPHRASE", PASS)]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = cfg.stacks[0].encryption.as_ref().unwrap();
        assert_eq!(e.chain, ["method.aes_gcm.new", "method.aes_gcm.old"]);
        assert!(matches!(
            &e.key_providers["key_provider.aws_kms.kms"].kind,
            KeyProviderKind::AwsKms(k) if k.region.as_deref() == Some("eu-west-1")
        ));
    }

    #[test]
    fn passphrase_file_and_alias() {
        let dir = std::env::temp_dir().join(format!("driftd-enc-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pass"), format!("{PASS}\n")).unwrap();
        let t = "[key_provider.pbkdf2.p]\npassphrase_file = \"pass\"\nencrypted_metadata_alias = \"shared\"\n[method.aes_gcm.m]\nkeys = \"key_provider.pbkdf2.p\"\n[state]\nmethod = \"method.aes_gcm.m\"\n";
        let v: toml::Value = toml::from_str(t).unwrap();
        let e = parse(&v, "e", &dir, &MapEnv::default()).unwrap();
        let kp = &e.key_providers["key_provider.pbkdf2.p"];
        assert_eq!(kp.meta_key, "shared");
        match &kp.kind {
            KeyProviderKind::Pbkdf2 { passphrase, .. } => {
                assert_eq!(passphrase.expose(), PASS.as_bytes())
            }
            k => panic!("{k:?}"),
        }
        assert!(!e.accepts_unencrypted());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
