//! Request handling of the simulated IAM: one handler for every path, which reads the
//! form, logs the call, applies injected faults and latency, authenticates, and
//! dispatches to IAM or STS by `Version` (or by action when `Version` is absent).

use super::auth::{self, Caller};
use super::error::IamError;
use super::query::Params;
use super::wire::{self, IAM_NS, STS_NS};
use super::world::{uuid, World};
use super::{actions, lock, sts, RequestRecord, Shared};
use crate::faults::Fault;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Largest request body read (IAM's limit is far larger than any call here needs).
const MAX_BODY: usize = 1 << 20;

const IAM_VERSION: &str = "2010-05-08";
const STS_VERSION: &str = "2011-06-15";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// Which API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Iam,
    Sts,
}

impl Service {
    fn ns(self) -> &'static str {
        match self {
            Service::Iam => IAM_NS,
            Service::Sts => STS_NS,
        }
    }

    /// From `Version`, else from the action's name.
    fn of(action: &str, version: Option<&str>) -> Result<Self, IamError> {
        match version {
            Some(IAM_VERSION) => Ok(Service::Iam),
            Some(STS_VERSION) => Ok(Service::Sts),
            Some(other) => Err(IamError::invalid_action(action, other)),
            None if sts::ACTIONS.contains(&action) => Ok(Service::Sts),
            None => Ok(Service::Iam),
        }
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

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let request_id = uuid();
    let mut guard = LogGuard {
        shared: &shared,
        record: RequestRecord {
            at: SystemTime::now(),
            action: String::new(),
            params: Default::default(),
            access_key_id: None,
            account_id: None,
            fault: None,
            error_code: None,
            status: 0,
            elapsed: Duration::ZERO,
        },
        started,
    };
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let parsed = match body {
        Ok(bytes) => Params::parse(parts.uri.query(), &bytes),
        Err(_) => Err(IamError::malformed_query("The request body is too large.")),
    };
    let params = match parsed {
        Ok(params) => params,
        Err(e) => return finish(&mut guard, wire::error(IAM_NS, &e, &request_id), &e),
    };
    let action = params.get("Action").unwrap_or_default().to_string();
    guard.record.action = action.clone();
    guard.record.params = params
        .names()
        .filter(|n| !matches!(*n, "Action" | "Version"))
        .filter_map(|n| params.get(n).map(|v| (n.to_string(), v.to_string())))
        .collect();

    // Faults are scoped by `/<Action>/` so that `on_path("/DeleteUser/")` hits one
    // action and `on_path("/Delete")` every deletion.
    let fault_path = if action.is_empty() {
        "/".to_string()
    } else {
        format!("/{action}/")
    };
    let decision = shared.faults.decide(&parts.method, &fault_path);
    guard.record.fault = decision.fault.as_ref().map(Fault::label);
    if !shared.signal.sleep(decision.latency).await {
        let e = IamError::server(StatusCode::SERVICE_UNAVAILABLE);
        return finish(&mut guard, wire::error(IAM_NS, &e, &request_id), &e);
    }
    let ns = Service::of(&action, params.get("Version"))
        .map(Service::ns)
        .unwrap_or(IAM_NS);
    match decision.fault {
        None => serve(
            &shared,
            &parts.headers,
            &params,
            &request_id,
            &mut guard.record,
        ),
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if matches!(code, 502 | 504) {
                let response = wire::gateway(status);
                guard.record.status = code;
                return response;
            }
            let e = if code == 429 {
                IamError::throttling()
            } else {
                IamError::server(status)
            };
            finish(&mut guard, wire::error(ns, &e, &request_id), &e)
        }
        Some(Fault::RateLimited { .. }) => {
            let e = IamError::throttling();
            finish(&mut guard, wire::error(ns, &e, &request_id), &e)
        }
        Some(Fault::Hang(duration)) => {
            shared.signal.sleep(duration).await;
            guard.record.status = 504;
            wire::gateway(StatusCode::GATEWAY_TIMEOUT)
        }
        Some(Fault::SlowApply(duration)) => {
            let response = serve(
                &shared,
                &parts.headers,
                &params,
                &request_id,
                &mut guard.record,
            );
            shared.signal.sleep(duration).await;
            response
        }
    }
}

fn finish(guard: &mut LogGuard<'_>, response: Response, e: &IamError) -> Response {
    guard.record.status = response.status().as_u16();
    guard.record.error_code = Some(e.code.to_string());
    response
}

/// Authenticate and apply the action; records the caller, status and error code.
fn serve(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
    request_id: &str,
    record: &mut RequestRecord,
) -> Response {
    let mut ns = IAM_NS;
    let result = (|| {
        let akid = auth::access_key_id(headers)?;
        record.access_key_id = Some(akid.clone());
        let session = lock(&shared.sessions).get(&akid).cloned();
        let caller = auth::resolve(&akid, headers, &shared.access_key_id, session)?;
        let action = params.get("Action").ok_or_else(IamError::missing_action)?;
        let service = Service::of(action, params.get("Version"))?;
        ns = service.ns();
        let account = match &caller {
            Caller::Operator => shared.account_id.clone(),
            Caller::Role(session) => session.account_id.clone(),
        };
        record.account_id = Some(account.clone());
        let result = match service {
            Service::Sts => sts::run(shared, &caller, action, params)?,
            Service::Iam => {
                let mut worlds = lock(&shared.worlds);
                let world = worlds
                    .entry(account.clone())
                    .or_insert_with(|| World::new(&account));
                actions::run(world, action, params)?
            }
        };
        Ok::<_, IamError>((action.to_string(), result))
    })();
    match result {
        Ok((action, result)) => {
            record.status = 200;
            wire::ok(ns, &action, result, request_id)
        }
        Err(e) => {
            let response = wire::error(ns, &e, request_id);
            record.status = response.status().as_u16();
            record.error_code = Some(e.code.to_string());
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_by_version_or_action() {
        assert_eq!(Service::of("GetUser", Some("2010-05-08")), Ok(Service::Iam));
        assert_eq!(
            Service::of("AssumeRole", Some("2011-06-15")),
            Ok(Service::Sts)
        );
        assert_eq!(Service::of("GetCallerIdentity", None), Ok(Service::Sts));
        assert_eq!(
            Service::of("GetUser", Some("2099-01-01")).unwrap_err().code,
            "InvalidAction"
        );
    }
}
