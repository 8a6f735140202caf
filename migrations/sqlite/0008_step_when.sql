-- Plan key `when` of a step: `success` (run once every step it needs succeeded; the
-- default, and what every step before this column meant) or `always` (run once every
-- step it needs has ended, whatever the outcome: reports such as the HR ticket
-- summary). `when` is an SQL keyword, hence the column name.
ALTER TABLE steps ADD COLUMN run_when TEXT NOT NULL DEFAULT 'success';
