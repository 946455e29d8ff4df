-- +goose Up
-- The outbox: events written in the transaction of the change they report,
-- numbered per landlord from users.event_seq.
ALTER TABLE users ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    dedup_key  TEXT    NOT NULL DEFAULT '',
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, seq)
);
-- A reminder happens once: its key is unique per landlord.
CREATE UNIQUE INDEX events_dedup_key ON events (user_id, dedup_key) WHERE dedup_key <> '';

-- The platform's receivers. secret and previous_secret are sealed (seal
-- package, associated data "webhook_endpoint", uid, "secret").
CREATE TABLE webhook_endpoints (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    uid                   TEXT    NOT NULL UNIQUE,
    url                   TEXT    NOT NULL,
    event_types           TEXT    NOT NULL DEFAULT '',
    secret                BLOB    NOT NULL,
    previous_secret       BLOB    NOT NULL DEFAULT x'',
    previous_secret_until INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    disabled_at           INTEGER NOT NULL DEFAULT 0,
    disabled_reason       TEXT    NOT NULL DEFAULT ''
);

-- One event to one endpoint. next_try_at is also the end of the lease of
-- the instance delivering it (lease_owner).
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_attempt_at INTEGER NOT NULL DEFAULT 0,
    next_try_at     INTEGER NOT NULL,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    delivered_at    INTEGER NOT NULL DEFAULT 0,
    failed_at       INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
-- Claims walk only what is still to deliver.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_at) WHERE delivered_at = 0 AND failed_at = 0;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE events;
ALTER TABLE users DROP COLUMN event_seq;
