-- Times are INTEGER unix milliseconds, 0 for the zero time, so ordering and
-- range scans are plain integer comparisons. STRICT makes SQLite reject a
-- value of the wrong type instead of storing it silently.

-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    nino          TEXT    NOT NULL DEFAULT '',
    vrn           TEXT    NOT NULL DEFAULT '',
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mfa_at     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE pending_authorizations (
    state        TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      TEXT    NOT NULL,
    verifier     BLOB,
    redirect_uri TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_authorizations_user ON pending_authorizations (user_id);

CREATE TABLE connections (
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    reason              TEXT    NOT NULL,
    scopes              TEXT    NOT NULL,
    tokens              BLOB,
    access_expires_at   INTEGER NOT NULL,
    granted_at          INTEGER NOT NULL,
    environment         TEXT    NOT NULL,
    client_id           TEXT    NOT NULL,
    last_refresh_at     INTEGER NOT NULL,
    last_used_at        INTEGER NOT NULL,
    refresh_lease_until INTEGER NOT NULL,
    refresh_lease_owner TEXT    NOT NULL,
    refresh_failures    INTEGER NOT NULL,
    last_error          TEXT    NOT NULL,
    version             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (user_id, purpose)
) STRICT;

-- Serves DueConnections: only connected rows are indexed, the range is on the
-- expiry, and last_used_at rides along so idle rows are skipped without
-- touching the table. The query must spell status = 'connected' literally for
-- the planner to pick this partial index.
CREATE INDEX connections_due ON connections (access_expires_at, last_used_at)
    WHERE status = 'connected';

-- One counter for every connection version ever handed out. A per-row counter
-- would restart at 1 after delete and re-create, and a stale copy of the old
-- grant would then win its compare-and-swap against the new one.
CREATE TABLE connection_version (
    last INTEGER NOT NULL
) STRICT;
INSERT INTO connection_version (last) VALUES (0);

-- AUTOINCREMENT so ids are never reused: "newest first" is "highest id first".
CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    detail  TEXT    NOT NULL,
    at      INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_events_user ON audit_events (user_id, id);

CREATE TABLE rate_slots (
    name    TEXT    PRIMARY KEY,
    next_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE rate_slots;
DROP TABLE audit_events;
DROP TABLE connection_version;
DROP TABLE connections;
DROP TABLE pending_authorizations;
DROP TABLE api_keys;
DROP TABLE sessions;
DROP TABLE users;
