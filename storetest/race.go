package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// The race cases take one store or several handles on one database; each
// goroutine i uses stores[i%len(stores)]. All goroutines wait on a closed
// channel so they start together and really race.

func testRaceUpdateConnection(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, stores[0], "ada@example.com")
	noErr(t, "SaveConnection", stores[0].SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	base := mustConnection(t, stores[0], u.ID, mtdconnect.PurposeIncomeTax)

	const n = 50
	var (
		start  = make(chan struct{})
		wg     sync.WaitGroup
		wins   atomic.Int32
		winner atomic.Pointer[mtdconnect.Connection]
	)
	for i := range n {
		s := stores[i%len(stores)]
		c := *base
		c.Tokens = fmt.Appendf(nil, "tokens of writer %d", i)
		c.LastError = fmt.Sprintf("writer %d", i)
		wg.Go(func() {
			<-start
			switch err := s.UpdateConnection(ctx, &c); {
			case err == nil:
				wins.Add(1)
				winner.Store(&c)
			case !errors.Is(err, mtdconnect.ErrConflict):
				t.Errorf("UpdateConnection: %v, want nil or ErrConflict", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d of %d writers from one version won, want exactly 1", got, n)
	}
	checkConnection(t, mustConnection(t, stores[0], u.ID, base.Purpose), winner.Load())
}

// testRaceNoLostUpdate is dex's lost-update detector: every writer
// increments a counter with read, modify, compare-and-swap, retrying on
// conflict. Each success must have written a distinct value, and together
// they must be exactly 1..n.
func testRaceNoLostUpdate(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, stores[0], "ada@example.com")
	c := fullConnection(u.ID, mtdconnect.PurposeIncomeTax)
	c.RefreshFailures = 0
	noErr(t, "SaveConnection", stores[0].SaveConnection(ctx, c))

	const n = 100
	var (
		start   = make(chan struct{})
		wg      sync.WaitGroup
		written = make(chan int, n)
	)
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			for range 10 * n {
				c, err := s.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
				if err != nil {
					t.Errorf("Connection: %v", err)
					return
				}
				c.RefreshFailures++
				err = s.UpdateConnection(ctx, c)
				if err == nil {
					written <- c.RefreshFailures
					return
				}
				if !errors.Is(err, mtdconnect.ErrConflict) {
					t.Errorf("UpdateConnection: %v, want nil or ErrConflict", err)
					return
				}
			}
			t.Errorf("writer gave up after %d conflicts", 10*n)
		})
	}
	close(start)
	wg.Wait()
	close(written)

	var got []int
	for v := range written {
		got = append(got, v)
	}
	slices.Sort(got)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	deepEqual(t, "values written", got, want)
	if c := mustConnection(t, stores[0], u.ID, mtdconnect.PurposeIncomeTax); c.RefreshFailures != n {
		t.Errorf("RefreshFailures = %d, want %d", c.RefreshFailures, n)
	}
}

func testRaceDeletePending(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, stores[0], "ada@example.com")
	p := &mtdconnect.PendingAuthorization{State: "st-race", UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax,
		Verifier: []byte("v"), RedirectURI: "https://mtd.example/callback", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	noErr(t, "CreatePendingAuthorization", stores[0].CreatePendingAuthorization(ctx, p))

	const n = 20
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		wins  atomic.Int32
	)
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			switch err := s.DeletePendingAuthorization(ctx, p.State); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, mtdconnect.ErrNotFound):
				t.Errorf("DeletePendingAuthorization: %v, want nil or ErrNotFound", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Errorf("%d of %d callers consumed one pending authorisation, want exactly 1", got, n)
	}
}

func testRaceReserveSlot(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	const (
		n        = 30
		interval = 100 * time.Millisecond
	)
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		slots = make(chan time.Time, n)
	)
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			at, ok, err := s.ReserveSlot(ctx, "hmrc", interval, time.Hour, t0)
			if err != nil || !ok {
				t.Errorf("ReserveSlot = %v, %t, %v; want a slot", at, ok, err)
				return
			}
			slots <- at
		})
	}
	close(start)
	wg.Wait()
	close(slots)

	var got []time.Time
	for at := range slots {
		got = append(got, at)
	}
	slices.SortFunc(got, time.Time.Compare)
	// With one fixed now, the booked slots are exactly now, now+interval, ...
	// so none is shared and none is closer than interval to another.
	var want []time.Time
	for i := range n {
		want = append(want, stored(t0).Add(time.Duration(i)*interval))
	}
	deepEqual(t, "slots booked", got, want)
}
