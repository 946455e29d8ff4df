package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// The sandbox application of these tests: registered at the simulator
// (standing in for HMRC's sandbox, through the URL overrides) and stored
// with the app commands.
const (
	appClientID = "Ip0lBXBsUUdxkFRVm6Wq7SAqn5ka"
	appSecret1  = "3d9f7fe9-0cf2-4f83-a9b1-5c1e7d2a0001"
	appSecret2  = "8c41e2a0-77d3-4b5e-9f10-aa62c3b90002"
)

// newSandboxCLIEnv is a data directory set up for HMRC's sandbox with no
// client ID or secret in the environment.
func newSandboxCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	e := newSimCLIEnv(t, "sandbox", hmrcsim.Application{ClientID: appClientID, ClientSecret: appSecret1})
	e.sim.AddTestUser(hmrcsim.TestUser{UserID: simUserID, Password: simUserPassword, NINO: simUserNINO})
	e.run(t, nil, "users", "add", "--email", testEmail, "--password", testPassword)
	return e
}

func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *cliEnv) dbFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db") + suffix); err == nil {
			files["mtdconnect.db"+suffix] = b
		}
	}
	return files
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func TestAppSetShowRotate(t *testing.T) {
	e := newSandboxCLIEnv(t)

	// No credentials either way: a clear start-up error naming both ways.
	msg := e.fail(t, "", "status", "--user", testEmail)
	mustContain(t, "start-up error", msg, "HMRC sandbox has no application credentials",
		"mtdconnect app set --env sandbox --client-id ID --client-secret-file FILE", "MTDCONNECT_CLIENT_ID and MTDCONNECT_CLIENT_SECRET")

	out := e.run(t, nil, "app", "set", "--env", "sandbox", "--client-id", appClientID,
		"--client-secret-file", writeSecret(t, appSecret1), "--redirect-uri", hmrc.OOBRedirectURI)
	mustContain(t, "app set", out, "Stored the sandbox application "+appClientID, "…0001 is sealed and will not be shown again",
		"mtdconnect app confirm --env sandbox", "(in use)")

	show := e.run(t, nil, "app", "show")
	mustContain(t, "app show", show, "sandbox application", "client ID:      "+appClientID, "…0001", hmrc.OOBRedirectURI,
		"not yet allowed", "production: no application stored", "by the command line")
	for name, b := range e.dbFiles(t) {
		if bytes.Contains(b, []byte(appSecret1)) {
			t.Fatalf("the client secret is in clear in %s", name)
		}
	}
	if strings.Contains(out+show, appSecret1) {
		t.Fatal("the client secret was printed")
	}

	// The consent gate, then the consent from the command line.
	msg = e.fail(t, "", "connect", "--user", testEmail, "--manual")
	mustContain(t, "connect before consent", msg, "an administrator must first allow", "mtdconnect app confirm --env sandbox")
	out = e.run(t, nil, "app", "confirm", "--env", "sandbox")
	mustContain(t, "app confirm", out, "may call HMRC's external web services in sandbox: allowed by the command line on")
	again := e.run(t, nil, "app", "confirm", "--env", "sandbox")
	if again != out {
		t.Fatalf("a second confirmation changed who and when:\n%s\n%s", out, again)
	}
	e.connectManually(t)

	// Rotation: HMRC now accepts only the new secret (the simulator holds
	// one per application).
	e.sim.AddApplication(hmrcsim.Application{ClientID: appClientID, ClientSecret: appSecret2, RedirectURIs: []string{hmrc.OOBRedirectURI}})
	mustContain(t, "refresh with the old secret", e.fail(t, "", "refresh", "--user", testEmail), "credentials refused")
	out = e.run(t, strings.NewReader(appSecret2+"\n"), "app", "rotate-secret", "--env", "sandbox", "--client-secret-stdin")
	mustContain(t, "app rotate-secret", out, "Added the client secret …0002", "mtdconnect app remove-secret --env sandbox --last4 0001")
	mustContain(t, "refresh after rotation", e.run(t, nil, "refresh", "--user", testEmail), "Refreshed.")

	out = e.run(t, nil, "app", "remove-secret", "--env", "sandbox", "--last4", "0001")
	mustContain(t, "app remove-secret", out, "Removed the client secret 0001")
	if strings.Contains(out, "…0001") {
		t.Fatalf("the removed secret is still listed:\n%s", out)
	}
	mustContain(t, "refresh after removal", e.run(t, nil, "refresh", "--user", testEmail), "Refreshed.")
	mustContain(t, "status", e.run(t, nil, "status", "--user", testEmail), "Connected")
	for name, b := range e.dbFiles(t) {
		for _, s := range []string{appSecret1, appSecret2} {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("a client secret is in clear in %s", name)
			}
		}
	}

	// Environment variables override the stored application.
	e.vars["MTDCONNECT_CLIENT_ID"] = appClientID
	e.vars["MTDCONNECT_CLIENT_SECRET"] = appSecret1 // the deleted one
	mustContain(t, "refresh with the overriding secret", e.fail(t, "", "refresh", "--user", testEmail), "credentials refused")
	mustContain(t, "app show with the override", e.run(t, nil, "app", "show", "--env", "sandbox"), "MTDCONNECT_CLIENT_ID is set here and overrides")
	delete(e.vars, "MTDCONNECT_CLIENT_SECRET")
	mustContain(t, "half an override", e.fail(t, "", "status", "--user", testEmail), "MTDCONNECT_CLIENT_ID is set without MTDCONNECT_CLIENT_SECRET")
}

