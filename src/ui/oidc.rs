//! Dashboard sign-in through the organisation's OpenID Connect provider (`[ui.oidc]`):
//! the authorization code flow with PKCE (S256), built with the `oauth2` crate.
//!
//! `GET /login/oidc` reads the provider's discovery document, makes a random `state`,
//! `nonce` and PKCE verifier, keeps them in a short-lived HttpOnly cookie scoped to
//! `/login/oidc` (so any replica can finish the sign-in), and redirects the browser to
//! the provider. `GET /login/oidc/callback` checks that `state` matches the cookie's,
//! exchanges the code (client secret, code verifier) at the token endpoint, and
//! verifies the ID token: RS256 signature against the provider's JWKS (by `kid`,
//! refetched once for an unknown key), `iss`, `aud`, `exp`, the `nonce`, a verified
//! email, and the allowed email domains. The user gets a viewer session
//! (`oidc:<email>`). Nothing from the exchange is logged but the subject and why a
//! sign-in was refused.

use super::config::OidcSection;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

/// The cookie that carries a sign-in in progress from `/login/oidc` to the callback.
pub const PENDING_COOKIE: &str = "leaver_oidc";
/// How long a sign-in may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// Why a sign-in did not succeed. The message is shown to the person signing in.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered something unusable.
    #[error("the identity provider is unavailable: {0}")]
    Provider(String),
    /// The callback does not belong to a sign-in started here, or was tampered with.
    #[error("{0}")]
    Invalid(String),
    /// The provider said no, or the user is not allowed in.
    #[error("{0}")]
    Refused(String),
}

