//! Connector configuration. The token is a secret: it is redacted from `Debug` and
//! never copied into an error, a log line or an outcome.

use std::fmt;
use std::time::Duration;

/// GitLab.com's API.
pub const DEFAULT_API_URL: &str = "https://gitlab.com/api/v4";
/// Time limit of one request unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Items per page of list calls (GitLab's maximum).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// How to reach GitLab.
#[derive(Clone)]
pub struct GitlabConfig {
    /// The API root, with `/api/v4` (`https://gitlab.example.com/api/v4`).
    pub api_url: String,
    /// An administrator's personal (or service account) access token with the `api`
    /// scope, sent as `PRIVATE-TOKEN`. Secret.
    pub token: String,
    /// Time limit of one request (connect + answer).
    pub request_timeout: Duration,
    /// `per_page` of list calls (1-100).
    pub page_size: u32,
}

impl Default for GitlabConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_string(),
            token: String::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl fmt::Debug for GitlabConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = if self.token.is_empty() {
            "[empty]"
        } else {
            "[redacted]"
        };
        f.debug_struct("GitlabConfig")
            .field("api_url", &self.api_url)
            .field("token", &token)
            .field("request_timeout", &self.request_timeout)
            .field("page_size", &self.page_size)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token() {
        let config = GitlabConfig {
            token: "glpat-CANARY_0123456789".into(),
            ..GitlabConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert!(format!("{:?}", GitlabConfig::default()).contains("[empty]"));
    }
}
