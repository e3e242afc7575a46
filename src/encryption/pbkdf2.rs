//! OpenTofu's `pbkdf2` key provider, decryption side.
//!
//! As in OpenTofu's `internal/encryption/keyprovider/pbkdf2`: the file's
//! metadata (`{"salt": base64, "iterations": n, "hash_function":
//! "sha256"|"sha512", "key_length": n}`) carries every derivation parameter,
//! and the key is PBKDF2-HMAC(hash, passphrase, salt, iterations,
//! key_length). The configured parameters (defaults sha512, 600000
//! iterations, 32-byte salt, 32-byte key) only matter when encrypting.

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

/// More would hold a scan for minutes on one file (600000 is OpenTofu's
/// default, 200000 its minimum).
pub const MAX_ITERATIONS: i64 = 10_000_000;

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    salt: Option<String>,
    #[serde(default)]
    iterations: i64,
    #[serde(default)]
    hash_function: String,
    #[serde(default)]
    key_length: i64,
}

/// Checked derivation parameters read from a file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub sha512: bool,
    pub key_length: usize,
}

/// Read and check the metadata JSON of one pbkdf2 key provider.
pub fn params(meta_json: &[u8]) -> Result<Params, String> {
    let m: Metadata = serde_json::from_slice(meta_json)
        .map_err(|e| format!("its pbkdf2 metadata is not valid: {e}"))?;
    let salt = match m.salt.as_deref() {
        None | Some("") => Vec::new(),
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("its pbkdf2 salt is not base64: {e}"))?,
    };
    // OpenTofu's Metadata.isPresent: all four set, else no decryption key.
    if salt.is_empty() || m.iterations == 0 || m.hash_function.is_empty() || m.key_length == 0 {
        return Err("its pbkdf2 metadata is incomplete (salt, iterations, hash_function and key_length are all needed)".into());
    }
    if m.iterations < 0 || m.iterations > MAX_ITERATIONS {
        return Err(format!(
            "its pbkdf2 metadata asks for {} iterations; driftd accepts 1 to {MAX_ITERATIONS}",
            m.iterations
        ));
    }
    let sha512 = match m.hash_function.as_str() {
        "sha512" => true,
        "sha256" => false,
        other => {
            return Err(format!(
                "its pbkdf2 hash_function `{other}` is not sha256 or sha512"
            ))
        }
    };
    if ![16, 24, 32].contains(&m.key_length) {
        return Err(format!(
            "its pbkdf2 key_length is {}; AES-GCM needs 16, 24 or 32",
            m.key_length
        ));
    }
    Ok(Params {
        salt,
        iterations: m.iterations as u32,
        sha512,
        key_length: m.key_length as usize,
    })
}

/// Derive the key (CPU-heavy: run it off the async runtime's threads).
pub fn derive(passphrase: &[u8], p: &Params) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(vec![0u8; p.key_length]);
    if p.sha512 {
        pbkdf2::pbkdf2_hmac::<Sha512>(passphrase, &p.salt, p.iterations, &mut key);
    } else {
        pbkdf2::pbkdf2_hmac::<Sha256>(passphrase, &p.salt, p.iterations, &mut key);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenTofu's own test vector: `Example_decrypt` in
    /// internal/encryption/keyprovider/pbkdf2/example_decrypt_test.go
    /// (passphrase "correct-horse-battery-staple", this salt, 600000
    /// iterations, sha512, 32 bytes).
    #[test]
    fn opentofu_example_decrypt_vector() {
        let salt = [
            0x10u8, 0xec, 0x3d, 0x3f, 0xe0, 0x2a, 0xd2, 0xbe, 0xe6, 0xf1, 0xf5, 0x54, 0xf, 0x8e,
            0x6b, 0xbe, 0x3b, 0x8b, 0x29, 0x44, 0x5c, 0xf5, 0x2, 0xd2, 0x7d, 0x47, 0xad, 0x55,
            0x4a, 0xa8, 0x97, 0x1f,
        ];
        // The metadata as OpenTofu's json.Marshal writes it ([]byte is base64).
        let meta = format!(
            r#"{{"salt":"{}","iterations":600000,"hash_function":"sha512","key_length":32}}"#,
            base64::engine::general_purpose::STANDARD.encode(salt)
        );
        let p = params(meta.as_bytes()).unwrap();
        assert_eq!(p.salt, salt);
        let key = derive(b"correct-horse-battery-staple", &p);
        assert_eq!(
            hex::encode(&*key),
            "225872367198760137e0a18580433447bbf578fbe2b87ff36aef3c175fe5709c"
        );
    }

    /// RFC 7914 section 11 gives PBKDF2-HMAC-SHA256 vectors; this is the
    /// first (P="passwd", S="salt", c=1, dkLen=64), truncated to 32 bytes.
    #[test]
    fn rfc7914_sha256_vector() {
        let p = Params {
            salt: b"salt".to_vec(),
            iterations: 1,
            sha512: false,
            key_length: 32,
        };
        assert_eq!(
            hex::encode(&*derive(b"passwd", &p)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn bad_metadata_is_named() {
        for (meta, want) in [
            (
                r#"{"salt":"","iterations":600000,"hash_function":"sha512","key_length":32}"#,
                "incomplete",
            ),
            (
                r#"{"salt":"c2FsdA==","iterations":-1,"hash_function":"sha512","key_length":32}"#,
                "iterations",
            ),
            (
                r#"{"salt":"c2FsdA==","iterations":600000,"hash_function":"sha1","key_length":32}"#,
                "sha1",
            ),
            (
                r#"{"salt":"c2FsdA==","iterations":600000,"hash_function":"sha512","key_length":20}"#,
                "key_length is 20",
            ),
            (
                r#"{"salt":"!!","iterations":600000,"hash_function":"sha512","key_length":32}"#,
                "not base64",
            ),
            (r#"[1]"#, "not valid"),
        ] {
            let e = params(meta.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{meta}: {e}");
        }
    }
}
