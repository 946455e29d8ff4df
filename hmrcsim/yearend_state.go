package hmrcsim

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// The year end's part of a state snapshot (state.go): the annual submissions
// with the time each was last changed (a deleted one keeps only that, which
// still makes older calculations out of date) and the vendor that keeps them
// (none for the demo's, the application for the sandbox's STATEFUL ones),
// and every calculation with its result and its declaration or confirmation.
// A declared year's obligation is derived from its calculation, so it needs
// nothing of its own.

type stateYearEnd struct {
	AnnualSubmissions []stateAnnual      `json:"annualSubmissions,omitempty"`
	Calculations      []stateCalculation `json:"calculations,omitempty"`
}

type stateAnnual struct {
	Vendor      string          `json:"vendor,omitempty"`
	NINO        string          `json:"nino"`
	BusinessID  string          `json:"businessId"`
	TaxYear     string          `json:"taxYear"`
	Submission  json.RawMessage `json:"submission,omitempty"` // absent once deleted
	SubmittedOn time.Time       `json:"submittedOn,omitzero"`
	ChangedAt   time.Time       `json:"changedAt"`
}

type stateCalculation struct {
	NINO            string     `json:"nino"`
	TaxYear         string     `json:"taxYear"`
	CalculationID   string     `json:"calculationId"`
	CalculationType string     `json:"calculationType"` // as triggered
	RequestedAt     time.Time  `json:"requestedAt"`
	ReadyAt         time.Time  `json:"readyAt"`
	FinalisedAt     time.Time  `json:"finalisedAt,omitzero"`
	ConfirmedAt     time.Time  `json:"confirmedAt,omitzero"`
	Result          calcResult `json:"result"`
}

// snapshot copies the year-end data under its own mutex; nil when there is
// none, so a simulator that never saw the year end writes what it always did.
func (y *yearState) snapshot() (*stateYearEnd, error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	var out stateYearEnd
	keys := slices.Collect(maps.Keys(y.annualChanged))
	slices.SortFunc(keys, compareAnnualKeys)
	for _, k := range keys {
		e := stateAnnual{Vendor: k.vendor, NINO: k.nino, BusinessID: k.businessID, TaxYear: k.taxYear, ChangedAt: y.annualChanged[k]}
		if sub := y.annual[k]; sub != nil {
			body, err := json.Marshal(sub.body)
			if err != nil {
				return nil, fmt.Errorf("hmrcsim: write state: annual submission %s %s: %w", k.businessID, k.taxYear, err)
			}
			e.Submission, e.SubmittedOn = body, sub.submittedOn
		}
		out.AnnualSubmissions = append(out.AnnualSubmissions, e)
	}
	calcKeys := slices.Collect(maps.Keys(y.calcs))
	slices.SortFunc(calcKeys, func(a, b yearKey) int { return cmp.Or(cmp.Compare(a.nino, b.nino), cmp.Compare(a.taxYear, b.taxYear)) })
	for _, k := range calcKeys {
		for _, c := range y.calcs[k] {
			out.Calculations = append(out.Calculations, stateCalculation{
				NINO: k.nino, TaxYear: k.taxYear, CalculationID: c.id, CalculationType: c.calcType,
				RequestedAt: c.requestedAt, ReadyAt: c.readyAt, FinalisedAt: c.finalisedAt, ConfirmedAt: c.confirmedAt,
				Result: c.result,
			})
		}
	}
	if len(out.AnnualSubmissions) == 0 && len(out.Calculations) == 0 {
		return nil, nil
	}
	return &out, nil
}

func compareAnnualKeys(a, b annualKey) int {
	return cmp.Or(cmp.Compare(a.vendor, b.vendor), cmp.Compare(a.nino, b.nino), cmp.Compare(a.businessID, b.businessID), cmp.Compare(a.taxYear, b.taxYear))
}

// restoredYearEnd is a checked snapshot of the year end, built before
// anything is replaced.
type restoredYearEnd struct {
	annual        map[annualKey]*annualSubmission
	annualChanged map[annualKey]time.Time
	calcs         map[yearKey][]*calculation
}

