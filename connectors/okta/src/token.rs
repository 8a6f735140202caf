//! Access tokens for the Management API: OAuth 2.0 client credentials at the org
//! authorization server (`{org}/oauth2/v1/token`), the client authenticated with
//! `private_key_jwt` — a short-lived JWT (RS256 or ES256/384, `iss` = `sub` = client id,
//! `aud` = the token endpoint, a fresh `jti`) signed with the configured key
//! (jsonwebtoken). The exchange itself is built and parsed by the `oauth2` crate; its
//! HTTP goes through our reqwest client so that Okta's error answers (rate limits
//! included) are classified like every other call.
//!
//! The token is cached until shortly before it expires; a 401 from the API drops it.
//! Neither the key, the assertion nor the token ever reaches a message.

use crate::classify::{classify_response, classify_transport, error_chain, redact};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use leaver_connector::ConnectorError;
use oauth2::basic::BasicClient;
use oauth2::{
    AccessToken, AuthType, ClientId, HttpRequest, HttpResponse, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use rand::Rng;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is valid (Okta accepts at most an hour).
const ASSERTION_LIFETIME_SECS: u64 = 300;
/// Okta's access tokens live one hour; used when the answer omits `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// A cached token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Why the private key cannot be used. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("idp.okta.private_key: {0}")]
pub struct KeyError(pub String);

/// Signs client assertions with the service app's private key.
pub(crate) struct Signer {
    key: EncodingKey,
    algorithm: Algorithm,
    key_id: Option<String>,
}

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Signer {
    /// Parse the PEM (PKCS#8 RSA or EC P-256/P-384, or PKCS#1 RSA) and check that it
    /// signs. The algorithm follows the key: RS256 for RSA, ES256 or ES384 for EC.
    pub(crate) fn new(pem: &str, key_id: Option<String>) -> Result<Self, KeyError> {
        let candidates: Vec<(EncodingKey, Algorithm)> = if let Ok(key) =
            EncodingKey::from_rsa_pem(pem.as_bytes())
        {
            vec![(key, Algorithm::RS256)]
        } else if let Ok(key) = EncodingKey::from_ec_pem(pem.as_bytes()) {
            vec![(key.clone(), Algorithm::ES256), (key, Algorithm::ES384)]
        } else {
            return Err(KeyError(
                    "not a PEM private key Okta accepts (PKCS#8 `PRIVATE KEY` with RSA or EC P-256/P-384, or PKCS#1 `RSA PRIVATE KEY`)"
                        .into(),
                ));
        };
        for (key, algorithm) in candidates {
            let signer = Self {
                key,
                algorithm,
                key_id: key_id.clone(),
            };
            if signer
                .sign("probe", "https://probe.invalid/oauth2/v1/token")
                .is_ok()
            {
                return Ok(signer);
            }
        }
        Err(KeyError(
            "the key cannot sign (an RSA key of at least 2048 bits or an EC P-256/P-384 key is needed)".into(),
        ))
    }

    /// A fresh client assertion for `client_id` at `audience` (the token endpoint).
    pub(crate) fn sign(&self, client_id: &str, audience: &str) -> Result<String, KeyError> {
        let now = epoch_secs();
        let jti: [u8; 16] = rand::thread_rng().gen();
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: audience,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
            jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| KeyError(format!("cannot sign the client assertion: {e}")))
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// The client-credentials token source, with its cache.
pub(crate) struct TokenSource {
    client_id: String,
    token_url: String,
    scopes: Vec<String>,
    /// `None`: a spec-only connector (no key configured); every call fails permanently.
    signer: Option<Signer>,
    timeout: Duration,
    cache: Mutex<Option<Cached>>,
}

const WHAT: &str = "POST /oauth2/v1/token";

impl TokenSource {
    pub(crate) fn new(
        client_id: String,
        token_url: String,
        scopes: Vec<String>,
        signer: Option<Signer>,
        timeout: Duration,
    ) -> Self {
        Self {
            client_id,
            token_url,
            scopes,
            signer,
            timeout,
            cache: Mutex::new(None),
        }
    }

    pub(crate) fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub(crate) fn algorithm(&self) -> Option<Algorithm> {
        self.signer.as_ref().map(Signer::algorithm)
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
    ) -> Result<AccessToken, ConnectorError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref() {
            if Instant::now() < cached.refresh_at {
                return Ok(cached.token.clone());
            }
        }
        let (token, lifetime) = self.fetch(http).await?;
        let margin = REFRESH_MARGIN.min(lifetime / 10);
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(token)
    }

    /// Forget the cached token (the API refused it).
    pub(crate) async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
    ) -> Result<(AccessToken, Duration), ConnectorError> {
        let signer = self.signer.as_ref().ok_or_else(|| {
            ConnectorError::permanent(
                "the Okta connector is not configured (idp.okta.client_id and idp.okta.private_key)",
            )
        })?;
        let assertion = signer
            .sign(&self.client_id, &self.token_url)
            .map_err(|e| ConnectorError::permanent(e.to_string()))?;
        let token_url = TokenUrl::new(self.token_url.clone()).map_err(|e| {
            ConnectorError::permanent(format!("invalid Okta token endpoint URL: {e}"))
        })?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);
        let timeout = self.timeout;
        let send = |request: HttpRequest| {
            let http = http.clone();
            async move { exchange(&http, request, timeout).await }
        };
        let answer = client
            .exchange_client_credentials()
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .add_extra_param("client_assertion_type", JWT_BEARER)
            .add_extra_param("client_assertion", assertion.clone())
            .request_async(&send)
            .await;
        match answer {
            Ok(response) => {
                let lifetime = response
                    .expires_in()
                    .filter(|d| !d.is_zero())
                    .unwrap_or(DEFAULT_TOKEN_LIFETIME);
                tracing::debug!(
                    lifetime_secs = lifetime.as_secs(),
                    "obtained an Okta access token"
                );
                Ok((response.access_token().clone(), lifetime))
            }
            Err(error) => {
                let mut error = match error {
                    RequestTokenError::Request(error) => error,
                    RequestTokenError::ServerResponse(response) => {
                        ConnectorError::permanent(format!(
                            "Okta refused the token request: {} ({WHAT})",
                            response.error()
                        ))
                    }
                    RequestTokenError::Parse(_, _) => ConnectorError::transient(format!(
                        "Okta's token answer could not be read ({WHAT})"
                    )),
                    RequestTokenError::Other(other) => {
                        ConnectorError::permanent(format!("{other} ({WHAT})"))
                    }
                };
                error.message = redact(&error.message, &assertion);
                Err(error)
            }
        }
    }
}

