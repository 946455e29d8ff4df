package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// serve's parts (the web server, the refresher, the built-in simulator and
// its state saver, the metrics server) are actors of one oklog/run group:
// they start together, and when one ends (a signal ends the first, or a
// part fails) all are stopped. oklog/run calls the actors' interrupts one
// after the other in the order the actors were added (its "deterministic
// teardown"), and each interrupt here returns only once its part has
// stopped, so the order of Add is the order of the stop:
//
//  1. the stop signal: /readyz turns unready and, after the shutdown delay
//     (for load balancers to notice), the drain begins;
//  2. the web server: no new connections; requests in flight are answered;
//  3. background work (the refresher, the purge of deleted landlords, the
//     expiry sweeper; the webhook dispatcher to come):
//     no new items; those taken finish;
//  4. HMRC's work in flight (hmrc.Client.Drain): refreshes that requests or
//     the refresher started are saved;
//  5. what the above still needed: the built-in simulator, its last save,
//     the metrics server;
//
// and, once the group has returned, the store is closed, last. The drain
// timeout (or a second signal) bounds all of it: past it, connections are
// closed and nothing more is waited for, as after a crash.
//
// Why oklog/run rather than errgroup: a part that returns nil (a server
// closed under it) must stop the others too, and each part is stopped by
// its own interrupt (http.Server.Shutdown, a cancel) rather than by one
// shared context, which is what makes an ordered stop possible.

// errStopSignal is what the signal actor returns: a requested stop, not a
// failure.
var errStopSignal = errors.New("stop requested")

// stopper is serve's planned stop, shared by its actors.
type stopper struct {
	log     *slog.Logger
	timeout time.Duration   // the drain timeout, shutdown delay included
	delay   time.Duration   // between /readyz turning unready and the drain
	hurry   <-chan struct{} // closed on a second signal: stop waiting

	draining atomic.Bool

	once   sync.Once
	began  time.Time
	ctx    context.Context // ends at the drain timeout or on a second signal
	cancel context.CancelCauseFunc
}

var (
	errDrainTimeout = errors.New("drain timeout reached")
	errSecondSignal = errors.New("second signal")
)

// begin starts the stop, once: /readyz turns unready and the drain's
// deadline starts. It returns the drain's context.
func (s *stopper) begin() context.Context {
	s.once.Do(func() {
		s.draining.Store(true)
		s.began = time.Now()
		ctx, cancel := context.WithCancelCause(context.Background())
		s.ctx, s.cancel = ctx, cancel
		t := time.AfterFunc(s.timeout, func() { cancel(fmt.Errorf("%w (%v)", errDrainTimeout, s.timeout)) })
		go func() {
			select {
			case <-s.hurry:
				s.log.Warn("second signal: stopping now, without waiting for work in flight")
				cancel(errSecondSignal)
			case <-ctx.Done():
			}
			t.Stop()
		}()
		s.log.Info("draining: /readyz answers 503; stopping", "drain_timeout", s.timeout, "shutdown_delay", s.delay)
	})
	return s.ctx
}

// end releases the drain's timer and says how the stop went.
func (s *stopper) end() {
	ctx := s.begin()
	if err := context.Cause(ctx); err != nil {
		s.log.Warn("stopped before the drain finished: work still in flight was abandoned, as in a crash",
			"cause", err.Error(), "after", time.Since(s.began).Round(time.Millisecond))
		return
	}
	s.cancel(nil)
	s.log.Info("stopped after draining", "after", time.Since(s.began).Round(time.Millisecond))
}

// onSignal is the first actor: it ends when ctx does (SIGINT or SIGTERM),
// and its interrupt starts the drain, waiting the shutdown delay first when
// a signal asked for the stop (a failing part is not waited for).
func (s *stopper) onSignal(ctx context.Context) (execute func() error, interrupt func(error)) {
	quit := make(chan struct{})
	return func() error {
			select {
			case <-ctx.Done():
				return errStopSignal
			case <-quit:
				return nil
			}
		}, func(cause error) {
			close(quit)
			dctx := s.begin()
			if s.delay > 0 && errors.Is(cause, errStopSignal) {
				t := time.NewTimer(s.delay)
				defer t.Stop()
				select {
				case <-t.C:
				case <-dctx.Done():
				}
			}
		}
}

// httpServer serves h on ln; its interrupt stops accepting and waits for
// the requests in flight, closing what is left at the drain's end.
func (s *stopper) httpServer(name string, ln net.Listener, h http.Handler) (execute func() error, interrupt func(error)) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s server: %w", name, err)
			}
			return nil
		}, func(error) {
			ctx := s.begin()
			if err := srv.Shutdown(ctx); err != nil {
				s.log.Warn("requests still running at the end of the drain; their connections are closed",
					"server", name, "cause", context.Cause(ctx).Error())
				srv.Close()
			}
		}
}

// background runs fn until interrupted, on a context of its own (not the
// signal's, so that it stops in its turn); its interrupt cancels that
// context and waits for fn to return, which means the items it had taken
// are done.
func (s *stopper) background(name string, fn func(context.Context) error) (execute func() error, interrupt func(error)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	return func() error {
			defer close(done)
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		}, func(error) {
			cancel()
			dctx := s.begin()
			select {
			case <-done:
			case <-dctx.Done():
				s.log.Warn("still running at the end of the drain", "part", name, "cause", context.Cause(dctx).Error())
			}
		}
}

// waitFor is an actor with nothing to run: its interrupt waits, in its
// turn, for drain (work in flight elsewhere) within the drain's deadline.
func (s *stopper) waitFor(name string, drain func(context.Context) error) (execute func() error, interrupt func(error)) {
	done := make(chan struct{})
	return func() error {
			<-done
			return nil
		}, func(error) {
			defer close(done)
			if err := drain(s.begin()); err != nil {
				s.log.Warn("not finished at the end of the drain", "part", name, "err", err)
			}
		}
}
