package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// deviceAt is platformDevice with the env's clock, which the year-end
// tests move: the request and sign-in times are the landlord's now.
func (env *testEnv) deviceAt() http.Header {
	h := platformDevice()
	now := env.Clock.Now().UTC()
	h.Set("Mtd-Client-Request-Time", now.Format("2006-01-02T15:04:05.000Z"))
	h.Set("Mtd-Client-Multi-Factor", "type=TOTP&timestamp="+url.QueryEscape(now.Add(-5*time.Minute).Format("2006-01-02T15:04Z"))+"&unique-reference=fc4b5fd6816f75a7c81fc8eaa9499d6a")
	return h
}

// apiLandlord is the landlord with their NINO, connected for Income Tax.
func (env *testEnv) apiLandlord(t *testing.T) {
	t.Helper()
	u := *env.landlord
	u.NINO = testNINO
	if err := env.Store.UpdateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.connect()
}

// sendQuarterAPI sends quarter q (1 to 4) of y through the API, with the
// figures of sendQuarters or, when not "", the given expenses object's
// fields.
func (env *testEnv) sendQuarterAPI(t *testing.T, y itsa.TaxYear, q int, expenses string) {
	t.Helper()
	end := quarterEnds(y)[q-1]
	if expenses == "" {
		expenses = fmt.Sprintf(`"consolidatedExpenses":%d,"residentialFinancialCost":%d`, 1000*q, 750*q)
	}
	body := fmt.Sprintf(`{"fromDate":%q,"toDate":%q,"ukProperty":{"income":{"periodAmount":%d},"expenses":{%s}}}`, y.FirstDay(), end, 5000*q, expenses)
	if status, m := env.apiCall(t, http.MethodPut, fmt.Sprintf("/api/v1/users/id:%d/hmrc/property/uk/cumulative/%s", env.landlord.ID, y), body, env.deviceAt()); status != http.StatusOK {
		t.Fatalf("update to %s: %d %v", end, status, m)
	}
}

// calculate asks for a calculation of type typ through the API.
func (env *testEnv) calculate(t *testing.T, y itsa.TaxYear, typ string) map[string]any {
	t.Helper()
	status, m := env.apiCall(t, http.MethodPost, fmt.Sprintf("/api/v1/users/id:%d/hmrc/calculations/%s", env.landlord.ID, y), `{"type":"`+typ+`"}`, env.deviceAt())
	if status != http.StatusOK || m["calculation_id"] == nil || m["type"] != typ {
		t.Fatalf("%s calculation: %d %v", typ, status, m)
	}
	return m
}

// line finds a summary line by its key.
func line(m map[string]any, part, key string) any {
	sum, _ := m["summary"].(map[string]any)
	lines, _ := sum[part].([]any)
	for _, l := range lines {
		if lm := l.(map[string]any); lm["key"] == key {
			return lm["amount"]
		}
	}
	return nil
}

// refused checks an API refusal made before anything was sent: its status
// and code, and that no write reached HMRC and only reads reads (any number
// when reads is -1): what the service sent, and the simulator's count of
// the requests it received.
func (env *testEnv) refused(t *testing.T, rec *sentRecorder, reads int, call func() (int, map[string]any), status int, code string) map[string]any {
	t.Helper()
	before, received := rec.count(), env.Sim.Stats().APIRequests
	got, m := call()
	if n := env.Sim.Stats().APIRequests - received; reads >= 0 && n != int64(reads) {
		t.Errorf("the simulator received %d requests, want %d", n, reads)
	}
	if got != status || m["error"] != code {
		t.Errorf("%d %v, want %d %s", got, m, status, code)
	}
	sent := rec.since(before)
	if w := writes(sent); len(w) > 0 || reads >= 0 && len(sent) != reads {
		t.Errorf("refused, yet sent %q (want %d reads, no write)", sent, reads)
	}
	return m
}

