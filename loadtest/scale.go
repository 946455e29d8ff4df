package loadtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// ScaleConfig sizes the scale scenario: connections are inserted straight
// into PostgreSQL (their sealed tokens are dummies: nothing here opens
// them), then the refresher's queries are timed and an instance started,
// first with Small connections that are not due, then with Connections.
type ScaleConfig struct {
	Connections int // not due, at the large point; default 1,000,000
	Small       int // not due, at the small point; default 1,000
	Due         int // due at the query time; default 100
	Repeat      int // timings per query; default 50
	// Rest is how long the instance runs before its memory is read.
	Rest time.Duration // default 10s
}

func (c *ScaleConfig) setDefaults() {
	setInt(&c.Connections, 1_000_000)
	setInt(&c.Small, 1_000)
	setInt(&c.Due, 100)
	setInt(&c.Repeat, 50)
	setDuration(&c.Rest, 10*time.Second)
}

// ScaleReport is what the scale scenario measured.
type ScaleReport struct {
	Config   ScaleConfig  `json:"config"`
	Small    ScalePoint   `json:"small"`
	Large    ScalePoint   `json:"large"`
	Plan     string       `json:"plan"`             // EXPLAIN ANALYZE of the due query at the large point
	Growth   float64      `json:"due_query_growth"` // large p50 / small p50
	Stats    []ScaleTable `json:"tables,omitempty"`
	Children []string     `json:"children,omitempty"`
}

// ScalePoint is one size of the table.
type ScalePoint struct {
	Connections int     `json:"connections"` // rows in the table
	NotDue      int     `json:"not_due"`
	Due         int     `json:"due"`
	InsertSecs  float64 `json:"insert_seconds"`
	// DueQuery is Store.DueConnections as the refresher asks it, at a
	// moment when Due connections are due; Returned is what it found.
	DueQuery Latency `json:"due_query"`
	Returned int     `json:"returned"`
	// Interrupted is Store.InterruptedRefreshes, which each pass runs too.
	Interrupted Latency `json:"interrupted_query"`
	// Pass is one whole hmrc.Refresher pass now, when nothing is due.
	Pass Latency `json:"refresher_pass"`
	// StartupSeconds is `mtdconnect serve` from exec to /healthz answering
	// 200 (migrations checked, first refresher pass under way); RSS its
	// resident memory after resting.
	StartupSeconds float64 `json:"startup_seconds"`
	RSSBytes       int64   `json:"rss_bytes"`
}

// ScaleTable is a table's size at the large point.
type ScaleTable struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// Violations: the due query must not grow with the connections that are
// not due. Timings on a shared machine are noisy, so the bound is loose: a
// scan of the table would be hundreds of times slower, not a few.
func (r *ScaleReport) Violations() []string {
	var v []string
	if r.Small.Returned != r.Config.Due || r.Large.Returned != r.Config.Due {
		v = append(v, fmt.Sprintf("the due query found %d and %d connections, want %d", r.Small.Returned, r.Large.Returned, r.Config.Due))
	}
	if strings.Contains(r.Plan, "Seq Scan on connections") {
		v = append(v, "the due query scans the connections table")
	}
	if !strings.Contains(r.Plan, "connections_due") {
		v = append(v, "the due query does not use the connections_due index")
	}
	return append(v, r.Children...)
}

// scaleAt is the moment the queries are timed for: a month ahead, so that
// nothing seeded is due for an instance running now.
func scaleAt() time.Time { return time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Second) }

