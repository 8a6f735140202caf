//! GET /api/v1/evidence/export and /verify.

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::domain::Role;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// First sequence number (default 1).
    pub from: Option<i64>,
    /// Last sequence number (default: the head).
    pub to: Option<i64>,
}

/// An export bundle (JSONL), signed at its last entry. Viewer.
#[utoipa::path(
    get,
    path = "/api/v1/evidence/export",
    tag = "evidence",
    security(("bearer" = [])),
    params(
        ("from" = Option<i64>, Query, description = "First sequence number (default 1)"),
        ("to" = Option<i64>, Query, description = "Last sequence number (default: the head)"),
    ),
    responses(
        (status = 200, description = "The bundle, one JSON object a line", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody)
    )
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let mut bundle = Vec::new();
    let summary = state
        .ledger
        .export(query.from, query.to, &mut bundle, &caller.actor())
        .await
        .map_err(|e| match e {
            crate::ledger::LedgerError::Range(message) => {
                ApiError::bad_request("invalid_range", message)
            }
            other => ApiError::internal(other),
        })?;
    let filename = format!(
        "attachment; filename=\"leaver-evidence-{}-{}.jsonl\"",
        summary.from_seq, summary.to_seq
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        bundle,
    )
        .into_response())
}

/// Verify the whole ledger in the database, as `leaver evidence verify` does offline.
#[utoipa::path(
    get,
    path = "/api/v1/evidence/verify",
    tag = "evidence",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verification report", body = crate::evidence::VerifyReport),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody)
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let report = state
        .ledger
        .verify_store()
        .await
        .map_err(ApiError::internal)?;
    state.engine.metrics().record_verification(report.ok);
    Ok(Json(serde_json::to_value(&report).unwrap_or_default()))
}
