//! The HTTP side of the SCIM server: bearer authentication, SCIM JSON in and out,
//! the Users endpoints and the discovery endpoints. Every error is a SCIM Error body
//! (405 and 404 included) with `Content-Type: application/scim+json`.

use super::deprovision::{self, After};
use super::error::{scim_json, ScimError};
use super::filter;
use super::patch;
use super::resource::{self, Projection};
use super::schema::{self, LIST_RESPONSE, MAX_RESULTS};
use super::ScimService;
use crate::http::AppState;
use crate::store::{ScimUserRecord, ScimUserScope, ScimUserWrite};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

/// How often a write is retried when the user changed between read and write.
const WRITE_ATTEMPTS: usize = 5;
/// Rows read per batch when a filter has to look at every user.
const SCAN_BATCH: i64 = 500;

/// The routes under /scim/v2, authenticated with the configured bearer token.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/ServiceProviderConfig",
            get(service_provider_config).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes",
            get(resource_types).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes/{id}",
            get(resource_type).fallback(method_not_allowed),
        )
        .route("/Schemas", get(schemas).fallback(method_not_allowed))
        .route(
            "/Schemas/{id}",
            get(schema_by_id).fallback(method_not_allowed),
        )
        .route(
            "/Users",
            get(list_users)
                .post(create_user)
                .fallback(method_not_allowed),
        )
        .route(
            "/Users/.search",
            post(search_users).fallback(method_not_allowed),
        )
        .route("/.search", post(search_users).fallback(method_not_allowed))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user)
                .fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state, authenticate))
}

fn service(state: &AppState) -> Result<&Arc<ScimService>, ScimError> {
    state.scim.as_ref().ok_or_else(|| {
        ScimError::not_found("the SCIM server is not configured ([scim] in the config)")
    })
}

/// Bearer authentication before anything else (a body is not even read without it).
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let service = match service(&state) {
        Ok(service) => service,
        Err(error) => return error.into_response(),
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        None => ScimError::unauthorized("expected `Authorization: Bearer <token>`").into_response(),
        Some(token) if !service.token_matches(token.as_bytes()) => {
            ScimError::unauthorized("invalid bearer token").into_response()
        }
        Some(_) => next.run(request).await,
    }
}

async fn not_found() -> ScimError {
    ScimError::not_found("no such SCIM endpoint")
}

async fn method_not_allowed() -> ScimError {
    ScimError::method_not_allowed("method not allowed on this SCIM endpoint")
}

/// The base of resource locations: `server.public_url` or the request's Host.
fn base_url(service: &ScimService, headers: &HeaderMap) -> String {
    let root = match &service.public_url {
        Some(url) => url.clone(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    format!("{root}/scim/v2")
}

/// A request body as JSON: SCIM JSON (or plain JSON), within the size limit.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ScimError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        if !matches!(
            essence.as_deref(),
            Some("application/scim+json" | "application/json")
        ) {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "expected Content-Type: application/scim+json (or application/json)",
            ));
        }
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "request body exceeds the configured limit (server.max_body_bytes)",
            )
        } else {
            ScimError::invalid_syntax("the request body could not be read")
        }
    })?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ScimError::invalid_syntax(format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn pairs(query: QueryPairs) -> Result<Vec<(String, String)>, ScimError> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|e| ScimError::invalid_value(format!("invalid query string: {}", e.body_text())))
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn projection(pairs: &[(String, String)]) -> Result<Projection, ScimError> {
    let list =
        |name| -> Vec<String> { param(pairs, name).into_iter().map(str::to_string).collect() };
    Projection::new(&list("attributes"), &list("excludedAttributes"))
}

// ---- discovery ----

async fn service_provider_config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let service = service(&state)?;
    let base = base_url(service, &headers);
    Ok(scim_json(
        StatusCode::OK,
        &schema::service_provider_config(&base, service.max_body_bytes),
    ))
}

fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

async fn resource_types(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    Ok(scim_json(
        StatusCode::OK,
        &list_response(vec![schema::user_resource_type(&base)], 1, 1),
    ))
}

async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    if id != "User" {
        return Err(ScimError::not_found(format!(
            "no resource type `{id}` (Leaver serves User)"
        )));
    }
    Ok(scim_json(
        StatusCode::OK,
        &schema::user_resource_type(&base),
    ))
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    let all = schema::schemas(&base);
    let total = all.len() as i64;
    Ok(scim_json(StatusCode::OK, &list_response(all, total, 1)))
}

async fn schema_by_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    schema::schemas(&base)
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found(format!("no schema `{id}`")))
}

// ---- Users: reads ----

/// Paging, filter and projection of a list or a search.
struct ListRequest {
    filter: Option<String>,
    start_index: i64,
    count: i64,
    projection: Projection,
}

fn integer(name: &str, text: &str) -> Result<i64, ScimError> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("`{name}` must be an integer")))
}

impl ListRequest {
    fn from_query(pairs: &[(String, String)]) -> Result<Self, ScimError> {
        let one = |name: &str| param(pairs, name).last().map(|s| s.to_string());
        Ok(Self {
            filter: one("filter").filter(|f| !f.trim().is_empty()),
            start_index: one("startIndex")
                .map(|s| integer("startIndex", &s))
                .transpose()?
                .unwrap_or(1),
            count: one("count")
                .map(|s| integer("count", &s))
                .transpose()?
                .unwrap_or(MAX_RESULTS),
            projection: projection(pairs)?,
        })
    }

    /// A SearchRequest body (RFC 7644 §3.4.3).
    fn from_search(body: &Value) -> Result<Self, ScimError> {
        let fields = body.as_object().cloned().unwrap_or_default();
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let names = |name: &str| -> Result<Vec<String>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => Ok(vec![s.clone()]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| {
                            ScimError::invalid_value(format!("`{name}` must list attribute names"))
                        })
                    })
                    .collect(),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "`{name}` must list attribute names"
                ))),
            }
        };
        let number = |name: &str, default: i64| -> Result<i64, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                    ScimError::invalid_value(format!("`{name}` must be an integer"))
                }),
                Some(Value::String(s)) => integer(name, s),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "`{name}` must be an integer"
                ))),
            }
        };
        let filter = match get("filter") {
            None | Some(Value::Null) => None,
            Some(Value::String(f)) if f.trim().is_empty() => None,
            Some(Value::String(f)) => Some(f.clone()),
            Some(_) => return Err(ScimError::invalid_filter("`filter` must be a string")),
        };
        Ok(Self {
            filter,
            start_index: number("startIndex", 1)?,
            count: number("count", MAX_RESULTS)?,
            projection: Projection::new(&names("attributes")?, &names("excludedAttributes")?)?,
        })
    }
}

async fn run_list(state: &AppState, base: &str, request: ListRequest) -> Result<Value, ScimError> {
    let store = &state.store;
    // RFC 7644 §3.4.2.4: startIndex below 1 means 1, a negative count means 0.
    let start = request.start_index.max(1);
    let count = request.count.clamp(0, MAX_RESULTS);
    let filter = request
        .filter
        .as_deref()
        .map(filter::parse)
        .transpose()
        .map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}")))?;
    let (total, page) = match &filter {
        None => {
            let total = store.scim_count_users(&ScimUserScope::All).await?;
            let rows = store
                .scim_users_page(&ScimUserScope::All, start - 1, count)
                .await?;
            (
                total,
                rows.iter()
                    .map(|r| resource::render(r, base))
                    .collect::<Vec<_>>(),
            )
        }
        Some(filter) => {
            let scope = match filter.narrowing() {
                Some(("userName", v)) => ScimUserScope::UserName(v),
                Some(("externalId", v)) => ScimUserScope::ExternalId(v),
                Some(("id", v)) => ScimUserScope::Id(v),
                _ => ScimUserScope::All,
            };
            let mut total = 0i64;
            let mut page = Vec::new();
            let mut offset = 0;
            loop {
                let rows = store.scim_users_page(&scope, offset, SCAN_BATCH).await?;
                for row in &rows {
                    let rendered = resource::render(row, base);
                    if filter.matches(&rendered) {
                        total += 1;
                        if total >= start && (page.len() as i64) < count {
                            page.push(rendered);
                        }
                    }
                }
                if (rows.len() as i64) < SCAN_BATCH {
                    break;
                }
                offset += SCAN_BATCH;
            }
            (total, page)
        }
    };
    let resources: Vec<Value> = page
        .into_iter()
        .map(|r| request.projection.apply(r))
        .collect();
    Ok(list_response(resources, total, start))
}

