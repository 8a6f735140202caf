//! Verification of the hash chain, of signed checkpoints, and of whole export bundles,
//! offline and streaming (memory: 32 bytes per entry for the checkpoint comparison,
//! plus one line at a time).
//!
//! What `leaver evidence verify` checks, in order, stopping the chain at the first
//! entry that fails:
//!
//! 1. the header: `format` is `leaver-evidence-bundle/1`; `public_key_pem` is an
//!    Ed25519 public key whose id is `key_id`; when the auditor pinned a key, it is
//!    that key; `1 <= from_seq <= to_seq`; `anchor_prev_hash` is a hash, the genesis
//!    hash when `from_seq` is 1;
//! 2. every line is well-formed (a malformed line is reported by its line number);
//! 3. each entry, in file order: its `seq` is the next expected one (`from_seq`, then
//!    +1 each; a gap or a reorder fails at the seq that was expected), not beyond
//!    `to_seq`; its `prev_hash` equals the previous entry's `hash` (the anchor for the
//!    first entry); the digest recomputed from its `payload` equals `payload_digest`
//!    (unless the payload is redacted); the hash recomputed from `prev_hash` and its
//!    fields equals `hash`;
//! 4. the entries reach `to_seq`;
//! 5. each checkpoint: signed by the bundle's key (a checkpoint naming another
//!    `key_id` is reported as not checkable), its signature verifies, and its `hash`
//!    equals the recomputed hash of entry `seq` (the anchor for `from_seq - 1`); a
//!    checkpoint for a seq outside the exported range is reported as not checkable,
//!    but its signature must still verify);
//! 6. a valid checkpoint exists at the last entry: it vouches for the whole chain.
//!
//! The failure reported is the first problem in chain order: the first entry that
//! fails, unless a checkpoint shows that an earlier entry was changed after it was
//! signed (a rewrite that re-hashed every later entry), in which case that
//! checkpoint is named. A malformed line is reported if nothing failed before it.
//!
//! What verification cannot show: that the bundle is the whole ledger. A bundle cut
//! after one of its signed checkpoints, with `to_seq` edited to match, is a valid
//! bundle of fewer entries; compare `from_seq`/`to_seq` and the checkpoint times with
//! what you asked for.

use super::bundle::{BundleHeader, BundleItem, BundleReader};
use super::entry::{chain_hash_bytes, decode_hash, truncate_for_message, Entry, GENESIS_HASH};
use super::signing::{key_id, parse_public_key_pem, verify_checkpoint_with, Checkpoint};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

/// The first thing that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerifyFailure {
    /// The entry (or checkpoint's entry) concerned, when there is one.
    pub seq: Option<i64>,
    /// The 1-based line of the bundle, when verifying a bundle.
    pub line: Option<u64>,
    /// Human-readable, starting with what failed: `entry 17: hash mismatch (stored …,
    /// recomputed …)`, `checkpoint at entry 6: …`, `line 9: not valid JSON: …`.
    pub reason: String,
}

/// The result of checking a chain of entries alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub ok: bool,
    /// Entries that verified (before the failure, if any).
    pub entries_checked: u64,
    /// Entries whose payload was redacted (only their stated digest was chained).
    pub payloads_redacted: u64,
    /// First and last entry that verified.
    pub first_entry_seq: Option<i64>,
    pub last_entry_seq: Option<i64>,
    /// Hash of the last entry that verified.
    pub last_hash: Option<String>,
    pub failure: Option<VerifyFailure>,
}

/// The result of verifying a bundle (or the ledger in the database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerifyReport {
    /// True when nothing failed.
    pub ok: bool,
    /// The bundle's `format` (None when verifying the database).
    pub format: Option<String>,
    /// Entries that verified (before the failure, if any).
    pub entries_checked: u64,
    /// Checkpoints whose signature verified and whose hash matched the chain.
    pub checkpoints_checked: u64,
    /// Checkpoints that could not be checked (another key, outside the range).
    pub checkpoints_not_checkable: u64,
    /// Entries whose payload was redacted.
    pub payloads_redacted: u64,
    /// First and last entry that verified.
    pub first_entry_seq: Option<i64>,
    pub last_entry_seq: Option<i64>,
    /// The highest entry covered by a valid checkpoint.
    pub last_signed_seq: Option<i64>,
    /// Id of the key the checkpoints were checked against.
    pub key_id: Option<String>,
    /// Observations that are not failures (checkpoints not checkable, unsigned tail).
    pub notes: Vec<String>,
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    fn empty() -> Self {
        Self {
            ok: false,
            format: None,
            entries_checked: 0,
            checkpoints_checked: 0,
            checkpoints_not_checkable: 0,
            payloads_redacted: 0,
            first_entry_seq: None,
            last_entry_seq: None,
            last_signed_seq: None,
            key_id: None,
            notes: Vec::new(),
            failure: None,
        }
    }

    pub fn failed(failure: VerifyFailure) -> Self {
        Self {
            failure: Some(failure),
            ..Self::empty()
        }
    }

    /// A few lines for a terminal: the verdict first (`OK: …` or `FAILED: <reason>`).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let entries = match (self.first_entry_seq, self.last_entry_seq) {
            (Some(first), Some(last)) if first == last => format!("1 entry ({first})"),
            (Some(first), Some(last)) => {
                format!("{} entries ({first}..{last})", self.entries_checked)
            }
            _ => "no entries".to_string(),
        };
        let checkpoints = plural(
            self.checkpoints_checked,
            "signed checkpoint",
            "signed checkpoints",
        );
        let key = self.key_id.as_deref().unwrap_or("(unknown)");
        match &self.failure {
            None => {
                out.push_str(&format!("OK: {entries}, hash chain intact"));
                out.push_str(&format!("\n{checkpoints} verified under key {key}"));
                if let Some(signed) = self.last_signed_seq {
                    out.push_str(&format!("; signed up to entry {signed}"));
                }
            }
            Some(failure) => {
                out.push_str(&format!("FAILED: {}", failure.reason));
                if let Some(line) = failure.line {
                    out.push_str(&format!("\n  at line {line} of the bundle"));
                }
                out.push_str(&format!(
                    "\nverified before the failure: {entries}, {checkpoints}; key {key}"
                ));
            }
        }
        if self.payloads_redacted > 0 {
            out.push_str(&format!(
                "\n{} (chained through the stated digest only)",
                plural(
                    self.payloads_redacted,
                    "redacted payload",
                    "redacted payloads"
                )
            ));
        }
        for note in &self.notes {
            out.push_str("\nnote: ");
            out.push_str(note);
        }
        out
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Verified hashes remembered for checkpoint comparison.
enum HashMemory {
    /// Every verified hash, indexed by `seq - first_seq`.
    All(Vec<[u8; 32]>),
    /// Only the hashes of these seqs.
    Only {
        wanted: HashSet<i64>,
        found: HashMap<i64, [u8; 32]>,
    },
}

/// Streaming verifier of a hash chain: push entries in order; it stops at the first
/// entry that fails and remembers the verified hashes needed to check checkpoints.
pub struct ChainVerifier {
    anchor: [u8; 32],
    anchor_hex: String,
    anchor_name: &'static str,
    expected_seq: Option<i64>,
    first_seq: Option<i64>,
    last: Option<(i64, [u8; 32])>,
    hashes: HashMemory,
    entries_checked: u64,
    payloads_redacted: u64,
    failure: Option<VerifyFailure>,
}

