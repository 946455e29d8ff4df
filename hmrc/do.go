package hmrc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// Call is one HMRC API request.
type Call struct {
	// API names the HMRC API called, for APIError.API: e.g.
	// "business-details", "obligations", "property-business", "vat".
	API string
	// UserID and Purpose name the connection whose access token the call
	// carries (a user-restricted call).
	UserID  int64
	Purpose mtdconnect.Purpose
	// Application makes the call application-restricted instead: it
	// carries an application token from the client_credentials grant and
	// no landlord's token (HMRC's test-support APIs). UserID and Purpose
	// are not read, and Fraud may be nil. The administrator's consent to
	// call HMRC's external services is required, as for connecting.
	Application bool
	Method      string
	Path        string // below the API base URL, e.g. /organisations/vat/{vrn}/obligations
	Query       url.Values
	Accept      string // e.g. application/vnd.hmrc.1.0+json; none when empty
	Body        any    // sent as JSON when not nil
	// RawBody, when not nil, is sent as it is with ContentType (Body must
	// then be nil): a proxy passes the platform's request on unchanged.
	RawBody     []byte
	ContentType string
	Header      http.Header
	// TestScenario is HMRC's sandbox Gov-Test-Scenario header (e.g.
	// "NOT_FOUND"); the call fails, sending nothing, when the client calls
	// production (see CheckTestScenario).
	TestScenario string
	// Priority in the rate budget: Interactive when a landlord waits.
	Priority Priority
	// Idempotent calls (GET, PUT) are retried after a failure whose
	// outcome is unknown; others only when HMRC surely did not act.
	Idempotent bool
	// Fraud describes who and what originated the call, for HMRC's fraud
	// prevention headers, which the law requires on every MTD call. Its
	// Vendor, where empty, is the client's (Config.Vendor). Required on
	// user-restricted calls.
	Fraud *fraud.Origin
	// PassThrough returns HMRC's answer as it is: every status, 4xx and
	// 5xx included (after the retries a transient failure gets), is a
	// Response with a nil error, and out is not used. An error then means
	// there is no answer of HMRC's to pass on.
	PassThrough bool
}

// Response is HMRC's answer to a Call: its status, its headers unchanged
// (X-CorrelationId, Deprecation, Sunset, Receipt-ID…) and its body.
type Response struct {
	Status        int
	Header        http.Header
	Body          []byte
	CorrelationID string    // the X-CorrelationId header, HMRC's reference for the call
	ReceivedAt    time.Time // when the answer arrived, by the client's clock
}

// maxTokenRefusals is how many times a call is retried with the store's
// token after HMRC answered 401 INVALID_CREDENTIALS (see Do).
const maxTokenRefusals = 3

