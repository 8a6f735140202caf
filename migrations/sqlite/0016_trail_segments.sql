-- The secret-access index as segments (issue 6): a commit writes, per identity, one
-- row holding all of that batch's (day, secret, address) counts in a compact body
-- (src/trail/segment.rs) instead of upserting one `trail_reads` row per read, and
-- merges an identity's segments when they pile up (Store::trail_compact). A query
-- reads the identity's segments and sums them with its `trail_reads` rows, which
-- still hold what was indexed before this migration (and are never written again).
CREATE TABLE trail_segments (
    id          INTEGER PRIMARY KEY,
    identity_id BIGINT NOT NULL,    -- trail_terms.id (kind identity)
    first_day   BIGINT NOT NULL,    -- UTC days of the body's first and last rows
    last_day    BIGINT NOT NULL,
    row_count   BIGINT NOT NULL,    -- rows in the body
    body        BLOB NOT NULL       -- src/trail/segment.rs encode
);

CREATE INDEX trail_segments_by_identity ON trail_segments (identity_id, last_day);
