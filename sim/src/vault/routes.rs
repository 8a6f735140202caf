//! Request handling of the simulated Vault: one handler behind the router's fallback
//! (Vault's `LIST` verb cannot be routed by method in axum), which logs, applies injected
//! faults and latency, authenticates, resolves the namespace and dispatches by path.

use super::wire;
use super::world::{LoginError, World};
use super::{lock, RequestRecord, Shared};
use crate::faults::Fault;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Largest request body read (Vault's default `max_request_size` is 32 MiB; ours is
/// smaller, the API calls here are tiny).
const MAX_BODY: usize = 1 << 20;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// The operation Vault derives from the HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    List,
    Write,
    Delete,
}

fn operation(method: &Method, query: Option<&str>) -> Option<Op> {
    let list_param = query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "list" && (v == "true" || v == "1"))
    });
    match method.as_str() {
        "GET" if list_param => Some(Op::List),
        "GET" => Some(Op::Read),
        "LIST" => Some(Op::List),
        "POST" | "PUT" => Some(Op::Write),
        "DELETE" => Some(Op::Delete),
        _ => None,
    }
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

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
}

/// `X-Vault-Token`, else `Authorization: Bearer`.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = header_text(headers, "x-vault-token").filter(|t| !t.is_empty()) {
        return Some(token);
    }
    let auth = header_text(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, value) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| value.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The namespace of a request: `X-Vault-Namespace` without its slashes; `""` is root.
