//! The validated plan, as the engine uses it and snapshots it into each run (JSON).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Events a plan can be triggered by.
pub const KNOWN_TRIGGER_EVENTS: &[&str] = &[
    "okta.user.lifecycle.deactivate",
    "okta.user.lifecycle.suspend",
    "okta.user.lifecycle.delete.initiated",
    "okta.group.user_membership.remove",
    "okta.application.user_membership.remove",
    "entra.scim.deactivate",
    "entra.scim.delete",
    "entra.graph.disabled",
    "entra.graph.deleted",
    "scim.deactivate",
    "scim.delete",
    "manual",
    "drill",
    "hr.ticket",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub events: Vec<String>,
}

/// How a step retries transient failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    #[serde(with = "crate::duration::text")]
    pub initial_backoff: Duration,
    #[serde(with = "crate::duration::text")]
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDef {
    pub id: String,
    /// `connector.action`.
    pub uses: String,
    /// The action's parameters (an object; `{}` when absent).
    pub with: serde_json::Value,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    #[serde(default, with = "crate::duration::text::option")]
    pub timeout: Option<Duration>,
    /// Line of the step in its file.
    #[serde(default)]
    pub line: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub trigger: Trigger,
    #[serde(default, with = "crate::duration::text::option")]
    pub sla: Option<Duration>,
    pub steps: Vec<StepDef>,
    /// Steps a drill runs afterwards to give a canary its access back.
    #[serde(default)]
    pub restore: Vec<StepDef>,
    /// The file the plan was read from.
    #[serde(default)]
    pub source: String,
}

impl Plan {
    /// Steps grouped in levels: every step's needs are in earlier levels. Steps of one
    /// level can run in parallel. (Plans are validated acyclic.)
    pub fn levels(&self) -> Vec<Vec<&StepDef>> {
        levels(&self.steps)
    }

    /// Steps in an order where each comes after everything it needs.
    pub fn topological_order(&self) -> Vec<&StepDef> {
        self.levels().into_iter().flatten().collect()
    }

    /// Whether the plan runs on `event`.
    pub fn triggered_by(&self, event: &str) -> bool {
        self.trigger.events.iter().any(|e| e == event)
    }
}

pub(crate) fn levels(steps: &[StepDef]) -> Vec<Vec<&StepDef>> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut remaining: Vec<&StepDef> = steps.iter().collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let (ready, rest): (Vec<&StepDef>, Vec<&StepDef>) = remaining
            .into_iter()
            .partition(|s| s.needs.iter().all(|n| placed.contains(n.as_str())));
        if ready.is_empty() {
            // A cycle (refused by validation): keep the rest in file order.
            out.push(rest);
            break;
        }
        placed.extend(ready.iter().map(|s| s.id.as_str()));
        out.push(ready);
        remaining = rest;
    }
    out
}

/// The plans of a directory, by name.
#[derive(Debug, Clone, Default)]
pub struct PlanSet {
    pub(crate) plans: BTreeMap<String, Plan>,
}

impl PlanSet {
    pub fn from_plans(plans: impl IntoIterator<Item = Plan>) -> Self {
        Self {
            plans: plans.into_iter().map(|p| (p.name.clone(), p)).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Plan> {
        self.plans.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plans.keys().map(String::as_str)
    }

    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.plans.values()
    }

    /// Plans that run on `event`.
    pub fn triggered_by<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a Plan> {
        self.plans.values().filter(move |p| p.triggered_by(event))
    }

    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }
}
