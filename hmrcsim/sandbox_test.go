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

	"golang.org/x/oauth2"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// ModeSandbox: HMRC's sandbox test data (the OAS test-data tables), not
// the demo's kind stateful world.

const (
	acceptTS    = "application/vnd.hmrc.1.0+json"
	testSupport = "/individuals/self-assessment-test-support"
	ukBusiness  = `{"typeOfBusiness":"uk-property","accountingType":"CASH"}`
)

var businessIDPattern = regexp.MustCompile(`^X[A-Z0-9]IS[0-9]{11}$`)

// sandboxEnv is newEnv in ModeSandbox, its clock moved to 26 June 2026
// (tax year 2026-27, ten days before the first quarter's end) and a user
// connected with read and write scopes.
func sandboxEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	e.clock.Advance(81 * 24 * time.Hour) // 2026-06-26
	return e, e.connect().AccessToken
}

// createBusiness makes a test business through the Test Support API and
// returns its ID.
func (e *env) createBusiness(tok, body string) string {
	e.t.Helper()
	r := e.itsa("POST", testSupport+"/business/"+itsaNINO, tok, acceptTS, "", body)
	id, _ := r.body["businessId"].(string)
	if r.status != http.StatusCreated || !businessIDPattern.MatchString(id) {
		e.t.Fatalf("create test business: %d %v", r.status, r.body)
	}
	return id
}

func listOf(t *testing.T, r itsaResp) []map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %v", r.status, r.body)
	}
	var out []map[string]any
	for _, b := range asSlice(r.body["listOfBusinesses"]) {
		out = append(out, b.(map[string]any))
	}
	return out
}

