-- +goose Up
-- Mailbox log entries (MailboxActivated, CredentialBound, CredentialUnbound):
-- leaves of the same evidence log as letter evidence, chained per mailbox.
-- log_index is unique across both tables by construction (one append path
-- assigns indices under the log head lock); npes audit checks it.
CREATE TABLE mailbox_entries (
    id         TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    log_index  BIGINT NOT NULL UNIQUE,
    envelope   BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (mailbox_id, seq)
);

-- +goose Down
DROP TABLE mailbox_entries;
