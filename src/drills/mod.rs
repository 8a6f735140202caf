//! Revocation drills: a plan run for real against a canary identity, measured, then
//! undone.
//!
//! A drill is two phases. The revocation phase is an ordinary engine run (mode `live`,
//! trigger `drill`), so it is durable, retried, verified and swept like any
//! offboarding. Once that run has ended (every revocation step ended), the restore
//! phase runs the plan's `restore:` steps through the same connectors (execute, then
//! the action's verification), from the drill's coordinator: restore steps grant access
//! back, so they are not revocations, carry no residual-access sweep and do not count
//! toward time-to-revoke. The report (`report`) is stored on the drill row with a
//! `drill.report` evidence entry in one transaction; a restore failure fails the drill.
//!
//! The replica that starts a drill coordinates it under a lease on the drill row,
//! renewed while it waits. If it stops, another replica's resumer (every
//! `RESUME_EVERY`) takes the expired lease over and finishes the drill.

pub mod report;
pub mod restore;
pub mod schedule;

pub use report::{DrillReport, Trend, Verdict};
pub use schedule::{DrillSchedule, DrillsConfig};

use crate::domain::Mode;
use crate::engine::{Engine, OffboardRequest, SubmitError};
use crate::plan::Plan;
use crate::store::{now_ms, AppendEvidence, DrillRow, StoreError, SubmitOutcome};
use leaver_connector::Identity;
use std::time::Duration;

/// The trigger event of a drill's revocation run.
pub const DRILL_TRIGGER: &str = "drill";
const POLL: Duration = Duration::from_millis(100);
/// How long a coordinator's claim on a drill lasts without renewal.
pub const LEASE_MS: i64 = 60_000;
/// How often a coordinator renews its claim while it waits.
const RENEW_EVERY_MS: i64 = 10_000;
/// How often each replica looks for drills whose coordinator stopped.
pub const RESUME_EVERY: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("unknown plan `{plan}` (known plans: {known})")]
    UnknownPlan { plan: String, known: String },
    #[error("invalid drill: {0}")]
    Invalid(String),
    #[error("starting the drill's revocation run: {0}")]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("drill {0} has no revocation run")]
    NoRun(String),
    #[error("drill {0} is now coordinated by another replica")]
    TakenOver(String),
}

/// What starts a drill.
#[derive(Debug, Clone)]
pub struct DrillStart {
    pub plan: String,
    /// The canary identity's email.
    pub identity: String,
    /// Who asked: a token name, `cli`, `schedule`.
    pub started_by: String,
    /// The cron fire time of a scheduled drill (one drill per fire time).
    pub scheduled_for: Option<i64>,
}

/// Record a drill and submit its revocation run. `None` when a scheduled drill for
/// this fire time already exists.
pub async fn start(engine: &Engine, request: &DrillStart) -> Result<Option<DrillRow>, DrillError> {
    let canary = request.identity.trim();
    if canary.is_empty() {
        return Err(DrillError::Invalid(
            "identity (the canary's email) is required".into(),
        ));
    }
    let plan = engine
        .plans()
        .get(&request.plan)
        .ok_or_else(|| DrillError::UnknownPlan {
            plan: request.plan.clone(),
            known: engine.plans().names().collect::<Vec<_>>().join(", "),
        })?;
    let mut drill = DrillRow {
        id: uuid::Uuid::now_v7().to_string(),
        plan: plan.name.clone(),
        canary: canary.to_string(),
        run_id: None,
        status: "running".into(),
        started_by: request.started_by.clone(),
        scheduled_for: request.scheduled_for,
        started_at: now_ms(),
        finished_at: None,
        time_to_revoke_ms: None,
        report: None,
    };
    let started = AppendEvidence::new(
        "drill.started",
        &drill.started_by,
        &drill.id,
        serde_json::json!({
            "plan": drill.plan,
            "canary": drill.canary,
            "scheduled_for": drill.scheduled_for.map(crate::store::runs::ms_to_rfc3339),
            "sla": plan.sla.map(crate::duration::format_duration),
        }),
    );
    let lease_until = drill.started_at + LEASE_MS;
    if !engine
        .store()
        .insert_drill(&drill, engine.worker_id(), lease_until, &[started])
        .await?
    {
        return Ok(None);
    }
    let offboard = OffboardRequest {
        identity: Identity::new(canary),
        plan: plan.name.clone(),
        mode: Mode::Live,
        effective_at: None,
        ticket: None,
        reason: Some(format!("revocation drill {}", drill.id)),
        trigger: Some(DRILL_TRIGGER.into()),
    };
    let submitted = engine
        .submit(
            &offboard,
            Some(format!("drill:{}", drill.id)),
            &drill.started_by,
        )
        .await;
    let run = match submitted {
        Ok(SubmitOutcome::Created(run) | SubmitOutcome::Existing(run)) => run,
        Ok(SubmitOutcome::KeyReused { existing_id }) => {
            let error = format!(
                "idempotency key of drill {} reused by run {existing_id}",
                drill.id
            );
            abort(engine, &drill, &error).await?;
            return Err(DrillError::Invalid(error));
        }
        Err(error) => {
            abort(engine, &drill, &error.to_string()).await?;
            return Err(error.into());
        }
    };
    engine.store().set_drill_run(&drill.id, &run.id).await?;
    drill.run_id = Some(run.id);
    Ok(Some(drill))
}

