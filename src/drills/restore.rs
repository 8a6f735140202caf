//! The restore phase of a drill: the plan's `restore:` steps, in dependency order,
//! each executed then verified through the connector registry (the action's own
//! verification confirms the access is back), retrying transient errors. A step whose
//! needs did not succeed is skipped. Nothing here writes to the database.

use super::report::{RestoreOutcome, StepTiming};
use crate::domain::StepStatus;
use crate::plan::{Plan, StepDef};
use crate::store::now_ms;
use leaver_connector::{ActionRequest, ConnectorError, Identity, Registry};
use std::collections::BTreeSet;
use std::time::Duration;

/// Attempts when a restore step names no retry policy.
const DEFAULT_ATTEMPTS: u32 = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Run every restore step of `plan` for `identity`.
pub async fn run(
    registry: &Registry,
    plan: &Plan,
    identity: &Identity,
    run_id: &str,
) -> RestoreOutcome {
    let mut succeeded: BTreeSet<String> = BTreeSet::new();
    let mut steps = Vec::new();
    for def in plan.restore_order() {
        let timing = if let Some(missing) = def.needs.iter().find(|n| !succeeded.contains(*n)) {
            StepTiming {
                id: def.id.clone(),
                uses: def.uses.clone(),
                connector: def.connector().to_string(),
                status: StepStatus::Skipped,
                started_at: None,
                finished_at: None,
                duration_ms: None,
                time_to_revoke_ms: None,
                verified: false,
                attempts: 0,
                error: Some(format!("not run: restore step `{missing}` did not succeed")),
            }
        } else {
            run_step(registry, def, identity, run_id).await
        };
        if timing.verified {
            succeeded.insert(def.id.clone());
        }
        steps.push(timing);
    }
    RestoreOutcome {
        succeeded: steps.iter().all(|s| s.verified),
        steps,
    }
}

async fn run_step(
    registry: &Registry,
    def: &StepDef,
    identity: &Identity,
    run_id: &str,
) -> StepTiming {
    let started = now_ms();
    let retry = def.retry.clone();
    let max_attempts = retry
        .as_ref()
        .map_or(DEFAULT_ATTEMPTS, |r| r.max_attempts)
        .max(1);
    let mut backoff = retry
        .as_ref()
        .map_or(Duration::from_millis(200), |r| r.initial_backoff);
    let limit = def.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        match attempt(registry, def, identity, run_id, limit).await {
            Err(error) if error.is_transient() && attempts < max_attempts => {
                tokio::time::sleep(error.retry_after.unwrap_or(backoff).min(MAX_BACKOFF)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            other => break other,
        }
    };
    let finished = now_ms();
    let (status, verified, error) = match result {
        Ok(()) => (StepStatus::Succeeded, true, None),
        Err(error) => {
            let message = match error.status {
                Some(status) => format!("{} (upstream status {status})", error.message),
                None => error.message,
            };
            (StepStatus::Failed, false, Some(message))
        }
    };
    StepTiming {
        id: def.id.clone(),
        uses: def.uses.clone(),
        connector: def.connector().to_string(),
        status,
        started_at: Some(started),
        finished_at: Some(finished),
        duration_ms: Some((finished - started).max(0)),
        time_to_revoke_ms: None,
        verified,
        attempts: i64::from(attempts),
        error,
    }
}

/// One execute-then-verify attempt.
async fn attempt(
    registry: &Registry,
    def: &StepDef,
    identity: &Identity,
    run_id: &str,
    limit: Duration,
) -> Result<(), ConnectorError> {
    let (connector, spec) = registry.resolve(&def.uses).map_err(|reason| {
        ConnectorError::permanent(format!("action not available in this deployment: {reason}"))
    })?;
    let request = ActionRequest {
        action: spec.name.to_string(),
        params: def.with.clone(),
        identity: identity.clone(),
        run_id: run_id.to_string(),
        step_id: def.id.clone(),
    };
    timed(limit, "execute", connector.execute(&request)).await?;
    let verification = timed(limit, "verify", connector.verify(&request)).await?;
    if verification.verified {
        Ok(())
    } else {
        Err(ConnectorError::transient(format!(
            "verification failed: {}",
            verification.observation
        )))
    }
}

async fn timed<T>(
    limit: Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(ConnectorError::transient(format!(
            "{what} timed out after {}",
            crate::duration::format_duration(limit)
        )))
    })
}
