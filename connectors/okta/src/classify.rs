//! Classifying Okta's answers and transport failures into transient or permanent
//! [`ConnectorError`]s.
//!
//! | answer | class | wait (`retry_after`) |
//! |---|---|---|
//! | 429 `E0000047` (rate limit, concurrency limit) | transient | until `X-Rate-Limit-Reset` (UTC epoch seconds; at least 1 s) |
//! | 408, 5xx | transient | `Retry-After` if sent |
//! | 401 `E0000011` (token refused), 403 `E0000006` (scope or admin role missing), 400, 404, other 4xx | permanent | – |
//! | timeout, connection failure | transient | – |
//!
//! The message is Okta's own: the Management API's `errorSummary` (with its
//! `errorCauses`, `errorCode` and `errorId`), or the token endpoint's OAuth
//! `error: error_description`, prefixed with the status and followed by the call:
//! `Okta 403: You do not have permission to perform the requested action (E0000006,
//! errorId oae…) (POST /api/v1/users/00u…/lifecycle/deactivate)`. Bodies that are not
//! Okta JSON (a proxy's HTML page) are not echoed.

use http::HeaderMap;
use leaver_connector::{parse_reset_epoch, parse_retry_after, ConnectorError, ErrorClass};
use std::time::Duration;

/// Longest upstream message kept in an error.
const MAX_MESSAGE_CHARS: usize = 400;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Okta's words for a failed call: the Management API error object, the OAuth error
/// object, or the status' reason phrase when the body is neither.
pub fn upstream_message(status: u16, body: &[u8]) -> String {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = if let Some(summary) = parsed.get("errorSummary").and_then(|s| s.as_str()) {
        let causes: Vec<&str> = parsed
            .get("errorCauses")
            .and_then(|c| c.as_array())
            .map(|causes| {
                causes
                    .iter()
                    .filter_map(|c| c.get("errorSummary").and_then(|s| s.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let mut text = summary.to_string();
        if !causes.is_empty() {
            text.push_str(": ");
            text.push_str(&causes.join("; "));
        }
        let code = parsed.get("errorCode").and_then(|c| c.as_str());
        let id = parsed.get("errorId").and_then(|c| c.as_str());
        match (code, id) {
            (Some(code), Some(id)) => format!("{text} ({code}, errorId {id})"),
            (Some(code), None) => format!("{text} ({code})"),
            _ => text,
        }
    } else if let Some(error) = parsed.get("error").and_then(|s| s.as_str()) {
        match parsed.get("error_description").and_then(|s| s.as_str()) {
            Some(description) => format!("{error}: {description}"),
            None => error.to_string(),
        }
    } else {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected answer")
            .to_string()
    };
    truncate(&single_line(&text), MAX_MESSAGE_CHARS)
}

/// How long a 429 asks us to wait: until `X-Rate-Limit-Reset` (at least a second, as
/// the reset is whole seconds and may be "now"), else `Retry-After`, else a minute
/// (Okta's windows are one minute).
pub fn rate_limit_wait(headers: &HeaderMap) -> Duration {
    header(headers, "x-rate-limit-reset")
        .and_then(parse_reset_epoch)
        .or_else(|| header(headers, "retry-after").and_then(parse_retry_after))
        .map(|wait| wait.max(Duration::from_secs(1)))
        .unwrap_or(Duration::from_secs(60))
}

/// Classify a non-success answer to `what` (`POST /api/v1/users/…/lifecycle/deactivate`).
pub fn classify_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> ConnectorError {
    let message = upstream_message(status, body);
    let (class, wait) = match status {
        429 => (ErrorClass::Transient, Some(rate_limit_wait(headers))),
        408 | 500..=599 => (
            ErrorClass::Transient,
            header(headers, "retry-after").and_then(parse_retry_after),
        ),
        _ => (ErrorClass::Permanent, None),
    };
    let token_endpoint = what.contains("/oauth2/");
    let hint = match status {
        401 if token_endpoint => " — Okta refused the client assertion: check idp.okta.client_id, the private key and key_id against the service app's public keys",
        400 if token_endpoint => " — request only scopes granted to the service app (idp.okta.scopes)",
        401 => " — Okta refused the access token: check the service app's client id, key and that the token is not revoked",
        403 => " — the service app lacks a granted scope or an admin role allowing this call",
        _ => "",
    };
    ConnectorError {
        class,
        message: format!("Okta {status}: {message} ({what}){hint}"),
        status: Some(status),
        retry_after: wait,
    }
}

/// A request that got no answer: a timeout (after `timeout`) or a connection failure.
/// Always transient.
pub fn classify_transport(
    what: &str,
    timed_out: bool,
    timeout: Duration,
    detail: &str,
) -> ConnectorError {
    let message = if timed_out {
        format!("Okta did not answer within {timeout:?}: timed out ({what})")
    } else {
        format!(
            "cannot reach Okta: {} ({what})",
            truncate(&single_line(detail), MAX_MESSAGE_CHARS)
        )
    };
    ConnectorError::transient(message)
}

/// The error chain as one line, each distinct level once.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Replace every occurrence of `secret` in `text` (defence in depth: messages are
/// built without secrets, but an upstream or a proxy could echo one). Secrets shorter
/// than 8 characters are not searched for.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.len() < 8 || !text.contains(secret) {
        return text.to_string();
    }
    text.replace(secret, "[redacted]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::time::{SystemTime, UNIX_EPOCH};

    const WHAT: &str = "GET /api/v1/users/00u1";

    fn okta(code: &str, summary: &str, causes: &[&str]) -> Vec<u8> {
        let causes: Vec<_> = causes
            .iter()
            .map(|c| serde_json::json!({ "errorSummary": c }))
            .collect();
        serde_json::json!({
            "errorCode": code, "errorSummary": summary, "errorLink": code,
            "errorId": "oaeABC", "errorCauses": causes
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn okta_errors_are_quoted_with_code_and_id() {
        let e = classify_response(
            403,
            &HeaderMap::new(),
            &okta(
                "E0000006",
                "You do not have permission to perform the requested action",
                &[],
            ),
            WHAT,
        );
        assert_eq!(e.class, ErrorClass::Permanent);
        assert!(e.message.starts_with(
            "Okta 403: You do not have permission to perform the requested action (E0000006, errorId oaeABC) (GET /api/v1/users/00u1)"
        ), "{}", e.message);
        let e = classify_response(
            400,
            &HeaderMap::new(),
            &okta(
                "E0000001",
                "Api validation failed: limit",
                &["limit: must be between 1 and 1000"],
            ),
            WHAT,
        );
        assert!(e
            .message
            .contains("Api validation failed: limit: limit: must be between 1 and 1000"));
        assert_eq!(
            upstream_message(401, br#"{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}"#),
            "invalid_client: The client_assertion signature is invalid."
        );
    }

    #[test]
    fn rate_limits_wait_for_the_reset() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-rate-limit-reset", HeaderValue::from(now + 20));
        let e = classify_response(
            429,
            &headers,
            &okta(
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
                &[],
            ),
            WHAT,
        );
        assert!(e.is_transient());
        let wait = e.retry_after.unwrap();
        assert!(
            wait >= Duration::from_secs(18) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        headers.insert("x-rate-limit-reset", HeaderValue::from(now - 5));
        assert_eq!(rate_limit_wait(&headers), Duration::from_secs(1));
        assert_eq!(rate_limit_wait(&HeaderMap::new()), Duration::from_secs(60));
    }

    #[test]
    fn transient_and_permanent_statuses() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(classify_response(status, &HeaderMap::new(), b"", WHAT).is_transient());
        }
        for status in [400, 401, 403, 404, 405, 409] {
            assert!(!classify_response(status, &HeaderMap::new(), b"", WHAT).is_transient());
        }
        let e = classify_response(
            502,
            &HeaderMap::new(),
            b"<html>edge-7 internal</html>",
            WHAT,
        );
        assert_eq!(e.message, format!("Okta 502: Bad Gateway ({WHAT})"));
    }

    #[test]
    fn transport_and_redaction() {
        let e = classify_transport(WHAT, true, Duration::from_secs(2), "");
        assert!(e.is_transient() && e.message.contains("timed out"));
        assert_eq!(
            redact("x eyJsecrettoken y", "eyJsecrettoken"),
            "x [redacted] y"
        );
        assert_eq!(redact("tiny", "ti"), "tiny");
    }
}
