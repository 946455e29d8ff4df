-- +goose Up
-- The sealed secret of a user's authenticator app, and the last step used.
ALTER TABLE users ADD COLUMN totp_secret BLOB NOT NULL DEFAULT x'';
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_secret;
