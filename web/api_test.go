package web_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	return m
}

func TestAPI(t *testing.T) {
	env := newTestEnv(t)
	user := fmt.Sprintf("/api/v1/users/id:%d/hmrc", env.landlord.ID)

	t.Run("Unauthorized", func(t *testing.T) {
		for _, key := range []string{"", "mtdc_not-a-key-we-issued", "not-even-the-format", env.apiKey + "x"} {
			status, body := env.api(http.MethodGet, user, key)
			if status != http.StatusUnauthorized {
				t.Errorf("key %q: status %d, want 401", key, status)
			}
			if m := decode(t, body); m["error"] != "unauthorized" || m["message"] == "" {
				t.Errorf("key %q: body %s", key, body)
			}
		}
	})

	t.Run("NotConnected", func(t *testing.T) {
		status, body := env.api(http.MethodGet, user, env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		m := decode(t, body)
		if m["status"] != "not_connected" || m["user"] != fmt.Sprintf("id:%d", env.landlord.ID) || m["purpose"] != "itsa" {
			t.Errorf("body %s", body)
		}
		if status, body := env.api(http.MethodPost, user+"/refresh", env.apiKey); status != http.StatusNotFound || decode(t, body)["error"] != "not_connected" {
			t.Errorf("refresh while not connected: %d %s", status, body)
		}
		if status, _ := env.api(http.MethodDelete, user, env.apiKey); status != http.StatusNotFound {
			t.Errorf("delete while not connected: %d", status)
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		for path, want := range map[string]int{
			"/api/v1/users/id:999999/hmrc":    http.StatusNotFound,
			"/api/v1/users/abc/hmrc":          http.StatusNotFound, // a ref no landlord has
			"/api/v1/users/id:abc/hmrc":       http.StatusBadRequest,
			"/api/v1/users/id:-1/hmrc":        http.StatusBadRequest,
			"/api/v1/users/id:007/hmrc":       http.StatusBadRequest,
			"/api/v1/users/%20x/hmrc":         http.StatusBadRequest, // a ref may not start with a space
			"/api/v1/users/a%00b/hmrc":        http.StatusBadRequest, // nor hold control characters
			user + "?purpose=corporation-tax": http.StatusBadRequest,
			"/api/v1/nothing-here":            http.StatusNotFound,
		} {
			status, body := env.api(http.MethodGet, path, env.apiKey)
			if status != want {
				t.Errorf("%s: status %d, want %d: %s", path, status, want, body)
			}
			if m := decode(t, body); m["error"] == "" || m["message"] == "" {
				t.Errorf("%s: body %s", path, body)
			}
		}
		if _, body := env.api(http.MethodGet, "/api/v1/users/id:999999/hmrc", env.apiKey); decode(t, body)["error"] != "user_not_found" {
			t.Errorf("unknown user: %s", body)
		}
		// Form bodies are refused: an HTML form elsewhere cannot drive the API.
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, env.url+user+"/refresh", strings.NewReader("a=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+env.apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("form body: status %d, want 415", resp.StatusCode)
		}
	})

	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.connect()

	t.Run("Status", func(t *testing.T) {
		status, body := env.api(http.MethodGet, user, env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		m := decode(t, body)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"access_token_expires_at", "authority_ends_at", "connected_since", "last_refresh_at", "purpose", "reason", "reason_code", "scopes", "status", "user"}
		if !slices.Equal(keys, want) {
			t.Errorf("keys %v, want %v", keys, want)
		}
		if m["status"] != "connected" || m["reason"] != "" || m["last_refresh_at"] != nil {
			t.Errorf("body %s", body)
		}
		if sc, _ := m["scopes"].([]any); len(sc) != 2 || sc[0] != "read:self-assessment" {
			t.Errorf("scopes %v", m["scopes"])
		}
		since, err1 := time.Parse(time.RFC3339, m["connected_since"].(string))
		ends, err2 := time.Parse(time.RFC3339, m["authority_ends_at"].(string))
		if _, err3 := time.Parse(time.RFC3339, m["access_token_expires_at"].(string)); err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("times not RFC 3339: %s", body)
		}
		if !ends.Equal(mtdconnect.GrantEnd(since)) {
			t.Errorf("authority ends %v, connected since %v", ends, since)
		}
		if status, body := env.api(http.MethodGet, user+"?purpose=vat", env.apiKey); status != http.StatusOK || decode(t, body)["status"] != "not_connected" {
			t.Errorf("vat: %d %s", status, body)
		}
	})

	t.Run("Refresh", func(t *testing.T) {
		before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		status, body := env.api(http.MethodPost, user+"/refresh", env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		if m := decode(t, body); m["status"] != "connected" || m["last_refresh_at"] == nil {
			t.Errorf("body %s", body)
		}
		if after := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); after.Version <= before.Version {
			t.Errorf("version %d after refresh, was %d", after.Version, before.Version)
		}
	})

	t.Run("Test", func(t *testing.T) {
		setNINO(t, env, env.landlord.ID, "")
		if status, body := env.api(http.MethodPost, user+"/test", env.apiKey); status != http.StatusConflict || decode(t, body)["error"] != "nino_required" {
			t.Errorf("test without a NINO: %d %s", status, body)
		}
		setNINO(t, env, env.landlord.ID, testNINO)
		status, body := env.api(http.MethodPost, user+"/test", env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		if m := decode(t, body); !strings.HasPrefix(fmt.Sprint(m["message"]), "HMRC answered: your UK property business is X") || m["ok"] != true {
			t.Errorf("body %s", body)
		}
	})

	t.Run("NeverTokens", func(t *testing.T) {
		_, body := env.api(http.MethodGet, user, env.apiKey)
		conn := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		if strings.Contains(body, "refresh_token\"") || strings.Contains(body, fmt.Sprintf("%x", conn.Tokens[:8])) {
			t.Errorf("status carries token material: %s", body)
		}
	})

	t.Run("NeedsReconnect", func(t *testing.T) {
		env.Sim.Revoke(simUserID, clientID)
		status, body := env.api(http.MethodPost, user+"/refresh", env.apiKey)
		if status != http.StatusConflict {
			t.Fatalf("status %d, want 409: %s", status, body)
		}
		if m := decode(t, body); m["error"] != "needs_reconnect" || m["reason"] != mtdconnect.ReasonRevoked {
			t.Errorf("body %s", body)
		}
		if _, body := env.api(http.MethodGet, user, env.apiKey); decode(t, body)["status"] != "needs_reconnect" || decode(t, body)["reason"] != mtdconnect.ReasonRevoked {
			t.Errorf("status after revocation: %s", body)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if status, body := env.api(http.MethodDelete, user, env.apiKey); status != http.StatusNoContent {
			t.Fatalf("status %d: %s", status, body)
		}
		if c := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); c != nil {
			t.Errorf("connection left: %+v", c)
		}
		if _, body := env.api(http.MethodGet, user, env.apiKey); decode(t, body)["status"] != "not_connected" {
			t.Errorf("after delete: %s", body)
		}
	})
}

// apiCall calls the JSON API with a body and headers and decodes the answer.
func (env *testEnv) apiCall(t *testing.T, method, path, body string, header http.Header) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, env.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := env.httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: not JSON: %v\n%s", method, path, err, raw)
	}
	return resp.StatusCode, m
}

