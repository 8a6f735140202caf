//! The org authorization server of the simulated Okta: `POST /oauth2/v1/token` for
//! service apps (client credentials, **`private_key_jwt` only**), and the access tokens
//! it issues, checked on every `/api/v1` call.
//!
//! A client assertion is accepted when (Okta's service-app guide and RFC 7523):
//! its header names an asymmetric algorithm (RS256/384/512, ES256/384/512) of the
//! family of the registered key, and the key id (`kid`) when both sides have one; the
//! signature verifies against the registered public key; `iss` = `sub` = the client
//! id (and `client_id`, when also sent as a form field); `aud` is exactly the token
//! endpoint URL; `exp` is in the future and at most one hour ahead; `nbf`/`iat`, when
//! present, are not in the future (60 s leeway); a `jti`, when present, was not used
//! before by the same client while the assertion is valid.

use super::wire::{self, oauth_error};
use axum::http::StatusCode;
use axum::response::Response;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use rand::Rng;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// OAuth scopes of the Okta Management API the simulator knows.
pub const KNOWN_SCOPES: &[&str] = &[
    "okta.users.read",
    "okta.users.manage",
    "okta.logs.read",
    "okta.sessions.read",
    "okta.sessions.manage",
    "okta.groups.read",
    "okta.groups.manage",
    "okta.apps.read",
    "okta.apps.manage",
];

const LEEWAY_SECS: i64 = 60;
const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// A service app registered in the org: its client id, the public key its assertions
/// are signed with, and the scopes granted to it.
#[derive(Clone)]
pub struct SimClient {
    pub client_id: String,
    /// Display name (the actor of the System Log events its calls cause).
    pub name: String,
    /// The public key, PEM: `PUBLIC KEY` (SPKI, RSA or EC P-256/P-384) or
    /// `RSA PUBLIC KEY` (PKCS#1).
    pub public_key_pem: String,
    /// The key's `kid` in the app's JWKS; when set, assertions that name a different
    /// `kid` are refused.
    pub key_id: Option<String>,
    /// Granted OAuth scopes (`okta.users.manage`, `okta.logs.read`…).
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for SimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClient")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Registered {
    pub client: SimClient,
    key: DecodingKey,
}

/// What an access token grants.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_id: String,
    pub scopes: BTreeSet<String>,
    expires_at: SystemTime,
}

#[derive(Default)]
pub(crate) struct Auth {
    clients: BTreeMap<String, Registered>,
    used_jti: HashMap<(String, String), i64>,
    tokens: HashMap<String, Grant>,
    issued: u64,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
    jti: Option<String>,
}

/// A refused request: the answer to send (boxed: a `Response` is large).
pub(crate) type Refusal = Box<Response>;

fn refuse(status: StatusCode, error: &str, description: &str) -> Refusal {
    Box::new(oauth_error(status, error, description))
}

fn invalid_client(description: &str) -> Refusal {
    refuse(StatusCode::UNAUTHORIZED, "invalid_client", description)
}

fn invalid_request(description: &str) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn number(value: &Option<serde_json::Value>) -> Result<Option<i64>, ()> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(()),
    }
}

fn epoch_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn random_token() -> String {
    // Okta's access tokens are JWTs; clients must treat them as opaque, and so does
    // the simulator: a random string in the same alphabet.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    let body: String = (0..86)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("eyJraWQiOiJzaW0ifQ.{body}")
}

impl Auth {
    /// Register (or replace) a service app. `Err` when its key is not a usable public
    /// key or a scope is unknown.
    pub fn register(&mut self, client: SimClient) -> Result<(), String> {
        if client.client_id.trim().is_empty() {
            return Err("client_id must not be empty".into());
        }
        let pem = client.public_key_pem.as_bytes();
        let key = DecodingKey::from_rsa_pem(pem)
            .or_else(|_| DecodingKey::from_ec_pem(pem))
            .map_err(|e| {
                format!(
                    "client {}: public_key_pem is not an RSA or EC public key: {e}",
                    client.client_id
                )
            })?;
        if let Some(unknown) = client
            .scopes
            .iter()
            .find(|s| !KNOWN_SCOPES.contains(&s.as_str()))
        {
            return Err(format!(
                "client {}: unknown scope `{unknown}`",
                client.client_id
            ));
        }
        self.clients
            .insert(client.client_id.clone(), Registered { client, key });
        Ok(())
    }

    pub fn client(&self, client_id: &str) -> Option<&SimClient> {
        self.clients.get(client_id).map(|r| &r.client)
    }

