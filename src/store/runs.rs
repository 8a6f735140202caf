//! Runs: creation (idempotent by key), reads, listing and cancellation.

use super::{now_ms, AppendEvidence, Context, Store, StoreError};
use crate::domain::{Mode, RunStatus, StepStatus};
use leaver_connector::Identity;
use serde::Serialize;
use sqlx::{any::AnyRow, Row};

/// A run to create, with its steps (the residual-access sweep included).
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub plan: String,
    pub plan_snapshot: serde_json::Value,
    pub mode: Mode,
    pub identity: Identity,
    /// Where each account key came from (`request`, `mapping`).
    pub account_sources: std::collections::BTreeMap<String, String>,
    pub reason: Option<String>,
    pub ticket: Option<serde_json::Value>,
    pub trigger_event: Option<String>,
    pub idempotency_key: Option<String>,
    /// Digest of the request that created the run, to tell a replay from a key reuse.
    pub request_digest: Option<String>,
    pub effective_at: i64,
    pub sla_deadline: Option<i64>,
    pub created_at: i64,
    pub steps: Vec<NewStep>,
    /// Who asked (token name, `okta-hook`, `cli`…), for the evidence.
    pub actor: String,
}

#[derive(Debug, Clone)]
pub struct NewStep {
    pub step_id: String,
    pub uses: String,
    pub connector: String,
    pub params: serde_json::Value,
    pub needs: Vec<String>,
    /// Plan key `when`: run after every need succeeded, or after every need ended.
    pub when: crate::dag::StepWhen,
    pub max_attempts: u32,
    pub initial_backoff_ms: i64,
    pub max_backoff_ms: i64,
    pub timeout_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub plan: String,
    pub mode: Mode,
    pub status: RunStatus,
    pub identity: Identity,
    pub reason: Option<String>,
    pub ticket: Option<serde_json::Value>,
    pub trigger_event: Option<String>,
    pub idempotency_key: Option<String>,
    #[serde(skip)]
    pub request_digest: Option<String>,
    #[serde(skip)]
    pub plan_snapshot: serde_json::Value,
    pub effective_at: i64,
    pub sla_deadline: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub residual: Option<serde_json::Value>,
}

/// The result of `submit_run`.
#[derive(Debug, Clone)]
pub enum SubmitOutcome {
    Created(RunRecord),
    /// The same Idempotency-Key with the same request: the run it created.
    Existing(RunRecord),
    /// The same Idempotency-Key with a different request.
    KeyReused {
        existing_id: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub mode: Option<Mode>,
    pub email: Option<String>,
    /// Only runs whose id sorts before this one (pagination cursor; run ids are
    /// UUIDv7, so id order is creation order).
    pub before_id: Option<String>,
    pub limit: i64,
}

pub(crate) const RUN_COLUMNS: &str =
    "id, plan, plan_snapshot, mode, status, identity, reason, ticket, trigger_event, \
     idempotency_key, request_digest, effective_at, sla_deadline, created_at, started_at, \
     completed_at, revoked_at, residual";

fn corrupt(message: String) -> StoreError {
    StoreError::Corrupt {
        table: "runs",
        message,
    }
}

fn json_column(row: &AnyRow, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = row.try_get(column).context("reading a run")?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(format!("{column}: {e}"))))
        .transpose()
}

