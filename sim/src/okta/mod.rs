//! A simulated Okta org: the org authorization server (service apps, `private_key_jwt`)
//! and the parts of the Management API an offboarding uses, served over real HTTP on
//! 127.0.0.1 (see `../shared/PROTOCOLS.md` §A).
//!
//! | call | answer |
//! |---|---|
//! | `POST /oauth2/v1/token` form `grant_type=client_credentials, scope, client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer, client_assertion=<JWT>` | 200 `{token_type:"Bearer", expires_in:3600, access_token, scope}`; OAuth errors `{error, error_description}`: `invalid_client` 401 (bad signature, unknown client, wrong `aud`, expired or too-long-lived assertion, replayed `jti`, a `client_secret` — Okta-scoped tokens need `private_key_jwt`), `invalid_request` 400, `invalid_scope` 400 (missing, unknown or not granted), `unsupported_grant_type` 400. Rules in [`auth`](self) |
//! | every `/api/v1/…` call | `Authorization: Bearer <issued, unexpired token>`, else 401 `E0000011 Invalid token provided` with `WWW-Authenticate`; a token without the call's scope gets 403 `E0000006` (`insufficient_scope`) |
//! | `GET /api/v1/users/{id or login}` | 200 user (`status`, `transitioningToStatus` during a deactivation, `profile`…) / 404 `E0000007` |
//! | `GET /api/v1/users?search=` / `?filter=` / `?q=` | 200 array; `search` (e.g. `profile.email eq "a@b"`) includes `DEPROVISIONED` users, `filter` and `q` do not |
//! | `POST /api/v1/users/{id}/lifecycle/deactivate?sendEmail=` | 200 `{}`; asynchronous: `transitioningToStatus: "DEPROVISIONED"` for [`OktaSimConfig::deactivation_delay`], then `status: "DEPROVISIONED"`; sessions and refresh tokens end; **404 `E0000007` when the user is already `DEPROVISIONED`** (what Okta answers); logs `user.lifecycle.deactivate` |
//! | `DELETE /api/v1/users/{id}/sessions?oauthTokens=&forgetDevices=` | 204; ends the user's sessions; **refresh tokens survive unless `oauthTokens=true`** (Okta's default is false); `forgetDevices=true` forgets remembered factors; logs `user.session.clear`; 404 for an unknown user |
//! | `GET /api/v1/users/{id}/clients` | 200 `[{client_id, client_name, _links:{tokens, grants}}]`: clients the user holds refresh tokens or grants for |
//! | `GET /api/v1/users/{id}/clients/{clientId}/tokens`, `DELETE` the same | 200 refresh tokens (`OAuth2RefreshToken`) / 204 revoked |
//! | `GET /api/v1/users/{id}/grants` | 200 scope consents (they survive session clearing) |
//! | `GET /api/v1/sessions/{sessionId}` | 200 session / 404 once it ended |
//! | `GET /api/v1/logs?since&until&after&filter&q&limit&sortOrder` | 200 `LogEvent`s (the shape of `fixtures/okta-event-hook-delivery.json`'s `data.events[]`), ordered by `published`; `limit` ≤ 1000 (default 100); `Link: <…>; rel="self"` and `<…&after=…>; rel="next"`. A request without `until` in ascending order is a **polling request: its next link is always present**; a bounded one (with `until`) has one only while more events follow. `filter` is Okta's expression language (`eventType eq "…" and target.id eq "…"`, see [`filter`](self)). Events become visible after [`OktaSimConfig::log_delay`] (the System Log is eventually consistent) |
//!
//! Every answer carries `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining`,
//! `X-Rate-Limit-Reset` (a budget per endpoint group and window) and `X-Okta-Request-Id`;
//! past the budget, 429 `E0000047`. Faults ([`crate::faults::Faults`] via
//! [`OktaSim::faults`]) are rendered as Okta answers them: 5xx with an Okta error
//! object, 429 `E0000047` with `X-Rate-Limit-Remaining: 0` and the reset time (Okta sends
//! no `Retry-After`), hangs answered 504 after the delay.
//!
//! The test-facing API seeds users, sessions, refresh tokens and grants, appends System
//! Log events without delivering any hook ([`OktaSim::append_log_event`]), and counts
//! calls ([`OktaSim::calls`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), leaver_sim::SimError> {
//! use leaver_sim::okta::{KeyPair, OktaSim, OktaSimConfig, SimClient};
//!
//! let keys = KeyPair::generate_rsa().expect("key");
//! let sim = OktaSim::start(OktaSimConfig::default()).await?;
//! sim.register_client(SimClient {
//!     client_id: "0oaleaver".into(),
//!     name: "Leaver".into(),
//!     public_key_pem: keys.public_key_pem.clone(),
//!     key_id: None,
//!     scopes: vec!["okta.users.manage".into(), "okta.logs.read".into()],
//! })?;
//! let frank = sim.add_user("frank@example.com", "Frank", "Example");
//! sim.add_session(&frank);
//! sim.admin_deactivate(&frank); // in the System Log, no hook delivered
//! # Ok(()) }
//! ```

