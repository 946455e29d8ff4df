// Package itsa makes the Income Tax (MTD) calls for a landlord's UK
// property business on top of hmrc.Client.Do, with HMRC's own local
// validation: a request HMRC would refuse for its shape is never sent.
package itsa

// Income Tax (MTD) calls for a landlord's UK property business: Business
// Details v2.0 (which business is the UK property one), Obligations v3.0
// (income and expenditure) and Property Business v6.0 (the cumulative
// summary, 2025-26 onwards). Everything HMRC would reject for its shape is
// caught here first and never sent: the NINO, the tax year, the body.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// The APIs called, as hmrc.APIError.API names them.
const (
	APIBusinessDetails  = "business-details"
	APIObligations      = "obligations"
	APIPropertyBusiness = "property-business"
)

// HMRC's Accept header of each API (shared reference §6).
const (
	acceptBusinessDetails  = "application/vnd.hmrc.2.0+json"
	acceptObligations      = "application/vnd.hmrc.3.0+json"
	acceptPropertyBusiness = "application/vnd.hmrc.6.0+json"
)

// TypeUKProperty is HMRC's typeOfBusiness of a UK property business.
const TypeUKProperty = "uk-property"

// Obligation statuses, as HMRC sends them.
const (
	ObligationOpen      = "open"
	ObligationFulfilled = "fulfilled"
)

// Errors ITSA callers branch on.
var (
	// ErrNoUKProperty means HMRC lists no UK property business for the
	// NINO: the landlord has not signed up their property income for Making
	// Tax Digital (or HMRC has no businesses for them at all).
	ErrNoUKProperty = errors.New("itsa: HMRC has no UK property business for this National Insurance number")
	// ErrNoSubmission means HMRC holds no cumulative summary for the tax
	// year yet.
	ErrNoSubmission = errors.New("itsa: nothing has been submitted for this tax year yet")
)

// BusinessStore is where a Client keeps each landlord's UK property
// business ID: the service's mtdconnect.Store, so that every instance,
// after a restart too, uses the ID found once (HMRC's end-to-end guide: "the
// software should store this ID instead of making extra calls").
type BusinessStore interface {
	IncomeTaxBusiness(ctx context.Context, userID int64) (*mtdconnect.IncomeTaxBusiness, error)
	SaveIncomeTaxBusiness(ctx context.Context, b *mtdconnect.IncomeTaxBusiness) error
}

// Client makes the Income Tax calls through an hmrc.Client. Make one per
// process and share it: lookups of one landlord's business ID are made one
// at a time, so pages asking at the same moment cost one call.
type Client struct {
	hmrc  *hmrc.Client
	store BusinessStore // nil: the business ID is asked for on every call

	mu      sync.Mutex
	lookups map[int64]*lookup // by user ID, while looked up or waited for
}

// lookup is a one-slot lock, held while HMRC is asked for one landlord's
// business ID; a channel, so a waiter can give up with its context.
type lookup struct {
	slot chan struct{}
	refs int // guarded by Client.mu
}

// New returns a Client over c that keeps the landlords' UK property
// business IDs in store. A nil store keeps none: every call that needs the
// ID asks HMRC for it first.
func New(c *hmrc.Client, store BusinessStore) *Client {
	return &Client{hmrc: c, store: store, lookups: map[int64]*lookup{}}
}

