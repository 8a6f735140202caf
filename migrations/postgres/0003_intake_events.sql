-- Every event an identity provider delivered (hooks, reconciliation), once: the
-- primary key deduplicates redeliveries and the reconciliation's replays.
CREATE TABLE intake_events (
    source       TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    subject      TEXT,
    published    TEXT,
    received_at  BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    run_ids      TEXT NOT NULL,
    PRIMARY KEY (source, event_id)
);
