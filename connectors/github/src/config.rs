//! Connector configuration. The token and the App's private key are secrets: they are
//! redacted from `Debug` and never copied into an error, a log line or an outcome.

use std::fmt;
use std::time::Duration;

/// The GitHub REST API base URL.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The REST API version pinned in `X-GitHub-Api-Version` unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2022-11-28";
/// Time limit of one request unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a call waits in-process for the rate-limit budget of its credential; a
/// longer wait is handed to the engine as a transient error with `retry_after`.
pub const DEFAULT_MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(20);
/// The key of `identity.accounts` that carries an IdP profile attribute with the
/// GitHub login, consulted when `accounts.github` is not set.
pub const DEFAULT_LOGIN_ATTRIBUTE: &str = "githubUsername";

/// Authentication as a GitHub App installation: a JWT signed with the App's private key
/// (RS256) is exchanged for an installation token, refreshed before it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct GithubAppConfig {
    /// The App's id (the JWT's `iss`).
    pub app_id: u64,
    /// The installation in the organization.
    pub installation_id: u64,
    /// The App's private key, PEM (PKCS#1 `RSA PRIVATE KEY` as GitHub issues it, or
    /// PKCS#8). Secret.
    pub private_key_pem: String,
}

impl fmt::Debug for GithubAppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubAppConfig")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("private_key_pem", &"[redacted]")
            .finish()
    }
}

/// How to reach GitHub.
#[derive(Clone)]
pub struct GithubConfig {
    /// API base URL (`https://api.github.com`, a GHES `https://host/api/v3`, or a
    /// simulator).
    pub api_url: String,
    /// Default organization for actions whose `org` parameter is not given.
    pub org: Option<String>,
    /// Token sent as `Authorization: Bearer …` (PAT or installation token). Secret.
    /// Empty: no `Authorization` header (GitHub will answer 401) unless `app` is set.
    pub token: String,
    /// GitHub App installation credentials, instead of `token`.
    pub app: Option<GithubAppConfig>,
    /// Time limit of one request (connect + answer).
    pub request_timeout: Duration,
    /// `X-GitHub-Api-Version` (`2022-11-28` or `2026-03-10`).
    pub api_version: String,
    /// Longest in-process wait for the credential's rate-limit budget.
    pub max_rate_limit_wait: Duration,
    /// `identity.accounts` key holding the IdP profile attribute with the GitHub login.
    pub login_attribute: String,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_string(),
            org: None,
            token: String::new(),
            app: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            api_version: DEFAULT_API_VERSION.to_string(),
            max_rate_limit_wait: DEFAULT_MAX_RATE_LIMIT_WAIT,
            login_attribute: DEFAULT_LOGIN_ATTRIBUTE.to_string(),
        }
    }
}

impl fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = if self.token.is_empty() {
            "[empty]"
        } else {
            "[redacted]"
        };
        f.debug_struct("GithubConfig")
            .field("api_url", &self.api_url)
            .field("org", &self.org)
            .field("token", &token)
            .field("app", &self.app)
            .field("request_timeout", &self.request_timeout)
            .field("api_version", &self.api_version)
            .field("max_rate_limit_wait", &self.max_rate_limit_wait)
            .field("login_attribute", &self.login_attribute)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token_and_the_key() {
        let config = GithubConfig {
            token: "ghp_canary_0123456789".into(),
            app: Some(GithubAppConfig {
                app_id: 1,
                installation_id: 2,
                private_key_pem: "-----BEGIN RSA PRIVATE KEY-----canary".into(),
            }),
            ..GithubConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("ghp_canary_0123456789"), "{shown}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
