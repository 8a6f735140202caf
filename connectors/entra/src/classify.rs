//! Classifying Graph's and the token endpoint's answers into transient or permanent
//! [`ConnectorError`]s, with the upstream's own words.
//!
//! | answer | class | wait (`retry_after`) |
//! |---|---|---|
//! | 400, 401 (after one fresh token), 403, 404, 409, other 4xx | permanent | – |
//! | 408, 429 (throttled), 5xx (503 `serviceNotAvailable`, 504) | transient | `Retry-After` if sent |
//! | timeout, connection failure | transient | – |
//!
//! Messages name the status, Graph's error `code` and `message`, the call and Graph's
//! `request-id` (what Microsoft support asks for): `Graph 403 Authorization_RequestDenied:
//! Insufficient privileges to complete the operation. (PATCH /v1.0/users/…; request-id …)`.
//! Bodies that are not Graph JSON (a proxy's HTML page) are not echoed.

use http::HeaderMap;
use leaver_connector::{parse_retry_after, ConnectorError};
use std::time::Duration;

/// Longest upstream message kept in an error.
const MAX_MESSAGE_CHARS: usize = 400;

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
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

/// Graph's `error.code`, `error.message` and `innerError.request-id`, if the body is a
/// Graph error.
pub fn graph_error_parts(body: &[u8]) -> Option<(String, String, Option<String>)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let code = error.get("code")?.as_str()?.to_string();
    let message = error
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    let request_id = error
        .get("innerError")
        .or_else(|| error.get("innererror"))
        .and_then(|i| i.get("request-id"))
        .and_then(|r| r.as_str())
        .map(str::to_string);
    Some((code, message, request_id))
}

/// The classified error for a Graph answer the caller did not expect.
pub fn graph_failure(status: u16, headers: &HeaderMap, body: &[u8], what: &str) -> ConnectorError {
    let text = match graph_error_parts(body) {
        Some((code, message, request_id)) => {
            let message = truncate(&single_line(&message), MAX_MESSAGE_CHARS);
            match request_id {
                Some(id) => format!("Graph {status} {code}: {message} ({what}; request-id {id})"),
                None => format!("Graph {status} {code}: {message} ({what})"),
            }
        }
        None => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("unexpected answer");
            format!("Graph {status} {reason} ({what})")
        }
    };
    ConnectorError::from_status(status, text).with_retry_after(retry_after(headers))
}

/// A failure without an answer.
pub(crate) fn transport(
    what: &str,
    timed_out: bool,
    timeout: Duration,
    detail: &str,
) -> ConnectorError {
    if timed_out {
        ConnectorError::transient(format!("{what} timed out after {}s", timeout.as_secs_f64()))
    } else if detail.is_empty() {
        ConnectorError::transient(format!("{what} failed: no answer"))
    } else {
        ConnectorError::transient(format!(
            "{what} failed: {}",
            truncate(&single_line(detail), MAX_MESSAGE_CHARS)
        ))
    }
}

/// The error chain of a transport error, as one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = inner.source();
    }
    parts.join(": ")
}

/// Replace every occurrence of each secret with `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

/// The first line of an AADSTS `error_description` (the rest is trace and correlation
/// ids and a timestamp).
pub fn aadsts_summary(description: &str) -> String {
    let first = description
        .split(['\r', '\n'])
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let first = first.split(" Trace ID:").next().unwrap_or(first);
    truncate(&single_line(first), MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leaver_connector::ErrorClass;

    #[test]
    fn graph_errors_keep_code_message_and_request_id() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"x","request-id":"r-1"}}}"#;
        let e = graph_failure(403, &HeaderMap::new(), body, "PATCH /v1.0/users/u");
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.status, Some(403));
        assert_eq!(
            e.message,
            "Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (PATCH /v1.0/users/u; request-id r-1)"
        );
    }

    #[test]
    fn throttling_and_unavailability_are_transient_with_the_wait() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        for status in [429, 503, 504] {
            let e = graph_failure(status, &headers, b"<html>proxy</html>", "GET /v1.0/users/u");
            assert!(e.is_transient());
            assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
            assert!(!e.message.contains("proxy"), "{}", e.message);
        }
    }

    #[test]
    fn aadsts_descriptions_keep_their_first_line() {
        let d = "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: a\r\nCorrelation ID: b\r\nTimestamp: c";
        assert_eq!(
            aadsts_summary(d),
            "AADSTS7000215: Invalid client secret provided."
        );
        assert_eq!(
            redact("x secret-value y", &["secret-value"]),
            "x [redacted] y"
        );
    }
}
