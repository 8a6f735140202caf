//! A simulated GitHub REST API, served over real HTTP on 127.0.0.1.
//!
//! It follows GitHub's documented behaviour for the calls an offboarding makes (see
//! `../shared/PROTOCOLS.md` §E and `../shared/fixtures/github-*.{md,txt}`):
//!
//! - **Auth**: `Authorization: Bearer <token>` or `token <token>` must carry the configured
//!   token, else 401 `Bad credentials` (or `Requires authentication` when absent).
//! - **API version**: `X-GitHub-Api-Version`, when sent, must be `2022-11-28` or
//!   `2026-03-10` (exactly one value), else 400. Omitted means `2022-11-28`.
//! - **Primary rate limit**: `x-ratelimit-limit|remaining|used|reset|resource` on every
//!   answer; once the quota of the window is used, 403 (or 429, configurable) with
//!   `remaining: 0` and `API rate limit exceeded for installation ID …`.
//! - **Endpoints**:
//!
//!   | call | answer |
//!   |---|---|
//!   | `GET /orgs/{org}` | 200 organization / 404 |
//!   | `GET /orgs/{org}/members` (`per_page` ≤ 100, `page`, `role`) | 200 list, `Link` when several pages |
//!   | `GET /organizations/{id}/members` | the same (the form `Link` URLs use) |
//!   | `GET /orgs/{org}/members/{username}` | 204 active member / 404 |
//!   | `GET /orgs/{org}/memberships/{username}` | 200 `{state: active\|pending, role, …}` / 404 |
//!   | `DELETE /orgs/{org}/members/{username}` | 204 removed / **404 when not an active member** (a pending invitation is left alone) |
//!   | `DELETE /orgs/{org}/memberships/{username}` | 204 removed and/or invitation cancelled / **404 when neither** |
//!   | `GET /orgs/{org}/invitations`, `GET /organizations/{id}/invitations` | 200 pending invitations |
//!   | `DELETE /orgs/{org}/invitations/{invitation_id}` | 204 / 404 |
//!   | `GET /rate_limit` | 200, not counted against the limit |
//!
//!   Unknown organizations and unknown routes answer 404 `{"message":"Not Found",…}`.
//!   The token is assumed to belong to an organization owner (so the member check answers
//!   204/404, never GitHub's 302 for non-member requesters).
//!
//! Faults ([`crate::faults::Faults`], via [`GithubSim::faults`]) are rendered as GitHub
//! would answer them: 5xx with a JSON `message`, secondary rate limits as 403/429 with
//! GitHub's message and `retry-after`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leaver_sim::SimError> {
//! use leaver_sim::github::{GithubSim, GithubSimConfig};
//! use std::time::Duration;
//!
//! let sim = GithubSim::start(GithubSimConfig { token: "t0k3n".into(), ..Default::default() }).await?;
//! sim.add_member("acme", "alice-gh", "member");
//! sim.faults().fail_next(2, 503);                       // next two calls: 503
//! sim.faults().too_many_requests_next(1, Duration::from_secs(1));
//! // … point a client at sim.base_url() …
//! assert_eq!(sim.removals("acme", "alice-gh"), 0);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod access;
mod app;
mod gate;
mod grants;
mod graphql;
mod log;
mod ratelimit;
mod routes;
pub mod secrets;
mod wire;
mod world;

pub use app::INSTALLATION_TOKEN_TTL;
pub use log::{RequestRecord, GITHUB_JSON};
pub use ratelimit::RateWindow;
pub use world::MembershipState;

use crate::faults::Faults;
use crate::server::{Bound, Server, ShutdownSignal, SimError};
use axum::http::StatusCode;
use ratelimit::PrimaryLimit;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use world::{Removed, World};

/// API versions the simulated GitHub accepts in `X-GitHub-Api-Version`.
pub const SUPPORTED_API_VERSIONS: [&str; 2] = ["2022-11-28", "2026-03-10"];

