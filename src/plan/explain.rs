//! `leaver plan explain`: what a plan would revoke for an identity, from each step's
//! connector `preview` — never `execute`. A step whose preview fails reports the error
//! on that step; the others are still explained.

use super::model::{Plan, StepDef};
use leaver_connector::{ActionRequest, Holding, Identity, Registry};
use serde::Serialize;

/// Run id given to connectors in preview requests.
pub const EXPLAIN_RUN_ID: &str = "explain";

/// One step of the explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepExplanation {
    pub step_id: String,
    pub uses: String,
    pub needs: Vec<String>,
    pub would_revoke: Vec<Holding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub error: Option<String>,
}

/// What a plan would revoke for one identity, step by step in topological order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub plan: String,
    /// The identity's email.
    pub identity: String,
    pub steps: Vec<StepExplanation>,
}

/// Preview every step of `plan` for `identity`. Previews are read-only and run
/// concurrently; the result keeps topological order.
pub async fn explain(plan: &Plan, registry: &Registry, identity: &Identity) -> Explanation {
    let previews = plan
        .topological_order()
        .into_iter()
        .map(|step| explain_step(step, registry, identity));
    Explanation {
        plan: plan.name.clone(),
        identity: identity.email.clone(),
        steps: futures::future::join_all(previews).await,
    }
}

async fn explain_step(step: &StepDef, registry: &Registry, identity: &Identity) -> StepExplanation {
    let mut explanation = StepExplanation {
        step_id: step.id.clone(),
        uses: step.uses.clone(),
        needs: step.needs.clone(),
        would_revoke: Vec::new(),
        notes: Vec::new(),
        error: None,
    };
    if registry.get(step.connector()).is_none() {
        explanation.error = Some(format!(
            "connector `{}` is not configured here (add [connectors.{}] to the configuration)",
            step.connector(),
            step.connector()
        ));
        return explanation;
    }
    match registry.resolve(&step.uses) {
        Ok((connector, spec)) => {
            let request = ActionRequest {
                action: spec.name.to_string(),
                params: step.with.clone(),
                identity: identity.clone(),
                run_id: EXPLAIN_RUN_ID.to_string(),
                step_id: step.id.clone(),
            };
            match connector.preview(&request).await {
                Ok(preview) => {
                    explanation.would_revoke = preview.would_revoke;
                    explanation.notes = preview.notes;
                }
                Err(error) => {
                    explanation.error =
                        Some(format!("{} error: {}", error.class.as_str(), error.message));
                }
            }
        }
        Err(reason) => explanation.error = Some(reason),
    }
    explanation
}

impl Explanation {
    /// Holdings every step together would revoke.
    pub fn total_would_revoke(&self) -> usize {
        self.steps.iter().map(|s| s.would_revoke.len()).sum()
    }

    /// Steps whose preview failed.
    pub fn failed_steps(&self) -> usize {
        self.steps.iter().filter(|s| s.error.is_some()).count()
    }