// platformDevice is the landlord's device data as the platform passes it
// (docs/API.md): the landlord signed in to the platform with a TOTP app.
func platformDevice() http.Header {
	return http.Header{
		"Mtd-Client-Device":           {base64.RawURLEncoding.EncodeToString([]byte(testDeviceJSON))},
		"Mtd-Client-Device-ID":        {"beec798b-b366-47fa-b1f8-92cede14a1ce"},
		"Mtd-Client-Public-IP":        {testClientIP},
		"Mtd-Client-Public-Port":      {"51234"},
		"Mtd-Client-Request-Time":     {time.Now().UTC().Format("2006-01-02T15:04:05.000Z")},
		"Mtd-Client-User-IDs":         {"acme-lettings=alice%40example.com"},
		"Mtd-Client-Multi-Factor":     {"type=TOTP&timestamp=" + url.QueryEscape(time.Now().UTC().Format("2006-01-02T15:04Z")) + "&unique-reference=fc4b5fd6816f75a7c81fc8eaa9499d6a"},
		"Mtd-Client-Vendor-Public-IP": {"203.0.113.50"},
	}
}

// batchProcess is the platform's statement that no user started a request
// (docs/API.md): the only way to send data to HMRC without the landlord's
// device data.
func batchProcess() http.Header {
	return http.Header{"Mtd-Client-Connection-Method": {"BATCH_PROCESS_DIRECT"}}
}

