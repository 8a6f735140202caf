//! Okta's rate limits: a request budget per endpoint group and one-minute window,
//! reported on every answer in `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and
//! `X-Rate-Limit-Reset` (UTC epoch seconds when the window ends); past the budget,
//! 429 `E0000047`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The numbers behind the `X-Rate-Limit-*` headers of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSnapshot {
    pub limit: u32,
    pub remaining: u32,
    /// UTC epoch seconds (rounded up) when the window ends.
    pub reset: u64,
}

#[derive(Debug)]
struct Bucket {
    start: SystemTime,
    used: u32,
}

/// Buckets per endpoint group (`/oauth2/v1/token`, `/api/v1/users`, `/api/v1/logs`…).
#[derive(Debug)]
pub struct RateLimits {
    limit: u32,
    window: Duration,
    buckets: HashMap<&'static str, Bucket>,
}

/// The group a path counts against, as Okta's per-endpoint limits group them.
pub fn bucket_of(path: &str) -> &'static str {
    if path.starts_with("/oauth2/") {
        "/oauth2/v1/token"
    } else if path.starts_with("/api/v1/logs") {
        "/api/v1/logs"
    } else if path.starts_with("/api/v1/sessions") {
        "/api/v1/sessions"
    } else if path.starts_with("/api/v1/users") {
        "/api/v1/users"
    } else {
        "/api/v1"
    }
}

impl RateLimits {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window: window.max(Duration::from_millis(1)),
            buckets: HashMap::new(),
        }
    }

    pub fn reconfigure(&mut self, limit: u32, window: Duration) {
        *self = Self::new(limit, window);
    }

    fn bucket(&mut self, name: &'static str, now: SystemTime) -> &mut Bucket {
        let window = self.window;
        let bucket = self.buckets.entry(name).or_insert(Bucket {
            start: now,
            used: 0,
        });
        if now >= bucket.start + window {
            bucket.start = now;
            bucket.used = 0;
        }
        bucket
    }

    fn snapshot(limit: u32, window: Duration, bucket: &Bucket) -> RateSnapshot {
        let end = (bucket.start + window)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        RateSnapshot {
            limit,
            remaining: limit.saturating_sub(bucket.used),
            reset: end.as_secs() + u64::from(end.subsec_nanos() > 0),
        }
    }

    /// The numbers without counting a request.
    pub fn peek(&mut self, name: &'static str, now: SystemTime) -> RateSnapshot {
        let (limit, window) = (self.limit, self.window);
        let bucket = self.bucket(name, now);
        Self::snapshot(limit, window, bucket)
    }

    /// Count one request; `Err` (not counted) when the budget is spent.
    pub fn admit(
        &mut self,
        name: &'static str,
        now: SystemTime,
    ) -> Result<RateSnapshot, RateSnapshot> {
        let (limit, window) = (self.limit, self.window);
        let bucket = self.bucket(name, now);
        if bucket.used >= limit {
            return Err(Self::snapshot(limit, window, bucket));
        }
        bucket.used += 1;
        Ok(Self::snapshot(limit, window, bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_separate_and_reset() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut limits = RateLimits::new(1, Duration::from_secs(60));
        let first = limits.admit("/api/v1/users", t0).unwrap();
        assert_eq!((first.limit, first.remaining, first.reset), (1, 0, 1_060));
        assert!(limits.admit("/api/v1/users", t0).is_err());
        assert!(limits.admit("/api/v1/logs", t0).is_ok());
        assert!(limits
            .admit("/api/v1/users", t0 + Duration::from_secs(61))
            .is_ok());
        assert_eq!(bucket_of("/api/v1/users/00u1/sessions"), "/api/v1/users");
        assert_eq!(bucket_of("/oauth2/v1/token"), "/oauth2/v1/token");
    }
}
