//! The HTTP side of the connector: octocrab with the headers GitHub expects, one
//! attempt per call (octocrab's retry layer is compiled out; the engine retries), raw
//! status codes and headers, a hard time limit, classified errors.
//!
//! Requests are built here and sent with `Octocrab::execute` rather than `_get`/`_delete`:
//! those add octocrab's compiled-in `X-GitHub-Api-Version: 2022-11-28`, which would be
//! sent *in addition to* a configured `2026-03-10`.

use crate::classify::{classify_response, classify_transport, error_chain, is_timeout, redact};
use crate::config::GithubConfig;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt;
use leaver_connector::ConnectorError;
use octocrab::{OctoBody, Octocrab};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The media type GitHub recommends in `Accept`.
pub const GITHUB_JSON: &str = "application/vnd.github+json";

/// Why the connector could not be configured. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GithubSetupError {
    /// `api_url` is not an absolute http(s) URL.
    #[error("connectors.github.api_url `{0}` is not an absolute http:// or https:// URL")]
    ApiUrl(String),
    /// `api_url` carries credentials; they are not echoed.
    #[error("connectors.github.api_url must not contain credentials (user:password@)")]
    ApiUrlCredentials,
    /// The token cannot be sent in an HTTP header.
    #[error("connectors.github.token contains characters that cannot be sent in an HTTP header")]
    Token,
    /// The API version is not a valid header value or not a version GitHub knows.
    #[error("connectors.github.api_version `{0}` is not a GitHub REST API version (YYYY-MM-DD, e.g. 2022-11-28)")]
    ApiVersion(String),
    /// The request timeout is zero.
    #[error("connectors.github.request_timeout must be greater than zero")]
    Timeout,
}

/// An answer, whatever its status.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A GitHub REST client bound to one configuration.
pub(crate) struct GithubApi {
    api_url: String,
    token: String,
    api_version: HeaderValue,
    timeout: Duration,
    client: OnceCell<Octocrab>,
}

