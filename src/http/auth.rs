//! Bearer-token authentication of /api routes. Tokens are looked up by their SHA-256
//! hash; the role decides what a caller may do.

use super::error::ApiError;
use super::AppState;
use crate::domain::Role;
use crate::store::TokenRecord;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: TokenRecord,
}

impl Caller {
    /// Refuse with 403 unless the caller's role allows `required`.
    pub fn require(&self, required: Role) -> Result<(), ApiError> {
        if self.token.role.allows(required) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this needs the {required} role; token `{}` has {}",
                    self.token.name, self.token.role
                ),
            ))
        }
    }

    /// How the caller appears in evidence.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token.name)
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token> header"))?;
        let value = value
            .to_str()
            .map_err(|_| unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("expected Authorization: Bearer <token>"))?;
        match state.store.find_token(token).await? {
            Some(token) => Ok(Caller { token }),
            None => Err(unauthorized("unknown or revoked token")),
        }
    }
}