impl ChainVerifier {
    /// A verifier for a chain whose first entry's `prev_hash` is `anchor_prev_hash`.
    /// `first_seq` is the seq the first entry must have; when None it is 1 after the
    /// genesis hash and otherwise whatever the first entry says. Remembers no hashes
    /// (see [`ChainVerifier::remember_all`] and [`ChainVerifier::remember`]).
    pub fn new(anchor_prev_hash: &str, first_seq: Option<i64>) -> Result<Self, String> {
        let anchor = decode_hash(anchor_prev_hash).map_err(|e| format!("anchor_prev_hash {e}"))?;
        let genesis = anchor_prev_hash == GENESIS_HASH;
        let first_seq = first_seq.or(if genesis { Some(1) } else { None });
        Ok(Self {
            anchor,
            anchor_hex: anchor_prev_hash.to_string(),
            anchor_name: if genesis {
                "the genesis hash"
            } else {
                "the anchor (anchor_prev_hash)"
            },
            expected_seq: first_seq,
            first_seq,
            last: None,
            hashes: HashMemory::Only {
                wanted: HashSet::new(),
                found: HashMap::new(),
            },
            entries_checked: 0,
            payloads_redacted: 0,
            failure: None,
        })
    }

    /// Remember every verified hash (32 bytes per entry), for checkpoints that are
    /// only known after the entries.
    pub fn remember_all(mut self) -> Self {
        self.hashes = HashMemory::All(Vec::new());
        self
    }

    /// Remember the verified hashes of these seqs only.
    pub fn remember(mut self, seqs: impl IntoIterator<Item = i64>) -> Self {
        self.hashes = HashMemory::Only {
            wanted: seqs.into_iter().collect(),
            found: HashMap::new(),
        };
        self
    }

    /// The seq the next entry must have (None before the first entry of a chain
    /// whose start is not fixed, or after seq overflow).
    pub fn expected_seq(&self) -> Option<i64> {
        self.expected_seq
    }

    pub fn failure(&self) -> Option<&VerifyFailure> {
        self.failure.as_ref()
    }

    /// Record a failure found outside the chain logic (e.g. the end of a bundle).
    pub fn fail(&mut self, seq: Option<i64>, line: Option<u64>, reason: String) {
        if self.failure.is_none() {
            self.failure = Some(VerifyFailure { seq, line, reason });
        }
    }

    /// The seq and hash of the last verified entry.
    pub fn last(&self) -> Option<(i64, String)> {
        self.last.map(|(seq, hash)| (seq, hex::encode(hash)))
    }

    /// The verified hash of entry `seq`, or the anchor for the entry before the
    /// first; None if that entry was not verified (or not remembered).
    pub fn verified_hash(&self, seq: i64) -> Option<[u8; 32]> {
        let first = self.first_seq?;
        if first.checked_sub(1) == Some(seq) {
            return Some(self.anchor);
        }
        let (last, last_hash) = self.last?;
        if seq < first || seq > last {
            return None;
        }
        if seq == last {
            return Some(last_hash);
        }
        match &self.hashes {
            HashMemory::All(all) => usize::try_from(seq - first)
                .ok()
                .and_then(|i| all.get(i))
                .copied(),
            HashMemory::Only { found, .. } => found.get(&seq).copied(),
        }
    }

    /// Check the next entry. Returns false once the chain has failed (this entry or
    /// an earlier one); later entries are then ignored.
    pub fn push(&mut self, entry: &Entry, line: Option<u64>, redacted: bool) -> bool {
        if self.failure.is_some() {
            return false;
        }
        match self.check(entry, redacted) {
            Ok(hash) => {
                if self.first_seq.is_none() {
                    self.first_seq = Some(entry.seq);
                }
                match &mut self.hashes {
                    HashMemory::All(all) => all.push(hash),
                    HashMemory::Only { wanted, found } => {
                        if wanted.contains(&entry.seq) {
                            found.insert(entry.seq, hash);
                        }
                    }
                }
                self.last = Some((entry.seq, hash));
                self.expected_seq = entry.seq.checked_add(1);
                self.entries_checked += 1;
                if redacted {
                    self.payloads_redacted += 1;
                }
                true
            }
            Err((seq, reason)) => {
                self.failure = Some(VerifyFailure {
                    seq: Some(seq),
                    line,
                    reason,
                });
                false
            }
        }
    }

    fn check(&self, entry: &Entry, redacted: bool) -> Result<[u8; 32], (i64, String)> {
        let seq = entry.seq;
        match (self.expected_seq, &self.last) {
            (Some(expected), _) if seq != expected => {
                return Err((expected, format!("entry {expected}: expected seq {expected}, found {seq}")))
            }
            (None, Some((last, _))) => {
                return Err((seq, format!("entry {seq}: no seq can follow entry {last}")))
            }
            (None, None) if seq < 2 => {
                return Err((
                    seq,
                    format!("entry {seq}: a chain that does not start at the genesis hash cannot start at seq {seq}"),
                ))
            }
            _ => {}
        }
        let prev = match &self.last {
            None => {
                if entry.prev_hash != self.anchor_hex {
                    return Err((
                        seq,
                        format!(
                            "entry {seq}: prev_hash does not match {} (expected {}, found {})",
                            self.anchor_name,
                            self.anchor_hex,
                            truncate_for_message(&entry.prev_hash)
                        ),
                    ));
                }
                self.anchor
            }
            Some((last_seq, last_hash)) => {
                if entry.prev_hash != hex::encode(last_hash) {
                    return Err((
                        seq,
                        format!(
                            "entry {seq}: prev_hash does not link to entry {last_seq} (expected {}, found {})",
                            hex::encode(last_hash),
                            truncate_for_message(&entry.prev_hash)
                        ),
                    ));
                }
                *last_hash
            }
        };
        if !redacted {
            let recomputed = entry
                .recompute_payload_digest()
                .map_err(|e| (seq, format!("entry {seq}: {e}")))?;
            if recomputed != entry.payload_digest {
                return Err((
                    seq,
                    format!(
                        "entry {seq}: payload digest mismatch (stored {}, recomputed {recomputed})",
                        truncate_for_message(&entry.payload_digest)
                    ),
                ));
            }
        }
        let fields = super::entry::HashedFields {
            seq,
            time: &entry.time,
            kind: &entry.kind,
            actor: &entry.actor,
            subject: &entry.subject,
            payload_digest: &entry.payload_digest,
        };
        let recomputed = chain_hash_bytes(&prev, &fields);
        let recomputed_hex = hex::encode(recomputed);
        if recomputed_hex != entry.hash {
            return Err((
                seq,
                format!(
                    "entry {seq}: hash mismatch (stored {}, recomputed {recomputed_hex})",
                    truncate_for_message(&entry.hash)
                ),
            ));
        }
        Ok(recomputed)
    }

    /// The report so far.
    pub fn report(&self) -> ChainReport {
        let first_entry_seq = self.last.and(self.first_seq);
        ChainReport {
            ok: self.failure.is_none(),
            entries_checked: self.entries_checked,
            payloads_redacted: self.payloads_redacted,
            first_entry_seq,
            last_entry_seq: self.last.map(|(seq, _)| seq),
            last_hash: self.last.map(|(_, hash)| hex::encode(hash)),
            failure: self.failure.clone(),
        }
    }
}