// Do makes the call with a valid access token, decoding a JSON answer into
// out when out is not nil. It refreshes the token first if it is about to
// expire, retries with the store's token after a 401 (another instance may
// have refreshed, which killed ours; a few times, never concluding from
// 401s alone that the grant is gone), and retries transient failures
// with jittered backoff. HMRC's refusals are *APIError, returned with the
// Response; a failure retrying may cure (5xx, 429, HMRC unreachable) wraps
// ErrUnavailable.
func (c *Client) Do(ctx context.Context, call Call, out any) (*Response, error) {
	if call.Body != nil && call.RawBody != nil {
		return nil, errors.New("hmrc: a call has a Body or a RawBody, not both")
	}
	if err := c.CheckTestScenario(call.TestScenario); err != nil {
		return nil, err
	}
	var fph http.Header
	if !call.Application || call.Fraud != nil {
		var err error
		if fph, err = c.fraudHeaders(call.Fraud); err != nil {
			return nil, err
		}
	}
	body, contentType := call.RawBody, call.ContentType
	if call.Body != nil {
		var err error
		if body, err = json.Marshal(call.Body); err != nil {
			return nil, fmt.Errorf("hmrc: encode request: %w", err)
		}
		contentType = "application/json"
	}
	if call.Application {
		if err := c.requireConsent(ctx); err != nil {
			return nil, err
		}
	}
	var (
		rejected string // a token HMRC answered 401 to
		refused  int    // the connection's tokens HMRC answered 401 to
		appToken string
		lastErr  error
		lastResp *Response // the last answer, for PassThrough
	)
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 && rejected == "" {
			if err := sleep(ctx, backoff(c.cfg.RetryBase, attempt-1)); err != nil {
				return nil, err
			}
		}
		var token string
		var err error
		switch {
		case call.Application && appToken != "":
			token = appToken
		case call.Application:
			if appToken, err = c.applicationToken(ctx); err != nil {
				return nil, err
			}
			token = appToken
		default:
			// A landlord's call the budget cannot take in time is refused
			// before the connection is read, when this process knows it.
			// The slot is booked after the token is in hand: a refresh on
			// the way books its own, and would let an earlier one go by.
			if err := c.limiter.Admit(call.Priority); err != nil {
				return nil, err
			}
			if token, err = c.accessToken(ctx, call.UserID, call.Purpose, call.Priority, rejected); err != nil {
				return nil, err
			}
		}
		rejected = ""
		if err := c.limiter.Wait(ctx, call.Priority); err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, call, fph, body, contentType, token)
		c.metrics.apiCall(resp, err)
		c.noticeDeprecation(ctx, call.API, resp)
		record(ctx, call, resp, err)
		if err != nil {
			lastErr, lastResp = err, nil
			if call.Idempotent || sentNothing(err) {
				continue
			}
			return nil, fmt.Errorf("%w: %s %s: %v", ErrUnavailable, call.Method, logPath(call.Path), err)
		}
		lastResp = resp
		switch {
		case resp.Status >= 200 && resp.Status < 300:
			if out != nil && !call.PassThrough && len(resp.Body) > 0 {
				if err := json.Unmarshal(resp.Body, out); err != nil {
					return resp, fmt.Errorf("hmrc: decode %s: %w", logPath(call.Path), err)
				}
			}
			return resp, nil
		case resp.Status == http.StatusUnauthorized && !call.Application && apiErrorCode(resp.Body) == "INVALID_CREDENTIALS":
			// Ours was superseded by a refresh elsewhere, or revoked:
			// retry with the store's token, refreshed if it is this one
			// (a revoked grant's refresh is refused: a *ReconnectError).
			// With short-lived tokens and a busy deployment, the store's
			// newer token may be superseded too before it reaches HMRC:
			// that is no sign the grant is gone, so it is retried again,
			// a few times.
			if refused++; refused <= maxTokenRefusals {
				rejected = token
				attempt-- // not a failure of HMRC's
				break
			}
			if call.PassThrough {
				return resp, nil
			}
			return nil, fmt.Errorf("%w: HMRC refused %d access tokens of the connection in a row, each replaced by a refresh meanwhile: %w",
				ErrUnavailable, refused, ParseAPIError(call.API, resp))
		case resp.Status == http.StatusTooManyRequests:
			c.limiter.Throttled(ctx)
			lastErr = ParseAPIError(call.API, resp) // not processed: safe to retry
		case resp.Status >= 500 && call.Idempotent:
			lastErr = ParseAPIError(call.API, resp)
		case call.PassThrough:
			return resp, nil
		case resp.Status >= 500:
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ParseAPIError(call.API, resp))
		default:
			return resp, ParseAPIError(call.API, resp)
		}
	}
	if call.PassThrough && lastResp != nil {
		return lastResp, nil
	}
	return nil, fmt.Errorf("%w: %s %s: %v", ErrUnavailable, call.Method, logPath(call.Path), lastErr)
}

// noticeDeprecation logs, once per API and process, that HMRC answered
// with a Deprecation header (the version called will be withdrawn, at the
// Sunset date if it names one; HMRC gives at least 6 weeks' notice for its
// beta APIs), and counts every such answer.
func (c *Client) noticeDeprecation(ctx context.Context, api string, resp *Response) {
	if resp == nil || resp.Header.Get("Deprecation") == "" {
		return
	}
	c.metrics.deprecatedAnswer(api)
	if _, logged := c.deprecated.LoadOrStore(api, true); logged {
		return
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "HMRC says the version of this API that mtdconnect calls is deprecated: move to the newer version before its sunset",
		slog.String("api", api), slog.String("deprecation", resp.Header.Get("Deprecation")),
		slog.String("sunset", resp.Header.Get("Sunset")), slog.String("link", resp.Header.Get("Link")))
}

// Exchange is one request to HMRC and its answer, as a recorder sees it
// (WithRecorder): never a token, never a NINO or VRN.
type Exchange struct {
	API    string
	Method string
	Path   string // with the NINO or VRN replaced by {id}
	// Status is HMRC's HTTP status; 0 when no answer came (Err).
	Status int
	// Code is HMRC's error code, "" on success.
	Code          string
	CorrelationID string
	Err           error
}

type recorderKey struct{}

// WithRecorder returns a context under which Do reports every request it
// sends to HMRC to rec, once HMRC answered or failed to: a report of the
// calls an action made, with HMRC's references (mtdconnect sandbox check).
// rec must be safe for concurrent use when calls run concurrently.
func WithRecorder(ctx context.Context, rec func(Exchange)) context.Context {
	return context.WithValue(ctx, recorderKey{}, rec)
}

