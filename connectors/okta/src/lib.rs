//! The Okta connector of Leaver: the Management API as an API service app (OAuth 2.0
//! client credentials with `private_key_jwt`, through the `oauth2` crate; the client
//! assertion signed by jsonwebtoken), and the System Log for Leaver's reconciliation of
//! lost event hook deliveries.
//!
//! Actions (each idempotent and verified by reading Okta back):
//!
//! | action | what it does | verified by |
//! |---|---|---|
//! | `okta.revoke_sessions` | `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` ([`sessions`]) | no active refresh token for any of the user's OAuth clients, and a successful `user.session.clear` of the user in the System Log (Okta has no API listing a user's sessions) |
//! | `okta.deactivate_user` | `POST /api/v1/users/{id}/lifecycle/deactivate?sendEmail=false` ([`users`]); already `DEPROVISIONED` is `changed: false` | the user reads back `status: DEPROVISIONED` |
//!
//! The user is found by `accounts.okta`, `idp_user_id` (identities from Okta) or the
//! email (as login, then `profile.email`). Errors are classified by [`classify`]:
//! 429 waits for `X-Rate-Limit-Reset`, 5xx and timeouts are transient, other 4xx are
//! permanent with Okta's `errorSummary`, `errorCauses`, `errorCode` and `errorId`. The
//! private key, client assertions and access tokens never appear in a message, an
//! outcome, a holding or a log line.

pub mod classify;
mod client;
mod config;
pub mod logs;
pub mod params;
mod sessions;
mod token;
mod users;

pub use client::{OktaApi, OktaSetupError};
pub use config::{OktaApiConfig, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SCOPES};
pub use logs::{LogPage, LogQuery};
pub use params::{DeactivateUserParams, RevokeSessionsParams};
pub use token::{KeyError, JWT_BEARER};

use async_trait::async_trait;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, ParamError, Preview, Verification,
};
use std::sync::Arc;

/// `okta.revoke_sessions`.
pub const REVOKE_SESSIONS: &str = "revoke_sessions";
/// `okta.deactivate_user`.
pub const DEACTIVATE_USER: &str = "deactivate_user";

const ACTIONS: [&str; 2] = [REVOKE_SESSIONS, DEACTIVATE_USER];

enum Step {
    RevokeSessions(RevokeSessionsParams),
    DeactivateUser(DeactivateUserParams),
}

fn step(action: &str, params: &serde_json::Value) -> Result<Step, ParamError> {
    match action {
        REVOKE_SESSIONS => parse_params(params).map(Step::RevokeSessions),
        DEACTIVATE_USER => parse_params(params).map(Step::DeactivateUser),
        other => Err(ParamError(format!(
            "unknown action `okta.{other}` (the Okta connector offers: {})",
            ACTIONS.map(|a| format!("okta.{a}")).join(", ")
        ))),
    }
}

fn request_step(request: &ActionRequest) -> Result<Step, ConnectorError> {
    step(&request.action, &request.params)
        .map_err(|e| ConnectorError::permanent(format!("invalid parameters: {e}")))
}

/// The Okta connector.
#[derive(Debug, Clone)]
pub struct OktaConnector {
    api: Arc<OktaApi>,
}

impl OktaConnector {
    /// Validate the configuration (the key must sign) and prepare the client. No
    /// request is made. `OktaApiConfig::default()` gives a spec-only connector.
    pub fn new(config: OktaApiConfig) -> Result<Self, OktaSetupError> {
        Ok(Self {
            api: Arc::new(OktaApi::new(&config)?),
        })
    }

    /// The API client (shared with the System Log reconciliation).
    pub fn api(&self) -> Arc<OktaApi> {
        self.api.clone()
    }
}

#[async_trait]
impl Connector for OktaConnector {
    fn name(&self) -> &'static str {
        "okta"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<RevokeSessionsParams>(
                REVOKE_SESSIONS,
                "End every Okta session of the identity's Okta user and revoke the OAuth 2.0 tokens Okta \
                 issued to them (DELETE /api/v1/users/{id}/sessions?oauthTokens=true); verified when no \
                 refresh token is left and the System Log records the session clear.",
            ),
            typed_action::<DeactivateUserParams>(
                DEACTIVATE_USER,
                "Deactivate the identity's Okta user (POST /api/v1/users/{id}/lifecycle/deactivate): \
                 sign-in ends and Okta deprovisions app assignments; verified when the user reads back \
                 DEPROVISIONED.",
            ),
        ]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        step(action, params).map(|_| ())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        match request_step(request)? {
            Step::RevokeSessions(p) => {
                sessions::revoke(&self.api, &request.identity, p.forget_devices).await
            }
            Step::DeactivateUser(p) => {
                users::deactivate(&self.api, &request.identity, p.send_email).await
            }
        }
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        match request_step(request)? {
            Step::RevokeSessions(_) => sessions::verify(&self.api, &request.identity).await,
            Step::DeactivateUser(_) => {
                users::verify_deactivated(&self.api, &request.identity).await
            }
        }
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let step = request_step(request)?;
        let user = match users::find(&self.api, &request.identity).await? {
            Ok(user) => user,
            Err(why) => {
                return Ok(Preview {
                    would_revoke: Vec::new(),
                    notes: vec![why],
                })
            }
        };
        let mut notes = Vec::new();
        let would_revoke = match step {
            Step::DeactivateUser(_) => {
                let holding = users::account_holding(&user);
                if holding.is_none() || user.is_deactivating() {
                    notes.push(format!(
                        "Okta user {} is already deactivated",
                        user.describe()
                    ));
                }
                holding.into_iter().collect()
            }
            Step::RevokeSessions(_) => {
                notes.push(format!(
                    "every Okta session of {} would end (Okta does not list sessions)",
                    user.login()
                ));
                sessions::holdings(&self.api, &user).await?
            }
        };
        Ok(Preview {
            would_revoke,
            notes,
        })
    }

    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        let mut check_account = scope.is_empty();
        let mut check_tokens = scope.is_empty();
        for request in scope {
            match request_step(request)? {
                Step::DeactivateUser(_) => check_account = true,
                Step::RevokeSessions(_) => check_tokens = true,
            }
        }
        let user = match users::find(&self.api, identity).await? {
            Ok(user) => user,
            Err(_) => return Ok(Vec::new()),
        };
        let mut holdings = Vec::new();
        if check_account {
            holdings.extend(users::account_holding(&user));
        }
        if check_tokens {
            holdings.extend(sessions::holdings(&self.api, &user).await?);
        }
        holdings.sort();
        Ok(holdings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_only_and_params() {
        let c = OktaConnector::new(OktaApiConfig::default()).unwrap();
        assert_eq!(c.name(), "okta");
        let names: Vec<_> = c.actions().iter().map(|a| a.name).collect();
        assert_eq!(names, ACTIONS);
        assert!(c
            .check_params(REVOKE_SESSIONS, &serde_json::Value::Null)
            .is_ok());
        assert!(c
            .check_params(REVOKE_SESSIONS, &json!({"forget_devices": true}))
            .is_ok());
        assert!(c
            .check_params(DEACTIVATE_USER, &json!({"send_email": false}))
            .is_ok());
        assert!(c
            .check_params(DEACTIVATE_USER, &json!({"org": "x"}))
            .is_err());
        assert!(c.check_params("delete_user", &json!({})).is_err());
    }
}
