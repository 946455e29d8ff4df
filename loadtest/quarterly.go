package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// QuarterlyConfig sizes the quarterly scenario: landlords' quarterly
// journeys (read the obligations, send the year-to-date update) through
// the API, spread over the instances, with what HMRC is asked counted at
// the simulator. HMRC asks software to store the business ID "instead of
// making extra calls"; with the business ID stored with the landlord and
// the obligations kept in the store for every instance, a journey in steady
// state costs the update alone.
type QuarterlyConfig struct {
	Landlords int           // default 30
	Duration  time.Duration // of the steady state, after each landlord's first journey; default 30s
	// Workers run journeys at once; each owns some landlords, whose
	// journeys follow one another. Default 10.
	Workers int
	Rate    float64 // the service's budget; default 100/s (the simulator's limit is off)
	// MaxCallsPerJourney is the bound on HMRC requests per journey in
	// steady state; default 1.1.
	MaxCallsPerJourney float64
}

func (c *QuarterlyConfig) setDefaults() {
	setInt(&c.Landlords, 30)
	setDuration(&c.Duration, 30*time.Second)
	setInt(&c.Workers, 10)
	setFloat(&c.Rate, 100)
	setFloat(&c.MaxCallsPerJourney, 1.1)
}

// QuarterlyReport is what the quarterly scenario measured.
type QuarterlyReport struct {
	Config    QuarterlyConfig `json:"config"`
	Instances int             `json:"instances"`
	// The first journey of each landlord: the business ID is looked up
	// once and stored, the obligations read and kept.
	FirstJourneys        int64   `json:"first_journeys"`
	FirstCalls           int64   `json:"first_hmrc_requests"`
	FirstCallsPerJourney float64 `json:"first_hmrc_requests_per_journey"`
	// Steady state: every journey after the first, read and update on two
	// different instances.
	Journeys        int64    `json:"journeys"`
	Failed          int64    `json:"failed"`
	Failures        []Count  `json:"failures,omitempty"`
	Calls           int64    `json:"hmrc_requests"`
	CallsPerJourney float64  `json:"hmrc_requests_per_journey"`
	ReadLatency     Latency  `json:"read_latency"`
	UpdateLatency   Latency  `json:"update_latency"`
	Children        []string `json:"children,omitempty"`
}

// Violations lists the bounds that did not hold.
func (r *QuarterlyReport) Violations() []string {
	var v []string
	if r.Journeys == 0 {
		v = append(v, "no journey completed in steady state: the scenario proved nothing")
	}
	if r.CallsPerJourney > r.Config.MaxCallsPerJourney {
		v = append(v, fmt.Sprintf("%.3f HMRC requests per quarterly journey in steady state (bound %s)", r.CallsPerJourney, formatFloat(r.Config.MaxCallsPerJourney)))
	}
	if r.Failed > 0 {
		v = append(v, fmt.Sprintf("%d journey(s) failed (must be 0)", r.Failed))
	}
	return append(v, r.Children...)
}

func runQuarterly(ctx context.Context, opts *Options) (*QuarterlyReport, error) {
	cfg := opts.Quarterly
	c, err := newCluster(ctx, opts, clusterSpec{scenario: ScenarioQuarterly, connections: cfg.Landlords, rate: cfg.Rate, simRate: -1})
	if err != nil {
		return nil, err
	}
	rep := &QuarterlyReport{Config: cfg, Instances: opts.Instances}
	defer func() { rep.Children = c.close() }()

	apiRequests := func() (int64, error) {
		s, err := c.simStats(ctx)
		return s.APIRequests + s.TokenRequests, err
	}
	// Cold: each landlord's first journey.
	before, err := apiRequests()
	if err != nil {
		return nil, err
	}
	first := newTally(false)
	c.journeys(ctx, cfg.Workers, 1, first, [2]*tally{})
	after, err := apiRequests()
	if err != nil {
		return nil, err
	}
	if first.failed > 0 {
		return nil, fmt.Errorf("first journeys failed: %v", first.failureList())
	}
	rep.FirstJourneys, rep.FirstCalls = first.calls, after-before
	rep.FirstCallsPerJourney = ratio(rep.FirstCalls, rep.FirstJourneys)
	opts.progress("  %d landlords' first journeys: %d HMRC requests (%.2f per journey: the business ID found and stored, the obligations kept)",
		rep.FirstJourneys, rep.FirstCalls, rep.FirstCallsPerJourney)

	// Steady state.
	before = after
	steady := newTally(false)
	reads, updates := newTally(false), newTally(false)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	c.journeys(runCtx, cfg.Workers, 0, steady, [2]*tally{reads, updates})
	cancel()
	if after, err = apiRequests(); err != nil {
		return nil, err
	}
	rep.Journeys, rep.Failed, rep.Failures = steady.calls, steady.failed, steady.failureList()
	rep.Calls = after - before
	rep.CallsPerJourney = ratio(rep.Calls, rep.Journeys)
	rep.ReadLatency, rep.UpdateLatency = summarise(reads.latencies), summarise(updates.latencies)
	opts.progress("  %d journeys in %v over %d instances: %d HMRC requests, %.3f per journey (bound %s)",
		rep.Journeys, cfg.Duration, opts.Instances, rep.Calls, rep.CallsPerJourney, formatFloat(cfg.MaxCallsPerJourney))
	return rep, nil
}

