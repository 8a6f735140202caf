//! Secret rotations (`rotations`, `rotation_requests`): scheduled by
//! `trail.schedule_rotations`, one open rotation per (source, secret), every run that
//! asked recorded; each transition is one conditional UPDATE with its evidence.

use super::{AppendEvidence, Context, Store, StoreError};
use serde::Serialize;
use sqlx::{any::AnyRow, Row};

/// A rotation as stored. `status` is `open`, `done`, `waived` or `failed`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RotationRow {
    pub id: String,
    pub source: String,
    pub secret: String,
    pub environment: String,
    pub owner: Option<String>,
    pub run_id: String,
    pub identity: String,
    pub due_at: i64,
    pub status: String,
    pub completed_by: Option<String>,
    pub reason: Option<String>,
    pub auto: bool,
    pub escalated: bool,
    pub last_reminded_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The journal of an automatic rotation in flight (JSON; `rotations::auto`):
    /// internal, never shown.
    #[serde(skip)]
    pub auto_attempt: Option<String>,
}

/// A run that asked for a rotation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RotationRequest {
    pub run_id: String,
    pub identity: String,
    pub requested_at: i64,
}

/// What scheduling a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduled {
    /// A new open rotation was created.
    Created(RotationRow),
    /// The secret already had an open rotation; the run joined it.
    Joined(RotationRow),
}

const COLUMNS: &str = "id, source, secret, environment, owner, run_id, identity, due_at, status, \
     completed_by, reason, auto, escalated, last_reminded_at, created_at, updated_at, auto_attempt";

fn from_row(row: &AnyRow) -> Result<RotationRow, StoreError> {
    let c = "reading a rotation";
    Ok(RotationRow {
        id: row.try_get("id").context(c)?,
        source: row.try_get("source").context(c)?,
        secret: row.try_get("secret").context(c)?,
        environment: row.try_get("environment").context(c)?,
        owner: row.try_get("owner").context(c)?,
        run_id: row.try_get("run_id").context(c)?,
        identity: row.try_get("identity").context(c)?,
        due_at: row.try_get("due_at").context(c)?,
        status: row.try_get("status").context(c)?,
        completed_by: row.try_get("completed_by").context(c)?,
        reason: row.try_get("reason").context(c)?,
        auto: row.try_get::<i64, _>("auto").context(c)? != 0,
        escalated: row.try_get::<i64, _>("escalated").context(c)? != 0,
        last_reminded_at: row.try_get("last_reminded_at").context(c)?,
        created_at: row.try_get("created_at").context(c)?,
        updated_at: row.try_get("updated_at").context(c)?,
        auto_attempt: row.try_get("auto_attempt").context(c)?,
    })
}

