//! The HTTP side: reqwest against `{org}/api/v1/…` with `Authorization: Bearer <token>`
//! (marked sensitive), one attempt per call (the engine retries) except that a token
//! Okta refuses (401) is replaced once, a hard time limit, classified errors with the
//! secrets scrubbed.

use crate::classify::{classify_response, classify_transport, error_chain, redact};
use crate::config::OktaApiConfig;
use crate::token::{KeyError, Signer, TokenSource};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use leaver_connector::{CallRetry, ConnectorError};
use reqwest::Method;
use std::time::Duration;

/// Why the Okta client could not be configured. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OktaSetupError {
    #[error("idp.okta.org_url `{0}` is not an absolute http:// or https:// URL")]
    OrgUrl(String),
    #[error("idp.okta.org_url must not contain credentials, a path, a query or a fragment")]
    OrgUrlShape,
    #[error("idp.okta.client_id is required with idp.okta.private_key")]
    ClientId,
    #[error("idp.okta.scopes must name at least one scope")]
    Scopes,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the Okta request timeout must be greater than zero")]
    Timeout,
    #[error("cannot build the Okta HTTP client: {0}")]
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
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The URL of the `Link: <…>; rel="next"` header, if any.
    pub(crate) fn next_link(&self) -> Option<String> {
        self.headers
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|link| {
                let (target, params) = link.trim().split_once(';')?;
                let is_next = params.split(';').any(|p| {
                    let p = p.trim().replace(' ', "");
                    p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
                });
                let target = target.trim();
                (is_next && target.starts_with('<') && target.ends_with('>'))
                    .then(|| target[1..target.len() - 1].to_string())
            })
    }
}

/// Percent-encode one path segment (RFC 3986 unreserved characters and `@`, `+` pass).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'@' | b'+') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-encode a query value.
pub(crate) fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An Okta org as an API service app.
pub struct OktaApi {
    org_url: String,
    http: reqwest::Client,
    tokens: TokenSource,
    timeout: Duration,
}

impl std::fmt::Debug for OktaApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OktaApi")
            .field("org_url", &self.org_url)
            .finish_non_exhaustive()
    }
}

fn is_plain_origin(url: &str) -> Result<(), OktaSetupError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| OktaSetupError::OrgUrl(url.to_string()))?;
    if rest.is_empty() {
        return Err(OktaSetupError::OrgUrl(url.to_string()));
    }
    if rest.contains(['@', '/', '?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err(OktaSetupError::OrgUrlShape);
    }
    Ok(())
}

impl OktaApi {
    /// Validate the configuration (and that the key signs). No request is made. An
    /// empty `org_url` and key make a spec-only client whose calls all fail.
    pub fn new(config: &OktaApiConfig) -> Result<Self, OktaSetupError> {
        let org_url = config.org_url.trim().trim_end_matches('/').to_string();
        let spec_only = org_url.is_empty() && config.private_key_pem.is_empty();
        if !spec_only {
            is_plain_origin(&org_url)?;
        }
        let signer = if config.private_key_pem.trim().is_empty() {
            None
        } else {
            if config.client_id.trim().is_empty() {
                return Err(OktaSetupError::ClientId);
            }
            Some(Signer::new(&config.private_key_pem, config.key_id.clone())?)
        };
        let scopes: Vec<String> = config
            .scopes
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if scopes.is_empty() {
            return Err(OktaSetupError::Scopes);
        }
        if config.request_timeout.is_zero() {
            return Err(OktaSetupError::Timeout);
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("leaver-connector-okta/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OktaSetupError::Client(error_chain(&e)))?;
        let tokens = TokenSource::new(
            config.client_id.trim().to_string(),
            format!("{org_url}/oauth2/v1/token"),
            scopes,
            signer,
            config.request_timeout,
        );
        Ok(Self {
            org_url,
            http,
            tokens,
            timeout: config.request_timeout,
        })
    }

    /// The org URL without a trailing slash.
    pub fn org_url(&self) -> &str {
        &self.org_url
    }

    /// Whether the configured scopes include `scope`.
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.tokens.scopes().iter().any(|s| s == scope)
    }

    /// The signing algorithm of the client assertion (`None`: spec-only).
    pub fn assertion_algorithm(&self) -> Option<&'static str> {
        self.tokens.algorithm().map(|a| match a {
            jsonwebtoken::Algorithm::RS256 => "RS256",
            jsonwebtoken::Algorithm::ES256 => "ES256",
            jsonwebtoken::Algorithm::ES384 => "ES384",
            _ => "other",
        })
    }

