//! The endpoints of the simulated identity platform and Graph (table in the module docs
//! of `entra`), behind a gate that logs, injects faults and latency, throttles and
//! checks bearer tokens.

use super::notify::{self, is_users, MAX_USER_SUBSCRIPTION};
use super::wire::{self, METADATA};
use super::world::{guid, now_seconds, random_hex, Presence, SimSubscription};
use super::{lock, RequestRecord, Shared};
use crate::faults::Fault;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Shr = State<Arc<Shared>>;

const GRAPH_SCOPES: &[&str] = &[
    "https://graph.microsoft.com/.default",
    "00000003-0000-0000-c000-000000000000/.default",
];

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/users", get(list_users))
        .route("/v1.0/users/delta", get(users_delta))
        .route("/v1.0/users/{key}", get(get_user).patch(patch_user))
        .route(
            "/v1.0/users/{key}/revokeSignInSessions",
            post(revoke_sessions),
        )
        .route("/v1.0/directory/deletedItems/{id}", get(deleted_item))
        .route(
            "/v1.0/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/v1.0/subscriptions/{id}",
            get(get_subscription)
                .patch(patch_subscription)
                .delete(delete_subscription),
        )
        .route("/v1.0/subscriptions/{id}/reauthorize", post(reauthorize))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

async fn unknown_route(request: Request) -> Response {
    let path = request.uri().path();
    match path.strip_prefix("/v1.0/") {
        Some(rest) => {
            let segment = rest.split('/').next().unwrap_or_default();
            wire::graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Resource not found for the segment '{segment}'."),
            )
        }
        None => wire::graph_error(StatusCode::NOT_FOUND, "NotFound", "Not found."),
    }
}

async fn method_not_allowed() -> Response {
    wire::graph_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "The HTTP method is not allowed on this resource.",
    )
}

/// Pushes the request's record to the log when dropped.
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

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The token endpoint renders faults as AADSTS errors; Graph as Graph errors.
fn render_fault(is_token: bool, status: u16, retry_after: Option<Duration>) -> Response {
    if is_token {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = wire::aadsts(
            code,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        );
        if let Some(wait) = retry_after {
            if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    } else if status == 429 {
        wire::throttled(retry_after)
    } else {
        wire::fault_status(status)
    }
}

pub(crate) async fn gate(State(shared): Shr, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let path = request.uri().path().to_string();
    let is_graph = path.starts_with("/v1.0/");
    let is_token = path.ends_with("/oauth2/v2.0/token");
    let token = bearer(request.headers());
    let mut guard = LogGuard {
        shared: &shared,
        record: RequestRecord {
            at: std::time::SystemTime::now(),
            method: request.method().clone(),
            path: path.clone(),
            query: request.uri().query().map(str::to_string),
            bearer_sent: token.is_some(),
            fault: None,
            status: 0,
            elapsed: Duration::ZERO,
        },
        started: Instant::now(),
    };
    let decision = shared.faults.decide(request.method(), &path);
    guard.record.fault = decision.fault.as_ref().map(Fault::label);
    let response = if !shared.signal.sleep(decision.latency).await {
        render_fault(is_token, 503, None)
    } else {
        match decision.fault {
            Some(Fault::Status(code)) => render_fault(is_token, code, None),
            Some(Fault::RateLimited {
                status,
                retry_after,
            }) => render_fault(is_token, status, retry_after),
            Some(Fault::Hang(wait)) => {
                shared.signal.sleep(wait).await;
                render_fault(is_token, 504, None)
            }
            Some(Fault::SlowApply(wait)) => {
                let response = admit(&shared, is_graph, token.as_deref(), request, next).await;
                shared.signal.sleep(wait).await;
                response
            }
            None => admit(&shared, is_graph, token.as_deref(), request, next).await,
        }
    };
    guard.record.status = response.status().as_u16();
    response
}

/// Throttle and authenticate Graph calls, then serve.
async fn admit(
    shared: &Shared,
    is_graph: bool,
    token: Option<&str>,
    request: Request,
    next: Next,
) -> Response {
    if is_graph {
        if let Some(wait) = over_budget(shared) {
            return wire::throttled(Some(wait));
        }
        let Some(token) = token else {
            return wire::invalid_token("Access token is empty.");
        };
        let expiry = lock(&shared.world).tokens.get(token).copied();
        match expiry {
            None => {
                return wire::invalid_token("Access token validation failure. Invalid audience.")
            }
            Some(expiry) if expiry <= Utc::now() => {
                return wire::invalid_token("Lifetime validation failed, the token is expired.")
            }
            Some(_) => {}
        }
    }
    next.run(request).await
}

/// The wait left in the throttle window when the budget is spent.
fn over_budget(shared: &Shared) -> Option<Duration> {
    let limit = shared.config.throttle?;
    let mut window = lock(&shared.throttle);
    let elapsed = window.started.elapsed();
    if elapsed >= limit.window {
        window.started = Instant::now();
        window.used = 0;
    }
    if window.used >= limit.requests {
        let left = limit.window.saturating_sub(window.started.elapsed());
        return Some(Duration::from_secs(
            left.as_secs_f64().ceil().max(1.0) as u64
        ));
    }
    window.used += 1;
    None
}

// ---------------------------------------------------------------------------------
// Token endpoint

async fn token(State(shared): Shr, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: Map<String, Value> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let field = |name: &str| form.get(name).and_then(Value::as_str).map(str::to_string);
    let missing = |name: &str| {
        wire::aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let config = &shared.config;
    let Some(grant) = field("grant_type") else {
        return missing("grant_type");
    };
    if grant != "client_credentials" {
        return wire::aadsts(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant}'."),
        );
    }
    if !tenant.eq_ignore_ascii_case(&config.tenant_id) {
        return wire::aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    let Some(client_id) = field("client_id") else {
        return missing("client_id");
    };
    if !client_id.eq_ignore_ascii_case(&config.client_id) {
        return wire::aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."),
        );
    }
    let Some(scope) = field("scope") else {
        return missing("scope");
    };
    // Graph's resource identifier is its base URL (each national cloud has its own:
    // `https://graph.microsoft.us/.default`); this simulator's Graph is at its own URL.
    let own_scope = format!("{}/.default", shared.base_url);
    if !GRAPH_SCOPES.contains(&scope.trim()) && scope.trim() != own_scope {
        return wire::aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    }
    let Some(secret) = field("client_secret") else {
        return wire::aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        );
    };
    if secret != config.client_secret {
        return wire::aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", config.client_id),
        );
    }
    let access_token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}.{}",
        random_hex(48),
        random_hex(64)
    );
    let lifetime = config.token_lifetime.as_secs();
    {
        let mut world = lock(&shared.world);
        world.tokens.insert(
            access_token.clone(),
            Utc::now() + chrono::Duration::seconds(lifetime as i64),
        );
        world.tokens_issued += 1;
    }
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    });
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