mod auth;
pub mod filter;
mod keys;
mod oidc;
mod ratelimit;
mod routes;
pub mod wire;
mod world;

pub use auth::{SimClient, JWT_BEARER, KNOWN_SCOPES};
pub use keys::KeyPair;
pub use oidc::WebApp;
pub use world::{SimApp, SimGrant, SimRefreshToken, SimSession, SimUser};

use crate::faults::Faults;
use crate::server::{Bound, Server, ShutdownSignal, SimError};
use auth::Auth;
use axum::http::Method;
use chrono::{DateTime, Utc};
use ratelimit::RateLimits;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use world::World;

/// How to start an [`OktaSim`].
#[derive(Debug, Clone)]
pub struct OktaSimConfig {
    /// Service apps registered at start ([`OktaSim::register_client`] adds more).
    pub clients: Vec<SimClient>,
    /// Lifetime of issued access tokens (Okta: fixed one hour).
    pub token_lifetime: Duration,
    /// How long a deactivation stays in `transitioningToStatus: DEPROVISIONED`.
    pub deactivation_delay: Duration,
    /// Requests per endpoint group and window (Okta's budgets are per minute).
    pub rate_limit: u32,
    /// The rate-limit window.
    pub rate_limit_window: Duration,
    /// How long after an API side effect its System Log event becomes visible.
    pub log_delay: Duration,
    /// Fixed latency added to every answer.
    pub latency: Duration,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
}

impl Default for OktaSimConfig {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            token_lifetime: Duration::from_secs(3600),
            deactivation_delay: Duration::from_millis(100),
            rate_limit: 600,
            rate_limit_window: Duration::from_secs(60),
            log_delay: Duration::ZERO,
            latency: Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

/// One request as the simulator saw it. Tokens and assertions are never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub at: SystemTime,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    /// Whether an `Authorization` header was sent.
    pub authorization_sent: bool,
    /// The injected fault, if any.
    pub fault: Option<String>,
    /// Status of the answer (0 if the client went away first).
    pub status: u16,
    pub elapsed: Duration,
}

const LOG_CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Settings {
    deactivation_delay: Duration,
    log_delay: Duration,
}

pub(crate) struct Shared {
    base_url: String,
    token_lifetime: Duration,
    settings: Mutex<Settings>,
    world: Mutex<World>,
    auth: Mutex<Auth>,
    oidc: Mutex<oidc::Oidc>,
    limits: Mutex<RateLimits>,
    log: Mutex<VecDeque<RequestRecord>>,
    requests: AtomicU64,
    rate_limited: AtomicU64,
    faults: Faults,
    signal: ShutdownSignal,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn push_log(&self, record: RequestRecord) {
        let mut log = lock(&self.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(record);
    }

    fn settings(&self) -> Settings {
        *lock(&self.settings)
    }

    /// The world with finished transitions applied.
    fn world(&self) -> MutexGuard<'_, World> {
        let mut world = lock(&self.world);
        world.settle(Utc::now());
        world
    }

    /// Write a System Log event caused by an API call (visible after `log_delay`).
    fn log_api_event(&self, event: Value) -> String {
        let visible_at =
            Utc::now() + chrono::Duration::from_std(self.settings().log_delay).unwrap_or_default();
        lock(&self.world).append_log(event, visible_at)
    }
}

/// Who did something, as a System Log `actor` / `target` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: String,
    /// `User`, `PublicClientApp`, `UserGroup`, `AppInstance`…
    pub kind: String,
    pub alternate_id: String,
    pub display_name: String,
}

impl Party {
    /// The org's administrator (the actor of test-API changes, as if made in the Admin
    /// Console).
    pub fn admin() -> Self {
        Self {
            id: "00usimadmin0000001".into(),
            kind: "User".into(),
            alternate_id: "admin@example-corp.com".into(),
            display_name: "Okta Admin".into(),
        }
    }

