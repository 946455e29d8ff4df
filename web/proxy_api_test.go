package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// proxyAnswer is an answer of the proxy: status, headers and the body,
// raw and, when it is JSON, decoded.
type proxyAnswer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// hmrcs reports whether the answer is HMRC's, passed on.
func (a proxyAnswer) hmrcs() bool { return a.header.Get("Mtd-Answered-By") == "hmrc" }

// rawRequest sends one request over its own connection with the request
// target exactly as given (no client cleans or escapes it) and reads the
// answer.
func (env *testEnv) rawRequest(t *testing.T, key, method, target string, header http.Header, body string) proxyAnswer {
	t.Helper()
	u, err := url.Parse(env.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, u.Host)
	if key != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", key)
	}
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	// Written while the answer is read: a server refusing a large body
	// answers and closes before it has all been sent.
	go func() { _, _ = io.WriteString(conn, b.String()) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := proxyAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: not JSON: %v\n%s", method, target, err, raw)
		}
	}
	return a
}

// withHeaders is h plus name: value pairs.
func withHeaders(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// proxyCounts reads the proxy's metrics: family/status → count, and
// reason → refusals; the exposition must not name a landlord.
func (env *testEnv) proxyCounts(t *testing.T) (answered, refused map[string]float64) {
	t.Helper()
	families, err := env.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	answered, refused = map[string]float64{}, map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				if strings.Contains(strings.ToUpper(l.GetValue()), testNINO[:8]) || strings.Contains(l.GetValue(), testVRN) {
					t.Errorf("metric %s names a landlord: %v", mf.GetName(), labels)
				}
			}
			switch mf.GetName() {
			case "mtdconnect_hmrc_proxy_requests_total":
				answered[labels["family"]+" "+labels["status"]] = m.GetCounter().GetValue()
			case "mtdconnect_hmrc_proxy_refusals_total":
				refused[labels["reason"]] = m.GetCounter().GetValue()
			}
		}
	}
	return answered, refused
}

// The headers an answer of the proxy may carry: the API's own, and those
// of HMRC's passed on (proxy.ResponseHeaders). Anything else of HMRC's is
// dropped.
var proxyAnswerHeaders = []string{
	"Cache-Control", "Content-Security-Policy", "X-Content-Type-Options", "Date", "Content-Length", "Connection",
	"Mtd-Answered-By", "Content-Type", "X-Correlationid", "Deprecation", "Sunset", "Link",
	"Receipt-Id", "Receipt-Timestamp", "Receipt-Signature",
}

func checkAnswerHeaders(t *testing.T, a proxyAnswer) {
	t.Helper()
	for name := range a.header {
		if !slices.Contains(proxyAnswerHeaders, name) {
			t.Errorf("the answer carries %s: %q", name, a.header.Values(name))
		}
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want the API's no-store", cc)
	}
}

// withGatewayHeaders makes HMRC's API answers carry headers that its
// gateway or services may send and the proxy must not pass on.
func withGatewayHeaders(env *testEnv, cfg *hmrc.Config) {
	cfg.HTTPClient = &http.Client{Transport: gatewayHeaders{next: cfg.HTTPClient.Transport}, Timeout: cfg.HTTPClient.Timeout}
}

type gatewayHeaders struct{ next http.RoundTripper }

func (g gatewayHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(r)
	if err != nil || r.URL.Path == "/oauth/token" {
		return resp, err
	}
	for k, v := range map[string]string{
		"Set-Cookie": "mdtp=f00d; Path=/; HttpOnly", "Cache-Control": "max-age=3600", "Server": "HMRC API gateway",
		"Strict-Transport-Security": "max-age=31536000", "Location": r.URL.Path, "WWW-Authenticate": `Bearer realm="HMRC"`,
		"Access-Control-Allow-Origin": "*", "X-Frame-Options": "SAMEORIGIN",
	} {
		resp.Header.Set(k, v)
	}
	return resp, nil
}

