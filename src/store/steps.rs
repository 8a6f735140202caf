//! Steps: claiming due work under a lease, heartbeats, and ending an attempt.
//!
//! Every transition is one conditional UPDATE (`WHERE status = 'running' AND
//! lease_owner = me AND attempts = n`), so a worker whose lease expired cannot overwrite
//! what the worker that took over decided.

use super::runs::run_from_row;
use super::{now_ms, AppendEvidence, Context, Dialect, RunRecord, Store, StoreError};
use crate::dag::{self, StepState, Transition};
use crate::domain::{Mode, RunStatus, StepStatus, SWEEP_STEP_ID};
use serde::Serialize;
use sqlx::{any::AnyRow, Row};

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub run_id: String,
    pub step_id: String,
    pub position: i64,
    pub uses: String,
    pub connector: String,
    pub params: serde_json::Value,
    pub needs: Vec<String>,
    pub status: StepStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub initial_backoff_ms: i64,
    pub max_backoff_ms: i64,
    pub timeout_ms: i64,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub verified: bool,
    pub error: Option<String>,
    pub error_class: Option<String>,
    pub outcome: Option<serde_json::Value>,
}

/// A step this worker now holds the lease of, with its run.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    pub step: StepRecord,
    pub run: RunRecord,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum StepFinish {
    /// Executed and verified (or, in a dry run, previewed).
    Succeeded {
        outcome: serde_json::Value,
        verified: bool,
        evidence: Vec<AppendEvidence>,
        /// For the sweep: what the identity still holds.
        residual: Option<serde_json::Value>,
    },
    /// A transient failure: try again at `next_attempt_at`.
    Retry {
        next_attempt_at: i64,
        error: String,
        error_class: String,
        evidence: Vec<AppendEvidence>,
    },
    /// Give up on this step.
    Failed {
        error: String,
        error_class: String,
        evidence: Vec<AppendEvidence>,
    },
}

/// What ending an attempt changed.
#[derive(Debug, Clone, Default)]
pub struct FinishResult {
    /// False when the lease had been lost: nothing was written.
    pub applied: bool,
    /// Steps that became due.
    pub released: usize,
    /// The run's final status, when this ended the run.
    pub run_final: Option<RunStatus>,
}

const STEP_COLUMNS: &str =
    "run_id, step_id, position, uses, connector, params, needs, status, attempts, \
     max_attempts, initial_backoff_ms, max_backoff_ms, timeout_ms, next_attempt_at, lease_owner, \
     lease_until, started_at, finished_at, verified, error, error_class, outcome";

fn corrupt(message: String) -> StoreError {
    StoreError::Corrupt {
        table: "steps",
        message,
    }
}

fn step_from_row(row: &AnyRow) -> Result<StepRecord, StoreError> {
    let json = |column: &str| -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = row.try_get(column).context("reading a step")?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(format!("{column}: {e}"))))
            .transpose()
    };
    let status: String = row.try_get("status").context("reading a step")?;
    let verified: i64 = row.try_get("verified").context("reading a step")?;
    let needs = json("needs")?.unwrap_or_default();
    Ok(StepRecord {
        run_id: row.try_get("run_id").context("reading a step")?,
        step_id: row.try_get("step_id").context("reading a step")?,
        position: row.try_get("position").context("reading a step")?,
        uses: row.try_get("uses").context("reading a step")?,
        connector: row.try_get("connector").context("reading a step")?,
        params: json("params")?.unwrap_or_default(),
        needs: serde_json::from_value(needs).map_err(|e| corrupt(format!("needs: {e}")))?,
        status: status.parse().map_err(corrupt)?,
        attempts: row.try_get("attempts").context("reading a step")?,
        max_attempts: row.try_get("max_attempts").context("reading a step")?,
        initial_backoff_ms: row
            .try_get("initial_backoff_ms")
            .context("reading a step")?,
        max_backoff_ms: row.try_get("max_backoff_ms").context("reading a step")?,
        timeout_ms: row.try_get("timeout_ms").context("reading a step")?,
        next_attempt_at: row.try_get("next_attempt_at").context("reading a step")?,
        lease_owner: row.try_get("lease_owner").context("reading a step")?,
        lease_until: row.try_get("lease_until").context("reading a step")?,
        started_at: row.try_get("started_at").context("reading a step")?,
        finished_at: row.try_get("finished_at").context("reading a step")?,
        verified: verified != 0,
        error: row.try_get("error").context("reading a step")?,
        error_class: row.try_get("error_class").context("reading a step")?,
        outcome: json("outcome")?,
    })
}

