//! Rate limits on the public hooks (`/hooks/okta`, `/hooks/entra`, `/scim/v2`): one
//! token bucket per hook route (governor's GCRA), refilled at
//! `server.hook_rate_limit_per_second` and holding up to `server.hook_rate_limit_burst`
//! requests. The check runs before authentication and before the body is read, so a
//! flood of forged deliveries costs a counter update, nothing more.
//!
//! The buckets are per route, not per client: the senders are the identity providers'
//! shared egress pools, usually behind a load balancer whose address is the only peer
//! the server sees, so a per-address key would be one bucket anyway. Each route has its
//! own bucket: a flood on one hook does not refuse the others. A refused request is
//! answered 429 with `Retry-After` (whole seconds) in the route's own error shape and
//! stores nothing; the providers redeliver, and the Okta System Log and Graph users
//! delta reconciliations catch what a refused delivery would have started.

use super::error::ApiError;
use crate::config::ServerConfig;
use crate::intake::scim::error::ScimError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// One bucket per hook route; `None` when limiting is off (`hook_rate_limit_per_second = 0`).
#[derive(Clone, Default)]
pub struct HookLimits {
    okta: Option<Arc<DefaultDirectRateLimiter>>,
    entra: Option<Arc<DefaultDirectRateLimiter>>,
    scim: Option<Arc<DefaultDirectRateLimiter>>,
}

impl std::fmt::Debug for HookLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookLimits")
            .field("enabled", &self.okta.is_some())
            .finish()
    }
}

impl HookLimits {
    /// From `[server]`: `hook_rate_limit_per_second` (0 turns limiting off) and
    /// `hook_rate_limit_burst` (at least one request; 0 means "same as the rate").
    pub fn from_config(server: &ServerConfig) -> Self {
        let Some(rate) = NonZeroU32::new(server.hook_rate_limit_per_second) else {
            return Self::default();
        };
        let burst = NonZeroU32::new(server.hook_rate_limit_burst).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        let bucket = || Some(Arc::new(RateLimiter::direct(quota)));
        Self {
            okta: bucket(),
            entra: bucket(),
            scim: bucket(),
        }
    }
}

/// `Err(wait)` when the bucket is empty: how long until the next request fits.
fn admit(bucket: Option<&DefaultDirectRateLimiter>) -> Result<(), Duration> {
    match bucket {
        None => Ok(()),
        Some(bucket) => bucket
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

fn with_retry_after(mut response: Response, wait: Duration) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(wait)),
    );
    response
}

fn refused(route: &'static str, wait: Duration) -> Response {
    tracing::warn!(
        route,
        retry_after_s = retry_after_secs(wait),
        "hook rate limit exceeded: request refused"
    );
    let error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests to this hook (server.hook_rate_limit_per_second); retry later",
    );
    with_retry_after(error.into_response(), wait)
}

/// Middleware for `/hooks/okta`.
pub async fn okta(State(limits): State<HookLimits>, request: Request, next: Next) -> Response {
    match admit(limits.okta.as_deref()) {
        Ok(()) => next.run(request).await,
        Err(wait) => refused("/hooks/okta", wait),
    }
}

/// Middleware for `/hooks/entra`.
pub async fn entra(State(limits): State<HookLimits>, request: Request, next: Next) -> Response {
    match admit(limits.entra.as_deref()) {
        Ok(()) => next.run(request).await,
        Err(wait) => refused("/hooks/entra", wait),
    }
}

/// Middleware for everything under `/scim/v2`: the SCIM error schema, status "429".
pub async fn scim(State(limits): State<HookLimits>, request: Request, next: Next) -> Response {
    match admit(limits.scim.as_deref()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            tracing::warn!(
                route = "/scim/v2",
                retry_after_s = retry_after_secs(wait),
                "hook rate limit exceeded: request refused"
            );
            let error = ScimError::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "too many requests to the SCIM server (server.hook_rate_limit_per_second); retry later",
            );
            with_retry_after(error.into_response(), wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(20)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn the_burst_is_admitted_then_refused_and_zero_turns_limiting_off() {
        let server = ServerConfig {
            hook_rate_limit_per_second: 1,
            hook_rate_limit_burst: 3,
            ..ServerConfig::default()
        };
        let limits = HookLimits::from_config(&server);
        for _ in 0..3 {
            assert!(admit(limits.okta.as_deref()).is_ok());
        }
        assert!(admit(limits.okta.as_deref()).is_err());
        // Per route: the other buckets are untouched.
        assert!(admit(limits.scim.as_deref()).is_ok());
        let off = HookLimits::from_config(&ServerConfig {
            hook_rate_limit_per_second: 0,
            ..ServerConfig::default()
        });
        for _ in 0..1000 {
            assert!(admit(off.okta.as_deref()).is_ok());
        }
    }
}
