-- +goose Up
-- The outbox: events written in the transaction of the change they report,
-- numbered per landlord from users.event_seq (its row lock orders them).
ALTER TABLE users ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        bigint      NOT NULL,
    type       text        NOT NULL,
    dedup_key  text        NOT NULL DEFAULT '',
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (user_id, seq)
);
-- A reminder happens once: its key is unique per landlord.
CREATE UNIQUE INDEX events_dedup_key ON events (user_id, dedup_key) WHERE dedup_key <> '';

-- The platform's receivers. secret and previous_secret are sealed (seal
-- package, associated data "webhook_endpoint", uid, "secret").
CREATE TABLE webhook_endpoints (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid                   text        NOT NULL UNIQUE,
    url                   text        NOT NULL,
    event_types           text        NOT NULL DEFAULT '',
    secret                bytea       NOT NULL,
    previous_secret       bytea       NOT NULL DEFAULT ''::bytea,
    previous_secret_until timestamptz,
    created_at            timestamptz NOT NULL,
    disabled_at           timestamptz,
    disabled_reason       text        NOT NULL DEFAULT ''
);

-- One event to one endpoint. next_try_at is also the end of the lease of
-- the instance delivering it (lease_owner).
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        bigint      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    attempts        integer     NOT NULL DEFAULT 0,
    last_status     integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    last_attempt_at timestamptz,
    next_try_at     timestamptz NOT NULL,
    lease_owner     text        NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz NOT NULL
);
-- Claims walk only what is still to deliver.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE events;
ALTER TABLE users DROP COLUMN event_seq;
