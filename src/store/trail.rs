//! The secret-access index (`trail_*` tables, migrations 0009, 0014 and 0016): batches
//! of aggregated accesses written with the ingest cursor they cover in one
//! transaction, and the reads the query makes. Identity keys, secrets and addresses
//! are stored once in `trail_terms`; a batch's counts go into one segment per identity
//! (`trail_segments`, see `trail_segments.rs`), which refer to them by id. `trail_reads`
//! holds what was indexed before 0016; it is read, never written.
//! Multi-row statements get their placeholders built here (`$N` on PostgreSQL, `?` on SQLite; sqlx's `Any`
//! QueryBuilder would emit `?`, which PostgreSQL refuses).

use super::{now_ms, trail_segments, Context, Dialect, Store, StoreError};
use crate::trail::batch::{Batch, Terms, NO_ADDRESS as NO_ADDRESS_NUMBER};
use crate::trail::event::{Operation, Source};
use crate::trail::segment::SegmentRow;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};

/// Rows per multi-row statement (9 columns × 500 = 4,500 parameters, under both
/// databases' limits).
pub(super) const CHUNK: usize = 500;

/// SQLite page cache of the connection that writes a batch (KiB, as `cache_size`
/// takes a negative number): the names, terms and segment B-trees a commit searches
/// outgrow the 2 MB default (set when every read was an upsert into `trail_reads`;
/// kept: it is allocated only as pages are used).
const SQLITE_WRITE_CACHE_KIB: i64 = 131_072;

/// WAL pages after which the connection that writes a batch checkpoints (SQLite's
/// default is 1,000): a batch writes megabytes of segments, and checkpointing (with
/// its fsync) every 4 MB of WAL made commits the slowest part of an ingest. The
/// setting stays with the pooled connection: its WAL grows to about 64 MB before it
/// checkpoints.
const SQLITE_WRITE_CHECKPOINT_PAGES: i64 = 16_384;

/// Where a followed log left off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailCursor {
    pub name: String,
    /// `dev:inode` of the file being read.
    pub file_id: String,
    /// Byte offset of the first line not yet indexed.
    pub offset: i64,
    /// Lines before `offset` (for line numbers in reports).
    pub line: i64,
    /// The reader's state as JSON (head fingerprint, requests awaiting a response).
    pub state: String,
}

/// A name an identity key was seen under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailName {
    pub kind: String,
    pub value: String,
    pub identity_key: String,
    pub source: String,
}

/// The reads of one identity of one secret from one source address (or none) in a
/// window: the index's rows of those days, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailReadGroup {
    pub identity_id: i64,
    pub source: String,
    pub secret: String,
    pub address: Option<String>,
    pub operations: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reads: i64,
    pub denied: i64,
}

/// `trail_reads.address_id` of a read whose trail names no source address.
const NO_ADDRESS: i64 = 0;

/// What a `trail_terms` row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TermKind {
    Identity,
    Secret(Source),
    Address,
}

impl TermKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TermKind::Identity => "identity",
            TermKind::Secret(Source::Vault) => "secret:vault",
            TermKind::Secret(Source::Cloudtrail) => "secret:cloudtrail",
            TermKind::Address => "address",
        }
    }

    /// Every kind, in the order a commit adds them.
    const ALL: [TermKind; 4] = [
        TermKind::Identity,
        TermKind::Secret(Source::Vault),
        TermKind::Secret(Source::Cloudtrail),
        TermKind::Address,
    ];
}

/// The terms of `kind` a batch names.
fn part_terms(part: &Batch, kind: TermKind) -> &Terms {
    match kind {
        TermKind::Identity => part.identities(),
        TermKind::Secret(source) => part.secrets(source),
        TermKind::Address => part.addresses(),
    }
}

