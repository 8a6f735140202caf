//! The layer every request passes: request log, injected latency and faults, auth, API
//! version, primary rate limit, and the headers GitHub puts on every answer.

use super::app::{bearer, AuthKind};
use super::log::RequestRecord;
use super::ratelimit::RateSnapshot;
use super::wire::{self, docs};
use super::{lock, Shared, SUPPORTED_API_VERSIONS};
use crate::faults::Fault;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The version GitHub serves when the client sends none.
const DEFAULT_API_VERSION: &str = "2022-11-28";

/// Pushes the request's record to the log when dropped, so a request whose client went
/// away mid-answer (a timeout) is still logged, with status 0.
struct LogGuard<'a> {
    shared: &'a Shared,
    record: RequestRecord,
    started: Instant,
}

impl Drop for LogGuard<'_> {
    fn drop(&mut self) {
        let mut record = self.record.clone();
        record.elapsed = self.started.elapsed();
        lock(&self.shared.log).push(record);
    }
}

/// What the inner part of the gate produced.
struct Served {
    response: Response,
    /// The rate-limit numbers to report, when this request was counted (or refused).
    snapshot: Option<RateSnapshot>,
    rate_limited: bool,
}

impl Served {
    fn plain(response: Response) -> Self {
        Self {
            response,
            snapshot: None,
            rate_limited: false,
        }
    }
}

/// The middleware function (see the module docs).
pub(crate) async fn gate(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = shared.counters.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let started = Instant::now();
    let record = RequestRecord::new(request.method(), request.uri(), request.headers());
    let mut guard = LogGuard {
        shared: &shared,
        record,
        started,
    };
    let version = requested_version(request.headers());
    let decision = shared.faults.decide(request.method(), request.uri().path());
    guard.record.fault = decision.fault.as_ref().map(Fault::label);

    let served = if !shared.signal.sleep(decision.latency).await {
        Served::plain(shutting_down())
    } else {
        match decision.fault {
            None => serve(&shared, request, next, &mut guard.record).await,
            Some(Fault::Status(code)) => Served::plain(fault_status(code)),
            Some(Fault::RateLimited {
                status,
                retry_after,
            }) => Served {
                response: secondary_limit(status, retry_after),
                snapshot: None,
                rate_limited: true,
            },
            Some(Fault::Hang(duration)) => {
                shared.signal.sleep(duration).await;
                Served::plain(fault_status(504))
            }
            Some(Fault::SlowApply(duration)) => {
                let served = serve(&shared, request, next, &mut guard.record).await;
                shared.signal.sleep(duration).await;
                served
            }
        }
    };

    let Served {
        mut response,
        snapshot,
        rate_limited,
    } = served;
    let snapshot = snapshot.unwrap_or_else(|| lock(&shared.limiter).peek(SystemTime::now()));
    let selected = match &version {
        Version::Valid(v) => v.clone(),
        _ => DEFAULT_API_VERSION.to_string(),
    };
    add_common_headers(response.headers_mut(), &snapshot, &selected, request_id);
    if rate_limited {
        shared.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
    let record = &mut guard.record;
    record.status = response.status().as_u16();
    record.rate_limited = rate_limited;
    response
}

/// Auth, version and primary limit, then the route.
async fn serve(
    shared: &Shared,
    mut request: Request,
    next: Next,
    record: &mut RequestRecord,
) -> Served {
    if is_app_jwt_route(request.uri().path()) {
        // Authenticated by the app's JWT in the handler; not counted against the
        // installation's limit.
        return Served::plain(next.run(request).await);
    }
    match authenticate(shared, request.headers()) {
        Ok(kind) => {
            record.auth_ok = true;
            request.extensions_mut().insert(kind);
        }
        Err(message) => {
            return Served::plain(wire::error(StatusCode::UNAUTHORIZED, message, docs::REST))
        }
    }
    if let Version::Invalid(value) = requested_version(request.headers()) {
        return Served::plain(wire::error(
            StatusCode::BAD_REQUEST,
            &format!(
                "The version you specified is not a supported version: '{value}'. Supported versions: {}.",
                SUPPORTED_API_VERSIONS.join(", ")
            ),
            docs::API_VERSIONS,
        ));
    }
    let now = SystemTime::now();
    if request.uri().path() == "/rate_limit" {
        // GitHub does not count calls to /rate_limit.
        let snapshot = lock(&shared.limiter).peek(now);
        return Served {
            response: next.run(request).await,
            snapshot: Some(snapshot),
            rate_limited: false,
        };
    }
    let admitted = lock(&shared.limiter).admit(now);
    match admitted {
        Ok(snapshot) => Served {
            response: next.run(request).await,
            snapshot: Some(snapshot),
            rate_limited: false,
        },
        Err(snapshot) => {
            shared
                .counters
                .primary_rejections
                .fetch_add(1, Ordering::Relaxed);
            Served {
                response: wire::error(
                    shared.rate_limit_status,
                    &format!(
                        "API rate limit exceeded for installation ID {}.",
                        shared.installation_id
                    ),
                    docs::RATE_LIMITS,
                ),
                snapshot: Some(snapshot),
                rate_limited: true,
            }
        }
    }
}

/// `POST /app/installations/{id}/access_tokens`: authenticated with the app's JWT.
fn is_app_jwt_route(path: &str) -> bool {
    path.starts_with("/app/installations/") && path.ends_with("/access_tokens")
}

/// The configured token, or a live installation token.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<AuthKind, &'static str> {
    match check_auth(&shared.token, headers) {
        Ok(()) => Ok(AuthKind::Token),
        Err(message) => bearer(headers)
            .and_then(|token| lock(&shared.apps).installation_of(token, SystemTime::now()))
            .map(AuthKind::Installation)
            .ok_or(message),
    }
}

