//! `probe`: an in-test connector with scripted behaviour, for engine rules the real
//! connectors cannot be made to show on demand (a verification that keeps failing,
//! residual access, concurrency bounds). Real-path behaviour is tested against the
//! simulated upstreams.

use async_trait::async_trait;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, Preview, Verification,
};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeParams {
    /// The holding to remove.
    pub key: String,
}

/// Scripted behaviour for one key.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Transient failures before success.
    pub transient_failures: usize,
    /// Fail permanently with this message.
    pub permanent: Option<String>,
    /// Verification never confirms.
    pub verify_lies: bool,
    /// Time an execute takes.
    pub delay: Duration,
}

#[derive(Default)]
pub struct ProbeState {
    pub holdings: BTreeSet<String>,
    pub scripts: HashMap<String, Script>,
    pub executes: HashMap<String, usize>,
    /// `grant` (a drill's restore) fails permanently for these keys, with the message.
    pub grant_failures: HashMap<String, String>,
}

#[derive(Clone, Default)]
pub struct Probe {
    pub state: Arc<Mutex<ProbeState>>,
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Probe {
    pub fn with_holdings(keys: &[&str]) -> Self {
        let probe = Probe::default();
        probe.state.lock().unwrap().holdings = keys.iter().map(|k| k.to_string()).collect();
        probe
    }

    pub fn script(&self, key: &str, script: Script) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(key.to_string(), script);
    }

    pub fn executes(&self, key: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .executes
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// Make `grant` of `key` fail permanently with `message`.
    pub fn fail_grant(&self, key: &str, message: &str) {
        self.state
            .lock()
            .unwrap()
            .grant_failures
            .insert(key.to_string(), message.to_string());
    }

    pub fn holds(&self, key: &str) -> bool {
        self.state.lock().unwrap().holdings.contains(key)
    }
}

fn holding(key: &str) -> Holding {
    Holding {
        system: "probe".into(),
        kind: "grant".into(),
        resource: key.into(),
        description: format!("probe grant {key}"),
    }
}

#[async_trait]
impl Connector for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<RevokeParams>("revoke", "Remove one probe grant"),
            typed_action::<RevokeParams>("grant", "Give one probe grant back (drill restore)"),
        ]
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        if request.action == "grant" {
            let params: RevokeParams =
                parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.0))?;
            let mut state = self.state.lock().unwrap();
            if let Some(message) = state.grant_failures.get(&params.key) {
                return Err(ConnectorError::permanent(message.clone()).with_status(403));
            }
            let changed = state.holdings.insert(params.key.clone());
            return Ok(if changed {
                ActionOutcome::changed(format!("granted {}", params.key))
            } else {
                ActionOutcome::unchanged(format!("{} already held", params.key))
            });
        }
        let params: RevokeParams =
            parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.0))?;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let script = {
            let mut state = self.state.lock().unwrap();
            *state.executes.entry(params.key.clone()).or_default() += 1;
            state.scripts.get(&params.key).cloned().unwrap_or_default()
        };
        tokio::time::sleep(script.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut state = self.state.lock().unwrap();
        let attempts = state.executes[&params.key];
        if let Some(message) = script.permanent {
            return Err(ConnectorError::permanent(message).with_status(403));
        }
        if attempts <= script.transient_failures {
            return Err(ConnectorError::transient("upstream answered 503").with_status(503));
        }
        let changed = state.holdings.remove(&params.key);
        if script.verify_lies {
            state.holdings.insert(params.key.clone());
        }
        Ok(if changed {
            ActionOutcome::changed(format!("removed {}", params.key))
        } else {
            ActionOutcome::unchanged(format!("{} already gone", params.key))
        })
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let params: RevokeParams =
            parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.0))?;
        if request.action == "grant" {
            return Ok(if self.holds(&params.key) {
                Verification {
                    verified: true,
                    observation: format!("{} held again", params.key),
                }
            } else {
                Verification::still_present(format!("{} not held", params.key))
            });
        }
        Ok(if self.holds(&params.key) {
            Verification::still_present(format!("{} still held", params.key))
        } else {
            Verification::gone(format!("{} not held", params.key))
        })
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let params: RevokeParams =
            parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.0))?;
        Ok(Preview {
            would_revoke: if self.holds(&params.key) {
                vec![holding(&params.key)]
            } else {
                vec![]
            },
            notes: vec![],
        })
    }

    async fn inventory(
        &self,
        _identity: &Identity,
        _scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .holdings
            .iter()
            .map(|k| holding(k))
            .collect())
    }
}
