//! The HTTP side of the connector: reqwest against `<addr>/v1/…` with `X-Vault-Token`
//! (marked sensitive) and `X-Vault-Namespace`, one attempt per call (the engine
//! retries), a hard time limit, classified errors with the token scrubbed.

use crate::classify::{classify_response, classify_transport, error_chain, redact};
use crate::config::VaultConfig;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use leaver_connector::{parse_retry_after, CallRetry, ConnectorError};
use reqwest::Method;
use std::time::Duration;

/// Why the connector could not be configured. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultSetupError {
    /// `addr` is not an absolute http(s) URL.
    #[error("connectors.vault.addr `{0}` is not an absolute http:// or https:// URL")]
    Addr(String),
    /// `addr` carries credentials; they are not echoed.
    #[error("connectors.vault.addr must not contain credentials (user:password@)")]
    AddrCredentials,
    /// The token cannot be sent in an HTTP header.
    #[error("connectors.vault.token contains characters that cannot be sent in an HTTP header")]
    Token,
    /// The namespace is not a Vault namespace path.
    #[error("connectors.vault.namespace `{0}` is not a Vault namespace path (e.g. `team-a` or `team-a/dev`)")]
    Namespace(String),
    /// The request timeout is zero.
    #[error("connectors.vault.request_timeout must be greater than zero")]
    Timeout,
    /// The HTTP client could not be built.
    #[error("cannot build the Vault HTTP client: {0}")]
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
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// Whether Vault's `errors` mention `needle` (e.g. `invalid accessor`).
    pub(crate) fn error_mentions(&self, needle: &str) -> bool {
        self.json()
            .get("errors")
            .and_then(|e| e.as_array())
            .is_some_and(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.as_str())
                    .any(|e| e.contains(needle))
            })
    }
}

