package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// RollingConfig sizes the rolling scenario: a deploy. Under the races load
// (many callers, tokens lasting seconds, so refreshes run all the time),
// the instances are restarted one after the other with SIGTERM, each while
// it holds a refresh in flight where one comes within a few seconds, and
// replaced once it has exited.
type RollingConfig struct {
	Restarts           int // default 20
	CallersPerInstance int // default 50
	Connections        int // default 200
	// AccessTokenLifetime (simulator) and RefreshMargin (service):
	// defaults 5s and 2s, as in races.
	AccessTokenLifetime time.Duration
	RefreshMargin       time.Duration
	Rate                float64       // the service's budget; default 5000/s (the simulator's limit is off)
	Latency             time.Duration // HMRC's answer time; default 100ms, so a stop often finds a refresh at HMRC
	// Pause is the load between an instance being ready again and the
	// next SIGTERM; default 1s.
	Pause time.Duration
	// DrainTimeout is the instances' MTDCONNECT_DRAIN_TIMEOUT; default 60s.
	// An instance not gone 30s after it is a violation.
	DrainTimeout time.Duration
}

func (c *RollingConfig) setDefaults() {
	setInt(&c.Restarts, 20)
	setInt(&c.CallersPerInstance, 50)
	setInt(&c.Connections, 200)
	setDuration(&c.AccessTokenLifetime, 5*time.Second)
	setDuration(&c.RefreshMargin, 2*time.Second)
	setFloat(&c.Rate, 5000)
	setDuration(&c.Latency, 100*time.Millisecond)
	setDuration(&c.Pause, time.Second)
	setDuration(&c.DrainTimeout, time.Minute)
}

// RollingReport is what the rolling scenario measured.
type RollingReport struct {
	Config    RollingConfig `json:"config"`
	Instances int           `json:"instances"`
	Restarts  int           `json:"restarts"`
	// RestartsMidRefresh counts SIGTERMs sent while the instance held a
	// refresh lease: HMRC had the refresh, or was about to.
	RestartsMidRefresh int `json:"restarts_mid_refresh"`
	// Drain is SIGTERM to exit; Ready is the replacement's start to its
	// first 200 from /readyz.
	Drain Latency `json:"drain"`
	Ready Latency `json:"ready"`
	// After each stop: exits other than 0, refresh leases the stopped
	// process still held, and drains its log says were cut short.
	NonZeroExits int `json:"non_zero_exits"`
	LeasesLeft   int `json:"leases_left"`
	DrainsCut    int `json:"drains_cut"`
	// Calls through the API's connection test. Refused are calls an
	// instance being stopped did not take (its listener closed, or a
	// keep-alive connection closed under the request): each was retried at
	// once on another instance. FailedCalls are all other failures.
	Calls          int64   `json:"calls"`
	CallsPerSecond float64 `json:"calls_per_second"`
	Latency        Latency `json:"latency"`
	FailedCalls    int64   `json:"failed_calls"`
	Failures       []Count `json:"failures,omitempty"`
	Refused        int64   `json:"refused"`
	RefusedHow     []Count `json:"refused_how,omitempty"`
	RetriedOK      int64   `json:"retried_ok"`
	RetryFailures  int64   `json:"retry_failures"`
	RetryFailList  []Count `json:"retry_failure_list,omitempty"`
	// Busy are calls answered at once 503 hmrc_busy (nothing sent; the
	// landlord's wait would have passed the interactive bound, which on a
	// loaded machine a slow store alone can do): retried once, after a
	// second, as the answer's Retry-After asks a platform to. A retry that
	// fails counts as failed.
	Busy          int64 `json:"busy"`
	BusyRetriedOK int64 `json:"busy_retried_ok"`
	// At the simulator, over the load and the check after it.
	Refreshes            int64 `json:"refreshes"`
	RefreshReuses        int64 `json:"refresh_reuses"`
	InProgressRejections int64 `json:"in_progress_rejections"`
	// Interrupted counts "refresh interrupted" audit events: a planned stop
	// must leave none.
	Interrupted int              `json:"interrupted_refreshes"`
	Check       *ConnectionCheck `json:"check"`
	Children    []string         `json:"children,omitempty"`
}

// Violations lists the bounds that did not hold.
func (r *RollingReport) Violations() []string {
	var v []string
	bound := func(n int64, what string) {
		if n != 0 {
			v = append(v, fmt.Sprintf("%d %s (must be 0)", n, what))
		}
	}
	bound(r.RefreshReuses, "refresh-token reuse(s) at HMRC")
	bound(r.InProgressRejections, "\"already in progress\" answer(s)")
	bound(int64(r.Interrupted), "refresh(es) found interrupted: a stop left a lease behind")
	bound(int64(r.LeasesLeft), "refresh lease(s) held by an instance after it exited")
	bound(int64(r.NonZeroExits), "instance(s) exited other than 0 after SIGTERM")
	bound(int64(r.DrainsCut), "drain(s) cut short")
	if r.FailedCalls != 0 {
		v = append(v, fmt.Sprintf("%d failed call(s) other than refusals by a stopping instance (must be 0): %v", r.FailedCalls, r.Failures))
	}
	if r.RetryFailures != 0 {
		v = append(v, fmt.Sprintf("%d refused call(s) failed again on another instance (must be 0): %v", r.RetryFailures, r.RetryFailList))
	}
	if r.Restarts > 0 && r.RestartsMidRefresh == 0 {
		v = append(v, "no SIGTERM found a refresh in flight: the scenario proved nothing")
	}
	if r.Refreshes == 0 {
		v = append(v, "no refresh happened: the scenario proved nothing")
	}
	if r.Check != nil {
		v = append(v, r.Check.violations()...)
		if n := r.Check.NeedsReconnectTotal(); n > 0 {
			v = append(v, fmt.Sprintf("%d connection(s) need reconnecting (must be 0): %v", n, r.Check.NeedsReconnect))
		}
	}
	return append(v, r.Children...)
}

