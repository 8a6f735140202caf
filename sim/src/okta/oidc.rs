//! Okta as an OpenID Connect provider for web apps (the org authorization server):
//! discovery at `/.well-known/openid-configuration`, `GET /oauth2/v1/authorize`
//! (authorization code flow, PKCE with S256 only, `state` required), the
//! `authorization_code` grant at `/oauth2/v1/token` (client_secret_basic or
//! client_secret_post), and the signing keys at `/oauth2/v1/keys`. ID tokens are RS256
//! JWTs with `iss`, `sub`, `aud`, `iat`, `exp`, `nonce`, `email`, `email_verified`,
//! `name`, `preferred_username`, as Okta issues them.
//!
//! There is no login page: the user "signed in to Okta in the browser" is set by the
//! test ([`crate::okta::OktaSim::sign_in_browser`]); without one, authorize redirects
//! with `error=login_required`. Codes live 60 seconds and work once.

use super::world::SimUser;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

const CODE_LIFETIME: Duration = Duration::from_secs(60);
const ID_TOKEN_LIFETIME: u64 = 3600;

/// A web app registered for the authorization code flow.
#[derive(Debug, Clone)]
pub struct WebApp {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    user_id: String,
    nonce: Option<String>,
    challenge: Option<String>,
    scope: String,
    issued: Instant,
}

/// The RSA key ID tokens are signed with.
struct SigningKey {
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    jwk: serde_json::Value,
}

/// OIDC state of the simulated org.
#[derive(Default)]
pub(crate) struct Oidc {
    apps: BTreeMap<String, WebApp>,
    browser_user: Option<String>,
    codes: BTreeMap<String, Grant>,
    key: Option<SigningKey>,
}

/// Where authorize sends the browser: the client's redirect URI with a code or an
/// error, or (for an unknown client or redirect URI) an error page of its own.
pub(crate) enum Authorize {
    Redirect(String),
    ErrorPage(String),
}

/// A token endpoint refusal: (HTTP status, `error`, `error_description`).
pub(crate) type TokenError = (u16, &'static str, String);

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{}", query.finish())
}

fn signing_key() -> Result<SigningKey, String> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
        .map_err(|e| format!("cannot generate the ID token key: {e}"))?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the ID token key: {e}"))?;
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("cannot load the ID token key: {e}"))?;
    let kid = format!("sim-{}", random_token(6));
    let public = private.to_public_key();
    let jwk = serde_json::json!({
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    });
    Ok(SigningKey { kid, encoding, jwk })
}

impl Oidc {
    pub(crate) fn register(&mut self, app: WebApp) -> Result<(), String> {
        if self.key.is_none() {
            self.key = Some(signing_key()?);
        }
        self.apps.insert(app.client_id.clone(), app);
        Ok(())
    }

    pub(crate) fn sign_in(&mut self, user_id: Option<String>) {
        self.browser_user = user_id;
    }

