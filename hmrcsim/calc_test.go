package hmrcsim_test

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// afterYear is a yearEnv on 10 April 2027, after 2026-27.
func afterYear(t *testing.T) *yearEnv {
	t.Helper()
	return afterYearWith(t, hmrcsim.Options{})
}

// afterYearWith is afterYear with options; in ModeSandbox bid is a test
// business made on 10 April 2027.
func afterYearWith(t *testing.T, opts hmrcsim.Options) *yearEnv {
	t.Helper()
	y := newYearEnvWith(t, opts)
	y.at(time.Date(2027, 4, 10, 9, 0, 0, 0, time.UTC))
	if opts.Mode == hmrcsim.ModeSandbox {
		y.bid = y.createBusiness(y.tok, ukBusiness)
	}
	return y
}

func (y *yearEnv) putCumulative(ty, body string) {
	y.t.Helper()
	if r := y.call("PUT", cumulativePath(itsaNINO, y.bid, ty), acceptProp, "", body); r.status != http.StatusNoContent {
		y.t.Fatalf("cumulative %s: %d %v", ty, r.status, r.body)
	}
}

const wholeYear2627 = `{"fromDate":"2026-04-06","toDate":"2027-04-05","ukProperty":{"income":{"periodAmount":20000},"expenses":{"consolidatedExpenses":4000}}}`

