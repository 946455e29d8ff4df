package loadtest

import (
	"context"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// RacesConfig sizes the races scenario: many callers on every instance use
// connections whose access tokens last seconds, so refreshes of the same
// connection race across goroutines and processes all the time.
type RacesConfig struct {
	Duration           time.Duration // default 60s
	CallersPerInstance int           // default 50
	Connections        int           // default 200
	// AccessTokenLifetime is the simulator's; default 5s. RefreshMargin
	// is the service's; default 2s, so each token is refreshed after 3s.
	AccessTokenLifetime time.Duration
	RefreshMargin       time.Duration
	// Rate is the service's budget; default 5000/s, so the budget is not
	// what limits this scenario (the simulator's limit is off).
	Rate float64
	// Latency is HMRC's answer time on every call (default 20ms); on a
	// refresh it sits inside the grant's "in progress" window.
	Latency time.Duration
}

func (c *RacesConfig) setDefaults() {
	setDuration(&c.Duration, 60*time.Second)
	setInt(&c.CallersPerInstance, 50)
	setInt(&c.Connections, 200)
	setDuration(&c.AccessTokenLifetime, 5*time.Second)
	setDuration(&c.RefreshMargin, 2*time.Second)
	setFloat(&c.Rate, 5000)
	setDuration(&c.Latency, 20*time.Millisecond)
}

func setDuration(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func setInt(n *int, v int) {
	if *n <= 0 {
		*n = v
	}
}

func setFloat(f *float64, v float64) {
	if *f <= 0 {
		*f = v
	}
}

// RacesReport is what the races scenario measured.
type RacesReport struct {
	Config    RacesConfig `json:"config"`
	Instances int         `json:"instances"`
	// Calls through the API's connection test (HMRC's Income Tax business
	// details for the landlord, with a valid token).
	Calls          int64   `json:"calls"`
	FailedCalls    int64   `json:"failed_calls"`
	Failures       []Count `json:"failures,omitempty"`
	CallsPerSecond float64 `json:"calls_per_second"`
	Latency        Latency `json:"latency"`
	// At the simulator: refreshes during the load; reuses and "in
	// progress" answers during the load and the check after it.
	Refreshes            int64   `json:"refreshes"`
	RefreshesPerSecond   float64 `json:"refreshes_per_second"`
	RefreshReuses        int64   `json:"refresh_reuses"`
	InProgressRejections int64   `json:"in_progress_rejections"`
	Throttled            int64   `json:"throttled"`
	MaxPerSecond         int     `json:"max_per_second"` // most requests HMRC admitted in any 1-s window
	// Interrupted counts refreshes found interrupted ("refresh interrupted"
	// audit events): no process dies here, so any is a lease left behind.
	Interrupted int `json:"interrupted_refreshes"`
	// The database load per call: the HMRC clients' store calls per HMRC
	// request, and on PostgreSQL every transaction of the database per API
	// call (API keys, landlords, connections, slots, refreshes).
	StoreCalls    *StoreCalls `json:"store_calls,omitempty"`
	DBXactPerCall float64     `json:"db_transactions_per_call,omitempty"`
	HMRCRequests  int64       `json:"hmrc_requests"`
	// InstanceRSS is each instance's resident memory at the end of the load.
	InstanceRSS []int64 `json:"instance_rss_bytes"`
	// After the load, every connection proven.
	Check *ConnectionCheck `json:"check"`
	// Children is what the processes' logs reported that must never
	// happen (data races under -race, panics).
	Children []string `json:"children,omitempty"`
}

// Violations lists the bounds that did not hold.
func (r *RacesReport) Violations() []string {
	var v []string
	if r.RefreshReuses != 0 {
		v = append(v, fmt.Sprintf("%d refresh-token reuse(s) at HMRC (must be 0)", r.RefreshReuses))
	}
	if r.InProgressRejections != 0 {
		v = append(v, fmt.Sprintf("%d \"already in progress\" answer(s) (must be 0)", r.InProgressRejections))
	}
	if r.FailedCalls != 0 {
		v = append(v, fmt.Sprintf("%d failed call(s) (must be 0): %v", r.FailedCalls, r.Failures))
	}
	if r.Interrupted != 0 {
		v = append(v, fmt.Sprintf("%d refresh(es) found interrupted though no process died (must be 0): a lease was left behind", r.Interrupted))
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

func runRaces(ctx context.Context, opts *Options) (*RacesReport, error) {
	cfg := opts.Races
	c, err := newCluster(ctx, opts, clusterSpec{
		scenario: ScenarioRaces, connections: cfg.Connections, rate: cfg.Rate, simRate: -1,
		accessLifetime: cfg.AccessTokenLifetime, refreshMargin: cfg.RefreshMargin,
		simFlags: []string{"--latency", cfg.Latency.String()},
	})
	if err != nil {
		return nil, err
	}
	rep := &RacesReport{Config: cfg, Instances: opts.Instances}
	defer func() { rep.Children = c.close() }()

	x0, onPostgres, err := c.settledXacts(ctx)
	if err != nil {
		return nil, err
	}
	m0, err := c.scrape(ctx)
	if err != nil {
		return nil, err
	}
	before, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	opts.progress("  %d callers × %d instances on %d connections for %v (access tokens last %v)",
		cfg.CallersPerInstance, opts.Instances, cfg.Connections, cfg.Duration, cfg.AccessTokenLifetime)
	t := newTally(false)
	lctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	start := time.Now()
	c.hammer(lctx, cfg.CallersPerInstance, "test", t)
	cancel()
	elapsed := time.Since(start)
	for i := range c.instanceCount() {
		if rss, err := c.instance(i).rss(); err == nil {
			rep.InstanceRSS = append(rep.InstanceRSS, rss)
		}
	}
	after, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	m1, err := c.scrape(ctx)
	if err != nil {
		return nil, err
	}
	rep.HMRCRequests = after.APIRequests + after.TokenRequests - before.APIRequests - before.TokenRequests
	rep.StoreCalls = storeCalls(m0, m1, rep.HMRCRequests, t.calls)
	if onPostgres && t.calls > 0 {
		x1, _, err := c.settledXacts(ctx)
		if err != nil {
			return nil, err
		}
		rep.DBXactPerCall = round2(float64(x1-x0) / float64(t.calls))
	}
	rep.Calls, rep.FailedCalls, rep.Failures = t.calls, t.failed, t.failureList()
	rep.CallsPerSecond = rate(t.calls, elapsed)
	rep.Latency = summarise(t.latencies)
	rep.Refreshes = after.Refreshes - before.Refreshes
	rep.RefreshesPerSecond = rate(rep.Refreshes, elapsed)
	rep.RefreshReuses = after.RefreshReuses - before.RefreshReuses
	rep.InProgressRejections = after.InProgressRejections - before.InProgressRejections
	rep.Throttled, rep.MaxPerSecond = after.Throttled-before.Throttled, after.MaxPerSecond
	opts.progress("  %d calls (%d failed), %d refreshes, %d reuses, %d in progress; checking every connection",
		rep.Calls, rep.FailedCalls, rep.Refreshes, rep.RefreshReuses, rep.InProgressRejections)
	if rep.Check, err = c.check(ctx); err != nil {
		return nil, err
	}
	if rep.Interrupted, err = c.auditCount(ctx, mtdconnect.AuditRefreshInterrupted); err != nil {
		return nil, err
	}
	// The check's forced refreshes must not reuse a token either.
	final, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	rep.RefreshReuses = final.RefreshReuses - before.RefreshReuses
	rep.InProgressRejections = final.InProgressRejections - before.InProgressRejections
	return rep, nil
}
