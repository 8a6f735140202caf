//! Request handling of the simulated GitLab: one handler behind the router's fallback
//! that logs, applies injected faults and latency, authenticates, throttles and
//! dispatches by path (table in the module docs of `gitlab`).

use super::wire::{self, RateHeaders};
use super::world::{BlockError, SourceKind, World};
use super::{lock, RequestRecord, Shared, LOG_CAPACITY};
use crate::faults::Fault;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const PREFIX: &str = "/api/v4/";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// Pushes the record when dropped, so a request whose client gave up is logged too.
struct LogGuard<'a> {
    shared: &'a Shared,
    record: RequestRecord,
}

impl Drop for LogGuard<'_> {
    fn drop(&mut self) {
        let mut log = lock(&self.shared.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(self.record.clone());
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `PRIVATE-TOKEN`, else `Authorization: Bearer`.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = header_text(headers, "private-token") {
        return Some(token);
    }
    let auth = header_text(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, value) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| value.trim().to_string())
        .filter(|t| !t.is_empty())
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let token = presented_token(request.headers());
    let mut guard = LogGuard {
        shared: &shared,
        record: RequestRecord {
            at: SystemTime::now(),
            method: method.clone(),
            path: path.clone(),
            query: (!query.is_empty()).then(|| query.clone()),
            token_sent: token.is_some(),
            fault: None,
            status: 0,
        },
    };
    let decision = shared.faults.decide(&method, &path);
    guard.record.fault = decision.fault.as_ref().map(Fault::label);
    let response = if !shared.signal.sleep(decision.latency).await {
        wire::fault_status(503)
    } else {
        match decision.fault {
            None => serve(&shared, &method, &path, &query, token.as_deref()),
            Some(Fault::Status(code)) => wire::fault_status(code),
            Some(Fault::RateLimited { retry_after, .. }) => wire::throttled(
                &RateHeaders::exhausted(600, retry_after.unwrap_or(Duration::from_secs(60))),
            ),
            Some(Fault::Hang(duration)) => {
                shared.signal.sleep(duration).await;
                wire::fault_status(504)
            }
            Some(Fault::SlowApply(duration)) => {
                let response = serve(&shared, &method, &path, &query, token.as_deref());
                shared.signal.sleep(duration).await;
                response
            }
        }
    };
    guard.record.status = response.status().as_u16();
    response
}

/// Who is calling.
#[derive(Debug, Clone, Copy)]
struct Caller {
    user_id: u64,
    admin: bool,
}

/// Why a request was not authenticated.
enum Denied {
    /// No, unknown or revoked token: 401.
    Unauthorized,
    /// The token's user is blocked: 403.
    Blocked,
}

impl Denied {
    fn response(self) -> Response {
        match self {
            Denied::Unauthorized => wire::unauthorized(),
            Denied::Blocked => wire::forbidden(Some("Your account has been blocked.")),
        }
    }
}

fn authenticate(shared: &Shared, world: &mut World, token: Option<&str>) -> Result<Caller, Denied> {
    let token = token.ok_or(Denied::Unauthorized)?;
    let user_id = if token == shared.token {
        shared.admin_id
    } else {
        let pat = world
            .pat_by_secret_mut(token)
            .filter(|p| !p.revoked)
            .ok_or(Denied::Unauthorized)?;
        pat.last_used_at = Some(SystemTime::now());
        pat.user_id
    };
    let user = world.user(user_id).ok_or(Denied::Unauthorized)?;
    if user.state.is_blocked() {
        return Err(Denied::Blocked);
    }
    Ok(Caller {
        user_id,
        admin: user.admin,
    })
}

/// Count one authenticated request. `Err`: over the limit (answer 429).
fn throttle(shared: &Shared) -> Result<Option<RateHeaders>, RateHeaders> {
    let mut throttle = lock(&shared.throttle);
    let Some(t) = throttle.as_mut() else {
        return Ok(None);
    };
    let now = SystemTime::now();
    if now >= t.window_start + t.period {
        t.window_start = now;
        t.observed = 0;
    }
    t.observed += 1;
    let rate = RateHeaders {
        limit: t.limit,
        observed: t.observed,
        reset_at: t.window_start + t.period,
    };
    if t.observed > t.limit {
        return Err(rate);
    }
    Ok(Some(rate))
}

fn serve(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    token: Option<&str>,
) -> Response {
    let Some(rel) = path.strip_prefix(PREFIX) else {
        return wire::no_route();
    };
    let mut world = lock(&shared.world);
    let caller = match authenticate(shared, &mut world, token) {
        Ok(caller) => caller,
        Err(denied) => return denied.response(),
    };
    let rate = match throttle(shared) {
        Ok(rate) => rate,
        Err(rate) => return wire::throttled(&rate),
    };
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let request = Req {
        shared,
        caller,
        params: &params,
        url: format!("{}{path}", shared.base_url),
        query,
    };
    let segments: Vec<String> = rel
        .trim_end_matches('/')
        .split('/')
        .map(|s| {
            form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut response = dispatch(&mut world, &request, method, &segments);
    if let Some(rate) = rate {
        rate.apply(response.headers_mut());
    }
    response
}

/// What every endpoint needs to know about the request.
struct Req<'a> {
    shared: &'a Shared,
    caller: Caller,
    params: &'a BTreeMap<String, String>,
    /// Absolute URL without the query, for `Link`.
    url: String,
    query: &'a str,
}

impl Req<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    fn page(&self, items: Vec<Value>) -> Response {
        match wire::page_params(self.param("per_page"), self.param("page")) {
            Ok((per_page, page)) => wire::paginated(items, per_page, page, &self.url, self.query),
            Err(name) => wire::invalid_param(name),
        }
    }
}

