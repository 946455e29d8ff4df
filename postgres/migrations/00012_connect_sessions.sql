-- +goose Up
-- A platform's single-use links for a landlord to connect to HMRC. Only the
-- token's hash is stored. state is the pending authorisation's once the
-- landlord pressed Continue to HMRC; browser_hash binds HMRC's answer to
-- the browser that pressed it.
CREATE TABLE connect_sessions (
    id           text        PRIMARY KEY,
    token_hash   bytea       NOT NULL UNIQUE,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      text        NOT NULL,
    return_url   text        NOT NULL,
    display      text        NOT NULL,
    status       text        NOT NULL,
    error        text        NOT NULL DEFAULT '',
    created_by   bigint      NOT NULL,
    state        text        NOT NULL DEFAULT '',
    browser_hash bytea       NOT NULL DEFAULT ''::bytea,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE UNIQUE INDEX connect_sessions_state ON connect_sessions (state) WHERE state <> '';
CREATE INDEX connect_sessions_user ON connect_sessions (user_id);

-- Return URLs (origins or URL prefixes) an administrator allowed.
CREATE TABLE return_urls (
    url      text        PRIMARY KEY,
    added_by bigint      NOT NULL DEFAULT 0,
    added_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE return_urls;
DROP TABLE connect_sessions;