// TestCalculationValidation checks the path, query and token rules of the
// four Individual Calculations endpoints, with HMRC's messages.
func TestCalculationValidation(t *testing.T) {
	y := afterYear(t)
	const ty = "2026-27"
	id := "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c"
	fmtYear := annualError{"FORMAT_TAX_YEAR", "The provided tax year format is invalid", nil}
	fmtType := annualError{"FORMAT_CALCULATION_TYPE", "The provided calculation type is not valid", nil}
	fmtID := annualError{"FORMAT_CALCULATION_ID", "The provided calculation ID is invalid", nil}
	for _, c := range []struct {
		name, method, path string
		status             int
		want               []annualError
	}{
		{"trigger: NINO", "POST", triggerPath("AA1234567", ty, "in-year"), 400, []annualError{{"FORMAT_NINO", "The NINO format is invalid", nil}}},
		{"trigger: someone else", "POST", triggerPath(otherNINO, ty, "in-year"), 403,
			[]annualError{{"CLIENT_OR_AGENT_NOT_AUTHORISED", "The client or agent is not authorised", nil}}},
		{"trigger: year format", "POST", triggerPath(itsaNINO, "2026", "in-year"), 400, []annualError{fmtYear}},
		{"trigger: year range", "POST", triggerPath(itsaNINO, "2026-28", "in-year"), 400,
			[]annualError{{"RULE_TAX_YEAR_RANGE_INVALID", "A tax year range of one year is required", nil}}},
		{"trigger: before 2017-18", "POST", triggerPath(itsaNINO, "2016-17", "in-year"), 400,
			[]annualError{{"RULE_TAX_YEAR_NOT_SUPPORTED", "The tax year specified does not lie within the supported range", nil}}},
		{"trigger: type", "POST", triggerPath(itsaNINO, ty, "final-declaration"), 400, []annualError{fmtType}},
		{"trigger: year and type, sorted", "POST", triggerPath(itsaNINO, "26-27", "crystallise"), 400, []annualError{fmtType, fmtYear}},
		{"trigger: intent-to-amend before 2025-26", "POST", triggerPath(itsaNINO, "2024-25", "intent-to-amend"), 400,
			[]annualError{{"RULE_CALCULATION_TYPE_NOT_ALLOWED", "The provided calculation type is not applicable for this tax year", nil}}},
		{"list: type", "GET", calcListPath(itsaNINO, ty, "?calculationType=estimate"), 400, []annualError{fmtType}},
		{"list: amendments before 2025-26", "GET", calcListPath(itsaNINO, "2024-25", "?calculationType=confirm-amendment"), 400,
			[]annualError{{"RULE_CALCULATION_TYPE_NOT_ALLOWED", "The provided calculation type is not applicable for this tax year", nil}}},
		{"list: nothing yet", "GET", calcListPath(itsaNINO, ty, ""), 404, []annualError{{"MATCHING_RESOURCE_NOT_FOUND", "Matching resource not found", nil}}},
		{"retrieve: ID", "GET", calcPath(itsaNINO, ty, "F2FB30E5-4AB6-4A29-B3C1-C7264259FF1C"), 400, []annualError{fmtID}},
		{"retrieve: ID and year, sorted", "GET", calcPath(itsaNINO, "2026_27", "1234567"), 400, []annualError{fmtID, fmtYear}},
		{"retrieve: eight digits is an ID", "GET", calcPath(itsaNINO, ty, "12345678"), 404,
			[]annualError{{"MATCHING_RESOURCE_NOT_FOUND", "Matching resource not found", nil}}},
		{"retrieve: unknown", "GET", calcPath(itsaNINO, ty, id), 404, []annualError{{"MATCHING_RESOURCE_NOT_FOUND", "Matching resource not found", nil}}},
		{"declare: kind", "POST", declarePath(itsaNINO, ty, id, "crystallisation"), 400, []annualError{fmtType}},
		{"declare: ID and kind", "POST", declarePath(itsaNINO, ty, "abc", "final"), 400, []annualError{fmtID, fmtType}},
		{"declare: no minimum year", "POST", declarePath(itsaNINO, "2015-16", id, "final-declaration"), 404, nil},
		{"declare: confirm-amendment before 2025-26", "POST", declarePath(itsaNINO, "2024-25", id, "confirm-amendment"), 400,
			[]annualError{{"RULE_SUBMISSION_FAILED", "The submission cannot be completed due to validation failures", nil}}},
		{"declare: unknown calculation", "POST", declarePath(itsaNINO, ty, id, "final-declaration"), 404,
			[]annualError{{"MATCHING_RESOURCE_NOT_FOUND", "Matching resource not found", nil}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := y.call(c.method, c.path, acceptCalc, "", "")
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %v", r.status, c.status, r.body)
			}
			if c.want != nil && !reflect.DeepEqual(errorsOf(r.body), c.want) {
				t.Fatalf("errors\n got %+v\nwant %+v", errorsOf(r.body), c.want)
			}
		})
	}

	wantError(t, y.call("POST", triggerPath(itsaNINO, ty, "in-year"), acceptProp, "", ""), http.StatusNotAcceptable, "ACCEPT_HEADER_INVALID")
	y.conf.Scopes = []string{"read:self-assessment"}
	readOnly := y.connect().AccessToken
	wantError(t, y.itsa("POST", triggerPath(itsaNINO, ty, "in-year"), readOnly, acceptCalc, "", ""), http.StatusForbidden, "INVALID_SCOPE")
	wantError(t, y.itsa("POST", declarePath(itsaNINO, ty, id, "final-declaration"), readOnly, acceptCalc, "", ""), http.StatusForbidden, "INVALID_SCOPE")
	wantError(t, y.itsa("GET", calcPath(itsaNINO, ty, id), readOnly, acceptCalc, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	y.conf.Scopes = []string{"write:self-assessment"}
	writeOnly := y.connect().AccessToken
	wantError(t, y.itsa("GET", calcListPath(itsaNINO, ty, ""), writeOnly, acceptCalc, "", ""), http.StatusForbidden, "INVALID_SCOPE")
}

// TestCalculationRefusals covers what HMRC refuses on the data: nothing
// submitted, an amendment before a declaration, a second calculation while
// one runs, missing quarterly updates and the property income allowance
// with expenses (errors in the final calculation, so no declaration).
func TestCalculationRefusals(t *testing.T) {
	y := afterYear(t)
	const ty = "2026-27"
	wantMessage(t, y.call("POST", triggerPath(itsaNINO, ty, "in-year"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_NO_INCOME_SUBMISSIONS_EXIST", "No income submissions exist for the tax year")
	wantMessage(t, y.call("POST", triggerPath(itsaNINO, "2025-26", "intent-to-finalise"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_NO_INCOME_SUBMISSIONS_EXIST", "No income submissions exist for the tax year")
	wantMessage(t, y.call("POST", triggerPath(itsaNINO, ty, "intent-to-amend"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_DECLARATION_NOT_RECEIVED", "The final declaration has not been received")

	// Only the first quarter was sent, and the property income allowance
	// is claimed with expenses.
	y.putCumulative(ty, cumulativeBody("2026-04-06", "2026-07-05", `{"periodAmount":3000}`, `{"premisesRunningCosts":100}`))
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, "", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":1000}}}`); r.status != http.StatusOK {
		t.Fatalf("annual: %d %v", r.status, r.body)
	}
	inYear := y.trigger(ty, "in-year")
	wantMessage(t, y.call("POST", triggerPath(itsaNINO, ty, "intent-to-finalise"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_CALCULATION_IN_PROGRESS", "A calculation is in progress. Please wait before triggering a new calculation")
	calc := y.calculation(ty, inYear)
	// In year the allowance with expenses is a warning and there is a
	// calculation: 3,000 - 100 - 1,000.
	if got := messageIDs(calc, "warnings"); !slices.Equal(got, []string{"C99002"}) {
		t.Errorf("in-year warnings %v", got)
	}
	wantFields(t, calc, map[string]string{"calculation/businessProfitAndLoss/0/taxableProfit": "1900"})

	final := y.trigger(ty, "intent-to-finalise")
	calc = y.calculation(ty, final)
	// The final calculation turns warnings into errors and has no results.
	if got := messageIDs(calc, "errors"); !slices.Equal(got, []string{"C99001", "C99001", "C99001", "C99002"}) {
		t.Errorf("final errors %v", got)
	}
	if get(t, calc, "calculation") != "" {
		t.Errorf("a calculation with errors has results: %s", get(t, calc, "calculation"))
	}
	for _, want := range []string{"5 October 2026", "5 January 2027", "5 April 2027"} {
		if !strings.Contains(get(t, calc, "messages/errors"), want) {
			t.Errorf("no error names the period ending %s: %s", want, get(t, calc, "messages/errors"))
		}
	}
	r := y.call("GET", calcListPath(itsaNINO, ty, "?calculationType=intent-to-finalise"), acceptCalc, "", "")
	wantFields(t, r.body, map[string]string{"calculations/0/calculationId": final, "calculations/0/liabilityAmount": "", "calculations/0/calculationOutcome": "PROCESSED"})
	wantMessage(t, y.call("POST", declarePath(itsaNINO, ty, final, "final-declaration"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_SUBMISSION_FAILED", "The submission cannot be completed due to validation failures")

	// Putting it right: the whole year without expenses, then a clean
	// final calculation that can be declared.
	y.putCumulative(ty, `{"fromDate":"2026-04-06","toDate":"2027-04-05","ukProperty":{"income":{"periodAmount":14000}}}`)
	final = y.trigger(ty, "intent-to-finalise")
	calc = y.calculation(ty, final)
	// 14,000 - 1,000 = 13,000; taxable 430; tax 86.00.
	wantFields(t, calc, map[string]string{"calculation/taxCalculation/totalIncomeTaxAndNicsDue": "86.00", "messages": ""})
	if r := y.call("POST", declarePath(itsaNINO, ty, final, "final-declaration"), acceptCalc, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("declaration: %d %v", r.status, r.body)
	}
	// An in-year calculation's ID never declares.
	wantError(t, y.call("POST", declarePath(itsaNINO, ty, inYear, "final-declaration"), acceptCalc, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
}

// TestCalendarQuartersFinalCalculation: a landlord on calendar quarters
// (30 June, 30 September, 31 December, 31 March) who sent all four updates
// can finalise the year; the missing-update check follows the landlord's
// own periods, not the standard ones.
func TestCalendarQuartersFinalCalculation(t *testing.T) {
	y := newYearEnv(t) // 6 April 2026, the first day of 2026-27
	const ty = "2026-27"
	if r := y.call("PUT", periodTypePath(itsaNINO, y.bid, ty), acceptBD, "", periodType("calendar")); r.status != http.StatusNoContent {
		t.Fatalf("calendar quarters: %d %v", r.status, r.body)
	}
	update := func(to string, rents int) {
		t.Helper()
		y.putCumulative(ty, cumulativeBody("2026-04-06", to, fmt.Sprintf(`{"periodAmount":%d}`, rents), `{"consolidatedExpenses":1000}`))
	}
	y.at(time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC))
	update("2026-06-30", 5000)
	y.at(time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC))
	update("2026-09-30", 10000)
	y.at(time.Date(2027, 1, 2, 9, 0, 0, 0, time.UTC))
	update("2026-12-31", 15000)

	// After the year, without the last quarter: one missing update, named
	// by the calendar period.
	y.at(time.Date(2027, 4, 10, 9, 0, 0, 0, time.UTC))
	calc := y.calculation(ty, y.trigger(ty, "intent-to-finalise"))
	if got := messageIDs(calc, "errors"); !slices.Equal(got, []string{"C99001"}) {
		t.Fatalf("final errors before the last update: %v", get(t, calc, "messages"))
	}
	if msg := get(t, calc, "messages/errors/0/text"); !strings.Contains(msg, "6 April 2026 to 31 March 2027") {
		t.Errorf("missing update message: %s", msg)
	}

	update("2027-03-31", 20000)
	ds := details(t, y.call("GET", obligationsPath("?fromDate=2026-04-06&toDate=2027-04-05"), acceptOBL, "", ""))
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprint(d["periodEndDate"], " ", d["status"]))
	}
	if want := []string{"2026-06-30 fulfilled", "2026-09-30 fulfilled", "2026-12-31 fulfilled", "2027-03-31 fulfilled"}; !slices.Equal(got, want) {
		t.Fatalf("obligations: %v, want %v", got, want)
	}
	final := y.trigger(ty, "intent-to-finalise")
	calc = y.calculation(ty, final)
	// 20,000 - 1,000 = 19,000; taxable 6,430; tax 1,286.00.
	wantFields(t, calc, map[string]string{"messages": "", "calculation/taxCalculation/totalIncomeTaxAndNicsDue": "1286.00"})
	if r := y.call("POST", declarePath(itsaNINO, ty, final, "final-declaration"), acceptCalc, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("final declaration: %d %v", r.status, r.body)
	}
}

// TestCalculationScenarios: every Gov-Test-Scenario of HMRC's test-data
// tables, which answer the same in both modes.
func TestCalculationScenarios(t *testing.T) {
	for _, mode := range []hmrcsim.Mode{hmrcsim.ModeDemo, hmrcsim.ModeSandbox} {
		y := afterYearWith(t, hmrcsim.Options{Mode: mode})
		const ty = "2026-27"
		id := "c432a56d-e811-474c-a26a-76fc3bcaefe5"
		for _, c := range []struct {
			method, path, scenario string
			status                 int
			code                   string
		}{
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "NO_INCOME_SUBMISSIONS_EXIST", 400, "RULE_NO_INCOME_SUBMISSIONS_EXIST"},
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "FINAL_DECLARATION_RECEIVED", 400, "RULE_FINAL_DECLARATION_RECEIVED"},
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "INCOME_SOURCES_CHANGED", 400, "RULE_INCOME_SOURCES_CHANGED"},
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "RECENT_SUBMISSIONS_EXIST", 400, "RULE_RECENT_SUBMISSIONS_EXIST"},
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "RESIDENCY_CHANGED", 400, "RULE_RESIDENCY_CHANGED"},
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "CALCULATION_IN_PROGRESS", 400, "RULE_CALCULATION_IN_PROGRESS"},
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "BUSINESS_VALIDATION_FAILURE", 400, "RULE_BUSINESS_VALIDATION_FAILURE"},
			{"POST", triggerPath(itsaNINO, ty, "intent-to-finalise"), "TAX_YEAR_NOT_ENDED", 400, "RULE_TAX_YEAR_NOT_ENDED"},
			{"POST", triggerPath(itsaNINO, ty, "in-year"), "NOT_FOUND", 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
			{"GET", calcListPath(itsaNINO, ty, ""), "NOT_FOUND", 404, "MATCHING_RESOURCE_NOT_FOUND"},
			{"GET", calcListPath(itsaNINO, ty, ""), "STATEFUL", 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
			{"GET", calcPath(itsaNINO, ty, id), "NOT_FOUND", 404, "MATCHING_RESOURCE_NOT_FOUND"},
			{"GET", calcPath(itsaNINO, "2022-23", id), "DYNAMIC", 400, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "OUTSIDE_AMENDMENT_WINDOW", 400, "RULE_OUTSIDE_AMENDMENT_WINDOW"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "FINAL_DECLARATION_IN_PROGRESS", 400, "RULE_FINAL_DECLARATION_IN_PROGRESS"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "FINAL_DECLARATION_RECEIVED", 400, "RULE_FINAL_DECLARATION_RECEIVED"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "FINAL_DECLARATION_TAX_YEAR", 400, "RULE_FINAL_DECLARATION_TAX_YEAR"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "INCOME_SOURCES_CHANGED", 400, "RULE_INCOME_SOURCES_CHANGED"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "INCOME_SOURCES_INVALID", 400, "RULE_INCOME_SOURCES_INVALID"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "NO_INCOME_SUBMISSIONS_EXIST", 400, "RULE_NO_INCOME_SUBMISSIONS_EXIST"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "RECENT_SUBMISSIONS_EXIST", 400, "RULE_RECENT_SUBMISSIONS_EXIST"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "RESIDENCY_CHANGED", 400, "RULE_RESIDENCY_CHANGED"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "SUBMISSION_FAILED", 400, "RULE_SUBMISSION_FAILED"},
			{"POST", declarePath(itsaNINO, ty, id, "final-declaration"), "TAX_YEAR_NOT_SUPPORTED", 400, "RULE_TAX_YEAR_NOT_SUPPORTED"},
			{"POST", declarePath(itsaNINO, ty, id, "confirm-amendment"), "NOT_FOUND", 404, "MATCHING_RESOURCE_NOT_FOUND"},
		} {
			r := y.call(c.method, c.path, acceptCalc, c.scenario, "")
			if r.status != c.status || r.body["code"] != c.code {
				t.Errorf("%s: %s %s with %s: %d %v, want %d %s", mode, c.method, c.path, c.scenario, r.status, r.body, c.status, c.code)
			}
		}

		// The canned answers: examples and errors.
		r := y.call("GET", calcPath(itsaNINO, ty, id), acceptCalc, "UK_PROP_DIVIDENDS_EXAMPLE", "")
		wantFields(t, r.body, map[string]string{
			"metadata/calculationId": "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c", "metadata/taxYear": ty,
			"calculation/taxCalculation/totalIncomeTaxAndNicsDue": "86.00",
		})
		r = y.call("GET", calcPath(itsaNINO, ty, id), acceptCalc, "ERROR_MESSAGES_EXIST", "")
		if r.status != http.StatusOK || get(t, r.body, "calculation") != "" || len(messageIDs(r.body, "errors")) == 0 {
			t.Errorf("ERROR_MESSAGES_EXIST: %d %v", r.status, r.body)
		}
		r = y.call("GET", calcPath(itsaNINO, "2025-26", id), acceptCalc, "DYNAMIC", "")
		wantFields(t, r.body, map[string]string{"metadata/taxYear": "2025-26", "metadata/requestedTimestamp": "2026-04-15T09:35:15.094Z", "metadata/periodTo": "2026-04-05"})
		r = y.call("GET", calcListPath(itsaNINO, "2025-26", "?calculationType=in-year"), acceptCalc, "DYNAMIC", "")
		wantFields(t, r.body, map[string]string{"calculations/0/calculationType": "in-year", "calculations/0/fromDate": "2025-04-06", "calculations/1": ""})
	}
}

// TestCalculationSandboxDefaults: in ModeSandbox DEFAULT answers are canned
// and nothing is kept, even for a landlord with a test business and a
// stateful update; the final declaration obligation stays as the sandbox
// shows it.
func TestCalculationSandboxDefaults(t *testing.T) {
	y := afterYearWith(t, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	const ty = "2026-27"
	if r := y.call("PUT", cumulativePath(itsaNINO, y.bid, ty), acceptProp, "STATEFUL", wholeYear2627); r.status != http.StatusNoContent {
		t.Fatalf("STATEFUL update: %d %v", r.status, r.body)
	}
	// No data at all, yet the trigger succeeds with the sandbox's ID.
	r := y.call("POST", triggerPath(itsaNINO, ty, "intent-to-finalise"), acceptCalc, "", "")
	if r.status != http.StatusAccepted || r.body["calculationId"] != "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c" {
		t.Fatalf("trigger: %d %v", r.status, r.body)
	}
	id := r.body["calculationId"].(string)
	r = y.call("GET", calcPath(itsaNINO, ty, id), acceptCalc, "", "")
	wantFields(t, r.body, map[string]string{"metadata/calculationId": id, "calculation/taxCalculation/incomeTax/incomeTaxCharged": "686.00"})
	r = y.call("GET", calcListPath(itsaNINO, ty, ""), acceptCalc, "", "")
	if r.status != http.StatusOK || len(asSlice(r.body["calculations"])) != 2 {
		t.Fatalf("list: %d %v", r.status, r.body)
	}
	if r := y.call("POST", declarePath(itsaNINO, ty, id, "final-declaration"), acceptCalc, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("declare: %d %v", r.status, r.body)
	}
	if got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, ""), acceptOBL, "", "")); !slices.Equal(got, []string{"2019-04-05 2020-01-31 open "}) {
		t.Errorf("sandbox DEFAULT obligations: %v", got)
	}
	// Individual Calculations has no STATEFUL in HMRC's test data.
	wantError(t, y.call("POST", triggerPath(itsaNINO, ty, "intent-to-finalise"), acceptCalc, "STATEFUL", ""), http.StatusBadRequest, "RULE_INCORRECT_GOV_TEST_SCENARIO")
	// Nothing of the year end was kept: the snapshot has none.
	if snap := save(t, y.sim); bytes.Contains(snap, []byte(`"yearEnd"`)) {
		t.Errorf("sandbox calculations were kept: %s", snap)
	}
}

// TestFinalDeclarationObligation covers the final declaration obligations:
// the default span of years, filters, validation, scenarios and the delay
// before a declaration shows as met.
func TestFinalDeclarationObligation(t *testing.T) {
	// 10 April 2027: 2027-28 has started. HMRC's "up to an hour" before an
	// obligation shows as met: one delay for quarterly updates and final
	// declarations.
	y := afterYearWith(t, hmrcsim.Options{FulfilmentDelay: time.Hour})
	got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, ""), acceptOBL, "", ""))
	want := []string{"2026-04-05 2027-01-31 open ", "2027-04-05 2028-01-31 open ", "2028-04-05 2029-01-31 open "}
	if !slices.Equal(got, want) {
		t.Fatalf("default years: %v, want %v", got, want)
	}
	for _, c := range []struct {
		query  string
		status int
		code   string
	}{
		{"?taxYear=2026", 400, "FORMAT_TAX_YEAR"},
		{"?taxYear=2026-28", 400, "RULE_TAX_YEAR_RANGE_INVALID"},
		{"?taxYear=2016-17", 400, "RULE_TAX_YEAR_NOT_SUPPORTED"},
		{"?status=met", 400, "FORMAT_STATUS"},
		{"?taxYear=2016&status=met", 400, "INVALID_REQUEST"},
		{"?taxYear=2024-25", 404, "NO_OBLIGATIONS_FOUND"}, // before the simulator's MTD
		{"?taxYear=2028-29", 404, "NO_OBLIGATIONS_FOUND"}, // not started
		{"?status=fulfilled", 404, "NO_OBLIGATIONS_FOUND"},
	} {
		wantError(t, y.call("GET", crystallisationPath(itsaNINO, c.query), acceptOBL, "", ""), c.status, c.code)
	}
	wantError(t, y.call("GET", crystallisationPath("AA12", ""), acceptOBL, "", ""), http.StatusBadRequest, "FORMAT_NINO")
	wantError(t, y.call("GET", crystallisationPath(otherNINO, ""), acceptOBL, "", ""), http.StatusForbidden, "CLIENT_OR_AGENT_NOT_AUTHORISED")
	wantError(t, y.call("GET", crystallisationPath(itsaNINO, ""), acceptCalc, "", ""), http.StatusNotAcceptable, "ACCEPT_HEADER_INVALID")
	for sc, code := range map[string]string{"NOT_FOUND": "MATCHING_RESOURCE_NOT_FOUND", "INSOLVENT_TRADER": "RULE_INSOLVENT_TRADER", "OPEN": "RULE_INCORRECT_GOV_TEST_SCENARIO"} {
		if r := y.call("GET", crystallisationPath(itsaNINO, ""), acceptOBL, sc, ""); r.body["code"] != code {
			t.Errorf("%s: %d %v", sc, r.status, r.body)
		}
	}
	if got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, "?status=fulfilled"), acceptOBL, "MULTIPLE", "")); len(got) != 2 {
		t.Errorf("MULTIPLE fulfilled: %v", got)
	}
	if got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, "?taxYear=2023-24"), acceptOBL, "DYNAMIC", "")); !slices.Equal(got, []string{"2024-04-05 2025-01-31 open "}) {
		t.Errorf("DYNAMIC: %v", got)
	}

	// The last update arrives; the declaration follows 5 seconds later,
	// both shown as met once their hour has passed.
	y.putCumulative("2026-27", wholeYear2627)
	id := y.trigger("2026-27", "intent-to-finalise")
	y.calculation("2026-27", id)
	if r := y.call("POST", declarePath(itsaNINO, "2026-27", id, "final-declaration"), acceptCalc, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("declare: %d %v", r.status, r.body)
	}
	lastQuarter := func() string {
		t.Helper()
		ds := details(t, y.call("GET", obligationsPath("?fromDate=2027-01-06&toDate=2027-04-05"), acceptOBL, "", ""))
		return fmt.Sprint(ds[0]["periodEndDate"], " ", ds[0]["status"])
	}
	y.clock.Advance(59 * time.Minute)
	if got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, "?taxYear=2026-27"), acceptOBL, "", "")); !slices.Equal(got, []string{"2027-04-05 2028-01-31 open "}) {
		t.Errorf("59 minutes after declaring: %v", got)
	}
	if got := lastQuarter(); got != "2027-04-05 open" {
		t.Errorf("59 minutes after the update: %s", got)
	}
	y.clock.Advance(time.Minute)
	if got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, "?status=fulfilled"), acceptOBL, "", "")); !slices.Equal(got, []string{"2027-04-05 2028-01-31 fulfilled 2027-04-10"}) {
		t.Errorf("an hour after declaring: %v", got)
	}
	if got := lastQuarter(); got != "2027-04-05 fulfilled" {
		t.Errorf("an hour after the update: %s", got)
	}
	wantError(t, y.call("GET", crystallisationPath(itsaNINO, "?taxYear=2027-28&status=fulfilled"), acceptOBL, "", ""), http.StatusNotFound, "NO_OBLIGATIONS_FOUND")
}

