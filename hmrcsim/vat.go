package hmrcsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// VAT (MTD) API v1.0, written from HMRC's OAS (vat-api
// resources/public/api/conf/1.0/application.yaml) and the service's own
// validators (app/v1/controllers/requestParsers/validators), which decide
// the codes, the HTTP statuses and the odd shapes of the error bodies:
//
//   - the obligations query errors (INVALID_DATE_FROM, INVALID_DATE_TO,
//     INVALID_STATUS, INVALID_DATE_RANGE) come back as
//     {"statusCode":400,"message":"INVALID_DATE_FROM"}, not as {code,
//     message}, although the OAS shows the latter (obligationsErrors.scala;
//     developers report exactly this body, e.g. vat-api issues #191, #486);
//   - a single return error is sent flat ({code, message, path}) or wrapped
//     in INVALID_REQUEST or BUSINESS_ERROR with an errors list, as each
//     error's custom JSON says (submitReturnErrors.scala); several are
//     always INVALID_REQUEST with the items flattened (ErrorWrapper);
//   - the return is validated level by level, stopping at the first level
//     with errors (Validator.run): VRN, JSON, fields, arithmetic, finalised.
//
// In ModeDemo every test user with a VRN has calendar-quarter obligations
// (January to March is quarter 1) from the quarter of its VAT registration
// date (or one year back when it has none, at most four years back) to the
// quarter that contains the simulator's clock; period keys are "YYAq", e.g.
// "26A1" for January to March 2026. A submitted return fulfils the obligation with its
// period key. As in HMRC's sandbox, a return for a period key that is not an
// obligation is stored too. A return for one of the simulator's quarters is
// refused with TAX_PERIOD_NOT_ENDED until the day after the quarter's last
// day, by the simulator's clock.
//
// In ModeSandbox the obligations are the sandbox's canned answers (DEFAULT
// is QUARTERLY_ONE_MET), dates and status changing nothing, and a return
// for any period key is stored; View Return shows what was stored.
//
// Choices where HMRC's behaviour is not documented: the VRN's format is
// checked before its owner (HMRC's authorisation runs first and may answer
// 403 to a malformed VRN); an unknown Gov-Test-Scenario is refused with the
// service's RULE_INCORRECT_GOV_TEST_SCENARIO ("The Gov-Test-Scenario was not
// found", the stubs' TEST_ONLY_UNMATCHED_STUB_ERROR).

// VATFraudAPI is the {api} name the VAT handlers record fraud prevention
// headers under (RecordFraudHeaders, LastFraudResult, validation-feedback),
// as HMRC's Test Fraud Prevention Headers API names the VAT (MTD) API.
const VATFraudAPI = "vat-mtd"

// vatState is the VAT data of one Server. It has its own mutex: s.mu guards
// the token and rate-limit bookkeeping that every request touches.
type vatState struct {
	s       *Server
	mu      sync.Mutex
	returns map[vatKey]*storedReturn
}

type vatKey struct{ vrn, periodKey string }

type storedReturn struct {
	view     vatReturnView
	received time.Time
}

func registerVAT(s *Server, mux *http.ServeMux) {
	st := &vatState{s: s, returns: map[vatKey]*storedReturn{}}
	s.vat = st
	s.handleAPI(mux, "GET /organisations/vat/{vrn}/obligations", st.obligations)
	s.handleAPI(mux, "POST /organisations/vat/{vrn}/returns", st.submitReturn)
	s.handleAPI(mux, "GET /organisations/vat/{vrn}/returns/{periodKey}", st.viewReturn)
}

// ---- errors ----

// vatErrItem is one VAT error as HMRC writes it: "path", singular.
type vatErrItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Path    string `json:"path,omitempty"`
}

// vatErr is an error and the envelope HMRC puts it in when it is the only
// one: "" (none), "INVALID_REQUEST" or "BUSINESS_ERROR".
type vatErr struct {
	item vatErrItem
	wrap string
}

const (
	vatInvalidRequest = "INVALID_REQUEST"
	vatBusinessError  = "BUSINESS_ERROR"
)

// HMRC's messages (submitReturnErrors.scala, mtdErrors.scala, desErrors.scala).
const (
	msgMoney13    = "amount should be a monetary value (to 2 decimal places), between -9,999,999,999,999.99 and 9,999,999,999,999.99"
	msgMoneyNet   = "amount should be a monetary value (to 2 decimal places), between 0 and 99,999,999,999.99"
	msgMoneyWhole = "The value must be between -9999999999999 and 9999999999999"
)

