//! The audit trail: who read which secret. Audit logs (Vault file and socket audit
//! devices, AWS CloudTrail) are parsed into secret accesses and aggregated into the
//! secret-access index (`store::trail`), which the query answers from.
//!
//! - `event` — what a parser yields ([`event::SecretAccess`]); HMAC'd values
//! - `vault` — one Vault audit line → entry (+ access); `skim` — the fast reader of
//!   a line's wanted fields (serde_json reads what it leaves); `chunk` — a chunk of
//!   lines parsed on several threads; `request_shape` — a request line recognised
//!   by the members its response repeats; `pairing` — request/response
//! - `logfile` — one log file read line by line from an offset; `follow` — the
//!   resumable `tail -F` of a Vault file device log (rotation, truncation)
//! - `socket` — the Vault socket audit device (TCP)
//! - `cloudtrail` — one CloudTrail record → accesses; `cloudtrail_files` — files,
//!   gzip, directories
//! - `batch` — in-memory aggregation before one write; `segment` — how one commit's
//!   rows of one identity are stored in the index; `report` — ingest summary
//! - `writer` — batches committed in order on a task of their own (read/parse the
//!   next batch while the previous one is written)
//! - `matching` — email → candidate names; `query` — the answer from the index
//! - `differential` — an ingest's reading of lines against reading them one by one
//!   (tests, fuzzing)

pub mod batch;
pub mod chunk;
pub mod cloudtrail;
pub mod cloudtrail_files;
#[doc(hidden)]
pub mod differential;
pub mod event;
pub mod follow;
pub mod logfile;
pub mod mapped;
pub mod matching;
pub mod pairing;
pub mod query;
pub mod report;
pub mod request_shape;
pub mod segment;
mod skim;
pub mod socket;
pub mod vault;
pub mod writer;

pub use cloudtrail_files::ingest_cloudtrail;
pub use follow::{ingest_vault_file, FollowOptions};
pub use query::{secret_access, SecretAccessReport};
pub use report::IngestReport;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("stopped before the log appeared")]
    Stopped,
    #[error("{0}")]
    Writer(String),
}

/// Progress of an ingest, for a progress bar.
pub trait Progress: Send + Sync {
    /// Reading `path`, `total` bytes long.
    fn file(&self, _path: &Path, _total: u64) {}
    /// `bytes` more were read.
    fn advance(&self, _bytes: u64) {}
}

/// No progress shown.
pub struct NoProgress;

impl Progress for NoProgress {}
