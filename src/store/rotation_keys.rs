//! The outcome of automatic rotations: completing one (and scheduling the deactivation
//! of an old AWS access key, `rotation_key_deactivations`, migration 0013) or recording
//! why it failed, and the deactivations the cron job works through. Key ids only.

use super::{AppendEvidence, Context, Store, StoreError};
use serde::Serialize;
use sqlx::{any::AnyRow, Row};

/// An old access key to deactivate once `due_at` has passed. `status`: `pending`,
/// `done`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyDeactivation {
    pub rotation_id: String,
    pub account: Option<String>,
    pub iam_user: String,
    pub access_key_id: String,
    pub new_access_key_id: String,
    pub due_at: i64,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub deactivated_at: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str = "rotation_id, account, iam_user, access_key_id, new_access_key_id, \
     due_at, status, attempts, last_error, deactivated_at, created_at";

fn from_row(row: &AnyRow) -> Result<KeyDeactivation, StoreError> {
    let c = "reading a key deactivation";
    Ok(KeyDeactivation {
        rotation_id: row.try_get("rotation_id").context(c)?,
        account: row.try_get("account").context(c)?,
        iam_user: row.try_get("iam_user").context(c)?,
        access_key_id: row.try_get("access_key_id").context(c)?,
        new_access_key_id: row.try_get("new_access_key_id").context(c)?,
        due_at: row.try_get("due_at").context(c)?,
        status: row.try_get("status").context(c)?,
        attempts: row.try_get("attempts").context(c)?,
        last_error: row.try_get("last_error").context(c)?,
        deactivated_at: row.try_get("deactivated_at").context(c)?,
        created_at: row.try_get("created_at").context(c)?,
    })
}

impl Store {
    /// Mark an open rotation `done` by automation, schedule `deactivation` (an old AWS
    /// key) if any, and append `evidence`, in one transaction. False when the rotation
    /// is no longer open.
    pub async fn complete_auto_rotation(
        &self,
        id: &str,
        by: &str,
        reason: &str,
        deactivation: Option<&KeyDeactivation>,
        evidence: &[AppendEvidence],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE rotations SET status = 'done', completed_by = $1, reason = $2, auto = 1, \
             auto_attempt = NULL, updated_at = $3 WHERE id = $4 AND status = 'open'",
        )
        .bind(by)
        .bind(reason)
        .bind(super::now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("completing a rotation")?
        .rows_affected()
            == 1;
        if !updated {
            tx.rollback().await.context("abandoning a rotation end")?;
            return Ok(false);
        }
        if let Some(d) = deactivation {
            sqlx::query(
                "INSERT INTO rotation_key_deactivations (rotation_id, account, iam_user, \
                 access_key_id, new_access_key_id, due_at, status, attempts, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7) ON CONFLICT DO NOTHING",
            )
            .bind(&d.rotation_id)
            .bind(d.account.clone())
            .bind(&d.iam_user)
            .bind(&d.access_key_id)
            .bind(&d.new_access_key_id)
            .bind(d.due_at)
            .bind(d.created_at)
            .execute(&mut *tx)
            .await
            .context("scheduling a key deactivation")?;
        }
        self.append_evidence_tx(&mut tx, evidence).await?;
        tx.commit().await.context("committing a rotation end")?;
        Ok(true)
    }

    /// Write (or, with `None`, clear) the journal of an automatic rotation in flight.
    /// False when the rotation is no longer open.
    pub async fn set_auto_attempt(
        &self,
        id: &str,
        attempt: Option<&str>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE rotations SET auto_attempt = $1, auto = 1, updated_at = $2 \
             WHERE id = $3 AND status = 'open'",
        )
        .bind(attempt)
        .bind(super::now_ms())
        .bind(id)
        .execute(&self.pool)
        .await
        .context("journaling an automatic rotation")?
        .rows_affected()
            == 1;
        Ok(updated)
    }

    /// An automatic rotation failed: the rotation stays open, `reason` says why (for
    /// the person who finishes it), with its evidence. False when it is not open.
    pub async fn record_auto_rotation_failure(
        &self,
        id: &str,
        reason: &str,
        evidence: &[AppendEvidence],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE rotations SET reason = $1, auto = 1, auto_attempt = NULL, updated_at = $2 \
             WHERE id = $3 AND status = 'open'",
        )
        .bind(reason)
        .bind(super::now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("recording a rotation failure")?
        .rows_affected()
            == 1;
        if !updated {
            tx.rollback()
                .await
                .context("abandoning a rotation failure")?;
            return Ok(false);
        }
        self.append_evidence_tx(&mut tx, evidence).await?;
        tx.commit().await.context("committing a rotation failure")?;
        Ok(true)
    }

    /// Pending deactivations due at `now`, oldest first.
    pub async fn due_key_deactivations(
        &self,
        now: i64,
    ) -> Result<Vec<KeyDeactivation>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM rotation_key_deactivations \
             WHERE status = 'pending' AND due_at <= $1 ORDER BY due_at, rotation_id LIMIT 500"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .context("finding due key deactivations")?;
        rows.iter().map(from_row).collect()
    }

    /// The deactivations a rotation scheduled.
    pub async fn key_deactivations(
        &self,
        rotation_id: &str,
    ) -> Result<Vec<KeyDeactivation>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM rotation_key_deactivations WHERE rotation_id = $1 \
             ORDER BY created_at, access_key_id"
        );
        let rows = sqlx::query(&sql)
            .bind(rotation_id)
            .fetch_all(&self.pool)
            .await
            .context("reading key deactivations")?;
        rows.iter().map(from_row).collect()
    }

    /// The old key is verified inactive: `done`, with its evidence, once (false when
    /// another replica finished it first).
    pub async fn finish_key_deactivation(
        &self,
        d: &KeyDeactivation,
        now: i64,
        evidence: &[AppendEvidence],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE rotation_key_deactivations SET status = 'done', deactivated_at = $1, \
             attempts = attempts + 1, last_error = NULL \
             WHERE rotation_id = $2 AND access_key_id = $3 AND status = 'pending'",
        )
        .bind(now)
        .bind(&d.rotation_id)
        .bind(&d.access_key_id)
        .execute(&mut *tx)
        .await
        .context("finishing a key deactivation")?
        .rows_affected()
            == 1;
        if !updated {
            tx.rollback()
                .await
                .context("abandoning a key deactivation")?;
            return Ok(false);
        }
        self.append_evidence_tx(&mut tx, evidence).await?;
        tx.commit().await.context("committing a key deactivation")?;
        Ok(true)
    }

    /// A deactivation attempt failed: counted, the upstream's message kept; it stays
    /// pending for the next firing.
    pub async fn key_deactivation_failed(
        &self,
        d: &KeyDeactivation,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rotation_key_deactivations SET attempts = attempts + 1, last_error = $1 \
             WHERE rotation_id = $2 AND access_key_id = $3 AND status = 'pending'",
        )
        .bind(error)
        .bind(&d.rotation_id)
        .bind(&d.access_key_id)
        .execute(&self.pool)
        .await
        .context("recording a key deactivation failure")?;
        Ok(())
    }
}
