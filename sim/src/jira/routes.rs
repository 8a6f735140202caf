//! Request handling of the simulated Jira: one handler behind the router's fallback,
//! which logs, applies injected faults and latency, authenticates and dispatches by
//! path.

use super::wire;
use super::world::Issue;
use super::{adf, lock, RequestRecord, Shared};
use crate::faults::Fault;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Largest request body read.
const MAX_BODY: usize = 1 << 20;
/// Jira's limit on the text of one comment.
const MAX_COMMENT_CHARS: usize = 32_767;
/// Default and largest `maxResults` of the comment listing.
const MAX_RESULTS: u64 = 5_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// Pushes the record when dropped, so a request whose client gave up is logged too.
struct LogGuard<'a> {
    shared: &'a Shared,
    record: RequestRecord,
    started: Instant,
}

impl Drop for LogGuard<'_> {
    fn drop(&mut self) {
        let mut record = self.record.clone();
        record.elapsed = self.started.elapsed();
        self.shared.push_log(record);
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let credentials = wire::basic_credentials(&parts.headers);
    let mut guard = LogGuard {
        shared: &shared,
        record: RequestRecord {
            at: std::time::SystemTime::now(),
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
            auth_sent: parts
                .headers
                .contains_key(axum::http::header::AUTHORIZATION),
            auth_ok: false,
            fault: None,
            status: 0,
            elapsed: std::time::Duration::ZERO,
        },
        started,
    };
    let decision = shared.faults.decide(&parts.method, &path);
    guard.record.fault = decision.fault.as_ref().map(Fault::label);
    let auth_ok = credentials.as_ref().is_some_and(|(user, password)| {
        user.eq_ignore_ascii_case(&shared.email) && *password == shared.api_token
    });

    let response = if !shared.signal.sleep(decision.latency).await {
        wire::fault_status(503, &shared.base_url)
    } else {
        match decision.fault {
            None => {
                let body = axum::body::to_bytes(body, MAX_BODY)
                    .await
                    .unwrap_or_default();
                guard.record.auth_ok = auth_ok;
                serve(
                    &shared,
                    &parts.method,
                    &path,
                    query.as_deref(),
                    auth_ok,
                    &body,
                )
            }
            Some(Fault::Status(code)) => wire::fault_status(code, &shared.base_url),
            Some(Fault::RateLimited { retry_after, .. }) => wire::rate_limited(retry_after),
            Some(Fault::Hang(duration)) => {
                shared.signal.sleep(duration).await;
                wire::fault_status(504, &shared.base_url)
            }
            Some(Fault::SlowApply(duration)) => {
                let body = axum::body::to_bytes(body, MAX_BODY)
                    .await
                    .unwrap_or_default();
                guard.record.auth_ok = auth_ok;
                let response = serve(
                    &shared,
                    &parts.method,
                    &path,
                    query.as_deref(),
                    auth_ok,
                    &body,
                );
                shared.signal.sleep(duration).await;
                response
            }
        }
    };
    guard.record.status = response.status().as_u16();
    response
}

/// The routes below `/rest/api/3/`.
enum Route<'a> {
    Myself,
    Issue(&'a str),
    Comments(&'a str),
    Comment(&'a str, &'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/rest/api/3/")?;
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["myself"] => Some(Route::Myself),
        ["issue", key] if !key.is_empty() => Some(Route::Issue(key)),
        ["issue", key, "comment"] if !key.is_empty() => Some(Route::Comments(key)),
        ["issue", key, "comment", id] if !key.is_empty() => Some(Route::Comment(key, id)),
        _ => None,
    }
}

fn serve(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    auth_ok: bool,
    body: &Bytes,
) -> Response {
    let Some(route) = route(path) else {
        return wire::no_resource(&shared.base_url, path);
    };
    if !auth_ok {
        return wire::unauthorized(&shared.base_url);
    }
    let base = shared.base_url.as_str();
    match (route, method.as_str()) {
        (Route::Myself, "GET") => wire::json_response(StatusCode::OK, &shared.myself()),
        (Route::Issue(key), "GET") => match lock(&shared.world).issue(&decode(key)) {
            Some(issue) => wire::json_response(StatusCode::OK, &wire::issue(base, issue)),
            None => wire::issue_not_found(),
        },
        (Route::Comments(key), "GET") => {
            let world = lock(&shared.world);
            match world.issue(&decode(key)) {
                Some(issue) => list_comments(base, issue, query),
                None => wire::issue_not_found(),
            }
        }
        (Route::Comments(key), "POST") => add_comment(shared, &decode(key), body),
        (Route::Comment(key, id), "GET") => {
            let world = lock(&shared.world);
            let Some(issue) = world.issue(&decode(key)) else {
                return wire::issue_not_found();
            };
            match issue.comments.iter().find(|c| c.id.to_string() == id) {
                Some(comment) => {
                    wire::json_response(StatusCode::OK, &wire::comment(base, issue, comment))
                }
                None => wire::error_collection(
                    StatusCode::NOT_FOUND,
                    &[&format!("Can not find a comment for the id: {id}.")],
                    &[],
                ),
            }
        }
        _ => wire::method_not_allowed(),
    }
}

/// Decode `%XX` escapes of a path segment (invalid escapes stay as they are).
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query parameter's value, if given once or more (the first wins).
fn param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[allow(clippy::result_large_err)] // an axum Response, built once per bad request
fn paging_number(query: Option<&str>, name: &str, default: u64) -> Result<u64, Response> {
    match param(query, name) {
        None => Ok(default),
        Some(text) if text.is_empty() => Ok(default),
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            wire::error_collection(
                StatusCode::BAD_REQUEST,
                &[&format!(
                    "The value '{text}' of the '{name}' parameter is not a valid non-negative integer."
                )],
                &[],
            )
        }),
    }
}

