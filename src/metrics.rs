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
use std::sync::atomic::AtomicI64;

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
        Self {
            registry,
            step_attempts,
            step_failures,
            time_to_revoke,
            runs,
            evidence_entries,
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
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        Ok(out)
    }
}
