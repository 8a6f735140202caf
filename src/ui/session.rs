//! Dashboard sign-in: the login form (an API token of any role), server-side sessions
//! shared by every replica, the session cookie, sign-out, and the `Viewer` extractor
//! that sends anyone without a live session to /login.
//!
//! The cookie holds only a random 256-bit id (`HttpOnly; SameSite=Lax; Path=/`, and
//! `Secure` behind https); the database keeps its SHA-256. `sign_in` is the one way a
//! session is created: the token form calls it, and so will the OIDC callback with
//! the subject and role it verified.

use super::html::esc;
use super::layout::page;
use crate::domain::Role;
use crate::http::AppState;
use crate::store::{now_ms, token_hash, DashboardSession, StoreError};
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine as _;

/// Name of the session cookie.
pub const COOKIE: &str = "leaver_session";

/// Who is looking at the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub subject: String,
    pub role: Role,
}

/// A new random session id: 32 bytes as URL-safe base64 (43 characters).
fn new_session_id() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The session id in the request's cookies, if it looks like one of ours.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn cookie(state: &AppState, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if state.ui.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}");
    // The value is base64url or empty: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Create a dashboard session for a verified `subject` with `role`, and answer with
/// the session cookie and a redirect to the overview. The token form calls this after
/// checking the token; an OIDC callback calls it after verifying the ID token.
pub async fn sign_in(state: &AppState, subject: &str, role: Role) -> Result<Response, StoreError> {
    let id = new_session_id();
    let now = now_ms();
    let ttl_ms = i64::try_from(state.ui.session_ttl.as_millis()).unwrap_or(i64::MAX);
    // A sign-in is a good moment to forget sessions nobody can use any more.
    state.store.delete_expired_dashboard_sessions(now).await?;
    state
        .store
        .create_dashboard_session(
            &token_hash(&id),
            &DashboardSession {
                subject: subject.to_string(),
                role,
                created_at: now,
                expires_at: now.saturating_add(ttl_ms),
            },
        )
        .await?;
    tracing::info!(subject, role = %role, "dashboard sign-in");
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(state, &id, state.ui.session_ttl.as_secs()),
    );
    Ok(response)
}

/// A 500 page that says what failed without detail a visitor should not see.
pub(super) fn server_error(what: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "dashboard: {what}");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        None,
        &format!(
            "<h1>Something went wrong</h1><p>{} failed; the server log has the details.</p>",
            esc(what)
        ),
    )
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(id) = session_id(&parts.headers) else {
            return Err(Redirect::to("/login").into_response());
        };
        match state
            .store
            .find_dashboard_session(&token_hash(&id), now_ms())
            .await
        {
            Ok(Some(session)) => Ok(Viewer {
                subject: session.subject,
                role: session.role,
            }),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(error) => Err(server_error("reading your session", error)),
        }
    }
}

/// The login form, with `message` above it when set (also for OIDC sign-in errors).
pub(super) fn login_form(state: &AppState, status: StatusCode, message: Option<&str>) -> Response {
    let message = message
        .map(|m| format!(r#"<p class="message" role="alert">{}</p>"#, esc(m)))
        .unwrap_or_default();
    let sso = if state.ui.oidc.is_some() {
        r#"<p><a href="/login/oidc">Sign in with single sign-on</a></p><p class="muted">or with an API token:</p>"#
    } else {
        ""
    };
    let body = format!(
        concat!(
            r#"<section class="login"><h1>Sign in</h1>{message}{sso}"#,
            r#"<form method="post" action="/login">"#,
            r#"<label for="token">API token</label>"#,
            r#"<input type="password" id="token" name="token" autocomplete="off" required>"#,
            r#"<button type="submit">Sign in</button></form>"#,
            r#"<p class="muted">Any token works (viewer is enough): <code>leaver token create --role viewer</code>.</p>"#,
            r#"</section>"#
        ),
        message = message,
        sso = sso,
    );
    page(status, "Sign in", None, &body)
}

/// GET /login.
pub async fn login_page(State(state): State<AppState>) -> Response {
    login_form(&state, StatusCode::OK, None)
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// POST /login (form field `token`).
pub async fn login(
    State(state): State<AppState>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let token = match &form {
        Ok(Form(form)) => form.token.trim(),
        Err(_) => "",
    };
    if token.is_empty() {
        return login_form(
            &state,
            StatusCode::BAD_REQUEST,
            Some("Enter an API token to sign in."),
        );
    }
    let record = match state.store.find_token(token).await {
        Ok(record) => record,
        Err(error) => return server_error("checking the token", error),
    };
    let Some(record) = record else {
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid (unknown or revoked). Check it and try again."),
        );
    };
    match sign_in(&state, &format!("token:{}", record.name), record.role).await {
        Ok(response) => response,
        Err(error) => server_error("starting your session", error),
    }
}

/// POST /logout: the session row is deleted and the cookie cleared.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        if let Err(error) = state.store.delete_dashboard_session(&token_hash(&id)).await {
            return server_error("ending your session", error);
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, "", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let id = new_session_id();
        assert_eq!(id.len(), 43);
        let found = session_id(&headers(&format!("a=b; {COOKIE}={id}; c=d")));
        assert_eq!(found.as_deref(), Some(id.as_str()));
    }

    #[test]
    fn refuses_malformed_session_cookies() {
        assert_eq!(session_id(&headers(&format!("{COOKIE}=short"))), None);
        let odd = format!("{COOKIE}={}", "%".repeat(43));
        assert_eq!(session_id(&headers(&odd)), None);
        assert_eq!(session_id(&HeaderMap::new()), None);
    }
}
