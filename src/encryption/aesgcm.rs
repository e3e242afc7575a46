//! OpenTofu's `aes_gcm` method, decryption side.
//!
//! The layout is OpenTofu's `internal/encryption/method/aesgcm/aesgcm.go`:
//! `encrypted_data` is the 12-byte GCM nonce followed by the ciphertext and
//! its 16-byte tag (`append(nonce, gcm.Seal(nil, nonce, data, aad)...)`),
//! the key is 16, 24 or 32 bytes (AES-128/192/256), and the AAD is the
//! method's optional `aad` (empty by default).

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};
use zeroize::Zeroizing;

/// Why a decryption failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcmError {
    Empty,
    TooShort(usize),
    KeyLength(usize),
    /// The tag does not verify: another key, another AAD, or altered data.
    NotAuthentic,
}

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

type Aes192Gcm = AesGcm<aes_gcm::aes::Aes192, U12>;

fn open<C: Aead + aes_gcm::AeadCore<NonceSize = U12>>(
    cipher: C,
    nonce: &[u8],
    msg: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, GcmError> {
    cipher
        .decrypt(Nonce::<U12>::from_slice(nonce), Payload { msg, aad })
        .map_err(|_| GcmError::NotAuthentic)
}

/// Decrypt `nonce || ciphertext || tag` with `key` and `aad`.
pub fn decrypt(key: &[u8], aad: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, GcmError> {
    if data.is_empty() {
        return Err(GcmError::Empty);
    }
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(GcmError::TooShort(data.len()));
    }
    let (nonce, msg) = data.split_at(NONCE_LEN);
    let plain = match key.len() {
        16 => open(
            Aes128Gcm::new_from_slice(key).expect("16 bytes"),
            nonce,
            msg,
            aad,
        ),
        24 => open(
            Aes192Gcm::new_from_slice(key).expect("24 bytes"),
            nonce,
            msg,
            aad,
        ),
        32 => open(
            Aes256Gcm::new_from_slice(key).expect("32 bytes"),
            nonce,
            msg,
            aad,
        ),
        n => Err(GcmError::KeyLength(n)),
    }?;
    Ok(Zeroizing::new(plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// NIST GCM test vector (McGrew & Viega, "The Galois/Counter Mode of
    /// Operation", test case 4: AES-128, 60-byte plaintext, 20-byte AAD),
    /// laid out as OpenTofu stores it: nonce, then ciphertext, then tag.
    #[test]
    fn nist_vector_in_opentofu_layout() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let nonce = hex("cafebabefacedbaddecaf888");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let ct = hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091");
        let tag = hex("5bc94fbc3221a5db94fae95ae7121a47");
        let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let data = [nonce, ct, tag].concat();
        assert_eq!(&*decrypt(&key, &aad, &data).unwrap(), &pt[..]);
        // Another AAD (OpenTofu's default is none) does not authenticate.
        assert_eq!(decrypt(&key, b"", &data), Err(GcmError::NotAuthentic));
        let mut bad = data.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(decrypt(&key, &aad, &bad), Err(GcmError::NotAuthentic));
    }

    #[test]
    fn short_and_empty_data_and_bad_keys() {
        assert_eq!(decrypt(&[0; 32], b"", b""), Err(GcmError::Empty));
        assert_eq!(decrypt(&[0; 32], b"", b"1"), Err(GcmError::TooShort(1)));
        assert_eq!(
            decrypt(&[0; 20], b"", &[0; 40]),
            Err(GcmError::KeyLength(20))
        );
        assert_eq!(
            decrypt(&[0; 24], b"", &[0; 40]),
            Err(GcmError::NotAuthentic)
        );
    }
}
