package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/postgres"
)

// dueNow is the refresher's "now" in the seeded data.
var dueNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// dueQuery is what the refresher asks: expiring in the next 10 minutes,
// used in the last 4 hours.
var dueQuery = mtdconnect.DueQuery{
	ExpiresFrom:   dueNow,
	ExpiresBefore: dueNow.Add(10 * time.Minute),
	UsedSince:     dueNow.Add(-4 * time.Hour),
	Limit:         5000,
}

// seedDue fills a store with due connected connections and nonDue others:
// half connected with access tokens valid for hours yet (in the partial
// index, outside the range), half needing reconnect with expiry inside the
// window (outside the partial index). Then it runs ANALYZE.
func seedDue(tb testing.TB, s *postgres.Store, due, nonDue int) {
	tb.Helper()
	ctx := context.Background()
	pool := postgres.PoolOf(s)
	total := due + nonDue
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO users (email, created_at)
		SELECT 'u' || i || '@example.com', $2 FROM generate_series(1, $1) AS i`, total, dueNow)
	// Due: expiring 1..9 minutes from now, used an hour ago.
	batch.Queue(`INSERT INTO connections (user_id, purpose, status, tokens, access_expires_at, granted_at,
			last_used_at, version, created_at, updated_at)
		SELECT u.id, 'itsa', 'connected', '\x00'::bytea,
			$2::timestamptz + ((60 + u.id % 480) * interval '1 second'),
			$2::timestamptz - interval '30 days', $2::timestamptz - interval '1 hour', 1, $2, $2
		FROM users u WHERE u.id <= $1`, due, dueNow)
	// Not due: connected, expiring 1..4 hours from now; or needing reconnect.
	batch.Queue(`INSERT INTO connections (user_id, purpose, status, reason, tokens, access_expires_at,
			granted_at, last_used_at, version, created_at, updated_at)
		SELECT u.id, 'itsa',
			CASE WHEN u.id % 2 = 0 THEN 'connected' ELSE 'needs_reconnect' END,
			CASE WHEN u.id % 2 = 0 THEN '' ELSE 'authority removed at HMRC' END,
			'\x00'::bytea,
			CASE WHEN u.id % 2 = 0 THEN $2::timestamptz + interval '1 hour' + (u.id % 10800) * interval '1 second'
				ELSE $2::timestamptz + interval '5 minutes' END,
			$2::timestamptz - interval '30 days', $2::timestamptz - interval '1 hour', 1, $2, $2
		FROM users u WHERE u.id > $1`, due, dueNow)
	batch.Queue(`ANALYZE users`)
	batch.Queue(`ANALYZE connections`)
	if err := pool.SendBatch(ctx, batch).Close(); err != nil {
		tb.Fatalf("seed: %v", err)
	}
}

// TestDueConnectionsUsesIndex checks the plan of the query DueConnections
// runs: a scan of the partial index, never a Seq Scan of connections, both
// as a custom plan and as the generic plan a prepared statement falls back to.
func TestDueConnectionsUsesIndex(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	seedDue(t, s, 50, 20000)

	got, err := s.DueConnections(ctx, dueQuery)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Fatalf("DueConnections returned %d, want 50", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].AccessExpiresAt.Before(got[i-1].AccessExpiresAt) {
			t.Fatalf("not ordered by expiry at %d", i)
		}
	}

	query, args := postgres.DueQuery(dueQuery)
	conn, err := postgres.PoolOf(s).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, mode := range []string{"auto", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			var plan strings.Builder
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "PREPARE due AS "+query); err != nil {
					return err
				}
				params := make([]string, len(args))
				for i, a := range args {
					switch v := a.(type) {
					case *time.Time:
						params[i] = "'" + v.Format(time.RFC3339Nano) + "'"
					default:
						params[i] = fmt.Sprint(v)
					}
				}
				rows, err := tx.Query(ctx, "EXPLAIN EXECUTE due("+strings.Join(params, ", ")+")",
					pgx.QueryExecModeSimpleProtocol)
				if err != nil {
					return err
				}
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				plan.WriteString(strings.Join(lines, "\n"))
				_, err = tx.Exec(ctx, "DEALLOCATE due")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			p := plan.String()
			if !strings.Contains(p, "connections_due") || strings.Contains(p, "Seq Scan") {
				t.Errorf("due query does not use the partial index connections_due:\n%s", p)
			}
			t.Logf("plan:\n%s", p)
		})
	}
}

// BenchmarkDueConnections shows the due query's cost does not grow with
// the rows that are not due: the same 1000 due connections among 10k and
// among 200k others.
func BenchmarkDueConnections(b *testing.B) {
	for _, nonDue := range []int{10_000, 200_000} {
		b.Run(fmt.Sprintf("due=1000/nondue=%d", nonDue), func(b *testing.B) {
			s := newStore(b)
			seedDue(b, s, 1000, nonDue)
			ctx := b.Context()
			for b.Loop() {
				got, err := s.DueConnections(ctx, dueQuery)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != 1000 {
					b.Fatalf("DueConnections returned %d, want 1000", len(got))
				}
			}
		})
	}
}
