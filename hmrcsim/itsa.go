package hmrcsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/big"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // ukTime on hosts without a zone database
)

// MTD Income Tax Self Assessment for a landlord, written from HMRC's OAS and
// service code (see shared/hmrc-conformance.md): Business Details v2.0 (list,
// and the quarterly period type in quarterly.go), Obligations v3.0
// (income-and-expenditure) and Property Business v6.0 (UK property cumulative
// summary, 2025-26 onwards).
//
// In ModeDemo every test user has one UK property business whose businessId
// is derived from the user's NINO; submissions are stateful and a cumulative
// summary fulfils every obligation whose period end it covers. In
// ModeSandbox the answers follow HMRC's test-data tables (sandbox.go).

// itsaState is the ITSA data of one Server; its maps are guarded by s.mu.
type itsaState struct {
	s *Server
	// summaries by (vendor, nino, businessId, taxYear). The demo keeps its
	// data under vendor ""; the sandbox's STATEFUL data is the vendor's
	// (the calling application's client_id), as HMRC keeps it.
	summaries map[itsaKey]*cumulativeSummary
	// received: key -> period end -> when the update arrived (RFC 3339; a
	// bare date in snapshots written before the fulfilment delay existed).
	received map[itsaKey]map[string]string
	// periodTypes: quarterly period type elections ("calendar" or
	// "standard") by (vendor, nino, businessId, taxYear).
	periodTypes map[itsaKey]string
	// businesses: the sandbox's test businesses (testsupport.go).
	businesses map[vendorNINO][]*testBusiness
}

type itsaKey struct{ vendor, nino, businessID, taxYear string }

type cumulativeSummary struct {
	body        map[string]any
	submittedOn time.Time
	// fromDate and toDate are the period the summary covers, as the GET
	// shows them (HMRC fills them in when the PUT had none).
	fromDate, toDate string
}

