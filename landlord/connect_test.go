package landlord_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// Two presses of Continue on one link at once (two tabs, two browsers, a
// replayed POST): one goes to HMRC, the other is told the link was used,
// and the loser's authorisation is dropped, so only one can come back.
func TestContinueConnectLinkRace(t *testing.T) {
	e := newEnv(t, nil)
	svc, err := landlord.New(landlord.Config{Store: e.Store, HMRC: e.Client, ITSA: itsa.New(e.Client), VAT: vat.New(e.Client),
		Logger: e.Logger, Now: e.Clock.Now, ReturnURLs: []string{"https://platform.example"}})
	if err != nil {
		t.Fatal(err)
	}
	cs, token, err := svc.CreateConnectSession(t.Context(), 1, landlord.ConnectRequest{
		UserID: e.userID, Purpose: mtdconnect.PurposeIncomeTax, ReturnURL: "https://platform.example/back"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wins   int
		states []string
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, got, err := svc.ContinueConnectLink(t.Context(), token, []byte{byte(i)})
			var le *landlord.ConnectLinkError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				states = append(states, got.State)
			case errors.As(err, &le) && le.Problem == landlord.ProblemLinkUsed:
			default:
				t.Errorf("ContinueConnectLink: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d presses went to HMRC, want 1", wins, n)
	}
	stored, err := e.Store.ConnectSession(t.Context(), cs.ID)
	if err != nil || stored.State != states[0] {
		t.Fatalf("stored state %q (%v), want the winner's", stored.State, err)
	}
	if _, err := e.Store.PendingAuthorization(t.Context(), states[0]); err != nil {
		t.Errorf("the winner's authorisation: %v", err)
	}
}