/// The rows of `part`, by database ids (from `terms`, or `fresh` for the terms this
/// commit added), appended to `rows` as (identity id, row).
fn part_rows(
    part: &Batch,
    terms: &TrailTerms,
    fresh: &TrailTerms,
    rows: &mut Vec<(i64, SegmentRow)>,
) -> Result<(), StoreError> {
    // The database id of each of the part's term numbers, per kind.
    let ids_of = |kind: TermKind| {
        part_terms(part, kind)
            .values()
            .map(|value| {
                terms
                    .get(kind, value)
                    .or_else(|| fresh.get(kind, value))
                    .ok_or_else(|| StoreError::Corrupt {
                        table: "trail_terms",
                        message: format!("no id for a {} term after adding it", kind.as_str()),
                    })
            })
            .collect::<Result<Vec<i64>, StoreError>>()
    };
    let identity_ids = ids_of(TermKind::Identity)?;
    let secret_ids = [
        ids_of(TermKind::Secret(Source::Vault))?,
        ids_of(TermKind::Secret(Source::Cloudtrail))?,
    ];
    let address_ids = ids_of(TermKind::Address)?;
    // Term numbers index the id lists they were numbered for (`ids_of` gives every
    // term of the part its id), so a missing one is a corrupt batch, not a panic.
    let id = |ids: &[i64], number: u32| {
        ids.get(number as usize)
            .copied()
            .ok_or_else(|| StoreError::Corrupt {
                table: "trail_terms",
                message: format!("a row names term {number}, which its batch does not hold"),
            })
    };
    for (key, agg) in part.keyed_rows() {
        let row = SegmentRow {
            day: key.day,
            secret_id: id(&secret_ids[key.source as usize], key.secret)?,
            address_id: match key.address {
                NO_ADDRESS_NUMBER => NO_ADDRESS,
                address => id(&address_ids, address)?,
            },
            agg: *agg,
        };
        rows.push((id(&identity_ids, key.identity)?, row));
    }
    Ok(())
}

/// Sort (identity id, row) pairs by identity, day, secret and address: segments are
/// written per identity, their rows in that order, and concurrent writers lock
/// identities in one order. When every id and day fits in 32 bits (ids are counted
/// from 1; days since 1970 of years 0–9999 fit), the four make one 128-bit key, sorted
/// with the rows' positions, and the rows are then taken in that order: sorting the
/// 72-byte pairs themselves by the tuple of four took about a quarter of a commit's
/// CPU, and by the one key in place more still (BENCHMARKS.md).
fn sort_rows(rows: &mut Vec<(i64, SegmentRow)>) {
    let packed = |(identity, row): &(i64, SegmentRow)| -> Option<u128> {
        let field = |value: i64| u32::try_from(value).ok().map(u128::from);
        let day = u32::try_from(row.day.checked_add(1 << 31)?).ok()?;
        Some(
            field(*identity)? << 96
                | u128::from(day) << 64
                | field(row.secret_id)? << 32
                | field(row.address_id)?,
        )
    };
    let keys: Option<Vec<(u128, u32)>> = rows
        .iter()
        .enumerate()
        .map(|(at, row)| Some((packed(row)?, u32::try_from(at).ok()?)))
        .collect();
    match keys {
        Some(mut keys) => {
            keys.sort_unstable();
            let sorted = keys
                .iter()
                .filter_map(|&(_, at)| rows.get(at as usize).copied())
                .collect();
            *rows = sorted;
        }
        None => rows.sort_unstable_by_key(|(identity, row)| {
            (*identity, row.day, row.secret_id, row.address_id)
        }),
    }
}

/// Term ids a writer has seen committed, so that a batch only asks the database for
/// the ones it has not (terms are never renumbered or removed). Bounded: forgotten
/// when full.
#[derive(Debug, Default)]
pub struct TrailTerms {
    ids: HashMap<TermKind, HashMap<String, i64>>,
    len: usize,
}

/// Term ids remembered, at most.
const MAX_TERMS: usize = 1_000_000;

impl TrailTerms {
    pub fn get(&self, kind: TermKind, value: &str) -> Option<i64> {
        self.ids.get(&kind)?.get(value).copied()
    }

    fn insert(&mut self, kind: TermKind, value: String, id: i64) {
        if self
            .ids
            .entry(kind)
            .or_default()
            .insert(value, id)
            .is_none()
        {
            self.len += 1;
        }
    }

    fn absorb(&mut self, other: TrailTerms) {
        if self.len + other.len > MAX_TERMS {
            *self = TrailTerms::default();
        }
        for (kind, ids) in other.ids {
            for (value, id) in ids {
                self.insert(kind, value, id);
            }
        }
    }
}

/// `($s, $s+1, …), (…)`: `rows` tuples of `cols` placeholders numbered from `start`
/// (PostgreSQL); on SQLite `(?, ?, …)`, bound in order: SQLite looks a numbered
/// parameter up by name in a list, once per parameter, which made binding a
/// 4,500-parameter statement quadratic (most of the time of an ingest).
pub(super) fn placeholders(dialect: Dialect, rows: usize, cols: usize, start: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            push_param(&mut sql, dialect, start + r * cols + c);
        }
        sql.push(')');
    }
    sql
}

pub(super) fn list(dialect: Dialect, n: usize, start: usize) -> String {
    let mut sql = String::with_capacity(n * 5);
    for i in start..start + n {
        if i > start {
            sql.push_str(", ");
        }
        push_param(&mut sql, dialect, i);
    }
    sql
}