pub(crate) fn run_from_row(row: &AnyRow) -> Result<RunRecord, StoreError> {
    let mode: String = row.try_get("mode").context("reading a run")?;
    let status: String = row.try_get("status").context("reading a run")?;
    let identity = json_column(row, "identity")?.unwrap_or_default();
    Ok(RunRecord {
        id: row.try_get("id").context("reading a run")?,
        plan: row.try_get("plan").context("reading a run")?,
        mode: mode.parse().map_err(corrupt)?,
        status: status.parse().map_err(corrupt)?,
        identity: serde_json::from_value(identity)
            .map_err(|e| corrupt(format!("identity: {e}")))?,
        reason: row.try_get("reason").context("reading a run")?,
        ticket: json_column(row, "ticket")?,
        trigger_event: row.try_get("trigger_event").context("reading a run")?,
        idempotency_key: row.try_get("idempotency_key").context("reading a run")?,
        request_digest: row.try_get("request_digest").context("reading a run")?,
        plan_snapshot: json_column(row, "plan_snapshot")?.unwrap_or_default(),
        effective_at: row.try_get("effective_at").context("reading a run")?,
        sla_deadline: row.try_get("sla_deadline").context("reading a run")?,
        created_at: row.try_get("created_at").context("reading a run")?,
        started_at: row.try_get("started_at").context("reading a run")?,
        completed_at: row.try_get("completed_at").context("reading a run")?,
        revoked_at: row.try_get("revoked_at").context("reading a run")?,
        residual: json_column(row, "residual")?,
    })
}

fn is_unique_violation(error: &StoreError) -> bool {
    match error {
        StoreError::Database {
            source: sqlx::Error::Database(db),
            ..
        } => db.is_unique_violation(),
        _ => false,
    }
}

impl Store {
    /// Create a run and its steps, with the `offboarding.requested` evidence, in one
    /// transaction. A second submission with the same idempotency key returns the
    /// first run.
    pub async fn submit_run(&self, run: &NewRun) -> Result<SubmitOutcome, StoreError> {
        if let Some(key) = &run.idempotency_key {
            if let Some(existing) = self.run_by_idempotency_key(key).await? {
                return Ok(replay_outcome(existing, run));
            }
        }
        match self.insert_run(run).await {
            Ok(record) => Ok(SubmitOutcome::Created(record)),
            Err(error) if is_unique_violation(&error) => {
                // A concurrent submission with the same key won the race.
                let key = run.idempotency_key.as_deref().unwrap_or_default();
                match self.run_by_idempotency_key(key).await? {
                    Some(existing) => Ok(replay_outcome(existing, run)),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn insert_run(&self, run: &NewRun) -> Result<RunRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO runs (id, plan, plan_snapshot, mode, status, identity, identity_email, reason, \
             ticket, trigger_event, idempotency_key, request_digest, effective_at, sla_deadline, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&run.id)
        .bind(&run.plan)
        .bind(run.plan_snapshot.to_string())
        .bind(run.mode.as_str())
        .bind(RunStatus::Pending.as_str())
        .bind(serde_json::to_string(&run.identity).unwrap_or_default())
        .bind(run.identity.email.to_ascii_lowercase())
        .bind(run.reason.clone())
        .bind(run.ticket.as_ref().map(|t| t.to_string()))
        .bind(run.trigger_event.clone())
        .bind(run.idempotency_key.clone())
        .bind(run.request_digest.clone())
        .bind(run.effective_at)
        .bind(run.sla_deadline)
        .bind(run.created_at)
        .execute(&mut *tx)
        .await
        .context("creating a run")?;
        for (position, step) in run.steps.iter().enumerate() {
            let status = if step.needs.is_empty() {
                StepStatus::Ready
            } else {
                StepStatus::Pending
            };
            sqlx::query(
                "INSERT INTO steps (run_id, step_id, position, uses, connector, params, needs, status, \
                 max_attempts, initial_backoff_ms, max_backoff_ms, timeout_ms, next_attempt_at, run_when) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&run.id)
            .bind(&step.step_id)
            .bind(position as i64)
            .bind(&step.uses)
            .bind(&step.connector)
            .bind(step.params.to_string())
            .bind(serde_json::to_string(&step.needs).unwrap_or_default())
            .bind(status.as_str())
            .bind(i64::from(step.max_attempts))
            .bind(step.initial_backoff_ms)
            .bind(step.max_backoff_ms)
            .bind(step.timeout_ms)
            .bind(run.effective_at)
            .bind(step.when.as_str())
            .execute(&mut *tx)
            .await
            .context("creating a step")?;
        }
        let payload = serde_json::json!({
            "plan": run.plan,
            "mode": run.mode,
            "identity": run.identity,
            "account_sources": run.account_sources,
            "effective_at": ms_to_rfc3339(run.effective_at),
            "sla_deadline": run.sla_deadline.map(ms_to_rfc3339),
            "ticket": run.ticket,
            "reason": run.reason,
            "trigger": run.trigger_event,
            "idempotency_key": run.idempotency_key,
            "steps": run.steps.iter().map(|s| {
                let mut step = serde_json::json!({"id": s.step_id, "uses": s.uses, "needs": s.needs});
                if !s.when.is_success() {
                    step["when"] = serde_json::json!(s.when);
                }
                step
            }).collect::<Vec<_>>(),
        });
        self.append_evidence_tx(
            &mut tx,
            &[
                AppendEvidence::new("offboarding.requested", &run.actor, &run.id, payload),
                AppendEvidence::new(
                    "run.status",
                    &run.actor,
                    &run.id,
                    serde_json::json!({"status": RunStatus::Pending}),
                ),
            ],
        )
        .await?;
        tx.commit().await.context("committing a new run")?;
        self.get_run(&run.id)
            .await?
            .ok_or_else(|| corrupt(format!("run {} vanished after insert", run.id)))
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a run")?;
        row.as_ref().map(run_from_row).transpose()
    }

    pub async fn run_by_idempotency_key(&self, key: &str) -> Result<Option<RunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE idempotency_key = $1");
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("looking up an idempotency key")?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR mode = $2) \
             AND ($3 IS NULL OR identity_email = $3) AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.status.map(|s| s.as_str().to_string()))
            .bind(filter.mode.map(|m| m.as_str().to_string()))
            .bind(filter.email.as_ref().map(|e| e.to_ascii_lowercase()))
            .bind(filter.before_id.clone())
            .bind(filter.limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await
            .context("listing runs")?;
        rows.iter().map(run_from_row).collect()
    }

    /// Number of runs by status.
    pub async fn count_runs_by_status(&self) -> Result<Vec<(RunStatus, i64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .context("counting runs")?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status").context("counting runs")?;
                let n: i64 = row.try_get("n").context("counting runs")?;
                Ok((status.parse().map_err(corrupt)?, n))
            })
            .collect()
    }

