//! Okta's wire shapes: the Management API error object, the OAuth 2.0 error object of
//! the token endpoint, and timestamps as Okta writes them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde_json::{json, Value};

/// `application/json` — what Okta answers with (the Management API adds no charset).
pub const JSON: &str = "application/json";

/// Error codes of the Management API used by the simulator.
pub mod codes {
    /// 400 `Api validation failed: {field}`.
    pub const VALIDATION: &str = "E0000001";
    /// 403 `You do not have permission to perform the requested action`.
    pub const FORBIDDEN: &str = "E0000006";
    /// 404 `Not found: Resource not found: {id} ({type})`.
    pub const NOT_FOUND: &str = "E0000007";
    /// 500 `Internal Server Error`.
    pub const INTERNAL: &str = "E0000009";
    /// 401 `Invalid token provided`.
    pub const INVALID_TOKEN: &str = "E0000011";
    /// 405 `The endpoint does not support the provided HTTP method`.
    pub const METHOD: &str = "E0000022";
    /// 400 `Invalid search criteria.`
    pub const SEARCH: &str = "E0000031";
    /// 429 `API call exceeded rate limit due to too many requests.`
    pub const RATE_LIMIT: &str = "E0000047";
}

/// An Okta `errorId` (`oae` + 22 random characters, as Okta's look).
pub fn error_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    let tail: String = (0..22)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("oae{tail}")
}

/// A JSON answer with Okta's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// The Management API error object:
/// `{"errorCode","errorSummary","errorLink","errorId","errorCauses":[…]}`.
pub fn api_error(status: StatusCode, code: &str, summary: &str, causes: &[String]) -> Response {
    let causes: Vec<Value> = causes
        .iter()
        .map(|c| json!({ "errorSummary": c }))
        .collect();
    json_response(
        status,
        &json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": error_id(),
            "errorCauses": causes,
        }),
    )
}

/// 404 for a resource (`Not found: Resource not found: 00u… (User)`).
pub fn not_found(id: &str, kind: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        &format!("Not found: Resource not found: {id} ({kind})"),
        &[],
    )
}

/// 400 `Api validation failed: {what}` with one cause.
pub fn validation(what: &str, cause: &str) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
        &format!("Api validation failed: {what}"),
        &[cause.to_string()],
    )
}

/// 401 for a missing, unknown or expired access token, with the `WWW-Authenticate`
/// challenge Okta sends.
pub fn invalid_token(base_url: &str, resource: &str) -> Response {
    let mut response = api_error(
        StatusCode::UNAUTHORIZED,
        codes::INVALID_TOKEN,
        "Invalid token provided",
        &[],
    );
    let challenge = format!(
        "Bearer authorization_uri=\"{base_url}/oauth2/v1/authorize\", realm=\"IdpProvider\", \
         scope=\"\", error=\"invalid_token\", error_description=\"The access token is invalid.\", \
         resource=\"{resource}\""
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 403 for a token without the scope a call needs.
pub fn insufficient_scope(base_url: &str, resource: &str, needed: &str) -> Response {
    let mut response = api_error(
        StatusCode::FORBIDDEN,
        codes::FORBIDDEN,
        "You do not have permission to perform the requested action",
        &[],
    );
    let challenge = format!(
        "Bearer authorization_uri=\"{base_url}/oauth2/v1/authorize\", realm=\"IdpProvider\", \
         scope=\"{needed}\", error=\"insufficient_scope\", \
         error_description=\"The access token provided does not contain the required scopes.\", \
         resource=\"{resource}\""
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The OAuth 2.0 error object of `/oauth2/v1/token`: `{"error","error_description"}`.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A timestamp as Okta writes it: RFC 3339, milliseconds, `Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parse an ISO 8601 / RFC 3339 timestamp (`2026-11-20T16:02:10.981Z`, offsets allowed).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An Okta-style object id: a three-character prefix (`00u` users, `102` sessions,
/// `oar` refresh tokens, `oag` grants) and 17 random characters.
pub fn object_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..17)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// A version-1-looking UUID, as System Log `uuid`s are (`5d1e3a70-c6f1-11f0-…`).
pub fn event_uuid() -> String {
    let mut rng = rand::thread_rng();
    let bytes: [u8; 16] = rng.gen();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-1{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times_look_like_oktas() {
        assert!(error_id().starts_with("oae") && error_id().len() == 25);
        let id = object_id("00u");
        assert_eq!(id.len(), 20);
        let uuid = event_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "1");
        let t = parse_timestamp("2026-11-20T16:02:10.981Z").unwrap();
        assert_eq!(timestamp(t), "2026-11-20T16:02:10.981Z");
        assert_eq!(
            timestamp(parse_timestamp("2026-11-20T17:02:10+01:00").unwrap()),
            "2026-11-20T16:02:10.000Z"
        );
        assert!(parse_timestamp("yesterday").is_none());
    }
}