/// Parameter number `n`: `$n` on PostgreSQL, `?` (the next one) on SQLite.
fn push_param(sql: &mut String, dialect: Dialect, n: usize) {
    match dialect {
        Dialect::Sqlite => sql.push('?'),
        Dialect::Postgres => {
            sql.push('$');
            sql.push_str(&n.to_string());
        }
    }
}

impl Store {
    /// The cursor of a followed log, if it was read before.
    pub async fn trail_cursor(&self, name: &str) -> Result<Option<TrailCursor>, StoreError> {
        let row = sqlx::query(
            "SELECT file_id, byte_offset, line, state FROM trail_cursors WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .context("reading a trail cursor")?;
        row.map(|row| {
            Ok(TrailCursor {
                name: name.to_string(),
                file_id: row.try_get("file_id")?,
                offset: row.try_get("byte_offset")?,
                line: row.try_get("line")?,
                state: row.try_get("state")?,
            })
        })
        .transpose()
        .context("reading a trail cursor")
    }

    /// Write a batch — in parts counted apart (one per parsing thread, say), summed
    /// here — and, when given, the cursor it brings the log to, in one transaction: a
    /// crash leaves either both or neither. Identity keys, secrets and addresses not in
    /// `terms` are added to `trail_terms` first; `terms` learns their ids only once the
    /// transaction has committed.
    pub async fn trail_commit(
        &self,
        parts: &[Batch],
        cursor: Option<&TrailCursor>,
        terms: &mut TrailTerms,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Sqlite {
            sqlx::query(&format!(
                "PRAGMA cache_size = -{SQLITE_WRITE_CACHE_KIB}; \
                 PRAGMA wal_autocheckpoint = {SQLITE_WRITE_CHECKPOINT_PAGES}"
            ))
            .execute(&mut *tx)
            .await
            .context("sizing the page cache and the checkpoints")?;
        }
        // Each name once, though several parts saw it.
        let names: BTreeSet<(&str, &str, &str, &str)> = parts
            .iter()
            .flat_map(|part| &part.names)
            .flat_map(|(key, (source, names))| {
                names.iter().map(move |(kind, value)| {
                    (kind.as_str(), value.as_str(), key.as_str(), source.as_str())
                })
            })
            .collect();
        let names: Vec<_> = names.into_iter().collect();
        for chunk in names.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO trail_identity_names (kind, value, identity_key, source) VALUES {} \
                 ON CONFLICT (kind, value, identity_key) DO NOTHING",
                placeholders(self.dialect, chunk.len(), 4, 1)
            );
            let mut query = sqlx::query(&sql);
            for (kind, value, key, source) in chunk {
                query = query.bind(*kind).bind(*value).bind(*key).bind(*source);
            }
            query
                .execute(&mut *tx)
                .await
                .context("indexing identity names")?;
        }

