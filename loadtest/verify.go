package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// ConnectionCheck is the state of every connection after a scenario, each
// one proven rather than read: a connection counts as connected only if a
// forced refresh through the API succeeds (so the refresh token stored is
// the one HMRC holds), and as needing reconnection only if its audit says
// why.
type ConnectionCheck struct {
	Connections int `json:"connections"`
	Connected   int `json:"connected"`
	// NeedsReconnect counts the connections marked "needs reconnect", by
	// the reason the landlord is shown.
	NeedsReconnect []Count `json:"needs_reconnect"`
	// LostSilently counts connections whose grant was lost without the
	// landlord being told why: stored as connected but HMRC refused the
	// stored refresh token, or marked for reconnection with a reason that
	// is not what happened (nothing was revoked and no grant expired), or
	// with no audit event saying so.
	LostSilently int `json:"lost_silently"`
	// Unresolved counts connections still holding a refresh lease, or
	// whose forced refresh kept failing for another reason.
	Unresolved int `json:"unresolved"`
	// Problems names the first lost or unresolved connections.
	Problems []string `json:"problems,omitempty"`
}

// NeedsReconnectTotal is how many connections need reconnecting.
func (c *ConnectionCheck) NeedsReconnectTotal() int64 {
	var n int64
	for _, r := range c.NeedsReconnect {
		n += r.Count
	}
	return n
}

// leaseWait bounds the wait for a refresh in flight: a lease lasts 60s and
// the refresher resolves an expired one on its next pass (15 to 45s).
const leaseWait = 2 * time.Minute

// check proves the state of every connection (see ConnectionCheck). Only
// ReasonRefreshInterrupted is a truthful reason in these scenarios: no
// landlord revokes and no grant is 18 months old.
func (c *cluster) check(ctx context.Context) (*ConnectionCheck, error) {
	out := &ConnectionCheck{Connections: len(c.users)}
	reasons := map[string]int64{}
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		if len(out.Problems) < 20 {
			out.Problems = append(out.Problems, fmt.Sprintf(format, args...))
		}
	}
	work := make(chan int)
	errc := make(chan error, len(c.users))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				errc <- c.checkOne(ctx, i, out, reasons, &mu, problem)
			}
		})
	}
	for i := range c.users {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return nil, err
		}
	}
	out.NeedsReconnect = counts(reasons)
	return out, nil
}

func (c *cluster) checkOne(ctx context.Context, i int, out *ConnectionCheck, reasons map[string]int64, mu *sync.Mutex, problem func(string, ...any)) error {
	id := c.users[i]
	// A refresh in flight (the instances' refreshers keep running) is
	// waited for; a lease still held after that long is not in flight.
	var conn *mtdconnect.Connection
	for deadline := time.Now().Add(leaseWait); ; {
		var err error
		if conn, err = c.store.Connection(ctx, id, mtdconnect.PurposeIncomeTax); err != nil {
			return fmt.Errorf("read connection of user %d: %w", id, err)
		}
		if conn.RefreshLeaseOwner == "" || time.Now().After(deadline) {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if conn.RefreshLeaseOwner != "" {
		mu.Lock()
		out.Unresolved++
		problem("user %d: refresh lease still held by %s (until %s)", id, conn.RefreshLeaseOwner, conn.RefreshLeaseUntil.Format(time.RFC3339))
		mu.Unlock()
		return nil
	}
	if conn.Status == mtdconnect.StatusNeedsReconnect {
		events, err := c.store.Audit(ctx, id, 200)
		if err != nil {
			return err
		}
		explained := false
		for _, e := range events {
			if e.Kind == mtdconnect.AuditNeedsReconnect && e.Detail == conn.Reason {
				explained = true
			}
		}
		mu.Lock()
		defer mu.Unlock()
		reasons[conn.Reason]++
		switch {
		case !explained:
			out.LostSilently++
			problem("user %d: needs reconnect (%s) with no audit event saying so", id, conn.Reason)
		case conn.Reason != mtdconnect.ReasonRefreshInterrupted:
			out.LostSilently++
			problem("user %d: needs reconnect with a reason that did not happen: %s", id, conn.Reason)
		}
		return nil
	}
	// Connected: prove it with a forced refresh. A 503 is HMRC (or an
	// instance) being briefly unavailable: try again.
	var r apiResult
	for attempt := range 5 {
		r = c.call(ctx, i%c.instanceCount(), id, "refresh")
		if r.ok() || (r.err == nil && r.status != http.StatusServiceUnavailable) {
			break
		}
		sleepCtx(ctx, time.Duration(attempt+1)*500*time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case r.ok():
		out.Connected++
	case r.code == "needs_reconnect":
		out.LostSilently++
		reasons[r.reason]++
		problem("user %d: stored as connected, but HMRC refused its refresh token (now: %s)", id, r.reason)
	default:
		out.Unresolved++
		problem("user %d: forced refresh failed: %s", id, r.describe())
	}
	return nil
}

// leased counts connections whose refresh lease is still held.
func (c *cluster) leased(ctx context.Context) (int, error) {
	n := 0
	for _, id := range c.users {
		conn, err := c.store.Connection(ctx, id, mtdconnect.PurposeIncomeTax)
		if err != nil {
			return 0, err
		}
		if conn.RefreshLeaseOwner != "" {
			n++
		}
	}
	return n, nil
}

func (c *ConnectionCheck) violations() []string {
	var v []string
	if c.LostSilently > 0 {
		v = append(v, fmt.Sprintf("%d connection(s) lost silently (must be 0): %v", c.LostSilently, c.Problems))
	}
	if c.Unresolved > 0 {
		v = append(v, fmt.Sprintf("%d connection(s) unresolved (must be 0): %v", c.Unresolved, c.Problems))
	}
	return v
}
