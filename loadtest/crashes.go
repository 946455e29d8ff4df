package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// CrashesConfig sizes the crashes scenario: instances are killed with
// SIGKILL at random moments while refreshes run on every instance, then
// HMRC loses the answers of some refreshes it applied (the same window,
// seen from HMRC's side).
type CrashesConfig struct {
	Kills              int // default 50
	Connections        int // default 100
	CallersPerInstance int // default 20
	// MaxInterval bounds the random pause before each kill; default 3s.
	MaxInterval time.Duration
	// AccessTokenLifetime (simulator) and RefreshMargin (service) keep
	// refreshes running all the time; defaults 3s and 1s.
	AccessTokenLifetime time.Duration
	RefreshMargin       time.Duration
	Rate                float64       // the service's budget; default 5000/s (the simulator's limit is off)
	Latency             time.Duration // HMRC's answer time; default 100ms
	// Settle bounds the wait, after the last kill, for every refresh lease
	// a dead instance left to be resolved (a lease lasts 60s and the
	// refresher passes every 15-45s). Default 3 minutes.
	Settle time.Duration
	// LostResponses is how long HMRC loses the answer of a fraction
	// LostResponseRate of the requests it applied; defaults 20s and 0.05.
	// A negative duration skips that phase.
	LostResponses    time.Duration
	LostResponseRate float64
}

func (c *CrashesConfig) setDefaults() {
	setInt(&c.Kills, 50)
	setInt(&c.Connections, 100)
	setInt(&c.CallersPerInstance, 20)
	setDuration(&c.MaxInterval, 3*time.Second)
	setDuration(&c.AccessTokenLifetime, 3*time.Second)
	setDuration(&c.RefreshMargin, time.Second)
	setFloat(&c.Rate, 5000)
	setDuration(&c.Latency, 100*time.Millisecond)
	setDuration(&c.Settle, 3*time.Minute)
	if c.LostResponses == 0 {
		c.LostResponses = 20 * time.Second
	}
	setFloat(&c.LostResponseRate, 0.05)
}

// CrashesReport is what the crashes scenario measured.
type CrashesReport struct {
	Config    CrashesConfig `json:"config"`
	Instances int           `json:"instances"`
	Kills     int           `json:"kills"`
	// KillsDuringRefresh counts kills that left at least one refresh in
	// flight (a lease held by the dead process); LeasesOrphaned counts
	// those leases.
	KillsDuringRefresh int     `json:"kills_during_refresh"`
	LeasesOrphaned     int     `json:"leases_orphaned"`
	Restart            Latency `json:"restart"` // start of a new instance to /healthz
	// Calls during the kills; calls to an instance being killed fail.
	Calls       int64   `json:"calls"`
	FailedCalls int64   `json:"failed_calls"`
	Failures    []Count `json:"failures,omitempty"`
	// At the simulator, during the kills and the settling.
	Refreshes     int64 `json:"refreshes"`
	RefreshReuses int64 `json:"refresh_reuses"`
	// SettleSeconds is how long after the last kill the last orphaned
	// lease was resolved.
	SettleSeconds float64 `json:"settle_seconds"`
	// Recoveries counts "refresh interrupted" audit events: refreshes
	// found interrupted and retried once with the stored token.
	Recoveries int              `json:"recoveries"`
	Check      *ConnectionCheck `json:"check"`
	// LostResponses is the second phase.
	LostResponses *LostResponsesReport `json:"lost_responses,omitempty"`
	Children      []string             `json:"children,omitempty"`
}

// LostResponsesReport is the phase in which HMRC applies some refreshes
// and API calls but the answer never arrives.
type LostResponsesReport struct {
	Seconds       float64          `json:"seconds"`
	Rate          float64          `json:"rate"`
	Calls         int64            `json:"calls"`
	FailedCalls   int64            `json:"failed_calls"`
	Failures      []Count          `json:"failures,omitempty"`
	Refreshes     int64            `json:"refreshes"`
	RefreshReuses int64            `json:"refresh_reuses"`
	Check         *ConnectionCheck `json:"check"`
}

// Violations lists the bounds that did not hold.
func (r *CrashesReport) Violations() []string {
	var v []string
	if r.Check != nil {
		v = append(v, r.Check.violations()...)
	}
	if r.Kills > 0 && r.KillsDuringRefresh == 0 {
		v = append(v, "no kill interrupted a refresh: the scenario proved nothing")
	}
	if r.LostResponses != nil && r.LostResponses.Check != nil {
		for _, s := range r.LostResponses.Check.violations() {
			v = append(v, "lost responses: "+s)
		}
	}
	return append(v, r.Children...)
}

