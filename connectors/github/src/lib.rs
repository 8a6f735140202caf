//! The GitHub connector of Leaver (through octocrab).
//!
//! Actions (one module each; see [`actions`] for the list):
//! `github.remove_org_member` ([`membership`]), `github.remove_outside_collaborator`
//! ([`collaborators`]), `github.cancel_invitations` ([`invitations`]),
//! `github.revoke_sso_authorizations` ([`sso`]) and `github.revoke_fine_grained_tokens`
//! ([`fine_grained`]). The list-shaped ones share [`grant`]: list every page, revoke
//! each item, verify by listing again. The person's login comes from [`account`]
//! (accounts, an IdP profile attribute, or the org's SAML identities).
//!
//! Every call is one HTTP attempt with the headers GitHub expects
//! (`Authorization: Bearer`, `Accept: application/vnd.github+json`,
//! `X-GitHub-Api-Version`); octocrab's own retry layer is compiled out, so the engine's
//! retries — honouring the `retry_after` that [`classify`] derives from GitHub's
//! rate-limit headers — are each visible as an attempt. Calls draw on one process-wide
//! [`budget`] per credential, fed by the `x-ratelimit-*` headers.
//!
//! The token and the App's private key are secrets: redacted from `Debug`, never
//! formatted into an error, an outcome, a holding or a log line, and the token is
//! scrubbed from upstream messages that might echo it.

pub mod account;
pub mod actions;
pub mod actions_secrets;
pub mod budget;
pub mod classify;
mod client;
pub mod collaborators;
mod config;
pub mod fine_grained;
pub mod grant;
pub mod invitations;
pub mod membership;
mod pages;
pub mod sso;

pub use client::{GithubSetupError, GITHUB_JSON};
pub use config::{
    GithubAppConfig, GithubConfig, DEFAULT_API_URL, DEFAULT_API_VERSION, DEFAULT_LOGIN_ATTRIBUTE,
    DEFAULT_MAX_RATE_LIMIT_WAIT, DEFAULT_REQUEST_TIMEOUT,
};
pub use membership::RemoveOrgMemberParams;

use account::Discovery;
use actions::Action;
use async_trait::async_trait;
use client::GithubApi;
use grant::Who;
use leaver_connector::{
    parse_params, ActionOutcome, ActionRequest, ActionSpec, Connector, ConnectorError, Holding,
    Identity, ParamError, Preview, Verification,
};
use membership::Target;
use std::collections::BTreeSet;
use std::fmt;

/// The GitHub connector.
pub struct GithubConnector {
    org: Option<String>,
    api: GithubApi,
    discovery: Discovery,
}

impl fmt::Debug for GithubConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubConnector")
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl GithubConnector {
    /// Validate the configuration and prepare the client. No request is made, and no
    /// async runtime is needed (the HTTP client is built on first use).
    pub fn new(config: GithubConfig) -> Result<Self, GithubSetupError> {
        let api = GithubApi::new(&config)?;
        let org = config
            .org
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty());
        Ok(Self {
            org,
            api,
            discovery: Discovery::new(&config.login_attribute),
        })
    }

    /// The configured default organization.
    pub fn default_org(&self) -> Option<&str> {
        self.org.as_deref()
    }

    fn org_of(&self, params: &serde_json::Value) -> Result<String, ConnectorError> {
        let params: RemoveOrgMemberParams = parse_params(params)
            .map_err(|e| ConnectorError::permanent(format!("invalid parameters: {e}")))?;
        membership::resolve_org(&params, self.org.as_deref())
            .map_err(|e| ConnectorError::permanent(e.0))
    }

    /// The action, org and person of a step. The login is required unless the action
    /// can work by email (`cancel_invitations`).
    async fn who(
        &self,
        action: Action,
        org: String,
        identity: &Identity,
    ) -> Result<Who, ConnectorError> {
        let login = self.discovery.login(&self.api, identity, &org).await?;
        if login.is_none() && action.needs_login() {
            return Err(self.discovery.not_found(identity, Some(&org)));
        }
        Ok(Who {
            org,
            login: login.map(|(l, _)| l),
            email: identity.email.clone(),
        })
    }

    async fn step(&self, request: &ActionRequest) -> Result<(Action, Who), ConnectorError> {
        let action = Action::parse(&request.action).map_err(|e| ConnectorError::permanent(e.0))?;
        let org = self.org_of(&request.params)?;
        Ok((action, self.who(action, org, &request.identity).await?))
    }

    async fn holdings(&self, action: Action, who: &Who) -> Result<Vec<Holding>, ConnectorError> {
        match action.grant() {
            None => {
                let target = target(who)?;
                Ok(membership::holding(&self.api, &target)
                    .await?
                    .into_iter()
                    .collect())
            }
            Some(grant::Grant::FineGrained) if !self.api.is_app() => {
                Ok(vec![fine_grained::unknown_with_token(who)])
            }
            Some(grant) => grant::holdings(grant, &self.api, who).await,
        }
    }
}