/// How to start a [`GithubSim`].
#[derive(Clone)]
pub struct GithubSimConfig {
    /// The token clients must present (`Bearer` or `token` scheme).
    pub token: String,
    /// Fixed latency added to every answer (changeable later through
    /// [`Faults::set_latency`]).
    pub latency: Duration,
    /// Primary rate limit: requests per window (default 5000).
    pub rate_limit: u32,
    /// Length of a rate-limit window (default one hour; use e.g. 1 s in tests).
    pub rate_limit_window: Duration,
    /// Status of a primary-limit refusal: 403 (default) or 429 — GitHub uses both.
    pub rate_limit_status: u16,
    /// Installation id quoted in the primary-limit message.
    pub installation_id: u64,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
}

impl Default for GithubSimConfig {
    fn default() -> Self {
        Self {
            token: "sim-github-token".into(),
            latency: Duration::ZERO,
            rate_limit: 5_000,
            rate_limit_window: Duration::from_secs(3_600),
            rate_limit_status: 403,
            installation_id: 48_213_517,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl fmt::Debug for GithubSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubSimConfig")
            .field("token", &"[redacted]")
            .field("latency", &self.latency)
            .field("rate_limit", &self.rate_limit)
            .field("rate_limit_window", &self.rate_limit_window)
            .field("rate_limit_status", &self.rate_limit_status)
            .field("installation_id", &self.installation_id)
            .field("listen", &self.listen)
            .finish()
    }
}

/// Counters of what the simulator did.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    primary_rejections: AtomicU64,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    base_url: String,
    token: String,
    rate_limit_status: StatusCode,
    installation_id: u64,
    world: Mutex<World>,
    limiter: Mutex<PrimaryLimit>,
    apps: Mutex<app::Apps>,
    log: Mutex<log::RequestLog>,
    removals: Mutex<BTreeMap<(String, String), u32>>,
    cancellations: Mutex<BTreeMap<(String, String), u32>>,
    secrets: Mutex<secrets::Secrets>,
    counters: Counters,
    faults: Faults,
    signal: ShutdownSignal,
}

/// Lock a mutex, ignoring poisoning: every critical section in the simulator leaves its
/// data consistent, so a panicking test thread must not wedge the server.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn pair(org: &str, login: &str) -> (String, String) {
    (org.to_ascii_lowercase(), login.to_ascii_lowercase())
}

impl Shared {
    fn record_removal(&self, org: &str, login: &str, removed: Removed) {
        let counter = match removed {
            Removed::Member => &self.removals,
            Removed::Invitation => &self.cancellations,
            Removed::Nothing => return,
        };
        *lock(counter).entry(pair(org, login)).or_default() += 1;
    }
}

