package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// FaultsConfig sizes the faults scenario: for a while a share of HMRC's
// token and API answers fail (500, a hang past the service's request
// timeout, a reset connection), none of them applied; then HMRC is well
// again and every connection must be healthy shortly after.
type FaultsConfig struct {
	Duration time.Duration // of the faults; default 60s
	Recovery time.Duration // bound on "all healthy after"; default 30s
	// Demand is landlords' calls per second over all instances, whatever
	// the calls in flight (a hung call does not hold the next one back);
	// default 20.
	Demand      float64
	Connections int // default 50
	// AccessTokenLifetime (simulator) and RefreshMargin (service) make
	// refreshes happen under the faults; defaults 10s and 4s.
	AccessTokenLifetime time.Duration
	RefreshMargin       time.Duration
	Rate                float64 // the service's budget; default 100/s (the simulator's limit is off)
	// ErrorRate, TimeoutRate and ResetRate default to 0.1 each (30% in all).
	ErrorRate, TimeoutRate, ResetRate float64
	// Timeout is how long a timing-out request hangs before HMRC drops the
	// connection; default 25s, past the service's 20s request timeout.
	Timeout time.Duration
}

func (c *FaultsConfig) setDefaults() {
	setDuration(&c.Duration, 60*time.Second)
	setDuration(&c.Recovery, 30*time.Second)
	setFloat(&c.Demand, 20)
	setInt(&c.Connections, 50)
	setDuration(&c.AccessTokenLifetime, 10*time.Second)
	setDuration(&c.RefreshMargin, 4*time.Second)
	setFloat(&c.Rate, 100)
	if c.ErrorRate == 0 && c.TimeoutRate == 0 && c.ResetRate == 0 {
		c.ErrorRate, c.TimeoutRate, c.ResetRate = 0.1, 0.1, 0.1
	}
	setDuration(&c.Timeout, 25*time.Second)
}

// FaultsReport is what the faults scenario measured.
type FaultsReport struct {
	Config    FaultsConfig `json:"config"`
	Instances int          `json:"instances"`
	// While the faults ran: calls through the API and those that failed
	// for good (every retry failed, or the refresh could not be done).
	Calls          int64   `json:"calls"`
	FailedForGood  int64   `json:"failed_for_good"`
	Failures       []Count `json:"failures,omitempty"`
	HMRCRequests   int64   `json:"hmrc_requests"` // token + API requests HMRC admitted while faults ran
	Refreshes      int64   `json:"refreshes"`
	RefreshReuses  int64   `json:"refresh_reuses"`
	InProgress     int64   `json:"in_progress_rejections"`
	HealthySeconds float64 `json:"healthy_seconds"` // after the faults stopped, until every connection answered
	Unhealthy      int     `json:"unhealthy"`       // connections with no good answer by 3 × Recovery
	// Interrupted counts "refresh interrupted" audit events: no process
	// dies here, so any is a lease left behind.
	Interrupted int              `json:"interrupted_refreshes"`
	Check       *ConnectionCheck `json:"check"`
	Children    []string         `json:"children,omitempty"`
}

// Violations lists the bounds that did not hold.
func (r *FaultsReport) Violations() []string {
	var v []string
	if r.Check != nil {
		v = append(v, r.Check.violations()...)
		if n := r.Check.NeedsReconnectTotal(); n > 0 {
			v = append(v, fmt.Sprintf("%d connection(s) lost: need reconnecting (must be 0): %v", n, r.Check.NeedsReconnect))
		}
	}
	if r.Unhealthy > 0 || r.HealthySeconds > r.Config.Recovery.Seconds() {
		v = append(v, fmt.Sprintf("all connections healthy %.1fs after the faults stopped (%d never), bound %v",
			r.HealthySeconds, r.Unhealthy, r.Config.Recovery))
	}
	if r.RefreshReuses != 0 {
		v = append(v, fmt.Sprintf("%d refresh-token reuse(s) (must be 0: no fault applies a refresh)", r.RefreshReuses))
	}
	if r.Interrupted != 0 {
		v = append(v, fmt.Sprintf("%d refresh(es) found interrupted though no process died (must be 0): a lease was left behind", r.Interrupted))
	}
	if r.Refreshes == 0 {
		v = append(v, "no refresh happened while the faults ran: the scenario proved nothing")
	}
	return append(v, r.Children...)
}

