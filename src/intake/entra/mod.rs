//! Microsoft Entra ID through Microsoft Graph: change notifications on `users`
//! (`/hooks/entra`), the users delta reconciliation, and the subscription itself.
//!
//! - this module: the notification wire format (`{"value": [...]}` of change or
//!   lifecycle notifications) and the service holding the Graph client and the
//!   clientState digest;
//! - `resolve`: from a user id to an intake event, by asking Graph what the user is now;
//! - `reconcile`: the users delta query, for notifications that never came;
//! - `subscription`: creating and renewing the subscription.
//!
//! A notification only names the user (`resource: "Users/{id}"`); disabling and soft
//! deleting both arrive as `updated`. So every notification is resolved through Graph:
//! `accountEnabled: false` starts the plans triggered by `entra.graph.disabled`, a user
//! Graph no longer returns (soft- or hard-deleted) `entra.graph.deleted`, and an enabled
//! user is recorded as ignored.
//!
//! Deduplication: a notification has no id of its own, and the delta query must start
//! the same run as the notification it stands in for, so the event id is the resolved
//! state: `Users/<id>:<disabled|deleted|enabled>:<generation>`, where the generation
//! (table `entra_users`) counts the user's transitions into disabled or deleted as
//! Leaver saw them. A replayed notification, a second notification for the same change
//! and the delta round that sees it too all find the same generation: one event, one
//! run. Disabling again after a re-enable is the next generation: a new run.

mod reconcile;
mod resolve;
mod subscription;

pub use reconcile::{reconcile, ReconcileReport, DELTA_CURSOR};
pub use resolve::{drain, resolve_user};
pub use subscription::{ensure_subscription, SubscribeOutcome};

use leaver_connector_entra::Graph;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Intake source name (intake_events.source).
pub const SOURCE: &str = "entra";

/// The POST body Graph sends: change and lifecycle notifications alike.
#[derive(Debug, Deserialize)]
pub struct NotificationBatch {
    pub value: Vec<RawNotification>,
}

/// One item, with the fields Leaver reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawNotification {
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub change_type: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub resource_data: Option<serde_json::Value>,
    #[serde(default)]
    pub client_state: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub lifecycle_event: Option<String>,
}

/// What an item asks of Leaver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A user changed (`updated`) or was permanently deleted (`deleted`).
    UserChange {
        subscription_id: String,
        change_type: String,
        user_id: String,
    },
    /// `reauthorizationRequired`, `subscriptionRemoved` or `missed`.
    Lifecycle {
        subscription_id: String,
        event: String,
    },
    /// Another resource or change type: acknowledged, nothing to do.
    Other { reason: String },
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("malformed Graph notification body: {0}")]
    Malformed(String),
}

pub fn parse_batch(body: &[u8]) -> Result<NotificationBatch, NotificationError> {
    serde_json::from_slice(body).map_err(|e| NotificationError::Malformed(e.to_string()))
}