var (
	vatErrVRN       = vatErr{item: vatErrItem{Code: "VRN_INVALID", Message: "The provided VRN is invalid"}}
	vatErrPeriodKey = vatErr{item: vatErrItem{Code: "PERIOD_KEY_INVALID", Message: "Invalid period key"}}
	// vatErrViewPeriodKey: View Return's own check wraps it
	// (viewReturnErrors.scala PeriodKeyFormatError).
	vatErrViewPeriodKey = vatErr{item: vatErrItem{Code: "PERIOD_KEY_INVALID", Message: "Invalid period key"}, wrap: vatInvalidRequest}
	vatErrBodyPeriod    = vatErr{item: vatErrItem{Code: "PERIOD_KEY_INVALID", Message: "period key should be a 4 character string", Path: "/periodKey"}, wrap: vatInvalidRequest}
	vatErrInvalidJSON   = vatErr{item: vatErrItem{Code: vatInvalidRequest, Message: "Invalid request"}}
	vatErrNotAuth       = vatErr{item: vatErrItem{Code: "CLIENT_OR_AGENT_NOT_AUTHORISED", Message: "The client and/or agent is not authorised"}}
	vatErrInsolvent     = vatErr{item: vatErrItem{Code: "RULE_INSOLVENT_TRADER", Message: "The remote endpoint has indicated that the Trader is insolvent"}}
	vatErrNotFound      = vatErr{item: vatErrItem{Code: "NOT_FOUND", Message: "The requested resource could not be found"}}
	// vatErrOblNotFound is what obligations answer when there are none
	// (ObligationsService maps NOT_FOUND to LegacyNotFoundError).
	vatErrOblNotFound  = vatErr{item: vatErrItem{Code: "NOT_FOUND", Message: "The remote endpoint has indicated that no data can be found"}}
	vatErrScenario     = vatErr{item: vatErrItem{Code: "RULE_INCORRECT_GOV_TEST_SCENARIO", Message: "The Gov-Test-Scenario was not found"}}
	vatErrTotal        = vatErr{item: vatErrItem{Code: "VAT_TOTAL_VALUE", Message: "totalVatDue should be equal to vatDueSales + vatDueAcquisitions", Path: "/totalVatDue"}, wrap: vatInvalidRequest}
	vatErrNet          = vatErr{item: vatErrItem{Code: "VAT_NET_VALUE", Message: "netVatDue should be the difference between the largest and the smallest values among totalVatDue and vatReclaimedCurrPeriod", Path: "/netVatDue"}, wrap: vatInvalidRequest}
	vatErrNotFinalised = vatErr{item: vatErrItem{Code: "NOT_FINALISED", Message: "The return cannot be accepted without a declaration it is finalised.", Path: "/finalised"}, wrap: vatBusinessError}
	vatErrDuplicate    = vatErr{item: vatErrItem{Code: "DUPLICATE_SUBMISSION", Message: "The VAT return was already submitted for the given period."}, wrap: vatBusinessError}
	vatErrNotEnded     = vatErr{item: vatErrItem{Code: "TAX_PERIOD_NOT_ENDED", Message: "The remote endpoint has indicated that the submission is for a tax period that has not ended"}}
	vatErrTooOld       = vatErr{item: vatErrItem{Code: "DATE_RANGE_TOO_LARGE", Message: "The date of the requested return cannot be further than four years from the current date."}, wrap: vatBusinessError}
	vatErrStringValue  = vatErr{item: vatErrItem{Code: "INVALID_STRING_VALUE", Message: "please provide a string field", Path: "/periodKey"}, wrap: vatInvalidRequest}
	vatErrBoolean      = vatErr{item: vatErrItem{Code: "UNMAPPED_PLAY_ERROR", Message: "error.expected.jsboolean", Path: "/finalised"}, wrap: vatInvalidRequest}
)

func vatFieldErr(code, message, field string) vatErr {
	return vatErr{item: vatErrItem{Code: code, Message: message, Path: "/" + field}}
}

// writeVATErrors writes HMRC's VAT error body: one error in its own
// envelope, several (duplicates dropped) as INVALID_REQUEST.
func writeVATErrors(w http.ResponseWriter, status int, errs ...vatErr) {
	var items []vatErrItem
	for _, e := range errs {
		if !slices.Contains(items, e.item) {
			items = append(items, e.item)
		}
	}
	type envelope struct {
		Code    string       `json:"code"`
		Message string       `json:"message"`
		Errors  []vatErrItem `json:"errors"`
	}
	switch {
	case len(items) > 1:
		writeJSON(w, status, envelope{vatInvalidRequest, "Invalid request", items})
	case errs[0].wrap == vatInvalidRequest:
		writeJSON(w, status, envelope{vatInvalidRequest, "Invalid request", items})
	case errs[0].wrap == vatBusinessError:
		writeJSON(w, status, envelope{vatBusinessError, "Business validation error", items})
	default:
		writeJSON(w, status, items[0])
	}
}

