//! Dashboard sessions: one row per signed-in browser, keyed by the SHA-256 of the
//! cookie's random session id (the id itself is never stored).

use super::{Context, Store, StoreError};
use crate::domain::Role;
use sqlx::Row;

/// A live dashboard session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSession {
    pub subject: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    /// Record a session under the hash of its id.
    pub async fn create_dashboard_session(
        &self,
        id_hash: &str,
        session: &DashboardSession,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dashboard_sessions (id_hash, subject, role, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&session.subject)
        .bind(session.role.as_str())
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .context("creating a dashboard session")?;
        Ok(())
    }

    /// The session with this id hash, unless it has expired at `now`.
    pub async fn find_dashboard_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<DashboardSession>, StoreError> {
        let row = sqlx::query(
            "SELECT subject, role, created_at, expires_at FROM dashboard_sessions \
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .context("reading a dashboard session")?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role").context("reading a dashboard session")?;
        Ok(Some(DashboardSession {
            subject: row
                .try_get("subject")
                .context("reading a dashboard session")?,
            role: role.parse().map_err(|message| StoreError::Corrupt {
                table: "dashboard_sessions",
                message,
            })?,
            created_at: row
                .try_get("created_at")
                .context("reading a dashboard session")?,
            expires_at: row
                .try_get("expires_at")
                .context("reading a dashboard session")?,
        }))
    }

    /// End a session. Returns whether it existed.
    pub async fn delete_dashboard_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .context("ending a dashboard session")?
            .rows_affected();
        Ok(deleted > 0)
    }

    /// Forget sessions that expired before `now`.
    pub async fn delete_expired_dashboard_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .context("forgetting expired dashboard sessions")?
            .rows_affected();
        Ok(deleted)
    }

    /// How many session rows exist (expired ones included): for tests and operators.
    pub async fn count_dashboard_sessions(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM dashboard_sessions")
            .fetch_one(&self.pool)
            .await
            .context("counting dashboard sessions")?;
        row.try_get("n").context("counting dashboard sessions")
    }
}
