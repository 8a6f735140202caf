//! Classifying Vault's answers and transport failures into transient or permanent
//! [`ConnectorError`]s.
//!
//! | answer | class | wait (`retry_after`) |
//! |---|---|---|
//! | 400, 401, 403 (`permission denied`), 404, 405, other 4xx | permanent | – |
//! | 408, 412 (`required index state not present`, eventual consistency) | transient | `Retry-After` if sent |
//! | 429 (rate-limit quota) | transient | `Retry-After`, else `X-Ratelimit-Reset` |
//! | 472/473 (DR secondary / performance standby), 5xx (503 = sealed or standby) | transient | `Retry-After` if sent |
//! | timeout, connection failure | transient | – |
//!
//! The message is Vault's `errors` array (multi-error strings such as
//! `1 error occurred:\n\t* permission denied\n\n` flattened to their items), prefixed
//! with the status and followed by the call: `Vault 403: permission denied (GET
//! /v1/sys/auth)`. Bodies that are not Vault JSON (a proxy's HTML page) are not echoed;
//! the status' reason phrase stands in.

use http::HeaderMap;
use leaver_connector::{parse_reset_epoch, parse_retry_after, ConnectorError, ErrorClass};
use std::time::Duration;

/// Longest upstream message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The items of one Vault error string: `1 error occurred:\n\t* a\n\n` → `["a"]`;
/// a plain message is one item.
fn error_items(text: &str) -> Vec<String> {
    let bullets: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("* "))
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect();
    if bullets.is_empty() {
        vec![text.trim().to_string()]
    } else {
        bullets
    }
}

/// Vault's `errors` (and `warnings`, when there are no errors), or the reason phrase of
/// `status` when the body is not Vault JSON.
pub fn upstream_message(status: u16, body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let items: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.as_str())
                .flat_map(error_items)
                .filter(|e| !e.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let text = if items.is_empty() {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected answer")
            .to_string()
    } else {
        items.join("; ")
    };
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

/// Classify a non-success answer to `what` (`POST /v1/identity/entity/id/…`).
pub fn classify_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> ConnectorError {
    let message = upstream_message(status, body);
    let retry_after = header(headers, "retry-after").and_then(parse_retry_after);
    let (class, wait) = match status {
        429 => {
            let reset = header(headers, "x-ratelimit-reset").and_then(parse_reset_epoch);
            (ErrorClass::Transient, retry_after.or(reset))
        }
        408 | 412 | 472 | 473 | 500..=599 => (ErrorClass::Transient, retry_after),
        _ => (ErrorClass::Permanent, None),
    };
    let hint = if status == 403 {
        " — the token is missing, invalid or expired, or its policy does not allow this call"
    } else {
        ""
    };
    ConnectorError {
        class,
        message: format!("Vault {status}: {message} ({what}){hint}"),
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
        format!("Vault did not answer within {timeout:?}: timed out ({what})")
    } else {
        format!(
            "cannot reach Vault: {} ({what})",
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

    const WHAT: &str = "GET /v1/sys/auth";

    fn body(errors: &[&str]) -> Vec<u8> {
        serde_json::json!({ "errors": errors })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn permission_denied_is_permanent_with_vaults_words() {
        let e = classify_response(403, &HeaderMap::new(), &body(&["permission denied"]), WHAT);
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.status, Some(403));
        assert!(
            e.message
                .starts_with("Vault 403: permission denied (GET /v1/sys/auth)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn multi_error_strings_are_flattened() {
        let b = body(&["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"]);
        assert_eq!(
            upstream_message(403, &b),
            "permission denied; invalid token"
        );
        assert_eq!(
            upstream_message(400, &body(&["invalid accessor"])),
            "invalid accessor"
        );
        assert_eq!(upstream_message(404, &body(&[])), "Not Found");
    }

    #[test]
    fn transient_statuses() {
        for status in [408, 412, 429, 472, 473, 500, 502, 503, 504] {
            let e = classify_response(status, &HeaderMap::new(), b"", WHAT);
            assert!(e.is_transient(), "{status}");
        }
        let e = classify_response(503, &HeaderMap::new(), &body(&["Vault is sealed"]), WHAT);
        assert!(e.message.contains("Vault is sealed"));
        for status in [400, 401, 404, 405] {
            assert!(!classify_response(status, &HeaderMap::new(), b"", WHAT).is_transient());
        }
    }

    #[test]
    fn rate_limit_waits() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = classify_response(429, &h, &body(&["rate limit quota exceeded"]), WHAT);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        let e = classify_response(429, &HeaderMap::new(), b"", WHAT);
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn html_is_not_echoed() {
        let e = classify_response(
            502,
            &HeaderMap::new(),
            b"<html>internal host db-7</html>",
            WHAT,
        );
        assert_eq!(e.message, format!("Vault 502: Bad Gateway ({WHAT})"));
    }

    #[test]
    fn transport_and_redaction() {
        let e = classify_transport(WHAT, true, Duration::from_secs(2), "");
        assert!(e.is_transient() && e.message.contains("timed out"));
        let e = classify_transport(WHAT, false, Duration::from_secs(2), "connection refused");
        assert!(e.message.contains("connection refused"));
        assert_eq!(
            redact("a hvs.secretvalue b", "hvs.secretvalue"),
            "a [redacted] b"
        );
        assert_eq!(redact("tiny", "ti"), "tiny");
    }
}