/// Verify a chain of entries (in seq order) that follows `anchor_prev_hash`
/// ([`GENESIS_HASH`] for a chain from entry 1, which must then start at seq 1).
pub fn verify_entries<I>(anchor_prev_hash: &str, entries: I) -> ChainReport
where
    I: IntoIterator,
    I::Item: std::borrow::Borrow<Entry>,
{
    let mut chain = match ChainVerifier::new(anchor_prev_hash, None) {
        Ok(chain) => chain,
        Err(e) => {
            return ChainReport {
                ok: false,
                entries_checked: 0,
                payloads_redacted: 0,
                first_entry_seq: None,
                last_entry_seq: None,
                last_hash: None,
                failure: Some(VerifyFailure {
                    seq: None,
                    line: None,
                    reason: e,
                }),
            }
        }
    };
    for entry in entries {
        if !chain.push(std::borrow::Borrow::borrow(&entry), None, false) {
            break;
        }
    }
    chain.report()
}

/// Checks checkpoints against a chain and tracks the lowest failing one.
struct CheckpointChecker<'k> {
    key: &'k VerifyingKey,
    key_id: String,
    /// The exported range: checkpoints outside `from - 1 ..= to` are not checkable.
    range: Option<(i64, i64)>,
    checked: u64,
    not_checkable: u64,
    last_signed: Option<i64>,
    failure: Option<VerifyFailure>,
    notes: Vec<String>,
    notes_suppressed: u64,
}

/// Most notes about unchecked checkpoints listed one by one.
const MAX_NOTES: usize = 20;

impl<'k> CheckpointChecker<'k> {
    fn new(key: &'k VerifyingKey, range: Option<(i64, i64)>) -> Self {
        Self {
            key,
            key_id: key_id(key),
            range,
            checked: 0,
            not_checkable: 0,
            last_signed: None,
            failure: None,
            notes: Vec::new(),
            notes_suppressed: 0,
        }
    }

    fn check(&mut self, chain: &ChainVerifier, checkpoint: &Checkpoint, line: Option<u64>) {
        let seq = checkpoint.seq;
        let at = match line {
            Some(line) => format!("checkpoint at entry {seq} (line {line})"),
            None => format!("checkpoint at entry {seq}"),
        };
        if checkpoint.key_id != self.key_id {
            self.not_checkable += 1;
            self.note(format!(
                "{at} is signed by another key ({}); not checked",
                truncate_for_message(&checkpoint.key_id)
            ));
            return;
        }
        if let Err(e) = verify_checkpoint_with(self.key, checkpoint) {
            self.fail(seq, line, format!("checkpoint at entry {seq}: {e}"));
            return;
        }
        match chain.verified_hash(seq) {
            Some(hash) => {
                let hash = hex::encode(hash);
                if hash != checkpoint.hash {
                    self.fail(
                        seq,
                        line,
                        format!(
                            "checkpoint at entry {seq}: the signed hash {} does not match the chain's hash {hash} \
                             at entry {seq} (entries up to {seq} were changed after they were signed)",
                            truncate_for_message(&checkpoint.hash)
                        ),
                    );
                } else {
                    self.checked += 1;
                    self.last_signed = Some(self.last_signed.map_or(seq, |s| s.max(seq)));
                }
            }
            None => {
                self.not_checkable += 1;
                let within = match self.range {
                    Some((from, to)) => seq >= from.saturating_sub(1) && seq <= to,
                    None => true,
                };
                if within && chain.failure().is_some() {
                    self.note(format!("{at} was not checked: the chain failed before it"));
                } else {
                    let range = match self.range {
                        Some((from, to)) => format!("the exported range {from}..{to}"),
                        None => "the entries".to_string(),
                    };
                    self.note(format!("{at} is outside {range}; not checked"));
                }
            }
        }
    }

    /// Keeps the first [`MAX_NOTES`] notes and counts the rest.
    fn note(&mut self, note: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note);
        } else {
            self.notes_suppressed += 1;
        }
    }

    fn fail(&mut self, seq: i64, line: Option<u64>, reason: String) {
        let lower = match &self.failure {
            None => true,
            Some(existing) => existing.seq.is_some_and(|s| seq < s),
        };
        if lower {
            self.failure = Some(VerifyFailure {
                seq: Some(seq),
                line,
                reason,
            });
        }
    }
}

/// Puts the chain's and the checkpoints' results into a report. The failure is the
/// one concerning the lowest seq (the chain's on a tie); then `other` (e.g. a
/// malformed line); then, with `require_last_signed`, missing coverage of the last
/// entry.
fn finish(
    mut report: VerifyReport,
    chain: &ChainVerifier,
    checker: CheckpointChecker<'_>,
    other: Option<VerifyFailure>,
    require_last_signed: bool,
) -> VerifyReport {
    let chain_report = chain.report();
    report.entries_checked = chain_report.entries_checked;
    report.payloads_redacted = chain_report.payloads_redacted;
    report.first_entry_seq = chain_report.first_entry_seq;
    report.last_entry_seq = chain_report.last_entry_seq;
    report.checkpoints_checked = checker.checked;
    report.checkpoints_not_checkable = checker.not_checkable;
    report.last_signed_seq = checker.last_signed;
    report.key_id = Some(checker.key_id.clone());
    report.notes.extend(checker.notes);
    if checker.notes_suppressed > 0 {
        report.notes.push(format!(
            "… and {} more checkpoints not checked",
            checker.notes_suppressed
        ));
    }
    let mut failure = match (chain_report.failure, checker.failure) {
        (Some(c), Some(k)) => {
            if k.seq.unwrap_or(i64::MAX) < c.seq.unwrap_or(i64::MAX) {
                Some(k)
            } else {
                Some(c)
            }
        }
        (c, k) => c.or(k),
    };
    if failure.is_none() {
        failure = other;
    }
    if failure.is_none() {
        if let Some(last) = chain_report.last_entry_seq {
            if checker.last_signed != Some(last) {
                if require_last_signed {
                    failure = Some(VerifyFailure {
                        seq: Some(last),
                        line: None,
                        reason: format!("no signed checkpoint covers the last entry {last}"),
                    });
                } else {
                    let from = checker
                        .last_signed
                        .map_or(chain_report.first_entry_seq.unwrap_or(last), |s| s + 1);
                    report.notes.push(format!(
                        "entries {from}..{last} are not yet covered by a signed checkpoint"
                    ));
                }
            }
        }
    }
    report.ok = failure.is_none();
    report.failure = failure;
    report
}

/// Verify entries (in seq order) and checkpoints known up front, e.g. the ledger in
/// the database. Only the hashes at the checkpoints' seqs are kept. With
/// `require_last_signed`, the last entry must be covered by a valid checkpoint;
/// without, an unsigned tail is reported as a note.
pub fn verify_chain_with_checkpoints<I>(
    anchor_prev_hash: &str,
    entries: I,
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
    require_last_signed: bool,
) -> VerifyReport
where
    I: IntoIterator,
    I::Item: std::borrow::Borrow<Entry>,
{
    let chain = match ChainVerifier::new(anchor_prev_hash, None) {
        Ok(chain) => chain,
        Err(reason) => {
            return VerifyReport::failed(VerifyFailure {
                seq: None,
                line: None,
                reason,
            })
        }
    };
    let mut chain = chain.remember(checkpoints.iter().map(|c| c.seq));
    for entry in entries {
        if !chain.push(std::borrow::Borrow::borrow(&entry), None, false) {
            break;
        }
    }
    finish_with_checkpoints(&chain, checkpoints, key, require_last_signed)
}

/// The report of a chain fed entry by entry (e.g. page by page from a database):
/// checks `checkpoints` against it as `verify_chain_with_checkpoints` does. Build the
/// verifier with `.remember(checkpoint seqs)` so their hashes are kept.
pub fn finish_with_checkpoints(
    chain: &ChainVerifier,
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
    require_last_signed: bool,
) -> VerifyReport {
    let mut checker = CheckpointChecker::new(key, None);
    for checkpoint in checkpoints {
        checker.check(chain, checkpoint, None);
    }
    finish(
        VerifyReport::empty(),
        chain,
        checker,
        None,
        require_last_signed,
    )
}

