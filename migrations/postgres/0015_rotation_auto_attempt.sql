-- The journal of an automatic rotation in flight (JSON, src/rotations/auto.rs
-- AutoAttempt): written before Leaver changes anything upstream (the version it read,
-- the old access key id) and again once an AWS key exists that is not yet in Vault;
-- cleared in the same transaction that records the rotation's outcome. A rotation
-- left open with a journal was interrupted (a crash, a lost lease): the next run that
-- reaches it finishes it from what Vault and AWS show instead of rotating twice or
-- leaving a key behind. Key ids and versions only; never a value.
ALTER TABLE rotations ADD COLUMN auto_attempt TEXT;
