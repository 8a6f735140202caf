//! Deactivating the old AWS access key once the grace period after an automatic
//! rotation has passed: the `rotation-key-deactivations` cron job (every five minutes;
//! the scheduler fires it once across replicas). For each due key: `UpdateAccessKey
//! Status=Inactive`, then `ListAccessKeys` must show it Inactive; only then is it
//! `done`, with `rotation.key_deactivated` evidence (key ids, no secrets). A failure
//! is counted and kept (`last_error`) and retried at the next firing, with a warning.

use super::ACTOR;
use crate::config::Config;
use crate::scheduler::Job;
use crate::store::{now_ms, AppendEvidence, KeyDeactivation, Store};
use leaver_connector::ConnectorError;
use leaver_connector_aws_iam::AwsIamConnector;
use std::sync::Arc;

/// Default cron schedule of the job (`trail.auto_rotate.key_deactivation_schedule`).
pub const DEFAULT_SCHEDULE: &str = "*/5 * * * *";
/// Name of the job (one firing across replicas).
pub const JOB: &str = "rotation-key-deactivations";

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeactivationPass {
    pub deactivated: usize,
    pub failed: usize,
}

async fn deactivate_one(aws: &AwsIamConnector, d: &KeyDeactivation) -> Result<(), ConnectorError> {
    aws.deactivate_access_key(d.account.as_deref(), &d.iam_user, &d.access_key_id)
        .await?;
    let keys = aws
        .list_access_keys(d.account.as_deref(), &d.iam_user)
        .await?;
    match keys.iter().find(|k| k.access_key_id == d.access_key_id) {
        Some(k) if k.active => Err(ConnectorError::transient(format!(
            "ListAccessKeys({}) still shows {} as Active",
            d.iam_user, d.access_key_id
        ))),
        // Inactive, or deleted by someone since: either way it grants nothing.
        _ => Ok(()),
    }
}

/// Deactivate every old key due at `now`.
pub async fn deactivate_due_keys(
    store: &Store,
    aws: &AwsIamConnector,
    now: i64,
) -> Result<DeactivationPass, crate::store::StoreError> {
    let mut pass = DeactivationPass::default();
    for d in store.due_key_deactivations(now).await? {
        match deactivate_one(aws, &d).await {
            Ok(()) => {
                let evidence = AppendEvidence::new(
                    "rotation.key_deactivated",
                    ACTOR,
                    d.rotation_id.clone(),
                    serde_json::json!({
                        "rotation_id": d.rotation_id,
                        "iam_user": d.iam_user,
                        "account": d.account,
                        "access_key_id": d.access_key_id,
                        "new_access_key_id": d.new_access_key_id,
                        "due_at": crate::store::runs::ms_to_rfc3339(d.due_at),
                        "verified": true,
                    }),
                );
                if store.finish_key_deactivation(&d, now, &[evidence]).await? {
                    tracing::info!(rotation = %d.rotation_id, user = %d.iam_user, access_key_id = %d.access_key_id, "old access key deactivated");
                    pass.deactivated += 1;
                }
            }
            Err(error) => {
                tracing::warn!(rotation = %d.rotation_id, user = %d.iam_user, access_key_id = %d.access_key_id, error = %error.message, "deactivating an old access key failed");
                store.key_deactivation_failed(&d, &error.message).await?;
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// The cron job, when `[connectors.aws_iam]` is configured.
pub fn deactivation_job(store: &Store, config: &Config) -> anyhow::Result<Option<Job>> {
    let Some(aws) = crate::connectors::rotations_aws_iam(config)? else {
        return Ok(None);
    };
    let schedule = &config.trail.auto_rotate.key_deactivation_schedule;
    Ok(Some(job(store, aws, schedule)?))
}

fn job(store: &Store, aws: Arc<AwsIamConnector>, schedule: &str) -> anyhow::Result<Job> {
    let store = store.clone();
    Job::new(
        JOB,
        schedule,
        Arc::new(move |_fire_time| {
            let (store, aws) = (store.clone(), aws.clone());
            Box::pin(async move {
                deactivate_due_keys(&store, &aws, now_ms())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }),
    )
    .map_err(|e| anyhow::anyhow!("trail.auto_rotate.key_deactivation_schedule: {e}"))
}
