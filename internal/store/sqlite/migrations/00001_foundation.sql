-- +goose Up
CREATE TABLE server_state (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- The internal CA's registry of issued certificates. Times are microseconds
-- since the Unix epoch (0 = never) so that both engines share the SQL.
CREATE TABLE certificates (
    serial      TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    name        TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    cert_pem    BLOB NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0,
    reason      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at <> 0;

-- +goose Down
DROP TABLE certificates;
DROP TABLE counters;
DROP TABLE server_state;
