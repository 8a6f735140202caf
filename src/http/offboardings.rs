//! POST/GET /api/v1/offboardings: start or schedule a run, read its progress.

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::domain::{Mode, Role, RunStatus, StepStatus, SWEEP_STEP_ID};
use crate::engine::{OffboardRequest, SubmitError};
use crate::store::{runs::ms_to_rfc3339, RunFilter, RunRecord, StepRecord, SubmitOutcome};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

const MAX_IDEMPOTENCY_KEY: usize = 255;

/// One step as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StepView {
    pub id: String,
    pub uses: String,
    pub status: StepStatus,
    pub attempts: i64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub verified: bool,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<serde_json::Value>,
}

/// A run as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunView {
    pub id: String,
    pub status: RunStatus,
    pub mode: Mode,
    pub plan: String,
    pub identity: leaver_connector::Identity,
    pub created_at: String,
    pub effective_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub sla_deadline: Option<String>,
    pub sla_breached: bool,
    /// Fraction of the plan's steps done (verified), 0..1.
    pub completion: f64,
    /// From the effective time to the last verified revocation.
    pub time_to_revoke_ms: Option<i64>,
    pub ticket: Option<serde_json::Value>,
    pub reason: Option<String>,
    pub trigger: Option<String>,
    /// What the residual-access sweep found still held.
    pub residual_access: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
    pub links: serde_json::Value,
}

pub fn run_view(run: &RunRecord, steps: Option<&[StepRecord]>) -> RunView {
    let now = crate::store::now_ms();
    let sla_breached = run
        .sla_deadline
        .is_some_and(|deadline| match run.completed_at {
            Some(done) => done > deadline || run.status != RunStatus::Completed,
            None => now > deadline,
        });
    let completion = steps.map_or(0.0, |steps| {
        let plan_steps: Vec<_> = steps
            .iter()
            .filter(|s| s.step_id != SWEEP_STEP_ID)
            .collect();
        if plan_steps.is_empty() {
            return 0.0;
        }
        let done = plan_steps
            .iter()
            .filter(|s| s.status == StepStatus::Succeeded)
            .count();
        done as f64 / plan_steps.len() as f64
    });
    RunView {
        id: run.id.clone(),
        status: run.status,
        mode: run.mode,
        plan: run.plan.clone(),
        identity: run.identity.clone(),
        created_at: ms_to_rfc3339(run.created_at),
        effective_at: ms_to_rfc3339(run.effective_at),
        started_at: run.started_at.map(ms_to_rfc3339),
        completed_at: run.completed_at.map(ms_to_rfc3339),
        sla_deadline: run.sla_deadline.map(ms_to_rfc3339),
        sla_breached,
        completion,
        time_to_revoke_ms: run.revoked_at.map(|t| (t - run.effective_at).max(0)),
        ticket: run.ticket.clone(),
        reason: run.reason.clone(),
        trigger: run.trigger_event.clone(),
        residual_access: run.residual.clone(),
        steps: steps.map(|steps| steps.iter().map(step_view).collect()),
        links: serde_json::json!({"self": format!("/api/v1/offboardings/{}", run.id)}),
    }
}

fn step_view(step: &StepRecord) -> StepView {
    StepView {
        id: step.step_id.clone(),
        uses: step.uses.clone(),
        status: step.status,
        attempts: step.attempts,
        started_at: step.started_at.map(ms_to_rfc3339),
        finished_at: step.finished_at.map(ms_to_rfc3339),
        verified: step.verified,
        error: step.error.clone(),
        next_attempt_at: (step.status == StepStatus::Ready && step.attempts > 0)
            .then(|| ms_to_rfc3339(step.next_attempt_at)),
        outcome: step.outcome.clone(),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .filter(|k| k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
                ),
            )
        })?;
    Ok(Some(key.to_string()))
}

