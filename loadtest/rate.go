package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// RateConfig sizes the rate scenario. Its first phase asks more of HMRC
// than the budget allows, through every instance; its second saturates the
// budget with background work while landlords (interactive calls) and
// scheduled work come and go, to show what each priority waits.
type RateConfig struct {
	Duration    time.Duration // of the demand phase; default 60s
	Demand      float64       // calls/second over all instances; default 10
	Limit       float64       // HMRC's limit and the service's budget; default 3
	Connections int           // default 30

	PriorityDuration  time.Duration // default 60s
	InteractiveRate   float64       // landlords' calls/second; default 1
	ScheduledRate     float64       // scheduled calls/second; default 0.5
	BackgroundWorkers int           // callers that take any free slot; default 6

	// RefreshDuration is the third phase: background refreshes (the
	// refresher's work) saturate the budget while landlords call on the
	// same connections; default 60s. RefreshConnections have access
	// tokens of RefreshLifetime, refreshed RefreshMargin before expiry:
	// defaults 30, 30s and 25s, i.e. 6 refreshes/s wanted of a 3/s budget.
	RefreshDuration    time.Duration
	RefreshConnections int
	RefreshLifetime    time.Duration
	RefreshMargin      time.Duration

	// BusyCPUs is how many processes spin on the CPU during the
	// scenario, as a heavy neighbour would (CI runs the scenario beside
	// the Chromium tests): a call that reaches its slot late must still
	// not make a 429. Default 0.
	BusyCPUs int
}

func (c *RateConfig) setDefaults() {
	setDuration(&c.Duration, 60*time.Second)
	setFloat(&c.Demand, 10)
	setFloat(&c.Limit, 3)
	setInt(&c.Connections, 30)
	setDuration(&c.PriorityDuration, 60*time.Second)
	setFloat(&c.InteractiveRate, 1)
	setFloat(&c.ScheduledRate, 0.5)
	setInt(&c.BackgroundWorkers, 6)
	setDuration(&c.RefreshDuration, 60*time.Second)
	setInt(&c.RefreshConnections, 30)
	setDuration(&c.RefreshLifetime, 30*time.Second)
	setDuration(&c.RefreshMargin, 25*time.Second)
}

// RateReport is what the rate scenario measured.
type RateReport struct {
	Config    RateConfig `json:"config"`
	Instances int        `json:"instances"`
	// MaxPerSecond is the most requests HMRC admitted in any 1-second
	// window over the whole run (seeding included); Throttled its 429s.
	MaxPerSecond int   `json:"max_per_second"`
	Throttled    int64 `json:"throttled"`
	// The demand phase.
	Demanded     int64   `json:"demanded"` // calls started
	Succeeded    int64   `json:"succeeded"`
	Failed       int64   `json:"failed"`
	Failures     []Count `json:"failures,omitempty"`
	UsefulPerSec float64 `json:"useful_per_second"` // successful calls completed within the window, per second
	UsefulShare  float64 `json:"useful_share"`      // of the limit
	HMRCPerSec   float64 `json:"hmrc_per_second"`   // every request HMRC admitted within the window, per second
	DemandWait   Latency `json:"demand_latency"`    // of the demand phase's calls, served or refused
	DrainSeconds float64 `json:"drain_seconds"`     // after the demand stopped, until the last call ended
	// Served is the latency of the calls HMRC served (goal p99 ≤ 5 s);
	// Refused the landlords' calls answered at once "HMRC is busy, try
	// again in N seconds" (503 hmrc_busy), and RefusedIn how fast.
	Served    Latency `json:"served_latency"`
	Refused   int64   `json:"refused"`
	RefusedIn Latency `json:"refused_latency"`
	// The database load of the demand phase, per HMRC request: the HMRC
	// clients' store calls (each a transaction), and on PostgreSQL every
	// transaction of the database (pg_stat_database), pages, API keys and
	// refused calls included.
	DemandStoreCalls    *StoreCalls `json:"demand_store_calls,omitempty"`
	DemandDBXactPerReq  float64     `json:"demand_db_transactions_per_hmrc_request,omitempty"`
	DemandDBXactPerCall float64     `json:"demand_db_transactions_per_api_call,omitempty"`
	// The priority phase.
	Interactive        Latency `json:"interactive"` // landlords' calls served, through the API, end to end
	InteractiveFailed  int64   `json:"interactive_failed"`
	InteractiveRefused int64   `json:"interactive_refused"`
	Scheduled          Latency `json:"scheduled"`
	ScheduledFailed    int64   `json:"scheduled_failed"`
	BackgroundCalls    int64   `json:"background_calls"`
	BackgroundPerSec   float64 `json:"background_per_second"`
	// InteractiveLimiter is the instances' own account of the landlords'
	// waits for the budget (from /metrics), when they serve metrics.
	InteractiveLimiter *WaitShare `json:"interactive_limiter,omitempty"`
	PriorityHMRCPerSec float64    `json:"priority_hmrc_per_second"`
	// The refresh phase.
	RefreshInteractive        Latency  `json:"refresh_interactive"`
	RefreshInteractiveFailed  int64    `json:"refresh_interactive_failed"`
	RefreshInteractiveRefused int64    `json:"refresh_interactive_refused"`
	RefreshFailures           []Count  `json:"refresh_interactive_failures,omitempty"`
	RefreshesPerSec           float64  `json:"refreshes_per_second"`
	RefreshHMRCPerSec         float64  `json:"refresh_hmrc_per_second"`
	RefreshLeaseWaits         float64  `json:"refresh_lease_waits,omitempty"` // from the instances' /metrics
	RefreshMaxPerSecond       int      `json:"refresh_max_per_second"`
	RefreshThrottled          int64    `json:"refresh_throttled"`
	Children                  []string `json:"children,omitempty"`
}

