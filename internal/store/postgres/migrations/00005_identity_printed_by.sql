-- +goose Up
-- The database's identity: a random UUID made once, when the schema is
-- created, that the data directory records (never the URL, which may carry a
-- password). Every command checks it, so a command pointed at another
-- database (a fresh SQLite file instead of the server's PostgreSQL) refuses
-- instead of silently acting on the wrong registry.
INSERT INTO server_state (key, value)
VALUES ('database_id', convert_to(gen_random_uuid()::text, 'UTF8'))
ON CONFLICT (key) DO NOTHING;

-- The certificate identity that held the lease when the job was reported
-- printed: only that print centre (or an operator) reports what became of
-- the letter in the postal network afterwards.
ALTER TABLE print_jobs ADD COLUMN printed_by TEXT NOT NULL DEFAULT '';
UPDATE print_jobs SET printed_by = lease_owner WHERE state IN ('printed', 'posted');

-- +goose Down
ALTER TABLE print_jobs DROP COLUMN printed_by;
DELETE FROM server_state WHERE key = 'database_id';
