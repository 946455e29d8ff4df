package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// statePath is where serve keeps its built-in simulator's state.
func (e *cliEnv) statePath() string {
	return filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], simulatorStateFile)
}

func (e *cliEnv) wantConnected(t *testing.T) {
	t.Helper()
	var st StatusJSON
	if err := json.Unmarshal([]byte(e.run(t, nil, "status", "--user", testEmail, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "connected" {
		t.Fatalf("status = %+v", st)
	}
}

// simstateVars: the commands' calls are batch ones, which need a licence.
var simstateVars = map[string]string{"MTDCONNECT_LICENCE_IDS": "mtdconnect=simstate-test-licence"}

// A landlord connected through the built-in simulator stays connected
// when `serve` restarts: the simulator still knows the stored tokens.
func TestServeKeepsSimulatorStateAcrossRestarts(t *testing.T) {
	e := newServeEnv(t, simstateVars)
	e.run(t, nil, "users", "add", "--email", testEmail, "--password", testPassword, "--nino", simUserNINO)

	stop := e.startInProcess(t).stop // no command: serve
	e.connectManually(t)
	e.wantConnected(t)
	stop()

	fi, err := os.Stat(e.statePath())
	if err != nil {
		t.Fatalf("no simulator state after shutdown: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(e.statePath()), ".*.tmp")); len(tmp) > 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}

	// Twice: the second restart needs the refresh made after the first to
	// have been saved, or its token would be reuse.
	for i := range 2 {
		p := e.startInProcess(t, "serve")
		logs, stop := p.logs, p.stop
		if !strings.Contains(logs.String(), "restored the HMRC simulator's state") {
			t.Errorf("restart %d: no restore in the logs:\n%s", i+1, logs)
		}
		if out := e.run(t, nil, "refresh", "--user", testEmail); !strings.Contains(out, "Refreshed.") {
			t.Fatalf("restart %d: refresh: %q", i+1, out)
		}
		e.wantConnected(t)
		if out := e.run(t, nil, "test", "--user", testEmail); !strings.Contains(out, "HMRC answered") {
			t.Errorf("restart %d: test: %q", i+1, out)
		}
		stop()
	}
}

// A state file that cannot be loaded does not stop `serve`: the simulator
// starts empty, the file is kept aside, and a fresh one is written.
func TestServeStartsWithUnreadableSimulatorState(t *testing.T) {
	for _, tc := range []struct{ name, content, log string }{
		{"Damaged", `{"version":1,"grants":[`, "not a snapshot"},
		{"NewerVersion", `{"version":2,"grants":{}}`, "state version 2 is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newServeEnv(t, simstateVars)
			if err := os.MkdirAll(filepath.Dir(e.statePath()), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.statePath(), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			p := e.startInProcess(t, "serve")
			logs, stop := p.logs, p.stop
			if s := logs.String(); !strings.Contains(s, "cannot load the HMRC simulator's state") || !strings.Contains(s, tc.log) {
				t.Errorf("logs do not explain the problem:\n%s", s)
			}
			stop()
			if b, err := os.ReadFile(e.statePath() + ".unreadable"); err != nil || string(b) != tc.content {
				t.Errorf("unreadable file not kept aside: %q %v", b, err)
			}
			b, err := os.ReadFile(e.statePath())
			if err != nil {
				t.Fatalf("no fresh state written: %v", err)
			}
			if err := hmrcsim.New(hmrcsim.Options{}).LoadState(bytes.NewReader(b)); err != nil {
				t.Errorf("the fresh state does not load: %v", err)
			}
		})
	}
}

// Saves write only when the state changed, atomically and 0600.
func TestSimulatorStateSavesChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", simulatorStateFile)
	sim := hmrcsim.New(hmrcsim.Options{})
	sim.AddApplication(hmrcsim.Application{ClientID: "c", ClientSecret: "s", RedirectURIs: []string{hmrc.OOBRedirectURI}})
	p := keepSimulatorState(t.Context(), sim, path, slog.New(slog.DiscardHandler))
	defer p.close()

	steps := []struct {
		name   string
		change func()
		wrote  bool
	}{
		{"First", func() {}, true},
		{"Unchanged", func() {}, false},
		{"NewUser", func() { sim.AddTestUser(hmrcsim.TestUser{UserID: "u", Password: "p"}) }, true},
		{"SameUserAgain", func() { sim.AddTestUser(hmrcsim.TestUser{UserID: "u", Password: "p"}) }, false},
	}
	for _, s := range steps {
		s.change()
		wrote, err := p.save()
		if err != nil || wrote != s.wrote {
			t.Fatalf("%s: wrote=%v err=%v, want wrote=%v", s.name, wrote, err, s.wrote)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the data directory holds %d entries, want only the state file", len(entries))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var snap struct {
		Version int `json:"version"`
		Users   []struct {
			UserID string `json:"userId"`
		} `json:"users"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&snap); err != nil || snap.Version != 1 || len(snap.Users) != 1 {
		t.Errorf("saved state: %+v %v", snap, err)
	}
}

// The last save waits for a request in flight: a token issued while
// `serve` shuts down is in the saved state.
func TestSimulatorStateLastSaveWaitsForRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), simulatorStateFile)
	sim := hmrcsim.New(hmrcsim.Options{RateLimit: -1})
	sim.AddApplication(hmrcsim.Application{ClientID: "c", ClientSecret: "s", RedirectURIs: []string{hmrc.OOBRedirectURI}})
	sim.SetFaults(hmrcsim.Faults{Latency: 300 * time.Millisecond}) // the token is issued after the pause
	p := keepSimulatorState(t.Context(), sim, path, slog.New(slog.DiscardHandler))
	entered := make(chan struct{})
	srv := httptest.NewServer(p.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		sim.Handler().ServeHTTP(w, r)
	})))
	defer srv.Close()

	answered := make(chan string, 1)
	go func() {
		resp, err := http.PostForm(srv.URL+"/oauth/token", url.Values{
			"client_id": {"c"}, "client_secret": {"s"}, "grant_type": {"client_credentials"}, "scope": {"hello"},
		})
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		answered <- body.AccessToken
	}()
	<-entered
	p.close()
	token := <-answered
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 64 || !strings.Contains(string(b), token) {
		t.Fatalf("the token issued during shutdown (%q) is not in the saved state:\n%s", token, b)
	}
}

// The simulator never keeps a client secret a configuration gave (it may
// be the sandbox's or production's): serve's built-in simulator, run with
// MTDCONNECT_CLIENT_ID and MTDCONNECT_CLIENT_SECRET set, checks the secret
// (a landlord connects, and stays connected after a restart) but its state
// file holds only a hash; `mtdconnect simulator` does not print it.
func TestSimulatorKeepsNoConfiguredSecret(t *testing.T) {
	const secret = "configured-sandbox-secret-8f2a"
	vars := map[string]string{"MTDCONNECT_CLIENT_ID": "configured-client", "MTDCONNECT_CLIENT_SECRET": secret}
	for k, v := range simstateVars {
		vars[k] = v
	}
	e := newServeEnv(t, vars)
	e.run(t, nil, "users", "add", "--email", testEmail, "--password", testPassword, "--nino", simUserNINO)
	p := e.startInProcess(t, "serve")
	e.connectManually(t)
	e.wantConnected(t)
	p.stop()
	b, err := os.ReadFile(e.statePath())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Errorf("the simulator's state file holds the configured client secret:\n%s", b)
	}
	if !strings.Contains(string(b), "clientSecretSha256") {
		t.Errorf("the simulator's state file holds no hash of the client secret:\n%s", b)
	}
	p = e.startInProcess(t, "serve")
	if out := e.run(t, nil, "refresh", "--user", testEmail); !strings.Contains(out, "Refreshed.") {
		t.Errorf("refresh after a restart: %q", out)
	}
	p.stop()
	if strings.Contains(p.logs.String(), secret) {
		t.Errorf("serve printed the configured client secret:\n%s", p.logs)
	}

	sim := (&cliEnv{vars: map[string]string{"MTDCONNECT_CLIENT_ID": "configured-client", "MTDCONNECT_CLIENT_SECRET": secret}}).
		startInProcess(t, "simulator", "--simulator-addr", "127.0.0.1:0")
	sim.stop()
	if out := sim.logs.String(); strings.Contains(out, secret) || !strings.Contains(out, "client secret: the configured one") {
		t.Errorf("mtdconnect simulator prints the configured secret, or does not say it is not shown:\n%s", out)
	}
	demo := startSimulatorStoppable(t)
	demo.stop()
	if out := demo.logs.String(); !strings.Contains(out, "client secret: "+simClientSecret) {
		t.Errorf("mtdconnect simulator does not print the demo application's secret:\n%s", out)
	}
}
