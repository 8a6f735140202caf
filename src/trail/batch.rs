//! Accesses aggregated in memory before one write: per (identity key, source, secret,
//! UTC day, source address) the operations, first/last seen and counts, and the names
//! each identity key was seen under.
//!
//! A batch holds each identity key, secret and address once (interned to a small
//! number); its rows are keyed by those numbers, so counting a read costs a few hash
//! lookups of borrowed strings and no allocation once its terms are known. The writer
//! turns the batch's terms into `trail_terms` ids and writes the rows sorted by id, so
//! that concurrent writers (PostgreSQL) lock rows in one order.

use super::event::{day_of, Operation, Outcome, SecretAccess, Source};
use foldhash::HashMap;
use hashbrown::HashTable;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;

/// The strings of one kind of term (identity keys, one source's secrets, addresses)
/// a batch has seen, each numbered in the order first seen. The texts are kept one
/// after another in one string and the hash table holds only numbers: a lookup
/// compares with a text in that one string, not behind a pointer of its own (counting
/// a read looks up three terms, and the comparisons were a twentieth of an ingest).
#[derive(Default, Clone)]
pub struct Terms {
    /// Each term's number, found by the hash of its text.
    numbers: HashTable<u32>,
    /// The terms' texts, in the order of their numbers.
    text: String,
    /// Where each term's text ends in `text`.
    ends: Vec<usize>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for Terms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

/// Term `id` of `text`, whose terms end at `ends`.
fn term_in<'t>(text: &'t str, ends: &[usize], id: u32) -> &'t str {
    let id = id as usize;
    let start = match id {
        0 => 0,
        _ => ends.get(id - 1).copied().unwrap_or(usize::MAX),
    };
    let end = ends.get(id).copied().unwrap_or(0);
    text.get(start..end).unwrap_or_default()
}

impl Terms {
    /// The number of `value`, given one if it is new.
    pub fn intern(&mut self, value: &str) -> u32 {
        let hash = self.hasher.hash_one(value);
        let Terms {
            numbers,
            text,
            ends,
            hasher,
        } = self;
        if let Some(&id) = numbers.find(hash, |&id| term_in(text, ends, id) == value) {
            return id;
        }
        let id = u32::try_from(ends.len()).unwrap_or(u32::MAX);
        text.push_str(value);
        ends.push(text.len());
        numbers.insert_unique(hash, id, |&id| hasher.hash_one(term_in(text, ends, id)));
        id
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The term numbered `id` (empty if there is none).
    pub fn value(&self, id: u32) -> &str {
        term_in(&self.text, &self.ends, id)
    }

    /// Every term, in the order of their numbers.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &str> {
        (0..self.ends.len()).map(|id| self.value(id as u32))
    }

    /// `other`'s numbers as this one's (interning what is new).
    fn absorb(&mut self, other: &Terms) -> Vec<u32> {
        other.values().map(|value| self.intern(value)).collect()
    }
}

/// What the names of an identity were built from (its key and the raw values its
/// names come from, in one string), for the sources a reader has already given the
/// names of: a line whose source is in the set needs no names built. Bounded:
/// forgotten when full (the names are then only given again).
#[derive(Debug, Default)]
pub struct NamesGiven(foldhash::HashSet<Box<str>>);

/// Name sources remembered, at most.
const MAX_NAMES_GIVEN: usize = 100_000;

impl NamesGiven {
    pub fn contains(&self, source: &str) -> bool {
        self.0.contains(source)
    }

    pub fn insert(&mut self, source: &str) {
        self.0.insert(source.into());
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Remember `other`'s sources too.
    pub fn absorb(&mut self, other: NamesGiven) {
        if self.0.len() + other.0.len() > MAX_NAMES_GIVEN {
            self.0.clear();
        }
        self.0.extend(other.0);
    }
}

/// One row of a batch, by term number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    pub identity: u32,
    pub source: Source,
    /// A number in the batch's secrets of `source`.
    pub secret: u32,
    pub day: i64,
    /// [`NO_ADDRESS`] when the trail names none.
    pub address: u32,
}

