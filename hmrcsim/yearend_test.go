package hmrcsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const acceptCalc = "application/vnd.hmrc.8.0+json"

// yearEnv is a simulator (clock at 09:00 on 6 April 2026, the first day of
// 2026-27) with the test user connected, read and write.
type yearEnv struct {
	*env
	tok string
	bid string // the user's UK property business
}

func newYearEnv(t *testing.T) *yearEnv {
	t.Helper()
	return newYearEnvWith(t, hmrcsim.Options{})
}

// newYearEnvWith is newYearEnv with options. In ModeSandbox bid is a UK
// property test business of the application, made through the Test Support
// API (and purged 7 days later on the simulator clock).
func newYearEnvWith(t *testing.T, opts hmrcsim.Options) *yearEnv {
	t.Helper()
	e := newEnv(t, opts)
	y := &yearEnv{env: e, tok: e.connect().AccessToken}
	y.bid = ukPropertyID(t, e, y.tok, opts.Mode)
	return y
}

// at moves the simulator clock forward to ts and connects again, as the
// access token lives 4 hours and a grant 18 months.
func (y *yearEnv) at(ts time.Time) {
	y.t.Helper()
	if ts.Before(y.clock.Now()) {
		y.t.Fatalf("clock at %s cannot go back to %s", y.clock.Now(), ts)
	}
	y.clock.Advance(ts.Sub(y.clock.Now()))
	y.tok = y.connect().AccessToken
}

func (y *yearEnv) call(method, path, accept, scenario, body string) itsaResp {
	y.t.Helper()
	return y.itsa(method, path, y.tok, accept, scenario, body)
}

func annualPath(nino, bid, ty string) string {
	return "/individuals/business/property/uk/" + nino + "/" + bid + "/annual/" + ty
}

func annualDeletePath(nino, bid, ty string) string {
	return "/individuals/business/property/" + nino + "/" + bid + "/annual/" + ty
}

func triggerPath(nino, ty, calcType string) string {
	return "/individuals/calculations/" + nino + "/self-assessment/" + ty + "/trigger/" + calcType
}

func calcListPath(nino, ty, query string) string {
	return "/individuals/calculations/" + nino + "/self-assessment/" + ty + query
}

func calcPath(nino, ty, id string) string {
	return "/individuals/calculations/" + nino + "/self-assessment/" + ty + "/" + id
}

func declarePath(nino, ty, id, kind string) string {
	return "/individuals/calculations/" + nino + "/self-assessment/" + ty + "/" + id + "/" + kind
}

func crystallisationPath(nino, query string) string {
	return "/obligations/details/" + nino + "/crystallisation" + query
}

var uuidV4RE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// trigger asks for a calculation and returns its ID.
func (y *yearEnv) trigger(ty, calcType string) string {
	y.t.Helper()
	r := y.call("POST", triggerPath(itsaNINO, ty, calcType), acceptCalc, "", "")
	id, _ := r.body["calculationId"].(string)
	if r.status != http.StatusAccepted || !uuidV4RE.MatchString(id) || len(r.body) != 1 {
		y.t.Fatalf("trigger %s %s: %d %v", ty, calcType, r.status, r.body)
	}
	return id
}

// calculation waits the 5 seconds HMRC asks for and retrieves it.
func (y *yearEnv) calculation(ty, id string) map[string]any {
	y.t.Helper()
	y.clock.Advance(5 * time.Second)
	r := y.call("GET", calcPath(itsaNINO, ty, id), acceptCalc, "", "")
	if r.status != http.StatusOK {
		y.t.Fatalf("retrieve %s: %d %v", id, r.status, r.body)
	}
	return r.body
}

