package hmrcsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The Self Assessment Test Support API v1.0 (hmrc/mtd-sa-test-support-api,
// resources/public/api/conf/1.0): sandbox only, so the simulator serves it
// in ModeSandbox only (404 MATCHING_RESOURCE_NOT_FOUND in ModeDemo, as an
// unknown resource). A test business is what makes the STATEFUL scenarios
// of Business Details, Property Business and the quarterly period type
// work. HMRC keeps this stateful test data per vendor (the calling
// application, X-Client-Id) and purges it 7 days after creation.
//
//   - POST   /individuals/self-assessment-test-support/business/{nino}
//     "Create a Test Business": 201 {"businessId": "..."};
//   - DELETE /individuals/self-assessment-test-support/business/{nino}/{businessId}
//     "Delete a Test Business": 204, or 404 MATCHING_RESOURCE_NOT_FOUND;
//   - DELETE /individuals/self-assessment-test-support/vendor-state[?nino=]
//     "Delete Stateful Test Data": everything the vendor stored (for one
//     NINO), 204, or 404 when there was nothing.
//
// All three are user-restricted with write:self-assessment. HMRC checks no
// NINO ownership (AuthService.authorised with no predicate), so neither
// does the simulator. There is no endpoint that lists test businesses:
// Business Details' List All Businesses with Gov-Test-Scenario STATEFUL
// does that.

// testSupportAPI names the API for deprecation and fraud-header feedback.
const testSupportAPI = "self-assessment-test-support"

// testDataLifetime: "Test businesses are automatically purged from the
// database 7 days after creation" (business_create.yaml), and other
// stateful test data likewise (vendor_state_delete.yaml).
const testDataLifetime = 7 * 24 * time.Hour

type vendorNINO struct{ vendor, nino string }

// testBusiness is a created test business, with the fields the simulator's
// rules use.
type testBusiness struct {
	BusinessID                     string               `json:"businessId"`
	TypeOfBusiness                 string               `json:"typeOfBusiness"`
	TradingName                    string               `json:"tradingName,omitempty"`
	FirstAccountingPeriodStartDate string               `json:"firstAccountingPeriodStartDate,omitempty"`
	FirstAccountingPeriodEndDate   string               `json:"firstAccountingPeriodEndDate,omitempty"`
	LatencyDetails                 *latencyDetails      `json:"latencyDetails,omitempty"`
	QuarterlyTypeChoice            *quarterlyTypeChoice `json:"quarterlyTypeChoice,omitempty"`
	AccountingType                 string               `json:"accountingType,omitempty"`
	CommencementDate               string               `json:"commencementDate,omitempty"`
	CessationDate                  string               `json:"cessationDate,omitempty"`
	Created                        time.Time            `json:"created"`
}

type latencyDetails struct {
	LatencyEndDate    string `json:"latencyEndDate"`
	TaxYear1          string `json:"taxYear1"`
	LatencyIndicator1 string `json:"latencyIndicator1"`
	TaxYear2          string `json:"taxYear2"`
	LatencyIndicator2 string `json:"latencyIndicator2"`
}

type quarterlyTypeChoice struct {
	QuarterlyPeriodType string `json:"quarterlyPeriodType"`
	TaxYearOfChoice     string `json:"taxYearOfChoice"`
}

func (b *testBusiness) entry() businessEntry {
	e := businessEntry{TypeOfBusiness: b.TypeOfBusiness, BusinessID: b.BusinessID}
	if b.TypeOfBusiness == "self-employment" {
		e.TradingName = b.TradingName
	}
	return e
}

func registerTestSupport(s *Server, mux *http.ServeMux) {
	const base = "/individuals/self-assessment-test-support"
	s.handleAPI(mux, "POST "+base+"/business/{nino}", s.itsa.createTestBusiness)
	s.handleAPI(mux, "DELETE "+base+"/business/{nino}/{businessId}", s.itsa.deleteTestBusiness)
	s.handleAPI(mux, "DELETE "+base+"/vendor-state", s.itsa.deleteVendorState)
}

// Test Support errors (mtd-sa-test-support-api CommonMtdErrors.scala and
// TestSupportErrors.scala); its messages differ from the other APIs'.
var (
	errTSNotAuthorised       = mtdError{Code: "CLIENT_OR_AGENT_NOT_AUTHORISED", Message: "The client and/or agent is not authorised"}
	errTSTaxYearRange        = mtdError{Code: "RULE_TAX_YEAR_RANGE_INVALID", Message: "The tax year range is invalid"}
	errTSFormatDate          = mtdError{Code: "FORMAT_DATE", Message: "The supplied date format is not valid"}
	errTSTypeOfBusiness      = mtdError{Code: "FORMAT_TYPE_OF_BUSINESS", Message: "The provided typeOfBusiness field is invalid"}
	errTSAccountingType      = mtdError{Code: "FORMAT_ACCOUNTING_TYPE", Message: "The provided accountingType field is invalid"}
	errTSPostcode            = mtdError{Code: "FORMAT_POSTCODE", Message: "The provided businessAddressPostcode is invalid"}
	errTSLatencyIndicator    = mtdError{Code: "FORMAT_LATENCY_INDICATOR", Message: "The format of a latency indicator field is incorrect"}
	errTSCountryCode         = mtdError{Code: "FORMAT_COUNTRY_CODE", Message: "The provided country code is invalid"}
	errTSQuarterlyPeriodType = mtdError{Code: "FORMAT_QUARTERLY_PERIOD_TYPE", Message: "The quarterly period type format is not valid"}
	errTSMissingPostcode     = mtdError{Code: "MISSING_POSTCODE", Message: "Missing postcode"}
	errTSCommencement        = mtdError{Code: "RULE_COMMENCEMENT_DATE_NOT_SUPPORTED", Message: "The specified commencementDate must be in the past"}
	errTSPropertyAdded       = mtdError{Code: "RULE_PROPERTY_BUSINESS_ADDED", Message: "The provided property business is already added"}
	errTSMissingAPStart      = mtdError{Code: "MISSING_FIRST_ACCOUNTING_PERIOD_START_DATE", Message: "Missing firstAccountingPeriodStartDate value"}
	errTSMissingAPEnd        = mtdError{Code: "MISSING_FIRST_ACCOUNTING_PERIOD_END_DATE", Message: "Missing firstAccountingPeriodEndDate value"}
	errTSAccountingPeriod    = mtdError{Code: "RULE_FIRST_ACCOUNTING_DATE_RANGE_INVALID", Message: "The first accounting period is not a single complete tax year"}
	errTSUnexpectedAddress   = mtdError{Code: "RULE_UNEXPECTED_BUSINESS_ADDRESS", Message: "Unexpected businessAddress provided for property business"}
	errTSMissingAddress      = mtdError{Code: "RULE_MISSING_BUSINESS_ADDRESS", Message: "businessAddress not provided for the self-employment business"}
	errTSUnexpectedName      = mtdError{Code: "RULE_UNEXPECTED_TRADING_NAME", Message: "Unexpected tradingName provided for property business"}
	errTSMissingName         = mtdError{Code: "RULE_MISSING_TRADING_NAME", Message: "tradingName not provided for the self-employment business"}
)

// tsNINORE is the Test Support API's NINO rule (NinoValidation with
// Nino.isValid): the suffix letter is required.
var tsNINORE = regexp.MustCompile(`^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$`)

func tsValidNINO(nino string) bool { return tsNINORE.MatchString(nino) && validNINO(nino) }

// testSupportCaller checks what every Test Support endpoint checks: the
// API exists (sandbox), Accept, a user token with write:self-assessment.
func (st *itsaState) testSupportCaller(w http.ResponseWriter, r *http.Request) (itsaCall, bool) {
	if !st.s.sandbox() {
		writeAPIError(w, http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND", "A resource with the name in the request can not be found in the API")
		return itsaCall{}, false
	}
	if !requireAccept(w, r, "1.0") {
		return itsaCall{}, false
	}
	u, clientID, ok := st.s.apiCaller(w, r, "write:self-assessment")
	if !ok {
		return itsaCall{}, false
	}
	st.s.deprecationHeaders(w, testSupportAPI)
	return itsaCall{user: u, clientID: clientID, api: testSupportAPI}, true
}

func (st *itsaState) createTestBusiness(w http.ResponseWriter, r *http.Request) {
	c, ok := st.testSupportCaller(w, r)
	if !ok {
		return
	}
	raw := readJSONBody(w, r)
	if raw == nil {
		return
	}
	nino := r.PathValue("nino")
	if !tsValidNINO(nino) {
		writeMTDErrors(w, http.StatusBadRequest, errFormatNino)
		return
	}
	now := st.s.now()
	b, errs := parseTestBusiness(raw, dateOf(now))
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	key := vendorNINO{c.clientID, ninoKey(nino)}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	list := st.liveBusinessesLocked(key)
	if b.TypeOfBusiness != "self-employment" && slices.ContainsFunc(list, func(o *testBusiness) bool { return o.TypeOfBusiness == b.TypeOfBusiness }) {
		// "only one of each Property business is allowed" (the stub's
		// DUPLICATE_PROPERTY_BUSINESS).
		writeMTDErrors(w, http.StatusBadRequest, errTSPropertyAdded)
		return
	}
	b.Created = now
	b.BusinessID = st.newBusinessIDLocked()
	st.businesses[key] = append(list, b)
	st.s.log.Info("hmrcsim: test business created", "business_id", b.BusinessID, "type", b.TypeOfBusiness)
	writeJSON(w, http.StatusCreated, map[string]string{"businessId": b.BusinessID})
}

// newBusinessIDLocked draws an unused business ID of HMRC's pattern
// X[A-Z0-9]IS + 11 digits; the second letter says nothing about the type.
func (st *itsaState) newBusinessIDLocked() string {
	for {
		id := fmt.Sprintf("X%cIS%s", 'A'+rune(mrand.IntN(26)), digits(11))
		taken := false
		for _, list := range st.businesses {
			taken = taken || slices.ContainsFunc(list, func(b *testBusiness) bool { return b.BusinessID == id })
		}
		if !taken {
			return id
		}
	}
}

func (st *itsaState) deleteTestBusiness(w http.ResponseWriter, r *http.Request) {
	c, ok := st.testSupportCaller(w, r)
	if !ok {
		return
	}
	nino, businessID := r.PathValue("nino"), r.PathValue("businessId")
	var errs []mtdError
	if !tsValidNINO(nino) {
		errs = append(errs, errFormatNino)
	}
	if !businessIDRE.MatchString(businessID) {
		errs = append(errs, errFormatBusinessID)
	}
	if len(errs) > 0 {
		writeMTDErrors(w, http.StatusBadRequest, errs...)
		return
	}
	key := vendorNINO{c.clientID, ninoKey(nino)}
	st.s.mu.Lock()
	list := st.liveBusinessesLocked(key)
	i := slices.IndexFunc(list, func(b *testBusiness) bool { return b.BusinessID == businessID })
	if i >= 0 {
		st.businesses[key] = slices.Delete(list, i, i+1)
		st.dropBusinessDataLocked(c.clientID, key.nino, businessID)
	}
	st.s.mu.Unlock()
	if i < 0 {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	st.s.year.dropVendorData(c.clientID, key.nino, businessID) // after s.mu: the locks are never held together
	w.WriteHeader(http.StatusNoContent)
}

func (st *itsaState) deleteVendorState(w http.ResponseWriter, r *http.Request) {
	c, ok := st.testSupportCaller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	nino, one := q.Get("nino"), q.Has("nino")
	if one && !tsValidNINO(nino) {
		writeMTDErrors(w, http.StatusBadRequest, errFormatNino)
		return
	}
	st.s.mu.Lock()
	found := false
	for key, list := range st.businesses {
		if key.vendor == c.clientID && (!one || key.nino == ninoKey(nino)) {
			found = found || len(list) > 0
			delete(st.businesses, key)
		}
	}
	for _, m := range []map[itsaKey]bool{keySet(st.summaries), keySet(st.received), keySet(st.periodTypes)} {
		for k := range m {
			if k.vendor == c.clientID && (!one || k.nino == ninoKey(nino)) {
				found = true
				delete(st.summaries, k)
				delete(st.received, k)
				delete(st.periodTypes, k)
			}
		}
	}
	st.s.mu.Unlock()
	ninoOf := ""
	if one {
		ninoOf = ninoKey(nino)
	}
	// The year end's annual submissions too, after s.mu (never both).
	found = st.s.year.dropVendorData(c.clientID, ninoOf, "") || found
	if !found { // "no data can be found for the given vendor"
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func keySet[V any](m map[itsaKey]V) map[itsaKey]bool {
	out := make(map[itsaKey]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// dropBusinessDataLocked forgets the stateful data of a deleted business.
func (st *itsaState) dropBusinessDataLocked(vendor, nino, businessID string) {
	for k := range keySet(st.summaries) {
		if k.vendor == vendor && k.nino == nino && k.businessID == businessID {
			delete(st.summaries, k)
		}
	}
	for k := range keySet(st.received) {
		if k.vendor == vendor && k.nino == nino && k.businessID == businessID {
			delete(st.received, k)
		}
	}
	for k := range keySet(st.periodTypes) {
		if k.vendor == vendor && k.nino == nino && k.businessID == businessID {
			delete(st.periodTypes, k)
		}
	}
}

// liveBusinessesLocked is the vendor's test businesses for a NINO, those
// older than 7 days purged. The caller holds s.mu.
func (st *itsaState) liveBusinessesLocked(key vendorNINO) []*testBusiness {
	now := st.s.now()
	list := slices.DeleteFunc(st.businesses[key], func(b *testBusiness) bool {
		if now.Sub(b.Created) < testDataLifetime {
			return false
		}
		st.dropBusinessDataLocked(key.vendor, key.nino, b.BusinessID)
		return true
	})
	if len(list) == 0 {
		delete(st.businesses, key)
		return nil
	}
	st.businesses[key] = list
	return list
}

// testBusinessEntries lists the caller's test businesses as List All
// Businesses does: self-employments first, then property
// (ListAllBusinessesResponse.fromDownstream).
func (st *itsaState) testBusinessEntries(c itsaCall) []businessEntry {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	var out []businessEntry
	for _, b := range st.liveBusinessesLocked(vendorNINO{c.clientID, ninoKey(c.user.NINO)}) {
		out = append(out, b.entry())
	}
	slices.SortStableFunc(out, func(a, b businessEntry) int {
		return cmp.Compare(boolInt(a.TypeOfBusiness != "self-employment"), boolInt(b.TypeOfBusiness != "self-employment"))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// testBusinessLocked finds one of the caller's test businesses.
func (st *itsaState) testBusinessLocked(c itsaCall, businessID string) *testBusiness {
	for _, b := range st.liveBusinessesLocked(vendorNINO{c.clientID, ninoKey(c.user.NINO)}) {
		if b.BusinessID == businessID {
			return b
		}
	}
	return nil
}

// businessByKeyLocked is the test business an ITSA key names (sandbox data
// only; the demo's businesses have no such details).
func (st *itsaState) businessByKeyLocked(key itsaKey) *testBusiness {
	if key.vendor == "" {
		return nil
	}
	for _, b := range st.businesses[vendorNINO{key.vendor, key.nino}] {
		if b.BusinessID == key.businessID {
			return b
		}
	}
	return nil
}

// annualLocked says the test business reports annually, or is latent, in
// the tax year starting in year: its latencyDetails give that year the
// indicator "A". Such a business submits without dates (the cumulative
// PUT's fromDate and toDate: "For users with ITSA status of 'annual' or a
// latent income source, these dates are not required").
func (st *itsaState) annualLocked(key itsaKey, year int) bool {
	b := st.businessByKeyLocked(key)
	if b == nil || b.LatencyDetails == nil {
		return false
	}
	l := b.LatencyDetails
	ty := taxYearString(year)
	return (l.TaxYear1 == ty && l.LatencyIndicator1 == "A") || (l.TaxYear2 == ty && l.LatencyIndicator2 == "A")
}

// commencementLocked is the test business's commencement date when it
// falls inside the tax year starting in year (the submission then starts
// on it), zero otherwise.
func (st *itsaState) commencementLocked(key itsaKey, year int) time.Time {
	b := st.businessByKeyLocked(key)
	if b == nil {
		return time.Time{}
	}
	t, ok := parseDate(b.CommencementDate)
	if !ok || !t.After(day(year, time.April, 6)) || !t.Before(day(year+1, time.April, 6)) {
		return time.Time{}
	}
	return t
}

// parseTestBusiness is CreateTestBusinessValidator: the formats of the
// string fields present, then the body's shape, then the business rules;
// each level stops the others.
func parseTestBusiness(raw []byte, today time.Time) (*testBusiness, []mtdError) {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, []mtdError{errEmptyBody}
	}
	str := func(path string) (string, bool) {
		var v any = body
		for p := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
			m, ok := v.(map[string]any)
			if !ok {
				return "", false
			}
			v = m[p]
		}
		s, ok := v.(string)
		return s, ok
	}
	var errs []mtdError
	check := func(path string, ok func(string) bool, e mtdError, withPath bool) {
		if v, present := str(path); present && !ok(v) {
			if withPath {
				e = e.withPaths(path)
			}
			errs = append(errs, e)
		}
	}
	oneOf := func(vals ...string) func(string) bool {
		return func(v string) bool { return slices.Contains(vals, v) }
	}
	isDate := func(v string) bool { _, ok := parseDate(v); return ok }
	check("/accountingType", oneOf("CASH", "ACCRUALS"), errTSAccountingType, false)
	check("/typeOfBusiness", oneOf("self-employment", "uk-property", "foreign-property", "property-unspecified"), errTSTypeOfBusiness, false)
	check("/latencyDetails/latencyIndicator1", oneOf("A", "Q"), errTSLatencyIndicator, true)
	check("/latencyDetails/latencyIndicator2", oneOf("A", "Q"), errTSLatencyIndicator, true)
	for _, path := range []string{"/latencyDetails/taxYear1", "/latencyDetails/taxYear2", "/quarterlyTypeChoice/taxYearOfChoice"} {
		if v, present := str(path); present {
			if _, e := checkTaxYear(v, 0); len(e) > 0 {
				if e[0].Code == errTaxYearRange.Code {
					e[0] = errTSTaxYearRange
				}
				errs = append(errs, e[0].withPaths(path))
			}
		}
	}
	check("/quarterlyTypeChoice/quarterlyPeriodType", oneOf(periodStandard, periodCalendar), errTSQuarterlyPeriodType, false)
	check("/businessAddressCountryCode", validCountryCode, errTSCountryCode, false)
	check("/businessAddressPostcode", ukPostcodeRE.MatchString, errTSPostcode, false)
	for _, path := range []string{"/firstAccountingPeriodStartDate", "/firstAccountingPeriodEndDate", "/latencyDetails/latencyEndDate", "/commencementDate", "/cessationDate"} {
		check(path, isDate, errTSFormatDate, true)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	// The shape (JsonFormatValidation.validate[Business]): {} is refused
	// whole, missing and mistyped fields by path.
	if len(body) == 0 {
		return nil, []mtdError{errEmptyBody}
	}
	var b testBusiness
	var paths []string
	strField := func(path string, dst *string, required bool) {
		v, present := lookup(body, path)
		if !present {
			if required {
				paths = append(paths, path)
			}
			return
		}
		s, ok := v.(string)
		if !ok {
			paths = append(paths, path)
			return
		}
		*dst = s
	}
	strField("/typeOfBusiness", &b.TypeOfBusiness, true)
	strField("/tradingName", &b.TradingName, false)
	strField("/firstAccountingPeriodStartDate", &b.FirstAccountingPeriodStartDate, false)
	strField("/firstAccountingPeriodEndDate", &b.FirstAccountingPeriodEndDate, false)
	strField("/accountingType", &b.AccountingType, false)
	strField("/commencementDate", &b.CommencementDate, false)
	strField("/cessationDate", &b.CessationDate, false)
	var address [6]string
	addressFields := []string{"businessAddressLineOne", "businessAddressLineTwo", "businessAddressLineThree", "businessAddressLineFour", "businessAddressPostcode", "businessAddressCountryCode"}
	hasAddress := false
	for i, f := range addressFields {
		strField("/"+f, &address[i], false)
		_, present := body[f]
		hasAddress = hasAddress || present
	}
	if v, present := body["latencyDetails"]; present {
		if _, ok := v.(map[string]any); !ok {
			paths = append(paths, "/latencyDetails")
		} else {
			b.LatencyDetails = &latencyDetails{}
			l := b.LatencyDetails
			strField("/latencyDetails/latencyEndDate", &l.LatencyEndDate, true)
			strField("/latencyDetails/taxYear1", &l.TaxYear1, true)
			strField("/latencyDetails/latencyIndicator1", &l.LatencyIndicator1, true)
			strField("/latencyDetails/taxYear2", &l.TaxYear2, true)
			strField("/latencyDetails/latencyIndicator2", &l.LatencyIndicator2, true)
		}
	}
	if v, present := body["quarterlyTypeChoice"]; present {
		if _, ok := v.(map[string]any); !ok {
			paths = append(paths, "/quarterlyTypeChoice")
		} else {
			b.QuarterlyTypeChoice = &quarterlyTypeChoice{}
			strField("/quarterlyTypeChoice/quarterlyPeriodType", &b.QuarterlyTypeChoice.QuarterlyPeriodType, true)
			strField("/quarterlyTypeChoice/taxYearOfChoice", &b.QuarterlyTypeChoice.TaxYearOfChoice, true)
		}
	}
	if len(paths) > 0 {
		return nil, []mtdError{errEmptyBody.withPaths(paths...)}
	}

	// The business rules, all together.
	property := b.TypeOfBusiness != "self-employment"
	if !property && address[5] == "GB" && address[4] == "" {
		errs = append(errs, errTSMissingPostcode)
	}
	switch start, end := b.FirstAccountingPeriodStartDate, b.FirstAccountingPeriodEndDate; {
	case start != "" && end != "":
		s, _ := parseDate(start)
		e, _ := parseDate(end)
		if y := taxYearStartOf(s); !s.Equal(day(y, time.April, 6)) || !e.Equal(day(y+1, time.April, 5)) {
			errs = append(errs, errTSAccountingPeriod)
		}
	case end != "":
		errs = append(errs, errTSMissingAPStart)
	case start != "":
		errs = append(errs, errTSMissingAPEnd)
	}
	switch {
	case property && hasAddress:
		errs = append(errs, errTSUnexpectedAddress)
	case !property && (address[0] == "" || address[5] == ""):
		errs = append(errs, errTSMissingAddress)
	}
	switch {
	case property && b.TradingName != "":
		errs = append(errs, errTSUnexpectedName)
	case !property && b.TradingName == "":
		errs = append(errs, errTSMissingName)
	}
	if c, ok := parseDate(b.CommencementDate); ok && !c.Before(today) {
		errs = append(errs, errTSCommencement)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &b, nil
}

// lookup finds a JSON pointer's value in a decoded body.
func lookup(body map[string]any, path string) (any, bool) {
	var v any = body
	for p := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// ukPostcodeRE is PostcodeValidation's pattern, anchored as Scala's
// String.matches anchors it (the whole value).
var ukPostcodeRE = regexp.MustCompile(`^(?:[A-Z]{1,2}[0-9][0-9A-Z]?\s?[0-9][A-Z]{2}|BFPO\s?[0-9]{1,10})$`)

// validCountryCode is CountryCodeValidation: an ISO 3166 alpha-2 code as
// nv-i18n's CountryCode knows them (with its exceptionally reserved ones),
// or one of the four custom codes HMRC permits.
func validCountryCode(c string) bool {
	return len(c) == 2 && strings.Contains(countryCodes, " "+c+" ")
}

const countryCodes = " AC AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ" +
	" CA CC CD CF CG CH CI CK CL CM CN CO CP CR CU CV CW CX CY CZ DE DG DJ DK DM DO DZ EA EC EE EG EH ER ES ET EU EZ" +
	" FC FI FJ FK FM FO FR FX GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU IC ID IE IL IM IN IO IQ IR IS IT" +
	" JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ" +
	" NA NC NE NF NG NI NL NO NP NR NU NZ OM OR PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW" +
	" SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SU SV SX SY SZ TA TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ" +
	" UA UG UK UM UN US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW ZZ "
