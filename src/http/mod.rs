//! The HTTP server (axum). Handlers are thin: extract, call the engine, store or ledger,
//! map the result. Every /api route needs a bearer token; errors are
//! `{"error": {"code", "message"}}`; bodies over `server.max_body_bytes` get 413.

pub mod auth;
mod drills;
pub mod entra_hook;
pub mod error;
mod evidence;
pub mod hook_limits;
pub mod hooks;
mod identities;
pub mod offboardings;
pub mod openapi;
mod ops;
mod rotations;
mod secret_access;

use crate::engine::Engine;
use crate::ledger::Ledger;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: Engine,
    pub ledger: Arc<Ledger>,
    /// The Okta event hook's secret, when `[idp.okta]` is configured.
    pub okta_hook: Option<hooks::SharedSecret>,
    /// The SCIM server's settings, when `[scim]` is configured.
    pub scim: Option<Arc<crate::intake::scim::ScimService>>,
    /// Microsoft Graph change notifications, when `[idp.entra]` is configured.
    pub entra: Option<Arc<crate::intake::entra::EntraIntake>>,
    /// The dashboard's settings (`[ui]`) and its verification cache.
    pub ui: Arc<crate::ui::UiSettings>,
    /// Token buckets of the public hooks (`server.hook_rate_limit_*`).
    pub hook_limits: hook_limits::HookLimits,
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let limits = state.hook_limits.clone();
    let api = Router::new()
        .route(
            "/offboardings",
            post(offboardings::create).get(offboardings::list),
        )
        .route("/offboardings/{id}", get(offboardings::get))
        .route("/offboardings/{id}/cancel", post(offboardings::cancel))
        .route("/drills", post(drills::create).get(drills::list))
        .route("/drills/{id}", get(drills::get))
        .route(
            "/identities/{email}/accounts",
            get(identities::get_accounts).put(identities::put_accounts),
        )
        .route(
            "/identities/{email}/secret-access",
            get(secret_access::get_secret_access),
        )
        .route("/rotations", get(rotations::list))
        .route("/rotations/{id}/complete", post(rotations::complete))
        .route("/rotations/{id}/waive", post(rotations::waive))
        .route("/evidence/export", get(evidence::export))
        .route("/evidence/verify", get(evidence::verify))
        .fallback(api_not_found)
        .layer(axum::middleware::from_fn(error::refuse_nul));
    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(openapi::openapi_json))
        .nest(
            "/scim/v2",
            crate::intake::scim::router(state.clone()).layer(axum::middleware::from_fn_with_state(
                limits.clone(),
                hook_limits::scim,
            )),
        )
        .route(
            "/hooks/okta",
            get(hooks::okta_verify).post(hooks::okta_deliver).layer(
                axum::middleware::from_fn_with_state(limits.clone(), hook_limits::okta),
            ),
        )
        .route(
            "/hooks/entra",
            post(entra_hook::entra_notify).layer(axum::middleware::from_fn_with_state(
                limits,
                hook_limits::entra,
            )),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(crate::ui::router())
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn api_not_found() -> error::ApiError {
    error::ApiError::not_found("no such route")
}
