-- +goose Up
-- Replies: in_reply_to is the letter a letter answers; thread_id is the
-- first letter of its thread ('' for a letter that starts one), so a
-- thread is one index lookup (id = t OR thread_id = t) however deep.
ALTER TABLE letters ADD COLUMN in_reply_to TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN thread_id TEXT NOT NULL DEFAULT '';
CREATE INDEX letters_thread ON letters (thread_id, created_at) WHERE thread_id <> '';

-- +goose Down
DROP INDEX letters_thread;
ALTER TABLE letters DROP COLUMN thread_id;
ALTER TABLE letters DROP COLUMN in_reply_to;
