//! A simulated ServiceNow instance (REST Table API), served over real HTTP on
//! 127.0.0.1.
//!
//! It follows the documented Table API for the calls HR ticket automation makes:
//!
//! - **Auth**: HTTP Basic `username:password`. Missing or wrong credentials answer 401
//!   `{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth
//!   information"},"status":"failure"}` with `WWW-Authenticate: BASIC
//!   realm="Service-now"`.
//! - **Endpoints** (under `/api/now/table/`):
//!
//!   | call | answer |
//!   |---|---|
//!   | `GET {table}?sysparm_query=&sysparm_fields=&sysparm_limit=&sysparm_offset=` | 200 `{"result":[...]}` with `X-Total-Count` and a `Link` header (`first`, `prev`, `next`, `last`) |
//!   | `GET {table}/{sys_id}` | 200 `{"result":{...}}` / 404 `No Record found` |
//!   | `PATCH` or `PUT {table}/{sys_id}` `{"work_notes": "...", …}` | 200 `{"result":{...}}`; `work_notes` and `comments` append a journal entry (`sys_journal_field`) and read back as `""`; unknown fields are ignored / 404 |
//!   | `POST {table}` | 201 the new record |
//!   | `GET sys_journal_field?sysparm_query=element_id={sys_id}^element=work_notes^…` | the journal entries (`value`, `sys_created_on`, `sys_created_by`, …) |
//!
//!   An unknown table answers 400 `Invalid table <name>`; a body that is not a JSON
//!   object 400 `Exception while reading request`; a path outside the Table API 400
//!   `Requested URI does not represent any resource`. Encoded queries support `^`,
//!   `=`, `!=`, `LIKE`, `NOT LIKE`, `STARTSWITH`, `ENDSWITH`, `ISEMPTY`, `ISNOTEMPTY`,
//!   `ORDERBY` and `ORDERBYDESC`; an unsupported or invalid query matches no rows (see
//!   `query`). Every value is a string; times are `YYYY-MM-DD HH:MM:SS` UTC.
//!
//! Faults ([`crate::faults::Faults`], via [`ServiceNowSim::faults`]) are rendered as
//! an instance would answer them: 429 `Rate limit exceeded` with `Retry-After` and
//! `X-RateLimit-*`, 403 the ACL refusal, 500 ServiceNow JSON, 502–504 the instance's
//! HTML "unavailable" page; a hang holds the request, then answers 504; a slow apply
//! writes but answers late.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leaver_sim::SimError> {
//! use leaver_sim::servicenow::{ServiceNowSim, ServiceNowSimConfig};
//!
//! let sim = ServiceNowSim::start(ServiceNowSimConfig::default()).await?;
//! let sys_id = sim.add_record("sn_hr_core_case", "HRC0001234", "Offboard alice");
//! sim.faults().too_many_requests_next(1, std::time::Duration::from_secs(1));
//! // … point a client at sim.base_url() with Basic auth …
//! assert!(sim.work_notes("sn_hr_core_case", "HRC0001234").is_empty());
//! # let _ = sys_id;
//! # Ok(()) }
//! ```

mod query;
mod routes;
mod wire;
mod world;

use crate::faults::Faults;
use crate::server::{Bound, Server, ShutdownSignal, SimError};
use axum::http::Method;
use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use world::World;

/// How to start a [`ServiceNowSim`].
#[derive(Clone)]
pub struct ServiceNowSimConfig {
    /// The integration user's name.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Fixed latency added to every answer.
    pub latency: Duration,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
}

