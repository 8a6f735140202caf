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
use serde::{Deserialize, Serialize};

const DEFAULT_LAST: i64 = 20;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
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

/// A drill as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DrillView {
    pub id: String,
    pub plan: String,
    /// The canary identity's email.
    pub identity: String,
    /// `running`, `pass` or `fail`.
    pub status: String,
    pub run_id: Option<String>,
    pub started_by: String,
    pub scheduled_for: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub time_to_revoke_ms: Option<i64>,
    pub report: Option<serde_json::Value>,
    pub links: DrillLinks,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DrillLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub run: Option<String>,
}

fn view(drill: &DrillRow) -> DrillView {
    DrillView {
        id: drill.id.clone(),
        plan: drill.plan.clone(),
        identity: drill.canary.clone(),
        status: drill.status.clone(),
        run_id: drill.run_id.clone(),
        started_by: drill.started_by.clone(),
        scheduled_for: drill.scheduled_for.map(ms_to_rfc3339),
        started_at: ms_to_rfc3339(drill.started_at),
        finished_at: drill.finished_at.map(ms_to_rfc3339),
        time_to_revoke_ms: drill.time_to_revoke_ms,
        report: drill.report.clone(),
        links: DrillLinks {
            self_: format!("/api/v1/drills/{}", drill.id),
            run: drill
                .run_id
                .as_ref()
                .map(|r| format!("/api/v1/offboardings/{r}")),
        },
    }
}

/// Start a drill against a canary identity. Operator.
#[utoipa::path(
    post,
    path = "/api/v1/drills",
    tag = "drills",
    security(("bearer" = [])),
    request_body = CreateDrill,
    responses(
        (status = 202, description = "The drill, running", body = DrillView),
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

/// One drill's report. Viewer.
#[utoipa::path(
    get,
    path = "/api/v1/drills/{id}",
    tag = "drills",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Drill id")),
    responses(
        (status = 200, description = "The drill", body = DrillView),
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
) -> Result<Json<DrillView>, ApiError> {
    caller.require(Role::Viewer)?;
    let drill = state
        .store
        .get_drill(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no drill {id}")))?;
    Ok(Json(view(&drill)))
}

/// The newest drills (of one plan) with their trend. Viewer.
#[utoipa::path(
    get,
    path = "/api/v1/drills",
    tag = "drills",
    security(("bearer" = [])),
    params(
        ("plan" = Option<String>, Query, description = "Only this plan's drills"),
        ("last" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many of the newest drills (default 20)"),
    ),
    responses(
        (status = 200, description = "Drills and trend", body = super::openapi::DrillList),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
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
