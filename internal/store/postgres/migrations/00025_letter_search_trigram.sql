-- +goose Up
-- Search over a large folder: a search term is matched anywhere in
-- search_text (LIKE '%term%'), which no B-tree can serve, so a rare term
-- read the whole folder (66 ms over 20,000 letters). A trigram index
-- (pg_trgm, shipped with PostgreSQL; trusted, so the database owner may
-- create it) lets the planner find the few matching letters first. Where
-- the extension cannot be created the search still works, by scanning.
-- +goose StatementBegin
-- The extension is one per database: it goes to schema public (several
-- npes schemas in one database share it, and dropping one of them does
-- not take it away), or stays wherever it already is; its operator class
-- is named with that schema.
DO $$
DECLARE
	ext_schema text;
BEGIN
	CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
	SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_trgm';
	EXECUTE format('CREATE INDEX IF NOT EXISTS letters_search_trgm ON letters USING gin (search_text %I.gin_trgm_ops)', ext_schema);
EXCEPTION WHEN OTHERS THEN
	-- The index is an optimisation: without it the search scans.
	RAISE NOTICE 'pg_trgm is not available (%: %): letter search scans the folder', SQLSTATE, SQLERRM;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS letters_search_trgm;
