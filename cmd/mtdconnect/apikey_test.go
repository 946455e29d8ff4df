package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/sqlite"
	"github.com/mtdconnect/mtdconnect/web"
)

// The key commands: create needs a name and known scopes and prints the key
// once; list never shows a key; rotate prints a successor and leaves the
// old key working for its grace; revoke stops a key. What they store is
// what the API checks.
func TestAPIKeyCommands(t *testing.T) {
	e := newCLIEnv(t)
	for _, args := range [][]string{
		{"apikey", "create", "--scopes", "users"},
		{"apikey", "create", "--name", "x"},
		{"apikey", "create", "--name", "x", "--scopes", "users,admin"},
		{"apikey", "revoke"},
		{"apikey", "rotate", "--id", "99"},
	} {
		e.fail(t, "", args...)
	}
	if msg := e.fail(t, "", "apikey", "create", "--name", "x", "--scopes", "users,admin"); !strings.Contains(msg, `unknown scope "admin"`) || !strings.Contains(msg, "webhooks") {
		t.Errorf("an unknown scope: %s", msg)
	}

	out, errOut, err := e.exec(t, nil, "apikey", "create", "--name", "acme backend", "--scopes", "connect, users")
	if err != nil {
		t.Fatal(err, errOut)
	}
	key := strings.TrimSpace(out)
	if !regexp.MustCompile(`^mtdc_[A-Za-z0-9_-]{43}$`).MatchString(key) || !strings.Contains(errOut, "shown once") {
		t.Fatalf("create printed %q / %q", out, errOut)
	}
	store := openTestStore(t, e)
	k, err := store.APIKeyByHash(t.Context(), web.HashAPIKey(key))
	if err != nil || mtdconnect.JoinScopes(k.Scopes) != "connect users" || k.Name != "acme backend" {
		t.Fatalf("stored key %+v, %v", k, err)
	}

	list := e.run(t, nil, "apikey", "list")
	if strings.Contains(list, key) || !strings.Contains(list, "acme backend") || !strings.Contains(list, "connect,users") ||
		!strings.Contains(list, "never") || !strings.Contains(list, "active") {
		t.Errorf("list:\n%s", list)
	}

	out, errOut, err = e.exec(t, nil, "apikey", "rotate", "--id", "1")
	if err != nil {
		t.Fatal(err, errOut)
	}
	next := strings.TrimSpace(out)
	if next == key || !strings.HasPrefix(next, "mtdc_") || !strings.Contains(errOut, "keeps working until") {
		t.Fatalf("rotate printed %q / %q", out, errOut)
	}
	old, _ := store.APIKey(t.Context(), 1)
	if old.ExpiresAt.IsZero() {
		t.Error("the rotated key has no end to its grace period")
	}
	if msg := e.fail(t, "", "apikey", "rotate", "--id", "1"); !strings.Contains(msg, "rotated already") {
		t.Errorf("rotating twice: %s", msg)
	}
	list = e.run(t, nil, "apikey", "list")
	if !strings.Contains(list, "rotated: works until") || strings.Contains(list, next) {
		t.Errorf("list after rotate:\n%s", list)
	}

	e.run(t, nil, "apikey", "revoke", "--id", "2")
	if msg := e.fail(t, "", "apikey", "revoke", "--id", "2"); !strings.Contains(msg, "revoked already") {
		t.Errorf("revoking twice: %s", msg)
	}
	if k, _ := store.APIKey(t.Context(), 2); k.RevokedAt.IsZero() {
		t.Error("revoke stored nothing")
	}
}

// openTestStore opens the environment's SQLite database, as serve would.
func openTestStore(t *testing.T, e *cliEnv) mtdconnect.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
