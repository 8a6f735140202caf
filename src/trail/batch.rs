//! Accesses aggregated in memory before one write: per (identity key, source, secret,
//! UTC day) the operations, first/last seen and counts; the distinct source addresses;
//! the names each identity key was seen under. Sorted maps, so that concurrent writers
//! (PostgreSQL) lock rows in one order.

use super::event::{day_of, Outcome, SecretAccess, Source};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccessKey {
    pub identity_key: String,
    pub source: Source,
    pub secret: String,
    pub day: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessAgg {
    pub operations: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reads: i64,
    pub denied: i64,
}

#[derive(Debug, Default)]
pub struct Batch {
    pub access: BTreeMap<AccessKey, AccessAgg>,
    /// (identity key, source, secret, address) → last seen.
    pub addresses: BTreeMap<(String, Source, String, String), i64>,
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
        if let Some(address) = access.address {
            let last = self
                .addresses
                .entry((
                    access.principal.key.clone(),
                    access.source,
                    access.secret.clone(),
                    address,
                ))
                .or_insert(access.at_ms);
            *last = (*last).max(access.at_ms);
        }
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
        let key = AccessKey {
            identity_key: access.principal.key,
            source: access.source,
            secret: access.secret,
            day: day_of(access.at_ms),
        };
        let (reads, denied) = match access.outcome {
            Outcome::Read => (1, 0),
            Outcome::Denied => (0, 1),
        };
        self.reads += reads as u64;
        self.denied += denied as u64;
        self.access
            .entry(key)
            .and_modify(|agg| {
                agg.operations |= access.operation.bit();
                agg.first_seen = agg.first_seen.min(access.at_ms);
                agg.last_seen = agg.last_seen.max(access.at_ms);
                agg.reads += reads;
                agg.denied += denied;
            })
            .or_insert(AccessAgg {
                operations: access.operation.bit(),
                first_seen: access.at_ms,
                last_seen: access.at_ms,
                reads,
                denied,
            });
    }

    pub fn is_empty(&self) -> bool {
        self.access.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Batch::default();
    }
}