fn namespace_of(headers: &HeaderMap) -> String {
    let ns = header_text(headers, "x-vault-namespace").unwrap_or_default();
    let ns = ns.trim_matches('/');
    if ns == "root" {
        String::new()
    } else {
        ns.to_string()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let namespace = namespace_of(&parts.headers);
    let token = presented_token(&parts.headers);
    let mut guard = LogGuard {
        shared: &shared,
        record: RequestRecord {
            at: std::time::SystemTime::now(),
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
            namespace: (!namespace.is_empty()).then(|| namespace.clone()),
            token_sent: token.is_some(),
            auth_ok: false,
            fault: None,
            status: 0,
            elapsed: std::time::Duration::ZERO,
        },
        started,
    };
    let decision = shared.faults.decide(&parts.method, &path);
    guard.record.fault = decision.fault.as_ref().map(Fault::label);
    let rel = path.strip_prefix("/v1/").unwrap_or("").to_string();

    let response = if !shared.signal.sleep(decision.latency).await {
        wire::fault_status(503, &rel)
    } else {
        match decision.fault {
            None => {
                let body = axum::body::to_bytes(body, MAX_BODY)
                    .await
                    .unwrap_or_default();
                serve(
                    &shared,
                    &parts.method,
                    &path,
                    query.as_deref(),
                    &namespace,
                    token.as_deref(),
                    &body,
                    &mut guard.record,
                )
            }
            Some(Fault::Status(code)) => wire::fault_status(code, &rel),
            Some(Fault::RateLimited { retry_after, .. }) => wire::rate_limited(&rel, retry_after),
            Some(Fault::Hang(duration)) => {
                shared.signal.sleep(duration).await;
                wire::fault_status(504, &rel)
            }
            Some(Fault::SlowApply(duration)) => {
                let body = axum::body::to_bytes(body, MAX_BODY)
                    .await
                    .unwrap_or_default();
                let response = serve(
                    &shared,
                    &parts.method,
                    &path,
                    query.as_deref(),
                    &namespace,
                    token.as_deref(),
                    &body,
                    &mut guard.record,
                );
                shared.signal.sleep(duration).await;
                response
            }
        }
    };
    guard.record.status = response.status().as_u16();
    response
}

/// Who is calling.
enum Caller {
    /// The configured operator token: everything is allowed.
    Admin,
    /// Any other live token (its accessor): only `auth/token/lookup-self`.
    User(String),
}

#[allow(clippy::too_many_arguments)]
fn serve(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    namespace: &str,
    token: Option<&str>,
    body: &Bytes,
    record: &mut RequestRecord,
) -> Response {
    let Some(rel) = path.strip_prefix("/v1/") else {
        return wire::errors(StatusCode::NOT_FOUND, &[]);
    };
    let Some(op) = operation(method, query) else {
        return wire::unsupported_operation();
    };
    let params = match parse_body(body) {
        Ok(params) => params,
        Err(message) => return wire::bad_request(&message),
    };
    let segments: Vec<&str> = rel.trim_end_matches('/').split('/').collect();

    // Unauthenticated endpoints.
    if segments == ["sys", "health"] && op == Op::Read {
        return wire::json_response(
            StatusCode::OK,
            &json!({"initialized": true, "sealed": false, "standby": false,
                    "performance_standby": false, "version": "1.19.0", "cluster_name": "vault-sim"}),
        );
    }
    let mut worlds = lock(&shared.worlds);
    if !worlds.contains_key(namespace) {
        return wire::no_handler(rel);
    }
    if let ["auth", mount, "login", username] = segments.as_slice() {
        if op != Op::Write {
            return wire::unsupported_operation();
        }
        let Some(world) = worlds.get_mut(namespace) else {
            return wire::no_handler(rel);
        };
        return login(world, mount, username, &params, rel);
    }

    // Everything else needs a token.
    let caller = match token {
        Some(t) if !shared.token.is_empty() && t == shared.token => Caller::Admin,
        Some(t) => {
            let found = [namespace, ""]
                .iter()
                .filter_map(|ns| worlds.get(*ns))
                .find_map(|w| w.token_by_secret(t).map(|tok| (w, tok)));
            match found {
                Some((world, tok)) => {
                    if world.entity(&tok.entity_id).is_some_and(|e| e.disabled) {
                        return wire::permission_denied();
                    }
                    Caller::User(tok.accessor.clone())
                }
                None => return wire::permission_denied(),
            }
        }
        None => return wire::permission_denied(),
    };
    record.auth_ok = true;
    let Some(world) = worlds.get_mut(namespace) else {
        return wire::no_handler(rel);
    };
    if let Caller::User(accessor) = caller {
        if segments == ["auth", "token", "lookup-self"] && matches!(op, Op::Read | Op::Write) {
            return match world.token(&accessor) {
                Some(tok) => wire::data(wire::token(tok, true), "token"),
                None => wire::permission_denied(),
            };
        }
        return wire::permission_denied();
    }

    if let Some(prefix) = rel.strip_prefix("sys/leases/revoke-prefix/") {
        if op != Op::Write {
            return wire::unsupported_operation();
        }
        if prefix.is_empty() {
            return wire::bad_request("missing prefix");
        }
        world.revoke_prefix(prefix);
        return wire::no_content();
    }
    if let Some(prefix) = rel.strip_prefix("sys/leases/lookup/") {
        if op != Op::List {
            return wire::unsupported_operation();
        }
        return wire::list(world.list_leases(prefix), None, "system");
    }
    if let [mount, kind @ ("data" | "metadata"), ..] = segments.as_slice() {
        if world.kv.is_mount(mount) {
            let mount = mount.to_string();
            let prefix = format!("{mount}/{kind}");
            let path = rel.strip_prefix(&prefix).unwrap_or("").to_string();
            let op = match op {
                Op::Read => super::kv::KvOp::Read,
                Op::List => super::kv::KvOp::List,
                Op::Write => super::kv::KvOp::Write,
                Op::Delete => super::kv::KvOp::Delete,
            };
            return super::kv::serve(&mut world.kv, op, &mount, kind, &path, &params);
        }
    }
    dispatch(world, op, &segments, &params, rel)
}

/// `Err`: Vault's 400 message.
fn parse_body(body: &Bytes) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("failed to parse JSON input: not an object".to_string()),
        Err(e) => Err(format!("failed to parse JSON input: {e}")),
    }
}

