//! Secret rotations: the internal `trail` connector and its one action,
//! `trail.schedule_rotations`. It asks the audit-trail index (`trail::query`) which
//! secrets the run's identity read in the lookback window and schedules a rotation for
//! each: due by the secret's environment (`[[trail.environments]]` patterns, the step's
//! `due` map), owner from Vault KV v2 `custom_metadata.owner` when Vault can be read.
//! A secret that already has an open rotation is joined, not duplicated; every run that
//! asked is recorded. With `[trail.auto_rotate]`, Vault KV v2 secrets are rotated at
//! once ([`auto`]): generated values ([`generator`]), an IAM service user's access key
//! (old key deactivated after a grace period by [`keys`]), mirrored into GitHub Actions
//! secrets ([`mirror`]); each verified, then marked done — or left open with
//! `rotation.auto_failed`. Values are never logged, stored or put in evidence: only
//! version numbers and key ids.
//!
//! `trail` is a reporting connector (`dag::REPORTING_CONNECTORS`): scheduling a
//! rotation revokes nothing and the identity holds nothing through it.
//!
//! [`reminder_job`] is the cron job that reminds (and, past twice the due period,
//! escalates) overdue open rotations.

pub mod auto;
pub mod generator;
pub mod keys;
pub mod mirror;

use crate::config::TrailConfig;
use crate::duration::parse_duration;
use crate::scheduler::Job;
use crate::store::{now_ms, AppendEvidence, KeyDeactivation, RotationRow, Scheduled, Store};
use async_trait::async_trait;
use auto::{
    AutoAttempt, AutoDone, AutoFailed, AutoRotator, AutoSettings, Journal, Recovery,
    RotationClients,
};
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, Preview, Verification,
};
use leaver_connector_vault::kv::split_kv_path;
use leaver_connector_vault::VaultConnector;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who appears in evidence for what the connector does on its own.
pub const ACTOR: &str = "trail";

/// `with:` of `trail.schedule_rotations`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleParams {
    /// How far back to look for reads (`90d`).
    #[serde(default = "default_lookback")]
    pub lookback: String,
    /// Due period by environment name (`production: 24h`); `default` for the rest
    /// (itself defaulting to 7d).
    #[serde(default)]
    pub due: BTreeMap<String, String>,
}

fn default_lookback() -> String {
    "90d".into()
}

const DEFAULT_DUE: &str = "7d";

/// `*` matches any run of characters (`/` and `:` included); everything else literally.
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The environment of a secret: the first `[[trail.environments]]` with a matching
/// pattern, else `default`.
pub fn environment_of(config: &TrailConfig, secret: &str) -> String {
    config
        .environments
        .iter()
        .find(|env| env.patterns.iter().any(|p| pattern_matches(p, secret)))
        .map(|env| env.name.clone())
        .unwrap_or_else(|| "default".into())
}

/// The `trail` connector.
pub struct TrailConnector {
    store: Option<Store>,
    config: TrailConfig,
    vault: Option<Arc<VaultConnector>>,
    rotator: Option<AutoRotator>,
}

impl TrailConnector {
    /// Describes its action but cannot run it (plan validation).
    pub fn spec_only() -> Self {
        Self {
            store: None,
            config: TrailConfig::default(),
            vault: None,
            rotator: None,
        }
    }

    /// The connector over `store`, reading Vault KV metadata through `clients.vault`
    /// and rotating automatically as `[trail.auto_rotate]` says (validated here).
    pub fn new(
        store: Store,
        config: TrailConfig,
        clients: RotationClients,
    ) -> Result<Self, String> {
        let settings = AutoSettings::from_config(&config.auto_rotate)?;
        Ok(Self {
            store: Some(store),
            vault: clients.vault.clone(),
            rotator: Some(AutoRotator::new(settings, clients)),
            config,
        })
    }

    fn auto_enabled(&self) -> bool {
        self.rotator.as_ref().is_some_and(|r| {
            let s = r.settings();
            s.vault_kv || s.aws_iam_keys || s.github_actions
        })
    }

    fn store(&self) -> Result<&Store, ConnectorError> {
        self.store.as_ref().ok_or_else(|| {
            ConnectorError::permanent("the trail connector is not set up to run steps")
        })
    }

