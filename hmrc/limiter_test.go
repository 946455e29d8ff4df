package hmrc_test

import (
	"context"
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
	mu    sync.Mutex
	slots []time.Time
	delay time.Duration // added after booking, before answering
}

func (s *slotLog) ReserveSlot(ctx context.Context, name string, interval, maxWait time.Duration, now time.Time) (time.Time, bool, error) {
	at, ok, err := s.Store.ReserveSlot(ctx, name, interval, maxWait, now)
	s.mu.Lock()
	if ok {
		s.slots = append(s.slots, at)
	}
	d := s.delay
	s.mu.Unlock()
	time.Sleep(d)
	return at, ok, err
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
	if span < 1025*time.Millisecond || span > 1060*time.Millisecond {
		t.Errorf("11 slots at 10/s span %v; want a little over 1s (HMRC's limit plus a guard)", span)
	}
}

// TestLimiterSleepsUntilTheSlot: a booking that took long to answer (the
// store's lock was queued on) goes at its slot, not that much later: a
// request pushed later shares its second with the next ones.
func TestLimiterSleepsUntilTheSlot(t *testing.T) {
	s := newSlotLog(t)
	l := hmrc.NewLimiter(s, "late", 1)
	start := time.Now()
	if err := l.Wait(t.Context(), hmrc.Interactive); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.delay = 1500 * time.Millisecond
	s.mu.Unlock()
	if err := l.Wait(t.Context(), hmrc.Interactive); err != nil {
		t.Fatal(err)
	}
	// The second slot is about 1s after the first and was known 1.5s
	// after it: go then, not a further second later.
	if d := time.Since(start); d > 2200*time.Millisecond {
		t.Errorf("the second request went %v after the first; its slot was at %v", d, s.slots[1].Sub(s.slots[0]))
	}
}
