//! Vault writes a request line and, once answered, a response line with the same
//! `request.id`. A read is counted once: from its response, or from its request alone
//! when no response came within [`STALE_MS`] of log time (Vault crashed, the line was
//! lost). The requests still waiting are part of the ingest cursor's state, so a
//! restart neither loses nor double counts them. Should the response of a request
//! counted alone come after all (a Vault whose `max_request_duration` is raised past
//! [`STALE_MS`]), the request's count is taken back ([`Pairer::take_retracted`]) and
//! the response's stands: the read still counts once.

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
/// Requests counted alone remembered, at most, for a response that comes after all.
const MAX_COUNTED_ALONE: usize = 1_000;
/// How long (in log time) a request counted alone is remembered.
const COUNTED_ALONE_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Pairer {
    pending: BTreeMap<String, SecretAccess>,
    /// Requests counted alone, by id, the most recent of them (see
    /// [`MAX_COUNTED_ALONE`], [`COUNTED_ALONE_MS`]): kept across restarts like the
    /// waiting ones.
    #[serde(default)]
    counted_alone: BTreeMap<String, SecretAccess>,
    /// Counts taken back since the caller last took them.
    #[serde(skip)]
    retracted: Vec<SecretAccess>,
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
                self.answered(&entry.request_id, entry.access.is_some());
                if let Some(access) = entry.access {
                    out.push(access);
                }
            }
        }
        self.fed(out);
    }

    /// Take a response whose access, if it records one (`counted`), the caller counts
    /// itself: [`Pairer::feed`] of that response without it.
    pub fn responded(
        &mut self,
        request_id: &str,
        at_ms: i64,
        counted: bool,
        out: &mut Vec<SecretAccess>,
    ) {
        self.latest_ms = self.latest_ms.max(at_ms);
        self.answered(request_id, counted);
        self.fed(out);
    }

    /// The response to `request_id` came, recording an access (`counted`) or not: the
    /// request no longer waits; if it was counted alone already and the response
    /// counts, the request's count is taken back.
    fn answered(&mut self, request_id: &str, counted: bool) {
        if self.pending.remove(request_id).is_some() {
            return;
        }
        if let Some(request) = self.counted_alone.remove(request_id) {
            if counted {
                self.retracted.push(request);
            }
        }
    }

    /// The counts of requests counted alone whose response came after all, to be taken
    /// back from the batch the response is counted in.
    pub fn take_retracted(&mut self) -> Vec<SecretAccess> {
        std::mem::take(&mut self.retracted)
    }

    /// Count `request` alone, remembering it for a response that may yet come.
    fn count_alone_now(&mut self, id: String, request: SecretAccess, out: &mut Vec<SecretAccess>) {
        out.push(request.clone());
        self.counted_alone.insert(id, request);
        let cutoff = self.latest_ms.saturating_sub(COUNTED_ALONE_MS);
        if self.counted_alone.len() > MAX_COUNTED_ALONE {
            self.counted_alone
                .retain(|_, request| request.at_ms >= cutoff);
        }
        while self.counted_alone.len() > MAX_COUNTED_ALONE {
            match oldest(&self.counted_alone) {
                Some(id) => self.counted_alone.remove(&id),
                None => break,
            };
        }
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
            match oldest(&self.pending).and_then(|id| self.pending.remove_entry(&id)) {
                Some((id, access)) => self.count_alone_now(id, access, out),
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
                self.count_alone_now(id, access, out);
            }
        }
    }

    /// Count every waiting request alone (the stream ended for good, unless the log
    /// is read on later: a response after all then takes the count back).
    pub fn drain(&mut self, out: &mut Vec<SecretAccess>) {
        for (id, access) in std::mem::take(&mut self.pending) {
            self.count_alone_now(id, access, out);
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// The id of the request logged first among `requests`.
fn oldest(requests: &BTreeMap<String, SecretAccess>) -> Option<String> {
    requests
        .iter()
        .min_by_key(|(_, request)| request.at_ms)
        .map(|(id, _)| id.clone())
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

    #[test]
    fn a_response_after_its_request_was_counted_alone_takes_the_count_back() {
        let mut pairer = Pairer::default();
        let mut out = Vec::new();
        pairer.feed(entry("request", "r1", "2026-01-01T00:00:00Z"), &mut out);
        pairer.feed(entry("request", "r2", "2026-01-01T00:00:00Z"), &mut out);
        pairer.expire(parse_line_time("2026-01-01T00:10:00Z"), &mut out);
        assert_eq!(out.len(), 2, "both counted alone");
        // Kept across a restart, like the waiting requests.
        let mut pairer: Pairer =
            serde_json::from_str(&serde_json::to_string(&pairer).unwrap()).unwrap();
        assert!(pairer.take_retracted().is_empty());
        pairer.feed(entry("response", "r1", "2026-01-01T00:20:00Z"), &mut out);
        let retracted = pairer.take_retracted();
        assert_eq!(retracted.len(), 1, "r1's count is taken back");
        assert_eq!(retracted[0].at_ms, parse_line_time("2026-01-01T00:00:00Z"));
        assert_eq!(out.len(), 3, "the response counts");
        // Once only; and a response that records no access takes nothing back.
        pairer.feed(entry("response", "r1", "2026-01-01T00:21:00Z"), &mut out);
        pairer.responded(
            "r2",
            parse_line_time("2026-01-01T00:21:00Z"),
            false,
            &mut out,
        );
        pairer.responded(
            "r2",
            parse_line_time("2026-01-01T00:22:00Z"),
            true,
            &mut out,
        );
        assert!(pairer.take_retracted().is_empty());
    }

    #[test]
    fn requests_counted_alone_are_remembered_within_bounds() {
        let mut pairer = Pairer::default();
        let mut out = Vec::new();
        let count = MAX_COUNTED_ALONE as u64 + 50;
        for n in 0..count {
            pairer.feed(
                entry("request", &format!("r{n}"), "2026-01-01T00:00:00Z"),
                &mut out,
            );
        }
        pairer.drain(&mut out);
        assert_eq!(out.len() as u64, count);
        assert_eq!(pairer.counted_alone.len(), MAX_COUNTED_ALONE);
        // Over the bound, what is more than a day older than the log goes first.
        pairer.feed(entry("request", "late", "2026-01-02T01:00:00Z"), &mut out);
        pairer.drain(&mut out);
        assert_eq!(pairer.counted_alone.len(), 1);
        assert!(pairer.counted_alone.contains_key("late"));
    }

    fn parse_line_time(t: &str) -> i64 {
        crate::trail::event::parse_time_ms(t).unwrap()
    }
}