// Bad input to the app commands is refused with a clear error and
// changes nothing.
func TestAppCommandsRefuseBadInput(t *testing.T) {
	e := newSandboxCLIEnv(t)
	e.run(t, nil, "app", "set", "--env", "sandbox", "--client-id", appClientID, "--client-secret-file", writeSecret(t, appSecret1))
	before := e.run(t, nil, "app", "show")
	good := writeSecret(t, appSecret2)
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"NoEnv", "", []string{"app", "set", "--client-id", "X", "--client-secret-file", good}, "--env sandbox|production is required"},
		{"UnknownEnv", "", []string{"app", "set", "--env", "staging", "--client-id", "X", "--client-secret-file", good}, "sandbox or production"},
		{"SimulatorEnv", "", []string{"app", "rotate-secret", "--env", "simulator", "--client-secret-file", good}, "built-in demo application"},
		{"NoClientID", "", []string{"app", "set", "--env", "sandbox", "--client-secret-file", good}, "--client-id is required"},
		{"SecretOnCommandLine", "", []string{"app", "set", "--env", "sandbox", "--client-id", "X", "--client-secret", appSecret2}, "visible to other users"},
		{"FileAndStdin", appSecret2, []string{"app", "rotate-secret", "--env", "sandbox", "--client-secret-file", good, "--client-secret-stdin"}, "not both"},
		{"MissingFile", "", []string{"app", "rotate-secret", "--env", "sandbox", "--client-secret-file", filepath.Join(t.TempDir(), "nope")}, "client secret file"},
		{"EmptyStdin", "\n", []string{"app", "rotate-secret", "--env", "sandbox", "--client-secret-stdin"}, "is empty"},
		{"ShortSecret", "abc123", []string{"app", "rotate-secret", "--env", "sandbox", "--client-secret-stdin"}, "too short"},
		{"SameSecretAgain", "", []string{"app", "rotate-secret", "--env", "sandbox", "--client-secret-file", writeSecret(t, appSecret1)}, "already stored (…0001)"},
		{"RotateWithoutSecret", "", []string{"app", "rotate-secret", "--env", "sandbox"}, "--client-secret-file FILE or --client-secret-stdin"},
		{"NewClientIDWithoutSecret", "", []string{"app", "set", "--env", "sandbox", "--client-id", "AnotherClientId"}, "needs its client secret"},
		{"BadRedirect", "", []string{"app", "set", "--env", "sandbox", "--client-id", appClientID, "--redirect-uri", "http://mtd.example.co.uk/cb"}, "plain http"},
		{"RemoveWhich", "", []string{"app", "remove-secret", "--env", "sandbox"}, "--last4 XXXX or --id ID"},
		{"RemoveBoth", "", []string{"app", "remove-secret", "--env", "sandbox", "--last4", "0001", "--id", "x"}, "--last4 XXXX or --id ID"},
		{"RemoveOnly", "", []string{"app", "remove-secret", "--env", "sandbox", "--last4", "0001"}, "only client secret cannot be removed"},
		{"RemoveUnknown", "", []string{"app", "remove-secret", "--env", "sandbox", "--last4", "9999"}, "no client secret ending in"},
		{"RotateMissingApp", "", []string{"app", "rotate-secret", "--env", "production", "--client-secret-file", good}, "no HMRC application is stored"},
		{"StrayArgument", "", []string{"app", "show", "sandbox"}, `unexpected argument "sandbox"`},
		{"UnknownSubcommand", "", []string{"app", "delete"}, `unknown command "app delete"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.fail(t, tt.stdin, tt.args...)
			mustContain(t, "error", msg, tt.want)
			if after := e.run(t, nil, "app", "show"); after != before {
				t.Fatalf("refused input changed the applications:\n%s\n%s", before, after)
			}
		})
	}
}