    /// Cancel a run that has not ended: its unfinished steps become `cancelled`.
    /// Returns false when the run had already ended (nothing changes).
    pub async fn cancel_run(
        &self,
        id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE runs SET status = $1, completed_at = $2 WHERE id = $3 AND status IN ($4, $5)",
        )
        .bind(RunStatus::Cancelled.as_str())
        .bind(now)
        .bind(id)
        .bind(RunStatus::Pending.as_str())
        .bind(RunStatus::Running.as_str())
        .execute(&mut *tx)
        .await
        .context("cancelling a run")?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE steps SET status = $1, finished_at = $2, lease_owner = NULL, lease_until = NULL, error = $3 \
             WHERE run_id = $4 AND status IN ($5, $6, $7)",
        )
        .bind(StepStatus::Cancelled.as_str())
        .bind(now)
        .bind(format!("run cancelled: {reason}"))
        .bind(id)
        .bind(StepStatus::Pending.as_str())
        .bind(StepStatus::Ready.as_str())
        .bind(StepStatus::Running.as_str())
        .execute(&mut *tx)
        .await
        .context("cancelling steps")?;
        self.append_evidence_tx(
            &mut tx,
            &[AppendEvidence::new(
                "run.status",
                actor,
                id,
                serde_json::json!({"status": RunStatus::Cancelled, "reason": reason}),
            )],
        )
        .await?;
        tx.commit().await.context("committing a cancellation")?;
        Ok(true)
    }
}

fn replay_outcome(existing: RunRecord, run: &NewRun) -> SubmitOutcome {
    if existing.request_digest == run.request_digest {
        SubmitOutcome::Existing(existing)
    } else {
        SubmitOutcome::KeyReused {
            existing_id: existing.id,
        }
    }
}

pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}