/// Verify a bundle file. A file that cannot be opened is reported as a failure.
pub fn verify_bundle(path: impl AsRef<Path>) -> VerifyReport {
    verify_bundle_path(path.as_ref(), None)
}

/// Verify a bundle file and require that it is signed by `expected_public_key_pem`
/// (the key the auditor was given out of band).
pub fn verify_bundle_with_key(
    path: impl AsRef<Path>,
    expected_public_key_pem: &str,
) -> VerifyReport {
    verify_bundle_path(path.as_ref(), Some(expected_public_key_pem))
}

fn verify_bundle_path(path: &Path, expected: Option<&str>) -> VerifyReport {
    match std::fs::File::open(path) {
        Ok(file) => verify_bundle_reader(std::io::BufReader::new(file), expected),
        Err(e) => VerifyReport::failed(VerifyFailure {
            seq: None,
            line: None,
            reason: format!("cannot open {}: {e}", path.display()),
        }),
    }
}

/// Verify a bundle read line by line from `input`; with `expected_public_key_pem`,
/// the bundle must be signed by that key.
pub fn verify_bundle_reader<R: BufRead>(
    input: R,
    expected_public_key_pem: Option<&str>,
) -> VerifyReport {
    let reader = match BundleReader::new(input) {
        Ok(reader) => reader,
        Err(e) => {
            return VerifyReport::failed(VerifyFailure {
                seq: None,
                line: Some(e.line),
                reason: e.to_string(),
            })
        }
    };
    let header = reader.header().clone();
    let header_line = reader.line();
    let mut report = VerifyReport::empty();
    report.format = Some(header.format.clone());
    report.key_id = Some(header.key_id.clone());
    let header_failure = |reason: String| VerifyFailure {
        seq: None,
        line: Some(header_line),
        reason,
    };
    let key = match check_header(&header, expected_public_key_pem) {
        Ok(key) => key,
        Err(reason) => {
            report.failure = Some(header_failure(reason));
            return report;
        }
    };
    let chain = match ChainVerifier::new(&header.anchor_prev_hash, Some(header.from_seq)) {
        Ok(chain) => chain,
        Err(reason) => {
            report.failure = Some(header_failure(format!("header: {reason}")));
            return report;
        }
    };
    let mut chain = chain.remember_all();
    let mut checker = CheckpointChecker::new(&key, Some((header.from_seq, header.to_seq)));
    let mut read_failure = None;
    let mut entries_ended = false;
    let end_of_entries = |chain: &mut ChainVerifier, line: Option<u64>| {
        if chain.failure().is_some() {
            return;
        }
        let Some(expected) = chain.expected_seq() else {
            return;
        };
        if expected <= header.to_seq {
            chain.fail(
                Some(expected),
                line,
                format!(
                    "entry {expected}: expected seq {expected}, found the end of the entries \
                     (the header declares entries {}..{})",
                    header.from_seq, header.to_seq
                ),
            );
        }
    };
    for item in reader {
        match item {
            Err(e) => {
                read_failure = Some(VerifyFailure {
                    seq: None,
                    line: Some(e.line),
                    reason: e.to_string(),
                });
                break;
            }
            Ok(BundleItem::Entry {
                line,
                entry,
                redacted,
            }) => {
                if chain.failure().is_some() {
                    continue;
                }
                if let Some(expected) = chain.expected_seq() {
                    if expected > header.to_seq {
                        chain.fail(
                            Some(expected),
                            Some(line),
                            format!(
                                "entry {expected}: the bundle continues past the header's to_seq {} (found entry {})",
                                header.to_seq, entry.seq
                            ),
                        );
                        continue;
                    }
                }
                chain.push(&entry, Some(line), redacted);
            }
            Ok(BundleItem::Checkpoint { line, checkpoint }) => {
                if !entries_ended {
                    entries_ended = true;
                    end_of_entries(&mut chain, Some(line));
                }
                checker.check(&chain, &checkpoint, Some(line));
            }
        }
    }
    if !entries_ended && read_failure.is_none() {
        end_of_entries(&mut chain, None);
    }
    // A malformed line only counts when nothing failed before it; a failure found
    // before it in the chain stands.
    finish(report, &chain, checker, read_failure, true)
}