    fn due_for(&self, params: &ScheduleParams, environment: &str) -> Result<i64, ConnectorError> {
        let text = params
            .due
            .get(environment)
            .or_else(|| params.due.get("default"))
            .map(String::as_str)
            .unwrap_or(DEFAULT_DUE);
        parse_duration(text)
            .map(|d| d.as_millis() as i64)
            .map_err(|e| ConnectorError::permanent(format!("due.{environment}: {e}")))
    }

    /// Record an automatic rotation's outcome: `done` with `rotation.completed` (and
    /// the old AWS key's deactivation scheduled), or still open with the failure in
    /// `reason` and `rotation.auto_failed`. True when it is done.
    async fn finish_auto(
        &self,
        store: &Store,
        row: &mut RotationRow,
        result: Result<AutoDone, AutoFailed>,
        settings: &AutoSettings,
        run_id: &str,
        notes: &mut Vec<String>,
    ) -> Result<bool, ConnectorError> {
        let now = now_ms();
        match result {
            Ok(done) => {
                let reason = format!(
                    "rotated automatically ({}): version {} → {}{}{}",
                    done.kind,
                    done.from_version,
                    done.to_version,
                    if done.github.is_empty() {
                        String::new()
                    } else {
                        format!(", {} GitHub Actions secret(s) updated", done.github.len())
                    },
                    if done.recovered {
                        "; finished after an interrupted attempt"
                    } else if !done.interrupted.is_empty() {
                        "; after cleaning up an interrupted attempt"
                    } else {
                        ""
                    }
                );
                let deactivation = done.aws.as_ref().and_then(|aws| {
                    let old = aws.old_access_key_id.clone()?;
                    (old != aws.new_access_key_id).then(|| KeyDeactivation {
                        rotation_id: row.id.clone(),
                        account: aws.account.clone(),
                        iam_user: aws.user.clone(),
                        access_key_id: old,
                        new_access_key_id: aws.new_access_key_id.clone(),
                        due_at: now.saturating_add(settings.aws_key_grace_ms),
                        status: "pending".into(),
                        attempts: 0,
                        last_error: None,
                        deactivated_at: None,
                        created_at: now,
                    })
                });
                let evidence = rotation_evidence(
                    "rotation.completed",
                    row,
                    serde_json::json!({
                        "auto": true,
                        "method": done.kind,
                        "from_version": done.from_version,
                        "to_version": done.to_version,
                        "generator": done.generator,
                        "aws": done.aws,
                        "old_key_deactivate_after": deactivation
                            .as_ref()
                            .map(|d| crate::store::runs::ms_to_rfc3339(d.due_at)),
                        "github": done.github,
                        "recovered": done.recovered,
                        "interrupted": done.interrupted,
                        "verified": true,
                        "run_id": run_id,
                    }),
                );
                let ended = store
                    .complete_auto_rotation(
                        &row.id,
                        ACTOR,
                        &reason,
                        deactivation.as_ref(),
                        &[evidence],
                    )
                    .await
                    .map_err(store_error)?;
                if ended {
                    row.status = "done".into();
                    row.completed_by = Some(ACTOR.into());
                    row.reason = Some(reason);
                }
                Ok(ended)
            }
            Err(failed) => {
                // Left open for a person; the reminder job keeps asking.
                tracing::warn!(secret = %row.secret, stage = failed.stage, error = %failed.message, "automatic rotation failed");
                let reason = format!(
                    "automatic rotation failed ({}): {}",
                    failed.stage, failed.message
                );
                let evidence = rotation_evidence(
                    "rotation.auto_failed",
                    row,
                    serde_json::json!({
                        "stage": failed.stage,
                        "message": failed.message,
                        "already_changed": failed.changed,
                        "run_id": run_id,
                    }),
                );
                store
                    .record_auto_rotation_failure(&row.id, &reason, &[evidence])
                    .await
                    .map_err(store_error)?;
                notes.push(format!(
                    "automatic rotation of {} failed: {}",
                    row.secret, failed.message
                ));
                row.reason = Some(reason);
                Ok(false)
            }
        }
    }

