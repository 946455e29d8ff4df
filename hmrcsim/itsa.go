package hmrcsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // ukTime on hosts without a zone database
)

// MTD Income Tax Self Assessment for a landlord, written from HMRC's OAS and
// validator sources (see the shared reference, §6): Business Details v2.0
// (list), Obligations v3.0 (income-and-expenditure) and Property Business
// v6.0 (UK property cumulative summary, 2025-26 onwards).
//
// Every test user has one UK property business whose businessId is derived
// from the user's NINO. Submissions are stateful: a cumulative summary fulfils
// every obligation whose period end it covers.

// itsaState is the ITSA data of one Server; its maps are guarded by s.mu.
type itsaState struct {
	s *Server
	// summaries by (nino, businessId, taxYear).
	summaries map[itsaKey]*cumulativeSummary
	// received dates of fulfilled obligations: key -> period end -> date.
	received map[itsaKey]map[string]string
}

type itsaKey struct{ nino, businessID, taxYear string }

type cumulativeSummary struct {
	body        map[string]any
	submittedOn time.Time
}

func registerITSA(s *Server, mux *http.ServeMux) {
	st := &itsaState{s: s, summaries: map[itsaKey]*cumulativeSummary{}, received: map[itsaKey]map[string]string{}}
	s.itsa = st
	s.handleAPI(mux, "GET /individuals/business/details/{nino}/list", st.listBusinesses)
	s.handleAPI(mux, "GET /obligations/details/{nino}/income-and-expenditure", st.obligations)
	s.handleAPI(mux, "PUT /individuals/business/property/uk/{nino}/{businessId}/cumulative/{taxYear}", st.putCumulative)
	s.handleAPI(mux, "GET /individuals/business/property/uk/{nino}/{businessId}/cumulative/{taxYear}", st.getCumulative)
}

// ---- errors ----

// mtdError is one ITSA error; Paths are JSON pointers into the request body.
type mtdError struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Paths   []string `json:"paths,omitempty"`
}

