//! Retry delays: exponential backoff with jitter, never shorter than what the upstream
//! asked for (Retry-After, rate-limit reset).

use rand::Rng;
use std::time::Duration;

/// Delay before the attempt after `attempt` (1-based) failed transiently.
///
/// The exponential delay `initial · 2^(attempt-1)`, capped at `max`, is jittered to
/// between half and all of itself ("equal jitter"), so a mass offboarding whose steps
/// failed together does not retry in lockstep. A `retry_after` from the upstream is a
/// floor: waiting less would only earn another 429.
pub fn retry_delay(
    attempt: i64,
    initial: Duration,
    max: Duration,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 30) as u32;
    let base = initial
        .checked_mul(1u32 << exponent)
        .unwrap_or(max)
        .min(max);
    let half = base / 2;
    let jitter_ms = rng.gen_range(0..=half.as_millis().min(u64::MAX as u128) as u64);
    let jittered = half + Duration::from_millis(jitter_ms);
    match retry_after {
        Some(wait) => jittered.max(wait),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=6 {
            let expected = Duration::from_millis(100 * (1 << (attempt - 1)));
            for _ in 0..50 {
                let d = retry_delay(
                    attempt,
                    Duration::from_millis(100),
                    Duration::from_secs(60),
                    None,
                    &mut rng,
                );
                assert!(
                    d >= expected / 2 && d <= expected,
                    "attempt {attempt}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn capped_at_max() {
        let mut rng = StdRng::seed_from_u64(1);
        let d = retry_delay(
            40,
            Duration::from_secs(1),
            Duration::from_secs(10),
            None,
            &mut rng,
        );
        assert!(d <= Duration::from_secs(10) && d >= Duration::from_secs(5));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut rng = StdRng::seed_from_u64(2);
        let d = retry_delay(
            1,
            Duration::from_millis(100),
            Duration::from_secs(1),
            Some(Duration::from_secs(30)),
            &mut rng,
        );
        assert_eq!(d, Duration::from_secs(30));
    }
}