/// A drill whose run could not start: failed, with the reason as its report.
async fn abort(engine: &Engine, drill: &DrillRow, error: &str) -> Result<(), StoreError> {
    let report = serde_json::json!({"drill_id": drill.id, "verdict": "fail", "failures": [error]});
    let evidence =
        AppendEvidence::new("drill.report", &drill.started_by, &drill.id, report.clone());
    engine
        .store()
        .finish_drill(&drill.id, "fail", now_ms(), None, &report, &[evidence])
        .await?;
    Ok(())
}

/// Wait for the drill's revocation run to end, run the restore phase, and store the
/// report with its evidence.
pub async fn complete(engine: &Engine, drill: &DrillRow) -> Result<DrillReport, DrillError> {
    let run_id = drill
        .run_id
        .clone()
        .ok_or_else(|| DrillError::NoRun(drill.id.clone()))?;
    let mut renewed_at = 0;
    let run = loop {
        let now = now_ms();
        if now - renewed_at >= RENEW_EVERY_MS {
            renew(engine, &drill.id, now).await?;
            renewed_at = now;
        }
        match engine.store().get_run(&run_id).await? {
            Some(run) if run.status.is_terminal() => break run,
            Some(_) => tokio::time::sleep(POLL).await,
            None => return Err(DrillError::NoRun(drill.id.clone())),
        }
    };
    renew(engine, &drill.id, now_ms()).await?;
    // The plan as the run snapshotted it, so restore undoes what was revoked.
    let plan: Plan = serde_json::from_value(run.plan_snapshot.clone())
        .ok()
        .or_else(|| engine.plans().get(&drill.plan).cloned())
        .ok_or_else(|| DrillError::Invalid(format!("plan `{}` is gone", drill.plan)))?;
    let restore = restore::run(engine.registry(), &plan, &run.identity, &run.id).await;
    let steps = engine.store().steps_for_run(&run.id).await?;
    let report = report::build(report::ReportInput {
        drill_id: &drill.id,
        canary: &drill.canary,
        started_at: drill.started_at,
        finished_at: now_ms(),
        sla: plan.sla,
        run: &run,
        steps: &steps,
        restore,
    });
    let payload = serde_json::to_value(&report).unwrap_or_default();
    let evidence = AppendEvidence::new(
        "drill.report",
        &drill.started_by,
        &drill.id,
        payload.clone(),
    );
    engine
        .store()
        .finish_drill(
            &drill.id,
            report.verdict.as_str(),
            report.finished_at,
            report.time_to_revoke_ms,
            &payload,
            &[evidence],
        )
        .await?;
    tracing::info!(drill = %drill.id, plan = %drill.plan, verdict = report.verdict.as_str(), "drill ended");
    Ok(report)
}

/// Renew this replica's claim on a drill, or learn that another replica has it.
async fn renew(engine: &Engine, id: &str, now: i64) -> Result<(), DrillError> {
    if engine
        .store()
        .claim_drill(id, engine.worker_id(), now + LEASE_MS, now)
        .await?
    {
        Ok(())
    } else {
        Err(DrillError::TakenOver(id.to_string()))
    }
}

/// Take over the drills whose coordinator's lease expired before `now` and finish them
/// in the background. Returns how many were taken over.
pub async fn resume_orphans(engine: &Engine, now: i64) -> Result<usize, DrillError> {
    let mut taken = 0;
    for drill in engine.store().orphaned_drills(now).await? {
        if !engine
            .store()
            .claim_drill(&drill.id, engine.worker_id(), now_ms() + LEASE_MS, now)
            .await?
        {
            continue; // another replica took it first
        }
        taken += 1;
        tracing::info!(drill = %drill.id, "taking over a drill whose coordinator stopped");
        if drill.run_id.is_none() {
            abort(
                engine,
                &drill,
                "the drill's coordinator stopped before its revocation run was submitted",
            )
            .await?;
        } else {
            spawn_completion(engine.clone(), drill);
        }
    }
    Ok(taken)
}

/// Look for orphaned drills every `RESUME_EVERY` until `shutdown`.
pub async fn run_resumer(engine: Engine, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(error) = resume_orphans(&engine, now_ms()).await {
            tracing::warn!(%error, "resuming orphaned drills failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(RESUME_EVERY) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Start a drill and wait for its report.
pub async fn run(engine: &Engine, request: &DrillStart) -> Result<Option<DrillReport>, DrillError> {
    match start(engine, request).await? {
        Some(drill) => Ok(Some(complete(engine, &drill).await?)),
        None => Ok(None),
    }
}

/// Finish a started drill in the background (the HTTP API, schedules).
pub fn spawn_completion(engine: Engine, drill: DrillRow) {
    tokio::spawn(async move {
        if let Err(error) = complete(&engine, &drill).await {
            tracing::error!(drill = %drill.id, %error, "drill could not be completed");
        }
    });
}
