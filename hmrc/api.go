package hmrc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// Call is one user-restricted HMRC API request.
type Call struct {
	UserID  int64
	Purpose mtdconnect.Purpose
	Method  string
	Path    string // below the API base URL, e.g. /organisations/vat/{vrn}/obligations
	Query   url.Values
	Accept  string // e.g. application/vnd.hmrc.1.0+json
	Body    any    // sent as JSON when not nil
	Header  http.Header
	// Priority in the rate budget: Interactive when a landlord waits.
	Priority Priority
	// Idempotent calls (GET, PUT) are retried after a failure whose
	// outcome is unknown; others only when HMRC surely did not act.
	Idempotent bool
	// Fraud describes who and what originated the call, for HMRC's fraud
	// prevention headers, which the law requires on every MTD call. Its
	// Vendor, where empty, is the client's (Config.Vendor). Required.
	Fraud *Request
}

// Response is HMRC's answer to a successful Call.
type Response struct {
	Status        int
	Header        http.Header
	Body          []byte
	CorrelationID string
}

// Do makes the call with a valid access token, decoding a JSON answer into
// out when out is not nil. It refreshes the token first if it is about to
// expire, retries once with the store's token after a 401 (another instance
// may have refreshed, which killed ours), and retries transient failures
// with jittered backoff.
func (c *Client) Do(ctx context.Context, call Call, out any) (*Response, error) {
	fph, err := c.fraudHeaders(call.Fraud)
	if err != nil {
		return nil, err
	}

	var body []byte
	if call.Body != nil {
		var err error
		if body, err = json.Marshal(call.Body); err != nil {
			return nil, fmt.Errorf("hmrc: encode request: %w", err)
		}
	}
	var (
		rejected   string // a token HMRC answered 401 to
		retried401 bool
		lastErr    error
	)
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 && rejected == "" {
			if err := sleep(ctx, backoff(c.cfg.RetryBase, attempt-1)); err != nil {
				return nil, err
			}
		}
		// A landlord's call the budget cannot take in time is refused
		// before the connection is read, when this process knows it.
		// The slot is booked after the token is in hand: a refresh on
		// the way books its own, and would let an earlier one go by.
		if err := c.limiter.Admit(call.Priority); err != nil {
			return nil, err
		}
		token, err := c.accessToken(ctx, call.UserID, call.Purpose, call.Priority, rejected)
		if err != nil {
			return nil, err
		}
		rejected = ""
		if err := c.limiter.Wait(ctx, call.Priority); err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, call, fph, body, token)
		c.metrics.apiCall(resp, err)
		if err != nil {
			lastErr = err
			if call.Idempotent || sentNothing(err) {
				continue
			}
			return nil, fmt.Errorf("%w: %s %s: %v", ErrUnavailable, call.Method, logPath(call.Path), err)
		}
		switch {
		case resp.Status >= 200 && resp.Status < 300:
			if out != nil && len(resp.Body) > 0 {
				if err := json.Unmarshal(resp.Body, out); err != nil {
					return resp, fmt.Errorf("hmrc: decode %s: %w", logPath(call.Path), err)
				}
			}
			return resp, nil
		case resp.Status == http.StatusUnauthorized && !retried401 && apiErrorCode(resp.Body) == "INVALID_CREDENTIALS":
			// Ours was killed by a refresh elsewhere, or revoked: retry
			// once with the store's token, refreshed if it is this one.
			retried401, rejected = true, token
			attempt-- // not a failure of HMRC's
		case resp.Status == http.StatusTooManyRequests:
			c.limiter.Throttled(ctx)
			lastErr = c.apiError(resp) // not processed: safe to retry
		case resp.Status >= 500 && call.Idempotent:
			lastErr = c.apiError(resp)
		case resp.Status >= 500:
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, c.apiError(resp))
		default:
			return resp, c.apiError(resp)
		}
	}
	return nil, fmt.Errorf("%w: %s %s: %v", ErrUnavailable, call.Method, logPath(call.Path), lastErr)
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
func (c *Client) fraudHeaders(r *Request) (http.Header, error) {
	if r == nil {
		return nil, errors.New("hmrc: fraud prevention data is required on every call")
	}
	req := *r
	// Field by field: a caller may know where the request came in (the
	// public IP) while the product, version and licences are the client's.
	v, def := &req.Vendor, c.cfg.Vendor
	if v.ProductName == "" {
		v.ProductName, v.Version = def.ProductName, def.Version
	}
	if v.PublicIP == "" {
		v.PublicIP = def.PublicIP
	}
	if v.LicenseIDs == nil {
		v.LicenseIDs = def.LicenseIDs
	}
	return req.Headers()
}

func (c *Client) send(ctx context.Context, call Call, fph http.Header, body []byte, token string) (*Response, error) {
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
	req.Header.Set("Accept", call.Accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b, CorrelationID: resp.Header.Get("X-CorrelationId")}, nil
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

func (c *Client) apiError(resp *Response) *APIError {
	e := &APIError{Status: resp.Status, CorrelationID: resp.CorrelationID}
	if err := json.Unmarshal(resp.Body, e); err != nil || e.Code == "" {
		e.Code = http.StatusText(resp.Status)
		e.Message = truncate(string(resp.Body), 200)
	}
	return e
}

// TestConnection checks the connection with the cheapest call of the
// purpose's own API, because HMRC's Hello World user endpoint wants a
// "hello" scope that a connection never asks for: for Income Tax it lists
// the landlord's businesses (Business Details), for VAT their open
// obligations. It needs the landlord's NINO (ErrNoNINO) or VRN (ErrNoVRN),
// and returns what HMRC said, in words.
func (c *Client) TestConnection(ctx context.Context, userID int64, p mtdconnect.Purpose, origin *Request) (string, error) {
	// Refused as the call would be, before anything is read, when this
	// process knows the budget is booked too far ahead.
	if err := c.limiter.Admit(Interactive); err != nil {
		return "", err
	}
	u, err := c.store.UserByID(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("hmrc: test connection: %w", err)
	}
	var msg string
	switch p {
	case mtdconnect.PurposeVAT:
		if u.VRN == "" {
			return "", ErrNoVRN
		}
		var obs []VATObligation
		obs, err = c.VATObligations(ctx, userID, u.VRN, time.Time{}, time.Time{}, VATStatusOpen, origin)
		switch len(obs) {
		case 0:
			msg = "HMRC answered: no open VAT returns"
		case 1:
			msg = "HMRC answered: 1 open VAT return"
		default:
			msg = fmt.Sprintf("HMRC answered: %d open VAT returns", len(obs))
		}
	default:
		if u.NINO == "" {
			return "", ErrNoNINO
		}
		var nino, id string
		if nino, err = mtdconnect.ParseNINO(u.NINO); err != nil {
			return "", err
		}
		// Not through the cache: the point is to ask HMRC now.
		id, err = c.fetchUKPropertyBusinessID(ctx, itsaOptions{priority: Interactive}, userID, nino, origin)
		if errors.Is(err, ErrNoUKProperty) {
			msg, err = "HMRC answered: no UK property business is registered for your National Insurance number", nil
		} else {
			msg = "HMRC answered: your UK property business is " + id
		}
	}
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			// A 401 that survived a refresh means the grant is gone.
			return "", &ReconnectError{Reason: mtdconnect.ReasonRevoked}
		}
		return "", err
	}
	return msg, nil
}
