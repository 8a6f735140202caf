//! Throwaway key pairs for service apps: tests and `leaver demo` make one at run time
//! instead of shipping a private key.

use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};

/// An RSA key pair in PEM: the private key as PKCS#8 (`PRIVATE KEY`), the public key as
/// SPKI (`PUBLIC KEY`). The private key is redacted from `Debug`.
#[derive(Clone)]
pub struct KeyPair {
    pub private_key_pem: String,
    pub public_key_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_key_pem", &"[redacted]")
            .field("public_key_pem", &self.public_key_pem)
            .finish()
    }
}

impl KeyPair {
    /// A fresh 2048-bit RSA key pair (the size Okta requires at least).
    pub fn generate_rsa() -> Result<Self, String> {
        let mut rng = rand::thread_rng();
        let private = RsaPrivateKey::new(&mut rng, 2048)
            .map_err(|e| format!("cannot generate an RSA key: {e}"))?;
        let public = RsaPublicKey::from(&private);
        let private_key_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| format!("cannot encode the RSA private key: {e}"))?
            .to_string();
        let public_key_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("cannot encode the RSA public key: {e}"))?;
        Ok(Self {
            private_key_pem,
            public_key_pem,
        })
    }
}
