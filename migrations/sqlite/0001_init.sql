-- Leaver schema, SQLite dialect. Times are milliseconds since the Unix epoch (UTC);
-- JSON documents are TEXT.

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    plan             TEXT NOT NULL,
    plan_snapshot    TEXT NOT NULL,
    mode             TEXT NOT NULL,
    status           TEXT NOT NULL,
    identity         TEXT NOT NULL,
    identity_email   TEXT NOT NULL,
    reason           TEXT,
    ticket           TEXT,
    trigger_event    TEXT,
    idempotency_key  TEXT UNIQUE,
    request_digest   TEXT,
    effective_at     BIGINT NOT NULL,
    sla_deadline     BIGINT,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    completed_at     BIGINT,
    revoked_at       BIGINT,
    residual         TEXT
);
CREATE INDEX runs_by_status ON runs (status, effective_at);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX runs_by_email ON runs (identity_email);

CREATE TABLE steps (
    run_id           TEXT NOT NULL REFERENCES runs (id),
    step_id          TEXT NOT NULL,
    position         INTEGER NOT NULL,
    uses             TEXT NOT NULL,
    connector        TEXT NOT NULL,
    params           TEXT NOT NULL,
    needs            TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    initial_backoff_ms BIGINT NOT NULL,
    max_backoff_ms   BIGINT NOT NULL,
    timeout_ms       BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    verified         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    error_class      TEXT,
    outcome          TEXT,
    PRIMARY KEY (run_id, step_id)
);
CREATE INDEX steps_due ON steps (status, next_attempt_at);
CREATE INDEX steps_leased ON steps (status, lease_until);

CREATE TABLE evidence (
    seq              BIGINT PRIMARY KEY,
    time             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    actor            TEXT NOT NULL,
    subject          TEXT NOT NULL,
    payload          TEXT NOT NULL,
    payload_digest   TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);
CREATE INDEX evidence_by_subject ON evidence (subject);

CREATE TRIGGER evidence_refuse_update BEFORE UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is append-only: UPDATE refused');
END;
CREATE TRIGGER evidence_refuse_delete BEFORE DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is append-only: DELETE refused');
END;

-- The chain head, so appends serialise on one row.
CREATE TABLE evidence_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO evidence_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE evidence_checkpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    time       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
CREATE TRIGGER evidence_checkpoints_refuse_update BEFORE UPDATE ON evidence_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'evidence checkpoints are append-only: UPDATE refused');
END;
CREATE TRIGGER evidence_checkpoints_refuse_delete BEFORE DELETE ON evidence_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'evidence checkpoints are append-only: DELETE refused');
END;

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE cron_jobs (
    name           TEXT PRIMARY KEY,
    schedule       TEXT NOT NULL,
    next_fire_at   BIGINT NOT NULL,
    last_fired_at  BIGINT,
    last_owner     TEXT
);

CREATE TABLE cron_firings (
    name       TEXT NOT NULL,
    fire_time  BIGINT NOT NULL,
    owner      TEXT NOT NULL,
    fired_at   BIGINT NOT NULL,
    PRIMARY KEY (name, fire_time)
);
