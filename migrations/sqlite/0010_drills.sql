-- Revocation drills: a plan run for real against a canary identity, measured, then
-- restored. `run_id` is the revocation run; `report` is the JSON drill report (per-step
-- timings, per-system time-to-revoke, restore outcome, verdict). A scheduled drill
-- carries its cron fire time in `scheduled_for`: unique per (plan, canary), so one fire
-- time can never start two drills, whatever the replicas do. `coordinator` is the
-- replica finishing the drill (waiting for the run, restoring, reporting) under a lease
-- until `coordinator_until`; another replica takes over an expired lease.
CREATE TABLE drills (
    id                 TEXT PRIMARY KEY,
    plan               TEXT NOT NULL,
    canary             TEXT NOT NULL,
    run_id             TEXT,
    status             TEXT NOT NULL,
    started_by         TEXT NOT NULL,
    scheduled_for      BIGINT,
    started_at         BIGINT NOT NULL,
    finished_at        BIGINT,
    time_to_revoke_ms  BIGINT,
    report             TEXT,
    coordinator        TEXT,
    coordinator_until  BIGINT
);
CREATE INDEX drills_plan_started ON drills (plan, started_at);
CREATE INDEX drills_status ON drills (status, coordinator_until);
CREATE UNIQUE INDEX drills_scheduled_once ON drills (plan, canary, scheduled_for);
