// Package postgres implements mtdconnect.Store on PostgreSQL with pgx, for
// deployments that run several instances against one database. Its schema
// is migrated by goose from embedded SQL files under a PostgreSQL advisory
// lock, so instances that start at once migrate one at a time.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdconnect/mtdconnect"
)

// Store is an mtdconnect.Store on a PostgreSQL connection pool. It is safe
// for concurrent use, and several Stores (in one process or many) may share
// one database: every method is a single atomic statement.
type Store struct {
	pool *pgxpool.Pool

	// Now is the clock for the only times the store sets itself: the
	// CreatedAt of users and API keys. Open sets it to time.Now.
	Now func() time.Time
}

var _ mtdconnect.Store = (*Store)(nil)

// Open connects to the PostgreSQL database at dsn (a postgres:// URL or a
// keyword/value string; pool_* parameters are honoured), migrates its schema
// to the latest version and returns the Store. The schema lives in the
// connection's current schema, so a search_path parameter selects it.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// The work is I/O on the database and HMRC's rate limit bounds it
		// anyway; a few connections per core keep a 2-core instance busy
		// without crowding the server's max_connections.
		cfg.MaxConns = int32(max(4, 4*runtime.NumCPU()))
	}
	if err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	return &Store{pool: pool, Now: time.Now}, nil
}

// Ping checks that the server answers on a connection of the pool.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes every connection of the pool. It is safe to call twice.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// ts is the value written for t: NULL for the zero time, otherwise t in UTC
// truncated to the millisecond, the precision of the Store contract.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Millisecond)
	return &t
}

// utc is the time read from a nullable column: zero for NULL, else UTC.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// wrap turns a database error into the Store's vocabulary: no rows is
// ErrNotFound, a unique violation is ErrConflict, a foreign key violation
// (the referenced user does not exist) is ErrNotFound, text PostgreSQL
// cannot keep is ErrInvalidText. The original error
// stays in the chain for errors.As.
func wrap(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, mtdconnect.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("postgres: %s: %w: %w", op, mtdconnect.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("postgres: %s: %w: %w", op, mtdconnect.ErrNotFound, err)
		case "22021", "22P05", "54000":
			// character_not_in_repertoire, untranslatable_character,
			// program_limit_exceeded (an index entry too large): text the
			// methods' own checks should have refused. The driver's
			// message quotes the byte, never the value.
			return fmt.Errorf("postgres: %s: %w: %w", op, mtdconnect.ErrInvalidText, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
