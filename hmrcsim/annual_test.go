package hmrcsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const (
	pbValueMessage = "The value must be between 0 and 99999999999.99"
	pbBodyMessage  = "An empty or non-matching body was submitted"
)

// annualError is one error of an answer: its code, message and paths.
type annualError struct {
	code, message string
	paths         []string
}

// errorsOf flattens an error answer: itself, or the errors INVALID_REQUEST
// wraps, in the order given.
func errorsOf(body map[string]any) []annualError {
	list := []any{body}
	if body["code"] == "INVALID_REQUEST" {
		list = asSlice(body["errors"])
	}
	var out []annualError
	for _, e := range list {
		m := e.(map[string]any)
		out = append(out, annualError{m["code"].(string), m["message"].(string), strs(m["paths"])})
	}
	return out
}

// TestAnnualSubmissionValidation checks each of HMRC's validation rules of
// the UK property annual submission (def2, 2025-26 onwards), and that a
// refused submission changes nothing.
func TestAnnualSubmissionValidation(t *testing.T) {
	y := newYearEnv(t)
	const ty = "2026-27"
	good := `{"ukProperty":{"adjustments":{"nonResidentLandlord":false},"allowances":{"annualInvestmentAllowance":100}}}`
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, "", good); r.status != http.StatusOK {
		t.Fatalf("good: %d %v", r.status, r.body)
	}
	before := y.call("GET", annualPath(itsaNINO, y.bid, ty), acceptProp, "", "").body

	sba := func(entry string) string {
		return `{"ukProperty":{"allowances":{"structuredBuildingAllowance":[` + entry + `]}}}`
	}
	cases := []struct {
		name, path, body string
		status           int
		want             []annualError
	}{
		{"empty object", "", `{}`, 400, []annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, nil}}},
		{"not an object", "", `[]`, 400, []annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, nil}}},
		{"not JSON", "", `{"ukProperty":`, 400, []annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, nil}}},
		{"no ukProperty", "", `{"foreignProperty":{}}`, 400,
			[]annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, []string{"/ukProperty"}}}},
		{"empty ukProperty", "", `{"ukProperty":{"unknown":1}}`, 400,
			[]annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, []string{"/ukProperty"}}}},
		{"empty allowances", "", `{"ukProperty":{"allowances":{}}}`, 400,
			[]annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, []string{"/ukProperty/allowances"}}}},
		{"empty buildings list", "", sba(``), 400,
			[]annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, []string{"/ukProperty/allowances/structuredBuildingAllowance"}}}},
		{"wrong types and missing fields, sorted", "", `{"ukProperty":{"adjustments":{"balancingCharge":"10","rentARoom":{}}}}`, 400,
			[]annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, []string{
				"/ukProperty/adjustments/balancingCharge", "/ukProperty/adjustments/nonResidentLandlord",
				"/ukProperty/adjustments/rentARoom/jointlyLet"}}}},
		{"building without postcode", "", sba(`{"amount":1,"building":{"name":"Plaza"}}`), 400,
			[]annualError{{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, []string{"/ukProperty/allowances/structuredBuildingAllowance/0/building/postcode"}}}},
		{"negative amount", "", `{"ukProperty":{"adjustments":{"balancingCharge":-1,"nonResidentLandlord":true}}}`, 400,
			[]annualError{{"FORMAT_VALUE", pbValueMessage, []string{"/ukProperty/adjustments/balancingCharge"}}}},
		{"three decimals as written", "", `{"ukProperty":{"allowances":{"otherCapitalAllowance":1.500}}}`, 400,
			[]annualError{{"FORMAT_VALUE", pbValueMessage, []string{"/ukProperty/allowances/otherCapitalAllowance"}}}},
		{"too large", "", `{"ukProperty":{"allowances":{"zeroEmissionsCarAllowance":100000000000}}}`, 400,
			[]annualError{{"FORMAT_VALUE", pbValueMessage, []string{"/ukProperty/allowances/zeroEmissionsCarAllowance"}}}},
		{"property income allowance over 1,000", "", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":1000.01}}}`, 400,
			[]annualError{{"FORMAT_VALUE", "The value must be between 0 and 1000.0", []string{"/ukProperty/allowances/propertyIncomeAllowance"}}}},
		{"property income allowance with another allowance", "", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":1000,"costOfReplacingDomesticItems":5}}}`, 400,
			[]annualError{{"RULE_BOTH_ALLOWANCES_SUPPLIED", "Both allowances and property allowances must not be present at the same time", []string{"/ukProperty/allowances"}}}},
		{"property income allowance with a buildings allowance", "", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":10,"enhancedStructuredBuildingAllowance":[{"amount":1,"building":{"number":"2","postcode":"TF3 4ER"}}]}}}`, 400,
			[]annualError{{"RULE_BOTH_ALLOWANCES_SUPPLIED", "Both allowances and property allowances must not be present at the same time", []string{"/ukProperty/allowances"}}}},
		{"building with neither name nor number", "", sba(`{"amount":1,"building":{"postcode":"TF3 4EH"}}`), 400,
			[]annualError{{"RULE_BUILDING_NAME_NUMBER", "Postcode must be supplied along with at least one of name or number", []string{"/ukProperty/allowances/structuredBuildingAllowance/0/building"}}}},
		{"bad strings and date; values merged", "", sba(`{"amount":1.001,"firstYear":{"qualifyingDate":"2020-02-30","qualifyingAmountExpenditure":-5},"building":{"name":"Plaza #1","postcode":""}}`), 400,
			[]annualError{
				{"FORMAT_DATE", "The supplied date format is not valid", []string{"/ukProperty/allowances/structuredBuildingAllowance/0/firstYear/qualifyingDate"}},
				{"FORMAT_STRING", "The supplied string format is not valid", []string{
					"/ukProperty/allowances/structuredBuildingAllowance/0/building/name", "/ukProperty/allowances/structuredBuildingAllowance/0/building/postcode"}},
				{"FORMAT_VALUE", pbValueMessage, []string{
					"/ukProperty/allowances/structuredBuildingAllowance/0/firstYear/qualifyingAmountExpenditure", "/ukProperty/allowances/structuredBuildingAllowance/0/amount"}},
			}},
		{"path and body errors together", annualPath(itsaNINO, "XPIS1", "2026-2027"), `{}`, 400,
			[]annualError{
				{"FORMAT_BUSINESS_ID", "The Business ID format is invalid", nil},
				{"FORMAT_TAX_YEAR", "The taxYear format is invalid", nil},
				{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", pbBodyMessage, nil},
			}},
		{"tax year range", annualPath(itsaNINO, y.bid, "2026-28"), good, 400,
			[]annualError{{"RULE_TAX_YEAR_RANGE_INVALID", "A tax year range of one year is required", nil}}},
		{"before 2025-26", annualPath(itsaNINO, y.bid, "2024-25"), good, 400,
			[]annualError{{"RULE_TAX_YEAR_NOT_SUPPORTED", "The tax year specified does not lie within the supported range", nil}}},
		{"NINO format", annualPath("AA12345", y.bid, ty), good, 400, []annualError{{"FORMAT_NINO", "The NINO format is invalid", nil}}},
		{"someone else's NINO", annualPath(otherNINO, y.bid, ty), good, 403,
			[]annualError{{"CLIENT_OR_AGENT_NOT_AUTHORISED", "The client or agent is not authorised", nil}}},
		{"someone else's business", annualPath(itsaNINO, "XPIS00000000001", ty), good, 404,
			[]annualError{{"MATCHING_RESOURCE_NOT_FOUND", "Matching resource not found", nil}}},
		{"property income allowance with private use (HMRC's downstream rule)", "",
			`{"ukProperty":{"adjustments":{"privateUseAdjustment":10,"nonResidentLandlord":false},"allowances":{"propertyIncomeAllowance":1000}}}`, 400,
			[]annualError{{"RULE_PROPERTY_INCOME_ALLOWANCE", "The propertyIncomeAllowance cannot be submitted if privateUseAdjustment is supplied", nil}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cmpOr(tc.path, annualPath(itsaNINO, y.bid, ty))
			r := y.call("PUT", path, acceptProp, "", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %v", r.status, tc.status, r.body)
			}
			if got := errorsOf(r.body); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("errors\n got %+v\nwant %+v", got, tc.want)
			}
			if after := y.call("GET", annualPath(itsaNINO, y.bid, ty), acceptProp, "", "").body; !reflect.DeepEqual(after, before) {
				t.Fatalf("a refused submission changed the stored one: %v", after)
			}
		})
	}
}

