-- +goose Up
-- The language of a printed letter's fixed labels, as the sender chose it
-- (be or ru); empty means detected from the text when it is rendered.
ALTER TABLE letters ADD COLUMN language TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE letters DROP COLUMN language;
