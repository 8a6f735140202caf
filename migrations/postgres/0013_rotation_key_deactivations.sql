-- Old AWS IAM access keys waiting to be deactivated after an automatic rotation put a
-- new key in Vault (`[trail.auto_rotate] aws_iam_keys`): the `rotation-key-deactivations`
-- cron job sets each to Inactive once `due_at` (rotation time + `aws_key_grace`) has
-- passed, verifies it with ListAccessKeys and records `rotation.key_deactivated`.
-- Key ids only: a secret access key is never stored.
CREATE TABLE rotation_key_deactivations (
    rotation_id       TEXT NOT NULL,     -- rotations.id
    account           TEXT,              -- [connectors.aws_iam] account name; NULL: default
    iam_user          TEXT NOT NULL,
    access_key_id     TEXT NOT NULL,     -- the old key, to deactivate
    new_access_key_id TEXT NOT NULL,     -- the key now in Vault
    due_at            BIGINT NOT NULL,   -- ms since the epoch
    status            TEXT NOT NULL,     -- pending | done
    attempts          BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT,              -- the upstream's message of the last failure
    deactivated_at    BIGINT,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (rotation_id, access_key_id)
);
CREATE INDEX rotation_key_deactivations_due ON rotation_key_deactivations (status, due_at);
