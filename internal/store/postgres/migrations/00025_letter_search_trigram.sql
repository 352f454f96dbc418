-- +goose Up
-- Search over a large folder: a search term is matched anywhere in
-- search_text (LIKE '%term%'), which no B-tree can serve, so a rare term
-- read the whole folder (66 ms over 20,000 letters). A trigram index
-- (pg_trgm, shipped with PostgreSQL; trusted, so the database owner may
-- create it) lets the planner find the few matching letters first. Where
-- the extension cannot be created the search still works, by scanning.
-- +goose StatementBegin
DO $$
BEGIN
	CREATE EXTENSION IF NOT EXISTS pg_trgm;
	CREATE INDEX IF NOT EXISTS letters_search_trgm ON letters USING gin (search_text gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
	RAISE NOTICE 'pg_trgm is not available (%): letter search scans the folder', SQLERRM;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS letters_search_trgm;
