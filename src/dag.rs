//! Pure scheduling rules of a run's steps: which waiting steps become due after a step
//! ends, which are skipped because something they need failed, and the run's final
//! status. The store applies these inside the transaction that ends a step.

use crate::domain::{RunStatus, StepStatus, SWEEP_STEP_ID};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// When a step with `needs` runs (plan key `when`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepWhen {
    /// Once every step it needs has succeeded; skipped if one did not (the default).
    #[default]
    Success,
    /// Once every step it needs has ended, whatever the outcome (reports, clean-up).
    Always,
}

impl StepWhen {
    pub const ALL: &'static [StepWhen] = &[StepWhen::Success, StepWhen::Always];

    pub fn as_str(self) -> &'static str {
        match self {
            StepWhen::Success => "success",
            StepWhen::Always => "always",
        }
    }

    pub fn is_success(&self) -> bool {
        *self == StepWhen::Success
    }
}

impl std::str::FromStr for StepWhen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        StepWhen::ALL
            .iter()
            .copied()
            .find(|w| w.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = StepWhen::ALL.iter().map(|w| w.as_str()).collect();
                format!(
                    "unknown `when` value `{text}` (expected one of: {})",
                    known.join(", ")
                )
            })
    }
}

/// Connectors whose steps report on a run rather than revoke access (HR tickets,
/// rotation scheduling).
/// They do not count toward time-to-revoke, and a run in which only they succeeded
/// revoked nothing.
pub const REPORTING_CONNECTORS: &[&str] = &["ticket", "trail"];

/// Whether steps of `connector` report rather than revoke.
pub fn is_reporting(connector: &str) -> bool {
    REPORTING_CONNECTORS.contains(&connector)
}

/// What the rules need to know of one step.
#[derive(Debug, Clone)]
pub struct StepState {
    pub step_id: String,
    pub status: StepStatus,
    pub needs: Vec<String>,
    pub when: StepWhen,
}

/// A change the rules ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// All needs succeeded: due now.
    Ready(String),
    /// Something it needs did not succeed.
    Skip { step_id: String, because: String },
}

