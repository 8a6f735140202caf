//! The contract between the Leaver engine and every connector.
//!
//! A connector is one upstream system (GitHub, AWS IAM, Vault, an IdP…). It exposes
//! named actions (`github.remove_org_member`), each with typed parameters, and for each
//! action it can `execute` the revocation, `verify` afterwards that the access is really
//! gone, and `preview` what it would revoke without touching anything. After a run the
//! engine asks every connector the plan touched for the identity's `inventory`: whatever
//! is still held there is residual access.
//!
//! This crate knows nothing about storage, HTTP serving or plans; it is the small, stable
//! surface that everything else depends on.

mod call_retry;
mod error;
mod identity;
mod params;
mod retry_after;

pub use call_retry::CallRetry;
pub use error::{ConnectorError, ErrorClass};
pub use identity::Identity;
pub use params::{parse_params, typed_action, ActionSpec, ParamError};
pub use retry_after::{parse_reset_epoch, parse_retry_after};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One action invocation: what the engine hands a connector for `execute`, `verify`
/// and `preview`. `params` has already been validated against the action's spec.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    /// Action name without the connector prefix (`remove_org_member`).
    pub action: String,
    pub params: serde_json::Value,
    pub identity: Identity,
    /// Run and step ids, for correlation in logs and upstream audit trails.
    pub run_id: String,
    pub step_id: String,
}

/// What an `execute` call did. `changed == false` means the access was already gone
/// (idempotent success: "already not a member").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionOutcome {
    pub changed: bool,
    /// A short human sentence for the evidence and the CLI ("removed alice-gh from acme").
    pub summary: String,
    /// Structured, non-secret details for the evidence ledger.
    #[serde(default)]
    pub details: serde_json::Value,
    /// Sub-steps the action deliberately left out (plan `skip:`), recorded as skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl ActionOutcome {
    pub fn changed(summary: impl Into<String>) -> Self {
        Self {
            changed: true,
            summary: summary.into(),
            details: serde_json::Value::Null,
            skipped: Vec::new(),
        }
    }

    pub fn unchanged(summary: impl Into<String>) -> Self {
        Self {
            changed: false,
            summary: summary.into(),
            details: serde_json::Value::Null,
            skipped: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The answer of a verification probe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    /// True only when the probe positively confirmed that the access is gone.
    pub verified: bool,
    /// What the probe observed ("GET /orgs/acme/members/alice-gh answered 404").
    pub observation: String,
}

impl Verification {
    pub fn gone(observation: impl Into<String>) -> Self {
        Self {
            verified: true,
            observation: observation.into(),
        }
    }

    pub fn still_present(observation: impl Into<String>) -> Self {
        Self {
            verified: false,
            observation: observation.into(),
        }
    }
}

/// One piece of access an identity still holds in a system.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holding {
    /// Connector name (`github`).
    pub system: String,
    /// Kind of access (`org_membership`, `access_key`, `token`…).
    pub kind: String,
    /// Where it is held (`acme`, an ARN, a Vault path…).
    pub resource: String,
    /// Human description.
    pub description: String,
}

/// What an action would do, for `leaver plan explain` and dry runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preview {
    /// Holdings this action would remove (empty: nothing to do).
    pub would_revoke: Vec<Holding>,
    /// Notes (e.g. "no GitHub login known for this identity").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A connector: one upstream system and its actions.
///
/// Contract:
/// - `execute` is idempotent: running it again after a crash, or when the access is
///   already gone, succeeds with `changed == false`.
/// - Errors are classified: transient errors (timeouts, 5xx, 429, rate limits) are
///   retried by the engine, honouring `retry_after`; permanent errors fail the step with
///   the upstream's message.
/// - `verify` reports `verified: true` only when it positively observed the absence of
///   the access.
/// - No secret value (tokens, keys, passwords) ever appears in an outcome, a
///   verification, a holding or an error message.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Name used as the prefix in plan files (`github` in `github.remove_org_member`).
    fn name(&self) -> &'static str;

    /// The actions this connector offers, with their parameter specs.
    fn actions(&self) -> Vec<ActionSpec>;

    /// Validate parameters beyond their type, against this connector's configuration
    /// (for example: `org` is required unless `connectors.github.org` is set).
    /// The default accepts whatever the action's typed parameters accept.
    fn check_params(&self, _action: &str, _params: &serde_json::Value) -> Result<(), ParamError> {
        Ok(())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError>;

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError>;

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError>;

    /// What the identity still holds in this system, within the scope of the given
    /// requests (the steps of the run that used this connector: their orgs, accounts…).
    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError>;
}

/// The connectors available to the engine, by name.
#[derive(Clone, Default)]
pub struct Registry {
    connectors: std::collections::BTreeMap<&'static str, Arc<dyn Connector>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, connector: Arc<dyn Connector>) {
        self.connectors.insert(connector.name(), connector);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(name)
    }

    pub fn connectors(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.connectors.values()
    }

    /// Split `github.remove_org_member` into the connector and its action spec.
    pub fn resolve(&self, uses: &str) -> Result<(Arc<dyn Connector>, ActionSpec), String> {
        let (connector_name, action) = uses
            .split_once('.')
            .ok_or_else(|| format!("`{uses}` is not of the form connector.action"))?;
        let connector = self.get(connector_name).ok_or_else(|| {
            let known: Vec<_> = self.connectors.keys().copied().collect();
            format!(
                "unknown connector `{connector_name}` in `{uses}` (known: {})",
                known.join(", ")
            )
        })?;
        let spec = connector
            .actions()
            .into_iter()
            .find(|spec| spec.name == action)
            .ok_or_else(|| {
                let known: Vec<_> = connector.actions().iter().map(|a| a.name).collect();
                format!(
                    "unknown action `{uses}` (connector `{connector_name}` offers: {})",
                    known.join(", ")
                )
            })?;
        Ok((connector.clone(), spec))
    }

    /// Every action as `connector.action`, with its spec.
    pub fn all_actions(&self) -> Vec<(String, ActionSpec)> {
        self.connectors
            .values()
            .flat_map(|c| {
                let prefix = c.name();
                c.actions()
                    .into_iter()
                    .map(move |a| (format!("{prefix}.{}", a.name), a))
            })
            .collect()
    }
}
