//! The request log: what each call looked like on the wire (minus secrets) and how it
//! was answered.

use axum::http::{header, HeaderMap, Method, Uri};
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// At most this many records are kept (oldest dropped first); counters keep counting.
pub(crate) const LOG_CAPACITY: usize = 100_000;

/// The media type GitHub recommends in `Accept`.
pub const GITHUB_JSON: &str = "application/vnd.github+json";

/// One request as the simulated GitHub saw it. The credential itself is never stored:
/// only its scheme and whether it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When the request arrived.
    pub at: SystemTime,
    /// HTTP method.
    pub method: Method,
    /// Path, e.g. `/orgs/acme/memberships/alice-gh`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Scheme of the `Authorization` header, lower-cased (`bearer`, `token`), if sent.
    pub auth_scheme: Option<String>,
    /// Whether the credential matched the configured token.
    pub auth_ok: bool,
    /// Every `X-GitHub-Api-Version` value sent (more than one is a client bug).
    pub api_versions: Vec<String>,
    /// The `Accept` header, if sent.
    pub accept: Option<String>,
    /// The `User-Agent` header, if sent.
    pub user_agent: Option<String>,
    /// The injected fault that hit this call, if any (see [`crate::faults::Fault::label`]).
    pub fault: Option<String>,
    /// Status of the answer (0 if the client went away before it was produced).
    pub status: u16,
    /// Whether the answer was a rate-limit error (primary or secondary).
    pub rate_limited: bool,
    /// Time from arrival to answer, including injected latency.
    pub elapsed: Duration,
}

impl RequestRecord {
    pub(crate) fn new(method: &Method, uri: &Uri, headers: &HeaderMap) -> Self {
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let auth_scheme = headers.get(header::AUTHORIZATION).map(|v| {
            let v = String::from_utf8_lossy(v.as_bytes());
            v.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        });
        Self {
            at: SystemTime::now(),
            method: method.clone(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            auth_scheme,
            auth_ok: false,
            api_versions: headers
                .get_all("x-github-api-version")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect(),
            accept: text(header::ACCEPT),
            user_agent: text(header::USER_AGENT),
            fault: None,
            status: 0,
            rate_limited: false,
            elapsed: Duration::ZERO,
        }
    }

    /// Whether `Accept: application/vnd.github+json` was sent.
    pub fn accepts_github_json(&self) -> bool {
        self.accept.as_deref().is_some_and(|accept| {
            accept
                .split(',')
                .any(|item| item.trim().split(';').next() == Some(GITHUB_JSON))
        })
    }
}

/// A bounded log of requests.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    records: VecDeque<RequestRecord>,
}

impl RequestLog {
    pub(crate) fn push(&mut self, record: RequestRecord) {
        if self.records.len() >= LOG_CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        self.records.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.records.clear();
    }
}
