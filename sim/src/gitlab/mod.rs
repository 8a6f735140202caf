//! A simulated GitLab REST API v4, served over real HTTP on 127.0.0.1.
//!
//! [`GitlabSim::base_url`] is the instance URL (`http://127.0.0.1:<port>`);
//! [`GitlabSim::api_url`] adds `/api/v4` and is what a client configures
//! (`connectors.gitlab.api_url`). Every route lives under `/api/v4`.
//!
//! It follows GitLab's documented behaviour for the calls an offboarding makes
//! (`../shared/PROTOCOLS.md` §G, GitLab's `doc/api/users.md`,
//! `personal_access_tokens.md`, `members.md`, `rest/index.md`):
//!
//! - **Auth**: `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>`. The configured
//!   token belongs to an administrator (`root`, user 1). Tokens seeded with
//!   [`GitlabSim::add_personal_access_token`] authenticate as their (non-admin) user.
//!   No token, an unknown or a revoked one: 401 `{"message":"401 Unauthorized"}`. A token of
//!   a blocked user: 403 `{"message":"403 Forbidden - Your account has been blocked."}`
//!   (inference from GitLab's access-denied reasons). Admin-only calls by others: 403
//!   `{"message":"403 Forbidden"}`.
//! - **Errors**: `{"message": "…"}` (`404 User Not Found`, `404 Group Not Found`,
//!   `404 Project Not Found`, `404 Not found` for a member that is not one); an unknown
//!   route answers 404 `{"error":"404 Not Found"}`; a bad parameter 400
//!   `{"error":"page is invalid"}`.
//! - **Pagination** (offset): `page` (default 1), `per_page` (default 20, at most 100);
//!   answers carry `X-Page`, `X-Per-Page`, `X-Total`, `X-Total-Pages`, `X-Next-Page`,
//!   `X-Prev-Page` (empty when there is none) and `Link` (`prev`, `next`, `first`,
//!   `last`). Keyset pagination is not offered: these endpoints do not support it.
//! - **Rate limits**: with [`GitlabSimConfig::rate_limit`] set, every authenticated
//!   answer carries `RateLimit-Name`, `RateLimit-Limit`, `RateLimit-Observed`,
//!   `RateLimit-Remaining`, `RateLimit-Reset` (epoch seconds) and `RateLimit-ResetTime`
//!   (HTTP date); past the limit, 429 `Retry later` (plain text, Rack::Attack) with
//!   `Retry-After` too.
//! - **Endpoints**:
//!
//!   | call | answer |
//!   |---|---|
//!   | `GET /users?username=` | `[user]` or `[]` (case-insensitive) |
//!   | `GET /users?search=` | users whose username or name contains it, or whose email equals it (administrators; others: public email only); paginated |
//!   | `GET /users/:id` | 200 user (`state`: `active`, `blocked`, `ldap_blocked`, `deactivated`; `email`, `is_admin` for administrators) / 404 `404 User Not Found` |
//!   | `POST /users/:id/block` (admin) | 201 `true` — **also when the user is already blocked** (GitLab ≥ 15.x answers success; older versions answered 201 `false`); 403 for an LDAP-blocked user, the caller itself or an internal user; 404 |
//!   | `GET /personal_access_tokens?user_id=&state=active\|inactive` | tokens, paginated (never the secret); a non-admin filtering on another user: 401 |
//!   | `GET /personal_access_tokens/:id` | 200 / 404 (admin) / 401 (someone else's token) |
//!   | `DELETE /personal_access_tokens/:id` | 204; 400 `400 Bad request - Token already revoked` when revoked before (inference: the docs say 400 "if not revoked successfully"); 404 (admin) |
//!   | `GET /users/:id/memberships?type=Namespace\|Project` (admin) | direct memberships `{source_id, source_name, source_type, access_level}`, groups first, paginated |
//!   | `DELETE /groups/:id/members/:user_id`, `DELETE /projects/:id/members/:user_id` (admin) | 204 / 404 `404 Not found` when not a direct member / 404 `404 Group Not Found` |
//!
//!   `:id` of a group or project is its number or its URL-encoded full path.
//!   Blocking revokes no token and removes no membership (GitLab semantics: a blocked
//!   user's tokens stop working but still list as active).
//! - **Faults** ([`crate::faults::Faults`], via [`GitlabSim::faults`]): 500/503 as
//!   `{"message":"500 Internal Server Error"}`, 502/504 as Workhorse's HTML page, any
//!   rate-limited fault as GitLab's 429 (GitLab throttles only with 429), a hang holds
//!   the request and then answers 504.

