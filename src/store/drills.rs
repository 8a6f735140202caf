//! Drills: one row per drill (plan, canary, the revocation run, verdict, report).

use super::{AppendEvidence, Context, Store, StoreError};
use serde::Serialize;
use sqlx::{any::AnyRow, Row};

/// A drill as stored. `status` is `running`, `pass` or `fail`.
#[derive(Debug, Clone, Serialize)]
pub struct DrillRow {
    pub id: String,
    pub plan: String,
    pub canary: String,
    pub run_id: Option<String>,
    pub status: String,
    pub started_by: String,
    pub scheduled_for: Option<i64>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub time_to_revoke_ms: Option<i64>,
    pub report: Option<serde_json::Value>,
}

const DRILL_COLUMNS: &str = "id, plan, canary, run_id, status, started_by, scheduled_for, \
     started_at, finished_at, time_to_revoke_ms, report";

fn drill_from_row(row: &AnyRow) -> Result<DrillRow, StoreError> {
    let report: Option<String> = row.try_get("report").context("reading a drill")?;
    Ok(DrillRow {
        id: row.try_get("id").context("reading a drill")?,
        plan: row.try_get("plan").context("reading a drill")?,
        canary: row.try_get("canary").context("reading a drill")?,
        run_id: row.try_get("run_id").context("reading a drill")?,
        status: row.try_get("status").context("reading a drill")?,
        started_by: row.try_get("started_by").context("reading a drill")?,
        scheduled_for: row.try_get("scheduled_for").context("reading a drill")?,
        started_at: row.try_get("started_at").context("reading a drill")?,
        finished_at: row.try_get("finished_at").context("reading a drill")?,
        time_to_revoke_ms: row
            .try_get("time_to_revoke_ms")
            .context("reading a drill")?,
        report: report
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    table: "drills",
                    message: format!("report: {e}"),
                })
            })
            .transpose()?,
    })
}

impl Store {
    /// Record a started drill with its `drill.started` evidence. Returns false when a
    /// scheduled drill for this fire time already exists (another replica's).
    /// The drill is coordinated by `coordinator` until `lease_until`.
    pub async fn insert_drill(
        &self,
        drill: &DrillRow,
        coordinator: &str,
        lease_until: i64,
        evidence: &[AppendEvidence],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO drills (id, plan, canary, run_id, status, started_by, scheduled_for, started_at, \
             coordinator, coordinator_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&drill.id)
        .bind(&drill.plan)
        .bind(&drill.canary)
        .bind(drill.run_id.clone())
        .bind(&drill.status)
        .bind(&drill.started_by)
        .bind(drill.scheduled_for)
        .bind(drill.started_at)
        .bind(coordinator)
        .bind(lease_until)
        .execute(&mut *tx)
        .await
        .context("recording a drill")?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback()
                .await
                .context("abandoning a duplicate drill")?;
            return Ok(false);
        }
        self.append_evidence_tx(&mut tx, evidence).await?;
        tx.commit().await.context("committing a drill")?;
        Ok(true)
    }

    /// Link a drill to its revocation run.
    pub async fn set_drill_run(&self, id: &str, run_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE drills SET run_id = $1 WHERE id = $2")
            .bind(run_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("linking a drill to its run")?;
        tx.commit().await.context("committing a drill's run")?;
        Ok(())
    }

    /// Store a drill's verdict and report with its `drill.report` evidence, once.
    pub async fn finish_drill(
        &self,
        id: &str,
        status: &str,
        finished_at: i64,
        time_to_revoke_ms: Option<i64>,
        report: &serde_json::Value,
        evidence: &[AppendEvidence],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE drills SET status = $1, finished_at = $2, time_to_revoke_ms = $3, report = $4 \
             WHERE id = $5 AND status = 'running'",
        )
        .bind(status)
        .bind(finished_at)
        .bind(time_to_revoke_ms)
        .bind(report.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("recording a drill report")?
        .rows_affected()
            == 1;
        if !updated {
            tx.rollback().await.context("abandoning a drill report")?;
            return Ok(false);
        }
        self.append_evidence_tx(&mut tx, evidence).await?;
        tx.commit().await.context("committing a drill report")?;
        Ok(true)
    }

    /// Take (or renew) the coordination of a running drill: granted to the current
    /// coordinator, or to anyone once its lease has expired.
    pub async fn claim_drill(
        &self,
        id: &str,
        coordinator: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE drills SET coordinator = $1, coordinator_until = $2 \
             WHERE id = $3 AND status = 'running' \
             AND (coordinator = $4 OR coordinator_until IS NULL OR coordinator_until < $5)",
        )
        .bind(coordinator)
        .bind(lease_until)
        .bind(id)
        .bind(coordinator)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("claiming a drill")?
        .rows_affected()
            == 1;
        tx.commit().await.context("committing a drill claim")?;
        Ok(claimed)
    }

    /// Running drills whose coordinator's lease has expired (it stopped or crashed).
    pub async fn orphaned_drills(&self, now: i64) -> Result<Vec<DrillRow>, StoreError> {
        let sql = format!(
            "SELECT {DRILL_COLUMNS} FROM drills WHERE status = 'running' \
             AND (coordinator_until IS NULL OR coordinator_until < $1) ORDER BY started_at LIMIT 100"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .context("finding orphaned drills")?;
        rows.iter().map(drill_from_row).collect()
    }

    pub async fn get_drill(&self, id: &str) -> Result<Option<DrillRow>, StoreError> {
        let sql = format!("SELECT {DRILL_COLUMNS} FROM drills WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a drill")?;
        row.as_ref().map(drill_from_row).transpose()
    }

    /// Per plan: drills that ended (passed or failed) and how many of them passed.
    pub async fn drill_outcomes_by_plan(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let c = "counting drill outcomes";
        let rows = sqlx::query(
            "SELECT plan, COUNT(*) AS ended, \
                    COUNT(CASE WHEN status = 'pass' THEN 1 END) AS passed \
             FROM drills WHERE status <> 'running' GROUP BY plan",
        )
        .fetch_all(&self.pool)
        .await
        .context(c)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("plan").context(c)?,
                    row.try_get("ended").context(c)?,
                    row.try_get("passed").context(c)?,
                ))
            })
            .collect()
    }

    /// Drills, newest first, of one plan (or all).
    pub async fn list_drills(
        &self,
        plan: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DrillRow>, StoreError> {
        let sql = format!(
            "SELECT {DRILL_COLUMNS} FROM drills WHERE ($1 IS NULL OR plan = $1) \
             ORDER BY started_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(plan.map(str::to_string))
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await
            .context("listing drills")?;
        rows.iter().map(drill_from_row).collect()
    }
}
