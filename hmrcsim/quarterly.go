package hmrcsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// Business Details v2.0 "Create and Amend Quarterly Period Type for a
// Business" (quarterly_period_type_create_amend.yaml) and the quarterly
// periods it chooses between (E2E make-updates-during-tax-year, "Change to
// calendar quarters"):
//
//   - standard quarters end on 5 July, 5 October, 5 January and 5 April;
//     calendar quarters on 30 June, 30 September, 31 December and 31 March;
//   - cumulative periods all start on the first period's start: 6 April,
//     or 1 April for calendar quarters when the year before was calendar
//     too ("the first period for subsequent tax years starts on 1 April");
//   - the choice changes no deadline: due dates are the standard ones;
//   - it is made for the current tax year only, before the year's first
//     quarterly update ("the quarterly period type cannot be changed after a
//     submission is made for that year"), and carries on into later years
//     until changed back ("it will continue year on year").

const (
	periodStandard = "standard"
	periodCalendar = "calendar"
)

// periods are one tax year's cumulative quarterly periods.
type periods struct {
	start      time.Time
	ends, dues []time.Time
	calendar   bool
}

// quarterlyPeriods builds a tax year's periods for a period type;
// prevCalendar says the year before was calendar too.
func quarterlyPeriods(year int, typ string, prevCalendar bool) periods {
	dueDay := 7
	if year <= 2025 {
		dueDay = 5 // HMRC's 2025-26 examples: due on the 5th
	}
	p := periods{start: day(year, time.April, 6), calendar: typ == periodCalendar}
	for _, m := range []struct {
		y int
		m time.Month
	}{{year, time.July}, {year, time.October}, {year + 1, time.January}, {year + 1, time.April}} {
		end := day(m.y, m.m, 5)
		if p.calendar {
			end = day(m.y, m.m, 1).AddDate(0, 0, -1) // the month before's last day
		}
		p.ends = append(p.ends, end)
		p.dues = append(p.dues, day(m.y, m.m+1, dueDay))
	}
	if p.calendar && prevCalendar && year > 2025 {
		p.start = day(year, time.April, 1)
	}
	return p
}

// periodTypeLocked is the period type in force for key's tax year: the
// latest election for that year or an earlier one (a test business's
// quarterlyTypeChoice counts as one), standard without any. The caller
// holds s.mu.
func (st *itsaState) periodTypeLocked(key itsaKey) string {
	year, _ := checkTaxYear(key.taxYear, 0)
	best, typ := 0, periodStandard
	consider := func(y int, t string) {
		if y <= year && y >= best && (t == periodStandard || t == periodCalendar) {
			best, typ = y, t
		}
	}
	if b := st.businessByKeyLocked(key); b != nil && b.QuarterlyTypeChoice != nil {
		y, _ := checkTaxYear(b.QuarterlyTypeChoice.TaxYearOfChoice, 0)
		consider(y, b.QuarterlyTypeChoice.QuarterlyPeriodType)
	}
	for k, t := range st.periodTypes {
		if k.vendor == key.vendor && k.nino == key.nino && k.businessID == key.businessID {
			y, _ := checkTaxYear(k.taxYear, 0)
			consider(y, t)
		}
	}
	return typ
}

// periodsLocked are key's tax year's periods under the type in force.
func (st *itsaState) periodsLocked(key itsaKey) periods {
	year, _ := checkTaxYear(key.taxYear, 0)
	prev := key
	prev.taxYear = taxYearString(year - 1)
	return quarterlyPeriods(year, st.periodTypeLocked(key), st.periodTypeLocked(prev) == periodCalendar)
}

var (
	errBusinessIDNotFound  = mtdError{Code: "RULE_BUSINESS_ID_NOT_FOUND", Message: "The business ID provided is not found"}
	errBusinessIDConflict  = mtdError{Code: "RULE_BUSINESS_ID_STATE_CONFLICT", Message: "The request conflicts with the current state of the business ID"}
	errPeriodUpdating      = mtdError{Code: "RULE_QUARTERLY_PERIOD_UPDATING", Message: "The quarterly period type cannot be changed when a business commencement date falls between 1st and 5th of April, and the current date is also within that date range but later than the business commencement date"}
	errCannotBeFulfilledQT = mtdError{Code: "RULE_REQUEST_CANNOT_BE_FULFILLED", Message: "Request cannot proceed for this income source type"}
)

