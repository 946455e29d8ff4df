-- +goose Up
-- A platform's single-use links for a landlord to connect to HMRC. Only the
-- token's hash is stored. state is the pending authorisation's once the
-- landlord pressed Continue to HMRC; browser_hash binds HMRC's answer to
-- the browser that pressed it.
CREATE TABLE connect_sessions (
    id           TEXT    PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      TEXT    NOT NULL,
    return_url   TEXT    NOT NULL,
    display      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    error        TEXT    NOT NULL DEFAULT '',
    created_by   INTEGER NOT NULL,
    state        TEXT    NOT NULL DEFAULT '',
    browser_hash BLOB    NOT NULL DEFAULT x'',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    started_at   INTEGER NOT NULL DEFAULT 0,
    finished_at  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX connect_sessions_state ON connect_sessions (state) WHERE state <> '';
CREATE INDEX connect_sessions_user ON connect_sessions (user_id);

-- Return URLs (origins or URL prefixes) an administrator allowed.
CREATE TABLE return_urls (
    url      TEXT    PRIMARY KEY,
    added_by INTEGER NOT NULL DEFAULT 0,
    added_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE return_urls;
DROP TABLE connect_sessions;
