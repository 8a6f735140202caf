//! Pure scheduling rules of a run's steps: which waiting steps become due after a step
//! ends, which are skipped because something they need failed, and the run's final
//! status. The store applies these inside the transaction that ends a step.

use crate::domain::{RunStatus, StepStatus, SWEEP_STEP_ID};
use std::collections::BTreeMap;

/// What the rules need to know of one step.
#[derive(Debug, Clone)]
pub struct StepState {
    pub step_id: String,
    pub status: StepStatus,
    pub needs: Vec<String>,
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
/// propagates through every step that needs the skipped one). The residual-access
/// sweep becomes ready once every other step has ended, whatever their outcome.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, status: StepStatus, needs: &[&str]) -> StepState {
        StepState {
            step_id: id.into(),
            status,
            needs: needs.iter().map(|s| s.to_string()).collect(),
        }
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