/// A string field (Vault's field parser also accepts numbers and booleans as strings).
fn field(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// `Err`: Vault's 400 message.
fn bool_field(params: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(Some(true)),
            "false" | "0" | "f" => Ok(Some(false)),
            _ => Err(format!(
                "error converting input {s} for field \"{name}\": cannot parse '{s}' as bool"
            )),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_i64() != Some(0))),
        Some(_) => Err(format!(
            "error converting input for field \"{name}\": expected bool"
        )),
    }
}

fn string_list(params: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    match params.get(name)? {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ),
        Value::String(s) => Some(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        _ => None,
    }
}

fn dispatch(
    world: &mut World,
    op: Op,
    segments: &[&str],
    params: &Map<String, Value>,
    rel: &str,
) -> Response {
    match (segments, op) {
        (["sys", "auth"], Op::Read) => {
            let mounts: Map<String, Value> = world
                .mounts()
                .map(|m| (m.path.clone(), wire::mount(m)))
                .collect();
            let mut body = mounts.clone();
            body.insert("request_id".into(), json!(super::world::uuid()));
            body.insert("data".into(), Value::Object(mounts));
            wire::json_response(StatusCode::OK, &Value::Object(body))
        }
        (["sys", "leases", "lookup"], Op::Write) => {
            let Some(id) = field(params, "lease_id").filter(|s| !s.is_empty()) else {
                return wire::bad_request("missing lease ID");
            };
            match world.lease(&id) {
                Some(lease) => wire::data(
                    json!({"id": lease.id, "issue_time": wire::rfc3339(lease.issued),
                           "expire_time": null, "last_renewal": null, "renewable": true, "ttl": 3600}),
                    "system",
                ),
                None => wire::bad_request("invalid lease"),
            }
        }
        (["sys", "leases", "revoke"], Op::Write) => {
            let Some(id) = field(params, "lease_id").filter(|s| !s.is_empty()) else {
                return wire::bad_request("missing lease ID");
            };
            world.revoke_lease(&id);
            wire::no_content()
        }
        (["identity", "lookup", "entity"], Op::Write) => lookup_entity(world, params),
        (["identity", "entity", "id"], Op::List) => {
            let mut info = Map::new();
            let keys: Vec<String> = world
                .entities()
                .map(|e| {
                    let aliases: Vec<Value> = world
                        .aliases_of(&e.id)
                        .into_iter()
                        .map(|a| json!({"id": a.id, "name": a.name, "mount_accessor": a.mount_accessor}))
                        .collect();
                    info.insert(e.id.clone(), json!({"name": e.name, "aliases": aliases}));
                    e.id.clone()
                })
                .collect();
            wire::list(keys, Some(info), "identity")
        }
        (["identity", "entity", "id", id], Op::Read) => match world.entity(id) {
            Some(entity) => wire::data(wire::entity(world, entity), "identity"),
            None => wire::empty_not_found(),
        },
        (["identity", "entity", "name", name], Op::Read) => match world.entity_by_name(name) {
            Some(entity) => wire::data(wire::entity(world, entity), "identity"),
            None => wire::empty_not_found(),
        },
        (["identity", "entity", "id", id], Op::Write) => update_entity(world, id, params),
        (["identity", "entity", "id", id], Op::Delete) => {
            world.delete_entity(id);
            wire::no_content()
        }
        (["identity", "entity-alias", "id"], Op::List) => {
            let keys = world.aliases().map(|a| a.id.clone()).collect();
            wire::list(keys, None, "identity")
        }
        (["identity", "entity-alias", "id", id], Op::Read) => match world.alias(id) {
            Some(alias) => wire::data(wire::alias(world, alias), "identity"),
            None => wire::empty_not_found(),
        },
        (["identity", "entity-alias", "id", id], Op::Delete) => {
            world.delete_alias(id);
            wire::no_content()
        }
        (["auth", "token", "accessors"], Op::List) => {
            let keys = world.tokens().map(|t| t.accessor.clone()).collect();
            wire::list(keys, None, "token")
        }
        (["auth", "token", "lookup-accessor"], Op::Write) => {
            let Some(accessor) = field(params, "accessor").filter(|s| !s.is_empty()) else {
                return wire::bad_request("missing accessor");
            };
            match world.token(&accessor) {
                Some(token) => wire::data(wire::token(token, false), "token"),
                None => wire::bad_request("invalid accessor"),
            }
        }
        (["auth", "token", "revoke-accessor"], Op::Write) => {
            let Some(accessor) = field(params, "accessor").filter(|s| !s.is_empty()) else {
                return wire::bad_request("missing accessor");
            };
            if world.revoke_token(&accessor) == 0 {
                return wire::bad_request("invalid accessor");
            }
            wire::no_content()
        }
        (["auth", mount, "users"], Op::List) if is_userpass(world, mount) => {
            wire::list(world.users_of(mount), None, "userpass")
        }
        (["auth", mount, "users", username], op) if is_userpass(world, mount) => {
            userpass_user(world, mount, username, op, params)
        }
        (["auth", mount, ..], _) if world.mount(mount).is_none() => wire::no_handler(rel),
        (["sys", ..] | ["identity", ..] | ["auth", "token", ..] | ["auth", _, "users", ..], _)
            if known_path(segments) =>
        {
            wire::unsupported_operation()
        }
        _ => wire::no_handler(rel),
    }
}

