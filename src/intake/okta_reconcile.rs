//! Okta System Log reconciliation: event hook deliveries can be lost (Okta retries a
//! delivery once, with a 3-second timeout), so a cron job reads the System Log for the
//! deprovisioning event types the hook maps and hands every event to
//! [`intake::start`](super::start) exactly as the hook does — same source (`okta`), the
//! event's `uuid` as event id. A delivery the hook already took is a duplicate; one it
//! never got starts its runs, once.
//!
//! Reading: `GET /api/v1/logs?since=…&filter=eventType eq "…" or …&sortOrder=ASCENDING`,
//! following `Link: rel="next"` until an empty page (a polling request always has a
//! next link). Cursor (`intake_cursors`, source `okta.system_log`): the latest
//! `published` seen, saved after each page; the next pass starts [`DEFAULT_OVERLAP`]
//! before it, to tolerate clock skew and the log's eventual consistency (re-read events
//! are duplicates). A pass that caught up moves the cursor to at least its own start
//! minus the overlap, so quiet periods are not re-read forever. The first pass starts
//! `idp.okta.reconcile_lookback` (default 1h) ago, not at the beginning of time.
//!
//! Failures (Okta unreachable, rate limited, the database down) end the pass with an
//! error the scheduler logs; the cursor keeps the last completed page and the next tick
//! carries on.

use super::okta::{to_idp_event_for, LogEvent, DEPROVISIONING_EVENTS};
use super::{IntakeError, IntakeOutcome};
use crate::config::Config;
use crate::engine::Engine;
use crate::scheduler::Job;
use crate::store::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use leaver_connector::ConnectorError;
use leaver_connector_okta::{LogQuery, OktaApi};
use std::sync::Arc;
use std::time::Duration;

/// The cursor's key in `intake_cursors`.
pub const CURSOR_SOURCE: &str = "okta.system_log";
/// How far before the cursor each pass starts reading.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(120);
/// Most pages read in one pass (the rest waits for the next tick).
pub const DEFAULT_MAX_PAGES: usize = 100;

/// How a pass reads the System Log.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// How far back the first pass reads.
    pub lookback: Duration,
    /// How far before the cursor each later pass starts.
    pub overlap: Duration,
    /// Events per page (Okta: at most 1000).
    pub page_limit: u32,
    /// Most pages per pass.
    pub max_pages: usize,
    /// Leaver's own service app: events it caused start nothing.
    pub own_client_id: Option<String>,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            lookback: Duration::from_secs(3600),
            overlap: DEFAULT_OVERLAP,
            page_limit: 1000,
            max_pages: DEFAULT_MAX_PAGES,
            own_client_id: None,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// When the pass started reading (`since`).
    pub since: String,
    pub pages: usize,
    pub events: usize,
    /// Events the hook never delivered that started runs now.
    pub started: usize,
    /// Events already taken (by the hook or an earlier pass).
    pub duplicates: usize,
    /// Events recorded but starting nothing (no plan, failed outcome, no user).
    pub ignored: usize,
    /// Events that are not LogEvents (skipped, logged).
    pub malformed: usize,
    /// The cursor saved at the end.
    pub cursor: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading the Okta System Log: {0}")]
    Okta(#[from] ConnectorError),
    #[error("Okta System Log reconciliation: {0}")]
    Store(#[from] StoreError),
    #[error("Okta System Log reconciliation, event {event}: {source}")]
    Intake {
        event: String,
        #[source]
        source: IntakeError,
    },
}

/// The reconciliation of one Okta org: its API client and settings.
#[derive(Debug)]
pub struct OktaReconciler {
    pub api: Arc<OktaApi>,
    pub settings: ReconcileSettings,
    pub every: Duration,
}

impl OktaReconciler {
    /// From `[idp.okta]`, when client credentials are configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(api_config) = crate::connectors::okta_api_config(config)? else {
            return Ok(None);
        };
        let Some(okta) = config.idp.okta.as_ref() else {
            return Ok(None);
        };
        let api = OktaApi::new(&api_config).map_err(|e| anyhow::anyhow!("[idp.okta]: {e}"))?;
        Ok(Some(Self {
            api: Arc::new(api),
            settings: ReconcileSettings {
                lookback: okta.lookback_duration()?,
                own_client_id: Some(api_config.client_id.clone()),
                ..ReconcileSettings::default()
            },
            every: okta.reconcile_duration()?,
        }))
    }
}

/// `eventType eq "user.lifecycle.deactivate" or eventType eq "…" …`: every event type
/// the hook maps to a trigger.
pub fn event_filter() -> String {
    DEPROVISIONING_EVENTS
        .iter()
        .map(|(event_type, _)| format!("eventType eq \"{event_type}\""))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1))
}

