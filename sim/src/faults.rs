//! Fault injection shared by every simulator.
//!
//! A [`Faults`] handle is cheap to clone and can be driven from a test while the
//! simulator serves requests. It decides, per request, how long to delay the answer and
//! whether to replace it with a fault. This module knows nothing about any vendor: each
//! simulator renders a [`Fault`] in its upstream's own wire format (GitHub answers a 503
//! with a GitHub JSON error body, Okta would answer with an Okta error object…).
//!
//! Decision order for one request:
//! 1. the first injected [`FaultRule`] (in injection order) whose scope matches and that
//!    has calls left fires, and one of its calls is used up;
//! 2. otherwise, when a [`RandomFaults`] mode is set and its scope matches, a seeded
//!    random draw decides whether one of its faults fires;
//! 3. latency: the longest matching path-prefix latency, else the global latency, is
//!    added to every answer (faulted or not).
//!
//! ```
//! use leaver_sim::faults::{Fault, FaultRule, Faults};
//! use std::time::Duration;
//!
//! let faults = Faults::new();
//! faults.fail_next(2, 503);                                   // any path
//! faults.inject(FaultRule::next(1, Fault::Hang(Duration::from_secs(5))).on_path("/orgs/acme"));
//! faults.set_random(0.2, 42);                                 // 20 % of calls, seeded
//! faults.clear();
//! ```

use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One way an upstream call can go wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and the vendor's error body (e.g. 500, 502, 503).
    Status(u16),
    /// Answer with a rate-limit error of this status (403 or 429) carrying the vendor's
    /// "secondary rate limit" message, with a `Retry-After` header when `retry_after` is
    /// set. Primary (quota) limits are modelled by each simulator's own counters.
    RateLimited {
        /// 403 or 429 (GitHub uses both).
        status: u16,
        /// Value of the `Retry-After` header; `None` omits the header.
        retry_after: Option<Duration>,
    },
    /// Hold the request for this long without applying it, then answer 504. Use a
    /// duration longer than the client's timeout to simulate a hung upstream.
    Hang(Duration),
    /// Apply the request at once, but hold the answer for this long (the side effect
    /// happened; a client with a shorter timeout never learns it). Exercises idempotent
    /// retries.
    SlowApply(Duration),
}

impl Fault {
    /// A short label for request logs (`status 503`, `rate limited 429`, `hang 5s`…).
    pub fn label(&self) -> String {
        match self {
            Fault::Status(status) => format!("status {status}"),
            Fault::RateLimited {
                status,
                retry_after,
            } => match retry_after {
                Some(wait) => format!("rate limited {status} retry-after {}s", wait.as_secs()),
                None => format!("rate limited {status}"),
            },
            Fault::Hang(wait) => format!("hang {wait:?}"),
            Fault::SlowApply(wait) => format!("slow apply {wait:?}"),
        }
    }
}

/// Which requests a rule applies to: all of them, or those whose path starts with a
/// prefix and/or that use a given method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only requests whose path starts with this prefix (`/orgs/acme/memberships`).
    pub path_prefix: Option<String>,
    /// Only requests with this method.
    pub method: Option<Method>,
}

impl Scope {
    /// Every request.
    pub fn global() -> Self {
        Self::default()
    }

    /// Requests whose path starts with `prefix`.
    pub fn path(prefix: impl Into<String>) -> Self {
        Self {
            path_prefix: Some(prefix.into()),
            method: None,
        }
    }

    /// Whether a request with this method and path is in scope.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
            && self.method.as_ref().is_none_or(|m| m == method)
    }
}

/// An injected fault: which requests it hits, how many times, and what happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Which requests the rule applies to.
    pub scope: Scope,
    /// How many matching calls it still hits; `None` hits every matching call until
    /// [`Faults::clear`].
    pub remaining: Option<u32>,
    /// What happens to a hit call.
    pub fault: Fault,
}

impl FaultRule {
    /// The next `n` calls (anywhere, unless narrowed with [`on_path`](Self::on_path)).
    pub fn next(n: u32, fault: Fault) -> Self {
        Self {
            scope: Scope::global(),
            remaining: Some(n),
            fault,
        }
    }

    /// Every call until cleared.
    pub fn always(fault: Fault) -> Self {
        Self {
            scope: Scope::global(),
            remaining: None,
            fault,
        }
    }

