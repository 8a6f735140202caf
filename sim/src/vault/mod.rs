//! A simulated HashiCorp Vault HTTP API, served over real HTTP on 127.0.0.1.
//!
//! It follows Vault's documented behaviour for the calls an offboarding makes (see
//! `../shared/PROTOCOLS.md` §D and the Vault API docs):
//!
//! - **Auth**: `X-Vault-Token: <token>` (or `Authorization: Bearer <token>`). The
//!   configured operator token may call everything; any other live token may only call
//!   `auth/token/lookup-self` (and not at all once its entity is disabled). A missing or
//!   unknown token answers 403 `{"errors":["permission denied"]}`.
//! - **Namespaces**: `X-Vault-Namespace: team-a/` selects a namespace created with
//!   [`VaultSim::namespace`]; each has its own mounts, entities, tokens, leases and
//!   users. An unknown namespace answers 404 `no handler for route`, as an unknown path
//!   does (inference: Vault Enterprise routes by namespace first).
//! - **Operations**: `GET` reads, `LIST` or `GET ?list=true` lists, `POST`/`PUT` write,
//!   `DELETE` deletes. Writes and deletes answer 204 with no body; an empty list answers
//!   404 `{"errors":[]}`; reading something absent answers 404 `{"errors":[]}`; an
//!   unsupported operation 405; errors are `{"errors":[…]}`.
//! - **Endpoints** (all under `/v1/`):
//!
//!   | call | answer |
//!   |---|---|
//!   | `GET sys/health` (no token) | 200 |
//!   | `GET sys/auth` | 200 mounts (`userpass/: {accessor, type…}`), top level and in `data` |
//!   | `POST identity/lookup/entity` `{id}`, `{name}`, `{alias_id}` or `{alias_name, alias_mount_accessor}` | 200 entity / **204 when nothing matches** / 400 on a bad parameter set |
//!   | `GET identity/entity/id/:id`, `GET identity/entity/name/:name` | 200 entity (with `aliases`, `disabled`) / 404 |
//!   | `POST identity/entity/id/:id` `{disabled, policies, name}` | 204 / 400 `entity not found from id` |
//!   | `DELETE identity/entity/id/:id` | 204 (aliases go too; tokens stay) |
//!   | `LIST identity/entity/id`, `LIST identity/entity-alias/id` | keys |
//!   | `GET`/`DELETE identity/entity-alias/id/:id` | 200 / 404; 204 |
//!   | `LIST auth/token/accessors` | every token's accessor (the operator token's too) |
//!   | `POST auth/token/lookup-accessor {accessor}` | 200 token properties (`id` blanked) / 400 `invalid accessor` |
//!   | `POST auth/token/revoke-accessor {accessor}` | 204, children and leases revoked too / 400 `invalid accessor` |
//!   | `GET auth/token/lookup-self` | 200 for a usable token |
//!   | `PUT sys/leases/revoke-prefix/:prefix` | 204 (exact lease id first, else `prefix/`) |
//!   | `LIST sys/leases/lookup/:prefix/` | next path segments under the prefix |
//!   | `PUT sys/leases/lookup {lease_id}` | 200 / 400 `invalid lease` |
//!   | `LIST auth/:mount/users`, `GET`/`POST`/`DELETE auth/:mount/users/:name` (userpass) | keys; 200 / 404; 204; 204 (also when absent) |
//!   | `POST auth/:mount/login/:name {password}` (no token) | 200 `auth{client_token, accessor, entity_id…}` / 400 `invalid username or password` / 403 if the entity is disabled |
//!   | KV v2 `:mount/data/:path`, `:mount/metadata/:path` (mounts made by [`VaultNamespace::add_kv_mount`]) | see the `kv` module |
//!
//! Faults ([`crate::faults::Faults`], via [`VaultSim::faults`]) are rendered as Vault or
//! a proxy in front of it would answer: 500 `internal error`, 503 `Vault is sealed`,
//! 502/504 a proxy's HTML page, 429 `rate limit quota exceeded` with `Retry-After`,
//! 403 `permission denied`; a hang holds the request, then answers 504.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leaver_sim::SimError> {
//! use leaver_sim::vault::{VaultSim, VaultSimConfig};
//!
//! let sim = VaultSim::start(VaultSimConfig { token: "hvs.operator".into(), ..Default::default() }).await?;
//! let root = sim.root();
//! let alice = root.add_entity("alice");
//! root.add_alias(&alice, "oidc", "alice@example.com");
//! let token = root.add_token(&alice, "auth/oidc/oidc/callback");
//! sim.faults().fail_next(1, 503);
//! // … point a client at sim.base_url() …
//! assert!(root.token_is_live(&token.accessor));
//! # Ok(()) }
//! ```

