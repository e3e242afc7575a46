//! Reading OpenTofu 1.7+ encrypted state.
//!
//! Why: a team that turned on OpenTofu's state encryption keeps a JSON
//! envelope in its backend instead of the state:
//!
//! ```json
//! {"serial": 3, "lineage": "…",
//!  "meta": {"key_provider.pbkdf2.main": "<base64 of the provider's metadata JSON>"},
//!  "encrypted_data": "<base64 of nonce || AES-GCM ciphertext || tag>",
//!  "encryption_version": "v0"}
//! ```
//!
//! (OpenTofu's `internal/encryption/base.go`, `basedata`; Go's encoding/json
//! writes each `[]byte` as standard base64, so both `encrypted_data` and each
//! `meta` value are base64). This module turns such bytes back into the
//! state, exactly as OpenTofu's `DecryptState` does:
//! - a payload is encrypted when it is JSON with a non-empty
//!   `encryption_version`; only `v0` exists;
//! - each method of `state.method` then its `fallback`s is tried in order
//!   (`unencrypted` skipped), its key provider reading its metadata from
//!   `meta["key_provider.<type>.<name>"]` (or `encrypted_metadata_alias`);
//! - a plain state is accepted only when the chain holds `unencrypted`
//!   (OpenTofu's migration path), and an encrypted one needs a configured
//!   `encryption` table;
//! - after decryption, the envelope's `serial` and `lineage` must equal the
//!   state's.
//!
//! The format is the same in OpenTofu v1.7.0 and in its main branch (checked
//! at commit f831fa1, August 2026); v1.7's aws_kms metadata has no
//! `encryption_context`, read as empty.
//!
//! The decrypted state stays in memory (a zeroise-on-drop buffer that
//! `state::parse` reads), is never written anywhere and never logged; derived
//! keys and KMS data keys are zeroised as soon as the decryption is done.

pub mod aesgcm;
pub mod config;
pub mod kms;
pub mod pbkdf2;

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use base64::Engine as _;
use driftd_aws::{ApiCalls, ClientOptions, Target};
use serde::Deserialize;
use zeroize::Zeroizing;

pub use config::{parse, Encryption, KeyProviderKind, Method, Secret};
use kms::{KmsCall, KmsDecrypt};

/// The only envelope version OpenTofu writes (`encryptionVersion`).
pub const ENCRYPTION_VERSION: &str = "v0";

/// State bytes ready for `state::parse`: the original, or the decrypted
/// state in a buffer that is zeroised when dropped.
pub enum Plain<'a> {
    Original(&'a [u8]),
    Decrypted(Zeroizing<Vec<u8>>),
}

impl Deref for Plain<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Plain::Original(b) => b,
            Plain::Decrypted(b) => b,
        }
    }
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    encryption_version: Option<String>,
    #[serde(default)]
    meta: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    encrypted_data: Option<String>,
    #[serde(default)]
    serial: Option<serde_json::Value>,
    #[serde(default)]
    lineage: Option<serde_json::Value>,
}

/// A parsed OpenTofu envelope.
#[derive(Debug)]
pub struct Envelope {
    /// Metadata JSON of each key provider, by metadata key.
    pub meta: BTreeMap<String, Vec<u8>>,
    /// nonce || ciphertext || tag.
    pub data: Vec<u8>,
    serial: Option<serde_json::Value>,
    lineage: Option<serde_json::Value>,
}

