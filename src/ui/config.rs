//! `[ui]`: the dashboard's configuration.

use crate::config::ConfigError;
use crate::duration::parse_duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub(super) const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// `[ui]`: the dashboard at `/`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// How long a dashboard sign-in lasts (e.g. "12h", "30m").
    pub session_ttl: String,
    /// `[ui.oidc]`: sign-in through the organisation's OpenID Connect provider
    /// (authorization code with PKCE). When present, the login page offers
    /// "Sign in with single sign-on" (`/login/oidc`).
    pub oidc: Option<OidcSection>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            session_ttl: "12h".into(),
            oidc: None,
        }
    }
}

impl UiConfig {
    pub fn session_ttl_duration(&self) -> Result<Duration, ConfigError> {
        let ttl = parse_duration(&self.session_ttl).map_err(|message| ConfigError::Invalid {
            origin: "key ui.session_ttl".into(),
            message,
        })?;
        if ttl.is_zero() {
            return Err(ConfigError::Invalid {
                origin: "key ui.session_ttl".into(),
                message: "must be longer than 0s".into(),
            });
        }
        Ok(ttl)
    }

    /// Check `[ui]` at config load.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.session_ttl_duration().map(|_| ())
    }
}

/// `[ui.oidc]`: the OpenID Connect provider dashboard users sign in with.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// The provider's issuer URL (its discovery document is
    /// `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id of Leaver's registration at the provider.
    pub client_id: String,
    /// `env:NAME` or `file:PATH`: the client secret.
    pub client_secret: String,
    /// Where the provider sends the browser back: `<public_url>/login/oidc/callback`.
    pub redirect_url: String,
    /// Only users whose verified email is in one of these domains may sign in
    /// (empty: any).
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
}
