package hmrc

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
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
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
	ErrNoUKProperty = errors.New("hmrc: HMRC has no UK property business for this National Insurance number")
	// ErrNoSubmission means HMRC holds no cumulative summary for the tax
	// year yet.
	ErrNoSubmission = errors.New("hmrc: nothing has been submitted for this tax year yet")
)

// businessIDTTL is how long a UK property business ID is reused without
// asking HMRC again: it changes only if the landlord's business ceases and
// a new one starts, so a day costs one call of rate budget per landlord a
// day at most.
const businessIDTTL = 24 * time.Hour

// ITSAOption adjusts one ITSA call.
type ITSAOption func(*itsaOptions)

type itsaOptions struct {
	priority Priority
	scenario string
}

// WithPriority sets the call's place in the rate budget; ITSA calls are
// Interactive unless told otherwise (use Scheduled or Background for work no
// landlord waits on).
func WithPriority(p Priority) ITSAOption {
	return func(o *itsaOptions) { o.priority = p }
}

// WithTestScenario sends HMRC's sandbox Gov-Test-Scenario header (e.g.
// "NOT_FOUND") on the call's own request only, not on the business ID
// lookup it may need first, and bypasses the business ID cache for a
// UKPropertyBusinessID call. The call fails, sending nothing, if the client
// is configured for production, where the header has no place.
func WithTestScenario(name string) ITSAOption {
	return func(o *itsaOptions) { o.scenario = name }
}

var itsaScenarioPattern = regexp.MustCompile(`^[A-Z0-9_]{1,64}$`)

func (c *Client) itsaOptions(opts []ITSAOption) (itsaOptions, error) {
	o := itsaOptions{priority: Interactive}
	for _, f := range opts {
		f(&o)
	}
	if o.scenario != "" {
		if c.cfg.Environment == "production" {
			return o, fmt.Errorf("%w: it is for the sandbox only, and this client calls production", ErrTestScenario)
		}
		if !itsaScenarioPattern.MatchString(o.scenario) {
			return o, fmt.Errorf("%w: not a name of upper-case letters, digits and _", ErrTestScenario)
		}
	}
	return o, nil
}

// itsaDo makes one Income Tax call. An HMRC error with a single code keeps
// its JSON-pointer paths as the only item of APIError.Errors, so callers
// find every error's fields in Errors, whether HMRC sent one or several.
func (c *Client) itsaDo(ctx context.Context, o itsaOptions, userID int64, call Call, out any) (*Response, error) {
	call.UserID = userID
	call.Purpose = mtdconnect.PurposeIncomeTax
	call.Priority = o.priority
	// GET and PUT are safe to repeat: a PUT of the same body leaves HMRC as
	// one PUT would.
	call.Idempotent = call.Method == http.MethodGet || call.Method == http.MethodPut
	if o.scenario != "" {
		call.Header = http.Header{"Gov-Test-Scenario": {o.scenario}}
	}
	resp, err := c.Do(ctx, call, out)
	var ae *APIError
	if errors.As(err, &ae) && resp != nil {
		itsaKeepPaths(ae, resp.Body)
	}
	return resp, err
}

// itsaKeepPaths copies the paths of a single-error HMRC answer, which
// APIError has no field for, into Errors.
func itsaKeepPaths(ae *APIError, body []byte) {
	if len(ae.Errors) > 0 {
		return
	}
	var single APIErrorItem
	if json.Unmarshal(body, &single) != nil || single.Code != ae.Code || len(single.Paths) == 0 {
		return
	}
	ae.Errors = []APIErrorItem{single}
}

