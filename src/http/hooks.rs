//! Identity-provider webhooks. Each authenticates with its provider's own credential,
//! answers fast, and acknowledges only what is durably recorded.

use super::error::ApiError;
use super::AppState;
use crate::intake::{self, okta};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::Json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The Okta event hook's shared secret: only its digest is kept, and presented values
/// are compared digest to digest in constant time.
#[derive(Clone)]
pub struct SharedSecret {
    header: HeaderName,
    digest: [u8; 32],
    /// Leaver's own Okta API service app: events it caused start nothing.
    own_client_id: Option<String>,
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecret")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl SharedSecret {
    pub fn new(header: HeaderName, secret: &str) -> Self {
        Self {
            header,
            digest: Sha256::digest(secret.as_bytes()).into(),
            own_client_id: None,
        }
    }

    /// Name Leaver's own Okta API service app (`idp.okta.client_id`), whose actions
    /// (an `okta.deactivate_user` step) come back as events that must start nothing.
    pub fn with_own_client(mut self, client_id: Option<String>) -> Self {
        self.own_client_id = client_id.filter(|c| !c.trim().is_empty());
        self
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = headers
            .get(&self.header)
            .ok_or_else(|| unauthorized(format!("missing the {} header", self.header)))?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if bool::from(digest.ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(unauthorized(format!(
                "wrong secret in the {} header",
                self.header
            )))
        }
    }
}

fn unauthorized(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn okta_secret(state: &AppState) -> Result<&SharedSecret, ApiError> {
    state
        .okta_hook
        .as_ref()
        .ok_or_else(|| ApiError::not_found("Okta event hooks are not configured ([idp.okta])"))
}

/// The one-time verification: echo `X-Okta-Verification-Challenge`.
pub async fn okta_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    okta_secret(&state)?.check(&headers)?;
    let challenge = headers
        .get("x-okta-verification-challenge")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_challenge",
                "expected the X-Okta-Verification-Challenge header",
            )
        })?;
    Ok(Json(serde_json::json!({ "verification": challenge })))
}

/// A delivery: every event recorded once (redeliveries deduplicated by event uuid)
/// and its plans started before the 204. A failure answers 500 so Okta retries.
pub async fn okta_deliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let secret = okta_secret(&state)?;
    secret.check(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body exceeds the configured limit (server.max_body_bytes)",
            )
        } else {
            ApiError::bad_request("bad_request", rejection.body_text())
        }
    })?;
    let delivery = okta::parse_delivery(&body)
        .map_err(|e| ApiError::bad_request("malformed_delivery", e.to_string()))?;
    for event in &delivery.data.events {
        let event = okta::to_idp_event_for(event, secret.own_client_id.as_deref());
        let outcome = intake::start(&state.engine, &event)
            .await
            .map_err(ApiError::internal)?;
        tracing::info!(event = %event.event_id, r#type = %event.event_type, ?outcome, "okta event");
    }
    Ok(StatusCode::NO_CONTENT)
}
