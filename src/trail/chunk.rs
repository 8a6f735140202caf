//! A chunk of complete Vault audit lines parsed on several threads: the chunk is cut
//! into parts at line boundaries, each part is parsed on a thread of its own, and the
//! parts come back in line order. Within a part, responses are counted into a batch of
//! the part's own (aggregation does not depend on order), a request whose response
//! follows in the part is only counted as a record (the response records its access),
//! and what the pairing of requests with responses must see — the other requests, and
//! every response's request id — is kept in line order as [`Event`]s, to be fed to the
//! [`Pairer`] on one thread ([`absorb`]). Blank lines are skipped; a malformed line
//! keeps its 1-based line number in the file.

use super::batch::{Batch, NamesGiven};
use super::pairing::Pairer;
use super::vault::{parse_raw, Entry, EntryKind, Scratch};
use std::borrow::Cow;
use std::num::NonZeroUsize;

/// Below this many bytes a chunk is parsed on the calling thread alone.
const MIN_PARALLEL_BYTES: usize = 512 * 1024;
/// Threads at most, whatever the machine has.
const MAX_THREADS: usize = 8;

/// What the pairing must see of one line of a part, in line order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A request whose response is not in the part: it waits for one.
    Request(Box<Entry>),
    /// A response; its access, if any, is already in the part's batch.
    Response {
        request_id: Cow<'a, str>,
        at_ms: i64,
    },
    Malformed {
        line: u64,
        reason: String,
    },
}

/// One part of a chunk, parsed.
#[derive(Debug)]
pub struct Part<'a> {
    pub events: Vec<Event<'a>>,
    /// The accesses the part's responses record.
    pub batch: Batch,
    /// Audit entries in the part (requests answered within it included).
    pub records: u64,
    /// The name sources whose names the part's batch holds (see [`NamesGiven`]).
    pub given: NamesGiven,
    /// Lines in the part (blank ones included).
    pub lines: u64,
}

/// Feed parsed parts, in line order, to the pairing and `batch`, as an ingest does,
/// and add their name sources to `given`; malformed lines go to `malformed`. Returns
/// the number of audit entries.
pub fn absorb(
    parts: Vec<Part<'_>>,
    pairer: &mut Pairer,
    batch: &mut Batch,
    given: &mut NamesGiven,
    mut malformed: impl FnMut(u64, String),
) -> u64 {
    let mut records = 0;
    let mut completed = Vec::new();
    for part in parts {
        records += part.records;
        for event in part.events {
            match event {
                Event::Request(entry) => pairer.feed(*entry, &mut completed),
                Event::Response { request_id, at_ms } => {
                    pairer.responded(&request_id, at_ms, &mut completed)
                }
                Event::Malformed { line, reason } => malformed(line, reason),
            }
        }
        batch.merge(part.batch);
        given.absorb(part.given);
    }
    for access in completed {
        batch.take(access);
    }
    records
}

/// Threads worth using on this machine.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(1)
        .clamp(1, MAX_THREADS)
}

