//! The System Log (`GET /api/v1/logs`, scope `okta.logs.read`): one page at a time,
//! following `Link: <…>; rel="next"`. Used by the session-clear probe and by Leaver's
//! reconciliation of lost event hook deliveries.
//!
//! A request without `until` in ascending order is a polling request: Okta always
//! returns a next link, and an empty page means "caught up for now".

use crate::client::{query_value, ApiResponse, OktaApi};
use chrono::{DateTime, SecondsFormat, Utc};
use leaver_connector::ConnectorError;

/// Largest page Okta serves.
pub const MAX_LIMIT: u32 = 1000;

/// A System Log query.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub since: DateTime<Utc>,
    /// Okta's filter expression (`eventType eq "user.lifecycle.deactivate"`).
    pub filter: Option<String>,
    /// Events per page (1–1000).
    pub limit: u32,
    /// Newest first (not a polling request).
    pub descending: bool,
}

/// One page: the raw `LogEvent`s and the next page's URL.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    pub events: Vec<serde_json::Value>,
    pub next: Option<String>,
}

impl LogQuery {
    fn path(&self) -> String {
        let mut path = format!(
            "/api/v1/logs?since={}&limit={}&sortOrder={}",
            query_value(&self.since.to_rfc3339_opts(SecondsFormat::Millis, true)),
            self.limit.clamp(1, MAX_LIMIT),
            if self.descending {
                "DESCENDING"
            } else {
                "ASCENDING"
            },
        );
        if let Some(filter) = &self.filter {
            path.push_str("&filter=");
            path.push_str(&query_value(filter));
        }
        path
    }
}

const WHAT: &str = "GET /api/v1/logs";

fn page(api: &OktaApi, response: ApiResponse) -> Result<LogPage, ConnectorError> {
    if response.status != 200 {
        return Err(api.failure(&response, WHAT));
    }
    let events: Vec<serde_json::Value> = serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::transient(format!(
            "Okta answered {WHAT} with a body that is not a list of LogEvents: {e}"
        ))
    })?;
    Ok(LogPage {
        next: response.next_link(),
        events,
    })
}

impl OktaApi {
    /// The first page of `query`.
    pub async fn log_page(&self, query: &LogQuery) -> Result<LogPage, ConnectorError> {
        let response = self.get(&query.path()).await?;
        page(self, response)
    }

    /// The page behind a next link of an earlier page (only links into this org).
    pub async fn log_next(&self, next: &str) -> Result<LogPage, ConnectorError> {
        let response = self.get_link(next).await?;
        page(self, response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_path() {
        let query = LogQuery {
            since: DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
                .unwrap()
                .with_timezone(&Utc),
            filter: Some("eventType eq \"user.session.clear\"".into()),
            limit: 5000,
            descending: true,
        };
        assert_eq!(
            query.path(),
            "/api/v1/logs?since=2026-01-02T03%3A04%3A05.678Z&limit=1000&sortOrder=DESCENDING\
             &filter=eventType%20eq%20%22user.session.clear%22"
        );
    }
}
