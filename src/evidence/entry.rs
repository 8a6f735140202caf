//! Ledger entries and the hash chain.
//!
//! An entry records one event: `seq` (1, 2, 3, … without gaps), `time` (RFC 3339 UTC
//! with milliseconds, `2026-11-25T05:12:49.123Z`), `kind` (e.g. `step.verified`),
//! `actor` (who or what caused it), `subject` (what it is about, e.g. a run id) and
//! `payload` (any JSON value). Sealing adds three lowercase-hex SHA-256 values:
//!
//! ```text
//! payload_digest = hex(SHA-256(canonical_json(payload)))
//! hash           = hex(SHA-256(prev_hash_bytes ‖ canonical_json(hashed)))
//! hashed         = {"actor":…,"kind":…,"payload_digest":…,"seq":…,"subject":…,"time":…}
//! ```
//!
//! `prev_hash_bytes` are the 32 bytes that the previous entry's `hash` (64 lowercase
//! hex characters) encodes; for entry 1 they are 32 zero bytes ([`GENESIS_HASH`]).
//! `canonical_json` is RFC 8785 canonical JSON (see [`super::canonical`]); `seq` is a
//! JSON integer, every other member of `hashed` a JSON string, so `hashed` reads, e.g.,
//! `{"actor":"okta","kind":"run.started","payload_digest":"9f86…","seq":17,"subject":"run-1","time":"2026-11-25T05:12:49.123Z"}`.
//!
//! Only the payload's digest is inside the hashed object: an auditor can verify the
//! chain even when a payload is withheld (redacted). When the payload is present,
//! verification recomputes its digest and fails on a mismatch.

