-- +goose Up
-- A letter addressed to a mailbox id (SMTP RCPT TO <mailbox-id>@domain)
-- carries the holder's name and registered address for routing and print,
-- but the sender supplied neither: views and evidence for the sender show
-- only the mailbox id.
ALTER TABLE letters ADD COLUMN recipient_by_mailbox INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE letters DROP COLUMN recipient_by_mailbox;