// writeObligationsQueryError writes the body HMRC's obligations endpoint
// really sends for a bad query (see the file comment).
func writeObligationsQueryError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": http.StatusBadRequest, "message": code})
}

// ---- common checks ----

var (
	vrnRE       = regexp.MustCompile(`^[0-9]{9}$`)           // VrnValidation
	periodKeyRE = regexp.MustCompile(`^[#0-9A-Z]{4}$`)       // PeriodKeyValidation, BodyPeriodKeyValidation
	ourKeyRE    = regexp.MustCompile(`^([0-9]{2})A([1-4])$`) // the simulator's quarterly period keys
)

// vatUser runs the checks shared by every VAT endpoint: Accept, token and
// scope (the gateway), then, for requests that reach the API, the fraud
// prevention headers are recorded, the VRN's format checked and the VRN
// matched to the signed-in user.
func (st *vatState) vatUser(w http.ResponseWriter, r *http.Request, scope string) (*TestUser, string, bool) {
	if !requireAccept(w, r, "1.0") {
		return nil, "", false
	}
	u, ok := st.s.apiUser(w, r, scope)
	if !ok {
		return nil, "", false
	}
	st.s.RecordFraudHeaders(VATFraudAPI, r)
	vrn := r.PathValue("vrn")
	if !vrnRE.MatchString(vrn) {
		writeVATErrors(w, http.StatusBadRequest, vatErrVRN)
		return nil, "", false
	}
	if u.VRN != vrn {
		writeVATErrors(w, http.StatusForbidden, vatErrNotAuth)
		return nil, "", false
	}
	st.s.deprecationHeaders(w, VATFraudAPI)
	return u, vrn, true
}

// vatScenario is scenario with the VAT API's own answer to an unknown
// value (vat-api RuleIncorrectGovTestScenarioError, a flat body).
func vatScenario(w http.ResponseWriter, r *http.Request, known func(string) bool) (string, bool) {
	v := strings.TrimSpace(r.Header.Get("Gov-Test-Scenario"))
	if v == "" || v == "DEFAULT" || known(v) {
		return v, true
	}
	writeVATErrors(w, http.StatusBadRequest, vatErrScenario)
	return "", false
}

func knownOf(names ...string) func(string) bool {
	return func(v string) bool { return slices.Contains(names, v) }
}

// ---- periods ----

// vatPeriod is one return period.
type vatPeriod struct {
	start, end, due time.Time
	key             string
}

// vatDue is one month and seven days after the period end (the OAS: a
// period ending 2017-03-31 is due 2017-05-07, one ending 2017-02-28 on
// 2017-04-07).
func vatDue(end time.Time) time.Time { return end.AddDate(0, 0, 1).AddDate(0, 1, 6) }