/// Is this an OpenTofu envelope? `Ok(None)` when it is not one (a plain
/// state, or not JSON at all: `state::parse` says what is wrong with it).
pub fn envelope(bytes: &[u8]) -> Result<Option<Envelope>, String> {
    // Cheap test first: a plain state is not parsed twice.
    if !bytes
        .windows(b"\"encryption_version\"".len())
        .any(|w| w == b"\"encryption_version\"")
    {
        return Ok(None);
    }
    let Ok(raw) = serde_json::from_slice::<RawEnvelope>(bytes) else {
        return Ok(None);
    };
    let version = match raw.encryption_version {
        None => return Ok(None),
        Some(v) if v.is_empty() => return Ok(None),
        Some(v) => v,
    };
    if version != ENCRYPTION_VERSION {
        return Err(format!(
            "this state is encrypted by OpenTofu with encryption_version `{version}`, which driftd does not know (it reads `{ENCRYPTION_VERSION}`)"
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut meta = BTreeMap::new();
    for (k, v) in raw.meta.unwrap_or_default() {
        let json = match v {
            // What OpenTofu writes: base64 of the provider's metadata JSON.
            serde_json::Value::String(s) => b64.decode(s.as_bytes()).map_err(|e| {
                format!("its encryption metadata `{k}` is not base64: {e} (is the file corrupted?)")
            })?,
            // The metadata as plain JSON, as in OpenTofu's test fixture
            // internal/command/testdata/init-encryption-with-state.
            v @ serde_json::Value::Object(_) => serde_json::to_vec(&v).expect("JSON value"),
            _ => {
                return Err(format!(
                    "its encryption metadata `{k}` is neither base64 nor an object"
                ))
            }
        };
        meta.insert(k, json);
    }
    let data = b64
        .decode(raw.encrypted_data.unwrap_or_default().as_bytes())
        .map_err(|e| format!("its encrypted_data is not base64: {e} (is the file corrupted?)"))?;
    Ok(Some(Envelope {
        meta,
        data,
        serial: raw.serial,
        lineage: raw.lineage,
    }))
}

/// Opens the state files of one stack.
pub struct Decryptor {
    stack: String,
    config: Option<Encryption>,
    /// Where KMS calls go unless a key provider says otherwise: the stack's
    /// state region, endpoint and role.
    default_target: Target,
    kms: Arc<dyn KmsDecrypt>,
}

impl Decryptor {
    /// For a stack: its `encryption` table (if any), and KMS clients made
    /// like its S3 client.
    pub fn for_stack(
        stack: &crate::config::StackConfig,
        options: &ClientOptions,
        calls: &ApiCalls,
    ) -> Self {
        Self::new(
            &stack.name,
            stack.encryption.clone(),
            Target {
                region: stack.state_region.clone(),
                endpoint_url: stack.endpoint_url.clone(),
                assume_role_arn: stack.assume_role_arn.clone(),
            },
            Arc::new(kms::SdkKms::new(options.clone(), calls.clone())),
        )
    }

    pub fn new(
        stack: &str,
        config: Option<Encryption>,
        default_target: Target,
        kms: Arc<dyn KmsDecrypt>,
    ) -> Self {
        Self {
            stack: stack.to_string(),
            config,
            default_target,
            kms,
        }
    }

    /// No encryption configured: plain states pass, encrypted ones are
    /// refused with a message that says what to configure.
    pub fn none(stack: &str) -> Self {
        struct NoKms;
        #[async_trait::async_trait]
        impl KmsDecrypt for NoKms {
            async fn decrypt(
                &self,
                _: &KmsCall,
                _: &kms::WrappedKey,
            ) -> Result<Zeroizing<Vec<u8>>, String> {
                Err("no KMS".into())
            }
        }
        Self::new(
            stack,
            None,
            Target {
                region: String::new(),
                endpoint_url: None,
                assume_role_arn: None,
            },
            Arc::new(NoKms),
        )
    }

    /// The state in `bytes` (read from `source`), decrypted when it is an
    /// OpenTofu envelope. Errors start with `source`.
    /// Does the stack configure `encryption`? (Without it, a plain state is
    /// used as it is and an encrypted one refused.)
    pub fn is_configured(&self) -> bool {
        self.config.is_some()
    }

    pub async fn open<'a>(&self, source: &str, bytes: &'a [u8]) -> Result<Plain<'a>, String> {
        self.open_inner(bytes)
            .await
            .map_err(|e| format!("{source}: {e}"))
    }

    async fn open_inner<'a>(&self, bytes: &'a [u8]) -> Result<Plain<'a>, String> {
        let env = envelope(bytes)?;
        let (Some(env), Some(cfg)) = (env.as_ref(), self.config.as_ref()) else {
            return match (env, &self.config) {
                (None, None) => Ok(Plain::Original(bytes)),
                (None, Some(cfg)) if cfg.accepts_unencrypted() => Ok(Plain::Original(bytes)),
                (None, Some(_)) => Err(format!(
                    "this state is not encrypted, but stack `{}` configures `encryption`: OpenTofu refuses a plain state then too; while migrating, add an `unencrypted` method to the state's method or fallback chain",
                    self.stack
                )),
                (Some(_), _) => Err(format!(
                    "this state is encrypted by OpenTofu: configure `encryption` for stack `{}` (key_provider, method and state, as in the OpenTofu `encryption` block; see config/driftd.example.toml)",
                    self.stack
                )),
            };
        };
        let mut failures = Vec::new();
        for (i, addr) in cfg.chain.iter().enumerate() {
            let Some(Method::AesGcm { keys, aad }) = cfg.methods.get(addr) else {
                continue; // unencrypted: not applicable to an encrypted file
            };
            match self.try_method(cfg, keys, aad, env).await {
                Ok(plain) => {
                    check_passthrough(env, &plain)?;
                    if i > 0 {
                        tracing::info!(
                            stack = %self.stack,
                            method = %addr,
                            primary = %cfg.chain[0],
                            "state read with a fallback method: OpenTofu re-encrypts it with the primary method at its next apply"
                        );
                    }
                    return Ok(Plain::Decrypted(plain));
                }
                Err(e) => failures.push(format!("{addr}: {e}")),
            }
        }
        if failures.is_empty() {
            return Err(format!(
                "this state is encrypted by OpenTofu, but stack `{}` configures only the unencrypted method: add the aes_gcm method and key provider that encrypted it",
                self.stack
            ));
        }
        Err(format!(
            "cannot decrypt this OpenTofu encrypted state: {}",
            failures.join("; ")
        ))
    }

    async fn try_method(
        &self,
        cfg: &Encryption,
        keys: &str,
        aad: &[u8],
        env: &Envelope,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let kp = cfg
            .key_providers
            .get(keys)
            .ok_or_else(|| format!("key provider {keys} is not declared"))?;
        let Some(meta) = env.meta.get(&kp.meta_key) else {
            let have: Vec<&str> = env.meta.keys().map(String::as_str).collect();
            return Err(format!(
                "the file has no metadata for {} (it has: {}): it was encrypted with another key provider; configure that one in a fallback, or set encrypted_metadata_alias if the provider was renamed",
                kp.meta_key,
                if have.is_empty() { "none".to_string() } else { have.join(", ") }
            ));
        };
        match &kp.kind {
            KeyProviderKind::Pbkdf2 {
                passphrase,
                passphrase_from,
            } => {
                let params = pbkdf2::params(meta)?;
                let passphrase = passphrase.clone();
                let key = tokio::task::spawn_blocking(move || {
                    pbkdf2::derive(passphrase.expose(), &params)
                })
                .await
                .map_err(|e| format!("the key derivation did not finish: {e}"))?;
                aesgcm::decrypt(&key, aad, &env.data).map_err(|e| match e {
                    aesgcm::GcmError::NotAuthentic => format!(
                        "wrong passphrase: the key derived from the passphrase in {passphrase_from} does not decrypt this state (or the method's aad differs, or the file was altered)"
                    ),
                    e => gcm_error(e),
                })
            }
            KeyProviderKind::AwsKms(k) => {
                let wrapped = kms::wrapped_key(meta)?;
                let call = KmsCall {
                    target: Target {
                        region: k
                            .region
                            .clone()
                            .unwrap_or_else(|| self.default_target.region.clone()),
                        endpoint_url: k
                            .endpoint_url
                            .clone()
                            .or_else(|| self.default_target.endpoint_url.clone()),
                        assume_role_arn: k
                            .assume_role_arn
                            .clone()
                            .or_else(|| self.default_target.assume_role_arn.clone()),
                    },
                    kms_key_id: k.kms_key_id.clone(),
                };
                let key = self.kms.decrypt(&call, &wrapped).await?;
                aesgcm::decrypt(&key, aad, &env.data).map_err(|e| match e {
                    aesgcm::GcmError::NotAuthentic => format!(
                        "wrong key: the data key that KMS key {} unwrapped does not decrypt this state (the method's aad differs, or the file was altered)",
                        k.kms_key_id
                    ),
                    e => gcm_error(e),
                })
            }
        }
    }
}