    /// Narrow to paths starting with `prefix`.
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.scope.path_prefix = Some(prefix.into());
        self
    }

    /// Narrow to one HTTP method.
    pub fn on_method(mut self, method: Method) -> Self {
        self.scope.method = Some(method);
        self
    }
}

/// Probability mode: each request in scope independently gets one of `faults` (chosen
/// uniformly) with probability `probability`, drawn from an RNG seeded with `seed` so a
/// run is reproducible.
#[derive(Debug, Clone)]
pub struct RandomFaults {
    /// Chance in `[0, 1]` that a call is faulted.
    pub probability: f64,
    /// The faults to choose from; an empty list disables the mode.
    pub faults: Vec<Fault>,
    /// RNG seed.
    pub seed: u64,
    /// Which requests are eligible.
    pub scope: Scope,
}

impl RandomFaults {
    /// The default mix: 500, 502, 503, a 429 with `Retry-After: 1` and a 403 secondary
    /// rate limit with `Retry-After: 1`.
    pub fn default_mix() -> Vec<Fault> {
        vec![
            Fault::Status(500),
            Fault::Status(502),
            Fault::Status(503),
            Fault::RateLimited {
                status: 429,
                retry_after: Some(Duration::from_secs(1)),
            },
            Fault::RateLimited {
                status: 403,
                retry_after: Some(Duration::from_secs(1)),
            },
        ]
    }

    /// `probability` of the default mix on every path.
    pub fn new(probability: f64, seed: u64) -> Self {
        Self {
            probability,
            faults: Self::default_mix(),
            seed,
            scope: Scope::global(),
        }
    }
}

/// What the simulator should do with one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Delay before answering.
    pub latency: Duration,
    /// The fault to serve instead of (or around) the normal answer.
    pub fault: Option<Fault>,
}

#[derive(Debug)]
struct RandomState {
    config: RandomFaults,
    rng: StdRng,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<FaultRule>,
    random: Option<RandomState>,
    latency: Duration,
    path_latency: Vec<(String, Duration)>,
    injected: u64,
}

/// The runtime fault-injection control of one simulator. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
}

