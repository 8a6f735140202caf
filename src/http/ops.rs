//! Operational endpoints: liveness, readiness, Prometheus metrics.

use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers (migrations ran at start).
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            Json(serde_json::json!({"status": "ready", "database": state.store.dialect().name()}))
                .into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable", "error": {"code": "database_unavailable", "message": "the database does not answer"}})),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.engine.metrics().render(&state.store).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => super::error::ApiError::internal(error).into_response(),
    }
}
