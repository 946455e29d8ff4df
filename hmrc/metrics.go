package hmrc

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdconnect/mtdconnect"
)

// metrics are the client's Prometheus instruments, registered on
// Config.Registerer. A nil *metrics (no Registerer) records nothing. Label
// values come from small fixed sets: never a user, a token or an error's
// text, so /metrics can be scraped without exposing anything secret.
type metrics struct {
	refreshes   *prometheus.CounterVec   // outcome
	interrupted *prometheus.CounterVec   // resolution
	apiCalls    *prometheus.CounterVec   // class
	throttled   prometheus.Counter       // 429 answers
	limiterWait *prometheus.HistogramVec // priority
	busy        prometheus.Counter       // landlords' calls refused: the budget is booked too far ahead
	lateSlots   prometheus.Counter       // slots given up because they were reached late
	storeCalls  *prometheus.CounterVec   // method
	leaseWaits  prometheus.Counter
	reconnects  *prometheus.CounterVec // reason
	passSeconds prometheus.Histogram
	due         prometheus.Gauge
	deprecated  *prometheus.CounterVec // api
}

// Label values.
var (
	refreshOutcomes = map[failure]string{
		failTransient: "transient", failThrottled: "throttled", failInProgress: "in_progress",
		failGrantGone: "invalid_grant", failClient: "client_refused",
	}
	reconnectReasons = map[string]string{
		mtdconnect.ReasonRevoked: "revoked", mtdconnect.ReasonGrantExpired: "grant_expired",
		mtdconnect.ReasonRefreshInterrupted: "refresh_interrupted", mtdconnect.ReasonOtherApplication: "other_application",
	}
	priorityNames = map[Priority]string{Background: "background", Scheduled: "scheduled", Interactive: "interactive"}
	apiClasses    = []string{"2xx", "4xx", "5xx", "transport_error"}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	const ns, sub = "mtdconnect", "hmrc"
	m := &metrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "refresh_attempts_total",
			Help: "Refresh-token requests answered by HMRC (or not), by outcome: ok; invalid_grant (the grant is gone); transient (5xx, timeout, reset: retried); throttled (429); in_progress; client_refused."},
			[]string{"outcome"}),
		interrupted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "interrupted_refreshes_total",
			Help: "Refreshes found interrupted (their process died) and retried once with the stored token, by resolution: connected, or needs_reconnect (HMRC had applied the lost refresh)."},
			[]string{"resolution"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "api_requests_total",
			Help: "MTD API requests sent to HMRC, by answer: 2xx, 4xx, 5xx, or transport_error (timeout, reset, refused)."},
			[]string{"class"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "throttled_total",
			Help: "429 MESSAGE_THROTTLED_OUT answers from HMRC, token endpoint and APIs; each pauses the whole deployment."}),
		limiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "limiter_wait_seconds",
			Help:    "Time a request waited for a slot of the deployment's HMRC rate budget, by priority.",
			Buckets: []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}},
			[]string{"priority"}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "busy_refusals_total",
			Help: "Landlords' (interactive) calls refused at once, nothing sent, because the deployment's HMRC rate budget was booked further ahead than they wait."}),
		lateSlots: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "limiter_late_slots_total",
			Help: "Rate-budget slots given up because the caller reached them late (busy CPU, GC pause, slow store): sent late, a request could share a second with the next ones."}),
		storeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_calls_total",
			Help: "Store calls (each one database transaction) the HMRC client made, by Store method: the database load of HMRC calls."},
			[]string{"method"}),
		leaseWaits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "lease_waits_total",
			Help: "Token requests that waited for a refresh another instance was running (the refresh lease), instead of refreshing themselves."}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "needs_reconnect_total",
			Help: "Connections marked needs reconnect, by reason: revoked, grant_expired, refresh_interrupted, other_application (the service now uses another HMRC application)."},
			[]string{"reason"}),
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "refresher_pass_seconds",
			Help:    "Duration of one background refresher pass: finding what is due and refreshing it.",
			Buckets: []float64{0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 300}}),
		due: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "refresher_due_connections",
			Help: "Connections the last refresher pass found due (or interrupted)."}),
		deprecated: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "deprecated_responses_total",
			Help: "HMRC answers carrying a Deprecation header (the API version called will be withdrawn), by API: move to the newer version before the Sunset date the log names."},
			[]string{"api"}),
	}
	// Several clients may share a registry (the tests, a process with two
	// clients): they then share the collectors.
	var err error
	m.refreshes, err = register(reg, m.refreshes, err)
	m.interrupted, err = register(reg, m.interrupted, err)
	m.apiCalls, err = register(reg, m.apiCalls, err)
	m.throttled, err = register(reg, m.throttled, err)
	m.limiterWait, err = register(reg, m.limiterWait, err)
	m.busy, err = register(reg, m.busy, err)
	m.lateSlots, err = register(reg, m.lateSlots, err)
	m.storeCalls, err = register(reg, m.storeCalls, err)
	m.leaseWaits, err = register(reg, m.leaseWaits, err)
	m.reconnects, err = register(reg, m.reconnects, err)
	m.passSeconds, err = register(reg, m.passSeconds, err)
	m.due, err = register(reg, m.due, err)
	m.deprecated, err = register(reg, m.deprecated, err)
	if err != nil {
		return nil, fmt.Errorf("hmrc: register metrics: %w", err)
	}
	// Every series exists from the start, at zero, so a rate() over it
	// does not begin with a gap.
	m.refreshes.WithLabelValues("ok")
	for _, o := range refreshOutcomes {
		m.refreshes.WithLabelValues(o)
	}
	for _, r := range []string{"connected", "needs_reconnect"} {
		m.interrupted.WithLabelValues(r)
	}
	for _, c := range apiClasses {
		m.apiCalls.WithLabelValues(c)
	}
	for _, p := range priorityNames {
		m.limiterWait.WithLabelValues(p)
	}
	for _, r := range reconnectReasons {
		m.reconnects.WithLabelValues(r)
	}
	return m, nil
}

