package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/loadtest"
)

// shortOptions are the reliability scenarios shortened to a few seconds
// each, with real processes: the simulator and three instances.
func shortOptions(t *testing.T, databaseURL string) loadtest.Options {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return loadtest.Options{
		Command: []string{exe}, Env: []string{childEnv + "=1"},
		DatabaseURL: databaseURL, Instances: 3, WorkDir: t.TempDir(),
		TestUserID: simUserID, TestUserPassword: simUserPassword, TestUserNINO: simUserNINO,
		Progress: testLog{t},
		Races: loadtest.RacesConfig{
			Duration: 5 * time.Second, CallersPerInstance: 10, Connections: 40,
			AccessTokenLifetime: 3 * time.Second, RefreshMargin: time.Second,
		},
		// One SIGTERM per instance, each while it holds a refresh.
		Rolling: loadtest.RollingConfig{
			Restarts: 3, CallersPerInstance: 10, Connections: 40, Pause: 500 * time.Millisecond,
			AccessTokenLifetime: 3 * time.Second, RefreshMargin: time.Second,
		},
		Faults: loadtest.FaultsConfig{
			Duration: 5 * time.Second, Demand: 20, Connections: 20,
			AccessTokenLifetime: 3 * time.Second, RefreshMargin: time.Second,
			// A hang shorter than the service's request timeout: the
			// connection drops after it, as a reset would.
			Timeout: time.Second,
		},
		Quarterly: loadtest.QuarterlyConfig{Landlords: 6, Duration: 4 * time.Second, Workers: 3},
		// One SIGKILL mid-delivery; retries and leases short.
		Webhooks: loadtest.WebhooksConfig{Events: 300, Landlords: 10, Kills: 1, Writers: 4,
			Schedule: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond,
				500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond,
				500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond},
			Lease: 2 * time.Second, Settle: 30 * time.Second},
		Rate: loadtest.RateConfig{
			Duration: 4 * time.Second, Connections: 6,
			PriorityDuration: 4 * time.Second, BackgroundWorkers: 3,
			RefreshDuration: 4 * time.Second, RefreshConnections: 6,
			RefreshLifetime: 4 * time.Second, RefreshMargin: 3 * time.Second,
			// CI runs this beside the Chromium tests: no 429 on a loaded
			// machine either.
			BusyCPUs: 1,
		},
	}
}

// TestReliability runs the races, rolling, faults, rate, quarterly and
// webhooks scenarios shortened, on SQLite (three processes on one file) and, when
// MTDCONNECT_TEST_POSTGRES_DSN is set, on PostgreSQL (each scenario on a
// database of its own). It asserts the correctness bounds only: no
// refresh-token reuse, no "already in progress", no failed call under
// races; under rolling SIGTERM restarts no lease left, nothing interrupted,
// no connection lost, and only refusals by a stopping instance, each
// retried elsewhere with success (or, on a loaded machine, an immediate
// "HMRC busy" retried after a second with success); no connection lost and all healthy
// within 30s after faults; at most the limit per second and no 429 under
// excess demand; at most 1.1 HMRC requests per quarterly journey in steady
// state across the instances; no webhook event lost or invented, every
// signature valid, through SIGKILLs of the delivering instance. Speed is
// reported, not asserted.
func TestReliability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulator and three instances per scenario")
	}
	backends := []struct{ name, url string }{{"sqlite", ""}, {"postgres", os.Getenv("MTDCONNECT_TEST_POSTGRES_DSN")}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if b.name == "postgres" && b.url == "" {
				t.Skip("MTDCONNECT_TEST_POSTGRES_DSN is not set: the PostgreSQL variant is skipped")
			}
			for _, scenario := range []string{loadtest.ScenarioRaces, loadtest.ScenarioRolling, loadtest.ScenarioFaults, loadtest.ScenarioRate, loadtest.ScenarioQuarterly, loadtest.ScenarioWebhooks} {
				t.Run(scenario, func(t *testing.T) {
					rep, err := loadtest.Run(t.Context(), shortOptions(t, b.url), []string{scenario})
					if err != nil {
						t.Fatal(err)
					}
					var text bytes.Buffer
					if err := rep.WriteText(&text); err != nil {
						t.Fatal(err)
					}
					if _, err := json.Marshal(rep); err != nil {
						t.Fatal(err)
					}
					t.Log("\n" + text.String())
					for _, v := range rep.Violations() {
						t.Error(v)
					}
				})
			}
		})
	}
}

// TestLoadtestFlags: bad flags are refused with a clear error before
// anything is started.
func TestLoadtestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "speed"}, `unknown scenario "speed"`},
		{[]string{"--scenario", "races,nope"}, `unknown scenario "nope"`},
		{[]string{"--duration", "-1s"}, "--duration must not be negative"},
		{[]string{"--instances", "0"}, "--instances must be between 1 and 20"},
		{[]string{"--instances", "21"}, "--instances must be between 1 and 20"},
		{[]string{"--kills", "0"}, "--kills must be at least 1"},
		{[]string{"--restarts", "0"}, "--restarts must be at least 1"},
		{[]string{"--scale-connections", "10"}, "--scale-connections must be at least 10000"},
		{[]string{"--scenario", "scale"}, "the scale scenario needs PostgreSQL"},
		{[]string{"--scenario", "races", "--database-url", "mysql://x"}, "must be a postgres:// URL"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--json-file", "/nonexistent/dir/report.json"}, "--json-file: no directory /nonexistent/dir"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			work := t.TempDir()
			var out, errOut bytes.Buffer
			args := append([]string{"loadtest", "--work-dir", work}, tc.args...)
			err := run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(work); len(entries) > 0 {
				t.Errorf("the work directory was used: %v", entries)
			}
		})
	}
}
