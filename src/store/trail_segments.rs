//! The segments of the secret-access index (`trail_segments`, migration 0016; the body
//! format is src/trail/segment.rs): a commit adds one segment per identity it holds
//! reads of, a query sums an identity's segments, and an identity's newest segments
//! are merged into one once it has [`COMPACT_AT`] of them.
//!
//! Merging is tiered: the two newest segments and then each older one no larger than
//! twice what is gathered so far, so a small new segment is merged with its peers and
//! a large old one only once the newer ones have grown to its size: an identity keeps
//! a handful of segments, and a row is rewritten a few times over its life, not at
//! every commit. A merge deletes the segments it read in the transaction that adds
//! their sum; if any of them is already gone (another replica merged them), it adds
//! nothing and leaves them to that replica.

use super::trail::{list, placeholders, TrailReadGroup, CHUNK};
use super::{Context, Store, StoreError};
use crate::trail::batch::AccessAgg;
use crate::trail::segment::{decode_into, encode, merge, SegmentRow};
use sqlx::any::AnyArguments;
use sqlx::any::AnyRow;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, FromRow};
use std::collections::HashMap;

/// Segments an identity has before its newest are merged.
pub const COMPACT_AT: i64 = 8;

/// Segments per multi-row insert (5 columns).
const SEGMENTS_PER_INSERT: usize = 500;

/// Term ids per lookup of their values (under both databases' parameter limits).
const TERMS_PER_LOOKUP: usize = 5_000;

/// Add one segment per identity of `rows`, which are sorted by (identity, day,
/// secret, address), one per key: (identity id, row).
pub(super) async fn insert(
    store: &Store,
    conn: &mut AnyConnection,
    rows: &[(i64, SegmentRow)],
) -> Result<(), StoreError> {
    let mut segments = Vec::new();
    let mut scratch = Vec::new();
    for group in rows.chunk_by(|a, b| a.0 == b.0) {
        scratch.clear();
        scratch.extend(group.iter().map(|(_, row)| *row));
        segments.push(NewSegment::of(group[0].0, &scratch));
    }
    write_segments(store, conn, &segments).await
}

/// A `trail_segments` row to add.
struct NewSegment {
    identity_id: i64,
    first_day: i64,
    last_day: i64,
    rows: i64,
    body: Vec<u8>,
}

impl NewSegment {
    /// The segment of `identity_id` holding `rows`, sorted and one per key.
    fn of(identity_id: i64, rows: &[SegmentRow]) -> Self {
        NewSegment {
            identity_id,
            first_day: rows.first().map_or(0, |row| row.day),
            last_day: rows.last().map_or(0, |row| row.day),
            rows: rows.len() as i64,
            body: encode(rows),
        }
    }
}

async fn write_segments(
    store: &Store,
    conn: &mut AnyConnection,
    segments: &[NewSegment],
) -> Result<(), StoreError> {
    for chunk in segments.chunks(SEGMENTS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO trail_segments (identity_id, first_day, last_day, row_count, body) VALUES {}",
            placeholders(store.dialect, chunk.len(), 5, 1)
        );
        let mut query = sqlx::query(&sql);
        for segment in chunk {
            query = query
                .bind(segment.identity_id)
                .bind(segment.first_day)
                .bind(segment.last_day)
                .bind(segment.rows)
                .bind(segment.body.as_slice());
        }
        query
            .execute(&mut *conn)
            .await
            .context("writing index segments")?;
    }
    Ok(())
}

/// `sql` with `ids` bound in order.
fn bind_ids<'q>(sql: &'q str, ids: &[i64]) -> Query<'q, Any, AnyArguments<'q>> {
    ids.iter()
        .fold(sqlx::query(sql), |query, id| query.bind(*id))
}

/// Each row's columns, in the order selected, as a tuple.
fn columns<T: for<'r> FromRow<'r, AnyRow>>(rows: Vec<AnyRow>) -> Result<Vec<T>, sqlx::Error> {
    rows.iter().map(T::from_row).collect()
}

fn corrupt(id: i64, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table: "trail_segments",
        message: format!("segment {id}: {error}"),
    }
}

/// Of an identity's segments, oldest first, as (id, rows): the ids to merge (none
/// when it has fewer than [`COMPACT_AT`]).
fn to_merge(segments: &[(i64, i64)]) -> Vec<i64> {
    if (segments.len() as i64) < COMPACT_AT {
        return Vec::new();
    }
    let mut chosen = Vec::new();
    let mut gathered = 0i64;
    for &(id, rows) in segments.iter().rev() {
        if chosen.len() >= 2 && rows > gathered.saturating_mul(2) {
            break;
        }
        chosen.push(id);
        gathered = gathered.saturating_add(rows);
    }
    chosen
}