/// The user id of `Users/{id}` (Graph also writes `users/{id}` and `/users/{id}`),
/// else `resourceData.id`.
fn user_id(item: &RawNotification) -> Option<String> {
    let from_resource = item.resource.as_deref().and_then(|r| {
        let r = r.trim_start_matches('/');
        let (kind, id) = r.split_once('/')?;
        (kind.eq_ignore_ascii_case("users") && !id.is_empty() && !id.contains('/'))
            .then(|| id.to_string())
    });
    from_resource
        .or_else(|| {
            item.resource_data
                .as_ref()
                .and_then(|d| d.get("id"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .filter(|id| {
            id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
        })
}

pub fn classify(item: &RawNotification) -> Notification {
    let subscription_id = item.subscription_id.clone().unwrap_or_default();
    if let Some(event) = &item.lifecycle_event {
        return Notification::Lifecycle {
            subscription_id,
            event: event.clone(),
        };
    }
    let change_type = item
        .change_type
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !matches!(change_type.as_str(), "updated" | "deleted") {
        return Notification::Other {
            reason: format!("change type `{change_type}` is not acted on"),
        };
    }
    match user_id(item) {
        Some(user_id) => Notification::UserChange {
            subscription_id,
            change_type,
            user_id,
        },
        None => Notification::Other {
            reason: format!(
                "resource `{}` is not a user",
                item.resource.as_deref().unwrap_or_default()
            ),
        },
    }
}

/// Everything the Entra intake needs: the Graph client, the clientState (kept only as
/// its SHA-256 digest and compared digest to digest in constant time, so it is never
/// in memory dumps of the service), and where Leaver is reachable.
pub struct EntraIntake {
    pub graph: Arc<Graph>,
    client_state_digest: [u8; 32],
    /// `{server.public_url}/hooks/entra`, when the public URL is configured.
    pub notification_url: Option<String>,
    /// How often the delta reconciliation runs.
    pub reconcile_every: std::time::Duration,
    /// The clientState itself, which `subscribe` must send to Graph.
    client_state: secrecy::SecretString,
    /// Wakes the drainer after a delivery.
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for EntraIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraIntake")
            .field("graph", &self.graph)
            .field("notification_url", &self.notification_url)
            .finish_non_exhaustive()
    }
}

impl EntraIntake {
    pub fn new(
        graph: Arc<Graph>,
        client_state: secrecy::SecretString,
        notification_url: Option<String>,
        reconcile_every: std::time::Duration,
    ) -> Self {
        let digest = Sha256::digest(secrecy::ExposeSecret::expose_secret(&client_state).as_bytes());
        Self {
            graph,
            client_state_digest: digest.into(),
            notification_url,
            reconcile_every,
            client_state,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Ask the drainer to handle what was just stored.
    pub fn kick(&self) {
        self.wake.notify_one();
    }

    /// Handle stored notifications until `shutdown`: at once (what a crash left), after
    /// each delivery, and every 30 s (retrying what failed).
    pub async fn run_drainer(
        self: Arc<Self>,
        engine: crate::engine::Engine,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(error) = drain(&engine, &self).await {
                tracing::warn!(error = %format!("{error:#}"), "draining Graph notifications failed; will retry");
            }
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// From `[idp.entra]` (None without it).
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<Self>> {
        use anyhow::Context as _;
        let Some(section) = &config.idp.entra else {
            return Ok(None);
        };
        let graph = crate::connectors::entra_graph(section).context("setting up [idp.entra]")?;
        let client_state =
            crate::config::resolve_secret("idp.entra.client_state", &section.client_state)?;
        let state_len = secrecy::ExposeSecret::expose_secret(&client_state)
            .chars()
            .count();
        if state_len == 0 || state_len > 128 {
            anyhow::bail!("idp.entra.client_state must be 1 to 128 characters long");
        }
        let notification_url = config
            .server
            .public_url
            .as_deref()
            .map(|u| format!("{}/hooks/entra", u.trim_end_matches('/')));
        Ok(Some(Self::new(
            graph,
            client_state,
            notification_url,
            section.reconcile_duration()?,
        )))
    }

    /// Whether `presented` is the configured clientState.
    pub fn client_state_matches(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(&self.client_state_digest))
    }

    fn client_state(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.client_state)
    }
}

/// A cron expression firing every `every` (rounded to the largest whole unit below a
/// day; a day or more: daily at midnight UTC).
pub fn every_to_cron(every: std::time::Duration) -> String {
    let secs = every.as_secs().max(1);
    if secs < 60 {
        format!("*/{secs} * * * * *")
    } else if secs < 3600 {
        format!("0 */{} * * * *", secs / 60)
    } else if secs < 86_400 {
        format!("0 0 */{} * * *", secs / 3600)
    } else {
        "0 0 0 * * *".to_string()
    }
}

/// The Entra cron jobs: the users delta reconciliation every `reconcile_every`, and a
/// daily renewal of the subscription (when `server.public_url` is set), well inside
/// Graph's 29-day maximum.
pub fn jobs(
    engine: &crate::engine::Engine,
    service: &Arc<EntraIntake>,
) -> anyhow::Result<Vec<crate::scheduler::Job>> {
    use crate::scheduler::Job;
    let (engine_r, service_r) = (engine.clone(), service.clone());
    let reconcile_job = Job::new(
        "entra-users-delta",
        &every_to_cron(service.reconcile_every),
        Arc::new(move |_| {
            let (engine, service) = (engine_r.clone(), service_r.clone());
            Box::pin(async move {
                reconcile(&engine, &service)
                    .await
                    .map(|report| tracing::info!(?report, "users delta reconciliation"))
                    .map_err(|e| format!("{e:#}"))
            })
        }),
    )
    .map_err(|e| anyhow::anyhow!("idp.entra.reconcile_every: {e}"))?;
    let mut jobs = vec![reconcile_job];
    if service.notification_url.is_some() {
        let service_s = service.clone();
        jobs.push(
            Job::new(
                "entra-subscription-renewal",
                "0 17 3 * * *",
                Arc::new(move |_| {
                    let service = service_s.clone();
                    Box::pin(async move {
                        ensure_subscription(&service, None)
                            .await
                            .map(|o| tracing::info!(?o, "Graph subscription renewal"))
                            .map_err(|e| format!("{e:#}"))
                    })
                }),
            )
            .map_err(|e| anyhow::anyhow!("entra subscription renewal: {e}"))?,
        );
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        include_str!("../../../tests/fixtures/idp/graph-change-notification.json");
    const LIFECYCLE: &str =
        include_str!("../../../tests/fixtures/idp/graph-lifecycle-notification.json");

    #[test]
    fn the_fixture_is_a_user_change() {
        let batch = parse_batch(FIXTURE.as_bytes()).unwrap();
        assert_eq!(
            classify(&batch.value[0]),
            Notification::UserChange {
                subscription_id: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07".into(),
                change_type: "updated".into(),
                user_id: "9a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d".into(),
            }
        );
        let lifecycle = parse_batch(LIFECYCLE.as_bytes()).unwrap();
        assert!(matches!(
            classify(&lifecycle.value[0]),
            Notification::Lifecycle { ref event, .. } if event == "reauthorizationRequired"
        ));
    }

    #[test]
    fn reconcile_periods_become_cron_expressions() {
        use std::time::Duration;
        assert_eq!(
            every_to_cron(Duration::from_secs(15 * 60)),
            "0 */15 * * * *"
        );
        assert_eq!(every_to_cron(Duration::from_secs(30)), "*/30 * * * * *");
        assert_eq!(every_to_cron(Duration::from_secs(7200)), "0 0 */2 * * *");
        for every in [1, 59, 60, 3599, 3600, 86_399, 86_400, 10_000_000] {
            assert!(
                crate::scheduler::parse_schedule(&every_to_cron(Duration::from_secs(every)))
                    .is_ok()
            );
        }
    }

    #[test]
    fn other_resources_and_bad_ids_are_not_user_changes() {
        let item: RawNotification = serde_json::from_value(serde_json::json!({
            "subscriptionId": "s", "changeType": "updated", "resource": "Groups/g1"
        }))
        .unwrap();
        assert!(matches!(classify(&item), Notification::Other { .. }));
        let item: RawNotification = serde_json::from_value(serde_json::json!({
            "subscriptionId": "s", "changeType": "updated", "resource": "Users/a b"
        }))
        .unwrap();
        assert!(matches!(classify(&item), Notification::Other { .. }));
        assert!(parse_batch(b"{").is_err());
        assert!(parse_batch(b"{\"value\": 3}").is_err());
    }
}
