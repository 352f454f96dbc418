-- +goose Up
-- Recovery of a mailbox whose every bound credential stopped working
-- (lost, revoked, expired): a code travels by paper letter to the
-- registered address; the holder's new certificate waits here until the
-- code (or a counter operator) completes it. At most one is pending per
-- mailbox; a new one supersedes it.
CREATE TABLE mailbox_recoveries (
    id           TEXT PRIMARY KEY,
    mailbox_id   TEXT NOT NULL REFERENCES mailboxes (id),
    identity_id  TEXT NOT NULL,
    cert_der     BYTEA NOT NULL,
    status       TEXT NOT NULL,
    code_hash    BYTEA NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    completed_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX mailbox_recoveries_pending ON mailbox_recoveries (mailbox_id) WHERE status = 'pending';
CREATE INDEX mailbox_recoveries_identity ON mailbox_recoveries (identity_id, created_at);
-- When a bound certificate expires (0: bound before this column, unknown),
-- so that recovery can tell a credential that no longer works; and the
-- holder's name for it (organizations bind one per employee).
ALTER TABLE mailbox_credentials ADD COLUMN not_after BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mailbox_credentials ADD COLUMN label TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE mailbox_credentials DROP COLUMN label;
ALTER TABLE mailbox_credentials DROP COLUMN not_after;
DROP TABLE mailbox_recoveries;