        // The terms the parts name that no earlier commit did.
        let mut fresh = TrailTerms::default();
        for kind in TermKind::ALL {
            let mut missing: Vec<&str> = parts
                .iter()
                .flat_map(|part| part_terms(part, kind).values())
                .filter(|value| terms.get(kind, value).is_none())
                .collect();
            missing.sort_unstable();
            missing.dedup();
            for chunk in missing.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO trail_terms (kind, value) VALUES {} ON CONFLICT (kind, value) DO NOTHING",
                    placeholders(self.dialect, chunk.len(), 2, 1)
                );
                let mut query = sqlx::query(&sql);
                for value in chunk {
                    query = query.bind(kind.as_str()).bind(*value);
                }
                query
                    .execute(&mut *tx)
                    .await
                    .context("adding index terms")?;
                let sql = format!(
                    "SELECT id, value FROM trail_terms WHERE kind = {} AND value IN ({})",
                    list(self.dialect, 1, 1),
                    list(self.dialect, chunk.len(), 2)
                );
                let mut query = sqlx::query(&sql).bind(kind.as_str());
                for value in chunk {
                    query = query.bind(*value);
                }
                for row in query
                    .fetch_all(&mut *tx)
                    .await
                    .context("reading index term ids")?
                {
                    let id: i64 = row.try_get("id").context("reading index term ids")?;
                    let value: String = row.try_get("value").context("reading index term ids")?;
                    fresh.insert(kind, value, id);
                }
            }
        }
        let mut rows: Vec<(i64, SegmentRow)> =
            Vec::with_capacity(parts.iter().map(Batch::len).sum());
        for part in parts {
            part_rows(part, terms, &fresh, &mut rows)?;
        }
        sort_rows(&mut rows);
        // A row counted in two parts is one row.
        rows.dedup_by(|later, kept| {
            let same = later.0 == kept.0 && later.1.key() == kept.1.key();
            if same {
                kept.1.agg.merge(&later.1.agg);
            }
            same
        });
        trail_segments::insert(self, &mut tx, &rows).await?;
        if let Some(cursor) = cursor {
            sqlx::query(
                "INSERT INTO trail_cursors (name, file_id, byte_offset, line, state, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET \
                 file_id = excluded.file_id, byte_offset = excluded.byte_offset, line = excluded.line, \
                 state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(&cursor.name)
            .bind(&cursor.file_id)
            .bind(cursor.offset)
            .bind(cursor.line)
            .bind(&cursor.state)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .context("saving a trail cursor")?;
        }
        tx.commit().await.context("committing trail accesses")?;
        terms.absorb(fresh);
        // The batch is in; merging segments is housekeeping: a failure leaves them
        // as they are (the query sums any number of them) and is tried again at the
        // next commit of those identities.
        let mut touched: Vec<i64> = rows.iter().map(|(identity, _)| *identity).collect();
        touched.dedup();
        if let Err(error) = self.trail_compact(&touched).await {
            tracing::warn!(%error, "merging index segments failed; they stay as they are");
        }
        Ok(())
    }

    /// The identity keys seen under any of the (kind, lower-cased value) pairs.
    pub async fn trail_names_matching(
        &self,
        pairs: &[(String, String)],
    ) -> Result<Vec<TrailName>, StoreError> {
        let mut found = Vec::new();
        for chunk in pairs.chunks(CHUNK) {
            let condition = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(kind = {} AND value = {})",
                        list(self.dialect, 1, 2 * i + 1),
                        list(self.dialect, 1, 2 * i + 2)
                    )
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!(
                "SELECT kind, value, identity_key, source FROM trail_identity_names WHERE {condition}"
            );
            let mut query = sqlx::query(&sql);
            for (kind, value) in chunk {
                query = query.bind(kind.as_str()).bind(value.as_str());
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .context("matching identity names")?;
            for row in rows {
                found.push(TrailName {
                    kind: row.try_get("kind").context("matching identity names")?,
                    value: row.try_get("value").context("matching identity names")?,
                    identity_key: row
                        .try_get("identity_key")
                        .context("matching identity names")?,
                    source: row.try_get("source").context("matching identity names")?,
                });
            }
        }
        Ok(found)
    }

    /// Every name the given identity keys were seen under.
    pub async fn trail_names_of(&self, keys: &[String]) -> Result<Vec<TrailName>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "SELECT kind, value, identity_key, source FROM trail_identity_names WHERE identity_key IN ({})",
                list(self.dialect, chunk.len(), 1)
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            for row in query
                .fetch_all(&self.pool)
                .await
                .context("reading identity names")?
            {
                found.push(TrailName {
                    kind: row.try_get("kind").context("reading identity names")?,
                    value: row.try_get("value").context("reading identity names")?,
                    identity_key: row
                        .try_get("identity_key")
                        .context("reading identity names")?,
                    source: row.try_get("source").context("reading identity names")?,
                });
            }
        }
        Ok(found)
    }

    /// The term ids of the given identity keys (those the index knows).
    pub async fn trail_identity_ids(
        &self,
        keys: &[String],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "SELECT id, value FROM trail_terms WHERE kind = {} AND value IN ({})",
                list(self.dialect, 1, 1),
                list(self.dialect, chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql).bind(TermKind::Identity.as_str());
            for key in chunk {
                query = query.bind(key.as_str());
            }
            for row in query
                .fetch_all(&self.pool)
                .await
                .context("reading identity ids")?
            {
                found.push((
                    row.try_get("id").context("reading identity ids")?,
                    row.try_get("value").context("reading identity ids")?,
                ));
            }
        }
        Ok(found)
    }

    /// The reads of the given identities from `since_day` on, summed per identity,
    /// secret and source address: those of `trail_reads` (indexed before migration
    /// 0016) by the database, then those of the segments. A key may come twice, once
    /// from each; the caller sums.
    pub async fn trail_read_groups(
        &self,
        identity_ids: &[i64],
        since_day: i64,
    ) -> Result<Vec<TrailReadGroup>, StoreError> {
        // The operations are a bit set: OR them as the sum of each bit's MAX (neither
        // database has a bitwise-OR aggregate both understand).
        let operations = (0..Operation::ALL.len())
            .map(|bit| format!("MAX(operations & {})", 1i64 << bit))
            .collect::<Vec<_>>()
            .join(" + ");
        let mut found = Vec::new();
        for chunk in identity_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT g.identity_id, s.kind AS secret_kind, s.value AS secret, t.value AS address, \
                 g.operations, g.first_seen, g.last_seen, g.reads, g.denied \
                 FROM (SELECT identity_id, secret_id, address_id, {operations} AS operations, \
                       MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen, \
                       CAST(SUM(reads) AS BIGINT) AS reads, CAST(SUM(denied) AS BIGINT) AS denied \
                       FROM trail_reads WHERE identity_id IN ({}) AND day >= {} \
                       GROUP BY identity_id, secret_id, address_id) g \
                 JOIN trail_terms s ON s.id = g.secret_id \
                 LEFT JOIN trail_terms t ON t.id = g.address_id",
                list(self.dialect, chunk.len(), 1),
                list(self.dialect, 1, chunk.len() + 1)
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = query
                .bind(since_day)
                .fetch_all(&self.pool)
                .await
                .context("reading secret accesses")?;
            found.reserve(rows.len());
            for row in rows {
                let group = (|| -> Result<TrailReadGroup, sqlx::Error> {
                    let kind: String = row.try_get("secret_kind")?;
                    Ok(TrailReadGroup {
                        identity_id: row.try_get("identity_id")?,
                        source: kind.strip_prefix("secret:").unwrap_or(&kind).to_string(),
                        secret: row.try_get("secret")?,
                        address: row.try_get("address")?,
                        operations: row.try_get("operations")?,
                        first_seen: row.try_get("first_seen")?,
                        last_seen: row.try_get("last_seen")?,
                        reads: row.try_get("reads")?,
                        denied: row.try_get("denied")?,
                    })
                })()
                .context("reading secret accesses")?;
                found.push(group);
            }
        }
        found.extend(self.trail_segment_groups(identity_ids, since_day).await?);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::{list, placeholders, sort_rows, Dialect, SegmentRow};
    use crate::trail::batch::AccessAgg;
    use crate::trail::event::{Operation, Outcome};

    #[test]
    fn placeholders_are_numbered_row_by_row() {
        let pg = Dialect::Postgres;
        assert_eq!(placeholders(pg, 2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(list(pg, 3, 2), "$2, $3, $4");
        let sqlite = Dialect::Sqlite;
        assert_eq!(placeholders(sqlite, 2, 2, 1), "(?, ?), (?, ?)");
        assert_eq!(list(sqlite, 3, 2), "?, ?, ?");
    }

    fn row(identity: i64, day: i64, secret_id: i64, address_id: i64) -> (i64, SegmentRow) {
        let agg = AccessAgg::one(Operation::Read, 0, Outcome::Read);
        (
            identity,
            SegmentRow {
                day,
                secret_id,
                address_id,
                agg,
            },
        )
    }

    fn by_tuple(rows: &[(i64, SegmentRow)]) -> Vec<(i64, SegmentRow)> {
        let mut rows = rows.to_vec();
        rows.sort_unstable_by_key(|(identity, row)| {
            (*identity, row.day, row.secret_id, row.address_id)
        });
        rows
    }

    #[test]
    fn rows_sort_by_identity_day_secret_and_address_packed_or_not() {
        // Every field varied on its own and together, the edges of what packs
        // included: negative days, 0 ("no address"), u32::MAX.
        let values = [0, 1, 2, 255, 256, 65_536, u32::MAX as i64];
        let days = [-719_528, -1, 0, 1, 20_000, 2_932_896];
        let mut rows = Vec::new();
        let mut seed = 0x9e37_79b9_u64;
        let mut pick = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for _ in 0..2_000 {
            rows.push(row(
                values[pick(values.len())],
                days[pick(days.len())],
                values[pick(values.len())],
                values[pick(values.len())],
            ));
        }
        let mut packed = rows.clone();
        sort_rows(&mut packed);
        assert_eq!(packed, by_tuple(&rows), "packed into one key");

        // An id past 32 bits (or a day past them) sorts by the tuple instead, the
        // same way.
        for unpackable in [
            row(1 << 40, 0, 1, 1),
            row(1, 0, 1 << 33, 1),
            row(1, 0, 1, -1),
            row(1, i64::MAX, 1, 1),
        ] {
            let mut all = rows.clone();
            all.push(unpackable);
            let mut sorted = all.clone();
            sort_rows(&mut sorted);
            assert_eq!(sorted, by_tuple(&all));
        }
    }
}