impl Store {
    /// Create an open rotation for `new.(source, secret)`, or join the open one: the run
    /// is recorded as a requester either way (once). `evidence` is built from the
    /// outcome and written in the same transaction.
    pub async fn schedule_rotation(
        &self,
        new: &RotationRow,
        evidence: impl Fn(&Scheduled) -> Vec<AppendEvidence>,
    ) -> Result<Scheduled, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM rotations WHERE source = $1 AND secret = $2 AND status = 'open'{}",
            self.for_update()
        );
        let existing = sqlx::query(&sql)
            .bind(&new.source)
            .bind(&new.secret)
            .fetch_optional(&mut *tx)
            .await
            .context("finding an open rotation")?;
        let outcome = match existing {
            Some(row) => Scheduled::Joined(from_row(&row)?),
            None => {
                // A concurrent run may have created it since: the partial unique index
                // refuses a second open rotation and the run joins that one.
                let inserted = sqlx::query(
                    "INSERT INTO rotations (id, source, secret, environment, owner, run_id, identity, \
                     due_at, status, auto, escalated, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, 0, $10, $11) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&new.id)
                .bind(&new.source)
                .bind(&new.secret)
                .bind(&new.environment)
                .bind(new.owner.clone())
                .bind(&new.run_id)
                .bind(&new.identity)
                .bind(new.due_at)
                .bind(i64::from(new.auto))
                .bind(new.created_at)
                .bind(new.updated_at)
                .execute(&mut *tx)
                .await
                .context("creating a rotation")?
                .rows_affected()
                    == 1;
                if inserted {
                    Scheduled::Created(new.clone())
                } else {
                    let row = sqlx::query(&sql)
                        .bind(&new.source)
                        .bind(&new.secret)
                        .fetch_one(&mut *tx)
                        .await
                        .context("finding an open rotation")?;
                    Scheduled::Joined(from_row(&row)?)
                }
            }
        };
        let rotation_id = match &outcome {
            Scheduled::Created(r) | Scheduled::Joined(r) => r.id.clone(),
        };
        let asked = sqlx::query(
            "INSERT INTO rotation_requests (rotation_id, run_id, identity, requested_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&rotation_id)
        .bind(&new.run_id)
        .bind(&new.identity)
        .bind(new.created_at)
        .execute(&mut *tx)
        .await
        .context("recording a rotation request")?
        .rows_affected()
            == 1;
        if asked {
            self.append_evidence_tx(&mut tx, &evidence(&outcome))
                .await?;
        }
        tx.commit().await.context("committing a rotation")?;
        Ok(outcome)
    }

    /// End an open rotation (`done`, `waived`, `failed`) with its evidence. False when
    /// it is not open (already ended, or unknown).
    pub async fn end_rotation(
        &self,
        id: &str,
        status: &str,
        by: &str,
        reason: &str,
        auto: bool,
        evidence: &[AppendEvidence],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE rotations SET status = $1, completed_by = $2, reason = $3, auto = $4, \
             updated_at = $5 WHERE id = $6 AND status = 'open'",
        )
        .bind(status)
        .bind(by)
        .bind(reason)
        .bind(i64::from(auto))
        .bind(super::now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("ending a rotation")?
        .rows_affected()
            == 1;
        if !updated {
            tx.rollback().await.context("abandoning a rotation end")?;
            return Ok(false);
        }
        self.append_evidence_tx(&mut tx, evidence).await?;
        tx.commit().await.context("committing a rotation end")?;
        Ok(true)
    }

    /// Record a reminder (and, once, the escalation) of an open rotation, with its
    /// evidence, unless another replica reminded it since `last_reminded_at`.
    pub async fn remind_rotation(
        &self,
        rotation: &RotationRow,
        escalate: bool,
        now: i64,
        evidence: &[AppendEvidence],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE rotations SET last_reminded_at = $1, escalated = $2, updated_at = $3 \
             WHERE id = $4 AND status = 'open' \
             AND ((last_reminded_at IS NULL AND $5 = 0) OR last_reminded_at = $6)",
        )
        .bind(now)
        .bind(i64::from(escalate || rotation.escalated))
        .bind(now)
        .bind(&rotation.id)
        .bind(i64::from(rotation.last_reminded_at.is_some()))
        .bind(rotation.last_reminded_at.unwrap_or(-1))
        .execute(&mut *tx)
        .await
        .context("reminding a rotation")?
        .rows_affected()
            == 1;
        if !updated {
            tx.rollback().await.context("abandoning a reminder")?;
            return Ok(false);
        }
        self.append_evidence_tx(&mut tx, evidence).await?;
        tx.commit().await.context("committing a reminder")?;
        Ok(true)
    }

    pub async fn get_rotation(&self, id: &str) -> Result<Option<RotationRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM rotations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a rotation")?;
        row.as_ref().map(from_row).transpose()
    }

    /// Rotations with `status` (or all), soonest due first.
    pub async fn list_rotations(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RotationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM rotations WHERE ($1 IS NULL OR status = $1) \
             ORDER BY due_at, id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(status.map(str::to_string))
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await
            .context("listing rotations")?;
        rows.iter().map(from_row).collect()
    }

    /// Open rotations due before `now`.
    pub async fn overdue_rotations(&self, now: i64) -> Result<Vec<RotationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM rotations WHERE status = 'open' AND due_at < $1 \
             ORDER BY due_at, id LIMIT 1000"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .context("finding overdue rotations")?;
        rows.iter().map(from_row).collect()
    }

    /// The runs that asked for a rotation, in order.
    pub async fn rotation_requests(&self, id: &str) -> Result<Vec<RotationRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, identity, requested_at FROM rotation_requests \
             WHERE rotation_id = $1 ORDER BY requested_at, run_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .context("reading rotation requests")?;
        rows.iter()
            .map(|row| {
                Ok(RotationRequest {
                    run_id: row.try_get("run_id").context("reading rotation requests")?,
                    identity: row
                        .try_get("identity")
                        .context("reading rotation requests")?,
                    requested_at: row
                        .try_get("requested_at")
                        .context("reading rotation requests")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// The rotation a run already asked for on this secret, if any.
    pub async fn rotation_for_run(
        &self,
        run_id: &str,
        source: &str,
        secret: &str,
    ) -> Result<Option<RotationRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM rotations r JOIN rotation_requests q ON q.rotation_id = r.id \
             WHERE q.run_id = $1 AND r.source = $2 AND r.secret = $3 \
             ORDER BY r.created_at DESC LIMIT 1",
            prefixed("r.")
        );
        let row = sqlx::query(&sql)
            .bind(run_id)
            .bind(source)
            .bind(secret)
            .fetch_optional(&self.pool)
            .await
            .context("finding a run's rotation")?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every rotation a run asked for (created or joined).
    pub async fn rotations_for_run(&self, run_id: &str) -> Result<Vec<RotationRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM rotations r JOIN rotation_requests q ON q.rotation_id = r.id \
             WHERE q.run_id = $1 ORDER BY r.secret, r.id",
            prefixed("r.")
        );
        let rows = sqlx::query(&sql)
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .context("listing a run's rotations")?;
        rows.iter().map(from_row).collect()
    }
}

fn prefixed(prefix: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
