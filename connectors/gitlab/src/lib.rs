//! The GitLab connector of Leaver (reqwest against the GitLab REST API v4).
//!
//! Actions (each idempotent — "already blocked / revoked / removed" is success with
//! `changed: false` — and each verified by reading GitLab back):
//!
//! | action | what it does | verified by |
//! |---|---|---|
//! | `gitlab.block_user` | `POST /users/:id/block` ([`block`]) | `GET /users/:id` reads a blocked `state` |
//! | `gitlab.revoke_personal_access_tokens` | `DELETE /personal_access_tokens/:id` for every active token ([`tokens`]) | `GET /personal_access_tokens?user_id=&state=active` lists none |
//! | `gitlab.remove_memberships` | `DELETE /groups\|projects/:id/members/:user_id` for every direct membership ([`memberships`]) | `GET /users/:id/memberships` lists none |
//!
//! The user is `accounts.gitlab` (a username) or the one user whose email is the
//! identity's ([`user`]). Every call needs an administrator's token with the `api` scope
//! (`PRIVATE-TOKEN`). Every call is one HTTP attempt; errors are classified by
//! [`classify`] (401/403/404 permanent with GitLab's `message`, 429 transient honouring
//! `Retry-After` / `RateLimit-Reset`, 5xx and timeouts transient). The token is redacted
//! from `Debug`, never formatted into an error, an outcome, a holding or a log line, and
//! scrubbed from upstream messages.

mod block;
pub mod classify;
mod client;
mod config;
mod memberships;
pub mod params;
mod tokens;
mod user;

pub use client::GitlabSetupError;
pub use config::{GitlabConfig, DEFAULT_API_URL, DEFAULT_PAGE_SIZE, DEFAULT_REQUEST_TIMEOUT};
pub use params::{BlockUserParams, RemoveMembershipsParams, RevokePersonalAccessTokensParams};

use async_trait::async_trait;
use client::GitlabApi;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, ParamError, Preview, Verification,
};
use std::collections::BTreeSet;
use std::fmt;

/// `gitlab.block_user`.
pub const BLOCK_USER: &str = "block_user";
/// `gitlab.revoke_personal_access_tokens`.
pub const REVOKE_PERSONAL_ACCESS_TOKENS: &str = "revoke_personal_access_tokens";
/// `gitlab.remove_memberships`.
pub const REMOVE_MEMBERSHIPS: &str = "remove_memberships";

const ACTIONS: [&str; 3] = [
    BLOCK_USER,
    REVOKE_PERSONAL_ACCESS_TOKENS,
    REMOVE_MEMBERSHIPS,
];

/// A step's action, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    BlockUser,
    RevokeTokens,
    RemoveMemberships,
}

fn step(action: &str, params: &serde_json::Value) -> Result<Step, ParamError> {
    match action {
        BLOCK_USER => parse_params::<BlockUserParams>(params).map(|_| Step::BlockUser),
        REVOKE_PERSONAL_ACCESS_TOKENS => {
            parse_params::<RevokePersonalAccessTokensParams>(params).map(|_| Step::RevokeTokens)
        }
        REMOVE_MEMBERSHIPS => {
            parse_params::<RemoveMembershipsParams>(params).map(|_| Step::RemoveMemberships)
        }
        other => Err(ParamError(format!(
            "unknown action `gitlab.{other}` (the GitLab connector offers: {})",
            ACTIONS.map(|a| format!("gitlab.{a}")).join(", ")
        ))),
    }
}

fn request_step(request: &ActionRequest) -> Result<Step, ConnectorError> {
    step(&request.action, &request.params)
        .map_err(|e| ConnectorError::permanent(format!("invalid parameters: {e}")))
}

/// The GitLab connector.
pub struct GitlabConnector {
    api: GitlabApi,
}

impl fmt::Debug for GitlabConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabConnector").finish_non_exhaustive()
    }
}

impl GitlabConnector {
    /// Validate the configuration and prepare the client. No request is made.
    pub fn new(config: GitlabConfig) -> Result<Self, GitlabSetupError> {
        Ok(Self {
            api: GitlabApi::new(&config)?,
        })
    }

