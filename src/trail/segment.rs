//! Index segments: the rows one commit adds for one identity, stored together as one
//! compact value (`trail_segments.body`, migration 0016) instead of one upserted row
//! each. An ingest then writes a few thousand values per batch however many reads it
//! holds, and a query reads an identity's few segments and sums them. Segments of one
//! identity are merged now and then ([`merge`], `Store::trail_compact`) so that an
//! identity has a handful of them however long it has been followed.
//!
//! A body is a version byte, the row count, then each row, sorted by (day, secret,
//! address), as zigzag LEB128 varints: the day as a difference from the previous row's,
//! the secret and address ids, the operations, the first-seen time as milliseconds into
//! its day, the last-seen time as a difference from the first, the reads and the
//! denied attempts. A body that does not decode is an error, never a panic.

use super::batch::AccessAgg;

/// The format of [`encode`]d bodies.
const VERSION: u8 = 1;

/// Milliseconds in a UTC day.
const DAY_MS: i64 = 86_400_000;

/// One row of a segment (its identity is the segment's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRow {
    pub day: i64,
    /// `trail_terms.id` of the secret.
    pub secret_id: i64,
    /// `trail_terms.id` of the source address; 0 when the trail names none.
    pub address_id: i64,
    pub agg: AccessAgg,
}

impl SegmentRow {
    pub fn key(&self) -> (i64, i64, i64) {
        (self.day, self.secret_id, self.address_id)
    }
}

/// Why a body did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("segment format {0} is not known (this version reads {VERSION})")]
    Version(u8),
    #[error("segment ends inside a row")]
    Truncated,
    #[error("segment holds a number too large")]
    Overflow,
    #[error("segment has {0} bytes after its last row")]
    Trailing(usize),
    #[error("segment rows are not in order")]
    Unordered,
}

/// `rows` sorted by (day, secret, address), one per key, as a body.
pub fn encode(rows: &[SegmentRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + rows.len() * 16);
    out.push(VERSION);
    put(&mut out, rows.len() as i64);
    let mut day = 0;
    for row in rows {
        put(&mut out, row.day.wrapping_sub(day));
        day = row.day;
        put(&mut out, row.secret_id);
        put(&mut out, row.address_id);
        put(&mut out, row.agg.operations);
        let day_start = row.day.wrapping_mul(DAY_MS);
        put(&mut out, row.agg.first_seen.wrapping_sub(day_start));
        put(&mut out, row.agg.last_seen.wrapping_sub(row.agg.first_seen));
        put(&mut out, row.agg.reads);
        put(&mut out, row.agg.denied);
    }
    out
}

/// The rows of a body, appended to `rows`.
pub fn decode_into(body: &[u8], rows: &mut Vec<SegmentRow>) -> Result<(), SegmentError> {
    let mut reader = Reader { body, at: 0 };
    match reader.byte()? {
        VERSION => {}
        other => return Err(SegmentError::Version(other)),
    }
    let count = reader.number()?;
    // Every row takes at least eight bytes: a count beyond that is a lie, not a
    // reason to reserve memory.
    let count = usize::try_from(count)
        .ok()
        .filter(|&count| count <= body.len() / 8)
        .ok_or(SegmentError::Truncated)?;
    rows.reserve(count);
    let first = rows.len();
    let mut day = 0i64;
    for _ in 0..count {
        day = day.wrapping_add(reader.number()?);
        let secret_id = reader.number()?;
        let address_id = reader.number()?;
        let operations = reader.number()?;
        let first_seen = reader.number()?.wrapping_add(day.wrapping_mul(DAY_MS));
        let last_seen = reader.number()?.wrapping_add(first_seen);
        let reads = reader.number()?;
        let denied = reader.number()?;
        let row = SegmentRow {
            day,
            secret_id,
            address_id,
            agg: AccessAgg {
                operations,
                first_seen,
                last_seen,
                reads,
                denied,
            },
        };
        if rows.len() > first && rows.last().is_some_and(|last| last.key() >= row.key()) {
            return Err(SegmentError::Unordered);
        }
        rows.push(row);
    }
    match body.len() - reader.at {
        0 => Ok(()),
        extra => Err(SegmentError::Trailing(extra)),
    }
}