func registerITSA(s *Server, mux *http.ServeMux) {
	st := &itsaState{s: s, summaries: map[itsaKey]*cumulativeSummary{}, received: map[itsaKey]map[string]string{},
		periodTypes: map[itsaKey]string{}, businesses: map[vendorNINO][]*testBusiness{}}
	s.itsa = st
	s.handleAPI(mux, "GET /individuals/business/details/{nino}/list", st.listBusinesses)
	s.handleAPI(mux, "PUT /individuals/business/details/{nino}/{businessId}/{taxYear}", st.putQuarterlyPeriodType)
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

// The messages are the services' own (CommonMtdErrors.scala of each API),
// which sometimes differ from the OAS examples; where the APIs differ from
// each other, the Business Details and Obligations wording is here and the
// Property Business one below.
var (
	errFormatNino         = mtdError{Code: "FORMAT_NINO", Message: "The provided NINO is invalid"}
	errFormatTaxYear      = mtdError{Code: "FORMAT_TAX_YEAR", Message: "The provided tax year is invalid"}
	errTaxYearRange       = mtdError{Code: "RULE_TAX_YEAR_RANGE_INVALID", Message: "A tax year range of one year is required"}
	errTaxYearUnsupported = mtdError{Code: "RULE_TAX_YEAR_NOT_SUPPORTED", Message: "The tax year specified does not lie within the supported range"}
	errFormatBusinessID   = mtdError{Code: "FORMAT_BUSINESS_ID", Message: "The provided Business ID is invalid"}
	errEmptyBody          = mtdError{Code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", Message: "An empty or non-matching body was submitted"}
	errInvalidRequest     = mtdError{Code: "INVALID_REQUEST", Message: "Invalid request"} // a body that is not JSON (Play's parse.json)
	errInvalidBodyType    = mtdError{Code: "INVALID_BODY_TYPE", Message: "Expecting text/json or application/json body"}
	errNotAuthorised      = mtdError{Code: "CLIENT_OR_AGENT_NOT_AUTHORISED", Message: "The client or agent is not authorised"}
	errNotFound           = mtdError{Code: "MATCHING_RESOURCE_NOT_FOUND", Message: "Matching resource not found"}
	errNoObligations      = mtdError{Code: "NO_OBLIGATIONS_FOUND", Message: "No obligations found using this filter"}
	errGovTestScenario    = mtdError{Code: "RULE_INCORRECT_GOV_TEST_SCENARIO", Message: "The supplied Gov-Test-Scenario is not valid"}
	errInsolventTrader    = mtdError{Code: "RULE_INSOLVENT_TRADER", Message: "The remote endpoint has indicated that the Trader is insolvent"}
	errCannotBeFulfilled  = mtdError{Code: "RULE_REQUEST_CANNOT_BE_FULFILLED", Message: "Custom (will vary in production depending on the actual error)"}

	// Obligations (obligations-api CommonMtdErrors.scala).
	errOblFormatBusinessID   = mtdError{Code: "FORMAT_BUSINESS_ID", Message: "The provided businessId is invalid"}
	errOblFromDate           = mtdError{Code: "FORMAT_FROM_DATE", Message: "The provided fromDate is invalid"}
	errOblToDate             = mtdError{Code: "FORMAT_TO_DATE", Message: "The provided toDate is invalid"}
	errFormatTypeOfBusiness  = mtdError{Code: "FORMAT_TYPE_OF_BUSINESS", Message: "The provided type of business is invalid"}
	errMissingTypeOfBusiness = mtdError{Code: "MISSING_TYPE_OF_BUSINESS", Message: "The type of business query parameter must be provided when a businessId is supplied"}
	errFormatStatus          = mtdError{Code: "FORMAT_STATUS", Message: "The provided status is invalid"}
	errMissingFromDate       = mtdError{Code: "MISSING_FROM_DATE", Message: "The From date parameter is missing"}
	errMissingToDate         = mtdError{Code: "MISSING_TO_DATE", Message: "The To date parameter is missing"}
	errRangeToBeforeFrom     = mtdError{Code: "RANGE_TO_DATE_BEFORE_FROM_DATE", Message: "The To date must be after the From date"}
	errDateRangeInvalid      = mtdError{Code: "RULE_DATE_RANGE_INVALID", Message: "The specified date range is invalid"}
	errFromDateNotSupported  = mtdError{Code: "RULE_FROM_DATE_NOT_SUPPORTED", Message: "The specified from date is not supported as too early"}

	// Property Business (property-business-api CommonMtdErrors.scala,
	// PropertyBusinessErrors.scala).
	errPBFormatNino          = mtdError{Code: "FORMAT_NINO", Message: "The NINO format is invalid"}
	errPBFormatTaxYear       = mtdError{Code: "FORMAT_TAX_YEAR", Message: "The taxYear format is invalid"}
	errPBFormatBusinessID    = mtdError{Code: "FORMAT_BUSINESS_ID", Message: "The Business ID format is invalid"}
	errFromDate              = mtdError{Code: "FORMAT_FROM_DATE", Message: "The fromDate format is invalid"}
	errToDate                = mtdError{Code: "FORMAT_TO_DATE", Message: "The toDate format is invalid"}
	errBothExpenses          = mtdError{Code: "RULE_BOTH_EXPENSES_SUPPLIED", Message: "Both Expenses and Consolidated Expenses must not be present at the same time"}
	errToBeforeFrom          = mtdError{Code: "RULE_TO_DATE_BEFORE_FROM_DATE", Message: "The To date cannot be earlier than the From date"}
	errMissingDates          = mtdError{Code: "RULE_MISSING_SUBMISSION_DATES", Message: "Submission start/end date not provided"}
	errEarlySubmission       = mtdError{Code: "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED", Message: "Cannot submit data more than 10 days before end of period"}
	errOutsideAmendment      = mtdError{Code: "RULE_OUTSIDE_AMENDMENT_WINDOW", Message: "You are outside the amendment window"}
	errAdvanceNeedsPeriodEnd = mtdError{Code: "RULE_ADVANCE_SUBMISSION_REQUIRES_PERIOD_END_DATE", Message: "For advance submission, end date must be the end of the period"}
	errEndDateBackwards      = mtdError{Code: "RULE_SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS", Message: "Submission end date cannot be earlier than existing submission"}
	errStartNotAligned       = mtdError{Code: "RULE_START_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE", Message: "Start date does not align with the reporting type"}
	errStartNotCommencement  = mtdError{Code: "RULE_START_DATE_NOT_ALIGNED_TO_COMMENCEMENT_DATE", Message: "Start date does not align with the commencement date"}
	errEndNotAligned         = mtdError{Code: "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE", Message: "End date does not align with the reporting type"}
	errDatesNotAllowed       = mtdError{Code: "RULE_START_AND_END_DATE_NOT_ALLOWED", Message: "Start/end date not accepted for annual/latent submission"}
	errTypeOfBusiness        = mtdError{Code: "RULE_TYPE_OF_BUSINESS_INCORRECT", Message: "The businessId is for a different type of business"}
)

func (e mtdError) withPaths(paths ...string) mtdError {
	e.Paths = paths
	return e
}

// writeMTDErrors writes errors as HMRC's shared Validator does
// (combineErrors): errors with the same message merged with their paths,
// sorted by code; one left is written as is, several in INVALID_REQUEST.
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
	// HMRC sorts by code; a tie (one code, two messages) comes out in hash
	// order there, in message order here.
	slices.SortStableFunc(merged, func(a, b mtdError) int {
		return cmp.Or(cmp.Compare(a.Code, b.Code), cmp.Compare(a.Message, b.Message))
	})
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
	// The Obligations OAS allows lower case in businessId, but the service
	// validates with the same upper-case pattern as the other APIs
	// (obligations-api ResolveBusinessId.scala).
	oblBusinessIDRE = businessIDRE
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

// itsaCall is an ITSA request that passed the gateway: who calls, through
// which application (HMRC keeps sandbox test data per vendor), for which API.
type itsaCall struct {
	user     *TestUser
	clientID string
	api      string
}

// vendor is the key of the caller's stateful data: the application in the
// sandbox, "" in the demo (one landlord's data whatever the application).
func (c itsaCall) vendor(s *Server) string {
	if s.sandbox() {
		return c.clientID
	}
	return ""
}

// itsaUser runs the checks shared by every ITSA endpoint, in HMRC's order:
// Accept, token and scope (gateway; a token without the endpoint's
// self-assessment scope, a VAT one say, gets 403 INVALID_SCOPE), FORMAT_NINO
// (MTD ID lookup), then the NINO belonging to the signed-in user. First it
// records the request's fraud prevention headers under api, whatever the
// outcome, as HMRC's validation feedback covers every request it received.
func (st *itsaState) itsaUser(w http.ResponseWriter, r *http.Request, api, version, scope string) (*TestUser, bool) {
	c, ok := st.itsaCaller(w, r, api, version, scope)
	return c.user, ok
}

// itsaCaller is itsaUser that also names the calling application.
func (st *itsaState) itsaCaller(w http.ResponseWriter, r *http.Request, api, version, scope string) (itsaCall, bool) {
	c, ok := st.gateway(w, r, api, version, scope)
	if !ok || !st.ownNINO(w, r, c) {
		return itsaCall{}, false
	}
	return c, true
}

// gateway is the API platform's part: fraud headers recorded, Accept, token
// and scope.
func (st *itsaState) gateway(w http.ResponseWriter, r *http.Request, api, version, scope string) (itsaCall, bool) {
	st.s.RecordFraudHeaders(api, r)
	if !requireAccept(w, r, version) {
		return itsaCall{}, false
	}
	u, clientID, ok := st.s.apiCaller(w, r, scope)
	if !ok {
		return itsaCall{}, false
	}
	return itsaCall{user: u, clientID: clientID, api: api}, true
}

// ownNINO is the MTD ID lookup and authorisation: FORMAT_NINO, then 403 for
// someone else's NINO. From here on the API's own service answers, so a
// deprecated API's headers go on.
func (st *itsaState) ownNINO(w http.ResponseWriter, r *http.Request, c itsaCall) bool {
	nino := r.PathValue("nino")
	if !validNINO(nino) {
		e := errFormatNino
		if c.api == fraudAPIPropertyBusiness {
			e = errPBFormatNino
		}
		writeMTDErrors(w, http.StatusBadRequest, e)
		return false
	}
	if c.user.NINO == "" || !sameNINO(c.user.NINO, nino) {
		writeMTDErrors(w, http.StatusForbidden, errNotAuthorised)
		return false
	}
	st.s.deprecationHeaders(w, c.api)
	return true
}

// scenario returns the Gov-Test-Scenario value if the endpoint knows it,
// writing 400 RULE_INCORRECT_GOV_TEST_SCENARIO otherwise (the sandbox
// stubs' answer to a scenario they have no data for).
func scenario(w http.ResponseWriter, r *http.Request, known ...string) (string, bool) {
	v := strings.TrimSpace(r.Header.Get("Gov-Test-Scenario"))
	if v == "" || v == "DEFAULT" || slices.Contains(known, v) {
		return v, true
	}
	writeMTDErrors(w, http.StatusBadRequest, errGovTestScenario)
	return "", false
}

// cannotBeFulfilled answers the REQUEST_CANNOT_BE_FULFILLED scenario, which
// Business Details 2.0 allows on every endpoint before validating anything
// (RequestHandler.simulateRequestCannotBeFulfilled, application.conf
// allow-request-cannot-be-fulfilled-header = true).
func cannotBeFulfilled(w http.ResponseWriter, r *http.Request) bool {
	if strings.TrimSpace(r.Header.Get("Gov-Test-Scenario")) != "REQUEST_CANNOT_BE_FULFILLED" {
		return false
	}
	writeMTDErrors(w, http.StatusUnprocessableEntity, errCannotBeFulfilled)
	return true
}

// checkTaxYear validates a path taxYear; minStart is the earliest supported
// start year (0 for none).
func checkTaxYear(ty string, minStart int) (start int, errs []mtdError) {
	return checkTaxYearWith(ty, minStart, errFormatTaxYear)
}

func checkTaxYearWith(ty string, minStart int, formatErr mtdError) (start int, errs []mtdError) {
	m := taxYearRE.FindStringSubmatch(ty)
	if m == nil {
		return 0, []mtdError{formatErr}
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	if b-a != 1 { // ResolveTaxYear: end - start == 1, so 2099-00 is not a range
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

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// readJSONBody reads a body as Play's parse.json does before the
// controller runs: a Content-Type other than JSON is 415, a body that is
// not JSON 400 INVALID_REQUEST. It writes the error and returns nil.
func readJSONBody(w http.ResponseWriter, r *http.Request) []byte {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "text/json" {
		writeMTDErrors(w, http.StatusUnsupportedMediaType, errInvalidBodyType)
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !json.Valid(raw) {
		writeMTDErrors(w, http.StatusBadRequest, errInvalidRequest)
		return nil
	}
	return raw
}

// ---- Business Details v2.0: list ----

type businessEntry struct {
	TypeOfBusiness string `json:"typeOfBusiness"`
	BusinessID     string `json:"businessId"`
	TradingType    string `json:"tradingType,omitempty"`
	TradingName    string `json:"tradingName,omitempty"`
}

// The canned businesses. Self-employment carries tradingType and
// tradingName as in HMRC's example (list.yaml's example response); property
// businesses have neither (Business.fromDownstreamProperty). The property
// IDs are the ones the Obligations test data pairs with each business type.
var (
	seSandboxDefault = businessEntry{TypeOfBusiness: "self-employment", BusinessID: "XAIS12345678910", TradingType: "Plastering", TradingName: "RCDTS"}
	seCanned         = businessEntry{TypeOfBusiness: "self-employment", BusinessID: "XBIS12345678901", TradingType: "Plastering", TradingName: "RCDTS"}
	ukCanned         = businessEntry{TypeOfBusiness: "uk-property", BusinessID: "XPIS12345678901"}
	foreignCanned    = businessEntry{TypeOfBusiness: "foreign-property", BusinessID: "XFIS12345678901"}
	unspecified      = businessEntry{TypeOfBusiness: "property-unspecified", BusinessID: "XAIS12345678901"}
)

func (st *itsaState) listBusinesses(w http.ResponseWriter, r *http.Request) {
	c, ok := st.itsaCaller(w, r, fraudAPIBusinessDetails, "2.0", "read:self-assessment")
	if !ok || cannotBeFulfilled(w, r) {
		return
	}
	sc, ok := scenario(w, r, "PROPERTY", "STATEFUL", "FOREIGN_PROPERTY", "BUSINESS_AND_PROPERTY", "UNSPECIFIED", "NOT_FOUND")
	if !ok {
		return
	}
	// The demo's landlord has a UK property business in every answer that
	// includes one; the sandbox's is canned.
	uk := businessEntry{TypeOfBusiness: "uk-property", BusinessID: ukPropertyBusinessID(c.user.NINO)}
	if st.s.sandbox() {
		uk = ukCanned
	}
	var list []businessEntry
	switch sc {
	case "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case "FOREIGN_PROPERTY":
		list = []businessEntry{foreignCanned}
	case "UNSPECIFIED":
		list = []businessEntry{unspecified}
	case "BUSINESS_AND_PROPERTY":
		list = []businessEntry{seCanned, uk, foreignCanned}
	case "PROPERTY":
		list = []businessEntry{uk}
	case "STATEFUL":
		if !st.s.sandbox() {
			list = []businessEntry{uk}
			break
		}
		list = st.testBusinessEntries(c)
		if len(list) == 0 { // downstream "006": no income sources
			writeMTDErrors(w, http.StatusNotFound, errNotFound)
			return
		}
	default:
		if st.s.sandbox() {
			// "Simulate a successful response with a self-employment
			// business" (list.yaml test data).
			list = []businessEntry{seSandboxDefault}
		} else {
			list = []businessEntry{uk}
		}
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

// oblQuery is a checked obligations query.
type oblQuery struct {
	typeOfBusiness, businessID, status string
	from, to                           time.Time
	dated                              bool
}

// checkITSAObligationsQuery is RetrievePeriodicObligationsValidatorFactory:
// the parameters' formats (all errors together), then a businessId without
// typeOfBusiness, then the date range rules (ObligationsDateRangeSupport,
// all errors together).
func checkITSAObligationsQuery(q map[string][]string) (oblQuery, []mtdError) {
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	var o oblQuery
	var errs []mtdError
	tob, hasTOB := get("typeOfBusiness")
	bid, hasBID := get("businessId")
	status, hasStatus := get("status")
	fromS, hasFrom := get("fromDate")
	toS, hasTo := get("toDate")
	o.typeOfBusiness, o.businessID, o.status = tob, bid, status
	if hasTOB && !slices.Contains([]string{"self-employment", "uk-property", "foreign-property"}, tob) {
		errs = append(errs, errFormatTypeOfBusiness)
	}
	if hasBID && !oblBusinessIDRE.MatchString(bid) {
		errs = append(errs, errOblFormatBusinessID)
	}
	switch {
	case hasFrom && hasTo:
		var fromOK, toOK bool
		if o.from, fromOK = parseDate(fromS); !fromOK {
			errs = append(errs, errOblFromDate)
		}
		if o.to, toOK = parseDate(toS); !toOK {
			errs = append(errs, errOblToDate)
		}
		o.dated = true
	case hasTo:
		errs = append(errs, errMissingFromDate)
	case hasFrom:
		errs = append(errs, errMissingToDate)
	}
	if hasStatus && status != "open" && status != "fulfilled" {
		errs = append(errs, errFormatStatus)
	}
	if len(errs) > 0 {
		return o, errs
	}
	if hasBID && !hasTOB {
		return o, []mtdError{errMissingTypeOfBusiness}
	}
	if o.dated {
		if o.to.Before(o.from) {
			errs = append(errs, errRangeToBeforeFrom)
		}
		if o.from.Before(day(2018, time.April, 6)) {
			errs = append(errs, errFromDateNotSupported)
		}
		if o.to.After(day(2099, time.December, 31)) {
			errs = append(errs, errOblToDate)
		}
		if !o.to.Before(o.from.AddDate(0, 0, 366)) || o.to.Equal(o.from) {
			errs = append(errs, errDateRangeInvalid)
		}
	}
	return o, errs
}

func (st *itsaState) obligations(w http.ResponseWriter, r *http.Request) {
	c, ok := st.itsaCaller(w, r, fraudAPIObligations, "3.0", "read:self-assessment")
	if !ok {
		return
	}
	q, errs := checkITSAObligationsQuery(r.URL.Query())
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	// No STATEFUL: HMRC's Obligations test data has none, and the sandbox's
	// obligations are "not connected to any sandbox test user data or
	// submissions" (income-tax-mtd-changelog issue 331).
	sc, ok := scenario(w, r, "OPEN", "FULFILLED", "INSOLVENT_TRADER", "NOT_FOUND", "NO_OBLIGATIONS_FOUND", "DYNAMIC", "CUMULATIVE")
	if !ok {
		return
	}
	now := st.s.now()
	var downstream []obligation
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
	case "OPEN", "FULFILLED", "DYNAMIC", "CUMULATIVE":
		downstream = cannedObligationsITSA(sc, q, now)
	default:
		if st.s.sandbox() {
			downstream = cannedObligationsITSA("", q, now)
		} else {
			downstream = st.demoObligations(c, q, now)
		}
	}
	// The service keeps the businesses asked for (toMtdBusinessObligations)
	// and answers NO_OBLIGATIONS_FOUND when none is left.
	var out []obligation
	for _, o := range downstream {
		if (q.typeOfBusiness == "" || o.TypeOfBusiness == q.typeOfBusiness) &&
			(q.businessID == "" || o.BusinessID == q.businessID) && len(o.ObligationDetails) > 0 {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		writeMTDErrors(w, http.StatusNotFound, errNoObligations)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"obligations": out})
}

// demoObligations are the demo landlord's UK property obligations from the
// tax year 2025-26 (the first of cumulative updates), with the period type
// the landlord chose and the updates received. An update counts once
// Options.FulfilmentDelay has passed since it arrived.
func (st *itsaState) demoObligations(c itsaCall, q oblQuery, now time.Time) []obligation {
	ownID := ukPropertyBusinessID(c.user.NINO)
	firstYear, lastYear := taxYearStartOf(now), taxYearStartOf(now)
	if q.dated {
		firstYear, lastYear = taxYearStartOf(q.from), taxYearStartOf(q.to)
	}
	var details []obligationDetail
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	for year := max(firstYear, 2025); year <= lastYear; year++ {
		key := itsaKey{"", ninoKey(c.user.NINO), ownID, taxYearString(year)}
		p := st.periodsLocked(key)
		received := st.received[key]
		for i, end := range p.ends {
			// Cumulative periods all start on one day, so filter on the
			// period end (an overlap test would return every later period).
			if q.dated && (end.After(q.to) || end.Before(q.from)) {
				continue
			}
			d := obligationDetail{
				PeriodStartDate: p.start.Format(isoDate), PeriodEndDate: end.Format(isoDate),
				DueDate: p.dues[i].Format(isoDate), Status: "open",
			}
			if at, ok := receivedAt(received[d.PeriodEndDate]); ok && !now.Before(at.Add(st.s.opts.FulfilmentDelay)) {
				d.ReceivedDate, d.Status = dateOf(at).Format(isoDate), "fulfilled"
			}
			if q.status == "" || q.status == d.Status {
				details = append(details, d)
			}
		}
	}
	return []obligation{{TypeOfBusiness: "uk-property", BusinessID: ownID, ObligationDetails: details}}
}

// receivedAt reads a received entry: an RFC 3339 time, or a bare date
// (snapshots from before the fulfilment delay).
func receivedAt(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	return parseDate(v)
}

// ---- Property Business v6.0: UK property cumulative summary ----

// cumulativeTarget validates the path parameters of the cumulative summary
// endpoints after the common checks, as the validator factory does: a tax
// year that is malformed or before 2025-26 is the only error reported
// (CreateAmendUkPropertyCumulativeSummarySchema.schemaFor returns
// Validator.returningErrors), then the business ID with the rest.
func cumulativeTarget(r *http.Request) (businessID, taxYear string, start int, yearErrs, errs []mtdError) {
	businessID, taxYear = r.PathValue("businessId"), r.PathValue("taxYear")
	start, yearErrs = checkTaxYearWith(taxYear, 2025, errPBFormatTaxYear)
	if !businessIDRE.MatchString(businessID) {
		errs = append(errs, errPBFormatBusinessID)
	}
	return businessID, taxYear, start, yearErrs, errs
}

var (
	incomeFields = []string{"premiumsOfLeaseGrant", "reversePremiums", "periodAmount", "taxDeducted", "otherIncome"}
	// itemisedExpenses may be negative and exclude consolidatedExpenses.
	itemisedExpenses = []string{"premisesRunningCosts", "repairsAndMaintenance", "financialCosts", "professionalFees", "costOfServices", "other", "travelCosts"}
	// positiveExpenses go with either form of expenses.
	positiveExpenses = []string{"residentialFinancialCost", "residentialFinancialCostsCarriedForward"}
)

var maxAmount = big.NewRat(9999999999999, 100) // 99999999999.99

// checkAmount validates one money field as ResolveParsedNumber does: within
// the range and with a scale of at most 2, so 1.005 and 1.500 are both
// refused (BigDecimal keeps the trailing zero); nonNegative selects 0..
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
	x := parseDecimal(n)
	lo := new(big.Rat).Neg(maxAmount)
	msg := "The value must be between -99999999999.99 and 99999999999.99"
	if nonNegative {
		lo, msg = new(big.Rat), "The value must be between 0 and 99999999999.99"
	}
	if x.scale > 2 || x.rat.Cmp(lo) < 0 || x.rat.Cmp(maxAmount) > 0 {
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

// parseCumulativeBody decodes the (valid JSON) body; errors here are the
// JSON format stage that HMRC reports together with the path parameter
// errors.
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

// validateCumulativeBody applies the value, date and business rules
// (Def1_CreateUkPropertyCumulativeSummaryRulesValidator), in its order: the
// dates, the amounts that may be negative, the others, both expenses.
func validateCumulativeBody(body map[string]any) []mtdError {
	var errs []mtdError
	fromS, hasFrom := body["fromDate"].(string)
	toS, hasTo := body["toDate"].(string)
	from, fromOK := parseSubmissionDate(fromS)
	to, toOK := parseSubmissionDate(toS)
	// DateValidator.validateFromAndToDates: each date's format, then the
	// pair's order; one date alone is RULE_MISSING_SUBMISSION_DATES.
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
	uk := body["ukProperty"].(map[string]any)
	income, _ := uk["income"].(map[string]any)
	expenses, _ := uk["expenses"].(map[string]any)
	if expenses != nil {
		for _, f := range append(slices.Clone(itemisedExpenses), "consolidatedExpenses") {
			checkAmount(expenses, f, "/ukProperty/expenses/"+f, false, &errs)
		}
	}
	if income != nil {
		for _, f := range incomeFields {
			checkAmount(income, f, "/ukProperty/income/"+f, true, &errs)
		}
		if rar, ok := income["rentARoom"].(map[string]any); ok {
			checkAmount(rar, "rentsReceived", "/ukProperty/income/rentARoom/rentsReceived", true, &errs)
		}
	}
	if expenses != nil {
		for _, f := range positiveExpenses {
			checkAmount(expenses, f, "/ukProperty/expenses/"+f, true, &errs)
		}
		if rar, ok := expenses["rentARoom"].(map[string]any); ok {
			checkAmount(rar, "amountClaimed", "/ukProperty/expenses/rentARoom/amountClaimed", true, &errs)
		}
		if _, consolidated := expenses["consolidatedExpenses"]; consolidated &&
			slices.ContainsFunc(itemisedExpenses, func(f string) bool { _, ok := expenses[f]; return ok }) {
			errs = append(errs, errBothExpenses.withPaths("/ukProperty/expenses"))
		}
	}
	return errs
}

// parseSubmissionDate is ResolveFromAndToDates: an ISO date in the years
// 1900 to 2099.
func parseSubmissionDate(s string) (time.Time, bool) {
	t, ok := parseDate(s)
	return t, ok && t.Year() >= 1900 && t.Year() <= 2099
}

// putCumulativeScenarios maps the PUT's Gov-Test-Scenario values to their
// answers (uk_property_cumulative_summary_create_or_amend.yaml).
var putCumulativeScenarios = map[string]mtdError{
	"TAX_YEAR_NOT_SUPPORTED":                      errTaxYearUnsupported,
	"START_DATE_NOT_ALIGNED_TO_COMMENCEMENT_DATE": errStartNotCommencement,
	"END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE":    errEndNotAligned,
	"MISSING_SUBMISSION_DATES":                    errMissingDates,
	"START_AND_END_DATE_NOT_ALLOWED":              errDatesNotAllowed,
	"EARLY_DATA_SUBMISSION_NOT_ACCEPTED":          errEarlySubmission,
	"OUTSIDE_AMENDMENT_WINDOW":                    errOutsideAmendment,
	"ADVANCE_SUBMISSION_REQUIRES_PERIOD_END_DATE": errAdvanceNeedsPeriodEnd,
	"SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS":   errEndDateBackwards,
	"START_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE":  errStartNotAligned,
}

func (st *itsaState) putCumulative(w http.ResponseWriter, r *http.Request) {
	c, ok := st.gateway(w, r, fraudAPIPropertyBusiness, "6.0", "write:self-assessment")
	if !ok {
		return
	}
	raw := readJSONBody(w, r) // parse.json runs before the controller
	if raw == nil || !st.ownNINO(w, r, c) {
		return
	}
	businessID, taxYear, start, yearErrs, errs := cumulativeTarget(r)
	if len(yearErrs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, yearErrs...)
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
	known := append(slices.Collect(maps.Keys(putCumulativeScenarios)), "STATEFUL", "NOT_FOUND")
	sc, ok := scenario(w, r, known...)
	if !ok {
		return
	}
	if e, canned := putCumulativeScenarios[sc]; canned {
		writeMTDErrors(w, http.StatusBadRequest, e)
		return
	}
	switch {
	case sc == "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case st.s.sandbox() && sc != "STATEFUL":
		// "Simulates success response": validated, and nothing stored.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	key := itsaKey{c.vendor(st.s), ninoKey(c.user.NINO), businessID, taxYear}
	now := st.s.now()
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	biz, found := st.businessLocked(c, businessID)
	if !found || biz.TypeOfBusiness != "uk-property" { // INCOME_SOURCE_NOT_FOUND
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	p := st.periodsLocked(key)
	sub, e := st.submissionPeriod(key, p, start, body, now)
	if e != nil {
		writeMTDErrors(w, http.StatusBadRequest, *e)
		return
	}
	st.summaries[key] = &cumulativeSummary{body: body, submittedOn: now, fromDate: sub.from, toDate: sub.to}
	if !sub.covered.IsZero() {
		rec := st.received[key]
		if rec == nil {
			rec = map[string]string{}
			st.received[key] = rec
		}
		for _, end := range p.ends {
			if !end.After(sub.covered) {
				if _, done := rec[end.Format(isoDate)]; !done {
					rec[end.Format(isoDate)] = now.UTC().Format(time.RFC3339Nano)
				}
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// submission is what a cumulative PUT covers.
type submission struct {
	from, to string    // as the GET shows them
	covered  time.Time // the last period end it reaches; zero for none
}

// submissionPeriod applies the business rules HMRC's downstream checks
// (CreateAmendUkPropertyCumulativeSummaryService's error map). The caller
// holds s.mu.
func (st *itsaState) submissionPeriod(key itsaKey, p periods, start int, body map[string]any, now time.Time) (submission, *mtdError) {
	fromS, hasDates := body["fromDate"].(string)
	toS, _ := body["toDate"].(string)
	from, _ := parseDate(fromS)
	to, _ := parseDate(toS)
	switch annual := st.annualLocked(key, start); {
	case annual && hasDates:
		return submission{}, &errDatesNotAllowed
	case annual:
		// An annual or latent income source has no quarterly obligations.
		return submission{from: p.start.Format(isoDate), to: p.ends[len(p.ends)-1].Format(isoDate)}, nil
	case !hasDates:
		// Dates are "not required" only for an annual or latent source.
		return submission{}, &errMissingDates
	}
	today := dateOf(now)
	if e := checkSubmissionDates(p, st.commencementLocked(key, start), from, to, today.AddDate(0, 0, 10), today); e != nil {
		return submission{}, e
	}
	if prev := st.summaries[key]; prev != nil && prev.toDate > toS {
		return submission{}, &errEndDateBackwards
	}
	return submission{from: fromS, to: toS, covered: to}, nil
}

// checkSubmissionDates: the start is the first period's start (or the
// business's commencement within the year), the end a day the period type
// reports to (the 5th for standard quarters, a month's last day for
// calendar ones) within the year, at most 10 days ahead, and an end still
// ahead must be a quarterly period end.
func checkSubmissionDates(p periods, commenced time.Time, from, to, latest, today time.Time) *mtdError {
	switch {
	case !commenced.IsZero() && !from.Equal(commenced):
		return &errStartNotCommencement
	case commenced.IsZero() && !from.Equal(p.start):
		return &errStartNotAligned
	}
	last := p.ends[len(p.ends)-1]
	aligned := to.Day() == 5
	if p.calendar {
		aligned = to.AddDate(0, 0, 1).Day() == 1
	}
	if !aligned || to.After(last) {
		return &errEndNotAligned
	}
	if to.After(latest) {
		return &errEarlySubmission
	}
	if to.After(today) && !slices.ContainsFunc(p.ends, to.Equal) {
		return &errAdvanceNeedsPeriodEnd
	}
	return nil
}

func (st *itsaState) getCumulative(w http.ResponseWriter, r *http.Request) {
	c, ok := st.itsaCaller(w, r, fraudAPIPropertyBusiness, "6.0", "read:self-assessment")
	if !ok {
		return
	}
	businessID, taxYear, _, yearErrs, errs := cumulativeTarget(r)
	if len(yearErrs) > 0 {
		errs = yearErrs
	}
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := scenario(w, r, "STATEFUL", "NOT_FOUND", "TAX_YEAR_NOT_SUPPORTED", "UK_PROPERTY_CONSOLIDATED", "UK_PROPERTY_FULL_EXPENSES", "FOREIGN_PROPERTY")
	if !ok {
		return
	}
	switch {
	case sc == "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case sc == "TAX_YEAR_NOT_SUPPORTED":
		writeMTDErrors(w, http.StatusBadRequest, errTaxYearUnsupported)
		return
	case sc == "FOREIGN_PROPERTY":
		// The downstream answer has no UK property: the service's
		// RULE_TYPE_OF_BUSINESS_INCORRECT (validateBusinessType).
		writeMTDErrors(w, http.StatusBadRequest, errTypeOfBusiness)
		return
	case sc == "UK_PROPERTY_CONSOLIDATED":
		writeJSON(w, http.StatusOK, cannedCumulative(true))
		return
	case sc == "UK_PROPERTY_FULL_EXPENSES", st.s.sandbox() && sc != "STATEFUL":
		writeJSON(w, http.StatusOK, cannedCumulative(false))
		return
	}
	st.s.mu.Lock()
	biz, found := st.businessLocked(c, businessID)
	sum := st.summaries[itsaKey{c.vendor(st.s), ninoKey(c.user.NINO), businessID, taxYear}]
	var out map[string]any
	if sum != nil && found && biz.TypeOfBusiness == "uk-property" {
		out = map[string]any{
			"submittedOn": sum.submittedOn.UTC().Format("2006-01-02T15:04:05.000Z"),
			"fromDate":    sum.fromDate, "toDate": sum.toDate,
			"ukProperty": sum.body["ukProperty"], // never mutated after storing
		}
	}
	st.s.mu.Unlock()
	switch {
	case found && biz.TypeOfBusiness != "uk-property":
		writeMTDErrors(w, http.StatusBadRequest, errTypeOfBusiness)
	case out == nil:
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// business is businessLocked for a caller that holds no lock.
func (st *itsaState) business(c itsaCall, businessID string) (businessEntry, bool) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return st.businessLocked(c, businessID)
}

// businessLocked finds the business a Property Business call names: in
// the demo the landlord's own UK property business or one of the canned
// self-employment and foreign property businesses the list scenarios show;
// in the sandbox a test business of the calling vendor. The caller holds
// s.mu.
func (st *itsaState) businessLocked(c itsaCall, businessID string) (businessEntry, bool) {
	if st.s.sandbox() {
		if b := st.testBusinessLocked(c, businessID); b != nil {
			return b.entry(), true
		}
		return businessEntry{}, false
	}
	for _, b := range []businessEntry{{TypeOfBusiness: "uk-property", BusinessID: ukPropertyBusinessID(c.user.NINO)}, seCanned, foreignCanned} {
		if b.BusinessID == businessID {
			return b, true
		}
	}
	return businessEntry{}, false
}
