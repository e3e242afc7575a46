//! Decryption of the committed fixtures (tests/fixtures/encryption: made by
//! make_fixtures.py there, with Python's hashlib and `cryptography`, an
//! implementation independent of this one, following OpenTofu's format).

use std::sync::{Arc, Mutex};

use super::*;
use crate::env::MapEnv;

const DEFAULT: &[u8] = include_bytes!("../../tests/fixtures/encryption/pbkdf2-default.tfstate");
const OLD: &[u8] = include_bytes!("../../tests/fixtures/encryption/pbkdf2-old-sha256-aad.tfstate");
const KMS: &[u8] = include_bytes!("../../tests/fixtures/encryption/aws-kms.tfstate");
const KMS_DATA_KEY: &str = include_str!("../../tests/fixtures/encryption/aws-kms.datakey.hex");
const PLAIN: &[u8] = include_bytes!("../../tests/fixtures/encryption/plain.tfstate");
/// OpenTofu's own encrypted-state fixture, byte for byte:
/// internal/command/testdata/init-encryption-with-state/terraform.tfstate
/// (metadata as a JSON object, and a fake payload that cannot decrypt).
const OPENTOFU_INIT_FIXTURE: &[u8] = br#"{
  "encryption_version": "v0",
  "meta": {
    "key_provider.pbkdf2.main": {
      "salt": "ZmFrZXNhbHQ=",
      "iterations": 600000,
      "hash_function": "sha512",
      "key_length": 32
    }
  },
  "encrypted_data": "ZmFrZS1lbmNyeXB0ZWQtcGF5bG9hZA=="
}
"#;

const MAIN_PASS: &str = "fixture-passphrase-main-0001";
const OLD_PASS: &str = "fixture-passphrase-old-0002";

/// A fake kms:Decrypt: answers the fixture's wrapped key, records calls.
struct FakeKms {
    answer: Result<Vec<u8>, String>,
    calls: Mutex<Vec<(KmsCall, kms::WrappedKey)>>,
}

#[async_trait::async_trait]
impl KmsDecrypt for FakeKms {
    async fn decrypt(
        &self,
        call: &KmsCall,
        key: &kms::WrappedKey,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        self.calls.lock().unwrap().push((call.clone(), key.clone()));
        self.answer.clone().map(Zeroizing::new)
    }
}

fn fake_kms(answer: Result<Vec<u8>, String>) -> Arc<FakeKms> {
    Arc::new(FakeKms {
        answer,
        calls: Mutex::new(Vec::new()),
    })
}

fn target() -> Target {
    Target {
        region: "eu-west-1".into(),
        endpoint_url: None,
        assume_role_arn: None,
    }
}

fn decryptor(toml_text: &str, env: &MapEnv, kms: Arc<dyn KmsDecrypt>) -> Decryptor {
    let v: toml::Value = toml::from_str(toml_text).unwrap();
    let cfg = parse(&v, "stacks[0].encryption", std::path::Path::new("."), env)
        .unwrap_or_else(|e| panic!("{e:?}"));
    Decryptor::new("app", Some(cfg), target(), kms)
}

fn pbkdf2_config(primary: &str, fallback: Option<&str>) -> String {
    let mut t = String::from(
        "[key_provider.pbkdf2.main]\npassphrase_env = \"MAIN_PASS\"\n[key_provider.pbkdf2.old]\npassphrase_env = \"OLD_PASS\"\n\
         [method.aes_gcm.main]\nkeys = \"key_provider.pbkdf2.main\"\n\
         [method.aes_gcm.old]\nkeys = \"key_provider.pbkdf2.old\"\naad = [100, 114, 105, 102, 116, 100, 45, 97, 97, 100]\n\
         [method.unencrypted.migrate]\n[state]\n",
    );
    t.push_str(&format!("method = \"{primary}\"\n"));
    if let Some(f) = fallback {
        t.push_str(&format!("fallback = {{ method = \"{f}\" }}\n"));
    }
    t
}

fn env() -> MapEnv {
    MapEnv::new([("MAIN_PASS", MAIN_PASS), ("OLD_PASS", OLD_PASS)])
}

fn no_kms() -> Arc<dyn KmsDecrypt> {
    fake_kms(Err("unused".into()))
}

