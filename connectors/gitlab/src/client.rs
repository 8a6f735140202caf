//! The HTTP side of the connector: reqwest against `<api_url>/…` with `PRIVATE-TOKEN`
//! (marked sensitive), one attempt per call (the engine retries), a hard time limit,
//! offset pagination, classified errors with the token scrubbed.

use crate::classify::{classify_response, classify_transport, error_chain, redact};
use crate::config::GitlabConfig;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use leaver_connector::{CallRetry, ConnectorError};
use reqwest::{Method, Url};
use serde_json::Value;
use std::time::Duration;

/// Pages followed by one listing at most (100 items each: 100 000 items).
const MAX_PAGES: u32 = 1000;

/// Why the connector could not be configured. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitlabSetupError {
    /// `api_url` is not an absolute http(s) URL.
    #[error("connectors.gitlab.api_url `{0}` is not an absolute http:// or https:// URL (e.g. https://gitlab.com/api/v4)")]
    ApiUrl(String),
    /// `api_url` carries credentials; they are not echoed.
    #[error("connectors.gitlab.api_url must not contain credentials (user:password@)")]
    ApiUrlCredentials,
    /// The token cannot be sent in an HTTP header.
    #[error("connectors.gitlab.token contains characters that cannot be sent in an HTTP header")]
    Token,
    /// The request timeout is zero.
    #[error("connectors.gitlab.request_timeout must be greater than zero")]
    Timeout,
    /// The page size is outside 1-100.
    #[error("the GitLab page size must be between 1 and 100")]
    PageSize,
    /// The HTTP client could not be built.
    #[error("cannot build the GitLab HTTP client: {0}")]
    Client(String),
}

/// An answer, whatever its status.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    /// The body as JSON (`Null` when empty or not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    fn next_page(&self) -> Option<u32> {
        self.headers
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Percent-encode one path segment (RFC 3986 unreserved characters pass).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A GitLab API client bound to one configuration.
pub(crate) struct GitlabApi {
    api_url: String,
    token: String,
    token_header: HeaderValue,
    timeout: Duration,
    page_size: u32,
    client: reqwest::Client,
}

