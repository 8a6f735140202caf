//! The evidence ledger's rows: appends that extend the hash chain under the head row's
//! lock, range reads for export and verification, and signed checkpoints.

use super::{Context, Dialect, Store, StoreError};
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

/// `($1, $2), ($3, $4)` for `rows` tuples of `columns` placeholders: the `$N` form
/// both SQLite and PostgreSQL accept (sqlx's `Any` query builder emits `?`, which
/// PostgreSQL does not).
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let fields: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", fields.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An entry waiting to be sealed (`id` is its inbox row on PostgreSQL).
struct Staged {
    id: i64,
    time: String,
    kind: String,
    actor: String,
    subject: String,
    payload: serde_json::Value,
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
    /// Record entries inside the caller's transaction, so the evidence commits with
    /// the state change it records.
    ///
    /// SQLite serialises writers anyway, so entries are sealed into the chain right
    /// here. On PostgreSQL they are staged in `evidence_inbox` and sealed in batches by
    /// `seal_pending` (the background sealer, and every reader that needs the whole
    /// chain), so concurrent state changes never queue on the chain head's lock.
    pub async fn append_evidence_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        items: &[AppendEvidence],
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let time = evidence_time_now();
        match self.dialect {
            Dialect::Sqlite => {
                let staged: Vec<Staged> = items
                    .iter()
                    .map(|item| Staged {
                        id: 0,
                        time: time.clone(),
                        kind: item.kind.clone(),
                        actor: item.actor.clone(),
                        subject: item.subject.clone(),
                        payload: item.payload.clone(),
                    })
                    .collect();
                self.seal_into_chain(tx, &staged).await
            }
            Dialect::Postgres => {
                let sql = format!(
                    "INSERT INTO evidence_inbox (time, kind, actor, subject, payload) VALUES {}",
                    placeholders(items.len(), 5)
                );
                let mut insert = sqlx::query(&sql);
                for item in items {
                    insert = insert
                        .bind(time.clone())
                        .bind(item.kind.clone())
                        .bind(item.actor.clone())
                        .bind(item.subject.clone())
                        .bind(item.payload.to_string());
                }
                insert
                    .execute(&mut **tx)
                    .await
                    .context("staging evidence")?;
                Ok(())
            }
        }
    }

    /// Extend the chain with `staged` entries, in order, under the head's lock.
    async fn seal_into_chain(
        &self,
        tx: &mut Transaction<'static, Any>,
        staged: &[Staged],
    ) -> Result<(), StoreError> {
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
        let mut sealed = Vec::with_capacity(staged.len());
        for item in staged {
            seq += 1;
            let entry = Entry::seal(
                EntryBody {
                    seq,
                    time: item.time.clone(),
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
            prev_hash = entry.hash.clone();
            sealed.push(entry);
        }
        for chunk in sealed.chunks(500) {
            let sql = format!(
                "INSERT INTO evidence (seq, time, kind, actor, subject, payload, payload_digest, prev_hash, hash) VALUES {}",
                placeholders(chunk.len(), 9)
            );
            let mut insert = sqlx::query(&sql);
            for entry in chunk {
                insert = insert
                    .bind(entry.seq)
                    .bind(entry.time.clone())
                    .bind(entry.kind.clone())
                    .bind(entry.actor.clone())
                    .bind(entry.subject.clone())
                    .bind(entry.payload.to_string())
                    .bind(entry.payload_digest.clone())
                    .bind(entry.prev_hash.clone())
                    .bind(entry.hash.clone());
            }
            insert
                .execute(&mut **tx)
                .await
                .context("appending evidence")?;
        }
        sqlx::query("UPDATE evidence_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&prev_hash)
            .execute(&mut **tx)
            .await
            .context("advancing the evidence chain head")?;
        Ok(())
    }

    /// Seal staged entries (PostgreSQL) into the chain, oldest first, in batches.
    /// Returns how many were sealed; a no-op on SQLite, which seals as it writes.
    pub async fn seal_pending(&self) -> Result<u64, StoreError> {
        if self.dialect == Dialect::Sqlite {
            return Ok(0);
        }
        let mut total = 0;
        loop {
            let mut tx = self.begin_write().await?;
            // Taking the head lock first makes concurrent sealers queue instead of
            // sealing the same staged rows twice.
            sqlx::query("SELECT seq FROM evidence_head WHERE id = 1 FOR UPDATE")
                .execute(&mut *tx)
                .await
                .context("locking the evidence chain head")?;
            let rows = sqlx::query(
                "SELECT id, time, kind, actor, subject, payload FROM evidence_inbox ORDER BY id LIMIT 1000",
            )
            .fetch_all(&mut *tx)
            .await
            .context("reading staged evidence")?;
            if rows.is_empty() {
                tx.rollback().await.context("ending an empty seal")?;
                return Ok(total);
            }
            let mut staged = Vec::with_capacity(rows.len());
            for row in &rows {
                let payload: String = row.try_get("payload").context("reading staged evidence")?;
                staged.push(Staged {
                    id: row.try_get("id").context("reading staged evidence")?,
                    time: row.try_get("time").context("reading staged evidence")?,
                    kind: row.try_get("kind").context("reading staged evidence")?,
                    actor: row.try_get("actor").context("reading staged evidence")?,
                    subject: row.try_get("subject").context("reading staged evidence")?,
                    payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
                        table: "evidence_inbox",
                        message: format!("payload is not JSON: {e}"),
                    })?,
                });
            }
            self.seal_into_chain(&mut tx, &staged).await?;
            // Delete exactly the rows sealed: a row with a lower id may commit later and
            // must wait for the next batch, not vanish.
            let sql = format!(
                "DELETE FROM evidence_inbox WHERE id IN {}",
                placeholders(1, staged.len())
            );
            let mut delete = sqlx::query(&sql);
            for item in &staged {
                delete = delete.bind(item.id);
            }
            delete
                .execute(&mut *tx)
                .await
                .context("clearing sealed evidence")?;
            tx.commit().await.context("committing sealed evidence")?;
            total += staged.len() as u64;
        }
    }

    /// Append entries in their own transaction.
    pub async fn append_evidence(&self, items: &[AppendEvidence]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.append_evidence_tx(&mut tx, items).await?;
        tx.commit().await.context("committing evidence")?;
        Ok(())
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
        self.seal_pending().await?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_every_field() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(1, 2), "($1, $2)");
    }
}