func runFaults(ctx context.Context, opts *Options) (*FaultsReport, error) {
	cfg := opts.Faults
	c, err := newCluster(ctx, opts, clusterSpec{
		scenario: ScenarioFaults, connections: cfg.Connections, rate: cfg.Rate, simRate: -1,
		accessLifetime: cfg.AccessTokenLifetime, refreshMargin: cfg.RefreshMargin,
	})
	if err != nil {
		return nil, err
	}
	rep := &FaultsReport{Config: cfg, Instances: opts.Instances}
	defer func() { rep.Children = c.close() }()

	before, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	faults := hmrcsim.Faults{ErrorRate: cfg.ErrorRate, TimeoutRate: cfg.TimeoutRate, ResetRate: cfg.ResetRate, Timeout: cfg.Timeout, Seed: 3}
	if err := c.setFaults(ctx, faults); err != nil {
		return nil, err
	}
	opts.progress("  %.0f%% of HMRC's answers fail (%.0f%% 500, %.0f%% hang %v, %.0f%% reset) for %v; %s calls/s over %d instances on %d connections",
		(cfg.ErrorRate+cfg.TimeoutRate+cfg.ResetRate)*100, cfg.ErrorRate*100, cfg.TimeoutRate*100, cfg.Timeout, cfg.ResetRate*100,
		cfg.Duration, formatFloat(cfg.Demand), opts.Instances, cfg.Connections)
	t := newTally(false)
	lctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	loadDone := make(chan struct{})
	defer func() { <-loadDone }() // on an error too: no call may outlive the cluster
	go func() {
		defer close(loadDone)
		// Calls started while the faults ran are waited for below: they
		// count as failed for good only if they fail after their retries.
		openLoop(lctx, cfg.Demand, func(k int) {
			t.add(c.call(ctx, k%c.instanceCount(), c.users[rand.IntN(len(c.users))], "test"))
		})
	}()
	<-lctx.Done()
	during, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.setFaults(ctx, hmrcsim.Faults{}); err != nil {
		return nil, err
	}
	cleared := time.Now()
	rep.HMRCRequests = during.TokenRequests + during.APIRequests - before.TokenRequests - before.APIRequests
	rep.Refreshes = during.Refreshes - before.Refreshes
	opts.progress("  faults off after %v; every connection must answer within %v", cfg.Duration, cfg.Recovery)

	healthy, unhealthy := c.healthy(ctx, cleared, 3*cfg.Recovery)
	rep.HealthySeconds, rep.Unhealthy = roundSeconds(healthy), unhealthy
	<-loadDone
	rep.Calls, rep.FailedForGood, rep.Failures = t.calls, t.failed, t.failureList()
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
	rep.RefreshReuses = after.RefreshReuses - before.RefreshReuses
	rep.InProgress = after.InProgressRejections - before.InProgressRejections
	opts.progress("  all healthy %.1fs after; %d calls while the faults ran, %d failed for good; %d connected, needs reconnect %v",
		rep.HealthySeconds, rep.Calls, rep.FailedForGood, rep.Check.Connected, rep.Check.NeedsReconnect)
	return rep, nil
}

// healthy calls every connection until it answers, and returns how long
// after since the last one first answered, and how many never did within
// limit.
func (c *cluster) healthy(ctx context.Context, since time.Time, limit time.Duration) (time.Duration, int) {
	ctx, cancel := context.WithDeadline(ctx, since.Add(limit))
	defer cancel()
	var (
		mu        sync.Mutex
		last      time.Duration
		unhealthy int
		wg        sync.WaitGroup
	)
	sem := make(chan struct{}, 50)
	for i, id := range c.users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for {
				r := c.call(ctx, i%c.instanceCount(), id, "test")
				if r.ok() {
					mu.Lock()
					last = max(last, time.Since(since))
					mu.Unlock()
					return
				}
				if ctx.Err() != nil {
					mu.Lock()
					unhealthy++
					mu.Unlock()
					return
				}
				sleepCtx(ctx, 200*time.Millisecond)
			}
		})
	}
	wg.Wait()
	return last, unhealthy
}