impl Store {
    /// Merge the newest segments of those of `identity_ids` that have [`COMPACT_AT`]
    /// or more (see the module's documentation), in one transaction. Returns the
    /// segments merged away (0 when another writer merged some of them first).
    pub async fn trail_compact(&self, identity_ids: &[i64]) -> Result<u64, StoreError> {
        let mut crowded = Vec::new();
        for chunk in identity_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT identity_id FROM trail_segments WHERE identity_id IN ({}) \
                 GROUP BY identity_id HAVING COUNT(*) >= {COMPACT_AT}",
                list(self.dialect, chunk.len(), 1)
            );
            let query = bind_ids(&sql, chunk);
            let found: Vec<(i64,)> = columns(
                query
                    .fetch_all(&self.pool)
                    .await
                    .context("counting index segments")?,
            )
            .context("counting index segments")?;
            crowded.extend(found.into_iter().map(|(identity_id,)| identity_id));
        }
        if crowded.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut merged_away = 0u64;
        let mut merged = Vec::new();
        for chunk in crowded.chunks(CHUNK) {
            let sql = format!(
                "SELECT identity_id, id, row_count FROM trail_segments WHERE identity_id IN ({}) \
                 ORDER BY identity_id, id",
                list(self.dialect, chunk.len(), 1)
            );
            let query = bind_ids(&sql, chunk);
            // (identity id, segment id, rows).
            let sizes: Vec<(i64, i64, i64)> = columns(
                query
                    .fetch_all(&mut *tx)
                    .await
                    .context("listing index segments")?,
            )
            .context("listing index segments")?;
            for group in sizes.chunk_by(|a, b| a.0 == b.0) {
                let ids = to_merge(&group.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>());
                if ids.len() < 2 {
                    continue;
                }
                match self.merge_segments(&mut tx, group[0].0, &ids).await? {
                    Merge::Done(segment) => {
                        merged.push(segment);
                        merged_away += ids.len() as u64 - 1;
                    }
                    Merge::Damaged => {}
                    Merge::Lost => {
                        tx.rollback().await.context("abandoning a segment merge")?;
                        return Ok(0);
                    }
                }
            }
        }
        write_segments(self, &mut tx, &merged).await?;
        tx.commit().await.context("committing a segment merge")?;
        Ok(merged_away)
    }

    /// Merge the segments `ids` of `identity_id` into one (returned, not yet written)
    /// and delete them, in `tx`.
    async fn merge_segments(
        &self,
        tx: &mut AnyConnection,
        identity_id: i64,
        ids: &[i64],
    ) -> Result<Merge, StoreError> {
        let sql = format!(
            "SELECT id, body FROM trail_segments WHERE id IN ({})",
            list(self.dialect, ids.len(), 1)
        );
        let bodies: Vec<(i64, Vec<u8>)> = columns(
            bind_ids(&sql, ids)
                .fetch_all(&mut *tx)
                .await
                .context("reading index segments")?,
        )
        .context("reading index segments")?;
        if bodies.len() != ids.len() {
            // Merged by another writer since they were listed.
            return Ok(Merge::Lost);
        }
        let mut rows = Vec::new();
        for (id, body) in &bodies {
            if let Err(error) = decode_into(body, &mut rows) {
                // Left as it is (the query reports it); the others merge.
                tracing::warn!(
                    segment = id,
                    %error,
                    "a damaged index segment: its identity's segments are not merged"
                );
                return Ok(Merge::Damaged);
            }
        }
        merge(&mut rows);
        let sql = format!(
            "DELETE FROM trail_segments WHERE id IN ({})",
            list(self.dialect, ids.len(), 1)
        );
        let deleted = bind_ids(&sql, ids)
            .execute(&mut *tx)
            .await
            .context("removing merged index segments")?
            .rows_affected();
        if deleted != ids.len() as u64 {
            return Ok(Merge::Lost);
        }
        Ok(Merge::Done(NewSegment::of(identity_id, &rows)))
    }

    /// The reads in the segments of `identity_ids` from `since_day` on, summed per
    /// identity, secret and source address.
    pub(super) async fn trail_segment_groups(
        &self,
        identity_ids: &[i64],
        since_day: i64,
    ) -> Result<Vec<TrailReadGroup>, StoreError> {
        let mut sums: HashMap<(i64, i64, i64), AccessAgg> = HashMap::new();
        let mut rows = Vec::new();
        for chunk in identity_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT id, identity_id, body FROM trail_segments WHERE identity_id IN ({}) AND last_day >= {}",
                list(self.dialect, chunk.len(), 1),
                list(self.dialect, 1, chunk.len() + 1)
            );
            let query = bind_ids(&sql, chunk);
            let segments = query
                .bind(since_day)
                .fetch_all(&self.pool)
                .await
                .context("reading index segments")?;
            let segments: Vec<(i64, i64, Vec<u8>)> =
                columns(segments).context("reading index segments")?;
            for (id, identity_id, body) in segments {
                rows.clear();
                decode_into(&body, &mut rows).map_err(|error| corrupt(id, error))?;
                for row in rows.iter().filter(|row| row.day >= since_day) {
                    sums.entry((identity_id, row.secret_id, row.address_id))
                        .and_modify(|sum| sum.merge(&row.agg))
                        .or_insert(row.agg);
                }
            }
        }
        // The secrets' and addresses' names.
        let mut ids: Vec<i64> = sums
            .keys()
            .flat_map(|&(_, secret, address)| [secret, address])
            .filter(|&id| id != 0)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut terms: HashMap<i64, (String, String)> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(TERMS_PER_LOOKUP) {
            let sql = format!(
                "SELECT id, kind, value FROM trail_terms WHERE id IN ({})",
                list(self.dialect, chunk.len(), 1)
            );
            let query = bind_ids(&sql, chunk);
            let found: Vec<(i64, String, String)> = columns(
                query
                    .fetch_all(&self.pool)
                    .await
                    .context("reading index terms")?,
            )
            .context("reading index terms")?;
            terms.extend(
                found
                    .into_iter()
                    .map(|(id, kind, value)| (id, (kind, value))),
            );
        }
        let mut groups = Vec::with_capacity(sums.len());
        for ((identity_id, secret_id, address_id), sum) in sums {
            let (kind, secret) = terms
                .get(&secret_id)
                .ok_or_else(|| corrupt_term(secret_id))?;
            let source = kind.strip_prefix("secret:").unwrap_or(kind).to_string();
            let address = match address_id {
                0 => None,
                id => Some(terms.get(&id).ok_or_else(|| corrupt_term(id))?.1.clone()),
            };
            groups.push(TrailReadGroup {
                identity_id,
                source,
                secret: secret.clone(),
                address,
                operations: sum.operations,
                first_seen: sum.first_seen,
                last_seen: sum.last_seen,
                reads: sum.reads,
                denied: sum.denied,
            });
        }
        Ok(groups)
    }
}