impl Store {
    pub async fn steps_for_run(&self, run_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = $1 ORDER BY position");
        let rows = sqlx::query(&sql)
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .context("reading steps")?;
        rows.iter().map(step_from_row).collect()
    }

    /// Lease up to `limit` due steps: ready ones whose time has come, and running ones
    /// whose lease expired (their worker died). Each claim counts as an attempt and is
    /// recorded as evidence before the worker touches the upstream.
    pub async fn claim_steps(
        &self,
        worker: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedStep>, StoreError> {
        let now = now_ms();
        let lock = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE OF s SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE steps SET status = 'running', lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1, started_at = COALESCE(started_at, $3) \
             WHERE (run_id, step_id) IN ( \
               SELECT s.run_id, s.step_id FROM steps s JOIN runs r ON r.id = s.run_id \
               WHERE ((s.status = 'ready' AND s.next_attempt_at <= $3) \
                   OR (s.status = 'running' AND s.lease_until < $3)) \
                 AND r.status IN ('pending', 'running') \
               ORDER BY s.next_attempt_at LIMIT $4{lock}) \
             RETURNING {STEP_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .context("claiming steps")?;
        if rows.is_empty() {
            tx.rollback().await.context("ending an empty claim")?;
            return Ok(Vec::new());
        }
        let steps: Vec<StepRecord> = rows.iter().map(step_from_row).collect::<Result<_, _>>()?;
        let mut claimed = Vec::with_capacity(steps.len());
        let mut evidence = Vec::new();
        for step in steps {
            let started = sqlx::query(
                "UPDATE runs SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'pending'",
            )
            .bind(now)
            .bind(&step.run_id)
            .execute(&mut *tx)
            .await
            .context("starting a run")?
            .rows_affected();
            if started > 0 {
                evidence.push(AppendEvidence::new(
                    "run.status",
                    worker,
                    &step.run_id,
                    serde_json::json!({"status": RunStatus::Running}),
                ));
            }
            let sql = format!(
                "SELECT {} FROM runs WHERE id = $1",
                "id, plan, plan_snapshot, mode, status, identity, reason, ticket, trigger_event, \
                 idempotency_key, request_digest, effective_at, sla_deadline, created_at, started_at, \
                 completed_at, revoked_at, residual"
            );
            let run_row = sqlx::query(&sql)
                .bind(&step.run_id)
                .fetch_one(&mut *tx)
                .await
                .context("reading the run of a claimed step")?;
            let run = run_from_row(&run_row)?;
            evidence.push(AppendEvidence::new(
                "step.attempt",
                worker,
                &step.run_id,
                serde_json::json!({
                    "step": step.step_id,
                    "uses": step.uses,
                    "attempt": step.attempts,
                    "max_attempts": step.max_attempts,
                }),
            ));
            claimed.push(ClaimedStep { step, run });
        }
        self.append_evidence_tx(&mut tx, &evidence).await?;
        tx.commit().await.context("committing a claim")?;
        Ok(claimed)
    }

    /// Extend the leases of every step this worker holds.
    pub async fn heartbeat(&self, worker: &str, lease_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE steps SET lease_until = $1 WHERE lease_owner = $2 AND status = 'running'",
        )
        .bind(now_ms() + lease_ms)
        .bind(worker)
        .execute(&self.pool)
        .await
        .context("renewing leases")?
        .rows_affected())
    }

