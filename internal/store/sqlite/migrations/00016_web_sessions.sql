-- +goose Up
-- Sessions of the citizen web portal. Only the SHA-256 of the cookie's
-- random token is stored, so a database reader cannot take over a session.
-- cert_serial is the certificate the session rests on (the one presented at
-- sign-in, or the one that bound the passkey used): a revocation of it ends
-- the session.
CREATE TABLE web_sessions (
    token_hash  BLOB PRIMARY KEY,
    identity_id TEXT NOT NULL,
    identity    BLOB NOT NULL,
    cert_serial TEXT NOT NULL,
    method      TEXT NOT NULL,
    lang        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
);
CREATE INDEX web_sessions_identity ON web_sessions (identity_id);

-- +goose Down
DROP TABLE web_sessions;
