package hmrcsim

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The landlord's Income Tax year end, written from HMRC's OAS and service
// sources (hmrc/property-business-api 6.0, hmrc/individual-calculations-api
// 8.0, hmrc/obligations-api 3.0): the UK property annual submission
// (annual.go), the tax calculations and the final declaration (calc.go, with
// the arithmetic in taxcalc.go), and the final declaration obligation (here).
//
// The simulator's mode (mode.go) decides, as for the other APIs. ModeDemo
// computes and keeps state: the annual submission is stored, a calculation
// reads the cumulative summary, the landlord's quarterly periods and the
// annual submission, a declaration fulfils the obligation. ModeSandbox
// answers as HMRC's sandbox documents it: canned DEFAULT answers, and state
// only where the test data offers STATEFUL (the annual submission, for the
// application's UK property test business); Individual Calculations has no
// STATEFUL, so its answers there are always canned. Both modes honour the
// error scenarios of HMRC's test-data tables.

// yearState is the year-end data of one Server. It has its own mutex; s.mu
// (the ITSA data, tokens) is never held at the same time, so a handler copies
// what it needs from the ITSA data first.
type yearState struct {
	s  *Server
	mu sync.Mutex // guards everything below
	// annual holds the UK property annual submissions by (vendor, nino,
	// businessId, taxYear), the vendor as for the ITSA data (itsaCall.vendor:
	// "" in the demo, the application in the sandbox); annualChanged is when
	// each was last created, amended or deleted, which makes older
	// calculations out of date.
	annual        map[annualKey]*annualSubmission
	annualChanged map[annualKey]time.Time
	// calcs are each (nino, taxYear)'s calculations, oldest first; only
	// the demo keeps any.
	calcs map[yearKey][]*calculation
}

// yearKey names a landlord's tax year; annualKey one business's tax year,
// as one vendor keeps it. Both hold the NINO without its suffix letter.
type (
	yearKey   struct{ nino, taxYear string }
	annualKey struct{ vendor, nino, businessID, taxYear string }
)

type annualSubmission struct {
	body        map[string]any // as submitted, amounts as json.Number
	submittedOn time.Time
}

func registerYearEnd(s *Server, mux *http.ServeMux) {
	y := &yearState{
		s:      s,
		annual: map[annualKey]*annualSubmission{}, annualChanged: map[annualKey]time.Time{},
		calcs: map[yearKey][]*calculation{},
	}
	s.year = y
	// Property Business 6.0: the UK property annual submission. Deleting
	// is one endpoint for UK and foreign property, without /uk.
	s.handleAPI(mux, "PUT /individuals/business/property/uk/{nino}/{businessId}/annual/{taxYear}", y.putAnnual)
	s.handleAPI(mux, "GET /individuals/business/property/uk/{nino}/{businessId}/annual/{taxYear}", y.getAnnual)
	s.handleAPI(mux, "DELETE /individuals/business/property/{nino}/{businessId}/annual/{taxYear}", y.deleteAnnual)
	// Obligations 3.0: final declaration (crystallisation) obligations.
	s.handleAPI(mux, "GET /obligations/details/{nino}/crystallisation", y.crystallisationObligations)
	// Individual Calculations 8.0. The literal "trigger" wins over the
	// final declaration's {calculationId} in ServeMux's precedence.
	s.handleAPI(mux, "POST /individuals/calculations/{nino}/self-assessment/{taxYear}/trigger/{calculationType}", y.trigger)
	s.handleAPI(mux, "GET /individuals/calculations/{nino}/self-assessment/{taxYear}", y.listCalculations)
	s.handleAPI(mux, "GET /individuals/calculations/{nino}/self-assessment/{taxYear}/{calculationId}", y.retrieveCalculation)
	s.handleAPI(mux, "POST /individuals/calculations/{nino}/self-assessment/{taxYear}/{calculationId}/{calculationType}", y.submitFinalDeclaration)
}

// Name of the Individual Calculations API in the Test Fraud Prevention
// Headers API's validation feedback.
const fraudAPICalculations = "individual-calculations-mtd"

// errYearGovTestScenario is the message of HMRC's services (the OAS examples
// differ).
var errYearGovTestScenario = mtdError{Code: "RULE_INCORRECT_GOV_TEST_SCENARIO", Message: "The supplied Gov-Test-Scenario is not valid"}

