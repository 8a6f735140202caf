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

pub async fn get_secret_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
    Query(query): Query<SecretAccessQuery>,
) -> Result<Json<crate::trail::SecretAccessReport>, ApiError> {
    caller.require(Role::Viewer)?;
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