var (
	errFormatNino         = mtdError{Code: "FORMAT_NINO", Message: "The provided NINO is invalid"}
	errFormatTaxYear      = mtdError{Code: "FORMAT_TAX_YEAR", Message: "The provided tax year is invalid"}
	errTaxYearRange       = mtdError{Code: "RULE_TAX_YEAR_RANGE_INVALID", Message: "A tax year range of one year is required"}
	errTaxYearUnsupported = mtdError{Code: "RULE_TAX_YEAR_NOT_SUPPORTED", Message: "The tax year specified does not lie within the supported range"}
	errFormatBusinessID   = mtdError{Code: "FORMAT_BUSINESS_ID", Message: "The provided Business ID is invalid"}
	errEmptyBody          = mtdError{Code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", Message: "An empty or non-matching body was submitted"}
	errFromDate           = mtdError{Code: "FORMAT_FROM_DATE", Message: "The provided From date is invalid"}
	errToDate             = mtdError{Code: "FORMAT_TO_DATE", Message: "The provided To date is invalid"}
	errBothExpenses       = mtdError{Code: "RULE_BOTH_EXPENSES_SUPPLIED", Message: "Both expenses and consolidatedExpenses can not be present at the same time"}
	errToBeforeFrom       = mtdError{Code: "RULE_TO_DATE_BEFORE_FROM_DATE", Message: "The To date cannot be earlier than the From date"}
	errMissingDates       = mtdError{Code: "RULE_MISSING_SUBMISSION_DATES", Message: "Submission start and end dates are required"}
	errEarlySubmission    = mtdError{Code: "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED", Message: "Cannot submit data more than 10 days before end of period"}
	errOutsideAmendment   = mtdError{Code: "RULE_OUTSIDE_AMENDMENT_WINDOW", Message: "You are outside the amendment window"}
	errNotAuthorised      = mtdError{Code: "CLIENT_OR_AGENT_NOT_AUTHORISED", Message: "The client or agent is not authorised"}
	errNotFound           = mtdError{Code: "MATCHING_RESOURCE_NOT_FOUND", Message: "Matching resource not found"}
	errNoObligations      = mtdError{Code: "NO_OBLIGATIONS_FOUND", Message: "No obligations found using this filter"}
	errGovTestScenario    = mtdError{Code: "RULE_INCORRECT_GOV_TEST_SCENARIO", Message: "The Gov-Test-Scenario was not found"}
	errInsolventTrader    = mtdError{Code: "RULE_INSOLVENT_TRADER", Message: "The remote endpoint has indicated that the Trader is insolvent"}

	errFormatTypeOfBusiness  = mtdError{Code: "FORMAT_TYPE_OF_BUSINESS", Message: "The provided type of business is invalid"}
	errMissingTypeOfBusiness = mtdError{Code: "MISSING_TYPE_OF_BUSINESS", Message: "The type of business query parameter must be provided when a business ID is supplied"}
	errFormatStatus          = mtdError{Code: "FORMAT_STATUS", Message: "The provided status is invalid"}
	errMissingFromDate       = mtdError{Code: "MISSING_FROM_DATE", Message: "The From date parameter is missing"}
	errMissingToDate         = mtdError{Code: "MISSING_TO_DATE", Message: "The To date parameter is missing"}
	errRangeToBeforeFrom     = mtdError{Code: "RANGE_TO_DATE_BEFORE_FROM_DATE", Message: "The To date must be after the From date"}
	errDateRangeInvalid      = mtdError{Code: "RULE_DATE_RANGE_INVALID", Message: "The specified date range is invalid"}
)

func (e mtdError) withPaths(paths ...string) mtdError {
	e.Paths = paths
	return e
}

// writeMTDErrors writes one error as is, or several wrapped in
// INVALID_REQUEST, merging errors with the same code and message.
func writeMTDErrors(w http.ResponseWriter, status int, errs ...mtdError) {
	var merged []mtdError
	for _, e := range errs {
		i := slices.IndexFunc(merged, func(m mtdError) bool { return m.Code == e.Code && m.Message == e.Message })
		if i < 0 {
			e.Paths = slices.Clone(e.Paths)
			merged = append(merged, e)
			continue
		}
		merged[i].Paths = append(merged[i].Paths, e.Paths...)
	}
	if len(merged) == 1 {
		writeJSON(w, status, merged[0])
		return
	}
	writeJSON(w, status, struct {
		Code    string     `json:"code"`
		Message string     `json:"message"`
		Errors  []mtdError `json:"errors"`
	}{"INVALID_REQUEST", "Invalid request", merged})
}

// ---- common checks ----

var (
	ninoRE       = regexp.MustCompile(`^([ACEHJLMOPRSWXY][A-CEGHJ-NPR-TW-Z]|B[A-CEHJ-NPR-TW-Z]|G[ACEGHJ-NPR-TW-Z]|[KT][A-CEGHJ-MPR-TW-Z]|N[A-CEGHJL-NPR-SW-Z]|Z[A-CEGHJ-NPR-TW-Y])[0-9]{6}[A-D ]?$`)
	taxYearRE    = regexp.MustCompile(`^20([1-9][0-9])-([1-9][0-9])$`)
	businessIDRE = regexp.MustCompile(`^X[A-Z0-9]{1}IS[0-9]{11}$`)
	// The Obligations query parameter pattern also allows lower case.
	oblBusinessIDRE = regexp.MustCompile(`^X[a-zA-Z0-9]{1}IS[0-9]{11}$`)
)

func validNINO(nino string) bool {
	if !ninoRE.MatchString(nino) {
		return false
	}
	switch nino[:2] {
	case "BG", "GB", "NK", "KN", "TN", "NT", "ZZ":
		return false
	}
	return true
}

// sameNINO compares NINOs ignoring the optional suffix letter.
func sameNINO(a, b string) bool {
	return len(a) >= 8 && len(b) >= 8 && strings.EqualFold(a[:8], b[:8])
}

// ninoKey is a NINO without its optional suffix letter, upper case.
func ninoKey(nino string) string {
	nino = strings.ToUpper(strings.TrimSpace(nino))
	return nino[:min(8, len(nino))]
}

// ukPropertyBusinessID derives the user's UK property businessId from the NINO.
func ukPropertyBusinessID(nino string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(ninoKey(nino)))
	return fmt.Sprintf("XPIS%011d", h.Sum64()%100_000_000_000)
}

