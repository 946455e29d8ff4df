package hmrc_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// superseding stands in for the other instances of a busy deployment with
// short-lived tokens: before each of the first n API requests reaches
// HMRC, another instance refreshes the connection, which supersedes the
// access token the request carries (HMRC answers it 401
// INVALID_CREDENTIALS), as happens when a request waits long for its turn.
type superseding struct {
	next  http.RoundTripper
	other *hmrc.Client
	t     *testing.T
	left  atomic.Int64
	req   func() (int64, mtdconnect.Purpose)
}

func (s *superseding) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.URL.Path, "/oauth/") && s.left.Add(-1) >= 0 {
		userID, p := s.req()
		if err := s.other.Refresh(req.Context(), userID, p); err != nil {
			s.t.Errorf("the other instance's refresh: %v", err)
		}
	}
	return s.next.RoundTrip(req)
}

// TestTokenSupersededTwice: a call whose token is superseded by other
// instances' refreshes twice on its way to HMRC (401, retried with the
// store's newer token, 401 again) is not a connection HMRC refused: the
// stored connection is fine, and the call goes through with the newest
// token, never "authority removed at HMRC".
func TestTokenSupersededTwice(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	other := e.newClient(t)
	sup := &superseding{next: e.Tokens, other: other, t: t,
		req: func() (int64, mtdconnect.Purpose) { return e.userID, mtdconnect.PurposeIncomeTax }}
	c := e.NewClient(t, func(cfg *hmrc.Config) { cfg.HTTPClient = &http.Client{Transport: sup} })

	for _, times := range []int64{1, 2, 3} {
		sup.left.Store(times)
		before := e.Sim.Stats()
		id, err := useConnection(t.Context(), c, e.userID)
		if err != nil || id == "" {
			t.Fatalf("superseded %d times: %q, %v", times, id, err)
		}
		if got := e.Sim.Stats().APIRequests - before.APIRequests; got != times+1 {
			t.Errorf("superseded %d times: %d API requests, want %d (one per token)", times, got, times+1)
		}
		if conn := e.conn(t); conn.Status != mtdconnect.StatusConnected {
			t.Fatalf("superseded %d times: the connection is %s (%s)", times, conn.Status, conn.Reason)
		}
	}
}