func runCrashes(ctx context.Context, opts *Options) (*CrashesReport, error) {
	cfg := opts.Crashes
	c, err := newCluster(ctx, opts, clusterSpec{
		scenario: ScenarioCrashes, connections: cfg.Connections, rate: cfg.Rate, simRate: -1,
		accessLifetime: cfg.AccessTokenLifetime, refreshMargin: cfg.RefreshMargin,
		simFlags: []string{"--latency", cfg.Latency.String()},
	})
	if err != nil {
		return nil, err
	}
	rep := &CrashesReport{Config: cfg, Instances: opts.Instances}
	defer func() { rep.Children = c.close() }()

	before, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	opts.progress("  %d kills at random moments while %d callers × %d instances use %d connections",
		cfg.Kills, cfg.CallersPerInstance, opts.Instances, cfg.Connections)
	t := newTally(false)
	lctx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	load.Go(func() { c.hammer(lctx, cfg.CallersPerInstance, "test", t) })
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	var restarts []time.Duration
	for k := 1; k <= cfg.Kills && ctx.Err() == nil; k++ {
		sleepCtx(ctx, time.Duration(rng.Int64N(int64(cfg.MaxInterval))))
		slot := rng.IntN(c.instanceCount())
		p := c.instance(slot)
		pid := p.cmd.Process.Pid
		p.kill()
		orphaned, err := c.leasesOf(ctx, pid)
		if err != nil {
			stopLoad()
			load.Wait()
			return nil, err
		}
		rep.Kills++
		rep.LeasesOrphaned += orphaned
		if orphaned > 0 {
			rep.KillsDuringRefresh++
		}
		d, err := c.startInstance(ctx, slot)
		if err != nil {
			stopLoad()
			load.Wait()
			return nil, fmt.Errorf("restart after kill %d: %w", k, err)
		}
		restarts = append(restarts, d)
		if k%10 == 0 {
			opts.progress("  %d kills, %d left refreshes in flight (%d leases)", k, rep.KillsDuringRefresh, rep.LeasesOrphaned)
		}
	}
	lastKill := time.Now()
	stopLoad()
	load.Wait()
	rep.Restart = summarise(restarts)
	rep.Calls, rep.FailedCalls, rep.Failures = t.calls, t.failed, t.failureList()

	opts.progress("  waiting for every orphaned refresh to be resolved (a lease lasts 60s)")
	if err := c.settle(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	rep.SettleSeconds = roundSeconds(time.Since(lastKill))
	after, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	rep.Refreshes = after.Refreshes - before.Refreshes
	rep.RefreshReuses = after.RefreshReuses - before.RefreshReuses
	if rep.Recoveries, err = c.auditCount(ctx, mtdconnect.AuditRefreshInterrupted); err != nil {
		return nil, err
	}
	if rep.Check, err = c.check(ctx); err != nil {
		return nil, err
	}
	opts.progress("  after %d kills: %d connected, needs reconnect %v, %d lost silently, %d unresolved",
		rep.Kills, rep.Check.Connected, rep.Check.NeedsReconnect, rep.Check.LostSilently, rep.Check.Unresolved)
	if cfg.LostResponses > 0 {
		// The next phase counts on the connections still connected.
		if err := c.keepConnected(ctx); err != nil {
			return nil, err
		}
		if rep.LostResponses, err = c.lostResponses(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// lostResponses runs load while HMRC loses some answers, then proves every
// connection again.
func (c *cluster) lostResponses(ctx context.Context, cfg CrashesConfig) (*LostResponsesReport, error) {
	c.opts.progress("  HMRC loses %.0f%% of its answers for %v, on the %d connections still connected", cfg.LostResponseRate*100, cfg.LostResponses, len(c.users))
	rep := &LostResponsesReport{Seconds: cfg.LostResponses.Seconds(), Rate: cfg.LostResponseRate}
	before, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.setFaults(ctx, hmrcsim.Faults{Latency: cfg.Latency, LostResponseRate: cfg.LostResponseRate, Seed: 1}); err != nil {
		return nil, err
	}
	t := newTally(false)
	lctx, cancel := context.WithTimeout(ctx, cfg.LostResponses)
	c.hammer(lctx, cfg.CallersPerInstance, "test", t)
	cancel()
	if err := c.setFaults(ctx, hmrcsim.Faults{Latency: cfg.Latency}); err != nil {
		return nil, err
	}
	if err := c.settle(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	after, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	rep.Calls, rep.FailedCalls, rep.Failures = t.calls, t.failed, t.failureList()
	rep.Refreshes = after.Refreshes - before.Refreshes
	rep.RefreshReuses = after.RefreshReuses - before.RefreshReuses
	if rep.Check, err = c.check(ctx); err != nil {
		return nil, err
	}
	c.opts.progress("  after lost answers: %d connected, needs reconnect %v, %d lost silently, %d unresolved",
		rep.Check.Connected, rep.Check.NeedsReconnect, rep.Check.LostSilently, rep.Check.Unresolved)
	return rep, nil
}

// keepConnected narrows the landlords a scenario uses to those connected.
func (c *cluster) keepConnected(ctx context.Context) error {
	var kept []int64
	for _, id := range c.users {
		conn, err := c.store.Connection(ctx, id, mtdconnect.PurposeIncomeTax)
		if err != nil {
			return err
		}
		if conn.Status == mtdconnect.StatusConnected {
			kept = append(kept, id)
		}
	}
	c.users = kept
	return nil
}

// leasesOf counts the refresh leases held by the process with pid (the
// lease owner is host/pid/random).
func (c *cluster) leasesOf(ctx context.Context, pid int) (int, error) {
	n := 0
	mark := fmt.Sprintf("/%d/", pid)
	for _, id := range c.users {
		conn, err := c.store.Connection(ctx, id, mtdconnect.PurposeIncomeTax)
		if err != nil {
			return 0, err
		}
		if strings.Contains(conn.RefreshLeaseOwner, mark) {
			n++
		}
	}
	return n, nil
}

// settle waits until no refresh lease is held, or fails after timeout.
func (c *cluster) settle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.leased(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			// Not an error of the run: check reports them as unresolved.
			c.opts.progress("  %d refresh lease(s) still held after %v", n, timeout)
			return nil
		}
		sleepCtx(ctx, time.Second)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// auditCount counts the audit events of a kind over every connection.
func (c *cluster) auditCount(ctx context.Context, kind string) (int, error) {
	n := 0
	for _, id := range c.users {
		events, err := c.store.Audit(ctx, id, 10000)
		if err != nil {
			return 0, err
		}
		for _, e := range events {
			if e.Kind == kind {
				n++
			}
		}
	}
	return n, nil
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}
