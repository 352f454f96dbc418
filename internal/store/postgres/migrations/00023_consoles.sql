-- +goose Up
-- Audits of the evidence log started from the operator's web console, run
-- in the background, one at a time (the unique partial index: at most one
-- row is running, across every npes process on the database). report is
-- the JSON of mailbox.AuditReport of a passed run.
CREATE TABLE audit_runs (
    id          TEXT PRIMARY KEY,
    started_by  TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    report      BYTEA,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX audit_runs_running ON audit_runs (status) WHERE status = 'running';
CREATE INDEX audit_runs_started ON audit_runs (started_at);

-- The consoles' reads: letters per day (a range of created_at), the jobs of
-- a region by state, pending proofs and recoveries oldest first.
CREATE INDEX letters_created ON letters (created_at);
CREATE INDEX print_jobs_console ON print_jobs (state, region, created_at);
CREATE INDEX mailboxes_pending ON mailboxes (created_at) WHERE status = 'pending';
CREATE INDEX mailbox_recoveries_open ON mailbox_recoveries (created_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX mailbox_recoveries_open;
DROP INDEX mailboxes_pending;
DROP INDEX print_jobs_console;
DROP INDEX letters_created;
DROP TABLE audit_runs;