    /// Access tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Forget every issued access token (as if they had all been revoked).
    pub fn revoke_all(&mut self) {
        self.tokens.clear();
    }

    /// The grant of a presented bearer token, if it is known and unexpired.
    pub fn check(&mut self, token: &str, now: SystemTime) -> Option<Grant> {
        let grant = self.tokens.get(token)?.clone();
        if grant.expires_at <= now {
            self.tokens.remove(token);
            return None;
        }
        Some(grant)
    }

    /// Handle a token request (form fields already decoded). `Ok` is the JSON body of
    /// the 200 answer.
    pub fn token(
        &mut self,
        form: &[(String, String)],
        token_url: &str,
        lifetime: Duration,
    ) -> Result<serde_json::Value, Refusal> {
        let field = |name: &str| -> Result<Option<&str>, Refusal> {
            let mut values = form
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str());
            let first = values.next();
            if values.next().is_some() {
                return Err(invalid_request(&format!(
                    "The '{name}' parameter was specified more than once."
                )));
            }
            Ok(first)
        };
        let grant_type = field("grant_type")?;
        match grant_type {
            None => return Err(invalid_request("The 'grant_type' parameter is required.")),
            Some("client_credentials") => {}
            Some(_) => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "The authorization grant type is not supported by the authorization server. \
                     Configured grant types: [client_credentials].",
                ))
            }
        }
        if field("client_secret")?.is_some() {
            return Err(invalid_client(
                "Client Credentials requests to the Org Authorization Server must use the \
                 private_key_jwt token_endpoint_auth_method",
            ));
        }
        let assertion_type = field("client_assertion_type")?;
        let assertion = field("client_assertion")?;
        let (assertion_type, assertion) = match (assertion_type, assertion) {
            (Some(t), Some(a)) => (t, a),
            (None, None) => {
                return Err(invalid_client(
                    "Client authentication failed. Either the client or the client credentials \
                     are invalid.",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid_request(
                    "The 'client_assertion_type' parameter is required when 'client_assertion' is provided.",
                ))
            }
            (Some(_), None) => {
                return Err(invalid_request(
                    "The 'client_assertion' parameter is required when 'client_assertion_type' is provided.",
                ))
            }
        };
        if assertion_type != JWT_BEARER {
            return Err(invalid_request(&format!(
                "The client_assertion_type is invalid. It must be '{JWT_BEARER}'."
            )));
        }
        let client_id = self.verify_assertion(assertion, field("client_id")?, token_url)?;

        let requested: Vec<String> = field("scope")?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if requested.is_empty() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "The authorization server resource does not have any configured default scopes, \
                 'scope' must be provided.",
            ));
        }
        if let Some(unknown) = requested
            .iter()
            .find(|s| !KNOWN_SCOPES.contains(&s.as_str()))
        {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                &format!("One or more scopes are not configured for the authorization server resource: {unknown}"),
            ));
        }
        let granted: BTreeSet<String> = self
            .client(&client_id)
            .map(|c| c.scopes.iter().cloned().collect())
            .unwrap_or_default();
        let missing: Vec<&str> = requested
            .iter()
            .filter(|s| !granted.contains(*s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                &format!(
                    "The following scopes were requested but not granted to the client: {}",
                    missing.join(" ")
                ),
            ));
        }
        let token = random_token();
        let scopes: BTreeSet<String> = requested.into_iter().collect();
        self.tokens.insert(
            token.clone(),
            Grant {
                client_id,
                scopes: scopes.clone(),
                expires_at: SystemTime::now() + lifetime,
            },
        );
        self.issued += 1;
        Ok(serde_json::json!({
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "access_token": token,
            "scope": scopes.into_iter().collect::<Vec<_>>().join(" "),
        }))
    }

    fn verify_assertion(
        &mut self,
        assertion: &str,
        form_client_id: Option<&str>,
        token_url: &str,
    ) -> Result<String, Refusal> {
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| invalid_client("The client_assertion token is malformed."))?;
        let family = header.alg.family();
        if !matches!(family, AlgorithmFamily::Rsa | AlgorithmFamily::Ec)
            || matches!(
                header.alg,
                Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512
            )
        {
            return Err(invalid_client(&format!(
                "The client_assertion token has an unsupported signing algorithm ({:?}). \
                 Use RS256, RS384, RS512, ES256, ES384 or ES512.",
                header.alg
            )));
        }
        // Who claims to be calling: read the claims before the signature (to find the
        // key), trust nothing of them until it verifies.
        let unverified: Claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(assertion)
            .map(|data| data.claims)
            .map_err(|_| invalid_client("The client_assertion token is malformed."))?;
        let iss = unverified.iss.clone().unwrap_or_default();
        let registered = self.clients.get(&iss).ok_or_else(|| {
            invalid_client(
                "Client authentication failed. Either the client or the client credentials are invalid.",
            )
        })?;
        if registered.key.family() != family {
            return Err(invalid_client(
                "The client_assertion signature is invalid: the algorithm does not match the registered key.",
            ));
        }
        if let (Some(expected), Some(presented)) = (&registered.client.key_id, &header.kid) {
            if expected != presented {
                return Err(invalid_client(&format!(
                    "The client_assertion token was signed with an unknown key (kid `{presented}`)."
                )));
            }
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = Default::default();
        let claims: Claims =
            jsonwebtoken::decode::<Claims>(assertion, &registered.key, &validation)
                .map(|data| data.claims)
                .map_err(|_| invalid_client("The client_assertion signature is invalid."))?;

        if claims.sub.as_deref() != Some(iss.as_str()) {
            return Err(invalid_client(
                "The 'sub' claim of the client_assertion must equal the 'iss' claim (the client id).",
            ));
        }
        if let Some(form_id) = form_client_id {
            if form_id != iss {
                return Err(invalid_client(
                    "The 'client_id' parameter does not match the client_assertion issuer.",
                ));
            }
        }
        let audience_ok = match &claims.aud {
            Some(serde_json::Value::String(a)) => a == token_url,
            Some(serde_json::Value::Array(items)) => {
                items.len() == 1 && items[0].as_str() == Some(token_url)
            }
            _ => false,
        };
        if !audience_ok {
            return Err(invalid_client(
                "The audience claim for client_assertion must be the endpoint invoked for the request.",
            ));
        }
        let now = epoch_now();
        let exp = number(&claims.exp)
            .map_err(|_| {
                invalid_client("The 'exp' claim of the client_assertion is not a number.")
            })?
            .ok_or_else(|| {
                invalid_client("The client_assertion token must have an 'exp' claim.")
            })?;
        if exp <= now - LEEWAY_SECS {
            return Err(invalid_client("The client_assertion token is expired."));
        }
        if exp > now + MAX_ASSERTION_LIFETIME_SECS + LEEWAY_SECS {
            return Err(invalid_client(
                "The client_assertion token has an expiration too far into the future.",
            ));
        }
        for (name, value) in [("nbf", &claims.nbf), ("iat", &claims.iat)] {
            let value = number(value).map_err(|_| {
                invalid_client(&format!(
                    "The '{name}' claim of the client_assertion is not a number."
                ))
            })?;
            if value.is_some_and(|t| t > now + LEEWAY_SECS) {
                return Err(invalid_client(&format!(
                    "The '{name}' claim of the client_assertion is in the future."
                )));
            }
        }
        self.used_jti.retain(|_, until| *until > now - LEEWAY_SECS);
        if let Some(jti) = claims.jti.filter(|j| !j.is_empty()) {
            let key = (iss.clone(), jti);
            if self.used_jti.contains_key(&key) {
                return Err(invalid_client(
                    "The client_assertion token has already been used (its 'jti' was seen before).",
                ));
            }
            self.used_jti.insert(key, exp);
        }
        Ok(iss)
    }
}

/// The 401/403 answer for a `/api/v1` call, or the grant behind its token.
pub(crate) fn authorize(
    auth: &mut Auth,
    authorization: Option<&str>,
    base_url: &str,
    path: &str,
) -> Result<Grant, Refusal> {
    let token = authorization
        .map(str::trim)
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty());
    match token.and_then(|t| auth.check(t, SystemTime::now())) {
        Some(grant) => Ok(grant),
        None => Err(Box::new(wire::invalid_token(base_url, path))),
    }
}

/// The scopes that allow a call (any one of them suffices).
pub(crate) fn required_scopes(method: &axum::http::Method, path: &str) -> &'static [&'static str] {
    use axum::http::Method;
    if path.starts_with("/api/v1/logs") {
        &["okta.logs.read"]
    } else if path.starts_with("/api/v1/sessions") {
        if method == Method::GET {
            &["okta.sessions.read", "okta.sessions.manage"]
        } else {
            &["okta.sessions.manage"]
        }
    } else if method == Method::GET {
        &["okta.users.read", "okta.users.manage"]
    } else {
        &["okta.users.manage"]
    }
}