    /// A readable table for the terminal: one row per holding (or per step when it
    /// would revoke nothing), then the step's notes and errors.
    pub fn render_text(&self) -> String {
        let mut rows: Vec<[String; 4]> = Vec::new();
        let mut remarks: Vec<String> = Vec::new();
        for step in &self.steps {
            let after = step.needs.join(", ");
            let first_row = [step.step_id.clone(), step.uses.clone(), after];
            let what: Vec<String> = if let Some(error) = &step.error {
                vec![format!("(cannot preview: {error})")]
            } else if step.would_revoke.is_empty() {
                vec!["(nothing to revoke)".to_string()]
            } else {
                step.would_revoke
                    .iter()
                    .map(|h| format!("{} {} {}: {}", h.system, h.kind, h.resource, h.description))
                    .collect()
            };
            for (i, what) in what.into_iter().enumerate() {
                let [id, uses, after] = if i == 0 {
                    first_row.clone()
                } else {
                    Default::default()
                };
                rows.push([id, uses, after, what]);
            }
            remarks.extend(
                step.notes
                    .iter()
                    .map(|n| format!("  {}: {n}", step.step_id)),
            );
        }
        let header = ["STEP", "ACTION", "AFTER", "WOULD REVOKE"].map(String::from);
        let mut widths = header.clone().map(|h| h.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String; 4]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i == 3 {
                    out.push_str(cell);
                } else {
                    out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = format!(
            "Plan {} for {}: a preview, nothing is changed.\n\n",
            self.plan, self.identity
        );
        out.push_str(&line(&header));
        for row in &rows {
            out.push_str(&line(row));
        }
        if !remarks.is_empty() {
            out.push_str("\nNotes:\n");
            for remark in remarks {
                out.push_str(&remark);
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "\n{} step(s), {} holding(s) would be revoked",
            self.steps.len(),
            self.total_would_revoke()
        ));
        match self.failed_steps() {
            0 => out.push_str(".\n"),
            n => out.push_str(&format!("; {n} step(s) could not be previewed.\n")),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::load_plan_str;
    use crate::plan::testing::{registry, GOOD};
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn explain_previews_in_order_and_never_executes() {
        let (registry, fake) = registry();
        let plan = load_plan_str(GOOD, "good", &registry).unwrap();
        let identity = Identity::new("alice@example.com").with_account("fake", "alice");
        let explanation = explain(&plan, &registry, &identity).await;
        let order: Vec<&str> = explanation
            .steps
            .iter()
            .map(|s| s.step_id.as_str())
            .collect();
        assert_eq!(order, vec!["first", "third", "second"]);
        assert_eq!(explanation.steps[0].would_revoke[0].resource, "acme");
        assert_eq!(explanation.steps[2].needs, vec!["first"]);
        assert_eq!(fake.previews.load(Ordering::SeqCst), 3);
        assert_eq!(
            fake.executes.load(Ordering::SeqCst),
            0,
            "explain must never execute"
        );
        assert_eq!(explanation.total_would_revoke(), 2);

        // needs_path's preview fails: reported on that step only.
        let third = &explanation.steps[1];
        assert_eq!(
            third.error.as_deref(),
            Some("permanent error: path x/y is sealed")
        );
        assert!(third.would_revoke.is_empty());

        let text = explanation.render_text();
        assert!(
            text.contains("STEP    ACTION           AFTER  WOULD REVOKE"),
            "{text}"
        );
        assert!(
            text.contains("first   fake.remove             fake membership acme: alice is in acme"),
            "{text}"
        );
        assert!(
            text.contains("(cannot preview: permanent error: path x/y is sealed)"),
            "{text}"
        );
        assert!(
            text.contains("second  fake.remove      first  fake membership other"),
            "{text}"
        );
        assert!(text.contains("  first: preview note"), "{text}");
        assert!(
            text.contains(
                "3 step(s), 2 holding(s) would be revoked; 1 step(s) could not be previewed."
            ),
            "{text}"
        );

        let json = serde_json::to_value(&explanation).unwrap();
        assert_eq!(json["steps"][0]["step_id"], "first");
        assert_eq!(json["steps"][0]["would_revoke"][0]["system"], "fake");
        assert!(json["steps"][1]["error"].is_string());
        assert!(json["steps"][2]["error"].is_null());
    }

    #[tokio::test]
    async fn unconfigured_connectors_are_reported_per_step() {
        let (registry, _) = registry();
        let plan = load_plan_str(GOOD, "good", &registry).unwrap();
        let explanation = explain(&plan, &Registry::new(), &Identity::new("bob@example.com")).await;
        for step in &explanation.steps {
            assert!(step
                .error
                .as_deref()
                .unwrap()
                .contains("connector `fake` is not configured"));
        }
        assert!(!explanation.render_text().contains("(nothing to revoke)"));
    }
}
