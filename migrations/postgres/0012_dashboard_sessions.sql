-- Dashboard sessions (the HTML dashboard at /). The browser's cookie holds only a
-- random 256-bit session id; the database keeps its SHA-256 (hex), so a copy of this
-- table cannot be replayed as cookies. Shared by every replica. `subject` is who
-- signed in (`token:<name>`, or an OIDC subject), `role` their role.
CREATE TABLE dashboard_sessions (
    id_hash     TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,    -- ms since the epoch
    expires_at  BIGINT NOT NULL     -- ms since the epoch; refused from then on
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);
