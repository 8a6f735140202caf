//! A simulated Microsoft identity platform (token endpoint) and Microsoft Graph v1.0,
//! served over real HTTP on 127.0.0.1. One server plays both hosts: point both
//! `authority_url` and `graph_url` at [`EntraSim::base_url`].
//!
//! It follows the documented behaviour of the calls Leaver makes (see
//! `../shared/PROTOCOLS.md` §B):
//!
//! | call | answer |
//! |---|---|
//! | `POST /{tenant}/oauth2/v2.0/token` form `grant_type=client_credentials, client_id, client_secret, scope=https://graph.microsoft.com/.default` | 200 `{token_type:"Bearer", expires_in:3599, ext_expires_in, access_token}`; AADSTS errors `{error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri}`: unknown tenant 400 `invalid_request` (90002), unknown client 400 `unauthorized_client` (700016), wrong secret 401 `invalid_client` (7000215), no secret 401 `invalid_client` (7000216), scope without `/.default` 400 `invalid_scope` (1002012), other grants 400 `unsupported_grant_type` (70003) |
//! | every `/v1.0/…` call | `Authorization: Bearer <issued, unexpired token>`, else 401 `InvalidAuthenticationToken` (with `WWW-Authenticate`) |
//! | `GET /v1.0/users/{id or UPN}[?$select=]` | 200 user; **`accountEnabled` only when selected** (not a default property); 404 `Request_ResourceNotFound` for unknown or soft-deleted users; 400 `Request_BadRequest` for an unknown `$select` name |
//! | `PATCH /v1.0/users/{id}` `{accountEnabled, displayName, jobTitle}` | 204; 400 for other or ill-typed properties; 404 |
//! | `POST /v1.0/users/{id}/revokeSignInSessions` | **200** `{"@odata.context":"…#Edm.Boolean","value":true}` (Graph's known issue: not 204); resets `signInSessionsValidFromDateTime` to now (whole seconds) |
//! | `GET /v1.0/directory/deletedItems/{id}` | 200 a soft-deleted user (`@odata.type`, `deletedDateTime`, UPN prefixed by the object id without dashes, as Entra renames it); 404 otherwise |
//! | `GET /v1.0/users/delta[?$select=]`, then `@odata.nextLink` (`$skiptoken`) pages, then `@odata.deltaLink` (`$deltatoken`) | initial round: every live user; later rounds: users changed since the token, soft-deleted ones as `{"id", "@removed": {"reason": "changed"}}`, hard-deleted ones `reason: "deleted"`; `$select` is carried in the opaque tokens; `$deltatoken=latest` answers only a deltaLink ("sync from now"); an expired or foreign token is 400 `syncStateNotFound` |
//! | `POST /v1.0/subscriptions` `{changeType, notificationUrl, lifecycleNotificationUrl?, resource:"users", expirationDateTime, clientState?}` | validates every URL first: **POST `url?validationToken=<percent-encoded>`** (`text/plain`, empty body), needs 200 `text/plain` with the decoded token within 10 s, else 400 `ValidationError`; expiration in the future and at most 41,760 minutes ahead; HTTPS URLs (plain http is accepted only for loopback hosts, so tests need no TLS); 201 subscription (with `clientState`) |
//! | `GET /v1.0/subscriptions[/{id}]`, `PATCH /v1.0/subscriptions/{id}` `{expirationDateTime}`, `DELETE /v1.0/subscriptions/{id}` | 200 (clientState not echoed); 200 renewed; 204; 404 `ResourceNotFound` |
//! | `POST /v1.0/subscriptions/{id}/reauthorize` | 204 |
//!
//! Change notifications: every change of a user made through the API or the test API
//! ([`EntraSim::disable_user`], [`EntraSim::soft_delete_user`], …) is POSTed to each
//! unexpired `users` subscription that asked for its change type, in the shape of
//! `fixtures/graph-change-notification.json`. **Disabling, soft-deleting, restoring and
//! creating a user are `updated`; only a permanent delete is `deleted`**, as Graph does.
//! A delivery needs a 2xx within `delivery_timeout` (3 s); otherwise it is retried after
//! each of `delivery_retries` (Graph retries for up to 4 hours). Lifecycle notifications
//! ([`EntraSim::send_lifecycle`]) go to `lifecycleNotificationUrl` in the shape of
//! `fixtures/graph-lifecycle-notification.json`. [`EntraSim::set_notifications`] turns
//! delivery off, to lose notifications on purpose.
//!
//! Faults ([`crate::faults::Faults`] via [`EntraSim::faults`]) are rendered in Graph's
//! error format: 429 `TooManyRequests` with `Retry-After`, 503 `serviceNotAvailable`,
//! 504, 500 `generalException`; a hang holds the request, then answers 504. An optional
//! request budget ([`EntraSimConfig::throttle`]) answers 429 with the seconds left in
//! the window. The token endpoint is subject to faults too.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leaver_sim::SimError> {
//! use leaver_sim::entra::{EntraSim, EntraSimConfig};
//!
//! let sim = EntraSim::start(EntraSimConfig::default()).await?;
//! let alice = sim.add_user("alice@example.com", "Alice Example");
//! sim.disable_user(&alice); // notifies every subscription asking for `updated`
//! assert_eq!(sim.user(&alice).map(|u| u.account_enabled), Some(false));
//! # Ok(()) }
//! ```

