//! A connector for the plan module's tests: two actions, previews that describe what
//! they would revoke (or fail), and a counter proving `execute` is never called.

use async_trait::async_trait;
use leaver_connector::{
    typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector, ConnectorError, Holding,
    Identity, ParamError, Preview, Registry, Verification,
};
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A plan using every key; its steps start on lines 7, 10 and 16, restore on 20.
pub const GOOD: &str = "# A plan used by the tests; it uses every key.
name: good
description: a test plan
trigger: { events: [manual, okta.user.lifecycle.deactivate] }
sla: 15m
steps:
  - id: first
    uses: fake.remove
    with: { org: acme }
  - id: second
    uses: fake.remove
    with: { org: other, teams: [a, b] }
    needs: [first]
    retry: { max_attempts: 3, initial_backoff: 100ms, max_backoff: 2s }
    timeout: 30s
  - id: third
    uses: fake.needs_path
    with: { path: x/y }
restore:
  - id: readd
    uses: fake.remove
    with: { org: acme }
";

// The parameter structs are only parsed, to validate `with:`.
#[allow(dead_code)]
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    /// The org (required unless configured; checked by `check_params`).
    pub org: Option<String>,
    #[serde(default)]
    pub teams: Vec<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathParams {
    pub path: String,
}

/// `fake.remove` and `fake.needs_path`; counts previews and executions.
#[derive(Default)]
pub struct Fake {
    pub previews: AtomicUsize,
    pub executes: AtomicUsize,
}

#[async_trait]
impl Connector for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<RemoveParams>("remove", "remove a member"),
            typed_action::<PathParams>("needs_path", "needs a path"),
        ]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        if action == "remove" && params.get("org").is_none() {
            return Err(ParamError(
                "missing parameter `org` (and no default org is configured)".into(),
            ));
        }
        Ok(())
    }

    async fn execute(&self, _: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        self.executes.fetch_add(1, Ordering::SeqCst);
        Ok(ActionOutcome::changed("done"))
    }

    async fn verify(&self, _: &ActionRequest) -> Result<Verification, ConnectorError> {
        Ok(Verification::gone("gone"))
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        self.previews.fetch_add(1, Ordering::SeqCst);
        if let Some(path) = request.params.get("path").and_then(|p| p.as_str()) {
            return Err(ConnectorError::permanent(format!("path {path} is sealed")));
        }
        let org = request
            .params
            .get("org")
            .and_then(|o| o.as_str())
            .unwrap_or("?");
        let who = request
            .identity
            .account("fake")
            .unwrap_or(&request.identity.email);
        Ok(Preview {
            would_revoke: vec![Holding {
                system: "fake".into(),
                kind: "membership".into(),
                resource: org.into(),
                description: format!("{who} is in {org}"),
            }],
            notes: if org == "acme" {
                vec!["preview note".into()]
            } else {
                vec![]
            },
        })
    }

    async fn inventory(
        &self,
        _: &Identity,
        _: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        Ok(vec![])
    }
}

/// A registry holding only `Fake`.
pub fn registry() -> (Registry, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let mut registry = Registry::new();
    registry.register(fake.clone());
    (registry, fake)
}