// rollingTally records the calls of the rolling load.
type rollingTally struct {
	*tally
	mu        sync.Mutex
	refused   map[string]int64
	retriedOK int64
	retryFail map[string]int64
	busy      int64
	busyOK    int64
}

// slotStates says which instance slots are being stopped (from SIGTERM
// until their replacement is ready), with an epoch per stop.
type slotStates struct {
	mu       sync.Mutex
	stopping []bool
	epoch    []int
}

func (s *slotStates) set(slot int, stopping bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping[slot] = stopping
	if stopping {
		s.epoch[slot]++
	}
}

func (s *slotStates) get(slot int) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping[slot], s.epoch[slot]
}

func runRolling(ctx context.Context, opts *Options) (*RollingReport, error) {
	cfg := opts.Rolling
	c, err := newCluster(ctx, opts, clusterSpec{
		scenario: ScenarioRolling, connections: cfg.Connections, rate: cfg.Rate, simRate: -1,
		accessLifetime: cfg.AccessTokenLifetime, refreshMargin: cfg.RefreshMargin,
		simFlags:    []string{"--latency", cfg.Latency.String()},
		instanceEnv: []string{"MTDCONNECT_DRAIN_TIMEOUT=" + cfg.DrainTimeout.String()},
	})
	if err != nil {
		return nil, err
	}
	rep := &RollingReport{Config: cfg, Instances: opts.Instances}
	defer func() { rep.Children = c.close() }()

	before, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	opts.progress("  %d SIGTERM restarts, one instance after the other, while %d callers × %d instances use %d connections (access tokens last %v, HMRC answers in %v)",
		cfg.Restarts, cfg.CallersPerInstance, opts.Instances, cfg.Connections, cfg.AccessTokenLifetime, cfg.Latency)
	n := c.instanceCount()
	slots := &slotStates{stopping: make([]bool, n), epoch: make([]int, n)}
	t := &rollingTally{tally: newTally(false), refused: map[string]int64{}, retryFail: map[string]int64{}}
	lctx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	start := time.Now()
	load.Go(func() { c.hammerRolling(lctx, cfg.CallersPerInstance, slots, t) })
	var drains, readies []time.Duration
	for k := 0; k < cfg.Restarts && ctx.Err() == nil; k++ {
		sleepCtx(ctx, cfg.Pause)
		slot := k % n
		if err := c.restartGracefully(ctx, slot, slots, rep, &drains, &readies); err != nil {
			stopLoad()
			load.Wait()
			return nil, fmt.Errorf("restart %d: %w", k+1, err)
		}
		if (k+1)%5 == 0 {
			opts.progress("  %d restarts, %d with a refresh in flight; %d calls refused by a stopping instance so far", k+1, rep.RestartsMidRefresh, t.refusedTotal())
		}
	}
	sleepCtx(ctx, cfg.Pause)
	stopLoad()
	load.Wait()
	elapsed := time.Since(start)
	rep.Drain, rep.Ready = summarise(drains), summarise(readies)
	rep.Calls, rep.FailedCalls, rep.Failures = t.calls, t.failed, t.failureList()
	rep.CallsPerSecond, rep.Latency = rate(t.calls, elapsed), summarise(t.latencies)
	t.mu.Lock()
	rep.Refused, rep.RefusedHow = sum(t.refused), counts(t.refused)
	rep.RetriedOK = t.retriedOK
	rep.RetryFailures, rep.RetryFailList = sum(t.retryFail), counts(t.retryFail)
	rep.Busy, rep.BusyRetriedOK = t.busy, t.busyOK
	t.mu.Unlock()

	opts.progress("  %d calls, %d refused by a stopping instance (%d retried elsewhere at once: %d ok), %d answered HMRC busy (retried after 1 s: %d ok), %d failed; checking every connection",
		rep.Calls, rep.Refused, rep.RetriedOK+rep.RetryFailures, rep.RetriedOK, rep.Busy, rep.BusyRetriedOK, rep.FailedCalls)
	if rep.Check, err = c.check(ctx); err != nil {
		return nil, err
	}
	if rep.Interrupted, err = c.auditCount(ctx, mtdconnect.AuditRefreshInterrupted); err != nil {
		return nil, err
	}
	after, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	rep.Refreshes = after.Refreshes - before.Refreshes
	rep.RefreshReuses = after.RefreshReuses - before.RefreshReuses
	rep.InProgressRejections = after.InProgressRejections - before.InProgressRejections
	return rep, nil
}

