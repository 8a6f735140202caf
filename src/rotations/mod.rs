//! Secret rotations: the internal `trail` connector and its one action,
//! `trail.schedule_rotations`. It asks the audit-trail index (`trail::query`) which
//! secrets the run's identity read in the lookback window and schedules a rotation for
//! each: due by the secret's environment (`[[trail.environments]]` patterns, the step's
//! `due` map), owner from Vault KV v2 `custom_metadata.owner` when Vault can be read.
//! A secret that already has an open rotation is joined, not duplicated; every run that
//! asked is recorded. With `[trail.auto_rotate] vault_kv = true`, Vault KV v2 secrets
//! are rotated at once: a new version with a generated value for every key of the
//! current one, verified by the metadata's `current_version`, then marked done.
//! Generated values are never logged, stored or put in evidence: only version numbers.
//!
//! `trail` is a reporting connector (`dag::REPORTING_CONNECTORS`): scheduling a
//! rotation revokes nothing and the identity holds nothing through it.
//!
//! [`reminder_job`] is the cron job that reminds (and, past twice the due period,
//! escalates) overdue open rotations.

use crate::config::TrailConfig;
use crate::duration::parse_duration;
use crate::scheduler::Job;
use crate::store::{now_ms, AppendEvidence, RotationRow, Scheduled, Store};
use async_trait::async_trait;
use base64::Engine as _;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, Preview, Verification,
};
use leaver_connector_vault::kv::split_kv_path;
use leaver_connector_vault::VaultConnector;
use rand::RngCore;
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

/// A new secret value: 32 random bytes, URL-safe base64 without padding.
pub fn generate_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The `trail` connector.
pub struct TrailConnector {
    store: Option<Store>,
    config: TrailConfig,
    vault: Option<Arc<VaultConnector>>,
}

impl TrailConnector {
    /// Describes its action but cannot run it (plan validation).
    pub fn spec_only() -> Self {
        Self {
            store: None,
            config: TrailConfig::default(),
            vault: None,
        }
    }

    /// The connector over `store`, reading Vault KV metadata (and rotating KV v2 when
    /// configured) through `vault` when Vault is configured.
    pub fn new(store: Store, config: TrailConfig, vault: Option<Arc<VaultConnector>>) -> Self {
        Self {
            store: Some(store),
            config,
            vault,
        }
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

    /// Rotate a Vault KV v2 secret: new values for every key of the current version
    /// (check-and-set on it), then read the metadata back. Returns (from, to) versions.
    async fn rotate_vault_kv(
        &self,
        vault: &VaultConnector,
        secret: &str,
    ) -> Result<(u64, u64), ConnectorError> {
        let (mount, path) = split_kv_path(secret).ok_or_else(|| {
            ConnectorError::permanent(format!("{secret} is not a KV v2 path (mount/key)"))
        })?;
        let (from, keys) = vault.kv_keys(&mount, &path).await?.ok_or_else(|| {
            ConnectorError::permanent(format!("{secret}: no readable current version"))
        })?;
        if keys.is_empty() {
            return Err(ConnectorError::permanent(format!(
                "{secret}: the current version has no keys to rotate"
            )));
        }
        let data = keys
            .into_iter()
            .map(|k| (k, serde_json::Value::String(generate_value())))
            .collect();
        let written = vault.kv_write(&mount, &path, data, from).await?;
        let now = vault
            .kv_metadata(&mount, &path)
            .await?
            .map(|m| m.current_version)
            .unwrap_or(0);
        if now <= from || now < written {
            return Err(ConnectorError::transient(format!(
                "{secret}: wrote version {written} but the metadata's current_version is {now}"
            )));
        }
        Ok((from, now))
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
             (from the audit-trail index), due by environment; Vault KV v2 secrets are \
             rotated automatically when [trail.auto_rotate] vault_kv = true",
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
            let auto = metadata.is_some() && self.config.auto_rotate.vault_kv;
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
            };
            let outcome = store
                .schedule_rotation(&row, |outcome| {
                    let (kind, row) = match outcome {
                        Scheduled::Created(r) => ("rotation.scheduled", r),
                        Scheduled::Joined(r) => ("rotation.joined", r),
                    };
                    vec![AppendEvidence::new(
                        kind,
                        ACTOR,
                        row.id.clone(),
                        serde_json::json!({
                            "rotation_id": row.id,
                            "source": row.source,
                            "secret": row.secret,
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
            if auto && label == "created" {
                let vault = self.vault.as_ref().expect("auto implies vault");
                match self.rotate_vault_kv(vault, &row.secret).await {
                    Ok((from, to)) => {
                        let reason = format!("rotated automatically: version {from} → {to}");
                        let evidence = AppendEvidence::new(
                            "rotation.completed",
                            ACTOR,
                            row.id.clone(),
                            serde_json::json!({
                                "rotation_id": row.id,
                                "source": row.source,
                                "secret": row.secret,
                                "auto": true,
                                "from_version": from,
                                "to_version": to,
                                "verified": true,
                                "run_id": request.run_id,
                            }),
                        );
                        if store
                            .end_rotation(&row.id, "done", ACTOR, &reason, true, &[evidence])
                            .await
                            .map_err(store_error)?
                        {
                            rotated += 1;
                            row.status = "done".into();
                            row.completed_by = Some(ACTOR.into());
                            row.reason = Some(reason);
                        }
                    }
                    Err(error) => {
                        // Left open for a person; the reminder job keeps asking.
                        tracing::warn!(secret = %row.secret, error = %error.message, "automatic rotation failed");
                        notes.push(format!(
                            "automatic rotation of {} failed: {}",
                            row.secret, error.message
                        ));
                    }
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
        let evidence = AppendEvidence::new(
            "rotation.reminder",
            ACTOR,
            rotation.id.clone(),
            serde_json::json!({
                "rotation_id": rotation.id,
                "source": rotation.source,
                "secret": rotation.secret,
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

    #[test]
    fn generated_values_are_url_safe_and_distinct() {
        let (a, b) = (generate_value(), generate_value());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