    fn view(row: &RotationRow, outcome: &str) -> serde_json::Value {
        serde_json::json!({
            "id": row.id,
            "outcome": outcome,
            "source": row.source,
            "secret": row.secret,
            "environment": row.environment,
            "owner": row.owner,
            "due_at": crate::store::runs::ms_to_rfc3339(row.due_at),
            "status": row.status,
            "auto": row.auto,
        })
    }
}

/// How long an automatic rotation's journal keeps other runs from taking it over: far
/// longer than a rotation takes (a few calls, each with its timeout).
const ATTEMPT_STALE_MS: i64 = 15 * 60 * 1000;

/// The automatic rotation due for `row`, if any: a new rotation is rotated; an open
/// one whose journal shows an interrupted attempt — by this run (its step is being
/// executed again, so the earlier execution is gone) or long ago — is finished from
/// what Vault and AWS show, or rotated afresh when the attempt changed nothing.
async fn rotate_or_recover(
    store: &Store,
    rotator: &AutoRotator,
    method: &auto::Method,
    meta: &leaver_connector_vault::kv::KvMetadata,
    row: &RotationRow,
    label: &str,
    run_id: &str,
) -> Option<Result<AutoDone, AutoFailed>> {
    let journal = StoreJournal {
        store: store.clone(),
        rotation_id: row.id.clone(),
    };
    let fresh = || AutoAttempt {
        run_id: run_id.to_string(),
        started_at: now_ms(),
        ..AutoAttempt::default()
    };
    let rotate_afresh = || {
        rotator.rotate(
            &row.secret,
            &meta.custom_metadata,
            method,
            fresh(),
            &journal,
        )
    };
    if label == "created" {
        return Some(rotate_afresh().await);
    }
    let text = row.auto_attempt.as_deref()?;
    let attempt = match serde_json::from_str::<AutoAttempt>(text) {
        Ok(attempt) => attempt,
        Err(error) => {
            return Some(Err(AutoFailed::new(
                "recover",
                format!("the journal of an interrupted automatic rotation is unreadable: {error}"),
            )))
        }
    };
    if attempt.run_id != run_id && now_ms() - attempt.started_at < ATTEMPT_STALE_MS {
        // Another run's attempt, perhaps still under way: leave it to that run.
        return None;
    }
    tracing::warn!(secret = %row.secret, from_version = attempt.from_version, "finishing an interrupted automatic rotation");
    Some(
        match rotator
            .recover(&row.secret, &meta.custom_metadata, method, &attempt)
            .await
        {
            Ok(Recovery::Done(done)) => Ok(done),
            Ok(Recovery::NotWritten(cleaned)) => rotate_afresh().await.map(|mut done| {
                done.interrupted = cleaned;
                done
            }),
            Err(failed) => Err(failed),
        },
    )
}

/// The rotation's `auto_attempt` column as the journal of its automatic rotation.
struct StoreJournal {
    store: Store,
    rotation_id: String,
}

#[async_trait]
impl Journal for StoreJournal {
    async fn record(&self, attempt: &AutoAttempt) -> Result<(), String> {
        let text = serde_json::to_string(attempt).map_err(|e| e.to_string())?;
        match self
            .store
            .set_auto_attempt(&self.rotation_id, Some(&text))
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err("the rotation is no longer open".into()),
            Err(error) => Err(format!("journaling the attempt: {error}")),
        }
    }
}

