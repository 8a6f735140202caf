//! The evidence ledger's rows: appends that extend the hash chain under the head row's
//! lock, range reads for export and verification, and signed checkpoints.

use super::{Context, Store, StoreError};
use crate::evidence::{evidence_time_now, Checkpoint, Entry, EntryBody};
use sqlx::{Any, Row, Transaction};

/// One entry to append; the store assigns seq, time and hashes.
#[derive(Debug, Clone)]
pub struct AppendEvidence {
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub payload: serde_json::Value,
}

impl AppendEvidence {
    pub fn new(
        kind: impl Into<String>,
        actor: impl Into<String>,
        subject: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            kind: kind.into(),
            actor: actor.into(),
            subject: subject.into(),
            payload,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceHead {
    pub seq: i64,
    pub hash: String,
}

const ENTRY_COLUMNS: &str =
    "seq, time, kind, actor, subject, payload, payload_digest, prev_hash, hash";

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<Entry, StoreError> {
    let payload_text: String = row.try_get("payload").context("reading evidence")?;
    let payload = serde_json::from_str(&payload_text).map_err(|e| StoreError::Corrupt {
        table: "evidence",
        message: format!("payload is not JSON: {e}"),
    })?;
    Ok(Entry {
        seq: row.try_get("seq").context("reading evidence")?,
        time: row.try_get("time").context("reading evidence")?,
        kind: row.try_get("kind").context("reading evidence")?,
        actor: row.try_get("actor").context("reading evidence")?,
        subject: row.try_get("subject").context("reading evidence")?,
        payload,
        payload_digest: row.try_get("payload_digest").context("reading evidence")?,
        prev_hash: row.try_get("prev_hash").context("reading evidence")?,
        hash: row.try_get("hash").context("reading evidence")?,
    })
}

impl Store {
    /// Append entries inside the caller's transaction, so the evidence commits with
    /// the state change it records.
    pub async fn append_evidence_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        items: &[AppendEvidence],
    ) -> Result<Vec<Entry>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let head_sql = format!(
            "SELECT seq, hash FROM evidence_head WHERE id = 1{}",
            self.for_update()
        );
        let head = sqlx::query(&head_sql)
            .fetch_one(&mut **tx)
            .await
            .context("locking the evidence chain head")?;
        let mut seq: i64 = head.try_get("seq").context("reading the chain head")?;
        let mut prev_hash: String = head.try_get("hash").context("reading the chain head")?;
        let time = evidence_time_now();
        let mut entries = Vec::with_capacity(items.len());
        for item in items {
            seq += 1;
            let entry = Entry::seal(
                EntryBody {
                    seq,
                    time: time.clone(),
                    kind: item.kind.clone(),
                    actor: item.actor.clone(),
                    subject: item.subject.clone(),
                    payload: item.payload.clone(),
                },
                &prev_hash,
            )
            .map_err(|message| StoreError::Corrupt {
                table: "evidence",
                message,
            })?;
            sqlx::query(
                "INSERT INTO evidence (seq, time, kind, actor, subject, payload, payload_digest, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(entry.seq)
            .bind(&entry.time)
            .bind(&entry.kind)
            .bind(&entry.actor)
            .bind(&entry.subject)
            .bind(entry.payload.to_string())
            .bind(&entry.payload_digest)
            .bind(&entry.prev_hash)
            .bind(&entry.hash)
            .execute(&mut **tx)
            .await
            .context("appending evidence")?;
            prev_hash = entry.hash.clone();
            entries.push(entry);
        }
        sqlx::query("UPDATE evidence_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&prev_hash)
            .execute(&mut **tx)
            .await
            .context("advancing the evidence chain head")?;
        Ok(entries)
    }

    /// Append entries in their own transaction.
    pub async fn append_evidence(
        &self,
        items: &[AppendEvidence],
    ) -> Result<Vec<Entry>, StoreError> {
        let mut tx = self.begin_write().await?;
        let entries = self.append_evidence_tx(&mut tx, items).await?;
        tx.commit().await.context("committing evidence")?;
        Ok(entries)
    }

    pub async fn evidence_head(&self) -> Result<EvidenceHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM evidence_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .context("reading the evidence chain head")?;
        Ok(EvidenceHead {
            seq: row.try_get("seq").context("reading the chain head")?,
            hash: row.try_get("hash").context("reading the chain head")?,
        })
    }

    /// Entries with `from <= seq <= to`, in seq order, at most `limit`.
    pub async fn evidence_range(
        &self,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM evidence WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("reading evidence")?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Every entry about one subject (a run id, a token id…), in seq order.
    pub async fn evidence_for_subject(&self, subject: &str) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM evidence WHERE subject = $1 ORDER BY seq");
        let rows = sqlx::query(&sql)
            .bind(subject)
            .fetch_all(&self.pool)
            .await
            .context("reading evidence")?;
        rows.iter().map(entry_from_row).collect()
    }

    /// The previous entry's hash for an export starting at `from` (genesis for 1).
    pub async fn evidence_anchor(&self, from: i64) -> Result<String, StoreError> {
        if from <= 1 {
            return Ok(crate::evidence::GENESIS_HASH.to_string());
        }
        let row = sqlx::query("SELECT hash FROM evidence WHERE seq = $1")
            .bind(from - 1)
            .fetch_optional(&self.pool)
            .await
            .context("reading the export anchor")?;
        match row {
            Some(row) => row.try_get("hash").context("reading the export anchor"),
            None => Err(StoreError::Corrupt {
                table: "evidence",
                message: format!(
                    "entry {} (the anchor of an export from {from}) is missing",
                    from - 1
                ),
            }),
        }
    }

    pub async fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evidence_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(checkpoint.seq)
        .bind(&checkpoint.hash)
        .bind(&checkpoint.time)
        .bind(&checkpoint.key_id)
        .bind(&checkpoint.signature)
        .execute(&self.pool)
        .await
        .context("storing a checkpoint")?;
        Ok(())
    }

    /// Checkpoints with `from <= seq <= to`, oldest first.
    pub async fn checkpoints(&self, from: i64, to: i64) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hash, time, key_id, signature FROM evidence_checkpoints \
             WHERE seq >= $1 AND seq <= $2 ORDER BY seq, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .context("reading checkpoints")?;
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    seq: row.try_get("seq").context("reading checkpoints")?,
                    hash: row.try_get("hash").context("reading checkpoints")?,
                    time: row.try_get("time").context("reading checkpoints")?,
                    key_id: row.try_get("key_id").context("reading checkpoints")?,
                    signature: row.try_get("signature").context("reading checkpoints")?,
                })
            })
            .collect()
    }

    /// The newest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let head = self.evidence_head().await?;
        Ok(self.checkpoints(0, head.seq.max(0)).await?.pop())
    }
}
