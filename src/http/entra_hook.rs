//! `/hooks/entra`: Microsoft Graph change notifications.
//!
//! - `POST /hooks/entra?validationToken=…` (subscription creation): 200 `text/plain`
//!   with the URL-decoded token, at once.
//! - A notification batch: every item's `clientState` must be the configured one
//!   (else 401, nothing stored); user changes are stored in `entra_notifications` and
//!   answered 202 at once (Graph wants an answer within 3 s); the background drainer
//!   resolves each user through Graph and starts its plans. A storage failure answers
//!   500, so Graph redelivers. Lifecycle notifications (same URL) renew or recreate
//!   the subscription, or run the delta reconciliation, in the background.

use super::error::ApiError;
use super::AppState;
use crate::intake::entra::{self, EntraIntake, Notification};
use crate::store::EntraNotificationRow;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// Longest validation token echoed (Graph's are about 120 characters).
const MAX_VALIDATION_TOKEN: usize = 2048;

fn service(state: &AppState) -> Result<&Arc<EntraIntake>, ApiError> {
    state.entra.as_ref().ok_or_else(|| {
        ApiError::not_found("Microsoft Graph change notifications are not configured ([idp.entra])")
    })
}

fn plain_text(text: String) -> Response {
    let mut response = (StatusCode::OK, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body exceeds the configured limit (server.max_body_bytes)",
        )
    } else {
        ApiError::bad_request("bad_request", rejection.body_text())
    }
}

/// `POST /hooks/entra`.
pub async fn entra_notify(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let service = service(&state)?.clone();
    if let Some(token) = query.get("validationToken") {
        if token.len() > MAX_VALIDATION_TOKEN {
            return Err(ApiError::bad_request(
                "bad_validation_token",
                "the validationToken is too long",
            ));
        }
        return Ok(plain_text(token.clone()));
    }
    let body = body.map_err(body_error)?;
    let batch = entra::parse_batch(&body)
        .map_err(|e| ApiError::bad_request("malformed_notification", e.to_string()))?;
    // Every item is checked before anything is stored: one forged item refuses the lot.
    if let Some(index) = batch
        .value
        .iter()
        .position(|item| !service.client_state_matches(item.client_state.as_deref()))
    {
        tracing::warn!(
            item = index,
            "Graph notification with a wrong or missing clientState refused"
        );
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("notification {index}: clientState is missing or wrong"),
        ));
    }
    let now = crate::store::now_ms();
    let mut rows = Vec::new();
    let mut lifecycle = Vec::new();
    for item in &batch.value {
        match entra::classify(item) {
            Notification::UserChange {
                subscription_id,
                change_type,
                user_id,
            } => rows.push(EntraNotificationRow {
                id: uuid::Uuid::now_v7().to_string(),
                subscription_id,
                change_type,
                user_id,
                received_at: now,
                attempts: 0,
            }),
            Notification::Lifecycle {
                subscription_id,
                event,
            } => lifecycle.push((subscription_id, event)),
            Notification::Other { reason } => {
                tracing::debug!(%reason, "Graph notification ignored")
            }
        }
    }
    state
        .store
        .entra_queue_notifications(&rows)
        .await
        .map_err(ApiError::internal)?;
    if !rows.is_empty() {
        service.kick();
    }
    for (subscription_id, event) in lifecycle {
        let engine = state.engine.clone();
        let service = service.clone();
        tokio::spawn(async move {
            handle_lifecycle(&engine, &service, &subscription_id, &event).await;
        });
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `reauthorizationRequired` → renew; `subscriptionRemoved` → create anew; `missed` →
/// a delta reconciliation round.
async fn handle_lifecycle(
    engine: &crate::engine::Engine,
    service: &EntraIntake,
    subscription_id: &str,
    event: &str,
) {
    let result = match event {
        "reauthorizationRequired" => entra::ensure_subscription(service, Some(subscription_id))
            .await
            .map(|o| format!("{} {} until {}", o.action, o.subscription_id, o.expires_at)),
        "subscriptionRemoved" => entra::ensure_subscription(service, None)
            .await
            .map(|o| format!("{} {} until {}", o.action, o.subscription_id, o.expires_at)),
        "missed" => entra::reconcile(engine, service)
            .await
            .map(|r| format!("reconciled: {} runs", r.runs.len())),
        other => Ok(format!("lifecycle event `{other}` ignored")),
    };
    match result {
        Ok(what) => {
            tracing::info!(subscription = %subscription_id, event, %what, "Graph lifecycle notification")
        }
        Err(error) => {
            tracing::error!(subscription = %subscription_id, event, error = %format!("{error:#}"), "handling a Graph lifecycle notification failed")
        }
    }
}