// ---------------------------------------------------------------------------------
// Users

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.into_owned())
    })
}

fn forbidden() -> Response {
    wire::graph_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

async fn get_user(State(shared): Shr, Path(key): Path<String>, RawQuery(q): RawQuery) -> Response {
    let select = match wire::parse_select(query_param(q.as_deref(), "$select").as_deref()) {
        Ok(select) => select,
        Err(message) => return wire::bad_request(&message),
    };
    let world = lock(&shared.world);
    match world.live_user(&key) {
        Some(user) => {
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                json!(format!(
                    "{}/$entity",
                    wire::users_context(select.as_deref())
                )),
            );
            body.extend(wire::user_json(user, select.as_deref(), false));
            wire::graph_json(StatusCode::OK, &Value::Object(body))
        }
        None => wire::user_not_found(&key),
    }
}

/// `GET /users?$filter=mail eq '…'` (or `userPrincipalName eq '…'`), the two filters
/// Leaver uses; values compare without case, as Graph does. Without `$filter`: every
/// live user (one page).
async fn list_users(State(shared): Shr, RawQuery(q): RawQuery) -> Response {
    let select = match wire::parse_select(query_param(q.as_deref(), "$select").as_deref()) {
        Ok(select) => select,
        Err(message) => return wire::bad_request(&message),
    };
    let filter = match query_param(q.as_deref(), "$filter") {
        None => None,
        Some(text) => match parse_eq_filter(&text) {
            Some(f) => Some(f),
            None => {
                return wire::bad_request(&format!("Invalid filter clause: {text}"));
            }
        },
    };
    let world = lock(&shared.world);
    let value: Vec<Value> = world
        .users
        .values()
        .filter(|u| u.presence == Presence::Live)
        .filter(|u| match &filter {
            None => true,
            Some((property, literal)) => {
                let field = match property.as_str() {
                    "mail" => u.mail.clone(),
                    _ => Some(u.user_principal_name.clone()),
                };
                field.is_some_and(|f| f.eq_ignore_ascii_case(literal))
            }
        })
        .map(|u| Value::Object(wire::user_json(u, select.as_deref(), false)))
        .collect();
    wire::graph_json(
        StatusCode::OK,
        &json!({"@odata.context": wire::users_context(select.as_deref()), "value": value}),
    )
}

