package hmrc

import (
	"reflect"
	"testing"
	"time"
)

// HMRC sends a single field error with its paths at the top level
// (shared reference §3); APIError has no field for them, so ITSA calls move
// them into Errors. The bodies are HMRC's documented shapes.
func TestITSAKeepPaths(t *testing.T) {
	cases := []struct {
		name string
		body string
		in   []APIErrorItem
		want []APIErrorItem
	}{
		{"SingleWithPaths",
			`{"code":"RULE_BOTH_EXPENSES_SUPPLIED","message":"Both expenses and consolidatedExpenses can not be present at the same time","paths":["/ukProperty/expenses"]}`,
			nil,
			[]APIErrorItem{{Code: "RULE_BOTH_EXPENSES_SUPPLIED", Message: "Both expenses and consolidatedExpenses can not be present at the same time", Paths: []string{"/ukProperty/expenses"}}}},
		{"SingleWithoutPaths", `{"code":"FORMAT_NINO","message":"The provided NINO is invalid"}`, nil, nil},
		{"Several",
			`{"code":"INVALID_REQUEST","message":"Invalid request","errors":[{"code":"FORMAT_VALUE","message":"m","paths":["/x","/y"]}]}`,
			[]APIErrorItem{{Code: "FORMAT_VALUE", Message: "m", Paths: []string{"/x", "/y"}}},
			[]APIErrorItem{{Code: "FORMAT_VALUE", Message: "m", Paths: []string{"/x", "/y"}}}},
		{"NotJSON", `<html>bad gateway</html>`, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := &Response{Status: 400, Body: []byte(c.body)}
			ae := (&Client{}).apiError(resp)
			if !reflect.DeepEqual(ae.Errors, c.in) {
				t.Fatalf("apiError parsed Errors %+v, want %+v", ae.Errors, c.in)
			}
			itsaKeepPaths(ae, resp.Body)
			if !reflect.DeepEqual(ae.Errors, c.want) {
				t.Errorf("Errors = %+v, want %+v", ae.Errors, c.want)
			}
		})
	}
}

// The business ID cache forgets what is stale when it grows, so it holds
// about a day's landlords however long the process runs.
func TestBusinessCachePrunes(t *testing.T) {
	b := &businessCache{m: map[businessKey]*businessEntry{}}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	fresh, old, failed := businessKey{1, "AA123456A"}, businessKey{2, "AA123456B"}, businessKey{3, "AA123456C"}
	b.store(old, "XPIS00000000002", t0)
	b.store(fresh, "XPIS00000000001", t0.Add(2*time.Hour))
	b.entry(failed, t0.Add(2*time.Hour)) // looked up, never filled
	if _, id := b.entry(old, t0.Add(23*time.Hour)); id != "XPIS00000000002" {
		t.Fatalf("a 23-hour-old ID was not served: %q", id)
	}
	if _, id := b.entry(old, t0.Add(24*time.Hour)); id != "" {
		t.Fatalf("a day-old ID was served: %q", id)
	}
	b.entry(businessKey{4, "AA123456D"}, t0.Add(25*time.Hour))
	if _, ok := b.m[old]; ok {
		t.Error("the expired entry was kept")
	}
	if _, ok := b.m[failed]; ok {
		t.Error("the never-filled entry was kept")
	}
	if _, id := b.entry(fresh, t0.Add(25*time.Hour)); id != "XPIS00000000001" {
		t.Errorf("the fresh entry was dropped: %q", id)
	}
}