// lock takes userID's lookup slot; the returned func releases it.
func (c *Client) lock(ctx context.Context, userID int64) (func(), error) {
	c.mu.Lock()
	l := c.lookups[userID]
	if l == nil {
		l = &lookup{slot: make(chan struct{}, 1)}
		c.lookups[userID] = l
	}
	l.refs++
	c.mu.Unlock()
	drop := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if l.refs--; l.refs == 0 {
			delete(c.lookups, userID)
		}
	}
	select {
	case l.slot <- struct{}{}:
		return func() { <-l.slot; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// Option adjusts one call.
type Option func(*options)

type options struct {
	priority hmrc.Priority
	scenario string
	fresh    bool
}

// WithPriority sets the call's place in the rate budget; calls are
// Interactive unless told otherwise (use Scheduled or Background for work no
// landlord waits on).
func WithPriority(p hmrc.Priority) Option {
	return func(o *options) { o.priority = p }
}

// WithTestScenario sends HMRC's sandbox Gov-Test-Scenario header (e.g.
// "STATEFUL", "NOT_FOUND") on the call's own request and on the business
// ID lookup it makes first when no ID is stored: the sandbox's default
// business list holds a self-employment business only, so a sandbox
// journey finds its UK property test business with "STATEFUL". An ID found
// under another scenario is HMRC's canned test data and is not stored. The
// call fails, sending nothing, if the client is configured for production,
// where the header has no place.
func WithTestScenario(name string) Option {
	return func(o *options) { o.scenario = name }
}

// WithoutCache makes UKPropertyBusinessID ask HMRC now rather than use the
// stored ID (testing a connection is asking HMRC); what HMRC answers
// replaces the stored ID.
func WithoutCache() Option {
	return func(o *options) { o.fresh = true }
}

func (c *Client) options(opts []Option) (options, error) {
	o := options{priority: hmrc.Interactive}
	for _, f := range opts {
		f(&o)
	}
	return o, c.hmrc.CheckTestScenario(o.scenario)
}

// do makes one Income Tax call with the landlord's Income Tax connection.
func (c *Client) do(ctx context.Context, o options, userID int64, call hmrc.Call, out any) (*hmrc.Response, error) {
	call.UserID = userID
	call.Purpose = mtdconnect.PurposeIncomeTax
	call.Priority = o.priority
	// GET and PUT are safe to repeat: a PUT of the same body leaves HMRC as
	// one PUT would.
	call.Idempotent = call.Method == http.MethodGet || call.Method == http.MethodPut
	call.TestScenario = o.scenario
	return c.hmrc.Do(ctx, call, out)
}

func notFound(err error, codes ...string) (*hmrc.APIError, bool) {
	var ae *hmrc.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && slices.Contains(codes, ae.Code) {
		return ae, true
	}
	return nil, false
}

// ---- Business Details: the landlord's businesses ----

// Business is one income source as Business Details v2.0 "List All
// Businesses" lists it.
type Business struct {
	// TypeOfBusiness is "self-employment", "uk-property",
	// "foreign-property" or "property-unspecified".
	TypeOfBusiness string `json:"typeOfBusiness"`
	BusinessID     string `json:"businessId"`
	// TradingType and TradingName describe a self-employment (e.g.
	// "Plastering", "RCDTS"); HMRC sends neither for property.
	TradingType string `json:"tradingType,omitempty"`
	TradingName string `json:"tradingName,omitempty"`
}

// Businesses lists the landlord's income sources (Business Details v2.0),
// in HMRC's order. None (HMRC's 404) is ErrNoUKProperty. A malformed NINO is
// a *mtdconnect.NINOError and nothing is sent.
func (c *Client) Businesses(ctx context.Context, userID int64, nino string, origin *fraud.Origin, opts ...Option) ([]Business, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	return c.businesses(ctx, o, userID, n, origin)
}

func (c *Client) businesses(ctx context.Context, o options, userID int64, nino string, origin *fraud.Origin) ([]Business, error) {
	var out struct {
		ListOfBusinesses []Business `json:"listOfBusinesses"`
	}
	_, err := c.do(ctx, o, userID, hmrc.Call{
		API: APIBusinessDetails, Method: http.MethodGet, Path: "/individuals/business/details/" + nino + "/list",
		Accept: acceptBusinessDetails, Fraud: origin,
	}, &out)
	if ae, ok := notFound(err, "MATCHING_RESOURCE_NOT_FOUND", "NO_BUSINESS_FOUND"); ok {
		return nil, fmt.Errorf("%w (%w)", ErrNoUKProperty, ae)
	}
	if err != nil {
		return nil, fmt.Errorf("itsa: list businesses: %w", err)
	}
	if out.ListOfBusinesses == nil {
		out.ListOfBusinesses = []Business{}
	}
	return out.ListOfBusinesses, nil
}

// UKPropertyBusinessID returns the businessId of the landlord's UK property
// business: the one stored for the landlord's NINO in this HMRC
// environment, or else the one Business Details v2.0 lists, which is then
// stored (unless it came from a sandbox scenario other than STATEFUL).
// ErrNoUKProperty when HMRC lists no UK property business. A malformed NINO
// is a *mtdconnect.NINOError and nothing is sent.
func (c *Client) UKPropertyBusinessID(ctx context.Context, userID int64, nino string, origin *fraud.Origin, opts ...Option) (string, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if err != nil {
		return "", err
	}
	o, err := c.options(opts)
	if err != nil {
		return "", err
	}
	return c.businessID(ctx, o, userID, n, origin)
}

// businessID is UKPropertyBusinessID with checked arguments.
func (c *Client) businessID(ctx context.Context, o options, userID int64, nino string, origin *fraud.Origin) (string, error) {
	if c.store == nil || o.fresh {
		return c.lookupBusinessID(ctx, o, userID, nino, origin)
	}
	if id, err := c.storedBusinessID(ctx, userID, nino); id != "" || err != nil {
		return id, err
	}
	unlock, err := c.lock(ctx, userID)
	if err != nil {
		return "", err
	}
	defer unlock()
	if id, err := c.storedBusinessID(ctx, userID, nino); id != "" || err != nil {
		return id, err // found while this caller waited
	}
	return c.lookupBusinessID(ctx, o, userID, nino, origin)
}

// storedBusinessID is the ID stored for the landlord's NINO in this HMRC
// environment, "" when there is none.
func (c *Client) storedBusinessID(ctx context.Context, userID int64, nino string) (string, error) {
	b, err := c.store.IncomeTaxBusiness(ctx, userID)
	switch {
	case errors.Is(err, mtdconnect.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("itsa: read the stored business ID: %w", err)
	case b.NINO == nino && b.Environment == c.hmrc.Environment() && ValidBusinessID(b.BusinessID):
		return b.BusinessID, nil
	}
	return "", nil // another NINO's, or another environment's
}

// lookupBusinessID asks HMRC for the landlord's UK property business and
// stores what it answers.
func (c *Client) lookupBusinessID(ctx context.Context, o options, userID int64, nino string, origin *fraud.Origin) (string, error) {
	list, err := c.businesses(ctx, o, userID, nino, origin)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(list, func(b Business) bool { return b.TypeOfBusiness == TypeUKProperty })
	if i < 0 {
		return "", ErrNoUKProperty
	}
	id := list[i].BusinessID
	if !ValidBusinessID(id) {
		return "", fmt.Errorf("itsa: list businesses: HMRC returned a malformed businessId %q", id)
	}
	if c.store != nil && (o.scenario == "" || o.scenario == ScenarioStateful) {
		// A failed save costs a lookup next time; HMRC answered, so the
		// call goes on.
		_ = c.store.SaveIncomeTaxBusiness(ctx, &mtdconnect.IncomeTaxBusiness{
			UserID: userID, NINO: nino, Environment: c.hmrc.Environment(), BusinessID: id, FoundAt: c.hmrc.Now(),
		})
	}
	return id, nil
}

// ScenarioStateful is the sandbox's Gov-Test-Scenario that reaches the
// developer's own test data (test businesses, stored submissions), rather
// than canned answers.
const ScenarioStateful = "STATEFUL"

// ---- obligations ----

// Obligation is one income-and-expenditure obligation of the UK property
// business. Dates are HMRC's, as YYYY-MM-DD strings: from 2025-26 every
// period of a tax year starts on 6 April (updates are cumulative) and ends
// on 5 July, 5 October, 5 January or 5 April; Due comes from HMRC, never
// computed here.
type Obligation struct {
	BusinessID     string
	TypeOfBusiness string // TypeUKProperty
	Start, End     string // the period, YYYY-MM-DD
	Due            string // YYYY-MM-DD
	Status         string // ObligationOpen or ObligationFulfilled
	Received       string // YYYY-MM-DD when fulfilled, else empty
}

// Fulfilled reports whether HMRC has received the update.
func (o Obligation) Fulfilled() bool { return o.Status == ObligationFulfilled }

// Obligations returns the income-and-expenditure obligations of the
// landlord's UK property business whose period ends in taxYear, open and
// fulfilled, sorted by period start then end. None (HMRC's
// NO_OBLIGATIONS_FOUND) is an empty list, not an error.
//
// The query is checked as HMRC's Obligations service checks a date range
// (CheckObligationsDateRange): a tax year before 2018-19 is refused here,
// with HMRC's RULE_FROM_DATE_NOT_SUPPORTED, and nothing is sent.
func (c *Client) Obligations(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *fraud.Origin, opts ...Option) ([]Obligation, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if !taxYear.Valid() {
		err = errors.Join(err, errOf(errTaxYearFormat))
	} else {
		from, _ := time.Parse(time.DateOnly, taxYear.FirstDay())
		to, _ := time.Parse(time.DateOnly, taxYear.LastDay())
		err = errors.Join(err, hmrc.JoinValidationErrors(CheckObligationsDateRange(from, to)))
	}
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.businessID(ctx, o, userID, n, origin)
	if err != nil {
		return nil, err
	}
	var out struct {
		Obligations []struct {
			TypeOfBusiness    string `json:"typeOfBusiness"`
			BusinessID        string `json:"businessId"`
			ObligationDetails []struct {
				PeriodStartDate string `json:"periodStartDate"`
				PeriodEndDate   string `json:"periodEndDate"`
				DueDate         string `json:"dueDate"`
				ReceivedDate    string `json:"receivedDate"`
				Status          string `json:"status"`
			} `json:"obligationDetails"`
		} `json:"obligations"`
	}
	_, err = c.do(ctx, o, userID, hmrc.Call{
		API: APIObligations, Method: http.MethodGet, Path: "/obligations/details/" + n + "/income-and-expenditure",
		Query: url.Values{
			"typeOfBusiness": {TypeUKProperty}, "businessId": {bid},
			"fromDate": {taxYear.FirstDay()}, "toDate": {taxYear.LastDay()},
		},
		Accept: acceptObligations, Fraud: origin,
	}, &out)
	if _, ok := notFound(err, "NO_OBLIGATIONS_FOUND"); ok {
		return []Obligation{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("itsa: obligations %s: %w", taxYear, err)
	}
	list := []Obligation{}
	for _, ob := range out.Obligations {
		// HMRC filters on the query; a stray business is still not ours.
		if ob.TypeOfBusiness != TypeUKProperty || !strings.EqualFold(ob.BusinessID, bid) {
			continue
		}
		for _, d := range ob.ObligationDetails {
			list = append(list, Obligation{
				BusinessID: ob.BusinessID, TypeOfBusiness: ob.TypeOfBusiness,
				Start: d.PeriodStartDate, End: d.PeriodEndDate, Due: d.DueDate,
				Status: d.Status, Received: d.ReceivedDate,
			})
		}
	}
	slices.SortStableFunc(list, func(a, b Obligation) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End))
	})
	return list, nil
}

// ---- the quarterly period type ----

// The quarterly period types of Business Details "Create and Amend
// Quarterly Period Type": standard quarters end on 5 July, 5 October, 5
// January and 5 April; calendar quarters on 30 June, 30 September, 31
// December and 31 March.
const (
	PeriodTypeStandard = "standard"
	PeriodTypeCalendar = "calendar"
)

// ValidPeriodType reports whether t is PeriodTypeStandard or
// PeriodTypeCalendar.
func ValidPeriodType(t string) bool { return t == PeriodTypeStandard || t == PeriodTypeCalendar }

// SetQuarterlyPeriodType chooses standard or calendar quarters for the
// landlord's UK property business in taxYear (Business Details v2.0 "Create
// and Amend Quarterly Period Type for a Business"). HMRC takes it for the
// current tax year only, and only before the year's first quarterly update
// (400 RULE_BUSINESS_ID_STATE_CONFLICT after it; 422
// RULE_REQUEST_CANNOT_BE_FULFILLED for another year); its refusals are
// *hmrc.APIError. A malformed NINO, tax year or type is refused here and
// nothing is sent.
func (c *Client) SetQuarterlyPeriodType(ctx context.Context, userID int64, nino string, taxYear TaxYear, periodType string, origin *fraud.Origin, opts ...Option) (*hmrc.Response, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if !taxYear.Valid() {
		err = errors.Join(err, errOf(errTaxYearFormat))
	}
	if !ValidPeriodType(periodType) {
		err = errors.Join(err, errOf(errEmptyBody, "/quarterlyPeriodType"))
	}
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.businessID(ctx, o, userID, n, origin)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, o, userID, hmrc.Call{
		API: APIBusinessDetails, Method: http.MethodPut, Path: "/individuals/business/details/" + n + "/" + bid + "/" + taxYear.String(),
		Accept: acceptBusinessDetails, Fraud: origin,
		Body: struct {
			QuarterlyPeriodType string `json:"quarterlyPeriodType"`
		}{periodType},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("itsa: quarterly period type %s: %w", taxYear, err)
	}
	return resp, nil
}

// PeriodTypeOf tells from HMRC's obligations of one tax year which
// quarters they follow: calendar quarters end on a month's last day,
// standard ones on the 5th. "" when there are none to tell from.
func PeriodTypeOf(obligations []Obligation) string {
	for _, ob := range obligations {
		end, err := time.Parse(time.DateOnly, ob.End)
		if err != nil {
			continue
		}
		if end.Day() == 5 {
			return PeriodTypeStandard
		}
		if end.AddDate(0, 0, 1).Day() == 1 {
			return PeriodTypeCalendar
		}
	}
	return ""
}

// ---- the UK property cumulative summary ----

// checkCumulativeTarget validates what goes in the cumulative summary's
// path, joining every problem: a *mtdconnect.NINOError and
// *hmrc.ValidationError values.
func checkCumulativeTarget(nino string, taxYear TaxYear) (string, error) {
	n, err := mtdconnect.ParseNINO(nino)
	switch {
	case !taxYear.Valid():
		err = errors.Join(err, errOf(errTaxYearFormat))
	case taxYear < CumulativeFirstTaxYear:
		err = errors.Join(err, errOf(errTaxYearNotSupp))
	}
	return n, err
}

// SubmitUKPropertyCumulative creates or amends the year-to-date UK property
// summary for taxYear (Property Business v6.0, 2025-26 onwards): HMRC keeps
// the latest, and it fulfils every obligation whose period end it covers.
// Nothing is sent when the NINO, the tax year or the body would be refused
// for its shape: the error then joins a *mtdconnect.NINOError and/or
// *hmrc.ValidationError values (HMRC's codes, messages and paths). HMRC's
// own refusals are *hmrc.APIError. On success HMRC answers 204; the
// Response carries its X-CorrelationId, the reference to keep.
func (c *Client) SubmitUKPropertyCumulative(ctx context.Context, userID int64, nino string, taxYear TaxYear, body UKPropertyCumulative, origin *fraud.Origin, opts ...Option) (*hmrc.Response, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if taxYear.Valid() && taxYear >= CumulativeFirstTaxYear {
		// Validate would only repeat a tax year error.
		err = errors.Join(err, hmrc.JoinValidationErrors(body.Validate(taxYear)))
	}
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("itsa: encode UK property summary: %w", err)
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.businessID(ctx, o, userID, n, origin)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, o, userID, hmrc.Call{
		API: APIPropertyBusiness, Method: http.MethodPut, Path: "/individuals/business/property/uk/" + n + "/" + bid + "/cumulative/" + taxYear.String(),
		Accept: acceptPropertyBusiness, Body: json.RawMessage(raw), Fraud: origin,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("itsa: submit UK property %s: %w", taxYear, err)
	}
	return resp, nil
}

// UKPropertySummary is the UK property cumulative summary as HMRC holds it:
// what was last submitted, with the period HMRC recorded for it and when it
// arrived.
type UKPropertySummary struct {
	// SubmittedOn is when HMRC received it, as HMRC writes it
	// (2025-08-24T14:15:22.802Z).
	SubmittedOn string `json:"submittedOn,omitempty"`
	UKPropertyCumulative
}

// UKPropertyCumulative returns the UK property summary HMRC holds for
// taxYear (2025-26 onwards), as last submitted; ErrNoSubmission when there is
// none. A summary HMRC holds for a business of another type is HMRC's 400
// RULE_TYPE_OF_BUSINESS_INCORRECT (*hmrc.APIError). Local checks are as for
// SubmitUKPropertyCumulative.
func (c *Client) UKPropertyCumulative(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *fraud.Origin, opts ...Option) (*UKPropertySummary, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.businessID(ctx, o, userID, n, origin)
	if err != nil {
		return nil, err
	}
	var out UKPropertySummary
	_, err = c.do(ctx, o, userID, hmrc.Call{
		API: APIPropertyBusiness, Method: http.MethodGet, Path: "/individuals/business/property/uk/" + n + "/" + bid + "/cumulative/" + taxYear.String(),
		Accept: acceptPropertyBusiness, Fraud: origin,
	}, &out)
	if ae, ok := notFound(err, "MATCHING_RESOURCE_NOT_FOUND"); ok {
		return nil, fmt.Errorf("%w (%w)", ErrNoSubmission, ae)
	}
	if err != nil {
		return nil, fmt.Errorf("itsa: UK property %s: %w", taxYear, err)
	}
	return &out, nil
}
