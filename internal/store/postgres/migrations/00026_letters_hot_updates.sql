-- +goose Up
-- Letter updates without index writes (PostgreSQL's heap-only tuples).
-- A letter's row is updated at each step of its life (printed, posted,
-- read, its evidence chain); an UPDATE that changes no indexed column and
-- finds room on its page writes no index entry at all, where any other
-- writes one into each of the letters' eight indexes, the trigram index
-- of the search among them. Two things stood in the way:
--   * letters_due's predicate named state, so every change of state was
--     an indexed change: the expiry sweep now reads due_at, which holds
--     the deadline while the letter awaits acceptance and 0 otherwise, so
--     only the steps into and out of awaiting_acceptance touch an index;
--   * full pages: fillfactor 80 leaves room for the next version of a row
--     (new pages only: existing ones fill up as they are rewritten).
ALTER TABLE letters ADD COLUMN due_at BIGINT NOT NULL DEFAULT 0;
UPDATE letters SET due_at = deadline WHERE state = 'awaiting_acceptance';
CREATE INDEX letters_due_at ON letters (due_at) WHERE due_at <> 0;
DROP INDEX letters_due;
ALTER TABLE letters SET (fillfactor = 80);

-- +goose Down
ALTER TABLE letters RESET (fillfactor);
CREATE INDEX letters_due ON letters (deadline) WHERE state = 'awaiting_acceptance';
DROP INDEX letters_due_at;
ALTER TABLE letters DROP COLUMN due_at;
