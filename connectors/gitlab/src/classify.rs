//! Classifying GitLab's answers and transport failures into transient or permanent
//! [`ConnectorError`]s.
//!
//! | answer | class | wait (`retry_after`) |
//! |---|---|---|
//! | 400, 401, 403, 404, 405, 409, 422, other 4xx | permanent | – |
//! | 408 | transient | `Retry-After` if sent |
//! | 429 (Rack::Attack throttle, `Retry later`) | transient | `Retry-After`, else `RateLimit-Reset` (epoch seconds), else `RateLimit-ResetTime` (HTTP date) |
//! | 5xx (502/503/504 from Workhorse or the load balancer) | transient | `Retry-After` if sent |
//! | timeout, connection failure | transient | – |
//!
//! The message is GitLab's own: `message` (a string, a list, or a field → errors map as
//! in validation failures), else OAuth's `error` / `error_description`, else a short
//! plain-text body (`Retry later`). HTML pages are not echoed; the status' reason phrase
//! stands in. Shape: `GitLab 404: 404 User Not Found (GET /users/7)`.

use http::HeaderMap;
use leaver_connector::{parse_reset_epoch, parse_retry_after, ConnectorError, ErrorClass};
use serde_json::Value;
use std::time::Duration;

/// Longest upstream message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn flatten(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(flatten).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .filter_map(|(k, v)| flatten(v).map(|text| format!("{k} {text}")))
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// GitLab's words for a non-success answer.
pub fn upstream_message(status: u16, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        v.get("message").and_then(flatten).or_else(|| {
            let error = v.get("error").and_then(flatten)?;
            Some(match v.get("error_description").and_then(Value::as_str) {
                Some(description) => format!("{error}: {description}"),
                None => error,
            })
        })
    });
    let text = from_json.or_else(|| {
        let text = std::str::from_utf8(body).ok()?.trim();
        (parsed.is_none() && !text.is_empty() && !text.contains('<') && text.len() <= 200)
            .then(|| text.to_string())
    });
    let text = text.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected answer")
            .to_string()
    });
    truncate(&single_line(&text), MAX_MESSAGE_CHARS)
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

/// How long a throttled answer asks us to wait.
fn throttle_wait(headers: &HeaderMap) -> Option<Duration> {
    header(headers, "retry-after")
        .and_then(parse_retry_after)
        .or_else(|| header(headers, "ratelimit-reset").and_then(parse_reset_epoch))
        .or_else(|| header(headers, "ratelimit-resettime").and_then(parse_retry_after))
}

/// Classify a non-success answer to `what` (`POST /users/7/block`).
pub fn classify_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> ConnectorError {
    let message = upstream_message(status, body);
    let (class, wait) = match status {
        429 => (ErrorClass::Transient, throttle_wait(headers)),
        408 | 500..=599 => (
            ErrorClass::Transient,
            header(headers, "retry-after").and_then(parse_retry_after),
        ),
        _ => (ErrorClass::Permanent, None),
    };
    let hint = match status {
        401 => " — the token is missing, invalid, expired or revoked",
        403 => " — the token must belong to an administrator and have the `api` scope",
        _ => "",
    };
    ConnectorError {
        class,
        message: format!("GitLab {status}: {message} ({what}){hint}"),
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
        format!("GitLab did not answer within {timeout:?}: timed out ({what})")
    } else {
        format!(
            "cannot reach GitLab: {} ({what})",
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

/// Replace every occurrence of `secret` in `text` (defence in depth: messages are built
/// without the token, but an upstream or a proxy could echo it). Secrets shorter than 8
/// characters are not searched for, to avoid mangling ordinary words.
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

    const WHAT: &str = "GET /users/7";

    fn json(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn gitlab_messages() {
        let e = classify_response(
            404,
            &HeaderMap::new(),
            &json(serde_json::json!({"message": "404 User Not Found"})),
            WHAT,
        );
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.message, "GitLab 404: 404 User Not Found (GET /users/7)");
        let e = classify_response(
            401,
            &HeaderMap::new(),
            &json(serde_json::json!({"message": "401 Unauthorized"})),
            WHAT,
        );
        assert!(
            !e.is_transient() && e.message.contains("revoked"),
            "{}",
            e.message
        );
        assert_eq!(
            upstream_message(
                400,
                &json(serde_json::json!({"message": {"email": ["is invalid", "is taken"]}}))
            ),
            "email is invalid; is taken"
        );
        assert_eq!(
            upstream_message(
                403,
                &json(
                    serde_json::json!({"error": "insufficient_scope", "error_description": "needs api"})
                )
            ),
            "insufficient_scope: needs api"
        );
        assert_eq!(
            upstream_message(404, &json(serde_json::json!({"error": "404 Not Found"}))),
            "404 Not Found"
        );
        assert_eq!(
            upstream_message(502, b"<html>GitLab is not responding</html>"),
            "Bad Gateway"
        );
        assert_eq!(upstream_message(429, b"Retry later\n"), "Retry later");
    }

    #[test]
    fn throttling_waits() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = classify_response(429, &h, b"Retry later\n", WHAT);
        assert!(e.is_transient());
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        h.insert("ratelimit-reset", HeaderValue::from(reset));
        let wait = classify_response(429, &h, b"", WHAT).retry_after.unwrap();
        assert!(wait >= Duration::from_secs(28) && wait <= Duration::from_secs(30));
        assert_eq!(
            classify_response(429, &HeaderMap::new(), b"", WHAT).retry_after,
            None
        );
    }

    #[test]
    fn statuses() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                classify_response(status, &HeaderMap::new(), b"", WHAT).is_transient(),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 405, 409, 422] {
            assert!(
                !classify_response(status, &HeaderMap::new(), b"", WHAT).is_transient(),
                "{status}"
            );
        }
    }

    #[test]
    fn transport_and_redaction() {
        let e = classify_transport(WHAT, true, Duration::from_secs(2), "");
        assert!(e.is_transient() && e.message.contains("timed out"));
        let e = classify_transport(WHAT, false, Duration::from_secs(2), "connection refused");
        assert!(e.message.contains("connection refused"));
        assert_eq!(
            redact("a glpat-secretvalue b", "glpat-secretvalue"),
            "a [redacted] b"
        );
        assert_eq!(redact("tiny", "ti"), "tiny");
    }
}