async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    let request = ListRequest::from_query(&pairs(query)?)?;
    Ok(scim_json(
        StatusCode::OK,
        &run_list(&state, &base, request).await?,
    ))
}

async fn search_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    let body = json_body(&headers, body)?;
    let request = ListRequest::from_search(&body)?;
    Ok(scim_json(
        StatusCode::OK,
        &run_list(&state, &base, request).await?,
    ))
}

/// A single user response: the (projected) resource with its ETag.
fn user_response(
    status: StatusCode,
    record: &ScimUserRecord,
    base: &str,
    projection: &Projection,
) -> Response {
    let rendered = resource::render(record, base);
    let location = rendered["meta"]["location"].as_str().map(str::to_string);
    let mut response = scim_json(status, &projection.apply(rendered));
    if let Ok(etag) = HeaderValue::from_str(&resource::etag(record.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED {
        if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

fn no_user(id: &str) -> ScimError {
    ScimError::not_found(format!("no user `{id}`"))
}

/// Whether an `If-Match` / `If-None-Match` header names this version (weak
/// comparison; `*` names any).
fn names_version(header_value: &HeaderValue, version: i64) -> bool {
    let current = resource::etag(version);
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header_value
        .to_str()
        .map(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || strip(t) == strip(&current))
        })
        .unwrap_or(false)
}

fn check_if_match(headers: &HeaderMap, record: &ScimUserRecord) -> Result<(), ScimError> {
    match headers.get(header::IF_MATCH) {
        Some(value) if !names_version(value, record.version) => {
            Err(ScimError::precondition_failed(format!(
                "the user changed: its version is now {}",
                resource::etag(record.version)
            )))
        }
        _ => Ok(()),
    }
}

async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: QueryPairs,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    let projection = projection(&pairs(query)?)?;
    let record = state
        .store
        .scim_user(&id)
        .await?
        .filter(|r| r.deleted_at.is_none())
        .ok_or_else(|| no_user(&id))?;
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        if names_version(value, record.version) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(etag) = HeaderValue::from_str(&resource::etag(record.version)) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            return Ok(response);
        }
    }
    Ok(user_response(StatusCode::OK, &record, &base, &projection))
}

// ---- Users: writes ----

/// Settle what a previous write left pending (a crash, a failed hand-over).
async fn settle(state: &AppState, record: &ScimUserRecord) -> Result<(), ScimError> {
    deprovision::settle(&state.engine, record)
        .await
        .map_err(ScimError::internal)
}

/// A live user for a write, with any pending event of it settled first.
async fn load_for_write(state: &AppState, id: &str) -> Result<ScimUserRecord, ScimError> {
    let mut record = state
        .store
        .scim_user(id)
        .await?
        .ok_or_else(|| no_user(id))?;
    if record.pending_event.is_some() {
        settle(state, &record).await?;
        record = state
            .store
            .scim_user(id)
            .await?
            .ok_or_else(|| no_user(id))?;
    }
    if record.deleted_at.is_some() {
        return Err(no_user(id));
    }
    Ok(record)
}

