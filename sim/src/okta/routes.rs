//! The endpoints of the simulated Okta org (table in the module docs of `okta`), behind
//! a gate that logs, injects faults and latency, applies the rate limits, checks access
//! tokens and scopes, and puts the `X-Rate-Limit-*` headers on every answer.

use super::auth::{self, Grant, Refusal};
use super::filter::{self, Filter};
use super::ratelimit::{bucket_of, RateSnapshot};
use super::wire::{self, codes, json_response};
use super::world::{LogKey, LogQuery, SimUser};
use super::{lock, LogEventSpec, Party, RequestRecord, Shared};
use crate::faults::Fault;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{Duration as ChronoDuration, Utc};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

type Shr = State<Arc<Shared>>;

/// What the gate learned about a request, for the handlers.
#[derive(Clone)]
pub(crate) struct Ctx {
    request_id: String,
    grant: Option<Grant>,
    user_agent: Option<String>,
    path_and_query: String,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth2/v1/token", post(token))
        .route("/oauth2/v1/authorize", get(oidc_authorize))
        .route("/oauth2/v1/keys", get(oidc_keys))
        .route("/.well-known/openid-configuration", get(oidc_discovery))
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{key}", get(get_user))
        .route(
            "/api/v1/users/{id}/lifecycle/deactivate",
            post(deactivate_user),
        )
        .route(
            "/api/v1/users/{id}/sessions",
            axum::routing::delete(clear_sessions),
        )
        .route("/api/v1/users/{id}/clients", get(list_clients))
        .route(
            "/api/v1/users/{id}/clients/{client_id}/tokens",
            get(list_tokens).delete(revoke_client_tokens),
        )
        .route("/api/v1/users/{id}/grants", get(list_grants))
        .route("/api/v1/sessions/{id}", get(get_session))
        .route("/api/v1/logs", get(logs))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

async fn unknown_route(request: Request) -> Response {
    wire::not_found(request.uri().path(), "Resource")
}

async fn method_not_allowed() -> Response {
    wire::api_error(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD,
        "The endpoint does not support the provided HTTP method",
        &[],
    )
}

/// Pushes the request's record to the log when dropped (so a request whose client
/// gave up is still logged, with status 0).
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

fn rate_limit_error() -> Response {
    wire::api_error(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMIT,
        "API call exceeded rate limit due to too many requests.",
        &[],
    )
}

/// An injected status, with Okta's body for it.
fn fault_status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status.as_u16() {
        429 => rate_limit_error(),
        401 => wire::api_error(status, codes::INVALID_TOKEN, "Invalid token provided", &[]),
        403 => wire::api_error(
            status,
            codes::FORBIDDEN,
            "You do not have permission to perform the requested action",
            &[],
        ),
        404 => wire::not_found("resource", "Resource"),
        _ if status.is_server_error() => wire::api_error(
            status,
            codes::INTERNAL,
            status.canonical_reason().unwrap_or("Internal Server Error"),
            &[],
        ),
        _ => wire::api_error(
            status,
            codes::VALIDATION,
            status.canonical_reason().unwrap_or("Error"),
            &[],
        ),
    }
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn set_rate_headers(headers: &mut HeaderMap, snapshot: RateSnapshot) {
    headers.insert(
        HeaderName::from_static("x-rate-limit-limit"),
        HeaderValue::from(snapshot.limit),
    );
    headers.insert(
        HeaderName::from_static("x-rate-limit-remaining"),
        HeaderValue::from(snapshot.remaining),
    );
    headers.insert(
        HeaderName::from_static("x-rate-limit-reset"),
        HeaderValue::from(snapshot.reset),
    );
}

async fn gate(State(shared): Shr, mut request: Request, next: Next) -> Response {
    let n = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let request_id = format!("SimReq{n:06}{}", &wire::object_id("")[..8]);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut guard = LogGuard {
        shared: &shared,
        record: RequestRecord {
            at: SystemTime::now(),
            method: method.clone(),
            path: path.clone(),
            query: request.uri().query().map(str::to_string),
            authorization_sent: request.headers().contains_key(header::AUTHORIZATION),
            fault: None,
            status: 0,
            elapsed: Duration::ZERO,
        },
        started: Instant::now(),
    };
    let bucket = bucket_of(&path);
    let decision = shared.faults.decide(&method, &path);
    guard.record.fault = decision.fault.as_ref().map(Fault::label);

    let mut snapshot = None;
    let mut response = if !shared.signal.sleep(decision.latency).await {
        fault_status(503)
    } else {
        match decision.fault {
            Some(Fault::Status(code)) => fault_status(code),
            Some(Fault::RateLimited { retry_after, .. }) => {
                // Okta has no Retry-After: the reset time says when to come back.
                let wait = retry_after.unwrap_or(Duration::from_secs(60));
                let peeked = lock(&shared.limits).peek(bucket, SystemTime::now());
                snapshot = Some(RateSnapshot {
                    limit: peeked.limit,
                    remaining: 0,
                    reset: epoch_secs(SystemTime::now() + wait)
                        + u64::from(wait.subsec_nanos() > 0),
                });
                rate_limit_error()
            }
            Some(Fault::Hang(duration)) => {
                shared.signal.sleep(duration).await;
                fault_status(504)
            }
            other => {
                let admitted = lock(&shared.limits).admit(bucket, SystemTime::now());
                match admitted {
                    Err(refused) => {
                        snapshot = Some(refused);
                        rate_limit_error()
                    }
                    Ok(counted) => {
                        snapshot = Some(counted);
                        match authorize(&shared, &request, &path) {
                            Err(denied) => *denied,
                            Ok(grant) => {
                                let path_and_query = request
                                    .uri()
                                    .path_and_query()
                                    .map(|p| p.as_str().to_string())
                                    .unwrap_or_else(|| path.clone());
                                let user_agent = request
                                    .headers()
                                    .get(header::USER_AGENT)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_string);
                                request.extensions_mut().insert(Ctx {
                                    request_id: request_id.clone(),
                                    grant,
                                    user_agent,
                                    path_and_query,
                                });
                                let answer = next.run(request).await;
                                if let Some(Fault::SlowApply(duration)) = other {
                                    shared.signal.sleep(duration).await;
                                }
                                answer
                            }
                        }
                    }
                }
            }
        }
    };
    let snapshot = snapshot.unwrap_or_else(|| lock(&shared.limits).peek(bucket, SystemTime::now()));
    set_rate_headers(response.headers_mut(), snapshot);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-okta-request-id"), value);
    }
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        shared.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
    guard.record.status = response.status().as_u16();
    response
}

