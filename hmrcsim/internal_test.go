package hmrcsim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// apiUser is what the ITSA and VAT routes build on: check its scope rule and
// that it hands back the grant's user.
func TestAPIUserScope(t *testing.T) {
	s := New(Options{})
	s.AddTestUser(TestUser{UserID: "u1", Password: "p", NINO: "AA123456A"})
	s.mu.Lock()
	g := &grant{clientID: "c", userID: "u1", scopes: []string{"read:vat"}, grantedAt: s.now(), expiresAt: s.now().AddDate(0, 18, 0)}
	s.grants = append(s.grants, g)
	tok := s.issueUserTokens(g).AccessToken
	s.mu.Unlock()

	call := func(scope string) (*TestUser, *httptest.ResponseRecorder) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		u, _ := s.apiUser(w, r, scope)
		return u, w
	}
	if u, w := call("read:vat"); u == nil || u.NINO != "AA123456A" {
		t.Errorf("read:vat: %v %d %s", u, w.Code, w.Body)
	}
	if u, w := call("write:vat"); u != nil || w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"INVALID_SCOPE"`) {
		t.Errorf("write:vat: %v %d %s", u, w.Code, w.Body)
	}
}

// The window never lets more than the rate through in any second, with no
// burst, and handles rates below one per second.
func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var w window
	admitted := 0
	for i := range 100 { // 10 requests/second offered for 10 seconds
		if ok, n := w.admit(t0.Add(time.Duration(i)*100*time.Millisecond), 3); ok {
			admitted++
			if n > 3 {
				t.Fatalf("%d requests in one second", n)
			}
		}
	}
	if admitted < 28 || admitted > 30 {
		t.Errorf("admitted %d of 100 over 10s at 3 rps", admitted)
	}
	var slow window
	if ok, _ := slow.admit(t0, 0.5); !ok {
		t.Fatal("first request refused")
	}
	if ok, _ := slow.admit(t0.Add(1500*time.Millisecond), 0.5); ok {
		t.Error("0.5 rps admitted a second request within 2s")
	}
	if ok, _ := slow.admit(t0.Add(2001*time.Millisecond), 0.5); !ok {
		t.Error("0.5 rps refused a request after 2s")
	}
}

// TestWindowCountsArrivals: a request is counted when it arrived, even when
// it is admitted after one that arrived later; no second ever holds more
// than the limit.
func TestWindowCountsArrivals(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var w window
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, ms := range []int{0, 500, 900} {
		if ok, _ := w.admit(at(ms), 3); !ok {
			t.Fatalf("request at %d ms refused", ms)
		}
	}
	// It arrived at 100 ms but is admitted last: 0, 100, 500, 900 would be
	// four in one second.
	if ok, _ := w.admit(at(100), 3); ok {
		t.Error("a request that arrived at 100 ms was admitted: four in one second")
	}
	// At 1001 ms the one at 0 has left the second.
	if ok, n := w.admit(at(1001), 3); !ok || n != 3 {
		t.Errorf("request at 1001 ms: admitted %t, %d in its second; want true, 3", ok, n)
	}
	// One that arrived at 950 ms, admitted now, would make 500, 900, 950,
	// 1001 four within a second.
	if ok, _ := w.admit(at(950), 3); ok {
		t.Error("a request that arrived at 950 ms was admitted: four in one second")
	}
}