/// `Authorization: Bearer <token>` or `token <token>` (scheme case-insensitive), sent
/// exactly once. `Err` carries GitHub's 401 message.
fn check_auth(token: &str, headers: &HeaderMap) -> Result<(), &'static str> {
    const BAD: &str = "Bad credentials";
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err("Requires authentication");
    };
    if values.next().is_some() {
        return Err(BAD);
    }
    let value = value.to_str().map_err(|_| BAD)?;
    let (scheme, credential) = value.trim().split_once(' ').ok_or(BAD)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    if scheme_ok && !token.is_empty() && credential.trim() == token {
        Ok(())
    } else {
        Err(BAD)
    }
}

enum Version {
    Absent,
    Valid(String),
    Invalid(String),
}

fn requested_version(headers: &HeaderMap) -> Version {
    let values: Vec<String> = headers
        .get_all("x-github-api-version")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .collect();
    match values.as_slice() {
        [] => Version::Absent,
        [one] if SUPPORTED_API_VERSIONS.contains(&one.as_str()) => Version::Valid(one.clone()),
        // Several values arrive as one comma-joined header on the real service.
        _ => Version::Invalid(values.join(", ")),
    }
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An injected status, with GitHub's body for it (no body for 304 and friends).
fn fault_status(code: u16) -> Response {
    let status = status_code(code);
    if status.is_server_error() {
        return wire::error(status, wire::server_error_message(status), docs::REST);
    }
    match status.as_u16() {
        401 => wire::error(status, "Bad credentials", docs::REST),
        404 => wire::not_found(docs::REST),
        429 => secondary_limit(429, None),
        _ if status.is_client_error() => wire::error(
            status,
            status.canonical_reason().unwrap_or("Error"),
            docs::REST,
        ),
        _ => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            response
        }
    }
}

/// GitHub's secondary rate limit answer.
fn secondary_limit(code: u16, retry_after: Option<Duration>) -> Response {
    let mut response = wire::error(
        status_code(code),
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. \
         If you reach out to GitHub Support for help, please include the request ID.",
        docs::SECONDARY,
    );
    if let Some(wait) = retry_after {
        // Retry-After is whole seconds; round a sub-second wait up so it is never 0.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn shutting_down() -> Response {
    fault_status(503)
}

fn add_common_headers(
    headers: &mut HeaderMap,
    snapshot: &RateSnapshot,
    version: &str,
    request_id: u64,
) {
    let mut set = |name: &'static str, value: HeaderValue| {
        headers.insert(HeaderName::from_static(name), value);
    };
    set("x-ratelimit-limit", HeaderValue::from(snapshot.limit));
    set(
        "x-ratelimit-remaining",
        HeaderValue::from(snapshot.remaining),
    );
    set("x-ratelimit-used", HeaderValue::from(snapshot.used));
    set("x-ratelimit-reset", HeaderValue::from(snapshot.reset));
    set("x-ratelimit-resource", HeaderValue::from_static("core"));
    set(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    if let Ok(value) = HeaderValue::from_str(version) {
        set("x-github-api-version-selected", value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("0F3E:2B1A9C:{request_id:X}:SIM")) {
        set("x-github-request-id", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn auth_accepts_bearer_and_token_schemes_only_with_the_right_token() {
        assert!(check_auth("s3cret", &headers(&[("authorization", "Bearer s3cret")])).is_ok());
        assert!(check_auth("s3cret", &headers(&[("authorization", "token s3cret")])).is_ok());
        assert!(check_auth("s3cret", &headers(&[("authorization", "bearer s3cret")])).is_ok());
        for bad in ["Bearer nope", "Basic s3cret", "s3cret", "Bearer"] {
            let err = check_auth("s3cret", &headers(&[("authorization", bad)])).unwrap_err();
            assert_eq!(err, "Bad credentials", "{bad}");
        }
        assert_eq!(
            check_auth("s3cret", &headers(&[])),
            Err("Requires authentication")
        );
        let twice = headers(&[
            ("authorization", "Bearer s3cret"),
            ("authorization", "Bearer s3cret"),
        ]);
        assert!(check_auth("s3cret", &twice).is_err());
        assert!(check_auth("", &headers(&[("authorization", "Bearer ")])).is_err());
    }

    #[test]
    fn versions() {
        assert!(matches!(requested_version(&headers(&[])), Version::Absent));
        assert!(matches!(
            requested_version(&headers(&[("x-github-api-version", "2026-03-10")])),
            Version::Valid(_)
        ));
        assert!(matches!(
            requested_version(&headers(&[("x-github-api-version", "2021-01-01")])),
            Version::Invalid(_)
        ));
        let twice = headers(&[
            ("x-github-api-version", "2022-11-28"),
            ("x-github-api-version", "2026-03-10"),
        ]);
        assert!(
            matches!(requested_version(&twice), Version::Invalid(v) if v == "2022-11-28, 2026-03-10")
        );
    }
}