impl GithubApi {
    /// Validate the configuration. The octocrab client itself is built on first use,
    /// inside the async runtime (octocrab spawns a worker task when built).
    pub(crate) fn new(config: &GithubConfig) -> Result<Self, GithubSetupError> {
        let api_url = config.api_url.trim().trim_end_matches('/').to_string();
        let uri: Uri = api_url
            .parse()
            .map_err(|_| GithubSetupError::ApiUrl(api_url.clone()))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(GithubSetupError::ApiUrlCredentials);
        }
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(GithubSetupError::ApiUrl(api_url));
        }
        let token = config.token.trim().to_string();
        if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(GithubSetupError::Token);
        }
        let version = config.api_version.trim();
        if !is_api_version(version) {
            return Err(GithubSetupError::ApiVersion(version.to_string()));
        }
        let api_version = HeaderValue::from_str(version)
            .map_err(|_| GithubSetupError::ApiVersion(version.to_string()))?;
        if config.request_timeout.is_zero() {
            return Err(GithubSetupError::Timeout);
        }
        Ok(Self {
            api_url,
            token,
            api_version,
            timeout: config.request_timeout,
            client: OnceCell::new(),
        })
    }

    async fn client(&self) -> Result<&Octocrab, ConnectorError> {
        self.client
            .get_or_try_init(|| async {
                let mut builder = Octocrab::builder()
                    .base_uri(self.api_url.as_str())
                    .map_err(|e| {
                        ConnectorError::permanent(format!(
                            "cannot use GitHub API URL {}: {e}",
                            self.api_url
                        ))
                    })?
                    .set_connect_timeout(Some(self.timeout))
                    .set_read_timeout(Some(self.timeout))
                    .set_write_timeout(Some(self.timeout));
                if !self.token.is_empty() {
                    builder = builder.personal_token(self.token.clone());
                }
                builder.build().map_err(|e| {
                    ConnectorError::permanent(self.scrub(format!(
                        "cannot build the GitHub client: {}",
                        error_chain(&e)
                    )))
                })
            })
            .await
    }

    fn scrub(&self, text: String) -> String {
        redact(&text, &self.token)
    }

    /// `GET path` (path relative to the API URL, e.g. `/orgs/acme/memberships/bob`).
    pub(crate) async fn get(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::GET, path).await
    }

    /// `DELETE path`.
    pub(crate) async fn delete(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::DELETE, path).await
    }

    /// One attempt. `Ok` for any HTTP answer (the caller decides what a status means,
    /// with [`failure`](Self::failure) for the rest); `Err` when there was no answer.
    async fn send(&self, method: Method, path: &str) -> Result<ApiResponse, ConnectorError> {
        let what = format!("{method} {path}");
        let client = self.client().await?;
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::ACCEPT, GITHUB_JSON)
            .header("x-github-api-version", self.api_version.clone())
            .header(header::CONTENT_LENGTH, "0")
            .body(OctoBody::empty())
            .map_err(|e| {
                ConnectorError::permanent(format!("invalid GitHub request {what}: {e}"))
            })?;
        let attempt = async {
            let response = client.execute(request).await.map_err(|e| {
                let timed_out = is_timeout(&e);
                classify_transport(&what, timed_out, self.timeout, &error_chain(&e))
            })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| {
                    let timed_out = is_timeout(&e);
                    classify_transport(&what, timed_out, self.timeout, &error_chain(&e))
                })?
                .to_bytes();
            Ok::<_, ConnectorError>(ApiResponse {
                status,
                headers,
                body,
            })
        };
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(classify_transport(&what, true, self.timeout, "")),
        };
        match result {
            Ok(response) => {
                tracing::debug!(%method, path, status = response.status, "github call");
                Ok(response)
            }
            Err(mut error) => {
                error.message = self.scrub(error.message);
                tracing::debug!(%method, path, error = %error.message, "github call failed");
                Err(error)
            }
        }
    }

    /// The classified error for an answer the caller did not expect.
    pub(crate) fn failure(&self, response: &ApiResponse, what: &str) -> ConnectorError {
        let mut error = classify_response(response.status, &response.headers, &response.body, what);
        error.message = self.scrub(error.message);
        error
    }
}

/// `YYYY-MM-DD`.
fn is_api_version(version: &str) -> bool {
    let bytes = version.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api_url: &str, token: &str) -> GithubConfig {
        GithubConfig {
            api_url: api_url.into(),
            token: token.into(),
            ..GithubConfig::default()
        }
    }

    #[test]
    fn validates_without_echoing_the_token() {
        assert!(GithubApi::new(&config("https://api.github.com", "ghp_x")).is_ok());
        assert!(GithubApi::new(&config("http://127.0.0.1:1/api/v3/", "")).is_ok());
        assert_eq!(
            GithubApi::new(&config("api.github.com", "t")).err(),
            Some(GithubSetupError::ApiUrl("api.github.com".into()))
        );
        assert_eq!(
            GithubApi::new(&config("https://u:p@ghe.example", "t")).err(),
            Some(GithubSetupError::ApiUrlCredentials)
        );
        let bad = GithubApi::new(&config("https://api.github.com", "ghp_canary\u{7f}\n"))
            .err()
            .unwrap();
        assert!(!bad.to_string().contains("ghp_canary"));
        // A trailing newline (token read from a file) is trimmed, not an error.
        assert!(GithubApi::new(&config("https://api.github.com", "ghp_x\n")).is_ok());
    }

    #[test]
    fn api_version_shape() {
        assert!(is_api_version("2022-11-28"));
        assert!(is_api_version("2026-03-10"));
        assert!(!is_api_version("2022-11-2"));
        assert!(!is_api_version("v3"));
        let c = GithubConfig {
            api_version: "latest".into(),
            ..GithubConfig::default()
        };
        assert!(matches!(
            GithubApi::new(&c),
            Err(GithubSetupError::ApiVersion(_))
        ));
    }
}