impl Default for ServiceNowSimConfig {
    fn default() -> Self {
        Self {
            username: "leaver.integration".into(),
            password: "sim-servicenow-password".into(),
            latency: Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl fmt::Debug for ServiceNowSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceNowSimConfig")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("latency", &self.latency)
            .field("listen", &self.listen)
            .finish()
    }
}

/// One request as the simulated instance saw it. Credentials are never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: SystemTime,
    /// HTTP method.
    pub method: Method,
    /// Path, e.g. `/api/now/table/sn_hr_core_case`.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Whether an `Authorization` header was sent.
    pub auth_sent: bool,
    /// Whether the credentials were accepted.
    pub auth_ok: bool,
    /// The injected fault, if any.
    pub fault: Option<String>,
    /// Status of the answer (0 if the client went away first).
    pub status: u16,
    /// Time from arrival to answer.
    pub elapsed: Duration,
}

/// A journal entry (work note or comment) as the simulator reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The entry's sys_id in `sys_journal_field`.
    pub sys_id: String,
    /// The text.
    pub value: String,
    /// Who wrote it.
    pub created_by: String,
    /// When (`YYYY-MM-DD HH:MM:SS` UTC).
    pub created_on: String,
}

const LOG_CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    journal_writes: AtomicU64,
}

pub(crate) struct Shared {
    base_url: String,
    username: String,
    password: String,
    world: Mutex<World>,
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

/// A running simulated ServiceNow instance. Dropping it (or
/// [`shutdown`](Self::shutdown)) stops it.
pub struct ServiceNowSim {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for ServiceNowSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceNowSim")
            .field("base_url", &self.server.base_url())
            .finish_non_exhaustive()
    }
}

impl ServiceNowSim {
    /// Bind 127.0.0.1 and start serving.
    pub async fn start(config: ServiceNowSimConfig) -> Result<Self, SimError> {
        if config.username.trim().is_empty() || config.password.is_empty() {
            return Err(SimError::Config(
                "the integration user's name and password must not be empty".into(),
            ));
        }
        let bound = Bound::bind(config.listen).await?;
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let shared = Arc::new(Shared {
            base_url: format!("http://{}", bound.addr()),
            username: config.username,
            password: config.password,
            world: Mutex::new(World::default()),
            log: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
            faults,
            signal: bound.signal(),
        });
        let router = routes::router(shared.clone());
        let server = bound.serve(router);
        tracing::debug!(base_url = %server.base_url(), "simulated ServiceNow started");
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:<port>` — use as the instance URL
    /// (`https://acme.service-now.com`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The runtime fault-injection control.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Create an (empty) table, so that queries on it answer 200 rather than 400.
    pub fn add_table(&self, table: &str) {
        lock(&self.shared.world).ensure_table(table);
    }

    /// Add a record with this `number` to `table` (created if needed); returns its
    /// sys_id.
    pub fn add_record(&self, table: &str, number: &str, short_description: &str) -> String {
        lock(&self.shared.world).add_record(table, number, short_description, "admin")
    }

    /// The sys_id of the record of `table` with this number.
    pub fn sys_id_of(&self, table: &str, number: &str) -> Option<String> {
        let world = lock(&self.shared.world);
        world
            .table(table)?
            .records
            .iter()
            .find(|r| {
                r.get("number")
                    .is_some_and(|n| n.eq_ignore_ascii_case(number))
            })
            .and_then(|r| r.get("sys_id").cloned())
    }

    /// The work notes of a record (by number), oldest first.
    pub fn work_notes(&self, table: &str, number: &str) -> Vec<JournalEntry> {
        let Some(sys_id) = self.sys_id_of(table, number) else {
            return Vec::new();
        };
        lock(&self.shared.world)
            .journal(&sys_id, "work_notes")
            .into_iter()
            .map(|r| JournalEntry {
                sys_id: r.get("sys_id").cloned().unwrap_or_default(),
                value: r.get("value").cloned().unwrap_or_default(),
                created_by: r.get("sys_created_by").cloned().unwrap_or_default(),
                created_on: r.get("sys_created_on").cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Updates that appended a journal entry, so far.
    pub fn journal_writes(&self) -> u64 {
        self.shared.counters.journal_writes.load(Ordering::Relaxed)
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
