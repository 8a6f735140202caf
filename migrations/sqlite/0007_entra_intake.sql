-- Microsoft Graph change notifications and the users delta reconciliation.
--
-- `entra_users`: each Entra user as Leaver last resolved it through Graph (`enabled`,
-- `disabled` or `deleted`). `generation` counts the user's transitions into `disabled`
-- or `deleted`; it names the intake event of that transition
-- (`Users/<id>:<state>:<generation>`), so the notification and the delta query that
-- both see one disable map to one event (one run), a replayed notification finds the
-- same generation, and a disable after a re-enable is the next generation. `email` is
-- the last known mail or UPN, for users Graph no longer returns (hard-deleted).
CREATE TABLE entra_users (
    user_id     TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    email       TEXT,
    updated_at  BIGINT NOT NULL
);

-- Change notifications accepted (clientState checked) and acknowledged with 202 but not
-- yet resolved through Graph and handed to intake. A row is deleted once handled; a
-- crash leaves it here and the next drain (after the next delivery, at start-up and at
-- every reconciliation) handles it.
CREATE TABLE entra_notifications (
    id               TEXT PRIMARY KEY,
    subscription_id  TEXT NOT NULL,
    change_type      TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    received_at      BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT
);
CREATE INDEX entra_notifications_received ON entra_notifications (received_at);
