package storetest

import (
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

func reserve(t *testing.T, s mtdconnect.Store, name string, interval, maxWait time.Duration, now time.Time) (time.Time, bool) {
	t.Helper()
	at, ok, err := s.ReserveSlot(t.Context(), name, interval, maxWait, now)
	if err != nil {
		t.Fatalf("ReserveSlot(%s): %v", name, err)
	}
	return at, ok
}

// wantSlot fails unless ReserveSlot booked exactly want.
func wantSlot(t *testing.T, s mtdconnect.Store, name string, interval, maxWait time.Duration, now, want time.Time) {
	t.Helper()
	at, ok := reserve(t, s, name, interval, maxWait, now)
	if !ok || !at.Equal(want) || at.Location() != time.UTC {
		t.Fatalf("ReserveSlot(%s, maxWait %v) = %v, %t; want %v, true", name, maxWait, at, ok, want)
	}
}

func testReserveSlot(t *testing.T, s mtdconnect.Store) {
	const interval = 334 * time.Millisecond
	now := stored(t0)
	for i := range 4 {
		wantSlot(t, s, "hmrc", interval, time.Hour, t0, now.Add(time.Duration(i)*interval))
	}
	// Budgets are independent.
	wantSlot(t, s, "other", interval, time.Hour, t0, now)
	// An idle budget does not bank the slots it did not use.
	later := t0.Add(time.Minute)
	wantSlot(t, s, "hmrc", interval, time.Hour, later, stored(later))
	wantSlot(t, s, "hmrc", interval, time.Hour, later, stored(later).Add(interval))
}

func testReserveSlotMaxWait(t *testing.T, s mtdconnect.Store) {
	now := stored(t0)
	for i := range 3 {
		wantSlot(t, s, "hmrc", time.Second, 2500*time.Millisecond, t0, now.Add(time.Duration(i)*time.Second))
	}
	// The next slot is 3s away: too late for a caller who waits 2.5s.
	if at, ok := reserve(t, s, "hmrc", time.Second, 2500*time.Millisecond, t0); ok {
		t.Fatalf("ReserveSlot beyond maxWait = %v, true; want ok=false", at)
	}
	// That refusal booked nothing, and a slot exactly maxWait away is fine.
	wantSlot(t, s, "hmrc", time.Second, 3*time.Second, t0, now.Add(3*time.Second))
	wantSlot(t, s, "hmrc", time.Second, time.Hour, t0, now.Add(4*time.Second))
}

func testDelaySlots(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	now := stored(t0)
	noErr(t, "DelaySlots", s.DelaySlots(ctx, "hmrc", t0.Add(30*time.Second)))
	if at, ok := reserve(t, s, "hmrc", time.Second, 10*time.Second, t0); ok {
		t.Fatalf("ReserveSlot during a delay = %v, true; want ok=false", at)
	}
	wantSlot(t, s, "hmrc", time.Second, time.Hour, t0, now.Add(30*time.Second))

	// A delay shorter than what is booked does not pull the budget forward.
	noErr(t, "DelaySlots earlier", s.DelaySlots(ctx, "hmrc", t0.Add(5*time.Second)))
	wantSlot(t, s, "hmrc", time.Second, time.Hour, t0, now.Add(31*time.Second))

	// A delay beyond what is booked pushes it.
	noErr(t, "DelaySlots later", s.DelaySlots(ctx, "hmrc", t0.Add(time.Minute)))
	wantSlot(t, s, "hmrc", time.Second, time.Hour, t0, now.Add(time.Minute))

	// Other budgets are not delayed.
	wantSlot(t, s, "other", time.Second, 0, t0, now)
}
