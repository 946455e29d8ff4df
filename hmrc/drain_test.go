package hmrc_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// waitLeased waits until the connection's refresh lease is taken.
func (e *env) waitLeased(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); e.conn(t).RefreshLeaseOwner == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no refresh lease was taken within 10s")
		}
	}
}

// A refresh whose caller has gone still runs to the end, and Drain returns
// only once its rotated pair is saved: closing the store after Drain loses
// nothing.
func TestDrainWaitsForRefreshInFlight(t *testing.T) {
	e := newEnv(t)
	before := e.connect(t)
	if err := e.client.Drain(t.Context()); err != nil {
		t.Fatalf("Drain with nothing in flight: %v", err)
	}
	e.Sim.SetFaults(hmrcsim.Faults{Latency: 500 * time.Millisecond})

	callerCtx, callerGone := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.client.Refresh(callerCtx, e.userID, before.Purpose) }()
	e.waitLeased(t)
	callerGone()
	if n := e.client.Refreshing(); n != 1 {
		t.Fatalf("Refreshing() = %d, want 1", n)
	}

	// A deadline shorter than HMRC's answer: Drain says what it left.
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	err := e.client.Drain(short)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "1 refresh(es) still in flight") {
		t.Fatalf("Drain past its deadline = %v, want one counting the refresh in flight", err)
	}

	if err := e.client.Drain(t.Context()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	// Read before the caller's goroutine is waited for: Drain alone
	// guarantees the save.
	after := e.conn(t)
	if after.RefreshLeaseOwner != "" || bytes.Equal(after.Tokens, before.Tokens) || after.LastRefreshAt.IsZero() {
		t.Fatalf("after Drain: lease %q, tokens rotated %v, last refresh %v; want the refresh saved",
			after.RefreshLeaseOwner, !bytes.Equal(after.Tokens, before.Tokens), after.LastRefreshAt)
	}
	if n := e.client.Refreshing(); n != 0 {
		t.Errorf("Refreshing() after Drain = %d", n)
	}
	if err := <-done; err != nil {
		t.Errorf("the refresh whose caller left: %v", err)
	}
	if st := e.Sim.Stats(); st.Refreshes != 1 || st.RefreshReuses != 0 {
		t.Errorf("simulator saw refreshes=%d reuses=%d, want 1, 0", st.Refreshes, st.RefreshReuses)
	}
}

// Drain refuses nothing: a refresh that starts while Drain waits (a
// request still being served needs one) is waited for too.
func TestDrainWaitsForRefreshStartedDuringDrain(t *testing.T) {
	e := newEnv(t)
	a := e.connect(t)
	u := &mtdconnect.User{Email: "second@example.com", PasswordHash: "x", NINO: "TC663795B"}
	if err := e.Store.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	first := e.userID
	e.userID = u.ID
	b := e.connect(t)
	e.Sim.SetFaults(hmrcsim.Faults{Latency: time.Second})

	refreshed := make(chan error, 2)
	e.userID = first
	go func() { refreshed <- e.client.Refresh(t.Context(), a.UserID, a.Purpose) }()
	e.waitLeased(t)
	drained := make(chan error, 1)
	go func() { drained <- e.client.Drain(t.Context()) }()
	e.userID = u.ID
	go func() { refreshed <- e.client.Refresh(t.Context(), b.UserID, b.Purpose) }()
	e.waitLeased(t)
	if n := e.client.Refreshing(); n != 2 {
		t.Fatalf("Refreshing() = %d, want 2 (the first refresh ended before the second began: too slow a machine for a 1s answer)", n)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if c := e.conn(t); c.RefreshLeaseOwner != "" || bytes.Equal(c.Tokens, b.Tokens) {
		t.Fatalf("Drain returned before the refresh started during it was saved (lease %q)", c.RefreshLeaseOwner)
	}
	for range 2 {
		if err := <-refreshed; err != nil {
			t.Error(err)
		}
	}
}
