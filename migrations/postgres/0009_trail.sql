-- The secret-access index built from audit trails (Vault audit devices, AWS
-- CloudTrail): who (an identity key per source) read which secret, aggregated per UTC
-- day so that `since` windows are answered from the index, never by rescanning logs.
-- No secret value is ever stored: only paths/ARNs, names, times, counts, addresses.
CREATE TABLE trail_access (
    identity_key TEXT NOT NULL,     -- vault:entity:<id>, aws:arn:<arn>, ... (src/trail/event.rs)
    source       TEXT NOT NULL,     -- vault | cloudtrail
    secret       TEXT NOT NULL,     -- logical Vault path (secret/app/db) or AWS ARN
    day          BIGINT NOT NULL,   -- UTC day: days since 1970-01-01
    operations   BIGINT NOT NULL,   -- bit set of operations (src/trail/event.rs Operation)
    first_seen   BIGINT NOT NULL,   -- ms since the epoch, any attempt that day
    last_seen    BIGINT NOT NULL,
    reads        BIGINT NOT NULL,   -- successful reads
    denied       BIGINT NOT NULL,   -- failed attempts (Vault error, CloudTrail errorCode)
    PRIMARY KEY (identity_key, source, secret, day)
);

-- The source addresses each identity read each secret from (distinct addresses).
CREATE TABLE trail_addresses (
    identity_key TEXT NOT NULL,
    source       TEXT NOT NULL,
    secret       TEXT NOT NULL,
    address      TEXT NOT NULL,
    last_seen    BIGINT NOT NULL,
    PRIMARY KEY (identity_key, source, secret, address)
);

-- Every name an identity key was seen under (entity id, alias, display name, ARN,
-- session name, source identity...), lower-cased: how an email is matched to keys.
CREATE TABLE trail_identity_names (
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    source       TEXT NOT NULL,
    PRIMARY KEY (kind, value, identity_key)
);

-- Where each followed log left off: the file's identity (dev:inode), the byte offset
-- and line number of the first line not yet indexed, and the reader's state (a
-- fingerprint of the file's head, requests awaiting their response). Written in the
-- same transaction as the counts it covers.
CREATE TABLE trail_cursors (
    name         TEXT PRIMARY KEY,
    file_id      TEXT NOT NULL,
    byte_offset  BIGINT NOT NULL,
    line         BIGINT NOT NULL,
    state        TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
