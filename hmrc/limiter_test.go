package hmrc_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

// slotLog is a real store that records the slots it books and can be
// made slow to answer, as a store whose lock is queued on is.
type slotLog struct {
	mtdconnect.Store
	mu       sync.Mutex
	calls    int         // ReserveSlot calls, booked or not
	slots    []time.Time // booked
	answered []time.Time // when each booking was answered
	delay    time.Duration
	// delays, when set, are the delays of the next bookings, in turn.
	delays []time.Duration
}

func (s *slotLog) ReserveSlot(ctx context.Context, name string, interval, maxWait time.Duration, now time.Time) (time.Time, bool, error) {
	at, ok, err := s.Store.ReserveSlot(ctx, name, interval, maxWait, now)
	s.mu.Lock()
	s.calls++
	d := s.delay
	if len(s.delays) > 0 {
		d, s.delays = s.delays[0], s.delays[1:]
	}
	s.mu.Unlock()
	time.Sleep(d)
	s.mu.Lock()
	if ok {
		s.slots = append(s.slots, at)
		s.answered = append(s.answered, time.Now())
	}
	s.mu.Unlock()
	return at, ok, err
}

func (s *slotLog) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func newSlotLog(t *testing.T) *slotLog {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "rate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &slotLog{Store: st}
}

// TestLimiterGuard: HMRC counts any sliding second, so slots spaced at
// exactly the limit leave no room for a late request; the limiter spaces
// them a little wider (at most a few percent of the budget).
func TestLimiterGuard(t *testing.T) {
	s := newSlotLog(t)
	l := hmrc.NewLimiter(s, "guard", 10)
	for range 11 {
		if err := l.Wait(t.Context(), hmrc.Interactive); err != nil {
			t.Fatal(err)
		}
	}
	span := s.slots[10].Sub(s.slots[0]) // ten intervals
	// 6% more than the limit asks; a busy machine (wake-ups seen late)
	// widens each interval by up to half of it.
	if span < 1060*time.Millisecond || span > 3*time.Second {
		t.Errorf("11 slots at 10/s span %v; want a little over 1s (HMRC's limit plus a guard)", span)
	}
}

// TestLimiterGivesUpALateSlot: a request that reaches its slot late (here
// the store answered the booking after the slot had passed; a busy CPU or a
// GC pause does the same) must not go then, where it would share a second
// with the requests booked after it: the slot is given up and one far
// enough ahead is booked, and the request goes at that one.
func TestLimiterGivesUpALateSlot(t *testing.T) {
	s := newSlotLog(t)
	l := hmrc.NewLimiter(s, "late", 10)
	s.delays = []time.Duration{300 * time.Millisecond}
	if err := l.Wait(t.Context(), hmrc.Interactive); err != nil {
		t.Fatal(err)
	}
	went := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// The one answered late, then one reachable in time (on a busy
	// machine, perhaps one more).
	used := len(s.slots) - 1
	if used < 1 {
		t.Fatalf("%d slots booked, want the one answered late and another", len(s.slots))
	}
	if late := s.answered[0].Sub(s.slots[0]); late < 250*time.Millisecond {
		t.Fatalf("the first booking was answered %v after its slot; the test needs it late", late)
	}
	if !s.slots[used].After(s.answered[0]) {
		t.Errorf("the slot used (%v) is not after the first booking's answer (%v)", s.slots[used], s.answered[0])
	}
	if went.Before(s.slots[used]) {
		t.Errorf("the request went %v before its slot", s.slots[used].Sub(went))
	}
	s.mu.Unlock()
	// Having seen a wake-up 300 ms late, the limiter leaves more room
	// after its slots for a while: half an interval more.
	if err := l.Wait(t.Context(), hmrc.Interactive); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	if gap := s.slots[used+1].Sub(s.slots[used]); gap < 150*time.Millisecond {
		t.Errorf("after a late wake-up, slots %v apart; want the interval (106ms) and half of it more", gap)
	}
}

