//! Connector configuration. The private key is a secret: it is redacted from `Debug`
//! and never copied into an error, a log line or an outcome.

use std::fmt;
use std::time::Duration;

/// Scopes the connector asks for unless configured otherwise: `okta.users.manage`
/// (deactivate, clear sessions), `okta.users.read` (read users, list a user's clients
/// and tokens) and `okta.logs.read` (the System Log: verifying a session clear, and the
/// reconciliation of lost event hook deliveries).
pub const DEFAULT_SCOPES: [&str; 3] = ["okta.users.manage", "okta.users.read", "okta.logs.read"];
/// Time limit of one request unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach an Okta org as an API service app (OAuth 2.0 client credentials,
/// `private_key_jwt`: the only client authentication Okta accepts for Okta-scoped
/// tokens).
#[derive(Clone)]
pub struct OktaApiConfig {
    /// The org URL (`https://acme.okta.com`); the token endpoint is
    /// `{org_url}/oauth2/v1/token` (the org authorization server).
    pub org_url: String,
    /// The service app's client id (`0oa…`).
    pub client_id: String,
    /// The service app's private key, PEM: PKCS#8 (`PRIVATE KEY`, RSA or EC P-256/P-384)
    /// or PKCS#1 (`RSA PRIVATE KEY`). Secret.
    pub private_key_pem: String,
    /// The key's id (`kid`) in the app's JWKS, sent in the assertion header; Okta needs
    /// it when the app has several keys.
    pub key_id: Option<String>,
    /// OAuth scopes to request; each must be granted to the app.
    pub scopes: Vec<String>,
    /// Time limit of one request (connect + answer).
    pub request_timeout: Duration,
}

impl Default for OktaApiConfig {
    fn default() -> Self {
        Self {
            org_url: String::new(),
            client_id: String::new(),
            private_key_pem: String::new(),
            key_id: None,
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Debug for OktaApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.private_key_pem.is_empty() {
            "[empty]"
        } else {
            "[redacted]"
        };
        f.debug_struct("OktaApiConfig")
            .field("org_url", &self.org_url)
            .field("client_id", &self.client_id)
            .field("private_key_pem", &key)
            .field("key_id", &self.key_id)
            .field("scopes", &self.scopes)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let config = OktaApiConfig {
            private_key_pem: "-----BEGIN PRIVATE KEY-----\nCANARY\n-----END PRIVATE KEY-----"
                .into(),
            ..OktaApiConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert!(format!("{:?}", OktaApiConfig::default()).contains("[empty]"));
    }
}
