//! POST/GET /api/v1/drills: start a drill, read one drill's report, list a plan's
//! drills with their trend (pass rate, time-to-revoke percentiles).

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::domain::Role;
use crate::drills::{self, DrillError, DrillStart};
use crate::store::{runs::ms_to_rfc3339, DrillRow};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

const DEFAULT_LAST: i64 = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDrill {
    pub plan: String,
    /// The canary identity's email.
    pub identity: String,
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub plan: Option<String>,
    /// How many of the newest drills (default 20, at most 1000).
    pub last: Option<i64>,
}

fn view(drill: &DrillRow) -> serde_json::Value {
    serde_json::json!({
        "id": drill.id,
        "plan": drill.plan,
        "identity": drill.canary,
        "status": drill.status,
        "run_id": drill.run_id,
        "started_by": drill.started_by,
        "scheduled_for": drill.scheduled_for.map(ms_to_rfc3339),
        "started_at": ms_to_rfc3339(drill.started_at),
        "finished_at": drill.finished_at.map(ms_to_rfc3339),
        "time_to_revoke_ms": drill.time_to_revoke_ms,
        "report": drill.report,
        "links": {
            "self": format!("/api/v1/drills/{}", drill.id),
            "run": drill.run_id.as_ref().map(|r| format!("/api/v1/offboardings/{r}")),
        },
    })
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateDrill>,
) -> Result<Response, ApiError> {
    caller.require(Role::Operator)?;
    let request = DrillStart {
        plan: body.plan,
        identity: body.identity,
        started_by: caller.actor(),
        scheduled_for: None,
    };
    let drill = match drills::start(&state.engine, &request).await {
        Ok(Some(drill)) => drill,
        Ok(None) => return Err(ApiError::internal("the drill was not recorded")),
        Err(DrillError::UnknownPlan { plan, known }) => {
            return Err(ApiError::unprocessable(
                "unknown_plan",
                format!("unknown plan `{plan}` (known plans: {known})"),
            ))
        }
        Err(DrillError::Invalid(message)) => {
            return Err(ApiError::unprocessable("invalid_drill", message))
        }
        Err(error) => return Err(ApiError::internal(error)),
    };
    let body = view(&drill);
    drills::spawn_completion(state.engine.clone(), drill);
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let drill = state
        .store
        .get_drill(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no drill {id}")))?;
    Ok(Json(view(&drill)))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let last = params.last.unwrap_or(DEFAULT_LAST);
    if !(1..=1000).contains(&last) {
        return Err(ApiError::bad_request(
            "invalid_last",
            "`last` must be between 1 and 1000",
        ));
    }
    let rows = state
        .store
        .list_drills(params.plan.as_deref(), last)
        .await?;
    let ended: Vec<(bool, Option<i64>)> = rows
        .iter()
        .filter(|d| d.status != "running")
        .map(|d| (d.status == "pass", d.time_to_revoke_ms))
        .collect();
    let trend = drills::report::trend(&ended);
    Ok(Json(serde_json::json!({
        "plan": params.plan,
        "last": last,
        "trend": trend,
        "drills": rows.iter().map(view).collect::<Vec<_>>(),
    })))
}