/// `GET …/comment?startAt=&maxResults=&orderBy=`: one page, oldest first unless
/// `orderBy=-created`.
fn list_comments(base: &str, issue: &Issue, query: Option<&str>) -> Response {
    let start_at = match paging_number(query, "startAt", 0) {
        Ok(n) => n,
        Err(response) => return response,
    };
    let max_results = match paging_number(query, "maxResults", MAX_RESULTS) {
        Ok(n) => n.min(MAX_RESULTS),
        Err(response) => return response,
    };
    let newest_first = param(query, "orderBy").is_some_and(|o| o.trim() == "-created");
    let mut ordered: Vec<_> = issue.comments.iter().collect();
    if newest_first {
        ordered.reverse();
    }
    let page: Vec<Value> = ordered
        .into_iter()
        .skip(usize::try_from(start_at).unwrap_or(usize::MAX))
        .take(usize::try_from(max_results).unwrap_or(usize::MAX))
        .map(|c| wire::comment(base, issue, c))
        .collect();
    wire::json_response(
        StatusCode::OK,
        &json!({
            "startAt": start_at,
            "maxResults": max_results,
            "total": issue.comments.len(),
            "comments": page,
        }),
    )
}

/// `POST …/comment` with `{"body": <ADF>, "visibility"?: {...}}`.
fn add_comment(shared: &Shared, key: &str, body: &Bytes) -> Response {
    let request: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return wire::error_collection(
                StatusCode::BAD_REQUEST,
                &[&format!(
                    "Unexpected character in the request body at line {} column {}.",
                    error.line(),
                    error.column()
                )],
                &[],
            )
        }
    };
    let doc = match request.get("body") {
        None | Some(Value::Null) => {
            return wire::error_collection(
                StatusCode::BAD_REQUEST,
                &[],
                &[("comment", "Comment body can not be empty!")],
            )
        }
        Some(Value::Object(_)) => request["body"].clone(),
        Some(_) => return wire::error_collection(
            StatusCode::BAD_REQUEST,
            &[],
            &[(
                "comment",
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
            )],
        ),
    };
    if let Err(error) = adf::validate(&doc) {
        tracing::debug!(reason = %error.0, "simulated Jira refused an ADF body");
        return wire::error_collection(StatusCode::BAD_REQUEST, &["INVALID_INPUT"], &[]);
    }
    let length = adf::text_len(&doc);
    if length == 0 {
        return wire::error_collection(
            StatusCode::BAD_REQUEST,
            &[],
            &[("comment", "Comment body can not be empty!")],
        );
    }
    if length > MAX_COMMENT_CHARS {
        return wire::error_collection(
            StatusCode::BAD_REQUEST,
            &[],
            &[(
                "comment",
                "The entered text is too long. It exceeds the allowed limit of 32,767 characters.",
            )],
        );
    }
    if let Some(visibility) = request.get("visibility") {
        let kind = visibility.get("type").and_then(Value::as_str);
        let named = visibility
            .get("value")
            .or_else(|| visibility.get("identifier"))
            .and_then(Value::as_str)
            .is_some();
        if !matches!(kind, Some("group" | "role")) || !named {
            return wire::error_collection(
                StatusCode::BAD_REQUEST,
                &[],
                &[(
                    "commentLevel",
                    "You are currently not a member of the project role or group.",
                )],
            );
        }
    }
    let added = lock(&shared.world).add_comment(key, doc, &shared.account_id, &shared.display_name);
    match added {
        Some((issue, comment)) => {
            shared.counters.comments.fetch_add(1, Ordering::Relaxed);
            wire::json_response(
                StatusCode::CREATED,
                &wire::comment(&shared.base_url, &issue, &comment),
            )
        }
        None => wire::issue_not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_decoding() {
        assert!(matches!(
            route("/rest/api/3/issue/HR-1"),
            Some(Route::Issue("HR-1"))
        ));
        assert!(matches!(
            route("/rest/api/3/issue/HR-1/comment/"),
            Some(Route::Comments("HR-1"))
        ));
        assert!(matches!(
            route("/rest/api/3/issue/HR-1/comment/10000"),
            Some(Route::Comment("HR-1", "10000"))
        ));
        assert!(route("/rest/api/2/issue/HR-1").is_none());
        assert!(route("/rest/api/3/issue//comment").is_none());
        assert_eq!(decode("HR%2D1"), "HR-1");
        assert_eq!(decode("a%zz%"), "a%zz%");
        assert_eq!(decode("%4"), "%4");
    }
}
