//! Users provisioned through the SCIM server: the stored resource, optimistic
//! versioning (`version`, the ETag), userName uniqueness, and the pending intake event
//! a deactivation, reactivation or deletion leaves until intake has handled it.

use super::{now_ms, AppendEvidence, Context, Store, StoreError};
use crate::domain::{RunStatus, StepStatus};
use sqlx::{any::AnyRow, Row};

/// One stored SCIM user (live, or deleted with an event still pending).
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUserRecord {
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    /// False only when the resource says `"active": false`.
    pub active: bool,
    /// The resource's attributes (core and extension), without `id` and `meta`.
    pub resource: serde_json::Value,
    /// Bumped by every write: the resource's version (ETag).
    pub version: i64,
    /// How many times the user went from active to inactive.
    pub deactivations: i64,
    /// A transition committed but not yet handled by intake (JSON).
    pub pending_event: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// The fields a create or an update writes.
#[derive(Debug, Clone)]
pub struct ScimUserWrite {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub resource: serde_json::Value,
    pub deactivations: i64,
    pub pending_event: Option<String>,
}

/// Which live users a listing reads: all of them, or those an indexed equality
/// (from the request's filter) narrows it to. The filter itself is applied by the
/// caller to what this returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimUserScope {
    All,
    /// userName, compared without case.
    UserName(String),
    ExternalId(String),
    Id(String),
}

/// What cancelling the runs of a deactivation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScimCancellation {
    /// Runs still scheduled (pending, effective later): now cancelled.
    pub cancelled: Vec<String>,
    /// Runs already in effect (or ended): left alone.
    pub left: Vec<String>,
}

const COLUMNS: &str = "id, user_name, external_id, active, resource, version, deactivations, \
                       pending_event, created_at, updated_at, deleted_at";

fn corrupt(message: String) -> StoreError {
    StoreError::Corrupt {
        table: "scim_users",
        message,
    }
}

fn user_from_row(row: &AnyRow) -> Result<ScimUserRecord, StoreError> {
    let resource: String = row.try_get("resource").context("reading a SCIM user")?;
    let active: i64 = row.try_get("active").context("reading a SCIM user")?;
    Ok(ScimUserRecord {
        id: row.try_get("id").context("reading a SCIM user")?,
        user_name: row.try_get("user_name").context("reading a SCIM user")?,
        external_id: row.try_get("external_id").context("reading a SCIM user")?,
        active: active != 0,
        resource: serde_json::from_str(&resource).map_err(|e| corrupt(format!("resource: {e}")))?,
        version: row.try_get("version").context("reading a SCIM user")?,
        deactivations: row
            .try_get("deactivations")
            .context("reading a SCIM user")?,
        pending_event: row
            .try_get("pending_event")
            .context("reading a SCIM user")?,
        created_at: row.try_get("created_at").context("reading a SCIM user")?,
        updated_at: row.try_get("updated_at").context("reading a SCIM user")?,
        deleted_at: row.try_get("deleted_at").context("reading a SCIM user")?,
    })
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn taken(user_name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "userName `{user_name}` is already taken by another user"
    ))
}

/// The key userName uniqueness and lookups use.
pub fn user_name_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// `WHERE` clause (live users only) and its one bound value for a scope.
fn scope_clause(scope: &ScimUserScope) -> (&'static str, Option<String>) {
    match scope {
        ScimUserScope::All => ("deleted_at IS NULL", None),
        ScimUserScope::UserName(name) => (
            "deleted_at IS NULL AND user_name_key = $1",
            Some(user_name_key(name)),
        ),
        ScimUserScope::ExternalId(id) => {
            ("deleted_at IS NULL AND external_id = $1", Some(id.clone()))
        }
        ScimUserScope::Id(id) => ("deleted_at IS NULL AND id = $1", Some(id.clone())),
    }
}