// Names of the ITSA APIs in the Test Fraud Prevention Headers API's
// validation feedback (/test/fraud-prevention-headers/{api}/validation-feedback).
const (
	fraudAPIBusinessDetails  = "business-details-mtd"
	fraudAPIObligations      = "obligations-mtd"
	fraudAPIPropertyBusiness = "property-business-mtd"
)

// itsaUser runs the checks shared by every ITSA endpoint, in HMRC's order:
// Accept, token and scope (gateway; a token without the endpoint's
// self-assessment scope, a VAT one say, gets 403 INVALID_SCOPE), FORMAT_NINO
// (MTD ID lookup), then the NINO belonging to the signed-in user. First it
// records the request's fraud prevention headers under api, whatever the
// outcome, as HMRC's validation feedback covers every request it received.
func (st *itsaState) itsaUser(w http.ResponseWriter, r *http.Request, api, version, scope string) (*TestUser, bool) {
	st.s.RecordFraudHeaders(api, r)
	if !requireAccept(w, r, version) {
		return nil, false
	}
	u, ok := st.s.apiUser(w, r, scope)
	if !ok {
		return nil, false
	}
	nino := r.PathValue("nino")
	if !validNINO(nino) {
		writeMTDErrors(w, http.StatusBadRequest, errFormatNino)
		return nil, false
	}
	if u.NINO == "" || !sameNINO(u.NINO, nino) {
		writeMTDErrors(w, http.StatusForbidden, errNotAuthorised)
		return nil, false
	}
	return u, true
}

// scenario returns the Gov-Test-Scenario value if the endpoint knows it,
// writing 400 RULE_INCORRECT_GOV_TEST_SCENARIO otherwise.
func scenario(w http.ResponseWriter, r *http.Request, known ...string) (string, bool) {
	v := strings.TrimSpace(r.Header.Get("Gov-Test-Scenario"))
	if v == "" || v == "DEFAULT" || slices.Contains(known, v) {
		return v, true
	}
	writeMTDErrors(w, http.StatusBadRequest, errGovTestScenario)
	return "", false
}

// checkTaxYear validates a path taxYear; minStart is the earliest supported
// start year (0 for none).
func checkTaxYear(ty string, minStart int) (start int, errs []mtdError) {
	m := taxYearRE.FindStringSubmatch(ty)
	if m == nil {
		return 0, []mtdError{errFormatTaxYear}
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	if b != (a+1)%100 {
		return 0, []mtdError{errTaxYearRange}
	}
	start = 2000 + a
	if minStart > 0 && start < minStart {
		return 0, []mtdError{errTaxYearUnsupported}
	}
	return start, nil
}

const isoDate = "2006-01-02"

func parseDate(s string) (time.Time, bool) {
	if len(s) != len(isoDate) {
		return time.Time{}, false
	}
	t, err := time.Parse(isoDate, s)
	return t, err == nil
}

// dateOf is the UK calendar date of t, as a UTC midnight: HMRC's days
// (period ends, received dates, tax years) turn at midnight in London.
func dateOf(t time.Time) time.Time {
	y, m, d := t.In(ukTime).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ukTime is HMRC's time zone; time/tzdata makes it available on any host.
var ukTime = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("hmrcsim: " + err.Error())
	}
	return loc
}()

// taxYearStartOf is the start year of the UK tax year containing t.
func taxYearStartOf(t time.Time) int {
	t = dateOf(t)
	if t.Before(time.Date(t.Year(), time.April, 6, 0, 0, 0, 0, time.UTC)) {
		return t.Year() - 1
	}
	return t.Year()
}

func taxYearString(start int) string { return fmt.Sprintf("%d-%02d", start, (start+1)%100) }

// ---- Business Details v2.0: list ----

type businessEntry struct {
	TypeOfBusiness string `json:"typeOfBusiness"`
	BusinessID     string `json:"businessId"`
	TradingName    string `json:"tradingName,omitempty"`
}

