//! The dashboard at `/`: server-rendered HTML with inline SVG charts and no JavaScript,
//! for people (the API at /api/v1 is for programs). Read-only: it shows what the store
//! and the ledger hold and changes nothing but its own sessions.
//!
//! Files, one job each: `config` (`[ui]`), `session` (login, logout, the session
//! cookie and the `Viewer` extractor; `session::sign_in` is the seam an OIDC login
//! calls), `html` (escaping and formatting), `layout` (the page shell and security
//! headers), `svg` (chart builders, pure), and one file per page: `overview`,
//! `run_page`, `drills_page`, `rotations_page`; `oidc` signs people in through the
//! organisation's OpenID Connect provider (authorization code with PKCE).

mod config;
mod drills_page;
mod html;
mod layout;
pub mod oidc;
mod overview;
mod rotations_page;
mod run_page;
pub mod session;
mod svg;

pub use config::{OidcSection, UiConfig};

use crate::evidence::VerifyReport;
use crate::http::AppState;
use axum::routing::{get, post};
use axum::Router;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a ledger verification is shown before the next page view verifies again.
const VERIFY_CACHE_FOR: Duration = Duration::from_secs(60);

/// The dashboard's settings and its per-process cache, built from `[ui]`.
#[derive(Debug)]
pub struct UiSettings {
    /// How long a dashboard session lasts.
    pub session_ttl: Duration,
    /// Whether cookies get `Secure` (`server.public_url` is https).
    pub secure_cookies: bool,
    /// The OIDC provider sign-in goes through, when `[ui.oidc]` is configured (the
    /// login page then links to /login/oidc).
    pub oidc: Option<std::sync::Arc<oidc::OidcLogin>>,
    verification: Mutex<Option<CachedVerification>>,
}

/// The last verification of the ledger in the database, with when it ran.
#[derive(Debug, Clone)]
pub struct CachedVerification {
    pub report: VerifyReport,
    pub verified_at: i64,
}

impl UiSettings {
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let session_ttl = config.ui.session_ttl_duration()?;
        Ok(Self {
            session_ttl,
            secure_cookies: config
                .server
                .public_url
                .as_deref()
                .is_some_and(|url| url.trim().to_ascii_lowercase().starts_with("https:")),
            oidc: config
                .ui
                .oidc
                .as_ref()
                .map(oidc::OidcLogin::from_config)
                .transpose()?
                .map(std::sync::Arc::new),
            verification: Mutex::new(None),
        })
    }

    /// The ledger's verification, from the cache when it is recent (verifying a long
    /// chain reads all of it). Concurrent page views wait for one verification.
    pub async fn verification(
        &self,
        state: &AppState,
    ) -> Result<CachedVerification, crate::ledger::LedgerError> {
        let mut cached = self.verification.lock().await;
        let now = crate::store::now_ms();
        if let Some(hit) = cached.as_ref() {
            if now - hit.verified_at < VERIFY_CACHE_FOR.as_millis() as i64 {
                return Ok(hit.clone());
            }
        }
        let report = state.ledger.verify_store().await?;
        state.engine.metrics().record_verification(report.ok);
        let fresh = CachedVerification {
            report,
            verified_at: crate::store::now_ms(),
        };
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            session_ttl: config::DEFAULT_SESSION_TTL,
            secure_cookies: false,
            oidc: None,
            verification: Mutex::new(None),
        }
    }
}

/// The dashboard's routes, each answer with the security headers.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/runs/{id}", get(run_page::page))
        .route("/drills", get(drills_page::page))
        .route("/rotations", get(rotations_page::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/login/oidc", get(oidc::start_login))
        .route("/login/oidc/callback", get(oidc::callback))
        .layer(axum::middleware::map_response(layout::security_headers))
}
