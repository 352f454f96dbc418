-- +goose Up
-- PostgreSQL adds a trigram index for letter search here (pg_trgm). SQLite
-- has no such index type; the embedded store serves one citizen's or a
-- small office's folders, which its scan handles. The number is kept so
-- both stores carry the same migration sequence.
SELECT 1;

-- +goose Down
SELECT 1;
