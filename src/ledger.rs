//! The evidence ledger as a service: signed checkpoints of the chain head, export
//! bundles for auditors, and verification of the ledger in the database. The format
//! itself (hashing, signing, bundle lines, offline verification) is `crate::evidence`.

use crate::evidence::evidence_time_now;
use crate::evidence::{
    self, BundleHeader, BundleWriter, ChainVerifier, Checkpoint, LedgerKey, VerifyReport,
};
use crate::store::{AppendEvidence, Store, StoreError};

/// Entries read from the database per query while exporting or verifying.
const PAGE: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid range: {0}")]
    Range(String),
    #[error("cannot write the bundle: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    pub from_seq: i64,
    pub to_seq: i64,
    pub entries: u64,
    pub checkpoints: usize,
    pub key_id: String,
}

pub struct Ledger {
    store: Store,
    key: LedgerKey,
}

impl Ledger {
    pub fn new(store: Store, key: LedgerKey) -> Self {
        Self { store, key }
    }

    pub fn key(&self) -> &LedgerKey {
        &self.key
    }

    /// Sign the current chain head (nothing to sign on an empty ledger).
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, LedgerError> {
        self.store.seal_pending().await?;
        let head = self.store.evidence_head().await?;
        if head.seq == 0 {
            return Ok(None);
        }
        if let Some(latest) = self.store.latest_checkpoint().await? {
            if latest.seq == head.seq && latest.key_id == self.key.key_id() {
                return Ok(Some(latest));
            }
        }
        let checkpoint = self
            .key
            .sign_checkpoint(head.seq, &head.hash, &evidence_time_now());
        self.store.add_checkpoint(&checkpoint).await?;
        Ok(Some(checkpoint))
    }

    /// Write an export bundle of entries `from..=to` (defaults: the whole ledger). The
    /// export itself is recorded as evidence first and the head is signed, so the
    /// bundle ends with a checkpoint covering its last entry.
    pub async fn export<W: std::io::Write>(
        &self,
        from: Option<i64>,
        to: Option<i64>,
        out: &mut W,
        actor: &str,
    ) -> Result<ExportSummary, LedgerError> {
        let from = from.unwrap_or(1);
        if from < 1 {
            return Err(LedgerError::Range(format!(
                "from must be at least 1, got {from}"
            )));
        }
        self.store.seal_pending().await?;
        let head = self.store.evidence_head().await?;
        // Without `to`, the range ends at the export's own entry (head + 1).
        if to.is_none() && from > head.seq.saturating_add(1) {
            return Err(LedgerError::Range(format!(
                "from must be at most the head {}, got {from}",
                head.seq
            )));
        }
        if let Some(to) = to {
            if to < from || to > head.seq {
                return Err(LedgerError::Range(format!(
                    "to must be between {from} and the head {}, got {to}",
                    head.seq
                )));
            }
        }
        self.store
            .append_evidence(&[AppendEvidence::new(
                "evidence.exported",
                actor,
                "ledger",
                serde_json::json!({"from": from, "to": to}),
            )])
            .await?;
        // Seals what is staged (the export entry included) and signs the head.
        let signed = self.checkpoint().await?;
        let to = match to {
            Some(to) => to,
            None => signed.map(|c| c.seq).unwrap_or(head.seq),
        };
        // A range ending before the head is covered by signing its last entry's hash.
        let mut checkpoints = self.store.checkpoints(from, to).await?;
        if !checkpoints.iter().any(|c| c.seq == to) {
            if let Some(entry) = self.store.evidence_range(to, to, 1).await?.first() {
                let checkpoint =
                    self.key
                        .sign_checkpoint(entry.seq, &entry.hash, &evidence_time_now());
                self.store.add_checkpoint(&checkpoint).await?;
                checkpoints.push(checkpoint);
            }
        }
        let header =
            BundleHeader::new(from, to, self.store.evidence_anchor(from).await?, &self.key);
        // Stream page by page: a large ledger is never held in memory whole.
        let mut writer = BundleWriter::new(out, &header)?;
        let mut count = 0u64;
        let mut next = from;
        while next <= to {
            let page = self.store.evidence_range(next, to, PAGE).await?;
            let Some(last) = page.last() else { break };
            next = last.seq + 1;
            for entry in &page {
                writer.entry(entry)?;
            }
            count += page.len() as u64;
        }
        for checkpoint in &checkpoints {
            writer.checkpoint(checkpoint)?;
        }
        writer.finish()?;
        Ok(ExportSummary {
            from_seq: from,
            to_seq: to,
            entries: count,
            checkpoints: checkpoints.len(),
            key_id: self.key.key_id(),
        })
    }

    /// Verify the ledger in the database exactly as an auditor verifies an export:
    /// the chain from genesis, every checkpoint's signature and position. Entries after
    /// the newest checkpoint are reported as not yet signed, not as a failure.
    pub async fn verify_store(&self) -> Result<VerifyReport, LedgerError> {
        self.store.seal_pending().await?;
        let head = self.store.evidence_head().await?;
        let checkpoints = self.store.checkpoints(1, head.seq).await?;
        let failed = |reason: String| {
            VerifyReport::failed(evidence::VerifyFailure {
                seq: None,
                line: None,
                reason,
            })
        };
        let chain = match ChainVerifier::new(evidence::GENESIS_HASH, None) {
            Ok(chain) => chain,
            Err(reason) => return Ok(failed(reason)),
        };
        // Page through the ledger: memory stays flat however long it is.
        let mut chain = chain.remember(checkpoints.iter().map(|c| c.seq));
        let mut next = 1;
        'pages: while next <= head.seq {
            let page = self.store.evidence_range(next, head.seq, PAGE).await?;
            let Some(last) = page.last() else { break };
            next = last.seq + 1;
            for entry in &page {
                if !chain.push(entry, None, false) {
                    break 'pages;
                }
            }
        }
        Ok(evidence::finish_with_checkpoints(
            &chain,
            &checkpoints,
            &self.key.verifying_key(),
            false,
        ))
    }
}