mod routes;
mod wire;
mod world;

pub use world::{SourceKind, UserState};

use crate::faults::Faults;
use crate::server::{Bound, Server, ShutdownSignal, SimError};
use axum::http::Method;
use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use world::World;

/// How to start a [`GitlabSim`].
#[derive(Clone)]
pub struct GitlabSimConfig {
    /// The administrator's token clients present (`PRIVATE-TOKEN`).
    pub token: String,
    /// Fixed latency added to every answer.
    pub latency: Duration,
    /// `(limit, period)`: authenticated requests allowed per period (none: unlimited).
    pub rate_limit: Option<(u32, Duration)>,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
}

impl Default for GitlabSimConfig {
    fn default() -> Self {
        Self {
            token: "glpat-sim-admin-token-0000".into(),
            latency: Duration::ZERO,
            rate_limit: None,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl fmt::Debug for GitlabSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabSimConfig")
            .field("token", &"[redacted]")
            .field("latency", &self.latency)
            .field("rate_limit", &self.rate_limit)
            .field("listen", &self.listen)
            .finish()
    }
}

/// One request as the simulated GitLab saw it. Tokens are never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: SystemTime,
    /// HTTP method.
    pub method: Method,
    /// Path, e.g. `/api/v4/users/2/block`.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Whether a token was sent.
    pub token_sent: bool,
    /// The injected fault, if any.
    pub fault: Option<String>,
    /// Status of the answer (0 if the client went away first).
    pub status: u16,
}

/// A seeded personal access token: its id and its secret (for authenticating as the
/// user in tests).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedPat {
    /// Token id (`DELETE /personal_access_tokens/:id`).
    pub id: u64,
    /// The secret (`glpat-…`).
    pub token: String,
}

impl fmt::Debug for IssuedPat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedPat")
            .field("id", &self.id)
            .field("token", &"[redacted]")
            .finish()
    }
}

const LOG_CAPACITY: usize = 100_000;

/// A fixed-window request counter.
#[derive(Debug)]
pub(crate) struct Throttle {
    pub limit: u32,
    pub period: Duration,
    pub window_start: SystemTime,
    pub observed: u32,
}

pub(crate) struct Shared {
    token: String,
    admin_id: u64,
    base_url: String,
    world: Mutex<World>,
    throttle: Mutex<Option<Throttle>>,
    log: Mutex<VecDeque<RequestRecord>>,
    faults: Faults,
    signal: ShutdownSignal,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running simulated GitLab. Dropping it (or [`shutdown`](Self::shutdown)) stops it.
pub struct GitlabSim {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for GitlabSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabSim")
            .field("base_url", &self.server.base_url())
            .finish_non_exhaustive()
    }
}