// TestAnnualSubmissionRoundTrip: PUT stores the submission as HMRC's model
// holds it (unknown fields dropped), GET returns it with submittedOn, a
// second PUT replaces it, DELETE removes it.
func TestAnnualSubmissionRoundTrip(t *testing.T) {
	y := newYearEnv(t)
	const ty = "2025-26"
	path := annualPath(itsaNINO, y.bid, ty)
	wantError(t, y.call("GET", path, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, y.call("DELETE", annualDeletePath(itsaNINO, y.bid, ty), acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")

	all := `{"ukProperty":{"adjustments":{"balancingCharge":565.34,"privateUseAdjustment":533.54,"businessPremisesRenovationAllowanceBalancingCharges":563.34,
		"nonResidentLandlord":true,"rentARoom":{"jointlyLet":true},"note":"dropped"},
		"allowances":{"annualInvestmentAllowance":678.45,"businessPremisesRenovationAllowance":573.45,"otherCapitalAllowance":452.34,
		"costOfReplacingDomesticItems":567.34,"zeroEmissionsCarAllowance":454.34,
		"structuredBuildingAllowance":[{"amount":234.34,"firstYear":{"qualifyingDate":"2020-03-29","qualifyingAmountExpenditure":3434.45},"building":{"name":"Plaza","number":"1","postcode":"TF3 4EH"}}],
		"enhancedStructuredBuildingAllowance":[{"amount":234.45,"building":{"name":"Green Oak’s","postcode":"TF3 4ER","floor":9}}]}},"extra":true}`
	if r := y.call("PUT", path, acceptProp, "", all); r.status != http.StatusOK || r.body != nil {
		t.Fatalf("PUT: %d %v", r.status, r.body)
	}
	r := y.call("GET", path, acceptProp, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %v", r.status, r.body)
	}
	wantFields(t, r.body, map[string]string{
		"submittedOn":                                                                  "2026-04-06T09:00:00.000Z",
		"ukProperty/adjustments/balancingCharge":                                       "565.34",
		"ukProperty/adjustments/rentARoom/jointlyLet":                                  "true",
		"ukProperty/adjustments/nonResidentLandlord":                                   "true",
		"ukProperty/adjustments/note":                                                  "",
		"ukProperty/allowances/zeroEmissionsCarAllowance":                              "454.34",
		"ukProperty/allowances/structuredBuildingAllowance/0/firstYear/qualifyingDate": "2020-03-29",
		"ukProperty/allowances/enhancedStructuredBuildingAllowance/0/building/name":    "Green Oak’s",
		"ukProperty/allowances/enhancedStructuredBuildingAllowance/0/building/floor":   "",
		"extra": "",
	})

	y.clock.Advance(time.Hour)
	if r := y.call("PUT", path, acceptProp, "", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":1000}}}`); r.status != http.StatusOK {
		t.Fatalf("second PUT: %d %v", r.status, r.body)
	}
	r = y.call("GET", path, acceptProp, "", "")
	if got := r.body["ukProperty"]; !reflect.DeepEqual(got, map[string]any{"allowances": map[string]any{"propertyIncomeAllowance": 1000.0}}) {
		t.Fatalf("replaced: %v", r.body)
	}
	wantFields(t, r.body, map[string]string{"submittedOn": "2026-04-06T10:00:00.000Z"})

	if r := y.call("DELETE", annualDeletePath(itsaNINO, y.bid, ty), acceptProp, "", ""); r.status != http.StatusNoContent || r.body != nil {
		t.Fatalf("DELETE: %d %v", r.status, r.body)
	}
	wantError(t, y.call("GET", path, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")

	// The delete endpoint has no /uk and its own minimum year (2021-22).
	wantError(t, y.call("DELETE", annualDeletePath(itsaNINO, y.bid, "2020-21"), acceptProp, "", ""), http.StatusBadRequest, "RULE_TAX_YEAR_NOT_SUPPORTED")
	wantError(t, y.call("GET", annualPath(itsaNINO, y.bid, "2021-22"), acceptProp, "", ""), http.StatusBadRequest, "RULE_TAX_YEAR_NOT_SUPPORTED")
	wantError(t, y.call("GET", annualPath(itsaNINO, y.bid, "2022-23"), acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
}

// TestAnnualSubmissionScenarios covers HMRC's test-data tables in both
// modes.
func TestAnnualSubmissionScenarios(t *testing.T) {
	y := newYearEnv(t)
	const ty = "2026-27"
	path, del := annualPath(itsaNINO, y.bid, ty), annualDeletePath(itsaNINO, y.bid, ty)
	body := `{"ukProperty":{"adjustments":{"nonResidentLandlord":false}}}`
	for _, c := range []struct {
		method, path, scenario, body string
		status                       int
		code                         string
	}{
		{"PUT", path, "NOT_FOUND", body, 404, "MATCHING_RESOURCE_NOT_FOUND"},
		{"PUT", path, "TYPE_OF_BUSINESS_INCORRECT", body, 400, "RULE_TYPE_OF_BUSINESS_INCORRECT"},
		{"PUT", path, "PROPERTY_INCOME_ALLOWANCE", body, 400, "RULE_PROPERTY_INCOME_ALLOWANCE"},
		{"PUT", path, "OUTSIDE_AMENDMENT_WINDOW", body, 400, "RULE_OUTSIDE_AMENDMENT_WINDOW"},
		{"PUT", path, "UK_PROPERTY", body, 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
		{"GET", path, "FOREIGN_PROPERTY", "", 400, "RULE_TYPE_OF_BUSINESS_INCORRECT"},
		{"GET", path, "NOT_FOUND", "", 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
		{"DELETE", del, "NOT_FOUND", "", 404, "MATCHING_RESOURCE_NOT_FOUND"},
		{"DELETE", del, "OUTSIDE_AMENDMENT_WINDOW", "", 400, "RULE_OUTSIDE_AMENDMENT_WINDOW"},
	} {
		r := y.call(c.method, c.path, acceptProp, c.scenario, c.body)
		wantError(t, r, c.status, c.code)
		if c.code == "RULE_INCORRECT_GOV_TEST_SCENARIO" && r.body["message"] != "The supplied Gov-Test-Scenario is not valid" {
			t.Errorf("message %v", r.body["message"])
		}
	}
	// The canned GET scenarios, whatever is stored.
	r := y.call("GET", path, acceptProp, "UK_PROPERTY_ALLOWANCE", "")
	wantFields(t, r.body, map[string]string{"ukProperty/allowances/propertyIncomeAllowance": "342.34", "submittedOn": "2025-06-17T10:59:47.544Z"})
	r = y.call("GET", path, acceptProp, "UK_ALL_OTHER_ALLOWANCES", "")
	wantFields(t, r.body, map[string]string{"ukProperty/allowances/structuredBuildingAllowance/0/building/postcode": "TF3 4EH"})

	// The sandbox: DEFAULT stores nothing and GET finds nothing; STATEFUL
	// stores, reads and deletes for the application's test business.
	y = newYearEnvWith(t, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	path, del = annualPath(itsaNINO, y.bid, ty), annualDeletePath(itsaNINO, y.bid, ty)
	if r := y.call("PUT", path, acceptProp, "", body); r.status != http.StatusOK {
		t.Fatalf("sandbox DEFAULT PUT: %d %v", r.status, r.body)
	}
	wantError(t, y.call("GET", path, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, y.call("GET", path, acceptProp, "STATEFUL", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	if r := y.call("PUT", path, acceptProp, "STATEFUL", body); r.status != http.StatusOK {
		t.Fatalf("sandbox STATEFUL PUT: %d %v", r.status, r.body)
	}
	wantError(t, y.call("GET", path, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	if r := y.call("GET", path, acceptProp, "STATEFUL", ""); r.status != http.StatusOK || get(t, r.body, "ukProperty/adjustments/nonResidentLandlord") != "false" {
		t.Fatalf("sandbox STATEFUL GET: %d %v", r.status, r.body)
	}
	if r := y.call("DELETE", del, acceptProp, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("sandbox DEFAULT DELETE: %d %v", r.status, r.body)
	}
	if r := y.call("GET", path, acceptProp, "STATEFUL", ""); r.status != http.StatusOK {
		t.Fatalf("a DEFAULT DELETE removed the stateful submission: %d %v", r.status, r.body)
	}
	if r := y.call("DELETE", del, acceptProp, "STATEFUL", ""); r.status != http.StatusNoContent {
		t.Fatalf("sandbox STATEFUL DELETE: %d %v", r.status, r.body)
	}
	wantError(t, y.call("GET", path, acceptProp, "STATEFUL", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	// Validation is the same in both modes.
	wantError(t, y.call("PUT", path, acceptProp, "", `{}`), http.StatusBadRequest, "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED")
}

// TestSandboxStatefulAnnualSubmission: in ModeSandbox the STATEFUL annual
// submission belongs to the application's UK property test business, as the
// STATEFUL cumulative update does: other businesses are refused, another
// application sees nothing, and the Test Support API's deletes take it away.
func TestSandboxStatefulAnnualSubmission(t *testing.T) {
	e, tok := sandboxEnv(t)
	const ty = "2026-27"
	body := `{"ukProperty":{"adjustments":{"nonResidentLandlord":false},"allowances":{"costOfReplacingDomesticItems":300}}}`
	// Before any test business, not even the demo's business ID is known.
	demoID := newYearEnv(t).bid
	wantError(t, e.itsa("PUT", annualPath(itsaNINO, demoID, ty), tok, acceptProp, "STATEFUL", body), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")

	bid := e.createBusiness(tok, ukBusiness)
	se := e.createBusiness(tok, `{"typeOfBusiness":"self-employment","tradingName":"Plumbing","businessAddressLineOne":"1 High St","businessAddressCountryCode":"GB","businessAddressPostcode":"SW1A 1AA"}`)
	path, del := annualPath(itsaNINO, bid, ty), annualDeletePath(itsaNINO, bid, ty)
	if r := e.itsa("PUT", path, tok, acceptProp, "STATEFUL", body); r.status != http.StatusOK || r.body != nil {
		t.Fatalf("STATEFUL PUT for the test business: %d %v", r.status, r.body)
	}
	r := e.itsa("GET", path, tok, acceptProp, "STATEFUL", "")
	if r.status != http.StatusOK || get(t, r.body, "ukProperty/allowances/costOfReplacingDomesticItems") != "300" || r.body["submittedOn"] != "2026-06-26T09:00:00.000Z" {
		t.Fatalf("STATEFUL GET: %d %v", r.status, r.body)
	}
	// A self-employment business is the wrong type (HMRC's
	// INCOMPATIBLE_PAYLOAD); the demo's business is nobody's here.
	wantError(t, e.itsa("PUT", annualPath(itsaNINO, se, ty), tok, acceptProp, "STATEFUL", body), http.StatusBadRequest, "RULE_TYPE_OF_BUSINESS_INCORRECT")
	wantError(t, e.itsa("GET", annualPath(itsaNINO, se, ty), tok, acceptProp, "STATEFUL", ""), http.StatusBadRequest, "RULE_TYPE_OF_BUSINESS_INCORRECT")
	wantError(t, e.itsa("PUT", annualPath(itsaNINO, demoID, ty), tok, acceptProp, "STATEFUL", body), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("DELETE", annualDeletePath(itsaNINO, demoID, ty), tok, acceptProp, "STATEFUL", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")

	// Another application: neither the business nor its submission.
	other := e.otherApplication()
	wantError(t, e.itsa("GET", path, other, acceptProp, "STATEFUL", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("PUT", path, other, acceptProp, "STATEFUL", body), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, e.itsa("DELETE", del, other, acceptProp, "STATEFUL", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")

	// It survives a restart in the sandbox, still the application's own.
	snapshot := save(t, e.sim)
	var saved struct {
		YearEnd struct {
			AnnualSubmissions []struct{ Vendor, BusinessID string }
		}
	}
	if err := json.Unmarshal(snapshot, &saved); err != nil || len(saved.YearEnd.AnnualSubmissions) != 1 ||
		saved.YearEnd.AnnualSubmissions[0].Vendor != clientID || saved.YearEnd.AnnualSubmissions[0].BusinessID != bid {
		t.Fatalf("the snapshot does not keep the submission as the application's (%v): %s", err, snapshot)
	}
	e = e.restartedAs(t, snapshot, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	tok = e.connect().AccessToken
	if r := e.itsa("GET", path, tok, acceptProp, "STATEFUL", ""); r.status != http.StatusOK || r.body["submittedOn"] != "2026-06-26T09:00:00.000Z" {
		t.Fatalf("STATEFUL GET after a restart: %d %v", r.status, r.body)
	}

	// Deleting the test business deletes its submission.
	if r := e.itsa("DELETE", testSupport+"/business/"+itsaNINO+"/"+bid, tok, acceptTS, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete test business: %d %v", r.status, r.body)
	}
	wantError(t, e.itsa("GET", path, tok, acceptProp, "STATEFUL", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	if snap := save(t, e.sim); bytes.Contains(snap, []byte(bid)) {
		t.Errorf("the deleted business's submission is still kept: %s", snap)
	}

	// Delete Stateful Test Data takes a new business's submission too, and
	// then finds nothing left.
	bid = e.createBusiness(tok, ukBusiness)
	if r := e.itsa("PUT", annualPath(itsaNINO, bid, ty), tok, acceptProp, "STATEFUL", body); r.status != http.StatusOK {
		t.Fatalf("STATEFUL PUT for a new business: %d %v", r.status, r.body)
	}
	if r := e.itsa("DELETE", testSupport+"/vendor-state", tok, acceptTS, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete vendor state: %d %v", r.status, r.body)
	}
	if snap := save(t, e.sim); bytes.Contains(snap, []byte(`"yearEnd"`)) {
		t.Errorf("stateful test data outlived Delete Stateful Test Data: %s", snap)
	}
	wantError(t, e.itsa("DELETE", testSupport+"/vendor-state", tok, acceptTS, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
}

// TestAnnualSubmissionAccess: Accept 6.0, the write scope for PUT and
// DELETE, the read scope for GET.
func TestAnnualSubmissionAccess(t *testing.T) {
	y := newYearEnv(t)
	path := annualPath(itsaNINO, y.bid, "2026-27")
	body := `{"ukProperty":{"adjustments":{"nonResidentLandlord":false}}}`
	wantError(t, y.call("PUT", path, acceptOBL, "", body), http.StatusNotAcceptable, "ACCEPT_HEADER_INVALID")
	wantError(t, y.itsa("PUT", path, "", acceptProp, "", body), http.StatusUnauthorized, "MISSING_CREDENTIALS")

	y.conf.Scopes = []string{"read:self-assessment"}
	readOnly := y.connect().AccessToken
	wantError(t, y.itsa("PUT", path, readOnly, acceptProp, "", body), http.StatusForbidden, "INVALID_SCOPE")
	wantError(t, y.itsa("DELETE", annualDeletePath(itsaNINO, y.bid, "2026-27"), readOnly, acceptProp, "", ""), http.StatusForbidden, "INVALID_SCOPE")
	wantError(t, y.itsa("GET", path, readOnly, acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	y.conf.Scopes = []string{"write:self-assessment"}
	writeOnly := y.connect().AccessToken
	wantError(t, y.itsa("GET", path, writeOnly, acceptProp, "", ""), http.StatusForbidden, "INVALID_SCOPE")
	if r := y.itsa("PUT", path, writeOnly, acceptProp, "", body); r.status != http.StatusOK {
		t.Fatalf("write-only token on PUT: %d %v", r.status, r.body)
	}
}
