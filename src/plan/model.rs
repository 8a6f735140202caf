//! The validated plan, as the engine uses it and snapshots it into each run (JSON).

pub use crate::dag::StepWhen;
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
    "okta.scim.deactivate",
    "okta.scim.delete",
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
#[serde(default)]
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
    #[serde(default = "empty_object")]
    pub with: serde_json::Value,
    #[serde(default)]
    pub needs: Vec<String>,
    /// `success` (default): run once every step in `needs` succeeded, skipped if one
    /// did not; `always`: run once every step in `needs` has ended, whatever the
    /// outcome.
    #[serde(default, skip_serializing_if = "StepWhen::is_success")]
    pub when: StepWhen,
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    #[serde(default, with = "crate::duration::text::option")]
    pub timeout: Option<Duration>,
    /// Line of the step in its file.
    #[serde(default)]
    pub line: u64,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl StepDef {
    /// The connector part of `uses` (`github`).
    pub fn connector(&self) -> &str {
        self.uses.split_once('.').map_or(&self.uses, |(c, _)| c)
    }

    /// The action part of `uses` (`remove_org_member`).
    pub fn action(&self) -> &str {
        self.uses.split_once('.').map_or("", |(_, a)| a)
    }
}

/// A validated revocation plan. Serializes to JSON (durations as text such as `"15m"`)
/// so the engine can snapshot it into each run.
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

    /// The `restore` steps (drills) in an order where each comes after its needs.
    pub fn restore_order(&self) -> Vec<&StepDef> {
        levels(&self.restore).into_iter().flatten().collect()
    }

    /// The step with this id (in `steps`, not `restore`).
    pub fn step(&self, id: &str) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The connectors the plan's steps use (for the residual-access sweep).
    pub fn connectors(&self) -> BTreeSet<&str> {
        self.steps.iter().map(StepDef::connector).collect()
    }

    /// Whether the plan runs on `event`.
    pub fn triggered_by(&self, event: &str) -> bool {
        self.trigger.events.iter().any(|e| e == event)
    }
}

fn levels(steps: &[StepDef]) -> Vec<Vec<&StepDef>> {
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

    pub fn len(&self) -> usize {
        self.plans.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, uses: &str, needs: &[&str]) -> StepDef {
        StepDef {
            id: id.into(),
            uses: uses.into(),
            with: empty_object(),
            needs: needs.iter().map(|n| n.to_string()).collect(),
            when: StepWhen::Success,
            retry: None,
            timeout: None,
            line: 1,
        }
    }

    fn plan(steps: Vec<StepDef>) -> Plan {
        Plan {
            name: "p".into(),
            description: None,
            trigger: Trigger::default(),
            sla: None,
            steps,
            restore: vec![step("undo", "github.add_org_member", &[])],
            source: "p.yaml".into(),
        }
    }

    fn ids(steps: &[&StepDef]) -> Vec<String> {
        steps.iter().map(|s| s.id.clone()).collect()
    }

    #[test]
    fn levels_group_parallel_steps_in_file_order() {
        let plan = plan(vec![
            step("rotate", "trail.schedule_rotations", &["vault"]),
            step("idp", "okta.revoke_sessions", &[]),
            step("vault", "vault.disable_entity", &[]),
            step("report", "trail.report", &["rotate", "idp"]),
            step("github", "github.remove_org_member", &[]),
        ]);
        let levels: Vec<Vec<String>> = plan.levels().iter().map(|l| ids(l)).collect();
        assert_eq!(
            levels,
            vec![
                vec!["idp", "vault", "github"],
                vec!["rotate"],
                vec!["report"]
            ]
        );
        assert_eq!(
            ids(&plan.topological_order()),
            vec!["idp", "vault", "github", "rotate", "report"]
        );
        assert_eq!(ids(&plan.restore_order()), vec!["undo"]);
        assert_eq!(
            plan.connectors().into_iter().collect::<Vec<_>>(),
            vec!["github", "okta", "trail", "vault"]
        );
        let github = plan.step("github").unwrap();
        assert_eq!(
            (github.connector(), github.action()),
            ("github", "remove_org_member")
        );
        assert!(
            plan.step("undo").is_none(),
            "restore steps are not plan steps"
        );
    }

    #[test]
    fn a_cycle_does_not_hang_levels() {
        let plan = plan(vec![step("a", "x.y", &["b"]), step("b", "x.y", &["a"])]);
        assert_eq!(ids(&plan.topological_order()), vec!["a", "b"]);
    }

    #[test]
    fn snapshots_without_optional_fields_still_load() {
        let json = serde_json::json!({
            "name": "p",
            "steps": [{"id": "a", "uses": "github.remove_org_member"}]
        });
        let plan: Plan = serde_json::from_value(json).unwrap();
        assert_eq!(plan.steps[0].with, serde_json::json!({}));
        assert!(plan.restore.is_empty());
        let retry: RetryPolicy = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(retry, RetryPolicy::default());
    }

    #[test]
    fn known_events_are_unique() {
        let unique: BTreeSet<&str> = KNOWN_TRIGGER_EVENTS.iter().copied().collect();
        assert_eq!(unique.len(), KNOWN_TRIGGER_EVENTS.len());
        assert_eq!(unique.len(), 16);
    }
}