// yearCaller runs the checks every year-end endpoint shares, in HMRC's
// order, after recording the fraud prevention headers under api: Accept,
// token and scope, the NINO's format (ninoErr carries the API's own
// message), then the NINO belonging to the signed-in user. From there the
// API's service answers, so a deprecated API's headers go on.
func (y *yearState) yearCaller(w http.ResponseWriter, r *http.Request, api, version, scope string, ninoErr mtdError) (itsaCall, bool) {
	y.s.RecordFraudHeaders(api, r)
	if !requireAccept(w, r, version) {
		return itsaCall{}, false
	}
	u, clientID, ok := y.s.apiCaller(w, r, scope)
	if !ok {
		return itsaCall{}, false
	}
	nino := r.PathValue("nino")
	if !validNINO(nino) {
		writeMTDErrors(w, http.StatusBadRequest, ninoErr)
		return itsaCall{}, false
	}
	if u.NINO == "" || !sameNINO(u.NINO, nino) {
		writeMTDErrors(w, http.StatusForbidden, errNotAuthorised)
		return itsaCall{}, false
	}
	y.s.deprecationHeaders(w, api)
	return itsaCall{user: u, clientID: clientID, api: api}, true
}

// dropVendorData forgets the annual submissions a vendor kept with
// STATEFUL, for one NINO ("" for all) and one business ("" for all), as the
// Test Support API's deletes do. It reports whether there were any. The
// caller must not hold s.mu.
func (y *yearState) dropVendorData(vendor, nino, businessID string) bool {
	y.mu.Lock()
	defer y.mu.Unlock()
	found := false
	for k := range y.annualChanged {
		if k.vendor == vendor && (nino == "" || k.nino == nino) && (businessID == "" || k.businessID == businessID) {
			found = found || y.annual[k] != nil
			delete(y.annual, k)
			delete(y.annualChanged, k)
		}
	}
	return found
}

// yearScenario returns the Gov-Test-Scenario ("" for none or DEFAULT) if the
// endpoint knows it, writing RULE_INCORRECT_GOV_TEST_SCENARIO otherwise.
func yearScenario(w http.ResponseWriter, r *http.Request, known ...string) (string, bool) {
	v := strings.TrimSpace(r.Header.Get("Gov-Test-Scenario"))
	switch {
	case v == "" || v == "DEFAULT":
		return "", true
	case slices.Contains(known, v):
		return v, true
	}
	writeMTDErrors(w, http.StatusBadRequest, errYearGovTestScenario)
	return "", false
}

// writeValidationErrors writes validation errors as HMRC's validators do:
// errors with the same message merged (paths joined), sorted by code, one on
// its own, several inside INVALID_REQUEST.
func writeValidationErrors(w http.ResponseWriter, status int, errs ...mtdError) {
	var merged []mtdError
	for _, e := range errs {
		i := slices.IndexFunc(merged, func(m mtdError) bool { return m.Message == e.Message })
		if i < 0 {
			e.Paths = slices.Clone(e.Paths)
			merged = append(merged, e)
			continue
		}
		merged[i].Paths = append(merged[i].Paths, e.Paths...)
	}
	slices.SortStableFunc(merged, func(a, b mtdError) int { return cmp.Compare(a.Code, b.Code) })
	writeMTDErrors(w, status, merged...)
}

// taxYearErrors are one API's tax year errors (the messages differ by API).
type taxYearErrors struct{ format, rangeInvalid, notSupported mtdError }