func ratio(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// journeys runs quarterly journeys: workers each own every workers-th
// landlord and take them in turn, each journey's read and update on two
// different instances; rounds > 0 stops after that many rounds (else at
// the end of ctx). t counts whole journeys; steps, when given, the read
// and the update alone.
func (c *cluster) journeys(ctx context.Context, workers, rounds int, t *tally, steps [2]*tally) {
	var wg sync.WaitGroup
	for w := range min(workers, len(c.users)) {
		wg.Go(func() {
			n := 0
			for round := 0; rounds == 0 || round < rounds; round++ {
				for i := w; i < len(c.users); i += workers {
					if ctx.Err() != nil {
						return
					}
					r := c.journey(ctx, n%c.instanceCount(), c.users[i], steps)
					n++
					if ctx.Err() != nil && r.err != nil {
						return // cut short by the end of the run
					}
					t.add(r)
				}
			}
		})
	}
	wg.Wait()
}

// journey is one landlord's quarterly journey through the API: the
// obligations of the current tax year (the previous one while none of it
// has ended) from instance inst, then the update of the latest ended
// period from the next instance. The platform declares the calls its own
// batch work (Mtd-Client-Connection-Method: BATCH_PROCESS_DIRECT): no
// landlord's device is involved.
func (c *cluster) journey(ctx context.Context, inst int, userID int64, steps [2]*tally) apiResult {
	start := time.Now()
	year := itsa.CurrentTaxYear(time.Now())
	var period struct{ start, end string }
	for _, y := range []itsa.TaxYear{year, year - 1} {
		r, obs := c.obligations(ctx, inst, userID, y)
		if steps[0] != nil {
			steps[0].add(r)
		}
		if !r.ok() {
			return r
		}
		today := time.Now().Format(time.DateOnly)
		for _, ob := range obs {
			if ob.PeriodEnd < today {
				period.start, period.end = ob.PeriodStart, ob.PeriodEnd
			}
		}
		if period.end != "" {
			year = y
			break
		}
	}
	if period.end == "" {
		return apiResult{status: http.StatusConflict, code: "no_ended_period", latency: time.Since(start)}
	}
	body := fmt.Sprintf(`{"fromDate":%q,"toDate":%q,"ukProperty":{"income":{"periodAmount":12500.00},"expenses":{"premisesRunningCosts":1200.50}}}`,
		period.start, period.end)
	r := c.apiRequest(ctx, (inst+1)%c.instanceCount(), http.MethodPut,
		fmt.Sprintf("/api/v1/users/id:%d/hmrc/property/uk/cumulative/%s", userID, year), []byte(body))
	if steps[1] != nil {
		steps[1].add(r)
	}
	r.latency = time.Since(start)
	return r
}

type apiObligation struct {
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Status      string `json:"status"`
}

func (c *cluster) obligations(ctx context.Context, inst int, userID int64, y itsa.TaxYear) (apiResult, []apiObligation) {
	r := c.apiRequest(ctx, inst, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/obligations?taxYear=%s", userID, y), nil)
	if !r.ok() {
		return r, nil
	}
	var out struct {
		Obligations []apiObligation `json:"obligations"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		r.err = fmt.Errorf("obligations answer: %w", err)
	}
	return r, out.Obligations
}

// apiRequest makes one JSON API request with a body, as the platform's
// batch work.
func (c *cluster) apiRequest(ctx context.Context, inst int, method, path string, body []byte) apiResult {
	p := c.instance(inst)
	if p.URL() == "" {
		return apiResult{err: errors.New("instance restarting")}
	}
	start := time.Now()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL()+path, rd)
	if err != nil {
		return apiResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Mtd-Client-Connection-Method", "BATCH_PROCESS_DIRECT")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return apiResult{err: err, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := apiResult{status: resp.StatusCode, err: err, latency: time.Since(start), body: b}
	if !r.ok() {
		var e struct{ Error, Message, Reason string }
		_ = json.Unmarshal(b, &e)
		r.code, r.message, r.reason = e.Error, e.Message, e.Reason
	}
	return r
}
