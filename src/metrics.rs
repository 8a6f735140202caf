//! Prometheus metrics. Counters and histograms are per process (Prometheus sums them
//! across replicas); gauges of shared state (runs by status, evidence chain length) are
//! read from the database at scrape time, so every replica reports the same truth.

use crate::domain::RunStatus;
use crate::store::{Store, StoreError};
use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, AtomicU64};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub connector: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub connector: String,
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlanLabels {
    pub plan: String,
}

pub struct Metrics {
    registry: Registry,
    /// Step attempts by connector and outcome (succeeded, retry, failed).
    pub step_attempts: Family<StepLabels, Counter>,
    /// Failed attempts by connector and error class (transient, permanent).
    pub step_failures: Family<FailureLabels, Counter>,
    /// Seconds from a run's effective time to its last verified revocation.
    pub time_to_revoke: Histogram,
    runs: Family<StatusLabels, Gauge<i64, AtomicI64>>,
    evidence_entries: Gauge<i64, AtomicI64>,
    rotations_open: Gauge<i64, AtomicI64>,
    rotations_overdue: Gauge<i64, AtomicI64>,
    drill_pass_rate: Family<PlanLabels, Gauge<f64, AtomicU64>>,
    drills_ended: Family<PlanLabels, Gauge<i64, AtomicI64>>,
    last_verification_time: Gauge<i64, AtomicI64>,
    last_verification_ok: Gauge<i64, AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("leaver");
        let step_attempts = Family::<StepLabels, Counter>::default();
        registry.register(
            "step_attempts",
            "Step attempts by connector and outcome",
            step_attempts.clone(),
        );
        let step_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "step_failures",
            "Failed step attempts by connector and error class",
            step_failures.clone(),
        );
        let time_to_revoke = Histogram::new([
            1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
        ]);
        registry.register(
            "time_to_revoke_seconds",
            "Seconds from an offboarding's effective time to its last verified revocation",
            time_to_revoke.clone(),
        );
        let runs = Family::<StatusLabels, Gauge<i64, AtomicI64>>::default();
        registry.register("runs", "Offboarding runs by status", runs.clone());
        let evidence_entries = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "evidence_chain_length",
            "Entries in the evidence ledger",
            evidence_entries.clone(),
        );
        let rotations_open = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "rotations_open",
            "Secret rotations still open",
            rotations_open.clone(),
        );
        let rotations_overdue = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "rotations_overdue",
            "Open secret rotations past their due time",
            rotations_overdue.clone(),
        );
        let drill_pass_rate = Family::<PlanLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "drill_pass_rate",
            "Fraction of a plan's ended drills that passed (0..1)",
            drill_pass_rate.clone(),
        );
        let drills_ended = Family::<PlanLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "drills_ended",
            "A plan's ended drills (passed or failed)",
            drills_ended.clone(),
        );
        let last_verification_time = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "evidence_last_verification_timestamp_seconds",
            "When this process last verified the evidence ledger (0: not yet)",
            last_verification_time.clone(),
        );
        let last_verification_ok = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "evidence_last_verification_ok",
            "1 when this process's last ledger verification passed, else 0",
            last_verification_ok.clone(),
        );
        Self {
            registry,
            step_attempts,
            step_failures,
            time_to_revoke,
            runs,
            evidence_entries,
            rotations_open,
            rotations_overdue,
            drill_pass_rate,
            drills_ended,
            last_verification_time,
            last_verification_ok,
        }
    }

    pub fn record_attempt(&self, connector: &str, outcome: &str) {
        self.step_attempts
            .get_or_create(&StepLabels {
                connector: connector.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn record_failure(&self, connector: &str, class: &str) {
        self.step_failures
            .get_or_create(&FailureLabels {
                connector: connector.to_string(),
                class: class.to_string(),
            })
            .inc();
    }

    /// Record a verification of the ledger (GET /api/v1/evidence/verify).
    pub fn record_verification(&self, ok: bool) {
        self.last_verification_time
            .set(chrono::Utc::now().timestamp());
        self.last_verification_ok.set(i64::from(ok));
    }

    /// Pass rate of each plan's ended drills.
    async fn refresh_drills(&self, store: &Store) -> Result<(), StoreError> {
        for (plan, ended, passed) in store.drill_outcomes_by_plan().await? {
            let labels = PlanLabels { plan };
            self.drills_ended.get_or_create(&labels).set(ended);
            if ended > 0 {
                self.drill_pass_rate
                    .get_or_create(&labels)
                    .set(passed as f64 / ended as f64);
            }
        }
        Ok(())
    }

    /// Refresh the database-backed gauges and render the text exposition format.
    pub async fn render(&self, store: &Store) -> Result<String, StoreError> {
        let counts = store.count_runs_by_status().await?;
        for status in RunStatus::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == status)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            self.runs
                .get_or_create(&StatusLabels {
                    status: status.as_str().to_string(),
                })
                .set(n);
        }
        self.evidence_entries.set(store.evidence_head().await?.seq);
        match store.rotation_counts(crate::store::now_ms()).await {
            Ok(rotations) => {
                self.rotations_open.set(rotations.open);
                self.rotations_overdue.set(rotations.overdue);
            }
            Err(error) => tracing::debug!(%error, "rotation metrics unavailable"),
        }
        if let Err(error) = self.refresh_drills(store).await {
            tracing::warn!(%error, "drill metrics unavailable");
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        Ok(out)
    }
}