    /// A user as a target.
    pub fn user(user: &SimUser) -> Self {
        Self {
            id: user.id.clone(),
            kind: "User".into(),
            alternate_id: user.login.clone(),
            display_name: user.display_name(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "alternateId": self.alternate_id,
            "displayName": self.display_name,
            "detailEntry": null,
        })
    }
}

/// A System Log event to append through the test API, built in the `LogEvent` shape.
#[derive(Debug, Clone)]
pub struct LogEventSpec {
    pub uuid: Option<String>,
    pub event_type: String,
    pub display_message: String,
    pub legacy_event_type: Option<String>,
    pub actor: Party,
    pub targets: Vec<Party>,
    pub outcome_result: String,
    pub outcome_reason: Option<String>,
    /// Default: now.
    pub published: Option<DateTime<Utc>>,
    pub debug_data: Value,
    pub transaction_id: Option<String>,
}

/// Display message and legacy event type of the event types the simulator writes.
fn describe(event_type: &str) -> (&'static str, Option<&'static str>) {
    match event_type {
        "user.lifecycle.deactivate" => (
            "Deactivate Okta user",
            Some("core.user.config.user_deactivated"),
        ),
        "user.lifecycle.suspend" => ("Suspend Okta user", Some("core.user.config.user_suspended")),
        "user.lifecycle.delete.initiated" => ("Delete Okta user", None),
        "user.session.clear" => ("Clear user session", None),
        "group.user_membership.remove" => (
            "Remove user from group membership",
            Some("core.user_group_member.user_remove"),
        ),
        "application.user_membership.remove" => ("Remove user from application membership", None),
        _ => ("Okta event", None),
    }
}

impl LogEventSpec {
    /// An event of `event_type` by the org admin, successful, published now.
    pub fn new(event_type: &str) -> Self {
        let (display, legacy) = describe(event_type);
        Self {
            uuid: None,
            event_type: event_type.to_string(),
            display_message: display.to_string(),
            legacy_event_type: legacy.map(str::to_string),
            actor: Party::admin(),
            targets: Vec::new(),
            outcome_result: "SUCCESS".into(),
            outcome_reason: None,
            published: None,
            debug_data: json!({}),
            transaction_id: None,
        }
    }

    pub fn target(mut self, party: Party) -> Self {
        self.targets.push(party);
        self
    }

    pub fn actor(mut self, party: Party) -> Self {
        self.actor = party;
        self
    }

    pub fn published(mut self, at: DateTime<Utc>) -> Self {
        self.published = Some(at);
        self
    }

    pub fn uuid(mut self, uuid: &str) -> Self {
        self.uuid = Some(uuid.to_string());
        self
    }

    pub fn outcome(mut self, result: &str, reason: Option<&str>) -> Self {
        self.outcome_result = result.to_string();
        self.outcome_reason = reason.map(str::to_string);
        self
    }

    /// The `LogEvent` JSON.
    pub fn to_json(&self) -> Value {
        let published = self.published.unwrap_or_else(Utc::now);
        let transaction = self
            .transaction_id
            .clone()
            .unwrap_or_else(|| wire::object_id("sim"));
        json!({
            "uuid": self.uuid.clone().unwrap_or_else(wire::event_uuid),
            "published": wire::timestamp(published),
            "eventType": self.event_type,
            "version": "0",
            "displayMessage": self.display_message,
            "severity": "INFO",
            "legacyEventType": self.legacy_event_type,
            "actor": self.actor.to_json(),
            "client": {
                "userAgent": { "rawUserAgent": "Mozilla/5.0 (X11; Linux x86_64)", "os": "Linux", "browser": "FIREFOX" },
                "zone": "null", "device": "Computer", "id": null, "ipAddress": "203.0.113.24",
                "geographicalContext": null
            },
            "outcome": { "result": self.outcome_result, "reason": self.outcome_reason },
            "target": self.targets.iter().map(Party::to_json).collect::<Vec<_>>(),
            "transaction": { "type": "WEB", "id": transaction, "detail": {} },
            "debugContext": { "debugData": self.debug_data },
            "authenticationContext": {
                "authenticationProvider": null, "credentialProvider": null, "credentialType": null,
                "issuer": null, "interface": null, "authenticationStep": 0, "externalSessionId": null
            },
            "securityContext": { "asNumber": null, "asOrg": null, "isp": null, "domain": null, "isProxy": null }
        })
    }
}