/// Bearer token and scope checks for `/api/v1`; the token endpoint authenticates the
/// client itself.
fn authorize(shared: &Shared, request: &Request, path: &str) -> Result<Option<Grant>, Refusal> {
    if !path.starts_with("/api/") {
        return Ok(None);
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let grant = auth::authorize(
        &mut lock(&shared.auth),
        authorization,
        &shared.base_url,
        path,
    )?;
    let needed = auth::required_scopes(request.method(), path);
    if !needed.iter().any(|s| grant.scopes.contains(*s)) {
        return Err(Box::new(wire::insufficient_scope(
            &shared.base_url,
            path,
            needed.first().copied().unwrap_or_default(),
        )));
    }
    Ok(Some(grant))
}

fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bool_param(pairs: &[(String, String)], name: &str) -> Result<Option<bool>, Refusal> {
    match param(pairs, name) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(Box::new(wire::validation(
            name,
            &format!("{name}: '{v}' is not a valid boolean (true or false)"),
        ))),
    }
}

// ---------------------------------------------------------------------------------
// Token endpoint

async fn token(State(shared): Shr, headers: HeaderMap, body: Bytes) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return wire::oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request must use Content-Type application/x-www-form-urlencoded.",
        );
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    if form
        .iter()
        .any(|(k, v)| k == "grant_type" && v == "authorization_code")
    {
        return oidc_token(&shared, &headers, form);
    }
    let token_url = format!("{}/oauth2/v1/token", shared.base_url);
    let answer = lock(&shared.auth).token(&form, &token_url, shared.token_lifetime);
    match answer {
        Ok(body) => {
            let mut response = json_response(StatusCode::OK, &body);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
                .headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(response) => *response,
    }
}

