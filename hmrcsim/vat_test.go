package hmrcsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const (
	vatVRN    = "123456789" // the VAT test user's
	otherVRN  = "987654321"
	acceptVAT = "application/vnd.hmrc.1.0+json"
)

type vatResp struct {
	status int
	body   map[string]any
	header http.Header
}

// vatEnv is newEnv whose test user is also VAT-registered (on 15 January
// 2025; the clock is 6 April 2026, so its quarters run from 25A1 to 26A2,
// April to June 2026, which has not ended).
func vatEnv(t *testing.T) *env {
	e := newEnv(t, hmrcsim.Options{Controls: hmrcsim.ControlsOn})
	e.sim.AddTestUser(hmrcsim.TestUser{UserID: userID, Password: userPassword, NINO: "AA123456A", FullName: "Ida Newton",
		VRN: vatVRN, VATRegistrationDate: "2025-01-15"})
	return e
}

// vatToken runs the grant journey for scopes and returns the access token.
func (e *env) vatToken(scopes ...string) string {
	e.t.Helper()
	conf := *e.conf
	conf.Scopes = scopes
	p := e.authorize(conf.AuthCodeURL("vat-state"), "grant")
	u, err := url.Parse(p.location)
	if p.status != http.StatusFound || err != nil {
		e.t.Fatalf("grant: %d %q", p.status, p.location)
	}
	tok, err := conf.Exchange(e.t.Context(), u.Query().Get("code"))
	if err != nil {
		e.t.Fatalf("exchange: %v", err)
	}
	return tok.AccessToken
}

// vatCall makes one VAT call; h adds headers (fraud prevention, Gov-Test-Scenario).
func (e *env) vatCall(method, path, token, body string, h http.Header) vatResp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", acceptVAT)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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
	if err := json.Unmarshal(raw, &m); err != nil {
		e.t.Fatalf("%s %s: %d non-JSON body %q", method, path, resp.StatusCode, raw)
	}
	if got := resp.Header.Get("X-CorrelationId"); len(got) != 36 {
		e.t.Errorf("%s %s: X-CorrelationId %q", method, path, got)
	}
	return vatResp{resp.StatusCode, m, resp.Header}
}

func scenarioHeader(name string) http.Header { return http.Header{"Gov-Test-Scenario": {name}} }

