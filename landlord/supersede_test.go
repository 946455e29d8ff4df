package landlord_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// superseding stands in for the other instances of a busy deployment with
// short-lived tokens: before each of the next API requests reaches HMRC,
// another instance refreshes the connection, superseding the access token
// the request carries (HMRC answers 401 INVALID_CREDENTIALS).
type superseding struct {
	next   http.RoundTripper
	other  *hmrc.Client
	userID int64
	left   atomic.Int64
	t      *testing.T
}

func (s *superseding) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.other != nil && !strings.HasPrefix(req.URL.Path, "/oauth/") && s.left.Add(-1) >= 0 {
		if err := s.other.Refresh(req.Context(), s.userID, mtdconnect.PurposeIncomeTax); err != nil {
			s.t.Errorf("the other instance's refresh: %v", err)
		}
	}
	return s.next.RoundTrip(req)
}

// A connection test whose token other instances' refreshes supersede on
// its way to HMRC says what HMRC answered, and never "authority removed at
// HMRC" while the connection is good (its refresh works): the landlord
// would be sent to reconnect for nothing.
func TestConnectionTestTokenSuperseded(t *testing.T) {
	sup := &superseding{t: t}
	e := newEnv(t, func(next http.RoundTripper) http.RoundTripper { sup.next = next; return sup })
	by := landlord.ByLandlord(e.userID)
	e.connect(t, by, mtdconnect.PurposeIncomeTax)
	sup.other, sup.userID = e.NewClient(t), e.userID

	// Superseded twice: the newest token goes through.
	sup.left.Store(2)
	msg, err := e.svc.Test(t.Context(), by, e.userID, mtdconnect.PurposeIncomeTax, origin(), "")
	if err != nil || !strings.Contains(msg, "UK property business") {
		t.Fatalf("superseded twice: %q, %v", msg, err)
	}

	// Superseded every time: the deployment is busy, not disconnected.
	sup.left.Store(1000)
	_, err = e.svc.Test(t.Context(), by, e.userID, mtdconnect.PurposeIncomeTax, origin(), "")
	sup.left.Store(0)
	var gone *hmrc.ReconnectError
	if errors.As(err, &gone) || !errors.Is(err, hmrc.ErrUnavailable) {
		t.Errorf("superseded every time: err = %v; want HMRC unavailable (try again), not needs reconnect", err)
	}
	st, err := e.svc.Status(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
	if err != nil || st.Status != mtdconnect.StatusConnected {
		t.Errorf("status afterwards: %+v, %v", st, err)
	}
}
