//! Accesses aggregated in memory before one write: per (identity key, source, secret,
//! UTC day, source address) the operations, first/last seen and counts, and the names
//! each identity key was seen under. The writer turns the strings into term ids and
//! writes the rows sorted by id, so that concurrent writers (PostgreSQL) lock rows in
//! one order.

use super::event::{day_of, Outcome, SecretAccess, Source};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessKey {
    pub identity_key: String,
    pub source: Source,
    pub secret: String,
    pub day: i64,
    /// Where the request came from, when the trail says.
    pub address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessAgg {
    pub operations: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reads: i64,
    pub denied: i64,
}

impl AccessAgg {
    /// Fold `other` (a later or earlier part of the same key's accesses) into this.
    pub fn merge(&mut self, other: &AccessAgg) {
        self.operations |= other.operations;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.reads += other.reads;
        self.denied += other.denied;
    }
}

#[derive(Debug, Default)]
pub struct Batch {
    pub access: HashMap<AccessKey, AccessAgg>,
    /// identity key → (source, {(kind, value)}).
    pub names: BTreeMap<String, (Source, BTreeSet<(String, String)>)>,
    /// Successful reads and denied attempts added.
    pub reads: u64,
    pub denied: u64,
}

impl Batch {
    pub fn add(&mut self, access: &SecretAccess) {
        self.take(access.clone());
    }

    /// [`Batch::add`] of an access the caller gives away (its strings are moved into
    /// the batch, not copied).
    pub fn take(&mut self, access: SecretAccess) {
        let names = match self.names.get_mut(&access.principal.key) {
            Some((_, names)) => names,
            None => {
                &mut self
                    .names
                    .entry(access.principal.key.clone())
                    .or_insert((access.source, BTreeSet::new()))
                    .1
            }
        };
        for name in access.principal.names {
            if !names.contains(&name) {
                names.insert(name);
            }
        }
        let (reads, denied) = match access.outcome {
            Outcome::Read => (1, 0),
            Outcome::Denied => (0, 1),
        };
        self.reads += reads as u64;
        self.denied += denied as u64;
        let agg = AccessAgg {
            operations: access.operation.bit(),
            first_seen: access.at_ms,
            last_seen: access.at_ms,
            reads,
            denied,
        };
        let key = AccessKey {
            identity_key: access.principal.key,
            source: access.source,
            secret: access.secret,
            day: day_of(access.at_ms),
            address: access.address,
        };
        self.access
            .entry(key)
            .and_modify(|known| known.merge(&agg))
            .or_insert(agg);
    }

    pub fn is_empty(&self) -> bool {
        self.access.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Batch::default();
    }
}
