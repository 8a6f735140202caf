//! Turning an offboarding request into a stored run: the plan is snapshotted, its steps
//! laid out with their retry policies, and the residual-access sweep appended.

use crate::domain::{Mode, SWEEP_STEP_ID, SWEEP_USES};
use crate::evidence::canonical_json;
use crate::plan::{Plan, PlanSet};
use crate::store::{NewRun, NewStep, Store, StoreError, SubmitOutcome};
use leaver_connector::Identity;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// An HR ticket the run reports to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRef {
    /// `jira` or `servicenow`.
    pub system: String,
    pub key: String,
}

/// What every intake path (API, CLI, hooks, SCIM) asks for.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OffboardRequest {
    pub identity: Identity,
    pub plan: String,
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// When the termination takes effect (RFC 3339); defaults to now.
    #[serde(default)]
    pub effective_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub ticket: Option<TicketRef>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The event that triggered the run (`okta.user.lifecycle.deactivate`, `manual`…).
    #[serde(default)]
    pub trigger: Option<String>,
}

fn default_mode() -> Mode {
    Mode::Live
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("unknown plan `{plan}` (known plans: {known})")]
    UnknownPlan { plan: String, known: String },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Engine defaults for steps whose plan does not say otherwise.
#[derive(Debug, Clone)]
pub struct StepDefaults {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
}

impl Default for StepDefaults {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(60),
        }
    }
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Digest of a request, to tell an idempotent replay from a reused key.
pub fn request_digest(request: &OffboardRequest) -> String {
    let value = serde_json::to_value(request).unwrap_or_default();
    let canonical = canonical_json(&value).unwrap_or_else(|_| value.to_string());
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The identity a run acts on: the request's, with the mapping table's accounts for
/// systems the request does not name. Returns where each account key came from.
pub async fn resolve_identity(
    store: &Store,
    requested: &Identity,
) -> Result<(Identity, BTreeMap<String, String>), StoreError> {
    let mut identity = requested.clone();
    identity.email = identity.email.trim().to_string();
    let mut sources: BTreeMap<String, String> = identity
        .accounts
        .keys()
        .map(|system| (system.clone(), "request".to_string()))
        .collect();
    for (system, account) in store.mapped_accounts(&identity.email).await? {
        if identity.account(&system).is_none() {
            identity.accounts.insert(system.clone(), account);
            sources.insert(system, "mapping".to_string());
        }
    }
    Ok((identity, sources))
}

/// Lay out a run for `plan`, acting on the resolved `identity`.
pub fn build_run(
    plan: &Plan,
    request: &OffboardRequest,
    identity: Identity,
    account_sources: BTreeMap<String, String>,
    idempotency_key: Option<String>,
    actor: &str,
    defaults: &StepDefaults,
) -> Result<NewRun, SubmitError> {
    if request.identity.email.trim().is_empty() {
        return Err(SubmitError::Invalid("identity.email is required".into()));
    }
    let now = crate::store::now_ms();
    // A past `effective_at` (a termination entered late) is due at once.
    let effective_at = request
        .effective_at
        .map(|t| t.timestamp_millis())
        .unwrap_or(now);
    let mut steps: Vec<NewStep> = plan
        .steps
        .iter()
        .map(|def| {
            let retry = def.retry.clone().unwrap_or_default();
            NewStep {
                step_id: def.id.clone(),
                uses: def.uses.clone(),
                connector: def.uses.split('.').next().unwrap_or_default().to_string(),
                params: def.with.clone(),
                needs: def.needs.clone(),
                when: def.when,
                max_attempts: def
                    .retry
                    .as_ref()
                    .map(|r| r.max_attempts)
                    .unwrap_or(defaults.max_attempts)
                    .max(1),
                initial_backoff_ms: ms(if def.retry.is_some() {
                    retry.initial_backoff
                } else {
                    defaults.initial_backoff
                }),
                max_backoff_ms: ms(if def.retry.is_some() {
                    retry.max_backoff
                } else {
                    defaults.max_backoff
                }),
                timeout_ms: ms(def.timeout.unwrap_or(defaults.timeout)),
            }
        })
        .collect();
    steps.push(NewStep {
        step_id: SWEEP_STEP_ID.to_string(),
        uses: SWEEP_USES.to_string(),
        connector: "leaver".to_string(),
        params: serde_json::json!({}),
        needs: plan.steps.iter().map(|s| s.id.clone()).collect(),
        when: crate::dag::StepWhen::Always,
        max_attempts: defaults.max_attempts.max(1),
        initial_backoff_ms: ms(defaults.initial_backoff),
        max_backoff_ms: ms(defaults.max_backoff),
        timeout_ms: ms(defaults.timeout),
    });
    let plan_snapshot = serde_json::to_value(plan).unwrap_or_default();
    Ok(NewRun {
        id: uuid::Uuid::now_v7().to_string(),
        plan: plan.name.clone(),
        plan_snapshot,
        mode: request.mode,
        identity,
        account_sources,
        reason: request.reason.clone(),
        ticket: request
            .ticket
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok()),
        trigger_event: request.trigger.clone(),
        request_digest: Some(request_digest(request)),
        idempotency_key,
        effective_at,
        sla_deadline: plan.sla.map(|sla| effective_at.saturating_add(ms(sla))),
        created_at: now,
        steps,
        actor: actor.to_string(),
    })
}

/// Validate, lay out and store a run (idempotently by key).
pub async fn submit(
    store: &Store,
    plans: &PlanSet,
    request: &OffboardRequest,
    idempotency_key: Option<String>,
    actor: &str,
    defaults: &StepDefaults,
) -> Result<SubmitOutcome, SubmitError> {
    let plan = plans
        .get(&request.plan)
        .ok_or_else(|| SubmitError::UnknownPlan {
            plan: request.plan.clone(),
            known: plans.names().collect::<Vec<_>>().join(", "),
        })?;
    let (identity, sources) = resolve_identity(store, &request.identity).await?;
    let run = build_run(
        plan,
        request,
        identity,
        sources,
        idempotency_key,
        actor,
        defaults,
    )?;
    Ok(store.submit_run(&run).await?)
}
