package hmrc

import (
	"context"
	"fmt"
	"sync"
)

// inFlight counts refreshes between taking their lease and clearing it.
// Unlike a sync.WaitGroup it may go from zero to one while Drain waits: a
// request still being served during a drain may need a refresh.
type inFlight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed whenever n is 0
}

func newInFlight() *inFlight {
	idle := make(chan struct{})
	close(idle)
	return &inFlight{idle: idle}
}

func (f *inFlight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

func (f *inFlight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
}

func (f *inFlight) state() (int, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.idle
}

// Refreshing is how many refreshes this client has in flight: leased, and
// not yet saved or released.
func (c *Client) Refreshing() int {
	n, _ := c.refreshing.state()
	return n
}

// Drain waits until no refresh of this client is in flight, or ctx ends.
//
// A refresh runs on a context detached from its caller (refreshLeased),
// bounded by the lease: once HMRC may have rotated the tokens, only saving
// the new pair keeps the connection. So a process stopping on purpose calls
// Drain after it stopped everything that starts refreshes (the listeners,
// with their requests in flight answered, and the refresher) and before it
// closes the store. Drain refuses nothing: a refresh that a request still
// being served needs (say, one whose server's shutdown deadline passed)
// starts and is waited for like the others; refusing it would fail that
// request and gain nothing, since the lease bounds the refresh anyway.
//
// When ctx ends first, Drain returns an error saying how many refreshes
// are still in flight: their leases stay in the store, and whichever
// instance next finds one expired resolves it as an interrupted refresh.
func (c *Client) Drain(ctx context.Context) error {
	for {
		n, idle := c.refreshing.state()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			n, _ := c.refreshing.state()
			if n == 0 {
				return nil
			}
			return fmt.Errorf("hmrc: %d refresh(es) still in flight: %w", n, context.Cause(ctx))
		}
	}
}
