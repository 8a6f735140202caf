//! Cron schedules shared by every replica: a firing is claimed with a compare-and-set
//! on `next_fire_at`, so exactly one replica runs it.

use super::{now_ms, Context, Store, StoreError};
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct CronJobRow {
    pub name: String,
    pub schedule: String,
    pub next_fire_at: i64,
}

impl Store {
    /// Register a job (or change its schedule), with its first fire time.
    pub async fn upsert_cron_job(
        &self,
        name: &str,
        schedule: &str,
        next_fire_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT schedule FROM cron_jobs WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .context("reading a cron job")?;
        match existing {
            None => {
                sqlx::query(
                    "INSERT INTO cron_jobs (name, schedule, next_fire_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(schedule)
                .bind(next_fire_at)
                .execute(&mut *tx)
                .await
                .context("registering a cron job")?;
            }
            Some(row) => {
                let current: String = row.try_get("schedule").context("reading a cron job")?;
                if current != schedule {
                    sqlx::query(
                        "UPDATE cron_jobs SET schedule = $1, next_fire_at = $2 WHERE name = $3",
                    )
                    .bind(schedule)
                    .bind(next_fire_at)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .context("rescheduling a cron job")?;
                }
            }
        }
        tx.commit().await.context("committing a cron job")?;
        Ok(())
    }

    /// Jobs whose fire time has come.
    pub async fn due_cron_jobs(&self) -> Result<Vec<CronJobRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, schedule, next_fire_at FROM cron_jobs WHERE next_fire_at <= $1 ORDER BY next_fire_at",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await
        .context("reading due cron jobs")?;
        rows.iter()
            .map(|row| {
                Ok(CronJobRow {
                    name: row.try_get("name").context("reading a cron job")?,
                    schedule: row.try_get("schedule").context("reading a cron job")?,
                    next_fire_at: row.try_get("next_fire_at").context("reading a cron job")?,
                })
            })
            .collect()
    }

    /// Claim the firing of `job` at its current `next_fire_at`, moving the schedule on to
    /// `following`. Exactly one caller wins a given firing; the winner's firing is
    /// recorded in `cron_firings`.
    pub async fn claim_cron_firing(
        &self,
        job: &CronJobRow,
        following: i64,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let won = sqlx::query(
            "UPDATE cron_jobs SET next_fire_at = $1, last_fired_at = $2, last_owner = $3 \
             WHERE name = $4 AND next_fire_at = $5",
        )
        .bind(following)
        .bind(job.next_fire_at)
        .bind(owner)
        .bind(&job.name)
        .bind(job.next_fire_at)
        .execute(&mut *tx)
        .await
        .context("claiming a cron firing")?
        .rows_affected()
            == 1;
        if !won {
            tx.rollback()
                .await
                .context("releasing a lost cron firing")?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO cron_firings (name, fire_time, owner, fired_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&job.name)
        .bind(job.next_fire_at)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording a cron firing")?;
        tx.commit().await.context("committing a cron firing")?;
        Ok(true)
    }

    /// Firings of a job, oldest first: (fire time, owner).
    pub async fn cron_firings(&self, name: &str) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT fire_time, owner FROM cron_firings WHERE name = $1 ORDER BY fire_time",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .context("reading cron firings")?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("fire_time").context("reading cron firings")?,
                    row.try_get("owner").context("reading cron firings")?,
                ))
            })
            .collect()
    }
}
