-- +goose Up
-- The sealed secret of a user's authenticator app, and the last step used.
ALTER TABLE users ADD COLUMN totp_secret bytea NOT NULL DEFAULT ''::bytea;
ALTER TABLE users ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_secret;
