//! Read-only queries behind the dashboard's overview: step progress of runs in flight,
//! finished revocations, SLA breaches and rotation counts.

use super::runs::{run_from_row, RUN_COLUMNS};
use super::{Context, RunRecord, Store, StoreError};
use sqlx::Row;

/// How far one run in flight has come: steps ended (any outcome) out of all steps.
#[derive(Debug, Clone)]
pub struct RunProgress {
    pub run: RunRecord,
    pub steps: i64,
    pub ended: i64,
}

/// Open rotations, and those past their due time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationCounts {
    pub open: i64,
    pub overdue: i64,
}

impl Store {
    /// Runs not yet ended (pending or running), oldest first, with their step counts.
    pub async fn runs_in_flight(&self, limit: i64) -> Result<Vec<RunProgress>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE status IN ('pending', 'running') \
             ORDER BY id LIMIT $1"
        );
        let rows = sqlx::query(&sql)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await
            .context("listing runs in flight")?;
        let runs: Vec<RunRecord> = rows.iter().map(run_from_row).collect::<Result<_, _>>()?;
        let counts = sqlx::query(
            "SELECT s.run_id AS run_id, COUNT(*) AS steps, \
                    COALESCE(SUM(CASE WHEN s.status IN ('succeeded', 'failed', 'skipped', 'cancelled') \
                                      THEN 1 ELSE 0 END), 0) AS ended \
             FROM steps s JOIN runs r ON r.id = s.run_id \
             WHERE r.status IN ('pending', 'running') GROUP BY s.run_id",
        )
        .fetch_all(&self.pool)
        .await
        .context("counting the steps of runs in flight")?;
        let mut by_run = std::collections::HashMap::new();
        for row in &counts {
            let run_id: String = row.try_get("run_id").context("counting steps")?;
            let steps: i64 = row.try_get("steps").context("counting steps")?;
            let ended: i64 = row.try_get("ended").context("counting steps")?;
            by_run.insert(run_id, (steps, ended));
        }
        Ok(runs
            .into_iter()
            .map(|run| {
                let (steps, ended) = by_run.get(&run.id).copied().unwrap_or((0, 0));
                RunProgress { run, steps, ended }
            })
            .collect())
    }

    /// Runs that revoked something (`revoked_at` set; dry runs left out), most recently
    /// ended first.
    pub async fn finished_revocations(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE revoked_at IS NOT NULL AND mode <> 'dry_run' \
             ORDER BY completed_at DESC, id DESC LIMIT $1"
        );
        let rows = sqlx::query(&sql)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await
            .context("listing finished revocations")?;
        rows.iter().map(run_from_row).collect()
    }

    /// Runs that breached their plan's SLA at `now`: revoked after the deadline, ended
    /// without revoking after it, or still in flight past it. Newest first, with the
    /// total count.
    pub async fn sla_breaches(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<(i64, Vec<RunRecord>), StoreError> {
        const BREACHED: &str = "sla_deadline IS NOT NULL AND mode <> 'dry_run' AND ( \
               (revoked_at IS NOT NULL AND revoked_at > sla_deadline) \
            OR (revoked_at IS NULL AND status IN ('pending', 'running') AND sla_deadline < $1) \
            OR (revoked_at IS NULL AND status NOT IN ('pending', 'running', 'cancelled') \
                AND completed_at > sla_deadline))";
        let count = sqlx::query(&format!("SELECT COUNT(*) AS n FROM runs WHERE {BREACHED}"))
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .context("counting SLA breaches")?;
        let count: i64 = count.try_get("n").context("counting SLA breaches")?;
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM runs WHERE {BREACHED} ORDER BY id DESC LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await
            .context("listing SLA breaches")?;
        let runs = rows.iter().map(run_from_row).collect::<Result<_, _>>()?;
        Ok((count, runs))
    }

    /// Open rotations and how many of them are past `due_at` at `now`.
    pub async fn rotation_counts(&self, now: i64) -> Result<RotationCounts, StoreError> {
        let row = sqlx::query(
            // COUNT, never SUM: over no rows SUM is NULL, which sqlx's Any driver on
            // SQLite cannot read as an integer even inside COALESCE.
            "SELECT COUNT(*) AS open, COUNT(CASE WHEN due_at < $1 THEN 1 END) AS overdue \
             FROM rotations WHERE status = 'open'",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .context("counting open rotations")?;
        Ok(RotationCounts {
            open: row.try_get("open").context("counting open rotations")?,
            overdue: row.try_get("overdue").context("counting open rotations")?,
        })
    }
}
