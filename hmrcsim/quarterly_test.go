package hmrcsim_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

func periodTypePath(nino, bid, ty string) string {
	return "/individuals/business/details/" + nino + "/" + bid + "/" + ty
}

func periodType(typ string) string { return `{"quarterlyPeriodType":"` + typ + `"}` }

// ends lists the obligations' period starts, ends and due dates.
func ends(t *testing.T, r itsaResp) (starts, periodEnds, dues []string) {
	t.Helper()
	for _, d := range details(t, r) {
		starts = append(starts, d["periodStartDate"].(string))
		periodEnds = append(periodEnds, d["periodEndDate"].(string))
		dues = append(dues, d["dueDate"].(string))
	}
	return starts, periodEnds, dues
}

// Calendar quarters in the demo: chosen before the year's first update,
// shown in the obligations with the standard due dates, enforced on the
// updates, fixed once one arrived, and carried into the next year.
func TestQuarterlyPeriodTypeCalendar(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{FulfilmentDelay: -1})
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	year := "?fromDate=2026-04-06&toDate=2027-04-05"
	if r := e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "", periodType("calendar")); r.status != http.StatusNoContent {
		t.Fatalf("calendar: %d %v", r.status, r.body)
	}
	starts, pe, dues := ends(t, e.itsa("GET", obligationsPath(year), tok, acceptOBL, "", ""))
	// The first calendar year starts on 6 April (E2E: "the change affects
	// the first period of the first year and starts from 6 April").
	if !slices.Equal(starts, slices.Repeat([]string{"2026-04-06"}, 4)) ||
		!slices.Equal(pe, []string{"2026-06-30", "2026-09-30", "2026-12-31", "2027-03-31"}) ||
		!slices.Equal(dues, []string{"2026-08-07", "2026-11-07", "2027-02-07", "2027-05-07"}) {
		t.Errorf("calendar obligations: %v %v %v", starts, pe, dues)
	}
	// Last year is untouched.
	if _, pe, _ := ends(t, e.itsa("GET", obligationsPath("?fromDate=2025-04-06&toDate=2026-04-05"), tok, acceptOBL, "", "")); pe[0] != "2025-07-05" {
		t.Errorf("2025-26 changed: %v", pe)
	}
	// Choosing again before any update is fine.
	if r := e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "", periodType("calendar")); r.status != http.StatusNoContent {
		t.Fatalf("calendar again: %d %v", r.status, r.body)
	}

	e.clock.Advance(86 * 24 * time.Hour) // 2026-07-01
	tok = e.connect().AccessToken
	cum := cumulativePath(itsaNINO, bid, taxYear)
	standardQ1 := `{"fromDate":"2026-04-06","toDate":"2026-07-05","ukProperty":{"income":{"periodAmount":10}}}`
	calendarQ1 := `{"fromDate":"2026-04-06","toDate":"2026-06-30","ukProperty":{"income":{"periodAmount":10}}}`
	wantError(t, e.itsa("PUT", cum, tok, acceptProp, "", standardQ1), 400, "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE")
	if r := e.itsa("PUT", cum, tok, acceptProp, "", calendarQ1); r.status != http.StatusNoContent {
		t.Fatalf("calendar Q1: %d %v", r.status, r.body)
	}
	ds := details(t, e.itsa("GET", obligationsPath(year), tok, acceptOBL, "", ""))
	if ds[0]["status"] != "fulfilled" || ds[0]["receivedDate"] != "2026-07-01" || ds[1]["status"] != "open" {
		t.Errorf("after the calendar Q1 update: %v", ds)
	}
	// "the quarterly period type cannot be changed after a submission is
	// made for that year".
	wantError(t, e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "", periodType("standard")), 400, "RULE_BUSINESS_ID_STATE_CONFLICT")

	// Next year carries on with calendar quarters, from 1 April.
	e.clock.Advance(279 * 24 * time.Hour) // 2027-04-06
	tok = e.connect().AccessToken
	next := "?fromDate=2027-04-06&toDate=2028-04-05"
	starts, pe, _ = ends(t, e.itsa("GET", obligationsPath(next), tok, acceptOBL, "", ""))
	if starts[0] != "2027-04-01" || pe[0] != "2027-06-30" {
		t.Errorf("2027-28 carried on: %v %v", starts, pe)
	}
	// Back to standard for the new current year.
	if r := e.itsa("PUT", periodTypePath(itsaNINO, bid, "2027-28"), tok, acceptBD, "", periodType("standard")); r.status != http.StatusNoContent {
		t.Fatalf("standard: %d %v", r.status, r.body)
	}
	starts, pe, _ = ends(t, e.itsa("GET", obligationsPath(next), tok, acceptOBL, "", ""))
	if starts[0] != "2027-04-06" || pe[0] != "2027-07-05" {
		t.Errorf("2027-28 standard: %v %v", starts, pe)
	}
}

