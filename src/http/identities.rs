//! GET/PUT /api/v1/identities/{email}/accounts: the mapping table through the API.

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::domain::Role;
use crate::store::{check_mapping, AccountMapping};
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountsBody {
    /// System → account key (`{"github": "alice-gh", "aws_iam": "alice"}`).
    pub accounts: BTreeMap<String, String>,
}

/// The accounts mapped to an identity. Viewer.
#[utoipa::path(
    get,
    path = "/api/v1/identities/{email}/accounts",
    tag = "identities",
    security(("bearer" = [])),
    params(("email" = String, Path, description = "The identity's email")),
    responses(
        (status = 200, description = "The mapped accounts", body = super::openapi::Accounts),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody)
    )
)]
pub async fn get_accounts(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let accounts = state.store.mapped_accounts(&email).await?;
    Ok(Json(
        serde_json::json!({"email": email.trim().to_ascii_lowercase(), "accounts": accounts}),
    ))
}

/// Set (insert or replace) the given systems' accounts for `email`.
/// Insert or replace the given systems' accounts of an identity. Admin.
#[utoipa::path(
    put,
    path = "/api/v1/identities/{email}/accounts",
    tag = "identities",
    security(("bearer" = [])),
    params(("email" = String, Path, description = "The identity's email")),
    request_body = AccountsBody,
    responses(
        (status = 200, description = "The mapped accounts after the change", body = super::openapi::Accounts),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, malformed or unknown bearer token", body = super::openapi::ErrorBody),
        (status = 403, description = "The token's role does not allow this", body = super::openapi::ErrorBody),
        (status = 413, description = "Request body larger than server.max_body_bytes", body = super::openapi::ErrorBody),
        (status = 415, description = "Not application/json", body = super::openapi::ErrorBody),
        (status = 422, description = "Semantically invalid request", body = super::openapi::ErrorBody)
    )
)]
pub async fn put_accounts(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
    ApiJson(body): ApiJson<AccountsBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Admin)?;
    let rows: Vec<AccountMapping> = body
        .accounts
        .into_iter()
        .map(|(system, account)| AccountMapping {
            email: email.clone(),
            system,
            account,
        })
        .collect();
    if rows.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_mapping",
            "`accounts` is empty",
        ));
    }
    for row in &rows {
        check_mapping(row).map_err(|reason| ApiError::unprocessable("invalid_mapping", reason))?;
    }
    state
        .store
        .upsert_mappings(&rows, "api", &caller.actor())
        .await?;
    let accounts = state.store.mapped_accounts(&email).await?;
    Ok(Json(
        serde_json::json!({"email": email.trim().to_ascii_lowercase(), "accounts": accounts}),
    ))
}
