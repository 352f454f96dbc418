-- +goose Up
-- The expiry sweep reads due_at: the deadline while a letter awaits
-- acceptance, 0 otherwise (as on PostgreSQL, where an index that names no
-- state lets the other changes of state update the row in place).
ALTER TABLE letters ADD COLUMN due_at BIGINT NOT NULL DEFAULT 0;
UPDATE letters SET due_at = deadline WHERE state = 'awaiting_acceptance';
CREATE INDEX letters_due_at ON letters (due_at) WHERE due_at <> 0;
DROP INDEX letters_due;

-- +goose Down
CREATE INDEX letters_due ON letters (deadline) WHERE state = 'awaiting_acceptance';
DROP INDEX letters_due_at;
ALTER TABLE letters DROP COLUMN due_at;