func TestQuarterlyPeriodTypeErrors(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	put := func(nino, b, ty, body, scenario string) itsaResp {
		return e.itsa("PUT", periodTypePath(nino, b, ty), tok, acceptBD, scenario, body)
	}
	tests := []struct {
		name                      string
		nino, bid, ty, body, scen string
		status                    int
		code                      string
		errors                    []string
	}{
		{name: "bad NINO", nino: "AA12", status: 400, code: "FORMAT_NINO"},
		{name: "someone else's NINO", nino: otherNINO, status: 403, code: "CLIENT_OR_AGENT_NOT_AUTHORISED"},
		{name: "bad business ID", bid: "XPIS1", status: 400, code: "FORMAT_BUSINESS_ID"},
		{name: "bad tax year", ty: "2026", status: 400, code: "FORMAT_TAX_YEAR"},
		{name: "tax year range", ty: "2026-28", status: 400, code: "RULE_TAX_YEAR_RANGE_INVALID"},
		{name: "empty body", body: "{}", status: 400, code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"},
		{name: "unknown type", body: periodType("monthly"), status: 400, code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"},
		{name: "not JSON", body: "calendar", status: 400, code: "INVALID_REQUEST"},
		{name: "several", bid: "XPIS1", ty: "2026-28", body: "{}", status: 400, code: "INVALID_REQUEST",
			errors: []string{"FORMAT_BUSINESS_ID", "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", "RULE_TAX_YEAR_RANGE_INVALID"}},
		// "Only the current tax year is allowed."
		{name: "last year", ty: "2025-26", status: 422, code: "RULE_REQUEST_CANNOT_BE_FULFILLED"},
		{name: "next year", ty: "2027-28", status: 422, code: "RULE_REQUEST_CANNOT_BE_FULFILLED"},
		{name: "unknown business", bid: "XPIS00000000000", status: 404, code: "RULE_BUSINESS_ID_NOT_FOUND"},
		{name: "scenario not found", scen: "BUSINESS_ID_NOT_FOUND", status: 404, code: "RULE_BUSINESS_ID_NOT_FOUND"},
		{name: "scenario conflict", scen: "BUSINESS_ID_STATE_CONFLICT", status: 400, code: "RULE_BUSINESS_ID_STATE_CONFLICT"},
		{name: "scenario updating", scen: "QUARTERLY_PERIOD_UPDATING", status: 400, code: "RULE_QUARTERLY_PERIOD_UPDATING"},
		{name: "scenario cannot be fulfilled", scen: "REQUEST_CANNOT_BE_FULFILLED", status: 422, code: "RULE_REQUEST_CANNOT_BE_FULFILLED"},
		{name: "scenario unknown", scen: "PROPERTY", status: 400, code: "RULE_INCORRECT_GOV_TEST_SCENARIO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := put(cmpOr(tt.nino, itsaNINO), cmpOr(tt.bid, bid), cmpOr(tt.ty, taxYear), cmpOr(tt.body, periodType("calendar")), tt.scen)
			if r.status != tt.status || r.body["code"] != tt.code {
				t.Fatalf("%d %v, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			if codes, _ := items(r.body); !slices.Equal(codes, tt.errors) {
				t.Errorf("errors %v, want %v", codes, tt.errors)
			}
		})
	}
	// None of them changed the periods.
	if _, pe, _ := ends(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "", "")); pe[0] != "2026-07-05" {
		t.Errorf("a refused request changed the periods: %v", pe)
	}
	// The write scope, and a JSON body type.
	r := e.itsaWith("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "", "", http.Header{"Content-Type": {"text/plain"}})
	wantError(t, r, 415, "INVALID_BODY_TYPE")
	e.conf.Scopes = []string{"read:self-assessment"}
	readOnly := e.connect().AccessToken
	wantError(t, e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), readOnly, acceptBD, "", periodType("calendar")), 403, "INVALID_SCOPE")
}