// restartGracefully stops slot's instance as a deploy does (SIGTERM,
// preferably while it holds a refresh), checks how it stopped, and starts
// its replacement.
func (c *cluster) restartGracefully(ctx context.Context, slot int, slots *slotStates, rep *RollingReport, drains, readies *[]time.Duration) error {
	p := c.instance(slot)
	pid := p.cmd.Process.Pid
	// Wait (a little) for a refresh in flight: the window a stop must not
	// cut. Most passes find one at once.
	mid := false
	for deadline := time.Now().Add(5 * time.Second); !mid && time.Now().Before(deadline) && ctx.Err() == nil; {
		n, err := c.leasesOf(ctx, pid)
		if err != nil {
			return err
		}
		if mid = n > 0; !mid {
			sleepCtx(ctx, 5*time.Millisecond)
		}
	}
	slots.set(slot, true)
	defer slots.set(slot, false)
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	rep.Restarts++
	if mid {
		rep.RestartsMidRefresh++
	}
	select {
	case <-p.exited:
	case <-time.After(c.opts.Rolling.DrainTimeout + 30*time.Second):
		p.kill()
		rep.NonZeroExits++
		return fmt.Errorf("%s did not exit within %v of SIGTERM; see %s", p.name, c.opts.Rolling.DrainTimeout+30*time.Second, p.logPath)
	}
	*drains = append(*drains, time.Since(sent))
	if p.waitErr() != nil {
		rep.NonZeroExits++
		c.opts.progress("  %s exited with %v after SIGTERM; see %s", p.name, p.waitErr(), p.logPath)
	}
	left, err := c.leasesOf(ctx, pid)
	if err != nil {
		return err
	}
	rep.LeasesLeft += left
	if p.logSays("stopped before the drain finished") {
		rep.DrainsCut++
	}
	started := time.Now()
	if _, err := c.startInstance(ctx, slot); err != nil {
		return err
	}
	if err := c.instance(slot).waitReady(ctx, "/readyz", 2*time.Minute); err != nil {
		return err
	}
	*readies = append(*readies, time.Since(started))
	return nil
}

// hammerRolling is hammer for the rolling scenario: each caller calls its
// own instance; a call that instance refuses while being stopped is retried
// at once on another instance, and the caller uses the others until its own
// is ready again, as a load balancer would once the instance is out.
func (c *cluster) hammerRolling(ctx context.Context, perInstance int, slots *slotStates, t *rollingTally) {
	var wg sync.WaitGroup
	n := c.instanceCount()
	for i := range n * perInstance {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			home, avoidEpoch := i%n, -1
			for ctx.Err() == nil {
				id := c.users[rng.IntN(len(c.users))]
				slot := home
				if stopping, epoch := slots.get(home); stopping && epoch == avoidEpoch {
					slot = c.otherSlot(home, slots, rng)
				}
				r := c.call(ctx, slot, id, "test")
				if ctx.Err() != nil && r.err != nil {
					return // cut short by the end of the load
				}
				if r.busy() {
					t.mu.Lock()
					t.busy++
					t.mu.Unlock()
					sleepCtx(ctx, time.Second)
					if ctx.Err() != nil {
						return
					}
					if r = c.call(ctx, slot, id, "test"); r.ok() {
						t.mu.Lock()
						t.busyOK++
						t.mu.Unlock()
					}
				}
				stopping, epoch := slots.get(slot)
				if r.err == nil || !stopping {
					t.add(r)
					if r.err != nil {
						sleepCtx(ctx, 50*time.Millisecond)
					}
					continue
				}
				// Refused by an instance being stopped: not taken, so
				// retried elsewhere at once.
				if slot == home {
					avoidEpoch = epoch
				}
				t.mu.Lock()
				t.refused[r.describe()]++
				t.mu.Unlock()
				retry := c.call(ctx, c.otherSlot(slot, slots, rng), id, "test")
				if ctx.Err() != nil && retry.err != nil {
					return
				}
				t.add(retry)
				t.mu.Lock()
				if retry.ok() {
					t.retriedOK++
				} else {
					t.retryFail[retry.describe()]++
				}
				t.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// otherSlot picks an instance slot other than slot that is not being
// stopped (any other, if all are).
func (c *cluster) otherSlot(slot int, slots *slotStates, rng *rand.Rand) int {
	n := c.instanceCount()
	var ready []int
	for s := range n {
		if stopping, _ := slots.get(s); s != slot && !stopping {
			ready = append(ready, s)
		}
	}
	if len(ready) == 0 {
		return (slot + 1 + rng.IntN(max(n-1, 1))) % n
	}
	return ready[rng.IntN(len(ready))]
}

func (t *rollingTally) refusedTotal() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return sum(t.refused)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// logSays reports whether the process's log holds s.
func (p *process) logSays(s string) bool {
	return strings.Contains(p.logTail(1_000_000), s)
}