func quarterStart(t time.Time) time.Time {
	t = dateOf(t)
	return time.Date(t.Year(), (t.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
}

func quarterPeriod(start time.Time) vatPeriod {
	end := start.AddDate(0, 3, -1)
	return vatPeriod{start: start, end: end, due: vatDue(end),
		key: fmt.Sprintf("%02dA%d", start.Year()%100, int(start.Month()-1)/3+1)}
}

// periodOfKey is the quarter a simulator period key names.
func periodOfKey(key string) (vatPeriod, bool) {
	m := ourKeyRE.FindStringSubmatch(key)
	if m == nil {
		return vatPeriod{}, false
	}
	yy, _ := strconv.Atoi(m[1])
	q, _ := strconv.Atoi(m[2])
	return quarterPeriod(time.Date(2000+yy, time.Month((q-1)*3+1), 1, 0, 0, 0, 0, time.UTC)), true
}

// userPeriods are the user's quarters, oldest first, up to the one holding now.
func userPeriods(u *TestUser, now time.Time) []vatPeriod {
	first := now.AddDate(-1, 0, 0)
	if reg, ok := parseDate(u.VATRegistrationDate); ok {
		first = reg
	}
	if limit := now.AddDate(-4, 0, 0); first.Before(limit) {
		first = limit
	}
	var out []vatPeriod
	for q := quarterStart(first); !q.After(now); q = q.AddDate(0, 3, 0) {
		out = append(out, quarterPeriod(q))
	}
	return out
}

// ---- Retrieve VAT obligations ----

type vatObligation struct {
	Start     string `json:"start"`
	End       string `json:"end"`
	Due       string `json:"due"`
	Status    string `json:"status"`
	PeriodKey string `json:"periodKey"`
	Received  string `json:"received,omitempty"`
}

// vatCanned is one canned obligations scenario: how many periods of a
// year (months or quarters), how many of them fulfilled, and the year
// HMRC's sandbox uses for it (0: the *_MET ones, whose dates are 2017's in
// the OAS example and in the sandbox, vat-api issue 525).
type vatCanned struct {
	monthly    bool
	n, met     int
	sandboxYr  int
	spansYears bool
}

// vatObligationScenario parses a canned scenario name (application.yaml,
// Retrieve VAT obligations, test data).
func vatObligationScenario(sc string) (vatCanned, bool) {
	switch sc {
	case "QUARTERLY_NONE_MET", "QUARTERLY_ONE_MET", "QUARTERLY_TWO_MET", "QUARTERLY_THREE_MET", "QUARTERLY_FOUR_MET":
		met := slices.Index([]string{"NONE", "ONE", "TWO", "THREE", "FOUR"}, strings.TrimSuffix(strings.TrimPrefix(sc, "QUARTERLY_"), "_MET"))
		return vatCanned{n: 4, met: met, sandboxYr: 2017}, true
	case "MONTHLY_NONE_MET", "MONTHLY_ONE_MET", "MONTHLY_TWO_MET", "MONTHLY_THREE_MET":
		met := slices.Index([]string{"NONE", "ONE", "TWO", "THREE"}, strings.TrimSuffix(strings.TrimPrefix(sc, "MONTHLY_"), "_MET"))
		return vatCanned{monthly: true, n: 12, met: met, sandboxYr: 2017}, true
	case "MONTHLY_OBS_12_FULFILLED":
		return vatCanned{monthly: true, n: 12, met: 12, sandboxYr: 2018}, true
	case "QUARTERLY_OBS_04_FULFILLED":
		return vatCanned{n: 4, met: 4, sandboxYr: 2018}, true
	case "MULTIPLE_OPEN_MONTHLY": // "monthly obligations for 2018 and two are open"
		return vatCanned{monthly: true, n: 12, met: 10, sandboxYr: 2018}, true
	case "MULTIPLE_OPEN_QUARTERLY":
		return vatCanned{n: 4, met: 2, sandboxYr: 2018}, true
	case "OBS_SPANS_MULTIPLE_YEARS": // one obligation over 2018 and 2019
		return vatCanned{n: 1, sandboxYr: 2018, spansYears: true}, true
	}
	// MONTHLY_OBS_##_OPEN (01 to 12), QUARTERLY_OBS_##_OPEN (01 to 04): the
	// ##th period open, "all previous obligations for same year" fulfilled.
	if m := obsOpenRE.FindStringSubmatch(sc); m != nil {
		n, _ := strconv.Atoi(m[2])
		monthly := m[1] == "MONTHLY"
		if n >= 1 && (monthly && n <= 12 || !monthly && n <= 4) {
			return vatCanned{monthly: monthly, n: n, met: n - 1, sandboxYr: 2018}, true
		}
	}
	return vatCanned{}, false
}

var obsOpenRE = regexp.MustCompile(`^(MONTHLY|QUARTERLY)_OBS_([0-9]{2})_OPEN$`)

// checkObligationsQuery mirrors ObligationsValidator: VRN (checked before),
// ObligationParameterFormatValidation, then DateRangeValidation; the first
// level with a problem answers. The range is HMRC's: from before to, and to
// no later than from plus one year (so 367 days across a 29 February).
func checkObligationsQuery(q map[string][]string) (from, to time.Time, code string) {
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	fromS, hasFrom := get("from")
	toS, hasTo := get("to")
	status, hasStatus := get("status")
	switch {
	case !hasFrom && !hasTo && hasStatus:
		switch status {
		case "O":
			return from, to, ""
		case "F":
			return from, to, "MISSING_DATE_RANGE"
		}
		return from, to, "INVALID_STATUS"
	case !hasFrom:
		return from, to, "INVALID_DATE_FROM"
	case !hasTo:
		return from, to, "INVALID_DATE_TO"
	}
	var ok bool
	if from, ok = parseDate(fromS); !ok {
		return from, to, "INVALID_DATE_FROM"
	}
	if to, ok = parseDate(toS); !ok {
		return from, to, "INVALID_DATE_TO"
	}
	if hasStatus && status != "O" && status != "F" {
		return from, to, "INVALID_STATUS"
	}
	if !from.Before(to) || plusYear(from).Before(to) {
		return from, to, "INVALID_DATE_RANGE"
	}
	return from, to, ""
}

// plusYear is Java's LocalDate.plusYears(1): 29 February goes to 28
// February (Go's AddDate would go on to 1 March).
func plusYear(t time.Time) time.Time {
	next := t.AddDate(1, 0, 0)
	if next.Day() != t.Day() {
		next = next.AddDate(0, 0, -next.Day())
	}
	return next
}

func (st *vatState) obligations(w http.ResponseWriter, r *http.Request) {
	u, vrn, ok := st.vatUser(w, r, "read:vat")
	if !ok {
		return
	}
	q := r.URL.Query()
	from, to, code := checkObligationsQuery(q)
	if code != "" {
		writeObligationsQueryError(w, code)
		return
	}
	sc, ok := vatScenario(w, r, func(v string) bool {
		_, canned := vatObligationScenario(v)
		return canned || v == "INSOLVENT_TRADER" || v == "NOT_FOUND"
	})
	if !ok {
		return
	}
	status, dated := q.Get("status"), q.Has("from")
	now := st.s.now()
	var list []vatObligation
	canned, isCanned := vatObligationScenario(sc)
	if st.s.sandbox() && sc == "" {
		// "Simulates the scenario where the client has quarterly
		// obligations and one is fulfilled."
		canned, isCanned = vatObligationScenario("QUARTERLY_ONE_MET")
	}
	switch {
	case sc == "INSOLVENT_TRADER":
		writeVATErrors(w, http.StatusForbidden, vatErrInsolvent)
		return
	case sc == "NOT_FOUND":
		writeVATErrors(w, http.StatusNotFound, vatErrOblNotFound)
		return
	case isCanned && st.s.sandbox():
		// The sandbox's answers are canned: dates and status change
		// nothing (vat-api issues 196, 525, 890).
		writeJSON(w, http.StatusOK, map[string]any{"obligations": canned.obligations(canned.sandboxYr)})
		return
	case isCanned:
		year := now.Year()
		if dated {
			year = from.Year()
		}
		list = canned.obligations(year)
	default:
		list = st.userObligations(u, vrn, now)
	}
	var out []vatObligation
	for _, o := range list {
		start, _ := parseDate(o.Start)
		end, _ := parseDate(o.End)
		// A period is returned when it overlaps the requested dates.
		if dated && (start.After(to) || end.Before(from)) {
			continue
		}
		if status != "" && o.Status != status {
			continue
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		writeVATErrors(w, http.StatusNotFound, vatErrOblNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"obligations": out})
}

func (st *vatState) userObligations(u *TestUser, vrn string, now time.Time) []vatObligation {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []vatObligation
	for _, p := range userPeriods(u, now) {
		o := vatObligation{Start: p.start.Format(isoDate), End: p.end.Format(isoDate), Due: p.due.Format(isoDate),
			Status: "O", PeriodKey: p.key}
		if ret := st.returns[vatKey{vrn, p.key}]; ret != nil {
			o.Status, o.Received = "F", dateOf(ret.received).Format(isoDate)
		}
		out = append(out, o)
	}
	return out
}

// obligations are the canned periods of a year, keyed #001, #002, …, the
// first met of them fulfilled the day before they were due.
func (c vatCanned) obligations(year int) []vatObligation {
	months := 3
	if c.monthly {
		months = 1
	}
	var out []vatObligation
	for i := range c.n {
		start := time.Date(year, time.Month(i*months+1), 1, 0, 0, 0, 0, time.UTC)
		if c.spansYears {
			start = time.Date(year, time.November, 1, 0, 0, 0, 0, time.UTC)
		}
		end := start.AddDate(0, months, -1)
		o := vatObligation{Start: start.Format(isoDate), End: end.Format(isoDate), Due: vatDue(end).Format(isoDate),
			Status: "O", PeriodKey: fmt.Sprintf("#%03d", i+1)}
		if i < c.met {
			o.Status, o.Received = "F", vatDue(end).AddDate(0, 0, -1).Format(isoDate)
		}
		out = append(out, o)
	}
	return out
}

// ---- Submit VAT return for period ----

var (
	vatBoxes13    = []string{"vatDueSales", "vatDueAcquisitions", "totalVatDue", "vatReclaimedCurrPeriod"}
	vatBoxesWhole = []string{"totalValueSalesExVAT", "totalValuePurchasesExVAT", "totalValueGoodsSuppliedExVAT", "totalAcquisitionsExVAT"}
	vatMoney      = slices.Concat(vatBoxes13, []string{"netVatDue"}, vatBoxesWhole)
	vatFields     = slices.Concat([]string{"periodKey"}, vatMoney, []string{"finalised"})

	max13    = big.NewRat(999999999999999, 100) // 9,999,999,999,999.99
	maxNet   = big.NewRat(9999999999999, 100)   // 99,999,999,999.99
	maxWhole = big.NewRat(9999999999999, 1)     // 9,999,999,999,999
)

// decimal is a JSON number analysed as Play reads it into a BigDecimal.
type decimal struct {
	rat   *big.Rat
	scale int // digits after the point minus the exponent, as BigDecimal.scale
}

// parseDecimal analyses a JSON number. Exponents beyond ±400 are not
// expanded: such a value is outside every range (or below a penny) anyway.
func parseDecimal(n json.Number) decimal {
	s := string(n)
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		digits := strings.TrimLeft(s[i+1:], "+-")
		for _, c := range digits {
			if exp < 1_000_000 {
				exp = exp*10 + int(c-'0')
			}
		}
		if strings.HasPrefix(s[i+1:], "-") {
			exp = -exp
		}
	}
	frac := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		frac = len(mant) - i - 1
	}
	v := decimal{scale: frac - exp}
	neg := strings.HasPrefix(s, "-")
	switch {
	case strings.Trim(mant, "-0.") == "":
		v.rat = new(big.Rat)
	case exp > 400:
		v.rat = new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil), big.NewInt(1))
	case exp < -400:
		v.rat = new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil))
	default:
		v.rat, _ = new(big.Rat).SetString(s)
		if v.rat == nil {
			v.rat = new(big.Rat)
		}
		return v
	}
	if neg {
		v.rat.Neg(v.rat)
	}
	return v
}