fn target(who: &Who) -> Result<Target, ConnectorError> {
    Ok(Target {
        org: who.org.clone(),
        login: who.require_login()?.to_string(),
    })
}

#[async_trait]
impl Connector for GithubConnector {
    fn name(&self) -> &'static str {
        "github"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        Action::ALL.iter().map(|a| a.spec()).collect()
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        Action::parse(action)?;
        let params: RemoveOrgMemberParams = parse_params(params)?;
        membership::resolve_org(&params, self.org.as_deref()).map(|_| ())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let (action, who) = self.step(request).await?;
        match action.grant() {
            None => membership::remove(&self.api, &target(&who)?).await,
            Some(grant) => grant::execute(grant, &self.api, &who).await,
        }
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let (action, who) = self.step(request).await?;
        match action.grant() {
            None => membership::verify(&self.api, &target(&who)?).await,
            Some(grant) => grant::verify(grant, &self.api, &who).await,
        }
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let action = Action::parse(&request.action).map_err(|e| ConnectorError::permanent(e.0))?;
        let org = self.org_of(&request.params)?;
        let who = match self.who(action, org, &request.identity).await {
            Ok(who) => who,
            Err(e) if !e.is_transient() && e.message.starts_with("no GitHub login known") => {
                return Ok(Preview {
                    would_revoke: Vec::new(),
                    notes: vec![format!("{}: nothing can be revoked", e.message)],
                })
            }
            Err(e) => return Err(e),
        };
        match action.grant() {
            None => membership::preview(&self.api, &target(&who)?).await,
            Some(grant::Grant::FineGrained) if !self.api.is_app() => Ok(Preview {
                would_revoke: Vec::new(),
                notes: vec![format!("the step will fail: {}", fine_grained::APP_ONLY)],
            }),
            Some(grant) => grant::preview(grant, &self.api, &who).await,
        }
    }

    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        let mut wanted = BTreeSet::new();
        for request in scope {
            let action =
                Action::parse(&request.action).map_err(|e| ConnectorError::permanent(e.0))?;
            wanted.insert((self.org_of(&request.params)?, action));
        }
        if scope.is_empty() {
            if let Some(org) = &self.org {
                wanted.insert((org.clone(), Action::RemoveOrgMember));
            }
        }
        let mut holdings = Vec::new();
        for (org, action) in wanted {
            let who = self.who(action, org, identity).await?;
            holdings.extend(self.holdings(action, &who).await?);
        }
        Ok(holdings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(org: Option<&str>) -> GithubConnector {
        GithubConnector::new(GithubConfig {
            org: org.map(str::to_string),
            ..GithubConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn builds_without_a_runtime_or_token() {
        let c = connector(None);
        assert_eq!(c.name(), "github");
        let names: Vec<_> = c.actions().iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "remove_org_member",
                "remove_outside_collaborator",
                "cancel_invitations",
                "revoke_sso_authorizations",
                "revoke_fine_grained_tokens"
            ]
        );
    }

    #[test]
    fn schema_and_validation_of_params() {
        let c = connector(None);
        for spec in c.actions() {
            assert!(spec.validate(&serde_json::json!({"org": "acme"})).is_ok());
            assert!(spec.validate(&serde_json::json!({"orgg": "acme"})).is_err());
            assert!(spec.params_schema["properties"]["org"].is_object());
        }
    }

    #[test]
    fn check_params_needs_an_org_from_params_or_config() {
        let none = connector(None);
        assert!(none
            .check_params("remove_org_member", &serde_json::json!({}))
            .is_err());
        assert!(none
            .check_params("remove_org_member", &serde_json::Value::Null)
            .is_err());
        assert!(none
            .check_params("cancel_invitations", &serde_json::json!({"org": "acme"}))
            .is_ok());
        let with_default = connector(Some("acme"));
        assert!(with_default
            .check_params("revoke_sso_authorizations", &serde_json::json!({}))
            .is_ok());
        assert!(with_default
            .check_params("remove_org_membr", &serde_json::json!({}))
            .is_err());
        assert!(with_default
            .check_params("remove_org_member", &serde_json::json!({"org": "a b"}))
            .is_err());
    }
}
