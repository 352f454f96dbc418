-- +goose Up
-- The database's identity: a random UUID (version 4, RFC 9562 §5.4) made
-- once, when the schema is created, that the data directory records. Every
-- command checks it, so a command pointed at another database refuses
-- instead of silently acting on the wrong registry.
INSERT INTO server_state (key, value)
SELECT 'database_id', CAST(lower(
    substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' ||
    substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)) AS BLOB)
FROM (SELECT hex(randomblob(16)) AS h)
WHERE true
ON CONFLICT (key) DO NOTHING;

-- The certificate identity that held the lease when the job was reported
-- printed: only that print centre (or an operator) reports what became of
-- the letter in the postal network afterwards.
ALTER TABLE print_jobs ADD COLUMN printed_by TEXT NOT NULL DEFAULT '';
UPDATE print_jobs SET printed_by = lease_owner WHERE state IN ('printed', 'posted');

-- +goose Down
ALTER TABLE print_jobs DROP COLUMN printed_by;
DELETE FROM server_state WHERE key = 'database_id';
