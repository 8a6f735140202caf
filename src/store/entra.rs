//! Graph change notifications waiting to be resolved, and each Entra user's last known
//! state with the generation that names its deprovisioning events.

use super::{now_ms, Context, Store, StoreError};
use sqlx::Row;

/// A change notification accepted but not yet handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraNotificationRow {
    pub id: String,
    pub subscription_id: String,
    pub change_type: String,
    pub user_id: String,
    pub received_at: i64,
    pub attempts: i64,
}

impl Store {
    /// Store accepted notifications in one transaction (before the 202).
    pub async fn entra_queue_notifications(
        &self,
        rows: &[EntraNotificationRow],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO entra_notifications (id, subscription_id, change_type, user_id, received_at, attempts) \
                 VALUES ($1, $2, $3, $4, $5, 0)",
            )
            .bind(&row.id)
            .bind(&row.subscription_id)
            .bind(&row.change_type)
            .bind(&row.user_id)
            .bind(row.received_at)
            .execute(&mut *tx)
            .await
            .context("queueing a Graph change notification")?;
        }
        tx.commit()
            .await
            .context("committing Graph change notifications")?;
        Ok(())
    }

    /// The oldest pending notifications.
    pub async fn entra_pending_notifications(
        &self,
        limit: i64,
    ) -> Result<Vec<EntraNotificationRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, subscription_id, change_type, user_id, received_at, attempts \
             FROM entra_notifications ORDER BY received_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("listing pending Graph change notifications")?;
        rows.iter()
            .map(|r| {
                Ok(EntraNotificationRow {
                    id: r.try_get("id")?,
                    subscription_id: r.try_get("subscription_id")?,
                    change_type: r.try_get("change_type")?,
                    user_id: r.try_get("user_id")?,
                    received_at: r.try_get("received_at")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .context("reading pending Graph change notifications")
    }

    /// How many notifications are pending.
    pub async fn entra_pending_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM entra_notifications")
            .fetch_one(&self.pool)
            .await
            .context("counting pending Graph change notifications")?;
        row.try_get("n")
            .context("counting pending Graph change notifications")
    }

    /// A notification was handed to intake: forget it.
    pub async fn entra_notification_done(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM entra_notifications WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .context("clearing a Graph change notification")?;
        Ok(())
    }

    /// Resolving a notification failed (Graph unreachable…): keep it for the next drain.
    pub async fn entra_notification_failed(&self, id: &str, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE entra_notifications SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .execute(&self.pool)
        .await
        .context("recording a failed Graph change notification")?;
        Ok(())
    }

    /// Record what Graph says about a user now (`enabled`, `disabled`, `deleted`) and
    /// return the generation of that state: unchanged when the state is the one last
    /// recorded, one more on each transition into `disabled` or `deleted`.
    pub async fn entra_observe_user(
        &self,
        user_id: &str,
        state: &str,
        email: Option<&str>,
    ) -> Result<i64, StoreError> {
        let first = if state == "enabled" { 0 } else { 1 };
        let row = sqlx::query(
            "INSERT INTO entra_users (user_id, state, generation, email, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id) DO UPDATE SET \
               generation = CASE WHEN entra_users.state = excluded.state OR excluded.state = 'enabled' \
                            THEN entra_users.generation ELSE entra_users.generation + 1 END, \
               state = excluded.state, \
               email = COALESCE(excluded.email, entra_users.email), \
               updated_at = excluded.updated_at \
             RETURNING generation",
        )
        .bind(user_id)
        .bind(state)
        .bind(first as i64)
        .bind(email)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .context("recording an Entra user's state")?;
        row.try_get("generation")
            .context("recording an Entra user's state")
    }

    /// The last known email of an Entra user.
    pub async fn entra_user_email(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT email FROM entra_users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .context("reading an Entra user")?;
        Ok(row.and_then(|r| r.try_get::<Option<String>, _>("email").ok().flatten()))
    }
}
