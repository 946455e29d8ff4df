package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the pg_advisory_lock key held while migrating: the
// same for every instance of every version, so migrations never race.
const migrationLockID int64 = 0x6d7464636f6e6e // "mtdconn"

// migrate brings the schema up to date on a connection of its own. goose
// runs every migration on the one connection that holds the advisory lock.
func migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	db := stdlib.OpenDB(*cc.Copy())
	defer db.Close()
	db.SetMaxOpenConns(1)

	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(advisoryLock{id: migrationLockID}),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// advisoryLock is a goose SessionLocker that waits on pg_advisory_lock.
// goose's own lock.NewPostgresSessionLocker polls pg_try_advisory_lock every
// few seconds; waiting in the server lets the next instance in as soon as the
// first is done, and the lock dies with the session if the holder does.
type advisoryLock struct{ id int64 }

var _ lock.SessionLocker = advisoryLock{}

func (l advisoryLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", l.id); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	return nil
}

func (l advisoryLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", l.id); err != nil {
		return fmt.Errorf("postgres: migration unlock: %w", err)
	}
	return nil
}