    /// `GET {org}{path_and_query}`.
    pub(crate) async fn get(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::GET, &format!("{}{path}", self.org_url), path)
            .await
    }

    /// `POST {org}{path_and_query}` without a body.
    pub(crate) async fn post(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::POST, &format!("{}{path}", self.org_url), path)
            .await
    }

    /// `DELETE {org}{path_and_query}`.
    pub(crate) async fn delete(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::DELETE, &format!("{}{path}", self.org_url), path)
            .await
    }

    /// `GET` an absolute URL Okta handed out (a `Link: rel="next"`). Only URLs under
    /// this org's `/api/` are followed: the bearer token never goes elsewhere.
    pub(crate) async fn get_link(&self, url: &str) -> Result<ApiResponse, ConnectorError> {
        let path = url
            .strip_prefix(&self.org_url)
            .filter(|p| p.starts_with("/api/"))
            .ok_or_else(|| {
                ConnectorError::permanent(format!(
                    "Okta's next link points outside {}/api/: not followed",
                    self.org_url
                ))
            })?;
        self.send(Method::GET, url, path).await
    }

    /// One call; a 401 (token expired or revoked at Okta) is retried once with a new
    /// token, and 429 or 503-like answers briefly (`CallRetry::STANDARD`, waiting for
    /// a near rate-limit reset). `Ok` for any HTTP answer; `Err` when there was none.
    async fn send(
        &self,
        method: Method,
        url: &str,
        path: &str,
    ) -> Result<ApiResponse, ConnectorError> {
        let what = what(&method, path);
        let mut refreshed = false;
        let mut tried = 1;
        loop {
            let token = self.tokens.token(&self.http).await?;
            let mut auth =
                HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                    ConnectorError::permanent(
                        "Okta's access token cannot be sent in an HTTP header",
                    )
                })?;
            auth.set_sensitive(true);
            let response = self
                .attempt(method.clone(), url, auth, &what)
                .await
                .map_err(|mut e| {
                    e.message = redact(&e.message, token.secret());
                    e
                })?;
            if response.status == 401 && !refreshed {
                tracing::debug!(path, "Okta refused the access token; fetching a new one");
                self.tokens.invalidate().await;
                refreshed = true;
                continue;
            }
            if CallRetry::retryable_status(response.status) {
                // Okta says when to come back with X-Rate-Limit-Reset, not Retry-After.
                let asked = (response.status == 429)
                    .then(|| crate::classify::rate_limit_wait(&response.headers));
                if let Some(wait) = CallRetry::STANDARD.wait(tried, asked) {
                    tracing::debug!(%method, path, status = response.status, ?wait, "okta call retried");
                    tokio::time::sleep(wait).await;
                    tried += 1;
                    continue;
                }
            }
            tracing::debug!(%method, path, status = response.status, "okta call");
            return Ok(response);
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: &str,
        auth: HeaderValue,
        what: &str,
    ) -> Result<ApiResponse, ConnectorError> {
        let request = self
            .http
            .request(method, url)
            .header(http::header::AUTHORIZATION, auth)
            .header(http::header::ACCEPT, "application/json");
        let exchange = async {
            let response = request.send().await.map_err(|e| self.transport(what, e))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport(what, e))?;
            Ok::<_, ConnectorError>(ApiResponse {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), exchange).await {
            Ok(result) => result,
            Err(_) => Err(classify_transport(what, true, self.timeout, "")),
        }
    }

    fn transport(&self, what: &str, error: reqwest::Error) -> ConnectorError {
        let timed_out = error.is_timeout();
        let error = error.without_url();
        classify_transport(what, timed_out, self.timeout, &error_chain(&error))
    }

    /// The classified error for an answer the caller did not expect.
    pub(crate) fn failure(&self, response: &ApiResponse, what: &str) -> ConnectorError {
        classify_response(response.status, &response.headers, &response.body, what)
    }
}

/// `GET /api/v1/users/00u…`, as errors and observations name a call (query left out).
pub(crate) fn what(method: &Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    format!("{method} {path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_urls_and_segments() {
        let config = |url: &str| OktaApiConfig {
            org_url: url.into(),
            ..OktaApiConfig::default()
        };
        assert!(OktaApi::new(&config("https://acme.okta.com/")).is_ok());
        assert!(OktaApi::new(&config("")).is_ok(), "spec-only");
        assert_eq!(
            OktaApi::new(&config("acme.okta.com")).err(),
            Some(OktaSetupError::OrgUrl("acme.okta.com".into()))
        );
        assert_eq!(
            OktaApi::new(&config("https://u:p@acme.okta.com")).err(),
            Some(OktaSetupError::OrgUrlShape)
        );
        assert_eq!(segment("a/b?c@d"), "a%2Fb%3Fc@d");
        assert_eq!(
            query_value("eventType eq \"x\""),
            "eventType%20eq%20%22x%22"
        );
    }

    #[test]
    fn next_links() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::LINK,
            HeaderValue::from_static("<https://o/api/v1/logs?a=1>; rel=\"self\""),
        );
        headers.append(
            http::header::LINK,
            HeaderValue::from_static("<https://o/api/v1/logs?after=2>; rel=\"next\""),
        );
        let response = ApiResponse {
            status: 200,
            headers,
            body: Bytes::new(),
        };
        assert_eq!(
            response.next_link().as_deref(),
            Some("https://o/api/v1/logs?after=2")
        );
    }
}