/// `mail eq 'a@b'` or `userPrincipalName eq 'a@b'` (OData quotes doubled inside).
fn parse_eq_filter(text: &str) -> Option<(String, String)> {
    let (property, rest) = text.trim().split_once(' ')?;
    let property = match property.to_ascii_lowercase().as_str() {
        "mail" => "mail",
        "userprincipalname" => "userPrincipalName",
        _ => return None,
    };
    let literal = rest.trim().strip_prefix("eq ")?.trim();
    let inner = literal.strip_prefix('\'')?.strip_suffix('\'')?;
    Some((property.to_string(), inner.replace("''", "'")))
}

async fn patch_user(State(shared): Shr, Path(key): Path<String>, body: Bytes) -> Response {
    if shared.deny_writes.load(Ordering::SeqCst) {
        return forbidden();
    }
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&body) else {
        return wire::bad_request("Invalid request body: expected a JSON object.");
    };
    let mut enabled = None;
    let mut display = None;
    let mut job = None;
    for (name, value) in &patch {
        match name.as_str() {
            "accountEnabled" => match value.as_bool() {
                Some(b) => enabled = Some(b),
                None => {
                    return wire::bad_request(&format!(
                        "Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'."
                    ))
                }
            },
            "displayName" => {
                match value.as_str() {
                    Some(s) if !s.trim().is_empty() => display = Some(s.to_string()),
                    _ => return wire::bad_request(
                        "Invalid value specified for property 'displayName' of resource 'User'.",
                    ),
                }
            }
            "jobTitle" => match value {
                Value::Null => job = Some(None),
                Value::String(s) => job = Some(Some(s.clone())),
                _ => {
                    return wire::bad_request(
                        "Invalid value specified for property 'jobTitle' of resource 'User'.",
                    )
                }
            },
            "id" | "userPrincipalName" | "createdDateTime" | "signInSessionsValidFromDateTime" => {
                return wire::bad_request(&format!(
                    "Property '{name}' is read-only and cannot be set."
                ))
            }
            other => return wire::bad_request(&format!("Invalid property '{other}'.")),
        }
    }
    let changed = {
        let mut world = lock(&shared.world);
        let Some(user) = world.live_user(&key) else {
            return wire::user_not_found(&key);
        };
        let id = user.id.clone();
        let differs = enabled.is_some_and(|e| e != user.account_enabled)
            || display.as_ref().is_some_and(|d| *d != user.display_name)
            || job.as_ref().is_some_and(|j| *j != user.job_title);
        if differs {
            world.change(&id, |u| {
                if let Some(e) = enabled {
                    u.account_enabled = e;
                }
                if let Some(d) = display {
                    u.display_name = d;
                }
                if let Some(j) = job {
                    u.job_title = j;
                }
            });
            Some(id)
        } else {
            None
        }
    };
    if let Some(id) = changed {
        notify::user_changed(&shared, &id, "updated");
    }
    wire::no_content()
}

async fn revoke_sessions(State(shared): Shr, Path(key): Path<String>) -> Response {
    if shared.deny_writes.load(Ordering::SeqCst) {
        return forbidden();
    }
    let mut world = lock(&shared.world);
    let Some(id) = world.live_user_id(&key) else {
        return wire::user_not_found(&key);
    };
    if let Some(user) = world.users.get_mut(&id) {
        user.sign_in_sessions_valid_from = now_seconds();
        user.revocations += 1;
    }
    wire::graph_json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{METADATA}#Edm.Boolean"), "value": true}),
    )
}

async fn deleted_item(
    State(shared): Shr,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let select = match wire::parse_select(query_param(q.as_deref(), "$select").as_deref()) {
        Ok(select) => select,
        Err(message) => return wire::bad_request(&message),
    };
    let world = lock(&shared.world);
    match world
        .users
        .get(&id)
        .filter(|u| u.presence == Presence::SoftDeleted)
    {
        Some(user) => {
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                json!(format!("{METADATA}#directory/deletedItems/$entity")),
            );
            body.insert("@odata.type".into(), json!("#microsoft.graph.user"));
            body.extend(wire::user_json(user, select.as_deref(), true));
            if select.is_none() {
                body.insert(
                    "deletedDateTime".into(),
                    json!(user.deleted_at.map(wire::graph_time)),
                );
            }
            wire::graph_json(StatusCode::OK, &Value::Object(body))
        }
        None => wire::user_not_found(&id),
    }
}

