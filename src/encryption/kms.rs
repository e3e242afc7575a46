//! OpenTofu's `aws_kms` key provider, decryption side.
//!
//! As in OpenTofu's `internal/encryption/keyprovider/aws_kms/provider.go`:
//! the file's metadata is `{"ciphertext_blob": base64, "encryption_context":
//! {...}}` and the AES key is `kms:Decrypt(KeyId = kms_key_id,
//! CiphertextBlob, EncryptionContext = the stored context)`. driftd never
//! calls GenerateDataKey: it only reads.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_kms::error::ProvideErrorMetadata as _;
use base64::Engine as _;
use driftd_aws::{ApiCalls, ClientOptions, Target};
use serde::Deserialize;
use zeroize::Zeroizing;

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    ciphertext_blob: Option<String>,
    #[serde(default)]
    encryption_context: Option<BTreeMap<String, String>>,
}

/// The wrapped data key and its context, read from a file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub ciphertext_blob: Vec<u8>,
    pub encryption_context: BTreeMap<String, String>,
}

pub fn wrapped_key(meta_json: &[u8]) -> Result<WrappedKey, String> {
    let m: Metadata = serde_json::from_slice(meta_json)
        .map_err(|e| format!("its aws_kms metadata is not valid: {e}"))?;
    let blob = match m.ciphertext_blob.as_deref() {
        None | Some("") => {
            return Err("its aws_kms metadata has no ciphertext_blob (the wrapped data key)".into())
        }
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("its aws_kms ciphertext_blob is not base64: {e}"))?,
    };
    Ok(WrappedKey {
        ciphertext_blob: blob,
        encryption_context: m.encryption_context.unwrap_or_default(),
    })
}

/// Where and with which key to call kms:Decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsCall {
    pub target: Target,
    pub kms_key_id: String,
}

/// kms:Decrypt, behind a trait so that the decryption logic is testable
/// without a KMS.
#[async_trait]
pub trait KmsDecrypt: Send + Sync {
    /// The plaintext data key, or an error that says what is wrong.
    async fn decrypt(&self, call: &KmsCall, key: &WrappedKey)
        -> Result<Zeroizing<Vec<u8>>, String>;
}

/// The real KMS, through the AWS SDK; one client per target, made on first use.
pub struct SdkKms {
    options: ClientOptions,
    calls: ApiCalls,
    clients: tokio::sync::Mutex<HashMap<Target, aws_sdk_kms::Client>>,
}

impl SdkKms {
    pub fn new(options: ClientOptions, calls: ApiCalls) -> Self {
        Self {
            options,
            calls,
            clients: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn client(&self, target: &Target) -> aws_sdk_kms::Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(target) {
            return c.clone();
        }
        let sdk = driftd_aws::client::sdk_config(target, &self.options).await;
        let conf = aws_sdk_kms::config::Builder::from(&sdk)
            .interceptor(self.calls.clone())
            .build();
        let c = aws_sdk_kms::Client::from_conf(conf);
        clients.insert(target.clone(), c.clone());
        c
    }
}

/// Does the key KMS used (an ARN) match the configured `kms_key_id`? Only
/// answerable for a key id or key ARN; an alias is taken on trust.
fn same_key(configured: &str, used_arn: &str) -> bool {
    if configured.starts_with("alias/") || configured.contains(":alias/") {
        return true;
    }
    used_arn == configured || used_arn.ends_with(&format!("key/{configured}"))
}

/// A KMS error, explained.
pub fn explain(code: Option<&str>, message: Option<&str>, call: &KmsCall, other: &str) -> String {
    let key = &call.kms_key_id;
    let region = &call.target.region;
    let msg = message.map(|m| format!(" ({m})")).unwrap_or_default();
    match code {
        Some("AccessDeniedException") => format!(
            "KMS denied kms:Decrypt on {key} in {region}{msg}: grant driftd's role kms:Decrypt on this key (see deploy/iam/driftd-scan-policy.json)"
        ),
        Some("IncorrectKeyException") => format!(
            "wrong key: the state's data key was encrypted under another KMS key than kms_key_id {key}{msg}"
        ),
        Some("InvalidCiphertextException") => format!(
            "KMS rejected the state's wrapped data key{msg}: it was wrapped by another key or with another encryption context, or the file is corrupted"
        ),
        Some("NotFoundException") => format!("KMS key {key} does not exist in {region}{msg}"),
        Some("DisabledException") => format!("KMS key {key} is disabled{msg}"),
        Some("KMSInvalidStateException") => {
            format!("KMS key {key} cannot be used now (pending deletion or import?){msg}")
        }
        _ => format!("kms:Decrypt on {key} in {region} failed: {other}"),
    }
}

#[async_trait]
impl KmsDecrypt for SdkKms {
    async fn decrypt(
        &self,
        call: &KmsCall,
        key: &WrappedKey,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let client = self.client(&call.target).await;
        let mut req = client.decrypt().key_id(&call.kms_key_id).ciphertext_blob(
            aws_sdk_kms::primitives::Blob::new(key.ciphertext_blob.clone()),
        );
        for (k, v) in &key.encryption_context {
            req = req.encryption_context(k, v);
        }
        let mut out = req.send().await.map_err(|e| {
            explain(
                e.code(),
                e.message(),
                call,
                &driftd_aws::errors::describe(&e),
            )
        })?;
        if let Some(used) = out.key_id() {
            if !same_key(&call.kms_key_id, used) {
                return Err(format!(
                    "wrong key: the state's data key was encrypted under {used}, not kms_key_id {}",
                    call.kms_key_id
                ));
            }
        }
        let plain = out
            .plaintext
            .take()
            .map(|b| Zeroizing::new(b.into_inner()))
            .ok_or_else(|| format!("kms:Decrypt on {} returned no plaintext", call.kms_key_id))?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_as_opentofu_writes_it() {
        let w = wrapped_key(
            br#"{"ciphertext_blob":"AQID","encryption_context":{"Environment":"prod"}}"#,
        )
        .unwrap();
        assert_eq!(w.ciphertext_blob, [1, 2, 3]);
        assert_eq!(w.encryption_context["Environment"], "prod");
        let w = wrapped_key(br#"{"ciphertext_blob":"AQID"}"#).unwrap();
        assert!(w.encryption_context.is_empty());
        assert!(wrapped_key(br#"{}"#)
            .unwrap_err()
            .contains("no ciphertext_blob"));
    }

    #[test]
    fn key_matching() {
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(same_key("1234abcd-12ab-34cd-56ef-1234567890ab", arn));
        assert!(same_key(arn, arn));
        assert!(same_key("alias/tofu", arn));
        assert!(!same_key("ffffffff-12ab-34cd-56ef-1234567890ab", arn));
    }
}