impl GitlabApi {
    pub(crate) fn new(config: &GitlabConfig) -> Result<Self, GitlabSetupError> {
        let api_url = config.api_url.trim().trim_end_matches('/').to_string();
        let url = Url::parse(&api_url).map_err(|_| GitlabSetupError::ApiUrl(api_url.clone()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GitlabSetupError::ApiUrlCredentials);
        }
        if !matches!(url.scheme(), "http" | "https")
            || url.host().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(GitlabSetupError::ApiUrl(api_url));
        }
        let token = config.token.trim().to_string();
        let mut token_header =
            HeaderValue::from_str(&token).map_err(|_| GitlabSetupError::Token)?;
        token_header.set_sensitive(true);
        if config.request_timeout.is_zero() {
            return Err(GitlabSetupError::Timeout);
        }
        if !(1..=100).contains(&config.page_size) {
            return Err(GitlabSetupError::PageSize);
        }
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "leaver-connector-gitlab/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| GitlabSetupError::Client(redact(&error_chain(&e), &token)))?;
        Ok(Self {
            api_url,
            token,
            token_header,
            timeout: config.request_timeout,
            page_size: config.page_size,
            client,
        })
    }

    fn scrub(&self, text: String) -> String {
        redact(&text, &self.token)
    }

    /// `GET /<path>?<query>`.
    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::GET, path, query).await
    }

    /// `POST /<path>` without a body.
    pub(crate) async fn post(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::POST, path, &[]).await
    }

    /// `DELETE /<path>`.
    pub(crate) async fn delete(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::DELETE, path, &[]).await
    }

    /// Every item of a paginated listing, following `X-Next-Page`. Any answer but 200
    /// is an error.
    pub(crate) async fn get_all(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut items = Vec::new();
        let mut page = 1u32;
        loop {
            let mut q = query.to_vec();
            q.push(("per_page", self.page_size.to_string()));
            q.push(("page", page.to_string()));
            let response = self.get(path, &q).await?;
            if response.status != 200 {
                return Err(self.failure(&response, &what(&Method::GET, path)));
            }
            match response.json() {
                Value::Array(page_items) => items.extend(page_items),
                _ => {
                    return Err(ConnectorError::permanent(format!(
                        "GitLab answered {} with something other than a JSON list",
                        what(&Method::GET, path)
                    )))
                }
            }
            match response.next_page() {
                Some(next) if next > page && next <= MAX_PAGES => page = next,
                Some(next) if next > MAX_PAGES => {
                    return Err(ConnectorError::permanent(format!(
                        "GitLab listing {} has more than {MAX_PAGES} pages",
                        what(&Method::GET, path)
                    )))
                }
                _ => return Ok(items),
            }
        }
    }

    /// One call, retried briefly on 429 and 503-like answers (`CallRetry::STANDARD`;
    /// GitLab's Retry-After or RateLimit-Reset honoured when short). `Ok` for any HTTP
    /// answer; `Err` when there was none.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ApiResponse, ConnectorError> {
        let mut tried = 1;
        loop {
            let response = self.send_once(method.clone(), path, query).await?;
            if CallRetry::retryable_status(response.status) {
                // The wait GitLab asks for: Retry-After, or RateLimit-Reset for quotas.
                let asked =
                    classify_response(response.status, &response.headers, &response.body, path)
                        .retry_after;
                if let Some(wait) = CallRetry::STANDARD.wait(tried, asked) {
                    tracing::debug!(%method, path, status = response.status, ?wait, "gitlab call retried");
                    tokio::time::sleep(wait).await;
                    tried += 1;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// One attempt. `Ok` for any HTTP answer; `Err` when there was none.
    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ApiResponse, ConnectorError> {
        let what = what(&method, path);
        let mut url = Url::parse(&format!("{}/{path}", self.api_url))
            .map_err(|e| ConnectorError::permanent(format!("bad GitLab URL for {what}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let request = self
            .client
            .request(method.clone(), url)
            .header("private-token", self.token_header.clone());
        let attempt = async {
            let response = request.send().await.map_err(|e| self.transport(&what, e))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport(&what, e))?;
            Ok::<_, ConnectorError>(ApiResponse {
                status,
                headers,
                body,
            })
        };
        // reqwest's own timeout covers the whole exchange; this guard is belt and braces.
        let result =
            match tokio::time::timeout(self.timeout + Duration::from_secs(1), attempt).await {
                Ok(result) => result,
                Err(_) => Err(classify_transport(&what, true, self.timeout, "")),
            };
        match result {
            Ok(response) => {
                tracing::debug!(%method, path, status = response.status, "gitlab call");
                Ok(response)
            }
            Err(mut error) => {
                error.message = self.scrub(error.message);
                tracing::debug!(%method, path, error = %error.message, "gitlab call failed");
                Err(error)
            }
        }
    }

    fn transport(&self, what: &str, error: reqwest::Error) -> ConnectorError {
        let timed_out = error.is_timeout();
        let error = error.without_url();
        classify_transport(what, timed_out, self.timeout, &error_chain(&error))
    }

    /// The classified error for an answer the caller did not expect.
    pub(crate) fn failure(&self, response: &ApiResponse, what: &str) -> ConnectorError {
        let mut error = classify_response(response.status, &response.headers, &response.body, what);
        error.message = self.scrub(error.message);
        error
    }
}

/// `GET /users/7`, as errors and observations name a call.
pub(crate) fn what(method: &Method, path: &str) -> String {
    format!("{method} /{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api_url: &str, token: &str) -> GitlabConfig {
        GitlabConfig {
            api_url: api_url.into(),
            token: token.into(),
            ..GitlabConfig::default()
        }
    }

    #[test]
    fn validates_without_echoing_the_token() {
        assert!(GitlabApi::new(&config("https://gitlab.com/api/v4/", "glpat-x")).is_ok());
        assert!(
            GitlabApi::new(&GitlabConfig::default()).is_ok(),
            "spec-only instance"
        );
        assert_eq!(
            GitlabApi::new(&config("gitlab.com", "t")).err(),
            Some(GitlabSetupError::ApiUrl("gitlab.com".into()))
        );
        assert_eq!(
            GitlabApi::new(&config("https://u:p@gitlab.com/api/v4", "t")).err(),
            Some(GitlabSetupError::ApiUrlCredentials)
        );
        let bad = GitlabApi::new(&config("https://g", "glpat-CANARY\u{7f}\n"))
            .err()
            .unwrap();
        assert!(!bad.to_string().contains("CANARY"));
        let zero = GitlabConfig {
            request_timeout: Duration::ZERO,
            ..GitlabConfig::default()
        };
        assert_eq!(GitlabApi::new(&zero).err(), Some(GitlabSetupError::Timeout));
        let pages = GitlabConfig {
            page_size: 101,
            ..GitlabConfig::default()
        };
        assert_eq!(
            GitlabApi::new(&pages).err(),
            Some(GitlabSetupError::PageSize)
        );
    }

    #[test]
    fn segments() {
        assert_eq!(segment("acme/platform"), "acme%2Fplatform");
        assert_eq!(segment("42"), "42");
    }
}
