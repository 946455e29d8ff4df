// Package expiry keeps the store's short-lived rows bounded: its Sweeper
// deletes, every minute, the sessions, pending authorisations and rate
// budgets (sign-in throttles included) that have expired, so what an
// attacker makes the service write is gone once it expires.
package expiry

import (
	"context"
	"log/slog"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// DefaultEvery is how often a Sweeper sweeps unless told.
const DefaultEvery = time.Minute

// Sweeper runs Store.DeleteExpired periodically. Every instance of a
// deployment may run one: a sweep is one transaction and idempotent.
type Sweeper struct {
	Store  mtdconnect.Store
	Every  time.Duration    // default DefaultEvery
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
}

// Sweep deletes what has expired now and returns how many rows went.
func (s *Sweeper) Sweep(ctx context.Context) (int64, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return s.Store.DeleteExpired(ctx, now())
}

// Run sweeps at once and then every Every until ctx ends; it returns nil
// then. A failed sweep is logged and tried again at the next tick.
func (s *Sweeper) Run(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = DefaultEvery
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("delete expired rows", "err", err)
		case n > 0:
			log.Debug("deleted expired rows", "rows", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
