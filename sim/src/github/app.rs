//! GitHub App authentication: the app signs a JWT (RS256, `iss` = app id, `iat` up to 60 s
//! in the past, `exp` at most 10 minutes ahead) with its private key and exchanges it at
//! `POST /app/installations/{installation_id}/access_tokens` for an installation token
//! (`ghs_…`, valid one hour), which then authenticates API calls like a PAT, with the
//! installation's permissions. Some endpoints (fine-grained PAT administration) accept
//! installation tokens only.

use super::wire::{self, docs};
use super::{lock, Shared};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an installation token lives.
pub const INSTALLATION_TOKEN_TTL: Duration = Duration::from_secs(3_600);
/// Longest JWT lifetime GitHub accepts (`exp` − now), plus clock-drift slack.
const MAX_JWT_AHEAD: u64 = 600 + 30;

/// Who authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// The configured token (a PAT).
    Token,
    /// An installation token of this installation.
    Installation(u64),
}

struct RegisteredApp {
    key: DecodingKey,
    installations: Vec<u64>,
}

/// Registered apps and the installation tokens issued so far.
#[derive(Default)]
pub(crate) struct Apps {
    apps: BTreeMap<u64, RegisteredApp>,
    tokens: BTreeMap<String, (u64, SystemTime)>,
    issued: u64,
}

impl Apps {
    /// Register an app with its public key (PEM) and installations.
    pub(crate) fn register(
        &mut self,
        app_id: u64,
        public_key_pem: &str,
        installations: &[u64],
    ) -> Result<(), String> {
        let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
            .map_err(|e| format!("not an RSA public key in PEM: {e}"))?;
        self.apps.insert(
            app_id,
            RegisteredApp {
                key,
                installations: installations.to_vec(),
            },
        );
        Ok(())
    }

    /// The installation a live token belongs to.
    pub(crate) fn installation_of(&self, token: &str, now: SystemTime) -> Option<u64> {
        self.tokens
            .get(token)
            .filter(|(_, expires)| *expires > now)
            .map(|(id, _)| *id)
    }

    /// Installation tokens issued so far.
    pub(crate) fn issued(&self) -> u64 {
        self.issued
    }

    /// Let every issued token expire now (tests of token refresh).
    pub(crate) fn expire_all(&mut self) {
        self.tokens.clear();
    }

    fn verify(&self, jwt: &str, installation: u64, now: SystemTime) -> Result<(), Refusal> {
        let undecodable = || Refusal::unauthorized("A JSON web token could not be decoded");
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| undecodable())?;
        if header.alg != Algorithm::RS256 {
            return Err(undecodable());
        }
        let unverified = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(jwt)
            .map_err(|_| undecodable())?
            .claims;
        let app_id = match &unverified["iss"] {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| Refusal::unauthorized("'Issuer' claim ('iss') must be an Integer"))?;
        let app = self
            .apps
            .get(&app_id)
            .ok_or_else(|| Refusal::unauthorized("Integration not found"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = Default::default();
        let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &app.key, &validation)
            .map_err(|_| undecodable())?
            .claims;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
            return Err(undecodable());
        };
        if iat > now + 60 {
            return Err(Refusal::unauthorized(
                "'Issued at' claim ('iat') must be an Integer representing a time in the past",
            ));
        }
        if exp <= now {
            return Err(Refusal::unauthorized(
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
            ));
        }
        if exp > now + MAX_JWT_AHEAD || exp.saturating_sub(iat) > MAX_JWT_AHEAD + 60 {
            return Err(Refusal::unauthorized(
                "'Expiration time' claim ('exp') is too far in the future",
            ));
        }
        if !app.installations.contains(&installation) {
            return Err(Refusal {
                status: StatusCode::NOT_FOUND,
                message: "Not Found",
            });
        }
        Ok(())
    }

    fn issue(&mut self, installation: u64, now: SystemTime) -> (String, SystemTime) {
        let suffix: String = rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(36)
            .map(char::from)
            .collect();
        let token = format!("ghs_{suffix}");
        let expires = now + INSTALLATION_TOKEN_TTL;
        self.tokens.insert(token.clone(), (installation, expires));
        self.issued += 1;
        (token, expires)
    }
}

struct Refusal {
    status: StatusCode,
    message: &'static str,
}

impl Refusal {
    fn unauthorized(message: &'static str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message,
        }
    }
}

/// The bearer credential of a request, if it has exactly one `Authorization` header of
/// the `Bearer` or `token` scheme.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, credential) = value.to_str().ok()?.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| credential.trim())
}

/// `POST /app/installations/{installation_id}/access_tokens` (JWT bearer).
pub(crate) async fn create_installation_token(
    State(shared): State<Arc<Shared>>,
    Path(installation): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(installation) = installation.parse::<u64>() else {
        return wire::not_found(docs::APPS);
    };
    let Some(jwt) = bearer(&headers) else {
        return wire::error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
            docs::APPS,
        );
    };
    let now = SystemTime::now();
    let mut apps = lock(&shared.apps);
    if let Err(refusal) = apps.verify(jwt, installation, now) {
        return wire::error(refusal.status, refusal.message, docs::APPS);
    }
    let (token, expires) = apps.issue(installation, now);
    let expires_at = chrono::DateTime::<chrono::Utc>::from(expires)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    wire::json_response(
        StatusCode::CREATED,
        &json!({
            "token": token,
            "expires_at": expires_at,
            "permissions": {
                "members": "write",
                "organization_administration": "write",
                "organization_personal_access_tokens": "write",
            },
            "repository_selection": "all",
        }),
    )
}