/// Start (or schedule, with a future `effective_at`) an offboarding. Operator.
#[utoipa::path(
    post,
    path = "/api/v1/offboardings",
    tag = "offboardings",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$",
            description = "Replays with the same key and body answer the same run")),
    request_body = crate::engine::OffboardRequest,
    responses(
        (status = 202, description = "Accepted (or replayed: `Idempotent-Replayed: true`)", body = super::openapi::CreatedRun),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody),
        (status = 413, description = "Request body larger than server.max_body_bytes", body = super::openapi::ErrorBody),
        (status = 415, description = "Not application/json", body = super::openapi::ErrorBody),
        (status = 422, description = "Semantically invalid request", body = super::openapi::ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<OffboardRequest>,
) -> Result<Response, ApiError> {
    caller.require(Role::Operator)?;
    let key = idempotency_key(&headers)?;
    if request.mode == Mode::Drill {
        return Err(ApiError::unprocessable(
            "invalid_mode",
            "drills are started through /api/v1/drills",
        ));
    }
    let mut request = request;
    if request.trigger.is_none() {
        request.trigger = Some("manual".into());
    }
    let outcome = state
        .engine
        .submit(&request, key, &caller.actor())
        .await
        .map_err(|error| match error {
            SubmitError::UnknownPlan { .. } => {
                ApiError::unprocessable("unknown_plan", error.to_string())
            }
            SubmitError::Invalid(message) => ApiError::unprocessable("invalid_request", message),
            SubmitError::Store(error) => ApiError::internal(error),
        })?;
    let (run, replayed) = match outcome {
        SubmitOutcome::Created(run) => (run, false),
        SubmitOutcome::Existing(run) => (run, true),
        SubmitOutcome::KeyReused { existing_id } => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!(
                    "this Idempotency-Key was used for a different request (run {existing_id})"
                ),
            ))
        }
    };
    let body = serde_json::json!({
        "id": run.id,
        "status": run.status,
        "links": {"self": format!("/api/v1/offboardings/{}", run.id)},
    });
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// One offboarding with its steps. Viewer.
#[utoipa::path(
    get,
    path = "/api/v1/offboardings/{id}",
    tag = "offboardings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody),
        (status = 404, description = "Not found", body = super::openapi::ErrorBody)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    caller.require(Role::Viewer)?;
    let run = state
        .store
        .get_run(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no offboarding {id}")))?;
    let steps = state.store.steps_for_run(&id).await?;
    Ok(Json(run_view(&run, Some(&steps))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    pub mode: Option<String>,
    pub email: Option<String>,
    pub limit: Option<i64>,
    /// Cursor: the `next` value of the previous page.
    pub before: Option<String>,
}

/// Offboardings, newest first, a page at a time. Viewer.
#[utoipa::path(
    get,
    path = "/api/v1/offboardings",
    tag = "offboardings",
    security(("bearer" = [])),
    params(
        ("status" = Option<RunStatus>, Query, description = "Only runs with this status"),
        ("mode" = Option<Mode>, Query, description = "Only runs in this mode"),
        ("email" = Option<String>, Query, description = "Only runs for this identity"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"),
        ("before" = Option<String>, Query, description = "Cursor: the `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of runs", body = super::openapi::RunList),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let status = query
        .status
        .map(|s| s.parse::<RunStatus>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e))?;
    let mode = query
        .mode
        .map(|m| m.parse::<Mode>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`limit` must be between 1 and 500",
        ));
    }
    let runs = state
        .store
        .list_runs(&RunFilter {
            status,
            mode,
            email: query.email,
            before_id: query.before,
            limit,
        })
        .await?;
    let next = (runs.len() as i64 == limit)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    let items: Vec<RunView> = runs.iter().map(|run| run_view(run, None)).collect();
    Ok(Json(serde_json::json!({"items": items, "next": next})))
}

/// Cancel an offboarding that has not ended. Operator.
#[utoipa::path(
    post,
    path = "/api/v1/offboardings/{id}/cancel",
    tag = "offboardings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "Cancelled", body = super::openapi::CancelledRun),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody),
        (status = 404, description = "Not found", body = super::openapi::ErrorBody),
        (status = 409, description = "Conflict", body = super::openapi::ErrorBody)
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Operator)?;
    if state.store.get_run(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no offboarding {id}")));
    }
    let cancelled = state
        .store
        .cancel_run(&id, &caller.actor(), "cancelled through the API")
        .await?;
    if !cancelled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_ended",
            "the offboarding has already ended",
        ));
    }
    Ok(Json(
        serde_json::json!({"id": id, "status": RunStatus::Cancelled}),
    ))
}