/// Namespace paths: segments of letters, digits, `-`, `_`, `.` separated by `/`.
pub fn is_namespace(ns: &str) -> bool {
    let ns = ns.trim_matches('/');
    ns.len() <= 256
        && ns.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// Percent-encode one path segment (RFC 3986 unreserved characters and `@`, `+` pass).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A Vault API client bound to one configuration.
pub(crate) struct VaultApi {
    addr: String,
    token: String,
    token_header: HeaderValue,
    timeout: Duration,
    client: reqwest::Client,
}

impl VaultApi {
    pub(crate) fn new(config: &VaultConfig) -> Result<Self, VaultSetupError> {
        let addr = config.addr.trim().trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&addr).map_err(|_| VaultSetupError::Addr(addr.clone()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(VaultSetupError::AddrCredentials);
        }
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(VaultSetupError::Addr(addr));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(VaultSetupError::Addr(addr));
        }
        let token = config.token.trim().to_string();
        let mut token_header = HeaderValue::from_str(&token).map_err(|_| VaultSetupError::Token)?;
        token_header.set_sensitive(true);
        if let Some(ns) = config
            .namespace
            .as_deref()
            .filter(|ns| !ns.trim().is_empty())
        {
            if !is_namespace(ns.trim()) {
                return Err(VaultSetupError::Namespace(ns.to_string()));
            }
        }
        if config.request_timeout.is_zero() {
            return Err(VaultSetupError::Timeout);
        }
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "leaver-connector-vault/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| VaultSetupError::Client(redact(&error_chain(&e), &token)))?;
        Ok(Self {
            addr,
            token,
            token_header,
            timeout: config.request_timeout,
            client,
        })
    }

    fn scrub(&self, text: String) -> String {
        redact(&text, &self.token)
    }

    /// `GET /v1/<path>`.
    pub(crate) async fn read(
        &self,
        ns: Option<&str>,
        path: &str,
    ) -> Result<ApiResponse, ConnectorError> {
        self.send(ns, Method::GET, path, None).await
    }

    /// `GET /v1/<path>?list=true` (what Vault's own client sends for LIST).
    pub(crate) async fn list(
        &self,
        ns: Option<&str>,
        path: &str,
    ) -> Result<ApiResponse, ConnectorError> {
        self.send(ns, Method::GET, &format!("{path}?list=true"), None)
            .await
    }

    /// `POST /v1/<path>` with a JSON body.
    pub(crate) async fn write(
        &self,
        ns: Option<&str>,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<ApiResponse, ConnectorError> {
        self.send(ns, Method::POST, path, Some(body)).await
    }

    /// `PUT /v1/<path>` without a body.
    pub(crate) async fn put(
        &self,
        ns: Option<&str>,
        path: &str,
    ) -> Result<ApiResponse, ConnectorError> {
        self.send(ns, Method::PUT, path, None).await
    }

    /// `DELETE /v1/<path>`.
    pub(crate) async fn delete(
        &self,
        ns: Option<&str>,
        path: &str,
    ) -> Result<ApiResponse, ConnectorError> {
        self.send(ns, Method::DELETE, path, None).await
    }

    /// One call, retried briefly on 429 and 503-like answers (`CallRetry::STANDARD`;
    /// Vault's Retry-After honoured). `Ok` for any HTTP answer; `Err` when there was
    /// none.
    async fn send(
        &self,
        ns: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiResponse, ConnectorError> {
        let mut tried = 1;
        loop {
            let response = self.send_once(ns, method.clone(), path, body).await?;
            if CallRetry::retryable_status(response.status) {
                let asked = response
                    .headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                if let Some(wait) = CallRetry::STANDARD.wait(tried, asked) {
                    tracing::debug!(%method, path, status = response.status, ?wait, "vault call retried");
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
        ns: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiResponse, ConnectorError> {
        let what = what(&method, path, ns);
        let url = format!("{}/v1/{path}", self.addr);
        let mut request = self
            .client
            .request(method.clone(), &url)
            .header("x-vault-token", self.token_header.clone())
            .header("x-vault-request", "true");
        if let Some(ns) = ns {
            request = request.header("x-vault-namespace", ns);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
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
                tracing::debug!(%method, path, status = response.status, "vault call");
                Ok(response)
            }
            Err(mut error) => {
                error.message = self.scrub(error.message);
                tracing::debug!(%method, path, error = %error.message, "vault call failed");
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

/// `GET /v1/sys/auth [ns team-a]`, as errors and observations name a call.
pub(crate) fn what(method: &Method, path: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("{method} /v1/{path} in namespace {ns}"),
        None => format!("{method} /v1/{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(addr: &str, token: &str) -> VaultConfig {
        VaultConfig {
            addr: addr.into(),
            token: token.into(),
            ..VaultConfig::default()
        }
    }

    #[test]
    fn validates_without_echoing_the_token() {
        assert!(VaultApi::new(&config("https://vault.internal:8200/", "hvs.x")).is_ok());
        assert!(VaultApi::new(&config("http://127.0.0.1:1", "")).is_ok());
        assert_eq!(
            VaultApi::new(&config("vault.internal", "t")).err(),
            Some(VaultSetupError::Addr("vault.internal".into()))
        );
        assert_eq!(
            VaultApi::new(&config("https://u:p@vault.internal", "t")).err(),
            Some(VaultSetupError::AddrCredentials)
        );
        let bad = VaultApi::new(&config("https://v", "hvs.CANARY\u{7f}\n"))
            .err()
            .unwrap();
        assert!(!bad.to_string().contains("CANARY"));
        let zero = VaultConfig {
            request_timeout: Duration::ZERO,
            ..VaultConfig::default()
        };
        assert_eq!(VaultApi::new(&zero).err(), Some(VaultSetupError::Timeout));
        let ns = VaultConfig {
            namespace: Some("a/../b".into()),
            ..VaultConfig::default()
        };
        assert!(matches!(
            VaultApi::new(&ns),
            Err(VaultSetupError::Namespace(_))
        ));
    }

    #[test]
    fn namespaces_and_segments() {
        assert!(is_namespace("team-a"));
        assert!(is_namespace("team-a/dev/"));
        assert!(!is_namespace(""));
        assert!(!is_namespace("a//b"));
        assert!(!is_namespace("a b"));
        assert_eq!(segment("alice@example.com"), "alice@example.com");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(segment(".."), "..");
    }
}
