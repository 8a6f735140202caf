//! The HTTP side: reqwest against `{graph_url}/v1.0/…` with a bearer token from
//! [`crate::token`], one attempt per call (the engine retries), a hard time limit, and
//! classified errors with every secret scrubbed. A 401 from Graph (a token revoked or
//! expired early) is answered by fetching one fresh token and trying once more.

use crate::classify::{error_chain, graph_failure, redact, transport};
use crate::config::{EntraConfig, EntraSetupError};
use crate::token::TokenSource;
use bytes::Bytes;
use http::HeaderMap;
use leaver_connector::{parse_retry_after, CallRetry, ConnectorError};
use reqwest::Method;
use std::fmt;
use std::time::Duration;

/// An answer, whatever its status.
#[derive(Debug)]
pub struct GraphResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl GraphResponse {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Percent-encode one path segment (unreserved characters and `@` pass).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An absolute http(s) URL without credentials, query or fragment, trimmed of `/`.
fn base_url(key: &'static str, value: &str) -> Result<String, EntraSetupError> {
    let trimmed = value.trim().trim_end_matches('/').to_string();
    let bad = || EntraSetupError::Url {
        key,
        value: trimmed.clone(),
    };
    let url = reqwest::Url::parse(&trimmed).map_err(|_| bad())?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if ok {
        Ok(trimmed)
    } else {
        Err(bad())
    }
}

fn is_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 256
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// A Microsoft Graph client for one tenant (shared by the connector, the change
/// notification intake, the delta reconciliation and `leaver entra subscribe`).
pub struct Graph {
    graph_url: String,
    client_secret: String,
    timeout: Duration,
    http: reqwest::Client,
    tokens: TokenSource,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("graph_url", &self.graph_url)
            .finish_non_exhaustive()
    }
}