func outside(x, lo, hi *big.Rat) bool { return x.Cmp(lo) < 0 || x.Cmp(hi) > 0 }

// decodeReturn reads the body; ok is false when it is not JSON at all. A
// JSON value that is not an object has none of the fields.
func decodeReturn(raw []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	body, _ := v.(map[string]any)
	if body == nil {
		body = map[string]any{}
	}
	return body, true
}

// returnFieldErrors is SubmitReturnValidator's field level, in its order:
// missing fields, monetary formats, JSON types, the period key, ranges.
func returnFieldErrors(body map[string]any) ([]vatErr, map[string]decimal) {
	var errs []vatErr
	for _, f := range vatFields {
		if _, ok := body[f]; !ok {
			errs = append(errs, vatFieldErr("MANDATORY_FIELD_MISSING", "a mandatory field is missing", f))
		}
	}
	nums := map[string]decimal{}
	for _, f := range vatMoney {
		if n, ok := body[f].(json.Number); ok {
			nums[f] = parseDecimal(n)
		}
	}
	for _, f := range vatMoney {
		n, ok := nums[f]
		switch {
		case !ok:
		case slices.Contains(vatBoxes13, f) && n.scale > 2:
			errs = append(errs, vatFieldErr("INVALID_MONETARY_AMOUNT", msgMoney13, f))
		case f == "netVatDue" && n.scale > 2:
			errs = append(errs, vatFieldErr("INVALID_MONETARY_AMOUNT", msgMoneyNet, f))
		case slices.Contains(vatBoxesWhole, f) && !n.rat.IsInt():
			errs = append(errs, vatFieldErr("INVALID_MONETARY_AMOUNT", msgMoneyWhole, f))
		}
	}
	if v, ok := body["periodKey"]; ok {
		if _, isString := v.(string); !isString {
			errs = append(errs, vatErrStringValue)
		}
	}
	for _, f := range vatMoney {
		if v, ok := body[f]; ok {
			if _, isNumber := v.(json.Number); !isNumber {
				errs = append(errs, vatFieldErr("INVALID_NUMERIC_VALUE", "please provide a numeric field", f))
			}
		}
	}
	if v, ok := body["finalised"]; ok {
		if _, isBool := v.(bool); !isBool {
			errs = append(errs, vatErrBoolean)
		}
	}
	if pk, ok := body["periodKey"].(string); ok && !periodKeyRE.MatchString(pk) {
		errs = append(errs, vatErrBodyPeriod)
	}
	for _, f := range vatMoney {
		n, ok := nums[f]
		switch {
		case !ok:
		case slices.Contains(vatBoxes13, f) && outside(n.rat, new(big.Rat).Neg(max13), max13):
			errs = append(errs, vatFieldErr("INVALID_MONETARY_AMOUNT", msgMoney13, f))
		case f == "netVatDue" && outside(n.rat, new(big.Rat), maxNet):
			errs = append(errs, vatFieldErr("INVALID_MONETARY_AMOUNT", msgMoneyNet, f))
		case slices.Contains(vatBoxesWhole, f) && outside(n.rat, new(big.Rat).Neg(maxWhole), maxWhole):
			errs = append(errs, vatFieldErr("INVALID_MONETARY_AMOUNT", msgMoneyWhole, f))
		}
	}
	return errs, nums
}