mod kv;
mod routes;
mod wire;
mod world;

pub use world::IssuedToken;

use crate::faults::Faults;
use crate::server::{Bound, Server, ShutdownSignal, SimError};
use axum::http::Method;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use world::World;

/// How to start a [`VaultSim`].
#[derive(Clone)]
pub struct VaultSimConfig {
    /// The operator token clients must present (`X-Vault-Token`).
    pub token: String,
    /// Fixed latency added to every answer.
    pub latency: Duration,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
}

impl Default for VaultSimConfig {
    fn default() -> Self {
        Self {
            token: "hvs.sim-operator-token".into(),
            latency: Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl fmt::Debug for VaultSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSimConfig")
            .field("token", &"[redacted]")
            .field("latency", &self.latency)
            .field("listen", &self.listen)
            .finish()
    }
}

/// One request as the simulated Vault saw it. Tokens are never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: SystemTime,
    /// HTTP method (`LIST` included).
    pub method: Method,
    /// Path, e.g. `/v1/identity/lookup/entity`.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// `X-Vault-Namespace`, without slashes, when sent and not root.
    pub namespace: Option<String>,
    /// Whether a token was sent.
    pub token_sent: bool,
    /// Whether the token was accepted.
    pub auth_ok: bool,
    /// The injected fault, if any.
    pub fault: Option<String>,
    /// Status of the answer (0 if the client went away first).
    pub status: u16,
    /// Time from arrival to answer.
    pub elapsed: Duration,
}

const LOG_CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
}

pub(crate) struct Shared {
    token: String,
    worlds: Mutex<BTreeMap<String, World>>,
    log: Mutex<VecDeque<RequestRecord>>,
    counters: Counters,
    faults: Faults,
    signal: ShutdownSignal,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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

/// A running simulated Vault. Dropping it (or [`shutdown`](Self::shutdown)) stops it.
pub struct VaultSim {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for VaultSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSim")
            .field("base_url", &self.server.base_url())
            .finish_non_exhaustive()
    }
}

