-- +goose Up
-- WebAuthn ceremonies of the web portal between their two requests (the
-- challenge a browser signs, the options of a passkey being made) and
-- passkeys made in a browser that wait for the holder's endorsement. Rows,
-- not process memory, so any node on the database finishes what another
-- began; a ceremony is taken (deleted) once. Bounded in time (expires_at)
-- and per session by the service.
CREATE TABLE webauthn_ceremonies (
    id           BLOB PRIMARY KEY,
    session_hash BLOB NOT NULL,
    kind         TEXT NOT NULL,
    data         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_session ON webauthn_ceremonies (session_hash, kind);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE webauthn_ceremonies;