// register registers c, or returns the collector already registered in
// its place; it does nothing once an earlier registration failed.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, prev error) (C, error) {
	if prev != nil {
		return c, prev
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// refreshAttempt records HMRC's answer to one refresh request; interrupted
// says it was the one retry of a refresh whose process died.
func (m *metrics) refreshAttempt(err error, interrupted bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = refreshOutcomes[classify(err)]
	}
	m.refreshes.WithLabelValues(outcome).Inc()
	switch {
	case !interrupted:
	case err == nil:
		m.interrupted.WithLabelValues("connected").Inc()
	case outcome == "invalid_grant":
		m.interrupted.WithLabelValues("needs_reconnect").Inc()
	}
}

// apiCall records HMRC's answer to one API request.
func (m *metrics) apiCall(resp *Response, err error) {
	if m == nil {
		return
	}
	class := "transport_error"
	if err == nil {
		switch {
		case resp.Status >= 500:
			class = "5xx"
		case resp.Status >= 400:
			class = "4xx"
		default:
			class = "2xx"
		}
	}
	m.apiCalls.WithLabelValues(class).Inc()
}

// deprecatedAnswer counts an answer of api that carried a Deprecation
// header.
func (m *metrics) deprecatedAnswer(api string) {
	if m != nil {
		m.deprecated.WithLabelValues(api).Inc()
	}
}

func (m *metrics) throttle() {
	if m != nil {
		m.throttled.Inc()
	}
}

func (m *metrics) storeCall(method string) {
	if m != nil {
		m.storeCalls.WithLabelValues(method).Inc()
	}
}

func (m *metrics) refused() {
	if m != nil {
		m.busy.Inc()
	}
}

func (m *metrics) lateSlot() {
	if m != nil {
		m.lateSlots.Inc()
	}
}

// waited records a rate-limiter wait that began at start.
func (m *metrics) waited(p Priority, start time.Time) {
	if m != nil {
		m.limiterWait.WithLabelValues(priorityNames[p]).Observe(time.Since(start).Seconds())
	}
}

// leaseWait counts a token request that waits for another instance's
// refresh, once however long it polls: already says it was counted.
func (m *metrics) leaseWait(already bool) bool {
	if m != nil && !already {
		m.leaseWaits.Inc()
	}
	return true
}

func (m *metrics) reconnect(reason string) {
	if m == nil {
		return
	}
	label, ok := reconnectReasons[reason]
	if !ok {
		label = "other"
	}
	m.reconnects.WithLabelValues(label).Inc()
}

// refresherPass records a pass that began at start and took due
// connections.
func (m *metrics) refresherPass(start time.Time, due int) {
	if m != nil {
		m.passSeconds.Observe(time.Since(start).Seconds())
		m.due.Set(float64(due))
	}
}