// ---------------------------------------------------------------------------------
// System Log events of API side effects

fn actor_of(shared: &Shared, ctx: &Ctx) -> Party {
    match &ctx.grant {
        Some(grant) => {
            let name = lock(&shared.auth)
                .client(&grant.client_id)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| grant.client_id.clone());
            Party {
                id: grant.client_id.clone(),
                kind: "PublicClientApp".into(),
                alternate_id: grant.client_id.clone(),
                display_name: name,
            }
        }
        None => Party::admin(),
    }
}

fn api_event(
    shared: &Shared,
    ctx: &Ctx,
    event_type: &str,
    user: &SimUser,
    extra_debug: Value,
) -> String {
    let mut debug = json!({
        "requestUri": ctx.path_and_query,
        "requestId": ctx.request_id,
    });
    if let (Some(target), Some(extra)) = (debug.as_object_mut(), extra_debug.as_object()) {
        for (k, v) in extra {
            target.insert(k.clone(), v.clone());
        }
    }
    let mut spec = LogEventSpec::new(event_type)
        .actor(actor_of(shared, ctx))
        .target(Party::user(user));
    spec.debug_data = debug;
    spec.transaction_id = Some(ctx.request_id.clone());
    let mut event = spec.to_json();
    event["client"] = json!({
        "userAgent": {
            "rawUserAgent": ctx.user_agent,
            "os": "Unknown",
            "browser": "UNKNOWN"
        },
        "zone": "null",
        "device": "Unknown",
        "id": ctx.grant.as_ref().map(|g| g.client_id.clone()),
        "ipAddress": "127.0.0.1",
        "geographicalContext": null
    });
    shared.log_api_event(event)
}

// ---------------------------------------------------------------------------------
// Users

async fn get_user(State(shared): Shr, Path(key): Path<String>) -> Response {
    let world = shared.world();
    match world.find_user(&key) {
        Some(user) => json_response(StatusCode::OK, &user.to_json(&shared.base_url)),
        None => wire::not_found(&key, "User"),
    }
}

async fn list_users(State(shared): Shr, RawQuery(raw): RawQuery) -> Response {
    let pairs = query_pairs(&raw);
    let limit = match param(&pairs, "limit") {
        None => 200,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return wire::validation("limit", "limit: must be between 1 and 200"),
        },
    };
    enum Mode {
        Search(Filter),
        Filter(Filter, bool),
        Q(String),
        All,
    }
    let mode = if let Some(search) = param(&pairs, "search") {
        match filter::parse(search) {
            Ok(f) => Mode::Search(f),
            Err(why) => {
                return wire::api_error(
                    StatusCode::BAD_REQUEST,
                    codes::SEARCH,
                    "Invalid search criteria.",
                    &[why],
                )
            }
        }
    } else if let Some(expression) = param(&pairs, "filter") {
        match filter::parse(expression) {
            Ok(f) => Mode::Filter(f, expression.contains("status")),
            Err(why) => {
                return wire::api_error(
                    StatusCode::BAD_REQUEST,
                    codes::SEARCH,
                    "Invalid search criteria.",
                    &[why],
                )
            }
        }
    } else if let Some(q) = param(&pairs, "q") {
        Mode::Q(q.to_lowercase())
    } else {
        Mode::All
    };
    let world = shared.world();
    let users: Vec<Value> = world
        .users()
        .map(|u| (u, u.to_json(&shared.base_url)))
        .filter(|(u, json)| match &mode {
            Mode::Search(f) => f.matches(json),
            Mode::Filter(f, mentions_status) => {
                (*mentions_status || u.status != "DEPROVISIONED") && f.matches(json)
            }
            Mode::Q(q) => {
                u.status != "DEPROVISIONED"
                    && [&u.first_name, &u.last_name, &u.email, &u.login]
                        .iter()
                        .any(|field| field.to_lowercase().starts_with(q.as_str()))
            }
            Mode::All => u.status != "DEPROVISIONED",
        })
        .map(|(_, json)| json)
        .take(limit)
        .collect();
    json_response(StatusCode::OK, &Value::Array(users))
}

