//! The export bundle: one JSON Lines file (UTF-8, one JSON object per line, lines
//! separated by `\n`) that an auditor verifies offline.
//!
//! ```text
//! line 1      {"type":"header","format":"leaver-evidence-bundle/1","exported_at":"2026-11-25T05:12:49.123Z",
//!              "from_seq":1,"to_seq":1042,"anchor_prev_hash":"000…000",
//!              "public_key_pem":"-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n","key_id":"5f2b9c0d1e4a6b7c"}
//! then        {"type":"entry","seq":1,"time":"…","kind":"…","actor":"…","subject":"…","payload":{…},
//!              "payload_digest":"…","prev_hash":"…","hash":"…"}            one per entry, seq ascending
//! then        {"type":"checkpoint","seq":1042,"hash":"…","time":"…","key_id":"…","signature":"…"}
//!                                                                          one per checkpoint, seq ascending
//! ```
//!
//! (Each object above is on a single line in the file.)
//!
//! Header members:
//! - `format`: always `leaver-evidence-bundle/1`; readers refuse other values.
//! - `exported_at`: when the bundle was written (ledger time format). Informational.
//! - `from_seq`, `to_seq`: the first and last entry in the bundle (`1 <= from_seq <= to_seq`).
//! - `anchor_prev_hash`: the `prev_hash` of entry `from_seq`, i.e. the hash of entry
//!   `from_seq - 1`; [`super::GENESIS_HASH`] when `from_seq` is 1.
//! - `public_key_pem`: the ledger's Ed25519 public key (SubjectPublicKeyInfo PEM).
//! - `key_id`: its id (first 16 hex characters of SHA-256 of the raw public key).
//!
//! Entry lines carry the [`Entry`] members (see [`super::entry`] for the hash
//! formulas). An entry line may omit `payload` (a redacted payload): the chain still
//! verifies through `payload_digest`, which is then taken as stated. A present
//! `payload`, `null` included, must match its digest.
//!
//! Checkpoint lines carry the [`Checkpoint`] members (see [`super::signing`]).
//! A genuine export contains the checkpoints with `from_seq <= seq <= to_seq`, and
//! always one at `to_seq`.
//!
//! Readers accept `\r\n` line ends and skip blank lines; every other line must be one
//! of the three objects, in the order header, entries, checkpoints. Unknown members
//! are ignored (they are covered by no hash or signature). A line may be at most
//! [`MAX_LINE_BYTES`] long.

use super::entry::Entry;
use super::signing::{Checkpoint, LedgerKey};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::io::{self, BufRead, Read as _, Write};

/// The `format` of bundles this module writes and reads.
pub const BUNDLE_FORMAT: &str = "leaver-evidence-bundle/1";

/// Longest line a reader accepts (64 MiB).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// The first line of a bundle (without its `"type":"header"` member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleHeader {
    pub format: String,
    pub exported_at: String,
    pub from_seq: i64,
    pub to_seq: i64,
    pub anchor_prev_hash: String,
    pub public_key_pem: String,
    pub key_id: String,
}

impl BundleHeader {
    /// A header for entries `from_seq..=to_seq` signed by `key`, exported now.
    pub fn new(
        from_seq: i64,
        to_seq: i64,
        anchor_prev_hash: impl Into<String>,
        key: &LedgerKey,
    ) -> Self {
        Self {
            format: BUNDLE_FORMAT.to_string(),
            exported_at: super::entry::evidence_time_now(),
            from_seq,
            to_seq,
            anchor_prev_hash: anchor_prev_hash.into(),
            public_key_pem: key.public_key_pem(),
            key_id: key.key_id(),
        }
    }
}

#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

fn write_line<W: Write, T: Serialize>(w: &mut W, kind: &'static str, body: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, &Tagged { kind, body }).map_err(io::Error::from)?;
    w.write_all(b"\n")
}

/// Writes a bundle line by line: the header first, then entries in seq order, then
/// checkpoints. Nothing is buffered beyond the writer `W` itself (wrap files in a
/// `BufWriter`).
pub struct BundleWriter<W: Write> {
    out: W,
    in_checkpoints: bool,
}