// ---------------------------------------------------------------------------------
// Delta

/// The state a delta token carries (opaque to clients: hex of the fields).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeltaState {
    generation: u64,
    /// Changes after this sequence number; `None` in the initial round.
    since: Option<u64>,
    /// The round's upper bound.
    snapshot: u64,
    offset: usize,
    select: Option<String>,
}

fn encode_state(kind: char, state: &DeltaState) -> String {
    let text = format!(
        "{kind}|{}|{}|{}|{}|{}",
        state.generation,
        state.since.map(|s| s.to_string()).unwrap_or_default(),
        state.snapshot,
        state.offset,
        state.select.clone().unwrap_or_default()
    );
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_state(kind: char, token: &str) -> Option<DeltaState> {
    if !token.len().is_multiple_of(2) || token.len() > 4096 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let mut parts = text.splitn(6, '|');
    if parts.next()? != kind.to_string() {
        return None;
    }
    let generation = parts.next()?.parse().ok()?;
    let since = match parts.next()? {
        "" => None,
        s => Some(s.parse().ok()?),
    };
    let snapshot = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    let select = Some(parts.next()?.to_string()).filter(|s| !s.is_empty());
    Some(DeltaState {
        generation,
        since,
        snapshot,
        offset,
        select,
    })
}

fn sync_state_not_found() -> Response {
    wire::graph_error(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

async fn users_delta(State(shared): Shr, RawQuery(q): RawQuery) -> Response {
    let q = q.as_deref();
    let skiptoken = query_param(q, "$skiptoken");
    let deltatoken = query_param(q, "$deltatoken");
    let world = lock(&shared.world);
    let state = match (skiptoken, deltatoken) {
        (Some(token), _) => match decode_state('s', &token) {
            Some(state) if state.generation == world.delta_generation => state,
            _ => return sync_state_not_found(),
        },
        (None, Some(token)) if token == "latest" => {
            let select = query_param(q, "$select");
            if let Err(message) = wire::parse_select(select.as_deref()) {
                return wire::bad_request(&message);
            }
            let state = DeltaState {
                generation: world.delta_generation,
                since: Some(world.seq),
                snapshot: world.seq,
                offset: 0,
                select,
            };
            return delta_page(&shared, &state, Vec::new(), None);
        }
        (None, Some(token)) => match decode_state('d', &token) {
            Some(state) if state.generation == world.delta_generation => DeltaState {
                generation: state.generation,
                since: Some(state.snapshot),
                snapshot: world.seq,
                offset: 0,
                select: state.select,
            },
            _ => return sync_state_not_found(),
        },
        (None, None) => DeltaState {
            generation: world.delta_generation,
            since: None,
            snapshot: world.seq,
            offset: 0,
            select: query_param(q, "$select").filter(|s| !s.trim().is_empty()),
        },
    };
    let select = match wire::parse_select(state.select.as_deref()) {
        Ok(select) => select,
        Err(message) => return wire::bad_request(&message),
    };
    let mut users: Vec<_> = match state.since {
        None => world
            .users
            .values()
            .filter(|u| u.presence == Presence::Live)
            .collect(),
        Some(since) => {
            let mut changed: Vec<_> = world
                .users
                .values()
                .filter(|u| u.changed_seq > since && u.changed_seq <= state.snapshot)
                .collect();
            changed.sort_by_key(|u| (u.changed_seq, u.id.clone()));
            changed
        }
    };
    let page_size = shared.config.delta_page_size;
    let total = users.len();
    let page: Vec<Value> = users
        .drain(..)
        .skip(state.offset)
        .take(page_size)
        .map(|u| match u.presence {
            Presence::Live => Value::Object(wire::user_json(u, select.as_deref(), false)),
            Presence::SoftDeleted => json!({"id": u.id, "@removed": {"reason": "changed"}}),
            Presence::HardDeleted => json!({"id": u.id, "@removed": {"reason": "deleted"}}),
        })
        .collect();
    let next = (state.offset + page_size < total).then(|| DeltaState {
        offset: state.offset + page_size,
        ..state.clone()
    });
    delta_page(&shared, &state, page, next)
}

fn delta_page(
    shared: &Shared,
    state: &DeltaState,
    value: Vec<Value>,
    next: Option<DeltaState>,
) -> Response {
    let select = wire::parse_select(state.select.as_deref()).ok().flatten();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(wire::users_context(select.as_deref())),
    );
    let base = format!("{}/v1.0/users/delta", shared.base_url);
    match next {
        Some(next) => body.insert(
            "@odata.nextLink".into(),
            json!(format!("{base}?$skiptoken={}", encode_state('s', &next))),
        ),
        None => body.insert(
            "@odata.deltaLink".into(),
            json!(format!(
                "{base}?$deltatoken={}",
                encode_state(
                    'd',
                    &DeltaState {
                        offset: 0,
                        ..state.clone()
                    }
                )
            )),
        ),
    };
    body.insert("value".into(), Value::Array(value));
    wire::graph_json(StatusCode::OK, &Value::Object(body))
}

// ---------------------------------------------------------------------------------
// Subscriptions

fn invalid_request(message: &str) -> Response {
    wire::graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn subscription_not_found() -> Response {
    wire::graph_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The object was not found.",
    )
}

/// HTTPS, or plain http to a loopback host (the fake's one relaxation, for tests).
fn acceptable_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("'{url}' is not a valid URL."))?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
    );
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("The notification URL must use HTTPS.".to_string()),
    }
}