// A platform calls Income Tax APIs for its landlord through the proxy:
// HMRC's answers come back as they are, with the fraud prevention headers
// built from the landlord's device data, the token refreshed when it has
// expired, sandbox scenarios passed on, and the metrics counting them by
// API family and status.
func TestAPIProxyIncomeTax(t *testing.T) {
	env := newTestEnv(t, withGatewayHeaders)
	env.incomeTaxLandlord(true)
	key, _ := env.newKey("platform-proxy", mtdconnect.ScopeProxy)
	base := fmt.Sprintf("/api/v1/users/id:%d/hmrc/proxy", env.landlord.ID)
	device := platformDevice()
	accept := func(v string) http.Header { return withHeaders(device, "Accept", "application/vnd.hmrc."+v+"+json") }
	now := env.Clock.Now()
	target, _ := firstOpen(t, now)
	ty := target.taxYear.String()

	// Business Details: the landlord's UK property business.
	list := env.rawRequest(t, key, http.MethodGet, base+"/individuals/business/details/"+testNINO+"/list", accept("2.0"), "")
	if list.status != http.StatusOK || !list.hmrcs() || len(list.header.Get("X-CorrelationId")) != 36 ||
		list.header.Get("Content-Type") != "application/json" {
		t.Fatalf("list: %d %v %s", list.status, list.header, list.raw)
	}
	checkAnswerHeaders(t, list)
	env.fraudVerdict(t, "business-details-mtd", true)
	var businessID string
	for _, b := range list.body["listOfBusinesses"].([]any) {
		if bm := b.(map[string]any); bm["typeOfBusiness"] == "uk-property" {
			businessID = bm["businessId"].(string)
		}
	}
	if businessID == "" {
		t.Fatalf("no UK property business in %s", list.raw)
	}

	t.Run("obligations", func(t *testing.T) {
		a := env.rawRequest(t, key, http.MethodGet, base+"/obligations/details/"+testNINO+"/income-and-expenditure?typeOfBusiness=uk-property&businessId="+businessID,
			accept("3.0"), "")
		if a.status != http.StatusOK || !a.hmrcs() {
			t.Fatalf("%d %s", a.status, a.raw)
		}
		obs := a.body["obligations"].([]any)
		if len(obs) == 0 || obs[0].(map[string]any)["businessId"] != businessID {
			t.Errorf("obligations %s", a.raw)
		}
		env.fraudVerdict(t, "obligations-mtd", true)
	})

	cumulative := base + "/individuals/business/property/uk/" + testNINO + "/" + businessID + "/cumulative/" + ty
	good := fmt.Sprintf(`{"fromDate":%q,"toDate":%q,"ukProperty":{"income":{"periodAmount":5000.25},"expenses":{"consolidatedExpenses":1000}}}`,
		target.startS, target.endS)

	t.Run("a cumulative update, with a token that expired", func(t *testing.T) {
		before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		env.Clock.Advance(5 * time.Hour)
		a := env.rawRequest(t, key, http.MethodPut, cumulative, withHeaders(accept("6.0"), "Content-Type", "application/json"), good)
		if a.status != http.StatusNoContent || !a.hmrcs() || a.raw != "" || len(a.header.Get("X-CorrelationId")) != 36 {
			t.Fatalf("%d %v %s", a.status, a.header, a.raw)
		}
		checkAnswerHeaders(t, a)
		after := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		if after.Version <= before.Version || after.LastRefreshAt.IsZero() {
			t.Errorf("the token was not refreshed on the way: %+v", after)
		}
		env.fraudVerdict(t, "property-business-mtd", true)
		a = env.rawRequest(t, key, http.MethodGet, cumulative, accept("6.0"), "")
		uk, _ := a.body["ukProperty"].(map[string]any)
		if a.status != http.StatusOK || uk == nil || uk["income"].(map[string]any)["periodAmount"] != 5000.25 {
			t.Errorf("read back: %d %s", a.status, a.raw)
		}
		// The proxy keeps no receipt: the typed endpoints do.
		if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 10); len(subs) != 0 {
			t.Errorf("receipts %+v", subs)
		}
	})

	t.Run("a write the platform says no user started", func(t *testing.T) {
		a := env.rawRequest(t, key, http.MethodPut, cumulative,
			withHeaders(batchProcess(), "Accept", "application/vnd.hmrc.6.0+json", "Content-Type", "application/json"), good)
		if a.status != http.StatusNoContent || !a.hmrcs() {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	})

	t.Run("a tax calculation", func(t *testing.T) {
		calcs := base + "/individuals/calculations/" + testNINO + "/self-assessment/" + ty
		a := env.rawRequest(t, key, http.MethodPost, calcs+"/trigger/in-year", accept("8.0"), "")
		id, _ := a.body["calculationId"].(string)
		if a.status != http.StatusAccepted || id == "" {
			t.Fatalf("trigger: %d %s", a.status, a.raw)
		}
		// HMRC's 404 while it calculates is passed on as it is.
		a = env.rawRequest(t, key, http.MethodGet, calcs+"/"+id, accept("8.0"), "")
		if a.status != http.StatusNotFound || !a.hmrcs() || a.body["code"] != "MATCHING_RESOURCE_NOT_FOUND" {
			t.Fatalf("at once: %d %s", a.status, a.raw)
		}
		env.Clock.Advance(5 * time.Second)
		a = env.rawRequest(t, key, http.MethodGet, calcs+"/"+id, accept("8.0"), "")
		meta, _ := a.body["metadata"].(map[string]any)
		if a.status != http.StatusOK || meta["calculationId"] != id || meta["taxYear"] != ty {
			t.Fatalf("retrieve: %d %s", a.status, a.raw)
		}
		env.fraudVerdict(t, "individual-calculations-mtd", true)
	})

	t.Run("an API the simulator does not implement", func(t *testing.T) {
		a := env.rawRequest(t, key, http.MethodGet, base+"/individuals/losses/"+testNINO+"/brought-forward-losses/tax-year/"+ty, accept("7.0"), "")
		if a.status != http.StatusNotFound || !a.hmrcs() || a.body["code"] != "MATCHING_RESOURCE_NOT_FOUND" || len(a.header.Get("X-CorrelationId")) != 36 {
			t.Errorf("%d %v %s", a.status, a.header, a.raw)
		}
		checkAnswerHeaders(t, a)
	})

	t.Run("HMRC's deprecation notice", func(t *testing.T) {
		on := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
		env.Sim.SetFaults(hmrcsim.Faults{Deprecated: []hmrcsim.Deprecation{{API: "business-details-mtd", On: on}}})
		defer env.Sim.SetFaults(hmrcsim.Faults{})
		a := env.rawRequest(t, key, http.MethodGet, base+"/individuals/business/details/"+testNINO+"/list", accept("2.0"), "")
		if a.status != http.StatusOK || a.header.Get("Deprecation") != "Mon, 05 Jan 2026 00:00:00 GMT" ||
			a.header.Get("Sunset") != "Sun, 05 Jul 2026 00:00:00 GMT" || !strings.Contains(a.header.Get("Link"), "business-details-api") {
			t.Errorf("%d %v", a.status, a.header)
		}
		checkAnswerHeaders(t, a)
	})

	t.Run("HMRC's refusals and sandbox scenarios are passed on", func(t *testing.T) {
		a := env.rawRequest(t, key, http.MethodGet, base+"/individuals/business/details/"+testNINO+"/list",
			withHeaders(accept("2.0"), "Gov-Test-Scenario", "NO_SUCH_SCENARIO"), "")
		if a.status != http.StatusBadRequest || !a.hmrcs() || a.body["code"] != "RULE_INCORRECT_GOV_TEST_SCENARIO" {
			t.Errorf("scenario: %d %s", a.status, a.raw)
		}
		a = env.rawRequest(t, key, http.MethodGet, base+"/individuals/business/details/"+testNINO+"/list", device, "")
		if a.status != http.StatusNotAcceptable || !a.hmrcs() || a.body["code"] != "ACCEPT_HEADER_INVALID" {
			t.Errorf("no Accept: %d %s", a.status, a.raw)
		}
		a = env.rawRequest(t, key, http.MethodPut, cumulative, withHeaders(accept("6.0"), "Content-Type", "application/json"),
			fmt.Sprintf(`{"fromDate":%q,"toDate":%q,"ukProperty":{"expenses":{"travelCosts":1,"consolidatedExpenses":2}}}`, target.startS, target.endS))
		if a.status != http.StatusBadRequest || !a.hmrcs() || a.body["code"] != "RULE_BOTH_EXPENSES_SUPPLIED" {
			t.Errorf("HMRC's validation: %d %s", a.status, a.raw)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		answered, _ := env.proxyCounts(t)
		for series, want := range map[string]float64{
			"business-details 200": 2, "obligations 200": 1, "property-business 204": 2, "property-business 200": 1,
			"property-business 400": 1, "individual-calculations 202": 1, "individual-calculations 404": 1,
			"individual-calculations 200": 1, "individual-losses 404": 1, "business-details 400": 1, "business-details 406": 1,
		} {
			if answered[series] != want {
				t.Errorf("%s: %v, want %v (all: %v)", series, answered[series], want, answered)
			}
		}
	})

	if logs := env.Logs.String(); !strings.Contains(logs, `msg="hmrc proxy call"`) || !strings.Contains(logs, "api=individual-calculations") {
		t.Errorf("the proxy's calls are not recorded:\n%s", logs)
	}
}

// Every refusal of the proxy is mtdconnect's, before anything reaches
// HMRC: bad paths, APIs outside the allow-list, another taxpayer's
// identifiers, a write without device data, a key without the scope.
func TestAPIProxyRefusals(t *testing.T) {
	env := newTestEnv(t)
	env.incomeTaxLandlord(false)
	key, _ := env.newKey("platform-proxy", mtdconnect.ScopeProxy)
	noScope, _ := env.newKey("platform-no-proxy", mtdconnect.ScopeSubmissions, mtdconnect.ScopeUsers)
	base := fmt.Sprintf("/api/v1/users/id:%d/hmrc/proxy", env.landlord.ID)
	other := fmt.Sprintf("/api/v1/users/id:%d/hmrc/proxy", env.other.ID)
	list := "/individuals/business/details/" + testNINO + "/list"
	get := withHeaders(platformDevice(), "Accept", "application/vnd.hmrc.2.0+json")
	_, refusedBefore := env.proxyCounts(t)

	for _, tt := range []struct {
		name, key, method, target string
		header                    http.Header
		body                      string
		status                    int
		code                      string
	}{
		{"dot dot", key, "GET", base + "/individuals/business/details/" + testNINO + "/../AB123456C/list", get, "", 400, "invalid_path"},
		{"dot dot before the HMRC path", key, "GET", base + "/../proxy" + list, get, "", 400, "invalid_path"},
		{"dot", key, "GET", base + "/individuals/business/details/./" + testNINO + "/list", get, "", 400, "invalid_path"},
		{"double slash", key, "GET", base + "//individuals/business/details/" + testNINO + "/list", get, "", 400, "invalid_path"},
		{"absolute URL", key, "GET", base + "/https://evil.example" + list, get, "", 400, "invalid_path"},
		{"absolute URL, slashes encoded", key, "GET", base + "/https:%2F%2Fevil.example" + list, get, "", 400, "invalid_path"},
		{"scheme", key, "GET", base + "/http:evil.example" + list, get, "", 400, "invalid_path"},
		{"encoded slash", key, "GET", base + "/individuals%2Fbusiness/details/" + testNINO + "/list", get, "", 400, "invalid_path"},
		{"encoded slash, lower case", key, "GET", base + "/individuals/business/details/" + testNINO + "%2flist", get, "", 400, "invalid_path"},
		{"encoded backslash", key, "GET", base + "/individuals/business/details/" + testNINO + "%5Clist", get, "", 400, "invalid_path"},
		{"backslash", key, "GET", base + `/individuals/business/details\` + testNINO + "/list", get, "", 400, "invalid_path"},
		{"encoded dot dot", key, "GET", base + "/individuals/business/details/%2e%2e/" + testNINO + "/list", get, "", 400, "invalid_path"},
		// A NUL never reaches the proxy's own check: the API refuses text
		// no store or page could keep first (text.go).
		{"NUL", key, "GET", base + list + "%00", get, "", 400, "invalid_text"},
		{"encoded CRLF", key, "GET", base + list + "%0D%0AHost:%20evil.example", get, "", 400, "invalid_path"},
		{"no path", key, "GET", base + "/", get, "", 400, "invalid_path"},
		{"token endpoint", key, "POST", base + "/oauth/token", platformDevice(), "grant_type=refresh_token", 403, "path_not_allowed"},
		{"test support", key, "POST", base + "/individuals/self-assessment-test-support/business/" + testNINO, platformDevice(), `{"typeOfBusiness":"uk-property"}`, 403, "path_not_allowed"},
		{"create test user", key, "POST", base + "/create-test-user/individuals", platformDevice(), `{}`, 403, "path_not_allowed"},
		{"fraud header validator", key, "GET", base + "/test/fraud-prevention-headers/validate", get, "", 403, "path_not_allowed"},
		{"hello", key, "GET", base + "/hello/user", get, "", 403, "path_not_allowed"},
		{"another NINO", key, "GET", base + "/individuals/business/details/AB123456C/list", get, "", 403, "identifier_not_landlords"},
		{"another NINO in the query", key, "GET", base + "/obligations/details/" + testNINO + "/income-and-expenditure?nino=AB123456C", get, "", 403, "identifier_not_landlords"},
		{"no NINO", key, "GET", base + "/individuals/calculations/self-assessment/2025-26", get, "", 403, "identifier_not_landlords"},
		{"a write without device data", key, "PUT", base + "/individuals/other-income/" + testNINO + "/2025-26",
			http.Header{"Accept": {"application/vnd.hmrc.2.0+json"}, "Content-Type": {"application/json"}}, `{}`, 400, "device_data_required"},
		{"a write with half the device data", key, "PUT", base + "/individuals/other-income/" + testNINO + "/2025-26",
			http.Header{"Mtd-Client-Public-IP": {testClientIP}, "Content-Type": {"application/json"}}, `{}`, 400, "invalid_device_headers"},
		{"a body too large", key, "PUT", base + "/individuals/other-income/" + testNINO + "/2025-26",
			withHeaders(platformDevice(), "Content-Type", "application/json"), `{"x":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "request_too_large"},
		{"OPTIONS", key, "OPTIONS", base + list, get, "", 404, "not_found"},
		{"a VAT API without a VRN", key, "GET", base + "/organisations/vat/" + testVRN + "/obligations", get, "", 409, "vrn_required"},
		{"a landlord without a NINO", key, "GET", other + list, get, "", 409, "nino_required"},
		{"a key without the proxy scope", noScope, "GET", base + list, get, "", 403, "insufficient_scope"},
		{"no key", "", "GET", base + list, get, "", 401, "unauthorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Sim.Stats().Requests
			a := env.rawRequest(t, tt.key, tt.method, tt.target, tt.header, tt.body)
			if a.status != tt.status || a.body["error"] != tt.code || a.body["message"] == "" || a.hmrcs() {
				t.Errorf("%d %v %s, want %d %s", a.status, a.header, a.raw, tt.status, tt.code)
			}
			if n := env.Sim.Stats().Requests - before; n != 0 {
				t.Errorf("%d requests reached HMRC", n)
			}
		})
	}

	t.Run("not connected", func(t *testing.T) {
		setNINO(t, env, env.other.ID, "AB123456C")
		before := env.Sim.Stats().Requests
		a := env.rawRequest(t, key, http.MethodGet, other+"/individuals/business/details/AB123456C/list", get, "")
		if a.status != http.StatusNotFound || a.body["error"] != "not_connected" || env.Sim.Stats().Requests != before {
			t.Errorf("%d %s", a.status, a.raw)
		}
	})

	_, refused := env.proxyCounts(t)
	for reason, want := range map[string]float64{"path": 9, "not_allowed": 5, "identifier": 3} {
		if got := refused[reason] - refusedBefore[reason]; got != want {
			t.Errorf("refusals for %s: %v, want %v", reason, got, want)
		}
	}
}

// VAT through the proxy: the landlord's VAT connection and VRN only; a
// return filed this way comes back with HMRC's receipt headers.
func TestAPIProxyVAT(t *testing.T) {
	env := newTestEnv(t, withGatewayHeaders)
	env.vatLandlord(true)
	key, _ := env.newKey("platform-proxy", mtdconnect.ScopeProxy)
	base := fmt.Sprintf("/api/v1/users/id:%d/hmrc/proxy", env.landlord.ID)
	h := withHeaders(platformDevice(), "Accept", "application/vnd.hmrc.1.0+json")
	periods := vatPeriods(env.Clock.Now())

	a := env.rawRequest(t, key, http.MethodGet, base+"/organisations/vat/"+testVRN+"/obligations?status=O", h, "")
	if a.status != http.StatusOK || !a.hmrcs() || len(a.body["obligations"].([]any)) != len(periods) {
		t.Fatalf("obligations: %d %s", a.status, a.raw)
	}
	env.fraudVerdict(t, hmrcsim.VATFraudAPI, true)

	a = env.rawRequest(t, key, http.MethodPost, base+"/organisations/vat/"+testVRN+"/returns",
		withHeaders(h, "Content-Type", "application/json"), vatBody(periods[0].key, nil))
	if a.status != http.StatusCreated || !a.hmrcs() || a.body["formBundleNumber"] == nil ||
		len(a.header.Get("Receipt-ID")) != 36 || a.header.Get("Receipt-Timestamp") == "" || a.header.Get("X-CorrelationId") == "" {
		t.Fatalf("return: %d %v %s", a.status, a.header, a.raw)
	}
	checkAnswerHeaders(t, a)
	a = env.rawRequest(t, key, http.MethodGet, base+"/organisations/vat/"+testVRN+"/returns/"+url.PathEscape(periods[0].key), h, "")
	if a.status != http.StatusOK || a.body["periodKey"] != periods[0].key {
		t.Errorf("view: %d %s", a.status, a.raw)
	}

	for _, tt := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"another VRN", "/organisations/vat/987654321/obligations", 403, "identifier_not_landlords"},
		{"a NINO in a VAT path", "/organisations/vat/" + testVRN + "/" + testNINO, 403, "identifier_not_landlords"},
		{"check a VAT number", "/organisations/vat/check-vat-number/lookup/987654321", 403, "path_not_allowed"},
		// The landlord saved no NINO: no Income Tax call is made for them.
		{"Income Tax", "/individuals/business/details/" + testNINO + "/list", 409, "nino_required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Sim.Stats().Requests
			a := env.rawRequest(t, key, http.MethodGet, base+tt.path, h, "")
			if a.status != tt.status || a.body["error"] != tt.code || a.hmrcs() || env.Sim.Stats().Requests != before {
				t.Errorf("%d %s, want %d %s", a.status, a.raw, tt.status, tt.code)
			}
		})
	}

	// With a NINO but only a VAT connection: the Income Tax connection is
	// the one used, and there is none.
	setNINO(t, env, env.landlord.ID, testNINO)
	before := env.Sim.Stats().Requests
	a = env.rawRequest(t, key, http.MethodGet, base+"/individuals/business/details/"+testNINO+"/list", h, "")
	if a.status != http.StatusNotFound || a.body["error"] != "not_connected" || env.Sim.Stats().Requests != before {
		t.Errorf("Income Tax with a VAT connection: %d %s", a.status, a.raw)
	}
	answered, _ := env.proxyCounts(t)
	if answered["vat 200"] != 2 || answered["vat 201"] != 1 {
		t.Errorf("metrics %v", answered)
	}
}
