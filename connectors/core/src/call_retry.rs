//! Short retries of a single upstream call, before its error reaches the engine.
//!
//! The engine retries a failed step with backoff, but a step is often many calls (list
//! every token accessor, then look each one up). Against an upstream that fails a
//! fraction of its calls, an attempt that needs every call to succeed rarely does; so
//! each call gets a few quick tries of its own when the answer says "try again": 429
//! and the 5xx statuses that mean overloaded or briefly unavailable (500, 502, 503,
//! 504). A wait the upstream asks for (Retry-After, a rate-limit reset) is honoured
//! when it is short; a longer one is left to the engine, which reschedules the step
//! instead of holding a worker. Timeouts are not retried here: the call's time is
//! already spent, and the step's own timeout bounds the whole attempt.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many tries one call gets and how long to wait between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRetry {
    /// Tries in all (1 = no retry).
    pub tries: u32,
    /// Wait before the second try; doubled for each one after (with jitter).
    pub initial: Duration,
    /// The longest wait taken here; an upstream asking for more gets the error back.
    pub max_wait: Duration,
}

impl Default for CallRetry {
    fn default() -> Self {
        Self::STANDARD
    }
}

impl CallRetry {
    /// Three tries, 250 ms then ~500 ms apart; waits of up to 5 s asked by the upstream.
    pub const STANDARD: CallRetry = CallRetry {
        tries: 3,
        initial: Duration::from_millis(250),
        max_wait: Duration::from_secs(5),
    };

    /// One try: errors go straight to the engine.
    pub const NONE: CallRetry = CallRetry {
        tries: 1,
        initial: Duration::ZERO,
        max_wait: Duration::ZERO,
    };

    /// Whether an answer with this status is worth another try of the same call.
    pub fn retryable_status(status: u16) -> bool {
        matches!(status, 429 | 500 | 502 | 503 | 504)
    }

    /// The wait before the next try after try number `tried` (1-based) got a retryable
    /// answer, or `None` when the tries are used up or the upstream asked for longer
    /// than `max_wait`.
    pub fn wait(&self, tried: u32, asked: Option<Duration>) -> Option<Duration> {
        if tried >= self.tries {
            return None;
        }
        let exponent = tried.saturating_sub(1).min(16);
        let base = self
            .initial
            .checked_mul(1 << exponent)
            .unwrap_or(self.max_wait)
            .min(self.max_wait);
        // Equal jitter (half to all of the base), from the clock's sub-second noise:
        // calls that failed together do not come back together.
        let half = base / 2;
        let noise = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(u64::from(noise) % (half.as_nanos().max(1) as u64))
        };
        let wait = half + jitter;
        match asked {
            Some(asked) if asked > self.max_wait => None,
            Some(asked) => Some(wait.max(asked)),
            None => Some(wait),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_overload_answers_only() {
        for status in [429, 500, 502, 503, 504] {
            assert!(CallRetry::retryable_status(status), "{status}");
        }
        for status in [200, 204, 400, 401, 403, 404, 409, 422, 501] {
            assert!(!CallRetry::retryable_status(status), "{status}");
        }
    }

    #[test]
    fn waits_grow_within_jitter_and_stop_after_the_last_try() {
        let policy = CallRetry::STANDARD;
        let first = policy.wait(1, None).unwrap();
        assert!(first >= Duration::from_millis(125) && first <= Duration::from_millis(250));
        let second = policy.wait(2, None).unwrap();
        assert!(second >= Duration::from_millis(250) && second <= Duration::from_millis(500));
        assert_eq!(policy.wait(3, None), None);
        assert_eq!(CallRetry::NONE.wait(1, None), None);
    }

    #[test]
    fn honours_short_upstream_waits_and_hands_long_ones_back() {
        let policy = CallRetry::STANDARD;
        assert_eq!(
            policy.wait(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(policy.wait(1, Some(Duration::from_secs(60))), None);
    }
}