func (st *itsaState) listBusinesses(w http.ResponseWriter, r *http.Request) {
	u, ok := st.itsaUser(w, r, fraudAPIBusinessDetails, "2.0", "read:self-assessment")
	if !ok {
		return
	}
	sc, ok := scenario(w, r, "PROPERTY", "STATEFUL", "FOREIGN_PROPERTY", "BUSINESS_AND_PROPERTY", "UNSPECIFIED", "NOT_FOUND")
	if !ok {
		return
	}
	uk := businessEntry{TypeOfBusiness: "uk-property", BusinessID: ukPropertyBusinessID(u.NINO)}
	var list []businessEntry
	switch sc {
	case "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case "FOREIGN_PROPERTY":
		list = []businessEntry{{TypeOfBusiness: "foreign-property", BusinessID: "XFIS12345678901"}}
	case "UNSPECIFIED":
		list = []businessEntry{{TypeOfBusiness: "property-unspecified", BusinessID: "XAIS12345678901"}}
	case "BUSINESS_AND_PROPERTY":
		list = []businessEntry{{TypeOfBusiness: "self-employment", BusinessID: "XBIS12345678901", TradingName: "RCDTS"}, uk}
	default:
		list = []businessEntry{uk}
	}
	writeJSON(w, http.StatusOK, map[string]any{"listOfBusinesses": list})
}

// ---- Obligations v3.0: income and expenditure ----

type obligationDetail struct {
	PeriodStartDate string `json:"periodStartDate"`
	PeriodEndDate   string `json:"periodEndDate"`
	DueDate         string `json:"dueDate"`
	ReceivedDate    string `json:"receivedDate,omitempty"`
	Status          string `json:"status"`
}

type obligation struct {
	TypeOfBusiness    string             `json:"typeOfBusiness"`
	BusinessID        string             `json:"businessId"`
	ObligationDetails []obligationDetail `json:"obligationDetails"`
}

// cumulativePeriodEnds are a tax year's cumulative period ends (all periods
// start on 6 April) and their due dates: the 5th of the following month for
// 2025-26, the 7th from 2026-27, as in HMRC's examples.
func cumulativePeriodEnds(start int) (ends, dues []time.Time) {
	dueDay := 7
	if start <= 2025 {
		dueDay = 5
	}
	for _, e := range []struct {
		y int
		m time.Month
	}{{start, time.July}, {start, time.October}, {start + 1, time.January}, {start + 1, time.April}} {
		ends = append(ends, time.Date(e.y, e.m, 5, 0, 0, 0, 0, time.UTC))
		dues = append(dues, time.Date(e.y, e.m+1, dueDay, 0, 0, 0, 0, time.UTC))
	}
	return ends, dues
}

