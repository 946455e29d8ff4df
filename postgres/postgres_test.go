package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/postgres"
)

const dsnEnv = "MTDCONNECT_TEST_POSTGRES_DSN"

// baseDSN is the test database, or a skip when there is none.
func baseDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", dsnEnv)
	}
	return dsn
}

// freshSchema creates an empty schema t_<random>, drops it when the test
// ends, and returns a DSN whose search_path is that schema.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	base := baseDSN(tb)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect %s: %v", dsnEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(tb, base, schema)
}

// withSearchPath adds search_path to a URL or keyword/value DSN.
func withSearchPath(tb testing.TB, dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("parse %s: %v", dsnEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// mustOpen opens a Store on dsn and closes it when the test ends.
func mustOpen(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newStore is a Store on a fresh schema of its own.
func newStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	return mustOpen(tb, freshSchema(tb))
}

func mustCreateUser(tb testing.TB, s mtdconnect.Store, email string) *mtdconnect.User {
	tb.Helper()
	u := &mtdconnect.User{Email: email, PasswordHash: "x"}
	if err := s.CreateUser(context.Background(), u); err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	return u
}

func TestConcurrentOpen(t *testing.T) {
	dsn := freshSchema(t)
	const n = 5
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				errs[i] = err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
	// Each migration was recorded once, and opening again is a no-op.
	s := mustOpen(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var applied, distinct int
	err = conn.QueryRow(t.Context(),
		`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Errorf("goose_db_version: %d rows for %d versions, want one row per version", applied, distinct)
	}
	mustCreateUser(t, s, "a@example.com")
}

func TestRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	u := mustCreateUser(t, s, "landlord@example.com")
	now := time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.FixedZone("BST", 3600))
	c := &mtdconnect.Connection{
		UserID: u.ID, Purpose: mtdconnect.PurposeVAT, Status: mtdconnect.StatusConnected,
		Scopes: "read:vat write:vat", Tokens: []byte{1, 2, 3},
		AccessExpiresAt: now.Add(4 * time.Hour), GrantedAt: now, Environment: "simulator", ClientID: "cid",
		RefreshFailures: 2, LastError: "boom", CreatedAt: now, UpdatedAt: now,
	}
	if err := s.SaveConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Connection(ctx, u.ID, mtdconnect.PurposeVAT)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	for _, p := range []*time.Time{&want.AccessExpiresAt, &want.GrantedAt, &want.CreatedAt, &want.UpdatedAt} {
		*p = p.UTC().Truncate(time.Millisecond)
	}
	if got.Version == 0 || got.Version != want.Version {
		t.Errorf("Version = %d, SaveConnection set %d", got.Version, want.Version)
	}
	if !got.AccessExpiresAt.Equal(want.AccessExpiresAt) || got.AccessExpiresAt != want.AccessExpiresAt {
		t.Errorf("AccessExpiresAt = %v, want %v", got.AccessExpiresAt, want.AccessExpiresAt)
	}
	if !got.LastUsedAt.IsZero() || !got.RefreshLeaseUntil.IsZero() || !got.LastRefreshAt.IsZero() {
		t.Errorf("zero times came back as %v %v %v", got.LastUsedAt, got.RefreshLeaseUntil, got.LastRefreshAt)
	}
	if string(got.Tokens) != string(want.Tokens) || got.Scopes != want.Scopes || got.RefreshFailures != 2 {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestUpdateConnectionCAS(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	u := mustCreateUser(t, s, "cas@example.com")
	c := &mtdconnect.Connection{UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Status: mtdconnect.StatusConnected}
	if err := s.SaveConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	stale := *c
	c.LastError = "first"
	if err := s.UpdateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.Version <= stale.Version {
		t.Errorf("Version = %d after update, want more than %d", c.Version, stale.Version)
	}
	if err := s.UpdateConnection(ctx, &stale); !errors.Is(err, mtdconnect.ErrConflict) {
		t.Errorf("stale UpdateConnection = %v, want ErrConflict", err)
	}
	if err := s.DeleteConnection(ctx, u.ID, c.Purpose); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateConnection(ctx, c); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Errorf("UpdateConnection of deleted = %v, want ErrNotFound", err)
	}
	// Re-created after delete: a copy of the old grant must still lose.
	fresh := &mtdconnect.Connection{UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Status: mtdconnect.StatusConnected}
	if err := s.SaveConnection(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	for _, old := range []mtdconnect.Connection{stale, *c} {
		if err := s.UpdateConnection(ctx, &old); !errors.Is(err, mtdconnect.ErrConflict) {
			t.Errorf("UpdateConnection with version %d of the deleted grant = %v, want ErrConflict", old.Version, err)
		}
	}
}

// TestReserveSlotShared checks the limiter across two Stores (two instances):
// concurrent callers get distinct slots spaced interval apart, and a
// refusal books nothing.
func TestReserveSlotShared(t *testing.T) {
	dsn := freshSchema(t)
	a, b := mustOpen(t, dsn), mustOpen(t, dsn)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n, interval = 30, 100 * time.Millisecond
	var (
		mu    sync.Mutex
		slots = map[time.Time]bool{}
		wg    sync.WaitGroup
	)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			at, ok, err := s.ReserveSlot(t.Context(), "hmrc", interval, time.Hour, now)
			if err != nil || !ok {
				t.Errorf("ReserveSlot = %v, %v, %v", at, ok, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if slots[at] {
				t.Errorf("slot %v given twice", at)
			}
			slots[at] = true
		})
	}
	wg.Wait()
	for i := range n {
		if at := now.Add(time.Duration(i) * interval); !slots[at] {
			t.Errorf("slot %v not given", at)
		}
	}
	// The next slot is now+3s: refused with maxWait 1s, and nothing booked.
	at, ok, err := a.ReserveSlot(t.Context(), "hmrc", interval, time.Second, now)
	if err != nil || ok || !at.Equal(now.Add(n*interval)) {
		t.Errorf("ReserveSlot beyond maxWait = %v, %v, %v; want %v, false, nil", at, ok, err, now.Add(n*interval))
	}
	at, ok, err = b.ReserveSlot(t.Context(), "hmrc", interval, time.Hour, now)
	if err != nil || !ok || !at.Equal(now.Add(n*interval)) {
		t.Errorf("ReserveSlot after refusal = %v, %v, %v; want %v, true, nil", at, ok, err, now.Add(n*interval))
	}
	// A 429 pushes every instance back.
	until := now.Add(time.Minute)
	if err := a.DelaySlots(t.Context(), "hmrc", until); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := b.ReserveSlot(t.Context(), "hmrc", interval, time.Hour, now); err != nil || !ok || !at.Equal(until) {
		t.Errorf("ReserveSlot after DelaySlots = %v, %v, %v; want %v", at, ok, err, until)
	}
	// DelaySlots never pulls the slot earlier.
	if err := a.DelaySlots(t.Context(), "hmrc", now); err != nil {
		t.Fatal(err)
	}
	if at, _, _ := b.ReserveSlot(t.Context(), "hmrc", interval, time.Hour, now); !at.Equal(until.Add(interval)) {
		t.Errorf("ReserveSlot after earlier DelaySlots = %v, want %v", at, until.Add(interval))
	}
}

func TestDeletePendingAuthorizationOnce(t *testing.T) {
	dsn := freshSchema(t)
	a, b := mustOpen(t, dsn), mustOpen(t, dsn)
	u := mustCreateUser(t, a, "pending@example.com")
	now := time.Now()
	p := &mtdconnect.PendingAuthorization{State: "st", UserID: u.ID, Purpose: mtdconnect.PurposeVAT,
		Verifier: []byte("v"), RedirectURI: "http://localhost/cb", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := a.CreatePendingAuthorization(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range 10 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			err := s.DeletePendingAuthorization(t.Context(), "st")
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, mtdconnect.ErrNotFound):
				t.Errorf("DeletePendingAuthorization = %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d callers consumed the pending authorisation, want 1", wins)
	}
}

func TestUniqueViolationIsConflict(t *testing.T) {
	s := newStore(t)
	mustCreateUser(t, s, "dup@example.com")
	err := s.CreateUser(t.Context(), &mtdconnect.User{Email: "dup@example.com"})
	if !errors.Is(err, mtdconnect.ErrConflict) {
		t.Errorf("CreateUser duplicate = %v, want ErrConflict", err)
	}
	k := &mtdconnect.APIKey{Name: "a", Hash: []byte("h")}
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPIKey(t.Context(), &mtdconnect.APIKey{Name: "b", Hash: []byte("h")}); !errors.Is(err, mtdconnect.ErrConflict) {
		t.Errorf("CreateAPIKey duplicate = %v, want ErrConflict", err)
	}
}

func TestAuditAppendOnly(t *testing.T) {
	dsn := freshSchema(t)
	s := mustOpen(t, dsn)
	if err := s.AppendAudit(t.Context(), &mtdconnect.AuditEvent{UserID: 1, Kind: mtdconnect.AuditConnected}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, q := range []string{`UPDATE audit_events SET detail = 'x'`, `DELETE FROM audit_events`} {
		if _, err := conn.Exec(t.Context(), q); err == nil {
			t.Errorf("%s succeeded, want append-only error", q)
		}
	}
}
