//! From SCIM writes to offboardings. A write that deactivates (`active` true → false),
//! reactivates (false → true) or deletes a user stores, with the user and in the same
//! statement, a pending event; `settle` then hands it to intake and clears it. A crash
//! in between leaves the event pending: the IdP's retry of the request, or the sweep at
//! start-up, settles it, and intake's deduplication (by event id) makes that safe to
//! repeat.
//!
//! Event ids: `<scim id>:deactivate:<n>` for the n-th deactivation (a replayed PATCH
//! finds the user already inactive and starts nothing; a deactivation after a
//! reactivation is the next n), `<scim id>:delete`.

use super::resource;
use super::ScimService;
use crate::engine::Engine;
use crate::intake::{self, IdpEvent, IntakeError};
use crate::store::{AppendEvidence, ScimUserRecord, StoreError};
use leaver_connector::Identity;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Deactivate,
    Delete,
    Reactivate,
}

/// A transition waiting to be handled (stored as JSON in `scim_users.pending_event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEvent {
    pub kind: EventKind,
    /// The intake event id (deactivate, delete) or the reactivation's own id.
    pub event_id: String,
    /// A reactivation: the deactivation whose scheduled runs it cancels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancels: Option<String>,
    pub trigger: Option<String>,
    pub identity: Option<Identity>,
    /// When the offboarding takes effect (ms), if later than now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_at: Option<i64>,
    /// When the write happened (ms).
    pub at: i64,
    /// PATCH, PUT or DELETE.
    pub method: String,
    pub scim_id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub provider: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("user {id}: unreadable pending event: {message}")]
    Corrupt { id: String, message: String },
}

/// The user after a write, for deciding what the write means.
pub struct After<'a> {
    pub resource: &'a Value,
    pub active: bool,
}

fn event(
    service: &ScimService,
    kind: EventKind,
    event_id: String,
    id: &str,
    resource: &Value,
    method: &str,
) -> PendingEvent {
    let provider = service.provider.as_str();
    let now = crate::store::now_ms();
    let (trigger, effective_at) = match kind {
        EventKind::Deactivate => (
            Some(format!("{provider}.scim.deactivate")),
            service.effective_at(now),
        ),
        EventKind::Delete => (Some(format!("{provider}.scim.delete")), None),
        EventKind::Reactivate => (None, None),
    };
    PendingEvent {
        kind,
        event_id,
        cancels: None,
        trigger,
        identity: resource::identity(id, resource, provider),
        effective_at,
        at: now,
        method: method.to_string(),
        scim_id: id.to_string(),
        user_name: resource::user_name(resource),
        external_id: resource::external_id(resource),
        provider: provider.to_string(),
    }
}

/// What a PUT or PATCH means: the user's new deactivation count and the event to
/// settle, if the write changed `active`.
pub fn on_update(
    service: &ScimService,
    before: &ScimUserRecord,
    after: &After<'_>,
    method: &str,
) -> (i64, Option<PendingEvent>) {
    let id = &before.id;
    match (before.active, after.active) {
        (true, false) => {
            let n = before.deactivations + 1;
            let event_id = format!("{id}:deactivate:{n}");
            let pending = event(
                service,
                EventKind::Deactivate,
                event_id,
                id,
                after.resource,
                method,
            );
            (n, Some(pending))
        }
        (false, true) if before.deactivations > 0 => {
            let n = before.deactivations;
            let mut pending = event(
                service,
                EventKind::Reactivate,
                format!("{id}:reactivate:{n}"),
                id,
                after.resource,
                method,
            );
            pending.cancels = Some(format!("{id}:deactivate:{n}"));
            (n, Some(pending))
        }
        _ => (before.deactivations, None),
    }
}

/// What a DELETE means: an offboarding, unless the user's deactivation already
/// started one (a deactivated user being cleaned up).
pub fn on_delete(service: &ScimService, before: &ScimUserRecord) -> Option<PendingEvent> {
    if !before.active && before.deactivations > 0 {
        return None;
    }
    Some(event(
        service,
        EventKind::Delete,
        format!("{}:delete", before.id),
        &before.id,
        &before.resource,
        "DELETE",
    ))
}

fn rfc3339(ms: i64) -> String {
    crate::store::runs::ms_to_rfc3339(ms)
}

/// Hand a user's pending event to intake (or, for a reactivation, cancel what it
/// scheduled) and clear it. Nothing to do without one.
pub async fn settle(engine: &Engine, record: &ScimUserRecord) -> Result<(), SettleError> {
    let Some(text) = &record.pending_event else {
        return Ok(());
    };
    let pending: PendingEvent = serde_json::from_str(text).map_err(|e| SettleError::Corrupt {
        id: record.id.clone(),
        message: e.to_string(),
    })?;
    let store = engine.store();
    let details = serde_json::json!({
        "scim_id": pending.scim_id,
        "user_name": pending.user_name,
        "external_id": pending.external_id,
        "method": pending.method,
        "provider": pending.provider,
        "effective_at": pending.effective_at.map(rfc3339),
    });
    match pending.kind {
        EventKind::Deactivate | EventKind::Delete => {
            let event = IdpEvent {
                source: "scim",
                event_id: pending.event_id.clone(),
                event_type: match pending.kind {
                    EventKind::Delete => "user.delete",
                    _ => "user.deactivate",
                }
                .to_string(),
                trigger: pending.trigger.clone(),
                identity: pending.identity.clone(),
                published: Some(rfc3339(pending.at)),
                details,
            };
            let effective_at = pending
                .effective_at
                .and_then(chrono::DateTime::from_timestamp_millis);
            let outcome = intake::start_at(engine, &event, effective_at).await?;
            tracing::info!(event = %event.event_id, ?outcome, "SCIM deprovisioning event");
            store.scim_clear_pending(&record.id, text).await?;
        }
        EventKind::Reactivate => {
            let deactivation = pending.cancels.clone().unwrap_or_default();
            let runs = store
                .scim_event_runs(&deactivation)
                .await?
                .unwrap_or_default();
            let subject = pending
                .identity
                .as_ref()
                .map(|i| i.email.clone())
                .unwrap_or_else(|| pending.scim_id.clone());
            let reason = format!(
                "{} reactivated the user through SCIM before the offboarding took effect",
                pending.provider
            );
            let mut payload = details;
            payload["deactivation_event"] = Value::String(deactivation);
            payload["reactivated_at"] = Value::String(rfc3339(pending.at));
            let outcome = store
                .scim_cancel_scheduled_runs(
                    &record.id,
                    text,
                    &runs,
                    &reason,
                    AppendEvidence::new("scim.user.reactivated", "scim-intake", subject, payload),
                )
                .await?;
            tracing::info!(user = %record.id, ?outcome, "SCIM reactivation");
        }
    }
    Ok(())
}

/// Settle every event a crash left pending (run once at start-up).
pub async fn resume_pending(engine: &Engine) -> Result<usize, SettleError> {
    let store = engine.store();
    let mut settled = 0;
    for id in store.scim_users_with_pending_events().await? {
        if let Some(record) = store.scim_user(&id).await? {
            settle(engine, &record).await?;
            settled += 1;
        }
    }
    Ok(settled)
}
