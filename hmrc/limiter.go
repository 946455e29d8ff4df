package hmrc

import (
	"context"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// Priority orders calls competing for HMRC's rate budget.
type Priority int

const (
	// Background work (refreshing tokens ahead of use) only takes a slot
	// that is free now, so it never delays anyone.
	Background Priority = iota
	// Scheduled work (a submission no one is watching) queues briefly.
	Scheduled
	// Interactive calls (a landlord waiting on a page) queue for the next
	// free slot.
	Interactive
)

// throttlePause is how long the whole deployment holds off after HMRC
// answered 429.
const throttlePause = 2 * time.Second

// rateGuard spaces slots a little wider than the rate asks. HMRC counts
// requests in any sliding second: at exactly the limit, the first of a
// second's requests arriving a millisecond late shares a second with the
// one a limit's worth of slots after it, which is then answered 429. 3%
// absorbs that much jitter (30ms at 3/s) for 3% of the budget.
const rateGuard = 0.03

// Limiter spaces the calls of every instance sharing a store evenly at the
// configured rate. Slots are booked in the store, so the budget is one for
// the deployment, not one per process. It uses the wall clock, not an
// injected one: the budget is spent in real time.
type Limiter struct {
	store    mtdconnect.Store
	name     string
	interval time.Duration
	metrics  *metrics // nil: none
}

// NewLimiter returns a limiter of rate calls per second over store.
func NewLimiter(store mtdconnect.Store, name string, rate float64) *Limiter {
	return &Limiter{store: store, name: name, interval: time.Duration(float64(time.Second) / rate * (1 + rateGuard))}
}

func (l *Limiter) maxWait(p Priority) time.Duration {
	switch p {
	case Interactive:
		return time.Minute
	case Scheduled:
		return 3 * l.interval
	default:
		return 0
	}
}

// Wait blocks until the caller may make one HMRC request.
func (l *Limiter) Wait(ctx context.Context, p Priority) error {
	defer l.metrics.waited(p, time.Now())
	for {
		at, ok, err := l.store.ReserveSlot(ctx, l.name, l.interval, l.maxWait(p), time.Now())
		if err != nil {
			return fmt.Errorf("hmrc: rate limiter: %w", err)
		}
		if ok {
			// Until the slot on the clock, not for the slot's distance
			// from before the booking: a booking that queued on the
			// store's lock must not push its request later, into the
			// next requests' second.
			return sleep(ctx, time.Until(at))
		}
		// The budget is booked further ahead than this priority waits:
		// step aside and look again.
		if err := sleep(ctx, l.interval); err != nil {
			return err
		}
	}
}

// Throttled records that HMRC answered 429: every instance pauses.
func (l *Limiter) Throttled(ctx context.Context) {
	l.metrics.throttle()
	_ = l.store.DelaySlots(context.WithoutCancel(ctx), l.name, time.Now().Add(throttlePause))
}