/// Paths that exist with some other operation (→ 405 rather than 404).
fn known_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["sys", "auth"]
            | ["sys", "leases", "lookup" | "revoke"]
            | ["identity", "lookup", "entity"]
            | ["identity", "entity", "id" | "name", ..]
            | ["identity", "entity-alias", "id", ..]
            | [
                "auth",
                "token",
                "accessors" | "lookup-accessor" | "revoke-accessor" | "lookup-self"
            ]
            | ["auth", _, "users", ..]
    )
}

fn is_userpass(world: &World, mount: &str) -> bool {
    world.mount(mount).is_some_and(|m| m.kind == "userpass")
}

/// `POST identity/lookup/entity`, with Vault's rules on the query parameters.
fn lookup_entity(world: &World, params: &Map<String, Value>) -> Response {
    let get = |name: &str| field(params, name).filter(|s| !s.is_empty());
    let id = get("id");
    let name = get("name");
    let alias_id = get("alias_id");
    let alias_name = get("alias_name");
    let alias_mount = get("alias_mount_accessor");
    let count = [&id, &name, &alias_id, &alias_name, &alias_mount]
        .iter()
        .filter(|v| v.is_some())
        .count();
    match count {
        0 => return wire::bad_request("query parameter not supplied"),
        1 if alias_name.is_some() || alias_mount.is_some() => {
            return wire::bad_request(
                "both 'alias_name' and 'alias_mount_accessor' needs to be set",
            )
        }
        1 => {}
        2 if alias_name.is_some() && alias_mount.is_some() => {}
        _ => {
            return wire::bad_request(
                "query parameter conflict; please supply distinct set of query parameters",
            )
        }
    }
    let found = if let Some(id) = id {
        world.entity(&id)
    } else if let Some(name) = name {
        world.entity_by_name(&name)
    } else if let Some(alias_id) = alias_id {
        world
            .alias(&alias_id)
            .and_then(|a| world.entity(&a.canonical_id))
    } else {
        let (Some(alias_name), Some(mount)) = (alias_name, alias_mount) else {
            return wire::bad_request("query parameter not supplied");
        };
        world
            .alias_by_name(&alias_name, &mount)
            .and_then(|a| world.entity(&a.canonical_id))
    };
    match found {
        Some(entity) => wire::data(wire::entity(world, entity), "identity"),
        // Vault's lookup returns nil, nil when nothing matches: 204, no body.
        None => wire::no_content(),
    }
}