// get reads a JSON value by a slash path ("calculation/taxCalculation/incomeTax/incomeTaxCharged",
// array elements by index) as its JSON text, "" if absent.
func get(t *testing.T, body map[string]any, path string) string {
	t.Helper()
	var v any = body
	for _, name := range strings.Split(path, "/") {
		switch x := v.(type) {
		case map[string]any:
			v = x[name]
		case []any:
			var i int
			if _, err := fmt.Sscan(name, &i); err != nil || i >= len(x) {
				return ""
			}
			v = x[i]
		default:
			return ""
		}
	}
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// wantFields checks JSON values by path; numbers compare as numbers.
func wantFields(t *testing.T, body map[string]any, want map[string]string) {
	t.Helper()
	for path, w := range want {
		got := get(t, body, path)
		var gn, wn json.Number
		if json.Unmarshal([]byte(got), &gn) == nil && json.Unmarshal([]byte(w), &wn) == nil {
			gf, _ := gn.Float64()
			wf, _ := wn.Float64()
			if gf == wf {
				continue
			}
		}
		if got != w {
			t.Errorf("%s = %s, want %s", path, cmpOr(got, "(absent)"), w)
		}
	}
}

func wantMessage(t *testing.T, r itsaResp, status int, code, message string) {
	t.Helper()
	wantError(t, r, status, code)
	if r.body["message"] != message {
		t.Fatalf("%s: message %q, want %q", code, r.body["message"], message)
	}
}

func messageIDs(body map[string]any, kind string) []string {
	var ids []string
	msgs, _ := body["messages"].(map[string]any)
	for _, m := range asSlice(msgs[kind]) {
		ids = append(ids, m.(map[string]any)["id"].(string))
	}
	return ids
}

func cumulativeBody(from, to string, income, expenses string) string {
	return `{"fromDate":"` + from + `","toDate":"` + to + `","ukProperty":{"income":` + income + `,"expenses":` + expenses + `}}`
}

func obligationStatuses(t *testing.T, r itsaResp) []string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("obligations: %d %v", r.status, r.body)
	}
	var out []string
	for _, o := range asSlice(r.body["obligations"]) {
		m := o.(map[string]any)
		received, _ := m["receivedDate"].(string)
		out = append(out, fmt.Sprintf("%s %s %s %s", m["periodEndDate"], m["dueDate"], m["status"], received))
	}
	return out
}