use super::canonical::{canonical_json, write_string};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of entry 1: 64 zeros (32 zero bytes).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry before sealing: what the caller records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryBody {
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T05:12:49.123Z` ([`evidence_time`]).
    pub time: String,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub payload: serde_json::Value,
}

/// A sealed ledger entry, as stored and as exported (field order as serialized).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    pub time: String,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub payload: serde_json::Value,
    /// `hex(SHA-256(canonical_json(payload)))`.
    pub payload_digest: String,
    /// The previous entry's `hash` ([`GENESIS_HASH`] for entry 1).
    pub prev_hash: String,
    /// `hex(SHA-256(prev_hash_bytes ‖ canonical_json({actor, kind, payload_digest, seq, subject, time})))`.
    pub hash: String,
}

impl Entry {
    /// Seal `body` onto the chain after the entry whose hash is `prev_hash`
    /// ([`GENESIS_HASH`] for the first entry). Fails only if `prev_hash` is not 64
    /// lowercase hex characters or the payload has no canonical form.
    pub fn seal(body: EntryBody, prev_hash: &str) -> Result<Entry, String> {
        let payload_digest = payload_digest(&body.payload).map_err(|e| {
            format!(
                "entry {}: payload has no canonical JSON form: {e}",
                body.seq
            )
        })?;
        let hash = chain_hash(
            prev_hash,
            &HashedFields {
                seq: body.seq,
                time: &body.time,
                kind: &body.kind,
                actor: &body.actor,
                subject: &body.subject,
                payload_digest: &payload_digest,
            },
        )
        .map_err(|e| format!("entry {}: {e}", body.seq))?;
        Ok(Entry {
            seq: body.seq,
            time: body.time,
            kind: body.kind,
            actor: body.actor,
            subject: body.subject,
            payload: body.payload,
            payload_digest,
            prev_hash: prev_hash.to_string(),
            hash,
        })
    }

    /// The body again (without the digests).
    pub fn body(&self) -> EntryBody {
        EntryBody {
            seq: self.seq,
            time: self.time.clone(),
            kind: self.kind.clone(),
            actor: self.actor.clone(),
            subject: self.subject.clone(),
            payload: self.payload.clone(),
        }
    }

    /// The hash recomputed from this entry's own `prev_hash`, fields and stated
    /// `payload_digest` (the payload itself is not consulted; see
    /// [`Entry::recompute_payload_digest`]).
    pub fn recompute_hash(&self) -> Result<String, String> {
        chain_hash(&self.prev_hash, &self.hashed_fields())
    }

    /// The digest recomputed from the payload.
    pub fn recompute_payload_digest(&self) -> Result<String, String> {
        payload_digest(&self.payload)
            .map_err(|e| format!("payload has no canonical JSON form: {e}"))
    }

    fn hashed_fields(&self) -> HashedFields<'_> {
        HashedFields {
            seq: self.seq,
            time: &self.time,
            kind: &self.kind,
            actor: &self.actor,
            subject: &self.subject,
            payload_digest: &self.payload_digest,
        }
    }
}

/// `hex(SHA-256(canonical_json(payload)))`.
pub fn payload_digest(
    payload: &serde_json::Value,
) -> Result<String, super::canonical::CanonicalError> {
    let canonical = canonical_json(payload)?;
    Ok(hex::encode(Sha256::digest(canonical.as_bytes())))
}

/// The members of an entry that its hash covers.
pub(crate) struct HashedFields<'a> {
    pub seq: i64,
    pub time: &'a str,
    pub kind: &'a str,
    pub actor: &'a str,
    pub subject: &'a str,
    pub payload_digest: &'a str,
}

impl HashedFields<'_> {
    /// `canonical_json({actor, kind, payload_digest, seq, subject, time})`, written
    /// directly: the members are listed in canonical (UTF-16) key order.
    pub(crate) fn canonical(&self) -> String {
        let mut out = String::with_capacity(
            96 + self.time.len() + self.kind.len() + self.actor.len() + self.subject.len(),
        );
        out.push_str("{\"actor\":");
        write_string(&mut out, self.actor);
        out.push_str(",\"kind\":");
        write_string(&mut out, self.kind);
        out.push_str(",\"payload_digest\":");
        write_string(&mut out, self.payload_digest);
        out.push_str(",\"seq\":");
        out.push_str(&self.seq.to_string());
        out.push_str(",\"subject\":");
        write_string(&mut out, self.subject);
        out.push_str(",\"time\":");
        write_string(&mut out, self.time);
        out.push('}');
        out
    }
}

/// Decodes a chain hash: exactly 64 lowercase hex characters → 32 bytes.
pub fn decode_hash(hash: &str) -> Result<[u8; 32], String> {
    let bytes = hash.as_bytes();
    if bytes.len() != 64
        || !bytes
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(format!(
            "{:?} is not a hash (64 lowercase hex characters)",
            truncate_for_message(hash)
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hash, &mut out).map_err(|e| format!("invalid hash {hash:?}: {e}"))?;
    Ok(out)
}

pub(crate) fn chain_hash(prev_hash: &str, fields: &HashedFields<'_>) -> Result<String, String> {
    let prev = decode_hash(prev_hash).map_err(|e| format!("prev_hash {e}"))?;
    Ok(hex::encode(chain_hash_bytes(&prev, fields)))
}

pub(crate) fn chain_hash_bytes(prev: &[u8; 32], fields: &HashedFields<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(fields.canonical().as_bytes());
    hasher.finalize().into()
}

/// The ledger's time format: RFC 3339, UTC, milliseconds, `Z`
/// (`2026-11-25T05:12:49.123Z`).
pub fn evidence_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The current time in the ledger's format.
pub fn evidence_time_now() -> String {
    evidence_time(chrono::Utc::now())
}

/// At most 80 characters of untrusted text, for error messages.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(seq: i64) -> EntryBody {
        EntryBody {
            seq,
            time: "2026-11-25T05:12:49.123Z".into(),
            kind: "step.verified".into(),
            actor: "engine".into(),
            subject: "run-1".into(),
            payload: json!({"step": "github", "verified": true, "n": seq}),
        }
    }

    #[test]
    fn genesis_is_32_zero_bytes() {
        assert_eq!(GENESIS_HASH.len(), 64);
        assert_eq!(decode_hash(GENESIS_HASH), Ok([0u8; 32]));
    }

    #[test]
    fn seal_matches_the_documented_formula() {
        let entry = Entry::seal(body(1), GENESIS_HASH).expect("seal");
        let canonical_payload = r#"{"n":1,"step":"github","verified":true}"#;
        assert_eq!(
            entry.payload_digest,
            hex::encode(Sha256::digest(canonical_payload.as_bytes()))
        );
        let hashed = format!(
            r#"{{"actor":"engine","kind":"step.verified","payload_digest":"{}","seq":1,"subject":"run-1","time":"2026-11-25T05:12:49.123Z"}}"#,
            entry.payload_digest
        );
        let mut input = vec![0u8; 32];
        input.extend_from_slice(hashed.as_bytes());
        assert_eq!(entry.hash, hex::encode(Sha256::digest(&input)));
        assert_eq!(entry.prev_hash, GENESIS_HASH);
        assert_eq!(entry.recompute_hash(), Ok(entry.hash.clone()));
        assert_eq!(
            entry.recompute_payload_digest(),
            Ok(entry.payload_digest.clone())
        );
    }

    #[test]
    fn hashed_object_is_canonical_json() {
        let fields = HashedFields {
            seq: -3,
            time: "t\"\n",
            kind: "k\u{1}",
            actor: "é😀",
            subject: "s\\",
            payload_digest: "d",
        };
        let via_value = canonical_json(&json!({
            "seq": -3, "time": "t\"\n", "kind": "k\u{1}", "actor": "é😀",
            "subject": "s\\", "payload_digest": "d"
        }))
        .expect("canonical");
        assert_eq!(fields.canonical(), via_value);
    }

    #[test]
    fn chain_links_by_prev_hash_bytes() {
        let first = Entry::seal(body(1), GENESIS_HASH).expect("seal");
        let second = Entry::seal(body(2), &first.hash).expect("seal");
        assert_eq!(second.prev_hash, first.hash);
        let mut input = hex::decode(&first.hash).expect("hex");
        input.extend_from_slice(second.hashed_fields().canonical().as_bytes());
        assert_eq!(second.hash, hex::encode(Sha256::digest(&input)));
        // The same body after another predecessor hashes differently.
        let other = Entry::seal(body(2), GENESIS_HASH).expect("seal");
        assert_ne!(other.hash, second.hash);
    }

    #[test]
    fn every_hashed_field_changes_the_hash() {
        let base = Entry::seal(body(5), GENESIS_HASH).expect("seal");
        let variants: Vec<fn(&mut EntryBody)> = vec![
            |b| b.seq = 6,
            |b| b.time = "2026-11-25T05:12:49.124Z".into(),
            |b| b.kind = "step.failed".into(),
            |b| b.actor = "mallory".into(),
            |b| b.subject = "run-2".into(),
            |b| b.payload = json!({"step": "github", "verified": false, "n": 5}),
        ];
        for change in variants {
            let mut b = body(5);
            change(&mut b);
            let sealed = Entry::seal(b, GENESIS_HASH).expect("seal");
            assert_ne!(sealed.hash, base.hash);
        }
    }

    #[test]
    fn payload_key_order_does_not_matter() {
        let mut a = body(1);
        a.payload = json!({"a": 1, "b": [1, 2]});
        let mut b = body(1);
        b.payload = serde_json::from_str(r#"{ "b" : [1,2], "a" : 1 }"#).expect("json");
        assert_eq!(
            Entry::seal(a, GENESIS_HASH).expect("seal").hash,
            Entry::seal(b, GENESIS_HASH).expect("seal").hash
        );
    }

    #[test]
    fn bad_prev_hash_is_refused() {
        for bad in [
            "",
            "00",
            &GENESIS_HASH.to_uppercase().replace('0', "A"),
            &"g".repeat(64),
        ] {
            let error = Entry::seal(body(3), bad).expect_err("refused");
            assert!(error.starts_with("entry 3: prev_hash"), "{error}");
        }
    }

    #[test]
    fn entry_round_trips_through_serde() {
        let entry = Entry::seal(body(1), GENESIS_HASH).expect("seal");
        let text = serde_json::to_string(&entry).expect("json");
        assert!(text.starts_with(r#"{"seq":1,"time":"#), "{text}");
        let back: Entry = serde_json::from_str(&text).expect("json");
        assert_eq!(back, entry);
        assert_eq!(back.body(), body(1));
    }

    #[test]
    fn time_format_has_millis_and_z() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-25T05:12:49.123456+00:00")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(evidence_time(t), "2026-11-25T05:12:49.123Z");
        let now = evidence_time_now();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z'));
    }
}
