//! The secret-access index (`trail_*` tables): batches of aggregated accesses written
//! with the ingest cursor they cover in one transaction, and the reads the query makes.
//! Multi-row statements get their placeholders built here (`$N` on PostgreSQL, `?` on SQLite; sqlx's `Any`
//! QueryBuilder would emit `?`, which PostgreSQL refuses).

use super::{now_ms, Context, Dialect, Store, StoreError};
use crate::trail::batch::Batch;
use sqlx::Row;

/// Rows per multi-row statement (9 columns × 500 = 4,500 parameters, under both
/// databases' limits).
const CHUNK: usize = 500;

/// SQLite page cache of the connection that writes a batch (KiB, as `cache_size`
/// takes a negative number): the index's B-trees outgrow the 2 MB default, and every
/// upsert is a B-tree search. Allocated only as pages are used.
const SQLITE_WRITE_CACHE_KIB: i64 = 131_072;

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

/// One day of one identity key reading one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailAccessRow {
    pub identity_key: String,
    pub source: String,
    pub secret: String,
    pub operations: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reads: i64,
    pub denied: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailAddressRow {
    pub identity_key: String,
    pub source: String,
    pub secret: String,
    pub address: String,
}

/// `($s, $s+1, …), (…)`: `rows` tuples of `cols` placeholders numbered from `start`
/// (PostgreSQL); on SQLite `(?, ?, …)`, bound in order: SQLite looks a numbered
/// parameter up by name in a list, once per parameter, which made binding a
/// 4,500-parameter statement quadratic (most of the time of an ingest).
fn placeholders(dialect: Dialect, rows: usize, cols: usize, start: usize) -> String {
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

fn list(dialect: Dialect, n: usize, start: usize) -> String {
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

    /// Write a batch and, when given, the cursor it brings the log to, in one
    /// transaction: a crash leaves either both or neither.
    pub async fn trail_commit(
        &self,
        batch: &Batch,
        cursor: Option<&TrailCursor>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Sqlite {
            sqlx::query(&format!("PRAGMA cache_size = -{SQLITE_WRITE_CACHE_KIB}"))
                .execute(&mut *tx)
                .await
                .context("sizing the page cache")?;
        }
        let names: Vec<(&str, &str, &str, &str)> = batch
            .names
            .iter()
            .flat_map(|(key, (source, names))| {
                names.iter().map(move |(kind, value)| {
                    (kind.as_str(), value.as_str(), key.as_str(), source.as_str())
                })
            })
            .collect();
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
        let access: Vec<_> = batch.access.iter().collect();
        for chunk in access.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO trail_access (identity_key, source, secret, day, operations, first_seen, last_seen, reads, denied) \
                 VALUES {} ON CONFLICT (identity_key, source, secret, day) DO UPDATE SET \
                 operations = trail_access.operations | excluded.operations, \
                 first_seen = CASE WHEN excluded.first_seen < trail_access.first_seen THEN excluded.first_seen ELSE trail_access.first_seen END, \
                 last_seen = CASE WHEN excluded.last_seen > trail_access.last_seen THEN excluded.last_seen ELSE trail_access.last_seen END, \
                 reads = trail_access.reads + excluded.reads, denied = trail_access.denied + excluded.denied",
                placeholders(self.dialect, chunk.len(), 9, 1)
            );
            let mut query = sqlx::query(&sql);
            for (key, agg) in chunk {
                query = query
                    .bind(key.identity_key.as_str())
                    .bind(key.source.as_str())
                    .bind(key.secret.as_str())
                    .bind(key.day)
                    .bind(agg.operations)
                    .bind(agg.first_seen)
                    .bind(agg.last_seen)
                    .bind(agg.reads)
                    .bind(agg.denied);
            }
            query
                .execute(&mut *tx)
                .await
                .context("indexing secret accesses")?;
        }
        let addresses: Vec<_> = batch.addresses.iter().collect();
        for chunk in addresses.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO trail_addresses (identity_key, source, secret, address, last_seen) VALUES {} \
                 ON CONFLICT (identity_key, source, secret, address) DO UPDATE SET \
                 last_seen = CASE WHEN excluded.last_seen > trail_addresses.last_seen THEN excluded.last_seen ELSE trail_addresses.last_seen END",
                placeholders(self.dialect, chunk.len(), 5, 1)
            );
            let mut query = sqlx::query(&sql);
            for ((key, source, secret, address), last) in chunk {
                query = query
                    .bind(key.as_str())
                    .bind(source.as_str())
                    .bind(secret.as_str())
                    .bind(address.as_str())
                    .bind(**last);
            }
            query
                .execute(&mut *tx)
                .await
                .context("indexing source addresses")?;
        }
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

    /// The day rows of the given identity keys from `since_day` on.
    pub async fn trail_access_rows(
        &self,
        keys: &[String],
        since_day: i64,
    ) -> Result<Vec<TrailAccessRow>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "SELECT identity_key, source, secret, operations, first_seen, last_seen, reads, denied \
                 FROM trail_access WHERE identity_key IN ({}) AND day >= {}",
                list(self.dialect, chunk.len(), 1),
                list(self.dialect, 1, chunk.len() + 1)
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            let rows = query
                .bind(since_day)
                .fetch_all(&self.pool)
                .await
                .context("reading secret accesses")?;
            for row in rows {
                found.push(
                    (|| -> Result<TrailAccessRow, sqlx::Error> {
                        Ok(TrailAccessRow {
                            identity_key: row.try_get("identity_key")?,
                            source: row.try_get("source")?,
                            secret: row.try_get("secret")?,
                            operations: row.try_get("operations")?,
                            first_seen: row.try_get("first_seen")?,
                            last_seen: row.try_get("last_seen")?,
                            reads: row.try_get("reads")?,
                            denied: row.try_get("denied")?,
                        })
                    })()
                    .context("reading secret accesses")?,
                );
            }
        }
        Ok(found)
    }

    /// The source addresses of the given identity keys seen since `since_ms`.
    pub async fn trail_address_rows(
        &self,
        keys: &[String],
        since_ms: i64,
    ) -> Result<Vec<TrailAddressRow>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "SELECT identity_key, source, secret, address FROM trail_addresses \
                 WHERE identity_key IN ({}) AND last_seen >= {}",
                list(self.dialect, chunk.len(), 1),
                list(self.dialect, 1, chunk.len() + 1)
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            let rows = query
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await
                .context("reading source addresses")?;
            for row in rows {
                found.push(TrailAddressRow {
                    identity_key: row
                        .try_get("identity_key")
                        .context("reading source addresses")?,
                    source: row.try_get("source").context("reading source addresses")?,
                    secret: row.try_get("secret").context("reading source addresses")?,
                    address: row.try_get("address").context("reading source addresses")?,
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::{list, placeholders, Dialect};

    #[test]
    fn placeholders_are_numbered_row_by_row() {
        let pg = Dialect::Postgres;
        assert_eq!(placeholders(pg, 2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(list(pg, 3, 2), "$2, $3, $4");
        let sqlite = Dialect::Sqlite;
        assert_eq!(placeholders(sqlite, 2, 2, 1), "(?, ?), (?, ?)");
        assert_eq!(list(sqlite, 3, 2), "?, ?, ?");
    }
}
