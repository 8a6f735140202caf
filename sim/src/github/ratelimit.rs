//! GitHub's primary rate limit: N requests per window, reported on every response in
//! the `x-ratelimit-*` headers. A window starts with the first request after the
//! previous one ended (as on GitHub, where the hour starts at your first call).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The numbers behind the `x-ratelimit-*` headers of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSnapshot {
    /// `x-ratelimit-limit`.
    pub limit: u32,
    /// `x-ratelimit-remaining`.
    pub remaining: u32,
    /// `x-ratelimit-used`.
    pub used: u32,
    /// `x-ratelimit-reset`: UTC epoch seconds when the window ends (rounded up).
    pub reset: u64,
}

/// One rate-limit window as it was used: when it started and how many requests it
/// admitted. Benchmarks compute the achieved share of the allowed rate from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// When the window started (its first counted request).
    pub start: SystemTime,
    /// Requests admitted in it.
    pub used: u32,
    /// Requests refused in it because the limit was exhausted.
    pub refused: u32,
}

/// The primary-limit bucket.
#[derive(Debug)]
pub struct PrimaryLimit {
    limit: u32,
    window: Duration,
    window_start: SystemTime,
    used: u32,
    refused: u32,
    history: Vec<RateWindow>,
}

impl PrimaryLimit {
    /// `limit` requests per `window`, the first window starting `now`.
    pub fn new(limit: u32, window: Duration, now: SystemTime) -> Self {
        Self {
            limit,
            window: window.max(Duration::from_millis(1)),
            window_start: now,
            used: 0,
            refused: 0,
            history: Vec::new(),
        }
    }

    /// Change the limit and window; starts a fresh window at `now`.
    pub fn reconfigure(&mut self, limit: u32, window: Duration, now: SystemTime) {
        *self = Self::new(limit, window, now);
    }

    fn roll(&mut self, now: SystemTime) {
        if now >= self.window_start + self.window {
            if self.used > 0 || self.refused > 0 {
                self.history.push(self.current());
            }
            self.window_start = now;
            self.used = 0;
            self.refused = 0;
        }
    }

    fn snapshot(&self) -> RateSnapshot {
        let end = self.window_start + self.window;
        let end = end.duration_since(UNIX_EPOCH).unwrap_or_default();
        let reset = end.as_secs() + u64::from(end.subsec_nanos() > 0);
        RateSnapshot {
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.used),
            used: self.used,
            reset,
        }
    }

    fn current(&self) -> RateWindow {
        RateWindow {
            start: self.window_start,
            used: self.used,
            refused: self.refused,
        }
    }

    /// The limit and window length.
    pub fn config(&self) -> (u32, Duration) {
        (self.limit, self.window)
    }

    /// Every window that admitted or refused a request, oldest first (the current one
    /// last).
    pub fn windows(&mut self, now: SystemTime) -> Vec<RateWindow> {
        self.roll(now);
        let mut windows = self.history.clone();
        if self.used > 0 || self.refused > 0 {
            windows.push(self.current());
        }
        windows
    }

    /// The current numbers without counting a request (for answers that never reached
    /// the API: injected faults, bad credentials).
    pub fn peek(&mut self, now: SystemTime) -> RateSnapshot {
        self.roll(now);
        self.snapshot()
    }

    /// Count one request. `Err` carries the snapshot when the limit is exhausted (the
    /// request is refused and not counted).
    pub fn admit(&mut self, now: SystemTime) -> Result<RateSnapshot, RateSnapshot> {
        self.roll(now);
        if self.used >= self.limit {
            self.refused += 1;
            return Err(self.snapshot());
        }
        self.used += 1;
        Ok(self.snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausts_then_resets_after_the_window() {
        let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let mut limit = PrimaryLimit::new(2, Duration::from_secs(1), t0);
        let a = limit.admit(t0).unwrap();
        assert_eq!((a.remaining, a.used), (1, 1));
        assert_eq!(a.reset, 1_700_000_002, "reset rounds up to the next second");
        assert_eq!(limit.admit(t0).unwrap().remaining, 0);
        let refused = limit.admit(t0 + Duration::from_millis(500)).unwrap_err();
        assert_eq!((refused.remaining, refused.used), (0, 2));
        let later = t0 + Duration::from_millis(1_100);
        let b = limit.admit(later).unwrap();
        assert_eq!((b.remaining, b.used), (1, 1));
    }

    #[test]
    fn peek_does_not_count() {
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        let mut limit = PrimaryLimit::new(5, Duration::from_secs(3600), t0);
        assert_eq!(limit.peek(t0).remaining, 5);
        assert_eq!(limit.peek(t0).remaining, 5);
        assert_eq!(limit.peek(t0).reset, 3700);
    }
}
