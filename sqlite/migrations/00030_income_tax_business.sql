-- +goose Up
-- The landlord's UK property business ID, found once and shared by every
-- instance, for the NINO and HMRC environment it was found for.
CREATE TABLE income_tax_businesses (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    nino        TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    business_id TEXT    NOT NULL,
    found_at    INTEGER NOT NULL
);

-- HMRC's answers to obligations queries, kept a short time (the caller
-- decides how long from fetched_at).
CREATE TABLE cached_obligations (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- +goose Down
DROP TABLE cached_obligations;
DROP TABLE income_tax_businesses;
