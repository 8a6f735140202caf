//! The Microsoft Entra ID connector of Leaver (Microsoft Graph v1.0, OAuth 2.0 client
//! credentials through the `oauth2` crate).
//!
//! | action | what it does | verified by |
//! |---|---|---|
//! | `entra.revoke_sessions` | `POST /users/{id}/revokeSignInSessions` (refresh tokens and session cookies) | `signInSessionsValidFromDateTime` reads back at or after the revocation |
//! | `entra.disable_user` | `PATCH /users/{id} {"accountEnabled": false}` (already disabled: unchanged) | `accountEnabled` reads back `false` |
//!
//! The user is `accounts.entra` (an object id), else the identity's `idp_user_id` (when
//! the identity comes from Entra), else its email as the userPrincipalName, else the one
//! user whose `mail` is the email ([`users`]). Errors are classified by [`classify`]
//! (429/503/504 transient with `Retry-After`; 400/401/403/404 permanent with Graph's
//! `code` and `message`). The client secret and access tokens are never in `Debug`,
//! an error, an outcome or a log line.
//!
//! [`Graph`] and the [`users`], [`delta`] and [`subscriptions`] modules are public: the
//! Graph change-notification intake, the delta reconciliation and `leaver entra
//! subscribe` use them.

pub mod classify;
mod config;
pub mod delta;
mod graph;
pub mod subscriptions;
mod token;
pub mod users;

pub use config::{EntraConfig, EntraSetupError, DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL};
pub use graph::{Graph, GraphResponse};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, ParamError, Preview, Verification,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use users::GraphUser;

/// `entra.revoke_sessions`.
pub const REVOKE_SESSIONS: &str = "revoke_sessions";
/// `entra.disable_user`.
pub const DISABLE_USER: &str = "disable_user";

const ACTIONS: [&str; 2] = [REVOKE_SESSIONS, DISABLE_USER];

/// Both actions take no parameters.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// The Entra connector.
pub struct EntraConnector {
    graph: Option<Arc<Graph>>,
    /// When each step (run, step) last revoked sessions, for its verification.
    revoked_at: Mutex<HashMap<(String, String), DateTime<Utc>>>,
}

impl fmt::Debug for EntraConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraConnector")
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

fn invalid(e: ParamError) -> ConnectorError {
    ConnectorError::permanent(format!("invalid parameters: {e}"))
}

impl EntraConnector {
    /// Validate the configuration and prepare the client. No request is made.
    pub fn new(config: EntraConfig) -> Result<Self, EntraSetupError> {
        Ok(Self::with_graph(Arc::new(Graph::new(&config)?)))
    }

    /// Over an existing Graph client (shared with the intake).
    pub fn with_graph(graph: Arc<Graph>) -> Self {
        Self {
            graph: Some(graph),
            revoked_at: Mutex::new(HashMap::new()),
        }
    }

    /// An instance that describes its actions for plan validation and is never executed.
    pub fn spec_only() -> Self {
        Self {
            graph: None,
            revoked_at: Mutex::new(HashMap::new()),
        }
    }

    /// The Graph client (None for [`EntraConnector::spec_only`]).
    pub fn graph(&self) -> Option<&Arc<Graph>> {
        self.graph.as_ref()
    }

    fn api(&self) -> Result<&Graph, ConnectorError> {
        self.graph.as_deref().ok_or_else(|| {
            ConnectorError::permanent("the entra connector is not configured ([idp.entra])")
        })
    }

    fn check(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        if !ACTIONS.contains(&action) {
            return Err(ParamError(format!(
                "unknown action `entra.{action}` (the Entra connector offers: {})",
                ACTIONS.map(|a| format!("entra.{a}")).join(", ")
            )));
        }
        parse_params::<NoParams>(params).map(|_| ())
    }

    fn remember_revocation(&self, request: &ActionRequest, at: DateTime<Utc>) {
        if let Ok(mut map) = self.revoked_at.lock() {
            map.insert((request.run_id.clone(), request.step_id.clone()), at);
        }
    }

    fn forget_revocation(&self, request: &ActionRequest) {
        if let Ok(mut map) = self.revoked_at.lock() {
            map.remove(&(request.run_id.clone(), request.step_id.clone()));
        }
    }

    fn revocation_time(&self, request: &ActionRequest) -> Option<DateTime<Utc>> {
        self.revoked_at.lock().ok().and_then(|map| {
            map.get(&(request.run_id.clone(), request.step_id.clone()))
                .copied()
        })
    }
}

fn details(user: &GraphUser) -> serde_json::Value {
    serde_json::json!({
        "user_id": user.id,
        "user_principal_name": user.user_principal_name,
    })
}

fn graph_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn holdings(user: &GraphUser) -> Vec<Holding> {
    if user.account_enabled == Some(false) {
        return Vec::new();
    }
    vec![Holding {
        system: "entra".into(),
        kind: "enabled_account".into(),
        resource: user.id.clone(),
        description: format!("Entra user {} can sign in", user.describe()),
    }]
}

