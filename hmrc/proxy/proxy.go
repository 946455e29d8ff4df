// Package proxy passes a platform's calls to HMRC's MTD APIs on for a
// landlord, with the landlord's access token, and returns HMRC's answer as
// it is. It holds the allow-list of the APIs it reaches (Families), the
// check of every path before anything is sent (Parse: the form of the
// path; Request.Identifier: the landlord's own NINO or VRN only), the
// headers of HMRC's answer that are passed back (ResponseHeaders) and the
// proxy's metrics. The call itself is an hmrc.Call with RawBody and
// PassThrough: the landlord's token, the fraud prevention headers, the
// shared rate budget, a 401 refreshed and retried once, 429s and 5xx
// retried as for every call.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// ResponseHeaders are the headers of HMRC's answer passed back to the
// platform, besides the status and the body: the body's Content-Type,
// HMRC's reference for the call (X-CorrelationId), the notice that the API
// version called will be withdrawn (Deprecation, Sunset, and Link to its
// documentation; HMRC's common headers), and the VAT return's legal
// receipt (Receipt-ID, Receipt-Timestamp, Receipt-Signature). No other:
// not HMRC's cookies, caching, security or connection headers, not
// WWW-Authenticate (HMRC's 401 is about the landlord's token, not the
// platform's API key), not Location (a path on HMRC's host, which would
// resolve against ours).
var ResponseHeaders = []string{
	"Content-Type", "X-CorrelationId", "Deprecation", "Sunset", "Link",
	"Receipt-ID", "Receipt-Timestamp", "Receipt-Signature",
}

// MaxBody bounds a request body passed on; HMRC's MTD bodies are a few
// kilobytes.
const MaxBody = 1 << 20

// Client passes calls on through an hmrc.Client. It is safe for
// concurrent use.
type Client struct {
	hmrc    *hmrc.Client
	metrics *metrics
}

// New returns a Client over c, registering its metrics on reg (nil: none).
func New(c *hmrc.Client, reg prometheus.Registerer) (*Client, error) {
	if c == nil {
		return nil, errors.New("proxy: an hmrc client is required")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Client{hmrc: c, metrics: m}, nil
}

// Parse is the package's Parse, counting a refusal in the metrics.
func (c *Client) Parse(method, escapedPath, rawQuery string) (*Target, error) {
	t, err := Parse(method, escapedPath, rawQuery)
	if err != nil {
		c.metrics.refused(err)
	}
	return t, err
}

// Request is one call to pass on for a landlord.
type Request struct {
	Target *Target
	UserID int64
	// Identifier is the landlord's own NINO (Income Tax) or VRN (VAT), the
	// only one the target may name (see Target.checkIdentifiers).
	Identifier string
	// Accept and ContentType are the platform's, passed on; Body is sent
	// as it is (none when empty).
	Accept, ContentType string
	Body                []byte
	// Origin is the call's origin for HMRC's fraud prevention headers. A
	// landlord's device data (WEB_APP_VIA_SERVER) makes the call
	// Interactive in the rate budget, else Scheduled.
	Origin *fraud.Origin
	// TestScenario is HMRC's sandbox Gov-Test-Scenario; the hmrc client
	// refuses it when it calls production.
	TestScenario string
}

// Forward checks the target's identifiers against the landlord's and
// passes the call on. HMRC's answer, whatever its status, is the Response;
// an error means nothing was sent (*IdentifierError, or what hmrc refuses
// first: hmrc.ErrNotConnected, *hmrc.TestScenarioError...) or HMRC never
// answered (hmrc.ErrUnavailable, *hmrc.ReconnectError).
func (c *Client) Forward(ctx context.Context, req Request) (*hmrc.Response, error) {
	t := req.Target
	if t == nil {
		return nil, errors.New("proxy: no target")
	}
	if err := t.checkIdentifiers(req.Identifier); err != nil {
		c.metrics.refused(err)
		return nil, err
	}
	priority := hmrc.Scheduled
	if req.Origin != nil && req.Origin.Method == fraud.WebAppViaServer {
		priority = hmrc.Interactive
	}
	call := hmrc.Call{
		API: t.Family.Name, UserID: req.UserID, Purpose: t.Family.Purpose,
		Method: t.Method, Path: t.Path, Query: t.Query, Accept: req.Accept,
		ContentType: req.ContentType, TestScenario: req.TestScenario,
		Priority: priority, Fraud: req.Origin, PassThrough: true,
		// Retried after an unknown outcome only when repeating it is
		// harmless: HMRC's PUTs replace, its POSTs create or trigger.
		Idempotent: t.Method == http.MethodGet || t.Method == http.MethodHead || t.Method == http.MethodPut,
	}
	if len(req.Body) > 0 {
		call.RawBody = req.Body
	}
	resp, err := c.hmrc.Do(ctx, call, nil)
	c.metrics.answered(t.Family.Name, resp, err)
	return resp, err
}

// metrics are the proxy's Prometheus instruments; a nil *metrics records
// nothing. Labels come from fixed sets: family names, HMRC statuses,
// refusal reasons; never a path.
type metrics struct {
	requests *prometheus.CounterVec // family, status
	refusals *prometheus.CounterVec // reason
}

// statusLabels are HMRC's statuses counted by their number; any other is
// counted by its class (2xx...), and no answer as no_answer.
var statusLabels = map[int]bool{
	200: true, 201: true, 202: true, 204: true,
	400: true, 401: true, 403: true, 404: true, 405: true, 406: true, 409: true, 410: true, 413: true, 415: true,
	422: true, 429: true, 500: true, 501: true, 502: true, 503: true, 504: true,
}

// Refusal reasons.
const (
	reasonMethod     = "method"
	reasonPath       = "path"
	reasonNotAllowed = "not_allowed"
	reasonIdentifier = "identifier"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	const ns, sub = "mtdconnect", "hmrc_proxy"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Calls the proxy passed on to HMRC, by API family and HMRC's final status (after the client's retries); no_answer when HMRC never answered (unreachable, timeouts, a grant gone)."},
			[]string{"family", "status"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "refusals_total",
			Help: "Proxy requests refused before anything was sent, by reason: method, path (its form), not_allowed (outside the allowed MTD APIs), identifier (a NINO or VRN not the landlord's)."},
			[]string{"reason"}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.refusals, err = register(reg, m.refusals); err != nil {
		return nil, err
	}
	for _, r := range []string{reasonMethod, reasonPath, reasonNotAllowed, reasonIdentifier} {
		m.refusals.WithLabelValues(r)
	}
	return m, nil
}

// register registers c, or returns the collector already registered in
// its place (several clients may share a registry).
func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: register metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) answered(family string, resp *hmrc.Response, err error) {
	if m == nil {
		return
	}
	status := "no_answer"
	switch {
	case err != nil || resp == nil:
	case statusLabels[resp.Status]:
		status = strconv.Itoa(resp.Status)
	default:
		status = strconv.Itoa(resp.Status/100) + "xx"
	}
	m.requests.WithLabelValues(family, status).Inc()
}

func (m *metrics) refused(err error) {
	if m == nil {
		return
	}
	var (
		pe *PathError
		ie *IdentifierError
	)
	reason := reasonNotAllowed
	switch {
	case errors.Is(err, ErrMethod):
		reason = reasonMethod
	case errors.As(err, &pe):
		reason = reasonPath
	case errors.As(err, &ie):
		reason = reasonIdentifier
	}
	m.refusals.WithLabelValues(reason).Inc()
}
