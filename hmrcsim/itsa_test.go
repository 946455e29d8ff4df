package hmrcsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const (
	itsaNINO   = "AA123456A" // newEnv's test user
	otherNINO  = "TC663795B" // valid, but someone else's
	taxYear    = "2026-27"
	acceptBD   = "application/vnd.hmrc.2.0+json"
	acceptOBL  = "application/vnd.hmrc.3.0+json"
	acceptProp = "application/vnd.hmrc.6.0+json"
)

type itsaResp struct {
	status int
	body   map[string]any
	header http.Header
}

// itsa makes one ITSA call with an explicit Accept header and optional
// Gov-Test-Scenario and JSON body.
func (e *env) itsa(method, path, token, accept, scenario, body string) itsaResp {
	e.t.Helper()
	return e.itsaWith(method, path, token, accept, scenario, body, nil)
}

// itsaWith is itsa with extra request headers (fraud prevention headers).
func (e *env) itsaWith(method, path, token, accept, scenario, body string, extra http.Header) itsaResp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	for k, v := range extra {
		req.Header[k] = v
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+token)
	if scenario != "" {
		req.Header.Set("Gov-Test-Scenario", scenario)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			e.t.Fatalf("%s %s: %d non-JSON body %q", method, path, resp.StatusCode, raw)
		}
	}
	if got := resp.Header.Get("X-CorrelationId"); len(got) != 36 {
		e.t.Errorf("%s %s: X-CorrelationId %q", method, path, got)
	}
	return itsaResp{resp.StatusCode, m, resp.Header}
}

func (e *env) businessID(token string) string {
	e.t.Helper()
	r := e.itsa("GET", "/individuals/business/details/"+itsaNINO+"/list", token, acceptBD, "", "")
	if r.status != http.StatusOK {
		e.t.Fatalf("list: %d %v", r.status, r.body)
	}
	for _, b := range r.body["listOfBusinesses"].([]any) {
		if m := b.(map[string]any); m["typeOfBusiness"] == "uk-property" {
			return m["businessId"].(string)
		}
	}
	e.t.Fatalf("no uk-property business: %v", r.body)
	return ""
}

func cumulativePath(nino, bid, ty string) string {
	return "/individuals/business/property/uk/" + nino + "/" + bid + "/cumulative/" + ty
}

func obligationsPath(query string) string {
	return "/obligations/details/" + itsaNINO + "/income-and-expenditure" + query
}

func wantError(t *testing.T, r itsaResp, status int, code string) {
	t.Helper()
	if r.status != status || r.body["code"] != code {
		t.Fatalf("want %d %s, got %d %v", status, code, r.status, r.body)
	}
}