fn parse_expiration(value: &Value) -> Result<DateTime<Utc>, String> {
    let text = value
        .as_str()
        .ok_or_else(|| "expirationDateTime must be a date-time string.".to_string())?;
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|_| format!("'{text}' is not a valid expirationDateTime."))?
        .with_timezone(&Utc);
    let now = Utc::now();
    if at <= now {
        return Err("Subscription expiration must be in the future.".to_string());
    }
    let max = now + chrono::Duration::from_std(MAX_USER_SUBSCRIPTION).unwrap_or_default();
    if at > max + chrono::Duration::seconds(60) {
        return Err("Subscription expiration can only be 41760 minutes in the future.".to_string());
    }
    Ok(at)
}

async fn create_subscription(State(shared): Shr, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return invalid_request("Invalid request body: expected a JSON object.");
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let Some(change_type) = text("changeType") else {
        return invalid_request("changeType is a required property.");
    };
    if change_type.split(',').any(|c| {
        !matches!(
            c.trim().to_ascii_lowercase().as_str(),
            "created" | "updated" | "deleted"
        )
    }) {
        return invalid_request(&format!("'{change_type}' is not a valid changeType."));
    }
    let Some(resource) = text("resource") else {
        return invalid_request("resource is a required property.");
    };
    if !is_users(&resource) {
        return invalid_request(&format!(
            "Resource '{resource}' is not supported by this fake (only 'users')."
        ));
    }
    let Some(notification_url) = text("notificationUrl") else {
        return invalid_request("notificationUrl is a required property.");
    };
    let lifecycle_url = text("lifecycleNotificationUrl");
    for url in std::iter::once(&notification_url).chain(lifecycle_url.iter()) {
        if let Err(message) = acceptable_url(url) {
            return invalid_request(&message);
        }
    }
    let Some(expiration) = body.get("expirationDateTime") else {
        return invalid_request("expirationDateTime is a required property.");
    };
    let expiration = match parse_expiration(expiration) {
        Ok(at) => at,
        Err(message) => return invalid_request(&message),
    };
    let client_state = text("clientState");
    if client_state
        .as_ref()
        .is_some_and(|s| s.chars().count() > 128)
    {
        return invalid_request("clientState must be at most 128 characters long.");
    }
    if let Err(message) = notify::validate(&shared, &notification_url).await {
        return wire::graph_error(StatusCode::BAD_REQUEST, "ValidationError", &message);
    }
    if let Some(url) = lifecycle_url.as_ref().filter(|u| **u != notification_url) {
        if let Err(message) = notify::validate(&shared, url).await {
            return wire::graph_error(StatusCode::BAD_REQUEST, "ValidationError", &message);
        }
    }
    let sub = SimSubscription {
        id: guid(),
        resource,
        change_type,
        notification_url,
        lifecycle_notification_url: lifecycle_url,
        client_state,
        expiration,
        application_id: shared.config.client_id.clone(),
        reauthorizations: 0,
        renewals: 0,
    };
    lock(&shared.world)
        .subscriptions
        .insert(sub.id.clone(), sub.clone());
    subscription_response(StatusCode::CREATED, &sub, true)
}

