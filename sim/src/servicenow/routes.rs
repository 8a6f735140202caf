//! Request handling of the simulated ServiceNow instance: one handler behind the
//! router's fallback, which logs, applies injected faults and latency, authenticates
//! and dispatches the Table API by path.

use super::query;
use super::wire;
use super::world::{Record, World};
use super::{lock, RequestRecord, Shared};
use crate::faults::Fault;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Largest request body read.
const MAX_BODY: usize = 1 << 20;
/// `sysparm_limit` when none is given (the Table API's default page).
const DEFAULT_LIMIT: usize = 10_000;

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
    let credentials = crate::jira::basic_credentials(&parts.headers);
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
    let auth_ok = credentials
        .as_ref()
        .is_some_and(|(user, password)| *user == shared.username && *password == shared.password);

    let response = if !shared.signal.sleep(decision.latency).await {
        wire::fault_status(503)
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
            Some(Fault::Status(code)) => wire::fault_status(code),
            Some(Fault::RateLimited { retry_after, .. }) => wire::rate_limited(retry_after),
            Some(Fault::Hang(duration)) => {
                shared.signal.sleep(duration).await;
                wire::fault_status(504)
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn params(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn serve(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    auth_ok: bool,
    body: &Bytes,
) -> Response {
    if !auth_ok {
        return wire::unauthorized();
    }
    let Some(rest) = path.strip_prefix("/api/now/table/") else {
        return wire::bad_path();
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let params = params(query);
    match (segments.as_slice(), method.as_str()) {
        ([table], _) if !valid_name(table) => wire::invalid_table(table),
        ([table, ..], _) if !lock(&shared.world).has_table(table) => wire::invalid_table(table),
        ([table], "GET") => list(shared, table, &params),
        ([table], "POST") => create(shared, table, &params, body),
        ([table, sys_id], "GET") => {
            let world = lock(&shared.world);
            match world.record(table, sys_id) {
                Some(record) => wire::result(project(record, &params)),
                None => wire::no_record(),
            }
        }
        ([table, sys_id], "PATCH" | "PUT") => update(shared, table, sys_id, &params, body),
        ([_], _) | ([_, _], _) => wire::method_not_allowed(),
        _ => wire::bad_path(),
    }
}

/// A record as JSON, limited to `sysparm_fields` when given.
fn project(record: &Record, params: &[(String, String)]) -> Value {
    let fields: Option<Vec<&str>> = param(params, "sysparm_fields")
        .filter(|f| !f.trim().is_empty())
        .map(|f| f.split(',').map(str::trim).collect());
    let object: Map<String, Value> = record
        .iter()
        .filter(|(k, _)| {
            fields
                .as_ref()
                .is_none_or(|wanted| wanted.contains(&k.as_str()))
        })
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Value::Object(object)
}

fn number(params: &[(String, String)], name: &str, default: usize) -> usize {
    param(params, name)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(default)
}

/// `GET /api/now/table/{table}`: filter, order, page; `X-Total-Count` and `Link`.
fn list(shared: &Shared, table: &str, params: &[(String, String)]) -> Response {
    let world = lock(&shared.world);
    let matching = matching_records(&world, table, param(params, "sysparm_query"));
    let total = matching.len();
    let offset = number(params, "sysparm_offset", 0);
    let limit = number(params, "sysparm_limit", DEFAULT_LIMIT).max(1);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| project(r, params))
        .collect();
    let mut response = wire::result(Value::Array(page));
    let headers = response.headers_mut();
    if param(params, "sysparm_no_count") != Some("true") {
        headers.insert("x-total-count", HeaderValue::from(total));
    }
    if param(params, "sysparm_suppress_pagination_header") != Some("true") {
        let url = format!("{}/api/now/table/{table}", shared.base_url);
        let link = wire::link_header(&url, params, offset, limit, total);
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert("link", value);
        }
    }
    response
}

/// The records of `table` matching an encoded query, in the query's order. A query the
/// simulator cannot evaluate, or one naming a field the table does not have, matches
/// nothing (see [`query`]).
fn matching_records<'w>(world: &'w World, table: &str, text: Option<&str>) -> Vec<&'w Record> {
    let Some(records) = world.table(table).map(|t| &t.records) else {
        return Vec::new();
    };
    let parsed = match query::parse(text.unwrap_or_default()) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::debug!(reason = %error.0, "simulated ServiceNow: query matches nothing");
            return Vec::new();
        }
    };
    let known = world.fields_of(table);
    if parsed.fields().any(|f| !known.contains(&f)) {
        return Vec::new();
    }
    let mut matching: Vec<&Record> = records.iter().filter(|r| parsed.matches(r)).collect();
    // Ties on a descending order come newest first.
    if parsed.order.first().is_some_and(|(_, desc)| *desc) {
        matching.reverse();
    }
    matching.sort_by(|a, b| parsed.compare(a, b));
    matching
}

#[allow(clippy::result_large_err)] // an axum Response, built once per bad request
fn body_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(wire::bad_json()),
    }
}

fn update(
    shared: &Shared,
    table: &str,
    sys_id: &str,
    params: &[(String, String)],
    body: &Bytes,
) -> Response {
    let changes = match body_object(body) {
        Ok(changes) => changes,
        Err(response) => return response,
    };
    let updated = lock(&shared.world).update(table, sys_id, &changes, &shared.username);
    match updated {
        Some(record) => {
            let journaled = changes.iter().any(|(field, value)| {
                super::world::JOURNAL_FIELDS.contains(&field.as_str())
                    && value.as_str().is_some_and(|v| !v.trim().is_empty())
            });
            if journaled {
                shared
                    .counters
                    .journal_writes
                    .fetch_add(1, Ordering::Relaxed);
            }
            wire::result(project(&record, params))
        }
        None => wire::no_record(),
    }
}

fn create(shared: &Shared, table: &str, params: &[(String, String)], body: &Bytes) -> Response {
    let fields = match body_object(body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut world = lock(&shared.world);
    let count = world.table(table).map_or(0, |t| t.records.len());
    let number = match text("number") {
        n if n.is_empty() => format!("REC{:07}", 1_001 + count),
        n => n,
    };
    let sys_id = world.add_record(table, &number, &text("short_description"), &shared.username);
    let rest: Map<String, Value> = fields
        .into_iter()
        .filter(|(k, _)| k != "number" && k != "short_description")
        .collect();
    let record = if rest.is_empty() {
        world.record(table, &sys_id).cloned()
    } else {
        world.update(table, &sys_id, &rest, &shared.username)
    }
    .unwrap_or_default();
    let mut response = wire::result(project(&record, params));
    *response.status_mut() = StatusCode::CREATED;
    if let Ok(location) = HeaderValue::from_str(&format!(
        "{}/api/now/table/{table}/{sys_id}",
        shared.base_url
    )) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    response
}