// TestYearEndWholeYear walks a landlord's 2026-27: a quarterly update and an
// estimate, the year's last update and the annual submission, the final
// calculation and the declaration (refused while HMRC would refuse it), the
// obligation met, an amendment, and the amendment window closing.
func TestYearEndWholeYear(t *testing.T) {
	y := newYearEnv(t)
	const ty = "2026-27"

	// First quarter: rents 5,000, expenses 1,000, finance costs 750.
	y.at(time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC))
	q1 := cumulativeBody("2026-04-06", "2026-07-05", `{"periodAmount":5000}`, `{"premisesRunningCosts":1000,"residentialFinancialCost":750}`)
	if r := y.call("PUT", cumulativePath(itsaNINO, y.bid, ty), acceptProp, "", q1); r.status != http.StatusNoContent {
		t.Fatalf("Q1: %d %v", r.status, r.body)
	}
	id := y.trigger(ty, "in-year")

	// Not ready for 5 seconds on the simulator clock.
	wantError(t, y.call("GET", calcPath(itsaNINO, ty, id), acceptCalc, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	y.clock.Advance(4 * time.Second)
	wantError(t, y.call("GET", calcPath(itsaNINO, ty, id), acceptCalc, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	wantError(t, y.call("GET", calcListPath(itsaNINO, ty, ""), acceptCalc, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	calc := y.calculation(ty, id) // at +9 s
	// Year to date: profit 5,000 - 1,000 = 4,000, all within the
	// personal allowance: no tax; the finance costs find no income over
	// the allowance and are carried forward (750). The forecast scales the
	// 91 days to 6 July to the year's 365: rents 500,000p × 365/91 =
	// 2,005,494p, expenses 401,098p, finance costs 300,824p; profit
	// 16,043.96, taxed as 16,043; taxable 3,473; tax 694.60; relief 20% of
	// min(3,008.24, 16,043, 3,473) = 601.64 (601.648 rounded down); due
	// 92.96.
	wantFields(t, calc, map[string]string{
		"metadata/calculationId": id, "metadata/taxYear": ty, "metadata/calculationType": "in-year",
		"metadata/requestedBy": "customer", "metadata/calculationReason": "customer-request",
		"metadata/periodFrom": "2026-04-06", "metadata/periodTo": "2026-07-05",
		"metadata/requestedTimestamp":                                               "2026-07-01T09:00:00.000Z",
		"metadata/calculationTimestamp":                                             "2026-07-01T09:00:05.000Z",
		"inputs/personalInformation/identifier":                                     "AA123456",
		"inputs/incomeSources/businessIncomeSources/0/incomeSourceId":               y.bid,
		"inputs/incomeSources/businessIncomeSources/0/latestPeriodEndDate":          "2026-07-05",
		"calculation/businessProfitAndLoss/0/incomeSourceType":                      "uk-property",
		"calculation/businessProfitAndLoss/0/totalIncome":                           "5000.00",
		"calculation/businessProfitAndLoss/0/totalExpenses":                         "1000.00",
		"calculation/businessProfitAndLoss/0/netProfit":                             "4000.00",
		"calculation/businessProfitAndLoss/0/taxableProfit":                         "4000",
		"calculation/allowancesAndDeductions/personalAllowance":                     "12570",
		"calculation/taxCalculation/incomeTax/totalTaxableIncome":                   "0",
		"calculation/taxCalculation/incomeTax/incomeTaxCharged":                     "0",
		"calculation/taxCalculation/totalIncomeTaxAndNicsDue":                       "0",
		"calculation/reliefs/residentialFinanceCosts/ukProperty/amountClaimed":      "750",
		"calculation/reliefs/residentialFinanceCosts/ukProperty/carryForwardAmount": "750.00",
		"calculation/endOfYearEstimate/incomeSource/0/taxableIncome":                "16043",
		"calculation/endOfYearEstimate/totalTaxableIncome":                          "3473",
		"calculation/endOfYearEstimate/incomeTaxAmount":                             "92.96",
		"calculation/endOfYearEstimate/incomeTaxNicAmount":                          "92.96",
		"calculation/taxCalculation/nics":                                           "",
	})
	if got := messageIDs(calc, "info"); !slices.Equal(got, []string{"C99102"}) {
		t.Errorf("info messages %v, want the finance costs carried forward", got)
	}
	r := y.call("GET", calcListPath(itsaNINO, ty, ""), acceptCalc, "", "")
	if r.status != http.StatusOK || len(asSlice(r.body["calculations"])) != 1 {
		t.Fatalf("list: %d %v", r.status, r.body)
	}
	wantFields(t, r.body, map[string]string{
		"calculations/0/calculationId": id, "calculations/0/calculationType": "in-year",
		"calculations/0/calculationTrigger": "attended", "calculations/0/calculationOutcome": "PROCESSED",
		"calculations/0/liabilityAmount": "0", "calculations/0/fromDate": "2026-04-06", "calculations/0/toDate": "2026-07-05",
		"calculations/0/calculationTimestamp": "2026-07-01T09:00:05.000Z",
	})

	// The year has not ended: no final calculation, no declaration with
	// an in-year calculation.
	wantMessage(t, y.call("POST", triggerPath(itsaNINO, ty, "intent-to-finalise"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_PREMATURE_FINALISATION", "Finalisation cannot occur until after the end of the tax year")
	wantError(t, y.call("POST", declarePath(itsaNINO, ty, id, "final-declaration"), acceptCalc, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")

	// After the year: the last cumulative update (rents 20,000, expenses
	// 2,500 + 1,500, finance costs 3,000) fulfils every quarterly
	// obligation; the annual submission adds a balancing charge of 200
	// and claims 500 for replacing domestic items.
	y.at(time.Date(2027, 4, 10, 10, 0, 0, 0, time.UTC))
	q4 := cumulativeBody("2026-04-06", "2027-04-05", `{"periodAmount":20000}`,
		`{"premisesRunningCosts":2500,"repairsAndMaintenance":1500,"residentialFinancialCost":3000}`)
	if r := y.call("PUT", cumulativePath(itsaNINO, y.bid, ty), acceptProp, "", q4); r.status != http.StatusNoContent {
		t.Fatalf("Q4: %d %v", r.status, r.body)
	}
	annual := `{"ukProperty":{"adjustments":{"balancingCharge":200,"nonResidentLandlord":false},"allowances":{"costOfReplacingDomesticItems":500}}}`
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, "", annual); r.status != http.StatusOK || r.body != nil {
		t.Fatalf("annual: %d %v", r.status, r.body)
	}
	if got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, "?taxYear="+ty), acceptOBL, "", "")); !slices.Equal(got, []string{"2027-04-05 2028-01-31 open "}) {
		t.Fatalf("final declaration obligation before declaring: %v", got)
	}

	final := y.trigger(ty, "intent-to-finalise")
	// Declaring before the calculation is ready is refused.
	wantMessage(t, y.call("POST", declarePath(itsaNINO, ty, final, "final-declaration"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_FINAL_DECLARATION_IN_PROGRESS", "There is a calculation in progress for the tax year")
	wantError(t, y.call("POST", triggerPath(itsaNINO, ty, "in-year"), acceptCalc, "", ""), http.StatusBadRequest, "RULE_CALCULATION_IN_PROGRESS")
	calc = y.calculation(ty, final)
	// Profit 20,000 - 4,000 + 200 - 500 = 15,700; taxable 3,130; tax
	// 626.00; relief 20% of min(3,000, 15,700, 3,130) = 600.00; due 26.00.
	wantFields(t, calc, map[string]string{
		"metadata/calculationType": "intent-to-finalise", "metadata/periodTo": "2027-04-05",
		"calculation/businessProfitAndLoss/0/totalAdditions":                             "200.00",
		"calculation/businessProfitAndLoss/0/totalDeductions":                            "500.00",
		"calculation/businessProfitAndLoss/0/taxableProfit":                              "15700",
		"calculation/incomeSummaryTotals/totalPropertyProfit":                            "15700",
		"calculation/taxCalculation/incomeTax/totalTaxableIncome":                        "3130",
		"calculation/taxCalculation/incomeTax/payPensionsProfit/taxBands/0/name":         "basic-rate",
		"calculation/taxCalculation/incomeTax/payPensionsProfit/taxBands/0/rate":         "20",
		"calculation/taxCalculation/incomeTax/incomeTaxCharged":                          "626.00",
		"calculation/reliefs/residentialFinanceCosts/totalResidentialFinanceCostsRelief": "600.00",
		"calculation/taxCalculation/incomeTax/totalIncomeTaxDue":                         "26.00",
		"calculation/taxCalculation/totalIncomeTaxAndNicsDue":                            "26.00",
		"calculation/endOfYearEstimate":                                                  "",
		"messages":                                                                       "",
	})

	// Data sent after the calculation makes it out of date; so does a
	// newer calculation.
	y.clock.Advance(time.Minute)
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, "", annual); r.status != http.StatusOK {
		t.Fatalf("annual again: %d %v", r.status, r.body)
	}
	wantMessage(t, y.call("POST", declarePath(itsaNINO, ty, final, "final-declaration"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_RECENT_SUBMISSIONS_EXIST", "More recent submissions exist. Trigger a new calculation")
	latest := y.trigger(ty, "intent-to-finalise")
	y.calculation(ty, latest)
	wantError(t, y.call("POST", declarePath(itsaNINO, ty, final, "final-declaration"), acceptCalc, "", ""), http.StatusBadRequest, "RULE_RECENT_SUBMISSIONS_EXIST")

	// The declaration, with the latest calculation.
	declaredAt := y.clock.Now()
	if r := y.call("POST", declarePath(itsaNINO, ty, latest, "final-declaration"), acceptCalc, "", ""); r.status != http.StatusNoContent || r.body != nil {
		t.Fatalf("final declaration: %d %v", r.status, r.body)
	}
	if got := obligationStatuses(t, y.call("GET", crystallisationPath(itsaNINO, "?taxYear="+ty), acceptOBL, "", "")); !slices.Equal(got, []string{"2027-04-05 2028-01-31 fulfilled 2027-04-10"}) {
		t.Fatalf("final declaration obligation after declaring: %v", got)
	}
	wantFields(t, y.call("GET", calcPath(itsaNINO, ty, latest), acceptCalc, "", "").body, map[string]string{
		"metadata/calculationType":       "declare-finalisation",
		"metadata/finalisationTimestamp": declaredAt.UTC().Format("2006-01-02T15:04:05.000Z"),
	})
	r = y.call("GET", calcListPath(itsaNINO, ty, "?calculationType=final-declaration"), acceptCalc, "", "")
	wantFields(t, r.body, map[string]string{"calculations/0/calculationId": latest, "calculations/0/liabilityAmount": "26.00", "calculations/1": ""})

	// Once declared: no second declaration, no new final or in-year
	// calculation.
	wantMessage(t, y.call("POST", declarePath(itsaNINO, ty, latest, "final-declaration"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_FINAL_DECLARATION_RECEIVED", "Final declaration has already been received")
	wantError(t, y.call("POST", triggerPath(itsaNINO, ty, "intent-to-finalise"), acceptCalc, "", ""), http.StatusBadRequest, "RULE_FINAL_DECLARATION_RECEIVED")
	wantError(t, y.call("POST", triggerPath(itsaNINO, ty, "in-year"), acceptCalc, "", ""), http.StatusBadRequest, "RULE_FINAL_DECLARATION_RECEIVED")

	// An amendment: 800 for domestic items instead of 500. Profit 15,400;
	// taxable 2,830; tax 566.00; the finance costs are limited to the
	// 2,830 over the allowance: relief 566.00, 170.00 carried forward; due
	// 0.00.
	y.at(time.Date(2027, 9, 1, 9, 0, 0, 0, time.UTC))
	amended := `{"ukProperty":{"adjustments":{"balancingCharge":200,"nonResidentLandlord":false},"allowances":{"costOfReplacingDomesticItems":800}}}`
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, "", amended); r.status != http.StatusOK {
		t.Fatalf("amended annual: %d %v", r.status, r.body)
	}
	wantError(t, y.call("POST", declarePath(itsaNINO, ty, latest, "confirm-amendment"), acceptCalc, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	amend := y.trigger(ty, "intent-to-amend")
	wantFields(t, y.calculation(ty, amend), map[string]string{
		"metadata/calculationType":                                                  "intent-to-amend",
		"calculation/taxCalculation/incomeTax/incomeTaxCharged":                     "566.00",
		"calculation/reliefs/residentialFinanceCosts/relievableAmount":              "2830.00",
		"calculation/taxCalculation/totalIncomeTaxAndNicsDue":                       "0.00",
		"calculation/reliefs/residentialFinanceCosts/ukProperty/carryForwardAmount": "170.00",
	})
	if r := y.call("POST", declarePath(itsaNINO, ty, amend, "confirm-amendment"), acceptCalc, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("confirm amendment: %d %v", r.status, r.body)
	}
	wantError(t, y.call("POST", declarePath(itsaNINO, ty, amend, "confirm-amendment"), acceptCalc, "", ""), http.StatusBadRequest, "RULE_FINAL_DECLARATION_RECEIVED")
	r = y.call("GET", calcListPath(itsaNINO, ty, ""), acceptCalc, "", "")
	var types []string
	for _, c := range asSlice(r.body["calculations"]) {
		types = append(types, c.(map[string]any)["calculationType"].(string))
	}
	if want := []string{"confirm-amendment", "final-declaration", "intent-to-finalise", "in-year"}; !slices.Equal(types, want) {
		t.Errorf("list, newest first: %v, want %v", types, want)
	}

	// The amendment window closes 12 months after 31 January 2028.
	y.at(time.Date(2029, 1, 31, 23, 0, 0, 0, time.UTC))
	late := y.trigger(ty, "intent-to-amend")
	y.at(time.Date(2029, 2, 1, 9, 0, 0, 0, time.UTC))
	wantError(t, y.call("POST", declarePath(itsaNINO, ty, late, "confirm-amendment"), acceptCalc, "", ""), http.StatusBadRequest, "RULE_OUTSIDE_AMENDMENT_WINDOW")
	wantMessage(t, y.call("POST", triggerPath(itsaNINO, ty, "intent-to-amend"), acceptCalc, "", ""),
		http.StatusBadRequest, "RULE_OUTSIDE_AMENDMENT_WINDOW", "You are outside the amendment window")
	wantMessage(t, y.call("PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, "", amended),
		http.StatusBadRequest, "RULE_OUTSIDE_AMENDMENT_WINDOW", "You are outside the amendment window")
	wantError(t, y.call("DELETE", annualDeletePath(itsaNINO, y.bid, ty), acceptProp, "", ""), http.StatusBadRequest, "RULE_OUTSIDE_AMENDMENT_WINDOW")
}