// TestYearEndDeprecationHeaders: the year end's routes answer with HMRC's
// deprecation headers when their API is deprecated: the annual submission as
// part of Property Business, the calculations as Individual Calculations.
func TestYearEndDeprecationHeaders(t *testing.T) {
	y := afterYear(t)
	const ty = "2026-27"
	on := time.Date(2027, 6, 1, 23, 59, 59, 0, time.UTC)
	y.sim.SetFaults(hmrcsim.Faults{Deprecated: []hmrcsim.Deprecation{
		{API: "property-business-mtd", On: on}, {API: "individual-calculations-mtd", On: on},
	}})
	docs := "https://developer.service.hmrc.gov.uk/api-documentation/docs/api/service/"
	for _, c := range []struct {
		method, path, accept, body string
		status                     int
		link                       string
	}{
		{"PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, `{"ukProperty":{"adjustments":{"nonResidentLandlord":false}}}`, 200, docs + "property-business-api"},
		{"DELETE", annualDeletePath(itsaNINO, y.bid, ty), acceptProp, "", 204, docs + "property-business-api"},
		{"POST", triggerPath(itsaNINO, ty, "in-year"), acceptCalc, "", 400, docs + "individual-calculations-api"},
		{"GET", calcListPath(itsaNINO, ty, ""), acceptCalc, "", 404, docs + "individual-calculations-api"},
		{"GET", crystallisationPath(itsaNINO, ""), acceptOBL, "", 200, ""}, // Obligations is not deprecated
	} {
		r := y.call(c.method, c.path, c.accept, "", c.body)
		if r.status != c.status || r.header.Get("Link") != c.link || (c.link != "") != (r.header.Get("Deprecation") == "Tue, 01 Jun 2027 23:59:59 GMT") {
			t.Errorf("%s %s: %d %v %v", c.method, c.path, r.status, r.header, r.body)
		}
	}
}

// TestYearEndRecordsFraudHeaders: every new route records the verdict on its
// fraud prevention headers under its API's name, for the validation feedback.
func TestYearEndRecordsFraudHeaders(t *testing.T) {
	y := afterYear(t)
	const ty = "2026-27"
	y.putCumulative(ty, wholeYear2627)
	app := y.appToken()
	id := "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c"
	annual := `{"ukProperty":{"adjustments":{"nonResidentLandlord":false}}}`
	for _, c := range []itsaRoute{
		{"property-business-mtd", "PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, annual},
		{"property-business-mtd", "GET", annualPath(itsaNINO, y.bid, ty), acceptProp, ""},
		{"property-business-mtd", "DELETE", annualDeletePath(itsaNINO, y.bid, ty), acceptProp, ""},
		{"obligations-mtd", "GET", crystallisationPath(itsaNINO, ""), acceptOBL, ""},
		{"individual-calculations-mtd", "POST", triggerPath(itsaNINO, ty, "intent-to-finalise"), acceptCalc, ""},
		{"individual-calculations-mtd", "GET", calcListPath(itsaNINO, ty, ""), acceptCalc, ""},
		{"individual-calculations-mtd", "GET", calcPath(itsaNINO, ty, id), acceptCalc, ""},
		{"individual-calculations-mtd", "POST", declarePath(itsaNINO, ty, id, "final-declaration"), acceptCalc, ""},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			y.itsaWith(c.method, c.path, y.tok, c.accept, "", c.body, webHeaders())
			if res, ok := y.sim.LastFraudResult(c.api); !ok || res.Code != hmrcsim.FraudValid {
				t.Fatalf("after complete headers: %v %+v", ok, res)
			}
			status, body := y.api("GET", "/test/fraud-prevention-headers/"+c.api+"/validation-feedback?connectionMethod=WEB_APP_VIA_SERVER", app)
			if status != http.StatusOK || !feedbackHas(body, c.method, strings.SplitN(c.path, "?", 2)[0], hmrcsim.FraudValid) {
				t.Fatalf("feedback: %d %v", status, body)
			}
			bad := webHeaders()
			bad.Del("Gov-Client-Device-ID")
			wantError(t, y.itsaWith(c.method, c.path, y.tok, "application/json", "", c.body, bad), http.StatusNotAcceptable, "ACCEPT_HEADER_INVALID")
			if res, _ := y.sim.LastFraudResult(c.api); res.Code != hmrcsim.FraudInvalid || !issueFor(res.Errors, hmrcsim.IssueMissing, "gov-client-device-id") {
				t.Fatalf("after a missing header: %+v", res)
			}
		})
	}
}