// returnArithmeticErrors: box 5 = |box 3 − box 4|, box 3 = box 1 + box 2.
func returnArithmeticErrors(n map[string]decimal) []vatErr {
	var errs []vatErr
	diff := new(big.Rat).Sub(n["totalVatDue"].rat, n["vatReclaimedCurrPeriod"].rat)
	if diff.Abs(diff).Cmp(n["netVatDue"].rat) != 0 {
		errs = append(errs, vatErrNet)
	}
	if new(big.Rat).Add(n["vatDueSales"].rat, n["vatDueAcquisitions"].rat).Cmp(n["totalVatDue"].rat) != 0 {
		errs = append(errs, vatErrTotal)
	}
	return errs
}

// vatReturnView is a return as View VAT Return shows it: the nine boxes as
// they were sent, without finalised.
type vatReturnView struct {
	PeriodKey                    string      `json:"periodKey"`
	VatDueSales                  json.Number `json:"vatDueSales"`
	VatDueAcquisitions           json.Number `json:"vatDueAcquisitions"`
	TotalVatDue                  json.Number `json:"totalVatDue"`
	VatReclaimedCurrPeriod       json.Number `json:"vatReclaimedCurrPeriod"`
	NetVatDue                    json.Number `json:"netVatDue"`
	TotalValueSalesExVAT         json.Number `json:"totalValueSalesExVAT"`
	TotalValuePurchasesExVAT     json.Number `json:"totalValuePurchasesExVAT"`
	TotalValueGoodsSuppliedExVAT json.Number `json:"totalValueGoodsSuppliedExVAT"`
	TotalAcquisitionsExVAT       json.Number `json:"totalAcquisitionsExVAT"`
}

