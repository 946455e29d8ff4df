package hmrcsim_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// HMRC's validators and messages, the same in both modes.

// Obligations: RetrievePeriodicObligationsValidatorFactory's stages and
// ObligationsDateRangeSupport's rules.
func TestObligationsQueryRules(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	tests := []struct {
		query  string
		code   string   // "" for 200
		errors []string // for INVALID_REQUEST
	}{
		{"?fromDate=2026-04-06&toDate=2027-04-05", "", nil},
		{"?fromDate=2026-04-06&toDate=2027-04-06", "", nil},                        // 365 days later: < from + 366
		{"?fromDate=2027-04-05&toDate=2028-04-05", "RULE_DATE_RANGE_INVALID", nil}, // 366 days (2028 is a leap year)
		{"?fromDate=2026-04-06&toDate=2026-04-06", "RULE_DATE_RANGE_INVALID", nil}, // to == from
		{"?fromDate=2018-04-05&toDate=2018-07-05", "RULE_FROM_DATE_NOT_SUPPORTED", nil},
		{"?fromDate=2018-04-06&toDate=2018-07-05", "NO_OBLIGATIONS_FOUND", nil},
		{"?fromDate=2099-06-01&toDate=2100-01-01", "FORMAT_TO_DATE", nil},
		// Rules together: to before from and too early.
		{"?fromDate=2018-04-01&toDate=2018-03-01", "INVALID_REQUEST", []string{"RANGE_TO_DATE_BEFORE_FROM_DATE", "RULE_FROM_DATE_NOT_SUPPORTED"}},
		// The format stage stops the rules: a bad businessId is not also
		// "missing its type", a bad status hides the date rules.
		{"?businessId=XPIS123", "FORMAT_BUSINESS_ID", nil},
		{"?businessId=xpis12345678901&typeOfBusiness=uk-property", "FORMAT_BUSINESS_ID", nil}, // the service's pattern is upper case
		{"?status=closed&fromDate=2026-04-06&toDate=2026-04-06", "FORMAT_STATUS", nil},
		{"?typeOfBusiness=x&status=y&fromDate=z&toDate=2026-01-01", "INVALID_REQUEST", []string{"FORMAT_FROM_DATE", "FORMAT_STATUS", "FORMAT_TYPE_OF_BUSINESS"}},
		{"?businessId=XPIS12345678901&fromDate=2026-04-06&toDate=2026-04-06", "MISSING_TYPE_OF_BUSINESS", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.itsa("GET", obligationsPath(tt.query), tok, acceptOBL, "", "")
			if tt.code == "" {
				details(t, r)
				return
			}
			if r.body["code"] != tt.code {
				t.Fatalf("%d %v, want %s", r.status, r.body, tt.code)
			}
			var codes []string
			for _, x := range asSlice(r.body["errors"]) {
				codes = append(codes, x.(map[string]any)["code"].(string))
			}
			if !slices.Equal(codes, tt.errors) {
				t.Errorf("errors %v, want %v", codes, tt.errors)
			}
		})
	}
	// The services' own messages.
	for query, msg := range map[string]string{
		"?fromDate=2018-01-01&toDate=2018-02-01": "The specified from date is not supported as too early",
		"?businessId=X":                          "The provided businessId is invalid",
		"?fromDate=2026-13-01&toDate=2027-01-01": "The provided fromDate is invalid",
		"?businessId=XPIS12345678901":            "The type of business query parameter must be provided when a businessId is supplied",
	} {
		if r := e.itsa("GET", obligationsPath(query), tok, acceptOBL, "", ""); r.body["message"] != msg {
			t.Errorf("%s: message %q, want %q", query, r.body["message"], msg)
		}
	}
}