/// One HTTP exchange with the token endpoint for oauth2. Any answer but 2xx is
/// classified here (Okta's OAuth error, or a rate limit with its reset time).
async fn exchange(
    http: &reqwest::Client,
    request: HttpRequest,
    timeout: Duration,
) -> Result<HttpResponse, ConnectorError> {
    let request = reqwest::Request::try_from(request).map_err(|e| {
        ConnectorError::permanent(format!(
            "cannot build the token request: {}",
            error_chain(&e.without_url())
        ))
    })?;
    let transport = |e: reqwest::Error| {
        let timed_out = e.is_timeout();
        classify_transport(WHAT, timed_out, timeout, &error_chain(&e.without_url()))
    };
    let response = http.execute(request).await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        return Err(classify_response(status.as_u16(), &headers, &body, WHAT));
    }
    let mut answer = http::Response::builder().status(status);
    if let Some(h) = answer.headers_mut() {
        *h = headers;
    }
    answer
        .body(body.to_vec())
        .map_err(|e| ConnectorError::transient(format!("cannot read the token answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_key_is_refused_without_echoing_it() {
        let error = Signer::new(
            "-----BEGIN PRIVATE KEY-----\nCANARY\n-----END PRIVATE KEY-----",
            None,
        )
        .err()
        .expect("refused");
        assert!(!error.to_string().contains("CANARY"), "{error}");
        assert!(Signer::new("", None).is_err());
    }
}