func viewOf(body map[string]any) vatReturnView {
	n := func(f string) json.Number { return body[f].(json.Number) }
	return vatReturnView{
		PeriodKey: body["periodKey"].(string), VatDueSales: n("vatDueSales"), VatDueAcquisitions: n("vatDueAcquisitions"),
		TotalVatDue: n("totalVatDue"), VatReclaimedCurrPeriod: n("vatReclaimedCurrPeriod"), NetVatDue: n("netVatDue"),
		TotalValueSalesExVAT: n("totalValueSalesExVAT"), TotalValuePurchasesExVAT: n("totalValuePurchasesExVAT"),
		TotalValueGoodsSuppliedExVAT: n("totalValueGoodsSuppliedExVAT"), TotalAcquisitionsExVAT: n("totalAcquisitionsExVAT"),
	}
}

// vatReceipt is the 201 body (MTDFB-API56 Submit 9-Box VAT Return).
type vatReceipt struct {
	ProcessingDate   string `json:"processingDate"`
	PaymentIndicator string `json:"paymentIndicator,omitempty"`
	FormBundleNumber string `json:"formBundleNumber"`
	ChargeRefNumber  string `json:"chargeRefNumber,omitempty"`
}

func (st *vatState) submitReturn(w http.ResponseWriter, r *http.Request) {
	_, vrn, ok := st.vatUser(w, r, "write:vat")
	if !ok {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	body, isJSON := decodeReturn(raw)
	if err != nil || !isJSON {
		writeVATErrors(w, http.StatusBadRequest, vatErrInvalidJSON)
		return
	}
	errs, nums := returnFieldErrors(body)
	if len(errs) > 0 {
		writeVATErrors(w, http.StatusBadRequest, errs...)
		return
	}
	if errs := returnArithmeticErrors(nums); len(errs) > 0 {
		writeVATErrors(w, http.StatusBadRequest, errs...)
		return
	}
	if !body["finalised"].(bool) {
		writeVATErrors(w, http.StatusForbidden, vatErrNotFinalised)
		return
	}
	sc, ok := vatScenario(w, r, knownOf("INVALID_VRN", "INVALID_PERIODKEY", "INVALID_PAYLOAD", "DUPLICATE_SUBMISSION", "TAX_PERIOD_NOT_ENDED", "INSOLVENT_TRADER"))
	if !ok {
		return
	}
	switch sc {
	case "INVALID_VRN":
		writeVATErrors(w, http.StatusBadRequest, vatErrVRN)
		return
	case "INVALID_PERIODKEY":
		writeVATErrors(w, http.StatusBadRequest, vatErrPeriodKey)
		return
	case "INVALID_PAYLOAD":
		writeVATErrors(w, http.StatusBadRequest, vatErrInvalidJSON)
		return
	case "DUPLICATE_SUBMISSION":
		writeVATErrors(w, http.StatusForbidden, vatErrDuplicate)
		return
	case "TAX_PERIOD_NOT_ENDED":
		writeVATErrors(w, http.StatusForbidden, vatErrNotEnded)
		return
	case "INSOLVENT_TRADER":
		writeVATErrors(w, http.StatusForbidden, vatErrInsolvent)
		return
	}
	view := viewOf(body)
	now := st.s.now()
	// A return may be made once the period has ended: from the day after
	// its last day. The sandbox stores whatever is sent ("There is no
	// requirement to use the periodKeys in the obligation response").
	if p, ok := periodOfKey(view.PeriodKey); ok && !st.s.sandbox() && !dateOf(now).After(p.end) {
		writeVATErrors(w, http.StatusForbidden, vatErrNotEnded)
		return
	}
	key := vatKey{vrn, view.PeriodKey}
	st.mu.Lock()
	if st.returns[key] != nil {
		st.mu.Unlock()
		writeVATErrors(w, http.StatusForbidden, vatErrDuplicate)
		return
	}
	st.returns[key] = &storedReturn{view: view, received: now}
	st.mu.Unlock()

	receipt := vatReceipt{ProcessingDate: now.UTC().Format("2006-01-02T15:04:05.000Z"), FormBundleNumber: digits(12)}
	// Box 3 above box 4 is a debit, below it a repayment (the OAS: DD when
	// the client pays by Direct Debit, BANK when HMRC holds bank details
	// for a credit; the simulator assumes both).
	switch nums["totalVatDue"].rat.Cmp(nums["vatReclaimedCurrPeriod"].rat) {
	case 1:
		receipt.PaymentIndicator, receipt.ChargeRefNumber = "DD", mixedAlnum(16)
	case -1:
		receipt.PaymentIndicator = "BANK"
	}
	st.s.log.Info("hmrcsim: VAT return received", "vrn", vrn, "period_key", view.PeriodKey, "form_bundle", receipt.FormBundleNumber)
	w.Header().Set("Receipt-ID", newCorrelationID())
	w.Header().Set("Receipt-Timestamp", now.UTC().Format("2006-01-02T15:04:05Z"))
	w.Header().Set("Receipt-Signature", "This has been deprecated - DO NOT USE")
	writeJSON(w, http.StatusCreated, receipt)
}

func mixedAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[mrand.IntN(len(alphabet))]
	}
	return string(b)
}