func details(t *testing.T, r itsaResp) []map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("obligations: %d %v", r.status, r.body)
	}
	obs := r.body["obligations"].([]any)
	if len(obs) != 1 {
		t.Fatalf("obligations: %v", r.body)
	}
	var out []map[string]any
	for _, d := range obs[0].(map[string]any)["obligationDetails"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

// atQ1End is an env whose clock is at the end of 2026-27's first period,
// with a connected user holding read and write scopes.
func atQ1End(t *testing.T) (*env, string, string) {
	e := newEnv(t, hmrcsim.Options{FulfilmentDelay: -1}) // fulfilled at once: TestFulfilmentDelay has the delay
	e.clock.Advance(90 * 24 * time.Hour)                 // 2026-04-06 -> 2026-07-05
	tok := e.connect().AccessToken
	return e, tok, e.businessID(tok)
}

const q1Body = `{"fromDate":"2026-04-06","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":3000.5,"rentARoom":{"rentsReceived":10}},"expenses":{"premisesRunningCosts":-12.25,"residentialFinancialCost":100}}}`

func TestITSABusinessList(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	r := e.itsa("GET", "/individuals/business/details/"+itsaNINO+"/list", tok, acceptBD, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("%d %v", r.status, r.body)
	}
	list := r.body["listOfBusinesses"].([]any)
	if len(list) != 1 {
		t.Fatalf("want one business, got %v", list)
	}
	b := list[0].(map[string]any)
	if b["typeOfBusiness"] != "uk-property" || !regexp.MustCompile(`^XPIS[0-9]{11}$`).MatchString(b["businessId"].(string)) {
		t.Fatalf("business %v", b)
	}
	if again := e.businessID(tok); again != b["businessId"] {
		t.Errorf("businessId not stable: %v then %v", b["businessId"], again)
	}
	// The suffix letter is optional in the path.
	if r := e.itsa("GET", "/individuals/business/details/AA123456/list", tok, acceptBD, "", ""); r.status != http.StatusOK {
		t.Errorf("NINO without suffix: %d %v", r.status, r.body)
	}
}

func TestITSAObligationFulfilledByCumulativeUpdate(t *testing.T) {
	e, tok, bid := atQ1End(t)
	ds := details(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "", ""))
	wantEnds := []string{"2026-07-05", "2026-10-05", "2027-01-05", "2027-04-05"}
	wantDue := []string{"2026-08-07", "2026-11-07", "2027-02-07", "2027-05-07"}
	if len(ds) != 4 {
		t.Fatalf("details %v", ds)
	}
	for i, d := range ds {
		if d["periodStartDate"] != "2026-04-06" || d["periodEndDate"] != wantEnds[i] || d["dueDate"] != wantDue[i] || d["status"] != "open" || d["receivedDate"] != nil {
			t.Errorf("detail %d: %v", i, d)
		}
	}

	if r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "", q1Body); r.status != http.StatusNoContent {
		t.Fatalf("PUT: %d %v", r.status, r.body)
	}
	ds = details(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "", ""))
	if ds[0]["status"] != "fulfilled" || ds[0]["receivedDate"] != "2026-07-05" {
		t.Errorf("first obligation not fulfilled: %v", ds[0])
	}
	for _, d := range ds[1:] {
		if d["status"] != "open" {
			t.Errorf("later obligation fulfilled: %v", d)
		}
	}
	if ds := details(t, e.itsa("GET", obligationsPath("?status=open"), tok, acceptOBL, "", "")); len(ds) != 3 {
		t.Errorf("status=open: %v", ds)
	}
	if ds := details(t, e.itsa("GET", obligationsPath("?status=fulfilled&typeOfBusiness=uk-property&businessId="+bid), tok, acceptOBL, "", "")); len(ds) != 1 || ds[0]["periodEndDate"] != "2026-07-05" {
		t.Errorf("status=fulfilled: %v", ds)
	}
	if ds := details(t, e.itsa("GET", obligationsPath("?fromDate=2026-08-01&toDate=2026-12-31"), tok, acceptOBL, "", "")); len(ds) != 1 || ds[0]["periodEndDate"] != "2026-10-05" {
		t.Errorf("date filter: %v", ds)
	}
	wantError(t, e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property&businessId=XPIS00000000000"), tok, acceptOBL, "", ""), http.StatusNotFound, "NO_OBLIGATIONS_FOUND")
}

