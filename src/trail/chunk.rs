//! A chunk of complete Vault audit lines parsed on several threads: the chunk is cut
//! into parts at line boundaries, each part is parsed on a thread of its own, and the
//! results come back in line order (pairing requests with their responses needs that
//! order, and is done afterwards on one thread). Within a part, a request whose
//! response follows is only counted as a record: its access is never built (the
//! response records it). Blank lines are skipped; a malformed line keeps its 1-based
//! line number in the file.

use super::vault::{parse_raw, Entry, EntryKind};
use std::collections::HashSet;
use std::num::NonZeroUsize;

/// Below this many bytes a chunk is parsed on the calling thread alone.
const MIN_PARALLEL_BYTES: usize = 512 * 1024;
/// Threads at most, whatever the machine has.
const MAX_THREADS: usize = 8;

/// One non-blank line of a chunk.
#[derive(Debug)]
pub enum Parsed {
    Entry(Entry),
    /// A request whose response comes later in the chunk (which records the access).
    Answered,
    Malformed {
        line: u64,
        reason: String,
    },
}

/// Threads worth using on this machine.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(1)
        .clamp(1, MAX_THREADS)
}

/// Parse the lines of `chunk` (each ended by `\n`, except perhaps the last), the first
/// of which is line `first_line + 1` of its file, on up to `threads` threads.
pub fn parse_chunk(chunk: &[u8], first_line: u64, threads: usize) -> Vec<Parsed> {
    let parts = split(chunk, first_line, threads);
    if parts.len() <= 1 {
        return parse_part(chunk, first_line);
    }
    std::thread::scope(|scope| {
        let mut rest = parts.iter();
        let first = rest.next().copied();
        let handles: Vec<_> = rest
            .map(|&(part, line)| scope.spawn(move || parse_part(part, line)))
            .collect();
        let mut out = match first {
            Some((part, line)) => parse_part(part, line),
            None => Vec::new(),
        };
        for handle in handles {
            match handle.join() {
                Ok(parsed) => out.extend(parsed),
                // parse_line does not panic on any input; were a thread to die
                // anyway, re-raise its panic here rather than lose its lines.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Cut `chunk` into at most `threads` parts of about equal size, each ending at a
/// line end, with the number of lines before each.
fn split(chunk: &[u8], first_line: u64, threads: usize) -> Vec<(&[u8], u64)> {
    if threads <= 1 || chunk.len() < MIN_PARALLEL_BYTES {
        return vec![(chunk, first_line)];
    }
    let target = chunk.len() / threads;
    let mut parts = Vec::with_capacity(threads);
    let mut start = 0;
    let mut line = first_line;
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
        let part = &chunk[start..end];
        parts.push((part, line));
        line += memchr::memchr_iter(b'\n', part).count() as u64;
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

fn parse_part(part: &[u8], first_line: u64) -> Vec<Parsed> {
    // Every line parsed, its strings still borrowed from the chunk.
    let mut raws = Vec::with_capacity(part.len() / 1024 + 1);
    for (number, line) in (first_line + 1..).zip(lines(part)) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        raws.push(parse_raw(line).map_err(|reason| (number, reason)));
    }
    // Requests whose response comes later in this part: the response records the
    // same access, and the pairing would drop the request's on seeing it.
    let mut answered = vec![false; raws.len()];
    {
        let mut responded: HashSet<&str> = HashSet::new();
        for (i, raw) in raws.iter().enumerate().rev() {
            let Ok(raw) = raw else { continue };
            let id = raw.request_id();
            if id.is_empty() {
                continue;
            }
            match raw.kind {
                EntryKind::Response => {
                    responded.insert(id);
                }
                EntryKind::Request => answered[i] = responded.contains(id),
            }
        }
    }
    // Responses give their identity's names once per part (they all reach the same
    // batch); a request that may wait for its response always carries them.
    let mut named: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(raws.len());
    for (raw, answered) in raws.into_iter().zip(answered) {
        out.push(match raw {
            Err((line, reason)) => Parsed::Malformed { line, reason },
            Ok(_) if answered => Parsed::Answered,
            Ok(raw) if raw.kind == EntryKind::Request => Parsed::Entry(raw.into_entry()),
            Ok(raw) => Parsed::Entry(raw.into_entry_with(|key| {
                if named.contains(key) {
                    false
                } else {
                    named.insert(key.to_string());
                    true
                }
            })),
        });
    }
    out
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

    fn summary(parsed: &[Parsed]) -> Vec<String> {
        parsed
            .iter()
            .map(|p| match p {
                Parsed::Entry(entry) => entry.request_id.clone(),
                Parsed::Answered => "answered".into(),
                Parsed::Malformed { line, .. } => format!("malformed@{line}"),
            })
            .collect()
    }

    #[test]
    fn parts_end_at_line_ends_and_keep_line_order_and_numbers() {
        let text = chunk(20_000);
        assert!(text.len() > MIN_PARALLEL_BYTES);
        let one = parse_chunk(&text, 100, 1);
        for threads in [2, 3, 8] {
            let parts = split(&text, 100, threads);
            assert_eq!(parts.len(), threads);
            assert!(parts.iter().all(|(p, _)| p.ends_with(b"\n")));
            let many = parse_chunk(&text, 100, threads);
            assert_eq!(summary(&many), summary(&one), "{threads} threads");
        }
        let summary = summary(&one);
        assert_eq!(summary.len(), 19_999, "the blank line is skipped");
        assert_eq!(summary[0], "r-0");
        assert_eq!(summary[10], "malformed@112", "line 12 of the chunk");
        assert_eq!(summary[19_998], "r-19999");
    }

    #[test]
    fn a_last_line_without_newline_and_tiny_chunks_are_parsed() {
        let mut text = chunk(3);
        text.extend_from_slice(line(3).trim_end().as_bytes());
        let parsed = parse_chunk(&text, 0, 4);
        assert_eq!(summary(&parsed), ["r-0", "r-1", "r-2", "r-3"]);
        assert!(parse_chunk(b"", 0, 4).is_empty());
    }

    #[test]
    fn a_request_answered_in_the_part_builds_no_access_and_names_come_once() {
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
        let parsed = parse_chunk(text.as_bytes(), 0, 1);
        assert!(matches!(parsed[0], Parsed::Answered));
        let names = |p: &Parsed| match p {
            Parsed::Entry(entry) => (
                entry.request_id.clone(),
                entry
                    .access
                    .as_ref()
                    .map(|a| a.principal.names.len())
                    .unwrap_or(99),
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            names(&parsed[1]),
            ("r-2".into(), 1),
            "r-2 may still wait: named"
        );
        assert_eq!(
            names(&parsed[2]),
            ("r-1".into(), 1),
            "first response of e-1"
        );
        assert_eq!(
            names(&parsed[3]),
            ("r-3".into(), 0),
            "e-1 was named in this part"
        );
        assert_eq!(names(&parsed[4]), ("r-4".into(), 1));
    }
}
