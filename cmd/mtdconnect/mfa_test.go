package main

import (
	"bytes"
	"encoding/base32"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

var (
	cliKeyRE = regexp.MustCompile(`(?m)^key: ([A-Z2-7 ]+)$`)
	cliURIRE = regexp.MustCompile(`(?m)^uri: (otpauth://\S+)$`)
)

// printedSecret reads the key a TOTP command printed and checks the URI
// printed with it names the same secret and the user.
func printedSecret(t *testing.T, out, email string) []byte {
	t.Helper()
	k, u := cliKeyRE.FindStringSubmatch(out), cliURIRE.FindStringSubmatch(out)
	if k == nil || u == nil {
		t.Fatalf("no key and URI in:\n%s", out)
	}
	key := strings.ReplaceAll(k[1], " ", "")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
	if err != nil || len(secret) != 20 {
		t.Fatalf("key %q: %v", k[1], err)
	}
	uri, err := url.Parse(u[1])
	if err != nil || uri.Query().Get("secret") != key || uri.Query().Get("issuer") != "mtdconnect" || uri.Path != "/mtdconnect:"+email {
		t.Errorf("uri %s (%v)", u[1], err)
	}
	return secret
}

// storedTOTP opens the data directory the way the service does and
// returns the user's row and its TOTP secret, opened (nil if none).
func (e *cliEnv) storedTOTP(t *testing.T, email string) (*mtdconnect.User, []byte) {
	t.Helper()
	dir := e.vars["MTDCONNECT_DATA_DIR"]
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "mtdconnect.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.TOTPSecret) == 0 {
		return u, nil
	}
	kh, err := seal.LoadKeysetFile(filepath.Join(dir, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := sealer.Open(u.TOTPSecret, seal.AD("user", strconv.FormatInt(u.ID, 10), "totp"))
	if err != nil {
		t.Fatalf("the stored secret does not open as user %d's: %v", u.ID, err)
	}
	return u, secret
}

func TestUsersTOTP(t *testing.T) {
	e := newCLIEnv(t)

	out := e.run(t, nil, "users", "totp", "--email", " JO@example.com ")
	secret := printedSecret(t, out, testEmail)
	u, stored := e.storedTOTP(t, testEmail)
	if !bytes.Equal(stored, secret) || u.TOTPLastStep != 0 {
		t.Fatalf("stored secret %x (last step %d), printed %x", stored, u.TOTPLastStep, secret)
	}
	db, err := os.ReadFile(filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db"))
	if err != nil {
		t.Fatal(err)
	}
	if wal, err := os.ReadFile(filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db-wal")); err == nil {
		db = append(db, wal...)
	}
	if bytes.Contains(db, secret) {
		t.Error("the SQLite file holds the secret in clear")
	}

	// Bad requests change nothing.
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"already has one", []string{"users", "totp", "--email", testEmail}, "already has an authenticator app; nothing was changed"},
		{"no email", []string{"users", "totp"}, "--email is required"},
		{"unknown user", []string{"users", "totp", "--email", "nobody@example.com"}, "no user with email nobody@example.com"},
		{"stray argument", []string{"users", "totp", "--email", testEmail, "remove"}, `unexpected argument "remove"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := e.exec(t, nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
			if strings.Contains(out, "key:") {
				t.Errorf("a key was printed:\n%s", out)
			}
			if after, s := e.storedTOTP(t, testEmail); !bytes.Equal(s, secret) || !bytes.Equal(after.TOTPSecret, u.TOTPSecret) {
				t.Error("the authenticator app changed")
			}
		})
	}

	out = e.run(t, nil, "users", "totp", "--email", testEmail, "--remove")
	if !strings.Contains(out, "removed the authenticator app of "+testEmail) {
		t.Errorf("remove printed %q", out)
	}
	if u, s := e.storedTOTP(t, testEmail); s != nil || u.TOTPLastStep != 0 {
		t.Errorf("after removal: secret %x, last step %d", s, u.TOTPLastStep)
	}
	if _, _, err := e.exec(t, nil, "users", "totp", "--email", testEmail, "--remove"); err == nil || !strings.Contains(err.Error(), "has no authenticator app") {
		t.Errorf("second removal: %v", err)
	}

	// A new app has a new secret.
	again := printedSecret(t, e.run(t, nil, "users", "totp", "--email", testEmail), testEmail)
	if bytes.Equal(again, secret) {
		t.Error("the new app has the old secret")
	}
}

func TestUsersAddTOTP(t *testing.T) {
	e := newCLIEnv(t)
	const email = "second@example.com"
	out := e.run(t, nil, "users", "add", "--email", email, "--password", "a long password", "--totp")
	if !strings.Contains(out, "added user 2: "+email) {
		t.Errorf("output %q", out)
	}
	secret := printedSecret(t, out, email)
	if _, stored := e.storedTOTP(t, email); !bytes.Equal(stored, secret) {
		t.Errorf("stored %x, printed %x", stored, secret)
	}
	// Without --totp, no app.
	if _, stored := e.storedTOTP(t, testEmail); stored != nil {
		t.Error("users add without --totp added an app")
	}
}