/// Header checks; returns the bundle's key.
fn check_header(
    header: &BundleHeader,
    expected_public_key_pem: Option<&str>,
) -> Result<VerifyingKey, String> {
    let key = parse_public_key_pem(&header.public_key_pem)
        .map_err(|e| format!("header: public_key_pem is {e}"))?;
    let id = key_id(&key);
    if header.key_id != id {
        return Err(format!(
            "header: key_id {} is not the id of public_key_pem ({id})",
            truncate_for_message(&header.key_id)
        ));
    }
    if let Some(expected) = expected_public_key_pem {
        let expected = parse_public_key_pem(expected)
            .map_err(|e| format!("the expected public key is {e}"))?;
        if expected != key {
            return Err(format!(
                "the bundle is signed by key {id}, not by the expected key {}",
                key_id(&expected)
            ));
        }
    }
    if header.from_seq < 1 || header.to_seq < header.from_seq {
        return Err(format!(
            "header: from_seq {} and to_seq {} are not a range of entries (1 <= from_seq <= to_seq)",
            header.from_seq, header.to_seq
        ));
    }
    decode_hash(&header.anchor_prev_hash).map_err(|e| format!("header: anchor_prev_hash {e}"))?;
    if header.from_seq == 1 && header.anchor_prev_hash != GENESIS_HASH {
        return Err(
            "header: a bundle from entry 1 must have the genesis hash (64 zeros) as anchor_prev_hash".to_string(),
        );
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::bundle::write_bundle;
    use crate::evidence::entry::EntryBody;
    use crate::evidence::signing::LedgerKey;
    use serde_json::json;

    const T0: &str = "2026-11-25T05:12:49.123Z";

    fn body(seq: i64) -> EntryBody {
        EntryBody {
            seq,
            time: format!("2026-11-25T05:12:{:02}.{:03}Z", seq % 60, seq % 1000),
            kind: "test.event".into(),
            actor: "tester".into(),
            subject: format!("subject-{}", seq % 3),
            payload: json!({"n": seq, "note": format!("entry {seq}"), "ratio": 0.5}),
        }
    }

    fn chain_from(first: i64, last: i64, anchor: &str) -> Vec<Entry> {
        let mut prev = anchor.to_string();
        (first..=last)
            .map(|seq| {
                let entry = Entry::seal(body(seq), &prev).expect("seal");
                prev = entry.hash.clone();
                entry
            })
            .collect()
    }

    fn chain(n: i64) -> Vec<Entry> {
        chain_from(1, n, GENESIS_HASH)
    }

    /// A bundle of entries 1..=n with checkpoints at `signed` (and the key).
    fn bundle(n: i64, signed: &[i64]) -> (String, LedgerKey, Vec<Entry>) {
        let key = LedgerKey::generate();
        let entries = chain(n);
        let text = bundle_of(&key, &entries, GENESIS_HASH, signed);
        (text, key, entries)
    }

    fn bundle_of(key: &LedgerKey, entries: &[Entry], anchor: &str, signed: &[i64]) -> String {
        let first = entries.first().map_or(1, |e| e.seq);
        let last = entries.last().map_or(0, |e| e.seq);
        let checkpoints: Vec<Checkpoint> = signed
            .iter()
            .map(|s| {
                let hash = entries
                    .iter()
                    .find(|e| e.seq == *s)
                    .map(|e| e.hash.clone())
                    .unwrap_or_else(|| GENESIS_HASH.to_string());
                key.sign_checkpoint(*s, &hash, T0)
            })
            .collect();
        let header = BundleHeader::new(first, last, anchor, key);
        let mut out = Vec::new();
        write_bundle(&mut out, &header, entries, &checkpoints).expect("write");
        String::from_utf8(out).expect("utf8")
    }

    fn verify_text(text: &str) -> VerifyReport {
        verify_bundle_reader(text.as_bytes(), None)
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    fn join(lines: &[String]) -> String {
        lines.join("\n") + "\n"
    }

    /// Edit the JSON object on line `index` (0-based).
    fn edit_line(
        text: &str,
        index: usize,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> String {
        let mut all = lines(text);
        let mut value: serde_json::Value = serde_json::from_str(&all[index]).expect("json");
        if let Some(object) = value.as_object_mut() {
            change(object);
        }
        all[index] = value.to_string();
        join(&all)
    }

    fn assert_fails(
        report: &VerifyReport,
        seq: Option<i64>,
        line: Option<u64>,
        reason_starts: &str,
    ) {
        assert!(!report.ok, "{report:#?}");
        let failure = report.failure.as_ref().expect("failure");
        assert_eq!(failure.seq, seq, "{failure:#?}");
        assert_eq!(failure.line, line, "{failure:#?}");
        assert!(
            failure.reason.starts_with(reason_starts),
            "expected a reason starting {reason_starts:?}, got {:?}",
            failure.reason
        );
        assert!(
            report.render_text().starts_with("FAILED: "),
            "{}",
            report.render_text()
        );
    }

    // Line numbers: line 1 is the header, entry k is on line k + 1 (bundles from 1).

    #[test]
    fn round_trip_verifies() {
        let (text, key, _) = bundle(20, &[10, 20]);
        let report = verify_text(&text);
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.entries_checked, 20);
        assert_eq!(report.checkpoints_checked, 2);
        assert_eq!(report.checkpoints_not_checkable, 0);
        assert_eq!(
            (report.first_entry_seq, report.last_entry_seq),
            (Some(1), Some(20))
        );
        assert_eq!(report.last_signed_seq, Some(20));
        assert_eq!(report.key_id.as_deref(), Some(key.key_id().as_str()));
        assert_eq!(report.format.as_deref(), Some("leaver-evidence-bundle/1"));
        assert!(report.failure.is_none());
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        let rendered = report.render_text();
        assert!(
            rendered.starts_with("OK: 20 entries (1..20), hash chain intact"),
            "{rendered}"
        );
        // Pinned to the right key.
        let pinned = verify_bundle_reader(text.as_bytes(), Some(&key.public_key_pem()));
        assert!(pinned.ok, "{pinned:#?}");
        // The report serializes (the CLI prints it as JSON).
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["ok"], true);
        assert_eq!(json["failure"], serde_json::Value::Null);
    }

    #[test]
    fn from_a_file_path() {
        let (text, key, _) = bundle(3, &[3]);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bundle.jsonl");
        std::fs::write(&path, &text).expect("write");
        assert!(verify_bundle(&path).ok);
        assert!(verify_bundle_with_key(&path, &key.public_key_pem()).ok);
        let missing = verify_bundle(dir.path().join("nope.jsonl"));
        assert_fails(&missing, None, None, "cannot open ");
    }

    #[test]
    fn a_partial_export_verifies_from_its_anchor() {
        let key = LedgerKey::generate();
        let all = chain(30);
        let anchor = all[9].hash.clone();
        let checkpoints: Vec<Checkpoint> = [5_usize, 10, 20, 25, 28]
            .iter()
            .map(|s| key.sign_checkpoint(*s as i64, &all[s - 1].hash, T0))
            .collect();
        let mut out = Vec::new();
        let header = BundleHeader::new(11, 25, anchor, &key);
        write_bundle(&mut out, &header, &all[10..25], &checkpoints).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        let report = verify_text(&text);
        assert!(report.ok, "{report:#?}");
        assert_eq!(
            (report.first_entry_seq, report.last_entry_seq),
            (Some(11), Some(25))
        );
        assert_eq!(report.entries_checked, 15);
        // 10 is the anchor itself (checkable), 20 and 25 in range; 5 and 28 outside.
        assert_eq!(report.checkpoints_checked, 3);
        assert_eq!(report.checkpoints_not_checkable, 2);
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.starts_with("checkpoint at entry 5 (line")),
            "{:?}",
            report.notes
        );
        assert!(report
            .notes
            .iter()
            .any(|n| n.contains("entry 28") && n.contains("outside")));
    }

    #[test]
    fn a_modified_payload_is_named() {
        let (text, _, _) = bundle(20, &[20]);
        let tampered = edit_line(&text, 17, |o| {
            o.insert(
                "payload".into(),
                json!({"n": 17, "note": "nothing happened", "ratio": 0.5}),
            );
        });
        let report = verify_text(&tampered);
        assert_fails(
            &report,
            Some(17),
            Some(18),
            "entry 17: payload digest mismatch (stored ",
        );
        assert_eq!(report.entries_checked, 16);
        assert_eq!(report.last_entry_seq, Some(16));
        assert!(
            report.render_text().contains("at line 18"),
            "{}",
            report.render_text()
        );
    }

    #[test]
    fn a_modified_payload_with_its_digest_is_a_hash_mismatch() {
        let (text, _, _) = bundle(20, &[20]);
        let payload = json!({"n": 17, "note": "rewritten"});
        let digest = crate::evidence::entry::payload_digest(&payload).expect("digest");
        let tampered = edit_line(&text, 17, |o| {
            o.insert("payload".into(), payload);
            o.insert("payload_digest".into(), json!(digest));
        });
        assert_fails(
            &verify_text(&tampered),
            Some(17),
            Some(18),
            "entry 17: hash mismatch (stored ",
        );
    }

    #[test]
    fn a_modified_kind_is_named() {
        let (text, _, _) = bundle(20, &[20]);
        let tampered = edit_line(&text, 7, |o| {
            o.insert("kind".into(), json!("test.other"));
        });
        assert_fails(
            &verify_text(&tampered),
            Some(7),
            Some(8),
            "entry 7: hash mismatch (stored ",
        );
    }

    #[test]
    fn a_modified_time_is_named() {
        let (text, _, _) = bundle(20, &[20]);
        let tampered = edit_line(&text, 12, |o| {
            o.insert("time".into(), json!("2020-01-01T00:00:00.000Z"));
        });
        assert_fails(
            &verify_text(&tampered),
            Some(12),
            Some(13),
            "entry 12: hash mismatch",
        );
    }

    #[test]
    fn a_modified_actor_or_subject_is_named() {
        let (text, _, _) = bundle(5, &[5]);
        for field in ["actor", "subject"] {
            let tampered = edit_line(&text, 2, |o| {
                o.insert(field.into(), json!("mallory"));
            });
            assert_fails(
                &verify_text(&tampered),
                Some(2),
                Some(3),
                "entry 2: hash mismatch",
            );
        }
    }

    #[test]
    fn a_modified_hash_is_named() {
        let (text, _, entries) = bundle(20, &[20]);
        let forged = "f".repeat(64);
        let tampered = edit_line(&text, 17, |o| {
            o.insert("hash".into(), json!(forged));
        });
        let report = verify_text(&tampered);
        assert_fails(&report, Some(17), Some(18), "entry 17: hash mismatch");
        let reason = &report.failure.as_ref().expect("failure").reason;
        assert!(
            reason.contains(&format!("stored {forged}, recomputed {}", entries[16].hash)),
            "{reason}"
        );
    }

    #[test]
    fn a_modified_prev_hash_is_named() {
        let (text, _, _) = bundle(20, &[20]);
        let tampered = edit_line(&text, 17, |o| {
            o.insert("prev_hash".into(), json!("a".repeat(64)));
        });
        assert_fails(
            &verify_text(&tampered),
            Some(17),
            Some(18),
            "entry 17: prev_hash does not link to entry 16",
        );
    }

    #[test]
    fn a_wrong_anchor_is_named() {
        let key = LedgerKey::generate();
        let all = chain(10);
        // Claims to follow a different entry 4.
        let text = bundle_of(&key, &all[4..], &"b".repeat(64), &[10]);
        assert_fails(
            &verify_text(&text),
            Some(5),
            Some(2),
            "entry 5: prev_hash does not match the anchor",
        );
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let (text, _, _) = bundle(20, &[20]);
        let mut all = lines(&text);
        all.remove(5); // entry 5
        let report = verify_text(&join(&all));
        assert_fails(
            &report,
            Some(5),
            Some(6),
            "entry 5: expected seq 5, found 6",
        );
        assert_eq!(report.entries_checked, 4);
    }

    #[test]
    fn swapped_entries_are_named() {
        let (text, _, _) = bundle(20, &[20]);
        let mut all = lines(&text);
        all.swap(17, 18); // entries 17 and 18
        assert_fails(
            &verify_text(&join(&all)),
            Some(17),
            Some(18),
            "entry 17: expected seq 17, found 18",
        );
    }

    #[test]
    fn renumbered_entries_are_named() {
        // Entries 3 and 4 swapped with their seq numbers exchanged, as a database
        // rewrite would do: the seq order holds but the links do not.
        let (text, _, _) = bundle(10, &[10]);
        let mut all = lines(&text);
        all.swap(3, 4);
        let text = join(&all);
        let text = edit_line(&text, 3, |o| {
            o.insert("seq".into(), json!(3));
        });
        let text = edit_line(&text, 4, |o| {
            o.insert("seq".into(), json!(4));
        });
        assert_fails(
            &verify_text(&text),
            Some(3),
            Some(4),
            "entry 3: prev_hash does not link to entry 2",
        );
    }

    #[test]
    fn a_duplicated_entry_is_named() {
        let (text, _, _) = bundle(6, &[6]);
        let mut all = lines(&text);
        let copy = all[3].clone();
        all.insert(4, copy); // entry 3 twice
        assert_fails(
            &verify_text(&join(&all)),
            Some(4),
            Some(5),
            "entry 4: expected seq 4, found 3",
        );
    }

    #[test]
    fn a_truncated_tail_after_the_checkpoint_is_named() {
        // Entries 1..12 signed at 10 and 12; the tail after the checkpoint at 10 is cut
        // (entries 11, 12 and the checkpoint at 12), the header still says 12.
        let (text, _, _) = bundle(12, &[10, 12]);
        let all = lines(&text);
        let mut cut: Vec<String> = all[..11].to_vec(); // header + entries 1..10
        cut.push(all[13].clone()); // the checkpoint at 10
        let report = verify_text(&join(&cut));
        assert_fails(
            &report,
            Some(11),
            Some(12),
            "entry 11: expected seq 11, found the end of the entries",
        );
        assert_eq!(report.entries_checked, 10);
        // Cut at the end of the file, checkpoints and all.
        let report = verify_text(&join(&all[..11]));
        assert_fails(
            &report,
            Some(11),
            None,
            "entry 11: expected seq 11, found the end of the entries",
        );
    }

    #[test]
    fn an_unsigned_tail_fails() {
        // Entries 1..12 but the only checkpoint is at 10.
        let (text, _, _) = bundle(12, &[10]);
        let report = verify_text(&text);
        assert_fails(
            &report,
            Some(12),
            None,
            "no signed checkpoint covers the last entry 12",
        );
        assert_eq!(report.entries_checked, 12);
        assert_eq!(report.last_signed_seq, Some(10));
        // No checkpoint at all.
        let (text, _, _) = bundle(3, &[]);
        assert_fails(
            &verify_text(&text),
            Some(3),
            None,
            "no signed checkpoint covers the last entry 3",
        );
    }

    #[test]
    fn a_forged_checkpoint_signature_is_named() {
        let (text, _, _) = bundle(12, &[6, 12]);
        // Line 14 is the checkpoint at 6: bytes of its signature flipped.
        let tampered = edit_line(&text, 13, |o| {
            let sig = o
                .get("signature")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string();
            let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sig)
                .expect("b64");
            bytes[0] ^= 1;
            o.insert(
                "signature".into(),
                json!(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    bytes
                )),
            );
        });
        let report = verify_text(&tampered);
        assert_fails(
            &report,
            Some(6),
            Some(14),
            "checkpoint at entry 6: signature does not verify under key ",
        );
        // Chain itself was fine.
        assert_eq!(report.entries_checked, 12);
    }

    #[test]
    fn a_checkpoint_moved_to_another_entry_is_named() {
        // A genuine signature, but the seq edited: the signature no longer verifies.
        let (text, _, _) = bundle(12, &[6, 12]);
        let tampered = edit_line(&text, 13, |o| {
            o.insert("seq".into(), json!(7));
        });
        assert_fails(
            &verify_text(&tampered),
            Some(7),
            Some(14),
            "checkpoint at entry 7: signature does not verify",
        );
    }

    #[test]
    fn a_consistent_rewrite_is_caught_by_an_earlier_checkpoint() {
        // Entries 1..12 signed at 6 by the real key; then entry 2 is rewritten and
        // every later entry re-hashed, and the attacker... cannot re-sign 6, but
        // does sign 12 with the real key (e.g. the export checkpoint).
        let key = LedgerKey::generate();
        let original = chain(12);
        let signed_6 = key.sign_checkpoint(6, &original[5].hash, T0);
        let mut rewritten = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for entry in &original {
            let mut b = entry.body();
            if b.seq == 2 {
                b.payload = json!({"n": 2, "note": "rewritten"});
            }
            let sealed = Entry::seal(b, &prev).expect("seal");
            prev = sealed.hash.clone();
            rewritten.push(sealed);
        }
        let signed_12 = key.sign_checkpoint(12, &rewritten[11].hash, T0);
        let header = BundleHeader::new(1, 12, GENESIS_HASH, &key);
        let mut out = Vec::new();
        write_bundle(&mut out, &header, &rewritten, &[signed_6, signed_12]).expect("write");
        let report = verify_text(&String::from_utf8(out).expect("utf8"));
        assert_fails(
            &report,
            Some(6),
            Some(14),
            "checkpoint at entry 6: the signed hash ",
        );
        assert!(report
            .failure
            .as_ref()
            .expect("f")
            .reason
            .contains("changed after they were signed"));
    }

    #[test]
    fn an_earlier_checkpoint_failure_outranks_a_later_chain_failure() {
        let key = LedgerKey::generate();
        let original = chain(12);
        let signed_6 = key.sign_checkpoint(6, &original[5].hash, T0);
        let mut rewritten = chain(12);
        // History before 6 rewritten consistently...
        let mut prev = GENESIS_HASH.to_string();
        for entry in rewritten.iter_mut() {
            let mut b = entry.body();
            if b.seq == 3 {
                b.actor = "mallory".into();
            }
            *entry = Entry::seal(b, &prev).expect("seal");
            prev = entry.hash.clone();
        }
        // ...and entry 9 clumsily edited.
        rewritten[8].kind = "forged".into();
        let header = BundleHeader::new(1, 12, GENESIS_HASH, &key);
        let mut out = Vec::new();
        write_bundle(&mut out, &header, &rewritten, &[signed_6]).expect("write");
        let report = verify_text(&String::from_utf8(out).expect("utf8"));
        assert_fails(
            &report,
            Some(6),
            Some(14),
            "checkpoint at entry 6: the signed hash",
        );
    }

    #[test]
    fn a_bundle_signed_by_another_key_fails_key_pinning() {
        let (text, _, _) = bundle(5, &[5]);
        let auditor_key = LedgerKey::generate();
        // Verifies on its own (it is internally consistent)...
        assert!(verify_text(&text).ok);
        // ...but not against the key the auditor was given.
        let report = verify_bundle_reader(text.as_bytes(), Some(&auditor_key.public_key_pem()));
        assert_fails(&report, None, Some(1), "the bundle is signed by key ");
        assert!(report
            .failure
            .as_ref()
            .expect("f")
            .reason
            .contains(&auditor_key.key_id()));
        // A garbage expected key is reported as such.
        let report = verify_bundle_reader(text.as_bytes(), Some("not a key"));
        assert_fails(
            &report,
            None,
            Some(1),
            "the expected public key is not a PEM Ed25519 public key",
        );
    }

    #[test]
    fn a_resigned_bundle_with_a_swapped_header_key_fails_pinning() {
        // An attacker rewrites history and re-signs everything with their own key,
        // putting their public key in the header: self-consistent, so only pinning
        // catches it.
        let real = LedgerKey::generate();
        let attacker = LedgerKey::generate();
        let mut entries = chain(8);
        entries[3].payload = json!({"n": 4, "note": "rewritten"});
        let mut prev = GENESIS_HASH.to_string();
        for entry in entries.iter_mut() {
            *entry = Entry::seal(entry.body(), &prev).expect("seal");
            prev = entry.hash.clone();
        }
        let text = bundle_of(&attacker, &entries, GENESIS_HASH, &[8]);
        assert!(verify_text(&text).ok);
        let report = verify_bundle_reader(text.as_bytes(), Some(&real.public_key_pem()));
        assert_fails(
            &report,
            None,
            Some(1),
            &format!("the bundle is signed by key {}", attacker.key_id()),
        );
    }

    #[test]
    fn checkpoints_by_another_key_are_not_checkable() {
        let (text, _, entries) = bundle(5, &[5]);
        let other = LedgerKey::generate();
        let mut all = lines(&text);
        let foreign = other.sign_checkpoint(3, &entries[2].hash, T0);
        let mut line = serde_json::to_value(&foreign).expect("json");
        if let Some(o) = line.as_object_mut() {
            o.insert("type".into(), json!("checkpoint"));
        }
        all.insert(6, line.to_string());
        let report = verify_text(&join(&all));
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.checkpoints_checked, 1);
        assert_eq!(report.checkpoints_not_checkable, 1);
        assert!(
            report.notes[0].contains("another key"),
            "{:?}",
            report.notes
        );
        // And a foreign checkpoint alone does not cover the last entry.
        all.remove(7);
        let report = verify_text(&join(&all));
        assert_fails(
            &report,
            Some(5),
            None,
            "no signed checkpoint covers the last entry 5",
        );
    }

    #[test]
    fn notes_about_unchecked_checkpoints_are_capped() {
        let (text, _, entries) = bundle(5, &[5]);
        let other = LedgerKey::generate();
        let mut all = lines(&text);
        for _ in 0..30 {
            let mut line =
                serde_json::to_value(other.sign_checkpoint(2, &entries[1].hash, T0)).expect("json");
            if let Some(o) = line.as_object_mut() {
                o.insert("type".into(), json!("checkpoint"));
            }
            all.push(line.to_string());
        }
        let report = verify_text(&join(&all));
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.checkpoints_not_checkable, 30);
        assert_eq!(report.notes.len(), MAX_NOTES + 1);
        assert_eq!(
            report.notes.last().map(String::as_str),
            Some("… and 10 more checkpoints not checked")
        );
    }

    #[test]
    fn header_problems_are_named() {
        let (text, key, _) = bundle(5, &[5]);
        let other = LedgerKey::generate();
        let wrong_id = edit_line(&text, 0, |o| {
            o.insert("key_id".into(), json!(other.key_id()));
        });
        assert_fails(&verify_text(&wrong_id), None, Some(1), "header: key_id ");
        let swapped_key = edit_line(&text, 0, |o| {
            o.insert("public_key_pem".into(), json!(other.public_key_pem()));
            o.insert("key_id".into(), json!(other.key_id()));
        });
        // Checkpoints signed by the real key are then by "another key".
        let report = verify_text(&swapped_key);
        assert_fails(
            &report,
            Some(5),
            None,
            "no signed checkpoint covers the last entry 5",
        );
        let bad_pem = edit_line(&text, 0, |o| {
            o.insert("public_key_pem".into(), json!("nope"));
        });
        assert_fails(
            &verify_text(&bad_pem),
            None,
            Some(1),
            "header: public_key_pem is not a PEM",
        );
        let bad_range = edit_line(&text, 0, |o| {
            o.insert("to_seq".into(), json!(0));
        });
        assert_fails(
            &verify_text(&bad_range),
            None,
            Some(1),
            "header: from_seq 1 and to_seq 0",
        );
        let bad_anchor = edit_line(&text, 0, |o| {
            o.insert("anchor_prev_hash".into(), json!("1".repeat(64)));
        });
        assert_fails(
            &verify_text(&bad_anchor),
            None,
            Some(1),
            "header: a bundle from entry 1 must have the genesis hash",
        );
        let not_hex = edit_line(&text, 0, |o| {
            o.insert("anchor_prev_hash".into(), json!("xyz"));
            o.insert("from_seq".into(), json!(2));
        });
        assert_fails(
            &verify_text(&not_hex),
            None,
            Some(1),
            "header: anchor_prev_hash ",
        );
        let format = edit_line(&text, 0, |o| {
            o.insert("format".into(), json!("something-else/2"));
        });
        assert_fails(
            &verify_text(&format),
            None,
            Some(1),
            "line 1: unsupported bundle format",
        );
        let _ = key;
    }

    #[test]
    fn header_range_mismatches_are_named() {
        // Header says from 2, entries start at 1.
        let (text, _, _) = bundle(5, &[5]);
        let wrong_from = edit_line(&text, 0, |o| {
            o.insert("from_seq".into(), json!(2));
        });
        // from_seq 2 with the genesis anchor: entry 2 expected, entry 1 found.
        assert_fails(
            &verify_text(&wrong_from),
            Some(2),
            Some(2),
            "entry 2: expected seq 2, found 1",
        );
        // Header says to 3, entries go on to 5.
        let short_to = edit_line(&text, 0, |o| {
            o.insert("to_seq".into(), json!(3));
        });
        assert_fails(
            &verify_text(&short_to),
            Some(4),
            Some(5),
            "entry 4: the bundle continues past the header's to_seq 3",
        );
        // Header says to 7, entries end at 5.
        let long_to = edit_line(&text, 0, |o| {
            o.insert("to_seq".into(), json!(7));
        });
        assert_fails(
            &verify_text(&long_to),
            Some(6),
            Some(7),
            "entry 6: expected seq 6, found the end of the entries",
        );
    }

    #[test]
    fn malformed_lines_are_named_by_line_number() {
        let (text, _, _) = bundle(10, &[10]);
        let mut all = lines(&text);
        all[4] = "{\"type\":\"entry\",\"seq\":4,".to_string();
        let report = verify_text(&join(&all));
        assert_fails(&report, None, Some(5), "line 5: not valid JSON");
        assert_eq!(report.entries_checked, 3);
        // The last line cut short (a truncated download).
        let cut = &text[..text.len() - 30];
        assert_fails(&verify_text(cut), None, Some(12), "line 12: not valid JSON");
        // An empty file, a header that is not one.
        assert_fails(
            &verify_text(""),
            None,
            Some(1),
            "line 1: the bundle is empty",
        );
        assert_fails(
            &verify_text("hello\n"),
            None,
            Some(1),
            "line 1: not valid JSON",
        );
        // A malformed line after a chain failure does not hide the chain failure.
        let mut all = lines(&text);
        all[3] = all[3].replace("test.event", "test.other");
        all[8] = "garbage".to_string();
        assert_fails(
            &verify_text(&join(&all)),
            Some(3),
            Some(4),
            "entry 3: hash mismatch",
        );
    }

    #[test]
    fn a_redacted_payload_still_verifies() {
        let (text, _, _) = bundle(6, &[6]);
        let redacted = edit_line(&text, 3, |o| {
            o.remove("payload");
        });
        let report = verify_text(&redacted);
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.payloads_redacted, 1);
        assert!(report.render_text().contains("1 redacted payload"));
        // But a redacted entry's digest is still chained.
        let forged = edit_line(&redacted, 3, |o| {
            o.insert("payload_digest".into(), json!("0".repeat(64)));
        });
        assert_fails(
            &verify_text(&forged),
            Some(3),
            Some(4),
            "entry 3: hash mismatch",
        );
        // And a payload replaced by null is not a redaction.
        let nulled = edit_line(&text, 3, |o| {
            o.insert("payload".into(), serde_json::Value::Null);
        });
        assert_fails(
            &verify_text(&nulled),
            Some(3),
            Some(4),
            "entry 3: payload digest mismatch",
        );
    }

    #[test]
    fn verify_entries_names_the_first_failure() {
        let entries = chain(20);
        let report = verify_entries(GENESIS_HASH, &entries);
        assert!(report.ok);
        assert_eq!(report.entries_checked, 20);
        assert_eq!(report.last_hash.as_deref(), Some(entries[19].hash.as_str()));

        let mut gap = entries.clone();
        gap.remove(17); // entry 18
        let report = verify_entries(GENESIS_HASH, &gap);
        let failure = report.failure.expect("failure");
        assert_eq!(failure.seq, Some(18));
        assert_eq!(failure.reason, "entry 18: expected seq 18, found 19");
        assert_eq!(failure.line, None);
        assert_eq!(report.entries_checked, 17);

        let mut tampered = entries.clone();
        tampered[16].payload = json!("changed");
        let failure = verify_entries(GENESIS_HASH, &tampered)
            .failure
            .expect("failure");
        assert_eq!(failure.seq, Some(17));
        assert!(
            failure
                .reason
                .starts_with("entry 17: payload digest mismatch"),
            "{}",
            failure.reason
        );

        // Starting mid-chain.
        let report = verify_entries(&entries[9].hash, &entries[10..]);
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.first_entry_seq, Some(11));
        // Missing first entry of the whole ledger.
        let failure = verify_entries(GENESIS_HASH, &entries[1..])
            .failure
            .expect("failure");
        assert_eq!(failure.reason, "entry 1: expected seq 1, found 2");
        // Bad anchor.
        let report = verify_entries("nope", &entries);
        assert!(!report.ok);
        // Empty chain.
        let report = verify_entries(GENESIS_HASH, Vec::<Entry>::new());
        assert!(report.ok);
        assert_eq!(report.entries_checked, 0);
    }

    #[test]
    fn database_style_verification() {
        let key = LedgerKey::generate();
        let entries = chain(10);
        let c6 = key.sign_checkpoint(6, &entries[5].hash, T0);
        let vk = key.verifying_key();
        // Unsigned tail is a note, not a failure.
        let report = verify_chain_with_checkpoints(
            GENESIS_HASH,
            &entries,
            std::slice::from_ref(&c6),
            &vk,
            false,
        );
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.checkpoints_checked, 1);
        assert_eq!(report.last_signed_seq, Some(6));
        assert_eq!(
            report.notes,
            vec!["entries 7..10 are not yet covered by a signed checkpoint"]
        );
        // Required: fails.
        let report = verify_chain_with_checkpoints(
            GENESIS_HASH,
            &entries,
            std::slice::from_ref(&c6),
            &vk,
            true,
        );
        assert_fails(
            &report,
            Some(10),
            None,
            "no signed checkpoint covers the last entry 10",
        );
        // Tampering is named.
        let mut tampered = entries.clone();
        tampered[3].payload = json!({"n": 4, "note": "nothing happened"});
        let report = verify_chain_with_checkpoints(
            GENESIS_HASH,
            &tampered,
            std::slice::from_ref(&c6),
            &vk,
            false,
        );
        assert_fails(&report, Some(4), None, "entry 4: payload digest mismatch");
        // An empty ledger is fine.
        let report =
            verify_chain_with_checkpoints(GENESIS_HASH, Vec::<Entry>::new(), &[], &vk, false);
        assert!(report.ok, "{report:#?}");
        // Checkpoint against a rewritten chain.
        let mut rewritten = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for entry in &entries {
            let mut b = entry.body();
            if b.seq == 2 {
                b.kind = "rewritten".into();
            }
            let sealed = Entry::seal(b, &prev).expect("seal");
            prev = sealed.hash.clone();
            rewritten.push(sealed);
        }
        let report = verify_chain_with_checkpoints(GENESIS_HASH, &rewritten, &[c6], &vk, false);
        assert_fails(
            &report,
            Some(6),
            None,
            "checkpoint at entry 6: the signed hash",
        );
    }

    #[test]
    fn a_large_bundle_streams() {
        let key = LedgerKey::generate();
        let n = 100_000_i64;
        // Entries generated lazily, written through the streaming writer.
        let mut prev = GENESIS_HASH.to_string();
        let mut last_hash = String::new();
        let entries = (1..=n).map(|seq| {
            let entry = Entry::seal(
                EntryBody {
                    seq,
                    time: T0.into(),
                    kind: "bulk".into(),
                    actor: "bench".into(),
                    subject: "s".into(),
                    payload: json!({"i": seq}),
                },
                &prev,
            )
            .expect("seal");
            prev = entry.hash.clone();
            entry
        });
        let mut out = Vec::new();
        {
            let header = BundleHeader::new(1, n, GENESIS_HASH, &key);
            let mut writer =
                crate::evidence::bundle::BundleWriter::new(&mut out, &header).expect("w");
            for entry in entries {
                writer.entry(&entry).expect("entry");
                last_hash = entry.hash;
            }
            writer
                .checkpoint(&key.sign_checkpoint(n, &last_hash, T0))
                .expect("checkpoint");
            writer.finish().expect("finish");
        }
        let report = verify_bundle_reader(out.as_slice(), Some(&key.public_key_pem()));
        assert!(report.ok, "{report:#?}");
        assert_eq!(report.entries_checked, n as u64);
        assert_eq!(report.last_signed_seq, Some(n));
    }
}