impl Faults {
    /// No faults, no latency.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (every
        // critical section is a few plain assignments), so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Add a rule. Rules fire in the order they were injected.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// The next `n` calls (any path) answer `status` with the vendor's error body.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.inject(FaultRule::next(n, Fault::Status(status)));
    }

    /// The next `n` calls whose path starts with `prefix` answer `status`.
    pub fn fail_next_on(&self, prefix: &str, n: u32, status: u16) {
        self.inject(FaultRule::next(n, Fault::Status(status)).on_path(prefix));
    }

    /// The next `n` calls answer 429 with `Retry-After: retry_after` (whole seconds).
    pub fn too_many_requests_next(&self, n: u32, retry_after: Duration) {
        self.inject(FaultRule::next(
            n,
            Fault::RateLimited {
                status: 429,
                retry_after: Some(retry_after),
            },
        ));
    }

    /// The next `n` calls answer 403 with the secondary-rate-limit message, with a
    /// `Retry-After` header when `retry_after` is set.
    pub fn secondary_rate_limit_next(&self, n: u32, retry_after: Option<Duration>) {
        self.inject(FaultRule::next(
            n,
            Fault::RateLimited {
                status: 403,
                retry_after,
            },
        ));
    }

    /// The next `n` calls hang for `duration` (not applied), then answer 504.
    pub fn hang_next(&self, n: u32, duration: Duration) {
        self.inject(FaultRule::next(n, Fault::Hang(duration)));
    }

    /// Fixed latency added to every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Latency for paths starting with `prefix` (the longest matching prefix wins over
    /// the global latency). `Duration::ZERO` still overrides the global latency.
    pub fn set_latency_on(&self, prefix: &str, latency: Duration) {
        let mut state = self.lock();
        state.path_latency.retain(|(p, _)| p != prefix);
        state.path_latency.push((prefix.to_string(), latency));
    }

    /// Probability mode with the default fault mix on every path.
    pub fn set_random(&self, probability: f64, seed: u64) {
        self.set_random_with(RandomFaults::new(probability, seed));
    }

    /// Probability mode with an explicit configuration.
    pub fn set_random_with(&self, config: RandomFaults) {
        let rng = StdRng::seed_from_u64(config.seed);
        self.lock().random = Some(RandomState { config, rng });
    }

    /// Remove every rule, the probability mode and all latency.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.random = None;
        state.latency = Duration::ZERO;
        state.path_latency.clear();
    }

    /// How many calls have been answered with an injected fault so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    /// Rules that still have calls left (for debugging a test).
    pub fn pending_rules(&self) -> Vec<FaultRule> {
        self.lock().rules.clone()
    }

    /// Decide the fate of one request, using up one call of the rule that fires.
    pub fn decide(&self, method: &Method, path: &str) -> Decision {
        let mut state = self.lock();
        let latency = state
            .path_latency
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, latency)| *latency)
            .unwrap_or(state.latency);

        let mut fault = None;
        if let Some(index) = state
            .rules
            .iter()
            .position(|rule| rule.scope.matches(method, path))
        {
            let rule = &mut state.rules[index];
            fault = Some(rule.fault.clone());
            if let Some(remaining) = rule.remaining.as_mut() {
                *remaining = remaining.saturating_sub(1);
                if *remaining == 0 {
                    state.rules.remove(index);
                }
            }
        } else if let Some(random) = state.random.as_mut() {
            if !random.config.faults.is_empty() && random.config.scope.matches(method, path) {
                let p = random.config.probability.clamp(0.0, 1.0);
                if random.rng.gen_bool(p) {
                    let pick = random.rng.gen_range(0..random.config.faults.len());
                    fault = random.config.faults.get(pick).cloned();
                }
            }
        }
        if fault.is_some() {
            state.injected += 1;
        }
        Decision { latency, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_in_order_and_run_out() {
        let faults = Faults::new();
        faults.fail_next(2, 503);
        faults.fail_next(1, 500);
        let d = |f: &Faults| f.decide(&Method::GET, "/x").fault;
        assert_eq!(d(&faults), Some(Fault::Status(503)));
        assert_eq!(d(&faults), Some(Fault::Status(503)));
        assert_eq!(d(&faults), Some(Fault::Status(500)));
        assert_eq!(d(&faults), None);
        assert_eq!(faults.injected(), 3);
    }

    #[test]
    fn scoped_rules_only_hit_their_paths_and_methods() {
        let faults = Faults::new();
        faults.inject(
            FaultRule::next(1, Fault::Status(502))
                .on_path("/orgs/acme/memberships")
                .on_method(Method::DELETE),
        );
        assert_eq!(
            faults
                .decide(&Method::GET, "/orgs/acme/memberships/a")
                .fault,
            None
        );
        assert_eq!(faults.decide(&Method::DELETE, "/orgs/other/x").fault, None);
        assert_eq!(
            faults
                .decide(&Method::DELETE, "/orgs/acme/memberships/a")
                .fault,
            Some(Fault::Status(502))
        );
    }

    #[test]
    fn always_rules_persist_until_cleared() {
        let faults = Faults::new();
        faults.inject(FaultRule::always(Fault::Status(500)));
        for _ in 0..5 {
            assert!(faults.decide(&Method::GET, "/").fault.is_some());
        }
        faults.clear();
        assert!(faults.decide(&Method::GET, "/").fault.is_none());
    }

    #[test]
    fn random_mode_is_seeded_and_roughly_proportional() {
        let run = |seed| {
            let faults = Faults::new();
            faults.set_random(0.2, seed);
            (0..1000)
                .map(|_| faults.decide(&Method::GET, "/").fault.is_some())
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same faults");
        let hits = a.iter().filter(|hit| **hit).count();
        assert!(
            (120..=280).contains(&hits),
            "{hits} faults in 1000 at p=0.2"
        );
    }

    #[test]
    fn latency_longest_prefix_wins() {
        let faults = Faults::new();
        faults.set_latency(Duration::from_millis(10));
        faults.set_latency_on("/orgs", Duration::from_millis(20));
        faults.set_latency_on("/orgs/acme", Duration::from_millis(30));
        let l = |p| faults.decide(&Method::GET, p).latency;
        assert_eq!(l("/rate_limit"), Duration::from_millis(10));
        assert_eq!(l("/orgs/x"), Duration::from_millis(20));
        assert_eq!(l("/orgs/acme/members"), Duration::from_millis(30));
    }
}
