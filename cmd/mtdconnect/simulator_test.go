package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// TestSimulatorFlagErrors: bad knobs are refused before the simulator
// listens.
func TestSimulatorFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--error-rate", "1.5"}, "--error-rate must be between 0 and 1"},
		{[]string{"--reset-rate", "-0.1"}, "--reset-rate must be between 0 and 1"},
		{[]string{"--latency-rate", "NaN"}, "--latency-rate must be between 0 and 1"},
		{[]string{"--error-rate", "0.5", "--timeout-rate", "0.3", "--lost-response-rate", "0.3"}, "add up to 1.1, more than 1"},
		{[]string{"--latency", "-1s"}, "--latency must not be negative"},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--access-token-lifetime", "500ms"}, "--access-token-lifetime must be at least 1s"},
		{[]string{"--rate-limit", "NaN"}, "--rate-limit must be a number"},
		{[]string{"--error-rate", "lots"}, "invalid value"},
		{[]string{"surplus"}, `unexpected argument "surplus"`},
		{[]string{"--simulator-mode", "strict"}, "MTDCONNECT_SIMULATOR_MODE must be demo or sandbox"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"simulator", "--simulator-addr", "127.0.0.1:0"}, tc.args...)
			err := run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) && !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("err = %v (stderr %q), want %q", err, errOut.String(), tc.want)
			}
			if strings.Contains(out.String(), "running") {
				t.Errorf("the simulator started: %s", out.String())
			}
		})
	}
}

