-- +goose Up
-- API keys are scoped, record their last use (coalesced to once a minute),
-- and can be revoked, or rotated with a grace period (expires_at). Keys made
-- before scopes existed keep every scope.
ALTER TABLE api_keys
    ADD COLUMN scopes       text NOT NULL DEFAULT '',
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN revoked_at   timestamptz,
    ADD COLUMN expires_at   timestamptz;
UPDATE api_keys SET scopes = 'connect connections:read connections:write submissions users proxy webhooks';

-- +goose Down
ALTER TABLE api_keys DROP COLUMN expires_at, DROP COLUMN revoked_at, DROP COLUMN last_used_at, DROP COLUMN scopes;
