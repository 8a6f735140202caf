//! A simulated Jira Cloud REST API (v3), served over real HTTP on 127.0.0.1.
//!
//! It follows Jira Cloud's documented behaviour for the calls HR ticket automation
//! makes:
//!
//! - **Auth**: HTTP Basic with `email:api_token` (the email case-insensitive). Missing
//!   or wrong credentials answer 401 with Jira Cloud's plain-text body `Client must be
//!   authenticated to access this resource.`, `WWW-Authenticate` and
//!   `X-Seraph-LoginReason: AUTHENTICATED_FAILED`. (Real Jira may answer an anonymous
//!   read of a private issue with 404 instead; the simulator always says 401.)
//! - **Endpoints** (under `/rest/api/3/`):
//!
//!   | call | answer |
//!   |---|---|
//!   | `GET myself` | 200 the API user |
//!   | `GET issue/{issueIdOrKey}` | 200 issue (`id`, `key`, `fields.summary/status/project`) / 404 `{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}` |
//!   | `POST issue/{issueIdOrKey}/comment` `{"body": <ADF>, "visibility"?}` | 201 the comment / 400 (see below) / 404 |
//!   | `GET issue/{issueIdOrKey}/comment?startAt=&maxResults=&orderBy=` | 200 `{startAt, maxResults, total, comments}`, oldest first, newest first with `orderBy=-created`; `maxResults` defaults to and is capped at 5000 |
//!   | `GET issue/{issueIdOrKey}/comment/{id}` | 200 / 404 |
//!
//!   A comment body must be an Atlassian Document Format document (`{"type":"doc",
//!   "version":1,"content":[...]}`): a missing body answers 400 `{"errorMessages":[],
//!   "errors":{"comment":"Comment body can not be empty!"}}`, a string body `Operation
//!   value must be an Atlassian Document (see the Atlassian Document Format)`, a
//!   document that does not validate `{"errorMessages":["INVALID_INPUT"],"errors":{}}`,
//!   more than 32 767 characters of text `The entered text is too long…`. Unknown paths
//!   answer Jersey's 404 `{"message":"null for uri: …","status-code":404}`.
//!
//! Faults ([`crate::faults::Faults`], via [`JiraSim::faults`]) are rendered as Jira
//! Cloud would answer them: 429 `Rate limit exceeded.` with `Retry-After` and
//! `X-RateLimit-*` headers, 500 as an error collection, 502–504 as an edge proxy's HTML
//! page; a hang holds the request, then answers 504; a slow apply posts the comment but
//! answers late.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leaver_sim::SimError> {
//! use leaver_sim::jira::{JiraSim, JiraSimConfig};
//!
//! let sim = JiraSim::start(JiraSimConfig::default()).await?;
//! sim.add_issue("HR-4312", "Offboard alice@example.com");
//! sim.faults().fail_next(1, 503);
//! // … point a client at sim.base_url() with Basic auth email:api_token …
//! assert!(sim.comments("HR-4312").is_empty());
//! # Ok(()) }
//! ```

mod adf;
mod routes;
mod wire;
mod world;

pub use adf::plain_text;
pub(crate) use wire::basic_credentials;

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

/// How to start a [`JiraSim`].
#[derive(Clone)]
pub struct JiraSimConfig {
    /// The Atlassian account email of the API user (Basic auth user name).
    pub email: String,
    /// The API token of that account (Basic auth password).
    pub api_token: String,
    /// The account's display name, shown as comment author.
    pub display_name: String,
    /// The account's id.
    pub account_id: String,
    /// Fixed latency added to every answer.
    pub latency: Duration,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
}

impl Default for JiraSimConfig {
    fn default() -> Self {
        Self {
            email: "leaver-bot@example.com".into(),
            api_token: "sim-jira-api-token".into(),
            display_name: "Leaver".into(),
            account_id: "5b10ac8d82e05b22cc7d4ef5".into(),
            latency: Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl fmt::Debug for JiraSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraSimConfig")
            .field("email", &self.email)
            .field("api_token", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("account_id", &self.account_id)
            .field("latency", &self.latency)
            .field("listen", &self.listen)
            .finish()
    }
}

/// One request as the simulated Jira saw it. Credentials are never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: SystemTime,
    /// HTTP method.
    pub method: Method,
    /// Path, e.g. `/rest/api/3/issue/HR-4312/comment`.
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

/// A comment as the simulator reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimComment {
    /// Comment id.
    pub id: String,
    /// The plain text of its ADF body.
    pub text: String,
    /// The ADF body as posted.
    pub body: serde_json::Value,
    /// Author display name.
    pub author: String,
}

const LOG_CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    comments: AtomicU64,
}

pub(crate) struct Shared {
    base_url: String,
    email: String,
    api_token: String,
    display_name: String,
    account_id: String,
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

    fn myself(&self) -> serde_json::Value {
        let mut user = wire::user(&self.base_url, &self.account_id, &self.display_name);
        user["emailAddress"] = serde_json::Value::String(self.email.clone());
        user
    }
}

/// A running simulated Jira Cloud site. Dropping it (or [`shutdown`](Self::shutdown))
/// stops it.
pub struct JiraSim {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for JiraSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraSim")
            .field("base_url", &self.server.base_url())
            .finish_non_exhaustive()
    }
}

impl JiraSim {
    /// Bind 127.0.0.1 and start serving.
    pub async fn start(config: JiraSimConfig) -> Result<Self, SimError> {
        if config.email.trim().is_empty() || config.api_token.is_empty() {
            return Err(SimError::Config(
                "the API user's email and token must not be empty".into(),
            ));
        }
        let bound = Bound::bind(config.listen).await?;
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let shared = Arc::new(Shared {
            base_url: format!("http://{}", bound.addr()),
            email: config.email.trim().to_string(),
            api_token: config.api_token,
            display_name: config.display_name,
            account_id: config.account_id,
            world: Mutex::new(World::default()),
            log: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
            faults,
            signal: bound.signal(),
        });
        let router = routes::router(shared.clone());
        let server = bound.serve(router);
        tracing::debug!(base_url = %server.base_url(), "simulated Jira started");
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:<port>` — use as the site URL (`https://acme.atlassian.net`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The runtime fault-injection control.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Create an issue with this key (`HR-4312`); returns its numeric id (the existing
    /// one when the key is taken). Keys are upper-cased, as Jira stores them.
    pub fn add_issue(&self, key: &str, summary: &str) -> Result<String, SimError> {
        if !world::is_issue_key(key) {
            return Err(SimError::Config(format!(
                "`{key}` is not a Jira issue key (PROJECT-123)"
            )));
        }
        Ok(lock(&self.shared.world).add_issue(key, summary).to_string())
    }

    /// The comments of an issue, oldest first (empty for an unknown issue).
    pub fn comments(&self, key: &str) -> Vec<SimComment> {
        lock(&self.shared.world)
            .issue(key)
            .map(|issue| {
                issue
                    .comments
                    .iter()
                    .map(|c| SimComment {
                        id: c.id.to_string(),
                        text: plain_text(&c.body),
                        body: c.body.clone(),
                        author: c.author_name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Comments created through the API so far, on every issue.
    pub fn comments_created(&self) -> u64 {
        self.shared.counters.comments.load(Ordering::Relaxed)
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