func (st *itsaState) obligations(w http.ResponseWriter, r *http.Request) {
	u, ok := st.itsaUser(w, r, fraudAPIObligations, "3.0", "read:self-assessment")
	if !ok {
		return
	}
	q := r.URL.Query()
	var errs []mtdError
	typeOfBusiness, businessID, status := q.Get("typeOfBusiness"), q.Get("businessId"), q.Get("status")
	if q.Has("typeOfBusiness") && !slices.Contains([]string{"self-employment", "uk-property", "foreign-property"}, typeOfBusiness) {
		errs = append(errs, errFormatTypeOfBusiness)
	}
	if q.Has("businessId") && !oblBusinessIDRE.MatchString(businessID) {
		errs = append(errs, errFormatBusinessID)
	}
	if q.Has("businessId") && !q.Has("typeOfBusiness") {
		errs = append(errs, errMissingTypeOfBusiness)
	}
	if q.Has("status") && status != "open" && status != "fulfilled" {
		errs = append(errs, errFormatStatus)
	}
	var from, to time.Time
	hasFrom, hasTo := q.Has("fromDate"), q.Has("toDate")
	fromOK, toOK := true, true
	if hasFrom {
		if from, fromOK = parseDate(q.Get("fromDate")); !fromOK {
			errs = append(errs, errFromDate)
		}
	}
	if hasTo {
		if to, toOK = parseDate(q.Get("toDate")); !toOK {
			errs = append(errs, errToDate)
		}
	}
	switch {
	case hasFrom && !hasTo:
		errs = append(errs, errMissingToDate)
	case hasTo && !hasFrom:
		errs = append(errs, errMissingFromDate)
	case hasFrom && hasTo && fromOK && toOK:
		if to.Before(from) {
			errs = append(errs, errRangeToBeforeFrom)
		} else if to.Sub(from) > 366*24*time.Hour {
			errs = append(errs, errDateRangeInvalid)
		}
	}
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := scenario(w, r, "STATEFUL", "CUMULATIVE", "DYNAMIC", "OPEN", "FULFILLED", "NO_OBLIGATIONS_FOUND", "INSOLVENT_TRADER", "NOT_FOUND")
	if !ok {
		return
	}
	switch sc {
	case "NO_OBLIGATIONS_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNoObligations)
		return
	case "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case "INSOLVENT_TRADER":
		writeMTDErrors(w, http.StatusBadRequest, errInsolventTrader)
		return
	}

	ownID := ukPropertyBusinessID(u.NINO)
	if (typeOfBusiness != "" && typeOfBusiness != "uk-property") || (businessID != "" && !strings.EqualFold(businessID, ownID)) {
		writeMTDErrors(w, http.StatusNotFound, errNoObligations)
		return
	}
	now := st.s.now()
	firstYear, lastYear := taxYearStartOf(now), taxYearStartOf(now)
	if hasFrom {
		firstYear, lastYear = taxYearStartOf(from), taxYearStartOf(to)
	}
	var details []obligationDetail
	st.s.mu.Lock()
	for year := max(firstYear, 2025); year <= lastYear; year++ {
		received := st.received[itsaKey{ninoKey(u.NINO), ownID, taxYearString(year)}]
		ends, dues := cumulativePeriodEnds(year)
		periodStart := time.Date(year, time.April, 6, 0, 0, 0, 0, time.UTC)
		for i, end := range ends {
			// Cumulative periods all start on 6 April, so filter on the
			// period end (an overlap test would return every later period).
			if hasFrom && (end.After(to) || end.Before(from)) {
				continue
			}
			d := obligationDetail{
				PeriodStartDate: periodStart.Format(isoDate), PeriodEndDate: end.Format(isoDate),
				DueDate: dues[i].Format(isoDate), Status: "open",
			}
			if rd, ok := received[d.PeriodEndDate]; ok {
				d.ReceivedDate, d.Status = rd, "fulfilled"
			}
			if status == "" || status == d.Status {
				details = append(details, d)
			}
		}
	}
	st.s.mu.Unlock()
	if len(details) == 0 {
		writeMTDErrors(w, http.StatusNotFound, errNoObligations)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"obligations": []obligation{{
		TypeOfBusiness: "uk-property", BusinessID: ownID, ObligationDetails: details,
	}}})
}

// ---- Property Business v6.0: UK property cumulative summary ----

// cumulativeTarget validates the path parameters of the cumulative summary
// endpoints after the common checks.
func cumulativeTarget(r *http.Request) (businessID, taxYear string, start int, errs []mtdError) {
	businessID, taxYear = r.PathValue("businessId"), r.PathValue("taxYear")
	start, errs = checkTaxYear(taxYear, 2025)
	if !businessIDRE.MatchString(businessID) {
		errs = append(errs, errFormatBusinessID)
	}
	return businessID, taxYear, start, errs
}

var (
	incomeFields = []string{"premiumsOfLeaseGrant", "reversePremiums", "periodAmount", "taxDeducted", "otherIncome"}
	// itemisedExpenses may be negative and exclude consolidatedExpenses.
	itemisedExpenses = []string{"premisesRunningCosts", "repairsAndMaintenance", "financialCosts", "professionalFees", "costOfServices", "other", "travelCosts"}
	// positiveExpenses go with either form of expenses.
	positiveExpenses = []string{"residentialFinancialCost", "residentialFinancialCostsCarriedForward"}
)

var maxAmount = big.NewRat(9999999999999, 100) // 99999999999.99