/// `id_token` in the token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default)]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The parts of the discovery document used here.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// A sign-in in progress: what the callback must match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl PendingLogin {
    /// The cookie value (base64url JSON).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(value: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(value.trim()).ok()?;
        serde_json::from_slice(&raw).ok()
    }
}

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    pub subject: String,
    pub email: String,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: Option<String>,
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// The configured provider, with its discovery document and keys cached.
pub struct OidcLogin {
    issuer: String,
    client_id: String,
    client_secret: SecretString,
    redirect_url: String,
    allowed_domains: Vec<String>,
    http: reqwest::Client,
    discovery: Mutex<Option<Discovery>>,
    jwks: Mutex<Option<Jwks>>,
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn provider(what: &str, error: impl std::fmt::Display) -> OidcError {
    OidcError::Provider(format!("{what}: {error}"))
}

impl OidcLogin {
    /// From `[ui.oidc]`; the client secret is resolved (`env:` / `file:`) here.
    pub fn from_config(section: &OidcSection) -> anyhow::Result<Self> {
        let client_secret =
            crate::config::resolve_secret("ui.oidc.client_secret", &section.client_secret)?;
        RedirectUrl::new(section.redirect_url.clone())
            .map_err(|e| anyhow::anyhow!("ui.oidc.redirect_url: {e}"))?;
        let issuer = section.issuer.trim().trim_end_matches('/').to_string();
        reqwest::Url::parse(&issuer).map_err(|e| anyhow::anyhow!("ui.oidc.issuer: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // The token endpoint must not redirect (RFC 6749 §3.2 / SSRF hygiene).
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            issuer,
            client_id: section.client_id.clone(),
            client_secret,
            redirect_url: section.redirect_url.clone(),
            allowed_domains: section
                .allowed_email_domains
                .iter()
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            http,
            discovery: Mutex::new(None),
            jwks: Mutex::new(None),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| provider(url, e.without_url()))?;
        if !response.status().is_success() {
            return Err(provider(url, response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| provider(url, e.without_url()))
    }

    async fn discovery(&self) -> Result<Discovery, OidcError> {
        let mut cached = self.discovery.lock().await;
        if let Some(d) = cached.as_ref() {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let found: Discovery = self.get_json(&url).await?;
        if found.issuer.trim_end_matches('/') != self.issuer {
            return Err(OidcError::Provider(format!(
                "the discovery document names issuer {} (configured: {})",
                found.issuer, self.issuer
            )));
        }
        *cached = Some(found.clone());
        Ok(found)
    }

    fn client(&self, discovery: &Discovery) -> Result<Client, OidcError> {
        let auth = AuthUrl::new(discovery.authorization_endpoint.clone())
            .map_err(|e| provider("authorization_endpoint", e))?;
        let token = TokenUrl::new(discovery.token_endpoint.clone())
            .map_err(|e| provider("token_endpoint", e))?;
        let redirect =
            RedirectUrl::new(self.redirect_url.clone()).map_err(|e| provider("redirect_url", e))?;
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_string(),
            ))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(redirect))
    }

    /// Begin a sign-in: the provider URL to send the browser to, and what to keep.
    pub async fn start(&self) -> Result<(String, PendingLogin), OidcError> {
        let discovery = self.discovery().await?;
        let client = self.client(&discovery)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_extra_param("nonce", nonce.secret().clone())
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Finish a sign-in from the callback's `code` and `state` and the pending cookie.
    pub async fn finish(
        &self,
        code: &str,
        state: &str,
        pending: &PendingLogin,
    ) -> Result<VerifiedUser, OidcError> {
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(OidcError::Invalid(
                "this sign-in does not match the one started in this browser (state mismatch); start again".into(),
            ));
        }
        let discovery = self.discovery().await?;
        let client = self.client(&discovery)?;
        let http = self.http.clone();
        let send = move |request: HttpRequest| {
            let http = http.clone();
            async move { exchange(&http, request).await }
        };
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&send)
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(RequestTokenError::ServerResponse(error)) => {
                return Err(OidcError::Refused(format!(
                    "the identity provider refused the sign-in: {}{}",
                    error.error(),
                    error
                        .error_description()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )))
            }
            Err(RequestTokenError::Request(error)) => {
                return Err(provider("token endpoint", error))
            }
            Err(RequestTokenError::Parse(_, _)) => {
                return Err(OidcError::Provider(
                    "the token endpoint's answer could not be read".into(),
                ))
            }
            Err(RequestTokenError::Other(other)) => return Err(provider("token endpoint", other)),
        };
        let id_token = response
            .extra_fields()
            .id_token
            .clone()
            .ok_or_else(|| OidcError::Provider("the token answer has no id_token".into()))?;
        let claims = self.verify_id_token(&id_token, &discovery).await?;
        if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
            return Err(OidcError::Invalid(
                "the ID token's nonce does not match this sign-in".into(),
            ));
        }
        let email = claims
            .email
            .filter(|_| claims.email_verified == Some(true))
            .ok_or_else(|| {
                OidcError::Refused(
                    "the identity provider did not vouch for an email address (email_verified)"
                        .into(),
                )
            })?
            .to_ascii_lowercase();
        if !self.allowed_domains.is_empty() {
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !self.allowed_domains.iter().any(|d| d == domain) {
                return Err(OidcError::Refused(format!(
                    "{email} is not allowed to sign in to this dashboard"
                )));
            }
        }
        Ok(VerifiedUser {
            subject: claims.sub,
            email,
        })
    }

    async fn jwks(&self, discovery: &Discovery, refresh: bool) -> Result<Jwks, OidcError> {
        let mut cached = self.jwks.lock().await;
        if !refresh {
            if let Some(keys) = cached.as_ref() {
                return Ok(keys.clone());
            }
        }
        let keys: Jwks = self.get_json(&discovery.jwks_uri).await?;
        *cached = Some(keys.clone());
        Ok(keys)
    }

    async fn verify_id_token(
        &self,
        token: &str,
        discovery: &Discovery,
    ) -> Result<Claims, OidcError> {
        use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
        let header = decode_header(token)
            .map_err(|e| OidcError::Invalid(format!("the ID token is malformed: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(OidcError::Invalid(format!(
                "the ID token is signed with {:?}; RS256 is required",
                header.alg
            )));
        }
        let find = |keys: &Jwks| {
            keys.keys
                .iter()
                .filter(|k| k.kty == "RSA")
                .find(|k| header.kid.is_none() || k.kid == header.kid)
                .cloned()
        };
        let key = match find(&self.jwks(discovery, false).await?) {
            Some(key) => key,
            // The provider may have rotated its keys: fetch them once more.
            None => find(&self.jwks(discovery, true).await?).ok_or_else(|| {
                OidcError::Invalid(
                    "the ID token's signing key is not among the provider's keys".into(),
                )
            })?,
        };
        let (Some(n), Some(e)) = (key.n.as_deref(), key.e.as_deref()) else {
            return Err(OidcError::Provider(
                "an RSA key in the JWKS has no n or e".into(),
            ));
        };
        let decoding = DecodingKey::from_rsa_components(n, e)
            .map_err(|e| provider("the provider's signing key", e))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[discovery.issuer.as_str()]);
        validation.set_audience(&[self.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 60;
        decode::<Claims>(token, &decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| OidcError::Invalid(format!("the ID token does not verify: {e}")))
    }
}

