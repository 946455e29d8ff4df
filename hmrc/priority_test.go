package hmrc_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
)

// TestBackgroundRefreshDoesNotHoldUpLandlords: while other landlords keep
// the rate budget busy, a background refresh (which only takes a slot free
// now) waits for the budget without holding the connection, so a landlord's
// call on that connection refreshes at its own priority and answers at
// once, instead of waiting for the background refresh's lease.
func TestBackgroundRefreshDoesNotHoldUpLandlords(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	c := e.NewClient(t, func(c *hmrc.Config) {
		c.Rate, c.HTTPClient = 10, &http.Client{Timeout: 5 * time.Second}
		c.RequestTimeout, c.RetryBase = 0, 0 // the defaults
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Two landlords elsewhere book every slot as soon as it is free.
	var busy sync.WaitGroup
	for range 2 {
		busy.Go(func() {
			l := hmrc.NewLimiter(e.Store, "hmrc:simulator", 10)
			for l.Wait(ctx, hmrc.Interactive) == nil {
			}
		})
	}
	e.Clock.Advance(4*time.Hour - time.Minute) // the access token is due

	passDone := make(chan error, 1)
	go func() {
		_, err := (&hmrc.Refresher{Client: c, Workers: 1}).Pass(ctx)
		passDone <- err
	}()
	time.Sleep(300 * time.Millisecond) // the pass is waiting for a free slot

	start := time.Now()
	if _, err := useConnection(t.Context(), c, e.userID); err != nil {
		t.Fatalf("landlord's call: %v", err)
	}
	// A background refresh holding the lease would have held the call
	// until it found a free slot: never, while the budget stays busy.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the landlord's call took %v behind a background refresh", d)
	}
	if conn := e.conn(t); conn.RefreshLeaseOwner != "" {
		t.Errorf("a lease is held while the background refresh waits for the budget: %s", conn.RefreshLeaseOwner)
	}
	cancel()
	busy.Wait()
	<-passDone
}