impl GitlabSim {
    /// Bind 127.0.0.1 and start serving. User 1 is the administrator `root`, whose
    /// token is the configured one.
    pub async fn start(config: GitlabSimConfig) -> Result<Self, SimError> {
        if config.token.trim().is_empty() {
            return Err(SimError::Config("the admin token must not be empty".into()));
        }
        if config
            .rate_limit
            .is_some_and(|(n, p)| n == 0 || p.is_zero())
        {
            return Err(SimError::Config(
                "rate_limit needs a positive limit and period".into(),
            ));
        }
        let bound = Bound::bind(config.listen).await?;
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let mut world = World::new();
        let admin_id = world.add_user("root", "Administrator", "admin@example.com", true);
        let shared = Arc::new(Shared {
            token: config.token,
            admin_id,
            base_url: format!("http://{}", bound.addr()),
            world: Mutex::new(world),
            throttle: Mutex::new(config.rate_limit.map(|(limit, period)| Throttle {
                limit,
                period,
                window_start: SystemTime::now(),
                observed: 0,
            })),
            log: Mutex::new(VecDeque::new()),
            faults,
            signal: bound.signal(),
        });
        let server = bound.serve(routes::router(shared.clone()));
        tracing::debug!(base_url = %server.base_url(), "simulated GitLab started");
        Ok(Self { shared, server })
    }

    /// The instance URL, `http://127.0.0.1:<port>` (no `/api/v4`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `http://127.0.0.1:<port>/api/v4` — use as `connectors.gitlab.api_url`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v4", self.server.base_url())
    }

    /// The runtime fault-injection control. Paths start with `/api/v4/`.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut lock(&self.shared.world))
    }

    /// The administrator's user id (1).
    pub fn admin_id(&self) -> u64 {
        self.shared.admin_id
    }

    /// Create an active, non-admin user; returns its id.
    pub fn add_user(&self, username: &str, name: &str, email: &str) -> u64 {
        self.with(|w| w.add_user(username, name, email, false))
    }

    /// Set a user's state directly (e.g. [`UserState::LdapBlocked`]). False: no such user.
    pub fn set_user_state(&self, user_id: u64, state: UserState) -> bool {
        self.with(|w| w.user_mut(user_id).map(|u| u.state = state).is_some())
    }

    /// Set a user's public email (what non-admins can search by).
    pub fn set_public_email(&self, user_id: u64, email: &str) {
        self.with(|w| {
            if let Some(u) = w.user_mut(user_id) {
                u.public_email = Some(email.to_string());
            }
        })
    }

    /// A user's state (`None`: no such user).
    pub fn user_state(&self, user_id: u64) -> Option<UserState> {
        self.with(|w| w.user(user_id).map(|u| u.state))
    }

    /// Issue a personal access token for the user. `None`: no such user.
    pub fn add_personal_access_token(
        &self,
        user_id: u64,
        name: &str,
        scopes: &[&str],
    ) -> Option<IssuedPat> {
        self.with(|w| {
            w.add_pat(user_id, name, scopes).map(|p| IssuedPat {
                id: p.id,
                token: p.secret,
            })
        })
    }

    /// Ids of the user's active (unrevoked) tokens.
    pub fn active_tokens(&self, user_id: u64) -> Vec<u64> {
        self.with(|w| {
            w.pats()
                .filter(|p| p.user_id == user_id && !p.revoked)
                .map(|p| p.id)
                .collect()
        })
    }

    /// Create a group (`acme`, `acme/platform`); returns its id.
    pub fn add_group(&self, path: &str) -> u64 {
        self.with(|w| w.add_source(SourceKind::Group, path))
    }

    /// Create a project (`acme/api`); returns its id.
    pub fn add_project(&self, path: &str) -> u64 {
        self.with(|w| w.add_source(SourceKind::Project, path))
    }

    /// Make the user a direct member (access level 10 guest … 50 owner). False when the
    /// source or user is unknown.
    pub fn add_member(&self, kind: SourceKind, source_id: u64, user_id: u64, level: u32) -> bool {
        self.with(|w| w.add_member(kind, source_id, user_id, level))
    }

    /// The user's direct memberships: (kind, source id, access level).
    pub fn memberships(&self, user_id: u64) -> Vec<(SourceKind, u64, u32)> {
        self.with(|w| w.memberships_of(user_id))
    }

    /// Every request received so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Stop the server: no new connections, in-flight latency and hangs end at once.
    pub async fn shutdown(mut self) {
        self.server.shutdown(Duration::from_secs(5)).await;
    }
}