// TestLimiterBooksOnce: waiting for the budget costs the store one booking
// per request, at every priority, however long the queue: the callers of
// lower priorities sleep until the queue they saw has shrunk, one of them
// per process asking at a time, instead of asking again every interval.
func TestLimiterBooksOnce(t *testing.T) {
	for _, p := range []hmrc.Priority{hmrc.Interactive, hmrc.Scheduled, hmrc.Background} {
		t.Run(p.String(), func(t *testing.T) {
			s := newSlotLog(t)
			l := hmrc.NewLimiter(s, "once", 20)
			const n = 12
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					if err := l.Wait(t.Context(), p); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			// A slot reached late on a busy machine is booked again; a
			// few may be. Asking again every interval would be several
			// times more.
			if calls := s.callCount(); calls > 2*n {
				t.Errorf("%d waits made %d store calls, want about one each", n, calls)
			}
			if len(s.slots) < n || len(s.slots) > 2*n {
				t.Errorf("%d slots booked for %d waits", len(s.slots), n)
			}
		})
	}
}

// TestLimiterRefusesLandlordsBeyondTheirWait: when the budget is booked
// further ahead than a landlord waits, the landlord's call is refused at
// once with a *BusyError saying when to try again, and once the process
// knows the queue is that long, refusing costs the store nothing. Scheduled
// work is not refused: it waits for the queue to clear.
func TestLimiterRefusesLandlordsBeyondTheirWait(t *testing.T) {
	s := newSlotLog(t)
	l := hmrc.NewLimiter(s, "busy", 5) // a slot every 212ms: 3s holds 15
	const n = 30
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused []*hmrc.BusyError
		served  int
	)
	for range n {
		wg.Go(func() {
			err := l.Wait(t.Context(), hmrc.Interactive)
			var busy *hmrc.BusyError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &busy):
				refused = append(refused, busy)
			case err != nil:
				t.Error(err)
			default:
				served++
			}
		})
	}
	wg.Wait()
	// About 15 slots fit in 3s: a slow store lets more in (the queue
	// moves on while the bookings are made), a busy machine fewer (a slot
	// reached late is booked again, at the end of the queue).
	if served == 0 || len(refused) == 0 || len(refused) != n-served {
		t.Fatalf("served %d, refused %d of %d; want the 3s queue's worth served, the rest refused", served, len(refused), n)
	}
	for _, b := range refused {
		if b.RetryAfter <= 0 || b.RetryAfter > 4*time.Second || b.RetrySeconds() < 1 {
			t.Errorf("Retry-After %v (%d s): want the time until the queue is short enough", b.RetryAfter, b.RetrySeconds())
		}
	}

	// Another instance has booked the budget a minute ahead: the first
	// landlord learns it from the store, and is refused at once; the next
	// are refused without asking it.
	if err := s.DelaySlots(t.Context(), "busy", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	calls := s.callCount()
	for i := range 5 {
		start := time.Now()
		busy, ok := errors.AsType[*hmrc.BusyError](l.Wait(t.Context(), hmrc.Interactive))
		if !ok {
			t.Fatalf("call %d was not refused while the budget is booked a minute ahead", i)
		}
		if d := time.Since(start); d > hmrc.DefaultInteractiveWait {
			t.Errorf("the refusal came after %v: it must come at once, not after waiting", d)
		}
		if busy.RetryAfter < 50*time.Second || busy.RetryAfter > time.Minute {
			t.Errorf("Retry-After %v; want the minute's booking less the 3s a landlord waits", busy.RetryAfter)
		}
	}
	if got := s.callCount() - calls; got != 1 {
		t.Errorf("refusing 5 calls made %d store calls, want 1 (the first)", got)
	}

	// Scheduled work is not refused: it waits for the queue to clear.
	if err := s.DelaySlots(t.Context(), "other", time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	other := hmrc.NewLimiter(s, "other", 5)
	if _, ok := errors.AsType[*hmrc.BusyError](other.Wait(t.Context(), hmrc.Interactive)); !ok {
		t.Error("a landlord was not refused while the budget is booked 5s ahead")
	}
	if err := other.Wait(t.Context(), hmrc.Scheduled); err != nil {
		t.Errorf("scheduled work while the budget is booked 5s ahead: %v; it waits instead", err)
	}
}
