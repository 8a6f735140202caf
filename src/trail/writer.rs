//! The ingest pipeline's write side: batches, each with the cursor it brings its log
//! to, committed in order by a task of their own, so that the next batch is read and
//! parsed while the previous one is written. At most one batch waits while another is
//! being written (bounded memory). Each batch is still one transaction with its
//! cursor: a crash loses at most the batches not yet committed, and the next run reads
//! them again from the last committed cursor — nothing is counted twice.
//!
//! Names (`trail_identity_names`) are only ever added, so the ones this writer has
//! already committed are not written again (a bounded set, forgotten when full); the
//! same goes for the ids of identity keys, secrets and addresses (`TrailTerms`).

use super::batch::Batch;
use super::TrailError;
use crate::store::{Store, TrailCursor, TrailTerms};
use std::collections::HashSet;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The parts of one batch (summed as they are written) and the cursor they bring the
/// log to.
type Job = (Vec<Batch>, Option<TrailCursor>);

/// Names remembered as committed, at most.
const KNOWN_NAMES: usize = 200_000;

/// (identity key, kind, value) of the names committed by this writer.
#[derive(Default)]
struct KnownNames(HashSet<(String, String, String)>);

impl KnownNames {
    /// Drop from `batch` the names already committed.
    fn skip_known(&self, batch: &mut Batch) {
        if self.0.is_empty() {
            return;
        }
        batch.names.retain(|key, (_, names)| {
            names.retain(|(kind, value)| {
                !self.0.contains(&(key.clone(), kind.clone(), value.clone()))
            });
            !names.is_empty()
        });
    }

    /// Remember the names of a committed batch.
    fn committed(&mut self, batch: &Batch) {
        let count: usize = batch.names.values().map(|(_, n)| n.len()).sum();
        if self.0.len() + count > KNOWN_NAMES {
            self.0.clear();
        }
        for (key, (_, names)) in &batch.names {
            for (kind, value) in names {
                self.0.insert((key.clone(), kind.clone(), value.clone()));
            }
        }
    }
}

pub struct Committer {
    tx: Option<mpsc::Sender<Job>>,
    task: Option<JoinHandle<Result<(), TrailError>>>,
}

impl Committer {
    /// Start the writing task on `store`.
    pub fn start(store: Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(1);
        let task = tokio::spawn(async move {
            let mut known = KnownNames::default();
            let mut terms = TrailTerms::default();
            while let Some((mut parts, cursor)) = rx.recv().await {
                for part in &mut parts {
                    known.skip_known(part);
                }
                store
                    .trail_commit(&parts, cursor.as_ref(), &mut terms)
                    .await?;
                for part in &parts {
                    known.committed(part);
                }
            }
            Ok(())
        });
        Self {
            tx: Some(tx),
            task: Some(task),
        }
    }

    /// Queue a batch (and its cursor) for commit; waits while another batch already
    /// waits. A failed earlier commit is returned here.
    pub async fn send(
        &mut self,
        batch: Batch,
        cursor: Option<TrailCursor>,
    ) -> Result<(), TrailError> {
        self.send_parts(vec![batch], cursor).await
    }

    /// [`Committer::send`] of a batch in parts (counted apart, e.g. one per parsing
    /// thread), summed as they are written (a row counted in several parts is one).
    pub async fn send_parts(
        &mut self,
        parts: Vec<Batch>,
        cursor: Option<TrailCursor>,
    ) -> Result<(), TrailError> {
        let sent = match &self.tx {
            Some(tx) => tx.send((parts, cursor)).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The task ended: it failed (or was already finished).
            self.finish().await?;
            Err(TrailError::Writer("the trail writer has stopped".into()))
        }
    }

    /// Wait until every queued batch is committed; the first failure, if any.
    pub async fn finish(&mut self) -> Result<(), TrailError> {
        self.tx = None;
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|error| TrailError::Writer(format!("the trail writer failed: {error}")))?,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::event::{Operation, Outcome, Principal, SecretAccess, Source};

    fn access(names: &[(&str, &str)]) -> SecretAccess {
        SecretAccess {
            source: Source::Vault,
            principal: Principal {
                key: "vault:entity:e-1".into(),
                names: names
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            secret: "secret/a".into(),
            operation: Operation::Read,
            at_ms: 0,
            address: None,
            outcome: Outcome::Read,
        }
    }

    #[test]
    fn committed_names_are_not_written_again_but_new_ones_are() {
        let mut known = KnownNames::default();
        let mut first = Batch::default();
        first.add(&access(&[("entity_id", "e-1"), ("login", "bob")]));
        known.skip_known(&mut first);
        assert_eq!(first.names["vault:entity:e-1"].1.len(), 2);
        known.committed(&first);

        let mut second = Batch::default();
        second.add(&access(&[
            ("entity_id", "e-1"),
            ("alias", "bob@example.com"),
        ]));
        known.skip_known(&mut second);
        let names: Vec<_> = second.names["vault:entity:e-1"].1.iter().collect();
        assert_eq!(
            names,
            [&("alias".to_string(), "bob@example.com".to_string())]
        );
        assert_eq!(second.len(), 1, "the accesses are untouched");

        let mut third = Batch::default();
        third.add(&access(&[("login", "bob")]));
        known.skip_known(&mut third);
        assert!(third.names.is_empty());
    }
}