func record(ctx context.Context, call Call, resp *Response, err error) {
	rec, _ := ctx.Value(recorderKey{}).(func(Exchange))
	if rec == nil {
		return
	}
	x := Exchange{API: call.API, Method: call.Method, Path: logPath(call.Path), Err: err}
	if resp != nil {
		x.Status, x.CorrelationID = resp.Status, resp.CorrelationID
		if resp.Status >= 300 {
			x.Code = ParseAPIError(call.API, resp).Code
		}
	}
	rec(x)
}

// scenarioPattern is the form of HMRC's Gov-Test-Scenario names.
var scenarioPattern = regexp.MustCompile(`^[A-Z0-9_]{1,64}$`)

// TestScenarioError is a Gov-Test-Scenario header the client refuses to
// send (CheckTestScenario); Problem says why, in words a developer reads.
type TestScenarioError struct{ Problem string }

func (e *TestScenarioError) Error() string { return "hmrc: Gov-Test-Scenario " + e.Problem }

// CheckTestScenario refuses a Gov-Test-Scenario header (name) this client
// must not send, with a *TestScenarioError: any when it calls production,
// where the header has no place, and one that is not a scenario name
// (upper-case letters, digits, _). "" is no scenario.
func (c *Client) CheckTestScenario(name string) error {
	switch {
	case name == "":
		return nil
	case c.cfg.Environment == EnvProduction:
		return &TestScenarioError{Problem: "is for the sandbox only, and this service calls HMRC's production"}
	case !scenarioPattern.MatchString(name):
		return &TestScenarioError{Problem: "must be a scenario name of HMRC's: upper-case letters, digits and _"}
	}
	return nil
}

// personalSegment matches a path segment that is a NINO (two letters, six
// digits, an optional letter) or a VRN (nine digits). HMRC's paths carry
// them, and errors end up in logs: the landlord's identifiers must not.
var personalSegment = regexp.MustCompile(`(?i)^(?:[A-Z]{2}[0-9]{6}[A-Z]?|[0-9]{9})$`)

// logPath is path as errors and logs may show it, with the NINO or VRN in
// it replaced by a placeholder.
func logPath(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if personalSegment.MatchString(s) {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}

// fraudHeaders builds the fraud prevention headers of a call before any
// budget is spent on it: a call HMRC would flag is never sent.
func (c *Client) fraudHeaders(o *fraud.Origin) (http.Header, error) {
	if o == nil {
		return nil, errors.New("hmrc: fraud prevention data is required on every call")
	}
	return o.WithVendor(c.cfg.Vendor).Headers()
}

func (c *Client) send(ctx context.Context, call Call, fph http.Header, body []byte, contentType, token string) (*Response, error) {
	u := strings.TrimSuffix(c.cfg.APIURL, "/") + call.Path
	if len(call.Query) > 0 {
		u += "?" + call.Query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range call.Header {
		req.Header[k] = v
	}
	for k, v := range fph {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if call.Accept != "" {
		req.Header.Set("Accept", call.Accept)
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if call.TestScenario != "" {
		req.Header.Set("Gov-Test-Scenario", call.TestScenario)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error names the URL, whose path holds the NINO or VRN;
		// the callers say which call failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b,
		CorrelationID: resp.Header.Get("X-CorrelationId"), ReceivedAt: c.now()}, nil
}

// sentNothing reports whether a transport error happened before HMRC could
// have acted on the request (the connection was never made).
func sentNothing(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func apiErrorCode(body []byte) string {
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Code
}

// ParseAPIError reads HMRC's answer other than success from api. A single
// error that names fields (HMRC sends its paths at the top level) becomes
// the only item of Errors, so callers find every error's fields in Errors,
// whether HMRC sent one or several. An answer not in HMRC's shape gets the
// status text as its code and the start of the body as its message.
func ParseAPIError(api string, resp *Response) *APIError {
	e := &APIError{API: api, Status: resp.Status, CorrelationID: resp.CorrelationID}
	var body struct {
		APIErrorItem
		Errors []APIErrorItem `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.Code == "" {
		e.Code = http.StatusText(resp.Status)
		e.Message = truncate(string(resp.Body), 200)
		return e
	}
	e.Code, e.Message, e.Errors = body.Code, body.Message, body.Errors
	if len(e.Errors) == 0 && len(body.Paths) > 0 {
		e.Errors = []APIErrorItem{body.APIErrorItem}
	}
	return e
}
