-- Secret rotations: a secret that must be rotated because a departed identity read it
-- (`trail.schedule_rotations`). One OPEN rotation per (source, secret): a second
-- offboarding whose identity read the same secret joins it (`rotation_requests`
-- records every run that asked). No secret value is ever stored: only paths/ARNs,
-- owners, times, statuses, version numbers.
CREATE TABLE rotations (
    id               TEXT PRIMARY KEY,
    source           TEXT NOT NULL,     -- vault | cloudtrail
    secret           TEXT NOT NULL,     -- logical Vault path (secret/prod/db) or AWS ARN
    environment      TEXT NOT NULL,     -- from [[trail.environments]] patterns, else `default`
    owner            TEXT,              -- Vault KV v2 custom_metadata.owner, when readable
    run_id           TEXT NOT NULL,     -- the run that first asked
    identity         TEXT NOT NULL,     -- that run's identity (email)
    due_at           BIGINT NOT NULL,   -- ms since the epoch
    status           TEXT NOT NULL,     -- open | done | waived | failed
    completed_by     TEXT,              -- actor that completed/waived (or `trail` for automatic)
    reason           TEXT,              -- why it was completed/waived/failed
    auto             BIGINT NOT NULL,   -- 1 when rotated (or attempted) automatically
    escalated        BIGINT NOT NULL DEFAULT 0,
    last_reminded_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- At most one open rotation per secret: offboardings dedupe onto it.
CREATE UNIQUE INDEX rotations_one_open ON rotations (source, secret) WHERE status = 'open';
CREATE INDEX rotations_status_due ON rotations (status, due_at);

-- Every run that asked for a rotation (the first one and those that joined it).
CREATE TABLE rotation_requests (
    rotation_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    identity     TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    PRIMARY KEY (rotation_id, run_id)
);
