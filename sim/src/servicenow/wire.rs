//! ServiceNow's wire shapes: `{"result": ...}` envelopes, `{"error": {message,
//! detail}, "status": "failure"}` bodies, and the pagination headers of the Table API.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A JSON body with this status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

/// `{"result": ...}` with 200.
pub(crate) fn result(value: Value) -> Response {
    json_response(StatusCode::OK, &json!({ "result": value }))
}

/// ServiceNow's error body.
pub(crate) fn error(status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    json_response(
        status,
        &json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

/// 401 for missing or wrong Basic credentials.
pub(crate) fn unauthorized() -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "User Not Authenticated",
        Some("Required to provide Auth information"),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("BASIC realm=\"Service-now\""),
    );
    response
}

/// 403 for an ACL refusal.
pub(crate) fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Operation Failed",
        Some("ACL Exception Update Failed due to security constraints"),
    )
}

/// 404 for a record that does not exist (or that ACLs hide).
pub(crate) fn no_record() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "No Record found",
        Some("Record doesn't exist or ACL restricts the record retrieval"),
    )
}

/// 400 for a table the instance does not have.
pub(crate) fn invalid_table(table: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("Invalid table {table}"),
        None,
    )
}

/// 400 for a body that is not JSON.
pub(crate) fn bad_json() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Exception while reading request",
        Some("The payload is not valid JSON."),
    )
}

/// 400 for a path the REST API does not serve.
pub(crate) fn bad_path() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Requested URI does not represent any resource",
        None,
    )
}

/// 405 for an unsupported method.
pub(crate) fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not Supported",
        Some("Method not supported for API"),
    )
}

/// 429 from the REST rate limiter, with `Retry-After` and `X-RateLimit-*`.
pub(crate) fn rate_limited(retry_after: Option<Duration>) -> Response {
    // ServiceNow refuses over-quota calls with 429 only (403 secondary limits are
    // GitHub's), whatever status the injected fault names.
    let status = StatusCode::TOO_MANY_REQUESTS;
    let mut response = error(
        status,
        "Rate limit exceeded",
        Some("The maximum number of requests per hour has been reached for this user"),
    );
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("1000"));
    headers.insert(
        "x-ratelimit-rule",
        HeaderValue::from_static("Table API per user"),
    );
    if let Some(wait) = retry_after {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        headers.insert("x-ratelimit-reset", HeaderValue::from(now + secs));
    }
    response
}

/// The answer to an injected status: ServiceNow JSON for most, the instance's HTML
/// maintenance page for 502–504 (what a hibernating or upgrading instance serves).
pub(crate) fn fault_status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code {
        401 => unauthorized(),
        403 => forbidden(),
        404 => no_record(),
        429 => rate_limited(None),
        502..=504 => {
            let mut response = (
                status,
                "<html><head><title>ServiceNow</title></head><body><h1>Instance Unavailable</h1>\
                 <p>This instance is currently unavailable. Please try again later.</p></body></html>",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            response
        }
        _ if status.is_client_error() || status.is_server_error() => {
            error(status, status.canonical_reason().unwrap_or("Error"), None)
        }
        _ => status.into_response(),
    }
}

/// The `Link` header of a Table API page: `first`, `prev` (not on the first page),
/// `next` (when more follow) and `last`, each the request URL with its
/// `sysparm_offset` replaced.
pub(crate) fn link_header(
    url_without_query: &str,
    params: &[(String, String)],
    offset: usize,
    limit: usize,
    total: usize,
) -> String {
    let link = |at: usize, rel: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let mut limit_seen = false;
        for (k, v) in params {
            match k.as_str() {
                "sysparm_offset" => continue,
                "sysparm_limit" => {
                    limit_seen = true;
                    query.append_pair(k, &limit.to_string());
                }
                _ => {
                    query.append_pair(k, v);
                }
            }
        }
        if !limit_seen {
            query.append_pair("sysparm_limit", &limit.to_string());
        }
        query.append_pair("sysparm_offset", &at.to_string());
        format!("<{url_without_query}?{}>;rel=\"{rel}\"", query.finish())
    };
    let last = if total == 0 || limit == 0 {
        0
    } else {
        ((total - 1) / limit) * limit
    };
    let mut links = vec![link(0, "first")];
    if offset > 0 {
        links.push(link(offset.saturating_sub(limit), "prev"));
    }
    if offset + limit < total {
        links.push(link(offset + limit, "next"));
    }
    links.push(link(last, "last"));
    links.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_names_the_neighbouring_pages() {
        let params = vec![
            ("sysparm_query".to_string(), "number=HRC1".to_string()),
            ("sysparm_offset".to_string(), "2".to_string()),
            ("sysparm_limit".to_string(), "2".to_string()),
        ];
        let link = link_header("http://sn/api/now/table/t", &params, 2, 2, 5);
        assert_eq!(
            link,
            "<http://sn/api/now/table/t?sysparm_query=number%3DHRC1&sysparm_limit=2&sysparm_offset=0>;rel=\"first\",\
             <http://sn/api/now/table/t?sysparm_query=number%3DHRC1&sysparm_limit=2&sysparm_offset=0>;rel=\"prev\",\
             <http://sn/api/now/table/t?sysparm_query=number%3DHRC1&sysparm_limit=2&sysparm_offset=4>;rel=\"next\",\
             <http://sn/api/now/table/t?sysparm_query=number%3DHRC1&sysparm_limit=2&sysparm_offset=4>;rel=\"last\""
        );
        let only = link_header("http://sn/x", &[], 0, 10, 3);
        assert!(!only.contains("next") && !only.contains("prev"), "{only}");
        assert!(
            link_header("http://sn/x", &[], 0, 10, 0).contains("sysparm_offset=0>;rel=\"last\"")
        );
    }
}
