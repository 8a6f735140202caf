//! GET /api/v1/identities/{email}/secret-access?since=90d: which secrets the identity
//! read, from the audit-trail index (viewer).

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::domain::Role;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct SecretAccessQuery {
    /// How far back (`90d`, `24h`); default 90 days.
    pub since: Option<String>,
}

/// Which secrets the identity read, from the audit-trail index. Viewer.
#[utoipa::path(
    get,
    path = "/api/v1/identities/{email}/secret-access",
    tag = "identities",
    security(("bearer" = [])),
    params(
        ("email" = String, Path, description = "The identity's email"),
        ("since" = Option<String>, Query, description = "How far back (`90d`, `24h`); default 90 days"),
    ),
    responses(
        (status = 200, description = "The secrets read in the window", body = super::openapi::SecretAccessReport),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody)
    )
)]
pub async fn get_secret_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
    query: Result<Query<SecretAccessQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::trail::SecretAccessReport>, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    if !email.contains('@') {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`{email}` is not an email address"),
        ));
    }
    let since = query.since.as_deref().unwrap_or("90d");
    let window = crate::duration::parse_duration(since)
        .map_err(|reason| ApiError::bad_request("invalid_query", format!("since: {reason}")))?;
    let since_ms = chrono::Utc::now().timestamp_millis()
        - i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2);
    let report = crate::trail::secret_access(&state.store, &email, since_ms)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(report))
}