/// One exchange with the token endpoint for oauth2, through our reqwest client.
async fn exchange(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, OidcError> {
    let request = reqwest::Request::try_from(request)
        .map_err(|e| provider("building the token request", e.without_url()))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| provider("token endpoint", e.without_url()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| provider("token endpoint", e.without_url()))?;
    let mut answer = http::Response::builder().status(status);
    if let Some(h) = answer.headers_mut() {
        *h = headers;
    }
    answer
        .body(body.to_vec())
        .map_err(|e| provider("token endpoint", e))
}

// ---------------------------------------------------------------------------------
// Routes

use crate::http::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

fn pending_cookie(state: &AppState, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if state.ui.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{PENDING_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/login/oidc; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn pending_from(headers: &HeaderMap) -> Option<PendingLogin> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == PENDING_COOKIE)
        .and_then(|(_, value)| PendingLogin::decode(value))
}

/// The login page again, with why the sign-in did not work (and the pending cookie
/// cleared).
fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    let mut response = super::session::login_form(state, status, Some(message));
    response.headers_mut().insert(
        header::SET_COOKIE,
        pending_cookie(state, "", Duration::ZERO),
    );
    response
}

/// GET /login/oidc: off to the provider.
pub async fn start_login(State(state): State<AppState>) -> Response {
    let Some(oidc) = state.ui.oidc.clone() else {
        return refused(
            &state,
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured.",
        );
    };
    match oidc.start().await {
        Ok((url, pending)) => {
            let mut response = Redirect::to(&url).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                pending_cookie(&state, &pending.encode(), PENDING_TTL),
            );
            response
        }
        Err(error) => {
            tracing::warn!(%error, "dashboard: cannot start an OIDC sign-in");
            refused(&state, StatusCode::BAD_GATEWAY, &error.to_string())
        }
    }
}

/// The callback's query: a code and state, or the provider's error.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// GET /login/oidc/callback: back from the provider.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(oidc) = state.ui.oidc.clone() else {
        return refused(
            &state,
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured.",
        );
    };
    let Ok(Query(query)) = query else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "The sign-in answer is malformed.",
        );
    };
    if let Some(error) = query.error.as_deref() {
        let message = format!(
            "The identity provider did not sign you in: {error}{}",
            query
                .error_description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        tracing::info!(error, "dashboard: OIDC sign-in refused by the provider");
        return refused(&state, StatusCode::FORBIDDEN, &message);
    }
    let (Some(code), Some(returned_state)) = (query.code.as_deref(), query.state.as_deref()) else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "The sign-in answer has no code or state.",
        );
    };
    let Some(pending) = pending_from(&headers) else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "No sign-in was started in this browser (or it took longer than 10 minutes); start again.",
        );
    };
    let user = match oidc.finish(code, returned_state, &pending).await {
        Ok(user) => user,
        Err(error) => {
            tracing::warn!(%error, "dashboard: OIDC sign-in failed");
            let status = match error {
                OidcError::Provider(_) => StatusCode::BAD_GATEWAY,
                OidcError::Invalid(_) => StatusCode::BAD_REQUEST,
                OidcError::Refused(_) => StatusCode::FORBIDDEN,
            };
            return refused(&state, status, &error.to_string());
        }
    };
    match super::session::sign_in(
        &state,
        &format!("oidc:{}", user.email),
        crate::domain::Role::Viewer,
    )
    .await
    {
        Ok(mut response) => {
            response.headers_mut().append(
                header::SET_COOKIE,
                pending_cookie(&state, "", Duration::ZERO),
            );
            response
        }
        Err(error) => super::session::server_error("starting your session", error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_logins_round_trip_through_the_cookie_and_reject_garbage() {
        let pending = PendingLogin {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
        };
        assert_eq!(PendingLogin::decode(&pending.encode()), Some(pending));
        assert_eq!(PendingLogin::decode("not base64 !"), None);
        assert_eq!(PendingLogin::decode(&URL_SAFE_NO_PAD.encode(b"{}")), None);
    }
}
