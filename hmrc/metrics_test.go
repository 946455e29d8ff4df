package hmrc_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// metricsClient is another instance of the service over e's store that
// registers its metrics on reg.
func (e *env) metricsClient(t *testing.T, reg prometheus.Registerer, rt http.RoundTripper) *hmrc.Client {
	t.Helper()
	if rt == nil {
		rt = e.Tokens
	}
	return e.NewClient(t, func(c *hmrc.Config) {
		c.HTTPClient = &http.Client{Transport: rt, Timeout: 5 * time.Second}
		c.Logger, c.Registerer = slog.New(slog.DiscardHandler), reg
	})
}

// TestMetrics drives a connection through a call, a refresh, HMRC faults,
// a 429 and a revocation, and reads each counter back; the exposition
// names no user and holds no token.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	reg := prometheus.NewPedanticRegistry()
	// HMRC's faults clear once it has answered one 500, whatever the
	// timing: the refresh below fails once, then succeeds.
	healing := &healAfter500{next: e.Tokens, sim: e.Sim}
	c := e.metricsClient(t, reg, healing)
	ctx := t.Context()
	p := mtdconnect.PurposeIncomeTax

	if _, err := useConnection(ctx, c, e.userID); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx, e.userID, p); err != nil {
		t.Fatal(err)
	}
	// One 500 then success, on the token endpoint and the API alike.
	e.Sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
	if err := c.Refresh(ctx, e.userID, p); err != nil {
		t.Fatal(err)
	}
	e.Sim.Revoke(simUser, clientID)
	var re *hmrc.ReconnectError
	if _, err := useConnection(ctx, c, e.userID); !errors.As(err, &re) {
		t.Fatalf("after revocation: %v", err)
	}
	// A second client on the same registry shares the collectors.
	e.metricsClient(t, reg, nil)

	refreshes := func(outcome string) float64 {
		return value(t, reg, "mtdconnect_hmrc_refresh_attempts_total", "outcome", outcome)
	}
	for _, tc := range []struct {
		name string
		got  float64
		ok   func(float64) bool
		want string
	}{
		{"refresh ok", refreshes("ok"), func(v float64) bool { return v == 2 }, "2"},
		{"refresh transient", refreshes("transient"), func(v float64) bool { return v >= 1 }, "≥ 1"},
		{"refresh invalid_grant", refreshes("invalid_grant"), func(v float64) bool { return v == 1 }, "1"},
		{"api 2xx", value(t, reg, "mtdconnect_hmrc_api_requests_total", "class", "2xx"), func(v float64) bool { return v == 1 }, "1"},
		{"api 4xx", value(t, reg, "mtdconnect_hmrc_api_requests_total", "class", "4xx"), func(v float64) bool { return v == 1 }, "1 (the 401 after revocation)"},
		{"needs reconnect revoked", value(t, reg, "mtdconnect_hmrc_needs_reconnect_total", "reason", "revoked"), func(v float64) bool { return v == 1 }, "1"},
	} {
		if !tc.ok(tc.got) {
			t.Errorf("%s = %v, want %s", tc.name, tc.got, tc.want)
		}
	}
	var out bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		out.WriteString(mf.String())
		if mf.GetName() == "mtdconnect_hmrc_limiter_wait_seconds" {
			var waits uint64
			for _, m := range mf.GetMetric() {
				waits += m.GetHistogram().GetSampleCount()
			}
			if len(mf.GetMetric()) != 3 || waits < 4 {
				t.Errorf("limiter waits: %d series, %d waits; want one series per priority and a wait per request", len(mf.GetMetric()), waits)
			}
		}
	}
	if regexp.MustCompile(`[0-9a-f]{32}`).Match(out.Bytes()) {
		t.Error("the metrics hold something shaped like a token")
	}
	for _, tok := range e.Tokens.Tokens() {
		if strings.Contains(out.String(), tok) {
			t.Error("the metrics hold a token")
		}
	}
	if strings.Contains(out.String(), "user") {
		t.Error("the metrics name a user")
	}
}

// value reads the counter name{label=value} as /metrics would show it.
func value(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// healAfter500 clears the simulator's faults once HMRC has answered 500.
type healAfter500 struct {
	next http.RoundTripper
	sim  *hmrcsim.Server
	once sync.Once
}

func (h *healAfter500) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusInternalServerError {
		h.once.Do(func() { h.sim.SetFaults(hmrcsim.Faults{}) })
	}
	return resp, err
}
