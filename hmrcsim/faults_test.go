package hmrcsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

func TestRateLimit(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{RateLimit: 3})
	other := "other-client"
	e.sim.AddApplication(hmrcsim.Application{ClientID: other, ClientSecret: "s2", Name: "Other", RedirectURIs: []string{redirectURI}})
	ccForm := func(id, secret string) url.Values {
		return url.Values{"client_id": {id}, "client_secret": {secret}, "grant_type": {"client_credentials"}}
	}

	start := time.Now()
	accepted, throttled := 0, 0
	for range 10 {
		status, body := e.tokenPost(ccForm(clientID, clientSecret))
		switch {
		case status == 200:
			accepted++
		case status == 429 && body["code"] == "MESSAGE_THROTTLED_OUT" &&
			body["message"] == "The request for the API is throttled as you have exceeded your quota.":
			throttled++
		default:
			t.Fatalf("unexpected %d %v", status, body)
		}
	}
	if time.Since(start) < time.Second && (accepted != 3 || throttled != 7) {
		t.Errorf("accepted %d throttled %d in under a second; want 3 and 7", accepted, throttled)
	}
	// Another application has its own budget.
	if status, _ := e.tokenPost(ccForm(other, "s2")); status != 200 {
		t.Errorf("other application throttled: %d", status)
	}
	// The browser pages are never throttled.
	for range 5 {
		if p := e.get(e.browser(), e.conf.AuthCodeURL("s")); p.status != 200 {
			t.Fatalf("authorize page: %d", p.status)
		}
	}
	if st := e.sim.Stats(); st.MaxPerSecond != 3 || st.Throttled != int64(throttled) {
		t.Errorf("stats %+v", st)
	}
	// After a second the budget is back.
	time.Sleep(1100 * time.Millisecond)
	if status, _ := e.tokenPost(ccForm(clientID, clientSecret)); status != 200 {
		t.Errorf("after a second: %d", status)
	}
}

func TestFaultError(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	e.sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
	if status, body := e.api("GET", "/hello/world", ""); status != 500 || body["code"] != "INTERNAL_SERVER_ERROR" {
		t.Errorf("api: %d %v", status, body)
	}
	_, err := e.refresh(context.Background(), tok.RefreshToken)
	if re := retrieveError(t, err); re.Response.StatusCode != 500 || re.ErrorCode != "server_error" {
		t.Errorf("token: %v", re)
	}
	e.sim.SetFaults(hmrcsim.Faults{})
	if _, err := e.refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Errorf("the failed refresh was applied: %v", err)
	}
}

// transportFailure asserts err is a network failure, not an HMRC answer.
func transportFailure(t *testing.T, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("want a transport error, got %v", err)
	}
}

func TestFaultTimeout(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	e.sim.SetFaults(hmrcsim.Faults{TimeoutRate: 1, Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := e.refresh(context.Background(), tok.RefreshToken)
	transportFailure(t, err)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("timeout fault answered after %v", d)
	}
	// A client that gives up first sees its own timeout.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 50 * time.Millisecond})
	_, err = e.refresh(ctx, tok.RefreshToken)
	transportFailure(t, err)

	e.sim.SetFaults(hmrcsim.Faults{})
	if _, err := e.refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Errorf("the timed-out refresh was applied: %v", err)
	}
}

func TestFaultReset(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	e.sim.SetFaults(hmrcsim.Faults{ResetRate: 1})
	_, err := e.refresh(context.Background(), tok.RefreshToken)
	transportFailure(t, err)
	// A GET on a fresh connection is not silently retried by net/http.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", e.srv.URL+"/hello/world", nil)
	req.Header.Set("Accept", "application/vnd.hmrc.1.0+json")
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("api: got %d, want a reset", resp.StatusCode)
	}

	e.sim.SetFaults(hmrcsim.Faults{})
	if _, err := e.refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Errorf("the reset refresh was applied: %v", err)
	}
}

// The worst case for mtdconnect: HMRC rotated the tokens but the answer never
// arrived, so the stored refresh token is already spent.
func TestFaultLostResponse(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	e.sim.SetFaults(hmrcsim.Faults{LostResponseRate: 1})
	_, err := e.refresh(context.Background(), tok.RefreshToken)
	transportFailure(t, err)
	if st := e.sim.Stats(); st.Refreshes != 1 {
		t.Errorf("refresh not applied: %+v", st)
	}

	e.sim.SetFaults(hmrcsim.Faults{})
	_, err = e.refresh(context.Background(), tok.RefreshToken)
	if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
		t.Errorf("old refresh token after a lost response: %v", re)
	}
	if status, body := e.api("GET", "/hello/user", tok.AccessToken); status != 401 || body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("old access token after a lost response: %d %v", status, body)
	}
}

func TestFaultLatencyAndRates(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	e.sim.SetFaults(hmrcsim.Faults{Latency: 150 * time.Millisecond})
	start := time.Now()
	if status, _ := e.api("GET", "/hello/world", ""); status != 200 {
		t.Fatalf("status %d", status)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("latency fault answered after %v", d)
	}

	// Rates are probabilities; the seed makes a run reproducible.
	count := func() int {
		e.sim.SetFaults(hmrcsim.Faults{ErrorRate: 0.5, Seed: 7})
		n := 0
		for range 40 {
			if status, _ := e.api("GET", "/hello/world", ""); status == 500 {
				n++
			}
		}
		return n
	}
	first := count()
	if first < 5 || first > 35 {
		t.Errorf("ErrorRate 0.5 gave %d/40 errors", first)
	}
	if again := count(); again != first {
		t.Errorf("same seed, %d then %d errors", first, again)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{Controls: hmrcsim.ControlsOn})
	tok := e.connect()

	put := func(body string) int {
		req, _ := http.NewRequest("PUT", e.srv.URL+"/admin/faults", strings.NewReader(body))
		return e.do(http.DefaultClient, req).status
	}
	if got := put(`{"errorRate":1,"latency":"10ms","timeout":"2s","seed":3}`); got != 200 {
		t.Fatalf("PUT /admin/faults: %d", got)
	}
	p := e.get(http.DefaultClient, e.srv.URL+"/admin/faults")
	var f hmrcsim.Faults
	if err := json.Unmarshal([]byte(p.body), &f); err != nil || f.ErrorRate != 1 || f.Latency != 10*time.Millisecond || f.Timeout != 2*time.Second || f.Seed != 3 {
		t.Errorf("GET /admin/faults: %s (%v)", p.body, err)
	}
	if status, _ := e.api("GET", "/hello/world", ""); status != 500 {
		t.Errorf("faults from /admin not applied: %d", status)
	}
	if got := put(`{"errorRate":2}`); got != 400 {
		t.Errorf("rate 2 accepted: %d", got)
	}
	if got := put(`{}`); got != 200 {
		t.Fatalf("clearing faults: %d", got)
	}

	var st hmrcsim.Stats
	p = e.get(http.DefaultClient, e.srv.URL+"/admin/stats")
	if err := json.Unmarshal([]byte(p.body), &st); err != nil || st.CodeExchanges != 1 || st.APIRequests == 0 {
		t.Errorf("GET /admin/stats: %s", p.body)
	}

	resp, err := http.Post(e.srv.URL+"/admin/clock", "application/json", bytes.NewBufferString(`{"advance":"4h"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /admin/clock: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, body := e.api("GET", "/hello/user", tok.AccessToken); status != 401 || body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("token after advancing 4h: %d %v", status, body)
	}
}
