//! GET /api/v1/rotations (viewer) and POST /api/v1/rotations/{id}/complete|waive
//! (admin, with a reason): the secret rotations `trail.schedule_rotations` scheduled.

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::domain::Role;
use crate::store::{runs::ms_to_rfc3339, AppendEvidence, RotationRow};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

const STATUSES: [&str; 4] = ["open", "done", "waived", "failed"];

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// The body of complete and waive.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EndBody {
    /// Why (required, non-empty): how it was rotated, or why it need not be.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A run that asked for a rotation.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RotationRequestView {
    pub run_id: String,
    pub identity: String,
    pub requested_at: String,
}

/// `links` of a rotation.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RotationLinks {
    #[serde(rename = "self")]
    pub self_: String,
}

/// A rotation as the API shows it. No secret value is ever part of it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RotationView {
    pub id: String,
    /// `vault` or `cloudtrail`.
    pub source: String,
    /// Vault path or AWS ARN.
    pub secret: String,
    pub environment: String,
    pub owner: Option<String>,
    /// `open`, `done`, `waived` or `failed`.
    pub status: String,
    /// Rotated (or attempted) by Leaver itself.
    pub auto: bool,
    pub due_at: String,
    pub overdue: bool,
    pub escalated: bool,
    pub last_reminded_at: Option<String>,
    pub completed_by: Option<String>,
    pub reason: Option<String>,
    pub requested_by: Vec<RotationRequestView>,
    pub created_at: String,
    pub updated_at: String,
    pub links: RotationLinks,
}

/// GET /api/v1/rotations.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RotationList {
    pub rotations: Vec<RotationView>,
}

fn view(row: &RotationRow, requested_by: Vec<RotationRequestView>) -> RotationView {
    RotationView {
        id: row.id.clone(),
        source: row.source.clone(),
        secret: row.secret.clone(),
        environment: row.environment.clone(),
        owner: row.owner.clone(),
        status: row.status.clone(),
        auto: row.auto,
        due_at: ms_to_rfc3339(row.due_at),
        overdue: row.status == "open" && row.due_at < crate::store::now_ms(),
        escalated: row.escalated,
        last_reminded_at: row.last_reminded_at.map(ms_to_rfc3339),
        completed_by: row.completed_by.clone(),
        reason: row.reason.clone(),
        requested_by,
        created_at: ms_to_rfc3339(row.created_at),
        updated_at: ms_to_rfc3339(row.updated_at),
        links: RotationLinks {
            self_: format!("/api/v1/rotations/{}", row.id),
        },
    }
}

async fn full_view(state: &AppState, row: &RotationRow) -> Result<RotationView, ApiError> {
    let requests = state
        .store
        .rotation_requests(&row.id)
        .await?
        .into_iter()
        .map(|r| RotationRequestView {
            run_id: r.run_id,
            identity: r.identity,
            requested_at: ms_to_rfc3339(r.requested_at),
        })
        .collect();
    Ok(view(row, requests))
}

#[utoipa::path(
    get,
    path = "/api/v1/rotations",
    tag = "rotations",
    security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "Only rotations in this status: open, done, waived or failed"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many, most urgent first (default 100)"),
    ),
    responses(
        (status = 200, description = "Rotations", body = RotationList),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RotationList>, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    if let Some(status) = params.status.as_deref() {
        if !STATUSES.contains(&status) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`status` must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`limit` must be between 1 and 1000",
        ));
    }
    let rows = state
        .store
        .list_rotations(params.status.as_deref(), limit)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(full_view(&state, row).await?);
    }
    Ok(Json(RotationList { rotations: items }))
}

async fn end(
    state: AppState,
    caller: Caller,
    id: String,
    body: EndBody,
    status: &'static str,
) -> Result<Json<RotationView>, ApiError> {
    caller.require(Role::Admin)?;
    let Some(reason) = body
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
    else {
        return Err(ApiError::unprocessable(
            "reason_required",
            "a non-empty `reason` is required",
        ));
    };
    let row = state
        .store
        .get_rotation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rotation {id}")))?;
    let kind = if status == "done" {
        "rotation.completed"
    } else {
        "rotation.waived"
    };
    let evidence = AppendEvidence::new(
        kind,
        caller.actor(),
        row.id.clone(),
        serde_json::json!({
            "rotation_id": row.id,
            "source": row.source,
            "secret": row.secret,
            "auto": false,
            "reason": reason,
        }),
    );
    if !state
        .store
        .end_rotation(
            &row.id,
            status,
            &caller.actor(),
            &reason,
            row.auto,
            &[evidence],
        )
        .await?
    {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "rotation_not_open",
            format!("rotation {id} is {}, not open", row.status),
        ));
    }
    let row = state
        .store
        .get_rotation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rotation {id}")))?;
    Ok(Json(full_view(&state, &row).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/rotations/{id}/complete",
    tag = "rotations",
    description = "Mark an open rotation done (admin, with a reason)",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Rotation id")),
    request_body = EndBody,
    responses(
        (status = 200, description = "The rotation, ended", body = RotationView),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody),
        (status = 404, description = "Not found", body = super::openapi::ErrorBody),
        (status = 409, description = "The rotation is not open", body = super::openapi::ErrorBody),
        (status = 413, description = "Request body larger than server.max_body_bytes", body = super::openapi::ErrorBody),
        (status = 415, description = "Not application/json", body = super::openapi::ErrorBody),
        (status = 422, description = "No reason given", body = super::openapi::ErrorBody)
    )
)]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EndBody>,
) -> Result<Json<RotationView>, ApiError> {
    end(state, caller, id, body, "done").await
}

#[utoipa::path(
    post,
    path = "/api/v1/rotations/{id}/waive",
    tag = "rotations",
    description = "Waive an open rotation (admin, with a reason)",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Rotation id")),
    request_body = EndBody,
    responses(
        (status = 200, description = "The rotation, ended", body = RotationView),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody),
        (status = 404, description = "Not found", body = super::openapi::ErrorBody),
        (status = 409, description = "The rotation is not open", body = super::openapi::ErrorBody),
        (status = 413, description = "Request body larger than server.max_body_bytes", body = super::openapi::ErrorBody),
        (status = 415, description = "Not application/json", body = super::openapi::ErrorBody),
        (status = 422, description = "No reason given", body = super::openapi::ErrorBody)
    )
)]
pub async fn waive(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EndBody>,
) -> Result<Json<RotationView>, ApiError> {
    end(state, caller, id, body, "waived").await
}
