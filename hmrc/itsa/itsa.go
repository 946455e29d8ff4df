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

// businessIDTTL is how long a UK property business ID is reused without
// asking HMRC again: it changes only if the landlord's business ceases and
// a new one starts, so a day costs one call of rate budget per landlord a
// day at most.
const businessIDTTL = 24 * time.Hour

// Client makes the Income Tax calls through an hmrc.Client. Make one per
// process and share it: it keeps each landlord's UK property business ID
// for a day.
type Client struct {
	hmrc       *hmrc.Client
	businesses businessCache // UK property business IDs, so each costs one call a day
}

// New returns a Client over c.
func New(c *hmrc.Client) *Client { return &Client{hmrc: c} }

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
// "NOT_FOUND") on the call's own request only, not on the business ID
// lookup it may need first, and bypasses the business ID cache for a
// UKPropertyBusinessID call. The call fails, sending nothing, if the client
// is configured for production, where the header has no place.
func WithTestScenario(name string) Option {
	return func(o *options) { o.scenario = name }
}

// WithoutCache makes UKPropertyBusinessID ask HMRC now rather than answer
// from the day's cache (testing a connection is asking HMRC).
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

// ---- the UK property business ID, cached per client ----

type businessKey struct {
	userID int64
	nino   string
}

type businessEntry struct {
	// fetch is a one-slot lock held while HMRC is asked, so a key is
	// fetched once; a channel, so a waiter can give up with its context.
	fetch chan struct{}
	id    string    // guarded by businessCache.mu
	at    time.Time // guarded by businessCache.mu
}

type businessCache struct {
	mu    sync.Mutex
	m     map[businessKey]*businessEntry
	swept time.Time
}

// entry returns the key's entry and its cached ID if still fresh.
func (b *businessCache) entry(k businessKey, now time.Time) (*businessEntry, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entryLocked(k, now)
	if e.id != "" && now.Sub(e.at) < businessIDTTL && !now.Before(e.at) {
		return e, e.id
	}
	return e, ""
}

// entryLocked finds or creates the key's entry. Creating one first drops
// the stale ones (expired, or never filled and not being fetched), so the
// map holds about a day's landlords. A dropped entry still in use only
// costs its user a lookup.
func (b *businessCache) entryLocked(k businessKey, now time.Time) *businessEntry {
	if e := b.m[k]; e != nil {
		return e
	}
	if b.m == nil {
		b.m = map[businessKey]*businessEntry{}
	}
	// Sweep at most once a minute: a sweep walks the whole map.
	if now.Sub(b.swept) >= time.Minute || now.Before(b.swept) {
		b.swept = now
		for key, old := range b.m {
			if old.id == "" && len(old.fetch) == 0 || old.id != "" && now.Sub(old.at) >= businessIDTTL {
				delete(b.m, key)
			}
		}
	}
	e := &businessEntry{fetch: make(chan struct{}, 1)}
	b.m[k] = e
	return e
}

func (b *businessCache) store(k businessKey, id string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entryLocked(k, now)
	e.id, e.at = id, now
}

// UKPropertyBusinessID returns the businessId of the landlord's UK property
// business (Business Details v2.0 list). The answer is kept in memory for a
// day per user and NINO, so the pages that need it spend HMRC's rate budget
// once; ErrNoUKProperty (not cached) when HMRC lists no UK property business.
// A malformed NINO is a *mtdconnect.NINOError and nothing is sent.
func (c *Client) UKPropertyBusinessID(ctx context.Context, userID int64, nino string, origin *fraud.Origin, opts ...Option) (string, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if err != nil {
		return "", err
	}
	o, err := c.options(opts)
	if err != nil {
		return "", err
	}
	if o.scenario != "" || o.fresh {
		// A sandbox scenario's answer is canned: neither use nor keep the
		// cache. A fresh answer is asked for when HMRC itself is tested.
		return c.fetchUKPropertyBusinessID(ctx, o, userID, n, origin)
	}
	cache := &c.businesses
	k := businessKey{userID, n}
	e, id := cache.entry(k, c.hmrc.Now())
	if id != "" {
		return id, nil
	}
	select {
	case e.fetch <- struct{}{}:
		defer func() { <-e.fetch }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if _, id := cache.entry(k, c.hmrc.Now()); id != "" {
		return id, nil // fetched while this caller waited
	}
	id, err = c.fetchUKPropertyBusinessID(ctx, o, userID, n, origin)
	if err != nil {
		return "", err
	}
	cache.store(k, id, c.hmrc.Now())
	return id, nil
}

func (c *Client) fetchUKPropertyBusinessID(ctx context.Context, o options, userID int64, nino string, origin *fraud.Origin) (string, error) {
	var out struct {
		ListOfBusinesses []struct {
			TypeOfBusiness string `json:"typeOfBusiness"`
			BusinessID     string `json:"businessId"`
		} `json:"listOfBusinesses"`
	}
	_, err := c.do(ctx, o, userID, hmrc.Call{
		API: APIBusinessDetails, Method: http.MethodGet, Path: "/individuals/business/details/" + nino + "/list",
		Accept: acceptBusinessDetails, Fraud: origin,
	}, &out)
	if ae, ok := notFound(err, "MATCHING_RESOURCE_NOT_FOUND", "NO_BUSINESS_FOUND"); ok {
		return "", fmt.Errorf("%w (%w)", ErrNoUKProperty, ae)
	}
	if err != nil {
		return "", fmt.Errorf("itsa: list businesses: %w", err)
	}
	for _, b := range out.ListOfBusinesses {
		if b.TypeOfBusiness != TypeUKProperty {
			continue
		}
		if !ValidBusinessID(b.BusinessID) {
			return "", fmt.Errorf("itsa: list businesses: HMRC returned a malformed businessId %q", b.BusinessID)
		}
		return b.BusinessID, nil
	}
	return "", ErrNoUKProperty
}

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
func (c *Client) Obligations(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *fraud.Origin, opts ...Option) ([]Obligation, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if !taxYear.Valid() {
		err = errors.Join(err, errOf(errTaxYearFormat))
	}
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
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
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
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

// UKPropertyCumulative returns the UK property summary HMRC holds for
// taxYear (2025-26 onwards), as last submitted; ErrNoSubmission when there is
// none. Local checks are as for SubmitUKPropertyCumulative.
func (c *Client) UKPropertyCumulative(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *fraud.Origin, opts ...Option) (*UKPropertyCumulative, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
	if err != nil {
		return nil, err
	}
	var out UKPropertyCumulative
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
