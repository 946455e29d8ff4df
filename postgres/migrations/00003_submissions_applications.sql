-- +goose Up
-- Receipts of what HMRC accepted, kept for the landlord.
CREATE TABLE submissions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose        text        NOT NULL,
    kind           text        NOT NULL,
    period         text        NOT NULL DEFAULT '',
    period_start   timestamptz,
    period_end     timestamptz,
    body           bytea       NOT NULL,
    response       bytea       NOT NULL,
    correlation_id text        NOT NULL DEFAULT '',
    receipt_id     text        NOT NULL DEFAULT '',
    submitted_at   timestamptz NOT NULL
);
CREATE INDEX submissions_user ON submissions (user_id, purpose, id);

-- The HMRC application per environment; secrets is a JSON array of sealed
-- secrets (the ciphertexts are base64 in it).
CREATE TABLE applications (
    environment   text PRIMARY KEY,
    client_id     text        NOT NULL,
    redirect_uris jsonb       NOT NULL DEFAULT '[]',
    secrets       jsonb       NOT NULL DEFAULT '[]',
    updated_at    timestamptz NOT NULL,
    updated_by    bigint      NOT NULL DEFAULT 0
);

CREATE TABLE confirmations (
    name    text PRIMARY KEY,
    user_id bigint      NOT NULL DEFAULT 0,
    at      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE confirmations;
DROP TABLE applications;
DROP TABLE submissions;