/// [`RowKey::address`] of a read whose trail names no source address.
pub const NO_ADDRESS: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessAgg {
    pub operations: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reads: i64,
    pub denied: i64,
}

impl AccessAgg {
    /// One attempt.
    pub fn one(operation: Operation, at_ms: i64, outcome: Outcome) -> Self {
        let (reads, denied) = match outcome {
            Outcome::Read => (1, 0),
            Outcome::Denied => (0, 1),
        };
        AccessAgg {
            operations: operation.bit(),
            first_seen: at_ms,
            last_seen: at_ms,
            reads,
            denied,
        }
    }

    /// This attempt taken back: the counts negated (first and last seen kept, which a
    /// merge leaves as they were).
    pub fn taken_back(self) -> Self {
        AccessAgg {
            reads: -self.reads,
            denied: -self.denied,
            ..self
        }
    }

    /// Fold `other` (a later or earlier part of the same key's accesses) into this.
    pub fn merge(&mut self, other: &AccessAgg) {
        self.operations |= other.operations;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.reads += other.reads;
        self.denied += other.denied;
    }
}

/// One attempt to read a secret, its strings borrowed (see [`SecretAccess`]).
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub identity_key: &'a str,
    pub source: Source,
    pub secret: &'a str,
    pub address: Option<&'a str>,
    pub operation: Operation,
    pub at_ms: i64,
    pub outcome: Outcome,
}

impl<'a> From<&'a SecretAccess> for Read<'a> {
    fn from(access: &'a SecretAccess) -> Self {
        Read {
            identity_key: &access.principal.key,
            source: access.source,
            secret: &access.secret,
            address: access.address.as_deref(),
            operation: access.operation,
            at_ms: access.at_ms,
            outcome: access.outcome,
        }
    }
}

#[derive(Debug, Default)]
pub struct Batch {
    identities: Terms,
    /// Per source (`Source as usize`).
    secrets: [Terms; 2],
    addresses: Terms,
    rows: HashMap<RowKey, AccessAgg>,
    /// Per identity number, the name source (see [`NamesGiven`]) whose names a reader
    /// last made sure were given while counting into this batch: a read under the
    /// same one needs no look in the name sets.
    names_checked: Vec<Box<str>>,
    /// identity key → (source, {(kind, value)}).
    pub names: BTreeMap<String, (Source, BTreeSet<(String, String)>)>,
    /// Successful reads and denied attempts added.
    pub reads: u64,
    pub denied: u64,
}

