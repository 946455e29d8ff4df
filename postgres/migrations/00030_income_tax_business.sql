-- +goose Up
-- The landlord's UK property business ID, found once and shared by every
-- instance, for the NINO and HMRC environment it was found for.
CREATE TABLE income_tax_businesses (
    user_id     bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    nino        text        NOT NULL,
    environment text        NOT NULL,
    business_id text        NOT NULL,
    found_at    timestamptz NOT NULL
);

-- HMRC's answers to obligations queries, kept a short time (the caller
-- decides how long from fetched_at).
CREATE TABLE cached_obligations (
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key        text        NOT NULL,
    body       bytea       NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- +goose Down
DROP TABLE cached_obligations;
DROP TABLE income_tax_businesses;
