//! Intake: turning what identity providers say ("this person is gone") into runs,
//! exactly once. Each source parses its own wire format into `IdpEvent`s; `start`
//! records every event once and starts the plans its trigger names.

pub mod entra;
pub mod okta;
pub mod okta_reconcile;
pub mod scim;

use crate::engine::{Engine, OffboardRequest, SubmitError};
use crate::store::{AppendEvidence, StoreError, SubmitOutcome};
use leaver_connector::Identity;

/// One event from an identity provider, in Leaver's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpEvent {
    /// `okta`, `entra`, `scim`.
    pub source: &'static str,
    /// The provider's unique id of the event (Okta: `uuid`), the deduplication key.
    pub event_id: String,
    /// The provider's event type (`user.lifecycle.deactivate`).
    pub event_type: String,
    /// The plan trigger it maps to (`okta.user.lifecycle.deactivate`), if it is one
    /// Leaver acts on.
    pub trigger: Option<String>,
    /// The person concerned, if the event names one.
    pub identity: Option<Identity>,
    /// When the provider says it happened (RFC 3339).
    pub published: Option<String>,
    /// Non-secret facts for the evidence (actor, outcome, group…).
    pub details: serde_json::Value,
}

/// What intake did with one event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum IntakeOutcome {
    /// Seen before: nothing done.
    Duplicate,
    /// Recorded; no plan is triggered by it (or it names no person).
    Ignored { reason: String },
    /// Recorded and these runs started (or already existed).
    Started { run_ids: Vec<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// Record `event` once and start every plan its trigger names. Runs are created before
/// the event is marked as taken, with an idempotency key per (event, plan): a crash in
/// between makes the redelivery finish the job without a second run.
pub async fn start(engine: &Engine, event: &IdpEvent) -> Result<IntakeOutcome, IntakeError> {
    start_at(engine, event, None).await
}

/// `start`, with the runs taking effect at `effective_at` (a scheduled termination,
/// e.g. the SCIM server's `deactivation_grace`) instead of now.
pub async fn start_at(
    engine: &Engine,
    event: &IdpEvent,
    effective_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<IntakeOutcome, IntakeError> {
    let store = engine.store();
    if store.intake_seen(event.source, &event.event_id).await? {
        return Ok(IntakeOutcome::Duplicate);
    }
    let plans: Vec<String> = match &event.trigger {
        Some(trigger) => engine
            .plans()
            .triggered_by(trigger)
            .map(|p| p.name.clone())
            .collect(),
        None => Vec::new(),
    };
    let outcome = match (&event.identity, &event.trigger) {
        (None, _) => IntakeOutcome::Ignored {
            reason: "the event names no user".into(),
        },
        (_, None) => IntakeOutcome::Ignored {
            reason: event
                .details
                .get("ignored_because")
                .and_then(|r| r.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("`{}` is not a deprovisioning event", event.event_type)),
        },
        (Some(_), Some(trigger)) if plans.is_empty() => IntakeOutcome::Ignored {
            reason: format!("no plan is triggered by `{trigger}`"),
        },
        (Some(identity), Some(trigger)) => {
            let mut run_ids = Vec::new();
            for plan in &plans {
                let request = OffboardRequest {
                    identity: identity.clone(),
                    plan: plan.clone(),
                    mode: crate::domain::Mode::Live,
                    effective_at,
                    ticket: None,
                    reason: Some(format!("{} event {}", event.source, event.event_type)),
                    trigger: Some(trigger.clone()),
                };
                let key = format!("{}-event:{}:{plan}", event.source, event.event_id);
                let actor = format!("{}-intake", event.source);
                match engine.submit(&request, Some(key), &actor).await? {
                    SubmitOutcome::Created(run) | SubmitOutcome::Existing(run) => {
                        run_ids.push(run.id)
                    }
                    SubmitOutcome::KeyReused { existing_id } => run_ids.push(existing_id),
                }
            }
            IntakeOutcome::Started { run_ids }
        }
    };
    let recorded = store
        .record_intake(
            event,
            &outcome,
            AppendEvidence::new(
                "intake.event",
                format!("{}-intake", event.source),
                event
                    .identity
                    .as_ref()
                    .map(|i| i.email.clone())
                    .unwrap_or_else(|| event.event_id.clone()),
                serde_json::json!({
                    "source": event.source,
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "published": event.published,
                    "trigger": event.trigger,
                    "identity": event.identity,
                    "details": event.details,
                    "result": outcome,
                }),
            ),
        )
        .await?;
    Ok(if recorded {
        outcome
    } else {
        IntakeOutcome::Duplicate
    })
}