func itsaNotFound(err error, codes ...string) (*APIError, bool) {
	var ae *APIError
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
func (c *Client) UKPropertyBusinessID(ctx context.Context, userID int64, nino string, origin *Request, opts ...ITSAOption) (string, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if err != nil {
		return "", err
	}
	o, err := c.itsaOptions(opts)
	if err != nil {
		return "", err
	}
	if o.scenario != "" {
		// A sandbox scenario's answer is canned: neither use nor keep the cache.
		return c.fetchUKPropertyBusinessID(ctx, o, userID, n, origin)
	}
	cache := &c.businesses
	k := businessKey{userID, n}
	e, id := cache.entry(k, c.now())
	if id != "" {
		return id, nil
	}
	select {
	case e.fetch <- struct{}{}:
		defer func() { <-e.fetch }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if _, id := cache.entry(k, c.now()); id != "" {
		return id, nil // fetched while this caller waited
	}
	id, err = c.fetchUKPropertyBusinessID(ctx, o, userID, n, origin)
	if err != nil {
		return "", err
	}
	cache.store(k, id, c.now())
	return id, nil
}

func (c *Client) fetchUKPropertyBusinessID(ctx context.Context, o itsaOptions, userID int64, nino string, origin *Request) (string, error) {
	var out struct {
		ListOfBusinesses []struct {
			TypeOfBusiness string `json:"typeOfBusiness"`
			BusinessID     string `json:"businessId"`
		} `json:"listOfBusinesses"`
	}
	_, err := c.itsaDo(ctx, o, userID, Call{
		Method: http.MethodGet, Path: "/individuals/business/details/" + nino + "/list",
		Accept: acceptBusinessDetails, Fraud: origin,
	}, &out)
	if ae, ok := itsaNotFound(err, "MATCHING_RESOURCE_NOT_FOUND", "NO_BUSINESS_FOUND"); ok {
		return "", fmt.Errorf("%w (%w)", ErrNoUKProperty, ae)
	}
	if err != nil {
		return "", fmt.Errorf("hmrc: list businesses: %w", err)
	}
	for _, b := range out.ListOfBusinesses {
		if b.TypeOfBusiness != TypeUKProperty {
			continue
		}
		if !ValidBusinessID(b.BusinessID) {
			return "", fmt.Errorf("hmrc: list businesses: HMRC returned a malformed businessId %q", b.BusinessID)
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
func (c *Client) Obligations(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *Request, opts ...ITSAOption) ([]Obligation, error) {
	n, err := mtdconnect.ParseNINO(nino)
	if !taxYear.Valid() {
		err = errors.Join(err, itsaErr(itsaErrTaxYearFormat))
	}
	if err != nil {
		return nil, err
	}
	o, err := c.itsaOptions(opts)
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
	_, err = c.itsaDo(ctx, o, userID, Call{
		Method: http.MethodGet, Path: "/obligations/details/" + n + "/income-and-expenditure",
		Query: url.Values{
			"typeOfBusiness": {TypeUKProperty}, "businessId": {bid},
			"fromDate": {taxYear.FirstDay()}, "toDate": {taxYear.LastDay()},
		},
		Accept: acceptObligations, Fraud: origin,
	}, &out)
	if _, ok := itsaNotFound(err, "NO_OBLIGATIONS_FOUND"); ok {
		return []Obligation{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hmrc: obligations %s: %w", taxYear, err)
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
// path, joining every problem: a *mtdconnect.NINOError and ValidationErrors.
func checkCumulativeTarget(nino string, taxYear TaxYear) (string, error) {
	n, err := mtdconnect.ParseNINO(nino)
	switch {
	case !taxYear.Valid():
		err = errors.Join(err, itsaErr(itsaErrTaxYearFormat))
	case taxYear < CumulativeFirstTaxYear:
		err = errors.Join(err, itsaErr(itsaErrTaxYearNotSupp))
	}
	return n, err
}

// SubmitUKPropertyCumulative creates or amends the year-to-date UK property
// summary for taxYear (Property Business v6.0, 2025-26 onwards): HMRC keeps
// the latest, and it fulfils every obligation whose period end it covers.
// Nothing is sent when the NINO, the tax year or the body would be refused
// for its shape: the error then joins a *mtdconnect.NINOError and/or
// ValidationError values (HMRC's codes, messages and paths). HMRC's own
// refusals are *APIError. On success HMRC answers 204; the Response carries
// its X-CorrelationId, the reference to keep.
func (c *Client) SubmitUKPropertyCumulative(ctx context.Context, userID int64, nino string, taxYear TaxYear, body UKPropertyCumulative, origin *Request, opts ...ITSAOption) (*Response, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if taxYear.Valid() && taxYear >= CumulativeFirstTaxYear {
		// Validate would only repeat a tax year error.
		err = errors.Join(err, ValidationErrors(body.Validate(taxYear)))
	}
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("hmrc: encode UK property summary: %w", err)
	}
	o, err := c.itsaOptions(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
	if err != nil {
		return nil, err
	}
	resp, err := c.itsaDo(ctx, o, userID, Call{
		Method: http.MethodPut, Path: "/individuals/business/property/uk/" + n + "/" + bid + "/cumulative/" + taxYear.String(),
		Accept: acceptPropertyBusiness, Body: json.RawMessage(raw), Fraud: origin,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("hmrc: submit UK property %s: %w", taxYear, err)
	}
	c.log.Info("hmrc uk property cumulative summary submitted", "user_id", userID, "tax_year", taxYear.String(), "correlation_id", resp.CorrelationID)
	return resp, nil
}

// UKPropertyCumulative returns the UK property summary HMRC holds for
// taxYear (2025-26 onwards), as last submitted; ErrNoSubmission when there is
// none. Local checks are as for SubmitUKPropertyCumulative.
func (c *Client) UKPropertyCumulative(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *Request, opts ...ITSAOption) (*UKPropertyCumulative, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if err != nil {
		return nil, err
	}
	o, err := c.itsaOptions(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
	if err != nil {
		return nil, err
	}
	var out UKPropertyCumulative
	_, err = c.itsaDo(ctx, o, userID, Call{
		Method: http.MethodGet, Path: "/individuals/business/property/uk/" + n + "/" + bid + "/cumulative/" + taxYear.String(),
		Accept: acceptPropertyBusiness, Fraud: origin,
	}, &out)
	if ae, ok := itsaNotFound(err, "MATCHING_RESOURCE_NOT_FOUND"); ok {
		return nil, fmt.Errorf("%w (%w)", ErrNoSubmission, ae)
	}
	if err != nil {
		return nil, fmt.Errorf("hmrc: UK property %s: %w", taxYear, err)
	}
	return &out, nil
}