// TestSimulatorFlags starts `mtdconnect simulator` with fault, limit and
// lifetime flags and checks each takes effect, and that /admin/faults
// (served with --controls) changes the faults while it runs.
func TestSimulatorFlags(t *testing.T) {
	base := startSimulatorCommand(t, "--controls", "--error-rate", "1", "--seed", "7", "--latency", "5ms", "--rate-limit", "5", "--access-token-lifetime", "2s")

	var f hmrcsim.Faults
	getJSON(t, base+"/admin/faults", &f)
	if f.ErrorRate != 1 || f.Seed != 7 || f.Latency != 5*time.Millisecond {
		t.Fatalf("faults = %+v, want error rate 1, seed 7, latency 5ms", f)
	}
	token := func() (int, map[string]any) {
		resp, err := http.PostForm(base+"/oauth/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {simClientID}, "client_secret": {simClientSecret}, "scope": {"hello"},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, _ := token(); status != http.StatusInternalServerError {
		t.Fatalf("with --error-rate 1, the token endpoint answered %d, want 500", status)
	}

	req, _ := http.NewRequest(http.MethodPut, base+"/admin/faults", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// --rate-limit 5: ten requests at once cannot all pass.
	statuses := map[int]int{}
	for range 10 {
		status, body := token()
		statuses[status]++
		if status == http.StatusOK && body["expires_in"] != float64(2) {
			t.Errorf("expires_in = %v, want 2 (--access-token-lifetime 2s)", body["expires_in"])
		}
	}
	if statuses[http.StatusOK] == 0 || statuses[http.StatusTooManyRequests] == 0 || len(statuses) != 2 {
		t.Errorf("after clearing the faults, 10 token requests answered %v; want 200s, then 429s (--rate-limit 5)", statuses)
	}
}

// startSimulatorCommand runs `mtdconnect simulator` with args on a free
// port until the test ends and returns its base URL.
func startSimulatorCommand(t *testing.T, args ...string) (base string) {
	return startSimulatorStoppable(t, args...).url
}

func startSimulatorStoppable(t *testing.T, args ...string) *inProcess {
	t.Helper()
	e := &cliEnv{vars: map[string]string{}}
	return e.startInProcess(t, append([]string{"simulator", "--simulator-addr", "127.0.0.1:0"}, args...)...)
}

// With --state-file, what the standalone simulator issued outlives a
// restart: an application token granted before still works after.
func TestSimulatorStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "simulator-state.json")
	sim := startSimulatorStoppable(t, "--state-file", state)
	base, stop := sim.url, sim.stop
	resp, err := http.PostForm(base+"/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {simClientID}, "client_secret": {simClientSecret}, "scope": {"hello"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v %+v", err, tok)
	}
	hello := func(base string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/hello/application", nil)
		req.Header.Set("Accept", "application/vnd.hmrc.1.0+json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := hello(base); got != http.StatusOK {
		t.Fatalf("hello/application before the restart: %d", got)
	}
	stop()

	again := startSimulatorCommand(t, "--state-file", state)
	if got := hello(again); got != http.StatusOK {
		t.Errorf("hello/application after a restart with --state-file: %d, want 200", got)
	}
	// Without the file, the token is unknown: the test above can fail.
	if got := hello(startSimulatorCommand(t)); got != http.StatusUnauthorized {
		t.Errorf("hello/application at a fresh simulator: %d, want 401", got)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// The simulator's mode and controls: without --controls the control
// endpoints are an unknown resource; the sandbox mode serves the Self
// Assessment Test Support API, which the demo has not (as in production).
func TestSimulatorModeAndControls(t *testing.T) {
	status := func(method, u string) int {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(`{"typeOfBusiness":"uk-property"}`))
		req.Header.Set("Accept", "application/vnd.hmrc.1.0+json")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	demo := startSimulatorCommand(t)
	sandbox := startSimulatorCommand(t, "--simulator-mode", "sandbox", "--controls")
	if got := status("GET", demo+"/admin/stats"); got != http.StatusNotFound {
		t.Errorf("demo without --controls: /admin/stats %d, want 404", got)
	}
	if got := status("GET", sandbox+"/admin/stats"); got != http.StatusOK {
		t.Errorf("sandbox with --controls: /admin/stats %d, want 200", got)
	}
	// No token: the sandbox's route exists and asks for one (401); the
	// demo has no such resource (404).
	path := "/individuals/self-assessment-test-support/business/AA123456A"
	if got := status("POST", demo+path); got != http.StatusNotFound {
		t.Errorf("demo: Test Support %d, want 404", got)
	}
	if got := status("POST", sandbox+path); got != http.StatusUnauthorized {
		t.Errorf("sandbox: Test Support %d, want 401", got)
	}
}

// serve's built-in simulator: its control endpoints are off (a browser can
// reach it), its mode is MTDCONNECT_SIMULATOR_MODE, and the banner says
// which.
func TestServeBuiltinSimulator(t *testing.T) {
	for _, mode := range []string{"demo", "sandbox"} {
		t.Run(mode, func(t *testing.T) {
			e := newServeEnv(t, map[string]string{"MTDCONNECT_SIMULATOR_MODE": mode})
			p := e.startInProcess(t, "serve")
			sim := "http://" + e.vars["MTDCONNECT_SIMULATOR_ADDR"]
			resp, err := http.Get(sim + "/admin/stats")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("/admin/stats of serve's simulator: %d, want 404", resp.StatusCode)
			}
			if out := p.logs.String(); !strings.Contains(out, "built-in simulator at "+sim+", "+mode+" mode") {
				t.Errorf("the banner does not name the mode:\n%s", out)
			}
		})
	}
}

// serve --simulator-controls (MTDCONNECT_SIMULATOR_CONTROLS) serves the
// built-in simulator's controls, to same-origin requests only: a page on
// another site cannot move the demo's clock.
func TestServeSimulatorControlsRefuseCrossOrigin(t *testing.T) {
	e := newServeEnv(t, map[string]string{"MTDCONNECT_SIMULATOR_CONTROLS": "true"})
	e.startInProcess(t, "serve")
	sim := "http://" + e.vars["MTDCONNECT_SIMULATOR_ADDR"]
	post := func(h http.Header) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, sim+"/admin/clock", strings.NewReader(`{"advance":"1h"}`))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, h := range map[string]http.Header{
		"other origin, simple request": {"Origin": {"http://evil.example"}, "Content-Type": {"text/plain"}},
		"cross-site fetch":             {"Sec-Fetch-Site": {"cross-site"}},
	} {
		if got := post(h); got != http.StatusForbidden {
			t.Errorf("%s: POST /admin/clock %d, want 403", name, got)
		}
	}
	var clock struct {
		Offset string `json:"offset"`
	}
	getJSON(t, sim+"/admin/clock", &clock)
	if clock.Offset != "0s" && clock.Offset != "" {
		t.Errorf("refused requests moved the clock: offset %q", clock.Offset)
	}
	if got := post(http.Header{"Content-Type": {"application/json"}}); got != http.StatusOK {
		t.Errorf("a tool's POST /admin/clock: %d, want 200", got)
	}
}
