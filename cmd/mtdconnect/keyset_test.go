package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mtdconnect/mtdconnect/seal"
)

// TestKeysetNeverSilentlyReplaced: with the keyset moved away, a start on
// a database holding sealed data (a connection's tokens) refuses, naming
// the file and what to do, and generates nothing; a wrong keyset in its
// place is refused too; the right one back, everything works. Only a
// database with nothing sealed gets a generated keyset. On SQLite and
// PostgreSQL.
func TestKeysetNeverSilentlyReplaced(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dbURL := ""
			if backend == "postgres" {
				dbURL = testPostgresURL(t)
			}
			e := newCLIEnvOn(t, dbURL)
			dir := e.vars["MTDCONNECT_DATA_DIR"]
			keysetFile := filepath.Join(dir, "keyset.json")
			// Users alone seal nothing: the first start generated the keyset,
			// and a lost one is generated again while nothing is sealed.
			if err := os.Remove(keysetFile); err != nil {
				t.Fatal(err)
			}
			e.run(t, nil, "users", "set", "--email", testEmail, "--vrn", simUserVRN)
			if _, err := os.Stat(keysetFile); err != nil {
				t.Fatalf("no keyset generated for a database with nothing sealed: %v", err)
			}

			e.connectManually(t)
			mustContain(t, "status", e.run(t, nil, "status", "--user", testEmail), "Connected")

			aside := filepath.Join(t.TempDir(), "keyset.json")
			if err := os.Rename(keysetFile, aside); err != nil {
				t.Fatal(err)
			}
			msg := e.fail(t, "", "status", "--user", testEmail)
			mustContain(t, "missing keyset", msg, keysetFile, "is missing", "Restore", "new database", "No new keyset was generated")
			if _, err := os.Stat(keysetFile); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a keyset was generated in place of the missing one: %v", err)
			}

			// Another keyset in its place: refused, nothing sealed with it.
			other, err := seal.NewKeyset()
			if err != nil {
				t.Fatal(err)
			}
			if err := seal.WriteKeysetFile(keysetFile, other); err != nil {
				t.Fatal(err)
			}
			msg = e.fail(t, "", "status", "--user", testEmail)
			mustContain(t, "wrong keyset", msg, keysetFile, "cannot open the data sealed", "Restore the keyset")

			if err := os.Rename(aside, keysetFile); err != nil {
				t.Fatal(err)
			}
			mustContain(t, "status with the keyset back", e.run(t, nil, "status", "--user", testEmail), "Connected")
		})
	}
}
