//! Running one claimed step against its connector: execute, then the verification
//! probe (or, in a dry run, a preview), and the residual-access sweep that ends a run.
//! The result is a `StepFinish` for the store; nothing here writes to the database.

use super::backoff::retry_delay;
use super::EngineShared;
use crate::domain::{Mode, SWEEP_STEP_ID};
use crate::store::{now_ms, AppendEvidence, ClaimedStep, StepFinish};
use leaver_connector::{ActionRequest, CallRetry, ConnectorError, Holding};
use std::collections::BTreeMap;
use std::time::Duration;

/// Execute (or preview) and verify one claimed step.
pub(crate) async fn run_step(shared: &EngineShared, claimed: &ClaimedStep) -> StepFinish {
    if claimed.step.step_id == SWEEP_STEP_ID {
        return sweep(shared, claimed).await;
    }
    let step = &claimed.step;
    let (connector, spec) = match shared.registry.resolve(&step.uses) {
        Ok(found) => found,
        Err(reason) => {
            return failed(
                shared,
                claimed,
                ConnectorError::permanent(format!(
                    "action not available in this deployment: {reason}"
                )),
            )
        }
    };
    let request = ActionRequest {
        action: spec.name.to_string(),
        params: step.params.clone(),
        identity: claimed.run.identity.clone(),
        run_id: step.run_id.clone(),
        step_id: step.step_id.clone(),
    };
    let limit = Duration::from_millis(step.timeout_ms.max(1) as u64);
    let _permit = shared.connector_permit(&step.connector).await;
    let actor = shared.worker_id.as_str();

    if claimed.run.mode == Mode::DryRun {
        return match with_timeout(limit, "preview", connector.preview(&request)).await {
            Ok(preview) => {
                shared.metrics.record_attempt(&step.connector, "succeeded");
                let outcome = serde_json::to_value(&preview).unwrap_or_default();
                StepFinish::Succeeded {
                    evidence: vec![AppendEvidence::new(
                        "step.preview",
                        actor,
                        &step.run_id,
                        serde_json::json!({"step": step.step_id, "uses": step.uses, "preview": outcome}),
                    )],
                    outcome,
                    verified: false,
                    residual: None,
                }
            }
            Err(error) => failure(shared, claimed, error, Vec::new()),
        };
    }

    let outcome = match with_timeout(limit, "execute", connector.execute(&request)).await {
        Ok(outcome) => outcome,
        Err(error) => return failure(shared, claimed, error, Vec::new()),
    };
    let mut evidence = vec![AppendEvidence::new(
        "step.result",
        actor,
        &step.run_id,
        serde_json::json!({
            "step": step.step_id,
            "uses": step.uses,
            "attempt": step.attempts,
            "changed": outcome.changed,
            "summary": outcome.summary,
            "details": outcome.details,
            "skipped": outcome.skipped,
        }),
    )];
    match with_timeout(limit, "verify", connector.verify(&request)).await {
        Ok(verification) => {
            evidence.push(AppendEvidence::new(
                "step.verification",
                actor,
                &step.run_id,
                serde_json::json!({
                    "step": step.step_id,
                    "verified": verification.verified,
                    "observation": verification.observation,
                }),
            ));
            if verification.verified {
                shared.metrics.record_attempt(&step.connector, "succeeded");
                StepFinish::Succeeded {
                    outcome: serde_json::to_value(&outcome).unwrap_or_default(),
                    verified: true,
                    evidence,
                    residual: None,
                }
            } else {
                // The access is still there: retry the (idempotent) action.
                let error = ConnectorError::transient(format!(
                    "verification failed: {}",
                    verification.observation
                ));
                failure(shared, claimed, error, evidence)
            }
        }
        Err(error) => failure(shared, claimed, error, evidence),
    }
}

async fn with_timeout<T>(
    limit: Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(ConnectorError::transient(format!(
            "{what} timed out after {}",
            crate::duration::format_duration(limit)
        ))),
    }
}

fn failed(shared: &EngineShared, claimed: &ClaimedStep, error: ConnectorError) -> StepFinish {
    failure(shared, claimed, error, Vec::new())
}

/// A failed attempt: retried later if transient and attempts remain, else final.
fn failure(
    shared: &EngineShared,
    claimed: &ClaimedStep,
    error: ConnectorError,
    mut evidence: Vec<AppendEvidence>,
) -> StepFinish {
    let step = &claimed.step;
    let class = error.class.as_str().to_string();
    shared.metrics.record_failure(&step.connector, &class);
    evidence.push(AppendEvidence::new(
        "step.error",
        shared.worker_id.as_str(),
        &step.run_id,
        serde_json::json!({
            "step": step.step_id,
            "attempt": step.attempts,
            "class": class,
            "status": error.status,
            "message": error.message,
            "retry_after_ms": error.retry_after.map(|d| d.as_millis() as u64),
        }),
    ));
    let message = match error.status {
        Some(status) => format!("{} (upstream status {status})", error.message),
        None => error.message.clone(),
    };
    if error.is_transient() && step.attempts < step.max_attempts {
        shared.metrics.record_attempt(&step.connector, "retry");
        let delay = retry_delay(
            step.attempts,
            Duration::from_millis(step.initial_backoff_ms.max(0) as u64),
            Duration::from_millis(step.max_backoff_ms.max(0) as u64),
            error.retry_after,
            &mut rand::thread_rng(),
        );
        StepFinish::Retry {
            next_attempt_at: now_ms().saturating_add(delay.as_millis() as i64),
            error: message,
            error_class: class,
            evidence,
        }
    } else {
        shared.metrics.record_attempt(&step.connector, "failed");
        let message = if error.is_transient() {
            format!("{message}; gave up after {} attempts", step.attempts)
        } else {
            message
        };
        StepFinish::Failed {
            error: message,
            error_class: class,
            evidence,
        }
    }
}