    /// Holdings of the found user for the given kinds of step.
    async fn holdings(
        &self,
        found: &user::Found,
        steps: &BTreeSet<Step>,
    ) -> Result<Vec<Holding>, ConnectorError> {
        let mut holdings = Vec::new();
        for step in steps {
            match step {
                Step::BlockUser => holdings.extend(block::holdings(found)),
                Step::RevokeTokens => holdings.extend(tokens::holdings(&self.api, found).await?),
                Step::RemoveMemberships => {
                    holdings.extend(memberships::holdings(&self.api, found).await?)
                }
            }
        }
        Ok(holdings)
    }
}

#[async_trait]
impl Connector for GitlabConnector {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<BlockUserParams>(
                BLOCK_USER,
                "Block the identity's GitLab user (accounts.gitlab, or found by email): no more sign-in, \
                 Git or API access; tokens and memberships stay (add the other gitlab actions); \
                 verified when the user reads back blocked.",
            ),
            typed_action::<RevokePersonalAccessTokensParams>(
                REVOKE_PERSONAL_ACCESS_TOKENS,
                "Revoke every active personal access token of the identity's GitLab user; verified \
                 when none is listed as active.",
            ),
            typed_action::<RemoveMembershipsParams>(
                REMOVE_MEMBERSHIPS,
                "Remove the identity's GitLab user from every group and project it is a direct \
                 member of; verified when GET /users/:id/memberships lists none.",
            ),
        ]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        step(action, params).map(|_| ())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let identity = &request.identity;
        match request_step(request)? {
            Step::BlockUser => block::execute(&self.api, identity).await,
            Step::RevokeTokens => tokens::execute(&self.api, identity).await,
            Step::RemoveMemberships => memberships::execute(&self.api, identity).await,
        }
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let identity = &request.identity;
        match request_step(request)? {
            Step::BlockUser => block::verify(&self.api, identity).await,
            Step::RevokeTokens => tokens::verify(&self.api, identity).await,
            Step::RemoveMemberships => memberships::verify(&self.api, identity).await,
        }
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let step = request_step(request)?;
        let found = match user::find_soft(&self.api, &request.identity).await? {
            Ok(found) => found,
            Err(reason) => {
                return Ok(Preview {
                    would_revoke: Vec::new(),
                    notes: vec![reason],
                })
            }
        };
        let would_revoke = self.holdings(&found, &BTreeSet::from([step])).await?;
        let mut notes = Vec::new();
        if would_revoke.is_empty() {
            notes.push(match step {
                Step::BlockUser => format!(
                    "GitLab user {} is already blocked ({})",
                    found.user.label(),
                    found.user.state
                ),
                _ => format!("nothing to revoke in GitLab for {}", found.user.label()),
            });
        }
        Ok(Preview {
            would_revoke,
            notes,
        })
    }

    /// What the user still holds, for the kinds of access the plan's gitlab steps
    /// address (every kind when the scope is empty). No user found: nothing held.
    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        let mut steps: BTreeSet<Step> = scope.iter().map(request_step).collect::<Result<_, _>>()?;
        if steps.is_empty() {
            steps = BTreeSet::from([Step::BlockUser, Step::RevokeTokens, Step::RemoveMemberships]);
        }
        let found = match user::find_soft(&self.api, identity).await? {
            Ok(found) => found,
            Err(_) => return Ok(Vec::new()),
        };
        let mut holdings = self.holdings(&found, &steps).await?;
        holdings.sort();
        holdings.dedup();
        Ok(holdings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_without_a_runtime_or_token() {
        let c = GitlabConnector::new(GitlabConfig::default()).unwrap();
        assert_eq!(c.name(), "gitlab");
        let names: Vec<_> = c.actions().iter().map(|a| a.name).collect();
        assert_eq!(names, ACTIONS);
    }

    #[test]
    fn params_are_checked() {
        let c = GitlabConnector::new(GitlabConfig::default()).unwrap();
        for action in ACTIONS {
            assert!(c.check_params(action, &serde_json::Value::Null).is_ok());
            assert!(c.check_params(action, &json!({})).is_ok());
            assert!(
                c.check_params(action, &json!({"org": "x"})).is_err(),
                "{action}"
            );
        }
        let e = c.check_params("delete_user", &json!({})).unwrap_err();
        assert!(e.0.contains("gitlab.block_user"), "{e}");
    }
}