async fn deactivate_user(
    State(shared): Shr,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(&raw);
    if let Err(bad) = bool_param(&pairs, "sendEmail") {
        return *bad;
    }
    let delay = shared.settings().deactivation_delay;
    let user = {
        let mut world = shared.world();
        let Some(user) = world.find_user(&id).cloned() else {
            return wire::not_found(&id, "User");
        };
        if user.status == "DEPROVISIONED" {
            // What Okta answers for a user that is already deactivated.
            return wire::not_found(&user.id, "User");
        }
        if user.transitioning_to_status.as_deref() == Some("DEPROVISIONED") {
            return json_response(StatusCode::OK, &json!({}));
        }
        let now = Utc::now();
        world.begin_deactivation(
            &user.id,
            now,
            now + ChronoDuration::from_std(delay).unwrap_or_default(),
        );
        user
    };
    api_event(&shared, &ctx, "user.lifecycle.deactivate", &user, json!({}));
    json_response(StatusCode::OK, &json!({}))
}

async fn clear_sessions(
    State(shared): Shr,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(&raw);
    let oauth_tokens = match bool_param(&pairs, "oauthTokens") {
        Ok(v) => v.unwrap_or(false),
        Err(bad) => return *bad,
    };
    let forget_devices = match bool_param(&pairs, "forgetDevices") {
        Ok(v) => v.unwrap_or(false),
        Err(bad) => return *bad,
    };
    let user = {
        let mut world = shared.world();
        let Some(user) = world.find_user(&id).cloned() else {
            return wire::not_found(&id, "User");
        };
        world.clear_sessions(&user.id);
        if oauth_tokens {
            world.revoke_refresh_tokens(&user.id, None);
        }
        if forget_devices {
            if let Some(u) = world.user_mut(&user.id) {
                u.remembered_devices = 0;
            }
        }
        user
    };
    api_event(&shared, &ctx, "user.session.clear", &user, json!({}));
    StatusCode::NO_CONTENT.into_response()
}

/// A page of a list keyed by id: `limit` (default `default_limit`, at most
/// `max_limit`) and `after` (the last id of the previous page), with Link headers.
fn paginate(
    shared: &Shared,
    path: &str,
    pairs: &[(String, String)],
    items: Vec<(String, Value)>,
    default_limit: usize,
    max_limit: usize,
) -> Response {
    let limit = match param(pairs, "limit") {
        None => default_limit,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max_limit).contains(&n) => n,
            _ => {
                return wire::validation(
                    "limit",
                    &format!("limit: must be between 1 and {max_limit}"),
                )
            }
        },
    };
    let start = match param(pairs, "after") {
        None => 0,
        Some(after) => items
            .iter()
            .position(|(id, _)| id == after)
            .map(|i| i + 1)
            .unwrap_or(items.len()),
    };
    let page: Vec<(String, Value)> = items.iter().skip(start).take(limit).cloned().collect();
    let more = start + page.len() < items.len();
    let mut response = json_response(
        StatusCode::OK,
        &Value::Array(page.iter().map(|(_, v)| v.clone()).collect()),
    );
    let self_link = format!("<{}{path}>; rel=\"self\"", shared.base_url);
    if let Ok(v) = HeaderValue::from_str(&self_link) {
        response.headers_mut().append(header::LINK, v);
    }
    if more {
        if let Some((last, _)) = page.last() {
            let next = form_urlencoded::Serializer::new(String::new())
                .append_pair("limit", &limit.to_string())
                .append_pair("after", last)
                .finish();
            let link = format!("<{}{path}?{next}>; rel=\"next\"", shared.base_url);
            if let Ok(v) = HeaderValue::from_str(&link) {
                response.headers_mut().append(header::LINK, v);
            }
        }
    }
    response
}

