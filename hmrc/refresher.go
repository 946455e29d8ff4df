package hmrc

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// Refresher keeps the tokens of connections in use fresh, so a landlord's
// next call does not wait for a refresh. Idle connections are left alone:
// refreshing does not extend HMRC's 18-month grant, so it would only spend
// the shared rate budget, and each refresh is a rotation that could fail.
type Refresher struct {
	Client *Client
	// Interval between passes. Default 30s.
	Interval time.Duration
	// UsedWithin: a connection counts as in use if a token was handed out
	// this recently. Default 24h.
	UsedWithin time.Duration
	// Workers bounds concurrent refreshes. Default 2.
	Workers int
	// Batch bounds connections taken per pass. Default 500.
	Batch int
}

// Run refreshes due connections until ctx ends; it returns once the
// refreshes it started are done (they run to the end: see Client.Drain).
func (r *Refresher) Run(ctx context.Context) error {
	r.setDefaults()
	for {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.Client.log.Error("hmrc refresher pass", "err", err)
		}
		// Jitter keeps instances from passing in lockstep.
		d := r.Interval/2 + rand.N(r.Interval)
		if err := sleep(ctx, d); err != nil {
			return nil
		}
	}
}

// Pass refreshes what is due now, resolves refreshes interrupted by a
// crash, and returns how many connections it took.
func (r *Refresher) Pass(ctx context.Context) (int, error) {
	r.setDefaults()
	c := r.Client
	start := time.Now()
	now := c.now()
	due, err := c.store.DueConnections(ctx, mtdconnect.DueQuery{
		// Include tokens that expired during the last few passes, so a
		// pass delayed by a busy budget still catches them.
		ExpiresFrom:   now.Add(-r.Interval * 4),
		ExpiresBefore: now.Add(c.cfg.RefreshMargin),
		UsedSince:     now.Add(-r.UsedWithin),
		Limit:         r.Batch,
	})
	if err != nil {
		return 0, err
	}
	// Refreshes whose process died mid-flight are resolved too, on the
	// first pass after start-up and on every pass after: never left silent.
	interrupted, err := c.store.InterruptedRefreshes(ctx, now, r.Batch)
	if err != nil {
		return 0, err
	}
	due = append(interrupted, due...)
	work := make(chan *mtdconnect.Connection)
	var wg sync.WaitGroup
	for range r.Workers {
		wg.Go(func() {
			for conn := range work {
				_, err := c.accessToken(ctx, conn.UserID, conn.Purpose, Background, "")
				var re *ReconnectError
				if err != nil && !errors.As(err, &re) && ctx.Err() == nil {
					c.log.Warn("hmrc background refresh", "user_id", conn.UserID, "purpose", conn.Purpose, "err", err)
				}
			}
		})
	}
	// Once ctx ends no item is handed out (a select with both cases ready
	// picks at random, hence the check first); the ones taken finish.
dispatch:
	for _, conn := range due {
		if ctx.Err() != nil {
			break
		}
		select {
		case work <- conn:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(work)
	wg.Wait()
	c.metrics.refresherPass(start, len(due))
	return len(due), nil
}

func (r *Refresher) setDefaults() {
	setDefault(&r.Interval, 30*time.Second)
	setDefault(&r.UsedWithin, 24*time.Hour)
	if r.Workers <= 0 {
		r.Workers = 2
	}
	if r.Batch <= 0 {
		r.Batch = 500
	}
}
