-- Evidence staged by state-changing transactions, sealed into the hash chain in
-- batches. Writers insert here in their own transaction (no global lock); the sealer
-- moves rows into `evidence` under the chain head's row lock, in id order.
CREATE TABLE evidence_inbox (
    id       BIGSERIAL PRIMARY KEY,
    time     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    actor    TEXT NOT NULL,
    subject  TEXT NOT NULL,
    payload  TEXT NOT NULL
);
