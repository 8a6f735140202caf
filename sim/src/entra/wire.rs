//! The wire shapes of the Microsoft identity platform and Graph: AADSTS token errors,
//! Graph's `{"error": {code, message, innerError}}`, OData annotations, user JSON with
//! `$select`, and the date formats each uses.

use super::world::{guid, SimSubscription, SimUser};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The `@odata.context` base of Graph v1.0.
pub(crate) const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata";

/// Graph's JSON content type.
const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// `2026-01-05T10:00:00Z`: how Graph renders user timestamps.
pub(crate) fn graph_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-11-25T16:00:00.0000000+00:00`: how subscription expirations appear in change
/// notifications (seven fractional digits, numeric offset).
pub(crate) fn notification_time(at: DateTime<Utc>) -> String {
    format!(
        "{}{:07}+00:00",
        at.format("%Y-%m-%dT%H:%M:%S."),
        at.timestamp_subsec_nanos() / 100
    )
}

/// `2026-11-25T16:00:00.1234567Z`: how subscription resources render expirations.
pub(crate) fn subscription_time(at: DateTime<Utc>) -> String {
    format!(
        "{}{:07}Z",
        at.format("%Y-%m-%dT%H:%M:%S."),
        at.timestamp_subsec_nanos() / 100
    )
}

/// `2026-01-05 10:00:00Z`: the `timestamp` of an AADSTS error body.
fn aad_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Percent-encode everything but RFC 3986 unreserved characters (spaces become `%20`,
/// as Graph encodes the validation token).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn graph_headers(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&guid()) {
        headers.insert("request-id", id.clone());
        headers.insert("client-request-id", id);
    }
    headers.insert(
        "x-ms-ags-diagnostic",
        HeaderValue::from_static(
            r#"{"ServerInfo":{"DataCenter":"Sim","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"SIM"}}"#,
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A Graph JSON answer.
pub(crate) fn graph_json(status: StatusCode, body: &Value) -> Response {
    graph_headers((status, body.to_string()).into_response(), GRAPH_JSON)
}

/// 204 as Graph sends it.
pub(crate) fn no_content() -> Response {
    graph_headers(
        StatusCode::NO_CONTENT.into_response(),
        "text/plain; charset=utf-8",
    )
}

/// Graph's error body: `{"error": {"code", "message", "innerError": {date, request-id,
/// client-request-id}}}`.
pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = guid();
    graph_json(
        status,
        &json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": graph_time(Utc::now()),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }
        }),
    )
}

/// 401 for a missing, malformed, unknown or expired bearer token, with the
/// `WWW-Authenticate` challenge Graph sends.
pub(crate) fn invalid_token(message: &str) -> Response {
    let mut response = graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#,
        ),
    );
    response
}