fn dispatch(world: &mut World, req: &Req<'_>, method: &Method, segments: &[&str]) -> Response {
    let id = |s: &str| s.parse::<u64>().ok();
    match (method.as_str(), segments) {
        ("GET", ["users"]) => list_users(world, req),
        ("GET", ["users", user]) => match id(user).and_then(|u| world.user(u)) {
            Some(user) => wire::json_response(
                StatusCode::OK,
                &wire::user(&req.shared.base_url, user, req.caller.admin),
            ),
            None => wire::not_found("User Not Found"),
        },
        ("POST", ["users", user, "block"]) => {
            if !req.caller.admin {
                return wire::forbidden(None);
            }
            match world.block(id(user).unwrap_or(0), Some(req.caller.user_id)) {
                Ok(_) => wire::json_response(StatusCode::CREATED, &Value::Bool(true)),
                Err(BlockError::NotFound) => wire::not_found("User Not Found"),
                Err(BlockError::Forbidden(reason)) => wire::forbidden(Some(reason)),
            }
        }
        ("GET", ["users", user, "memberships"]) => {
            if !req.caller.admin {
                return wire::forbidden(None);
            }
            let Some(user) = id(user).filter(|u| world.user(*u).is_some()) else {
                return wire::not_found("User Not Found");
            };
            let kind = match req.param("type") {
                None => None,
                Some("Namespace") => Some(SourceKind::Group),
                Some("Project") => Some(SourceKind::Project),
                Some(_) => {
                    return wire::json_response(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": "type does not have a valid value"}),
                    )
                }
            };
            let items = world
                .memberships_of(user)
                .into_iter()
                .filter(|(k, _, _)| kind.is_none_or(|want| want == *k))
                .filter_map(|(k, source, level)| {
                    world
                        .source(k, source)
                        .map(|s| wire::membership(k, s, level))
                })
                .collect();
            req.page(items)
        }
        ("GET", ["personal_access_tokens"]) => list_pats(world, req),
        ("GET", ["personal_access_tokens", pat]) => match id(pat).and_then(|p| world.pat(p)) {
            Some(pat) if req.caller.admin || pat.user_id == req.caller.user_id => {
                wire::json_response(StatusCode::OK, &wire::pat(pat))
            }
            None if req.caller.admin => wire::not_found("Not Found"),
            _ => wire::unauthorized(),
        },
        ("DELETE", ["personal_access_tokens", pat]) => {
            let Some(found) = id(pat).and_then(|p| world.pat(p)).cloned() else {
                return if req.caller.admin {
                    wire::not_found("Not Found")
                } else {
                    wire::unauthorized()
                };
            };
            if !req.caller.admin && found.user_id != req.caller.user_id {
                return wire::unauthorized();
            }
            match world.revoke_pat(found.id) {
                Some(true) => wire::no_content(),
                _ => wire::message(
                    StatusCode::BAD_REQUEST,
                    "400 Bad request - Token already revoked",
                ),
            }
        }
        ("DELETE", [kind @ ("groups" | "projects"), source, "members", user]) => {
            let (kind, missing) = if *kind == "groups" {
                (SourceKind::Group, "Group Not Found")
            } else {
                (SourceKind::Project, "Project Not Found")
            };
            let Some(source) = world.find_source(kind, source).map(|s| s.id) else {
                return wire::not_found(missing);
            };
            if !req.caller.admin {
                return wire::forbidden(None);
            }
            if world.remove_member(kind, source, id(user).unwrap_or(0)) {
                wire::no_content()
            } else {
                wire::not_found("Not found")
            }
        }
        _ => wire::no_route(),
    }
}

fn list_users(world: &World, req: &Req<'_>) -> Response {
    let admin = req.caller.admin;
    let matches = |u: &super::world::User| {
        if let Some(username) = req.param("username") {
            return u.username.eq_ignore_ascii_case(username.trim());
        }
        let Some(search) = req.param("search").map(str::trim).filter(|s| !s.is_empty()) else {
            return true;
        };
        let needle = search.to_lowercase();
        let email_hit = |e: &str| e.eq_ignore_ascii_case(search);
        u.username.to_lowercase().contains(&needle)
            || u.name.to_lowercase().contains(&needle)
            || (admin && email_hit(&u.email))
            || u.public_email.as_deref().is_some_and(email_hit)
    };
    let items = world
        .users()
        .filter(|u| matches(u))
        .map(|u| wire::user(&req.shared.base_url, u, admin))
        .collect();
    req.page(items)
}

fn list_pats(world: &World, req: &Req<'_>) -> Response {
    let user_filter = match req.param("user_id") {
        None => (!req.caller.admin).then_some(req.caller.user_id),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(u) if req.caller.admin || u == req.caller.user_id => Some(u),
            Ok(_) => return wire::unauthorized(),
            Err(_) => return wire::invalid_param("user_id"),
        },
    };
    let state = match req.param("state") {
        None => None,
        Some("active") => Some(true),
        Some("inactive") => Some(false),
        Some(_) => {
            return wire::json_response(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": "state does not have a valid value"}),
            )
        }
    };
    let items = world
        .pats()
        .filter(|p| user_filter.is_none_or(|u| p.user_id == u))
        .filter(|p| state.is_none_or(|active| active != p.revoked))
        .map(wire::pat)
        .collect();
    req.page(items)
}
