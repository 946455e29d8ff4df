// Package vat makes the VAT (MTD) calls on top of hmrc.Client.Do, with
// HMRC's own local validation: a request HMRC would refuse for its shape or
// its sums is never sent.
package vat

// VAT (MTD) v1.0 calls: Retrieve VAT obligations, Submit VAT return for
// period and View VAT return. Everything HMRC would reject for its shape or
// its sums (the VRN, the obligations query, the nine boxes) is caught here
// first and never sent. Every call uses the landlord's VAT connection
// (mtdconnect.PurposeVAT, scopes read:vat and write:vat), never the Income
// Tax one, and carries the fraud prevention headers.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// API is the VAT (MTD) API, as hmrc.APIError.API names it.
const API = "vat"

const accept = "application/vnd.hmrc.1.0+json"

// ErrNoReturn means HMRC holds no return for the period key: View VAT
// return's 404, which HMRC's service sends with an empty body
// (ViewReturnService maps NOT_FOUND to EmptyNotFoundError), though its OAS
// shows a NOT_FOUND body.
var ErrNoReturn = errors.New("vat: HMRC holds no VAT return for this period")

// Client makes the VAT calls through an hmrc.Client.
type Client struct{ hmrc *hmrc.Client }

// New returns a Client over c.
func New(c *hmrc.Client) *Client { return &Client{hmrc: c} }

// Option adjusts one call.
type Option func(*options)

type options struct {
	priority hmrc.Priority
	scenario string
}

// WithPriority sets the call's place in the rate budget; calls are
// Interactive unless told otherwise.
func WithPriority(p hmrc.Priority) Option {
	return func(o *options) { o.priority = p }
}

// WithTestScenario sends HMRC's sandbox Gov-Test-Scenario header; the call
// fails, sending nothing, when the client calls production.
func WithTestScenario(name string) Option {
	return func(o *options) { o.scenario = name }
}

func (c *Client) options(opts []Option) (options, error) {
	o := options{priority: hmrc.Interactive}
	for _, f := range opts {
		f(&o)
	}
	return o, c.hmrc.CheckTestScenario(o.scenario)
}

// Obligation is one VAT return period as HMRC lists it. Dates are HMRC's,
// YYYY-MM-DD; Due comes from HMRC, never computed here. PeriodKey (four
// characters, sometimes with a #) names the period in SubmitReturn and
// Return.
type Obligation struct {
	PeriodKey string `json:"periodKey"`
	Start     string `json:"start"`
	End       string `json:"end"`
	Due       string `json:"due"`
	Status    string `json:"status"`             // StatusOpen or StatusFulfilled
	Received  string `json:"received,omitempty"` // when fulfilled
}

// Open reports whether the return for the period is still to be made.
func (o Obligation) Open() bool { return o.Status == StatusOpen }

// Receipt is HMRC's acknowledgement of a VAT return: the body of its 201
// answer and the receipt headers. Keep it (Submission builds the store's
// record): it is the landlord's proof of filing.
type Receipt struct {
	PeriodKey string `json:"-"`
	// ProcessingDate is when HMRC processed the return (ISO 8601, as sent).
	ProcessingDate string `json:"processingDate"`
	// FormBundleNumber is HMRC's 12-digit reference for the return.
	FormBundleNumber string `json:"formBundleNumber"`
	// PaymentIndicator is "DD" when VAT is due and HMRC holds a Direct
	// Debit, "BANK" when a repayment is due and HMRC holds bank details,
	// otherwise empty.
	PaymentIndicator string `json:"paymentIndicator,omitempty"`
	// ChargeRefNumber is the payment reference, only when VAT is due.
	ChargeRefNumber string `json:"chargeRefNumber,omitempty"`
	// ReceiptID, ReceiptTimestamp and CorrelationID are the Receipt-ID,
	// Receipt-Timestamp and X-CorrelationId headers.
	ReceiptID        string `json:"-"`
	ReceiptTimestamp string `json:"-"`
	CorrelationID    string `json:"-"`
	// SubmittedAt is when the answer arrived, by the client's clock.
	SubmittedAt time.Time `json:"-"`
	// Request is the JSON sent; Body is HMRC's answer as received.
	Request []byte `json:"-"`
	Body    []byte `json:"-"`
}