// restoreYearEnd checks the year-end part of a snapshot: identifiers in
// HMRC's formats, annual submissions that pass the submission's own
// validation, calculations with unique IDs, a known type and at most one
// final declaration a year.
func restoreYearEnd(snap *stateYearEnd) (*restoredYearEnd, error) {
	st := &restoredYearEnd{annual: map[annualKey]*annualSubmission{}, annualChanged: map[annualKey]time.Time{}, calcs: map[yearKey][]*calculation{}}
	if snap == nil {
		return st, nil
	}
	checkOwner := func(nino, taxYear string) error {
		_, yearErrs := parseTaxYear(taxYear, 0, calcTaxYearErrors)
		switch {
		case !validNINO(nino) || ninoKey(nino) != nino:
			return errors.New("invalid NINO (stored without suffix)")
		case len(yearErrs) > 0:
			return fmt.Errorf("invalid tax year %q", taxYear)
		}
		return nil
	}
	for i, e := range snap.AnnualSubmissions {
		k := annualKey{e.Vendor, e.NINO, e.BusinessID, e.TaxYear}
		if err := checkOwner(e.NINO, e.TaxYear); err != nil {
			return nil, fmt.Errorf("annual submission %d: %w", i, err)
		}
		switch {
		case !businessIDRE.MatchString(e.BusinessID):
			return nil, fmt.Errorf("annual submission %d: invalid business ID", i)
		case !st.annualChanged[k].IsZero():
			return nil, fmt.Errorf("annual submission %s %s appears twice", e.BusinessID, e.TaxYear)
		case e.ChangedAt.IsZero():
			return nil, fmt.Errorf("annual submission %s %s: changedAt is required", e.BusinessID, e.TaxYear)
		}
		st.annualChanged[k] = e.ChangedAt
		if e.Submission == nil {
			continue
		}
		body, errs := parseAnnualBody(e.Submission)
		if len(errs) == 0 {
			errs = validateAnnualRules(body)
		}
		if len(errs) > 0 || e.SubmittedOn.IsZero() {
			return nil, fmt.Errorf("annual submission %s %s: not a valid submission with submittedOn", e.BusinessID, e.TaxYear)
		}
		st.annual[k] = &annualSubmission{body: body, submittedOn: e.SubmittedOn}
	}
	ids := map[string]bool{}
	for i, e := range snap.Calculations {
		if err := checkOwner(e.NINO, e.TaxYear); err != nil {
			return nil, fmt.Errorf("calculation %d: %w", i, err)
		}
		k := yearKey{e.NINO, e.TaxYear}
		switch {
		case !calcIDRE.MatchString(e.CalculationID) || ids[e.CalculationID]:
			return nil, fmt.Errorf("calculation %d: ID invalid or repeated", i)
		case !slices.Contains(triggerTypes, e.CalculationType):
			return nil, fmt.Errorf("calculation %s: unknown type %q", e.CalculationID, e.CalculationType)
		case e.RequestedAt.IsZero() || e.ReadyAt.Before(e.RequestedAt):
			return nil, fmt.Errorf("calculation %s: requestedAt and readyAt are required, in that order", e.CalculationID)
		case !e.FinalisedAt.IsZero() && e.CalculationType != "intent-to-finalise",
			!e.ConfirmedAt.IsZero() && e.CalculationType != "intent-to-amend":
			return nil, fmt.Errorf("calculation %s: a %s calculation cannot be declared or confirmed", e.CalculationID, e.CalculationType)
		case !e.FinalisedAt.IsZero() && slices.ContainsFunc(st.calcs[k], func(c *calculation) bool { return !c.finalisedAt.IsZero() }):
			return nil, fmt.Errorf("calculation %s: %s has two final declarations", e.CalculationID, e.TaxYear)
		case len(st.calcs[k]) > 0 && e.RequestedAt.Before(st.calcs[k][len(st.calcs[k])-1].requestedAt):
			return nil, fmt.Errorf("calculation %s: calculations must be in the order they were triggered", e.CalculationID)
		case e.Result.PeriodFrom == "" || e.Result.PeriodTo == "" || (e.Result.Calculation == nil && e.Result.Messages == nil):
			return nil, fmt.Errorf("calculation %s: result without period, calculation or messages", e.CalculationID)
		}
		ids[e.CalculationID] = true
		st.calcs[k] = append(st.calcs[k], &calculation{
			id: e.CalculationID, calcType: e.CalculationType, requestedAt: e.RequestedAt, readyAt: e.ReadyAt,
			finalisedAt: e.FinalisedAt, confirmedAt: e.ConfirmedAt, result: e.Result,
		})
	}
	return st, nil
}

// load replaces the year-end data with a restored snapshot.
func (y *yearState) load(st *restoredYearEnd) {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.annual, y.annualChanged, y.calcs = st.annual, st.annualChanged, st.calcs
}
