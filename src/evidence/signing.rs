//! The ledger's Ed25519 signing key and signed checkpoints.
//!
//! A checkpoint states "the entry with sequence number `seq` has hash `hash`", signed
//! at `time` by the key `key_id`. Since every hash covers its predecessor, a valid
//! checkpoint vouches for every entry up to and including `seq`.
//!
//! ```text
//! key_id    = first 16 hex characters of hex(SHA-256(raw 32-byte Ed25519 public key))
//! message   = canonical_json({"hash":…,"key_id":…,"seq":…,"time":…})
//! signature = base64(Ed25519-sign(message))          (standard alphabet, padded)
//! ```
//!
//! e.g. `message` = `{"hash":"3a7bd3e2…","key_id":"5f2b9c0d1e4a6b7c","seq":42,"time":"2026-11-25T05:12:49.123Z"}`.
//! Keys are stored as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); public keys are
//! published as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).

use super::canonical::write_string;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A signed statement of the chain's hash at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    /// The `hash` of entry `seq`.
    pub hash: String,
    /// When it was signed (ledger time format).
    pub time: String,
    /// The signing key's id ([`key_id`]).
    pub key_id: String,
    /// Base64 (standard, padded) Ed25519 signature over [`checkpoint_message`].
    pub signature: String,
}

/// Why a signing key could not be loaded or created. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the signing key {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the signing key {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the signing key {} is not a PKCS#8 PEM Ed25519 private key: {message}", path.display())]
    MalformedFile { path: PathBuf, message: String },
    #[error("the signing key is not a PKCS#8 PEM Ed25519 private key: {0}")]
    Malformed(String),
    #[error("cannot encode the signing key: {0}")]
    Encode(String),
}

/// The ledger's Ed25519 key pair. `Debug` shows only the key id; the private key is
/// never printed.
#[derive(Clone)]
pub struct LedgerKey {
    signing: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl LedgerKey {
    /// A new random key (from the operating system's CSPRNG).
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn from_signing_key(signing: SigningKey) -> Self {
        let key_id = key_id(&signing.verifying_key());
        Self { signing, key_id }
    }

    /// Parse a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`). Surrounding
    /// whitespace is ignored (handy for keys passed in environment variables).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(Self::from_signing_key)
            .map_err(|e| KeyError::Malformed(e.to_string()))
    }

    /// The private key as PKCS#8 PEM. Handle with care: this is the secret.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        self.signing
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Load the key at `path`, or create one there if the file does not exist. A new
    /// file is written with mode 0600 (on Unix) and appears atomically: a concurrent
    /// start on another process either creates it or reads the one that won.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(pem) => return Self::from_file_contents(path, &pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(KeyError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        let key = Self::generate();
        let pem = key.to_pkcs8_pem()?;
        match write_new_private_file(path, pem.as_bytes()) {
            Ok(()) => {
                tracing::info!(path = %path.display(), key_id = %key.key_id, "created the evidence signing key");
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Another process created it first: use theirs.
                let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::from_file_contents(path, &pem)
            }
            Err(source) => Err(KeyError::Create {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn from_file_contents(path: &Path, pem: &str) -> Result<Self, KeyError> {
        let key = Self::from_pem(pem).map_err(|e| KeyError::MalformedFile {
            path: path.to_path_buf(),
            message: match e {
                KeyError::Malformed(message) => message,
                other => other.to_string(),
            },
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if let Ok(meta) = std::fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", meta.permissions().mode() & 0o777),
                        "the evidence signing key is readable by other users; chmod 600 it"
                    );
                }
            }
        }
        Ok(key)
    }

    /// The public key (verifying key).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`),
    /// what auditors are given and what export bundles carry.
    pub fn public_key_pem(&self) -> String {
        public_key_pem(&self.verifying_key())
    }

    /// First 16 hex characters of SHA-256 of the raw 32-byte public key.
    pub fn key_id(&self) -> String {
        self.key_id.clone()
    }

    /// Sign "entry `seq` has hash `hash`" at `time`.
    pub fn sign_checkpoint(&self, seq: i64, hash: &str, time: &str) -> Checkpoint {
        let message = checkpoint_message(seq, hash, time, &self.key_id);
        let signature: Signature = self.signing.sign(message.as_bytes());
        Checkpoint {
            seq,
            hash: hash.to_string(),
            time: time.to_string(),
            key_id: self.key_id.clone(),
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        }
    }
}

/// Create `path` with `contents`, mode 0600, failing with `AlreadyExists` if it exists.
/// The contents are written to a temporary file first and hard-linked into place, so
/// the key file never exists half-written.
fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "signing-key".to_string());
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        hex::encode(rand::random::<[u8; 6]>())
    ));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            // File systems without hard links: fall back to a plain exclusive create.
            Err(_) => {
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    options.mode(0o600);
                }
                let mut file = options.open(path)?;
                file.write_all(contents)?;
                file.sync_all()
            }
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// SubjectPublicKeyInfo PEM of a public key.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    // Encoding 32 bytes into SPKI cannot fail; fall back to an empty string rather
    // than panic if the encoder ever refuses.
    key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
}