async fn open_err(d: &Decryptor, bytes: &[u8]) -> String {
    match d.open("s3://b/app.tfstate", bytes).await {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn pbkdf2_with_opentofu_defaults_decrypts_to_the_state() {
    let d = decryptor(
        &pbkdf2_config("method.aes_gcm.main", None),
        &env(),
        no_kms(),
    );
    let plain = d.open("app.tfstate", DEFAULT).await.unwrap();
    assert_eq!(&*plain, PLAIN);
    assert!(matches!(plain, Plain::Decrypted(_)));
    let st = crate::state::parse("app.tfstate", &plain).unwrap();
    assert_eq!(st.serial, Some(7));
    assert_eq!(st.resources.len(), 1);
}

#[tokio::test]
async fn fallback_reads_the_old_key_and_primary_failures_are_listed() {
    let d = decryptor(
        &pbkdf2_config("method.aes_gcm.main", Some("method.aes_gcm.old")),
        &env(),
        no_kms(),
    );
    // Old file: the primary has no metadata in it, the fallback reads it
    // (sha256, 200000 iterations, AES-128, with an aad).
    assert_eq!(&*d.open("a", OLD).await.unwrap(), PLAIN);
    // New file: the primary reads it.
    assert_eq!(&*d.open("a", DEFAULT).await.unwrap(), PLAIN);
    // Without the fallback, the old file cannot be read, and the error says why.
    let d = decryptor(
        &pbkdf2_config("method.aes_gcm.main", None),
        &env(),
        no_kms(),
    );
    let e = open_err(&d, OLD).await;
    assert!(e.starts_with("s3://b/app.tfstate: cannot decrypt"), "{e}");
    assert!(
        e.contains("method.aes_gcm.main: the file has no metadata for key_provider.pbkdf2.main (it has: key_provider.pbkdf2.old)"),
        "{e}"
    );
}

#[tokio::test]
async fn wrong_passphrase_is_named_and_never_shown() {
    let wrong = "not-the-right-passphrase-42";
    let d = decryptor(
        &pbkdf2_config("method.aes_gcm.old", None),
        &MapEnv::new([("MAIN_PASS", MAIN_PASS), ("OLD_PASS", wrong)]),
        no_kms(),
    );
    let e = open_err(&d, OLD).await;
    assert!(
        e.contains("method.aes_gcm.old: wrong passphrase: the key derived from the passphrase in environment variable OLD_PASS does not decrypt this state"),
        "{e}"
    );
    assert!(!e.contains(wrong) && !e.contains(OLD_PASS), "{e}");
}

#[tokio::test]
async fn wrong_aad_does_not_authenticate() {
    let t = pbkdf2_config("method.aes_gcm.old", None).replace("aad = [100,", "aad = [101,");
    let d = decryptor(&t, &env(), no_kms());
    let e = open_err(&d, OLD).await;
    assert!(
        e.contains("wrong passphrase") && e.contains("aad differs"),
        "{e}"
    );
}

#[tokio::test]
async fn encrypted_state_without_encryption_configured() {
    let d = Decryptor::none("app");
    let e = open_err(&d, DEFAULT).await;
    assert_eq!(
        e,
        "s3://b/app.tfstate: this state is encrypted by OpenTofu: configure `encryption` for stack `app` (key_provider, method and state, as in the OpenTofu `encryption` block; see config/driftd.example.toml)"
    );
    // A plain state passes untouched (no copy).
    assert!(matches!(
        d.open("a", PLAIN).await.unwrap(),
        Plain::Original(_)
    ));
}

#[tokio::test]
async fn plain_state_needs_the_unencrypted_method_when_encryption_is_configured() {
    let d = decryptor(
        &pbkdf2_config("method.aes_gcm.main", None),
        &env(),
        no_kms(),
    );
    let e = open_err(&d, PLAIN).await;
    assert!(
        e.contains("this state is not encrypted, but stack `app` configures `encryption`"),
        "{e}"
    );
    // Migrating to encryption: aes_gcm primary, unencrypted fallback.
    let d = decryptor(
        &pbkdf2_config("method.aes_gcm.old", Some("method.unencrypted.migrate")),
        &env(),
        no_kms(),
    );
    assert!(matches!(
        d.open("a", PLAIN).await.unwrap(),
        Plain::Original(_)
    ));
    assert_eq!(&*d.open("a", OLD).await.unwrap(), PLAIN);
    // Migrating away: unencrypted primary, aes_gcm fallback.
    let d = decryptor(
        &pbkdf2_config("method.unencrypted.migrate", Some("method.aes_gcm.old")),
        &env(),
        no_kms(),
    );
    assert_eq!(&*d.open("a", OLD).await.unwrap(), PLAIN);
    assert!(matches!(
        d.open("a", PLAIN).await.unwrap(),
        Plain::Original(_)
    ));
    // Only unencrypted, and an encrypted file.
    let d = decryptor(
        &pbkdf2_config("method.unencrypted.migrate", None),
        &env(),
        no_kms(),
    );
    let e = open_err(&d, DEFAULT).await;
    assert!(e.contains("configures only the unencrypted method"), "{e}");
}

#[tokio::test]
async fn opentofu_init_fixture_is_recognised_as_encrypted() {
    // Recognised as an envelope (metadata given as an object)...
    let env_ = envelope(OPENTOFU_INIT_FIXTURE).unwrap().unwrap();
    let meta = String::from_utf8(env_.meta["key_provider.pbkdf2.main"].clone()).unwrap();
    assert!(meta.contains(r#""salt":"ZmFrZXNhbHQ=""#), "{meta}");
    assert_eq!(env_.data, b"fake-encrypted-payload");
    // ...refused without configuration...
    let e = open_err(&Decryptor::none("app"), OPENTOFU_INIT_FIXTURE).await;
    assert!(
        e.contains("this state is encrypted by OpenTofu: configure `encryption`"),
        "{e}"
    );
    // ...and its fake payload (22 bytes) is too short to be AES-GCM.
    let d = decryptor(
        &pbkdf2_config("method.aes_gcm.main", None),
        &env(),
        no_kms(),
    );
    let e = open_err(&d, OPENTOFU_INIT_FIXTURE).await;
    assert!(
        e.contains("encrypted_data is 22 bytes, too short for AES-GCM"),
        "{e}"
    );
}

#[tokio::test]
async fn unknown_version_corruption_and_tampered_passthrough() {
    let d = decryptor(&pbkdf2_config("method.aes_gcm.old", None), &env(), no_kms());
    let text = std::str::from_utf8(OLD).unwrap();
    let e = open_err(&d, text.replace("\"v0\"", "\"v1\"").as_bytes()).await;
    assert!(
        e.contains("encryption_version `v1`, which driftd does not know"),
        "{e}"
    );
    let e = open_err(&d, text.replace("\"serial\":7", "\"serial\":8").as_bytes()).await;
    assert!(
        e.contains("the envelope's serial 8 is not the decrypted state's serial 7"),
        "{e}"
    );
    let e = open_err(&d, text.replace("4a1b9c3e", "ffffffff").as_bytes()).await;
    assert!(e.contains("lineage"), "{e}");
    let e = open_err(
        &d,
        br#"{"encryption_version":"v0","meta":{},"encrypted_data":"***"}"#,
    )
    .await;
    assert!(e.contains("encrypted_data is not base64"), "{e}");
    let e = open_err(
        &d,
        br#"{"encryption_version":"v0","meta":{"key_provider.pbkdf2.old":"e30="},"encrypted_data":"AAAA"}"#,
    )
    .await;
    assert!(e.contains("pbkdf2 metadata is incomplete"), "{e}");
    // Not an envelope, not JSON: left to state::parse.
    assert!(matches!(
        Decryptor::none("app")
            .open("a", b"{\"encryption_version\": ")
            .await
            .unwrap(),
        Plain::Original(_)
    ));
}

const KMS_CONFIG: &str = "[key_provider.aws_kms.main]\nkms_key_id = \"alias/tofu-state\"\nkey_spec = \"AES_256\"\n[method.aes_gcm.main]\nkeys = \"key_provider.aws_kms.main\"\n[state]\nmethod = \"method.aes_gcm.main\"\n";

#[tokio::test]
async fn aws_kms_unwraps_the_stored_data_key_with_the_stored_context() {
    let kms = fake_kms(Ok(hex::decode(KMS_DATA_KEY.trim()).unwrap()));
    let d = decryptor(KMS_CONFIG, &MapEnv::default(), kms.clone());
    assert_eq!(&*d.open("a", KMS).await.unwrap(), PLAIN);
    let calls = kms.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    let (call, key) = &calls[0];
    assert_eq!(call.kms_key_id, "alias/tofu-state");
    // The stack's state region by default.
    assert_eq!(call.target.region, "eu-west-1");
    assert_eq!(key.ciphertext_blob, b"fixture-wrapped-data-key");
    assert_eq!(key.encryption_context["Environment"], "test");
}

#[tokio::test]
async fn aws_kms_errors_say_what_is_wrong() {
    // KMS's own answer (a denial here) is passed on.
    let denial = kms::explain(
        Some("AccessDeniedException"),
        Some("User is not authorized to perform: kms:Decrypt"),
        &KmsCall {
            target: target(),
            kms_key_id: "alias/tofu-state".into(),
        },
        "",
    );
    let d = decryptor(KMS_CONFIG, &MapEnv::default(), fake_kms(Err(denial)));
    let e = open_err(&d, KMS).await;
    assert!(
        e.contains("KMS denied kms:Decrypt on alias/tofu-state in eu-west-1"),
        "{e}"
    );
    assert!(e.contains("grant driftd's role kms:Decrypt"), "{e}");
    // A data key that is not the one: wrong key.
    let d = decryptor(KMS_CONFIG, &MapEnv::default(), fake_kms(Ok(vec![7; 32])));
    let e = open_err(&d, KMS).await;
    assert!(
        e.contains(
            "wrong key: the data key that KMS key alias/tofu-state unwrapped does not decrypt"
        ),
        "{e}"
    );
    // A pbkdf2 file read with a KMS config: no metadata for it.
    let d = decryptor(KMS_CONFIG, &MapEnv::default(), fake_kms(Ok(vec![7; 32])));
    let e = open_err(&d, DEFAULT).await;
    assert!(
        e.contains("no metadata for key_provider.aws_kms.main (it has: key_provider.pbkdf2.main)"),
        "{e}"
    );
}

#[test]
fn plain_states_are_not_parsed_twice() {
    // No `"encryption_version"` in the bytes: no JSON parse at all.
    assert!(envelope(b"not json").unwrap().is_none());
    assert!(envelope(PLAIN).unwrap().is_none());
    // Present but empty: not an envelope (OpenTofu's IsEncryptionPayload).
    assert!(envelope(br#"{"version":4,"encryption_version":""}"#)
        .unwrap()
        .is_none());
}

/// Whatever the bytes, opening never panics and every error starts with the
/// file's name (as `state::parse`'s do).
mod props {
    use super::*;
    use proptest::prelude::*;

    fn check(d: &Decryptor, bytes: &[u8]) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        if let Err(e) = rt.block_on(d.open("x.tfstate", bytes)) {
            assert!(e.starts_with("x.tfstate: "), "{e}");
        }
    }

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let d = decryptor(&pbkdf2_config("method.aes_gcm.old", Some("method.unencrypted.migrate")), &env(), no_kms());
            check(&d, &bytes);
            check(&Decryptor::none("app"), &bytes);
        }

        #[test]
        fn arbitrary_envelopes_never_panic(
            version in prop::sample::select(vec!["v0", "v1", ""]),
            key in prop::sample::select(vec!["key_provider.pbkdf2.old", "key_provider.aws_kms.main", "other"]),
            as_object in any::<bool>(),
            salt in proptest::collection::vec(any::<u8>(), 0..8),
            iterations in -3i64..4,
            hash in prop::sample::select(vec!["sha256", "sha512", "md5", ""]),
            key_length in prop::sample::select(vec![-1i64, 0, 7, 16, 24, 32, 64]),
            data in proptest::collection::vec(any::<u8>(), 0..64),
            data_b64 in any::<bool>(),
            serial in prop::option::of(0u64..3),
        ) {
            let meta = serde_json::json!({
                "salt": b64(&salt), "iterations": iterations, "hash_function": hash,
                "key_length": key_length, "ciphertext_blob": b64(&salt),
            });
            let meta_value = if as_object { meta } else { serde_json::json!(b64(meta.to_string().as_bytes())) };
            let data = if data_b64 { b64(&data) } else { String::from_utf8_lossy(&data).into_owned() };
            let file = serde_json::json!({
                "serial": serial, "lineage": "l", "meta": {key: meta_value},
                "encrypted_data": data, "encryption_version": version,
            }).to_string();
            let d = decryptor(&pbkdf2_config("method.aes_gcm.old", None), &env(), no_kms());
            check(&d, file.as_bytes());
            let d = decryptor(KMS_CONFIG, &MapEnv::default(), fake_kms(Ok(vec![1; 32])));
            check(&d, file.as_bytes());
        }
    }
}
