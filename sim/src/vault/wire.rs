//! Vault's wire shapes: the response envelope, `{"errors": [...]}` bodies, and the JSON
//! of entities, aliases, tokens and mounts.

use super::world::{Alias, Entity, Mount, Token, World};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 with nanoseconds, UTC, as Vault renders times.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = at.into();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn with_json(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON body with this status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    with_json((status, body.to_string()).into_response())
}

/// 200 with Vault's envelope around `data`.
pub(crate) fn data(data: Value, mount_type: &str) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "request_id": super::world::uuid(),
            "lease_id": "",
            "renewable": false,
            "lease_duration": 0,
            "data": data,
            "wrap_info": null,
            "warnings": null,
            "auth": null,
            "mount_type": mount_type,
        }),
    )
}

/// A list answer: `{"keys": [...]}` (plus `key_info` when given), or 404 with an empty
/// `errors` array when there is nothing to list — as Vault answers an empty LIST.
pub(crate) fn list(
    keys: Vec<String>,
    key_info: Option<Map<String, Value>>,
    mount_type: &str,
) -> Response {
    if keys.is_empty() {
        return empty_not_found();
    }
    let mut body = json!({ "keys": keys });
    if let Some(info) = key_info {
        body["key_info"] = Value::Object(info);
    }
    data(body, mount_type)
}

/// 204, the answer to successful writes and deletes.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `{"errors": [message…]}` with this status.
pub(crate) fn errors(status: StatusCode, messages: &[&str]) -> Response {
    json_response(status, &json!({ "errors": messages }))
}

/// 400 with one message (Vault's `logical.ErrorResponse`).
pub(crate) fn bad_request(message: &str) -> Response {
    errors(StatusCode::BAD_REQUEST, &[message])
}

/// 403 `permission denied`.
pub(crate) fn permission_denied() -> Response {
    errors(StatusCode::FORBIDDEN, &["permission denied"])
}

/// 404 `{"errors":[]}`: a read of something that does not exist.
pub(crate) fn empty_not_found() -> Response {
    errors(StatusCode::NOT_FOUND, &[])
}

/// 404 for a path no backend serves.
pub(crate) fn no_handler(path: &str) -> Response {
    errors(
        StatusCode::NOT_FOUND,
        &[&format!(
            "no handler for route \"{path}\". route entry not found."
        )],
    )
}

/// 405 for an operation the path does not support.
pub(crate) fn unsupported_operation() -> Response {
    errors(
        StatusCode::METHOD_NOT_ALLOWED,
        &["1 error occurred:\n\t* unsupported operation\n\n"],
    )
}

/// The answer to an injected status, in the shape Vault (or a proxy in front of it)
/// would give: 500 internal error, 503 sealed, 502/504 a proxy's plain-text page.
pub(crate) fn fault_status(code: u16, path: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code {
        500 => errors(status, &["1 error occurred:\n\t* internal error\n\n"]),
        503 => errors(status, &["Vault is sealed"]),
        502 | 504 => {
            let mut response = (
                status,
                format!(
                    "<html><body><h1>{code} {}</h1></body></html>",
                    status.canonical_reason().unwrap_or("")
                ),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            response
        }
        403 => permission_denied(),
        404 => no_handler(path),
        429 => rate_limited(path, None),
        _ if status.is_client_error() || status.is_server_error() => {
            errors(status, &[status.canonical_reason().unwrap_or("error")])
        }
        _ => status.into_response(),
    }
}

/// A rate-limit quota refusal, with `Retry-After` and the `X-Ratelimit-*` headers Vault
/// sends when `enable_rate_limit_response_headers` is on.
pub(crate) fn rate_limited(path: &str, retry_after: Option<Duration>) -> Response {
    // Vault refuses over-quota calls with 429 only (403 secondary limits are
    // GitHub's), whatever status the injected fault names.
    let status = StatusCode::TOO_MANY_REQUESTS;
    let mut response = errors(
        status,
        &[&format!(
            "request path \"{path}\": rate limit quota exceeded"
        )],
    );
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("100"));
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    if let Some(wait) = retry_after {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        let reset = epoch(SystemTime::now()) + secs;
        headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    response
}

/// An alias as `identity/entity/id/:id` embeds it (and `entity-alias/id/:id` returns it).
pub(crate) fn alias(world: &World, alias: &Alias) -> Value {
    let mount = world.mount_by_accessor(&alias.mount_accessor);
    json!({
        "id": alias.id,
        "canonical_id": alias.canonical_id,
        "mount_accessor": alias.mount_accessor,
        "mount_path": mount.map(|m| format!("auth/{}", m.path)),
        "mount_type": mount.map(|m| m.kind.clone()),
        "metadata": null,
        "custom_metadata": null,
        "name": alias.name,
        "local": false,
        "merged_from_canonical_ids": null,
        "creation_time": rfc3339(alias.created),
        "last_update_time": rfc3339(alias.created),
        "namespace_id": world.namespace_id,
    })
}

/// An entity as `GET identity/entity/id/:id` returns it.
pub(crate) fn entity(world: &World, entity: &Entity) -> Value {
    let aliases: Vec<Value> = world
        .aliases_of(&entity.id)
        .into_iter()
        .map(|a| alias(world, a))
        .collect();
    json!({
        "id": entity.id,
        "name": entity.name,
        "disabled": entity.disabled,
        "policies": entity.policies,
        "metadata": if entity.metadata.is_empty() { Value::Null } else { json!(entity.metadata) },
        "merged_entity_ids": null,
        "creation_time": rfc3339(entity.created),
        "last_update_time": rfc3339(entity.updated),
        "aliases": aliases,
        "direct_group_ids": [],
        "inherited_group_ids": [],
        "group_ids": [],
        "namespace_id": world.namespace_id,
        "mfa_secrets": {},
    })
}

/// A token as `lookup-accessor` returns it: the secret `id` is blanked.
pub(crate) fn token(token: &Token, reveal_id: bool) -> Value {
    let remaining = if token.ttl == 0 {
        0
    } else {
        let age = SystemTime::now()
            .duration_since(token.created)
            .unwrap_or_default()
            .as_secs();
        token.ttl.saturating_sub(age)
    };
    let expire = (token.ttl > 0).then(|| rfc3339(token.created + Duration::from_secs(token.ttl)));
    json!({
        "accessor": token.accessor,
        "creation_time": epoch(token.created),
        "creation_ttl": token.ttl,
        "display_name": token.display_name,
        "entity_id": token.entity_id,
        "expire_time": expire,
        "explicit_max_ttl": 0,
        "id": if reveal_id { token.id.clone() } else { String::new() },
        "issue_time": rfc3339(token.created),
        "meta": if token.meta.is_empty() { Value::Null } else { json!(token.meta) },
        "num_uses": 0,
        "orphan": token.parent.is_none(),
        "path": token.path,
        "policies": token.policies,
        "renewable": token.ttl > 0,
        "ttl": remaining,
        "type": "service",
    })
}

/// One auth mount as `GET sys/auth` lists it.
pub(crate) fn mount(mount: &Mount) -> Value {
    json!({
        "accessor": mount.accessor,
        "type": mount.kind,
        "description": "",
        "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false, "token_type": "default-service"},
        "external_entropy_access": false,
        "local": false,
        "seal_wrap": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": format!("v1.19.0+builtin.vault"),
        "uuid": super::world::uuid(),
    })
}
