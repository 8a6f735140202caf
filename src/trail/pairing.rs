//! Vault writes a request line and, once answered, a response line with the same
//! `request.id`. A read is counted once: from its response, or from its request alone
//! when no response came within [`STALE_MS`] of log time (Vault crashed, the line was
//! lost). The requests still waiting are part of the ingest cursor's state, so a
//! restart neither loses nor double counts them.

use super::event::SecretAccess;
use super::vault::{Entry, EntryKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How long (in log time) a request waits for its response.
pub const STALE_MS: i64 = 5 * 60 * 1000;
/// At most this many requests wait; beyond, the oldest counts alone.
const MAX_PENDING: usize = 10_000;

/// Entries between two periodic looks for stale requests.
const CHECK_EVERY: u64 = 1024;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Pairer {
    pending: BTreeMap<String, SecretAccess>,
    latest_ms: i64,
    #[serde(skip)]
    fed: u64,
    /// Requests the last periodic look found stale: the next one counts those still
    /// waiting. A request is only counted alone once [`CHECK_EVERY`] more entries have
    /// gone by without its response, so one whose response is the very next entry is
    /// never counted alone because a look fell between them (a log not in time order,
    /// or a request at the end of one part of a chunk and its response at the start
    /// of the next). Not kept across restarts: a look after one only starts again.
    #[serde(skip)]
    found_stale: BTreeSet<String>,
}

impl Pairer {
    /// Take one entry; the accesses it completes go to `out`.
    pub fn feed(&mut self, entry: Entry, out: &mut Vec<SecretAccess>) {
        self.latest_ms = self.latest_ms.max(entry.at_ms);
        match entry.kind {
            EntryKind::Request => {
                if let Some(access) = entry.access {
                    if entry.request_id.is_empty() {
                        out.push(access);
                    } else {
                        self.pending.insert(entry.request_id, access);
                    }
                }
            }
            EntryKind::Response => {
                self.pending.remove(&entry.request_id);
                if let Some(access) = entry.access {
                    out.push(access);
                }
            }
        }
        self.fed(out);
    }

    /// Take a response whose access, if any, the caller counts itself:
    /// [`Pairer::feed`] of that response without it.
    pub fn responded(&mut self, request_id: &str, at_ms: i64, out: &mut Vec<SecretAccess>) {
        self.latest_ms = self.latest_ms.max(at_ms);
        self.pending.remove(request_id);
        self.fed(out);
    }

    fn fed(&mut self, out: &mut Vec<SecretAccess>) {
        self.fed += 1;
        if self.fed % CHECK_EVERY == 0 {
            self.look_for_stale(out);
        } else if self.pending.len() > MAX_PENDING {
            self.expire(self.latest_ms - STALE_MS, out);
        }
    }

    /// The periodic look: count alone the requests found stale by the previous look
    /// that still wait, and remember the ones stale now.
    fn look_for_stale(&mut self, out: &mut Vec<SecretAccess>) {
        let (expired, fresh): (Vec<String>, Vec<String>) = self
            .stale(self.latest_ms - STALE_MS)
            .into_iter()
            .partition(|id| self.found_stale.contains(id));
        self.count_alone(expired, out);
        self.found_stale = fresh.into_iter().collect();
        self.cap(out);
    }

    /// Count alone, now, the requests logged before `cutoff_ms` (and the oldest beyond
    /// the cap).
    pub fn expire(&mut self, cutoff_ms: i64, out: &mut Vec<SecretAccess>) {
        let stale = self.stale(cutoff_ms);
        self.count_alone(stale, out);
        self.cap(out);
    }

    /// Count alone the oldest requests beyond [`MAX_PENDING`].
    fn cap(&mut self, out: &mut Vec<SecretAccess>) {
        while self.pending.len() > MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, a)| a.at_ms)
                .map(|(id, _)| id.clone());
            match oldest.and_then(|id| self.pending.remove(&id)) {
                Some(access) => out.push(access),
                None => break,
            }
        }
    }

    /// The ids of the requests logged before `cutoff_ms`.
    fn stale(&self, cutoff_ms: i64) -> Vec<String> {
        self.pending
            .iter()
            .filter(|(_, a)| a.at_ms < cutoff_ms)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn count_alone(&mut self, ids: Vec<String>, out: &mut Vec<SecretAccess>) {
        for id in ids {
            if let Some(access) = self.pending.remove(&id) {
                out.push(access);
            }
        }
    }

    /// Count every waiting request alone (the stream ended for good).
    pub fn drain(&mut self, out: &mut Vec<SecretAccess>) {
        out.extend(std::mem::take(&mut self.pending).into_values());
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::vault::parse_line;

    fn entry(kind: &str, id: &str, time: &str) -> Entry {
        let text = serde_json::json!({
            "time": time, "type": kind,
            "auth": {"entity_id": "e-1", "display_name": "userpass-bob"},
            "request": {"id": id, "operation": "read", "path": "secret/data/a",
                        "mount_point": "secret/", "mount_type": "kv"}
        })
        .to_string();
        parse_line(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_request_and_its_response_count_once() {
        let mut pairer = Pairer::default();
        let mut out = Vec::new();
        pairer.feed(entry("request", "r1", "2026-01-01T00:00:00Z"), &mut out);
        assert!(out.is_empty());
        pairer.feed(entry("response", "r1", "2026-01-01T00:00:01Z"), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(pairer.pending(), 0);
    }

    #[test]
    fn a_request_without_response_counts_when_stale_and_survives_serialization() {
        let mut pairer = Pairer::default();
        let mut out = Vec::new();
        pairer.feed(entry("request", "r1", "2026-01-01T00:00:00Z"), &mut out);
        let mut pairer: Pairer =
            serde_json::from_str(&serde_json::to_string(&pairer).unwrap()).unwrap();
        assert_eq!(pairer.pending(), 1);
        pairer.expire(parse_line_time("2026-01-01T00:00:00Z"), &mut out);
        assert!(out.is_empty());
        pairer.expire(parse_line_time("2026-01-01T00:10:00Z"), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_request_counts_alone_only_after_two_looks_found_it_waiting() {
        let mut pairer = Pairer::default();
        let mut out = Vec::new();
        // An old request, then a stream of later requests that are answered at once:
        // a look falls after the old request; its response comes right after.
        let answered = |pairer: &mut Pairer, n: u64, out: &mut Vec<SecretAccess>| {
            let id = format!("later-{n}");
            pairer.feed(entry("request", &id, "2026-01-01T01:00:00Z"), out);
            pairer.feed(entry("response", &id, "2026-01-01T01:00:00Z"), out);
        };
        for n in 0..(CHECK_EVERY / 2 - 1) {
            answered(&mut pairer, n, &mut out);
        }
        pairer.feed(entry("request", "old", "2026-01-01T00:00:00Z"), &mut out);
        assert_eq!(pairer.fed, CHECK_EVERY - 1);
        pairer.feed(entry("request", "lost", "2026-01-01T00:00:00Z"), &mut out);
        assert_eq!(pairer.fed % CHECK_EVERY, 0, "a look fell here");
        assert_eq!(pairer.pending(), 2, "found stale, not counted yet");
        pairer.feed(entry("response", "old", "2026-01-01T00:00:00Z"), &mut out);
        let responses = out.len();
        // `lost` never gets its response: the next look counts it alone.
        for n in 0..CHECK_EVERY {
            answered(&mut pairer, 10_000 + n, &mut out);
        }
        assert_eq!(pairer.pending(), 0);
        let alone: Vec<_> = out[responses..]
            .iter()
            .filter(|a| a.at_ms == parse_line_time("2026-01-01T00:00:00Z"))
            .collect();
        assert_eq!(alone.len(), 1, "only the lost request counts alone");
        assert_eq!(
            out.len(),
            (CHECK_EVERY / 2 - 1 + CHECK_EVERY) as usize + 2,
            "every answered read once, `old` once (its response), `lost` once"
        );
    }

    fn parse_line_time(t: &str) -> i64 {
        crate::trail::event::parse_time_ms(t).unwrap()
    }
}
