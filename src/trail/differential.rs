//! Two ways of reading a text of Vault audit lines that must come to the same: as an
//! ingest reads it ([`parse_chunk`], whose parts answer requests by their shape and
//! skim lines), and line by line (every line parsed in full and fed to the pairing in
//! order). For the tests and the `vault_audit_line` fuzz target, which compare them.

use super::batch::{Batch, NamesGiven, NO_ADDRESS};
use super::chunk::{absorb, parse_chunk};
use super::pairing::Pairer;
use super::vault::parse_line;

/// One row of the index: identity, secret, day, address, and operations, reads,
/// denied, first and last seen.
pub type Row = (String, String, i64, Option<String>, [i64; 5]);

/// What reading a text of audit lines came to: records, malformed lines with their
/// reasons, rows and names; what still waited at the end is counted alone.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub records: u64,
    pub malformed: Vec<(u64, String)>,
    pub rows: Vec<Row>,
    pub names: Vec<(String, Vec<(String, String)>)>,
}

impl Outcome {
    fn of(records: u64, malformed: Vec<(u64, String)>, batch: &Batch) -> Outcome {
        let names = batch
            .names
            .iter()
            .map(|(key, (_, names))| (key.clone(), names.iter().cloned().collect()))
            .collect();
        Outcome {
            records,
            malformed,
            rows: rows(batch),
            names,
        }
    }
}

/// `batch`'s rows by value, sorted.
pub fn rows(batch: &Batch) -> Vec<Row> {
    let mut rows: Vec<_> = batch
        .keyed_rows()
        .map(|(key, agg)| {
            (
                batch.identities().value(key.identity).to_string(),
                batch.secrets(key.source).value(key.secret).to_string(),
                key.day,
                (key.address != NO_ADDRESS)
                    .then(|| batch.addresses().value(key.address).to_string()),
                [
                    agg.operations,
                    agg.reads,
                    agg.denied,
                    agg.first_seen,
                    agg.last_seen,
                ],
            )
        })
        .collect();
    rows.sort();
    rows
}

/// `text` read line by line: every line parsed in full by [`parse_line`] and fed to
/// the pairing in order.
pub fn read_line_by_line(text: &[u8]) -> Outcome {
    let mut pairer = Pairer::default();
    let mut accesses = Vec::new();
    let (mut records, mut malformed) = (0, Vec::new());
    for (number, line) in (1..).zip(text.split(|&byte| byte == b'\n')) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(line) {
            Ok(entry) => {
                records += 1;
                pairer.feed(entry, &mut accesses);
            }
            Err(reason) => malformed.push((number, reason)),
        }
    }
    pairer.drain(&mut accesses);
    let mut batch = Batch::default();
    for access in accesses {
        batch.take(access);
    }
    for access in pairer.take_retracted() {
        batch.retract(&access);
    }
    Outcome::of(records, malformed, &batch)
}

/// `text` read as an ingest reads a chunk: [`parse_chunk`] on one thread, then
/// [`absorb`].
pub fn read_by_chunk(text: &[u8]) -> Outcome {
    let mut given = NamesGiven::default();
    let mut batches = Vec::new();
    let parts = parse_chunk(text, 0, 1, &given, &mut batches);
    let (mut pairer, mut completed, mut malformed) =
        (Pairer::default(), Batch::default(), Vec::new());
    let records = absorb(
        parts,
        &mut pairer,
        &mut completed,
        &mut given,
        |line, why| malformed.push((line, why)),
    );
    let mut waiting = Vec::new();
    pairer.drain(&mut waiting);
    for access in waiting {
        completed.take(access);
    }
    batches.push(completed);
    Outcome::of(records, malformed, &Batch::merged(batches))
}

/// `text` with one byte deleted, replaced by one of `specials` or with one of them
/// inserted, at every place.
pub fn one_byte_variants<'a>(
    text: &'a [u8],
    specials: &'a [u8],
) -> impl Iterator<Item = Vec<u8>> + 'a {
    (0..text.len()).flat_map(move |at| {
        let (before, after) = text.split_at(at);
        std::iter::once([before, &after[1..]].concat()).chain(specials.iter().flat_map(
            move |&byte| {
                [
                    [before, &[byte], &after[1..]].concat(),
                    [before, &[byte], after].concat(),
                ]
            },
        ))
    })
}