/// Parse a SubjectPublicKeyInfo PEM Ed25519 public key (`-----BEGIN PUBLIC KEY-----`).
pub fn parse_public_key_pem(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| format!("not a PEM Ed25519 public key (-----BEGIN PUBLIC KEY-----): {e}"))
}

/// First 16 hex characters of SHA-256 of the raw 32-byte public key.
pub fn key_id(key: &VerifyingKey) -> String {
    let mut id = hex::encode(Sha256::digest(key.as_bytes()));
    id.truncate(16);
    id
}

/// The signed bytes of a checkpoint: `canonical_json({hash, key_id, seq, time})`.
pub fn checkpoint_message(seq: i64, hash: &str, time: &str, key_id: &str) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("{\"hash\":");
    write_string(&mut out, hash);
    out.push_str(",\"key_id\":");
    write_string(&mut out, key_id);
    out.push_str(",\"seq\":");
    out.push_str(&seq.to_string());
    out.push_str(",\"time\":");
    write_string(&mut out, time);
    out.push('}');
    out
}

/// Check a checkpoint's signature under `key` (strict Ed25519 verification). Does not
/// look at the chain; [`super::verify`] does that.
pub fn verify_checkpoint_with(key: &VerifyingKey, checkpoint: &Checkpoint) -> Result<(), String> {
    let expected_id = key_id(key);
    if checkpoint.key_id != expected_id {
        return Err(format!(
            "signed by key {:?}, not by key {expected_id}",
            super::entry::truncate_for_message(&checkpoint.key_id)
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(checkpoint.signature.as_bytes())
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let bytes: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("signature is {} bytes, not 64", bytes.len()))?;
    let signature = Signature::from_bytes(&bytes);
    let message = checkpoint_message(
        checkpoint.seq,
        &checkpoint.hash,
        &checkpoint.time,
        &checkpoint.key_id,
    );
    key.verify_strict(message.as_bytes(), &signature)
        .map_err(|_| format!("signature does not verify under key {expected_id}"))
}

/// Check a checkpoint's signature under a PEM public key.
pub fn verify_checkpoint(public_key_pem: &str, checkpoint: &Checkpoint) -> Result<(), String> {
    let key = parse_public_key_pem(public_key_pem)?;
    verify_checkpoint_with(&key, checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";
    const TIME: &str = "2026-11-25T05:12:49.123Z";

    #[test]
    fn sign_and_verify() {
        let key = LedgerKey::generate();
        let checkpoint = key.sign_checkpoint(42, HASH, TIME);
        assert_eq!(checkpoint.seq, 42);
        assert_eq!(checkpoint.key_id, key.key_id());
        assert_eq!(
            verify_checkpoint(&key.public_key_pem(), &checkpoint),
            Ok(())
        );
        assert_eq!(
            verify_checkpoint_with(&key.verifying_key(), &checkpoint),
            Ok(())
        );
    }

    #[test]
    fn every_signed_field_is_covered() {
        let key = LedgerKey::generate();
        let good = key.sign_checkpoint(42, HASH, TIME);
        let mut bad = good.clone();
        bad.seq = 43;
        assert!(verify_checkpoint_with(&key.verifying_key(), &bad).is_err());
        let mut bad = good.clone();
        bad.hash = GENESIS.to_string();
        assert!(verify_checkpoint_with(&key.verifying_key(), &bad).is_err());
        let mut bad = good.clone();
        bad.time = "2026-11-25T05:12:49.124Z".into();
        assert!(verify_checkpoint_with(&key.verifying_key(), &bad).is_err());
        let mut bad = good.clone();
        bad.signature = "not base64!".into();
        let error = verify_checkpoint_with(&key.verifying_key(), &bad).expect_err("bad");
        assert!(error.contains("base64"), "{error}");
        let mut bad = good;
        bad.signature = base64::engine::general_purpose::STANDARD.encode([0u8; 10]);
        let error = verify_checkpoint_with(&key.verifying_key(), &bad).expect_err("bad");
        assert!(error.contains("not 64"), "{error}");
    }

    const GENESIS: &str = super::super::entry::GENESIS_HASH;

    #[test]
    fn another_key_does_not_verify() {
        let key = LedgerKey::generate();
        let other = LedgerKey::generate();
        let checkpoint = key.sign_checkpoint(1, HASH, TIME);
        let error = verify_checkpoint_with(&other.verifying_key(), &checkpoint).expect_err("bad");
        assert!(error.contains("signed by key"), "{error}");
        // Even when the key id is relabelled, the signature does not verify.
        let mut relabelled = checkpoint;
        relabelled.key_id = other.key_id();
        let error = verify_checkpoint_with(&other.verifying_key(), &relabelled).expect_err("bad");
        assert!(error.contains("does not verify"), "{error}");
    }

    #[test]
    fn message_is_canonical_json() {
        let message = checkpoint_message(7, "h\"", "t", "k");
        let canonical = super::super::canonical::canonical_json(
            &serde_json::json!({"time": "t", "seq": 7, "key_id": "k", "hash": "h\""}),
        )
        .expect("canonical");
        assert_eq!(message, canonical);
    }

    #[test]
    fn key_id_is_sha256_prefix_of_raw_public_key() {
        let key = LedgerKey::generate();
        let raw = key.verifying_key().to_bytes();
        assert_eq!(key.key_id(), hex::encode(Sha256::digest(raw))[..16]);
        assert_eq!(key.key_id().len(), 16);
    }

    #[test]
    fn pem_round_trip() {
        let key = LedgerKey::generate();
        let pem = key.to_pkcs8_pem().expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let again = LedgerKey::from_pem(&format!("\n  {pem}  \n")).expect("parse");
        assert_eq!(again.key_id(), key.key_id());
        let public = key.public_key_pem();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
        assert_eq!(parse_public_key_pem(&public), Ok(key.verifying_key()));
        assert!(parse_public_key_pem(&pem).is_err());
        assert!(LedgerKey::from_pem(&public).is_err());
        assert!(LedgerKey::from_pem("garbage").is_err());
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let key = LedgerKey::generate();
        let pem = key.to_pkcs8_pem().expect("pem");
        let body: String = pem.lines().nth(1).unwrap_or_default().to_string();
        let debug = format!("{key:?} {key:#?}");
        assert!(debug.contains(&key.key_id()), "{debug}");
        assert!(!debug.contains(&body), "{debug}");
        let secret_hex = hex::encode(key.signing.to_bytes());
        assert!(!debug.contains(&secret_hex), "{debug}");
        assert!(!debug.to_lowercase().contains("private"), "{debug}");
    }

    #[test]
    fn load_or_create_creates_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("leaver-signing.key");
        let created = LedgerKey::load_or_create(&path).expect("create");
        let loaded = LedgerKey::load_or_create(&path).expect("load");
        assert_eq!(created.key_id(), loaded.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shared.key");
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| LedgerKey::load_or_create(&path).map(|k| k.key_id())))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("key"))
                .collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let on_disk = LedgerKey::load_or_create(&path).expect("load");
        assert_eq!(on_disk.key_id(), ids[0]);
    }

    #[test]
    fn load_or_create_reports_the_path_of_a_malformed_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("broken.key");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
        )
        .expect("write");
        let error = LedgerKey::load_or_create(&path)
            .expect_err("malformed")
            .to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains("PKCS#8"), "{error}");
        // The file is left alone.
        assert!(std::fs::read_to_string(&path)
            .expect("read")
            .contains("nope"));
    }

    #[test]
    fn load_or_create_reports_the_path_when_it_cannot_create() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("k.pem");
        let error = LedgerKey::load_or_create(&path)
            .expect_err("no dir")
            .to_string();
        assert!(error.contains("cannot create"), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn load_or_create_reports_the_path_when_unreadable() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the key file should be.
        let path = dir.path().join("k.pem");
        std::fs::create_dir(&path).expect("mkdir");
        let error = LedgerKey::load_or_create(&path)
            .expect_err("unreadable")
            .to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
    }
}