fn gcm_error(e: aesgcm::GcmError) -> String {
    match e {
        aesgcm::GcmError::Empty => "its encrypted_data is empty (is the file corrupted?)".into(),
        aesgcm::GcmError::TooShort(n) => format!(
            "its encrypted_data is {n} bytes, too short for AES-GCM (nonce and tag alone are 28): is the file corrupted?"
        ),
        aesgcm::GcmError::KeyLength(n) => {
            format!("the key is {n} bytes; AES-GCM needs 16, 24 or 32")
        }
        aesgcm::GcmError::NotAuthentic => "the data does not authenticate".into(),
    }
}

/// OpenTofu's DecryptState check: the envelope's serial and lineage (kept
/// in clear beside the ciphertext) must be the decrypted state's.
fn check_passthrough(env: &Envelope, plain: &[u8]) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Pass {
        #[serde(default)]
        serial: Option<serde_json::Value>,
        #[serde(default)]
        lineage: Option<serde_json::Value>,
    }
    let Ok(p) = serde_json::from_slice::<Pass>(plain) else {
        // Not JSON: state::parse reports it (without echoing contents).
        return Ok(());
    };
    let set = |v: &Option<serde_json::Value>| v.clone().filter(|v| !v.is_null());
    if let (Some(a), Some(b)) = (set(&env.serial), set(&p.serial)) {
        if a != b {
            return Err(format!(
                "the envelope's serial {a} is not the decrypted state's serial {b}: the file was altered or assembled from two states"
            ));
        }
    }
    // As OpenTofu: a non-empty envelope lineage must be the state's.
    if let Some(a) = env
        .lineage
        .as_ref()
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
    {
        let b = p.lineage.as_ref().and_then(|v| v.as_str()).unwrap_or("");
        if a != b {
            return Err(format!(
                "the envelope's lineage `{a}` is not the decrypted state's lineage `{b}`: the file was altered or assembled from two states"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
