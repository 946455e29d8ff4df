package hmrc_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdconnect/mtdconnect/hmrc"
)

// storeCalls is every store call the client counted
// (mtdconnect_hmrc_store_calls_total, all methods).
func storeCalls(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "mtdconnect_hmrc_store_calls_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestCallStoreCost: an HMRC call with a fresh token costs the database
// two transactions (read the connection, book the slot), and a landlord's
// call refused because the budget is booked far ahead costs none.
func TestCallStoreCost(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	reg := prometheus.NewPedanticRegistry()
	c := e.metricsClient(t, reg, nil)
	ctx := t.Context()
	// The first call costs more: the token is read from the store's
	// sealed pair for the first time.
	if _, err := useConnection(ctx, c, e.userID); err != nil {
		t.Fatal(err)
	}
	before := storeCalls(t, reg)
	const n = 5
	for range n {
		if _, err := useConnection(ctx, c, e.userID); err != nil {
			t.Fatal(err)
		}
	}
	if per := (storeCalls(t, reg) - before) / n; per > 2 {
		t.Errorf("a call with a fresh token cost %.1f store calls, want at most 2", per)
	}

	// Another instance has booked the budget a minute ahead (the limiter
	// keeps real time, not the test's clock).
	if err := e.Store.DelaySlots(ctx, "hmrc:simulator", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	before = storeCalls(t, reg)
	// The first refusal learns the queue from the store (the connection
	// read, the booking refused); the next cost nothing.
	for i := range n {
		_, err := useConnection(ctx, c, e.userID)
		if _, ok := errors.AsType[*hmrc.BusyError](err); !ok {
			t.Fatalf("call %d while the budget is booked a minute ahead: err = %v, want a *BusyError", i, err)
		}
	}
	if got := storeCalls(t, reg) - before; got > 2 {
		t.Errorf("%d refused calls cost %.0f store calls, want at most the first one's 2", n, got)
	}
}
