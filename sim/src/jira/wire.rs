//! Jira Cloud's wire shapes: error bodies (`{"errorMessages": [...], "errors": {...}}`),
//! issues, comments and users as REST API v3 renders them, and HTTP Basic credentials.

use super::world::{Comment, Issue};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use std::time::Duration;

/// Jira's timestamp format: `2026-03-01T12:34:56.789+0000`.
pub(crate) fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// A JSON body with this status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

/// Jira's error collection: `{"errorMessages": [...], "errors": {field: message}}`.
pub(crate) fn error_collection(
    status: StatusCode,
    messages: &[&str],
    errors: &[(&str, &str)],
) -> Response {
    let errors: serde_json::Map<String, Value> = errors
        .iter()
        .map(|(field, message)| (field.to_string(), Value::String(message.to_string())))
        .collect();
    json_response(
        status,
        &json!({"errorMessages": messages, "errors": errors}),
    )
}

/// 404 for an issue that does not exist or that the caller may not see (Jira does not
/// tell the two apart).
pub(crate) fn issue_not_found() -> Response {
    error_collection(
        StatusCode::NOT_FOUND,
        &["Issue does not exist or you do not have permission to see it."],
        &[],
    )
}

/// 401 as Jira Cloud answers a request whose Basic credentials are missing or wrong:
/// a plain-text body, `WWW-Authenticate` and the Seraph login reason.
pub(crate) fn unauthorized(base_url: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "Client must be authenticated to access this resource.",
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    let realm = form_urlencoded::byte_serialize(base_url.as_bytes()).collect::<String>();
    if let Ok(value) = HeaderValue::from_str(&format!("OAuth realm=\"{realm}\"")) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    headers.insert(
        "x-seraph-loginreason",
        HeaderValue::from_static("AUTHENTICATED_FAILED"),
    );
    response
}

/// 404 for a path no resource serves (Jersey's answer).
pub(crate) fn no_resource(base_url: &str, path: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"message": format!("null for uri: {base_url}{path}"), "status-code": 404}),
    )
}

/// 405 for a method the resource does not support.
pub(crate) fn method_not_allowed() -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"message": "Method Not Allowed", "status-code": 405}),
    )
}

/// 429 with `Retry-After` and the `X-RateLimit-*` headers Jira Cloud sends.
pub(crate) fn rate_limited(retry_after: Option<Duration>) -> Response {
    // Jira Cloud refuses over-quota calls with 429 only (403 secondary limits are
    // GitHub's), whatever status the injected fault names.
    let status = StatusCode::TOO_MANY_REQUESTS;
    let mut response = error_collection(status, &["Rate limit exceeded."], &[]);
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("350"));
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    headers.insert(
        "ratelimit-reason",
        HeaderValue::from_static("jira-quota-tenant-based"),
    );
    if let Some(wait) = retry_after {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        let reset = chrono::Utc::now() + chrono::Duration::seconds(secs as i64);
        if let Ok(value) = HeaderValue::from_str(&reset.format("%Y-%m-%dT%H:%MZ").to_string()) {
            headers.insert("x-ratelimit-reset", value);
        }
    }
    response
}

/// The answer to an injected status, as Jira Cloud (or its edge) would give it.
pub(crate) fn fault_status(code: u16, base_url: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code {
        401 => unauthorized(base_url),
        404 => issue_not_found(),
        429 => rate_limited(None),
        502..=504 => {
            let mut response = (
                status,
                format!(
                    "<html><head><title>{code} {reason}</title></head><body><h1>{reason}</h1></body></html>",
                    reason = status.canonical_reason().unwrap_or("Error")
                ),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            response
        }
        _ if status.is_client_error() || status.is_server_error() => {
            error_collection(status, &[status.canonical_reason().unwrap_or("Error")], &[])
        }
        _ => status.into_response(),
    }
}

/// The user a comment names as author.
pub(crate) fn user(base_url: &str, account_id: &str, display_name: &str) -> Value {
    json!({
        "self": format!("{base_url}/rest/api/3/user?accountId={account_id}"),
        "accountId": account_id,
        "displayName": display_name,
        "active": true,
        "timeZone": "Etc/UTC",
        "accountType": "atlassian",
    })
}

/// A comment as `GET …/comment` lists it and `POST …/comment` returns it.
pub(crate) fn comment(base_url: &str, issue: &Issue, comment: &Comment) -> Value {
    let author = user(base_url, &comment.author_id, &comment.author_name);
    json!({
        "self": format!("{base_url}/rest/api/3/issue/{}/comment/{}", issue.id, comment.id),
        "id": comment.id.to_string(),
        "author": author,
        "body": comment.body,
        "updateAuthor": author,
        "created": timestamp(comment.created),
        "updated": timestamp(comment.created),
        "jsdPublic": true,
    })
}

/// An issue as `GET /rest/api/3/issue/{key}` returns it (a few fields).
pub(crate) fn issue(base_url: &str, issue: &Issue) -> Value {
    let project = issue.key.split('-').next().unwrap_or_default();
    json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id.to_string(),
        "self": format!("{base_url}/rest/api/3/issue/{}", issue.id),
        "key": issue.key,
        "fields": {
            "summary": issue.summary,
            "status": {"name": issue.status, "statusCategory": {"key": "new", "name": "To Do"}},
            "project": {"key": project, "name": project},
            "issuetype": {"name": "Task", "subtask": false},
            "created": timestamp(issue.created),
            "updated": timestamp(issue.updated),
        }
    })
}

/// The `(user, password)` of an `Authorization: Basic …` header sent exactly once;
/// `None` when absent, repeated or malformed.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn basic_credentials_are_decoded_once() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("bot@example.com:t:0k");
        let ok = headers(&[&format!("Basic {encoded}")]);
        assert_eq!(
            basic_credentials(&ok),
            Some(("bot@example.com".into(), "t:0k".into()))
        );
        assert_eq!(
            basic_credentials(&headers(&[&format!("basic {encoded}")])),
            Some(("bot@example.com".into(), "t:0k".into()))
        );
        for bad in ["Bearer x", "Basic !!!", "Basic", "Basic Ym90"] {
            assert_eq!(basic_credentials(&headers(&[bad])), None, "{bad}");
        }
        let twice = format!("Basic {encoded}");
        assert_eq!(basic_credentials(&headers(&[&twice, &twice])), None);
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn timestamps_look_like_jiras() {
        let at = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(timestamp(at), "2023-11-14T22:13:20.123+0000");
    }
}
