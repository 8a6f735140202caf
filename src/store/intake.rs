//! Intake events: each identity-provider event recorded once.

use super::{now_ms, AppendEvidence, Context, Store, StoreError};
use crate::intake::{IdpEvent, IntakeOutcome};

impl Store {
    /// Whether this event was already taken.
    pub async fn intake_seen(&self, source: &str, event_id: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 AS seen FROM intake_events WHERE source = $1 AND event_id = $2")
                .bind(source)
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await
                .context("looking up an intake event")?;
        Ok(row.is_some())
    }

    /// Record an event and its outcome with its evidence; false when another delivery
    /// recorded it first (nothing is written then).
    pub async fn record_intake(
        &self,
        event: &IdpEvent,
        outcome: &IntakeOutcome,
        evidence: AppendEvidence,
    ) -> Result<bool, StoreError> {
        let run_ids = match outcome {
            IntakeOutcome::Started { run_ids } => run_ids.clone(),
            _ => Vec::new(),
        };
        let outcome_text = match outcome {
            IntakeOutcome::Duplicate => "duplicate",
            IntakeOutcome::Ignored { .. } => "ignored",
            IntakeOutcome::Started { .. } => "started",
        };
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO intake_events (source, event_id, event_type, subject, published, received_at, outcome, run_ids) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (source, event_id) DO NOTHING",
        )
        .bind(event.source)
        .bind(&event.event_id)
        .bind(&event.event_type)
        .bind(event.identity.as_ref().map(|i| i.email.clone()))
        .bind(event.published.clone())
        .bind(now_ms())
        .bind(outcome_text)
        .bind(serde_json::to_string(&run_ids).unwrap_or_default())
        .execute(&mut *tx)
        .await
        .context("recording an intake event")?
        .rows_affected();
        if inserted == 0 {
            tx.rollback()
                .await
                .context("skipping a duplicate intake event")?;
            return Ok(false);
        }
        self.append_evidence_tx(&mut tx, &[evidence]).await?;
        tx.commit().await.context("committing an intake event")?;
        Ok(true)
    }

    /// How many events from `source` were recorded.
    pub async fn intake_count(&self, source: &str) -> Result<i64, StoreError> {
        use sqlx::Row;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM intake_events WHERE source = $1")
            .bind(source)
            .fetch_one(&self.pool)
            .await
            .context("counting intake events")?;
        row.try_get("n").context("counting intake events")
    }

    /// Where the reconciliation of `source` left off (`None` before its first pass).
    pub async fn intake_cursor(&self, source: &str) -> Result<Option<String>, StoreError> {
        use sqlx::Row;
        let row = sqlx::query("SELECT cursor FROM intake_cursors WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .context("reading an intake cursor")?;
        row.map(|r| r.try_get("cursor"))
            .transpose()
            .context("reading an intake cursor")
    }

    /// Record where the reconciliation of `source` left off.
    pub async fn set_intake_cursor(&self, source: &str, cursor: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO intake_cursors (source, cursor, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(source)
        .bind(cursor)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("saving an intake cursor")?;
        Ok(())
    }
}