mod notify;
mod routes;
pub mod wire;
mod world;

pub use world::{Presence, SimSubscription, SimUser};

use crate::faults::Faults;
use crate::server::{Bound, Server, ShutdownSignal, SimError};
use axum::http::Method;
use chrono::Utc;
use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use world::World;

/// A request budget: at most `requests` Graph calls per `window`, then 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub requests: u32,
    pub window: Duration,
}

/// How to start an [`EntraSim`].
#[derive(Clone)]
pub struct EntraSimConfig {
    /// The tenant (directory) id in token URLs and notifications.
    pub tenant_id: String,
    /// The registered application's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Lifetime of issued access tokens (Entra: 3599 s).
    pub token_lifetime: Duration,
    /// Users per delta page.
    pub delta_page_size: usize,
    /// How long the validation request waits for the echo (Graph: 10 s).
    pub validation_timeout: Duration,
    /// How long a notification delivery waits for the 2xx (Graph: 3 s).
    pub delivery_timeout: Duration,
    /// Waits before each redelivery of a failed notification.
    pub delivery_retries: Vec<Duration>,
    /// Optional request budget for Graph calls.
    pub throttle: Option<Throttle>,
    /// Fixed latency added to every answer.
    pub latency: Duration,
    /// Where to listen (default `127.0.0.1:0`).
    pub listen: SocketAddr,
}

impl Default for EntraSimConfig {
    fn default() -> Self {
        Self {
            tenant_id: "b1e2c3d4-5f60-4a7b-8c9d-0e1f2a3b4c5d".into(),
            client_id: "11111111-1111-1111-1111-111111111111".into(),
            client_secret: "sim-entra-client-secret".into(),
            token_lifetime: Duration::from_secs(3599),
            delta_page_size: 100,
            validation_timeout: Duration::from_secs(10),
            delivery_timeout: Duration::from_secs(3),
            delivery_retries: vec![Duration::from_secs(1), Duration::from_secs(2)],
            throttle: None,
            latency: Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl fmt::Debug for EntraSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraSimConfig")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_lifetime", &self.token_lifetime)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// One request as the simulator saw it. Tokens and secrets are never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub at: SystemTime,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    /// Whether a bearer token was sent.
    pub bearer_sent: bool,
    /// The injected fault, if any.
    pub fault: Option<String>,
    /// Status of the answer (0 if the client went away first).
    pub status: u16,
    pub elapsed: Duration,
}

/// What the simulator POSTed to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// The `?validationToken=` handshake.
    Validation,
    /// A change notification.
    Change,
    /// A lifecycle notification.
    Lifecycle,
}

/// One outgoing POST and how the subscriber answered each attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: u64,
    pub kind: DeliveryKind,
    /// The URL without the validation query.
    pub url: String,
    /// The JSON body (empty for a validation).
    pub body: String,
    /// Status of each attempt; 0 when it failed without an answer (timeout, refused).
    pub attempts: Vec<u16>,
    /// Whether an attempt succeeded (2xx; for a validation: the exact echo).
    pub delivered: bool,
    /// Whether no further attempt will be made.
    pub finished: bool,
}

