//! Evidence ledger: canonical JSON, hash chain, signed checkpoints, export bundles.
//!
//! This module is the ledger's *format*: how entries are hashed and chained
//! ([`entry`]), the canonical JSON those hashes are computed over ([`canonical`]),
//! how checkpoints are signed ([`signing`]), the export bundle ([`bundle`]) and its
//! offline verification ([`verify`]). Storage lives in `crate::store`, the service
//! around it in `crate::ledger`. The summary below is the auditor-facing
//! specification; each submodule gives the details.
//!
//! # Specification (bundle format `leaver-evidence-bundle/1`)
//!
//! **Canonical JSON** (`C(x)`): RFC 8785 (JCS): no whitespace, object keys sorted by
//! UTF-16 code units, strings escaped only as `\"` `\\` `\b` `\f` `\n` `\r` `\t` and
//! `\u00xx` (lowercase) for other control characters, non-integers written as
//! ECMAScript writes them. One deviation: integers are written exactly, even beyond
//! 2^53.
//!
//! **Entry**: `seq` (1, 2, 3, … no gaps), `time` (RFC 3339 UTC with milliseconds,
//! `2026-11-25T05:12:49.123Z`), `kind`, `actor`, `subject` (strings), `payload` (any
//! JSON), and, all lowercase hex SHA-256:
//!
//! ```text
//! payload_digest = SHA-256( C(payload) )
//! prev_hash      = hash of entry seq-1; for entry 1, 64 zeros (the genesis hash)
//! hash           = SHA-256( bytes(prev_hash) ‖ C({"actor","kind","payload_digest","seq","subject","time"}) )
//! ```
//!
//! where `bytes(prev_hash)` is the 32 raw bytes the hex encodes, and the object has
//! exactly those six members (`seq` an integer, the others strings). The payload is
//! covered through its digest only, so the chain verifies with a payload withheld.
//!
//! **Checkpoint**: `{seq, hash, time, key_id, signature}` where
//! `key_id` = first 16 hex characters of SHA-256(raw 32-byte Ed25519 public key) and
//! `signature` = base64 (standard alphabet, padded) of the Ed25519 signature of
//! `C({"hash","key_id","seq","time"})`. It vouches for entry `seq` and, through the
//! chain, every entry before it.
//!
//! **Bundle**: UTF-8 JSON Lines. Line 1:
//! `{"type":"header","format":"leaver-evidence-bundle/1","exported_at":T,"from_seq":F,"to_seq":L,"anchor_prev_hash":H,"public_key_pem":P,"key_id":K}`
//! where `H` is the `prev_hash` of entry `F` (the genesis hash when `F` = 1) and `P`
//! the SubjectPublicKeyInfo PEM of the ledger key. Then one line per entry F..=L in
//! order, `{"type":"entry","seq":…,"time":…,"kind":…,"actor":…,"subject":…,"payload":…,"payload_digest":…,"prev_hash":…,"hash":…}`
//! (`payload` may be omitted when redacted), then one line per checkpoint,
//! `{"type":"checkpoint","seq":…,"hash":…,"time":…,"key_id":…,"signature":…}`.
//! An export always ends with a checkpoint at `L`.
//!
//! **Verification** ([`verify_bundle`], `leaver evidence verify FILE [--public-key PEM]`):
//! header well-formed and (optionally) signed by the pinned key; entries F..=L
//! contiguous, each `prev_hash` linking to the previous `hash` (to `H` for the first),
//! each present payload matching its digest, each `hash` recomputing; every
//! checkpoint by the bundle's key carrying a valid signature and, when its entry is in
//! the bundle (or is the anchor, F-1), that entry's recomputed hash; and a valid
//! checkpoint at `L`. The report names the first failure
//! (`entry 17: hash mismatch (stored …, recomputed …)`, `entry 18: expected seq 18,
//! found 19`, `checkpoint at entry 6: the signed hash … does not match …`,
//! `line 9: not valid JSON: …`, `no signed checkpoint covers the last entry 42`).

pub mod bundle;
pub mod canonical;
pub mod entry;
pub mod signing;
pub mod verify;

pub use bundle::{
    read_bundle, write_bundle, BundleError, BundleHeader, BundleItem, BundleReader, BundleWriter,
    BUNDLE_FORMAT, MAX_LINE_BYTES,
};
pub use canonical::{canonical_json, CanonicalError};
pub use ed25519_dalek::VerifyingKey;
pub use entry::{
    decode_hash, evidence_time, evidence_time_now, payload_digest, Entry, EntryBody, GENESIS_HASH,
};
pub use signing::{
    checkpoint_message, key_id, parse_public_key_pem, public_key_pem, verify_checkpoint,
    verify_checkpoint_with, Checkpoint, KeyError, LedgerKey,
};
pub use verify::{
    finish_with_checkpoints, verify_bundle, verify_bundle_reader, verify_bundle_with_key,
    verify_chain_with_checkpoints, verify_entries, ChainReport, ChainVerifier, VerifyFailure,
    VerifyReport,
};
