-- +goose Up
-- Proof of address. A mailbox holder's registrations serialize on the
-- holder's row here (INSERT ... ON CONFLICT DO UPDATE locks it until commit),
-- so the caps on pending mailboxes and activation letters are checked and
-- the new mailbox inserted atomically on every engine.
CREATE TABLE mailbox_holders (
    kind       TEXT NOT NULL,
    holder_key TEXT NOT NULL,
    PRIMARY KEY (kind, holder_key)
);
-- The version of the address rules (mailbox.AddressRules) a mailbox's
-- address was last checked against; 0 is "never": every mailbox registered
-- before this migration is checked once at start-up.
ALTER TABLE mailboxes ADD COLUMN address_rules INTEGER NOT NULL DEFAULT 0;
CREATE INDEX mailboxes_address_rules ON mailboxes (address_rules);
-- Activation letters are counted per mailbox and per holder and day.
CREATE INDEX print_jobs_activation ON print_jobs (mailbox_id, created_at) WHERE kind = 'activation';

-- +goose Down
DROP INDEX print_jobs_activation;
DROP INDEX mailboxes_address_rules;
ALTER TABLE mailboxes DROP COLUMN address_rules;
DROP TABLE mailbox_holders;