/// Parse the lines of `chunk` (each ended by `\n`, except perhaps the last), the first
/// of which is line `first_line + 1` of its file, on up to `threads` threads. Names
/// are built only for name sources not in `given` (those given by earlier chunks).
pub fn parse_chunk<'a>(
    chunk: &'a [u8],
    first_line: u64,
    threads: usize,
    given: &NamesGiven,
) -> Vec<Part<'a>> {
    let parts = split(chunk, threads);
    if parts.len() <= 1 {
        return vec![parse_part(chunk, first_line, given)];
    }
    let mut parsed = std::thread::scope(|scope| {
        let mut rest = parts.iter();
        let first = rest.next().copied();
        // Each part numbers its lines from 0; they are renumbered once all are in.
        let handles: Vec<_> = rest
            .map(|&part| scope.spawn(move || parse_part(part, 0, given)))
            .collect();
        let mut out = Vec::with_capacity(parts.len());
        if let Some(part) = first {
            out.push(parse_part(part, first_line, given));
        }
        for handle in handles {
            match handle.join() {
                Ok(parsed) => out.push(parsed),
                // parse_line does not panic on any input; were a thread to die
                // anyway, re-raise its panic here rather than lose its lines.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    });
    let mut before = first_line;
    for (index, part) in parsed.iter_mut().enumerate() {
        if index > 0 {
            for event in &mut part.events {
                if let Event::Malformed { line, .. } = event {
                    *line += before;
                }
            }
        }
        before += part.lines;
    }
    parsed
}

/// Cut `chunk` into at most `threads` parts of about equal size, each ending at a
/// line end.
fn split(chunk: &[u8], threads: usize) -> Vec<&[u8]> {
    if threads <= 1 || chunk.len() < MIN_PARALLEL_BYTES {
        return vec![chunk];
    }
    let target = chunk.len() / threads;
    let mut parts = Vec::with_capacity(threads);
    let mut start = 0;
    while start < chunk.len() {
        let want = start + target;
        let end = if parts.len() + 1 == threads || want >= chunk.len() {
            chunk.len()
        } else {
            match memchr::memchr(b'\n', &chunk[want..]) {
                Some(i) => want + i + 1,
                None => chunk.len(),
            }
        };
        parts.push(&chunk[start..end]);
        start = end;
    }
    parts
}

/// The lines of `part`, each with its `\n` (the last one perhaps without): found with
/// `memchr` (a byte-by-byte split was an eighth of an ingest's time).
fn lines(part: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', part);
    std::iter::from_fn(move || {
        let end = match ends.next() {
            Some(newline) => newline + 1,
            None if start < part.len() => part.len(),
            None => return None,
        };
        let line = &part[start..end];
        start = end;
        Some(line)
    })
}

/// A line of a part while the part is read: a request is only kept as its line until
/// the part is over (most are answered within it and never need more).
enum Slot<'a> {
    /// The request's line and its number.
    Waiting(&'a [u8], u64),
    Answered,
    Event(Event<'a>),
}

/// Read a part in one pass. Responses are counted here, their identity's names built
/// once per name source (the part's batch keeps them); a request whose response comes
/// later in the part is only a record (the response records the same access, and the
/// pairing would drop the request's on seeing it); the others are parsed again at the
/// end and go to the pairing whole.
fn parse_part<'a>(part: &'a [u8], first_line: u64, given: &NamesGiven) -> Part<'a> {
    // About one read per two lines of a kilobyte each.
    let mut batch = Batch::with_capacity(part.len() / 2048 + 1);
    let mut scratch = Scratch::default();
    let mut slots = Vec::with_capacity(part.len() / 512 + 1);
    // Requests of this part not answered yet: request id → slot.
    let mut waiting: foldhash::HashMap<Cow<'a, str>, usize> = Default::default();
    let mut records = 0;
    let mut count = 0;
    for (number, line) in (first_line + 1..).zip(lines(part)) {
        count += 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let raw = match parse_raw(line) {
            Ok(raw) => raw,
            Err(reason) => {
                let line = number;
                slots.push(Slot::Event(Event::Malformed { line, reason }));
                continue;
            }
        };
        records += 1;
        match raw.kind {
            EntryKind::Request => {
                let id = raw.into_request_id();
                if !id.is_empty() {
                    waiting.insert(id, slots.len());
                }
                slots.push(Slot::Waiting(line, number));
            }
            EntryKind::Response => {
                raw.record_into(&mut batch, &mut scratch, given);
                let at_ms = raw.at_ms;
                let request_id = raw.into_request_id();
                if let Some(slot) = waiting.remove(&request_id) {
                    slots[slot] = Slot::Answered;
                }
                slots.push(Slot::Event(Event::Response { request_id, at_ms }));
            }
        }
    }
    let events = slots
        .into_iter()
        .filter_map(|slot| match slot {
            Slot::Event(event) => Some(event),
            Slot::Answered => None,
            // Read a moment ago: it parses again, the same.
            Slot::Waiting(text, line) => Some(match parse_raw(text) {
                Ok(raw) => Event::Request(Box::new(raw.into_entry())),
                Err(reason) => Event::Malformed { line, reason },
            }),
        })
        .collect();
    Part {
        events,
        batch,
        records,
        given: scratch.into_given(),
        lines: count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: usize) -> String {
        format!(
            "{{\"time\":\"2026-11-18T09:14:03Z\",\"type\":\"response\",\"auth\":{{\"entity_id\":\"e-{id}\"}},\"request\":{{\"id\":\"r-{id}\",\"operation\":\"read\",\"path\":\"secret/data/a{id}\",\"mount_point\":\"secret/\",\"mount_type\":\"kv\"}}}}\n"
        )
    }

    /// A chunk of `n` lines with a blank line and a malformed one among them.
    fn chunk(n: usize) -> Vec<u8> {
        let mut text = String::new();
        for id in 0..n {
            match id {
                7 => text.push_str("   \n"),
                11 => text.push_str("{not json\r\n"),
                _ => text.push_str(&line(id)),
            }
        }
        text.into_bytes()
    }

    /// What the pairing sees, line by line, and the part batches' rows.
    fn summary(parts: &[Part]) -> Vec<String> {
        parts
            .iter()
            .flat_map(|part| &part.events)
            .map(|event| match event {
                Event::Request(entry) => format!("request {}", entry.request_id),
                Event::Response { request_id, .. } => request_id.to_string(),
                Event::Malformed { line, .. } => format!("malformed@{line}"),
            })
            .collect()
    }

    fn rows(parts: &[Part]) -> usize {
        parts.iter().map(|part| part.batch.len()).sum()
    }

    #[test]
    fn parts_end_at_line_ends_and_keep_line_order_and_numbers() {
        let text = chunk(20_000);
        assert!(text.len() > MIN_PARALLEL_BYTES);
        let one = parse_chunk(&text, 100, 1, &NamesGiven::default());
        for threads in [2, 3, 8] {
            let parts = split(&text, threads);
            assert_eq!(parts.len(), threads);
            assert!(parts.iter().all(|p| p.ends_with(b"\n")));
            let many = parse_chunk(&text, 100, threads, &NamesGiven::default());
            assert_eq!(many.len(), threads);
            assert_eq!(summary(&many), summary(&one), "{threads} threads");
            assert_eq!(rows(&many), 19_998, "{threads} threads");
        }
        let summary = summary(&one);
        assert_eq!(summary.len(), 19_999, "the blank line is skipped");
        assert_eq!(summary[0], "r-0");
        assert_eq!(summary[10], "malformed@112", "line 12 of the chunk");
        assert_eq!(summary[19_998], "r-19999");
        assert_eq!(one[0].records, 19_998);
    }

    #[test]
    fn a_last_line_without_newline_and_tiny_chunks_are_parsed() {
        let mut text = chunk(3);
        text.extend_from_slice(line(3).trim_end().as_bytes());
        let parsed = parse_chunk(&text, 0, 4, &NamesGiven::default());
        assert_eq!(summary(&parsed), ["r-0", "r-1", "r-2", "r-3"]);
        let empty = parse_chunk(b"", 0, 4, &NamesGiven::default());
        assert!(summary(&empty).is_empty() && rows(&empty) == 0);
    }

    #[test]
    fn responses_are_counted_in_the_part_and_only_waiting_requests_go_to_the_pairing() {
        let request = |id: &str, entity: &str| {
            format!(
                "{{\"time\":\"2026-11-18T09:14:03Z\",\"type\":\"request\",\"auth\":{{\"entity_id\":\"{entity}\"}},\"request\":{{\"id\":\"{id}\",\"operation\":\"read\",\"path\":\"secret/data/a\",\"mount_point\":\"secret/\",\"mount_type\":\"kv\"}}}}\n"
            )
        };
        let response = |id: &str, entity: &str| {
            request(id, entity).replace("\"type\":\"request\"", "\"type\":\"response\"")
        };
        let text = [
            request("r-1", "e-1"),
            request("r-2", "e-1"),
            response("r-1", "e-1"),
            response("r-3", "e-1"),
            response("r-4", "e-2"),
        ]
        .concat();
        let parts = parse_chunk(text.as_bytes(), 0, 1, &NamesGiven::default());
        assert_eq!(
            summary(&parts),
            ["request r-2", "r-1", "r-3", "r-4"],
            "r-1's request is answered in the part: not seen by the pairing"
        );
        assert_eq!(parts[0].records, 5);
        let Event::Request(waiting) = &parts[0].events[0] else {
            panic!("{:?}", parts[0].events[0]);
        };
        let access = waiting.access.as_ref().expect("r-2 reads a secret");
        assert_eq!(
            access.principal.names.len(),
            1,
            "a waiting request is named"
        );
        let batch = &parts[0].batch;
        assert_eq!(batch.reads, 3, "three responses");
        assert_eq!(batch.len(), 2, "e-1 and e-2 read secret/a on one day");
        assert_eq!(batch.names.len(), 2);
        assert_eq!(batch.names["vault:entity:e-1"].1.len(), 1);

        // Fed to the pairing: r-2 waits; the batch has the three responses.
        let mut pairer = Pairer::default();
        let mut total = Batch::default();
        let mut given = NamesGiven::default();
        let records = absorb(parts, &mut pairer, &mut total, &mut given, |_, _| {
            panic!("malformed")
        });
        assert_eq!((records, pairer.pending(), total.reads), (5, 1, 3));
    }

    #[test]
    fn names_are_built_once_per_name_source_and_not_again_for_later_chunks() {
        let response = |id: usize, display_name: &str| {
            format!(
                "{{\"time\":\"2026-11-18T09:14:03Z\",\"type\":\"response\",\"auth\":{{\"entity_id\":\"e-1\",\"display_name\":\"{display_name}\"}},\"request\":{{\"id\":\"r-{id}\",\"operation\":\"read\",\"path\":\"secret/data/a\",\"mount_point\":\"secret/\",\"mount_type\":\"kv\"}}}}\n"
            )
        };
        let text = [
            response(1, "oidc-alice@example.com"),
            response(2, "oidc-alice@example.com"),
            response(3, "userpass-alice"),
        ]
        .concat();
        let mut given = NamesGiven::default();
        let parts = parse_chunk(text.as_bytes(), 0, 1, &given);
        let names: Vec<String> = parts[0].batch.names["vault:entity:e-1"]
            .1
            .iter()
            .map(|(kind, value)| format!("{kind}={value}"))
            .collect();
        assert_eq!(
            names,
            [
                "display_name=oidc-alice@example.com",
                "display_name=userpass-alice",
                "entity_id=e-1",
                "login=alice",
                "login=alice@example.com",
            ],
            "the entity's second display name is kept"
        );
        assert_eq!(parts[0].given.len(), 2, "two name sources");
        let mut batch = Batch::default();
        absorb(
            parts,
            &mut Pairer::default(),
            &mut batch,
            &mut given,
            |_, _| {},
        );
        // A later chunk with the same name sources builds no names; a new one does.
        let later = [response(4, "userpass-alice"), response(5, "token-alice")].concat();
        let parts = parse_chunk(later.as_bytes(), 0, 1, &given);
        let names = &parts[0].batch.names["vault:entity:e-1"].1;
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&("display_name".into(), "token-alice".into())));
        assert_eq!(parts[0].batch.reads, 2);
    }
}
