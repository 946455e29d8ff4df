package hmrc

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// Priority orders calls competing for HMRC's rate budget.
type Priority int

const (
	// Background work (refreshing tokens ahead of use) only takes a slot
	// that is free now, so it never delays anyone.
	Background Priority = iota
	// Scheduled work (a submission no one is watching) takes a slot only
	// while the budget is booked no more than a few slots ahead, and
	// otherwise waits, as long as its context allows, for it to clear.
	Scheduled
	// Interactive calls (a landlord waiting on a page) book the next free
	// slot, unless the budget is booked further ahead than a landlord
	// should wait: then they are refused at once with a *BusyError.
	Interactive
)

func (p Priority) String() string { return priorityNames[p] }

// DefaultInteractiveWait is how long a landlord's call may queue for the
// rate budget unless Config.InteractiveWait says otherwise.
const DefaultInteractiveWait = 3 * time.Second

// throttlePause is how long the whole deployment holds off after HMRC
// answered 429.
const throttlePause = 2 * time.Second

// rateGuard spaces slots a little wider than the rate asks. HMRC counts
// requests in any sliding second: at exactly the limit, the first of a
// second's requests arriving a millisecond late shares a second with the
// one a limit's worth of slots after it, which is then answered 429. 6%
// leaves 60ms of room at any whole rate, for 6% of the budget: 3% (30ms)
// was measured too little on a loaded machine, where a request reached its
// HMRC (the simulator, on the same two busy cores) up to 80ms after a slot
// it had left on time (docs/RELIABILITY.md).
const rateGuard = 0.06

// lateTolerance is how late after its slot a request may still go: a
// quarter of the guard's room, the rest being for the trip to HMRC. A
// request later than that could arrive within a second of the requests a
// limit's worth of slots after it, so its slot is given up (see Wait).
const lateTolerance = time.Duration(rateGuard * float64(time.Second) / 4)

// BusyError means HMRC's rate budget is booked further ahead than a
// landlord should wait, so the call was refused before anything was sent.
// RetryAfter is when the queue should have shrunk enough to be admitted.
type BusyError struct{ RetryAfter time.Duration }

func (e *BusyError) Error() string {
	return fmt.Sprintf("hmrc: the rate budget is booked ahead; nothing was sent; try again in %d s", e.RetrySeconds())
}

// RetrySeconds is RetryAfter in whole seconds, rounded up, at least 1: what
// a Retry-After header says.
func (e *BusyError) RetrySeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Limiter spaces the calls of every instance sharing a store evenly at the
// configured rate. Slots are booked in the store, so the budget is one for
// the deployment, not one per process. It uses the wall clock, not an
// injected one: the budget is spent in real time.
//
// Waiting costs the store one booking per request: a caller books its slot
// once and sleeps until it. What a process has seen of the queue (its next
// free slot, which only ever moves later) answers the questions that need
// no booking: whether a landlord must be refused, and when a lower priority
// should look again.
type Limiter struct {
	store           mtdconnect.Store
	name            string
	interval        time.Duration
	interactiveWait time.Duration
	metrics         *metrics // nil: none

	// seen is the latest next free slot this process has learnt of, in
	// Unix nanoseconds: a lower bound of the store's.
	seen atomic.Int64
	// late and lateAt are the largest lateness of a wake-up lately seen,
	// and when (see spacing).
	late, lateAt atomic.Int64
	// turns lets one caller per lower priority at a time look at the
	// store; the others of this process wait here, costing nothing.
	turns [Interactive]chan struct{}
}

// NewLimiter returns a limiter of rate calls per second over store, with
// DefaultInteractiveWait.
func NewLimiter(store mtdconnect.Store, name string, rate float64) *Limiter {
	l := &Limiter{store: store, name: name, interval: time.Duration(float64(time.Second) / rate * (1 + rateGuard)),
		interactiveWait: DefaultInteractiveWait}
	for i := range l.turns {
		l.turns[i] = make(chan struct{}, 1)
	}
	return l
}

func (l *Limiter) maxWait(p Priority) time.Duration {
	switch p {
	case Interactive:
		return l.interactiveWait
	case Scheduled:
		return 3 * l.interval
	default:
		return 0
	}
}

// Wait blocks until the caller may make one HMRC request. An Interactive
// caller gets a *BusyError at once when the budget is booked further ahead
// than it waits; the others wait as long as ctx allows.
//
// A caller that reaches its slot late (a busy CPU, a pause of the garbage
// collector, a slow store) does not go: it would share a second with the
// requests booked after it. It gives the slot up and books another, far
// enough ahead to be reached in time.
func (l *Limiter) Wait(ctx context.Context, p Priority) error {
	sl, err := l.take(ctx, p)
	if err != nil {
		return err
	}
	return sl.wait(ctx)
}

// wait is Wait, returning the slot the caller goes at.
func (l *Limiter) wait(ctx context.Context, p Priority) (time.Time, error) {
	sl, err := l.take(ctx, p)
	if err != nil {
		return time.Time{}, err
	}
	// The slot gone to: wait may have booked another.
	err = sl.wait(ctx)
	return sl.at, err
}

// slot is a booked slot of the budget; its wait sleeps until it.
type slot struct {
	l     *Limiter
	p     Priority
	start time.Time     // when the caller began to wait
	at    time.Time     // the slot
	took  time.Duration // how long the store took to book it
}

// take books a slot for p (an Interactive caller gets a *BusyError at once
// when the budget is booked further ahead than it waits; the others wait
// as long as ctx allows for the budget to have room) without waiting for
// it.
func (l *Limiter) take(ctx context.Context, p Priority) (*slot, error) {
	start := time.Now()
	at, took, err := l.book(ctx, p, 0, 0)
	if err != nil {
		return nil, err
	}
	return &slot{l: l, p: p, start: start, at: at, took: took}, nil
}

