//! The drill report: per-step timings, per-system time-to-revoke, the restore outcome
//! and the verdict against the plan's SLA. Pure: built from what the store recorded.

use crate::dag::is_reporting;
use crate::domain::{RunStatus, StepStatus, SWEEP_STEP_ID};
use crate::store::{RunRecord, StepRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Pass or fail of one drill (`running` until it ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// One revocation or restore step as the drill measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    pub id: String,
    pub uses: String,
    pub connector: String,
    pub status: StepStatus,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// From the step's first attempt to its end.
    pub duration_ms: Option<i64>,
    /// From the drill's start to the step's verified end.
    pub time_to_revoke_ms: Option<i64>,
    pub verified: bool,
    pub attempts: i64,
    /// The upstream's message when the step did not succeed.
    pub error: Option<String>,
}

/// The restore phase: the plan's `restore:` steps, run after every revocation ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreOutcome {
    pub succeeded: bool,
    pub steps: Vec<StepTiming>,
}

/// The stored report of one drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    pub drill_id: String,
    pub plan: String,
    pub canary: String,
    pub run_id: String,
    pub run_status: RunStatus,
    pub started_at: i64,
    pub finished_at: i64,
    pub sla_ms: Option<i64>,
    /// From the drill's start until every revocation was verified (None if one was not).
    pub time_to_revoke_ms: Option<i64>,
    pub verdict: Verdict,
    /// Why the drill failed, one reason a line (empty on pass).
    pub failures: Vec<String>,
    pub steps: Vec<StepTiming>,
    /// Per connector: the slowest of its steps' time-to-revoke.
    pub systems: BTreeMap<String, Option<i64>>,
    pub residual_access: Option<serde_json::Value>,
    pub restore: RestoreOutcome,
}

/// What the report is built from.
pub struct ReportInput<'a> {
    pub drill_id: &'a str,
    pub canary: &'a str,
    pub started_at: i64,
    pub finished_at: i64,
    pub sla: Option<Duration>,
    pub run: &'a RunRecord,
    pub steps: &'a [StepRecord],
    pub restore: RestoreOutcome,
}

fn timing(step: &StepRecord, drill_start: i64) -> StepTiming {
    let verified = step.status == StepStatus::Succeeded && step.verified;
    StepTiming {
        id: step.step_id.clone(),
        uses: step.uses.clone(),
        connector: step.connector.clone(),
        status: step.status,
        started_at: step.started_at,
        finished_at: step.finished_at,
        duration_ms: step
            .started_at
            .zip(step.finished_at)
            .map(|(s, f)| (f - s).max(0)),
        time_to_revoke_ms: step
            .finished_at
            .filter(|_| verified)
            .map(|f| (f - drill_start).max(0)),
        verified,
        attempts: step.attempts,
        error: step.error.clone(),
    }
}

/// Build the report and its verdict.
pub fn build(input: ReportInput<'_>) -> DrillReport {
    let ReportInput {
        drill_id,
        canary,
        started_at,
        finished_at,
        sla,
        run,
        steps,
        restore,
    } = input;
    let steps: Vec<StepTiming> = steps
        .iter()
        .filter(|s| s.step_id != SWEEP_STEP_ID && !is_reporting(&s.connector))
        .map(|s| timing(s, started_at))
        .collect();
    let mut systems: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for step in &steps {
        let slot = systems.entry(step.connector.clone()).or_insert(Some(0));
        *slot = match (*slot, step.time_to_revoke_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    let mut failures = Vec::new();
    for step in steps.iter().filter(|s| !s.verified) {
        failures.push(match &step.error {
            Some(error) => format!("step `{}` {}: {error}", step.id, step.status),
            None => format!("step `{}` {} without verification", step.id, step.status),
        });
    }
    let all_verified = !steps.is_empty() && steps.iter().all(|s| s.verified);
    let time_to_revoke_ms = if all_verified {
        steps.iter().filter_map(|s| s.time_to_revoke_ms).max()
    } else {
        None
    };
    if steps.is_empty() {
        failures.push("the plan revoked nothing".into());
    }
    let sla_ms = sla.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    if let (Some(sla_ms), Some(ttr)) = (sla_ms, time_to_revoke_ms) {
        if ttr > sla_ms {
            failures.push(format!(
                "time to revoke {} exceeds the SLA {}",
                crate::duration::format_duration(Duration::from_millis(ttr as u64)),
                crate::duration::format_duration(Duration::from_millis(sla_ms as u64)),
            ));
        }
    }
    let residual_found = run
        .residual
        .as_ref()
        .and_then(|r| r.as_array())
        .is_some_and(|h| !h.is_empty());
    if residual_found {
        failures.push("the residual-access sweep found access still held".into());
    } else if all_verified && run.status != RunStatus::Completed {
        failures.push(format!("revocation run ended {}", run.status));
    }
    for step in restore.steps.iter().filter(|s| !s.verified) {
        failures.push(format!(
            "restore step `{}` {}: {}",
            step.id,
            step.status,
            step.error.as_deref().unwrap_or("not verified")
        ));
    }
    let verdict = if failures.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    DrillReport {
        drill_id: drill_id.to_string(),
        plan: run.plan.clone(),
        canary: canary.to_string(),
        run_id: run.id.clone(),
        run_status: run.status,
        started_at,
        finished_at,
        sla_ms,
        time_to_revoke_ms,
        verdict,
        failures,
        steps,
        systems,
        residual_access: run.residual.clone(),
        restore,
    }
}

/// Pass rate and time-to-revoke percentiles over past drills.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub drills: usize,
    pub passed: usize,
    pub pass_rate: Option<f64>,
    pub p50_time_to_revoke_ms: Option<i64>,
    pub p95_time_to_revoke_ms: Option<i64>,
}

/// Nearest-rank percentile (`q` in 0..=100) of `values`.
pub fn percentile(values: &[i64], q: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (u64::from(q.min(100)) * sorted.len() as u64)
        .div_ceil(100)
        .max(1);
    sorted.get(rank as usize - 1).copied()
}

/// The trend of ended drills: `(passed, time_to_revoke_ms)` each.
pub fn trend(ended: &[(bool, Option<i64>)]) -> Trend {
    let passed = ended.iter().filter(|(p, _)| *p).count();
    let times: Vec<i64> = ended.iter().filter_map(|(_, t)| *t).collect();
    Trend {
        drills: ended.len(),
        passed,
        pass_rate: (!ended.is_empty()).then(|| passed as f64 / ended.len() as f64),
        p50_time_to_revoke_ms: percentile(&times, 50),
        p95_time_to_revoke_ms: percentile(&times, 95),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let values: Vec<i64> = (1..=20).rev().collect();
        assert_eq!(percentile(&values, 50), Some(10));
        assert_eq!(percentile(&values, 95), Some(19));
        assert_eq!(percentile(&values, 100), Some(20));
    }

    #[test]
    fn trend_counts_passes() {
        let t = trend(&[(true, Some(100)), (false, None), (true, Some(300))]);
        assert_eq!((t.drills, t.passed), (3, 2));
        assert!((t.pass_rate.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(t.p50_time_to_revoke_ms, Some(100));
        assert_eq!(t.p95_time_to_revoke_ms, Some(300));
        assert_eq!(trend(&[]).pass_rate, None);
    }
}
