package sqlite

import (
	"database/sql"
	"io/fs"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/mtdconnect/mtdconnect"
)

// TestUpgradeKeepsUsersAndTheirRows upgrades a database written before
// platforms' landlords existed (schema 4) with a landlord and everything
// hanging off them: migration 11 rebuilds the users table, and must keep
// every row, every reference, and the cascades.
func TestUpgradeKeepsUsersAndTheirRows(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	db, err := sql.Open("sqlite", path+"?"+dsnParams)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, email, password_hash, nino, admin, created_at) VALUES (7, 'ada@example.com', 'h', 'AA123456A', 1, 1000)`,
		`INSERT INTO users (id, email, password_hash, created_at) VALUES (8, 'grace@example.com', 'h', 1000)`,
		`INSERT INTO sessions (token_hash, user_id, mfa_at, created_at, expires_at) VALUES (x'01', 7, 0, 1, 2)`,
		`INSERT INTO connections (user_id, purpose, status, reason, scopes, tokens, access_expires_at, granted_at, environment,
			client_id, last_refresh_at, last_used_at, refresh_lease_until, refresh_lease_owner, refresh_failures, last_error,
			version, created_at, updated_at) VALUES (7, 'itsa', 'connected', '', 's', x'00', 1, 1, 'sandbox', 'c', 0, 0, 0, '', 0, '', 1, 1, 1)`,
		`INSERT INTO submissions (user_id, purpose, kind, body, response, submitted_at) VALUES (7, 'vat', 'vat-return', x'7b7d', x'7b7d', 5)`,
		`INSERT INTO audit_events (user_id, purpose, kind, detail, at) VALUES (7, 'itsa', 'connected', '', 5)`,
		`INSERT INTO api_keys (name, hash, created_at) VALUES ('old', x'aa', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := mustOpen(t, path)
	u, err := s.UserByEmail(ctx, "ada@example.com")
	if err != nil || u.ID != 7 || u.NINO != "AA123456A" || !u.Admin || u.Ref != "" || u.Deleted() {
		t.Fatalf("user after upgrade: %+v, %v", u, err)
	}
	if _, err := s.SessionByHash(ctx, []byte{1}); err != nil {
		t.Errorf("session lost: %v", err)
	}
	if _, err := s.Connection(ctx, 7, mtdconnect.PurposeIncomeTax); err != nil {
		t.Errorf("connection lost: %v", err)
	}
	if subs, _ := s.Submissions(ctx, 7, mtdconnect.PurposeVAT, 5); len(subs) != 1 {
		t.Errorf("%d receipts after upgrade, want 1", len(subs))
	}
	k, err := s.APIKeyByHash(ctx, []byte{0xaa})
	if err != nil || mtdconnect.JoinScopes(k.Scopes) != mtdconnect.JoinScopes(mtdconnect.AllScopes) {
		t.Errorf("a key made before scopes existed: %+v, %v; want every scope", k, err)
	}
	// Migration 11 turns foreign keys off on its connection and back on:
	// every pooled connection (held at once, so each is a different one)
	// must have them on.
	var conns []*sql.Conn
	for range 4 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var on int
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on); err != nil || on != 1 {
			t.Errorf("a pooled connection has foreign_keys = %d (%v)", on, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	var problems int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&problems); err != nil || problems != 0 {
		t.Errorf("foreign key check: %d problems, %v", problems, err)
	}
	// The children still point at the rebuilt table: a sign-in email is
	// still unique, foreign keys are on again, and the cascade still runs.
	if err := s.CreateUser(ctx, &mtdconnect.User{Email: "ada@example.com", PasswordHash: "h"}); err == nil {
		t.Error("a second user signing in with a taken email was created")
	}
	if err := s.CreateSession(ctx, &mtdconnect.Session{TokenHash: []byte{9}, UserID: 404, CreatedAt: time.Unix(1, 0), ExpiresAt: time.Unix(2, 0)}); err == nil {
		t.Error("a session of no user was created: foreign keys are off")
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = 8`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByHash(ctx, []byte{1}); err == nil {
		t.Error("a session outlived its user: the cascade is gone")
	}
	// AUTOINCREMENT carries on above the IDs of the old table.
	n := &mtdconnect.User{Ref: "new"}
	if err := s.CreateUser(ctx, n); err != nil || n.ID <= 8 {
		t.Errorf("new user ID %d (%v), want above 8", n.ID, err)
	}
}
