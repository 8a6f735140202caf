//! Classifying GitHub's answers and transport failures into transient or permanent
//! [`ConnectorError`]s, following GitHub's rate-limit rules
//! (docs.github.com "Rate limits for the REST API" / "Troubleshooting the REST API"):
//!
//! | answer | class | wait (`retry_after`) |
//! |---|---|---|
//! | 401 | permanent | – |
//! | 403/429 with `x-ratelimit-remaining: 0` (primary limit) | transient | until `x-ratelimit-reset` (or `retry-after` if later), ≥ 1 s |
//! | 403/429 with `retry-after` (secondary limit) | transient | `retry-after` |
//! | 403/429 whose message mentions a rate limit, no `retry-after` | transient | 60 s |
//! | 429 otherwise | transient | 60 s |
//! | other 403 | permanent | – |
//! | 408 | transient | `retry-after` if sent |
//! | 422 and other 4xx | permanent | – |
//! | 5xx | transient | `retry-after` if sent |
//! | timeout, connection failure | transient | – |
//!
//! The message is GitHub's JSON `message` (plus the `errors[].message` details of a
//! 422), prefixed with the status, followed by the call: `GitHub 401: Bad credentials
//! (DELETE /orgs/acme/memberships/alice-gh)`. Bodies that are not GitHub JSON (a proxy's
//! HTML page) are not echoed; the status' reason phrase stands in.

use http::HeaderMap;
use leaver_connector::{parse_reset_epoch, parse_retry_after, ConnectorError, ErrorClass};
use std::time::Duration;

/// Wait after a secondary rate limit that gave no `retry-after` ("at least one minute").
pub const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Floor of a primary-limit wait whose reset is already past (clock skew).
const MIN_RESET_WAIT: Duration = Duration::from_secs(1);
/// Longest upstream message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// GitHub's `message` from an error body (with 422 `errors[].message` details), or the
/// reason phrase of `status` when the body is not GitHub JSON.
pub fn upstream_message(status: u16, body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(|m| m.as_str())
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let mut text = match message {
        Some(m) => m.to_string(),
        None => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected answer")
            .to_string(),
    };
    let details: Vec<&str> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("message").and_then(|m| m.as_str()))
                .filter(|m| !m.trim().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !details.is_empty() {
        text = format!("{text}: {}", details.join("; "));
    }
    truncate(&single_line(&text), MAX_MESSAGE_CHARS)
}

fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Classify a non-success answer to `what` (`DELETE /orgs/acme/memberships/alice-gh`).
pub fn classify_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> ConnectorError {
    let message = upstream_message(status, body);
    let text = format!("GitHub {status}: {message} ({what})");
    let retry_after = header(headers, "retry-after").and_then(parse_retry_after);
    let (class, wait) = match status {
        401 => (ErrorClass::Permanent, None),
        403 | 429 => rate_limit_class(status, headers, &message, retry_after),
        408 => (ErrorClass::Transient, retry_after),
        500..=599 => (ErrorClass::Transient, retry_after),
        _ => (ErrorClass::Permanent, None),
    };
    ConnectorError {
        class,
        message: text,
        status: Some(status),
        retry_after: wait,
    }
}

fn rate_limit_class(
    status: u16,
    headers: &HeaderMap,
    message: &str,
    retry_after: Option<Duration>,
) -> (ErrorClass, Option<Duration>) {
    let exhausted = header(headers, "x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
    if exhausted {
        let reset = header(headers, "x-ratelimit-reset").and_then(parse_reset_epoch);
        let wait = match (reset, retry_after) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => SECONDARY_LIMIT_WAIT,
        };
        return (ErrorClass::Transient, Some(wait.max(MIN_RESET_WAIT)));
    }
    if let Some(wait) = retry_after {
        return (ErrorClass::Transient, Some(wait));
    }
    let mentions_limit = message.to_ascii_lowercase().contains("rate limit");
    if mentions_limit || status == 429 {
        return (ErrorClass::Transient, Some(SECONDARY_LIMIT_WAIT));
    }
    (ErrorClass::Permanent, None)
}

/// A request that got no answer: a timeout (after `timeout`) or a connection failure.
/// Always transient. `detail` is the client's error chain (it never holds the token:
/// credentials travel in a header, not in the URL).
pub fn classify_transport(
    what: &str,
    timed_out: bool,
    timeout: Duration,
    detail: &str,
) -> ConnectorError {
    let message = if timed_out {
        format!("GitHub did not answer within {timeout:?}: timed out ({what})")
    } else {
        format!(
            "cannot reach GitHub: {} ({what})",
            truncate(&single_line(detail), MAX_MESSAGE_CHARS)
        )
    };
    ConnectorError::transient(message)
}

