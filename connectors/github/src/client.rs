//! The HTTP side of the connector: octocrab with the headers GitHub expects, one
//! attempt per call (octocrab's retry layer is compiled out; the engine retries), raw
//! status codes and headers, a hard time limit, classified errors, pagination through
//! `Link` headers, and the credential's shared rate-limit [`budget`](crate::budget).
//!
//! Credentials: a token (`Authorization: Bearer`), or a GitHub App installation —
//! octocrab signs the App JWT (RS256), exchanges it at
//! `POST /app/installations/{id}/access_tokens`, caches the installation token and
//! fetches a new one before it expires (or once after a 401).
//!
//! Requests are built here and sent with `Octocrab::execute` rather than `_get`/`_delete`:
//! those add octocrab's compiled-in `X-GitHub-Api-Version: 2022-11-28`, which would be
//! sent *in addition to* a configured `2026-03-10`.

use crate::budget::{self, Budget};
use crate::classify::{classify_response, classify_transport, error_chain, is_timeout, redact};
use crate::config::GithubConfig;
use crate::pages;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt;
use leaver_connector::ConnectorError;
use octocrab::models::{AppId, InstallationId};
use octocrab::{EncodingKey, OctoBody, Octocrab};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
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
    /// Both a token and App credentials are configured.
    #[error(
        "connectors.github: configure either token or app_id/installation_id/private_key, not both"
    )]
    TokenAndApp,
    /// The App's private key is not an RSA key in PEM (the key is not echoed).
    #[error("connectors.github.private_key is not an RSA private key in PEM: {0}")]
    AppKey(String),
    /// An App id or installation id of zero.
    #[error("connectors.github.app_id and installation_id must be positive integers")]
    AppIds,
}

/// Who the connector authenticates as.
#[derive(Clone)]
enum Credential {
    /// No credential (spec-only connectors; GitHub answers 401).
    None,
    /// A PAT or another bearer token.
    Token(String),
    /// A GitHub App installation.
    App {
        app_id: u64,
        installation_id: u64,
        key: EncodingKey,
    },
}

impl Credential {
    /// Whether requests authenticate as a GitHub App installation.
    fn is_app(&self) -> bool {
        matches!(self, Credential::App { .. })
    }

