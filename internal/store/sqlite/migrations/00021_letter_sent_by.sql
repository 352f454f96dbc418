-- +goose Up
-- Who sent a letter: the identity (and its certificate's name) that
-- submitted it. Several employees' certificates share an organization's
-- mailbox; the sender's side of a letter names the employee. Letters
-- stored before this column have '' (not known).
ALTER TABLE letters ADD COLUMN sent_by_id TEXT NOT NULL DEFAULT '';
ALTER TABLE letters ADD COLUMN sent_by_name TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE letters DROP COLUMN sent_by_name;
ALTER TABLE letters DROP COLUMN sent_by_id;
