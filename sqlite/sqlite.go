// Package sqlite implements mtdconnect.Store on SQLite through
// modernc.org/sqlite (pure Go, no cgo). It is the default store: one file,
// shared safely by several goroutines and by several processes on one host.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mtdconnect/mtdconnect"
)

// dsnParams are applied by the driver to every connection it opens, so every
// connection in database/sql's pool has them (a PRAGMA run once through
// db.Exec would reach only one pooled connection). _txlock=immediate makes
// every write transaction take the write lock at BEGIN: a deferred
// transaction that reads and then writes can fail with SQLITE_BUSY on the lock
// upgrade, which busy_timeout does not retry.
const dsnParams = "_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_txlock=immediate"

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an mtdconnect.Store on one SQLite file. It is safe for concurrent
// use, and several Stores (in one process or several) may share the file.
type Store struct {
	db *sql.DB
}

var _ mtdconnect.Store = (*Store)(nil)

// Open opens (creating if need be) the database file at path and brings its
// schema up to date. path is a file name, not a URI: ":memory:" is refused
// because each pooled connection would get a database of its own.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: open %q: want a plain file path", path)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", path+"?"+dsnParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// The default of 2 idle connections would close and reopen connections
	// (and rerun the pragmas) under any concurrency.
	db.SetMaxIdleConns(16)
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Ping runs a query, so a file that cannot be read (or a closed Store)
// answers an error, not only a pool with a free connection.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// createPrivate creates the database file, and its directory if missing,
// readable by the owner only: it holds sealed tokens, password hashes and
// landlords' identifiers. SQLite creates the -wal and -shm files with the
// database file's permissions, so they are private too. An existing file or
// directory is left as it is.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithLocker(migrationLock{}),
	)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// migrationLock serialises migrations between processes that open a fresh
// file at the same moment: goose ships no SQLite locker, and without one both
// would try to create the same tables. The lease frees the lock if its holder
// dies mid-migration.
type migrationLock struct{}

const migrationLease = time.Minute

func (migrationLock) Lock(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migration_lock (
		id    INTEGER PRIMARY KEY CHECK (id = 1),
		until INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}
	for {
		now := time.Now()
		res, err := db.ExecContext(ctx, `INSERT INTO migration_lock (id, until) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET until = excluded.until WHERE until < ?`,
			ms(now.Add(migrationLease)), ms(now))
		if err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for migration lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (migrationLock) Unlock(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `DELETE FROM migration_lock`)
	return err
}

// tx runs fn in a write transaction. Thanks to _txlock=immediate it holds the
// write lock from BEGIN, so what fn reads cannot change before it commits.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// ms is how times are stored: unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// msTime undoes ms, in UTC.
func msTime(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// now is the store's own clock, used only for the CreatedAt it must set.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKey reports whether err is a FOREIGN KEY violation (the
// referenced row does not exist).
func isForeignKey(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// affected turns "no row matched" into ErrNotFound.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return mtdconnect.ErrNotFound
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
