-- +goose Up
-- Serves InterruptedRefreshes: only rows with a lease held are indexed.
CREATE INDEX connections_leased ON connections (refresh_lease_until) WHERE refresh_lease_owner <> '';

-- +goose Down
DROP INDEX connections_leased;
