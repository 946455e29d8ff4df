-- +goose Up
-- Serve DeleteExpired: the periodic sweep finds what expired through these
-- indexes instead of reading whole tables.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX pending_authorizations_expires ON pending_authorizations (expires_at);
CREATE INDEX rate_slots_next ON rate_slots (next_at);

-- +goose Down
DROP INDEX rate_slots_next;
DROP INDEX pending_authorizations_expires;
DROP INDEX sessions_expires;