/// Sort `rows` by (day, secret, address) and fold the rows of one key into one.
pub fn merge(rows: &mut Vec<SegmentRow>) {
    rows.sort_unstable_by_key(SegmentRow::key);
    rows.dedup_by(|later, kept| {
        if later.key() == kept.key() {
            kept.agg.merge(&later.agg);
            true
        } else {
            false
        }
    });
}

fn put(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, SegmentError> {
        let byte = *self.body.get(self.at).ok_or(SegmentError::Truncated)?;
        self.at += 1;
        Ok(byte)
    }

    fn number(&mut self) -> Result<i64, SegmentError> {
        let mut zigzag = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(SegmentError::Overflow);
            }
            zigzag |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64));
            }
        }
        Err(SegmentError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: i64, secret_id: i64, address_id: i64, at: i64, reads: i64) -> SegmentRow {
        SegmentRow {
            day,
            secret_id,
            address_id,
            agg: AccessAgg {
                operations: 1,
                first_seen: day * DAY_MS + at,
                last_seen: day * DAY_MS + at + 5,
                reads,
                denied: 1,
            },
        }
    }

    #[test]
    fn bodies_decode_to_the_rows_encoded() {
        let mut rows = vec![
            row(20_000, 7, 0, 0, 1),
            row(20_000, 7, 3, 86_399_990, 2),
            row(20_001, 2, 0, 12, i64::MAX),
            row(-3, 1, 1, 1, 0),
            row(20_400, i64::MAX, i64::MIN, 0, i64::MIN),
        ];
        merge(&mut rows);
        let body = encode(&rows);
        let mut decoded = vec![row(1, 1, 1, 1, 1)];
        decode_into(&body, &mut decoded).expect("decodes");
        assert_eq!(decoded[1..], rows[..]);
        let mut empty = Vec::new();
        decode_into(&encode(&[]), &mut empty).expect("an empty segment decodes");
        assert!(empty.is_empty());
    }

    #[test]
    fn rows_of_one_key_merge_into_one() {
        let mut rows = vec![row(2, 1, 0, 50, 1), row(1, 9, 0, 0, 4), row(2, 1, 0, 10, 2)];
        merge(&mut rows);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], row(1, 9, 0, 0, 4));
        let merged = rows[1].agg;
        assert_eq!(merged.reads, 3);
        assert_eq!(merged.denied, 2);
        assert_eq!(merged.first_seen, 2 * DAY_MS + 10);
        assert_eq!(merged.last_seen, 2 * DAY_MS + 55);
    }

    #[test]
    fn damaged_bodies_are_errors_not_panics() {
        let body = encode(&[row(20_000, 7, 0, 0, 1), row(20_001, 7, 0, 0, 1)]);
        for cut in 0..body.len() {
            assert!(decode_into(&body[..cut], &mut Vec::new()).is_err(), "{cut}");
        }
        let mut extra = body.clone();
        extra.push(0);
        assert_eq!(
            decode_into(&extra, &mut Vec::new()),
            Err(SegmentError::Trailing(1))
        );
        let mut version = body.clone();
        version[0] = 9;
        assert_eq!(
            decode_into(&version, &mut Vec::new()),
            Err(SegmentError::Version(9))
        );
        assert_eq!(
            decode_into(&[VERSION, 0xff, 0xff, 0xff], &mut Vec::new()),
            Err(SegmentError::Truncated)
        );
        let huge = [
            VERSION, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ];
        assert_eq!(
            decode_into(&huge, &mut Vec::new()),
            Err(SegmentError::Overflow)
        );
        let unordered = encode(&[row(5, 1, 0, 0, 1), row(4, 1, 0, 0, 1)]);
        assert_eq!(
            decode_into(&unordered, &mut Vec::new()),
            Err(SegmentError::Unordered)
        );
        // Every byte changed to every value: an answer or an error, never a panic.
        for at in 0..body.len() {
            for value in 0..=255u8 {
                let mut changed = body.clone();
                changed[at] = value;
                let _ = decode_into(&changed, &mut Vec::new());
            }
        }
    }
}