#[async_trait]
impl Connector for EntraConnector {
    fn name(&self) -> &'static str {
        "entra"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<NoParams>(
                REVOKE_SESSIONS,
                "Revoke the identity's Entra sign-in sessions and refresh tokens \
                 (POST /users/{id}/revokeSignInSessions); verified when \
                 signInSessionsValidFromDateTime reads back at or after the revocation.",
            ),
            typed_action::<NoParams>(
                DISABLE_USER,
                "Block the identity's Entra sign-in (PATCH accountEnabled=false); verified when \
                 accountEnabled reads back false.",
            ),
        ]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        self.check(action, params)
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        self.check(&request.action, &request.params)
            .map_err(invalid)?;
        let graph = self.api()?;
        let user = users::find(graph, &request.identity).await?;
        match request.action.as_str() {
            REVOKE_SESSIONS => {
                // Graph keeps whole seconds: the reset is at or after this instant.
                let at = Utc::now().trunc_subsecs(0);
                users::revoke_sessions(graph, &user).await?;
                self.remember_revocation(request, at);
                Ok(ActionOutcome::changed(format!(
                    "revoked the Entra sign-in sessions of {}",
                    user.describe()
                ))
                .with_details(serde_json::json!({
                    "user_id": user.id,
                    "user_principal_name": user.user_principal_name,
                    "revoked_at": graph_time(at),
                })))
            }
            _ => {
                if user.account_enabled == Some(false) {
                    return Ok(ActionOutcome::unchanged(format!(
                        "Entra user {} is already disabled",
                        user.describe()
                    ))
                    .with_details(details(&user)));
                }
                users::disable(graph, &user).await?;
                Ok(
                    ActionOutcome::changed(format!("disabled Entra user {}", user.describe()))
                        .with_details(details(&user)),
                )
            }
        }
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        self.check(&request.action, &request.params)
            .map_err(invalid)?;
        let graph = self.api()?;
        let user = users::find(graph, &request.identity).await?;
        match request.action.as_str() {
            REVOKE_SESSIONS => {
                let valid_from = user.sign_in_sessions_valid_from_date_time;
                let shown = valid_from.map(graph_time).unwrap_or_else(|| "unset".into());
                let Some(at) = self.revocation_time(request) else {
                    return Ok(Verification::still_present(format!(
                        "no revocation by this step is known to this process; \
                         signInSessionsValidFromDateTime of {} is {shown}",
                        user.describe()
                    )));
                };
                let observation = format!(
                    "GET /v1.0/users/{}: signInSessionsValidFromDateTime {shown}, revoked at {}",
                    user.id,
                    graph_time(at)
                );
                Ok(if valid_from.is_some_and(|v| v >= at) {
                    self.forget_revocation(request);
                    Verification::gone(observation)
                } else {
                    Verification::still_present(observation)
                })
            }
            _ => {
                let observation = format!(
                    "GET /v1.0/users/{}: accountEnabled {}",
                    user.id,
                    user.account_enabled
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "absent".into())
                );
                Ok(if user.account_enabled == Some(false) {
                    Verification::gone(observation)
                } else {
                    Verification::still_present(observation)
                })
            }
        }
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        self.check(&request.action, &request.params)
            .map_err(invalid)?;
        let graph = self.api()?;
        let Some(user) = users::find_soft(graph, &request.identity).await? else {
            return Ok(Preview {
                would_revoke: Vec::new(),
                notes: vec![users::not_found(&request.identity).message],
            });
        };
        let would_revoke = match request.action.as_str() {
            REVOKE_SESSIONS => vec![Holding {
                system: "entra".into(),
                kind: "sign_in_sessions".into(),
                resource: user.id.clone(),
                description: format!(
                    "sign-in sessions and refresh tokens of {} (valid from {})",
                    user.describe(),
                    user.sign_in_sessions_valid_from_date_time
                        .map(graph_time)
                        .unwrap_or_else(|| "unknown".into())
                ),
            }],
            _ => holdings(&user),
        };
        let notes = if would_revoke.is_empty() {
            vec![format!(
                "Entra user {} is already disabled",
                user.describe()
            )]
        } else {
            Vec::new()
        };
        Ok(Preview {
            would_revoke,
            notes,
        })
    }

    /// An enabled account is residual access when the plan disabled the user; sessions
    /// cannot be listed through Graph, so a revocation leaves nothing to inventory.
    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        if !scope.iter().any(|r| r.action == DISABLE_USER) {
            return Ok(Vec::new());
        }
        let graph = self.api()?;
        Ok(match users::find_soft(graph, identity).await? {
            Some(user) => holdings(&user),
            None => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_only_describes_its_actions_and_checks_params() {
        let c = EntraConnector::spec_only();
        assert_eq!(c.name(), "entra");
        let names: Vec<_> = c.actions().iter().map(|a| a.name).collect();
        assert_eq!(names, ACTIONS);
        assert!(c
            .check_params(REVOKE_SESSIONS, &serde_json::Value::Null)
            .is_ok());
        assert!(c.check_params(DISABLE_USER, &json!({})).is_ok());
        assert!(c.check_params(DISABLE_USER, &json!({"x": 1})).is_err());
        assert!(c.check_params("delete_user", &json!({})).is_err());
    }
}
