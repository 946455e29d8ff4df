package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// testDeleteExpired: what has expired goes, what has not stays, and a rate
// budget deleted after its slots passed behaves as before (an idle budget
// banks nothing), so the tables stay as small as what is live.
func testDeleteExpired(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	now := t0
	for i, exp := range []time.Duration{-time.Hour, -time.Millisecond, time.Minute} {
		noErr(t, "CreateSession", s.CreateSession(ctx, &mtdconnect.Session{
			TokenHash: []byte{byte(i)}, UserID: u.ID, CreatedAt: now.Add(-12 * time.Hour), ExpiresAt: now.Add(exp)}))
		noErr(t, "CreatePendingAuthorization", s.CreatePendingAuthorization(ctx, &mtdconnect.PendingAuthorization{
			State: string(rune('a' + i)), UserID: u.ID, Purpose: mtdconnect.PurposeVAT, RedirectURI: "https://mtd.example/cb",
			CreatedAt: now.Add(-10 * time.Minute), ExpiresAt: now.Add(exp)}))
	}
	// Budgets whose next free slot passed long ago, lately, and is ahead.
	wantSlot(t, s, "old", time.Second, time.Hour, now.Add(-time.Hour), stored(now.Add(-time.Hour)))
	wantSlot(t, s, "recent", time.Second, time.Hour, now.Add(-2*time.Second), stored(now.Add(-2*time.Second)))
	for range 5 {
		reserve(t, s, "busy", time.Minute, time.Hour, now)
	}

	n, err := s.DeleteExpired(ctx, now)
	noErr(t, "DeleteExpired", err)
	// Two sessions, two pending authorisations and the two idle budgets.
	if n != 6 {
		t.Errorf("DeleteExpired = %d, want 6", n)
	}
	for i, live := range []bool{false, false, true} {
		_, err := s.SessionByHash(ctx, []byte{byte(i)})
		if live != (err == nil) {
			t.Errorf("session %d: err = %v, want live %t", i, err, live)
		}
		_, err = s.PendingAuthorization(ctx, string(rune('a'+i)))
		if live != (err == nil) {
			t.Errorf("pending authorisation %d: err = %v, want live %t", i, err, live)
		}
		if err != nil && !errors.Is(err, mtdconnect.ErrNotFound) {
			t.Errorf("pending authorisation %d: %v", i, err)
		}
	}
	// The busy budget kept its queue; the idle ones start afresh at now.
	wantSlot(t, s, "busy", time.Minute, time.Hour, now, stored(now).Add(5*time.Minute))
	wantSlot(t, s, "old", time.Second, time.Hour, now, stored(now))
	wantSlot(t, s, "recent", time.Second, time.Hour, now, stored(now))

	n, err = s.DeleteExpired(ctx, now)
	noErr(t, "DeleteExpired again", err)
	if n != 0 {
		t.Errorf("DeleteExpired again = %d, want 0", n)
	}
}

// testReserveSlotPeek: a negative maxWait books nothing and reports the
// budget's next free slot (at least now), so a caller can look before it
// spends (the sign-in throttle counts only failures).
func testReserveSlotPeek(t *testing.T, s mtdconnect.Store) {
	now := stored(t0)
	if at, ok := reserve(t, s, "peek", time.Second, -1, t0); ok || !at.Equal(now) {
		t.Fatalf("peek at an unused budget = %v, %t; want %v, false", at, ok, now)
	}
	for range 3 {
		reserve(t, s, "peek", time.Second, time.Hour, t0)
	}
	for range 2 {
		if at, ok := reserve(t, s, "peek", time.Second, -1, t0); ok || !at.Equal(now.Add(3*time.Second)) {
			t.Fatalf("peek after 3 bookings = %v, %t; want %v, false", at, ok, now.Add(3*time.Second))
		}
	}
	wantSlot(t, s, "peek", time.Second, time.Hour, t0, now.Add(3*time.Second))
}