// checkAmount validates one money field; nonNegative selects the 0.. range.
func checkAmount(obj map[string]any, name, path string, nonNegative bool, errs *[]mtdError) {
	v, present := obj[name]
	if !present {
		return
	}
	n, ok := v.(json.Number)
	if !ok {
		*errs = append(*errs, errEmptyBody.withPaths(path))
		return
	}
	x, ok := new(big.Rat).SetString(n.String())
	lo := new(big.Rat).Neg(maxAmount)
	msg := "The value must be between -99999999999.99 and 99999999999.99"
	if nonNegative {
		lo, msg = new(big.Rat), "The value must be between 0 and 99999999999.99"
	}
	if !ok || !new(big.Rat).Mul(x, big.NewRat(100, 1)).IsInt() || x.Cmp(lo) < 0 || x.Cmp(maxAmount) > 0 {
		*errs = append(*errs, mtdError{Code: "FORMAT_VALUE", Message: msg, Paths: []string{path}})
	}
}

// subObject returns obj[name] as an object; a present non-object is a body
// error.
func subObject(obj map[string]any, name, path string, errs *[]mtdError) (map[string]any, bool) {
	v, present := obj[name]
	if !present {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		*errs = append(*errs, errEmptyBody.withPaths(path))
		return nil, false
	}
	if len(m) == 0 {
		*errs = append(*errs, errEmptyBody.withPaths(path))
		return nil, false
	}
	return m, true
}

