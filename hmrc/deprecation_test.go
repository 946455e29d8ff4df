package hmrc_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// HMRC's Deprecation and Sunset headers on an API's answers are logged
// once per API (with the dates, for the operator) and every such answer is
// counted; the other APIs' answers are neither.
func TestDeprecationLoggedOnceAndCounted(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	on := time.Date(2026, 6, 1, 23, 59, 59, 0, time.UTC)
	e.Sim.SetFaults(hmrcsim.Faults{Deprecated: []hmrcsim.Deprecation{{API: "business-details-mtd", On: on}}})
	reg := prometheus.NewPedanticRegistry()
	c := e.NewClient(t, func(cfg *hmrc.Config) { cfg.Registerer = reg })
	for range 3 {
		if _, err := useConnection(t.Context(), c, e.userID); err != nil {
			t.Fatal(err)
		}
	}
	logs := e.Logs.String()
	var lines []string
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, "deprecated") && strings.Contains(l, "level=WARN") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "api=business-details") ||
		!strings.Contains(lines[0], `deprecation="Mon, 01 Jun 2026 23:59:59 GMT"`) || !strings.Contains(lines[0], `sunset="Tue, 01 Dec 2026 23:59:59 GMT"`) ||
		!strings.Contains(lines[0], "link=https://developer.service.hmrc.gov.uk/") {
		t.Fatalf("deprecation warnings:\n%s", strings.Join(lines, "\n"))
	}
	if n := value(t, reg, "mtdconnect_hmrc_deprecated_responses_total", "api", "business-details"); n != 3 {
		t.Errorf("deprecated answers counted %v, want 3", n)
	}
}

// WithRecorder reports every request Do sends with HMRC's answer: the
// API, the path without the NINO, the status, HMRC's code and reference.
func TestRecorder(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	var mu sync.Mutex
	var got []hmrc.Exchange
	ctx := hmrc.WithRecorder(t.Context(), func(x hmrc.Exchange) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, x)
	})
	if _, err := useConnection(ctx, e.client, e.userID); err != nil {
		t.Fatal(err)
	}
	e.Sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
	_, _ = useConnection(ctx, e.client, e.userID)
	e.Sim.SetFaults(hmrcsim.Faults{})
	if len(got) < 2 {
		t.Fatalf("recorded %+v", got)
	}
	ok := got[0]
	if ok.API != "business-details" || ok.Method != "GET" || ok.Path != "/individuals/business/details/{id}/list" ||
		ok.Status != 200 || ok.Code != "" || len(ok.CorrelationID) != 36 || ok.Err != nil {
		t.Errorf("success recorded as %+v", ok)
	}
	failed := got[1]
	if failed.Status != 500 || failed.Code != "INTERNAL_SERVER_ERROR" {
		t.Errorf("500 recorded as %+v", failed)
	}
	for _, x := range got {
		if strings.Contains(x.Path, "TC663795B") {
			t.Errorf("a NINO in %+v", x)
		}
	}
}