async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryPairs,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    let projection = projection(&pairs(query)?)?;
    let body = json_body(&headers, body)?;
    let resource = resource::normalize_user(&body)?;
    let write = ScimUserWrite {
        user_name: resource::user_name(&resource),
        external_id: resource::external_id(&resource),
        active: resource::is_active(&resource),
        resource,
        deactivations: 0,
        pending_event: None,
    };
    // Time-ordered (and monotonic within the process): listings page in creation order.
    let id = uuid::Uuid::now_v7().to_string();
    let record = state.store.scim_insert_user(&id, &write).await?;
    tracing::info!(user = %id, "SCIM user created");
    Ok(user_response(
        StatusCode::CREATED,
        &record,
        &base,
        &projection,
    ))
}

/// Replace a user's resource with what `change` makes of the stored one, retrying
/// when another write came first; then settle the transition it caused.
async fn update_user(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    method: &str,
    change: impl Fn(&ScimUserRecord) -> Result<Value, ScimError>,
) -> Result<ScimUserRecord, ScimError> {
    let service = service(state)?;
    for _ in 0..WRITE_ATTEMPTS {
        let before = load_for_write(state, id).await?;
        check_if_match(headers, &before)?;
        let resource = change(&before)?;
        let active = resource::is_active(&resource);
        let (deactivations, pending) = deprovision::on_update(
            service,
            &before,
            &After {
                resource: &resource,
                active,
            },
            method,
        );
        let write = ScimUserWrite {
            user_name: resource::user_name(&resource),
            external_id: resource::external_id(&resource),
            active,
            resource,
            deactivations,
            pending_event: pending
                .map(|p| serde_json::to_string(&p))
                .transpose()
                .map_err(ScimError::internal)?,
        };
        if let Some(after) = state
            .store
            .scim_update_user(id, before.version, &write)
            .await?
        {
            settle(state, &after).await?;
            let after = state
                .store
                .scim_user(id)
                .await?
                .ok_or_else(|| no_user(id))?;
            return Ok(after);
        }
        // Changed (or deleted) meanwhile: read again.
    }
    Err(ScimError::new(
        StatusCode::CONFLICT,
        None,
        "the user kept changing concurrently; retry the request",
    ))
}

async fn replace_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: QueryPairs,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    let projection = projection(&pairs(query)?)?;
    let body = json_body(&headers, body)?;
    let resource = resource::normalize_user(&body)?;
    let record = update_user(&state, &headers, &id, "PUT", |_| Ok(resource.clone())).await?;
    Ok(user_response(StatusCode::OK, &record, &base, &projection))
}

async fn patch_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: QueryPairs,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimError> {
    let base = base_url(service(&state)?, &headers);
    let projection = projection(&pairs(query)?)?;
    let body = json_body(&headers, body)?;
    let operations = patch::parse(&body)?;
    let record = update_user(&state, &headers, &id, "PATCH", |before| {
        patch::apply(&before.resource, &operations)
    })
    .await?;
    Ok(user_response(StatusCode::OK, &record, &base, &projection))
}

async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let service = service(&state)?;
    for _ in 0..WRITE_ATTEMPTS {
        let before = load_for_write(&state, &id).await?;
        check_if_match(&headers, &before)?;
        let pending = deprovision::on_delete(service, &before)
            .map(|p| serde_json::to_string(&p))
            .transpose()
            .map_err(ScimError::internal)?;
        if state
            .store
            .scim_delete_user(&id, before.version, pending.as_deref())
            .await?
        {
            if pending.is_some() {
                if let Some(deleted) = state.store.scim_user(&id).await? {
                    settle(&state, &deleted).await?;
                }
            }
            tracing::info!(user = %id, "SCIM user deleted");
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
    Err(ScimError::new(
        StatusCode::CONFLICT,
        None,
        "the user kept changing concurrently; retry the request",
    ))
}
