package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// vatBody is a return as the API takes it, HMRC's JSON.
func vatBody(periodKey string, over map[string]any) string {
	m := map[string]any{
		"periodKey": periodKey, "vatDueSales": json.Number("105.50"), "vatDueAcquisitions": json.Number("-100.45"),
		"totalVatDue": json.Number("5.05"), "vatReclaimedCurrPeriod": json.Number("105.15"), "netVatDue": json.Number("100.10"),
		"totalValueSalesExVAT": json.Number("300"), "totalValuePurchasesExVAT": json.Number("300"),
		"totalValueGoodsSuppliedExVAT": json.Number("3000"), "totalAcquisitionsExVAT": json.Number("3000"), "finalised": true,
	}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestAPIVAT(t *testing.T) {
	env := newTestEnv(t)
	withVAT(env)
	id := env.landlord.ID
	base := fmt.Sprintf("/api/v1/users/id:%d/hmrc", id)
	obligations, returns := base+"/vat/obligations", base+"/vat/returns"
	periods := vatPeriods(env.Clock.Now())
	target, current := periods[0], periods[len(periods)-1]
	good := vatBody(target.key, nil)

	t.Run("before a VRN", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{http.MethodGet, obligations, ""}, {http.MethodPost, returns, good}, {http.MethodGet, returns + "/" + target.key, ""},
		} {
			status, m := env.apiCall(t, c.method, c.path, c.body, platformDevice())
			if status != http.StatusConflict || m["error"] != "vrn_required" {
				t.Errorf("%s %s: %d %v", c.method, c.path, status, m)
			}
		}
	})
	landlord := *env.landlord
	landlord.VRN = testVRN
	if err := env.Store.UpdateUser(t.Context(), &landlord); err != nil {
		t.Fatal(err)
	}
	t.Run("not connected", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{http.MethodGet, obligations, ""}, {http.MethodPost, returns, good}, {http.MethodGet, returns + "/" + target.key, ""},
		} {
			status, m := env.apiCall(t, c.method, c.path, c.body, platformDevice())
			if status != http.StatusNotFound || m["error"] != "not_connected" {
				t.Errorf("%s %s: %d %v", c.method, c.path, status, m)
			}
		}
		if _, called := env.Sim.LastFraudResult(hmrcsim.VATFraudAPI); called {
			t.Error("HMRC was called without a connection")
		}
	})

	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.connectVAT()

	t.Run("obligations", func(t *testing.T) {
		status, m := env.apiCall(t, http.MethodGet, obligations, "", platformDevice())
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, m)
		}
		env.fraudVerdict(t, hmrcsim.VATFraudAPI, true)
		list := m["obligations"].([]any)
		today := time.Date(env.Clock.Now().Year(), env.Clock.Now().Month(), env.Clock.Now().Day(), 0, 0, 0, 0, time.UTC)
		if m["vrn"] != testVRN || m["to"] != today.Format(time.DateOnly) || m["from"] != today.AddDate(0, 0, -365).Format(time.DateOnly) || len(list) != len(periods) {
			t.Fatalf("body %v", m)
		}
		for i, o := range list {
			om := o.(map[string]any)
			if om["period_key"] != periods[i].key || om["period_start"] != periods[i].startS || om["period_end"] != periods[i].endS ||
				om["due"] != periods[i].due.Format(time.DateOnly) || om["status"] != "open" || om["received"] != nil {
				t.Errorf("obligation %d: %v", i, om)
			}
		}

		// Every open one, without dates; none fulfilled yet (HMRC's 404
		// is an empty list); a range of exactly 366 days.
		status, m = env.apiCall(t, http.MethodGet, obligations+"?status=open", "", platformDevice())
		if status != http.StatusOK || len(m["obligations"].([]any)) != len(periods) || m["from"] != nil {
			t.Errorf("open: %d %v", status, m)
		}
		status, m = env.apiCall(t, http.MethodGet, obligations+"?status=fulfilled", "", platformDevice())
		if status != http.StatusOK || len(m["obligations"].([]any)) != 0 {
			t.Errorf("fulfilled: %d %v", status, m)
		}
		q := fmt.Sprintf("?from=%s&to=%s", current.startS, current.start.AddDate(0, 0, 365).Format(time.DateOnly))
		status, m = env.apiCall(t, http.MethodGet, obligations+q, "", platformDevice())
		if status != http.StatusOK || len(m["obligations"].([]any)) != 1 || m["obligations"].([]any)[0].(map[string]any)["period_key"] != current.key {
			t.Errorf("dated: %d %v", status, m)
		}
		// Without device data: a batch call from this server.
		status, m = env.apiCall(t, http.MethodGet, obligations, "", nil)
		if status != http.StatusOK || len(m["obligations"].([]any)) != len(periods) {
			t.Errorf("batch: %d %v", status, m)
		}
		// The headers of this server as the device are complete; the
		// only remark allowed is on Gov-Client-User-Agent, whose device
		// make and model a container or VM may not expose.
		res, _ := env.Sim.LastFraudResult(hmrcsim.VATFraudAPI)
		if len(res.Errors) > 0 || slices.ContainsFunc(res.Warnings, func(w hmrcsim.FraudIssue) bool {
			return !slices.Equal(w.Headers, []string{"gov-client-user-agent"})
		}) {
			t.Errorf("batch: verdict %s: errors %+v warnings %+v", res.Code, res.Errors, res.Warnings)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		requests := env.Sim.Stats().APIRequests
		for _, tt := range []struct {
			name, method, path, body string
			status                   int
			code                     string
			errors                   []string
		}{
			{"from", http.MethodGet, obligations + "?from=2026-02-30&to=2026-03-31", "", 400, "invalid_request", []string{"INVALID_DATE_FROM"}},
			{"to", http.MethodGet, obligations + "?from=2026-01-01&to=31/03/2026", "", 400, "invalid_request", []string{"INVALID_DATE_TO"}},
			{"from without to", http.MethodGet, obligations + "?from=2026-01-01", "", 400, "invalid_request", []string{"INVALID_DATE_TO"}},
			{"to without from", http.MethodGet, obligations + "?to=2026-01-01", "", 400, "invalid_request", []string{"INVALID_DATE_FROM"}},
			{"367 days", http.MethodGet, obligations + "?from=2025-01-01&to=2026-01-02", "", 400, "invalid_request", []string{"INVALID_DATE_RANGE"}},
			{"to before from", http.MethodGet, obligations + "?from=2026-01-02&to=2026-01-01", "", 400, "invalid_request", []string{"INVALID_DATE_RANGE"}},
			{"status", http.MethodGet, obligations + "?status=O", "", 400, "invalid_request", []string{"INVALID_STATUS"}},
			{"broken JSON", http.MethodPost, returns, `{"periodKey":`, 400, "invalid_json", nil},
			{"not an object", http.MethodPost, returns, `[1]`, 400, "invalid_json", nil},
			{"trailing data", http.MethodPost, returns, good + `{}`, 400, "invalid_json", nil},
			{"unknown field", http.MethodPost, returns, vatBody(target.key, map[string]any{"box1": 1}), 400, "invalid_json", nil},
			{"amount as a string", http.MethodPost, returns, vatBody(target.key, map[string]any{"vatDueSales": "105.50"}), 400, "invalid_json", nil},
			{"empty body", http.MethodPost, returns, ` `, 400, "invalid_json", nil},
			{"missing boxes", http.MethodPost, returns, vatBody(target.key, map[string]any{"vatDueSales": nil, "totalAcquisitionsExVAT": nil}), 400, "invalid_request",
				[]string{"MANDATORY_FIELD_MISSING /vatDueSales", "MANDATORY_FIELD_MISSING /totalAcquisitionsExVAT"}},
			{"box 3", http.MethodPost, returns, vatBody(target.key, map[string]any{"totalVatDue": json.Number("5.06"), "netVatDue": json.Number("100.09")}), 400, "invalid_request",
				[]string{"VAT_TOTAL_VALUE /totalVatDue"}},
			{"box 5", http.MethodPost, returns, vatBody(target.key, map[string]any{"netVatDue": json.Number("100.11")}), 400, "invalid_request",
				[]string{"VAT_NET_VALUE /netVatDue"}},
			{"whole pounds", http.MethodPost, returns, vatBody(target.key, map[string]any{"totalValueSalesExVAT": json.Number("300.5"), "totalAcquisitionsExVAT": json.Number("0.01")}), 400, "invalid_request",
				[]string{"INVALID_MONETARY_AMOUNT /totalValueSalesExVAT", "INVALID_MONETARY_AMOUNT /totalAcquisitionsExVAT"}},
			{"not finalised", http.MethodPost, returns, vatBody(target.key, map[string]any{"finalised": false}), 400, "invalid_request",
				[]string{"NOT_FINALISED /finalised"}},
			{"period key", http.MethodPost, returns, vatBody("25A", nil), 400, "invalid_request", []string{"PERIOD_KEY_INVALID /periodKey"}},
			{"path period key", http.MethodGet, returns + "/25a1", "", 400, "invalid_request", []string{"PERIOD_KEY_INVALID"}},
			{"form body", http.MethodPost, returns, "", 415, "unsupported_media_type", nil},
			{"unknown user", http.MethodGet, "/api/v1/users/id:999999/hmrc/vat/obligations", "", 404, "user_not_found", nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var h http.Header
				if tt.method == http.MethodPost {
					h = batchProcess()
				}
				if tt.name == "form body" {
					h.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				status, m := env.apiCall(t, tt.method, tt.path, tt.body, h)
				if status != tt.status || m["error"] != tt.code || m["message"] == "" {
					t.Errorf("%d %v, want %d %s", status, m, tt.status, tt.code)
				}
				if got := errorsOf(m); !slices.Equal(got, tt.errors) {
					t.Errorf("errors %q, want %q", got, tt.errors)
				}
			})
		}
		if got := env.Sim.Stats().APIRequests; got != requests {
			t.Errorf("%d refused requests reached HMRC", got-requests)
		}
		if subs, _ := env.Store.Submissions(t.Context(), id, mtdconnect.PurposeVAT, 10); len(subs) != 0 {
			t.Errorf("refused requests left receipts: %+v", subs)
		}
	})

	t.Run("HMRC's refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, path, body, scenario string
			status                             int
			code, message                      string
		}{
			{"period not ended", http.MethodPost, returns, vatBody(current.key, nil), "", 422, "TAX_PERIOD_NOT_ENDED",
				"HMRC does not accept a return before its period has ended"},
			{"nothing filed yet", http.MethodGet, returns + "/" + target.key, "", "", 404, "no_vat_return", "HMRC holds no VAT return for this period."},
			{"insolvent", http.MethodGet, obligations, "", "INSOLVENT_TRADER", 422, "RULE_INSOLVENT_TRADER", "does not take returns online"},
			{"duplicate scenario", http.MethodPost, returns, good, "DUPLICATE_SUBMISSION", 409, "DUPLICATE_SUBMISSION", "HMRC already has a return for this period"},
			{"unknown scenario", http.MethodGet, obligations, "", "NO_SUCH_SCENARIO", 400, "RULE_INCORRECT_GOV_TEST_SCENARIO", "Gov-Test-Scenario"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := platformDevice()
				if tt.scenario != "" {
					h.Set("Gov-Test-Scenario", tt.scenario)
				}
				status, m := env.apiCall(t, tt.method, tt.path, tt.body, h)
				if status != tt.status || m["error"] != tt.code || !strings.Contains(m["message"].(string), tt.message) {
					t.Errorf("%d %v, want %d %s", status, m, tt.status, tt.code)
				}
			})
		}
		if subs, _ := env.Store.Submissions(t.Context(), id, mtdconnect.PurposeVAT, 10); len(subs) != 0 {
			t.Errorf("refused returns left receipts: %+v", subs)
		}
	})

	var submissionID float64
	t.Run("submit, read back, duplicate", func(t *testing.T) {
		env.Clock.Advance(5 * time.Hour) // the access token has expired: it is refreshed on the way
		status, m := env.apiCall(t, http.MethodPost, returns, good, platformDevice())
		if status != http.StatusCreated {
			t.Fatalf("%d %v", status, m)
		}
		env.fraudVerdict(t, hmrcsim.VATFraudAPI, true)
		subs, err := env.Store.Submissions(t.Context(), id, mtdconnect.PurposeVAT, 10)
		if err != nil || len(subs) != 1 {
			t.Fatalf("receipts %v %v", subs, err)
		}
		sub := subs[0]
		submissionID = float64(sub.ID)
		var rec map[string]any
		if err := json.Unmarshal(sub.Response, &rec); err != nil {
			t.Fatal(err)
		}
		if m["submission_id"] != submissionID || m["period_key"] != target.key || m["receipt_id"] != sub.ReceiptID || len(sub.ReceiptID) != 36 ||
			m["correlation_id"] != sub.CorrelationID || m["form_bundle_number"] != rec["formBundleNumber"] || len(m["form_bundle_number"].(string)) != 12 ||
			m["processing_date"] != rec["processingDate"] || m["payment_indicator"] != "BANK" || m["charge_ref_number"] != nil ||
			m["receipt_timestamp"] == nil || sub.Kind != mtdconnect.SubmissionVATReturn || sub.Period != target.key || !sameJSON(t, sub.Body, good) {
			t.Errorf("answer %v\nreceipt %+v", m, sub)
		}
		if c := env.connection(id, mtdconnect.PurposeVAT); c.LastRefreshAt.IsZero() {
			t.Error("the expired token was not refreshed")
		}

		status, m = env.apiCall(t, http.MethodGet, returns+"/"+target.key, "", platformDevice())
		if status != http.StatusOK || !sameJSON(t, mustJSON(t, m), good) {
			t.Errorf("read back %d %v", status, m)
		}
		env.fraudVerdict(t, hmrcsim.VATFraudAPI, true)

		status, m = env.apiCall(t, http.MethodGet, obligations+"?status=fulfilled", "", platformDevice())
		if list := m["obligations"].([]any); status != http.StatusOK || len(list) != 1 ||
			list[0].(map[string]any)["period_key"] != target.key || list[0].(map[string]any)["received"] != env.Clock.Now().UTC().Format(time.DateOnly) {
			t.Errorf("fulfilled: %d %v", status, m)
		}

		status, m = env.apiCall(t, http.MethodPost, returns, good, platformDevice())
		if status != http.StatusConflict || m["error"] != "DUPLICATE_SUBMISSION" || !strings.Contains(m["message"].(string), "HMRC already has a return for this period") {
			t.Errorf("duplicate: %d %v", status, m)
		}
		if subs, _ := env.Store.Submissions(t.Context(), id, mtdconnect.PurposeVAT, 10); len(subs) != 1 {
			t.Errorf("a duplicate left a receipt: %d receipts", len(subs))
		}
	})

	t.Run("period key with #", func(t *testing.T) {
		// HMRC's sandbox keys look like #001; the # travels as %23.
		body := vatBody("#001", nil)
		status, m := env.apiCall(t, http.MethodPost, returns, body, platformDevice())
		if status != http.StatusCreated || m["period_key"] != "#001" {
			t.Fatalf("%d %v", status, m)
		}
		status, m = env.apiCall(t, http.MethodGet, returns+"/%23001", "", platformDevice())
		if status != http.StatusOK || m["periodKey"] != "#001" {
			t.Errorf("%d %v", status, m)
		}
	})

	t.Run("submissions", func(t *testing.T) {
		// An Income Tax receipt too, older.
		itsa := &mtdconnect.Submission{UserID: id, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionUKPropertyCumulative,
			Period: "2025-26", PeriodStart: time.Date(2025, 4, 6, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2025, 7, 5, 0, 0, 0, 0, time.UTC),
			Body: []byte(`{"ukProperty":{"income":{"periodAmount":1}}}`), CorrelationID: "itsa-correlation", SubmittedAt: env.Clock.Now().Add(-time.Hour)}
		if err := env.Store.SaveSubmission(t.Context(), itsa); err != nil {
			t.Fatal(err)
		}
		status, m := env.apiCall(t, http.MethodGet, base+"/submissions", "", nil)
		list, _ := m["submissions"].([]any)
		if status != http.StatusOK || len(list) != 3 {
			t.Fatalf("%d %v", status, m)
		}
		var kinds []string
		for _, s := range list {
			sm := s.(map[string]any)
			kinds = append(kinds, sm["kind"].(string)+" "+sm["period"].(string))
		}
		if want := []string{"vat-return #001", "vat-return " + target.key, "uk-property-cumulative 2025-26"}; !slices.Equal(kinds, want) {
			t.Errorf("submissions %q, want %q", kinds, want)
		}
		vat := list[1].(map[string]any)
		// Filed through the API: HMRC's body names no period dates.
		if vat["id"] != submissionID || vat["purpose"] != "vat" || len(vat["receipt_id"].(string)) != 36 || vat["period_start"] != nil ||
			vat["body"].(map[string]any)["periodKey"] != target.key || vat["response"].(map[string]any)["formBundleNumber"] == nil {
			t.Errorf("VAT submission %v", vat)
		}
		it := list[2].(map[string]any)
		if it["purpose"] != "itsa" || it["period_start"] != "2025-04-06" || it["period_end"] != "2025-07-05" || it["receipt_id"] != nil || it["response"] != nil {
			t.Errorf("Income Tax submission %v", it)
		}
		for _, c := range []struct {
			q    string
			want int
		}{{"?purpose=vat", 2}, {"?purpose=itsa", 1}} {
			status, m := env.apiCall(t, http.MethodGet, base+"/submissions"+c.q, "", nil)
			if status != http.StatusOK || len(m["submissions"].([]any)) != c.want {
				t.Errorf("%s: %d %v", c.q, status, m)
			}
		}
		if status, m := env.apiCall(t, http.MethodGet, base+"/submissions?purpose=paye", "", nil); status != http.StatusBadRequest || m["error"] != "bad_request" {
			t.Errorf("bad purpose: %d %v", status, m)
		}
		if status, m := env.apiCall(t, http.MethodGet, "/api/v1/users/id:999999/hmrc/submissions", "", nil); status != http.StatusNotFound || m["error"] != "user_not_found" {
			t.Errorf("unknown user: %d %v", status, m)
		}
		// Another user's list is theirs only.
		status, m = env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/submissions", env.other.ID), "", nil)
		if status != http.StatusOK || len(m["submissions"].([]any)) != 0 {
			t.Errorf("other user: %d %v", status, m)
		}
	})

	t.Run("another user's connection is not used", func(t *testing.T) {
		other := *env.other
		other.VRN = testVRN
		if err := env.Store.UpdateUser(t.Context(), &other); err != nil {
			t.Fatal(err)
		}
		status, m := env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/vat/obligations", other.ID), "", nil)
		if status != http.StatusNotFound || m["error"] != "not_connected" {
			t.Errorf("%d %v", status, m)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