impl Graph {
    /// Validate the configuration and prepare the clients. No request is made.
    pub fn new(config: &EntraConfig) -> Result<Self, EntraSetupError> {
        let authority = base_url("authority_url", &config.authority_url)?;
        let graph_url = base_url("graph_url", &config.graph_url)?;
        let tenant = config.tenant_id.trim();
        if !is_tenant(tenant) {
            return Err(EntraSetupError::Tenant(tenant.to_string()));
        }
        if config.request_timeout.is_zero() {
            return Err(EntraSetupError::Timeout);
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "leaver-connector-entra/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| {
                EntraSetupError::Client(redact(&error_chain(&e), &[&config.client_secret]))
            })?;
        let tokens = TokenSource::new(
            http.clone(),
            format!("{authority}/{tenant}/oauth2/v2.0/token"),
            format!("{graph_url}/.default"),
            config.client_id.trim(),
            &config.client_secret,
            config.request_timeout,
        )
        .map_err(|e| EntraSetupError::Url {
            key: "authority_url",
            value: e,
        })?;
        Ok(Self {
            graph_url,
            client_secret: config.client_secret.clone(),
            timeout: config.request_timeout,
            http,
            tokens,
        })
    }

    /// `https://graph.microsoft.com` (no `/v1.0`).
    pub fn graph_url(&self) -> &str {
        &self.graph_url
    }

    /// Access tokens fetched from the token endpoint so far (not from the cache).
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens.fetched()
    }

    /// Fetch (or reuse) an access token: checks the credentials.
    pub async fn check_token(&self) -> Result<(), ConnectorError> {
        self.tokens.bearer().await.map(|_| ())
    }

    /// The classified error for an answer the caller did not expect.
    pub fn failure(&self, response: &GraphResponse, what: &str) -> ConnectorError {
        let mut error = graph_failure(response.status, &response.headers, &response.body, what);
        error.message = self.scrub(&error.message, None);
        error
    }

    fn scrub(&self, text: &str, token: Option<&str>) -> String {
        let mut secrets = vec![self.client_secret.as_str()];
        if let Some(token) = token {
            secrets.push(token);
        }
        redact(text, &secrets)
    }

    /// `path` relative to `/v1.0/` (`users/x`), or an absolute `@odata.nextLink` /
    /// `@odata.deltaLink` (which must be on the Graph host).
    fn url(&self, path: &str) -> Result<String, ConnectorError> {
        if path.starts_with("http://") || path.starts_with("https://") {
            if path.starts_with(&format!("{}/", self.graph_url)) {
                Ok(path.to_string())
            } else {
                Err(ConnectorError::permanent(format!(
                    "refusing to follow a link outside {}: {}",
                    self.graph_url,
                    crate::classify::truncate(path, 120)
                )))
            }
        } else {
            Ok(format!("{}/v1.0/{path}", self.graph_url))
        }
    }

    /// One call (retried once with a fresh token after a 401, and briefly on 429 and
    /// 503-like answers: `CallRetry::STANDARD`, Graph's Retry-After honoured). `Ok`
    /// for any HTTP answer; `Err` when there was none or no token could be had.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<GraphResponse, ConnectorError> {
        let url = self.url(path)?;
        let what = format!("{method} {}", what_path(&url, &self.graph_url));
        let mut fresh = false;
        let mut tried = 1;
        loop {
            let token = self.tokens.bearer().await?;
            let response = self.attempt(&method, &url, &what, &token, body).await;
            match response {
                Ok(r) if r.status == 401 && !fresh => {
                    self.tokens.invalidate(&token).await;
                    fresh = true;
                }
                Ok(r) if CallRetry::retryable_status(r.status) => {
                    let asked = r
                        .headers
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    match CallRetry::STANDARD.wait(tried, asked) {
                        Some(wait) => {
                            tracing::debug!(%method, path = %what, status = r.status, ?wait, "graph call retried");
                            tokio::time::sleep(wait).await;
                            tried += 1;
                        }
                        None => return Ok(r),
                    }
                }
                Ok(r) => {
                    tracing::debug!(%method, path = %what, status = r.status, "graph call");
                    return Ok(r);
                }
                Err(mut error) => {
                    error.message = self.scrub(&error.message, Some(&token));
                    tracing::debug!(%method, error = %error.message, "graph call failed");
                    return Err(error);
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        what: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<GraphResponse, ConnectorError> {
        let mut auth = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ConnectorError::permanent("the access token is not a header value"))?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(http::header::AUTHORIZATION, auth)
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let exchange = async {
            let response = request.send().await.map_err(|e| self.transport(what, e))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport(what, e))?;
            Ok::<_, ConnectorError>(GraphResponse {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), exchange).await {
            Ok(result) => result,
            Err(_) => Err(transport(what, true, self.timeout, "")),
        }
    }

    fn transport(&self, what: &str, error: reqwest::Error) -> ConnectorError {
        let timed_out = error.is_timeout();
        let error = error.without_url();
        transport(what, timed_out, self.timeout, &error_chain(&error))
    }
}

/// `/v1.0/users/x` for messages (the query, which may carry a delta token, dropped).
fn what_path(url: &str, graph_url: &str) -> String {
    let path = url.strip_prefix(graph_url).unwrap_or(url);
    path.split('?').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(authority: &str, graph: &str, tenant: &str) -> EntraConfig {
        EntraConfig {
            tenant_id: tenant.into(),
            authority_url: authority.into(),
            graph_url: graph.into(),
            client_id: "c".into(),
            client_secret: "CANARY-secret".into(),
            ..EntraConfig::default()
        }
    }

    #[test]
    fn urls_and_tenants_are_validated() {
        let ok = Graph::new(&config(
            "https://login.microsoftonline.com/",
            "https://graph.microsoft.com",
            "contoso.onmicrosoft.com",
        ))
        .unwrap();
        assert_eq!(ok.graph_url(), "https://graph.microsoft.com");
        assert!(!format!("{ok:?}").contains("CANARY"));
        assert!(matches!(
            Graph::new(&config("login", "https://g", "t")),
            Err(EntraSetupError::Url { .. })
        ));
        assert!(matches!(
            Graph::new(&config("https://l", "https://u:p@g", "t")),
            Err(EntraSetupError::Url { .. })
        ));
        assert!(matches!(
            Graph::new(&config("https://l", "https://g", "a/b")),
            Err(EntraSetupError::Tenant(_))
        ));
        assert_eq!(segment("a b/c@d"), "a%20b%2Fc@d");
        assert_eq!(
            what_path("https://g/v1.0/users/delta?$deltatoken=x", "https://g"),
            "/v1.0/users/delta"
        );
    }

    #[test]
    fn links_must_stay_on_graph() {
        let g = Graph::new(&config("https://l", "https://g.example", "t")).unwrap();
        assert!(g.url("https://g.example/v1.0/users/delta?x").is_ok());
        assert!(g.url("https://evil.example/v1.0/users").is_err());
        assert_eq!(g.url("users/u").unwrap(), "https://g.example/v1.0/users/u");
    }
}
