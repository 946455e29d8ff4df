-- +goose Up
-- A platform's landlords: named by the platform's own ref (unique), with an
-- optional contact email that need not be unique, and no password. Deleted
-- landlords stay as the owner of their receipts and audit until
-- records_kept_until.
ALTER TABLE users
    ADD COLUMN ref                text UNIQUE,
    ADD COLUMN display_name       text NOT NULL DEFAULT '',
    ADD COLUMN deleted_at         timestamptz,
    ADD COLUMN records_kept_until timestamptz;
ALTER TABLE users DROP CONSTRAINT users_email_key;
-- Sign-in emails are unique among the users who sign in (no ref).
CREATE UNIQUE INDEX users_email ON users (email) WHERE ref IS NULL AND email <> '';
CREATE INDEX users_purge ON users (records_kept_until) WHERE deleted_at IS NOT NULL;

-- +goose Down
DELETE FROM users WHERE ref IS NOT NULL OR email = '';
DROP INDEX users_purge;
DROP INDEX users_email;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE users DROP COLUMN records_kept_until, DROP COLUMN deleted_at, DROP COLUMN display_name, DROP COLUMN ref;