/// A running simulated GitHub. Dropping it (or [`shutdown`](Self::shutdown)) stops the
/// server.
pub struct GithubSim {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for GithubSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubSim")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl GithubSim {
    /// Bind 127.0.0.1 (a free port unless configured) and start serving.
    pub async fn start(config: GithubSimConfig) -> Result<Self, SimError> {
        let rate_limit_status = match config.rate_limit_status {
            403 => StatusCode::FORBIDDEN,
            429 => StatusCode::TOO_MANY_REQUESTS,
            other => {
                return Err(SimError::Config(format!(
                    "rate_limit_status must be 403 or 429, not {other}"
                )))
            }
        };
        let bound = Bound::bind(config.listen).await?;
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let shared = Arc::new(Shared {
            base_url: format!("http://{}", bound.addr()),
            token: config.token,
            rate_limit_status,
            installation_id: config.installation_id,
            world: Mutex::new(World::default()),
            limiter: Mutex::new(PrimaryLimit::new(
                config.rate_limit,
                config.rate_limit_window,
                SystemTime::now(),
            )),
            apps: Mutex::new(app::Apps::default()),
            log: Mutex::new(log::RequestLog::default()),
            removals: Mutex::new(BTreeMap::new()),
            cancellations: Mutex::new(BTreeMap::new()),
            secrets: Mutex::default(),
            counters: Counters::default(),
            faults,
            signal: bound.signal(),
        });
        let router = routes::router(shared.clone());
        let server = bound.serve(router);
        tracing::debug!(base_url = %shared.base_url, "simulated GitHub started");
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:<port>` — use as the GitHub API base URL.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The runtime fault-injection control.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Create an organization with no members.
    pub fn add_org(&self, org: &str) {
        lock(&self.shared.world).ensure_org(org);
    }

    /// Make `login` an active member of `org` (created if needed) with `role`
    /// (`member`, `admin` or `billing_manager`).
    pub fn add_member(&self, org: &str, login: &str, role: &str) {
        lock(&self.shared.world).add_member(org, login, role);
    }

    /// Invite `login` to `org`; returns the invitation id, or `None` when `login` is
    /// already an active member.
    pub fn add_pending_invitation(&self, org: &str, login: &str, role: &str) -> Option<u64> {
        lock(&self.shared.world).add_invitation(org, login, role)
    }

    /// Names of every organization, sorted.
    pub fn orgs(&self) -> Vec<String> {
        lock(&self.shared.world)
            .orgs()
            .map(|o| o.login.clone())
            .collect()
    }

    /// Whether `login` is an active member of `org`.
    pub fn is_member(&self, org: &str, login: &str) -> bool {
        lock(&self.shared.world)
            .org(org)
            .is_some_and(|o| o.member(login).is_some())
    }

    /// Whether `login` has a pending invitation to `org`.
    pub fn has_pending_invitation(&self, org: &str, login: &str) -> bool {
        self.membership_state(org, login) == Some(MembershipState::Pending)
    }

    /// The membership state GitHub would report for `login` in `org`.
    pub fn membership_state(&self, org: &str, login: &str) -> Option<MembershipState> {
        lock(&self.shared.world)
            .org(org)
            .and_then(|o| o.membership(login).map(|m| m.state))
    }

    /// Logins of the active members of `org`, sorted (empty for an unknown org).
    pub fn members(&self, org: &str) -> Vec<String> {
        lock(&self.shared.world)
            .org(org)
            .map(|o| o.members().map(|m| m.user.login.clone()).collect())
            .unwrap_or_default()
    }

    /// Logins with a pending invitation to `org`, sorted.
    pub fn invitations(&self, org: &str) -> Vec<String> {
        lock(&self.shared.world)
            .org(org)
            .map(|o| o.invitations().map(|m| m.user.login.clone()).collect())
            .unwrap_or_default()
    }

    /// How many times an active membership of `login` in `org` was actually removed
    /// through the API (a DELETE that found nothing does not count).
    pub fn removals(&self, org: &str, login: &str) -> u32 {
        lock(&self.shared.removals)
            .get(&pair(org, login))
            .copied()
            .unwrap_or(0)
    }

    /// Membership removals across every org and login.
    pub fn total_removals(&self) -> usize {
        lock(&self.shared.removals)
            .values()
            .map(|n| *n as usize)
            .sum()
    }

    /// How many times a pending invitation of `login` to `org` was cancelled through the
    /// API (by `DELETE …/memberships/…` or `DELETE …/invitations/{id}`).
    pub fn invitation_cancellations(&self, org: &str, login: &str) -> u32 {
        lock(&self.shared.cancellations)
            .get(&pair(org, login))
            .copied()
            .unwrap_or(0)
    }

    /// Every request received so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).snapshot()
    }

    /// Forget the request log (counters keep counting).
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Requests received so far.
    pub fn request_count(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }

    /// Requests answered with a rate-limit error: primary limit exhausted, or an
    /// injected secondary limit (403/429). A client that honours the headers wastes none
    /// of its requests on these beyond the first of each.
    pub fn rate_limited_responses(&self) -> u64 {
        self.shared.counters.rate_limited.load(Ordering::Relaxed)
    }

    /// Requests refused because the primary limit was exhausted.
    pub fn primary_limit_rejections(&self) -> u64 {
        self.shared
            .counters
            .primary_rejections
            .load(Ordering::Relaxed)
    }

    /// Change the primary limit; a fresh window starts now.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        lock(&self.shared.limiter).reconfigure(limit, window, SystemTime::now());
    }

    /// Every primary-limit window that saw a request, oldest first, and the configured
    /// `(limit, window)`.
    pub fn rate_windows(&self) -> (Vec<RateWindow>, (u32, Duration)) {
        let mut limiter = lock(&self.shared.limiter);
        (limiter.windows(SystemTime::now()), limiter.config())
    }

    /// Register a GitHub App: its id, its public key (PEM, RSA) and the installations
    /// it may mint tokens for. Installation tokens authenticate like the configured
    /// token, and are the only credentials the fine-grained PAT endpoints accept.
    pub fn register_app(
        &self,
        app_id: u64,
        public_key_pem: &str,
        installations: &[u64],
    ) -> Result<(), SimError> {
        lock(&self.shared.apps)
            .register(app_id, public_key_pem, installations)
            .map_err(SimError::Config)
    }

    /// Installation tokens issued so far.
    pub fn installation_tokens_issued(&self) -> u64 {
        lock(&self.shared.apps).issued()
    }

    /// Invalidate every installation token issued so far (as if they had expired).
    pub fn expire_installation_tokens(&self) {
        lock(&self.shared.apps).expire_all();
    }

    /// Make `login` an outside collaborator of `org` on `repo` (org created if needed).
    pub fn add_outside_collaborator(&self, org: &str, login: &str, repo: &str) {
        let mut world = lock(&self.shared.world);
        world.ensure_org(org);
        let user = world.ensure_user(login);
        world.grants.add_collaborator(org, user, repo);
    }

    /// Logins of the outside collaborators of `org`, sorted.
    pub fn outside_collaborators(&self, org: &str) -> Vec<String> {
        lock(&self.shared.world)
            .grants
            .org(org)
            .map(|g| {
                g.collaborators
                    .values()
                    .map(|c| c.user.login.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Create the user account `login` (no org relation).
    pub fn add_user(&self, login: &str) {
        lock(&self.shared.world).ensure_user(login);
    }

    /// Invite `email` (no GitHub account named) to `org`; `failed` makes it a failed
    /// invitation. Returns the invitation id.
    pub fn add_email_invitation(&self, org: &str, email: &str, failed: bool) -> u64 {
        lock(&self.shared.world).add_email_invitation(org, email, "direct_member", failed)
    }

    /// Emails with a pending invitation to `org`.
    pub fn email_invitations(&self, org: &str) -> Vec<String> {
        lock(&self.shared.world)
            .org(org)
            .map(|o| o.email_invitations().map(|i| i.email.clone()).collect())
            .unwrap_or_default()
    }

    /// Emails with a failed invitation to `org`.
    pub fn failed_invitations(&self, org: &str) -> Vec<String> {
        lock(&self.shared.world)
            .org(org)
            .map(|o| o.failed_invitations().map(|i| i.email.clone()).collect())
            .unwrap_or_default()
    }

    /// Authorize a credential of `login` for SAML SSO in `org` (`personal access token`
    /// or `SSH key`); returns the credential id.
    pub fn add_credential_authorization(&self, org: &str, login: &str, kind: &str) -> u64 {
        let mut world = lock(&self.shared.world);
        world.ensure_org(org);
        let user = world.ensure_user(login);
        world.grants.add_credential(org, user, kind)
    }

    /// Credential ids of `login` authorized for SSO in `org`.
    pub fn credential_authorizations(&self, org: &str, login: &str) -> Vec<u64> {
        lock(&self.shared.world)
            .grants
            .org(org)
            .map(|g| {
                g.credentials
                    .values()
                    .filter(|c| c.user.login.eq_ignore_ascii_case(login))
                    .map(|c| c.id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Give a fine-grained token of `login` named `name` access to `org`; returns the
    /// grant id.
    pub fn add_fine_grained_token(&self, org: &str, login: &str, name: &str) -> u64 {
        let mut world = lock(&self.shared.world);
        world.ensure_org(org);
        let user = world.ensure_user(login);
        world.grants.add_token(org, user, name)
    }

    /// Grant ids of `login`'s fine-grained tokens with access to `org`.
    pub fn fine_grained_tokens(&self, org: &str, login: &str) -> Vec<u64> {
        lock(&self.shared.world)
            .grants
            .org(org)
            .map(|g| {
                g.tokens
                    .values()
                    .filter(|t| t.user.login.eq_ignore_ascii_case(login))
                    .map(|t| t.id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Link the SAML identity `name_id` (an email, usually) to `login` in `org`.
    pub fn add_saml_identity(&self, org: &str, name_id: &str, login: &str) {
        let mut world = lock(&self.shared.world);
        world.ensure_org(org);
        let user = world.ensure_user(login);
        world.grants.add_saml_identity(org, name_id, user);
    }

    /// Stop the server: no new connections, in-flight latency and hangs end at once.
    pub async fn shutdown(mut self) {
        self.server.shutdown(Duration::from_secs(5)).await;
    }
}
