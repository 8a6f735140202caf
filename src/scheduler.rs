//! Periodic jobs on cron schedules (the `cron` crate), shared by every replica: each
//! firing is claimed in the database with a compare-and-set, so it runs once however
//! many replicas are up. A job that was due while every replica was down fires once
//! on the next start (not once per missed period).

use crate::store::{now_ms, Store, StoreError};
use chrono::{TimeZone, Utc};
use futures::future::BoxFuture;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a job does when it fires; gets the scheduled fire time (ms).
pub type JobFn = Arc<dyn Fn(i64) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(Clone)]
pub struct Job {
    pub name: String,
    pub schedule_text: String,
    schedule: cron::Schedule,
    run: JobFn,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.name)
            .field("schedule", &self.schedule_text)
            .finish()
    }
}

/// Parse a cron expression. Standard five-field crontab lines get a leading seconds
/// field of `0`; six or seven fields are taken as the `cron` crate reads them.
pub fn parse_schedule(text: &str) -> Result<cron::Schedule, String> {
    let fields = text.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {text}")
    } else {
        text.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("invalid cron expression `{text}`: {e}"))
}

impl Job {
    pub fn new(name: &str, schedule: &str, run: JobFn) -> Result<Self, String> {
        Ok(Self {
            name: name.to_string(),
            schedule_text: schedule.to_string(),
            schedule: parse_schedule(schedule)?,
            run,
        })
    }

    /// The first fire time strictly after `after_ms`.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = Utc.timestamp_millis_opt(after_ms).single()?;
        self.schedule
            .after(&after)
            .next()
            .map(|t| t.timestamp_millis())
    }
}

pub struct Scheduler {
    store: Store,
    owner: String,
    jobs: Vec<Job>,
}

impl Scheduler {
    pub fn new(store: Store, owner: String, jobs: Vec<Job>) -> Self {
        Self { store, owner, jobs }
    }

    /// Register every job's schedule in the database.
    pub async fn register(&self) -> Result<(), StoreError> {
        let now = now_ms();
        for job in &self.jobs {
            if let Some(next) = job.next_after(now) {
                self.store
                    .upsert_cron_job(&job.name, &job.schedule_text, next)
                    .await?;
            }
        }
        Ok(())
    }

    /// Fire due jobs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if let Err(error) = self.register().await {
            tracing::error!(%error, "cannot register cron jobs");
        }
        loop {
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "cron tick failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Claim and run every due firing once.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let mut fired = 0;
        for due in self.store.due_cron_jobs().await? {
            let Some(job) = self.jobs.iter().find(|j| j.name == due.name) else {
                continue; // registered by a replica with a different configuration
            };
            let following = job
                .next_after(now_ms().max(due.next_fire_at))
                .unwrap_or(i64::MAX);
            if !self
                .store
                .claim_cron_firing(&due, following, &self.owner)
                .await?
            {
                continue;
            }
            fired += 1;
            tracing::info!(job = %job.name, "cron job fired");
            if let Err(error) = (job.run)(due.next_fire_at).await {
                tracing::error!(job = %job.name, %error, "cron job failed");
            }
        }
        Ok(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_crontab_is_accepted() {
        assert!(parse_schedule("*/5 * * * *").is_ok());
        assert!(parse_schedule("0 */5 * * * *").is_ok());
        assert!(parse_schedule("every day").is_err());
    }

    #[test]
    fn next_after_is_strictly_later() {
        let job = Job::new("t", "* * * * * *", Arc::new(|_| Box::pin(async { Ok(()) }))).unwrap();
        let now = 1_700_000_000_000;
        let next = job.next_after(now).unwrap();
        assert!(next > now && next - now <= 1000);
    }
}
