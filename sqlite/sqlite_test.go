package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/storetest"
)

// mustOpen opens path and closes it when the test ends (Close is
// idempotent, so storetest closing it first is fine).
func mustOpen(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "mtdconnect.db") }

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mtdconnect.Store {
		return mustOpen(t, tempPath(t))
	})
}

// TestStoreShared gives the suite two Stores on one file: separate pools,
// locking each other out only through SQLite, as two processes would.
func TestStoreShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (mtdconnect.Store, mtdconnect.Store) {
		path := tempPath(t)
		return mustOpen(t, path), mustOpen(t, path)
	})
}

func TestOpenTwice(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	s := mustOpen(t, path)
	u := &mtdconnect.User{Email: "ada@example.com"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	before := schemaVersions(t, s.db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path)
	if got := schemaVersions(t, s.db); got != before {
		t.Errorf("migrations after reopening = %q, want %q", got, before)
	}
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Errorf("user lost on reopening: %v", err)
	}
}

// TestOpenConcurrently opens a fresh file from several Stores at once, as
// instances starting together would: the migration lock lets one migrate.
func TestOpenConcurrently(t *testing.T) {
	path := tempPath(t)
	const n = 4
	stores := make([]*Store, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if t.Failed() {
		return
	}
	want := schemaVersions(t, stores[0].db)
	if want == "" {
		t.Fatal("no migrations recorded")
	}
	for i, s := range stores[1:] {
		if got := schemaVersions(t, s.db); got != want {
			t.Errorf("store %d sees migrations %q, want %q", i+1, got, want)
		}
	}
}

// schemaVersions lists goose's records, one per applied migration: a
// migration applied twice shows up twice.
func schemaVersions(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []string
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, fmt.Sprint(v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(versions, ",")
}

func TestOpenRefusesNonFile(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?_pragma=foreign_keys(0)"} {
		if s, err := Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

// TestPragmasOnEveryConnection holds several pooled connections at once, so
// each is a distinct connection, and checks each has the DSN's pragmas.
func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, tempPath(t))
	const n = 5
	for i := range n {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, p := range []struct{ pragma, want string }{
			{"busy_timeout", "10000"},
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "1"}, // NORMAL
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
	}
	if got := s.db.Stats().OpenConnections; got < n {
		t.Errorf("checked %d connections, want %d distinct", got, n)
	}
}

// TestDueConnectionsUsesIndex pins the plan behind DueConnections' promise:
// a range search on the partial index, no table scan, no sort.
func TestDueConnectionsUsesIndex(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	rows, err := s.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+dueQuery, 0, 0, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "USING INDEX connections_due (access_expires_at>? AND access_expires_at<?)") ||
		strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("plan = %q, want a range search on connections_due and no sort", got)
	}
}

// BenchmarkDueConnections fetches the same 1,000 due connections among a
// growing number that are not due (expired long ago and left idle, expiring
// after the window, or needing reconnection). ns/op should stay flat.
func BenchmarkDueConnections(b *testing.B) {
	const due = 1000
	now := time.Date(2026, time.March, 14, 9, 0, 0, 0, time.UTC)
	q := mtdconnect.DueQuery{
		ExpiresFrom:   now.Add(-30 * time.Minute),
		ExpiresBefore: now.Add(10 * time.Minute),
		UsedSince:     now.Add(-24 * time.Hour),
	}
	for _, notDue := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("notdue=%d", notDue), func(b *testing.B) {
			s := mustOpen(b, tempPath(b))
			seedConnections(b, s, now, due, notDue)
			for b.Loop() {
				cs, err := s.DueConnections(b.Context(), q)
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) != due {
					b.Fatalf("%d due, want %d", len(cs), due)
				}
			}
		})
	}
}

// seedConnections inserts users and connections in bulk with SQL, since
// 100k SaveConnection calls would dominate the benchmark's run time. The
// first due rows expire within the window (spread over 10 minutes) and were
// used now; the rest cycle through three kinds of not due: needing
// reconnection with an expiry inside the window, expired long ago, and
// expiring after the window.
func seedConnections(b *testing.B, s *Store, now time.Time, due, notDue int) {
	b.Helper()
	ctx := b.Context()
	n := due + notDue
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
			INSERT INTO users (id, email, password_hash, created_at) SELECT i, 'u' || i || '@example.com', '', ? FROM seq`,
			n, ms(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?3)
			INSERT INTO connections (`+connectionColumns+`)
			SELECT i, 'itsa',
				CASE WHEN i > ?1 AND i % 3 = 0 THEN 'needs_reconnect' ELSE 'connected' END,
				'', 'read:self-assessment write:self-assessment', randomblob(200),
				CASE WHEN i <= ?1 THEN ?2 + (i - 1) * 600000 / ?1
				     WHEN i % 3 = 0 THEN ?2 + i % 600000
				     WHEN i % 3 = 1 THEN ?2 - 86400000 * (1 + i % 30)
				     ELSE ?2 + 3600000 + i END,
				?2 - 86400000, 'production', 'client', 0,
				CASE WHEN i <= ?1 THEN ?2 ELSE ?2 - 86400000 * 40 END,
				0, '', 0, '', i, ?2, ?2
			FROM seq`, due, ms(now), n)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkUpdateConnection(b *testing.B) {
	ctx := b.Context()
	s := mustOpen(b, tempPath(b))
	u := &mtdconnect.User{Email: "ada@example.com"}
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	c := &mtdconnect.Connection{UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Status: mtdconnect.StatusConnected,
		Tokens: make([]byte, 200), AccessExpiresAt: time.Now().Add(4 * time.Hour)}
	if err := s.SaveConnection(ctx, c); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c.RefreshFailures++
		if err := s.UpdateConnection(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// Open must honour its context while it waits for another migrator.
func TestOpenWaitsForMigrationLock(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	if err := (migrationLock{}).Lock(t.Context(), s.db); err != nil {
		t.Fatal(err)
	}
	// A held lock matters only when there is something to migrate; simulate
	// a newer binary by forgetting the applied migration.
	if _, err := s.db.ExecContext(t.Context(), `DELETE FROM goose_db_version WHERE version_id > 0`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if s2, err := Open(ctx, path); err == nil {
		s2.Close()
		t.Fatal("Open migrated while another holder had the lock")
	}
}