/// Tries of one connector's inventory within one sweep attempt. The sweep asks every
/// connector in turn and fails as a whole when one cannot answer, so against flaky
/// upstreams (each inventory is several calls) retrying the whole sweep would rarely
/// see every connector answer in the same attempt: each connector gets its own short
/// retries first, with the policy connectors use for single calls.
const INVENTORY_RETRY: CallRetry = CallRetry {
    tries: 4,
    initial: Duration::from_millis(200),
    max_wait: Duration::from_secs(5),
};

/// One connector's inventory, retried on transient errors per [`INVENTORY_RETRY`], all
/// within `limit`.
async fn inventory_with_retries<F, Fut>(
    limit: Duration,
    mut inventory: F,
) -> Result<Vec<Holding>, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Holding>, ConnectorError>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut tried = 1;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let error = match with_timeout(left, "inventory", inventory()).await {
            Ok(found) => return Ok(found),
            Err(error) => error,
        };
        let wait = error
            .is_transient()
            .then(|| INVENTORY_RETRY.wait(tried, error.retry_after))
            .flatten()
            .filter(|wait| tokio::time::Instant::now() + *wait < deadline);
        let Some(wait) = wait else {
            return Err(error);
        };
        tokio::time::sleep(wait).await;
        tried += 1;
    }
}

/// Ask every connector the plan touched what the identity still holds there.
async fn sweep(shared: &EngineShared, claimed: &ClaimedStep) -> StepFinish {
    let run = &claimed.run;
    let steps = match shared.store.steps_for_run(&run.id).await {
        Ok(steps) => steps,
        Err(error) => {
            return failed(
                shared,
                claimed,
                ConnectorError::transient(error.to_string()),
            )
        }
    };
    let mut scopes: BTreeMap<String, Vec<ActionRequest>> = BTreeMap::new();
    for step in steps.iter().filter(|s| s.step_id != SWEEP_STEP_ID) {
        let action = step
            .uses
            .split_once('.')
            .map(|(_, a)| a)
            .unwrap_or_default();
        scopes
            .entry(step.connector.clone())
            .or_default()
            .push(ActionRequest {
                action: action.to_string(),
                params: step.params.clone(),
                identity: run.identity.clone(),
                run_id: run.id.clone(),
                step_id: step.step_id.clone(),
            });
    }
    let limit = Duration::from_millis(claimed.step.timeout_ms.max(1) as u64);
    let mut holdings: Vec<Holding> = Vec::new();
    let mut checked = Vec::new();
    let mut unchecked = Vec::new();
    for (name, scope) in &scopes {
        let Some(connector) = shared.registry.get(name) else {
            unchecked
                .push(serde_json::json!({"connector": name, "error": "connector not configured"}));
            continue;
        };
        match inventory_with_retries(limit, || connector.inventory(&run.identity, scope)).await {
            Ok(found) => {
                checked.push(name.clone());
                holdings.extend(found);
            }
            Err(error)
                if error.is_transient() && claimed.step.attempts < claimed.step.max_attempts =>
            {
                return failure(shared, claimed, error, Vec::new());
            }
            Err(error) => {
                unchecked.push(serde_json::json!({"connector": name, "error": error.message}));
            }
        }
    }
    holdings.sort();
    holdings.dedup();
    let residual = serde_json::to_value(&holdings).unwrap_or_default();
    let evidence = vec![AppendEvidence::new(
        "run.residual_access",
        shared.worker_id.as_str(),
        &run.id,
        serde_json::json!({
            "holdings": residual,
            "connectors_checked": checked,
            "connectors_unchecked": unchecked,
        }),
    )];
    let outcome = serde_json::json!({
        "holdings": residual,
        "connectors_checked": checked,
        "connectors_unchecked": unchecked,
    });
    if unchecked.is_empty() {
        shared.metrics.record_attempt("leaver", "succeeded");
        StepFinish::Succeeded {
            verified: holdings.is_empty(),
            outcome,
            evidence,
            residual: Some(residual),
        }
    } else {
        shared.metrics.record_attempt("leaver", "failed");
        StepFinish::Failed {
            error: format!(
                "residual-access sweep incomplete: {} connector(s) could not be checked",
                unchecked.len()
            ),
            error_class: "permanent".into(),
            evidence,
        }
    }
}
