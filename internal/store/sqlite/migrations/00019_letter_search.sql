-- +goose Up
-- Inbox search over the whole mailbox: search_text is mailbox.SearchText of
-- the letter (sender name, subject, recipient name, case-folded by Go so that
-- Cyrillic folds on SQLite too). The backfill folds with LOWER, which is
-- Unicode-aware on PostgreSQL but ASCII-only on SQLite; letters written from
-- now on carry Go's folding.
ALTER TABLE letters ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE letters SET search_text = LOWER(sender_name || ' ' || subject ||
	CASE WHEN recipient_by_mailbox = 0 THEN ' ' || recipient_name ELSE '' END);

-- +goose Down
ALTER TABLE letters DROP COLUMN search_text;