// validReturn is a correct nine-box return (box 3 = 1 + 2, box 5 = |3 − 4|)
// with fields replaced or removed (a nil value removes the field).
func validReturn(periodKey string, changes map[string]any) string {
	m := map[string]any{
		"periodKey": periodKey, "vatDueSales": json.Number("105.50"), "vatDueAcquisitions": json.Number("-100.45"),
		"totalVatDue": json.Number("5.05"), "vatReclaimedCurrPeriod": json.Number("105.15"), "netVatDue": json.Number("100.10"),
		"totalValueSalesExVAT": json.Number("300"), "totalValuePurchasesExVAT": json.Number("300"),
		"totalValueGoodsSuppliedExVAT": json.Number("3000"), "totalAcquisitionsExVAT": json.Number("3000"), "finalised": true,
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// items returns the codes and paths of an error body's errors list.
func items(body map[string]any) (codes, paths []string) {
	list, _ := body["errors"].([]any)
	for _, it := range list {
		m := it.(map[string]any)
		codes = append(codes, m["code"].(string))
		p, _ := m["path"].(string)
		paths = append(paths, p)
	}
	return codes, paths
}

func obligationKeys(body map[string]any) (keys, statuses []string) {
	list, _ := body["obligations"].([]any)
	for _, o := range list {
		m := o.(map[string]any)
		keys = append(keys, m["periodKey"].(string))
		statuses = append(statuses, m["status"].(string))
	}
	return keys, statuses
}

func TestVATObligationsQueryErrors(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat")
	base := "/organisations/vat/" + vatVRN + "/obligations"
	tests := []struct {
		name, query string
		want        string // HMRC's code in "message"; "" for 200
	}{
		{"NoParameters", "", "INVALID_DATE_FROM"},
		{"OpenOnly", "?status=O", ""},
		{"FulfilledWithoutDates", "?status=F", "MISSING_DATE_RANGE"}, // ObligationParameterFormatValidation
		{"UnknownStatusWithoutDates", "?status=X", "INVALID_STATUS"},
		{"FromOnly", "?from=2025-04-01", "INVALID_DATE_TO"},
		{"FromOnlyOpen", "?from=2025-04-01&status=O", "INVALID_DATE_TO"},
		{"ToOnly", "?to=2025-04-01", "INVALID_DATE_FROM"},
		{"BadFrom", "?from=2025-13-01&to=2025-12-31", "INVALID_DATE_FROM"},
		{"EmptyFrom", "?from=&to=2025-12-31", "INVALID_DATE_FROM"},
		{"BadTo", "?from=2025-01-01&to=31-12-2025", "INVALID_DATE_TO"},
		{"BadStatusWithDates", "?from=2025-01-01&to=2025-12-31&status=A", "INVALID_STATUS"},
		{"ToBeforeFrom", "?from=2025-06-01&to=2025-05-31", "INVALID_DATE_RANGE"},
		// DateRangeValidation: from must be before to, and to no later
		// than from plus one year.
		{"SameDay", "?from=2025-06-01&to=2025-06-01", "INVALID_DATE_RANGE"},
		{"TwoDays", "?from=2025-06-01&to=2025-06-02", ""},
		{"OneYear", "?from=2025-04-06&to=2026-04-06", ""},
		{"OneYearAndADay", "?from=2025-04-05&to=2026-04-06", "INVALID_DATE_RANGE"},
		{"LeapYear367Days", "?from=2023-03-01&to=2024-03-01", "none"}, // valid, before the user's registration
		{"LeapDayPlusAYear", "?from=2024-02-29&to=2025-02-28", ""},
		{"LeapDayPlusAYearAndADay", "?from=2024-02-29&to=2025-03-01", "INVALID_DATE_RANGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.vatCall("GET", base+tt.query, tok, "", nil)
			if tt.want == "none" {
				if r.status != http.StatusNotFound || r.body["code"] != "NOT_FOUND" {
					t.Fatalf("%d %v, want 404 NOT_FOUND", r.status, r.body)
				}
				return
			}
			if tt.want == "" {
				if r.status != http.StatusOK {
					t.Fatalf("%d %v, want 200", r.status, r.body)
				}
				return
			}
			// HMRC's obligations endpoint answers these with statusCode
			// and the code as message (obligationsErrors.scala).
			if r.status != http.StatusBadRequest || r.body["statusCode"] != float64(400) || r.body["message"] != tt.want {
				t.Fatalf("%d %v, want 400 {statusCode:400, message:%s}", r.status, r.body, tt.want)
			}
		})
	}
}

func TestVATAccess(t *testing.T) {
	e := vatEnv(t)
	vatRead := e.vatToken("read:vat")
	itsa := e.connect().AccessToken // read:self-assessment write:self-assessment
	obl := "/organisations/vat/" + vatVRN + "/obligations?status=O"
	tests := []struct {
		name, method, path, token, body string
		h                               http.Header
		status                          int
		code                            string
	}{
		{"NoToken", "GET", obl, "", "", nil, 401, "MISSING_CREDENTIALS"},
		{"AppToken", "GET", obl, e.appToken(), "", nil, 401, "INCORRECT_ACCESS_TOKEN_TYPE"},
		{"ITSATokenOnVAT", "GET", obl, itsa, "", nil, 403, "INVALID_SCOPE"},
		{"ReadTokenCannotSubmit", "POST", "/organisations/vat/" + vatVRN + "/returns", vatRead, validReturn("25A1", nil), nil, 403, "INVALID_SCOPE"},
		{"WrongAccept", "GET", obl, vatRead, "", http.Header{"Accept": {"application/vnd.hmrc.2.0+json"}}, 406, "ACCEPT_HEADER_INVALID"},
		{"MalformedVRN", "GET", "/organisations/vat/12345678/obligations?status=O", vatRead, "", nil, 400, "VRN_INVALID"},
		{"SomeoneElsesVRN", "GET", "/organisations/vat/" + otherVRN + "/obligations?status=O", vatRead, "", nil, 403, "CLIENT_OR_AGENT_NOT_AUTHORISED"},
		{"VATTokenOnITSA", "GET", "/obligations/details/AA123456A/income-and-expenditure", vatRead, "",
			http.Header{"Accept": {"application/vnd.hmrc.3.0+json"}}, 403, "INVALID_SCOPE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.vatCall(tt.method, tt.path, tt.token, tt.body, tt.h)
			if r.status != tt.status || r.body["code"] != tt.code {
				t.Fatalf("%d %v, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
}

func TestVATObligationsStateful(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat", "write:vat")
	base := "/organisations/vat/" + vatVRN + "/obligations"

	r := e.vatCall("GET", base+"?from=2025-04-06&to=2026-04-05", tok, "", nil)
	keys, statuses := obligationKeys(r.body)
	if r.status != 200 || !slices.Equal(keys, []string{"25A2", "25A3", "25A4", "26A1", "26A2"}) ||
		slices.ContainsFunc(statuses, func(s string) bool { return s != "O" }) {
		t.Fatalf("%d %v", r.status, r.body)
	}
	first := r.body["obligations"].([]any)[0].(map[string]any)
	want := map[string]any{"start": "2025-04-01", "end": "2025-06-30", "due": "2025-08-07", "status": "O", "periodKey": "25A2"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := first["received"]; ok {
		t.Error("an open obligation has a received date")
	}

	// Submit for January to March 2026 (ended) and see it fulfilled.
	sub := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("26A1", nil), nil)
	if sub.status != http.StatusCreated {
		t.Fatalf("submit: %d %v", sub.status, sub.body)
	}
	if id := sub.header.Get("Receipt-ID"); len(id) != 36 || sub.header.Get("Receipt-Timestamp") != "2026-04-06T09:00:00Z" {
		t.Errorf("receipt headers: %q %q", id, sub.header.Get("Receipt-Timestamp"))
	}
	fb, _ := sub.body["formBundleNumber"].(string)
	if len(fb) != 12 || strings.Trim(fb, "0123456789") != "" || sub.body["processingDate"] != "2026-04-06T09:00:00.000Z" {
		t.Errorf("receipt body: %v", sub.body)
	}
	// Box 3 (5.05) is below box 4 (105.15): a repayment, no charge reference.
	if sub.body["paymentIndicator"] != "BANK" || sub.body["chargeRefNumber"] != nil {
		t.Errorf("repayment receipt: %v", sub.body)
	}
	r = e.vatCall("GET", base+"?from=2026-01-01&to=2026-03-31&status=F", tok, "", nil)
	got := r.body["obligations"].([]any)
	if r.status != 200 || len(got) != 1 || got[0].(map[string]any)["periodKey"] != "26A1" || got[0].(map[string]any)["received"] != "2026-04-06" {
		t.Fatalf("fulfilled: %d %v", r.status, r.body)
	}
	r = e.vatCall("GET", base+"?status=O", tok, "", nil)
	if keys, _ := obligationKeys(r.body); slices.Contains(keys, "26A1") || !slices.Contains(keys, "25A1") {
		t.Errorf("open obligations: %v", keys)
	}

	// The return can be viewed, as sent; a second one for the period is refused.
	v := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/returns/26A1", tok, "", nil)
	if v.status != 200 || v.body["vatDueSales"] != 105.5 || v.body["netVatDue"] != 100.1 || v.body["periodKey"] != "26A1" {
		t.Errorf("view: %d %v", v.status, v.body)
	}
	if _, ok := v.body["finalised"]; ok {
		t.Error("the view shows finalised")
	}
	dup := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("26A1", nil), nil)
	if codes, _ := items(dup.body); dup.status != 403 || dup.body["code"] != "BUSINESS_ERROR" || !slices.Equal(codes, []string{"DUPLICATE_SUBMISSION"}) {
		t.Errorf("duplicate: %d %v", dup.status, dup.body)
	}

	// A payable return carries a charge reference.
	pay := validReturn("25A4", map[string]any{"vatDueSales": json.Number("500"), "vatDueAcquisitions": json.Number("0"),
		"totalVatDue": json.Number("500"), "vatReclaimedCurrPeriod": json.Number("120.25"), "netVatDue": json.Number("379.75")})
	sub = e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, pay, nil)
	if ref, _ := sub.body["chargeRefNumber"].(string); sub.status != 201 || sub.body["paymentIndicator"] != "DD" || len(ref) != 16 {
		t.Errorf("payable receipt: %d %v", sub.status, sub.body)
	}
}

func TestVATPeriodNotEnded(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat", "write:vat")
	// April to June 2026 ends after the clock's 6 April; the last day of a
	// period is still inside it.
	r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("26A2", nil), nil)
	if r.status != 403 || r.body["code"] != "TAX_PERIOD_NOT_ENDED" {
		t.Fatalf("%d %v", r.status, r.body)
	}
	// 30 June 2026; the old token expired with the clock.
	e.clock.Advance(85 * 24 * time.Hour)
	tok = e.vatToken("read:vat", "write:vat")
	if r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("26A2", nil), nil); r.status != 403 {
		t.Fatalf("on the last day: %d %v", r.status, r.body)
	}
	// 23:30 UTC on 30 June is 00:30 on 1 July in the UK, whose calendar
	// HMRC's days follow: the period has ended.
	e.clock.Advance(14*time.Hour + 30*time.Minute)
	tok = e.vatToken("read:vat", "write:vat")
	if r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("26A2", nil), nil); r.status != 201 {
		t.Fatalf("after the period: %d %v", r.status, r.body)
	}
}

