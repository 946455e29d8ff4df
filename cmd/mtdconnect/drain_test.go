package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

// drainEnv is a landlord connected at the test's simulator, an API key,
// and the connection as the store holds it.
type drainEnv struct {
	*cliEnv
	userID int64
	apiKey string
	store  *sqlite.Store // the database serve uses, opened by the test too
}

func newDrainEnv(t *testing.T) *drainEnv {
	t.Helper()
	e := &drainEnv{cliEnv: newCLIEnv(t)}
	e.connectManually(t)
	e.apiKey = strings.TrimSpace(e.run(t, nil, "apikey", "create", "--name", "drain test", "--scopes", "connections:write"))
	var st StatusJSON
	if err := json.Unmarshal([]byte(e.run(t, nil, "status", "--user", testEmail, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	e.userID = st.UserID
	var err error
	e.store, err = sqlite.Open(t.Context(), filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	e.vars["MTDCONNECT_ADDR"] = freeAddr(t)
	return e
}

func (e *drainEnv) conn(t *testing.T) *mtdconnect.Connection {
	t.Helper()
	c, err := e.store.Connection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitLeased waits until a refresh of the connection holds its lease:
// HMRC has the request, or is about to.
func (e *drainEnv) waitLeased(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); e.conn(t).RefreshLeaseOwner == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no refresh took the lease within 20s")
		}
	}
}

type apiAnswer struct {
	status int
	body   string
	err    error
}

// refreshViaAPI asks serve, through the platform's API, to refresh the
// landlord's token now.
func (e *drainEnv) refreshViaAPI(base string) apiAnswer {
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/users/id:%d/hmrc/refresh", base, e.userID), nil)
	req.Header.Set("Authorization", "Bearer "+e.apiKey)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return apiAnswer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiAnswer{status: resp.StatusCode, body: string(b)}
}

// A planned stop is not a crash: SIGTERM while a refresh is at HMRC lets
// the refresh finish and be saved, answers the request that asked for it,
// says "draining" on /readyz meanwhile, and exits 0. The connection stays
// connected, with the refresh token HMRC holds.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	e := newDrainEnv(t)
	e.vars["MTDCONNECT_SHUTDOWN_DELAY"] = "2s" // for the load balancer to see /readyz
	before := e.conn(t)
	srv := e.startChild(t, "serve")
	if status, body := srv.get("/readyz"); status != http.StatusOK || body != "ok" {
		t.Fatalf("/readyz before the stop: %d %q, want 200 ok", status, body)
	}

	// HMRC takes 3 s to answer: the stop arrives while it holds the
	// refresh, which it applies whatever happens to the caller.
	e.sim.SetFaults(hmrcsim.Faults{Latency: 3 * time.Second})
	answer := make(chan apiAnswer, 1)
	go func() { answer <- e.refreshViaAPI(srv.url) }()
	e.waitLeased(t)
	srv.signal(syscall.SIGTERM)
	// The signal is handled in its own time: /readyz must turn to 503
	// before the listener closes.
	var readyStatus int
	var readyBody string
	for readyStatus, readyBody = srv.get("/readyz"); readyStatus == http.StatusOK; readyStatus, readyBody = srv.get("/readyz") {
		time.Sleep(10 * time.Millisecond)
	}

	exit := srv.wait(2 * time.Minute)
	got := <-answer
	after := e.conn(t)
	if after.RefreshLeaseOwner != "" {
		t.Fatalf("serve exited with the refresh lease still held (%s): the refresh HMRC applied was abandoned, "+
			"and the landlord will be told \"refresh interrupted\"", after.RefreshLeaseOwner)
	}
	if after.Status != mtdconnect.StatusConnected || !after.LastRefreshAt.After(before.LastRefreshAt) {
		t.Fatalf("after the stop: status %s, last refresh %v (before %v); want connected with the refresh saved",
			after.Status, after.LastRefreshAt, before.LastRefreshAt)
	}
	if got.err != nil || got.status != http.StatusOK {
		t.Errorf("the refresh request in flight at SIGTERM: %d %q %v, want 200", got.status, got.body, got.err)
	}
	if exit != nil {
		t.Errorf("serve exited with %v, want 0", exit)
	}
	if readyStatus != http.StatusServiceUnavailable || !strings.Contains(readyBody, "draining") {
		t.Errorf("/readyz during the stop: %d %q, want 503 draining", readyStatus, readyBody)
	}
	for _, want := range []string{"draining", "stopped"} {
		if !strings.Contains(srv.logs.String(), want) {
			t.Errorf("serve's log does not say %q:\n%s", want, srv.logs)
		}
	}

	// The stored refresh token is the one HMRC holds.
	e.sim.SetFaults(hmrcsim.Faults{})
	if out := e.run(t, nil, "refresh", "--user", testEmail); !strings.Contains(out, "Refreshed.") {
		t.Fatalf("refresh after the stop: %q", out)
	}
	if st := e.sim.Stats(); st.Refreshes != 2 || st.RefreshReuses != 0 {
		t.Errorf("simulator saw refreshes=%d reuses=%d, want 2, 0", st.Refreshes, st.RefreshReuses)
	}
}

// The drain is bounded: a second signal, or the drain timeout, ends it
// while HMRC still holds the refresh, and the log says so. The refresh is
// then left as a crash leaves it, for the next instance to resolve.
func TestServeDrainCutShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	for _, tc := range []struct {
		name, timeout string
		signals       int
		log           string
	}{
		{"SecondSignal", "1m", 2, "second signal: stopping now"},
		{"DrainTimeout", "500ms", 1, "drain timeout reached (500ms)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDrainEnv(t)
			e.vars["MTDCONNECT_DRAIN_TIMEOUT"] = tc.timeout
			srv := e.startChild(t, "serve")
			e.sim.SetFaults(hmrcsim.Faults{Latency: 5 * time.Second})
			answer := make(chan apiAnswer, 1)
			go func() { answer <- e.refreshViaAPI(srv.url) }()
			e.waitLeased(t)
			for range tc.signals {
				srv.signal(syscall.SIGTERM)
				time.Sleep(100 * time.Millisecond)
			}
			if err := srv.wait(time.Minute); err != nil {
				t.Errorf("serve exited with %v", err)
			}
			if got := <-answer; got.err == nil {
				t.Errorf("the request cut short was answered: %d %q", got.status, got.body)
			}
			logs := srv.logs.String()
			for _, want := range []string{tc.log, "stopped before the drain finished"} {
				if !strings.Contains(logs, want) {
					t.Errorf("the log does not say %q:\n%s", want, logs)
				}
			}
			if e.conn(t).RefreshLeaseOwner == "" {
				t.Error("no lease left: the drain was not cut short")
			}
		})
	}
}
