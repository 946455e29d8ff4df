-- +goose NO TRANSACTION
-- A platform's landlords: named by the platform's own ref (unique), with an
-- optional contact email that need not be unique, and no password. Deleted
-- landlords stay as the owner of their receipts and audit until
-- records_kept_until. The email's UNIQUE column constraint cannot be
-- dropped in SQLite, so the table is rebuilt (SQLite's documented
-- procedure: foreign keys off, so the children's rows stay; the rename
-- leaves their REFERENCES users untouched). AUTOINCREMENT: an ID is never
-- handed out again once a deleted landlord's records are purged.

-- +goose Up
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE users_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    ref                TEXT    UNIQUE,
    email              TEXT    NOT NULL,
    display_name       TEXT    NOT NULL DEFAULT '',
    password_hash      TEXT    NOT NULL,
    nino               TEXT    NOT NULL DEFAULT '',
    vrn                TEXT    NOT NULL DEFAULT '',
    admin              INTEGER NOT NULL DEFAULT 0,
    totp_secret        BLOB    NOT NULL DEFAULT x'',
    totp_last_step     INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    deleted_at         INTEGER NOT NULL DEFAULT 0,
    records_kept_until INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO users_new (id, email, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at)
    SELECT id, email, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
-- Sign-in emails are unique among the users who sign in (no ref).
CREATE UNIQUE INDEX users_email ON users (email) WHERE ref IS NULL AND email <> '';
CREATE INDEX users_purge ON users (records_kept_until) WHERE deleted_at <> 0;
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE users_old (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    nino          TEXT    NOT NULL DEFAULT '',
    vrn           TEXT    NOT NULL DEFAULT '',
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    totp_secret   BLOB    NOT NULL DEFAULT x'',
    totp_last_step INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Only users who sign in fit the old shape; a platform's landlords have no
-- sign-in email. Their rows (and, on the next write, their children) go.
INSERT INTO users_old (id, email, password_hash, nino, vrn, admin, created_at, totp_secret, totp_last_step)
    SELECT id, email, password_hash, nino, vrn, admin, created_at, totp_secret, totp_last_step FROM users
    WHERE ref IS NULL AND email <> '';
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
COMMIT;
PRAGMA foreign_keys = ON;