// ---- View VAT return ----

func (st *vatState) viewReturn(w http.ResponseWriter, r *http.Request) {
	_, vrn, ok := st.vatUser(w, r, "read:vat")
	if !ok {
		return
	}
	key := r.PathValue("periodKey")
	if !periodKeyRE.MatchString(key) {
		writeVATErrors(w, http.StatusBadRequest, vatErrViewPeriodKey)
		return
	}
	sc, ok := vatScenario(w, r, knownOf("DATE_RANGE_TOO_LARGE", "INSOLVENT_TRADER"))
	if !ok {
		return
	}
	p, ours := periodOfKey(key)
	switch {
	case sc == "DATE_RANGE_TOO_LARGE" || (ours && p.end.Before(st.s.now().AddDate(-4, 0, 0))):
		writeVATErrors(w, http.StatusForbidden, vatErrTooOld)
		return
	case sc == "INSOLVENT_TRADER":
		writeVATErrors(w, http.StatusForbidden, vatErrInsolvent)
		return
	}
	st.mu.Lock()
	ret := st.returns[vatKey{vrn, key}]
	st.mu.Unlock()
	if ret == nil {
		// The service answers NOT_FOUND with no body at all
		// (ViewReturnService: EmptyNotFoundError; ViewReturnController:
		// NotFound), although its OAS shows a NOT_FOUND body.
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, ret.view)
}
