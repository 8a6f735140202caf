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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsBody {
    /// System → account key (`{"github": "alice-gh", "aws_iam": "alice"}`).
    pub accounts: BTreeMap<String, String>,
}

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