// errorsOf returns the codes and paths of an error answer's errors.
func errorsOf(m map[string]any) []string {
	var out []string
	list, _ := m["errors"].([]any)
	for _, e := range list {
		em := e.(map[string]any)
		s, _ := em["code"].(string)
		if h, ok := em["header"].(string); ok {
			s = h
		}
		if paths, ok := em["paths"].([]any); ok {
			for _, p := range paths {
				s += " " + p.(string)
			}
		}
		out = append(out, s)
	}
	return out
}

func TestAPIIncomeTax(t *testing.T) {
	env := newTestEnv(t)
	id := env.landlord.ID
	obligations := fmt.Sprintf("/api/v1/users/id:%d/hmrc/obligations", id)
	now := env.Clock.Now()
	target, _ := firstOpen(t, now)
	cumulative := fmt.Sprintf("/api/v1/users/id:%d/hmrc/property/uk/cumulative/%s", id, target.taxYear)
	good := fmt.Sprintf(`{"fromDate":%q,"toDate":%q,"ukProperty":{"income":{"periodAmount":5000.25},"expenses":{"consolidatedExpenses":1000,"residentialFinancialCost":120}}}`,
		target.startS, target.endS)

	t.Run("before a NINO", func(t *testing.T) {
		status, m := env.apiCall(t, http.MethodGet, obligations, "", nil)
		if status != http.StatusConflict || m["error"] != "nino_required" {
			t.Errorf("%d %v", status, m)
		}
	})
	landlord := *env.landlord
	landlord.NINO = testNINO
	if err := env.Store.UpdateUser(t.Context(), &landlord); err != nil {
		t.Fatal(err)
	}
	t.Run("not connected", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{http.MethodGet, obligations, ""}, {http.MethodPut, cumulative, good}, {http.MethodGet, cumulative, ""},
		} {
			status, m := env.apiCall(t, c.method, c.path, c.body, platformDevice())
			if status != http.StatusNotFound || m["error"] != "not_connected" {
				t.Errorf("%s %s: %d %v", c.method, c.path, status, m)
			}
		}
	})

	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.connect()

	t.Run("obligations", func(t *testing.T) {
		status, m := env.apiCall(t, http.MethodGet, obligations+"?taxYear="+target.taxYear.String(), "", platformDevice())
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, m)
		}
		list := m["obligations"].([]any)
		want := periods(target.taxYear, now)
		if m["tax_year"] != target.taxYear.String() || len(list) != len(want) {
			t.Fatalf("body %v", m)
		}
		for i, o := range list {
			om := o.(map[string]any)
			if om["period_start"] != want[i].startS || om["period_end"] != want[i].endS || om["due"] != want[i].due.Format(time.DateOnly) || om["status"] != "open" {
				t.Errorf("obligation %d: %v", i, om)
			}
		}
		env.fraudVerdict(t, "business-details-mtd", true)
		env.fraudVerdict(t, "obligations-mtd", true)

		// The current tax year by default, without device data too (then
		// the call is a batch one from this server).
		status, m = env.apiCall(t, http.MethodGet, obligations, "", nil)
		if status != http.StatusOK || m["tax_year"] != itsa.CurrentTaxYear(now).String() {
			t.Errorf("default: %d %v", status, m)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, path, body string
			header                   http.Header
			status                   int
			code                     string
			errors                   []string
		}{
			{"tax year format", http.MethodGet, obligations + "?taxYear=2025", "", nil, 400, "invalid_request", []string{"FORMAT_TAX_YEAR"}},
			{"tax year range", http.MethodGet, obligations + "?taxYear=2025-27", "", nil, 400, "invalid_request", []string{"RULE_TAX_YEAR_RANGE_INVALID"}},
			{"path tax year", http.MethodPut, fmt.Sprintf("/api/v1/users/id:%d/hmrc/property/uk/cumulative/2025-2026", id), good, batchProcess(), 400, "invalid_request", []string{"FORMAT_TAX_YEAR"}},
			{"tax year before cumulative updates", http.MethodPut, fmt.Sprintf("/api/v1/users/id:%d/hmrc/property/uk/cumulative/2024-25", id), good, batchProcess(), 400, "invalid_request", []string{"RULE_TAX_YEAR_NOT_SUPPORTED"}},
			{"broken JSON", http.MethodPut, cumulative, `{"ukProperty":`, batchProcess(), 400, "invalid_json", nil},
			{"not an object", http.MethodPut, cumulative, `[1,2]`, batchProcess(), 400, "invalid_json", nil},
			{"trailing data", http.MethodPut, cumulative, good + `{}`, batchProcess(), 400, "invalid_json", nil},
			{"unknown field", http.MethodPut, cumulative, `{"ukProperty":{"income":{"rent":1}}}`, batchProcess(), 400, "invalid_json", nil},
			{"amount as a string", http.MethodPut, cumulative, `{"ukProperty":{"income":{"periodAmount":"12.00"}}}`, batchProcess(), 400, "invalid_json", nil},
			{"empty body", http.MethodPut, cumulative, ` `, batchProcess(), 400, "invalid_json", nil},
			{"empty object", http.MethodPut, cumulative, `{}`, batchProcess(), 400, "invalid_request", []string{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"}},
			{"empty income", http.MethodPut, cumulative, `{"ukProperty":{"income":{}}}`, batchProcess(), 400, "invalid_request", []string{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED /ukProperty/income"}},
			{"values", http.MethodPut, cumulative, `{"ukProperty":{"income":{"periodAmount":-1,"taxDeducted":1.234},"expenses":{"travelCosts":100000000000}}}`, batchProcess(), 400, "invalid_request",
				[]string{"FORMAT_VALUE /ukProperty/expenses/travelCosts", "FORMAT_VALUE /ukProperty/income/periodAmount /ukProperty/income/taxDeducted"}},
			{"both expenses", http.MethodPut, cumulative, `{"ukProperty":{"expenses":{"travelCosts":1,"consolidatedExpenses":2}}}`, batchProcess(), 400, "invalid_request",
				[]string{"RULE_BOTH_EXPENSES_SUPPLIED /ukProperty/expenses"}},
			{"dates", http.MethodPut, cumulative, `{"fromDate":"2025-13-01","toDate":"2025-07-05","ukProperty":{"income":{"periodAmount":1}}}`, batchProcess(), 400, "invalid_request", []string{"FORMAT_FROM_DATE"}},
			{"to before from", http.MethodPut, cumulative, `{"fromDate":"2025-07-05","toDate":"2025-04-06","ukProperty":{"income":{"periodAmount":1}}}`, batchProcess(), 400, "invalid_request", []string{"RULE_TO_DATE_BEFORE_FROM_DATE"}},
			{"one date", http.MethodPut, cumulative, `{"toDate":"2025-07-05","ukProperty":{"income":{"periodAmount":1}}}`, batchProcess(), 400, "invalid_request", []string{"RULE_MISSING_SUBMISSION_DATES"}},
			{"an update with no device data", http.MethodPut, cumulative, good, nil, 400, "device_data_required", []string{"Mtd-Client-Connection-Method"}},
			{"batch and device data", http.MethodPut, cumulative, good, func() http.Header {
				h := platformDevice()
				h.Set("Mtd-Client-Connection-Method", "BATCH_PROCESS_DIRECT")
				return h
			}(), 400, "invalid_device_headers", []string{"Mtd-Client-Connection-Method"}},
			{"unknown connection method", http.MethodPut, cumulative, good, http.Header{"Mtd-Client-Connection-Method": {"DESKTOP_APP_DIRECT"}}, 400, "invalid_device_headers", []string{"Mtd-Client-Connection-Method"}},
			{"web app without device data", http.MethodGet, obligations, "", http.Header{"Mtd-Client-Connection-Method": {"WEB_APP_VIA_SERVER"}}, 400, "invalid_device_headers",
				[]string{"Mtd-Client-Device", "Mtd-Client-Device-ID", "Mtd-Client-Public-IP", "Mtd-Client-Request-Time", "Mtd-Client-User-IDs", "Mtd-Client-Vendor-Public-IP"}},
			{"device headers incomplete", http.MethodPut, cumulative, good, http.Header{"Mtd-Client-Public-IP": {testClientIP}}, 400, "invalid_device_headers",
				[]string{"Mtd-Client-Device", "Mtd-Client-Device-ID", "Mtd-Client-Request-Time", "Mtd-Client-User-IDs", "Mtd-Client-Vendor-Public-IP"}},
			{"device data malformed", http.MethodGet, obligations, "", func() http.Header {
				h := platformDevice()
				h.Set("Mtd-Client-Device", base64.RawURLEncoding.EncodeToString([]byte(`{"ua":"x"}`)))
				return h
			}(), 400, "invalid_device_headers", []string{"Mtd-Client-Device"}},
			{"unknown test scenario", http.MethodGet, obligations, "", http.Header{"Gov-Test-Scenario": {"NO_SUCH_SCENARIO"}}, 400, "RULE_INCORRECT_GOV_TEST_SCENARIO", nil},
			{"unknown user", http.MethodGet, "/api/v1/users/id:999999/hmrc/obligations", "", nil, 404, "user_not_found", nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, m := env.apiCall(t, tt.method, tt.path, tt.body, tt.header)
				if status != tt.status || m["error"] != tt.code || m["message"] == "" {
					t.Errorf("%d %v, want %d %s", status, m, tt.status, tt.code)
				}
				if got := errorsOf(m); !slices.Equal(got, tt.errors) {
					t.Errorf("errors %q, want %q", got, tt.errors)
				}
			})
		}
		if _, sent := env.Sim.LastFraudResult("property-business-mtd"); sent {
			t.Error("a refused request reached HMRC's Property Business API")
		}
		if subs, _ := env.Store.Submissions(t.Context(), id, mtdconnect.PurposeIncomeTax, 10); len(subs) != 0 {
			t.Errorf("refused requests left receipts: %+v", subs)
		}
	})

	t.Run("nothing submitted yet", func(t *testing.T) {
		status, m := env.apiCall(t, http.MethodGet, cumulative, "", platformDevice())
		if status != http.StatusNotFound || m["error"] != "no_submission" {
			t.Errorf("%d %v", status, m)
		}
	})

	t.Run("test scenario", func(t *testing.T) {
		h := platformDevice()
		h.Set("Gov-Test-Scenario", "EARLY_DATA_SUBMISSION_NOT_ACCEPTED")
		status, m := env.apiCall(t, http.MethodPut, cumulative, good, h)
		if status != http.StatusUnprocessableEntity || m["error"] != "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED" ||
			!strings.Contains(m["message"].(string), "more than 10 days before the end of its period") {
			t.Errorf("%d %v", status, m)
		}
		if subs, _ := env.Store.Submissions(t.Context(), id, mtdconnect.PurposeIncomeTax, 10); len(subs) != 0 {
			t.Errorf("a refused update left a receipt: %+v", subs)
		}
	})

	t.Run("submit and read back, refreshing an expired token on the way", func(t *testing.T) {
		before := env.connection(id, mtdconnect.PurposeIncomeTax)
		env.Clock.Advance(5 * time.Hour) // the 4-hour access token has expired
		status, m := env.apiCall(t, http.MethodPut, cumulative, good, platformDevice())
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, m)
		}
		after := env.connection(id, mtdconnect.PurposeIncomeTax)
		if after.LastRefreshAt.IsZero() || after.Version <= before.Version || after.Status != mtdconnect.StatusConnected {
			t.Errorf("token not refreshed on the way: %+v", after)
		}
		env.fraudVerdict(t, "property-business-mtd", true)
		subs, err := env.Store.Submissions(t.Context(), id, mtdconnect.PurposeIncomeTax, 10)
		if err != nil || len(subs) != 1 {
			t.Fatalf("receipts %v %v", subs, err)
		}
		if m["submission_id"] != float64(subs[0].ID) || m["correlation_id"] != subs[0].CorrelationID || len(subs[0].CorrelationID) != 36 ||
			m["tax_year"] != target.taxYear.String() || !sameJSON(t, subs[0].Body, good) {
			t.Errorf("answer %v, receipt %+v", m, subs[0])
		}

		status, m = env.apiCall(t, http.MethodGet, cumulative, "", platformDevice())
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, m)
		}
		uk := m["ukProperty"].(map[string]any)
		if uk["income"].(map[string]any)["periodAmount"] != 5000.25 || m["toDate"] != target.endS {
			t.Errorf("read back %v", m)
		}
		env.fraudVerdict(t, "property-business-mtd", true)

		status, m = env.apiCall(t, http.MethodGet, obligations+"?taxYear="+target.taxYear.String(), "", platformDevice())
		first := m["obligations"].([]any)[0].(map[string]any)
		if status != http.StatusOK || first["status"] != "fulfilled" || first["received"] == nil {
			t.Errorf("after the update: %d %v", status, m)
		}
	})

	t.Run("another user's connection is not used", func(t *testing.T) {
		other := *env.other
		other.NINO = testNINO
		if err := env.Store.UpdateUser(t.Context(), &other); err != nil {
			t.Fatal(err)
		}
		status, m := env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/obligations", other.ID), "", nil)
		if status != http.StatusNotFound || m["error"] != "not_connected" {
			t.Errorf("%d %v", status, m)
		}
	})
}

func sameJSON(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