// The canned Obligations scenarios in the demo: the same fixtures as the
// sandbox, filtered by the service; STATEFUL is not one of them.
func TestObligationsScenariosDemo(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	r := e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property&businessId=XPIS12345678903"), tok, acceptOBL, "OPEN", "")
	if obs := asSlice(r.body["obligations"]); r.status != 200 || len(obs) != 1 || obs[0].(map[string]any)["businessId"] != "XPIS12345678903" {
		t.Errorf("OPEN: %d %v", r.status, r.body)
	}
	wantError(t, e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property&businessId="+e.businessID(tok)), tok, acceptOBL, "OPEN", ""), 404, "NO_OBLIGATIONS_FOUND")
	wantError(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "INSOLVENT_TRADER", ""), 400, "RULE_INSOLVENT_TRADER")
	wantError(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "NOT_FOUND", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "STATEFUL", ""), 400, "RULE_INCORRECT_GOV_TEST_SCENARIO")
}

// List All Businesses in the demo: the landlord's UK property business
// wherever a UK property is listed; BUSINESS_AND_PROPERTY has all three
// kinds (list.yaml: "a self-employment, uk-property and foreign-property
// business"), and a self-employment carries tradingType and tradingName.
func TestBusinessListDemoScenarios(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	own := e.businessID(tok)
	list := "/individuals/business/details/" + itsaNINO + "/list"
	got := listOf(t, e.itsa("GET", list, tok, acceptBD, "BUSINESS_AND_PROPERTY", ""))
	want := []map[string]any{
		{"typeOfBusiness": "self-employment", "businessId": "XBIS12345678901", "tradingType": "Plastering", "tradingName": "RCDTS"},
		{"typeOfBusiness": "uk-property", "businessId": own},
		{"typeOfBusiness": "foreign-property", "businessId": "XFIS12345678901"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BUSINESS_AND_PROPERTY\n got %v\nwant %v", got, want)
	}
	for _, sc := range []string{"PROPERTY", "STATEFUL", ""} {
		if got := listOf(t, e.itsa("GET", list, tok, acceptBD, sc, "")); len(got) != 1 || got[0]["businessId"] != own {
			t.Errorf("%s: %v", sc, got)
		}
	}
	wantError(t, e.itsa("GET", list, tok, acceptBD, "REQUEST_CANNOT_BE_FULFILLED", ""), 422, "RULE_REQUEST_CANNOT_BE_FULFILLED")

	// The Property Business GET of a business that is not a UK property:
	// RULE_TYPE_OF_BUSINESS_INCORRECT, flat.
	for _, bid := range []string{"XBIS12345678901", "XFIS12345678901"} {
		r := e.itsa("GET", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "", "")
		if r.status != 400 || r.body["code"] != "RULE_TYPE_OF_BUSINESS_INCORRECT" || r.body["errors"] != nil {
			t.Errorf("%s: %d %v", bid, r.status, r.body)
		}
	}
}

// The Property Business GET's scenarios, in the demo too.
func TestPropertyBusinessGETScenarios(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	path := cumulativePath(itsaNINO, e.businessID(tok), taxYear)
	for sc, check := range map[string]func(itsaResp) bool{
		"UK_PROPERTY_FULL_EXPENSES": func(r itsaResp) bool {
			return r.status == 200 && r.body["ukProperty"].(map[string]any)["expenses"].(map[string]any)["travelCosts"] == 48.93
		},
		"UK_PROPERTY_CONSOLIDATED": func(r itsaResp) bool {
			return r.status == 200 && r.body["ukProperty"].(map[string]any)["expenses"].(map[string]any)["consolidatedExpenses"] == 998.18
		},
		"FOREIGN_PROPERTY":       func(r itsaResp) bool { return r.status == 400 && r.body["code"] == "RULE_TYPE_OF_BUSINESS_INCORRECT" },
		"TAX_YEAR_NOT_SUPPORTED": func(r itsaResp) bool { return r.status == 400 && r.body["code"] == "RULE_TAX_YEAR_NOT_SUPPORTED" },
		"NOT_FOUND":              func(r itsaResp) bool { return r.status == 404 && r.body["code"] == "MATCHING_RESOURCE_NOT_FOUND" },
		"NO_SUCH":                func(r itsaResp) bool { return r.status == 400 && r.body["code"] == "RULE_INCORRECT_GOV_TEST_SCENARIO" },
	} {
		if r := e.itsa("GET", path, tok, acceptProp, sc, ""); !check(r) {
			t.Errorf("%s: %d %v", sc, r.status, r.body)
		}
	}
}

// Each API's own wording of the common errors.
func TestITSAMessagesPerAPI(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	tests := []struct {
		name, method, path, accept, body, message string
	}{
		{"BD NINO", "GET", "/individuals/business/details/AA1/list", acceptBD, "", "The provided NINO is invalid"},
		{"OBL NINO", "GET", "/obligations/details/AA1/income-and-expenditure", acceptOBL, "", "The provided NINO is invalid"},
		{"PB NINO", "GET", cumulativePath("AA1", bid, taxYear), acceptProp, "", "The NINO format is invalid"},
		{"PB tax year", "GET", cumulativePath(itsaNINO, bid, "2026"), acceptProp, "", "The taxYear format is invalid"},
		{"PB business ID", "GET", cumulativePath(itsaNINO, "X", taxYear), acceptProp, "", "The Business ID format is invalid"},
		{"PB from date", "PUT", cumulativePath(itsaNINO, bid, taxYear), acceptProp, `{"fromDate":"x","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":1}}}`, "The fromDate format is invalid"},
		{"PB both expenses", "PUT", cumulativePath(itsaNINO, bid, taxYear), acceptProp, `{"ukProperty":{"expenses":{"other":1,"consolidatedExpenses":1}}}`, "Both Expenses and Consolidated Expenses must not be present at the same time"},
		{"PB missing dates", "PUT", cumulativePath(itsaNINO, bid, taxYear), acceptProp, `{"toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":1}}}`, "Submission start/end date not provided"},
		{"BD period type business ID", "PUT", periodTypePath(itsaNINO, "X", taxYear), acceptBD, periodType("calendar"), "The provided Business ID is invalid"},
	}
	for _, tt := range tests {
		if r := e.itsa(tt.method, tt.path, tok, tt.accept, "", tt.body); r.body["message"] != tt.message {
			t.Errorf("%s: %d %v, want message %q", tt.name, r.status, r.body, tt.message)
		}
	}
}

// VAT: the newer obligations scenarios, HMRC's messages, and View Return's
// empty 404.
func TestVATScenariosAndMessages(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat", "write:vat")
	obl := "/organisations/vat/" + vatVRN + "/obligations?from=2018-01-01&to=2018-12-31"
	tests := []struct {
		scenario string
		keys     []string
		statuses []string
	}{
		{"MONTHLY_OBS_03_OPEN", []string{"#001", "#002", "#003"}, []string{"F", "F", "O"}},
		{"MONTHLY_OBS_12_FULFILLED", slices.Repeat([]string{""}, 12), slices.Repeat([]string{"F"}, 12)},
		{"QUARTERLY_OBS_02_OPEN", []string{"#001", "#002"}, []string{"F", "O"}},
		{"QUARTERLY_OBS_04_FULFILLED", []string{"#001", "#002", "#003", "#004"}, []string{"F", "F", "F", "F"}},
		{"MULTIPLE_OPEN_QUARTERLY", []string{"#001", "#002", "#003", "#004"}, []string{"F", "F", "O", "O"}},
		{"MULTIPLE_OPEN_MONTHLY", slices.Repeat([]string{""}, 12), append(slices.Repeat([]string{"F"}, 10), "O", "O")},
	}
	for _, tt := range tests {
		r := e.vatCall("GET", obl, tok, "", scenarioHeader(tt.scenario))
		keys, statuses := obligationKeys(r.body)
		if tt.keys[0] != "" && !slices.Equal(keys, tt.keys) || !slices.Equal(statuses, tt.statuses) {
			t.Errorf("%s: %d %v %v", tt.scenario, r.status, keys, statuses)
		}
	}
	r := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/obligations?from=2018-06-01&to=2019-05-31", tok, "", scenarioHeader("OBS_SPANS_MULTIPLE_YEARS"))
	if obs := asSlice(r.body["obligations"]); len(obs) != 1 || obs[0].(map[string]any)["start"] != "2018-11-01" || obs[0].(map[string]any)["end"] != "2019-01-31" {
		t.Errorf("OBS_SPANS_MULTIPLE_YEARS: %v", r.body)
	}
	for _, sc := range []string{"MONTHLY_OBS_13_OPEN", "QUARTERLY_OBS_05_OPEN", "MONTHLY_OBS_00_OPEN", "QUARTERLY_OBS_03_FULFILLED"} {
		r := e.vatCall("GET", obl, tok, "", scenarioHeader(sc))
		if r.status != 400 || r.body["code"] != "RULE_INCORRECT_GOV_TEST_SCENARIO" || r.body["message"] != "The Gov-Test-Scenario was not found" {
			t.Errorf("%s: %d %v", sc, r.status, r.body)
		}
	}
	r = e.vatCall("GET", obl, tok, "", scenarioHeader("NOT_FOUND"))
	if r.status != 404 || r.body["message"] != "The remote endpoint has indicated that no data can be found" {
		t.Errorf("obligations NOT_FOUND: %d %v", r.status, r.body)
	}
	if r := e.vatCall("GET", "/organisations/vat/12345/obligations?status=O", tok, "", nil); r.body["message"] != "The provided VRN is invalid" {
		t.Errorf("VRN message: %v", r.body)
	}
	// A missing return is an empty 404, as HMRC's service answers it, in
	// the demo too.
	if status, raw := e.rawCall("GET", "/organisations/vat/"+vatVRN+"/returns/25A2", e.vatToken("read:vat"), acceptVAT); status != 404 || raw != "" {
		t.Errorf("demo view 404: %d %q", status, raw)
	}
}

// Controls are served same-origin only, and only when Options.Controls
// says so (ControlsDefault is off, in both modes).
func TestControls(t *testing.T) {
	call := func(e *env, method, path, body string, h http.Header) page {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		for k, v := range h {
			req.Header[k] = v
		}
		return e.do(http.DefaultClient, req)
	}
	demo := newEnv(t, hmrcsim.Options{Controls: hmrcsim.ControlsOn})
	if p := call(demo, "GET", "/admin/stats", "", nil); p.status != 200 {
		t.Errorf("demo with ControlsOn: %d %s", p.status, p.body)
	}
	// A page on another site: a simple POST (no preflight) is refused and
	// moves nothing.
	before := call(demo, "GET", "/admin/clock", "", nil).body
	for name, h := range map[string]http.Header{
		"other origin":            {"Origin": {"http://evil.example"}, "Content-Type": {"text/plain"}},
		"other port":              {"Origin": {"http://127.0.0.1:1"}},
		"null origin":             {"Origin": {"null"}},
		"cross-site fetch":        {"Sec-Fetch-Site": {"cross-site"}},
		"same-site other origin":  {"Sec-Fetch-Site": {"same-site"}},
		"same origin, cross-site": {"Origin": {demo.srv.URL}, "Sec-Fetch-Site": {"cross-site"}},
	} {
		if p := call(demo, "POST", "/admin/clock", `{"advance":"24h"}`, h); p.status != 403 || !strings.Contains(p.body, "CROSS_ORIGIN_REQUEST") {
			t.Errorf("%s: %d %s", name, p.status, p.body)
		}
		if p := call(demo, "PUT", "/admin/faults", `{"errorRate":1}`, h); p.status != 403 {
			t.Errorf("%s faults: %d %s", name, p.status, p.body)
		}
	}
	if after := call(demo, "GET", "/admin/clock", "", nil).body; after != before {
		t.Errorf("a refused request moved the clock: %s -> %s", before, after)
	}
	if f := demo.sim.Stats(); f.APIRequests != 0 {
		t.Errorf("stats: %+v", f)
	}
	// The same origin is fine.
	if p := call(demo, "POST", "/admin/clock", `{"advance":"1h"}`, http.Header{"Origin": {demo.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}); p.status != 200 {
		t.Errorf("same origin: %d %s", p.status, p.body)
	}

	for name, opts := range map[string]hmrcsim.Options{
		"off":             {Controls: hmrcsim.ControlsOff},
		"demo default":    {},
		"sandbox default": {Mode: hmrcsim.ModeSandbox},
	} {
		e := newEnv(t, opts)
		for _, path := range []string{"/admin/stats", "/admin/faults", "/admin/clock"} {
			if p := call(e, "GET", path, "", nil); p.status != 404 || !strings.Contains(p.body, "MATCHING_RESOURCE_NOT_FOUND") {
				t.Errorf("%s %s: %d %s", name, path, p.status, p.body)
			}
		}
		if p := call(e, "POST", "/admin/clock", `{"advance":"24h"}`, nil); p.status != 404 {
			t.Errorf("%s clock: %d", name, p.status)
		}
	}
	on := newEnv(t, hmrcsim.Options{Mode: hmrcsim.ModeSandbox, Controls: hmrcsim.ControlsOn})
	if p := call(on, "GET", "/admin/stats", "", nil); p.status != 200 {
		t.Errorf("sandbox with ControlsOn: %d %s", p.status, p.body)
	}
}

// A deprecated API answers with HMRC's Deprecation, Sunset and Link
// headers (RequestHandler.withApiHeaders), on success and error alike;
// other APIs do not.
func TestDeprecationHeaders(t *testing.T) {
	e := vatEnv(t)
	tok := e.connect().AccessToken
	on := time.Date(2026, 6, 1, 23, 59, 59, 0, time.UTC)
	e.sim.SetFaults(hmrcsim.Faults{Deprecated: []hmrcsim.Deprecation{{API: "obligations-mtd", On: on}}})
	r := e.itsa("GET", obligationsPath(""), tok, acceptOBL, "", "")
	if r.status != 200 || r.header.Get("Deprecation") != "Mon, 01 Jun 2026 23:59:59 GMT" || r.header.Get("Sunset") != "Tue, 01 Dec 2026 23:59:59 GMT" ||
		r.header.Get("Link") != "https://developer.service.hmrc.gov.uk/api-documentation/docs/api/service/obligations-api" {
		t.Errorf("obligations: %d %v", r.status, r.header)
	}
	if r := e.itsa("GET", obligationsPath("?status=x"), tok, acceptOBL, "", ""); r.status != 400 || r.header.Get("Deprecation") == "" {
		t.Errorf("an error answer: %d %v", r.status, r.header)
	}
	if r := e.itsa("GET", "/individuals/business/details/"+itsaNINO+"/list", tok, acceptBD, "", ""); r.header.Get("Deprecation") != "" {
		t.Errorf("another API: %v", r.header)
	}

	// Through /admin/faults, with a sunset date and VAT.
	body := `{"deprecated":[{"api":"vat-mtd","on":"2026-01-31T12:00:00Z","sunset":"2026-03-01T00:00:00Z"}]}`
	req, _ := http.NewRequest("PUT", e.srv.URL+"/admin/faults", strings.NewReader(body))
	if p := e.do(http.DefaultClient, req); p.status != 200 || !strings.Contains(p.body, `"vat-mtd"`) {
		t.Fatalf("PUT /admin/faults: %d %s", p.status, p.body)
	}
	vtok := e.vatToken("read:vat")
	v := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/obligations?status=O", vtok, "", nil)
	if v.header.Get("Deprecation") != "Sat, 31 Jan 2026 12:00:00 GMT" || v.header.Get("Sunset") != "Sun, 01 Mar 2026 00:00:00 GMT" {
		t.Errorf("VAT: %v", v.header)
	}
	for _, bad := range []string{`{"deprecated":[{"api":"nope","on":"2026-01-31T12:00:00Z"}]}`, `{"deprecated":[{"api":"vat-mtd"}]}`,
		`{"deprecated":[{"api":"vat-mtd","on":"2026-01-31T12:00:00Z","sunset":"2026-01-01T00:00:00Z"}]}`} {
		req, _ := http.NewRequest("PUT", e.srv.URL+"/admin/faults", strings.NewReader(bad))
		if p := e.do(http.DefaultClient, req); p.status != 400 {
			t.Errorf("%s: %d %s", bad, p.status, p.body)
		}
	}
}