// Violations lists the bounds that did not hold. The goals (useful calls
// at 95% of the limit, interactive p99 within 1s) are reported, not bounds.
func (r *RateReport) Violations() []string {
	var v []string
	if float64(r.MaxPerSecond) > r.Config.Limit {
		v = append(v, fmt.Sprintf("HMRC saw %d requests in one second (must be at most the limit, %s)", r.MaxPerSecond, formatFloat(r.Config.Limit)))
	}
	if r.Throttled != 0 {
		v = append(v, fmt.Sprintf("%d 429 answer(s) from HMRC (must be 0)", r.Throttled))
	}
	if float64(r.RefreshMaxPerSecond) > r.Config.Limit {
		v = append(v, fmt.Sprintf("refresh phase: HMRC saw %d requests in one second (must be at most the limit, %s)", r.RefreshMaxPerSecond, formatFloat(r.Config.Limit)))
	}
	if r.RefreshThrottled != 0 {
		v = append(v, fmt.Sprintf("refresh phase: %d 429 answer(s) from HMRC (must be 0)", r.RefreshThrottled))
	}
	return append(v, r.Children...)
}

func runRate(ctx context.Context, opts *Options) (*RateReport, error) {
	cfg := opts.Rate
	c, err := newCluster(ctx, opts, clusterSpec{scenario: ScenarioRate, connections: cfg.Connections, rate: cfg.Limit})
	if err != nil {
		return nil, err
	}
	rep := &RateReport{Config: cfg, Instances: opts.Instances}
	stopBusy, err := busyCPUs(cfg.BusyCPUs)
	if err != nil {
		return nil, err
	}
	defer stopBusy()
	closed := false
	defer func() {
		if !closed {
			rep.Children = c.close()
		}
	}()

	if err := c.demandPhase(ctx, cfg, rep); err != nil {
		return nil, err
	}
	if err := c.priorityPhase(ctx, cfg, rep); err != nil {
		return nil, err
	}
	final, err := c.simStats(ctx)
	if err != nil {
		return nil, err
	}
	rep.MaxPerSecond, rep.Throttled = final.MaxPerSecond, final.Throttled
	rep.Children, closed = c.close(), true
	if err := refreshPhase(ctx, opts, cfg, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// refreshPhase runs on a deployment of its own, whose access tokens last
// seconds: the refreshers of the instances and of this process (a pass
// every second, six workers) want more refreshes than the budget allows,
// at background priority, while landlords call through the API on the
// same connections.
func refreshPhase(ctx context.Context, opts *Options, cfg RateConfig, rep *RateReport) error {
	c, err := newCluster(ctx, opts, clusterSpec{
		scenario: ScenarioRate, connections: cfg.RefreshConnections, rate: cfg.Limit,
		accessLifetime: cfg.RefreshLifetime, refreshMargin: cfg.RefreshMargin,
	})
	if err != nil {
		return err
	}
	defer func() { rep.Children = append(rep.Children, c.close()...) }()
	opts.progress("  background refreshes want %.1f/s of the %s/s budget for %v; landlords call at %s/s on the same connections",
		float64(cfg.RefreshConnections)/(cfg.RefreshLifetime-cfg.RefreshMargin).Seconds(), formatFloat(cfg.Limit),
		cfg.RefreshDuration, formatFloat(cfg.InteractiveRate))
	s0, err := c.simStats(ctx)
	if err != nil {
		return err
	}
	m0, err := c.scrape(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, cfg.RefreshDuration)
	defer cancel()
	var wg sync.WaitGroup
	refresher := &hmrc.Refresher{Client: c.client, Interval: time.Second, Workers: cfg.BackgroundWorkers}
	wg.Go(func() { _ = refresher.Run(lctx) })
	interactive := newTally(false)
	wg.Go(func() {
		openLoop(lctx, cfg.InteractiveRate, func(k int) {
			interactive.add(c.call(ctx, k%c.instanceCount(), c.users[rand.IntN(len(c.users))], "test"))
		})
	})
	<-lctx.Done()
	elapsed := time.Since(start)
	s1, err := c.simStats(ctx)
	wg.Wait() // even on an error: no call may outlive the cluster
	if err != nil {
		return err
	}
	m1, err := c.scrape(ctx)
	if err != nil {
		return err
	}
	rep.RefreshInteractive, rep.RefreshInteractiveFailed = summarise(interactive.served), interactive.failed
	rep.RefreshInteractiveRefused = interactive.refused
	rep.RefreshFailures = interactive.failureList()
	rep.RefreshesPerSec = rate(s1.Refreshes-s0.Refreshes, elapsed)
	rep.RefreshHMRCPerSec = rate(s1.APIRequests+s1.TokenRequests-s0.APIRequests-s0.TokenRequests, elapsed)
	rep.RefreshLeaseWaits = m1["mtdconnect_hmrc_lease_waits_total"] - m0["mtdconnect_hmrc_lease_waits_total"]
	rep.RefreshMaxPerSecond, rep.RefreshThrottled = s1.MaxPerSecond, s1.Throttled
	opts.progress("  %.2f refreshes/s; landlords' calls %s, %d failed", rep.RefreshesPerSec, rep.RefreshInteractive, rep.RefreshInteractiveFailed)
	return nil
}

// busyCPUs starts n processes that spin on the CPU until the returned
// function is called: a heavy neighbour, competing for the CPUs as another
// program does (not inside this process's scheduler).
func busyCPUs(n int) (stop func(), err error) {
	var procs []*exec.Cmd
	stop = func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	for range n {
		p := exec.Command("sh", "-c", "while :; do :; done")
		if err := p.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start a CPU-bound neighbour: %w", err)
		}
		procs = append(procs, p)
	}
	return stop, nil
}

// openLoop starts fn rate times a second until ctx ends, whatever the
// calls in flight, and waits for them all.
func openLoop(ctx context.Context, perSecond float64, fn func(k int)) {
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / perSecond)
	next := time.Now()
	for k := 0; ; k++ {
		sleepCtx(ctx, time.Until(next))
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() { fn(k) })
		next = next.Add(interval)
	}
	wg.Wait()
}