// parseCumulativeBody decodes the body; errors here are the "JSON format"
// stage that HMRC reports together with the path parameter errors.
func parseCumulativeBody(raw []byte) (map[string]any, []mtdError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || body == nil || len(body) == 0 {
		return nil, []mtdError{errEmptyBody}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, []mtdError{errEmptyBody} // trailing data
	}
	var errs []mtdError
	for _, name := range []string{"fromDate", "toDate"} {
		if v, ok := body[name]; ok {
			if _, isString := v.(string); !isString {
				errs = append(errs, errEmptyBody.withPaths("/"+name))
			}
		}
	}
	uk, ok := body["ukProperty"].(map[string]any)
	if !ok {
		errs = append(errs, errEmptyBody.withPaths("/ukProperty"))
		return nil, errs
	}
	income, hasIncome := subObject(uk, "income", "/ukProperty/income", &errs)
	expenses, hasExpenses := subObject(uk, "expenses", "/ukProperty/expenses", &errs)
	if len(errs) == 0 && !hasIncome && !hasExpenses {
		errs = append(errs, errEmptyBody.withPaths("/ukProperty"))
	}
	if hasIncome {
		subObject(income, "rentARoom", "/ukProperty/income/rentARoom", &errs)
	}
	if hasExpenses {
		subObject(expenses, "rentARoom", "/ukProperty/expenses/rentARoom", &errs)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return body, nil
}

// validateCumulativeBody applies the value, date and business rules.
func validateCumulativeBody(body map[string]any) []mtdError {
	var errs []mtdError
	uk := body["ukProperty"].(map[string]any)
	if income, ok := uk["income"].(map[string]any); ok {
		for _, f := range incomeFields {
			checkAmount(income, f, "/ukProperty/income/"+f, true, &errs)
		}
		if rar, ok := income["rentARoom"].(map[string]any); ok {
			checkAmount(rar, "rentsReceived", "/ukProperty/income/rentARoom/rentsReceived", true, &errs)
		}
	}
	if expenses, ok := uk["expenses"].(map[string]any); ok {
		for _, f := range itemisedExpenses {
			checkAmount(expenses, f, "/ukProperty/expenses/"+f, false, &errs)
		}
		for _, f := range positiveExpenses {
			checkAmount(expenses, f, "/ukProperty/expenses/"+f, true, &errs)
		}
		checkAmount(expenses, "consolidatedExpenses", "/ukProperty/expenses/consolidatedExpenses", false, &errs)
		if rar, ok := expenses["rentARoom"].(map[string]any); ok {
			checkAmount(rar, "amountClaimed", "/ukProperty/expenses/rentARoom/amountClaimed", true, &errs)
		}
		if _, consolidated := expenses["consolidatedExpenses"]; consolidated &&
			slices.ContainsFunc(itemisedExpenses, func(f string) bool { _, ok := expenses[f]; return ok }) {
			errs = append(errs, errBothExpenses.withPaths("/ukProperty/expenses"))
		}
	}
	fromS, hasFrom := body["fromDate"].(string)
	toS, hasTo := body["toDate"].(string)
	from, fromOK := parseDate(fromS)
	to, toOK := parseDate(toS)
	if hasFrom && !fromOK {
		errs = append(errs, errFromDate)
	}
	if hasTo && !toOK {
		errs = append(errs, errToDate)
	}
	switch {
	case hasFrom != hasTo:
		errs = append(errs, errMissingDates)
	case hasFrom && fromOK && toOK && to.Before(from):
		errs = append(errs, errToBeforeFrom)
	}
	return errs
}

func (st *itsaState) putCumulative(w http.ResponseWriter, r *http.Request) {
	u, ok := st.itsaUser(w, r, fraudAPIPropertyBusiness, "6.0", "write:self-assessment")
	if !ok {
		return
	}
	businessID, taxYear, start, errs := cumulativeTarget(r)
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeMTDErrors(w, http.StatusBadRequest, errEmptyBody)
		return
	}
	body, bodyErrs := parseCumulativeBody(raw)
	errs = append(errs, bodyErrs...)
	if len(errs) == 0 {
		errs = validateCumulativeBody(body)
	}
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := scenario(w, r, "STATEFUL", "NOT_FOUND", "EARLY_DATA_SUBMISSION_NOT_ACCEPTED", "OUTSIDE_AMENDMENT_WINDOW")
	if !ok {
		return
	}
	switch sc {
	case "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case "EARLY_DATA_SUBMISSION_NOT_ACCEPTED":
		writeMTDErrors(w, http.StatusBadRequest, errEarlySubmission)
		return
	case "OUTSIDE_AMENDMENT_WINDOW":
		writeMTDErrors(w, http.StatusBadRequest, errOutsideAmendment)
		return
	}
	if businessID != ukPropertyBusinessID(u.NINO) {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	now := st.s.now()
	latest := dateOf(now).AddDate(0, 0, 10) // the latest acceptable period end
	ends, _ := cumulativePeriodEnds(start)
	var covered time.Time // the period end this submission reaches
	if toS, ok := body["toDate"].(string); ok {
		to, _ := parseDate(toS)
		if to.After(latest) {
			writeMTDErrors(w, http.StatusBadRequest, errEarlySubmission)
			return
		}
		covered = to
	} else {
		// No dates: HMRC takes the period from the obligations, so the
		// submission covers the latest period end it may already report.
		for _, end := range ends {
			if !end.After(latest) {
				covered = end
			}
		}
		if covered.IsZero() {
			writeMTDErrors(w, http.StatusBadRequest, errEarlySubmission)
			return
		}
	}
	key := itsaKey{ninoKey(u.NINO), businessID, taxYear}
	st.s.mu.Lock()
	st.summaries[key] = &cumulativeSummary{body: body, submittedOn: now}
	rec := st.received[key]
	if rec == nil {
		rec = map[string]string{}
		st.received[key] = rec
	}
	for _, end := range ends {
		if !end.After(covered) {
			if _, done := rec[end.Format(isoDate)]; !done {
				rec[end.Format(isoDate)] = dateOf(now).Format(isoDate)
			}
		}
	}
	st.s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (st *itsaState) getCumulative(w http.ResponseWriter, r *http.Request) {
	u, ok := st.itsaUser(w, r, fraudAPIPropertyBusiness, "6.0", "read:self-assessment")
	if !ok {
		return
	}
	businessID, taxYear, _, errs := cumulativeTarget(r)
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := scenario(w, r, "STATEFUL", "NOT_FOUND")
	if !ok {
		return
	}
	st.s.mu.Lock()
	sum := st.summaries[itsaKey{ninoKey(u.NINO), businessID, taxYear}]
	var out map[string]any
	if sum != nil {
		out = map[string]any{"submittedOn": sum.submittedOn.UTC().Format("2006-01-02T15:04:05.000Z")}
		for k, v := range sum.body {
			out[k] = v // values are never mutated after storing
		}
	}
	st.s.mu.Unlock()
	if sc == "NOT_FOUND" || out == nil {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