/// A running simulated Okta org. Dropping it (or [`shutdown`](Self::shutdown)) stops it.
pub struct OktaSim {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for OktaSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OktaSim")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl OktaSim {
    /// Bind 127.0.0.1 and start serving.
    pub async fn start(config: OktaSimConfig) -> Result<Self, SimError> {
        if config.rate_limit == 0 {
            return Err(SimError::Config("rate_limit must be at least 1".into()));
        }
        if config.token_lifetime.is_zero() {
            return Err(SimError::Config("token_lifetime must not be zero".into()));
        }
        let mut auth = Auth::default();
        for client in config.clients.iter().cloned() {
            auth.register(client).map_err(SimError::Config)?;
        }
        let bound = Bound::bind(config.listen).await?;
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let shared = Arc::new(Shared {
            base_url: format!("http://{}", bound.addr()),
            token_lifetime: config.token_lifetime,
            settings: Mutex::new(Settings {
                deactivation_delay: config.deactivation_delay,
                log_delay: config.log_delay,
            }),
            world: Mutex::new(World::default()),
            auth: Mutex::new(auth),
            oidc: Mutex::new(oidc::Oidc::default()),
            limits: Mutex::new(RateLimits::new(config.rate_limit, config.rate_limit_window)),
            log: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            faults,
            signal: bound.signal(),
        });
        let server = bound.serve(routes::router(shared.clone()));
        tracing::debug!(base_url = %shared.base_url, "simulated Okta started");
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:<port>`: the org URL (`https://{yourOktaDomain}` in Okta's docs).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Register a web app for OpenID Connect sign-in (authorization code flow):
    /// its client id and secret, and the redirect URIs Okta accepts for it.
    pub fn register_web_app(&self, app: WebApp) -> Result<(), SimError> {
        lock(&self.shared.oidc)
            .register(app)
            .map_err(SimError::Config)
    }

    /// The user signed in to Okta in "the browser": authorize issues codes for them
    /// (`None`: nobody, authorize answers `login_required`).
    pub fn sign_in_browser(&self, user_id: Option<&str>) {
        lock(&self.shared.oidc).sign_in(user_id.map(str::to_string));
    }

    /// The token endpoint, which is also the `aud` client assertions must name.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.shared.base_url)
    }

    /// The runtime fault-injection control.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Register (or replace) a service app.
    pub fn register_client(&self, client: SimClient) -> Result<(), SimError> {
        lock(&self.shared.auth)
            .register(client)
            .map_err(SimError::Config)
    }

    /// Invalidate every access token issued so far (clients must fetch new ones).
    pub fn revoke_access_tokens(&self) {
        lock(&self.shared.auth).revoke_all();
    }

    /// Access tokens issued by the token endpoint so far.
    pub fn access_tokens_issued(&self) -> u64 {
        lock(&self.shared.auth).issued()
    }

    /// Create an `ACTIVE` user whose login and email are `login`; returns its id.
    pub fn add_user(&self, login: &str, first_name: &str, last_name: &str) -> String {
        self.add_user_with(login, login, first_name, last_name, "ACTIVE")
    }

    /// Create a user with a distinct email and any status; returns its id.
    pub fn add_user_with(
        &self,
        login: &str,
        email: &str,
        first_name: &str,
        last_name: &str,
        status: &str,
    ) -> String {
        lock(&self.shared.world).add_user(login, email, first_name, last_name, status)
    }

    /// A user by id or login.
    pub fn user(&self, key: &str) -> Option<SimUser> {
        self.shared.world().find_user(key).cloned()
    }

    /// Remove a user entirely (later calls answer 404).
    pub fn delete_user(&self, id: &str) -> bool {
        lock(&self.shared.world).delete_user(id)
    }

    /// Deactivate a user as an admin in the Admin Console would: the user goes through
    /// `transitioningToStatus` to `DEPROVISIONED` and `user.lifecycle.deactivate` is
    /// written to the System Log — and no event hook is delivered (a lost delivery).
    /// Returns the event's uuid, or `None` for an unknown user.
    pub fn admin_deactivate(&self, id: &str) -> Option<String> {
        let delay = self.shared.settings().deactivation_delay;
        let user = {
            let mut world = self.shared.world();
            let user = world.find_user(id)?.clone();
            let now = Utc::now();
            world.begin_deactivation(
                &user.id,
                now,
                now + chrono::Duration::from_std(delay).unwrap_or_default(),
            );
            user
        };
        Some(self.append_log_event(
            LogEventSpec::new("user.lifecycle.deactivate").target(Party::user(&user)),
        ))
    }

