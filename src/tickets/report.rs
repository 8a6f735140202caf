//! The text Leaver posts to an HR ticket: a progress note when the offboarding starts
//! and the final summary (what was revoked, when, verified or not, and the evidence
//! range an auditor can export). Pure functions over the run, its steps and its
//! evidence, so the same text goes to Jira and ServiceNow.

use crate::dag::is_reporting;
use crate::evidence::Entry;
use crate::store::runs::ms_to_rfc3339;
use crate::store::{RunRecord, StepRecord};

/// The line that makes a post recognisable, so a retried step never posts twice.
pub fn marker(run_id: &str, step_id: &str) -> String {
    format!("leaver-ref: {run_id}/{step_id}")
}

/// Which report a `ticket.update` step posts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// The offboarding has started: plan, SLA, the steps it will take.
    Progress,
    /// The outcome of every step that ended before this one, and the evidence range.
    Summary,
}

/// The report's text: plain lines, the marker last.
pub fn compose(
    kind: ReportKind,
    run: &RunRecord,
    steps: &[StepRecord],
    evidence: &[Entry],
    step_id: &str,
    note: Option<&str>,
) -> String {
    let mut lines = Vec::new();
    let who = &run.identity.email;
    match kind {
        ReportKind::Progress => {
            lines.push(format!("Leaver: offboarding of {who} has started."));
        }
        ReportKind::Summary => {
            lines.push(format!("Leaver: offboarding of {who}: summary."));
        }
    }
    lines.push(format!(
        "Run {} (plan {}, {} mode), effective {}.",
        run.id,
        run.plan,
        run.mode.as_str(),
        ms_to_rfc3339(run.effective_at)
    ));
    if let Some(deadline) = run.sla_deadline {
        lines.push(format!("SLA deadline: {}.", ms_to_rfc3339(deadline)));
    }
    if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
        lines.push(note.to_string());
    }
    let revocations: Vec<&StepRecord> = steps
        .iter()
        .filter(|s| s.step_id != step_id && s.step_id != crate::domain::SWEEP_STEP_ID)
        .filter(|s| !is_reporting(&s.connector))
        .collect();
    match kind {
        ReportKind::Progress => {
            lines.push(format!("Steps ({}):", revocations.len()));
            for step in &revocations {
                lines.push(format!("- {} ({})", step.step_id, step.uses));
            }
        }
        ReportKind::Summary => {
            let succeeded = revocations
                .iter()
                .filter(|s| s.status == crate::domain::StepStatus::Succeeded)
                .count();
            let verified = revocations.iter().filter(|s| s.verified).count();
            lines.push(format!(
                "Revocations: {succeeded} of {} succeeded, {verified} verified.",
                revocations.len()
            ));
            for step in &revocations {
                lines.push(step_line(step));
            }
            match (evidence.first(), evidence.last()) {
                (Some(first), Some(last)) => lines.push(format!(
                    "Evidence: ledger entries {}..{} ({} about this run), last hash {}. \
                     Export them with `leaver evidence export --from {} --to {} --out FILE` \
                     and check them offline with `leaver evidence verify FILE`.",
                    first.seq,
                    last.seq,
                    evidence.len(),
                    last.hash,
                    first.seq,
                    last.seq
                )),
                _ => lines.push("Evidence: no ledger entry about this run yet.".into()),
            }
        }
    }
    lines.push(marker(&run.id, step_id));
    lines.join("\n")
}

fn step_line(step: &StepRecord) -> String {
    let when = step
        .finished_at
        .map(ms_to_rfc3339)
        .unwrap_or_else(|| "not finished".into());
    let summary = step
        .outcome
        .as_ref()
        .and_then(|o| o.get("summary"))
        .and_then(serde_json::Value::as_str);
    let mut line = format!(
        "- {} ({}): {}",
        step.step_id,
        step.uses,
        step.status.as_str()
    );
    if step.status == crate::domain::StepStatus::Succeeded {
        line.push_str(if step.verified {
            ", verified"
        } else {
            ", NOT verified"
        });
    }
    line.push_str(&format!(" at {when}"));
    if let Some(summary) = summary {
        line.push_str(&format!(": {summary}"));
    }
    if let Some(error) = &step.error {
        line.push_str(&format!(": {error}"));
    }
    line
}