// Submission is the store's record of the receipt, for
// mtdconnect.Store.SaveSubmission. The period's dates are not known here;
// set PeriodStart and PeriodEnd from the obligation if wanted.
func (r *Receipt) Submission(userID int64) *mtdconnect.Submission {
	return &mtdconnect.Submission{
		UserID: userID, Purpose: mtdconnect.PurposeVAT, Kind: mtdconnect.SubmissionVATReturn,
		Period: r.PeriodKey, Body: r.Request, Response: r.Body,
		CorrelationID: r.CorrelationID, ReceiptID: r.ReceiptID, SubmittedAt: r.SubmittedAt,
	}
}

// do makes one VAT call with the VAT connection. GET is retried after a
// failure of unknown outcome; the POST of a return is not (HMRC may have
// filed it), only when HMRC surely did not act (hmrc.Client.Do's rule).
func (c *Client) do(ctx context.Context, o options, call hmrc.Call, out any) (*hmrc.Response, error) {
	call.API = API
	call.Purpose = mtdconnect.PurposeVAT
	call.Priority = o.priority
	call.Accept = accept
	call.Idempotent = call.Method == http.MethodGet
	call.TestScenario = o.scenario
	resp, err := c.hmrc.Do(ctx, call, out)
	var ae *hmrc.APIError
	if errors.As(err, &ae) && resp != nil {
		normalise(ae, resp.Body)
	}
	return resp, err
}

var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// queryMessages are the OAS's messages for the obligations query
// errors, which HMRC's service sends with the code in "message".
var queryMessages = map[string]string{
	CodeInvalidDateFrom:  "The provided from date is invalid",
	CodeInvalidDateTo:    "The provided to date is invalid",
	CodeInvalidDateRange: "Invalid date range, must be 366 days or less",
	CodeInvalidStatus:    "The provided data is failed validation, invalid status",
	CodeMissingDateRange: "Missing date range",
}

// normalise fits the VAT API's error bodies to APIError. The VAT API
// names a field "path" (not "paths"), sends some single errors flat with
// their path and some wrapped in INVALID_REQUEST or BUSINESS_ERROR, and
// answers a bad obligations query with {"statusCode":400,"message":
// "INVALID_DATE_FROM"}. Afterwards Code is always HMRC's code, and Errors
// holds every error that names a field or was wrapped, with its paths.
func normalise(ae *hmrc.APIError, body []byte) {
	type item struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Path    string   `json:"path"`
		Paths   []string `json:"paths"`
	}
	var b struct {
		item
		StatusCode int    `json:"statusCode"`
		Errors     []item `json:"errors"`
	}
	if json.Unmarshal(body, &b) != nil {
		return
	}
	if b.Code == "" && b.StatusCode != 0 && codePattern.MatchString(b.Message) {
		ae.Code, ae.Message = b.Message, cmp.Or(queryMessages[b.Message], b.Message)
		return
	}
	paths := func(it item) []string {
		if len(it.Paths) > 0 {
			return it.Paths
		}
		if it.Path != "" {
			return []string{it.Path}
		}
		return nil
	}
	if len(b.Errors) > 0 {
		ae.Errors = ae.Errors[:0]
		for _, it := range b.Errors {
			ae.Errors = append(ae.Errors, hmrc.APIErrorItem{Code: it.Code, Message: it.Message, Paths: paths(it)})
		}
		return
	}
	if p := paths(b.item); p != nil && b.Code == ae.Code {
		ae.Errors = []hmrc.APIErrorItem{{Code: b.Code, Message: b.Message, Paths: p}}
	}
}

func notFound(err error) bool {
	var ae *hmrc.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code == CodeNotFound
}

// Obligations returns the VAT obligations of the landlord's VRN: those
// whose period overlaps from..to (dates read in their own location, from
// before to, to at most a year after from) of the given status (StatusOpen,
// StatusFulfilled, or "" for both). from and to may be zero only
// together, and only with status StatusOpen: then every open obligation
// is returned. The list is sorted by period start. None (HMRC's 404
// NOT_FOUND) is an empty list, not an error.
//
// Nothing is sent when the query would be refused: the error then joins a
// *mtdconnect.VRNError and/or *hmrc.ValidationError values with HMRC's codes
// (INVALID_DATE_FROM, INVALID_DATE_TO, INVALID_DATE_RANGE, INVALID_STATUS,
// MISSING_DATE_RANGE).
// HMRC's refusals are *hmrc.APIError (e.g. 403 CLIENT_OR_AGENT_NOT_AUTHORISED for
// a VRN the landlord's authority does not cover); ErrNotConnected when the
// user has no VAT connection.
func (c *Client) Obligations(ctx context.Context, userID int64, vrn string, from, to time.Time, status string, origin *fraud.Origin, opts ...Option) ([]Obligation, error) {
	v, vrnErr := mtdconnect.ParseVRN(vrn)
	q, qErr := obligationsQuery(from, to, status)
	if err := errors.Join(vrnErr, qErr); err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	query := url.Values{}
	for k, val := range q {
		query.Set(k, val)
	}
	var out struct {
		Obligations []Obligation `json:"obligations"`
	}
	_, err = c.do(ctx, o, hmrc.Call{
		UserID: userID, Method: http.MethodGet, Path: "/organisations/vat/" + v + "/obligations",
		Query: query, Fraud: origin,
	}, &out)
	if notFound(err) {
		return []Obligation{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vat: VAT obligations: %w", err)
	}
	list := out.Obligations
	if list == nil {
		list = []Obligation{}
	}
	slices.SortStableFunc(list, func(a, b Obligation) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End), cmp.Compare(a.PeriodKey, b.PeriodKey))
	})
	return list, nil
}