/// Whether an error chain describes a timeout.
pub fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return true;
        }
        current = e.source();
    }
    false
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
/// without the token, but an upstream could echo it). Secrets shorter than 8
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
    use std::time::{SystemTime, UNIX_EPOCH};

    const WHAT: &str = "DELETE /orgs/acme/memberships/alice-gh";

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn body(message: &str) -> Vec<u8> {
        serde_json::json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn unauthorized_is_permanent_with_githubs_message() {
        let e = classify_response(401, &HeaderMap::new(), &body("Bad credentials"), WHAT);
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.status, Some(401));
        assert_eq!(e.message, format!("GitHub 401: Bad credentials ({WHAT})"));
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn primary_limit_waits_until_reset() {
        for status in [403, 429] {
            let h = headers(&[
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", (now() + 42).to_string()),
            ]);
            let e = classify_response(
                status,
                &h,
                &body("API rate limit exceeded for installation ID 1."),
                WHAT,
            );
            assert!(e.is_transient(), "{status}");
            let wait = e.retry_after.unwrap();
            assert!(
                wait <= Duration::from_secs(42) && wait >= Duration::from_secs(40),
                "{wait:?}"
            );
            assert!(e.message.contains("API rate limit exceeded"));
        }
    }

    #[test]
    fn primary_limit_with_past_reset_still_waits_a_little() {
        let h = headers(&[
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", "1".into()),
        ]);
        let e = classify_response(403, &h, &body("API rate limit exceeded"), WHAT);
        assert_eq!(e.retry_after, Some(MIN_RESET_WAIT));
    }

    #[test]
    fn retry_after_is_honoured() {
        for status in [403, 429] {
            let h = headers(&[
                ("retry-after", "17".into()),
                ("x-ratelimit-remaining", "4000".into()),
            ]);
            let e = classify_response(
                status,
                &h,
                &body("You have exceeded a secondary rate limit."),
                WHAT,
            );
            assert!(e.is_transient());
            assert_eq!(e.retry_after, Some(Duration::from_secs(17)));
        }
    }

    #[test]
    fn secondary_limit_without_retry_after_waits_a_minute() {
        let h = headers(&[("x-ratelimit-remaining", "14990".into())]);
        let msg = "You have exceeded a secondary rate limit and have been temporarily blocked from content creation.";
        let e = classify_response(403, &h, &body(msg), WHAT);
        assert!(e.is_transient());
        assert_eq!(e.retry_after, Some(SECONDARY_LIMIT_WAIT));
        let e = classify_response(429, &HeaderMap::new(), b"", WHAT);
        assert!(e.is_transient());
        assert_eq!(e.retry_after, Some(SECONDARY_LIMIT_WAIT));
    }

    #[test]
    fn other_forbidden_and_validation_are_permanent() {
        let h = headers(&[("x-ratelimit-remaining", "4999".into())]);
        let e = classify_response(
            403,
            &h,
            &body("Resource not accessible by integration"),
            WHAT,
        );
        assert_eq!(e.class, ErrorClass::Permanent);
        assert!(e.message.contains("Resource not accessible by integration"));
        let b = serde_json::json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Membership", "code": "custom", "message": "Cannot remove the last owner"}],
        })
        .to_string();
        let e = classify_response(422, &HeaderMap::new(), b.as_bytes(), WHAT);
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(
            e.message,
            format!("GitHub 422: Validation Failed: Cannot remove the last owner ({WHAT})")
        );
        assert_eq!(
            classify_response(404, &HeaderMap::new(), &body("Not Found"), WHAT).class,
            ErrorClass::Permanent
        );
    }

    #[test]
    fn server_errors_are_transient_and_keep_retry_after() {
        for status in [500, 502, 503, 504] {
            let e = classify_response(status, &HeaderMap::new(), &body("Server Error"), WHAT);
            assert!(e.is_transient(), "{status}");
            assert_eq!(e.retry_after, None);
        }
        let e = classify_response(503, &headers(&[("retry-after", "5".into())]), b"", WHAT);
        assert_eq!(e.retry_after, Some(Duration::from_secs(5)));
        assert!(e.message.contains("Service Unavailable"), "{}", e.message);
        assert!(classify_response(408, &HeaderMap::new(), b"", WHAT).is_transient());
    }

    #[test]
    fn non_json_bodies_are_not_echoed() {
        let html = b"<html><body>upstream connect error, secret internal host db-7</body></html>";
        let e = classify_response(502, &HeaderMap::new(), html, WHAT);
        assert_eq!(e.message, format!("GitHub 502: Bad Gateway ({WHAT})"));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let m = upstream_message(500, &body(&long));
        assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn transport_errors_are_transient() {
        let e = classify_transport(WHAT, true, Duration::from_secs(2), "");
        assert!(e.is_transient());
        assert!(e.message.contains("timed out"), "{}", e.message);
        let e = classify_transport(WHAT, false, Duration::from_secs(2), "connection refused");
        assert!(e.is_transient());
        assert!(e.message.contains("connection refused"));
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "x");
        assert!(is_timeout(&io));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_timeout(&io));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("a ghp_secretvalue b", "ghp_secretvalue"),
            "a [redacted] b"
        );
        assert_eq!(redact("tiny", "ti"), "tiny");
    }
}