/// One pass: read the System Log from the cursor and start what the hook missed.
pub async fn reconcile(
    engine: &Engine,
    api: &OktaApi,
    settings: &ReconcileSettings,
) -> Result<ReconcileReport, ReconcileError> {
    let store = engine.store();
    let pass_started = Utc::now();
    let saved = store.intake_cursor(CURSOR_SOURCE).await?;
    let cursor = saved.as_deref().and_then(parse_time);
    if saved.is_some() && cursor.is_none() {
        tracing::warn!(cursor = ?saved, "unreadable Okta System Log cursor; reading from the lookback");
    }
    let since = match cursor {
        Some(cursor) => cursor - chrono_duration(settings.overlap),
        None => pass_started - chrono_duration(settings.lookback),
    };
    let mut high_water = cursor.unwrap_or(since);
    let mut report = ReconcileReport {
        since: timestamp(since),
        ..ReconcileReport::default()
    };
    let mut page = api
        .log_page(&LogQuery {
            since,
            filter: Some(event_filter()),
            limit: settings.page_limit,
            descending: false,
        })
        .await?;
    let mut caught_up = false;
    loop {
        if page.events.is_empty() {
            caught_up = true;
            break;
        }
        report.pages += 1;
        for raw in &page.events {
            report.events += 1;
            let event: LogEvent = match serde_json::from_value(raw.clone()) {
                Ok(event) => event,
                Err(error) => {
                    report.malformed += 1;
                    tracing::warn!(%error, uuid = ?raw.get("uuid"), "skipping a System Log event that is not a LogEvent");
                    continue;
                }
            };
            if let Some(published) = event.published.as_deref().and_then(parse_time) {
                high_water = high_water.max(published);
            }
            let mut idp_event = to_idp_event_for(&event, settings.own_client_id.as_deref());
            if let Some(details) = idp_event.details.as_object_mut() {
                details.insert("received_via".into(), "okta_system_log".into());
            }
            let outcome = super::start(engine, &idp_event).await.map_err(|source| {
                ReconcileError::Intake {
                    event: event.uuid.clone(),
                    source,
                }
            })?;
            match outcome {
                IntakeOutcome::Duplicate => report.duplicates += 1,
                IntakeOutcome::Ignored { .. } => report.ignored += 1,
                IntakeOutcome::Started { ref run_ids } => {
                    report.started += 1;
                    tracing::info!(event = %event.uuid, r#type = %event.event_type, ?run_ids,
                        "Okta event missed by the hook, started from the System Log");
                }
            }
        }
        store
            .set_intake_cursor(CURSOR_SOURCE, &timestamp(high_water))
            .await?;
        if report.pages >= settings.max_pages {
            tracing::info!(
                pages = report.pages,
                "Okta System Log: page budget spent; continuing next tick"
            );
            break;
        }
        match page.next.take() {
            Some(next) => page = api.log_next(&next).await?,
            None => {
                caught_up = true;
                break;
            }
        }
    }
    if caught_up {
        high_water = high_water.max(pass_started - chrono_duration(settings.overlap));
    }
    report.cursor = timestamp(high_water);
    store
        .set_intake_cursor(CURSOR_SOURCE, &report.cursor)
        .await?;
    Ok(report)
}

/// The cron job: a pass every `reconcile_every`, fired once across replicas.
pub fn job(engine: &Engine, reconciler: &Arc<OktaReconciler>) -> anyhow::Result<Job> {
    let (engine, reconciler) = (engine.clone(), reconciler.clone());
    let schedule = super::entra::every_to_cron(reconciler.every);
    Job::new(
        "okta-system-log-reconcile",
        &schedule,
        Arc::new(move |_| {
            let (engine, reconciler) = (engine.clone(), reconciler.clone());
            Box::pin(async move {
                reconcile(&engine, &reconciler.api, &reconciler.settings)
                    .await
                    .map(|report| tracing::info!(?report, "Okta System Log reconciliation"))
                    .map_err(|e| e.to_string())
            })
        }),
    )
    .map_err(|e| anyhow::anyhow!("idp.okta.reconcile_every: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_names_every_mapped_event_type() {
        let filter = event_filter();
        assert!(filter.starts_with("eventType eq \"user.lifecycle.deactivate\" or "));
        assert_eq!(
            filter.matches(" or ").count(),
            DEPROVISIONING_EVENTS.len() - 1
        );
    }

    #[test]
    fn timestamps_round_trip() {
        let at = parse_time("2026-11-20T16:02:10.981Z").unwrap();
        assert_eq!(timestamp(at), "2026-11-20T16:02:10.981Z");
        assert!(parse_time("yesterday").is_none());
    }
}