    /// Start a session for the user; returns its id.
    pub fn add_session(&self, user_id: &str) -> String {
        lock(&self.shared.world).add_session(user_id, chrono::Duration::hours(2))
    }

    /// The user's live sessions.
    pub fn sessions(&self, user_id: &str) -> Vec<SimSession> {
        self.shared.world().sessions_of(user_id)
    }

    /// Register an OIDC app users can hold tokens for.
    pub fn add_app(&self, client_id: &str, client_name: &str) {
        lock(&self.shared.world).add_app(client_id, client_name);
    }

    /// Issue a refresh token to the user for `client_id` (registered with
    /// [`add_app`](Self::add_app) first, or named after its id); returns its id.
    pub fn add_refresh_token(&self, user_id: &str, client_id: &str, scopes: &[&str]) -> String {
        let mut world = lock(&self.shared.world);
        if world.app(client_id).is_none() {
            world.add_app(client_id, client_id);
        }
        world.add_refresh_token(user_id, client_id, scopes, chrono::Duration::days(90))
    }

    /// The user's live refresh tokens.
    pub fn refresh_tokens(&self, user_id: &str) -> Vec<SimRefreshToken> {
        self.shared.world().refresh_tokens_of(user_id)
    }

    /// Record a scope consent of the user for `client_id`; returns its id.
    pub fn add_grant(&self, user_id: &str, client_id: &str, scope: &str) -> String {
        let mut world = lock(&self.shared.world);
        if world.app(client_id).is_none() {
            world.add_app(client_id, client_id);
        }
        world.add_grant(user_id, client_id, scope)
    }

    /// The user's grants.
    pub fn grants(&self, user_id: &str) -> Vec<SimGrant> {
        self.shared.world().grants_of(user_id)
    }

    /// Set how many devices remember the user's factors.
    pub fn set_remembered_devices(&self, user_id: &str, devices: u32) {
        if let Some(user) = lock(&self.shared.world).user_mut(user_id) {
            user.remembered_devices = devices;
        }
    }

    /// Append an event to the System Log (visible at once); no hook is delivered.
    /// Returns its uuid.
    pub fn append_log_event(&self, event: LogEventSpec) -> String {
        self.append_raw_log_event(event.to_json())
    }

    /// Append a raw `LogEvent` (its `uuid`/`published` are filled in when missing).
    pub fn append_raw_log_event(&self, event: Value) -> String {
        lock(&self.shared.world).append_log(event, Utc::now())
    }

    /// Append an event that becomes visible to `GET /api/v1/logs` only after `delay`
    /// (its `published` time stays as given: the log is eventually consistent).
    pub fn append_log_event_visible_after(&self, event: Value, delay: Duration) -> String {
        let visible_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        lock(&self.shared.world).append_log(event, visible_at)
    }

    /// Every System Log event (visible or not), in log order.
    pub fn log_events(&self) -> Vec<Value> {
        lock(&self.shared.world).log_events()
    }

    /// System Log events of one type naming `target_id` among their targets.
    pub fn log_events_for(&self, event_type: &str, target_id: &str) -> Vec<Value> {
        self.log_events()
            .into_iter()
            .filter(|e| e["eventType"] == event_type)
            .filter(|e| {
                e["target"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["id"] == target_id))
            })
            .collect()
    }

    /// Make API side effects' events visible only after `delay`.
    pub fn set_log_delay(&self, delay: Duration) {
        lock(&self.shared.settings).log_delay = delay;
    }

    /// Change how long deactivations stay in transition.
    pub fn set_deactivation_delay(&self, delay: Duration) {
        lock(&self.shared.settings).deactivation_delay = delay;
    }

    /// Change the rate limit; every bucket starts a fresh window.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        lock(&self.shared.limits).reconfigure(limit.max(1), window);
    }

    /// Every request received so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Requests received so far.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Requests with `method` whose path starts with `path_prefix`.
    pub fn calls(&self, method: &Method, path_prefix: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(path_prefix))
            .count()
    }

    /// Requests answered 429 (budget spent or injected).
    pub fn rate_limited_responses(&self) -> u64 {
        self.shared.rate_limited.load(Ordering::Relaxed)
    }

    /// Stop the server: no new connections, in-flight latency and hangs end at once.
    pub async fn shutdown(mut self) {
        self.server.shutdown(Duration::from_secs(5)).await;
    }
}