// The year through the API, as a platform drives it: the year's status,
// an estimate, the annual submission, the final calculation, the
// declaration (refused where HMRC would, with nothing sent), the receipt,
// the obligation met, an amendment, and the amendment window's end.
func TestAPIYearEnd(t *testing.T) {
	env, y, rec := yearEndEnv(t)
	id := env.landlord.ID
	ty := y.String()
	users := fmt.Sprintf("/api/v1/users/id:%d/hmrc", id)
	call := func(method, path, body string) func() (int, map[string]any) {
		return func() (int, map[string]any) { return env.apiCall(t, method, users+path, body, env.deviceAt()) }
	}

	if status, m := env.apiCall(t, http.MethodGet, users+"/tax-years/"+ty, "", nil); status != http.StatusConflict || m["error"] != "nino_required" {
		t.Errorf("without a NINO: %d %v", status, m)
	}
	env.apiLandlord(t)
	for q := 1; q <= 4; q++ {
		env.sendQuarterAPI(t, y, q, "")
	}
	env.Clock.Advance(time.Hour) // HMRC may take up to an hour to show them received

	status, m := call(http.MethodGet, "/tax-years/"+ty, "")()
	if status != http.StatusOK {
		t.Fatalf("%d %v", status, m)
	}
	fd, _ := m["final_declaration"].(map[string]any)
	next, _ := m["next"].(map[string]any)
	if m["ended"] != true || len(m["quarterly"].([]any)) != 4 || fd["status"] != "open" || fd["due"] != fmt.Sprintf("%d-01-31", int(y)+2) ||
		next["step"] != "final-declaration" || next["days_until_due"] == nil {
		t.Errorf("the year: %v", m)
	}
	for _, q := range m["quarterly"].([]any) {
		if q.(map[string]any)["status"] != "fulfilled" {
			t.Errorf("quarter %v", q)
		}
	}

	est := env.calculate(t, y, "in-year")
	if line(est, "tax", "total_due") != 86.0 || line(est, "estimate", "total_due") == nil || est["declarable"] != false ||
		!strings.HasPrefix(est["disclaimer"].(string), "This calculation is only based on information HMRC have received") || est["hmrc"] == nil {
		t.Errorf("estimate: %v", est)
	}
	estimate := est["calculation_id"].(string)

	annual := `{"ukProperty":{"adjustments":{"balancingCharge":200,"nonResidentLandlord":false},"allowances":{"costOfReplacingDomesticItems":500}}}`
	env.refused(t, rec, 0, call(http.MethodPut, "/property/uk/annual/"+ty, `{"ukProperty":{"adjustments":{"balancingCharge":200}}}`), 400, "invalid_request")
	status, m = call(http.MethodPut, "/property/uk/annual/"+ty, annual)()
	if status != http.StatusOK || m["kind"] != mtdconnect.SubmissionUKPropertyAnnual || m["submission_id"] == nil {
		t.Fatalf("annual submission: %d %v", status, m)
	}
	if status, m := call(http.MethodGet, "/property/uk/annual/"+ty, "")(); status != http.StatusOK || m["submittedOn"] == nil ||
		m["ukProperty"].(map[string]any)["adjustments"].(map[string]any)["balancingCharge"] != 200.0 {
		t.Errorf("annual submission held: %d %v", status, m)
	}

	a := env.calculate(t, y, "intent-to-finalise")
	if line(a, "tax", "total_due") != 26.0 || a["declarable"] != true || !strings.HasPrefix(a["declaration"].(string), "I declare that") {
		t.Errorf("final calculation: %v", a)
	}
	calcA := a["calculation_id"].(string)
	declare := func(calcID string, agreed bool) func() (int, map[string]any) {
		return call(http.MethodPost, "/calculations/"+ty+"/"+calcID+"/final-declaration", fmt.Sprintf(`{"declaration_agreed":%v}`, agreed))
	}

	// Refused before anything is sent.
	env.refused(t, rec, 0, declare(calcA, false), 400, "declaration_not_agreed")
	env.refused(t, rec, 0, declare("not-a-calculation", true), 400, "invalid_request")
	env.refused(t, rec, -1, declare(estimate, true), 409, "wrong_calculation")
	b := env.calculate(t, y, "intent-to-finalise")
	calcB := b["calculation_id"].(string)
	env.refused(t, rec, -1, declare(calcA, true), 409, "calculation_not_latest")
	env.Clock.Advance(time.Minute)
	if status, m := call(http.MethodPut, "/property/uk/annual/"+ty, annual)(); status != http.StatusOK {
		t.Fatalf("annual submission again: %d %v", status, m)
	}
	env.refused(t, rec, -1, declare(calcB, true), 409, "calculation_not_latest")

	c := env.calculate(t, y, "intent-to-finalise")
	calcC := c["calculation_id"].(string)
	status, m = declare(calcC, true)()
	if status != http.StatusCreated || m["kind"] != mtdconnect.SubmissionFinalDeclaration || m["calculation_id"] != calcC || len(m["correlation_id"].(string)) != 36 {
		t.Fatalf("final declaration: %d %v", status, m)
	}
	env.refused(t, rec, -1, declare(calcC, true), 409, "already_declared")

	env.Clock.Advance(time.Hour) // HMRC may take up to an hour to show it received
	status, m = call(http.MethodGet, "/tax-years/"+ty, "")()
	fd, _ = m["final_declaration"].(map[string]any)
	next, _ = m["next"].(map[string]any)
	if status != http.StatusOK || fd["status"] != "fulfilled" || fd["received"] != fmt.Sprintf("%d-05-01", int(y)+1) ||
		next["step"] != "done" || m["amendable_until"] != fmt.Sprintf("%d-01-31", int(y)+3) {
		t.Errorf("after declaring: %d %v", status, m)
	}
	if status, m := call(http.MethodGet, "/calculations/"+ty+"/"+calcC, "")(); status != http.StatusOK || m["type"] != "declare-finalisation" || m["declarable"] != false {
		t.Errorf("the declared calculation: %d %v", status, m)
	}
	status, m = call(http.MethodGet, "/calculations/"+ty, "")()
	if list, _ := m["calculations"].([]any); status != http.StatusOK || len(list) != 4 ||
		list[0].(map[string]any)["type"] != "final-declaration" || list[0].(map[string]any)["calculation_id"] != calcC {
		t.Errorf("the year's calculations: %d %v", status, m)
	}

	// An amendment.
	am := env.calculate(t, y, "intent-to-amend")
	if am["declarable"] != true {
		t.Errorf("amended calculation: %v", am)
	}
	status, m = call(http.MethodPost, "/calculations/"+ty+"/"+am["calculation_id"].(string)+"/confirm-amendment", `{"declaration_agreed":true}`)()
	if status != http.StatusCreated || m["kind"] != mtdconnect.SubmissionAmendment {
		t.Fatalf("confirm amendment: %d %v", status, m)
	}

	// The receipts list every kind.
	status, m = call(http.MethodGet, "/submissions?purpose=itsa", "")()
	var kinds []string
	for _, s := range m["submissions"].([]any) {
		kinds = append(kinds, s.(map[string]any)["kind"].(string))
	}
	if want := []string{"confirm-amendment", "final-declaration", "uk-property-annual", "uk-property-annual",
		"uk-property-cumulative", "uk-property-cumulative", "uk-property-cumulative", "uk-property-cumulative"}; status != http.StatusOK || !slices.Equal(kinds, want) {
		t.Errorf("receipts: %d %q, want %q", status, kinds, want)
	}

	// After the window: refused, and no calculation is asked for. (HMRC's
	// authority has lasted its 18 months by then: connect again.)
	env.Clock.Advance(time.Date(int(y)+3, time.February, 1, 9, 0, 0, 0, time.UTC).Sub(env.Clock.Now()))
	env.apiLandlord(t)
	env.refused(t, rec, 1, call(http.MethodPost, "/calculations/"+ty, `{"type":"intent-to-amend"}`), 422, "outside_amendment_window")
	env.refused(t, rec, 1, call(http.MethodPost, "/calculations/"+ty+"/"+am["calculation_id"].(string)+"/confirm-amendment", `{"declaration_agreed":true}`), 422, "outside_amendment_window")
	if len(rec.invalid) > 0 {
		t.Errorf("fraud prevention headers not valid on: %q", rec.invalid)
	}
}