// wait sleeps until the slot. A slot reached late is given up and another
// booked (see Limiter.Wait).
func (s *slot) wait(ctx context.Context) error {
	l := s.l
	for {
		if err := sleep(ctx, time.Until(s.at)); err != nil {
			return err
		}
		l.noteLate(time.Since(s.at))
		if l.onTime(s.at) {
			l.metrics.waited(s.p, s.start)
			return nil
		}
		l.metrics.lateSlot()
		// The next slot is booked at least as far ahead as the booking
		// took, so a slow store's answer does not arrive after it.
		lead := min(s.took+lateTolerance, maxLead)
		at, took, err := l.book(ctx, s.p, lead, time.Since(s.start))
		if err != nil {
			return err
		}
		s.at, s.took = at, took
	}
}

// maxLead bounds how far ahead of now a caller that missed its slot books.
const maxLead = time.Second

// Admit refuses an Interactive call at once, with a *BusyError, when this
// process already knows the budget is booked further ahead than the call
// would wait; it costs nothing. Other priorities are always admitted.
func (l *Limiter) Admit(p Priority) error {
	if p != Interactive {
		return nil
	}
	if ahead := time.Until(time.Unix(0, l.seen.Load())) - l.maxWait(p); ahead > 0 {
		l.metrics.refused()
		return &BusyError{RetryAfter: ahead}
	}
	return nil
}

// book books one slot for p and returns it, with how long the store took
// to book it. lead books that far ahead of now at the earliest; waited is
// how long the caller has waited already (a landlord's whole wait stays
// bounded, slots given up included).
func (l *Limiter) book(ctx context.Context, p Priority, lead, waited time.Duration) (time.Time, time.Duration, error) {
	maxWait := l.maxWait(p)
	if p == Interactive {
		// A landlord who has waited and reached the slot late is given
		// a third of the wait again, not refused for having waited.
		maxWait = max(maxWait/3, maxWait-waited)
		if err := l.Admit(p); err != nil {
			return time.Time{}, 0, err
		}
		at, ok, took, err := l.reserve(ctx, maxWait, lead)
		if err != nil {
			return time.Time{}, 0, err
		}
		if !ok {
			l.metrics.refused()
			// Time has passed since the store judged: at least a slot.
			return time.Time{}, 0, &BusyError{RetryAfter: max(time.Until(at)-maxWait, l.interval)}
		}
		return at, took, nil
	}
	// One caller of this process at a time: the others would only ask
	// the store the same question at the same moment.
	select {
	case l.turns[p] <- struct{}{}:
	case <-ctx.Done():
		return time.Time{}, 0, ctx.Err()
	}
	defer func() { <-l.turns[p] }()
	for {
		// Until the queue seen so far has shrunk to what p waits.
		if d := time.Until(time.Unix(0, l.seen.Load()).Add(-maxWait - lead)); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return time.Time{}, 0, err
			}
		}
		at, ok, took, err := l.reserve(ctx, maxWait, lead)
		if err != nil {
			return time.Time{}, 0, err
		}
		if ok {
			return at, took, nil
		}
		// Booked further ahead by others meanwhile: seen has moved on.
	}
}

// reserve asks the store for a slot and remembers what it learnt.
func (l *Limiter) reserve(ctx context.Context, maxWait, lead time.Duration) (at time.Time, ok bool, took time.Duration, err error) {
	start := time.Now()
	spacing := l.spacing()
	at, ok, err = l.store.ReserveSlot(ctx, l.name, spacing, maxWait, start.Add(lead))
	if err != nil {
		return time.Time{}, false, 0, fmt.Errorf("hmrc: rate limiter: %w", err)
	}
	next := at
	if ok {
		next = at.Add(spacing)
	}
	l.see(next)
	return at, ok, time.Since(start), nil
}

// A busy machine wakes sleepers late, and a request that left on time may
// then reach HMRC late too, beyond what the guard allows for. While this
// process sees its own wake-ups come late, it leaves that much more room
// after each slot it books (twice the lateness lately seen, at most half an
// interval); on a quiet machine that is nothing.
const lateMemory = 5 * time.Second // lateness seen is halved every lateMemory

// noteLate records how late a wake-up came.
func (l *Limiter) noteLate(d time.Duration) {
	if d <= 0 {
		return
	}
	if d > l.recentLate() {
		l.late.Store(int64(d))
		l.lateAt.Store(time.Now().UnixNano())
	}
}

// recentLate is the lateness lately seen, decayed.
func (l *Limiter) recentLate() time.Duration {
	halvings := time.Since(time.Unix(0, l.lateAt.Load())) / lateMemory
	if halvings >= 63 {
		return 0
	}
	return time.Duration(l.late.Load() >> halvings)
}

// spacing is the room booked after a slot: the interval, widened while
// the machine is seen to be busy.
func (l *Limiter) spacing() time.Duration {
	return l.interval + min(2*l.recentLate(), l.interval/2)
}

// see records that the budget's next free slot is at least next.
func (l *Limiter) see(next time.Time) {
	n := next.UnixNano()
	for {
		cur := l.seen.Load()
		if n <= cur || l.seen.CompareAndSwap(cur, n) {
			return
		}
	}
}

// onTime reports whether a request whose slot was at may still go now.
func (l *Limiter) onTime(at time.Time) bool { return time.Since(at) <= lateTolerance }

// Throttled records that HMRC answered 429: every instance pauses.
func (l *Limiter) Throttled(ctx context.Context) {
	l.metrics.throttle()
	until := time.Now().Add(throttlePause)
	l.see(until)
	_ = l.store.DelaySlots(context.WithoutCancel(ctx), l.name, until)
}
