-- +goose Up
-- Serve SealedSamples' authenticator app query at every start: without it,
-- a database where no user has an authenticator app is read whole to find
-- none.
CREATE INDEX users_totp_enrolled ON users (id) WHERE length(totp_secret) > 0;

-- +goose Down
DROP INDEX users_totp_enrolled;
