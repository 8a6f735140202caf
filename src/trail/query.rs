//! Which secrets an identity read since a time, answered from the index: the email's
//! candidate names (see `matching`) → identity keys → their term ids → the day rows
//! since then, summed per identity, secret and address by the database and merged per
//! (source, secret) here.

use super::event::{day_of, Operation};
use super::matching::candidates;
use super::TrailError;
use crate::store::Store;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How one identity key was tied to the email.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Match {
    pub identity_key: String,
    pub source: String,
    /// The name kind that matched (`entity_id`, `alias`, `source_identity`, ...).
    pub kind: String,
    pub value: String,
    /// `email` or `mapping:<system>`.
    pub via: String,
}

/// One secret the identity read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretAccessSummary {
    pub source: String,
    /// Logical Vault path or AWS ARN.
    pub secret: String,
    pub operations: Vec<&'static str>,
    pub first_seen: String,
    pub last_seen: String,
    /// Successful reads in the window (whole UTC days).
    pub count: i64,
    /// Failed attempts in the window.
    pub denied: i64,
    pub source_addresses: Vec<String>,
    pub identity_keys: Vec<String>,
    /// `kind via` for each way the identity keys were matched (e.g.
    /// `entity_id via mapping:vault`).
    pub matched_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretAccessReport {
    pub identity: String,
    /// Start of the window: the UTC day start on or before now − since.
    pub since: String,
    pub matches: Vec<Match>,
    pub secrets: Vec<SecretAccessSummary>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The secrets `email` read from `since_ms` on (rounded down to the UTC day).
pub async fn secret_access(
    store: &Store,
    email: &str,
    since_ms: i64,
) -> Result<SecretAccessReport, TrailError> {
    let email = email.trim().to_lowercase();
    let mapped = store.mapped_accounts(&email).await?;
    let wanted = candidates(&email, &mapped);
    let pairs: Vec<(String, String)> = wanted
        .iter()
        .map(|c| (c.kind.to_string(), c.value.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = store.trail_names_matching(&pairs).await?;
    let mut matches = BTreeSet::new();
    for name in &found {
        for candidate in wanted
            .iter()
            .filter(|c| c.kind == name.kind && c.value == name.value)
        {
            matches.insert(Match {
                identity_key: name.identity_key.clone(),
                source: name.source.clone(),
                kind: name.kind.clone(),
                value: name.value.clone(),
                via: candidate.via.clone(),
            });
        }
    }
    let keys: Vec<String> = matches
        .iter()
        .map(|m| m.identity_key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let since_day = day_of(since_ms);
    let ids = store.trail_identity_ids(&keys).await?;
    let key_of: BTreeMap<i64, String> = ids.iter().cloned().collect();
    let id_list: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    let groups = store.trail_read_groups(&id_list, since_day).await?;
    let mut how: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for m in &matches {
        how.entry(m.identity_key.as_str())
            .or_default()
            .insert(format!("{} via {}", m.kind, m.via));
    }
    struct Acc {
        operations: i64,
        first: i64,
        last: i64,
        count: i64,
        denied: i64,
        addresses: BTreeSet<String>,
        keys: BTreeSet<String>,
    }
    let mut merged: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for group in groups {
        let acc = merged.entry((group.source, group.secret)).or_insert(Acc {
            operations: 0,
            first: i64::MAX,
            last: i64::MIN,
            count: 0,
            denied: 0,
            addresses: BTreeSet::new(),
            keys: BTreeSet::new(),
        });
        acc.operations |= group.operations;
        acc.first = acc.first.min(group.first_seen);
        acc.last = acc.last.max(group.last_seen);
        acc.count += group.reads;
        acc.denied += group.denied;
        if let Some(key) = key_of.get(&group.identity_id) {
            if !acc.keys.contains(key) {
                acc.keys.insert(key.clone());
            }
        }
        if let Some(address) = group.address {
            acc.addresses.insert(address);
        }
    }
    // A count taken back (a request counted alone whose response came after all, the
    // response counted under another key) can leave a secret with nothing: not read.
    let secrets = merged
        .into_iter()
        .filter(|(_, acc)| acc.count != 0 || acc.denied != 0)
        .map(|((source, secret), acc)| SecretAccessSummary {
            source,
            secret,
            operations: Operation::names(acc.operations),
            first_seen: rfc3339(acc.first),
            last_seen: rfc3339(acc.last),
            count: acc.count,
            denied: acc.denied,
            source_addresses: acc.addresses.into_iter().collect(),
            matched_by: acc
                .keys
                .iter()
                .flat_map(|k| how.get(k.as_str()).cloned().unwrap_or_default())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            identity_keys: acc.keys.into_iter().collect(),
        })
        .collect();
    Ok(SecretAccessReport {
        identity: email,
        since: rfc3339(since_day * 86_400_000),
        matches: matches.into_iter().collect(),
        secrets,
    })
}