    /// End an attempt. Applies the DAG rules (release or skip dependents, start the
    /// sweep) and, when the sweep ends, the run's final status, all in one transaction
    /// with the evidence.
    pub async fn finish_step(
        &self,
        claimed: &ClaimedStep,
        worker: &str,
        finish: StepFinish,
    ) -> Result<FinishResult, StoreError> {
        let step = &claimed.step;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // Serialise the ends of one run's steps, so concurrent ends see each other.
        let lock_sql = format!("SELECT status FROM runs WHERE id = $1{}", self.for_update());
        let run_status: String = sqlx::query(&lock_sql)
            .bind(&step.run_id)
            .fetch_one(&mut *tx)
            .await
            .context("locking a run")?
            .try_get("status")
            .context("locking a run")?;
        let (
            status,
            verified,
            error,
            error_class,
            outcome,
            next_attempt_at,
            mut evidence,
            residual,
        ) = match finish {
            StepFinish::Succeeded {
                outcome,
                verified,
                evidence,
                residual,
            } => (
                StepStatus::Succeeded,
                verified,
                None,
                None,
                Some(outcome),
                step.next_attempt_at,
                evidence,
                residual,
            ),
            StepFinish::Retry {
                next_attempt_at,
                error,
                error_class,
                evidence,
            } => (
                StepStatus::Ready,
                false,
                Some(error),
                Some(error_class),
                None,
                next_attempt_at,
                evidence,
                None,
            ),
            StepFinish::Failed {
                error,
                error_class,
                evidence,
            } => (
                StepStatus::Failed,
                false,
                Some(error),
                Some(error_class),
                None,
                step.next_attempt_at,
                evidence,
                None,
            ),
        };
        let finished_at = status.is_terminal().then_some(now);
        let updated = sqlx::query(
            "UPDATE steps SET status = $1, verified = $2, error = $3, error_class = $4, outcome = $5, \
             next_attempt_at = $6, finished_at = $7, lease_owner = NULL, lease_until = NULL \
             WHERE run_id = $8 AND step_id = $9 AND status = 'running' AND lease_owner = $10 AND attempts = $11",
        )
        .bind(status.as_str())
        .bind(i64::from(verified))
        .bind(error.clone())
        .bind(error_class.clone())
        .bind(outcome.as_ref().map(|o| o.to_string()))
        .bind(next_attempt_at)
        .bind(finished_at)
        .bind(&step.run_id)
        .bind(&step.step_id)
        .bind(worker)
        .bind(step.attempts)
        .execute(&mut *tx)
        .await
        .context("ending a step attempt")?
        .rows_affected();
        if updated == 0 || run_status != RunStatus::Running.as_str() {
            // The lease was lost (another worker took over) or the run was cancelled.
            tx.rollback().await.context("abandoning a stale attempt")?;
            return Ok(FinishResult::default());
        }
        let mut result = FinishResult {
            applied: true,
            ..FinishResult::default()
        };
        evidence.push(AppendEvidence::new(
            "step.status",
            worker,
            &step.run_id,
            serde_json::json!({
                "step": step.step_id,
                "status": status,
                "attempt": step.attempts,
                "verified": verified,
                "error": error,
                "error_class": error_class,
                "next_attempt_at": (status == StepStatus::Ready).then(|| super::runs::ms_to_rfc3339(next_attempt_at)),
            }),
        ));
        if status.is_terminal() {
            if step.step_id == SWEEP_STEP_ID {
                let final_status = self
                    .close_run(&mut tx, claimed, status, residual.as_ref(), now)
                    .await?;
                evidence.push(AppendEvidence::new(
                    "run.status",
                    worker,
                    &step.run_id,
                    serde_json::json!({"status": final_status}),
                ));
                result.run_final = Some(final_status);
            } else {
                let transitions = self.release_dependents(&mut tx, &step.run_id, now).await?;
                for transition in transitions {
                    match transition {
                        Transition::Ready(_) => result.released += 1,
                        Transition::Skip { step_id, because } => {
                            evidence.push(AppendEvidence::new(
                                "step.status",
                                worker,
                                &step.run_id,
                                serde_json::json!({"step": step_id, "status": StepStatus::Skipped, "error": because}),
                            ));
                        }
                    }
                }
            }
        }
        self.append_evidence_tx(&mut tx, &evidence).await?;
        tx.commit().await.context("committing a step end")?;
        Ok(result)
    }