/// What merging one identity's segments came to.
enum Merge {
    /// Their sum, to add (they are deleted).
    Done(NewSegment),
    /// One of them does not decode: left as they are.
    Damaged,
    /// One of them is gone (another writer merged it): the merge is abandoned.
    Lost,
}

fn corrupt_term(id: i64) -> StoreError {
    StoreError::Corrupt {
        table: "trail_segments",
        message: format!("a segment refers to term {id}, which does not exist"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_segments_merge_with_older_ones_of_their_size() {
        // Fewer than COMPACT_AT: nothing.
        assert!(to_merge(&[(1, 10), (2, 10)]).is_empty());
        // Peers: all of them.
        let peers: Vec<(i64, i64)> = (1..=8).map(|id| (id, 100)).collect();
        assert_eq!(to_merge(&peers), [8, 7, 6, 5, 4, 3, 2, 1]);
        // A large old one stays until the newer ones reach half its size.
        let mut tiered = vec![(1, 10_000)];
        tiered.extend((2..=8).map(|id| (id, 100)));
        assert_eq!(to_merge(&tiered), [8, 7, 6, 5, 4, 3, 2]);
        let mut tiered = vec![(1, 1_000)];
        tiered.extend((2..=8).map(|id| (id, 100)));
        assert_eq!(to_merge(&tiered), [8, 7, 6, 5, 4, 3, 2, 1]);
        // Always at least the two newest.
        let sizes = [(1, 1_000_000), (2, 100_000), (3, 10_000), (4, 1_000)];
        let mut growing = sizes.to_vec();
        growing.extend([(5, 100), (6, 10), (7, 1), (8, 1)]);
        assert_eq!(to_merge(&growing), [8, 7]);
    }
}