// The refusals that read HMRC's view of the year: quarterly updates
// missing, a calculation with HMRC's errors; and a sandbox scenario passed
// on to HMRC without them.
func TestAPIYearEndRefusals(t *testing.T) {
	env, y, rec := yearEndEnv(t)
	ty := y.String()
	users := fmt.Sprintf("/api/v1/users/id:%d/hmrc", env.landlord.ID)
	env.apiLandlord(t)
	declare := func(calcID string) func() (int, map[string]any) {
		return func() (int, map[string]any) {
			return env.apiCall(t, http.MethodPost, users+"/calculations/"+ty+"/"+calcID+"/final-declaration", `{"declaration_agreed":true}`, env.deviceAt())
		}
	}

	// Three updates of four: HMRC's calculation has errors, and the
	// missing update is named.
	for q := 1; q <= 3; q++ {
		env.sendQuarterAPI(t, y, q, "")
	}
	c := env.calculate(t, y, "intent-to-finalise")
	if errs, _ := c["errors"].([]any); c["declarable"] != false || len(errs) != 1 || c["summary"] != nil {
		t.Errorf("with an update missing: %v", c)
	}
	m := env.refused(t, rec, -1, declare(c["calculation_id"].(string)), 409, "updates_missing")
	if errs := errorsOf(m); len(errs) != 1 || !strings.Contains(fmt.Sprint(m["errors"]), "5 April "+fmt.Sprint(int(y)+1)) {
		t.Errorf("missing update: %v", m)
	}

	// The property income allowance claimed with expenses: HMRC's error.
	env.sendQuarterAPI(t, y, 4, `"consolidatedExpenses":4000`)
	if status, m := env.apiCall(t, http.MethodPut, users+"/property/uk/annual/"+ty, `{"ukProperty":{"allowances":{"propertyIncomeAllowance":1000}}}`, env.deviceAt()); status != http.StatusOK {
		t.Fatalf("annual submission: %d %v", status, m)
	}
	c = env.calculate(t, y, "intent-to-finalise")
	m = env.refused(t, rec, -1, declare(c["calculation_id"].(string)), 409, "calculation_has_errors")
	if !strings.Contains(fmt.Sprint(m["errors"]), "property income allowance") {
		t.Errorf("HMRC's error is not passed on: %v", m)
	}

	// A Gov-Test-Scenario goes to HMRC's sandbox as it is: the service does
	// not read HMRC's view of the year first.
	before := rec.count()
	h := env.deviceAt()
	h.Set("Gov-Test-Scenario", "RECENT_SUBMISSIONS_EXIST")
	status, m := env.apiCall(t, http.MethodPost, users+"/calculations/"+ty+"/"+c["calculation_id"].(string)+"/final-declaration", `{"declaration_agreed":true}`, h)
	if status != http.StatusConflict || m["error"] != "RULE_RECENT_SUBMISSIONS_EXIST" || len(rec.since(before)) != 1 {
		t.Errorf("scenario: %d %v, sent %q", status, m, rec.since(before))
	}
	if ob, err := env.itsa.FinalDeclarationObligation(t.Context(), env.landlord.ID, testNINO, y, mustBatch(t, env)); err != nil || ob == nil || ob.Fulfilled() {
		t.Errorf("the final declaration obligation after the refusals: %+v, %v", ob, err)
	}
}