func TestITSACumulativeRoundTripAndAmend(t *testing.T) {
	e, tok, bid := atQ1End(t)
	path := cumulativePath(itsaNINO, bid, taxYear)
	wantError(t, e.itsa("GET", path, tok, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")

	if r := e.itsa("PUT", path, tok, acceptProp, "", q1Body); r.status != http.StatusNoContent {
		t.Fatalf("PUT: %d %v", r.status, r.body)
	}
	r := e.itsa("GET", path, tok, acceptProp, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %v", r.status, r.body)
	}
	var want map[string]any
	_ = json.Unmarshal([]byte(q1Body), &want)
	want["submittedOn"] = "2026-07-05T09:00:00.000Z"
	if !reflect.DeepEqual(r.body, want) {
		t.Errorf("GET body\n got %v\nwant %v", r.body, want)
	}

	e.clock.Advance(time.Hour)
	// A quarterly landlord's update needs its dates
	// (RULE_MISSING_SUBMISSION_DATES); it is refused and changes nothing.
	dateless := `{"ukProperty":{"income":{"periodAmount":3100}}}`
	wantError(t, e.itsa("PUT", path, tok, acceptProp, "", dateless), http.StatusBadRequest, "RULE_MISSING_SUBMISSION_DATES")
	amended := `{"fromDate":"2026-04-06","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":3100},"expenses":{"consolidatedExpenses":50.01,"residentialFinancialCost":1}}}`
	if r := e.itsa("PUT", path, tok, acceptProp, "", amended); r.status != http.StatusNoContent {
		t.Fatalf("amend: %d %v", r.status, r.body)
	}
	r = e.itsa("GET", path, tok, acceptProp, "", "")
	_ = json.Unmarshal([]byte(amended), &want)
	want["submittedOn"] = "2026-07-05T10:00:00.000Z"
	if r.status != http.StatusOK || !reflect.DeepEqual(r.body, want) {
		t.Errorf("GET after amend: %d\n got %v\nwant %v", r.status, r.body, want)
	}
	// The first received date is kept.
	ds := details(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "", ""))
	if ds[0]["status"] != "fulfilled" || ds[0]["receivedDate"] != "2026-07-05" || ds[1]["status"] != "open" {
		t.Errorf("obligations after amend: %v", ds)
	}
	// Another business or tax year has nothing stored.
	wantError(t, e.itsa("GET", cumulativePath(itsaNINO, bid, "2025-26"), tok, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("PUT", cumulativePath(itsaNINO, "XPIS00000000000", taxYear), tok, acceptProp, "", q1Body), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
}

func TestITSACumulativeValidation(t *testing.T) {
	e, tok, bid := atQ1End(t)
	type sub struct {
		code  string
		paths []string
	}
	cases := []struct {
		name, nino, bid, ty, body string
		status                    int
		code                      string
		paths                     []string
		errors                    []sub // for INVALID_REQUEST
	}{
		{name: "bad nino", nino: "AA12345", body: q1Body, status: 400, code: "FORMAT_NINO"},
		{name: "rejected nino prefix", nino: "GB123456A", body: q1Body, status: 400, code: "FORMAT_NINO"},
		{name: "tax year format", ty: "2026-2027", body: q1Body, status: 400, code: "FORMAT_TAX_YEAR"},
		{name: "tax year range", ty: "2026-28", body: q1Body, status: 400, code: "RULE_TAX_YEAR_RANGE_INVALID"},
		{name: "tax year not supported", ty: "2024-25", body: q1Body, status: 400, code: "RULE_TAX_YEAR_NOT_SUPPORTED"},
		{name: "business id", bid: "XPIS1234", body: q1Body, status: 400, code: "FORMAT_BUSINESS_ID"},
		// Play's parse.json: no JSON content type is 415, a body that is
		// not JSON 400 INVALID_REQUEST, before anything else.
		{name: "no body", body: "", status: 415, code: "INVALID_BODY_TYPE"},
		{name: "empty object", body: "{}", status: 400, code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"},
		{name: "broken json", body: `{"ukProperty":`, status: 400, code: "INVALID_REQUEST"},
		{name: "broken json and bad tax year", ty: "2026-28", body: `{"ukProperty":`, status: 400, code: "INVALID_REQUEST"},
		{name: "not an object", body: `[1]`, status: 400, code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"},
		{name: "no ukProperty", body: `{"fromDate":"2026-04-06","toDate":"2026-07-05"}`, status: 400, code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", paths: []string{"/ukProperty"}},
		{name: "string amount", body: `{"ukProperty":{"income":{"periodAmount":"12"}}}`, status: 400, code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", paths: []string{"/ukProperty/income/periodAmount"}},
		{name: "three decimals", body: `{"ukProperty":{"income":{"periodAmount":1.005}}}`, status: 400, code: "FORMAT_VALUE", paths: []string{"/ukProperty/income/periodAmount"}},
		// ResolveParsedNumber: BigDecimal scale at most 2, so a trailing
		// zero counts; an exponent that leaves 2 decimals is fine.
		{name: "three decimals trailing zero", body: `{"fromDate":"2026-04-06","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":1.500}}}`, status: 400, code: "FORMAT_VALUE", paths: []string{"/ukProperty/income/periodAmount"}},
		{name: "exponent", body: `{"fromDate":"2026-04-06","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":1.5e1}}}`, status: 204},
		{name: "negative income", body: `{"ukProperty":{"income":{"periodAmount":-1}}}`, status: 400, code: "FORMAT_VALUE", paths: []string{"/ukProperty/income/periodAmount"}},
		{name: "too large", body: `{"ukProperty":{"expenses":{"repairsAndMaintenance":100000000000}}}`, status: 400, code: "FORMAT_VALUE", paths: []string{"/ukProperty/expenses/repairsAndMaintenance"}},
		{name: "same code merged", body: `{"ukProperty":{"income":{"periodAmount":-1,"otherIncome":0.001,"rentARoom":{"rentsReceived":-2}}}}`, status: 400, code: "FORMAT_VALUE",
			paths: []string{"/ukProperty/income/periodAmount", "/ukProperty/income/otherIncome", "/ukProperty/income/rentARoom/rentsReceived"}},
		{name: "both expenses", body: `{"ukProperty":{"expenses":{"consolidatedExpenses":1,"travelCosts":2}}}`, status: 400, code: "RULE_BOTH_EXPENSES_SUPPLIED", paths: []string{"/ukProperty/expenses"}},
		{name: "from date format", body: `{"fromDate":"2026-4-6","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":1}}}`, status: 400, code: "FORMAT_FROM_DATE"},
		{name: "to date format", body: `{"fromDate":"2026-04-06","toDate":"2026-07-32","ukProperty":{"income":{"periodAmount":1}}}`, status: 400, code: "FORMAT_TO_DATE"},
		{name: "to before from", body: `{"fromDate":"2026-04-06","toDate":"2026-04-05","ukProperty":{"income":{"periodAmount":1}}}`, status: 400, code: "RULE_TO_DATE_BEFORE_FROM_DATE"},
		{name: "from date before 1900", body: `{"fromDate":"1899-12-31","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":1}}}`, status: 400, code: "FORMAT_FROM_DATE"},
		{name: "only from date", body: `{"fromDate":"2026-04-06","ukProperty":{"income":{"periodAmount":1}}}`, status: 400, code: "RULE_MISSING_SUBMISSION_DATES"},
		{name: "only a bad to date", body: `{"toDate":"2026-7-5","ukProperty":{"income":{"periodAmount":1}}}`, status: 400, code: "INVALID_REQUEST",
			errors: []sub{{"FORMAT_TO_DATE", nil}, {"RULE_MISSING_SUBMISSION_DATES", nil}}},
		{name: "early submission", body: `{"fromDate":"2026-04-06","toDate":"2026-10-05","ukProperty":{"income":{"periodAmount":1}}}`, status: 400, code: "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED"},
		// A bad tax year is the only error reported (schemaFor).
		{name: "bad tax year hides the rest", ty: "2026-28", bid: "bad", body: "{}", status: 400, code: "RULE_TAX_YEAR_RANGE_INVALID"},
		{name: "several errors", bid: "bad", body: "{}", status: 400, code: "INVALID_REQUEST",
			errors: []sub{{"FORMAT_BUSINESS_ID", nil}, {"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", nil}}},
		// Sorted by code; the two FORMAT_VALUE ranges are two errors.
		{name: "several body errors", body: `{"fromDate":"x","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":-1},"expenses":{"consolidatedExpenses":1,"other":0.001}}}`, status: 400, code: "INVALID_REQUEST",
			errors: []sub{{"FORMAT_FROM_DATE", nil}, {"FORMAT_VALUE", []string{"/ukProperty/expenses/other"}}, {"FORMAT_VALUE", []string{"/ukProperty/income/periodAmount"}}, {"RULE_BOTH_EXPENSES_SUPPLIED", []string{"/ukProperty/expenses"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nino, b, ty := cmpOr(c.nino, itsaNINO), cmpOr(c.bid, bid), cmpOr(c.ty, taxYear)
			r := e.itsa("PUT", cumulativePath(nino, b, ty), tok, acceptProp, "", c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %v", r.status, c.status, r.body)
			}
			if c.status == 204 {
				return
			}
			if r.body["code"] != c.code {
				t.Fatalf("code %v, want %s: %v", r.body["code"], c.code, r.body)
			}
			if got := strs(r.body["paths"]); !slices.Equal(got, c.paths) {
				t.Errorf("paths %v, want %v", got, c.paths)
			}
			if c.errors == nil {
				if r.body["errors"] != nil {
					t.Errorf("unexpected errors: %v", r.body)
				}
				return
			}
			if r.body["message"] != "Invalid request" {
				t.Errorf("message %v", r.body["message"])
			}
			var got []sub
			for _, x := range r.body["errors"].([]any) {
				m := x.(map[string]any)
				got = append(got, sub{m["code"].(string), strs(m["paths"])})
			}
			if !reflect.DeepEqual(got, c.errors) {
				t.Errorf("errors\n got %v\nwant %v", got, c.errors)
			}
		})
	}
	// The GET shares the path checks.
	wantError(t, e.itsa("GET", cumulativePath(itsaNINO, bid, "2020-21"), tok, acceptProp, "", ""), 400, "RULE_TAX_YEAR_NOT_SUPPORTED")
	wantError(t, e.itsa("GET", cumulativePath("XX", bid, taxYear), tok, acceptProp, "", ""), 400, "FORMAT_NINO")
}

func TestITSAObligationsValidation(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	cases := []struct{ query, code string }{
		{"?typeOfBusiness=property", "FORMAT_TYPE_OF_BUSINESS"},
		{"?typeOfBusiness=uk-property&businessId=XPIS123", "FORMAT_BUSINESS_ID"},
		{"?businessId=XPIS12345678901", "MISSING_TYPE_OF_BUSINESS"},
		{"?status=closed", "FORMAT_STATUS"},
		{"?fromDate=2026-13-01&toDate=2026-12-01", "FORMAT_FROM_DATE"},
		{"?fromDate=2026-01-01&toDate=20261201", "FORMAT_TO_DATE"},
		{"?fromDate=2026-01-01", "MISSING_TO_DATE"},
		{"?toDate=2026-01-01", "MISSING_FROM_DATE"},
		{"?fromDate=2026-05-01&toDate=2026-04-30", "RANGE_TO_DATE_BEFORE_FROM_DATE"},
		{"?fromDate=2026-04-06&toDate=2027-04-08", "RULE_DATE_RANGE_INVALID"},
		{"?status=closed&typeOfBusiness=x", "INVALID_REQUEST"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			wantError(t, e.itsa("GET", obligationsPath(c.query), tok, acceptOBL, "", ""), http.StatusBadRequest, c.code)
		})
	}
	if ds := details(t, e.itsa("GET", obligationsPath("?fromDate=2026-04-06&toDate=2027-04-06"), tok, acceptOBL, "", "")); len(ds) != 4 {
		t.Errorf("366-day range: %v", ds)
	}
	wantError(t, e.itsa("GET", "/obligations/details/AA1234/income-and-expenditure", tok, acceptOBL, "", ""), 400, "FORMAT_NINO")
}

func TestITSAOtherUsersNINO(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	for _, c := range []struct{ method, path, accept, body string }{
		{"GET", "/individuals/business/details/" + otherNINO + "/list", acceptBD, ""},
		{"GET", "/obligations/details/" + otherNINO + "/income-and-expenditure", acceptOBL, ""},
		{"PUT", cumulativePath(otherNINO, bid, taxYear), acceptProp, q1Body},
		{"GET", cumulativePath(otherNINO, bid, taxYear), acceptProp, ""},
	} {
		wantError(t, e.itsa(c.method, c.path, tok, c.accept, "", c.body), http.StatusForbidden, "CLIENT_OR_AGENT_NOT_AUTHORISED")
	}
}

func TestITSAGovTestScenario(t *testing.T) {
	e, tok, bid := atQ1End(t)
	list := "/individuals/business/details/" + itsaNINO + "/list"
	cum := cumulativePath(itsaNINO, bid, taxYear)
	cases := []struct {
		name, method, path, accept, scenario, body string
		status                                     int
		code                                       string
	}{
		{"list unknown", "GET", list, acceptBD, "NO_SUCH_SCENARIO", "", 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
		{"list not found", "GET", list, acceptBD, "NOT_FOUND", "", 404, "MATCHING_RESOURCE_NOT_FOUND"},
		{"list stateful", "GET", list, acceptBD, "STATEFUL", "", 200, ""},
		{"obligations none", "GET", obligationsPath(""), acceptOBL, "NO_OBLIGATIONS_FOUND", "", 404, "NO_OBLIGATIONS_FOUND"},
		{"obligations unknown", "GET", obligationsPath(""), acceptOBL, "PROPERTY", "", 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
		{"put early data", "PUT", cum, acceptProp, "EARLY_DATA_SUBMISSION_NOT_ACCEPTED", q1Body, 400, "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED"},
		{"put unknown", "PUT", cum, acceptProp, "NO_OBLIGATIONS_FOUND", q1Body, 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
		{"get not found", "GET", cum, acceptProp, "NOT_FOUND", "", 404, "MATCHING_RESOURCE_NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.itsa(c.method, c.path, tok, c.accept, c.scenario, c.body)
			if r.status != c.status || (c.code != "" && r.body["code"] != c.code) {
				t.Fatalf("got %d %v, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	// A rejected scenario stores nothing.
	wantError(t, e.itsa("GET", cum, tok, acceptProp, "", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
}

func TestITSAAcceptAndScope(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	e.conf.Scopes = []string{"read:self-assessment"}
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/individuals/business/details/" + itsaNINO + "/list", ""},
		{"GET", obligationsPath(""), ""},
		{"PUT", cumulativePath(itsaNINO, bid, taxYear), q1Body},
		{"GET", cumulativePath(itsaNINO, bid, taxYear), ""},
	} {
		wantError(t, e.itsa(c.method, c.path, tok, "application/vnd.hmrc.1.0+json", "", c.body), http.StatusNotAcceptable, "ACCEPT_HEADER_INVALID")
	}
	wantError(t, e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "", q1Body), http.StatusForbidden, "INVALID_SCOPE")
	wantError(t, e.itsa("GET", obligationsPath(""), "not-a-token", acceptOBL, "", ""), http.StatusUnauthorized, "INVALID_CREDENTIALS")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func strs(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, x.(string))
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// A token for another purpose (VAT) is refused by every ITSA route, as
// HMRC's gateway does for insufficient scope: 403 INVALID_SCOPE.
func TestITSAVATTokenRefused(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	itsaTok := e.connect().AccessToken
	bid := e.businessID(itsaTok)
	e.conf.Scopes = []string{"read:vat", "write:vat"}
	vat := e.connect().AccessToken
	for _, c := range itsaRoutes(bid) {
		wantError(t, e.itsa(c.method, c.path, vat, c.accept, "", c.body), http.StatusForbidden, "INVALID_SCOPE")
	}
	// The refused PUT stored nothing.
	wantError(t, e.itsa("GET", cumulativePath(itsaNINO, bid, taxYear), itsaTok, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
}

type itsaRoute struct{ api, method, path, accept, body string }

func itsaRoutes(bid string) []itsaRoute {
	return []itsaRoute{
		{"business-details-mtd", "GET", "/individuals/business/details/" + itsaNINO + "/list", acceptBD, ""},
		{"obligations-mtd", "GET", obligationsPath(""), acceptOBL, ""},
		{"property-business-mtd", "PUT", cumulativePath(itsaNINO, bid, taxYear), acceptProp, q1Body},
		{"property-business-mtd", "GET", cumulativePath(itsaNINO, bid, taxYear), acceptProp, ""},
	}
}

// Every ITSA route records the verdict on its fraud prevention headers under
// its API's name, whatever the outcome of the call, for LastFraudResult and
// the validation feedback route.
func TestITSARecordsFraudHeaders(t *testing.T) {
	e, tok, bid := atQ1End(t)
	app := e.appToken()
	for _, c := range itsaRoutes(bid) {
		t.Run(c.method+" "+c.api, func(t *testing.T) {
			r := e.itsaWith(c.method, c.path, tok, c.accept, "", c.body, batchHeaders())
			if r.status >= 300 && !(c.method == "GET" && r.status == http.StatusNotFound) {
				t.Fatalf("%d %v", r.status, r.body)
			}
			if res, ok := e.sim.LastFraudResult(c.api); !ok || res.Code != hmrcsim.FraudValid {
				t.Fatalf("after complete headers: %v %+v", ok, res)
			}
			status, body := e.api("GET", "/test/fraud-prevention-headers/"+c.api+"/validation-feedback?connectionMethod=BATCH_PROCESS_DIRECT", app)
			if status != http.StatusOK || !feedbackHas(body, c.method, strings.SplitN(c.path, "?", 2)[0], hmrcsim.FraudValid) {
				t.Fatalf("feedback: %d %v", status, body)
			}

			// A bad call is recorded too: here one with a header missing
			// and the wrong Accept.
			bad := batchHeaders()
			bad.Del("Gov-Client-MAC-Addresses")
			wantError(t, e.itsaWith(c.method, c.path, tok, "application/json", "", c.body, bad), http.StatusNotAcceptable, "ACCEPT_HEADER_INVALID")
			res, ok := e.sim.LastFraudResult(c.api)
			if !ok || res.Code != hmrcsim.FraudInvalid || !issueFor(res.Errors, hmrcsim.IssueMissing, "gov-client-mac-addresses") {
				t.Fatalf("after a missing header: %v %+v", ok, res)
			}
			// No header at all.
			e.itsa(c.method, c.path, tok, c.accept, "", c.body)
			if res, _ := e.sim.LastFraudResult(c.api); res.Code != hmrcsim.FraudInvalid || !strings.HasPrefix(res.Message, "No fraud prevention headers") {
				t.Fatalf("after no headers: %+v", res)
			}
		})
	}
}

func feedbackHas(body map[string]any, method, path, code string) bool {
	for _, r := range asSlice(body["requests"]) {
		m, _ := r.(map[string]any)
		if m["method"] == method && m["path"] == path && m["code"] == code {
			return true
		}
	}
	return false
}
