package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/postgres"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redactURL drops the password from a database URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// database is one scenario's store: a fresh PostgreSQL database or a fresh
// SQLite file. url is what the instances are given.
type database struct {
	url  string
	drop func(context.Context) error // nil for SQLite (the work directory goes)
}

// newDatabase creates the scenario's database: on PostgreSQL a new
// database named after the scenario on the server of opts.DatabaseURL,
// otherwise a SQLite file in dir.
func newDatabase(ctx context.Context, opts *Options, scenario, dir string) (*database, error) {
	if opts.DatabaseURL == "" {
		return &database{url: filepath.Join(dir, "mtdconnect.db")}, nil
	}
	admin, err := pgx.Connect(ctx, opts.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(opts.DatabaseURL), err)
	}
	defer admin.Close(context.Background())
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("mtdconnect_loadtest_%s_%s", scenario, hex.EncodeToString(b))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(opts.DatabaseURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	db := &database{url: u.String()}
	if !opts.Keep {
		db.drop = func(ctx context.Context) error {
			admin, err := pgx.Connect(ctx, opts.DatabaseURL)
			if err != nil {
				return err
			}
			defer admin.Close(context.Background())
			// FORCE: a killed instance's sessions may linger a moment.
			_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			return err
		}
	}
	return db, nil
}

// open opens the store in this process too (the load test is one more
// process on the same database: it seeds and checks).
func (d *database) open(ctx context.Context) (mtdconnect.Store, error) {
	if isPostgresURL(d.url) {
		return postgres.Open(ctx, d.url)
	}
	return sqlite.Open(ctx, d.url)
}

func (d *database) close() {
	if d.drop == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = d.drop(ctx)
}

func postgresVersion(ctx context.Context, dsn string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var v string
	_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v
}

// xacts is how many transactions the scenario's PostgreSQL database has
// committed or rolled back (pg_stat_database), every process's; false on
// SQLite. A backend reports its counts when it has been idle a moment, or
// at least once a second: read after a pause to have them all.
func (c *cluster) xacts(ctx context.Context) (int64, bool, error) {
	if c.db == nil || !isPostgresURL(c.db.url) {
		return 0, false, nil
	}
	conn, err := pgx.Connect(ctx, c.db.url)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	// This connection's own transaction is reported when it closes,
	// after the reading: it does not count.
	return n, true, err
}

// statsSettle is how long PostgreSQL's backends take to report their
// transaction counts once idle.
const statsSettle = 2 * time.Second

// settledXacts is xacts after the backends have had time to report.
func (c *cluster) settledXacts(ctx context.Context) (int64, bool, error) {
	if c.db == nil || !isPostgresURL(c.db.url) {
		return 0, false, nil
	}
	sleepCtx(ctx, statsSettle)
	return c.xacts(ctx)
}