/// 404 for a user that does not exist (or is soft-deleted).
pub(crate) fn user_not_found(key: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

/// 400 `Request_BadRequest`.
pub(crate) fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

/// 429 with `Retry-After`, as Graph throttles.
pub(crate) fn throttled(retry_after: Option<Duration>) -> Response {
    let mut response = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests. Retry after the interval given in the Retry-After header.",
    );
    if let Some(wait) = retry_after {
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// An injected fault status rendered as Graph would answer it.
pub(crate) fn fault_status(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status {
        429 => throttled(Some(Duration::from_secs(1))),
        503 => graph_error(
            code,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        ),
        504 => graph_error(
            code,
            "UnknownError",
            "The request timed out before the service answered.",
        ),
        403 => graph_error(
            code,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        _ if status >= 500 => graph_error(
            code,
            "generalException",
            "An unexpected error occurred while processing the request.",
        ),
        _ => graph_error(code, "BadRequest", "The request failed."),
    }
}

/// An AADSTS error from the token endpoint:
/// `{"error","error_description","error_codes","timestamp","trace_id","correlation_id","error_uri"}`.
pub(crate) fn aadsts(status: StatusCode, error: &str, code: u32, message: &str) -> Response {
    let now = Utc::now();
    let trace_id = guid();
    let correlation_id = guid();
    let description = format!(
        "AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {}",
        aad_timestamp(now)
    );
    let body = json!({
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": aad_timestamp(now),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

/// The properties of a user Graph v1.0 knows here, with their canonical spelling.
pub(crate) const USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "accountEnabled",
    "signInSessionsValidFromDateTime",
    "createdDateTime",
    "deletedDateTime",
    "businessPhones",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
];

/// What `GET /users/{id}` returns without `$select` (accountEnabled is not among them).
pub(crate) const DEFAULT_USER_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Parse `$select` (case-insensitive names) into canonical property names; an unknown
/// name is Graph's 400 (the message is returned).
pub(crate) fn parse_select(select: Option<&str>) -> Result<Option<Vec<&'static str>>, String> {
    let Some(select) = select.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for name in select.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match USER_PROPERTIES
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
        {
            Some(p) => {
                if !out.contains(p) {
                    out.push(*p)
                }
            }
            None => {
                return Err(format!(
                    "Could not find a property named '{name}' on type 'Microsoft.DirectoryServices.User'."
                ))
            }
        }
    }
    Ok(Some(out))
}

fn user_property(user: &SimUser, name: &str, deleted_view: bool) -> Value {
    match name {
        "id" => json!(user.id),
        "userPrincipalName" if deleted_view => json!(user.deleted_upn()),
        "userPrincipalName" => json!(user.user_principal_name),
        "mail" => json!(user.mail),
        "displayName" => json!(user.display_name),
        "givenName" => json!(user.given_name),
        "surname" => json!(user.surname),
        "jobTitle" => json!(user.job_title),
        "accountEnabled" => json!(user.account_enabled),
        "signInSessionsValidFromDateTime" => json!(graph_time(user.sign_in_sessions_valid_from)),
        "createdDateTime" => json!(graph_time(user.created)),
        "deletedDateTime" => json!(user.deleted_at.map(graph_time)),
        "businessPhones" => json!([]),
        _ => Value::Null,
    }
}

/// A user's JSON with the selected (or default) properties.
pub(crate) fn user_json(
    user: &SimUser,
    select: Option<&[&'static str]>,
    deleted_view: bool,
) -> Map<String, Value> {
    let names: &[&str] = select.unwrap_or(DEFAULT_USER_PROPERTIES);
    let mut object = Map::new();
    for name in names {
        object.insert(name.to_string(), user_property(user, name, deleted_view));
    }
    // Graph always returns the id of an entity in a delta response and on reads.
    object
        .entry("id".to_string())
        .or_insert_with(|| json!(user.id));
    object
}

/// `users(id,accountEnabled)` or `users`.
pub(crate) fn users_context(select: Option<&[&'static str]>) -> String {
    match select {
        Some(names) => format!("{METADATA}#users({})", names.join(",")),
        None => format!("{METADATA}#users"),
    }
}

/// A subscription resource as Graph renders it.
pub(crate) fn subscription_json(
    sub: &SimSubscription,
    with_client_state: bool,
) -> Map<String, Value> {
    let value = json!({
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.application_id,
        "changeType": sub.change_type,
        "clientState": if with_client_state { json!(sub.client_state) } else { Value::Null },
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": null,
        "lifecycleNotificationUrl": sub.lifecycle_notification_url,
        "expirationDateTime": subscription_time(sub.expiration),
        "creatorId": sub.application_id,
        "includeResourceData": false,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": null,
        "encryptionCertificateId": null,
        "notificationUrlAppId": null,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_tokens_encode_spaces_as_percent_20() {
        assert_eq!(
            percent_encode("Validation: Testing client"),
            "Validation%3A%20Testing%20client"
        );
    }

    #[test]
    fn notification_times_have_seven_fraction_digits() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T16:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(notification_time(at), "2026-11-25T16:00:00.5000000+00:00");
        assert_eq!(subscription_time(at), "2026-11-25T16:00:00.5000000Z");
        assert_eq!(graph_time(at), "2026-11-25T16:00:00Z");
    }

    #[test]
    fn select_is_case_insensitive_and_rejects_unknown_names() {
        let names = parse_select(Some("ID,accountenabled")).unwrap().unwrap();
        assert_eq!(names, vec!["id", "accountEnabled"]);
        assert!(parse_select(Some("id,password")).is_err());
        assert_eq!(parse_select(Some("")).unwrap(), None);
    }
}
