//! Connector configuration. The token is a secret: it is redacted from `Debug` and
//! never copied into an error, a log line or an outcome.

use std::fmt;
use std::time::Duration;

/// The GitHub REST API base URL.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The REST API version pinned in `X-GitHub-Api-Version` unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2022-11-28";
/// Time limit of one request unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach GitHub.
#[derive(Clone)]
pub struct GithubConfig {
    /// API base URL (`https://api.github.com`, a GHES `https://host/api/v3`, or a
    /// simulator).
    pub api_url: String,
    /// Default organization for actions whose `org` parameter is not given.
    pub org: Option<String>,
    /// Token sent as `Authorization: Bearer …` (PAT or installation token). Secret.
    /// Empty: no `Authorization` header (GitHub will answer 401).
    pub token: String,
    /// Time limit of one request (connect + answer).
    pub request_timeout: Duration,
    /// `X-GitHub-Api-Version` (`2022-11-28` or `2026-03-10`).
    pub api_version: String,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_string(),
            org: None,
            token: String::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            api_version: DEFAULT_API_VERSION.to_string(),
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
            .field("request_timeout", &self.request_timeout)
            .field("api_version", &self.api_version)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token() {
        let config = GithubConfig {
            token: "ghp_canary_0123456789".into(),
            ..GithubConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("ghp_canary_0123456789"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
