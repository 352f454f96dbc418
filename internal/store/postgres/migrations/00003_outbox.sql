-- +goose Up
-- Transactional outbox of notification emails ("a letter is waiting", "your
-- receipt is ready"): written in the same transaction as the event, sent
-- later by the relay worker, so a crash never loses or invents one.
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    mailbox_id TEXT NOT NULL,
    letter_id  TEXT NOT NULL,
    to_addr    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notifications_due ON notifications (next_at) WHERE sent_at = 0;

-- +goose Down
DROP TABLE notifications;