/// `POST identity/entity/id/:id`: 204 for an update; 400 when the id is unknown.
fn update_entity(world: &mut World, id: &str, params: &Map<String, Value>) -> Response {
    if world.entity(id).is_none() {
        return wire::bad_request("entity not found from id");
    }
    let disabled = match bool_field(params, "disabled") {
        Ok(d) => d,
        Err(message) => return wire::bad_request(&message),
    };
    if let Some(policies) = string_list(params, "policies") {
        if policies.iter().any(|p| p == "root") {
            return wire::bad_request("policies cannot contain root");
        }
        if let Some(entity) = world.entities.get_mut(id) {
            entity.policies = policies;
        }
    }
    if let Some(name) = field(params, "name").filter(|n| !n.is_empty()) {
        if world.entity_by_name(&name).is_some_and(|e| e.id != id) {
            return wire::bad_request("entity name is already in use");
        }
        if let Some(entity) = world.entities.get_mut(id) {
            entity.name = name;
        }
    }
    if let Some(disabled) = disabled {
        world.set_disabled(id, disabled);
    }
    wire::no_content()
}

fn userpass_user(
    world: &mut World,
    mount: &str,
    username: &str,
    op: Op,
    params: &Map<String, Value>,
) -> Response {
    match op {
        Op::Read => match world.user(mount, username) {
            Some(user) => wire::data(
                json!({
                    "token_policies": user.policies,
                    "policies": user.policies,
                    "token_ttl": 0, "token_max_ttl": 0, "token_bound_cidrs": [],
                    "token_explicit_max_ttl": 0, "token_no_default_policy": false,
                    "token_num_uses": 0, "token_period": 0, "token_type": "default",
                    "bound_cidrs": [], "ttl": 0, "max_ttl": 0, "period": 0,
                }),
                "userpass",
            ),
            None => wire::empty_not_found(),
        },
        Op::Write => {
            let existing = world.user(mount, username).cloned();
            let password =
                field(params, "password").or(existing.as_ref().map(|u| u.password.clone()));
            let Some(password) = password else {
                return wire::bad_request("missing password");
            };
            let policies = string_list(params, "token_policies")
                .or_else(|| string_list(params, "policies"))
                .or(existing.map(|u| u.policies))
                .unwrap_or_default();
            let refs: Vec<&str> = policies.iter().map(String::as_str).collect();
            world.add_user(mount, username, &password, &refs);
            wire::no_content()
        }
        Op::Delete => {
            world.delete_user(mount, username);
            wire::no_content()
        }
        Op::List => wire::unsupported_operation(),
    }
}

fn login(
    world: &mut World,
    mount: &str,
    username: &str,
    params: &Map<String, Value>,
    rel: &str,
) -> Response {
    if world.mount(mount).is_none_or(|m| m.kind != "userpass") {
        return wire::no_handler(rel);
    }
    let password = field(params, "password").unwrap_or_default();
    match world.login(mount, username, &password) {
        Ok((issued, token)) => wire::json_response(
            StatusCode::OK,
            &json!({
                "request_id": super::world::uuid(),
                "lease_id": "", "renewable": false, "lease_duration": 0,
                "data": {}, "wrap_info": null, "warnings": null,
                "auth": {
                    "client_token": issued.token,
                    "accessor": issued.accessor,
                    "policies": token.policies,
                    "token_policies": token.policies,
                    "identity_policies": null,
                    "metadata": token.meta,
                    "lease_duration": token.ttl,
                    "renewable": true,
                    "entity_id": token.entity_id,
                    "token_type": "service",
                    "orphan": true,
                    "mfa_requirement": null,
                    "num_uses": 0,
                },
                "mount_type": "userpass",
            }),
        ),
        Err(LoginError::InvalidCredentials) => wire::bad_request("invalid username or password"),
        Err(LoginError::EntityDisabled) => wire::permission_denied(),
    }
}