impl VaultSim {
    /// Bind 127.0.0.1 and start serving. The root namespace has the `token/` and
    /// `userpass/` auth mounts and the operator token.
    pub async fn start(config: VaultSimConfig) -> Result<Self, SimError> {
        if config.token.trim().is_empty() {
            return Err(SimError::Config(
                "the operator token must not be empty".into(),
            ));
        }
        let bound = Bound::bind(config.listen).await?;
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let mut root = World::new("root");
        root.add_mount("userpass", "userpass");
        let operator = root.issue_token(
            "",
            "root",
            "auth/token/root",
            vec!["root".into()],
            BTreeMap::new(),
            None,
            0,
        );
        // The operator's secret is whatever was configured, not a generated one.
        if let Some(tok) = root.tokens.get_mut(&operator.accessor) {
            tok.id = config.token.clone();
        }
        let shared = Arc::new(Shared {
            token: config.token,
            worlds: Mutex::new(BTreeMap::from([(String::new(), root)])),
            log: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
            faults,
            signal: bound.signal(),
        });
        let router = routes::router(shared.clone());
        let server = bound.serve(router);
        tracing::debug!(base_url = %server.base_url(), "simulated Vault started");
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:<port>` — use as `VAULT_ADDR`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The runtime fault-injection control.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The root namespace, for seeding and inspection.
    pub fn root(&self) -> VaultNamespace<'_> {
        self.namespace("")
    }

    /// A namespace (`team-a`, `team-a/dev`), created with a `token/` and `userpass/`
    /// mount if it does not exist yet. `""` or `root` is the root namespace.
    pub fn namespace(&self, ns: &str) -> VaultNamespace<'_> {
        let ns = ns.trim_matches('/');
        let ns = if ns == "root" { "" } else { ns };
        lock(&self.shared.worlds)
            .entry(ns.to_string())
            .or_insert_with(|| {
                let mut world = World::new(&world::random_base62(5));
                world.add_mount("userpass", "userpass");
                world
            });
        VaultNamespace {
            shared: &self.shared,
            ns: ns.to_string(),
        }
    }

    /// Every request received so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Requests received so far.
    pub fn request_count(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }

    /// Stop the server: no new connections, in-flight latency and hangs end at once.
    pub async fn shutdown(mut self) {
        self.server.shutdown(Duration::from_secs(5)).await;
    }
}

/// An alias as the simulator reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInfo {
    /// Alias id.
    pub id: String,
    /// Alias name.
    pub name: String,
    /// Mount path (`userpass/`), or the accessor when the mount is gone.
    pub mount: String,
}

/// Seeding and inspection of one namespace of a [`VaultSim`].
#[derive(Clone)]
pub struct VaultNamespace<'a> {
    shared: &'a Shared,
    ns: String,
}

impl fmt::Debug for VaultNamespace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultNamespace")
            .field("ns", &self.ns)
            .finish()
    }
}

impl VaultNamespace<'_> {
    fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut worlds = lock(&self.shared.worlds);
        let world = worlds
            .entry(self.ns.clone())
            .or_insert_with(|| World::new(&self.ns));
        f(world)
    }

    /// Mount an auth method (`oidc`, `userpass`, …) at `path`; returns its accessor
    /// (the existing one if already mounted).
    pub fn add_auth_mount(&self, path: &str, kind: &str) -> String {
        self.with(|w| w.add_mount(path, kind))
    }

    /// The accessor of the auth mount at `path`.
    pub fn mount_accessor(&self, path: &str) -> Option<String> {
        self.with(|w| w.mount(path).map(|m| m.accessor.clone()))
    }

    /// Create an entity named `name` (a generated `entity_…` name when empty); returns
    /// its id.
    pub fn add_entity(&self, name: &str) -> String {
        self.with(|w| w.add_entity(name, &["default"]))
    }

    /// Link `name` on the auth mount at `mount_path` to the entity. The mount is created
    /// when missing, with the type named by its path (`oidc`, `userpass`…). Returns the
    /// alias id (`None` for an unknown entity).
    pub fn add_alias(&self, entity_id: &str, mount_path: &str, name: &str) -> Option<String> {
        self.with(|w| {
            let kind = w
                .mount(mount_path)
                .map(|m| m.kind.clone())
                .unwrap_or_else(|| mount_path.trim_matches('/').to_string());
            w.add_alias(entity_id, mount_path, &kind, name)
        })
    }

    /// Issue a service token for the entity, as a login at `path` would
    /// (`auth/oidc/oidc/callback`); it has a 768 h TTL and its own lease under `path`.
    pub fn add_token(&self, entity_id: &str, path: &str) -> IssuedToken {
        self.with(|w| {
            let display = path.split('/').nth(1).unwrap_or("token").to_string();
            w.issue_token(
                entity_id,
                &display,
                path,
                vec!["default".into()],
                BTreeMap::new(),
                None,
                2_764_800,
            )
        })
    }

    /// A child token of the token with `parent_accessor` (as `auth/token/create` issues
    /// it): same entity, revoked with its parent. `None` for an unknown parent.
    pub fn add_child_token(&self, parent_accessor: &str) -> Option<IssuedToken> {
        self.with(|w| {
            let parent = w.token(parent_accessor)?.clone();
            Some(w.issue_token(
                &parent.entity_id,
                "token",
                "auth/token/create",
                parent.policies.clone(),
                BTreeMap::new(),
                Some(parent.accessor.clone()),
                3_600,
            ))
        })
    }

    /// Add a secret lease (`database/creds/readonly/AbC`), owned by the token with
    /// `token_accessor` when given (revoked with it).
    pub fn add_lease(&self, lease_id: &str, token_accessor: Option<&str>) {
        self.with(|w| w.add_lease(lease_id, token_accessor))
    }

    /// Create a userpass user on the userpass mount at `mount` (mounted if missing).
    pub fn add_userpass_user(
        &self,
        mount: &str,
        username: &str,
        password: &str,
        policies: &[&str],
    ) {
        self.with(|w| w.add_user(mount, username, password, policies))
    }

    /// Log in as a userpass user directly (no HTTP): alias, entity, token and lease as
    /// Vault creates them. `None` for bad credentials or a disabled entity.
    pub fn login_userpass(
        &self,
        mount: &str,
        username: &str,
        password: &str,
    ) -> Option<(IssuedToken, String)> {
        self.with(|w| {
            w.login(mount, username, password)
                .ok()
                .map(|(issued, token)| (issued, token.entity_id))
        })
    }

    /// Whether the entity is disabled (`None`: no such entity).
    pub fn is_disabled(&self, entity_id: &str) -> Option<bool> {
        self.with(|w| w.entity(entity_id).map(|e| e.disabled))
    }

    /// Whether the entity exists.
    pub fn entity_exists(&self, entity_id: &str) -> bool {
        self.with(|w| w.entity(entity_id).is_some())
    }

    /// Ids of every entity.
    pub fn entity_ids(&self) -> Vec<String> {
        self.with(|w| w.entities().map(|e| e.id.clone()).collect())
    }

    /// The entity's aliases.
    pub fn aliases_of(&self, entity_id: &str) -> Vec<AliasInfo> {
        self.with(|w| {
            w.aliases_of(entity_id)
                .into_iter()
                .map(|a| AliasInfo {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    mount: w
                        .mount_by_accessor(&a.mount_accessor)
                        .map(|m| m.path.clone())
                        .unwrap_or_else(|| a.mount_accessor.clone()),
                })
                .collect()
        })
    }

    /// Accessors of the entity's live (unrevoked) tokens, sorted.
    pub fn live_tokens(&self, entity_id: &str) -> Vec<String> {
        self.with(|w| {
            w.tokens()
                .filter(|t| t.entity_id == entity_id)
                .map(|t| t.accessor.clone())
                .collect()
        })
    }

    /// Whether the token with this accessor is still live.
    pub fn token_is_live(&self, accessor: &str) -> bool {
        self.with(|w| w.token(accessor).is_some())
    }

    /// Accessors of every live token (the operator token's included).
    pub fn all_tokens(&self) -> Vec<String> {
        self.with(|w| w.tokens().map(|t| t.accessor.clone()).collect())
    }

    /// Tokens revoked so far (children included).
    pub fn revoked_tokens(&self) -> u64 {
        self.with(|w| w.revoked_tokens)
    }

    /// Leases revoked so far (token leases included).
    pub fn revoked_leases(&self) -> u64 {
        self.with(|w| w.revoked_leases)
    }

    /// Live lease ids starting with `prefix`, sorted.
    pub fn leases_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.with(|w| w.leases_with_prefix(prefix))
    }

    /// Whether the userpass user exists on the mount.
    pub fn userpass_user_exists(&self, mount: &str, username: &str) -> bool {
        self.with(|w| w.user(mount, username).is_some())
    }

    /// Enable a KV version 2 secrets engine at `mount` (`secret`).
    pub fn add_kv_mount(&self, mount: &str) {
        self.with(|w| {
            w.kv.mounts
                .entry(mount.trim_matches('/').to_string())
                .or_default();
        })
    }

    /// Write a new version of the KV v2 secret at `path` on `mount` (the mount is
    /// enabled if missing); returns the version.
    pub fn put_kv(&self, mount: &str, path: &str, data: &[(&str, &str)]) -> u64 {
        let data = data
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        self.with(|w| {
            w.kv.secret_mut(mount.trim_matches('/'), path.trim_matches('/'))
                .write(data)
        })
    }

    /// Set the KV v2 secret's `custom_metadata`.
    pub fn set_kv_custom_metadata(&self, mount: &str, path: &str, metadata: &[(&str, &str)]) {
        self.with(|w| {
            w.kv.secret_mut(mount.trim_matches('/'), path.trim_matches('/'))
                .custom_metadata = metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        })
    }

    /// The KV v2 secret's current version (`None`: no such secret).
    pub fn kv_current_version(&self, mount: &str, path: &str) -> Option<u64> {
        self.with(|w| {
            w.kv.secret(mount.trim_matches('/'), path.trim_matches('/'))
                .map(|s| s.current_version())
        })
    }

    /// The string values of the KV v2 secret's current version, by key.
    pub fn kv_current_data(&self, mount: &str, path: &str) -> Option<BTreeMap<String, String>> {
        self.with(|w| {
            let secret =
                w.kv.secret(mount.trim_matches('/'), path.trim_matches('/'))?;
            let (data, _) = secret.versions.get(&secret.current_version())?;
            Some(
                data.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            )
        })
    }

    /// Usernames on the userpass mount, sorted.
    pub fn userpass_users(&self, mount: &str) -> Vec<String> {
        self.with(|w| w.users_of(mount))
    }
}