// parseTaxYear checks a YYYY-YY tax year as HMRC's ResolveTaxYear does and
// returns its start year; minStart is the earliest supported one (0: none).
func parseTaxYear(ty string, minStart int, e taxYearErrors) (int, []mtdError) {
	m := taxYearRE.FindStringSubmatch(ty)
	if m == nil {
		return 0, []mtdError{e.format}
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	if b-a != 1 {
		return 0, []mtdError{e.rangeInvalid}
	}
	start := 2000 + a
	if start < minStart {
		return 0, []mtdError{e.notSupported}
	}
	return start, nil
}

// taxYearEnd is the first day after the tax year starting in start.
func taxYearEnd(start int) time.Time { return time.Date(start+1, time.April, 6, 0, 0, 0, 0, time.UTC) }

// finalDeclarationDue is 31 January after the tax year.
func finalDeclarationDue(start int) time.Time {
	return time.Date(start+2, time.January, 31, 0, 0, 0, 0, time.UTC)
}

// amendmentWindowEnd is the last day an amendment is accepted: 12 months
// after the 31 January filing date (E2E: for 2025-26, 31 January 2028).
func amendmentWindowEnd(start int) time.Time { return finalDeclarationDue(start).AddDate(1, 0, 0) }

// outsideAmendmentWindow reports whether a change to a declared year comes too
// late; a year without a final declaration has no amendment window yet.
func (y *yearState) outsideAmendmentWindow(nino string, start int, now time.Time) bool {
	y.mu.Lock()
	declared := y.declarationLocked(yearKey{ninoKey(nino), taxYearString(start)}) != nil
	y.mu.Unlock()
	return declared && dateOf(now).After(amendmentWindowEnd(start))
}

// ---- Obligations 3.0: final declaration obligations ----

type crystallisationObligation struct {
	PeriodStartDate string `json:"periodStartDate"`
	PeriodEndDate   string `json:"periodEndDate"`
	DueDate         string `json:"dueDate"`
	Status          string `json:"status"`
	ReceivedDate    string `json:"receivedDate,omitempty"`
}

func yearObligation(start int) crystallisationObligation {
	return crystallisationObligation{
		PeriodStartDate: time.Date(start, time.April, 6, 0, 0, 0, 0, time.UTC).Format(isoDate),
		PeriodEndDate:   time.Date(start+1, time.April, 5, 0, 0, 0, 0, time.UTC).Format(isoDate),
		DueDate:         finalDeclarationDue(start).Format(isoDate),
		Status:          "open",
	}
}

// crystallisationObligations is GET /obligations/details/{nino}/crystallisation
// (read): taxYear (default: the current tax year and the four before it) and
// status (open, fulfilled) in the query.
func (y *yearState) crystallisationObligations(w http.ResponseWriter, r *http.Request) {
	u, ok := y.s.itsa.itsaUser(w, r, fraudAPIObligations, "3.0", "read:self-assessment")
	if !ok {
		return
	}
	q := r.URL.Query()
	var errs []mtdError
	current := taxYearStartOf(y.s.now())
	first, last := current-4, current
	if q.Has("taxYear") {
		start, e := checkTaxYear(q.Get("taxYear"), 2017)
		errs = append(errs, e...)
		first, last = start, start
	}
	status := q.Get("status")
	if q.Has("status") && status != "open" && status != "fulfilled" {
		errs = append(errs, errFormatStatus)
	}
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := yearScenario(w, r, "MULTIPLE", "INSOLVENT_TRADER", "NOT_FOUND", "DYNAMIC")
	if !ok {
		return
	}
	var obs []crystallisationObligation
	switch {
	case sc == "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case sc == "INSOLVENT_TRADER":
		writeMTDErrors(w, http.StatusBadRequest, errInsolventTrader)
		return
	case sc == "MULTIPLE":
		for start := 2018; start <= 2020; start++ {
			ob := yearObligation(start)
			if start < 2020 {
				ob.Status, ob.ReceivedDate = "fulfilled", time.Date(start+2, time.January, 25, 0, 0, 0, 0, time.UTC).Format(isoDate)
			}
			obs = append(obs, ob)
		}
	case sc == "DYNAMIC":
		// The dates follow the request: the tax year asked for, or the
		// current one.
		obs = []crystallisationObligation{yearObligation(last)}
	case y.s.sandbox():
		// The sandbox's DEFAULT: one open obligation, whatever was
		// declared (the OAS example's year).
		obs = []crystallisationObligation{yearObligation(2018)}
	default:
		obs = y.declarationObligations(ninoKey(u.NINO), max(first, 2025), last)
	}
	obs = slices.DeleteFunc(obs, func(o crystallisationObligation) bool { return status != "" && o.Status != status })
	if len(obs) == 0 {
		writeMTDErrors(w, http.StatusNotFound, errNoObligations)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"obligations": obs})
}

// declarationObligations are the demo's final declaration obligations for the
// tax years first..last: every year from 2025-26 (the start of the
// simulator's MTD) up to the current one has one, fulfilled
// Options.FulfilmentDelay after its final declaration (the one delay of the
// quarterly obligations too).
func (y *yearState) declarationObligations(nino string, first, last int) []crystallisationObligation {
	now := y.s.now()
	current := taxYearStartOf(now)
	var obs []crystallisationObligation
	y.mu.Lock()
	defer y.mu.Unlock()
	for start := first; start <= min(last, current); start++ {
		ob := yearObligation(start)
		if c := y.declarationLocked(yearKey{nino, taxYearString(start)}); c != nil && !now.Before(c.finalisedAt.Add(y.s.opts.FulfilmentDelay)) {
			ob.Status, ob.ReceivedDate = "fulfilled", dateOf(c.finalisedAt).Format(isoDate)
		}
		obs = append(obs, ob)
	}
	return obs
}