impl Batch {
    /// A batch with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        let mut batch = Batch::default();
        batch.rows.reserve(rows);
        batch
    }

    pub fn add(&mut self, access: &SecretAccess) {
        self.add_names(
            &access.principal.key,
            access.source,
            access.principal.names.iter().cloned(),
        );
        self.record(Read::from(access));
    }

    /// [`Batch::add`] of an access the caller gives away (its names are moved into the
    /// batch, not copied).
    pub fn take(&mut self, mut access: SecretAccess) {
        let names = std::mem::take(&mut access.principal.names);
        self.add_names(&access.principal.key, access.source, names);
        self.record(Read::from(&access));
    }

    /// Count one attempt (the identity's names are added apart, by
    /// [`Batch::add_names`]).
    pub fn record(&mut self, read: Read<'_>) {
        let identity = self.identity(read.identity_key);
        self.record_as(identity, read);
    }

    /// The number of `identity_key` in this batch (given one if it is new).
    pub fn identity(&mut self, identity_key: &str) -> u32 {
        self.identities.intern(identity_key)
    }

    /// Whether `names_source` is the one last made sure of for `identity`.
    pub fn names_checked(&self, identity: u32, names_source: &str) -> bool {
        self.names_checked
            .get(identity as usize)
            .is_some_and(|checked| **checked == *names_source)
    }

    /// Remember that the names of `names_source` were made sure of for `identity`.
    pub fn set_names_checked(&mut self, identity: u32, names_source: &str) {
        let at = identity as usize;
        if self.names_checked.len() <= at {
            self.names_checked.resize_with(at + 1, Box::default);
        }
        self.names_checked[at] = names_source.into();
    }

    /// Take back the count of `access` (counted before, in this batch or an earlier
    /// one): a row with negative counts, which sums to what should have been counted.
    pub fn retract(&mut self, access: &SecretAccess) {
        let read = Read::from(access);
        let identity = self.identity(read.identity_key);
        let key = self.row_key(identity, &read);
        let agg = AccessAgg::one(read.operation, read.at_ms, read.outcome).taken_back();
        self.count(key, agg);
    }

    /// [`Batch::record`] of a read whose identity key is numbered `identity` here.
    pub fn record_as(&mut self, identity: u32, read: Read<'_>) {
        let key = self.row_key(identity, &read);
        let agg = AccessAgg::one(read.operation, read.at_ms, read.outcome);
        self.count(key, agg);
    }

    /// The row of `read` by the identity numbered `identity`.
    fn row_key(&mut self, identity: u32, read: &Read<'_>) -> RowKey {
        RowKey {
            identity,
            source: read.source,
            secret: self.secrets[read.source as usize].intern(read.secret),
            day: day_of(read.at_ms),
            address: read
                .address
                .map_or(NO_ADDRESS, |address| self.addresses.intern(address)),
        }
    }

    fn count(&mut self, key: RowKey, agg: AccessAgg) {
        // A count taken back is negative: the totals wrap the same way in every batch,
        // and the batches of one commit sum to what was counted.
        self.reads = self.reads.wrapping_add_signed(agg.reads);
        self.denied = self.denied.wrapping_add_signed(agg.denied);
        self.rows
            .entry(key)
            .and_modify(|known| known.merge(&agg))
            .or_insert(agg);
    }

    /// Add names `identity_key` was seen under.
    pub fn add_names(
        &mut self,
        identity_key: &str,
        source: Source,
        names: impl IntoIterator<Item = (String, String)>,
    ) {
        let known = match self.names.get_mut(identity_key) {
            Some((_, known)) => known,
            None => {
                &mut self
                    .names
                    .entry(identity_key.to_string())
                    .or_insert((source, BTreeSet::new()))
                    .1
            }
        };
        known.extend(names);
    }

    /// Fold `other` (accesses counted apart, e.g. on another thread) into this batch.
    pub fn merge(&mut self, other: Batch) {
        let identities = self.identities.absorb(&other.identities);
        let secrets = [
            self.secrets[0].absorb(&other.secrets[0]),
            self.secrets[1].absorb(&other.secrets[1]),
        ];
        let addresses = self.addresses.absorb(&other.addresses);
        self.rows.reserve(other.rows.len());
        for (key, agg) in other.rows {
            let key = RowKey {
                identity: identities[key.identity as usize],
                source: key.source,
                secret: secrets[key.source as usize][key.secret as usize],
                day: key.day,
                address: match key.address {
                    NO_ADDRESS => NO_ADDRESS,
                    address => addresses[address as usize],
                },
            };
            self.count(key, agg);
        }
        for (identity_key, (source, names)) in other.names {
            match self.names.get_mut(&identity_key) {
                Some((_, known)) => known.extend(names),
                None => {
                    self.names.insert(identity_key, (source, names));
                }
            }
        }
    }

    /// `batches` as one (the largest is kept, the others merged into it).
    pub fn merged(mut batches: Vec<Batch>) -> Batch {
        let largest = (0..batches.len()).max_by_key(|&i| batches[i].len());
        let mut merged = largest.map(|i| batches.swap_remove(i)).unwrap_or_default();
        for batch in batches {
            merged.merge(batch);
        }
        merged
    }

    /// The identity keys of the rows.
    pub fn identities(&self) -> &Terms {
        &self.identities
    }

    /// The secrets of `source` of the rows.
    pub fn secrets(&self, source: Source) -> &Terms {
        &self.secrets[source as usize]
    }

    /// The source addresses of the rows.
    pub fn addresses(&self) -> &Terms {
        &self.addresses
    }

    /// The rows, by term number (in no particular order).
    pub fn keyed_rows(&self) -> impl ExactSizeIterator<Item = (&RowKey, &AccessAgg)> {
        self.rows.iter()
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Batch::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::event::Principal;

    fn access(identity: &str, secret: &str, at_ms: i64, address: Option<&str>) -> SecretAccess {
        SecretAccess {
            source: Source::Vault,
            principal: Principal {
                key: identity.into(),
                names: vec![("login".into(), identity.to_lowercase())],
            },
            secret: secret.into(),
            operation: Operation::Read,
            at_ms,
            address: address.map(str::to_string),
            outcome: Outcome::Read,
        }
    }

    /// (identity, secret, day, address, reads, first seen, last seen), sorted.
    type Summary = Vec<(String, String, i64, Option<String>, i64, i64, i64)>;

    fn summary(batch: &Batch) -> Summary {
        crate::trail::differential::rows(batch)
            .into_iter()
            .map(
                |(identity, secret, day, address, [_, reads, _, first, last])| {
                    (identity, secret, day, address, reads, first, last)
                },
            )
            .collect()
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn reads_of_one_key_on_one_day_from_one_address_are_one_row() {
        let mut batch = Batch::default();
        batch.add(&access("A", "s/1", 10, Some("10.0.0.1")));
        batch.take(access("A", "s/1", 20, Some("10.0.0.1")));
        batch.add(&access("A", "s/1", DAY + 5, Some("10.0.0.1")));
        batch.add(&access("A", "s/1", 30, None));
        batch.add(&access("B", "s/1", 30, None));
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.reads, 5);
        assert_eq!(
            summary(&batch)[0],
            ("A".into(), "s/1".into(), 0, None, 1, 30, 30)
        );
        assert_eq!(
            summary(&batch)[1],
            (
                "A".into(),
                "s/1".into(),
                0,
                Some("10.0.0.1".into()),
                2,
                10,
                20
            )
        );
        assert_eq!(batch.identities().values().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(batch.addresses().len(), 1);
    }

    #[test]
    fn terms_are_numbered_in_the_order_first_seen() {
        let mut terms = Terms::default();
        let words = ["b", "", "a", "secret/app/s00001", "a", "b", "", "ab", "ba"];
        let numbers: Vec<u32> = words.iter().map(|word| terms.intern(word)).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 2, 0, 1, 4, 5]);
        assert_eq!(
            terms.values().collect::<Vec<_>>(),
            ["b", "", "a", "secret/app/s00001", "ab", "ba"]
        );
        assert_eq!((terms.len(), terms.value(4), terms.value(6)), (6, "ab", ""));
        // Many, through the table's growth.
        for n in 0..10_000 {
            assert_eq!(terms.intern(&format!("t{n}")), 6 + n);
        }
        for n in (0..10_000).rev() {
            assert_eq!(terms.intern(&format!("t{n}")), 6 + n);
            assert_eq!(terms.value(6 + n), format!("t{n}"));
        }
        assert_eq!(format!("{:?}", Terms::default()), "[]");
    }

    #[test]
    fn merged_batches_count_as_one_batch_would() {
        let reads = [
            ("A", "s/1", 10, Some("10.0.0.1")),
            ("B", "s/2", 20, None),
            ("A", "s/1", 15, Some("10.0.0.1")),
            ("C", "s/3", DAY * 3, Some("10.0.0.9")),
            ("B", "s/1", 40, Some("10.0.0.1")),
            ("A", "s/2", 50, None),
        ];
        let mut whole = Batch::default();
        for (identity, secret, at, address) in reads {
            whole.add(&access(identity, secret, at, address));
        }
        // Two halves with their own numbering (B before A in the second).
        let mut first = Batch::default();
        let mut second = Batch::default();
        for (i, (identity, secret, at, address)) in reads.into_iter().rev().enumerate() {
            let half = if i % 2 == 0 { &mut first } else { &mut second };
            half.add(&access(identity, secret, at, address));
        }
        first.merge(second);
        assert_eq!(summary(&first), summary(&whole));
        assert_eq!(first.reads, whole.reads);
        assert_eq!(first.names, whole.names);
    }
}