async fn list_clients(
    State(shared): Shr,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let items = {
        let world = shared.world();
        let Some(user) = world.find_user(&id).cloned() else {
            return wire::not_found(&id, "User");
        };
        world
            .clients_of(&user.id)
            .into_iter()
            .map(|client_id| {
                let name = world
                    .app(&client_id)
                    .map(|a| a.client_name.clone())
                    .unwrap_or_else(|| client_id.clone());
                let base = format!(
                    "{}/api/v1/users/{}/clients/{client_id}",
                    shared.base_url, user.id
                );
                let value = json!({
                    "client_id": client_id,
                    "client_name": name,
                    "client_uri": null,
                    "logo_uri": null,
                    "_links": {
                        "grants": { "href": format!("{base}/grants") },
                        "tokens": { "href": format!("{base}/tokens") },
                    }
                });
                (client_id, value)
            })
            .collect::<Vec<_>>()
    };
    let pairs = query_pairs(&raw);
    paginate(
        &shared,
        &format!("/api/v1/users/{id}/clients"),
        &pairs,
        items,
        200,
        200,
    )
}

async fn list_tokens(
    State(shared): Shr,
    Path((id, client_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let items = {
        let world = shared.world();
        let Some(user) = world.find_user(&id).cloned() else {
            return wire::not_found(&id, "User");
        };
        world
            .refresh_tokens_of(&user.id)
            .into_iter()
            .filter(|t| t.client_id == client_id)
            .map(|t| (t.id.clone(), t.to_json(&shared.base_url)))
            .collect::<Vec<_>>()
    };
    let pairs = query_pairs(&raw);
    paginate(
        &shared,
        &format!("/api/v1/users/{id}/clients/{client_id}/tokens"),
        &pairs,
        items,
        20,
        200,
    )
}

async fn revoke_client_tokens(
    State(shared): Shr,
    Path((id, client_id)): Path<(String, String)>,
) -> Response {
    let mut world = shared.world();
    let Some(user) = world.find_user(&id).cloned() else {
        return wire::not_found(&id, "User");
    };
    world.revoke_refresh_tokens(&user.id, Some(&client_id));
    StatusCode::NO_CONTENT.into_response()
}

async fn list_grants(
    State(shared): Shr,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let items = {
        let world = shared.world();
        let Some(user) = world.find_user(&id).cloned() else {
            return wire::not_found(&id, "User");
        };
        world
            .grants_of(&user.id)
            .into_iter()
            .map(|g| (g.id.clone(), g.to_json(&shared.base_url)))
            .collect::<Vec<_>>()
    };
    let pairs = query_pairs(&raw);
    paginate(
        &shared,
        &format!("/api/v1/users/{id}/grants"),
        &pairs,
        items,
        20,
        200,
    )
}

async fn get_session(State(shared): Shr, Path(id): Path<String>) -> Response {
    match shared.world().session(&id) {
        Some(session) => json_response(StatusCode::OK, &session.to_json(&shared.base_url)),
        None => wire::not_found(&id, "Session"),
    }
}

// ---------------------------------------------------------------------------------
// System Log

fn parse_after(text: &str) -> Option<LogKey> {
    let (published, seq) = text.split_once('_')?;
    Some((published.parse().ok()?, seq.parse().ok()?))
}

async fn logs(State(shared): Shr, RawQuery(raw): RawQuery) -> Response {
    let pairs = query_pairs(&raw);
    let now = Utc::now();
    let time_param = |name: &str| -> Result<Option<chrono::DateTime<Utc>>, Refusal> {
        match param(&pairs, name) {
            None => Ok(None),
            Some(text) => wire::parse_timestamp(text).map(Some).ok_or_else(|| {
                Box::new(wire::validation(
                    name,
                    &format!("{name}: '{text}' is not an ISO 8601 timestamp"),
                ))
            }),
        }
    };
    let since = match time_param("since") {
        Ok(v) => v.unwrap_or(now - ChronoDuration::days(7)),
        Err(bad) => return *bad,
    };
    let until = match time_param("until") {
        Ok(v) => v,
        Err(bad) => return *bad,
    };
    if until.is_some_and(|u| u < since) {
        return wire::validation("until", "until: must not be earlier than since");
    }
    let limit = match param(&pairs, "limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return wire::validation("limit", "limit: must be between 1 and 1000"),
        },
    };
    let descending = match param(&pairs, "sortOrder") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("ASCENDING") => false,
        Some(v) if v.eq_ignore_ascii_case("DESCENDING") => true,
        Some(v) => {
            return wire::validation(
                "sortOrder",
                &format!("sortOrder: '{v}' is not ASCENDING or DESCENDING"),
            )
        }
    };
    let after = match param(&pairs, "after") {
        None => None,
        Some(text) => match parse_after(text) {
            Some(key) => Some(key),
            None => return wire::validation("after", "after: not a cursor this API returned"),
        },
    };
    let filter = match param(&pairs, "filter") {
        None => None,
        Some(text) => match filter::parse(text) {
            Ok(f) => Some(f),
            Err(why) => {
                return wire::api_error(
                    StatusCode::BAD_REQUEST,
                    codes::SEARCH,
                    "Invalid search criteria.",
                    &[format!("filter: {why}")],
                )
            }
        },
    };
    let keywords: Vec<String> = param(&pairs, "q")
        .map(|q| q.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if keywords.len() > 10 {
        return wire::validation("q", "q: at most 10 keywords");
    }
    let query = LogQuery {
        since,
        until,
        after,
        filter,
        keywords,
        limit,
        descending,
    };
    let page = lock(&shared.world).query_log(&query, now);
    let polling = until.is_none() && !descending;
    let mut response = json_response(StatusCode::OK, &Value::Array(page.events));
    let base = format!("{}/api/v1/logs", shared.base_url);
    let self_link = match &raw {
        Some(q) if !q.is_empty() => format!("<{base}?{q}>; rel=\"self\""),
        _ => format!("<{base}>; rel=\"self\""),
    };
    if let Ok(v) = HeaderValue::from_str(&self_link) {
        response.headers_mut().append(header::LINK, v);
    }
    if polling || page.more {
        let cursor = page
            .last
            .or(after)
            .unwrap_or((since.timestamp_millis() - 1, u64::MAX));
        let mut next = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "after") {
            next.append_pair(k, v);
        }
        next.append_pair("after", &format!("{}_{}", cursor.0, cursor.1));
        let link = format!("<{base}?{}>; rel=\"next\"", next.finish());
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().append(header::LINK, v);
        }
    }
    response
}