    /// A stable, non-secret name for the credential's rate-limit budget: a hash of the
    /// token (never shown), or the App installation.
    fn budget_key(&self, api_url: &str) -> String {
        match self {
            Credential::None => format!("{api_url} anonymous"),
            Credential::Token(token) => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                token.hash(&mut hasher);
                format!("{api_url} token:{:016x}", hasher.finish())
            }
            Credential::App {
                installation_id, ..
            } => format!("{api_url} installation:{installation_id}"),
        }
    }
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
    /// Scrubbed from every message (defence in depth).
    token: String,
    credential: Credential,
    api_version: HeaderValue,
    timeout: Duration,
    max_wait: Duration,
    budget: Arc<Budget>,
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
        let credential = match (&config.app, token.is_empty()) {
            (Some(_), false) => return Err(GithubSetupError::TokenAndApp),
            (Some(app), true) => {
                if app.app_id == 0 || app.installation_id == 0 {
                    return Err(GithubSetupError::AppIds);
                }
                let key = EncodingKey::from_rsa_pem(app.private_key_pem.trim().as_bytes())
                    .map_err(|e| GithubSetupError::AppKey(e.to_string()))?;
                Credential::App {
                    app_id: app.app_id,
                    installation_id: app.installation_id,
                    key,
                }
            }
            (None, true) => Credential::None,
            (None, false) => Credential::Token(token.clone()),
        };
        let version = config.api_version.trim();
        if !is_api_version(version) {
            return Err(GithubSetupError::ApiVersion(version.to_string()));
        }
        let api_version = HeaderValue::from_str(version)
            .map_err(|_| GithubSetupError::ApiVersion(version.to_string()))?;
        if config.request_timeout.is_zero() {
            return Err(GithubSetupError::Timeout);
        }
        let budget = budget::shared(&credential.budget_key(&api_url));
        Ok(Self {
            api_url,
            token,
            credential,
            api_version,
            timeout: config.request_timeout,
            max_wait: config.max_rate_limit_wait,
            budget,
            client: OnceCell::new(),
        })
    }

    /// Whether requests authenticate as a GitHub App installation.
    pub(crate) fn is_app(&self) -> bool {
        self.credential.is_app()
    }

    async fn client(&self) -> Result<&Octocrab, ConnectorError> {
        self.client
            .get_or_try_init(|| async {
                let builder = Octocrab::builder()
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
                let build_error = |e: octocrab::Error| {
                    ConnectorError::permanent(self.scrub(format!(
                        "cannot build the GitHub client: {}",
                        error_chain(&e)
                    )))
                };
                match &self.credential {
                    Credential::None => builder.build().map_err(build_error),
                    Credential::Token(token) => builder
                        .personal_token(token.clone())
                        .build()
                        .map_err(build_error),
                    Credential::App {
                        app_id,
                        installation_id,
                        key,
                    } => builder
                        .app(AppId(*app_id), key.clone())
                        .build()
                        .and_then(|app| app.installation(InstallationId(*installation_id)))
                        .map_err(build_error),
                }
            })
            .await
    }

    fn scrub(&self, text: String) -> String {
        redact(&text, &self.token)
    }

    /// `GET path` (path and query relative to the API URL, e.g.
    /// `/orgs/acme/memberships/bob`).
    pub(crate) async fn get(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::GET, path, None).await
    }

    /// `DELETE path`.
    pub(crate) async fn delete(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::DELETE, path, None).await
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<ApiResponse, ConnectorError> {
        self.send(Method::POST, path, Some(body)).await
    }

    /// Every item of a list endpoint: `GET path` (which should ask for `per_page=100`),
    /// then each `Link: rel="next"` page until there is none. Any page failing fails
    /// the whole listing (a partial list must not pass as "nothing left").
    pub(crate) async fn get_all(
        &self,
        path: &str,
    ) -> Result<Vec<serde_json::Value>, ConnectorError> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0usize;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > pages::MAX_PAGES {
                return Err(ConnectorError::permanent(format!(
                    "GitHub list {path} has more than {} pages; refusing to follow further",
                    pages::MAX_PAGES
                )));
            }
            let what = format!("GET {path}");
            let response = self.get(&path).await?;
            if response.status != 200 {
                return Err(self.failure(&response, &what));
            }
            let page: Vec<serde_json::Value> =
                serde_json::from_slice(&response.body).map_err(|e| {
                    ConnectorError::transient(format!(
                        "GitHub answered {what} with something that is not a JSON list: {e}"
                    ))
                })?;
            items.extend(page);
            next = pages::next_link(&response.headers, &self.api_url)
                .map_err(|e| ConnectorError::permanent(format!("{e} ({what})")))?;
        }
        Ok(items)
    }

    /// One attempt. `Ok` for any HTTP answer (the caller decides what a status means,
    /// with [`failure`](Self::failure) for the rest); `Err` when there was no answer, or
    /// when the credential's rate-limit budget would have to wait longer than allowed.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiResponse, ConnectorError> {
        let what = format!("{method} {path}");
        let client = self.client().await?;
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::ACCEPT, GITHUB_JSON)
            .header("x-github-api-version", self.api_version.clone());
        let body = match body {
            Some(json) => {
                let bytes = serde_json::to_vec(json).map_err(|e| {
                    ConnectorError::permanent(format!("cannot encode the body of {what}: {e}"))
                })?;
                request = request.header(header::CONTENT_TYPE, "application/json");
                OctoBody::from(bytes)
            }
            None => {
                request = request.header(header::CONTENT_LENGTH, "0");
                OctoBody::empty()
            }
        };
        let request = request.body(body).map_err(|e| {
            ConnectorError::permanent(format!("invalid GitHub request {what}: {e}"))
        })?;
        let permit = self.budget.acquire(self.max_wait).await?;
        let attempt = async {
            let response = client
                .execute(request)
                .await
                .map_err(|e| self.execute_error(&what, &e))?;
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
                permit.observe(response.status, &response.headers);
                tracing::debug!(%method, path, status = response.status, "github call");
                Ok(response)
            }
            Err(mut error) => {
                drop(permit);
                error.message = self.scrub(error.message);
                tracing::debug!(%method, path, error = %error.message, "github call failed");
                Err(error)
            }
        }
    }

    /// An error of octocrab's `execute`: a GitHub answer (only when obtaining an App
    /// installation token failed — API answers are returned, not raised) or no answer.
    fn execute_error(&self, what: &str, error: &octocrab::Error) -> ConnectorError {
        if let octocrab::Error::GitHub { source, .. } = error {
            let body = serde_json::json!({ "message": source.message }).to_string();
            let headers = source.headers.clone().unwrap_or_default();
            let mut classified = classify_response(
                source.status_code.as_u16(),
                &headers,
                body.as_bytes(),
                &format!("POST /app/installations/…/access_tokens, before {what}"),
            );
            classified.message = format!(
                "cannot obtain a GitHub App installation token: {}",
                classified.message
            );
            return classified;
        }
        let timed_out = is_timeout(error);
        classify_transport(what, timed_out, self.timeout, &error_chain(error))
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
