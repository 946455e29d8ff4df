-- +goose Up
-- The PostgreSQL schema of mtdconnect. Every time is timestamptz, written
-- truncated to milliseconds; a zero time.Time is stored as NULL.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL,
    password_hash text        NOT NULL DEFAULT '',
    nino          text        NOT NULL DEFAULT '',
    vrn           text        NOT NULL DEFAULT '',
    admin         boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE sessions (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mfa_at     timestamptz,
    created_at timestamptz,
    expires_at timestamptz
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL DEFAULT '',
    hash       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT api_keys_hash_key UNIQUE (hash)
);

CREATE TABLE pending_authorizations (
    state        text        PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      text        NOT NULL,
    verifier     bytea,
    redirect_uri text        NOT NULL DEFAULT '',
    created_at   timestamptz,
    expires_at   timestamptz
);
CREATE INDEX pending_authorizations_user_id ON pending_authorizations (user_id);

CREATE TABLE connections (
    user_id             bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose             text        NOT NULL,
    status              text        NOT NULL,
    reason              text        NOT NULL DEFAULT '',
    scopes              text        NOT NULL DEFAULT '',
    tokens              bytea,
    access_expires_at   timestamptz,
    granted_at          timestamptz,
    environment         text        NOT NULL DEFAULT '',
    client_id           text        NOT NULL DEFAULT '',
    last_refresh_at     timestamptz,
    last_used_at        timestamptz,
    refresh_lease_until timestamptz,
    refresh_lease_owner text        NOT NULL DEFAULT '',
    refresh_failures    integer     NOT NULL DEFAULT 0,
    last_error          text        NOT NULL DEFAULT '',
    version             bigint      NOT NULL,
    created_at          timestamptz,
    updated_at          timestamptz,
    PRIMARY KEY (user_id, purpose)
);
-- DueConnections: a range scan over connected rows only, so its cost grows
-- with the number of due connections, not with the table. last_used_at is
-- the second key so the UsedSince bound is checked in the index (an Index
-- Cond) and idle rows in the window cost no heap fetch. The query must spell
-- status = 'connected' literally for the planner to match the partial index.
CREATE INDEX connections_due ON connections (access_expires_at, last_used_at)
    WHERE status = 'connected';

-- One counter for every connection version ever handed out. A per-row counter
-- would restart at 1 after delete and re-create, and a stale copy of the old
-- grant would then win its compare-and-swap against the new one.
CREATE SEQUENCE connection_version;

-- No foreign key: a connection's history outlives the user row.
CREATE TABLE audit_events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint      NOT NULL,
    purpose text        NOT NULL DEFAULT '',
    kind    text        NOT NULL,
    detail  text        NOT NULL DEFAULT '',
    at      timestamptz
);
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE rate_slots (
    name    text        PRIMARY KEY,
    next_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE rate_slots;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP SEQUENCE connection_version;
DROP TABLE connections;
DROP TABLE pending_authorizations;
DROP TABLE api_keys;
DROP TABLE sessions;
DROP TABLE users;