/// Evidence by the trail connector about a rotation: `details` (an object) with the
/// rotation's id, source and secret.
fn rotation_evidence(kind: &str, row: &RotationRow, details: serde_json::Value) -> AppendEvidence {
    let mut payload = match details {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    payload.insert("rotation_id".into(), row.id.clone().into());
    payload.insert("source".into(), row.source.clone().into());
    payload.insert("secret".into(), row.secret.clone().into());
    AppendEvidence::new(
        kind,
        ACTOR,
        row.id.clone(),
        serde_json::Value::Object(payload),
    )
}

fn store_error(e: crate::store::StoreError) -> ConnectorError {
    ConnectorError::transient(format!("rotations: {e}"))
}

#[async_trait]
impl Connector for TrailConnector {
    fn name(&self) -> &'static str {
        "trail"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![typed_action::<ScheduleParams>(
            "schedule_rotations",
            "Schedule a rotation of every secret the identity read in the lookback window \
             (from the audit-trail index), due by environment; Vault KV v2 secrets (and the \
             IAM keys and GitHub Actions secrets they name) are rotated automatically as \
             [trail.auto_rotate] allows",
        )]
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let params: ScheduleParams =
            parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.to_string()))?;
        let store = self.store()?;
        let lookback = parse_duration(&params.lookback)
            .map_err(|e| ConnectorError::permanent(format!("lookback: {e}")))?;
        for env in params.due.keys() {
            self.due_for(&params, env)?;
        }
        let now = now_ms();
        let since = now - lookback.as_millis() as i64;
        let email = request.identity.email.trim().to_lowercase();
        let report = crate::trail::secret_access(store, &email, since)
            .await
            .map_err(|e| ConnectorError::transient(format!("querying the audit trail: {e}")))?;
        let mut views = Vec::new();
        let mut notes = Vec::new();
        let (mut created, mut joined, mut rotated) = (0, 0, 0);
        for access in &report.secrets {
            // Only reads of values: listing names and denied attempts need no rotation.
            if access.count == 0 || access.operations.iter().all(|op| *op == "list") {
                continue;
            }
            if let Some(row) = store
                .rotation_for_run(&request.run_id, &access.source, &access.secret)
                .await
                .map_err(store_error)?
            {
                views.push(Self::view(&row, "already_scheduled"));
                continue;
            }
            let environment = environment_of(&self.config, &access.secret);
            let due = self.due_for(&params, &environment)?;
            let metadata = match (&self.vault, access.source.as_str()) {
                (Some(vault), "vault") => match split_kv_path(&access.secret) {
                    Some((mount, path)) => vault.kv_metadata(&mount, &path).await?,
                    None => None,
                },
                _ => None,
            };
            let method = match (&metadata, &self.rotator) {
                (Some(m), Some(rotator)) => match rotator.method(&m.custom_metadata) {
                    Ok(method) => Some(method),
                    Err(why) => {
                        if self.auto_enabled() {
                            notes.push(format!("{} is left for a person: {why}", access.secret));
                        }
                        None
                    }
                },
                _ => None,
            };
            let auto = method.is_some();
            let row = RotationRow {
                id: uuid::Uuid::new_v4().to_string(),
                source: access.source.clone(),
                secret: access.secret.clone(),
                environment,
                owner: metadata
                    .as_ref()
                    .and_then(|m| m.custom_metadata.get("owner").cloned()),
                run_id: request.run_id.clone(),
                identity: email.clone(),
                due_at: now + due,
                status: "open".into(),
                completed_by: None,
                reason: None,
                auto,
                escalated: false,
                last_reminded_at: None,
                created_at: now,
                updated_at: now,
                auto_attempt: None,
            };
            let outcome = store
                .schedule_rotation(&row, |outcome| {
                    let (kind, row) = match outcome {
                        Scheduled::Created(r) => ("rotation.scheduled", r),
                        Scheduled::Joined(r) => ("rotation.joined", r),
                    };
                    vec![rotation_evidence(
                        kind,
                        row,
                        serde_json::json!({
                            "environment": row.environment,
                            "owner": row.owner,
                            "due_at": crate::store::runs::ms_to_rfc3339(row.due_at),
                            "auto": row.auto,
                            "run_id": request.run_id,
                            "identity": email,
                        }),
                    )]
                })
                .await
                .map_err(store_error)?;
            let (mut row, label) = match outcome {
                Scheduled::Created(r) => {
                    created += 1;
                    (r, "created")
                }
                Scheduled::Joined(r) => {
                    joined += 1;
                    (r, "joined")
                }
            };
            let attempt = match (&method, &self.rotator, &metadata) {
                (Some(method), Some(rotator), Some(meta)) => {
                    rotate_or_recover(store, rotator, method, meta, &row, label, &request.run_id)
                        .await
                }
                _ => None,
            };
            if let (Some(result), Some(rotator)) = (attempt, &self.rotator) {
                if self
                    .finish_auto(
                        store,
                        &mut row,
                        result,
                        rotator.settings(),
                        &request.run_id,
                        &mut notes,
                    )
                    .await?
                {
                    rotated += 1;
                }
            }
            views.push(Self::view(&row, label));
        }
        let summary = format!(
            "{} secret(s) read since {}: {created} rotation(s) scheduled, {joined} joined an open one, {rotated} rotated automatically",
            views.len(),
            report.since
        );
        let details = serde_json::json!({
            "since": report.since,
            "rotations": views,
            "notes": notes,
        });
        Ok(if created + joined > 0 {
            ActionOutcome::changed(summary)
        } else {
            ActionOutcome::unchanged(summary)
        }
        .with_details(details))
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let store = self.store()?;
        let rows = store
            .rotations_for_run(&request.run_id)
            .await
            .map_err(store_error)?;
        let open = rows.iter().filter(|r| r.status == "open").count();
        Ok(Verification::gone(format!(
            "{} rotation(s) recorded for this run ({open} open)",
            rows.len()
        )))
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let params: ScheduleParams =
            parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.to_string()))?;
        let mut notes = vec![format!(
            "would schedule a rotation of every secret {} read in the last {}",
            request.identity.email, params.lookback
        )];
        if let (Some(store), Ok(lookback)) = (&self.store, parse_duration(&params.lookback)) {
            let since = now_ms() - lookback.as_millis() as i64;
            if let Ok(report) =
                crate::trail::secret_access(store, &request.identity.email, since).await
            {
                for access in &report.secrets {
                    notes.push(format!(
                        "would rotate {} ({}, {})",
                        access.secret,
                        access.source,
                        environment_of(&self.config, &access.secret)
                    ));
                }
            }
        }
        Ok(Preview {
            would_revoke: Vec::new(),
            notes,
        })
    }

    async fn inventory(
        &self,
        _identity: &Identity,
        _scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        Ok(Vec::new())
    }
}