func (c *cluster) demandPhase(ctx context.Context, cfg RateConfig, rep *RateReport) error {
	c.opts.progress("  demand of %s calls/s over %d instances for %v; HMRC's limit is %s/s",
		formatFloat(cfg.Demand), c.instanceCount(), cfg.Duration, formatFloat(cfg.Limit))
	t := newTally(true)
	x0, onPostgres, err := c.settledXacts(ctx)
	if err != nil {
		return err
	}
	m0, err := c.scrape(ctx)
	if err != nil {
		return err
	}
	s0, err := c.simStats(ctx)
	if err != nil {
		return err
	}
	var s1 statsAt
	start := time.Now()
	windowEnd := start.Add(cfg.Duration)
	lctx, cancel := context.WithDeadline(ctx, windowEnd)
	var issued atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The window's figures are read when it closes, while calls
		// still queue.
		sleepCtx(ctx, time.Until(windowEnd))
		s1.stats, s1.err = c.simStats(ctx)
	}()
	var drainStart time.Time
	openLoop(lctx, cfg.Demand, func(k int) {
		issued.Add(1)
		// The calls outlive the window: ctx, not lctx.
		t.add(c.call(ctx, k%c.instanceCount(), c.users[rand.IntN(len(c.users))], "test"))
	})
	cancel()
	drainStart = windowEnd
	<-done
	if s1.err != nil {
		return s1.err
	}
	rep.DrainSeconds = roundSeconds(time.Since(drainStart))
	rep.Demanded, rep.Failed, rep.Failures = issued.Load(), t.failed, t.failureList()
	rep.Succeeded = t.calls - t.failed - t.refused
	rep.Served, rep.Refused, rep.RefusedIn = summarise(t.served), t.refused, summarise(t.refusedIn)
	// Every request of the phase, the drain's included.
	s2, err := c.simStats(ctx)
	if err != nil {
		return err
	}
	m1, err := c.scrape(ctx)
	if err != nil {
		return err
	}
	reqs := s2.APIRequests + s2.TokenRequests - s0.APIRequests - s0.TokenRequests
	rep.DemandStoreCalls = storeCalls(m0, m1, reqs, t.calls)
	if onPostgres && reqs > 0 {
		x1, _, err := c.settledXacts(ctx)
		if err != nil {
			return err
		}
		rep.DemandDBXactPerReq = round2(float64(x1-x0) / float64(reqs))
		rep.DemandDBXactPerCall = round2(float64(x1-x0) / float64(t.calls))
	}
	inWindow := 0
	for _, at := range t.okAt {
		if !at.After(windowEnd) {
			inWindow++
		}
	}
	rep.UsefulPerSec = rate(int64(inWindow), cfg.Duration)
	rep.UsefulShare = rep.UsefulPerSec / cfg.Limit
	rep.HMRCPerSec = rate(s1.stats.APIRequests+s1.stats.TokenRequests-s0.APIRequests-s0.TokenRequests, cfg.Duration)
	rep.DemandWait = summarise(t.latencies)
	c.opts.progress("  %d calls demanded, %d served (p99 %s), %d refused at once; %.2f useful calls/s (%.0f%% of the limit), drained %.1fs after",
		rep.Demanded, rep.Succeeded, fmtMs(rep.Served.P99), rep.Refused, rep.UsefulPerSec, rep.UsefulShare*100, rep.DrainSeconds)
	return nil
}

