//! The SCIM 2.0 service provider (RFC 7643, RFC 7644) at /scim/v2, for Okta and
//! Microsoft Entra provisioning: Users (create, read, list with filters and paging,
//! replace, patch, delete, `/.search`), ServiceProviderConfig, ResourceTypes and
//! Schemas. Deactivating (`active` true → false) or deleting a user starts an
//! offboarding through `intake::start`; a reactivation before a scheduled offboarding
//! takes effect (`scim.deactivation_grace`) cancels it.
//!
//! - `schema`: the served schemas as data; `filter`: filters and attribute paths;
//!   `resource`: normalising input, rendering output; `patch`: PatchOp;
//!   `deprovision`: from transitions to intake events; `routes`: the HTTP handlers;
//!   `error`: SCIM error bodies. Storage is `store::scim`.

pub mod deprovision;
pub mod error;
pub mod filter;
pub mod patch;
pub mod resource;
mod routes;
pub mod schema;

pub use deprovision::resume_pending;
pub use routes::router;

use crate::config::{Config, ConfigError, ScimProvider};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The SCIM server's settings. The bearer token is kept only as its SHA-256 digest
/// and compared digest to digest in constant time.
#[derive(Clone)]
pub struct ScimService {
    token_digest: [u8; 32],
    pub provider: ScimProvider,
    /// Delay between a deactivation and the offboarding's effective time.
    pub grace: Duration,
    /// `server.public_url`, for resource locations; without it, the request's Host.
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for ScimService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimService")
            .field("provider", &self.provider)
            .field("grace", &self.grace)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl ScimService {
    pub fn new(token: &str, provider: ScimProvider, grace: Duration) -> Self {
        Self {
            token_digest: Sha256::digest(token.as_bytes()).into(),
            provider,
            grace,
            public_url: None,
            max_body_bytes: crate::config::ServerConfig::default().max_body_bytes,
        }
    }

    /// From `[scim]` (None without it), resolving the token reference.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        let Some(section) = &config.scim else {
            return Ok(None);
        };
        let token = crate::config::resolve_secret("scim.token", &section.token)?;
        let token = secrecy::ExposeSecret::expose_secret(&token);
        if token.is_empty() {
            return Err(ConfigError::Secret {
                key: "scim.token".into(),
                message: "the token is empty".into(),
            });
        }
        let mut service = Self::new(token, section.provider, section.grace_duration()?);
        service.public_url = config
            .server
            .public_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string());
        service.max_body_bytes = config.server.max_body_bytes;
        Ok(Some(service))
    }

    /// Whether `presented` is the configured token.
    pub fn token_matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        bool::from(digest.ct_eq(&self.token_digest))
    }

    /// A deactivation's effective time: now plus the grace, None (now) without one.
    fn effective_at(&self, now_ms: i64) -> Option<i64> {
        if self.grace.is_zero() {
            return None;
        }
        let grace = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        Some(now_ms.saturating_add(grace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_compared_by_digest_and_never_shown() {
        let service = ScimService::new("scim-canary-token-1", ScimProvider::Okta, Duration::ZERO);
        assert!(service.token_matches(b"scim-canary-token-1"));
        assert!(!service.token_matches(b"scim-canary-token-2"));
        assert!(!service.token_matches(b""));
        assert!(!format!("{service:?}").contains("canary"));
        assert_eq!(service.effective_at(1000), None);
        let later = ScimService::new("t", ScimProvider::Entra, Duration::from_secs(60));
        assert_eq!(later.effective_at(1000), Some(61_000));
    }
}
