//! `leaver plan explain`: what a plan would revoke for an identity, from each step's
//! connector `preview` — never `execute`.

use super::model::Plan;
use leaver_connector::{ActionRequest, Holding, Identity, Registry};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct StepExplanation {
    pub step_id: String,
    pub uses: String,
    pub needs: Vec<String>,
    pub would_revoke: Vec<Holding>,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub plan: String,
    pub identity: String,
    pub steps: Vec<StepExplanation>,
}

pub async fn explain(plan: &Plan, registry: &Registry, identity: &Identity) -> Explanation {
    let mut steps = Vec::new();
    for step in plan.topological_order() {
        let mut explanation = StepExplanation {
            step_id: step.id.clone(),
            uses: step.uses.clone(),
            needs: step.needs.clone(),
            would_revoke: Vec::new(),
            notes: Vec::new(),
            error: None,
        };
        match registry.resolve(&step.uses) {
            Ok((connector, spec)) => {
                let request = ActionRequest {
                    action: spec.name.to_string(),
                    params: step.with.clone(),
                    identity: identity.clone(),
                    run_id: "explain".into(),
                    step_id: step.id.clone(),
                };
                match connector.preview(&request).await {
                    Ok(preview) => {
                        explanation.would_revoke = preview.would_revoke;
                        explanation.notes = preview.notes;
                    }
                    Err(error) => explanation.error = Some(error.message),
                }
            }
            Err(reason) => explanation.error = Some(format!("not configured here: {reason}")),
        }
        steps.push(explanation);
    }
    Explanation {
        plan: plan.name.clone(),
        identity: identity.email.clone(),
        steps,
    }
}

impl Explanation {
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "Plan {} for {} — a preview; nothing is changed.\n",
            self.plan, self.identity
        );
        for step in &self.steps {
            let needs = if step.needs.is_empty() {
                String::new()
            } else {
                format!(" (after {})", step.needs.join(", "))
            };
            out.push_str(&format!("\n  {}  {}{}\n", step.step_id, step.uses, needs));
            if let Some(error) = &step.error {
                out.push_str(&format!("      cannot preview: {error}\n"));
            } else if step.would_revoke.is_empty() {
                out.push_str("      nothing to revoke\n");
            }
            for holding in &step.would_revoke {
                out.push_str(&format!(
                    "      would revoke {} {} in {}: {}\n",
                    holding.system, holding.kind, holding.resource, holding.description
                ));
            }
            for note in &step.notes {
                out.push_str(&format!("      note: {note}\n"));
            }
        }
        out
    }
}
