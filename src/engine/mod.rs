//! The durable execution engine.
//!
//! Every process runs one worker loop: it claims due steps from the store under a lease
//! (ready steps whose time has come, and steps whose previous worker's lease expired),
//! executes them with a bound per connector, and records each end with a conditional
//! update. A heartbeat renews the leases of the steps in flight, so only a dead or
//! partitioned worker's steps are taken over. The database is the coordinator; there is
//! no leader.

mod backoff;
mod execute;
pub mod submit;

pub use backoff::retry_delay;
pub use submit::{OffboardRequest, StepDefaults, SubmitError, TicketRef};

use crate::metrics::Metrics;
use crate::plan::PlanSet;
use crate::store::{ClaimedStep, Store, StoreError, SubmitOutcome};
use leaver_connector::Registry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Tuning of one process's worker.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub worker_id: String,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_in_flight: usize,
    pub per_connector_limit: usize,
    pub step_defaults: StepDefaults,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            worker_id: default_worker_id(),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            max_in_flight: 64,
            per_connector_limit: 16,
            step_defaults: StepDefaults::default(),
        }
    }
}

/// `host-pid-random`, unique per process.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "leaver".into());
    let random: u32 = rand::random();
    format!("{host}-{}-{random:08x}", std::process::id())
}

/// What the worker tasks share.
pub(crate) struct EngineShared {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub worker_id: String,
    per_connector_limit: usize,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl EngineShared {
    /// Wait for a slot on `connector` (each connector has its own bound).
    pub async fn connector_permit(&self, connector: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut map = self.semaphores.lock().ok()?;
            map.entry(connector.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_connector_limit.max(1))))
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }
}

/// The engine of one process: submits runs and drives the worker loop.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<EngineShared>,
    plans: Arc<PlanSet>,
    settings: EngineSettings,
    wake: Arc<Notify>,
}

impl Engine {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        plans: Arc<PlanSet>,
        metrics: Arc<Metrics>,
        settings: EngineSettings,
    ) -> Self {
        let shared = Arc::new(EngineShared {
            store,
            registry,
            metrics,
            worker_id: settings.worker_id.clone(),
            per_connector_limit: settings.per_connector_limit,
            semaphores: Mutex::new(HashMap::new()),
        });
        Self {
            shared,
            plans,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn plans(&self) -> &PlanSet {
        &self.plans
    }

    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// Store a new run (idempotent by key) and wake the local worker.
    pub async fn submit(
        &self,
        request: &OffboardRequest,
        idempotency_key: Option<String>,
        actor: &str,
    ) -> Result<SubmitOutcome, SubmitError> {
        let outcome = submit::submit(
            &self.shared.store,
            &self.plans,
            request,
            idempotency_key,
            actor,
            &self.settings.step_defaults,
        )
        .await?;
        self.wake.notify_one();
        Ok(outcome)
    }

    /// Run the worker loop until `shutdown` turns true. In-flight steps are finished
    /// before returning.
    pub async fn run_worker(&self, mut shutdown: watch::Receiver<bool>) {
        let lease_ms = self.settings.lease.as_millis() as i64;
        let heartbeat = {
            let store = self.shared.store.clone();
            let worker = self.shared.worker_id.clone();
            let every = (self.settings.lease / 3).max(Duration::from_millis(100));
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                    if let Err(error) = store.heartbeat(&worker, lease_ms).await {
                        tracing::warn!(%error, "lease heartbeat failed");
                    }
                }
            })
        };
        let mut tasks: JoinSet<()> = JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let capacity = self.settings.max_in_flight.saturating_sub(tasks.len());
            let mut claimed_any = false;
            if capacity > 0 {
                match self
                    .shared
                    .store
                    .claim_steps(&self.shared.worker_id, lease_ms, capacity as i64)
                    .await
                {
                    Ok(claimed) => {
                        claimed_any = !claimed.is_empty();
                        for step in claimed {
                            let shared = self.shared.clone();
                            let wake = self.wake.clone();
                            tasks.spawn(async move {
                                process(&shared, step).await;
                                wake.notify_one();
                            });
                        }
                    }
                    Err(error) => tracing::warn!(%error, "claiming steps failed; will retry"),
                }
            }
            if claimed_any && tasks.len() < self.settings.max_in_flight {
                continue;
            }
            let idle = self.idle_wait().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.changed() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        heartbeat.abort();
    }

    /// How long to sleep when there is nothing to claim: until the next due step, at
    /// most one poll interval (other replicas may add work at any time).
    async fn idle_wait(&self) -> Duration {
        let poll = self.settings.poll_interval;
        match self.shared.store.next_due_at().await {
            Ok(Some(due)) => {
                let wait = due.saturating_sub(crate::store::now_ms()).max(0) as u64;
                Duration::from_millis(wait).min(poll)
            }
            _ => poll,
        }
    }
}

async fn process(shared: &EngineShared, claimed: ClaimedStep) {
    let finish = execute::run_step(shared, &claimed).await;
    match record(shared, &claimed, finish).await {
        Ok(result) => {
            if let Some(status) = result.run_final {
                tracing::info!(run = %claimed.run.id, %status, "run ended");
                if let Ok(Some(run)) = shared.store.get_run(&claimed.run.id).await {
                    if let Some(revoked_at) = run.revoked_at {
                        let seconds = (revoked_at - run.effective_at).max(0) as f64 / 1000.0;
                        shared.metrics.time_to_revoke.observe(seconds);
                    }
                }
            }
        }
        Err(error) => {
            // The lease will expire and another attempt will take the step over.
            tracing::error!(run = %claimed.run.id, step = %claimed.step.step_id, %error, "could not record a step's end");
        }
    }
}

/// Record an attempt's end, retrying briefly through database hiccups (a restart, a
/// failover) before leaving the step to lease expiry.
async fn record(
    shared: &EngineShared,
    claimed: &ClaimedStep,
    finish: crate::store::StepFinish,
) -> Result<crate::store::FinishResult, StoreError> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match shared
            .store
            .finish_step(claimed, &shared.worker_id, finish.clone())
            .await
        {
            Ok(result) => return Ok(result),
            Err(error) if attempt < 8 => {
                tracing::warn!(%error, attempt, "recording a step's end failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}