func runScale(ctx context.Context, opts *Options) (*ScaleReport, error) {
	cfg := opts.Scale
	c, err := newCluster(ctx, opts, clusterSpec{scenario: ScenarioScale, rate: 3, noInstances: true})
	if err != nil {
		return nil, err
	}
	rep := &ScaleReport{Config: cfg}
	defer func() { rep.Children = c.close() }()
	conn, err := pgx.Connect(ctx, c.db.url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	at := scaleAt()

	opts.progress("  inserting %d due and %d not-due connections", cfg.Due, cfg.Small)
	if rep.Small, err = c.scalePoint(ctx, conn, at, cfg.Due, cfg.Small, cfg); err != nil {
		return nil, err
	}
	opts.progress("  small: due query %s; start-up %.2fs; RSS %.1f MiB", rep.Small.DueQuery, rep.Small.StartupSeconds, mib(rep.Small.RSSBytes))
	opts.progress("  inserting up to %d not-due connections", cfg.Connections)
	if rep.Large, err = c.scalePoint(ctx, conn, at, 0, cfg.Connections-cfg.Small, cfg); err != nil {
		return nil, err
	}
	opts.progress("  large: due query %s; start-up %.2fs; RSS %.1f MiB", rep.Large.DueQuery, rep.Large.StartupSeconds, mib(rep.Large.RSSBytes))
	if rep.Small.DueQuery.P50 > 0 {
		rep.Growth = rep.Large.DueQuery.P50 / rep.Small.DueQuery.P50
	}
	q, args := dueSQL(dueQueryAt(at))
	rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, args...)
	if err != nil {
		return nil, fmt.Errorf("explain the due query: %w", err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rep.Plan = strings.Join(plan, "\n")
	for _, t := range []string{"connections", "connections_due", "connections_leased", "users", "audit_events"} {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", t).Scan(&n); err == nil {
			rep.Stats = append(rep.Stats, ScaleTable{t, n})
		}
	}
	return rep, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// dueQueryAt is what the refresher asks at t with its defaults: expiring
// within the 5-minute margin (or in the last four 30-second intervals),
// used in the last 24 hours, 500 at most.
func dueQueryAt(t time.Time) mtdconnect.DueQuery {
	return mtdconnect.DueQuery{
		ExpiresFrom: t.Add(-2 * time.Minute), ExpiresBefore: t.Add(5 * time.Minute),
		UsedSince: t.Add(-24 * time.Hour), Limit: 500,
	}
}

// dueSQL is the statement postgres.Store.DueConnections runs for q (see
// dueQuery in postgres/connection.go), for EXPLAIN. runScale checks it
// finds what the store finds.
func dueSQL(q mtdconnect.DueQuery) (string, []any) {
	return `SELECT user_id, purpose, status, reason, scopes, tokens, access_expires_at, granted_at,
	environment, client_id, last_refresh_at, last_used_at, refresh_lease_until, refresh_lease_owner,
	refresh_failures, last_error, version, created_at, updated_at
	FROM connections WHERE status = 'connected' AND access_expires_at < $1 AND access_expires_at >= $2
	AND last_used_at >= $3 ORDER BY access_expires_at, user_id, purpose LIMIT $4`,
		[]any{q.ExpiresBefore, q.ExpiresFrom, q.UsedSince, q.Limit}
}

// scalePoint adds due and notDue connections, then times the refresher's
// queries, a refresher pass and an instance's start-up and memory.
func (c *cluster) scalePoint(ctx context.Context, conn *pgx.Conn, at time.Time, due, notDue int, cfg ScaleConfig) (ScalePoint, error) {
	var p ScalePoint
	start := time.Now()
	// A sealed token pair is about 200 bytes; these are never opened, but
	// sealed with the scenario's keyset, which each start checks them
	// against (seal.Sealer.HasKeyFor).
	tokens, err := c.sealer.Seal(make([]byte, 160), []byte("loadtest/scale"))
	if err != nil {
		return p, err
	}
	if err := insertConnections(ctx, conn, at, due, notDue, tokens); err != nil {
		return p, err
	}
	p.InsertSecs = roundSeconds(time.Since(start))
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM connections").Scan(&p.Connections); err != nil {
		return p, err
	}
	p.Due, p.NotDue = cfg.Due, p.Connections-cfg.Due

	q := dueQueryAt(at)
	sqlText, args := dueSQL(q)
	var viaSQL int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+sqlText+") d", args...).Scan(&viaSQL); err != nil {
		return p, err
	}
	var dueTimes, intTimes, passTimes []time.Duration
	refresher := &hmrc.Refresher{Client: c.client}
	for range cfg.Repeat {
		t := time.Now()
		found, err := c.store.DueConnections(ctx, q)
		if err != nil {
			return p, err
		}
		dueTimes = append(dueTimes, time.Since(t))
		p.Returned = len(found)

		t = time.Now()
		if _, err := c.store.InterruptedRefreshes(ctx, at, 500); err != nil {
			return p, err
		}
		intTimes = append(intTimes, time.Since(t))

		t = time.Now()
		if n, err := refresher.Pass(ctx); err != nil || n != 0 {
			return p, fmt.Errorf("refresher pass now took %d connections (want none): %v", n, err)
		}
		passTimes = append(passTimes, time.Since(t))
	}
	if viaSQL != p.Returned {
		return p, fmt.Errorf("the EXPLAINed due query finds %d connections, the store %d: dueSQL no longer matches postgres/connection.go", viaSQL, p.Returned)
	}
	p.DueQuery, p.Interrupted, p.Pass = summarise(dueTimes), summarise(intTimes), summarise(passTimes)

	d, err := c.startInstance(ctx, 0)
	if err != nil {
		return p, err
	}
	p.StartupSeconds = float64(d.Round(time.Millisecond)) / float64(time.Second)
	sleepCtx(ctx, cfg.Rest)
	inst := c.instance(0)
	if p.RSSBytes, err = inst.rss(); err != nil {
		return p, err
	}
	inst.stop(15 * time.Second)
	return p, nil
}

