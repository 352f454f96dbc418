-- +goose Up
-- Bulk submissions (POST /v1/letter-batches). A batch is one request of
-- many letters; each line becomes a letter of its own (with the derived
-- idempotency key batch/<id>/<line>), and its outcome is kept here so the
-- status and an idempotent retry answer from what was stored.
CREATE TABLE letter_batches (
    id              TEXT PRIMARY KEY,
    sender          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL,
    total           INTEGER NOT NULL,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX letter_batches_key ON letter_batches (sender, idempotency_key) WHERE idempotency_key <> '';

CREATE TABLE letter_batch_results (
    batch_id      TEXT NOT NULL,
    line          INTEGER NOT NULL,
    letter_id     TEXT NOT NULL,
    tracking      TEXT NOT NULL,
    route         TEXT NOT NULL,
    error_code    TEXT NOT NULL,
    error_message TEXT NOT NULL,
    PRIMARY KEY (batch_id, line)
);

-- +goose Down
DROP TABLE letter_batch_results;
DROP TABLE letter_batches;