// SubmitReturn files the nine-box return for ret.PeriodKey and returns
// HMRC's receipt; the obligation is then fulfilled. Nothing is sent when the
// VRN or the return would be refused (ret.Validate): the error then joins a
// *mtdconnect.VRNError and/or *hmrc.ValidationError values.
//
// HMRC's refusals are *hmrc.APIError; test them with hmrc.HasErrorCode,
// since HMRC wraps some: DUPLICATE_SUBMISSION (a return was already filed for the
// period) and NOT_FINALISED come inside BUSINESS_ERROR, both 403;
// TAX_PERIOD_NOT_ENDED is 403. The submission is never repeated after a
// failure HMRC may have acted on (a timeout, a reset, a 5xx): the error is
// then hmrc.ErrUnavailable and the return may or may not have been filed, so
// look at the obligations (or Return) before trying again; a second
// submission of a filed period is refused as a duplicate, never filed twice.
func (c *Client) SubmitReturn(ctx context.Context, userID int64, vrn string, ret Return, origin *fraud.Origin, opts ...Option) (*Receipt, error) {
	v, err := mtdconnect.ParseVRN(vrn)
	if err = errors.Join(err, hmrc.JoinValidationErrors(ret.Validate())); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(ret)
	if err != nil {
		return nil, fmt.Errorf("vat: encode VAT return: %w", err)
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, o, hmrc.Call{
		UserID: userID, Method: http.MethodPost, Path: "/organisations/vat/" + v + "/returns",
		Body: json.RawMessage(raw), Fraud: origin,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("vat: submit VAT return %s: %w", ret.PeriodKey, err)
	}
	rec := &Receipt{
		PeriodKey: ret.PeriodKey, ReceiptID: resp.Header.Get("Receipt-ID"),
		ReceiptTimestamp: resp.Header.Get("Receipt-Timestamp"), CorrelationID: resp.CorrelationID,
		SubmittedAt: resp.ReceivedAt, Request: raw, Body: resp.Body,
	}
	// HMRC has filed the return: an unreadable body must not turn that
	// into a failure (the landlord would file again); the raw body is kept
	// and FormBundleNumber stays empty.
	_ = json.Unmarshal(resp.Body, rec)
	return rec, nil
}

// Return returns the return HMRC holds for periodKey, as filed, with
// Finalised set (HMRC holds only finalised returns and does not send the
// field back); ErrNoReturn when none was filed. A malformed VRN or
// period key is refused locally (*mtdconnect.VRNError, *hmrc.ValidationError
// PERIOD_KEY_INVALID). A "#" in the period key is sent URL-encoded.
func (c *Client) Return(ctx context.Context, userID int64, vrn, periodKey string, origin *fraud.Origin, opts ...Option) (*Return, error) {
	v, err := mtdconnect.ParseVRN(vrn)
	if !ValidPeriodKey(periodKey) {
		err = errors.Join(err, &hmrc.ValidationError{Code: CodePeriodKeyInvalid, Message: "Invalid period key: four characters of A–Z, 0–9 and #"})
	}
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	var out Return
	resp, err := c.do(ctx, o, hmrc.Call{
		UserID: userID, Method: http.MethodGet,
		Path:  "/organisations/vat/" + v + "/returns/" + url.PathEscape(periodKey),
		Fraud: origin,
	}, &out)
	var ae *hmrc.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && (ae.Code == CodeNotFound || resp != nil && len(bytes.TrimSpace(resp.Body)) == 0) {
		return nil, fmt.Errorf("%w (%w)", ErrNoReturn, err)
	}
	if err != nil {
		return nil, fmt.Errorf("vat: VAT return %s: %w", periodKey, err)
	}
	out.Finalised = true
	return &out, nil
}
