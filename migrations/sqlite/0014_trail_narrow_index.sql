-- A narrower secret-access index (issue 6): every identity key, secret and source
-- address is stored once in `trail_terms` and referred to by its integer id, and one
-- table, clustered by (identity, day), holds the counts per identity, UTC day, secret
-- and source address. An answer for one identity since a day is one range of that
-- table, and an ingest's upserts touch rows a few dozen bytes wide instead of wide
-- text keys. The rows of 0009's `trail_access` and `trail_addresses` are carried over
-- (an address row becomes a row of its last-seen day with no reads of its own), so a
-- query answers the same after the upgrade.
CREATE TABLE trail_terms (
    id    INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL,     -- identity | secret:vault | secret:cloudtrail | address
    value TEXT NOT NULL,     -- identity key, logical Vault path or AWS ARN, address
    UNIQUE (kind, value)
);

CREATE TABLE trail_reads (
    identity_id BIGINT NOT NULL,    -- trail_terms.id (kind identity)
    day         BIGINT NOT NULL,    -- UTC day: days since 1970-01-01
    secret_id   BIGINT NOT NULL,    -- trail_terms.id (kind secret:<source>)
    address_id  BIGINT NOT NULL,    -- trail_terms.id (kind address); 0: no address
    operations  BIGINT NOT NULL,    -- bit set of operations (src/trail/event.rs Operation)
    first_seen  BIGINT NOT NULL,    -- ms since the epoch, any attempt that day
    last_seen   BIGINT NOT NULL,
    reads       BIGINT NOT NULL,    -- successful reads
    denied      BIGINT NOT NULL,    -- failed attempts (Vault error, CloudTrail errorCode)
    PRIMARY KEY (identity_id, day, secret_id, address_id)
) WITHOUT ROWID;

INSERT INTO trail_terms (kind, value)
    SELECT 'identity', identity_key FROM trail_access
    UNION SELECT 'identity', identity_key FROM trail_addresses
    UNION SELECT 'secret:' || source, secret FROM trail_access
    UNION SELECT 'secret:' || source, secret FROM trail_addresses
    UNION SELECT 'address', address FROM trail_addresses;

INSERT INTO trail_reads
    SELECT i.id, a.day, s.id, 0, a.operations, a.first_seen, a.last_seen, a.reads, a.denied
    FROM trail_access a
    JOIN trail_terms i ON i.kind = 'identity' AND i.value = a.identity_key
    JOIN trail_terms s ON s.kind = 'secret:' || a.source AND s.value = a.secret;

INSERT INTO trail_reads
    SELECT i.id, a.last_seen / 86400000, s.id, t.id, 0, a.last_seen, a.last_seen, 0, 0
    FROM trail_addresses a
    JOIN trail_terms i ON i.kind = 'identity' AND i.value = a.identity_key
    JOIN trail_terms s ON s.kind = 'secret:' || a.source AND s.value = a.secret
    JOIN trail_terms t ON t.kind = 'address' AND t.value = a.address;

DROP TABLE trail_access;
DROP TABLE trail_addresses;