    async fn release_dependents(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        run_id: &str,
        now: i64,
    ) -> Result<Vec<Transition>, StoreError> {
        let rows =
            sqlx::query("SELECT step_id, status, needs, run_when FROM steps WHERE run_id = $1")
                .bind(run_id)
                .fetch_all(&mut **tx)
                .await
                .context("reading a run's steps")?;
        let mut states = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = row.try_get("status").context("reading a run's steps")?;
            let needs: String = row.try_get("needs").context("reading a run's steps")?;
            let when: String = row.try_get("run_when").context("reading a run's steps")?;
            states.push(StepState {
                step_id: row.try_get("step_id").context("reading a run's steps")?,
                status: status.parse().map_err(corrupt)?,
                needs: serde_json::from_str(&needs).map_err(|e| corrupt(format!("needs: {e}")))?,
                when: when.parse().map_err(corrupt)?,
            });
        }
        let transitions = dag::transitions(&states);
        for transition in &transitions {
            match transition {
                Transition::Ready(step_id) => {
                    sqlx::query(
                        "UPDATE steps SET status = 'ready', next_attempt_at = $1 \
                         WHERE run_id = $2 AND step_id = $3 AND status = 'pending'",
                    )
                    .bind(now)
                    .bind(run_id)
                    .bind(step_id)
                    .execute(&mut **tx)
                    .await
                    .context("releasing a step")?;
                }
                Transition::Skip { step_id, because } => {
                    sqlx::query(
                        "UPDATE steps SET status = 'skipped', error = $1, finished_at = $2 \
                         WHERE run_id = $3 AND step_id = $4 AND status = 'pending'",
                    )
                    .bind(because)
                    .bind(now)
                    .bind(run_id)
                    .bind(step_id)
                    .execute(&mut **tx)
                    .await
                    .context("skipping a step")?;
                }
            }
        }
        Ok(transitions)
    }

    /// The sweep ended: decide and write the run's final status.
    async fn close_run(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        claimed: &ClaimedStep,
        sweep_status: StepStatus,
        residual: Option<&serde_json::Value>,
        now: i64,
    ) -> Result<RunStatus, StoreError> {
        let run_id = &claimed.step.run_id;
        let rows = sqlx::query(
            "SELECT status, finished_at, connector FROM steps WHERE run_id = $1 AND step_id <> $2",
        )
        .bind(run_id)
        .bind(SWEEP_STEP_ID)
        .fetch_all(&mut **tx)
        .await
        .context("reading a run's steps")?;
        let mut statuses = Vec::with_capacity(rows.len());
        let mut reports = Vec::new();
        let mut revoked_at: Option<i64> = None;
        for row in &rows {
            let status: String = row.try_get("status").context("reading a run's steps")?;
            let status: StepStatus = status.parse().map_err(corrupt)?;
            let finished: Option<i64> = row
                .try_get("finished_at")
                .context("reading a run's steps")?;
            let connector: String = row.try_get("connector").context("reading a run's steps")?;
            if dag::is_reporting(&connector) {
                // Reporting (an HR ticket update) is not a revocation.
                reports.push(status);
                continue;
            }
            if status == StepStatus::Succeeded {
                revoked_at = revoked_at.max(finished);
            }
            statuses.push(status);
        }
        let residual_found = residual
            .and_then(|r| r.as_array())
            .is_some_and(|holdings| !holdings.is_empty());
        let final_status = dag::final_status_with_reports(
            &statuses,
            &reports,
            residual_found,
            sweep_status == StepStatus::Succeeded,
            claimed.run.mode == Mode::DryRun,
        );
        sqlx::query(
            "UPDATE runs SET status = $1, completed_at = $2, revoked_at = $3, residual = $4 \
             WHERE id = $5 AND status = 'running'",
        )
        .bind(final_status.as_str())
        .bind(now)
        .bind(revoked_at)
        .bind(residual.map(|r| r.to_string()))
        .bind(run_id)
        .execute(&mut **tx)
        .await
        .context("closing a run")?;
        Ok(final_status)
    }

    /// The earliest time a ready step becomes due, to sleep until then.
    pub async fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        // Ready steps only exist in live runs (cancelling a run cancels its steps), so
        // this is one index probe, with no join to plan badly on fresh statistics.
        let row =
            sqlx::query("SELECT MIN(next_attempt_at) AS due FROM steps WHERE status = 'ready'")
                .fetch_one(&self.pool)
                .await
                .context("finding the next due step")?;
        row.try_get("due").context("finding the next due step")
    }
}