// insertConnections adds due connections (expiring 1 to 9 minutes after
// at, used an hour before) and notDue others, with their users: 2 in 5
// connected and in use but expiring later (10 minutes to 4 hours after
// at), 2 in 5 connected but idle (expired days ago, never refreshed since:
// idle connections are not refreshed), 1 in 5 needing reconnection.
func insertConnections(ctx context.Context, conn *pgx.Conn, at time.Time, due, notDue int, sealed []byte) error {
	tokens := `decode('` + hex.EncodeToString(sealed) + `', 'hex')`
	var first int64
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM users").Scan(&first); err != nil {
		return err
	}
	steps := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (email, created_at)
			SELECT 'scale-' || ($1::bigint + i) || '@loadtest.invalid', $2 FROM generate_series(1, $3::bigint) AS i`,
			[]any{first, at, due + notDue}},
		{`INSERT INTO connections (user_id, purpose, status, reason, scopes, tokens, access_expires_at, granted_at,
				environment, client_id, last_refresh_at, last_used_at, refresh_lease_owner, refresh_failures, last_error,
				version, created_at, updated_at)
			SELECT u.id, 'itsa', 'connected', '', 'read:self-assessment write:self-assessment', ` + tokens + `,
				$2::timestamptz + (60 + u.id % 480) * interval '1 second', $2::timestamptz - interval '30 days',
				'simulator', 'scale', $2::timestamptz - interval '4 hours', $2::timestamptz - interval '1 hour', '', 0, '',
				nextval('connection_version'), $2, $2
			FROM users u WHERE u.id > $1::bigint AND u.id <= $1::bigint + $3::bigint`,
			[]any{first, at, due}},
		{`INSERT INTO connections (user_id, purpose, status, reason, scopes, tokens, access_expires_at, granted_at,
				environment, client_id, last_refresh_at, last_used_at, refresh_lease_owner, refresh_failures, last_error,
				version, created_at, updated_at)
			SELECT u.id, 'itsa',
				CASE WHEN u.id % 5 = 4 THEN 'needs_reconnect' ELSE 'connected' END,
				CASE WHEN u.id % 5 = 4 THEN 'authority removed at HMRC' ELSE '' END,
				'read:self-assessment write:self-assessment',
				CASE WHEN u.id % 5 = 4 THEN NULL ELSE ` + tokens + ` END,
				CASE WHEN u.id % 5 < 2 THEN $2::timestamptz + interval '10 minutes' + (u.id % 13800) * interval '1 second'
					ELSE $2::timestamptz - (1 + u.id % 365) * interval '1 day' END,
				$2::timestamptz - interval '30 days', 'simulator', 'scale', $2::timestamptz - interval '4 hours',
				CASE WHEN u.id % 5 < 2 THEN $2::timestamptz - interval '1 hour'
					ELSE $2::timestamptz - (1 + u.id % 365) * interval '1 day' END,
				'', 0, '', nextval('connection_version'), $2, $2
			FROM users u WHERE u.id > $1::bigint + $3::bigint`,
			[]any{first, at, due}},
		{`ANALYZE users`, nil},
		{`ANALYZE connections`, nil},
	}
	for _, s := range steps {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("insert connections: %w", err)
		}
	}
	return nil
}
