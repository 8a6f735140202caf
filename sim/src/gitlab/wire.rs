//! GitLab's wire shapes: `{"message": …}` errors, offset pagination headers, rate-limit
//! headers and the JSON of users, personal access tokens and memberships.

use super::world::{Pat, Source, SourceKind, User};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// ISO 8601 with milliseconds, UTC, as GitLab renders times.
pub(crate) fn iso(at: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = at.into();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// A JSON body with this status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `{"message": "<message>"}` with this status (GitLab's `render_api_error!`).
pub(crate) fn message(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "message": message }))
}

/// 401 `{"message":"401 Unauthorized"}`.
pub(crate) fn unauthorized() -> Response {
    message(StatusCode::UNAUTHORIZED, "401 Unauthorized")
}

/// 403 `{"message":"403 Forbidden"}`, or `403 Forbidden - <reason>`.
pub(crate) fn forbidden(reason: Option<&str>) -> Response {
    match reason {
        Some(reason) => message(StatusCode::FORBIDDEN, &format!("403 Forbidden - {reason}")),
        None => message(StatusCode::FORBIDDEN, "403 Forbidden"),
    }
}

/// 404 `{"message":"404 <What> Not Found"}` (`404 User Not Found`, `404 Not found`…).
pub(crate) fn not_found(what: &str) -> Response {
    message(StatusCode::NOT_FOUND, &format!("404 {what}"))
}

/// 404 `{"error":"404 Not Found"}`: a path no API route serves (Grape's answer).
pub(crate) fn no_route() -> Response {
    json_response(StatusCode::NOT_FOUND, &json!({"error": "404 Not Found"}))
}

/// 400 `{"error": "<param> is invalid"}`, as Grape reports a bad parameter.
pub(crate) fn invalid_param(name: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": format!("{name} is invalid")}),
    )
}

/// 204.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn html(status: StatusCode, title: &str) -> Response {
    let mut response = (
        status,
        format!("<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// An injected status as GitLab (or Workhorse / the load balancer in front of it)
/// answers it: 500 and 503 as API JSON, 502 and 504 as an HTML error page.
pub(crate) fn fault_status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code {
        502 => html(status, "GitLab is not responding (502)"),
        504 => html(status, "GitLab is taking too much time to respond (504)"),
        401 => unauthorized(),
        403 => forbidden(None),
        404 => not_found("Not Found"),
        429 => throttled(&RateHeaders::exhausted(600, Duration::from_secs(60))),
        _ => message(
            status,
            &format!("{code} {}", status.canonical_reason().unwrap_or("Error")),
        ),
    }
}

/// The rate-limit state reported in `RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateHeaders {
    pub limit: u32,
    pub observed: u32,
    pub reset_at: SystemTime,
}

impl RateHeaders {
    /// A throttle at its limit, resetting after `wait`.
    pub(crate) fn exhausted(limit: u32, wait: Duration) -> Self {
        Self {
            limit,
            observed: limit + 1,
            reset_at: SystemTime::now() + wait,
        }
    }

    /// `RateLimit-Name`, `-Limit`, `-Observed`, `-Remaining`, `-Reset` (epoch seconds)
    /// and `-ResetTime` (HTTP date), as GitLab's Rack::Attack throttles send them.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(
            "ratelimit-name",
            HeaderValue::from_static("throttle_authenticated_api"),
        );
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-observed", HeaderValue::from(self.observed));
        headers.insert(
            "ratelimit-remaining",
            HeaderValue::from(self.limit.saturating_sub(self.observed)),
        );
        headers.insert("ratelimit-reset", HeaderValue::from(epoch(self.reset_at)));
        let date: chrono::DateTime<chrono::Utc> = self.reset_at.into();
        if let Ok(value) =
            HeaderValue::from_str(&date.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        {
            headers.insert("ratelimit-resettime", value);
        }
    }

    fn retry_after_secs(&self) -> u64 {
        let wait = self
            .reset_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    }
}

/// 429 `Retry later` (plain text, as Rack::Attack answers), with `Retry-After` and the
/// `RateLimit-*` headers.
pub(crate) fn throttled(rate: &RateHeaders) -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, "Retry later\n").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(rate.retry_after_secs()),
    );
    rate.apply(headers);
    response
}

/// `page` and `per_page` as GitLab reads them: `per_page` 1..=100 (default 20), `page`
/// ≥ 1 (default 1). `Err`: the name of the invalid parameter.
pub(crate) fn page_params(
    per_page: Option<&str>,
    page: Option<&str>,
) -> Result<(usize, usize), &'static str> {
    let parse = |v: Option<&str>, default: usize, name| match v.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| name),
    };
    let per_page = parse(per_page, 20, "per_page")?.clamp(1, 100);
    let page = parse(page, 1, "page")?.max(1);
    Ok((per_page, page))
}

