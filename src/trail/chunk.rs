//! A chunk of complete Vault audit lines parsed on several threads: the chunk is cut
//! into parts at line boundaries (a few per thread), the threads take parts in turn
//! until none is left, and the parts come back in line order. Within a part, responses
//! are counted into the batch of the thread that reads it, which lasts for the whole
//! commit (aggregation does not depend on order), a request whose response
//! follows in the part is only counted as a record (the response records its access),
//! and what the pairing of requests with responses must see — the other requests, and
//! every response's request id — is kept in line order as [`Event`]s, to be fed to the
//! [`Pairer`] on one thread ([`absorb`]). Blank lines are skipped; a malformed line
//! keeps its 1-based line number in the file.

use super::batch::{Batch, NamesGiven};
use super::pairing::Pairer;
use super::request_shape::request_shape;
use super::vault::{parse_raw, Entry, EntryKind, Scratch};
use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many bytes a chunk is parsed on the calling thread alone.
const MIN_PARALLEL_BYTES: usize = 512 * 1024;
/// Threads at most, whatever the machine has.
const MAX_THREADS: usize = 8;
/// Parts a chunk is cut into per thread.
const PARTS_PER_THREAD: usize = 4;

/// What the pairing must see of one line of a part, in line order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A request whose response is not in the part: it waits for one.
    Request(Box<Entry>),
    /// A response; its access, if it records one (`counted`), is already in its
    /// thread's batch.
    Response {
        request_id: Cow<'a, str>,
        at_ms: i64,
        counted: bool,
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
    /// Audit entries in the part (requests answered within it included).
    pub records: u64,
    /// The name sources whose names the part gave its thread's batch (see
    /// [`NamesGiven`]).
    pub given: NamesGiven,
    /// Lines in the part (blank ones included).
    pub lines: u64,
}

