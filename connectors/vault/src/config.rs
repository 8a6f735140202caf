//! Connector configuration. The token is a secret: it is redacted from `Debug` and
//! never copied into an error, a log line or an outcome.

use std::fmt;
use std::time::Duration;

/// Vault's own default address (`VAULT_ADDR`).
pub const DEFAULT_ADDR: &str = "https://127.0.0.1:8200";
/// Time limit of one request unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach Vault.
#[derive(Clone)]
pub struct VaultConfig {
    /// Vault's address (`https://vault.internal:8200`), without `/v1`.
    pub addr: String,
    /// Token sent as `X-Vault-Token`. Secret. It needs, in each namespace used:
    /// `read` on `sys/auth`, `update` on `identity/lookup/entity`, `read`+`update` on
    /// `identity/entity/id/*`, `delete` on `identity/entity-alias/id/*`, `sudo`+`list` on
    /// `auth/token/accessors`, `update` on `auth/token/lookup-accessor` and
    /// `auth/token/revoke-accessor`, `sudo`+`update` on `sys/leases/revoke-prefix/*`,
    /// `sudo`+`list` on `sys/leases/lookup/*`, `read`+`delete` on `auth/<mount>/users/*`.
    pub token: String,
    /// Default namespace (`X-Vault-Namespace`) for actions that do not name one;
    /// `None` is the root namespace.
    pub namespace: Option<String>,
    /// Time limit of one request (connect + answer).
    pub request_timeout: Duration,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR.to_string(),
            token: String::new(),
            namespace: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = if self.token.is_empty() {
            "[empty]"
        } else {
            "[redacted]"
        };
        f.debug_struct("VaultConfig")
            .field("addr", &self.addr)
            .field("token", &token)
            .field("namespace", &self.namespace)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token() {
        let config = VaultConfig {
            token: "hvs.CANARY_0123456789".into(),
            ..VaultConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert!(format!("{:?}", VaultConfig::default()).contains("[empty]"));
    }
}
