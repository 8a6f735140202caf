//! `[[drills.schedule]]`: drills on cron schedules, each a job of the shared scheduler,
//! so a fire time starts one drill however many replicas run (the firing is claimed by
//! compare-and-set, and the drill row is unique per plan, canary and fire time).

use super::{spawn_completion, start, DrillStart};
use crate::config::ConfigError;
use crate::engine::Engine;
use crate::scheduler::{parse_schedule, Job};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[drills]`: revocation drills.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DrillsConfig {
    /// Drills run on a cron schedule.
    pub schedule: Vec<DrillSchedule>,
}

/// One scheduled drill.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillSchedule {
    /// The plan to drill.
    pub plan: String,
    /// The canary identity's email.
    pub identity: String,
    /// Cron expression (`sec min hour day month weekday`, or five crontab fields).
    pub cron: String,
}

impl DrillSchedule {
    /// The scheduler job's name, one per plan and canary.
    pub fn job_name(&self) -> String {
        format!("drill:{}:{}", self.plan, self.identity.trim())
    }
}

impl DrillsConfig {
    /// Check every schedule (at config load).
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for (index, schedule) in self.schedule.iter().enumerate() {
            let invalid = |message: String| ConfigError::Invalid {
                origin: format!("key drills.schedule[{index}]"),
                message,
            };
            if schedule.plan.trim().is_empty() {
                return Err(invalid("`plan` is empty".into()));
            }
            if !schedule.identity.contains('@') {
                return Err(invalid(format!(
                    "`identity` must be the canary's email, got `{}`",
                    schedule.identity
                )));
            }
            parse_schedule(&schedule.cron).map_err(invalid)?;
            if !names.insert(schedule.job_name()) {
                return Err(invalid(format!(
                    "plan `{}` is already scheduled for `{}`",
                    schedule.plan, schedule.identity
                )));
            }
        }
        Ok(())
    }
}

/// The scheduler jobs of `[[drills.schedule]]`; every plan must exist.
pub fn jobs(engine: &Engine, config: &DrillsConfig) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::with_capacity(config.schedule.len());
    for (index, schedule) in config.schedule.iter().enumerate() {
        if engine.plans().get(&schedule.plan).is_none() {
            anyhow::bail!(
                "drills.schedule[{index}]: unknown plan `{}` (known plans: {})",
                schedule.plan,
                engine.plans().names().collect::<Vec<_>>().join(", ")
            );
        }
        let engine = engine.clone();
        let schedule_for_job = schedule.clone();
        let job = Job::new(
            &schedule.job_name(),
            &schedule.cron,
            Arc::new(move |fire_time| {
                let engine = engine.clone();
                let request = DrillStart {
                    plan: schedule_for_job.plan.clone(),
                    identity: schedule_for_job.identity.clone(),
                    started_by: "schedule".into(),
                    scheduled_for: Some(fire_time),
                };
                Box::pin(async move {
                    match start(&engine, &request).await {
                        Ok(Some(drill)) => {
                            spawn_completion(engine, drill);
                            Ok(())
                        }
                        Ok(None) => Ok(()), // this fire time's drill exists already
                        Err(error) => Err(error.to_string()),
                    }
                })
            }),
        )
        .map_err(|e| anyhow::anyhow!("drills.schedule[{index}].cron: {e}"))?;
        jobs.push(job);
    }
    Ok(jobs)
}
