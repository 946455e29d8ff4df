-- +goose Up
-- Receipts of what HMRC accepted, kept for the landlord.
CREATE TABLE submissions (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    period         TEXT    NOT NULL DEFAULT '',
    period_start   INTEGER NOT NULL DEFAULT 0,
    period_end     INTEGER NOT NULL DEFAULT 0,
    body           BLOB    NOT NULL,
    response       BLOB    NOT NULL,
    correlation_id TEXT    NOT NULL DEFAULT '',
    receipt_id     TEXT    NOT NULL DEFAULT '',
    submitted_at   INTEGER NOT NULL
);
CREATE INDEX submissions_user ON submissions (user_id, purpose, id);

-- The HMRC application per environment; secrets is a JSON array of sealed
-- secrets (the ciphertexts are base64 in it).
CREATE TABLE applications (
    environment   TEXT PRIMARY KEY,
    client_id     TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL DEFAULT '[]',
    secrets       TEXT    NOT NULL DEFAULT '[]',
    updated_at    INTEGER NOT NULL,
    updated_by    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE confirmations (
    name    TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL DEFAULT 0,
    at      INTEGER NOT NULL
);

-- +goose Down
DROP TABLE confirmations;
DROP TABLE applications;
DROP TABLE submissions;