impl<W: Write> BundleWriter<W> {
    /// Writes the header line.
    pub fn new(mut out: W, header: &BundleHeader) -> io::Result<Self> {
        write_line(&mut out, "header", header)?;
        Ok(Self {
            out,
            in_checkpoints: false,
        })
    }

    /// Writes one entry line. Entries must come before any checkpoint.
    pub fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        if self.in_checkpoints {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("entry {} written after a checkpoint line", entry.seq),
            ));
        }
        write_line(&mut self.out, "entry", entry)
    }

    /// Writes one checkpoint line.
    pub fn checkpoint(&mut self, checkpoint: &Checkpoint) -> io::Result<()> {
        self.in_checkpoints = true;
        write_line(&mut self.out, "checkpoint", checkpoint)
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a whole bundle, streaming `entries` (which should be in seq order, from
/// `header.from_seq` to `header.to_seq`) one line at a time.
pub fn write_bundle<W, I>(
    out: W,
    header: &BundleHeader,
    entries: I,
    checkpoints: &[Checkpoint],
) -> io::Result<()>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Entry>,
{
    let mut writer = BundleWriter::new(out, header)?;
    for entry in entries {
        writer.entry(entry.borrow())?;
    }
    for checkpoint in checkpoints {
        writer.checkpoint(checkpoint)?;
    }
    writer.finish().map(|_| ())
}

/// A bundle line that could not be read: the 1-based line number and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct BundleError {
    pub line: u64,
    pub message: String,
}

/// An entry or checkpoint line, with its line number.
#[derive(Debug, Clone, PartialEq)]
pub enum BundleItem {
    /// `redacted` is true when the line had no `payload` member (the entry's payload
    /// is then `null` and must not be checked against its digest).
    Entry {
        line: u64,
        entry: Entry,
        redacted: bool,
    },
    Checkpoint {
        line: u64,
        checkpoint: Checkpoint,
    },
}

/// Reads a bundle one line at a time: [`BundleReader::new`] reads and checks the
/// header line, then the reader yields entries and checkpoints. It stops after the
/// first error.
pub struct BundleReader<R: BufRead> {
    input: R,
    header: BundleHeader,
    line: u64,
    buf: Vec<u8>,
    in_checkpoints: bool,
    done: bool,
}

impl<R: BufRead> BundleReader<R> {
    /// Reads the header (the first non-blank line) and checks its `format`.
    pub fn new(mut input: R) -> Result<Self, BundleError> {
        let mut line = 0;
        let mut buf = Vec::new();
        let header = loop {
            match read_line(&mut input, &mut buf, &mut line)? {
                None => {
                    return Err(BundleError {
                        line: line.max(1),
                        message: "the bundle is empty (expected a header line)".to_string(),
                    })
                }
                Some(text) if text.trim().is_empty() => continue,
                Some(text) => {
                    let (kind, object) = parse_object(text, line)?;
                    if kind != "header" {
                        return Err(BundleError {
                            line,
                            message: format!(
                                "expected the header line (\"type\":\"header\"), found a {kind:?} line"
                            ),
                        });
                    }
                    let header: BundleHeader =
                        serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
                            BundleError {
                                line,
                                message: format!("invalid header: {e}"),
                            }
                        })?;
                    if header.format != BUNDLE_FORMAT {
                        return Err(BundleError {
                            line,
                            message: format!(
                                "unsupported bundle format {:?} (this verifier reads {BUNDLE_FORMAT})",
                                super::entry::truncate_for_message(&header.format)
                            ),
                        });
                    }
                    break header;
                }
            }
        };
        Ok(Self {
            input,
            header,
            line,
            buf,
            in_checkpoints: false,
            done: false,
        })
    }

    pub fn header(&self) -> &BundleHeader {
        &self.header
    }

    /// The number of the last line read.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn next_item(&mut self) -> Result<Option<BundleItem>, BundleError> {
        loop {
            let line = match read_line(&mut self.input, &mut self.buf, &mut self.line)? {
                None => return Ok(None),
                Some(text) if text.trim().is_empty() => continue,
                Some(text) => text,
            };
            let number = self.line;
            let (kind, mut object) = parse_object(line, number)?;
            let invalid = |what: &str, e: serde_json::Error| BundleError {
                line: number,
                message: format!("invalid {what} line: {e}"),
            };
            match kind.as_str() {
                "entry" => {
                    if self.in_checkpoints {
                        return Err(BundleError {
                            line: number,
                            message: "entry line after a checkpoint line (entries come first)"
                                .to_string(),
                        });
                    }
                    let redacted = !object.contains_key("payload");
                    if redacted {
                        object.insert("payload".to_string(), serde_json::Value::Null);
                    }
                    let entry: Entry = serde_json::from_value(serde_json::Value::Object(object))
                        .map_err(|e| invalid("entry", e))?;
                    return Ok(Some(BundleItem::Entry {
                        line: number,
                        entry,
                        redacted,
                    }));
                }
                "checkpoint" => {
                    self.in_checkpoints = true;
                    let checkpoint: Checkpoint =
                        serde_json::from_value(serde_json::Value::Object(object))
                            .map_err(|e| invalid("checkpoint", e))?;
                    return Ok(Some(BundleItem::Checkpoint {
                        line: number,
                        checkpoint,
                    }));
                }
                "header" => {
                    return Err(BundleError {
                        line: number,
                        message: "a second header line".to_string(),
                    })
                }
                other => {
                    return Err(BundleError {
                        line: number,
                        message: format!(
                            "unknown line type {:?} (expected \"entry\" or \"checkpoint\")",
                            super::entry::truncate_for_message(other)
                        ),
                    })
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for BundleReader<R> {
    type Item = Result<BundleItem, BundleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads a whole bundle into memory (for tests and small bundles; verification
/// streams with [`BundleReader`]).
pub fn read_bundle<R: BufRead>(
    input: R,
) -> Result<(BundleHeader, Vec<Entry>, Vec<Checkpoint>), BundleError> {
    let mut reader = BundleReader::new(input)?;
    let header = reader.header().clone();
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    for item in &mut reader {
        match item? {
            BundleItem::Entry { entry, .. } => entries.push(entry),
            BundleItem::Checkpoint { checkpoint, .. } => checkpoints.push(checkpoint),
        }
    }
    Ok((header, entries, checkpoints))
}

/// Reads the next line into `buf` (without its line end) and returns it as text;
/// `None` at the end of input. Counts lines in `line`.
fn read_line<'b, R: BufRead>(
    input: &mut R,
    buf: &'b mut Vec<u8>,
    line: &mut u64,
) -> Result<Option<&'b str>, BundleError> {
    buf.clear();
    let limit = MAX_LINE_BYTES as u64 + 2;
    let read = input
        .by_ref()
        .take(limit)
        .read_until(b'\n', buf)
        .map_err(|e| BundleError {
            line: *line + 1,
            message: format!("cannot read: {e}"),
        })?;
    if read == 0 {
        return Ok(None);
    }
    *line += 1;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > MAX_LINE_BYTES {
        return Err(BundleError {
            line: *line,
            message: format!("line longer than {MAX_LINE_BYTES} bytes"),
        });
    }
    std::str::from_utf8(buf).map(Some).map_err(|e| BundleError {
        line: *line,
        message: format!("not valid UTF-8 (byte {})", e.valid_up_to() + 1),
    })
}

/// Parses a line as a JSON object with a string `type` member; returns the type and
/// the other members.
fn parse_object(
    text: &str,
    line: u64,
) -> Result<(String, serde_json::Map<String, serde_json::Value>), BundleError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| BundleError {
        line,
        message: format!("not valid JSON: {e}"),
    })?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(BundleError {
            line,
            message: "not a JSON object".to_string(),
        });
    };
    match object.remove("type") {
        Some(serde_json::Value::String(kind)) => Ok((kind, object)),
        Some(_) => Err(BundleError {
            line,
            message: "\"type\" is not a string".to_string(),
        }),
        None => Err(BundleError {
            line,
            message: "no \"type\" member".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::entry::{EntryBody, GENESIS_HASH};
    use serde_json::json;

    fn chain(n: i64) -> Vec<Entry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let entry = Entry::seal(
                    EntryBody {
                        seq,
                        time: "2026-11-25T05:12:49.123Z".into(),
                        kind: "test.event".into(),
                        actor: "tester".into(),
                        subject: format!("subject-{}", seq % 3),
                        payload: json!({"n": seq, "text": "line\nbreak"}),
                    },
                    &prev,
                )
                .expect("seal");
                prev = entry.hash.clone();
                entry
            })
            .collect()
    }

    #[test]
    fn write_then_read_round_trips() {
        let key = LedgerKey::generate();
        let entries = chain(5);
        let checkpoint = key.sign_checkpoint(5, &entries[4].hash, "2026-11-25T05:12:50.000Z");
        let header = BundleHeader::new(1, 5, GENESIS_HASH, &key);
        let mut out = Vec::new();
        write_bundle(
            &mut out,
            &header,
            &entries,
            std::slice::from_ref(&checkpoint),
        )
        .expect("write");
        let text = String::from_utf8(out.clone()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7);
        assert!(lines[0].starts_with(
            r#"{"type":"header","format":"leaver-evidence-bundle/1","exported_at":""#
        ));
        assert!(
            lines[1].starts_with(r#"{"type":"entry","seq":1,"time":""#),
            "{}",
            lines[1]
        );
        assert!(lines[6].starts_with(r#"{"type":"checkpoint","seq":5,"hash":""#));
        assert!(text.ends_with("}\n"));
        let (h, e, c) = read_bundle(out.as_slice()).expect("read");
        assert_eq!(h, header);
        assert_eq!(e, entries);
        assert_eq!(c, vec![checkpoint]);
    }

    #[test]
    fn writer_streams_owned_entries() {
        let key = LedgerKey::generate();
        let header = BundleHeader::new(1, 3, GENESIS_HASH, &key);
        let mut out = Vec::new();
        write_bundle(&mut out, &header, chain(3), &[]).expect("write");
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 4);
    }

    #[test]
    fn writer_refuses_entries_after_checkpoints() {
        let key = LedgerKey::generate();
        let entries = chain(2);
        let mut writer =
            BundleWriter::new(Vec::new(), &BundleHeader::new(1, 2, GENESIS_HASH, &key)).expect("w");
        writer.entry(&entries[0]).expect("entry");
        writer
            .checkpoint(&key.sign_checkpoint(1, &entries[0].hash, "t"))
            .expect("checkpoint");
        assert!(writer.entry(&entries[1]).is_err());
    }

    fn bundle_text(n: i64) -> String {
        let key = LedgerKey::generate();
        let entries = chain(n);
        let checkpoint = key.sign_checkpoint(n, &entries[(n - 1) as usize].hash, "t");
        let mut out = Vec::new();
        write_bundle(
            &mut out,
            &BundleHeader::new(1, n, GENESIS_HASH, &key),
            &entries,
            &[checkpoint],
        )
        .expect("write");
        String::from_utf8(out).expect("utf8")
    }

    fn replace_line(text: &str, index: usize, with: &str) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[index] = with.to_string();
        lines.join("\n") + "\n"
    }

    fn read_error(text: &str) -> BundleError {
        read_bundle(text.as_bytes()).expect_err("malformed")
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let text = bundle_text(4);
        let e = read_error(&replace_line(&text, 2, "{not json"));
        assert_eq!(e.line, 3);
        assert!(e.message.contains("not valid JSON"), "{e}");
        assert!(e.to_string().starts_with("line 3: "), "{e}");

        let e = read_error(&replace_line(&text, 3, "[1,2]"));
        assert_eq!((e.line, e.message.as_str()), (4, "not a JSON object"));

        let e = read_error(&replace_line(&text, 4, r#"{"seq":4}"#));
        assert_eq!((e.line, e.message.as_str()), (5, "no \"type\" member"));

        let e = read_error(&replace_line(&text, 1, r#"{"type":"entry","seq":1}"#));
        assert_eq!(e.line, 2);
        assert!(
            e.message.starts_with("invalid entry line: missing field"),
            "{e}"
        );

        let e = read_error(&replace_line(&text, 2, r#"{"type":"entry","seq":"two"}"#));
        assert_eq!(e.line, 3);
        assert!(
            e.message.starts_with("invalid entry line: invalid type"),
            "{e}"
        );

        let e = read_error(&replace_line(&text, 5, r#"{"type":"checkpoint","seq":4}"#));
        assert_eq!(e.line, 6);
        assert!(e.message.starts_with("invalid checkpoint line"), "{e}");

        let e = read_error(&replace_line(&text, 2, r#"{"type":"footer"}"#));
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unknown line type \"footer\""), "{e}");

        let e = read_error(&replace_line(&text, 0, r#"{"type":"entry"}"#));
        assert_eq!(e.line, 1);
        assert!(e.message.contains("expected the header line"), "{e}");

        let header = text.lines().next().unwrap_or_default().to_string();
        let e = read_error(&replace_line(&text, 3, &header));
        assert_eq!((e.line, e.message.as_str()), (4, "a second header line"));

        let e = read_error(&text.replace("leaver-evidence-bundle/1", "leaver-evidence-bundle/9"));
        assert_eq!(e.line, 1);
        assert!(e.message.contains("unsupported bundle format"), "{e}");
    }

    #[test]
    fn entries_after_checkpoints_are_refused() {
        let text = bundle_text(3);
        let mut lines: Vec<&str> = text.lines().collect();
        lines.swap(3, 4);
        let e = read_error(&(lines.join("\n") + "\n"));
        assert_eq!(e.line, 5);
        assert!(e.message.contains("after a checkpoint"), "{e}");
    }

    #[test]
    fn a_cut_last_line_is_reported() {
        let text = bundle_text(3);
        let cut = &text[..text.len() - 20];
        let e = read_error(cut);
        assert_eq!(e.line, 5);
        assert!(e.message.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let mut bytes = bundle_text(2).into_bytes();
        let second_line = bytes.iter().position(|b| *b == b'\n').unwrap_or(0) + 1;
        bytes.insert(second_line + 5, 0xff);
        let e = read_bundle(bytes.as_slice()).expect_err("bad utf8");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("UTF-8"), "{e}");
    }

    #[test]
    fn empty_input_and_blank_lines() {
        let e = read_error("");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("empty"), "{e}");
        let text = bundle_text(2).replace('\n', "\r\n\n");
        let (_, entries, checkpoints) = read_bundle(text.as_bytes()).expect("blank lines");
        assert_eq!((entries.len(), checkpoints.len()), (2, 1));
    }

    #[test]
    fn a_missing_payload_is_read_as_redacted() {
        let text = bundle_text(2);
        let line = text.lines().nth(1).unwrap_or_default();
        let mut object: serde_json::Value = serde_json::from_str(line).expect("json");
        if let Some(map) = object.as_object_mut() {
            map.remove("payload");
        }
        let redacted = replace_line(&text, 1, &object.to_string());
        let mut reader = BundleReader::new(redacted.as_bytes()).expect("header");
        match reader.next() {
            Some(Ok(BundleItem::Entry {
                line,
                entry,
                redacted,
            })) => {
                assert_eq!(line, 2);
                assert!(redacted);
                assert_eq!(entry.payload, serde_json::Value::Null);
            }
            other => panic!("unexpected {other:?}"),
        }
        match reader.next() {
            Some(Ok(BundleItem::Entry { redacted, .. })) => assert!(!redacted),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut input = b"{\"type\":\"header\"".to_vec();
        input.extend(std::iter::repeat_n(b' ', MAX_LINE_BYTES + 10));
        input.extend_from_slice(b"}\n");
        let e = BundleReader::new(input.as_slice()).err().expect("too long");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("longer than"), "{e}");
    }
}