func TestSandboxBusinessList(t *testing.T) {
	e, tok := sandboxEnv(t)
	list := "/individuals/business/details/" + itsaNINO + "/list"
	se := map[string]any{"typeOfBusiness": "self-employment", "businessId": "XAIS12345678910", "tradingType": "Plastering", "tradingName": "RCDTS"}
	tests := []struct {
		scenario string
		want     []map[string]any
	}{
		// "Simulate a successful response with a self-employment business."
		{"", []map[string]any{se}},
		{"PROPERTY", []map[string]any{{"typeOfBusiness": "uk-property", "businessId": "XPIS12345678901"}}},
		{"FOREIGN_PROPERTY", []map[string]any{{"typeOfBusiness": "foreign-property", "businessId": "XFIS12345678901"}}},
		{"BUSINESS_AND_PROPERTY", []map[string]any{
			{"typeOfBusiness": "self-employment", "businessId": "XBIS12345678901", "tradingType": "Plastering", "tradingName": "RCDTS"},
			{"typeOfBusiness": "uk-property", "businessId": "XPIS12345678901"},
			{"typeOfBusiness": "foreign-property", "businessId": "XFIS12345678901"}}},
		{"UNSPECIFIED", []map[string]any{{"typeOfBusiness": "property-unspecified", "businessId": "XAIS12345678901"}}},
	}
	for _, tt := range tests {
		t.Run(cmpOr(tt.scenario, "DEFAULT"), func(t *testing.T) {
			if got := listOf(t, e.itsa("GET", list, tok, acceptBD, tt.scenario, "")); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	wantError(t, e.itsa("GET", list, tok, acceptBD, "NOT_FOUND", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
	// STATEFUL lists the vendor's test businesses: none yet.
	wantError(t, e.itsa("GET", list, tok, acceptBD, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
	r := e.itsa("GET", list, tok, acceptBD, "NO_SUCH", "")
	if r.status != 400 || r.body["code"] != "RULE_INCORRECT_GOV_TEST_SCENARIO" || r.body["message"] != "The supplied Gov-Test-Scenario is not valid" {
		t.Errorf("unknown scenario: %d %v", r.status, r.body)
	}
	// Business Details 2.0 allows REQUEST_CANNOT_BE_FULFILLED everywhere.
	wantError(t, e.itsa("GET", list, tok, acceptBD, "REQUEST_CANNOT_BE_FULFILLED", ""), 422, "RULE_REQUEST_CANNOT_BE_FULFILLED")
}

func TestSandboxObligationsAreCanned(t *testing.T) {
	e, tok := sandboxEnv(t)
	oneBusiness := func(r itsaResp) map[string]any {
		t.Helper()
		obs := asSlice(r.body["obligations"])
		if r.status != 200 || len(obs) != 1 {
			t.Fatalf("want one business: %d %v", r.status, r.body)
		}
		return obs[0].(map[string]any)
	}
	firstDetail := func(o map[string]any) map[string]any { return asSlice(o["obligationDetails"])[0].(map[string]any) }

	// DEFAULT is the OAS's non-cumulative example, whatever the dates.
	o := oneBusiness(e.itsa("GET", obligationsPath("?fromDate=2026-04-06&toDate=2027-04-05"), tok, acceptOBL, "", ""))
	if o["businessId"] != "XAIS12345678910" || o["typeOfBusiness"] != "self-employment" || firstDetail(o)["periodStartDate"] != "2019-04-06" {
		t.Errorf("DEFAULT: %v", o)
	}
	// The service filters the fixture: no UK property in it.
	wantError(t, e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property"), tok, acceptOBL, "", ""), 404, "NO_OBLIGATIONS_FOUND")

	// The test data's business IDs pick a business of each type.
	o = oneBusiness(e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property&businessId=XPIS12345678903"), tok, acceptOBL, "OPEN", ""))
	if d := firstDetail(o); o["typeOfBusiness"] != "uk-property" || d["status"] != "open" || d["periodEndDate"] != "2026-07-05" || d["dueDate"] != "2026-08-07" {
		t.Errorf("OPEN: %v", o)
	}
	o = oneBusiness(e.itsa("GET", obligationsPath("?typeOfBusiness=foreign-property&businessId=XFIS12345678902"), tok, acceptOBL, "FULFILLED", ""))
	if d := firstDetail(o); d["status"] != "fulfilled" || d["receivedDate"] != "2026-08-01" {
		t.Errorf("FULFILLED: %v", o)
	}
	wantError(t, e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property&businessId=XPIS12345678902"), tok, acceptOBL, "OPEN", ""), 404, "NO_OBLIGATIONS_FOUND")
	if obs := asSlice(e.itsa("GET", obligationsPath(""), tok, acceptOBL, "OPEN", "").body["obligations"]); len(obs) != 3 {
		t.Errorf("OPEN without a business: %v", obs)
	}
	// DYNAMIC follows the query.
	o = oneBusiness(e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property&businessId=XPIS12345678901&fromDate=2026-04-06&toDate=2026-10-05&status=fulfilled"), tok, acceptOBL, "DYNAMIC", ""))
	if d := firstDetail(o); d["periodStartDate"] != "2026-04-06" || d["periodEndDate"] != "2026-10-05" || d["status"] != "fulfilled" {
		t.Errorf("DYNAMIC: %v", o)
	}
	// Without dates the service asks for today to today + 366 days.
	o = oneBusiness(e.itsa("GET", obligationsPath("?typeOfBusiness=uk-property&businessId=XPIS12345678901"), tok, acceptOBL, "DYNAMIC", ""))
	if d := firstDetail(o); d["periodStartDate"] != "2026-06-26" || d["periodEndDate"] != "2027-06-27" || d["status"] != "open" {
		t.Errorf("DYNAMIC without dates: %v", o)
	}
	o = oneBusiness(e.itsa("GET", obligationsPath(""), tok, acceptOBL, "CUMULATIVE", ""))
	var statuses []string
	for _, d := range asSlice(o["obligationDetails"]) {
		m := d.(map[string]any)
		if m["periodStartDate"] != "2026-04-06" {
			t.Errorf("CUMULATIVE period start: %v", m)
		}
		statuses = append(statuses, m["status"].(string))
	}
	if !slices.Equal(statuses, []string{"fulfilled", "fulfilled", "fulfilled", "open"}) {
		t.Errorf("CUMULATIVE: %v", statuses)
	}
	// HMRC's Obligations API has no STATEFUL scenario.
	wantError(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "STATEFUL", ""), 400, "RULE_INCORRECT_GOV_TEST_SCENARIO")
}

func TestSandboxPropertyBusinessDefaults(t *testing.T) {
	e, tok := sandboxEnv(t)
	bid := "XPIS12345678901"
	path := cumulativePath(itsaNINO, bid, taxYear)
	// DEFAULT: "Simulates success response", and stores nothing.
	if r := e.itsa("PUT", path, tok, acceptProp, "", q1Body); r.status != 204 {
		t.Fatalf("PUT: %d %v", r.status, r.body)
	}
	// Validation still applies.
	wantError(t, e.itsa("PUT", path, tok, acceptProp, "", `{"ukProperty":{"income":{"periodAmount":1.001}}}`), 400, "FORMAT_VALUE")
	var example map[string]any
	r := e.itsa("GET", path, tok, acceptProp, "", "")
	_ = json.Unmarshal([]byte(`{"submittedOn":"2025-07-07T10:59:47.544Z","fromDate":"2025-04-06","toDate":"2025-07-05"}`), &example)
	for _, k := range []string{"submittedOn", "fromDate", "toDate"} {
		if r.body[k] != example[k] {
			t.Errorf("GET DEFAULT is HMRC's example, not what was sent: %s = %v", k, r.body[k])
		}
	}
	if exp := r.body["ukProperty"].(map[string]any)["expenses"].(map[string]any); exp["premisesRunningCosts"] != -4141.21 {
		t.Errorf("GET DEFAULT expenses: %v", exp)
	}
	consolidated := e.itsa("GET", path, tok, acceptProp, "UK_PROPERTY_CONSOLIDATED", "")
	if exp := consolidated.body["ukProperty"].(map[string]any)["expenses"].(map[string]any); exp["consolidatedExpenses"] != 998.18 {
		t.Errorf("UK_PROPERTY_CONSOLIDATED: %v", consolidated.body)
	}
	r = e.itsa("GET", path, tok, acceptProp, "FOREIGN_PROPERTY", "")
	if r.status != 400 || r.body["code"] != "RULE_TYPE_OF_BUSINESS_INCORRECT" || r.body["message"] != "The businessId is for a different type of business" {
		t.Errorf("FOREIGN_PROPERTY: %d %v", r.status, r.body)
	}
	wantError(t, e.itsa("GET", path, tok, acceptProp, "TAX_YEAR_NOT_SUPPORTED", ""), 400, "RULE_TAX_YEAR_NOT_SUPPORTED")
	// STATEFUL needs a test business.
	wantError(t, e.itsa("PUT", path, tok, acceptProp, "STATEFUL", q1Body), 404, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("GET", path, tok, acceptProp, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
}

// Every Gov-Test-Scenario of the cumulative PUT answers its error, in both
// modes (uk_property_cumulative_summary_create_or_amend.yaml).
func TestPropertyBusinessPUTScenarios(t *testing.T) {
	scenarios := map[string]struct {
		status int
		code   string
	}{
		"NOT_FOUND":              {404, "MATCHING_RESOURCE_NOT_FOUND"},
		"TAX_YEAR_NOT_SUPPORTED": {400, "RULE_TAX_YEAR_NOT_SUPPORTED"},
		"START_DATE_NOT_ALIGNED_TO_COMMENCEMENT_DATE": {400, "RULE_START_DATE_NOT_ALIGNED_TO_COMMENCEMENT_DATE"},
		"END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE":    {400, "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE"},
		"MISSING_SUBMISSION_DATES":                    {400, "RULE_MISSING_SUBMISSION_DATES"},
		"START_AND_END_DATE_NOT_ALLOWED":              {400, "RULE_START_AND_END_DATE_NOT_ALLOWED"},
		"EARLY_DATA_SUBMISSION_NOT_ACCEPTED":          {400, "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED"},
		"OUTSIDE_AMENDMENT_WINDOW":                    {400, "RULE_OUTSIDE_AMENDMENT_WINDOW"},
		"ADVANCE_SUBMISSION_REQUIRES_PERIOD_END_DATE": {400, "RULE_ADVANCE_SUBMISSION_REQUIRES_PERIOD_END_DATE"},
		"SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS":   {400, "RULE_SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS"},
		"START_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE":  {400, "RULE_START_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE"},
	}
	for _, mode := range []hmrcsim.Mode{hmrcsim.ModeDemo, hmrcsim.ModeSandbox} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, hmrcsim.Options{Mode: mode})
			e.clock.Advance(90 * 24 * time.Hour)
			tok := e.connect().AccessToken
			path := cumulativePath(itsaNINO, ukPropertyID(t, e, tok, mode), taxYear)
			for sc, want := range scenarios {
				r := e.itsa("PUT", path, tok, acceptProp, sc, q1Body)
				if r.status != want.status || r.body["code"] != want.code || r.body["errors"] != nil {
					t.Errorf("%s: %d %v, want a flat %d %s", sc, r.status, r.body, want.status, want.code)
				}
			}
			// None of them stored anything.
			wantError(t, e.itsa("GET", path, tok, acceptProp, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
		})
	}
}

// ukPropertyID is the demo landlord's business, or a new test business in
// the sandbox.
func ukPropertyID(t *testing.T, e *env, tok string, mode hmrcsim.Mode) string {
	t.Helper()
	if mode == hmrcsim.ModeSandbox {
		return e.createBusiness(tok, ukBusiness)
	}
	return e.businessID(tok)
}

func TestSandboxStatefulJourney(t *testing.T) {
	e, tok := sandboxEnv(t)
	list := "/individuals/business/details/" + itsaNINO + "/list"
	bid := e.createBusiness(tok, ukBusiness)
	se := e.createBusiness(tok, `{"typeOfBusiness":"self-employment","tradingName":"Plumbing","businessAddressLineOne":"1 High St","businessAddressCountryCode":"GB","businessAddressPostcode":"SW1A 1AA"}`)
	got := listOf(t, e.itsa("GET", list, tok, acceptBD, "STATEFUL", ""))
	want := []map[string]any{{"typeOfBusiness": "self-employment", "businessId": se, "tradingName": "Plumbing"}, {"typeOfBusiness": "uk-property", "businessId": bid}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("STATEFUL list\n got %v\nwant %v", got, want)
	}
	// DEFAULT is still the canned self-employment business.
	if got := listOf(t, e.itsa("GET", list, tok, acceptBD, "", "")); got[0]["businessId"] != "XAIS12345678910" {
		t.Errorf("DEFAULT after creating businesses: %v", got)
	}

	path := cumulativePath(itsaNINO, bid, taxYear)
	body := `{"fromDate":"2026-04-06","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":120.5}}}`
	if r := e.itsa("PUT", path, tok, acceptProp, "STATEFUL", body); r.status != 204 {
		t.Fatalf("PUT STATEFUL: %d %v", r.status, r.body)
	}
	r := e.itsa("GET", path, tok, acceptProp, "STATEFUL", "")
	if r.status != 200 || r.body["toDate"] != "2026-07-05" || r.body["submittedOn"] != "2026-06-26T09:00:00.000Z" ||
		r.body["ukProperty"].(map[string]any)["income"].(map[string]any)["periodAmount"] != 120.5 {
		t.Errorf("GET STATEFUL: %d %v", r.status, r.body)
	}
	// The self-employment business is the wrong type for this API.
	wantError(t, e.itsa("GET", cumulativePath(itsaNINO, se, taxYear), tok, acceptProp, "STATEFUL", ""), 400, "RULE_TYPE_OF_BUSINESS_INCORRECT")
	wantError(t, e.itsa("PUT", cumulativePath(itsaNINO, se, taxYear), tok, acceptProp, "STATEFUL", body), 404, "MATCHING_RESOURCE_NOT_FOUND")
	// The sandbox's obligations are fixtures: the update changes nothing.
	o := e.itsa("GET", obligationsPath(""), tok, acceptOBL, "", "")
	if b := asSlice(o.body["obligations"])[0].(map[string]any); b["businessId"] != "XAIS12345678910" {
		t.Errorf("obligations after a stateful update: %v", o.body)
	}

	// Another application (vendor) sees none of it.
	other := e.otherApplication()
	wantError(t, e.itsa("GET", list, other, acceptBD, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("GET", path, other, acceptProp, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")

	// Delete a Test Business: its data goes too; a second delete is 404.
	del := testSupport + "/business/" + itsaNINO + "/" + bid
	if r := e.itsa("DELETE", del, tok, acceptTS, "", ""); r.status != 204 {
		t.Fatalf("delete: %d %v", r.status, r.body)
	}
	wantError(t, e.itsa("DELETE", del, tok, acceptTS, "", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("GET", path, tok, acceptProp, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
	// Delete Stateful Test Data: the rest; then nothing is left to delete.
	if r := e.itsa("DELETE", testSupport+"/vendor-state?nino="+itsaNINO, tok, acceptTS, "", ""); r.status != 204 {
		t.Fatalf("delete vendor state: %d %v", r.status, r.body)
	}
	wantError(t, e.itsa("GET", list, tok, acceptBD, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("DELETE", testSupport+"/vendor-state", tok, acceptTS, "", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")

	// Test businesses are purged 7 days after creation.
	e.createBusiness(tok, ukBusiness)
	e.clock.Advance(7*24*time.Hour - time.Minute)
	tok = e.connect().AccessToken // the old one has expired
	if got := listOf(t, e.itsa("GET", list, tok, acceptBD, "STATEFUL", "")); len(got) != 1 {
		t.Errorf("before 7 days: %v", got)
	}
	e.clock.Advance(time.Minute)
	wantError(t, e.itsa("GET", list, tok, acceptBD, "STATEFUL", ""), 404, "MATCHING_RESOURCE_NOT_FOUND")
}

// otherApplication registers a second application and connects the test
// user through it.
func (e *env) otherApplication() string {
	e.t.Helper()
	e.sim.AddApplication(hmrcsim.Application{ClientID: "other-vendor", ClientSecret: "other-secret", RedirectURIs: []string{redirectURI}})
	saved := *e.conf
	defer func() { *e.conf = saved }()
	e.conf.ClientID, e.conf.ClientSecret = "other-vendor", "other-secret"
	verifier := oauth2.GenerateVerifier()
	code := e.code(oauth2.S256ChallengeOption(verifier))
	tok, err := e.conf.Exchange(e.t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.AccessToken
}

// The STATEFUL cumulative PUT applies HMRC's date rules to the test
// business.
func TestSandboxSubmissionRules(t *testing.T) {
	put := func(from, to string) string {
		b := map[string]any{"ukProperty": map[string]any{"income": map[string]any{"periodAmount": 1}}}
		if from != "" {
			b["fromDate"] = from
		}
		if to != "" {
			b["toDate"] = to
		}
		raw, _ := json.Marshal(b)
		return string(raw)
	}
	tests := []struct {
		name     string
		business string
		clock    string // the simulator's date
		from, to string
		code     string // "" for 204
	}{
		{"quarter end ahead", ukBusiness, "2026-06-26", "2026-04-06", "2026-07-05", ""},
		{"month end passed", ukBusiness, "2026-06-26", "2026-04-06", "2026-06-05", ""},
		{"no dates", ukBusiness, "2026-06-26", "", "", "RULE_MISSING_SUBMISSION_DATES"},
		{"start not 6 April", ukBusiness, "2026-06-26", "2026-04-07", "2026-06-05", "RULE_START_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE"},
		{"calendar end for standard", ukBusiness, "2026-07-06", "2026-04-06", "2026-06-30", "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE"},
		{"after the tax year", ukBusiness, "2027-04-16", "2026-04-06", "2027-05-05", "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE"},
		{"more than 10 days ahead", ukBusiness, "2026-06-24", "2026-04-06", "2026-07-05", "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED"},
		{"advance not to a period end", ukBusiness, "2026-05-30", "2026-04-06", "2026-06-05", "RULE_ADVANCE_SUBMISSION_REQUIRES_PERIOD_END_DATE"},
		{"calendar quarters", `{"typeOfBusiness":"uk-property","quarterlyTypeChoice":{"quarterlyPeriodType":"calendar","taxYearOfChoice":"2026-27"}}`,
			"2026-07-01", "2026-04-06", "2026-06-30", ""},
		{"standard end for calendar", `{"typeOfBusiness":"uk-property","quarterlyTypeChoice":{"quarterlyPeriodType":"calendar","taxYearOfChoice":"2026-27"}}`,
			"2026-07-06", "2026-04-06", "2026-07-05", "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE"},
		{"commenced in the year", `{"typeOfBusiness":"uk-property","commencementDate":"2026-05-01"}`, "2026-06-26", "2026-05-01", "2026-06-05", ""},
		{"not from commencement", `{"typeOfBusiness":"uk-property","commencementDate":"2026-05-01"}`, "2026-06-26", "2026-04-06", "2026-06-05", "RULE_START_DATE_NOT_ALIGNED_TO_COMMENCEMENT_DATE"},
		{"annual with dates", `{"typeOfBusiness":"uk-property","latencyDetails":{"latencyEndDate":"2028-04-05","taxYear1":"2026-27","latencyIndicator1":"A","taxYear2":"2027-28","latencyIndicator2":"Q"}}`,
			"2026-06-26", "2026-04-06", "2026-06-05", "RULE_START_AND_END_DATE_NOT_ALLOWED"},
		{"annual without dates", `{"typeOfBusiness":"uk-property","latencyDetails":{"latencyEndDate":"2028-04-05","taxYear1":"2026-27","latencyIndicator1":"A","taxYear2":"2027-28","latencyIndicator2":"Q"}}`,
			"2026-06-26", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
			e.clock.Advance(time.Duration(dayOf(t, tt.clock).Sub(dayOf(t, "2026-04-06")).Hours()) * time.Hour)
			tok := e.connect().AccessToken
			bid := e.createBusiness(tok, tt.business)
			r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "STATEFUL", put(tt.from, tt.to))
			if tt.code == "" {
				if r.status != 204 {
					t.Fatalf("%d %v", r.status, r.body)
				}
				return
			}
			wantError(t, r, 400, tt.code)
		})
	}

	// An update's end may not move back.
	e, tok := sandboxEnv(t)
	path := cumulativePath(itsaNINO, e.createBusiness(tok, ukBusiness), taxYear)
	if r := e.itsa("PUT", path, tok, acceptProp, "STATEFUL", put("2026-04-06", "2026-06-05")); r.status != 204 {
		t.Fatalf("%d %v", r.status, r.body)
	}
	wantError(t, e.itsa("PUT", path, tok, acceptProp, "STATEFUL", put("2026-04-06", "2026-05-05")), 400, "RULE_SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS")
	if r := e.itsa("PUT", path, tok, acceptProp, "STATEFUL", put("2026-04-06", "2026-06-05")); r.status != 204 {
		t.Errorf("the same end again: %d %v", r.status, r.body)
	}
}

func dayOf(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTestSupportCreateBusinessValidation(t *testing.T) {
	e, tok := sandboxEnv(t)
	create := testSupport + "/business/" + itsaNINO
	tests := []struct {
		name, path, body string
		code             string
		paths            []string
		errors           []string
	}{
		{"NINO without suffix", testSupport + "/business/AA123456", ukBusiness, "FORMAT_NINO", nil, nil},
		{"empty", "", `{}`, "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", nil, nil},
		{"no type", "", `{"accountingType":"CASH"}`, "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", []string{"/typeOfBusiness"}, nil},
		{"bad type", "", `{"typeOfBusiness":"property"}`, "FORMAT_TYPE_OF_BUSINESS", nil, nil},
		{"bad accounting type", "", `{"typeOfBusiness":"uk-property","accountingType":"cash"}`, "FORMAT_ACCOUNTING_TYPE", nil, nil},
		{"bad date", "", `{"typeOfBusiness":"uk-property","commencementDate":"2026-02-30"}`, "FORMAT_DATE", []string{"/commencementDate"}, nil},
		{"bad latency", "", `{"typeOfBusiness":"uk-property","latencyDetails":{"latencyEndDate":"2027-04-05","taxYear1":"2025-27","latencyIndicator1":"X","taxYear2":"2026-27","latencyIndicator2":"Q"}}`,
			"INVALID_REQUEST", nil, []string{"FORMAT_LATENCY_INDICATOR", "RULE_TAX_YEAR_RANGE_INVALID"}},
		{"incomplete latency", "", `{"typeOfBusiness":"uk-property","latencyDetails":{"taxYear1":"2025-26"}}`, "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED",
			[]string{"/latencyDetails/latencyEndDate", "/latencyDetails/latencyIndicator1", "/latencyDetails/taxYear2", "/latencyDetails/latencyIndicator2"}, nil},
		{"bad period type", "", `{"typeOfBusiness":"uk-property","quarterlyTypeChoice":{"quarterlyPeriodType":"monthly","taxYearOfChoice":"2026-27"}}`, "FORMAT_QUARTERLY_PERIOD_TYPE", nil, nil},
		{"property with a trading name", "", `{"typeOfBusiness":"uk-property","tradingName":"x"}`, "RULE_UNEXPECTED_TRADING_NAME", nil, nil},
		{"property with an address", "", `{"typeOfBusiness":"uk-property","businessAddressLineOne":"1 High St"}`, "RULE_UNEXPECTED_BUSINESS_ADDRESS", nil, nil},
		{"self-employment without name or address", "", `{"typeOfBusiness":"self-employment"}`, "INVALID_REQUEST", nil,
			[]string{"RULE_MISSING_BUSINESS_ADDRESS", "RULE_MISSING_TRADING_NAME"}},
		{"GB without postcode", "", `{"typeOfBusiness":"self-employment","tradingName":"x","businessAddressLineOne":"1 High St","businessAddressCountryCode":"GB"}`, "MISSING_POSTCODE", nil, nil},
		{"bad country", "", `{"typeOfBusiness":"self-employment","tradingName":"x","businessAddressLineOne":"1 High St","businessAddressCountryCode":"XX"}`, "FORMAT_COUNTRY_CODE", nil, nil},
		{"bad postcode", "", `{"typeOfBusiness":"self-employment","tradingName":"x","businessAddressLineOne":"1 High St","businessAddressCountryCode":"GB","businessAddressPostcode":"12345"}`, "FORMAT_POSTCODE", nil, nil},
		{"accounting period not a tax year", "", `{"typeOfBusiness":"uk-property","firstAccountingPeriodStartDate":"2026-04-01","firstAccountingPeriodEndDate":"2027-03-31"}`, "RULE_FIRST_ACCOUNTING_DATE_RANGE_INVALID", nil, nil},
		{"accounting period end only", "", `{"typeOfBusiness":"uk-property","firstAccountingPeriodEndDate":"2027-04-05"}`, "MISSING_FIRST_ACCOUNTING_PERIOD_START_DATE", nil, nil},
		{"commencement today", "", `{"typeOfBusiness":"uk-property","commencementDate":"2026-06-26"}`, "RULE_COMMENCEMENT_DATE_NOT_SUPPORTED", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.itsa("POST", cmpOr(tt.path, create), tok, acceptTS, "", tt.body)
			if r.status != 400 || r.body["code"] != tt.code || !slices.Equal(strs(r.body["paths"]), tt.paths) {
				t.Fatalf("%d %v, want 400 %s %v", r.status, r.body, tt.code, tt.paths)
			}
			if codes, _ := items(r.body); !slices.Equal(codes, tt.errors) {
				t.Errorf("errors %v, want %v", codes, tt.errors)
			}
		})
	}
	// One property business of each type.
	e.createBusiness(tok, `{"typeOfBusiness":"uk-property","firstAccountingPeriodStartDate":"2026-04-06","firstAccountingPeriodEndDate":"2027-04-05"}`)
	wantError(t, e.itsa("POST", create, tok, acceptTS, "", ukBusiness), 400, "RULE_PROPERTY_BUSINESS_ADDED")
	e.createBusiness(tok, `{"typeOfBusiness":"foreign-property"}`)
	// The gateway's checks: scope and token type.
	e.conf.Scopes = []string{"read:self-assessment"}
	readOnly := e.connect().AccessToken
	wantError(t, e.itsa("POST", create, readOnly, acceptTS, "", ukBusiness), 403, "INVALID_SCOPE")
	wantError(t, e.itsa("POST", create, e.appToken(), acceptTS, "", ukBusiness), 401, "INCORRECT_ACCESS_TOKEN_TYPE")
	wantError(t, e.itsa("DELETE", testSupport+"/business/"+itsaNINO+"/XPIS123", tok, acceptTS, "", ""), 400, "FORMAT_BUSINESS_ID")
}

// The Test Support API exists in the sandbox only.
func TestTestSupportNotInDemo(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	wantError(t, e.itsa("POST", testSupport+"/business/"+itsaNINO, tok, acceptTS, "", ukBusiness), 404, "MATCHING_RESOURCE_NOT_FOUND")
}

func TestSandboxVAT(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	e.sim.AddTestUser(hmrcsim.TestUser{UserID: userID, Password: userPassword, NINO: "AA123456A", VRN: vatVRN, VATRegistrationDate: "2025-01-15"})
	tok := e.vatToken("read:vat", "write:vat")
	obl := "/organisations/vat/" + vatVRN + "/obligations"
	// DEFAULT: quarterly obligations, one fulfilled, canned in 2017 whatever
	// the query.
	keys, statuses := obligationKeys(e.vatCall("GET", obl+"?from=2026-01-01&to=2026-12-31&status=O", tok, "", nil).body)
	if !slices.Equal(keys, []string{"#001", "#002", "#003", "#004"}) || !slices.Equal(statuses, []string{"F", "O", "O", "O"}) {
		t.Errorf("DEFAULT: %v %v", keys, statuses)
	}
	r := e.vatCall("GET", obl+"?status=O", tok, "", scenarioHeader("MONTHLY_OBS_03_OPEN"))
	if first := asSlice(r.body["obligations"])[0].(map[string]any); first["start"] != "2018-01-01" {
		t.Errorf("MONTHLY_OBS_03_OPEN is 2018's: %v", r.body)
	}
	// A return for a period that has not ended is stored: "There is no
	// requirement to use the periodKeys in the obligation response".
	if r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("26A4", nil), nil); r.status != 201 {
		t.Fatalf("submit: %d %v", r.status, r.body)
	}
	if v := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/returns/26A4", tok, "", nil); v.status != 200 || v.body["periodKey"] != "26A4" {
		t.Errorf("view: %d %v", v.status, v.body)
	}
	// No return: 404 with an empty body.
	if status, raw := e.rawCall("GET", "/organisations/vat/"+vatVRN+"/returns/26A1", tok, acceptVAT); status != 404 || raw != "" {
		t.Errorf("no return: %d %q", status, raw)
	}
}

// rawCall is one API call whose body is returned as it came.
func (e *env) rawCall(method, path, token, accept string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]hmrcsim.Mode{"": hmrcsim.ModeDemo, "demo": hmrcsim.ModeDemo, "sandbox": hmrcsim.ModeSandbox} {
		if got, ok := hmrcsim.ParseMode(in); !ok || got != want || (in != "" && got.String() != in) {
			t.Errorf("ParseMode(%q) = %v %v", in, got, ok)
		}
	}
	if _, ok := hmrcsim.ParseMode("production"); ok {
		t.Error("production parsed")
	}
	if !strings.Contains(hmrcsim.ModeSandbox.String(), "sandbox") {
		t.Error(hmrcsim.ModeSandbox.String())
	}
}
