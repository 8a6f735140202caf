//! Vault writes a request line and, once answered, a response line with the same
//! `request.id`. A read is counted once: from its response, or from its request alone
//! when no response came within [`STALE_MS`] of log time (Vault crashed, the line was
//! lost). The requests still waiting are part of the ingest cursor's state, so a
//! restart neither loses nor double counts them.

use super::event::SecretAccess;
use super::vault::{Entry, EntryKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long (in log time) a request waits for its response.
pub const STALE_MS: i64 = 5 * 60 * 1000;
/// At most this many requests wait; beyond, the oldest counts alone.
const MAX_PENDING: usize = 10_000;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Pairer {
    pending: BTreeMap<String, SecretAccess>,
    latest_ms: i64,
    #[serde(skip)]
    fed: u64,
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
        if self.fed % 1024 == 0 || self.pending.len() > MAX_PENDING {
            self.expire(self.latest_ms - STALE_MS, out);
        }
    }

    /// Count alone the requests logged before `cutoff_ms` (and the oldest beyond the
    /// cap).
    pub fn expire(&mut self, cutoff_ms: i64, out: &mut Vec<SecretAccess>) {
        let stale: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, a)| a.at_ms < cutoff_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(access) = self.pending.remove(&id) {
                out.push(access);
            }
        }
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

    fn parse_line_time(t: &str) -> i64 {
        crate::trail::event::parse_time_ms(t).unwrap()
    }
}