/// The transitions that follow from the current statuses, to a fixed point (a skip
/// propagates through every step that needs the skipped one, up to a `when: always`
/// step, which runs once everything it needs has ended, whatever the outcome). The
/// residual-access sweep becomes ready once every other step has ended, whatever their
/// outcome.
pub fn transitions(steps: &[StepState]) -> Vec<Transition> {
    let mut status: BTreeMap<&str, StepStatus> = steps
        .iter()
        .map(|s| (s.step_id.as_str(), s.status))
        .collect();
    let mut out = Vec::new();
    loop {
        let mut changed = false;
        for step in steps {
            if status.get(step.step_id.as_str()) != Some(&StepStatus::Pending) {
                continue;
            }
            if step.step_id == SWEEP_STEP_ID {
                let others_done = steps
                    .iter()
                    .filter(|s| s.step_id != SWEEP_STEP_ID)
                    .all(|s| {
                        status
                            .get(s.step_id.as_str())
                            .is_some_and(|st| st.is_terminal())
                    });
                if others_done {
                    status.insert(&step.step_id, StepStatus::Ready);
                    out.push(Transition::Ready(step.step_id.clone()));
                    changed = true;
                }
                continue;
            }
            if step.when == StepWhen::Always {
                let needs_ended = step
                    .needs
                    .iter()
                    .all(|need| status.get(need.as_str()).is_some_and(|st| st.is_terminal()));
                if needs_ended {
                    status.insert(&step.step_id, StepStatus::Ready);
                    out.push(Transition::Ready(step.step_id.clone()));
                    changed = true;
                }
                continue;
            }
            let failed_need = step.needs.iter().find(|need| {
                matches!(
                    status.get(need.as_str()),
                    Some(StepStatus::Failed | StepStatus::Skipped | StepStatus::Cancelled)
                )
            });
            if let Some(need) = failed_need {
                status.insert(&step.step_id, StepStatus::Skipped);
                out.push(Transition::Skip {
                    step_id: step.step_id.clone(),
                    because: format!("not run: step `{need}` it needs did not succeed"),
                });
                changed = true;
            } else if step
                .needs
                .iter()
                .all(|need| status.get(need.as_str()) == Some(&StepStatus::Succeeded))
            {
                status.insert(&step.step_id, StepStatus::Ready);
                out.push(Transition::Ready(step.step_id.clone()));
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
}

/// The final status of a run once its sweep has ended.
///
/// - `completed`: every plan step succeeded (verified) and the sweep found nothing left;
/// - `failed`: no plan step succeeded;
/// - `partially_failed`: anything in between, including every step succeeding while
///   the sweep still found access (or could not look).
///
/// A dry run changes nothing upstream, so residual access is expected there: it is
/// `completed` when every preview succeeded.
pub fn final_status(
    action_statuses: &[StepStatus],
    residual_found: bool,
    sweep_succeeded: bool,
    dry_run: bool,
) -> RunStatus {
    let total = action_statuses.len();
    let succeeded = action_statuses
        .iter()
        .filter(|s| **s == StepStatus::Succeeded)
        .count();
    if total > 0 && succeeded == 0 {
        return RunStatus::Failed;
    }
    let all_steps = succeeded == total;
    if dry_run {
        return if all_steps {
            RunStatus::Completed
        } else {
            RunStatus::PartiallyFailed
        };
    }
    if all_steps && sweep_succeeded && !residual_found {
        RunStatus::Completed
    } else {
        RunStatus::PartiallyFailed
    }
}

/// [`final_status`] for a plan whose reporting steps (see [`REPORTING_CONNECTORS`]) are
/// given apart: the run is judged on the steps that revoke, except that a report that
/// did not succeed keeps it from `completed`. A plan of reports only is judged on them.
pub fn final_status_with_reports(
    revocations: &[StepStatus],
    reports: &[StepStatus],
    residual_found: bool,
    sweep_succeeded: bool,
    dry_run: bool,
) -> RunStatus {
    if revocations.is_empty() {
        return final_status(reports, residual_found, sweep_succeeded, dry_run);
    }
    let status = final_status(revocations, residual_found, sweep_succeeded, dry_run);
    if status == RunStatus::Completed && reports.iter().any(|s| *s != StepStatus::Succeeded) {
        RunStatus::PartiallyFailed
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, status: StepStatus, needs: &[&str]) -> StepState {
        StepState {
            step_id: id.into(),
            status,
            needs: needs.iter().map(|s| s.to_string()).collect(),
            when: StepWhen::Success,
        }
    }

    fn always(id: &str, status: StepStatus, needs: &[&str]) -> StepState {
        StepState {
            when: StepWhen::Always,
            ..step(id, status, needs)
        }
    }

    #[test]
    fn always_waits_for_every_need_to_end_then_runs_whatever_the_outcome() {
        let running = vec![
            step("a", StepStatus::Failed, &[]),
            step("b", StepStatus::Running, &[]),
            always("report", StepStatus::Pending, &["a", "b"]),
            sweep(StepStatus::Pending, &["a", "b", "report"]),
        ];
        assert!(transitions(&running).is_empty(), "b is still running");

        let ended = vec![
            step("a", StepStatus::Failed, &[]),
            step("b", StepStatus::Succeeded, &[]),
            always("report", StepStatus::Pending, &["a", "b"]),
            sweep(StepStatus::Pending, &["a", "b", "report"]),
        ];
        assert_eq!(
            transitions(&ended),
            vec![Transition::Ready("report".into())],
            "the report runs despite a's failure; the sweep waits for it"
        );

        let reported = vec![
            step("a", StepStatus::Failed, &[]),
            step("b", StepStatus::Succeeded, &[]),
            always("report", StepStatus::Failed, &["a", "b"]),
            sweep(StepStatus::Pending, &["a", "b", "report"]),
        ];
        assert_eq!(
            transitions(&reported),
            vec![Transition::Ready(SWEEP_STEP_ID.into())],
            "the sweep still runs last"
        );
    }

    #[test]
    fn a_skip_chain_stops_at_an_always_step_in_one_pass() {
        let steps = vec![
            step("a", StepStatus::Failed, &[]),
            step("b", StepStatus::Pending, &["a"]),
            step("c", StepStatus::Pending, &["b"]),
            always("report", StepStatus::Pending, &["a", "b", "c"]),
            step("after", StepStatus::Pending, &["report"]),
            sweep(StepStatus::Pending, &["a", "b", "c", "report", "after"]),
        ];
        let got = transitions(&steps);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(&got[0], Transition::Skip { step_id, .. } if step_id == "b"));
        assert!(matches!(&got[1], Transition::Skip { step_id, .. } if step_id == "c"));
        assert_eq!(got[2], Transition::Ready("report".into()));
        // Steps that need an `always` step follow its own outcome.
        let steps = vec![
            step("a", StepStatus::Failed, &[]),
            always("report", StepStatus::Succeeded, &["a"]),
            step("after", StepStatus::Pending, &["report"]),
            sweep(StepStatus::Pending, &["a", "report", "after"]),
        ];
        assert_eq!(transitions(&steps), vec![Transition::Ready("after".into())]);
        let steps = vec![
            always("report", StepStatus::Failed, &[]),
            step("after", StepStatus::Pending, &["report"]),
            sweep(StepStatus::Pending, &["report", "after"]),
        ];
        assert!(matches!(
            transitions(&steps).as_slice(),
            [Transition::Skip { step_id, .. }, Transition::Ready(sweep)] if step_id == "after" && sweep == SWEEP_STEP_ID
        ));
    }

    #[test]
    fn when_values_parse_and_name_themselves() {
        assert_eq!("always".parse::<StepWhen>(), Ok(StepWhen::Always));
        assert_eq!("success".parse::<StepWhen>(), Ok(StepWhen::Success));
        let error = "sometimes".parse::<StepWhen>().unwrap_err();
        assert_eq!(
            error,
            "unknown `when` value `sometimes` (expected one of: success, always)"
        );
        assert_eq!(StepWhen::default(), StepWhen::Success);
        assert_eq!(serde_json::to_value(StepWhen::Always).unwrap(), "always");
    }

    #[test]
    fn reports_do_not_count_as_revocations() {
        use StepStatus::*;
        assert!(is_reporting("ticket") && !is_reporting("github"));
        // Every revocation failed: the ticket update succeeding does not save the run.
        assert_eq!(
            final_status_with_reports(&[Failed, Skipped], &[Succeeded], false, true, false),
            RunStatus::Failed
        );
        assert_eq!(
            final_status_with_reports(&[Succeeded], &[Succeeded], false, true, false),
            RunStatus::Completed
        );
        // A report that failed keeps the run from completed.
        assert_eq!(
            final_status_with_reports(&[Succeeded], &[Failed], false, true, false),
            RunStatus::PartiallyFailed
        );
        assert_eq!(
            final_status_with_reports(&[Succeeded, Failed], &[Succeeded], false, true, false),
            RunStatus::PartiallyFailed
        );
        // A plan of reports only is judged on them.
        assert_eq!(
            final_status_with_reports(&[], &[Succeeded], false, true, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status_with_reports(&[], &[Failed], false, true, false),
            RunStatus::Failed
        );
        assert_eq!(
            final_status_with_reports(&[], &[], false, true, false),
            final_status(&[], false, true, false)
        );
    }

    fn sweep(status: StepStatus, needs: &[&str]) -> StepState {
        step(SWEEP_STEP_ID, status, needs)
    }

    #[test]
    fn success_releases_dependents() {
        let steps = vec![
            step("a", StepStatus::Succeeded, &[]),
            step("b", StepStatus::Pending, &["a"]),
            step("c", StepStatus::Pending, &["a", "b"]),
            sweep(StepStatus::Pending, &["a", "b", "c"]),
        ];
        assert_eq!(transitions(&steps), vec![Transition::Ready("b".into())]);
    }

    #[test]
    fn failure_skips_transitively_then_sweep_runs() {
        let steps = vec![
            step("a", StepStatus::Failed, &[]),
            step("b", StepStatus::Pending, &["a"]),
            step("c", StepStatus::Pending, &["b"]),
            step("d", StepStatus::Succeeded, &[]),
            sweep(StepStatus::Pending, &["a", "b", "c", "d"]),
        ];
        let got = transitions(&steps);
        assert!(got.contains(&Transition::Skip {
            step_id: "b".into(),
            because: "not run: step `a` it needs did not succeed".into()
        }));
        assert!(got
            .iter()
            .any(|t| matches!(t, Transition::Skip { step_id, .. } if step_id == "c")));
        assert_eq!(got.last(), Some(&Transition::Ready(SWEEP_STEP_ID.into())));
    }

    #[test]
    fn sweep_waits_for_running_steps() {
        let steps = vec![
            step("a", StepStatus::Succeeded, &[]),
            step("b", StepStatus::Running, &[]),
            sweep(StepStatus::Pending, &["a", "b"]),
        ];
        assert!(transitions(&steps).is_empty());
    }

    #[test]
    fn final_statuses() {
        use StepStatus::*;
        assert_eq!(
            final_status(&[Succeeded, Succeeded], false, true, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&[Succeeded, Succeeded], true, true, false),
            RunStatus::PartiallyFailed
        );
        assert_eq!(
            final_status(&[Succeeded, Succeeded], false, false, false),
            RunStatus::PartiallyFailed
        );
        assert_eq!(
            final_status(&[Succeeded, Failed], false, true, false),
            RunStatus::PartiallyFailed
        );
        assert_eq!(
            final_status(&[Failed, Skipped], false, true, false),
            RunStatus::Failed
        );
        assert_eq!(
            final_status(&[Succeeded], true, true, true),
            RunStatus::Completed
        );
    }
}
