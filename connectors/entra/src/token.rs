//! Access tokens for Graph: the OAuth 2.0 client-credentials grant (the `oauth2` crate)
//! against `{authority}/{tenant}/oauth2/v2.0/token` with `client_secret` in the form
//! body and `scope={graph_url}/.default` (`https://graph.microsoft.com/.default` in the
//! public cloud). One token is cached until
//! shortly before it expires (five minutes, or half its lifetime when that is shorter),
//! and concurrent callers wait for a single fetch.
//!
//! The token endpoint's status and `Retry-After` are captured by a thin wrapper around
//! the HTTP client, because `oauth2` reports only the parsed error body: a throttled or
//! unavailable endpoint (429, 5xx) is transient, `invalid_client` (401) and friends are
//! permanent, with the first line of the AADSTS description as the message.

use crate::classify::{aadsts_summary, error_chain, redact, retry_after, transport};
use leaver_connector::ConnectorError;
use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    HttpClientError, HttpRequest, HttpResponse, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lifetime assumed when the endpoint does not say (`expires_in` is optional in OAuth).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3599);

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The token endpoint's status and `Retry-After`, as the HTTP wrapper saw them.
type Answer = Option<(u16, Option<Duration>)>;

struct Cached {
    value: String,
    expires_at: Instant,
    lifetime: Duration,
}

impl Cached {
    fn fresh(&self) -> bool {
        let margin = Duration::from_secs(300).min(self.lifetime / 2);
        Instant::now() + margin < self.expires_at
    }
}

pub(crate) struct TokenSource {
    oauth: TokenClient,
    http: reqwest::Client,
    token_url: String,
    scope: String,
    secret: String,
    timeout: Duration,
    cached: tokio::sync::Mutex<Option<Cached>>,
    fetched: AtomicU64,
}

impl TokenSource {
    pub(crate) fn new(
        http: reqwest::Client,
        token_url: String,
        scope: String,
        client_id: &str,
        client_secret: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let url = TokenUrl::new(token_url.clone()).map_err(|e| e.to_string())?;
        let oauth = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_client_secret(ClientSecret::new(client_secret.to_string()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(url);
        Ok(Self {
            oauth,
            http,
            token_url,
            scope,
            secret: client_secret.to_string(),
            timeout,
            cached: tokio::sync::Mutex::new(None),
            fetched: AtomicU64::new(0),
        })
    }

    /// Tokens fetched so far (not served from the cache).
    pub(crate) fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// A valid access token, from the cache when it is fresh.
    pub(crate) async fn bearer(&self) -> Result<String, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| t.fresh()) {
            return Ok(token.value.clone());
        }
        let token = self.fetch().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forget `used` (Graph refused it): the next call fetches a new token.
    pub(crate) async fn invalidate(&self, used: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == used) {
            *cached = None;
        }
    }

    fn what(&self) -> String {
        format!("token request to {}", self.token_url)
    }

    async fn fetch(&self) -> Result<Cached, ConnectorError> {
        let answered: Arc<Mutex<Answer>> = Arc::default();
        let seen = answered.clone();
        let http = self.http.clone();
        // Records the status and Retry-After of the answer, which `oauth2` drops.
        let client = move |request: HttpRequest| {
            let http = http.clone();
            let seen = seen.clone();
            async move {
                let response: HttpResponse = AsyncHttpClient::call(&http, request).await?;
                if let Ok(mut slot) = seen.lock() {
                    *slot = Some((response.status().as_u16(), retry_after(response.headers())));
                }
                Ok::<_, HttpClientError<reqwest::Error>>(response)
            }
        };
        let started = Instant::now();
        let request = self
            .oauth
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()))
            .request_async(&client);
        let result = tokio::time::timeout(self.timeout + Duration::from_secs(1), request).await;
        let answer = answered.lock().ok().and_then(|slot| *slot);
        let what = self.what();
        let error = match result {
            Err(_) => transport(&what, true, self.timeout, ""),
            Ok(Ok(token)) => {
                self.fetched.fetch_add(1, Ordering::Relaxed);
                let lifetime = token
                    .expires_in()
                    .filter(|d| !d.is_zero())
                    .unwrap_or(DEFAULT_LIFETIME);
                tracing::debug!(
                    lifetime_s = lifetime.as_secs(),
                    "Entra access token fetched"
                );
                return Ok(Cached {
                    value: token.access_token().secret().to_string(),
                    expires_at: started + lifetime,
                    lifetime,
                });
            }
            Ok(Err(RequestTokenError::ServerResponse(response))) => {
                let status = answer.map(|(s, _)| s).unwrap_or(400);
                let description = response
                    .error_description()
                    .map(|d| aadsts_summary(d))
                    .unwrap_or_default();
                let text = if description.is_empty() {
                    format!("{what} failed ({status}): {}", response.error())
                } else {
                    format!(
                        "{what} failed ({status}): {}: {description}",
                        response.error()
                    )
                };
                ConnectorError::from_status(status, text)
                    .with_retry_after(answer.and_then(|(_, wait)| wait))
            }
            Ok(Err(RequestTokenError::Request(error))) => {
                let timed_out = matches!(&error, HttpClientError::Reqwest(e) if e.is_timeout());
                // The URL in a reqwest error is the token endpoint's: not a secret.
                let detail = match &error {
                    HttpClientError::Reqwest(e) => error_chain(e.as_ref()),
                    other => error_chain(other),
                };
                transport(&what, timed_out, self.timeout, &detail)
            }
            Ok(Err(RequestTokenError::Parse(_, _))) => {
                let status = answer.map(|(s, _)| s).unwrap_or(0);
                let text = format!(
                    "{what} answered {status} with a body that is not an OAuth 2.0 token or error response"
                );
                if status == 0 {
                    ConnectorError::transient(text)
                } else {
                    ConnectorError::from_status(status, text)
                        .with_retry_after(answer.and_then(|(_, wait)| wait))
                }
            }
            Ok(Err(RequestTokenError::Other(message))) => {
                let status = answer.map(|(s, _)| s).unwrap_or(0);
                let text = format!("{what} failed ({status}): {message}");
                if status == 0 {
                    ConnectorError::transient(text)
                } else {
                    ConnectorError::from_status(status, text)
                        .with_retry_after(answer.and_then(|(_, wait)| wait))
                }
            }
        };
        let mut error = error;
        error.message = redact(&error.message, &[&self.secret]);
        tracing::debug!(error = %error.message, "Entra token request failed");
        Err(error)
    }
}