func TestVATReturnValidation(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat", "write:vat")
	n := func(s string) json.Number { return json.Number(s) }
	tests := []struct {
		name   string
		body   string
		status int
		code   string   // top-level code
		items  []string // codes of errors[], nil for a flat error
		path   string   // the flat error's path, or the first item's
	}{
		{"MissingPeriodKey", validReturn("", map[string]any{"periodKey": nil}), 400, "MANDATORY_FIELD_MISSING", nil, "/periodKey"},
		{"MissingFinalised", validReturn("25A1", map[string]any{"finalised": nil}), 400, "MANDATORY_FIELD_MISSING", nil, "/finalised"},
		{"ThreeDecimals", validReturn("25A1", map[string]any{"vatDueSales": n("105.505")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/vatDueSales"},
		{"TrailingZeroScale", validReturn("25A1", map[string]any{"vatDueSales": n("105.500")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/vatDueSales"},
		{"Box1TooLarge", validReturn("25A1", map[string]any{"vatDueSales": n("10000000000000")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/vatDueSales"},
		{"Box4TooSmall", validReturn("25A1", map[string]any{"vatReclaimedCurrPeriod": n("-10000000000000")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/vatReclaimedCurrPeriod"},
		{"Box5Negative", validReturn("25A1", map[string]any{"netVatDue": n("-100.10")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/netVatDue"},
		{"Box5TooLarge", validReturn("25A1", map[string]any{"netVatDue": n("100000000000")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/netVatDue"},
		{"Box6Pence", validReturn("25A1", map[string]any{"totalValueSalesExVAT": n("300.50")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/totalValueSalesExVAT"},
		{"Box9TooLarge", validReturn("25A1", map[string]any{"totalAcquisitionsExVAT": n("10000000000000")}), 400, "INVALID_MONETARY_AMOUNT", nil, "/totalAcquisitionsExVAT"},
		{"NumberAsString", validReturn("25A1", map[string]any{"vatDueSales": "105.50"}), 400, "INVALID_NUMERIC_VALUE", nil, "/vatDueSales"},
		{"PeriodKeyNumber", validReturn("25A1", map[string]any{"periodKey": 2501}), 400, "INVALID_REQUEST", []string{"INVALID_STRING_VALUE"}, "/periodKey"},
		{"FinalisedString", validReturn("25A1", map[string]any{"finalised": "true"}), 400, "INVALID_REQUEST", []string{"UNMAPPED_PLAY_ERROR"}, "/finalised"},
		{"PeriodKeyLowerCase", validReturn("25a1", nil), 400, "INVALID_REQUEST", []string{"PERIOD_KEY_INVALID"}, "/periodKey"},
		{"PeriodKeyLong", validReturn("25A11", nil), 400, "INVALID_REQUEST", []string{"PERIOD_KEY_INVALID"}, "/periodKey"},
		{"TwoFieldErrors", validReturn("25A1", map[string]any{"vatDueSales": n("1.001"), "totalValueSalesExVAT": n("1.5")}), 400,
			"INVALID_REQUEST", []string{"INVALID_MONETARY_AMOUNT", "INVALID_MONETARY_AMOUNT"}, "/vatDueSales"},
		{"Box3NotSum", validReturn("25A1", map[string]any{"totalVatDue": n("5.06"), "netVatDue": n("100.09")}), 400, "INVALID_REQUEST", []string{"VAT_TOTAL_VALUE"}, "/totalVatDue"},
		{"Box5NotDifference", validReturn("25A1", map[string]any{"netVatDue": n("100.11")}), 400, "INVALID_REQUEST", []string{"VAT_NET_VALUE"}, "/netVatDue"},
		{"Box5SignedDifference", validReturn("25A1", map[string]any{"netVatDue": n("0"), "vatReclaimedCurrPeriod": n("5.05")}), 201, "", nil, ""},
		{"BothSums", validReturn("25A1", map[string]any{"totalVatDue": n("6")}), 400, "INVALID_REQUEST", []string{"VAT_NET_VALUE", "VAT_TOTAL_VALUE"}, "/netVatDue"},
		// Arithmetic is not checked while a field is wrong (HMRC's levels).
		{"FieldLevelFirst", validReturn("25A1", map[string]any{"totalVatDue": n("6"), "periodKey": "x"}), 400, "INVALID_REQUEST", []string{"PERIOD_KEY_INVALID"}, "/periodKey"},
		{"NotFinalised", validReturn("25A1", map[string]any{"finalised": false}), 403, "BUSINESS_ERROR", []string{"NOT_FINALISED"}, "/finalised"},
		{"NotJSON", "periodKey=25A1", 400, "INVALID_REQUEST", nil, ""},
		{"NotAnObject", "[]", 400, "INVALID_REQUEST", slices.Repeat([]string{"MANDATORY_FIELD_MISSING"}, 11), "/periodKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, tt.body, nil)
			if tt.status == 201 {
				if r.status != 201 {
					t.Fatalf("%d %v, want 201", r.status, r.body)
				}
				return
			}
			codes, paths := items(r.body)
			path, _ := r.body["path"].(string)
			if len(paths) > 0 {
				path = paths[0]
			}
			if r.status != tt.status || r.body["code"] != tt.code || !slices.Equal(codes, tt.items) || path != tt.path {
				t.Fatalf("%d %v\nwant %d %s %v %s", r.status, r.body, tt.status, tt.code, tt.items, tt.path)
			}
		})
	}
	// Only the one valid return was stored.
	if status, raw := e.rawCall("GET", "/organisations/vat/"+vatVRN+"/returns/25A2", tok, acceptVAT); status != 404 || raw != "" {
		t.Errorf("view after refusals: %d %q", status, raw)
	}
}

// Whole pounds may be written with zero decimals or an exponent; a hash
// period key is stored (HMRC's sandbox takes any well-formed key) and is
// viewed URL-encoded.
func TestVATReturnNumberForms(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat", "write:vat")
	body := validReturn("#001", map[string]any{"totalValueSalesExVAT": json.Number("300.00"), "totalValuePurchasesExVAT": json.Number("3e2"),
		"vatDueSales": json.Number("1.055e2")})
	if r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, body, nil); r.status != 201 {
		t.Fatalf("%d %v", r.status, r.body)
	}
	v := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/returns/"+url.PathEscape("#001"), tok, "", nil)
	if v.status != 200 || v.body["periodKey"] != "#001" || v.body["totalValuePurchasesExVAT"] != 300.0 {
		t.Fatalf("view: %d %v", v.status, v.body)
	}
	// View Return wraps its period key error (PeriodKeyFormatError).
	if r := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/returns/001", tok, "", nil); r.status != 400 || r.body["code"] != "INVALID_REQUEST" {
		t.Errorf("short key: %d %v", r.status, r.body)
	} else if codes, _ := items(r.body); !slices.Equal(codes, []string{"PERIOD_KEY_INVALID"}) {
		t.Errorf("short key: %v", r.body)
	}
	// More than four years back.
	if r := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/returns/21A4", tok, "", nil); r.status != 403 || r.body["code"] != "BUSINESS_ERROR" {
		t.Errorf("old period: %d %v", r.status, r.body)
	}
}

func TestVATScenarios(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat", "write:vat")
	obl := "/organisations/vat/" + vatVRN + "/obligations?from=2017-01-01&to=2017-12-31"
	tests := []struct {
		scenario string
		status   int
		count    int // obligations
		met      int
		code     string
	}{
		{"QUARTERLY_NONE_MET", 200, 4, 0, ""},
		{"QUARTERLY_ONE_MET", 200, 4, 1, ""},
		{"QUARTERLY_FOUR_MET", 200, 4, 4, ""},
		{"MONTHLY_TWO_MET", 200, 12, 2, ""},
		{"NOT_FOUND", 404, 0, 0, "NOT_FOUND"},
		{"INSOLVENT_TRADER", 403, 0, 0, "RULE_INSOLVENT_TRADER"},
		{"NO_SUCH_SCENARIO", 400, 0, 0, "RULE_INCORRECT_GOV_TEST_SCENARIO"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			r := e.vatCall("GET", obl, tok, "", scenarioHeader(tt.scenario))
			keys, statuses := obligationKeys(r.body)
			met := 0
			for _, s := range statuses {
				if s == "F" {
					met++
				}
			}
			if r.status != tt.status || len(keys) != tt.count || met != tt.met || (tt.code != "" && r.body["code"] != tt.code) {
				t.Fatalf("%d %v", r.status, r.body)
			}
			if tt.count > 0 && keys[0] != "#001" {
				t.Errorf("first key %q", keys[0])
			}
		})
	}
	q := e.vatCall("GET", obl, tok, "", scenarioHeader("QUARTERLY_ONE_MET"))
	first := q.body["obligations"].([]any)[0].(map[string]any)
	if first["start"] != "2017-01-01" || first["end"] != "2017-03-31" || first["due"] != "2017-05-07" || first["received"] != "2017-05-06" {
		t.Errorf("canned quarter: %v", first)
	}
	for _, sc := range []struct{ name, code string }{{"DUPLICATE_SUBMISSION", "BUSINESS_ERROR"}, {"TAX_PERIOD_NOT_ENDED", "TAX_PERIOD_NOT_ENDED"}} {
		r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("25A1", nil), scenarioHeader(sc.name))
		if r.status != 403 || r.body["code"] != sc.code {
			t.Errorf("%s: %d %v", sc.name, r.status, r.body)
		}
	}
	// A canned refusal stored nothing.
	if status, raw := e.rawCall("GET", "/organisations/vat/"+vatVRN+"/returns/25A1", tok, acceptVAT); status != 404 {
		t.Errorf("after scenarios: %d %q", status, raw)
	}
}

// Every VAT request that reaches the API has its fraud prevention headers
// judged and recorded under vat-mtd.
func TestVATRecordsFraudHeaders(t *testing.T) {
	e := vatEnv(t)
	tok := e.vatToken("read:vat", "write:vat")
	if _, ok := e.sim.LastFraudResult(hmrcsim.VATFraudAPI); ok {
		t.Fatal("a verdict before any VAT call")
	}
	e.vatCall("GET", "/organisations/vat/"+vatVRN+"/obligations?status=O", tok, "", webHeaders())
	if res, ok := e.sim.LastFraudResult(hmrcsim.VATFraudAPI); !ok || res.Code != "VALID_HEADERS" {
		t.Fatalf("after a good call: %v %+v", ok, res)
	}
	bad := webHeaders()
	bad.Del("Gov-Client-Device-ID")
	e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok, validReturn("25A1", nil), bad)
	if res, _ := e.sim.LastFraudResult(hmrcsim.VATFraudAPI); res.Code != "INVALID_HEADERS" || !issueFor(res.Errors, "MISSING_HEADER", "gov-client-device-id") {
		t.Fatalf("after a bad call: %+v", res)
	}
	status, body := e.api("GET", "/test/fraud-prevention-headers/vat-mtd/validation-feedback?connectionMethod=WEB_APP_VIA_SERVER", e.appToken())
	if reqs, _ := body["requests"].([]any); status != 200 || len(reqs) != 2 {
		t.Errorf("feedback: %d %v", status, body)
	}
}

// A user made by Create Test User with mtd-vat can be granted VAT authority
// and has obligations from its registration date.
func TestVATCreatedTestUser(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	status, body := e.vatCreateUser(e.appToken(), `{"serviceNames":["mtd-vat"]}`)
	vrn, _ := body["vrn"].(string)
	if status != 201 || len(vrn) != 9 {
		t.Fatalf("create: %d %v", status, body)
	}
	conf := *e.conf
	conf.Scopes = []string{"read:vat"}
	b := e.browser()
	p := e.get(b, conf.AuthCodeURL("s"))
	p = e.submit(b, p, url.Values{"user_id": {body["userId"].(string)}, "password": {body["password"].(string)}})
	p = e.submit(b, p, url.Values{"decision": {"grant"}})
	u, _ := url.Parse(p.location)
	tok, err := conf.Exchange(t.Context(), u.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	r := e.vatCall("GET", "/organisations/vat/"+vrn+"/obligations?status=O", tok.AccessToken, "", nil)
	keys, _ := obligationKeys(r.body)
	if r.status != 200 || len(keys) == 0 {
		t.Fatalf("%d %v", r.status, r.body)
	}
}

func (e *env) vatCreateUser(token, body string) (int, map[string]any) {
	e.t.Helper()
	return e.apiWith(http.DefaultClient, "POST", "/create-test-user/individuals", token, strings.NewReader(body))
}