    pub(crate) fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.key.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    pub(crate) fn discovery(issuer: &str) -> serde_json::Value {
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/v1/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/v1/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/v1/userinfo"),
            "jwks_uri": format!("{issuer}/oauth2/v1/keys"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "iat", "exp", "nonce", "email", "email_verified", "name", "preferred_username"],
        })
    }

    /// `GET /oauth2/v1/authorize` with `query`; `user` looks a user up by id.
    pub(crate) fn authorize(
        &mut self,
        query: &BTreeMap<String, String>,
        user: impl Fn(&str) -> Option<SimUser>,
    ) -> Authorize {
        let get = |k: &str| query.get(k).map(String::as_str);
        let Some(app) = get("client_id").and_then(|id| self.apps.get(id)).cloned() else {
            return Authorize::ErrorPage("The client_id is not valid.".into());
        };
        let Some(redirect_uri) = get("redirect_uri")
            .filter(|uri| app.redirect_uris.iter().any(|r| r == uri))
            .map(str::to_string)
        else {
            return Authorize::ErrorPage(
                "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings".into(),
            );
        };
        let state = get("state").unwrap_or_default().to_string();
        let fail = |error: &str, description: &str| {
            let mut pairs = vec![("error", error), ("error_description", description)];
            if !state.is_empty() {
                pairs.push(("state", state.as_str()));
            }
            Authorize::Redirect(with_query(&redirect_uri, &pairs))
        };
        if get("response_type") != Some("code") {
            return fail(
                "unsupported_response_type",
                "The response type is not supported by the authorization server.",
            );
        }
        if state.is_empty() {
            return fail("invalid_request", "The 'state' parameter is required.");
        }
        let scope = get("scope").unwrap_or_default().to_string();
        if !scope.split(' ').any(|s| s == "openid") {
            return fail(
                "invalid_scope",
                "The authorization server requires the openid scope.",
            );
        }
        let challenge = get("code_challenge").map(str::to_string);
        if challenge.is_some() && get("code_challenge_method") != Some("S256") {
            return fail(
                "invalid_request",
                "PKCE code challenge method must be S256.",
            );
        }
        let Some(user) = self.browser_user.as_deref().and_then(user) else {
            return fail("login_required", "The user is not logged in.");
        };
        if user.status != "ACTIVE" || user.transitioning_to_status.is_some() {
            return fail(
                "access_denied",
                "User is not assigned to the client application.",
            );
        }
        let code = random_token(24);
        self.codes.insert(
            code.clone(),
            Grant {
                client_id: app.client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                user_id: user.id.clone(),
                nonce: get("nonce").map(str::to_string),
                challenge,
                scope,
                issued: Instant::now(),
            },
        );
        Authorize::Redirect(with_query(
            &redirect_uri,
            &[("code", &code), ("state", &state)],
        ))
    }

    /// The `authorization_code` grant. `basic` is the decoded Basic credentials.
    pub(crate) fn token(
        &mut self,
        form: &BTreeMap<String, String>,
        basic: Option<(String, String)>,
        issuer: &str,
        user: impl Fn(&str) -> Option<SimUser>,
    ) -> Result<serde_json::Value, TokenError> {
        let (client_id, secret) = match (basic, form.get("client_id"), form.get("client_secret")) {
            (Some((id, secret)), _, _) => (id, secret),
            (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => {
                return Err((
                    401,
                    "invalid_client",
                    "Client authentication failed. Either the client or the client credentials are invalid.".into(),
                ))
            }
        };
        let app = self
            .apps
            .get(&client_id)
            .filter(|app| bool::from(app.client_secret.as_bytes().ct_eq(secret.as_bytes())))
            .cloned()
            .ok_or((
                401,
                "invalid_client",
                "Client authentication failed. Either the client or the client credentials are invalid.".into(),
            ))?;
        let invalid_grant = |why: &str| -> TokenError { (400, "invalid_grant", why.to_string()) };
        let code = form.get("code").ok_or_else(|| {
            (
                400,
                "invalid_request",
                "The 'code' parameter is required.".to_string(),
            )
        })?;
        // A code works once, whatever the outcome.
        let grant = self
            .codes
            .remove(code)
            .ok_or_else(|| invalid_grant("The authorization code is invalid or has expired."))?;
        if grant.issued.elapsed() > CODE_LIFETIME || grant.client_id != app.client_id {
            return Err(invalid_grant(
                "The authorization code is invalid or has expired.",
            ));
        }
        if form.get("redirect_uri") != Some(&grant.redirect_uri) {
            return Err(invalid_grant(
                "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
            ));
        }
        match (&grant.challenge, form.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if &computed != challenge {
                    return Err(invalid_grant("PKCE verification failed."));
                }
            }
            (Some(_), None) => {
                return Err((
                    400,
                    "invalid_request",
                    "PKCE code verifier is required when the parameter code_challenge is included in the authorize request.".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid_grant(
                    "PKCE verification failed: no code_challenge was sent to authorize.",
                ))
            }
            (None, None) => {}
        }
        let user =
            user(&grant.user_id).ok_or_else(|| invalid_grant("The user no longer exists."))?;
        let key = self
            .key
            .as_ref()
            .ok_or((500, "server_error", "no signing key".to_string()))?;
        let now = now_secs();
        let mut claims = serde_json::json!({
            "iss": issuer,
            "sub": user.id,
            "aud": app.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "auth_time": now,
            "email": user.email,
            "email_verified": true,
            "name": format!("{} {}", user.first_name, user.last_name),
            "preferred_username": user.login,
        });
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = serde_json::Value::String(nonce.clone());
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        let id_token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|e| {
            (
                500,
                "server_error",
                format!("cannot sign the ID token: {e}"),
            )
        })?;
        Ok(serde_json::json!({
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_LIFETIME,
            "access_token": random_token(32),
            "scope": grant.scope,
            "id_token": id_token,
        }))
    }
}