const LOG_CAPACITY: usize = 100_000;

struct ThrottleWindow {
    started: Instant,
    used: u32,
}

pub(crate) struct Shared {
    config: EntraSimConfig,
    base_url: String,
    world: Mutex<World>,
    log: Mutex<VecDeque<RequestRecord>>,
    deliveries: Mutex<Vec<DeliveryRecord>>,
    delivery_changed: tokio::sync::Notify,
    next_delivery: AtomicU64,
    notifications: AtomicBool,
    deny_writes: AtomicBool,
    throttle: Mutex<ThrottleWindow>,
    requests: AtomicU64,
    faults: Faults,
    signal: ShutdownSignal,
    http: reqwest::Client,
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
}

/// A running simulated Entra tenant. Dropping it (or [`shutdown`](Self::shutdown))
/// stops it.
pub struct EntraSim {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for EntraSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraSim")
            .field("base_url", &self.server.base_url())
            .finish_non_exhaustive()
    }
}

impl EntraSim {
    /// Bind 127.0.0.1 and start serving.
    pub async fn start(config: EntraSimConfig) -> Result<Self, SimError> {
        for (name, value) in [
            ("tenant_id", &config.tenant_id),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ] {
            if value.trim().is_empty() {
                return Err(SimError::Config(format!("{name} must not be empty")));
            }
        }
        if config.delta_page_size == 0 {
            return Err(SimError::Config(
                "delta_page_size must be at least 1".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Microsoft-Graph-Sim-ChangeTracking/1.0")
            .build()
            .map_err(|e| SimError::Config(format!("cannot build the HTTP client: {e}")))?;
        let bound = Bound::bind(config.listen).await?;
        let base_url = format!("http://{}", bound.addr());
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let shared = Arc::new(Shared {
            config,
            base_url,
            world: Mutex::new(World::default()),
            log: Mutex::new(VecDeque::new()),
            deliveries: Mutex::new(Vec::new()),
            delivery_changed: tokio::sync::Notify::new(),
            next_delivery: AtomicU64::new(1),
            notifications: AtomicBool::new(true),
            deny_writes: AtomicBool::new(false),
            throttle: Mutex::new(ThrottleWindow {
                started: Instant::now(),
                used: 0,
            }),
            requests: AtomicU64::new(0),
            faults,
            signal: bound.signal(),
            http,
        });
        let server = bound.serve(routes::router(shared.clone()));
        tracing::debug!(base_url = %server.base_url(), "simulated Entra started");
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:<port>`: both the authority and the Graph base URL.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.shared.config.tenant_id
    }

    /// The runtime fault-injection control.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.shared.world)
    }

    /// Create an enabled user; returns its object id. Notifies `updated` (Graph reports
    /// user creation as `updated`).
    pub fn add_user(&self, upn: &str, display_name: &str) -> String {
        let id = self.world().add_user(upn, display_name);
        notify::user_changed(&self.shared, &id, "updated");
        id
    }

    /// A snapshot of a user (any presence), by id or UPN.
    pub fn user(&self, key: &str) -> Option<SimUser> {
        self.world().find(key).cloned()
    }

    fn live_change(&self, id: &str, change_type: &str, f: impl FnOnce(&mut SimUser)) -> bool {
        let changed = {
            let mut world = self.world();
            if world.live_user(id).is_none() {
                return false;
            }
            world.change(id, f)
        };
        if changed {
            notify::user_changed(&self.shared, id, change_type);
        }
        changed
    }

    /// Block sign-in (`accountEnabled = false`), as an admin would in the portal;
    /// notifies `updated`. False for an unknown or deleted user.
    pub fn disable_user(&self, id: &str) -> bool {
        self.live_change(id, "updated", |u| u.account_enabled = false)
    }

    /// Allow sign-in again; notifies `updated`.
    pub fn enable_user(&self, id: &str) -> bool {
        self.live_change(id, "updated", |u| u.account_enabled = true)
    }

    /// Move the user to the recycle bin; notifies `updated` (not `deleted`).
    pub fn soft_delete_user(&self, id: &str) -> bool {
        self.live_change(id, "updated", |u| {
            u.presence = Presence::SoftDeleted;
            u.deleted_at = Some(Utc::now());
        })
    }

    /// Restore a soft-deleted user; notifies `updated`.
    pub fn restore_user(&self, id: &str) -> bool {
        let changed = {
            let mut world = self.world();
            if world.users.get(id).map(|u| u.presence) != Some(Presence::SoftDeleted) {
                return false;
            }
            world.change(id, |u| {
                u.presence = Presence::Live;
                u.deleted_at = None;
            })
        };
        if changed {
            notify::user_changed(&self.shared, id, "updated");
        }
        changed
    }

    /// Delete permanently (from live or the recycle bin); notifies `deleted`.
    pub fn hard_delete_user(&self, id: &str) -> bool {
        let changed = {
            let mut world = self.world();
            if world.users.get(id).map(|u| u.presence) == Some(Presence::HardDeleted)
                || !world.users.contains_key(id)
            {
                return false;
            }
            world.change(id, |u| {
                u.presence = Presence::HardDeleted;
                u.deleted_at.get_or_insert_with(Utc::now);
            })
        };
        if changed {
            notify::user_changed(&self.shared, id, "deleted");
        }
        changed
    }

    /// Turn change-notification delivery on or off (off: changes are made, notifications
    /// are lost; delta queries still see them).
    pub fn set_notifications(&self, on: bool) {
        self.shared.notifications.store(on, Ordering::SeqCst);
    }

    /// Refuse writes with 403 `Authorization_RequestDenied` (an app without
    /// `User.ReadWrite.All`).
    pub fn set_deny_writes(&self, deny: bool) {
        self.shared.deny_writes.store(deny, Ordering::SeqCst);
    }

    /// Invalidate every outstanding delta token (they answer `syncStateNotFound`).
    pub fn expire_delta_tokens(&self) {
        self.world().delta_generation += 1;
    }

    /// Expire every issued access token (Graph answers 401 until a new one is used).
    pub fn expire_access_tokens(&self) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for expiry in self.world().tokens.values_mut() {
            *expiry = past;
        }
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.world().tokens_issued
    }

    /// Every subscription.
    pub fn subscriptions(&self) -> Vec<SimSubscription> {
        self.world().subscriptions.values().cloned().collect()
    }

    /// Create a subscription directly, without the validation handshake (to seed a test
    /// whose subscription exists already). Returns its id.
    pub fn seed_subscription(
        &self,
        notification_url: &str,
        lifecycle_notification_url: Option<&str>,
        client_state: Option<&str>,
        expires_in: Duration,
    ) -> String {
        let id = world::guid();
        let expiration = Utc::now()
            + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::hours(1));
        self.world().subscriptions.insert(
            id.clone(),
            SimSubscription {
                id: id.clone(),
                resource: "users".into(),
                change_type: "updated,deleted".into(),
                notification_url: notification_url.into(),
                lifecycle_notification_url: lifecycle_notification_url.map(str::to_string),
                client_state: client_state.map(str::to_string),
                expiration,
                application_id: self.shared.config.client_id.clone(),
                reauthorizations: 0,
                renewals: 0,
            },
        );
        id
    }

    /// Send a lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`,
    /// `missed`) for a subscription to its `lifecycleNotificationUrl`. False when the
    /// subscription is unknown or has no lifecycle URL.
    pub fn send_lifecycle(&self, subscription_id: &str, event: &str) -> bool {
        notify::lifecycle(&self.shared, subscription_id, event)
    }

    /// Every outgoing delivery so far, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.shared.deliveries).clone()
    }

    /// POST the body of an earlier delivery again (a redelivery, as Graph does when it
    /// did not see the 2xx in time). False for an unknown id or a validation.
    pub fn redeliver(&self, delivery_id: u64) -> bool {
        notify::redeliver(&self.shared, delivery_id)
    }

    /// Wait until `count` deliveries of `kind` have finished (delivered or given up);
    /// false on timeout.
    pub async fn wait_deliveries(&self, kind: DeliveryKind, count: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.shared.delivery_changed.notified();
            let finished = lock(&self.shared.deliveries)
                .iter()
                .filter(|d| d.kind == kind && d.finished)
                .count();
            if finished >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Every request received so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Requests received so far.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Stop the server: no new connections, in-flight sleeps end at once.
    pub async fn shutdown(mut self) {
        self.server.shutdown(Duration::from_secs(5)).await;
    }
}