func TestSandboxQuarterlyPeriodType(t *testing.T) {
	e, tok := sandboxEnv(t)
	bid := e.createBusiness(tok, ukBusiness)
	// DEFAULT: "Simulate a successful response", nothing stored.
	if r := e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "", periodType("calendar")); r.status != 204 {
		t.Fatalf("DEFAULT: %d %v", r.status, r.body)
	}
	calendarQ1 := `{"fromDate":"2026-04-06","toDate":"2026-06-30","ukProperty":{"income":{"periodAmount":10}}}`
	e.clock.Advance(5 * 24 * time.Hour) // 2026-07-01
	tok = e.connect().AccessToken
	wantError(t, e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "STATEFUL", calendarQ1), 400, "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE")
	// STATEFUL: stored against the test business.
	wantError(t, e.itsa("PUT", periodTypePath(itsaNINO, "XPIS12345678901", taxYear), tok, acceptBD, "STATEFUL", periodType("calendar")), 404, "RULE_BUSINESS_ID_NOT_FOUND")
	if r := e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "STATEFUL", periodType("calendar")); r.status != 204 {
		t.Fatalf("STATEFUL: %d %v", r.status, r.body)
	}
	if r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "STATEFUL", calendarQ1); r.status != 204 {
		t.Fatalf("calendar Q1: %d %v", r.status, r.body)
	}
	wantError(t, e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "STATEFUL", periodType("standard")), 400, "RULE_BUSINESS_ID_STATE_CONFLICT")

	// A business that commenced between 1 and 5 April cannot change its
	// quarters on those days, after its commencement.
	e2 := newEnv(t, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	e2.clock.Advance(362 * 24 * time.Hour) // 2027-04-03, still 2026-27
	tok2 := e2.connect().AccessToken
	b2 := e2.createBusiness(tok2, `{"typeOfBusiness":"uk-property","commencementDate":"2027-04-02"}`)
	wantError(t, e2.itsa("PUT", periodTypePath(itsaNINO, b2, taxYear), tok2, acceptBD, "STATEFUL", periodType("calendar")), 400, "RULE_QUARTERLY_PERIOD_UPDATING")
}

// HMRC: "it may take up to an hour for the obligation to be marked as
// fulfilled". FulfilmentDelay models it on the simulator's clock; the
// default is that hour.
func TestFulfilmentDelay(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	e.clock.Advance(90 * 24 * time.Hour) // 2026-07-05 09:00
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	if r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "", q1Body); r.status != 204 {
		t.Fatalf("PUT: %d %v", r.status, r.body)
	}
	status := func() map[string]any {
		return details(t, e.itsa("GET", obligationsPath(""), tok, acceptOBL, "", ""))[0]
	}
	e.clock.Advance(59 * time.Minute)
	if d := status(); d["status"] != "open" || d["receivedDate"] != nil {
		t.Errorf("after 59 minutes: %v", d)
	}
	e.clock.Advance(time.Minute)
	if d := status(); d["status"] != "fulfilled" || d["receivedDate"] != "2026-07-05" {
		t.Errorf("after an hour: %v", d)
	}
	// The summary itself is there at once.
	if r := e.itsa("GET", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "", ""); r.status != 200 || r.body["submittedOn"] != "2026-07-05T09:00:00.000Z" {
		t.Errorf("GET: %d %v", r.status, r.body)
	}
}
