-- Where each reconciliation left off in an identity provider's own record (Okta's
-- System Log: the last event's `published` and uuid; Entra: the users delta query's
-- deltaLink), so the next pass reads only what came after. One row per source.
CREATE TABLE intake_cursors (
    source      TEXT PRIMARY KEY,
    cursor      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
