-- +goose Up
-- One-time recovery codes of a user's second factor, as SHA-256 hashes
-- (the codes carry 80 random bits: a hash is enough to keep them secret).
-- A code is used by deleting its row: of two sign-ins racing with one
-- code, only one deletes it.
CREATE TABLE recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- +goose Down
DROP TABLE recovery_codes;
