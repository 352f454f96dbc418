-- +goose Up
-- Mailboxes: one per holder (personal number or UNP) and delivery point.
CREATE TABLE mailboxes (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    holder_name     TEXT NOT NULL,
    personal_id     TEXT NOT NULL DEFAULT '',
    unp             TEXT NOT NULL DEFAULT '',
    holder_key      TEXT NOT NULL,
    owner_identity  TEXT NOT NULL,
    address_raw     TEXT NOT NULL,
    address_json    BYTEA NOT NULL,
    match_key       TEXT NOT NULL,
    postcode        TEXT NOT NULL DEFAULT '',
    email           TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    activation_hash BYTEA NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    activated_at    BIGINT NOT NULL DEFAULT 0,
    UNIQUE (kind, holder_key, match_key)
);
-- Routing looks up every mailbox at a delivery point.
CREATE INDEX mailboxes_match_key ON mailboxes (match_key);

CREATE TABLE mailbox_credentials (
    mailbox_id  TEXT NOT NULL REFERENCES mailboxes (id),
    identity_id TEXT NOT NULL,
    serial      TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL,
    bound_at    BIGINT NOT NULL,
    unbound_at  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (mailbox_id, identity_id)
);
-- Every authenticated request maps its identity to mailboxes.
CREATE INDEX mailbox_credentials_identity ON mailbox_credentials (identity_id) WHERE unbound_at = 0;

CREATE TABLE letters (
    id                 TEXT PRIMARY KEY,
    tracking           TEXT NOT NULL DEFAULT '',
    sender_mailbox     TEXT NOT NULL,
    sender_name        TEXT NOT NULL,
    sender_address     TEXT NOT NULL,
    recipient_name     TEXT NOT NULL,
    recipient_address  TEXT NOT NULL,
    recipient_json     BYTEA NOT NULL,
    recipient_key      TEXT NOT NULL,
    recipient_postcode TEXT NOT NULL DEFAULT '',
    recipient_mailbox  TEXT NOT NULL DEFAULT '',
    registered         INTEGER NOT NULL,
    subject            TEXT NOT NULL,
    route              TEXT NOT NULL,
    route_reason       TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL,
    deadline           BIGINT NOT NULL DEFAULT 0,
    print_if_unsigned  BIGINT NOT NULL DEFAULT 0,
    content_json       BYTEA NOT NULL,
    content_digest     TEXT NOT NULL,
    content_key        BYTEA NOT NULL,
    attachments_json   BYTEA NOT NULL,
    created_at         BIGINT NOT NULL,
    read_at            BIGINT NOT NULL DEFAULT 0,
    last_evidence      TEXT NOT NULL DEFAULT '',
    evidence_count     INTEGER NOT NULL DEFAULT 0,
    notification_id    TEXT NOT NULL DEFAULT ''
);
-- Inbox and sent pages are keyset-paginated on (created_at, id), newest
-- first, per mailbox: an index scan of one page whatever the table size.
CREATE INDEX letters_inbox ON letters (recipient_mailbox, created_at DESC, id DESC) WHERE recipient_mailbox <> '';
CREATE INDEX letters_sent ON letters (sender_mailbox, created_at DESC, id DESC);
-- The expiry sweep reads only letters still awaiting acceptance.
CREATE INDEX letters_due ON letters (deadline) WHERE state = 'awaiting_acceptance';
-- S10 ids are never reused.
CREATE UNIQUE INDEX letters_tracking ON letters (tracking) WHERE tracking <> '';

-- Encrypted content: part 0 is the body, 1..n the attachments.
CREATE TABLE letter_chunks (
    letter_id TEXT NOT NULL REFERENCES letters (id),
    part      INTEGER NOT NULL,
    chunk     INTEGER NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (letter_id, part, chunk)
);

CREATE TABLE idempotency_keys (
    sender       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    letter_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (sender, key)
);

-- Evidence envelopes; envelope holds exactly the bytes hashed into the log.
CREATE TABLE evidence (
    id         TEXT PRIMARY KEY,
    letter_id  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    log_index  BIGINT NOT NULL UNIQUE,
    envelope   BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (letter_id, seq)
);

-- The evidence log: perfect-subtree hashes, written once, and the head.
CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE log_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    root BYTEA NOT NULL
);
CREATE TABLE checkpoints (
    size       BIGINT PRIMARY KEY,
    note       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE print_jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    letter_id        TEXT NOT NULL DEFAULT '',
    mailbox_id       TEXT NOT NULL DEFAULT '',
    tracking         TEXT NOT NULL DEFAULT '',
    region           TEXT NOT NULL,
    postcode         TEXT NOT NULL,
    recipient_name   TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    available_at     BIGINT NOT NULL,
    lease_token      BIGINT NOT NULL DEFAULT 0,
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_expires_at BIGINT NOT NULL DEFAULT 0,
    pdf_sha256       TEXT NOT NULL DEFAULT '',
    pages            INTEGER NOT NULL DEFAULT 0,
    sheets           INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    printed_at       BIGINT NOT NULL DEFAULT 0,
    posted_at        BIGINT NOT NULL DEFAULT 0
);
-- The lease claim scans only claimable rows (DESIGN §10: a partial index on
-- the queued rows makes SKIP LOCKED claims ~17x faster).
CREATE INDEX print_jobs_claimable ON print_jobs (region, available_at) WHERE state IN ('queued', 'leased');
CREATE INDEX print_jobs_letter ON print_jobs (letter_id) WHERE letter_id <> '';
CREATE INDEX print_jobs_posted ON print_jobs (region, posted_at) WHERE state = 'posted';

CREATE TABLE blobs (
    key  TEXT PRIMARY KEY,
    data BYTEA NOT NULL
);

-- +goose Down
DROP TABLE blobs;
DROP TABLE print_jobs;
DROP TABLE checkpoints;
DROP TABLE log_head;
DROP TABLE log_nodes;
DROP TABLE evidence;
DROP TABLE idempotency_keys;
DROP TABLE letter_chunks;
DROP TABLE letters;
DROP TABLE mailbox_credentials;
DROP TABLE mailboxes;