func (st *itsaState) putQuarterlyPeriodType(w http.ResponseWriter, r *http.Request) {
	c, ok := st.gateway(w, r, fraudAPIBusinessDetails, "2.0", "write:self-assessment")
	if !ok {
		return
	}
	raw := readJSONBody(w, r)
	if raw == nil || !st.ownNINO(w, r, c) || cannotBeFulfilled(w, r) {
		return
	}
	// Def1_CreateAmendQuarterlyPeriodTypeValidator: NINO, business ID, tax
	// year (format and range only) and body, all errors together.
	businessID, taxYear := r.PathValue("businessId"), r.PathValue("taxYear")
	var errs []mtdError
	if !businessIDRE.MatchString(businessID) {
		errs = append(errs, errFormatBusinessID)
	}
	start, yearErrs := checkTaxYear(taxYear, 0)
	errs = append(errs, yearErrs...)
	typ, bodyErr := periodTypeBody(raw)
	if bodyErr != nil {
		errs = append(errs, *bodyErr)
	}
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := scenario(w, r, "BUSINESS_ID_NOT_FOUND", "BUSINESS_ID_STATE_CONFLICT", "QUARTERLY_PERIOD_UPDATING", "STATEFUL")
	if !ok {
		return
	}
	switch {
	case sc == "BUSINESS_ID_NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errBusinessIDNotFound)
		return
	case sc == "BUSINESS_ID_STATE_CONFLICT":
		writeMTDErrors(w, http.StatusBadRequest, errBusinessIDConflict)
		return
	case sc == "QUARTERLY_PERIOD_UPDATING":
		writeMTDErrors(w, http.StatusBadRequest, errPeriodUpdating)
		return
	case st.s.sandbox() && sc != "STATEFUL":
		w.WriteHeader(http.StatusNoContent) // "Simulate a successful response"
		return
	}
	now := st.s.now()
	key := itsaKey{c.vendor(st.s), ninoKey(c.user.NINO), businessID, taxYear}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	biz, found := st.businessLocked(c, businessID)
	switch {
	case !found: // downstream 5010
		writeMTDErrors(w, http.StatusNotFound, errBusinessIDNotFound)
		return
	case biz.TypeOfBusiness == "property-unspecified":
		writeMTDErrors(w, http.StatusUnprocessableEntity, errCannotBeFulfilledQT)
		return
	case start != taxYearStartOf(now):
		// "Only the current tax year is allowed" (the endpoint's warning).
		writeMTDErrors(w, http.StatusUnprocessableEntity, errCannotBeFulfilledQT)
		return
	case st.summaries[key] != nil:
		// A quarterly update was made for the year: the type is fixed.
		writeMTDErrors(w, http.StatusBadRequest, errBusinessIDConflict)
		return
	case st.periodUpdatingLocked(key, now):
		writeMTDErrors(w, http.StatusBadRequest, errPeriodUpdating)
		return
	}
	st.periodTypes[key] = typ
	st.s.log.Info("hmrcsim: quarterly period type set", "business_id", businessID, "tax_year", taxYear, "type", typ)
	w.WriteHeader(http.StatusNoContent)
}

// periodTypeBody reads {"quarterlyPeriodType": "standard"|"calendar"}
// (ResolveNonEmptyJsonObject: {} is RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED,
// a missing or wrong field the same with its path).
func periodTypeBody(raw []byte) (string, *mtdError) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&body); err != nil || len(body) == 0 {
		e := errEmptyBody
		return "", &e
	}
	var typ string
	if err := json.Unmarshal(body["quarterlyPeriodType"], &typ); err != nil || (typ != periodStandard && typ != periodCalendar) {
		e := errEmptyBody.withPaths("/quarterlyPeriodType")
		return "", &e
	}
	return typ, nil
}

// periodUpdatingLocked is RULE_QUARTERLY_PERIOD_UPDATING for a test
// business: it commenced between 1 and 5 April and today is in those days
// too, after the commencement.
func (st *itsaState) periodUpdatingLocked(key itsaKey, now time.Time) bool {
	b := st.businessByKeyLocked(key)
	if b == nil {
		return false
	}
	commenced, ok := parseDate(b.CommencementDate)
	today := dateOf(now)
	year := today.Year()
	inRange := func(t time.Time) bool {
		return !t.Before(day(year, time.April, 1)) && !t.After(day(year, time.April, 5))
	}
	return ok && inRange(commenced) && inRange(today) && today.After(commenced)
}