type statsAt struct {
	stats hmrcsim.Stats
	err   error
}

func (c *cluster) priorityPhase(ctx context.Context, cfg RateConfig, rep *RateReport) error {
	c.opts.progress("  %d background callers saturate the budget for %v; landlords call at %s/s, scheduled work at %s/s",
		cfg.BackgroundWorkers, cfg.PriorityDuration, formatFloat(cfg.InteractiveRate), formatFloat(cfg.ScheduledRate))
	s0, err := c.simStats(ctx)
	if err != nil {
		return err
	}
	m0, err := c.scrape(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, cfg.PriorityDuration)
	defer cancel()
	var (
		wg          sync.WaitGroup
		background  atomic.Int64
		scheduled   = newTally(false)
		interactive = newTally(false)
	)
	for range cfg.BackgroundWorkers {
		wg.Go(func() {
			for lctx.Err() == nil {
				if err := c.batchCall(lctx, c.users[rand.IntN(len(c.users))], hmrc.Background); err == nil {
					background.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		openLoop(lctx, cfg.ScheduledRate, func(int) {
			t := time.Now()
			r := apiResult{status: http.StatusOK}
			if r.err = c.batchCall(ctx, c.users[rand.IntN(len(c.users))], hmrc.Scheduled); r.err != nil {
				r.status = 0
			}
			r.latency = time.Since(t)
			scheduled.add(r)
		})
	})
	wg.Go(func() {
		openLoop(lctx, cfg.InteractiveRate, func(k int) {
			interactive.add(c.call(ctx, k%c.instanceCount(), c.users[rand.IntN(len(c.users))], "test"))
		})
	})
	<-lctx.Done()
	elapsed := time.Since(start)
	s1, err := c.simStats(ctx)
	wg.Wait() // even on an error: no call may outlive the cluster
	if err != nil {
		return err
	}
	m1, err := c.scrape(ctx)
	if err != nil {
		return err
	}
	if w, ok := waitShare(m0, m1, "interactive"); ok {
		rep.InteractiveLimiter = &w
	}
	rep.Interactive, rep.InteractiveFailed, rep.InteractiveRefused = summarise(interactive.served), interactive.failed, interactive.refused
	rep.Scheduled, rep.ScheduledFailed = summarise(scheduled.latencies), scheduled.failed
	rep.BackgroundCalls = background.Load()
	rep.BackgroundPerSec = rate(rep.BackgroundCalls, elapsed)
	rep.PriorityHMRCPerSec = rate(s1.APIRequests+s1.TokenRequests-s0.APIRequests-s0.TokenRequests, elapsed)
	c.opts.progress("  HMRC served %.2f requests/s; background %.2f calls/s; interactive %s; scheduled %s",
		rep.PriorityHMRCPerSec, rep.BackgroundPerSec, rep.Interactive, rep.Scheduled)
	return nil
}

// batchCall is work no landlord waits for, made by this process as one
// more participant of the deployment's budget (the limiter is in the
// store): the landlord's Income Tax obligations at the given priority, with
// the fraud-prevention data of a batch process. The business ID lookup
// before it is cached, so each call after a user's first is one request.
func (c *cluster) batchCall(ctx context.Context, userID int64, prio hmrc.Priority) error {
	origin, err := c.client.BatchOrigin(map[string]string{"mtdconnect": strconv.FormatInt(userID, 10)})
	if err != nil {
		return err
	}
	_, err = c.itsa.Obligations(ctx, userID, c.opts.TestUserNINO, itsa.CurrentTaxYear(time.Now()), origin, itsa.WithPriority(prio))
	return err
}