impl Store {
    /// A user by id, deleted ones (with an event pending) included.
    pub async fn scim_user(&self, id: &str) -> Result<Option<ScimUserRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM scim_users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a SCIM user")?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Create a user; `StoreError::Conflict` when its userName is taken.
    pub async fn scim_insert_user(
        &self,
        id: &str,
        user: &ScimUserWrite,
    ) -> Result<ScimUserRecord, StoreError> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO scim_users (id, user_name, user_name_key, external_id, active, resource, \
             version, deactivations, pending_event, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $9)",
        )
        .bind(id)
        .bind(&user.user_name)
        .bind(user_name_key(&user.user_name))
        .bind(user.external_id.clone())
        .bind(i64::from(user.active))
        .bind(user.resource.to_string())
        .bind(user.deactivations)
        .bind(user.pending_event.clone())
        .bind(now)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Err(taken(&user.user_name)),
            Err(source) => {
                return Err(StoreError::Database {
                    context: "creating a SCIM user",
                    source,
                })
            }
        }
        self.scim_user(id)
            .await?
            .ok_or_else(|| corrupt(format!("user {id} vanished after its creation")))
    }

    /// Replace a live user's fields if it is still at `expected_version`. `None` when
    /// it is not (changed meanwhile, deleted); `StoreError::Conflict` when the new
    /// userName is taken.
    pub async fn scim_update_user(
        &self,
        id: &str,
        expected_version: i64,
        user: &ScimUserWrite,
    ) -> Result<Option<ScimUserRecord>, StoreError> {
        let updated = sqlx::query(
            "UPDATE scim_users SET user_name = $1, user_name_key = $2, external_id = $3, \
             active = $4, resource = $5, deactivations = $6, pending_event = $7, \
             version = version + 1, updated_at = $8 \
             WHERE id = $9 AND version = $10 AND deleted_at IS NULL",
        )
        .bind(&user.user_name)
        .bind(user_name_key(&user.user_name))
        .bind(user.external_id.clone())
        .bind(i64::from(user.active))
        .bind(user.resource.to_string())
        .bind(user.deactivations)
        .bind(user.pending_event.clone())
        .bind(now_ms())
        .bind(id)
        .bind(expected_version)
        .execute(&self.pool)
        .await;
        let rows = match updated {
            Ok(result) => result.rows_affected(),
            Err(error) if is_unique_violation(&error) => return Err(taken(&user.user_name)),
            Err(source) => {
                return Err(StoreError::Database {
                    context: "updating a SCIM user",
                    source,
                })
            }
        };
        if rows == 0 {
            return Ok(None);
        }
        self.scim_user(id).await
    }

    /// Delete a live user at `expected_version`. With an event to hand to intake the
    /// row stays (deleted) until `scim_clear_pending`; without, it goes at once.
    /// False when the user is not at that version (or already gone).
    pub async fn scim_delete_user(
        &self,
        id: &str,
        expected_version: i64,
        pending_event: Option<&str>,
    ) -> Result<bool, StoreError> {
        let result = match pending_event {
            Some(event) => sqlx::query(
                "UPDATE scim_users SET deleted_at = $1, pending_event = $2, version = version + 1, \
                 updated_at = $1 WHERE id = $3 AND version = $4 AND deleted_at IS NULL",
            )
            .bind(now_ms())
            .bind(event)
            .bind(id)
            .bind(expected_version)
            .execute(&self.pool)
            .await,
            None => sqlx::query(
                "DELETE FROM scim_users WHERE id = $1 AND version = $2 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(expected_version)
            .execute(&self.pool)
            .await,
        }
        .context("deleting a SCIM user")?;
        Ok(result.rows_affected() == 1)
    }

    /// Mark `event` (the exact pending text) handled; a deleted user's row goes with it.
    pub async fn scim_clear_pending(&self, id: &str, event: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE scim_users SET pending_event = NULL WHERE id = $1 AND pending_event = $2",
        )
        .bind(id)
        .bind(event)
        .execute(&mut *tx)
        .await
        .context("clearing a SCIM user's pending event")?;
        sqlx::query(
            "DELETE FROM scim_users WHERE id = $1 AND deleted_at IS NOT NULL AND pending_event IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("removing a deleted SCIM user")?;
        tx.commit()
            .await
            .context("committing a SCIM user's handled event")?;
        Ok(())
    }

    /// Users whose last transition still waits for intake (after a crash).
    pub async fn scim_users_with_pending_events(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM scim_users WHERE pending_event IS NOT NULL ORDER BY updated_at",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing pending SCIM events")?;
        rows.iter()
            .map(|row| row.try_get("id").context("listing pending SCIM events"))
            .collect()
    }

    /// How many live users a scope holds.
    pub async fn scim_count_users(&self, scope: &ScimUserScope) -> Result<i64, StoreError> {
        let (clause, value) = scope_clause(scope);
        let sql = format!("SELECT COUNT(*) AS n FROM scim_users WHERE {clause}");
        let mut query = sqlx::query(&sql);
        if let Some(value) = value {
            query = query.bind(value);
        }
        let row = query
            .fetch_one(&self.pool)
            .await
            .context("counting SCIM users")?;
        row.try_get("n").context("counting SCIM users")
    }

    /// Live users of a scope in creation order, `offset` skipped, at most `limit`.
    pub async fn scim_users_page(
        &self,
        scope: &ScimUserScope,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ScimUserRecord>, StoreError> {
        let (clause, value) = scope_clause(scope);
        let next = if value.is_some() { 2 } else { 1 };
        let sql = format!(
            "SELECT {COLUMNS} FROM scim_users WHERE {clause} ORDER BY created_at, id \
             LIMIT ${next} OFFSET ${}",
            next + 1
        );
        let mut query = sqlx::query(&sql);
        if let Some(value) = value {
            query = query.bind(value);
        }
        let rows = query
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all(&self.pool)
            .await
            .context("listing SCIM users")?;
        rows.iter().map(user_from_row).collect()
    }

    /// The runs an intake event of the SCIM server started, if it was recorded.
    pub async fn scim_event_runs(&self, event_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let row = sqlx::query(
            "SELECT run_ids FROM intake_events WHERE source = 'scim' AND event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a SCIM intake event")?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row
            .try_get("run_ids")
            .context("reading a SCIM intake event")?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                table: "intake_events",
                message: format!("run_ids: {e}"),
            })
    }

    /// A reactivation: cancel each of `run_ids` that is still scheduled (pending, its
    /// effective time still ahead) with its `run.status` evidence, append `evidence`
    /// (its payload gains `cancelled` and `left`) and mark the user's pending `event`
    /// handled — in one transaction, so a crash repeats all of it or none. `None` when
    /// the event was handled meanwhile (nothing done).
    pub async fn scim_cancel_scheduled_runs(
        &self,
        user_id: &str,
        event: &str,
        run_ids: &[String],
        reason: &str,
        mut evidence: AppendEvidence,
    ) -> Result<Option<ScimCancellation>, StoreError> {
        let mut tx = self.begin_write().await?;
        // Claim the event first: a concurrent settle of the same event finds it gone.
        let claimed = sqlx::query(
            "UPDATE scim_users SET pending_event = NULL WHERE id = $1 AND pending_event = $2",
        )
        .bind(user_id)
        .bind(event)
        .execute(&mut *tx)
        .await
        .context("clearing a SCIM user's pending event")?
        .rows_affected();
        if claimed == 0 {
            tx.rollback()
                .await
                .context("skipping a reactivation handled meanwhile")?;
            return Ok(None);
        }
        let now = now_ms();
        let mut outcome = ScimCancellation::default();
        let mut entries = Vec::new();
        for run_id in run_ids {
            let updated = sqlx::query(
                "UPDATE runs SET status = $1, completed_at = $2 \
                 WHERE id = $3 AND status = $4 AND effective_at > $2",
            )
            .bind(RunStatus::Cancelled.as_str())
            .bind(now)
            .bind(run_id)
            .bind(RunStatus::Pending.as_str())
            .execute(&mut *tx)
            .await
            .context("cancelling a scheduled run")?
            .rows_affected();
            if updated == 0 {
                outcome.left.push(run_id.clone());
                continue;
            }
            sqlx::query(
                "UPDATE steps SET status = $1, finished_at = $2, lease_owner = NULL, \
                 lease_until = NULL, error = $3 WHERE run_id = $4 AND status IN ($5, $6, $7)",
            )
            .bind(StepStatus::Cancelled.as_str())
            .bind(now)
            .bind(format!("run cancelled: {reason}"))
            .bind(run_id)
            .bind(StepStatus::Pending.as_str())
            .bind(StepStatus::Ready.as_str())
            .bind(StepStatus::Running.as_str())
            .execute(&mut *tx)
            .await
            .context("cancelling a scheduled run's steps")?;
            entries.push(AppendEvidence::new(
                "run.status",
                evidence.actor.clone(),
                run_id.clone(),
                serde_json::json!({"status": RunStatus::Cancelled, "reason": reason}),
            ));
            outcome.cancelled.push(run_id.clone());
        }
        if let Some(payload) = evidence.payload.as_object_mut() {
            payload.insert("cancelled".into(), serde_json::json!(outcome.cancelled));
            payload.insert("left".into(), serde_json::json!(outcome.left));
        }
        entries.push(evidence);
        self.append_evidence_tx(&mut tx, &entries).await?;
        tx.commit()
            .await
            .context("committing a reactivation's cancellations")?;
        Ok(Some(outcome))
    }
}