/// Remind about overdue open rotations: one `rotation.reminder` per rotation per
/// firing; `escalated` is set (and the reminder says so) once a rotation is overdue by
/// more than its due period. Returns how many were reminded.
pub async fn remind_overdue(store: &Store, now: i64) -> Result<usize, crate::store::StoreError> {
    let mut reminded = 0;
    for rotation in store.overdue_rotations(now).await? {
        let period = (rotation.due_at - rotation.created_at).max(0);
        let overdue = now - rotation.due_at;
        let escalate = overdue > period;
        let evidence = rotation_evidence(
            "rotation.reminder",
            &rotation,
            serde_json::json!({
                "owner": rotation.owner,
                "due_at": crate::store::runs::ms_to_rfc3339(rotation.due_at),
                "overdue_ms": overdue,
                "escalated": escalate,
            }),
        );
        if store
            .remind_rotation(&rotation, escalate, now, &[evidence])
            .await?
        {
            tracing::warn!(rotation = %rotation.id, secret = %rotation.secret, owner = ?rotation.owner, escalated = escalate, "rotation overdue");
            reminded += 1;
        }
    }
    Ok(reminded)
}

/// The cron job of [`remind_overdue`] (`trail.rotation_reminder_schedule`).
pub fn reminder_job(store: &Store, config: &TrailConfig) -> anyhow::Result<Job> {
    let store = store.clone();
    Job::new(
        "rotation-reminders",
        &config.rotation_reminder_schedule,
        Arc::new(move |_fire_time| {
            let store = store.clone();
            Box::pin(async move {
                remind_overdue(&store, now_ms())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }),
    )
    .map_err(|e| anyhow::anyhow!("trail.rotation_reminder_schedule: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrailEnvironment;

    #[test]
    fn patterns_match_paths_and_arns() {
        assert!(pattern_matches("secret/prod/*", "secret/prod/payments/db"));
        assert!(!pattern_matches("secret/prod/*", "secret/dev/db"));
        assert!(pattern_matches(
            "arn:aws:secretsmanager:*:*:secret:prod/*",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/stripe-AbCdEf"
        ));
        assert!(!pattern_matches("a*b*c", "acb"));
        assert!(pattern_matches("exact", "exact"));
    }

    #[test]
    fn environments_fall_back_to_default() {
        let mut config = TrailConfig::default();
        config.environments.push(TrailEnvironment {
            name: "production".into(),
            patterns: vec!["secret/prod/*".into()],
        });
        assert_eq!(environment_of(&config, "secret/prod/x"), "production");
        assert_eq!(environment_of(&config, "secret/dev/x"), "default");
    }
}
