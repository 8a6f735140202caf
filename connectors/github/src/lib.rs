//! The GitHub connector of Leaver (through octocrab).
//!
//! Action: `github.remove_org_member` (see [`membership`] for the endpoint choice and
//! its idempotency). Every call is one HTTP attempt with the headers GitHub expects
//! (`Authorization: Bearer`, `Accept: application/vnd.github+json`,
//! `X-GitHub-Api-Version`); octocrab's own retry layer is compiled out, so the engine's
//! retries — honouring the `retry_after` that [`classify`] derives from GitHub's
//! rate-limit headers — are each visible as an attempt.
//!
//! The token is a secret: it is redacted from `Debug`, never formatted into an error,
//! an outcome, a holding or a log line, and scrubbed from upstream messages that might
//! echo it.

pub mod classify;
mod client;
mod config;
pub mod membership;

pub use client::{GithubSetupError, GITHUB_JSON};
pub use config::{GithubConfig, DEFAULT_API_URL, DEFAULT_API_VERSION, DEFAULT_REQUEST_TIMEOUT};
pub use membership::RemoveOrgMemberParams;

use async_trait::async_trait;
use client::GithubApi;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, ParamError, Preview, Verification,
};
use membership::Target;
use std::collections::BTreeSet;
use std::fmt;

/// The GitHub connector.
pub struct GithubConnector {
    org: Option<String>,
    api: GithubApi,
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
        Ok(Self { org, api })
    }

    /// The configured default organization.
    pub fn default_org(&self) -> Option<&str> {
        self.org.as_deref()
    }

    fn target(&self, request: &ActionRequest) -> Result<Target, ConnectorError> {
        check_action(&request.action).map_err(|e| ConnectorError::permanent(e.0))?;
        Target::of(&request.params, &request.identity, self.org.as_deref())
    }
}

fn check_action(action: &str) -> Result<(), ParamError> {
    if action == membership::ACTION {
        Ok(())
    } else {
        Err(ParamError(format!(
            "unknown action `github.{action}` (the GitHub connector offers: github.{})",
            membership::ACTION
        )))
    }
}

#[async_trait]
impl Connector for GithubConnector {
    fn name(&self) -> &'static str {
        "github"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![typed_action::<RemoveOrgMemberParams>(
            membership::ACTION,
            membership::DESCRIPTION,
        )]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        check_action(action)?;
        let params: RemoveOrgMemberParams = parse_params(params)?;
        membership::resolve_org(&params, self.org.as_deref()).map(|_| ())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let target = self.target(request)?;
        membership::remove(&self.api, &target).await
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let target = self.target(request)?;
        membership::verify(&self.api, &target).await
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        check_action(&request.action).map_err(|e| ConnectorError::permanent(e.0))?;
        if request.identity.account("github").is_none() {
            return Ok(Preview {
                would_revoke: Vec::new(),
                notes: vec![format!(
                    "no GitHub login known for {} (set accounts.github): nothing can be removed",
                    request.identity.email
                )],
            });
        }
        let target = self.target(request)?;
        membership::preview(&self.api, &target).await
    }

    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        let login = membership::login_of(identity)?;
        let mut orgs = BTreeSet::new();
        for request in scope.iter().filter(|r| r.action == membership::ACTION) {
            let params: RemoveOrgMemberParams = parse_params(&request.params)
                .map_err(|e| ConnectorError::permanent(format!("invalid parameters: {e}")))?;
            let org = membership::resolve_org(&params, self.org.as_deref())
                .map_err(|e| ConnectorError::permanent(e.0))?;
            orgs.insert(org);
        }
        if scope.is_empty() {
            orgs.extend(self.org.clone());
        }
        let mut holdings = Vec::new();
        for org in orgs {
            let target = Target {
                org,
                login: login.clone(),
            };
            holdings.extend(membership::holding(&self.api, &target).await?);
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
        assert_eq!(c.actions()[0].name, "remove_org_member");
    }

    #[test]
    fn schema_and_validation_of_params() {
        let c = connector(None);
        let spec = &c.actions()[0];
        assert!(spec.validate(&serde_json::json!({"org": "acme"})).is_ok());
        assert!(spec.validate(&serde_json::json!({"orgg": "acme"})).is_err());
        assert!(spec.params_schema["properties"]["org"].is_object());
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
            .check_params("remove_org_member", &serde_json::json!({"org": "acme"}))
            .is_ok());
        let with_default = connector(Some("acme"));
        assert!(with_default
            .check_params("remove_org_member", &serde_json::json!({}))
            .is_ok());
        assert!(with_default
            .check_params("remove_org_membr", &serde_json::json!({}))
            .is_err());
        assert!(with_default
            .check_params("remove_org_member", &serde_json::json!({"org": "a b"}))
            .is_err());
    }
}