/// Feed parsed parts, in line order, to the pairing, the accesses it completes to
/// `batch` (the parts' responses are already in the threads' batches), as an ingest
/// does, and add their name sources to `given`; malformed lines go to `malformed`.
/// Returns the number of audit entries.
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
                Event::Response {
                    request_id,
                    at_ms,
                    counted,
                } => pairer.responded(&request_id, at_ms, counted, &mut completed),
                Event::Malformed { line, reason } => malformed(line, reason),
            }
        }
        given.absorb(part.given);
    }
    for access in completed {
        batch.take(access);
    }
    // Requests counted alone whose response came after all: the responses (in the
    // threads' batches of this commit) count instead.
    for access in pairer.take_retracted() {
        batch.retract(&access);
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
/// The accesses the responses record go to `batches`, one per thread (grown to as
/// many as are used), which the caller keeps from chunk to chunk and merges once per
/// commit: a part's reads are not merged into one batch on one thread at every chunk.
pub fn parse_chunk<'a>(
    chunk: &'a [u8],
    first_line: u64,
    threads: usize,
    given: &NamesGiven,
    batches: &mut Vec<Batch>,
) -> Vec<Part<'a>> {
    // More parts than threads, taken in turn by the threads as they finish one: a
    // thread slowed down (by the reader of the next chunk, by the writer) takes fewer,
    // and no core waits for the slowest part.
    let parts = match threads {
        0 | 1 => vec![chunk],
        _ => split(chunk, threads.saturating_mul(PARTS_PER_THREAD)),
    };
    let workers = threads.clamp(1, parts.len().max(1));
    if batches.len() < workers {
        batches.resize_with(workers, Batch::default);
    }
    let (mine, others) = batches.split_at_mut(1);
    let mine = &mut mine[0];
    let next = AtomicUsize::new(0);
    let work = |batch: &mut Batch| {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(&part) = parts.get(index) else {
                return done;
            };
            done.push((index, parse_part(part, given, batch)));
        }
    };
    let mut parsed: Vec<(usize, Part<'a>)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = others
            .iter_mut()
            .take(workers - 1)
            .map(|batch| scope.spawn(move || work(batch)))
            .collect();
        let mut out = work(mine);
        for helper in helpers {
            match helper.join() {
                Ok(done) => out.extend(done),
                // parse_line does not panic on any input; were a thread to die
                // anyway, re-raise its panic here rather than lose its lines.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    });
    // Back in line order (parts begin where the one before ends), numbered in the
    // file (each part numbers its lines from 1).
    parsed.sort_unstable_by_key(|(index, _)| *index);
    let mut before = first_line;
    let mut parts = Vec::with_capacity(parsed.len());
    for (_, mut part) in parsed {
        for event in &mut part.events {
            if let Event::Malformed { line, .. } = event {
                *line += before;
            }
        }
        before += part.lines;
        parts.push(part);
    }
    parts
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
    /// A request read (and counted as a record): its line and its number.
    Waiting(&'a [u8], u64),
    /// A line with the shape of a request, not read yet: its line, its number and the
    /// members its response must repeat (see `request_shape`).
    Unread(&'a [u8], u64, &'a [u8]),
    Answered,
    Event(Event<'a>),
}

/// The requests of a part not answered yet.
#[derive(Default)]
struct Unanswered<'a> {
    /// Requests read: request id → slot.
    read: foldhash::HashMap<Cow<'a, str>, usize>,
    /// Requests not read (`Slot::Unread`): the request id their shape suggests → slot.
    unread: foldhash::HashMap<&'a [u8], usize>,
}

impl<'a> Unanswered<'a> {
    /// The response `request_id`, whose line holds `shared` (see
    /// [`RawEntry::shared`](super::vault::RawEntry::shared)), came: mark the request
    /// it answers, if one waits in `slots`; returns the records that took (a request
    /// not read before is one once read or proven valid).
    fn answer(&mut self, request_id: &str, shared: Option<&[u8]>, slots: &mut [Slot<'a>]) -> u64 {
        if let Some(slot) = self.read.remove(request_id) {
            slots[slot] = Slot::Answered;
            return 0;
        }
        // Requests without an id are in neither map: the pairing counts them alone.
        let Some(slot) = self.unread.remove(request_id.as_bytes()) else {
            return 0;
        };
        let Slot::Unread(line, number, members) = slots[slot] else {
            return 0;
        };
        // The response repeats the line's members: the line is valid and its request.
        if shared == Some(members) {
            slots[slot] = Slot::Answered;
            return 1;
        }
        // Not byte for byte (or the response was not skimmed): read the line.
        match parse_raw(line) {
            Ok(raw) if raw.kind == EntryKind::Request && raw.request_id() == request_id => {
                slots[slot] = Slot::Answered;
                1
            }
            Ok(raw) => {
                let id = raw.into_request_id();
                if !id.is_empty() {
                    self.read.entry(id).or_insert(slot);
                }
                slots[slot] = Slot::Waiting(line, number);
                1
            }
            // Malformed after all: the end of the part says so.
            Err(_) => 0,
        }
    }
}

/// Read a part in one pass. Responses are counted here, their identity's names built
/// once per name source (the thread's batch keeps them); a request whose response comes
/// later in the part is only a record (the response records the same access, and the
/// pairing would drop the request's on seeing it); the others are parsed (again) at the
/// end and go to the pairing whole. A line with the shape of a request is not read
/// when it comes: if its response repeats its members byte for byte (as Vault writes
/// them), comparing them is all the reading it needs (see `request_shape`).
fn parse_part<'a>(part: &'a [u8], given: &NamesGiven, batch: &mut Batch) -> Part<'a> {
    let mut scratch = Scratch::default();
    let mut slots = Vec::with_capacity(part.len() / 512 + 1);
    let mut waiting = Unanswered::default();
    let mut records = 0;
    let mut count = 0;
    for line in lines(part) {
        count += 1;
        let number = count;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(shape) = request_shape(line) {
            waiting.unread.insert(shape.id_hint, slots.len());
            slots.push(Slot::Unread(line, number, shape.members));
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
                    waiting.read.insert(id, slots.len());
                }
                slots.push(Slot::Waiting(line, number));
            }
            EntryKind::Response => {
                let counted = raw.record_into(batch, &mut scratch, given);
                let at_ms = raw.at_ms;
                let shared = raw.shared();
                let request_id = raw.into_request_id();
                records += waiting.answer(&request_id, shared, &mut slots);
                slots.push(Slot::Event(Event::Response {
                    request_id,
                    at_ms,
                    counted,
                }));
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
            Slot::Unread(text, line, _) => Some(match parse_raw(text) {
                Ok(raw) => {
                    records += 1;
                    Event::Request(Box::new(raw.into_entry()))
                }
                Err(reason) => Event::Malformed { line, reason },
            }),
        })
        .collect();
    Part {
        events,
        records,
        given: scratch.into_given(),
        lines: count,
    }
}

#[cfg(test)]
mod tests {
    use super::super::differential::{one_byte_variants, read_by_chunk, read_line_by_line};
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

    /// What the pairing sees, line by line.
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

    fn rows(batches: &[Batch]) -> usize {
        batches.iter().map(Batch::len).sum()
    }

    #[test]
    fn parts_end_at_line_ends_and_keep_line_order_and_numbers() {
        let text = chunk(20_000);
        assert!(text.len() > MIN_PARALLEL_BYTES);
        let one = parse_chunk(&text, 100, 1, &NamesGiven::default(), &mut Vec::new());
        for threads in [2, 3, 8] {
            let parts = split(&text, threads);
            assert_eq!(parts.len(), threads);
            assert!(parts.iter().all(|p| p.ends_with(b"\n")));
            let mut batches = Vec::new();
            let many = parse_chunk(&text, 100, threads, &NamesGiven::default(), &mut batches);
            assert_eq!(many.len(), threads * PARTS_PER_THREAD);
            assert_eq!(batches.len(), threads, "one batch per thread");
            assert_eq!(summary(&many), summary(&one), "{threads} threads");
            assert_eq!(rows(&batches), 19_998, "{threads} threads");
            assert_eq!(Batch::merged(batches).reads, 19_998);
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
        let parsed = parse_chunk(&text, 0, 4, &NamesGiven::default(), &mut Vec::new());
        assert_eq!(summary(&parsed), ["r-0", "r-1", "r-2", "r-3"]);
        let mut batches = Vec::new();
        let empty = parse_chunk(b"", 0, 4, &NamesGiven::default(), &mut batches);
        assert!(summary(&empty).is_empty() && rows(&batches) == 0);
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
        let mut batches = Vec::new();
        let parts = parse_chunk(text.as_bytes(), 0, 1, &NamesGiven::default(), &mut batches);
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
        let batch = &batches[0];
        assert_eq!(batch.reads, 3, "three responses");
        assert_eq!(batch.len(), 2, "e-1 and e-2 read secret/a on one day");
        assert_eq!(batch.names.len(), 2);
        assert_eq!(batch.names["vault:entity:e-1"].1.len(), 1);

        // Fed to the pairing: r-2 waits; nothing more is counted (the thread's batch
        // has the three responses).
        let mut pairer = Pairer::default();
        let mut completed = Batch::default();
        let mut given = NamesGiven::default();
        let records = absorb(parts, &mut pairer, &mut completed, &mut given, |_, _| {
            panic!("malformed")
        });
        assert_eq!((records, pairer.pending(), completed.reads), (5, 1, 0));
        // Expired, r-2 counts alone.
        let mut expired = Vec::new();
        pairer.drain(&mut expired);
        assert_eq!(expired.len(), 1);
    }

    const AUTH: &str = r#""auth":{"client_token":"hmac-sha256:aa","display_name":"oidc-alice@example.com","entity_id":"e-1","metadata":{"username":"alice@example.com"}}"#;

    /// A request or response line for request `id` reading `path`, in Vault's member
    /// order or with sorted keys.
    fn audit_line(kind: &str, id: &str, path: &str, sorted: bool) -> String {
        let request = format!(
            r#""request":{{"client_token":"hmac-sha256:bb","id":"{id}","mount_point":"secret/","mount_type":"kv","namespace":{{"id":"root"}},"operation":"read","path":"secret/data/{path}","remote_address":"10.0.0.1"}}"#
        );
        let response = match kind {
            "response" => r#","response":{"data":{"password":"hmac-sha256:cc"}}"#,
            _ => "",
        };
        let time = "2026-11-18T09:14:03.552817Z";
        match sorted {
            false => format!(r#"{{"time":"{time}","type":"{kind}",{AUTH},{request}{response}}}"#),
            true => format!(r#"{{"time":"{time}",{AUTH},{request}{response},"type":"{kind}"}}"#),
        }
    }

    #[test]
    fn requests_answered_by_shape_come_to_what_reading_every_line_comes_to() {
        let line = audit_line;
        let lines = [
            // Answered, in Vault's order and sorted.
            line("request", "r-1", "a", false),
            line("response", "r-1", "a", false),
            line("request", "r-2", "b", true),
            line("response", "r-2", "b", true),
            // A response that does not repeat its request's members: read in full.
            line("request", "r-3", "c", false),
            line("response", "r-3", "c", false).replace("alice@", "alice2@"),
            // Never answered (counted alone); answered without a request.
            line("request", "r-4", "d", false),
            line("response", "r-5", "e", false),
            // No id: counted alone, whatever follows.
            line("request", "", "f", false),
            line("response", "", "f", false),
            // A misleading id in `auth`, then the request it names.
            line("request", "r-6", "g", false)
                .replace(r#""metadata":{"#, r#""metadata":{"request":{"id":"r-7"},"#),
            line("request", "r-7", "h", false),
            line("response", "r-7", "h", false),
            line("response", "r-6", "g", false)
                .replace(r#""metadata":{"#, r#""metadata":{"request":{"id":"r-7"},"#),
            // One id twice: the later request is the one answered.
            line("request", "r-8", "i", false),
            line("request", "r-8", "j", true),
            line("response", "r-8", "j", true),
            // Spaced out: not the same bytes.
            line("request", "r-9", "k", false),
            line("response", "r-9", "k", false).replace(r#","request""#, r#", "request""#),
            // Denied.
            line("request", "r-10", "l", false),
            line("response", "r-10", "l", false)
                .replace(r#"}}}"#, r#"}},"error":"permission denied"}"#),
            // Looks like a request, is not one.
            line("request", "r-11", "m", false).replace(r#""operation""#, r#""operation":1,"x""#),
            line("response", "r-11", "m", false),
        ];
        let text = lines.join("\n");
        let expected = read_line_by_line(text.as_bytes());
        assert_eq!(read_by_chunk(text.as_bytes()), expected);
        assert_eq!(expected.malformed.len(), 1, "{:?}", expected.malformed);
        assert_eq!(expected.records, lines.len() as u64 - 1);

        // Every one-byte deletion, replacement and insertion in the lines of two
        // answered requests and their responses.
        let specials: &[u8] = b"\"\\{}:,x0 \x01";
        let pairs = lines[..4].join("\n");
        let mut checked = 0;
        for variant in one_byte_variants(pairs.as_bytes(), specials) {
            assert_eq!(
                read_by_chunk(&variant),
                read_line_by_line(&variant),
                "{}",
                String::from_utf8_lossy(&variant)
            );
            checked += 1;
        }
        assert!(checked > 20_000, "{checked}");
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
        let mut batches = Vec::new();
        let parts = parse_chunk(text.as_bytes(), 0, 1, &given, &mut batches);
        let names: Vec<String> = batches[0].names["vault:entity:e-1"]
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
        let mut batches = Vec::new();
        parse_chunk(later.as_bytes(), 0, 1, &given, &mut batches);
        let names = &batches[0].names["vault:entity:e-1"].1;
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&("display_name".into(), "token-alice".into())));
        assert_eq!(batches[0].reads, 2);
    }
}