// TestCalculationMessages covers the calculation's other messages: a
// rent-a-room claim over the limit, a loss, and a year without rates.
func TestCalculationMessages(t *testing.T) {
	y := afterYear(t)
	// Rent-a-room rents 9,000 with 8,000 claimed, jointly let: the limit is
	// 3,750. Rents 1,000 with expenses 6,000. Profit 1,000 + 9,000 -
	// 6,000 - 3,750 = 250 in year (a warning), an error in the final one.
	y.putCumulative("2026-27", `{"fromDate":"2026-04-06","toDate":"2027-04-05","ukProperty":{"income":{"periodAmount":1000,"rentARoom":{"rentsReceived":9000}},"expenses":{"other":6000,"rentARoom":{"amountClaimed":8000}}}}`)
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, "2026-27"), acceptProp, "", `{"ukProperty":{"adjustments":{"nonResidentLandlord":false,"rentARoom":{"jointlyLet":true}}}}`); r.status != http.StatusOK {
		t.Fatalf("annual: %d %v", r.status, r.body)
	}
	calc := y.calculation("2026-27", y.trigger("2026-27", "in-year"))
	if got := messageIDs(calc, "warnings"); !slices.Equal(got, []string{"C99003"}) || !strings.Contains(get(t, calc, "messages/warnings/0/text"), "£3,750.00") {
		t.Errorf("rent-a-room warning: %v %s", got, get(t, calc, "messages"))
	}
	wantFields(t, calc, map[string]string{"calculation/businessProfitAndLoss/0/taxableProfit": "250", "calculation/businessProfitAndLoss/0/totalExpenses": "9750.00"})
	calc = y.calculation("2026-27", y.trigger("2026-27", "intent-to-finalise"))
	if got := messageIDs(calc, "errors"); !slices.Equal(got, []string{"C99003"}) {
		t.Errorf("rent-a-room error: %v", got)
	}

	// A loss: 1,000 - 6,000 = -5,000.
	y.putCumulative("2025-26", `{"fromDate":"2025-04-06","toDate":"2026-04-05","ukProperty":{"income":{"periodAmount":1000},"expenses":{"other":6000}}}`)
	calc = y.calculation("2025-26", y.trigger("2025-26", "intent-to-finalise"))
	wantFields(t, calc, map[string]string{
		"calculation/businessProfitAndLoss/0/netLoss": "5000.00", "calculation/businessProfitAndLoss/0/adjustedIncomeTaxLoss": "5000",
		"calculation/businessProfitAndLoss/0/taxableProfit": "0", "calculation/taxCalculation/totalIncomeTaxAndNicsDue": "0",
	})
	if got := messageIDs(calc, "info"); !slices.Equal(got, []string{"C99101"}) {
		t.Errorf("loss message: %v", got)
	}

	// 2027-28 has no rates in the simulator: an error, no results.
	y.at(time.Date(2027, 7, 1, 9, 0, 0, 0, time.UTC))
	y.putCumulative("2027-28", `{"fromDate":"2027-04-06","toDate":"2027-07-05","ukProperty":{"income":{"periodAmount":1000}}}`)
	calc = y.calculation("2027-28", y.trigger("2027-28", "in-year"))
	if got := messageIDs(calc, "errors"); !slices.Equal(got, []string{"C99004"}) || get(t, calc, "calculation") != "" {
		t.Errorf("2027-28: %v %s", got, get(t, calc, "calculation"))
	}
}
