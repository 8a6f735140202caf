//! Encrypting a secret value for GitHub: a libsodium sealed box (`crypto_box_seal`:
//! an ephemeral X25519 key pair, XSalsa20-Poly1305, nonce = BLAKE2b(ephemeral pk ‖
//! recipient pk)) to the target's Curve25519 public key, then base64 — exactly what
//! GitHub's "Encrypting secrets for the REST API" guide does with libsodium. The
//! cryptography is RustCrypto's `crypto_box` (feature `seal`); nothing is hand-rolled.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use crypto_box::aead::OsRng;
use crypto_box::{PublicKey, KEY_SIZE};
use secrecy::{ExposeSecret, SecretString};

/// Largest secret value GitHub stores (48 KB).
pub const MAX_SECRET_BYTES: usize = 48 * 1024;

/// Why a value could not be sealed. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The public key GitHub returned is not base64 of 32 bytes.
    #[error("the public key GitHub returned is not a base64 Curve25519 key ({0})")]
    PublicKey(String),
    /// The value is empty.
    #[error("the secret value is empty")]
    Empty,
    /// The value is larger than GitHub accepts.
    #[error("the secret value is {0} bytes; GitHub stores at most 48 KB")]
    TooLarge(usize),
    /// The cipher failed (does not happen for valid keys).
    #[error("sealing the secret value failed")]
    Cipher,
}

/// Decode GitHub's base64 `key` into a Curve25519 public key.
pub fn public_key(key_b64: &str) -> Result<PublicKey, SealError> {
    let bytes = BASE64
        .decode(key_b64.trim())
        .map_err(|e| SealError::PublicKey(e.to_string()))?;
    let bytes: [u8; KEY_SIZE] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SealError::PublicKey(format!("{} bytes, not {KEY_SIZE}", bytes.len())))?;
    Ok(PublicKey::from(bytes))
}

/// Seal `value` to the base64 public key `key_b64`; the base64 `encrypted_value` GitHub
/// expects. A fresh ephemeral key each call, so two seals of one value differ.
pub fn seal(key_b64: &str, value: &SecretString) -> Result<String, SealError> {
    let recipient = public_key(key_b64)?;
    let plaintext = value.expose_secret().as_bytes();
    if plaintext.is_empty() {
        return Err(SealError::Empty);
    }
    if plaintext.len() > MAX_SECRET_BYTES {
        return Err(SealError::TooLarge(plaintext.len()));
    }
    let sealed = recipient
        .seal(&mut OsRng, plaintext)
        .map_err(|_| SealError::Cipher)?;
    Ok(BASE64.encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::SecretKey;

    const CANARY: &str = "s3cr3t-CANARY-value-never-shown";

    fn key_pair() -> (SecretKey, String) {
        let secret = SecretKey::generate(&mut OsRng);
        let public = BASE64.encode(secret.public_key().as_bytes());
        (secret, public)
    }

    #[test]
    fn sealed_value_opens_with_the_matching_private_key_only() {
        let (secret, public) = key_pair();
        let sealed = seal(&public, &SecretString::from(CANARY)).unwrap();
        assert!(!sealed.contains(CANARY));
        let blob = BASE64.decode(&sealed).unwrap();
        // 32-byte ephemeral public key + 16-byte Poly1305 tag + the message.
        assert_eq!(blob.len(), 32 + 16 + CANARY.len());
        assert_eq!(secret.unseal(&blob).unwrap(), CANARY.as_bytes());

        let (wrong, _) = key_pair();
        assert!(wrong.unseal(&blob).is_err());
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(secret.unseal(&tampered).is_err());
    }

    #[test]
    fn each_seal_uses_a_fresh_ephemeral_key() {
        let (secret, public) = key_pair();
        let value = SecretString::from(CANARY);
        let a = seal(&public, &value).unwrap();
        let b = seal(&public, &value).unwrap();
        assert_ne!(a, b);
        for sealed in [a, b] {
            let blob = BASE64.decode(sealed).unwrap();
            assert_eq!(secret.unseal(&blob).unwrap(), CANARY.as_bytes());
        }
    }

    #[test]
    fn refuses_bad_keys_and_values_without_echoing_the_value() {
        let value = SecretString::from(CANARY);
        for key in ["not base64!", "AAAA", ""] {
            let error = seal(key, &value).unwrap_err();
            assert!(matches!(error, SealError::PublicKey(_)), "{error:?}");
            assert!(!error.to_string().contains(CANARY));
        }
        let (_, public) = key_pair();
        assert_eq!(
            seal(&public, &SecretString::from("")),
            Err(SealError::Empty)
        );
        let big = SecretString::from("x".repeat(MAX_SECRET_BYTES + 1));
        assert_eq!(
            seal(&public, &big),
            Err(SealError::TooLarge(MAX_SECRET_BYTES + 1))
        );
    }
}