/// Re-encode `query` (as received, in order) with `page` set.
fn query_with_page(query: &str, page: usize) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let page = page.to_string();
    match pairs.iter_mut().find(|(k, _)| k == "page") {
        Some(pair) => pair.1 = page,
        None => pairs.push(("page".into(), page)),
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// One page of `items` with GitLab's offset-pagination headers: `X-Page`, `X-Per-Page`,
/// `X-Total`, `X-Total-Pages`, `X-Next-Page` and `X-Prev-Page` (empty when there is
/// none) and `Link` (`prev`, `next`, `first`, `last`). `url` is the request's URL
/// without its query.
pub(crate) fn paginated(
    items: Vec<Value>,
    per_page: usize,
    page: usize,
    url: &str,
    query: &str,
) -> Response {
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let mut response = json_response(StatusCode::OK, &Value::Array(body));
    let h = response.headers_mut();
    let number = |n: usize| HeaderValue::from(n as u64);
    let optional = |n: Option<usize>| {
        n.map(number)
            .unwrap_or_else(|| HeaderValue::from_static(""))
    };
    h.insert("x-page", number(page));
    h.insert("x-per-page", number(per_page));
    h.insert("x-total", number(total));
    h.insert("x-total-pages", number(pages));
    h.insert("x-next-page", optional((page < pages).then_some(page + 1)));
    h.insert(
        "x-prev-page",
        optional((page > 1 && page <= pages + 1).then(|| page - 1)),
    );
    let link =
        |p: usize, rel: &str| format!("<{url}?{}>; rel=\"{rel}\"", query_with_page(query, p));
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < pages {
        links.push(link(page + 1, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
        h.insert(header::LINK, value);
    }
    response
}

/// A user as `GET /users/:id` shows it; administrators see the private fields.
pub(crate) fn user(base: &str, user: &User, admin_view: bool) -> Value {
    let mut value = json!({
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "state": user.state.as_str(),
        "locked": false,
        "avatar_url": format!("https://secure.gravatar.com/avatar/{}?s=80&d=identicon", user.id),
        "web_url": format!("{base}/{}", user.username),
        "created_at": iso(user.created_at),
        "bio": "",
        "public_email": user.public_email,
        "bot": user.internal,
    });
    if admin_view {
        value["email"] = json!(user.email);
        value["is_admin"] = json!(user.admin);
        value["can_create_group"] = json!(true);
        value["two_factor_enabled"] = json!(false);
        value["external"] = json!(false);
        value["private_profile"] = json!(false);
        value["last_sign_in_at"] = Value::Null;
        value["current_sign_in_at"] = Value::Null;
        value["identities"] = json!([]);
    }
    value
}

/// A personal access token as `GET /personal_access_tokens` lists it (never the secret).
pub(crate) fn pat(pat: &Pat) -> Value {
    json!({
        "id": pat.id,
        "name": pat.name,
        "revoked": pat.revoked,
        "created_at": iso(pat.created_at),
        "description": null,
        "scopes": pat.scopes,
        "user_id": pat.user_id,
        "last_used_at": pat.last_used_at.map(iso),
        "active": !pat.revoked,
        "expires_at": null,
    })
}

/// One entry of `GET /users/:id/memberships`.
pub(crate) fn membership(kind: SourceKind, source: &Source, level: u32) -> Value {
    json!({
        "source_id": source.id,
        "source_name": source.name,
        "source_type": kind.source_type(),
        "access_level": level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_params_like_gitlab() {
        assert_eq!(page_params(None, None), Ok((20, 1)));
        assert_eq!(page_params(Some("500"), Some("0")), Ok((100, 1)));
        assert_eq!(page_params(Some("x"), None), Err("per_page"));
    }

    #[test]
    fn pagination_headers() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let r = paginated(items, 2, 2, "http://h/api/v4/x", "a=1&page=2&per_page=2");
        let h = r.headers();
        assert_eq!(h["x-total"], "5");
        assert_eq!(h["x-total-pages"], "3");
        assert_eq!(h["x-next-page"], "3");
        assert_eq!(h["x-prev-page"], "1");
        let link = h[header::LINK].to_str().unwrap();
        assert!(link.contains("<http://h/api/v4/x?a=1&page=3&per_page=2>; rel=\"next\""));
        let last = paginated(vec![json!(1)], 2, 1, "u", "");
        assert_eq!(last.headers()["x-next-page"], "");
    }
}