// ---------------------------------------------------------------------------------
// OpenID Connect for web apps (see oidc.rs)

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn oidc_discovery(State(shared): Shr) -> Response {
    json_response(
        StatusCode::OK,
        &super::oidc::Oidc::discovery(&shared.base_url),
    )
}

async fn oidc_keys(State(shared): Shr) -> Response {
    json_response(StatusCode::OK, &lock(&shared.oidc).jwks())
}

async fn oidc_authorize(State(shared): Shr, RawQuery(query): RawQuery) -> Response {
    let query: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let find = |id: &str| lock(&shared.world).find_user(id).cloned();
    let answer = lock(&shared.oidc).authorize(&query, find);
    match answer {
        super::oidc::Authorize::Redirect(location) => {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            no_store(response)
        }
        super::oidc::Authorize::ErrorPage(message) => {
            let mut response = Response::new(axum::body::Body::from(format!(
                "<!doctype html><title>400 Bad Request</title><h1>Bad Request</h1><p>{}</p>",
                message.replace('<', "&lt;")
            )));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
    }
}

fn oidc_token(shared: &Shared, headers: &HeaderMap, form: Vec<(String, String)>) -> Response {
    use base64::Engine as _;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            // RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
            let decode = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let form: std::collections::BTreeMap<String, String> = form.into_iter().collect();
    let find = |id: &str| lock(&shared.world).find_user(id).cloned();
    let answer = lock(&shared.oidc).token(&form, basic, &shared.base_url, find);
    match answer {
        Ok(body) => no_store(json_response(StatusCode::OK, &body)),
        Err((status, error, description)) => wire::oauth_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            error,
            &description,
        ),
    }
}