fn subscription_response(status: StatusCode, sub: &SimSubscription, with_state: bool) -> Response {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{METADATA}#subscriptions/$entity")),
    );
    body.extend(wire::subscription_json(sub, with_state));
    wire::graph_json(status, &Value::Object(body))
}

fn live_subscription(shared: &Shared, id: &str) -> Option<SimSubscription> {
    let now = Utc::now();
    lock(&shared.world)
        .subscriptions
        .get(id)
        .filter(|s| s.expiration > now)
        .cloned()
}

async fn list_subscriptions(State(shared): Shr) -> Response {
    let now = Utc::now();
    let value: Vec<Value> = lock(&shared.world)
        .subscriptions
        .values()
        .filter(|s| s.expiration > now)
        .map(|s| Value::Object(wire::subscription_json(s, false)))
        .collect();
    wire::graph_json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{METADATA}#subscriptions"), "value": value}),
    )
}

async fn get_subscription(State(shared): Shr, Path(id): Path<String>) -> Response {
    match live_subscription(&shared, &id) {
        Some(sub) => subscription_response(StatusCode::OK, &sub, false),
        None => subscription_not_found(),
    }
}

async fn patch_subscription(State(shared): Shr, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return invalid_request("Invalid request body: expected a JSON object.");
    };
    if live_subscription(&shared, &id).is_none() {
        return subscription_not_found();
    }
    if body.contains_key("lifecycleNotificationUrl") {
        return invalid_request(
            "lifecycleNotificationUrl cannot be added to or changed on an existing subscription.",
        );
    }
    let mut expiration = None;
    let mut notification_url = None;
    for (name, value) in &body {
        match name.as_str() {
            "expirationDateTime" => match parse_expiration(value) {
                Ok(at) => expiration = Some(at),
                Err(message) => return invalid_request(&message),
            },
            "notificationUrl" => match value.as_str() {
                Some(url) => {
                    if let Err(message) = acceptable_url(url) {
                        return invalid_request(&message);
                    }
                    notification_url = Some(url.to_string());
                }
                None => return invalid_request("notificationUrl must be a string."),
            },
            other => {
                return invalid_request(&format!(
                    "Property '{other}' cannot be updated on a subscription."
                ))
            }
        }
    }
    if let Some(url) = &notification_url {
        if let Err(message) = notify::validate(&shared, url).await {
            return wire::graph_error(StatusCode::BAD_REQUEST, "ValidationError", &message);
        }
    }
    let mut world = lock(&shared.world);
    let Some(sub) = world.subscriptions.get_mut(&id) else {
        return subscription_not_found();
    };
    if let Some(at) = expiration {
        sub.expiration = at;
        sub.renewals += 1;
    }
    if let Some(url) = notification_url {
        sub.notification_url = url;
    }
    let sub = sub.clone();
    drop(world);
    subscription_response(StatusCode::OK, &sub, false)
}

async fn delete_subscription(State(shared): Shr, Path(id): Path<String>) -> Response {
    let removed = lock(&shared.world).subscriptions.remove(&id).is_some();
    if removed {
        wire::no_content()
    } else {
        subscription_not_found()
    }
}

async fn reauthorize(State(shared): Shr, Path(id): Path<String>) -> Response {
    if live_subscription(&shared, &id).is_none() {
        return subscription_not_found();
    }
    if let Some(sub) = lock(&shared.world).subscriptions.get_mut(&id) {
        sub.reauthorizations += 1;
    }
    wire::no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_state_round_trips_and_rejects_garbage() {
        let state = DeltaState {
            generation: 2,
            since: Some(7),
            snapshot: 9,
            offset: 100,
            select: Some("id,accountEnabled".into()),
        };
        let token = encode_state('s', &state);
        assert_eq!(decode_state('s', &token), Some(state.clone()));
        assert_eq!(
            decode_state('d', &token),
            None,
            "kinds are not interchangeable"
        );
        assert_eq!(decode_state('s', "zz"), None);
        assert_eq!(decode_state('s', "abc"), None);
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        assert!(acceptable_url("https://leaver.example.com/hooks/entra").is_ok());
        assert!(acceptable_url("http://127.0.0.1:8080/hooks/entra").is_ok());
        assert!(acceptable_url("http://leaver.example.com/hooks/entra").is_err());
        assert!(acceptable_url("not a url").is_err());
    }
}
