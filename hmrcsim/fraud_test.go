package hmrcsim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// webHeaders is a complete WEB_APP_VIA_SERVER set built from the spec's
// example values (FPH v3.3 partials).
func webHeaders() http.Header {
	h := http.Header{}
	for k, v := range map[string]string{
		"Gov-Client-Connection-Method":     "WEB_APP_VIA_SERVER",
		"Gov-Client-Browser-JS-User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"Gov-Client-Device-ID":             "beec798b-b366-47fa-b1f8-92cede14a1ce",
		"Gov-Client-Multi-Factor":          "type=AUTH_CODE&timestamp=2021-11-21T13%3A23Z&unique-reference=fc4b5fd6816f75a7c81fc8eaa9499d6a299bd803397166e8c4cf9280b801d62c",
		"Gov-Client-Public-IP":             "198.51.100.0",
		"Gov-Client-Public-IP-Timestamp":   "2020-09-21T14:30:05.123Z",
		"Gov-Client-Public-Port":           "12345",
		"Gov-Client-Screens":               "width=1920&height=1080&scaling-factor=1&colour-depth=16,width=3000&height=2000&scaling-factor=1.25&colour-depth=16",
		"Gov-Client-Timezone":              "UTC+00:00",
		"Gov-Client-User-IDs":              "my-application=alice123",
		"Gov-Client-Window-Size":           "width=1256&height=803",
		"Gov-Vendor-Forwarded":             "by=203.0.113.6&for=198.51.100.0",
		"Gov-Vendor-License-IDs":           "my-licensed-software=8D7963490527D33716835EE7C195516D5E562E03B224E9B359836466EE40CDE1",
		"Gov-Vendor-Product-Name":          "Product%20Name",
		"Gov-Vendor-Public-IP":             "203.0.113.6",
		"Gov-Vendor-Version":               "my-web-app=2.2.2",
	} {
		h.Set(k, v)
	}
	return h
}

// batchHeaders is a complete BATCH_PROCESS_DIRECT set.
func batchHeaders() http.Header {
	h := http.Header{}
	for k, v := range map[string]string{
		"Gov-Client-Connection-Method":   "BATCH_PROCESS_DIRECT",
		"Gov-Client-Device-ID":           "beec798b-b366-47fa-b1f8-92cede14a1ce",
		"Gov-Client-Local-IPs":           "fc00%3A%3A,10.1.2.3",
		"Gov-Client-Local-IPs-Timestamp": "2020-09-21T14:30:05.123Z",
		"Gov-Client-MAC-Addresses":       "ea%3A43%3A1a%3A5d%3A21%3A45,10%3A12%3Acc%3Afa%3Aaa%3A32",
		"Gov-Client-Timezone":            "UTC-01:15",
		"Gov-Client-User-Agent":          "os-family=Windows&os-version=Server%202012&device-manufacturer=Dell%20Inc.&device-model=OptiPlex%20980",
		"Gov-Client-User-IDs":            "os=domain%5Calice&my-application=alice123",
		"Gov-Vendor-License-IDs":         "my-licensed-software=8D7963490527D33716835EE7C195516D",
		"Gov-Vendor-Product-Name":        "Product%20Name",
		"Gov-Vendor-Version":             "my-batch=1.0.0",
	} {
		h.Set(k, v)
	}
	return h
}

var webRequired = []string{
	"Gov-Client-Connection-Method", "Gov-Client-Browser-JS-User-Agent", "Gov-Client-Device-ID",
	"Gov-Client-Multi-Factor", "Gov-Client-Public-IP", "Gov-Client-Public-IP-Timestamp",
	"Gov-Client-Public-Port", "Gov-Client-Screens", "Gov-Client-Timezone", "Gov-Client-User-IDs",
	"Gov-Client-Window-Size", "Gov-Vendor-Forwarded", "Gov-Vendor-License-IDs",
	"Gov-Vendor-Product-Name", "Gov-Vendor-Public-IP", "Gov-Vendor-Version",
}

var batchRequired = []string{
	"Gov-Client-Connection-Method", "Gov-Client-Device-ID", "Gov-Client-Local-IPs",
	"Gov-Client-Local-IPs-Timestamp", "Gov-Client-MAC-Addresses", "Gov-Client-Timezone",
	"Gov-Client-User-Agent", "Gov-Client-User-IDs", "Gov-Vendor-License-IDs",
	"Gov-Vendor-Product-Name", "Gov-Vendor-Version",
}

// issueFor finds the issue with code that names header (lower-case).
func issueFor(issues []hmrcsim.FraudIssue, code, header string) bool {
	for _, is := range issues {
		if is.Code == code && slices.Contains(is.Headers, strings.ToLower(header)) {
			return true
		}
	}
	return false
}

func TestFraudValidSets(t *testing.T) {
	for name, h := range map[string]http.Header{"web": webHeaders(), "batch": batchHeaders()} {
		res := hmrcsim.ValidateFraudHeaders(h)
		if res.Code != hmrcsim.FraudValid || res.SpecVersion != "3.3" || len(res.Errors)+len(res.Warnings) != 0 {
			t.Errorf("%s: %+v", name, res)
		}
	}
}

func TestFraudNoHeaders(t *testing.T) {
	res := hmrcsim.ValidateFraudHeaders(http.Header{"Accept": {"application/json"}})
	if res.Code != hmrcsim.FraudInvalid || !strings.HasPrefix(res.Message, "No fraud prevention headers submitted") {
		t.Errorf("%+v", res)
	}
}

func TestFraudMissingEachHeader(t *testing.T) {
	for method, set := range map[string]struct {
		build    func() http.Header
		required []string
	}{"WEB_APP_VIA_SERVER": {webHeaders, webRequired}, "BATCH_PROCESS_DIRECT": {batchHeaders, batchRequired}} {
		for _, name := range set.required {
			t.Run(method+"/"+name, func(t *testing.T) {
				h := set.build()
				h.Del(name)
				res := hmrcsim.ValidateFraudHeaders(h)
				if res.Code != hmrcsim.FraudInvalid || !issueFor(res.Errors, hmrcsim.IssueMissing, name) {
					t.Errorf("%+v", res)
				}
			})
		}
	}
}

func TestFraudMalformed(t *testing.T) {
	tests := []struct {
		name, header, value string
		batch               bool
		code                string // issue code expected
		warn                bool   // expected among warnings (overall POTENTIALLY_INVALID)
		forwarded           string // Gov-Vendor-Forwarded to keep consistent, if any
	}{
		{"unknown method", "Gov-Client-Connection-Method", "WEB_APP", false, hmrcsim.IssueInvalid, false, ""},
		{"unsupported method", "Gov-Client-Connection-Method", "OTHER_DIRECT", false, hmrcsim.IssueInvalid, false, ""},
		{"device id not uuid", "Gov-Client-Device-ID", "device-123", false, hmrcsim.IssueInvalid, false, ""},
		{"public ip garbage", "Gov-Client-Public-IP", "198.51.100", false, hmrcsim.IssueInvalid, false, ""},
		{"public ip loopback", "Gov-Client-Public-IP", "127.0.0.1", false, hmrcsim.IssuePotentiallyInvalid, true, "by=203.0.113.6&for=127.0.0.1"},
		{"public ip private", "Gov-Client-Public-IP", "10.0.0.5", false, hmrcsim.IssuePotentiallyInvalid, true, "by=203.0.113.6&for=10.0.0.5"},
		{"public ip v6 loopback encoded", "Gov-Client-Public-IP", "%3A%3A1", false, hmrcsim.IssuePotentiallyInvalid, true, "by=203.0.113.6&for=%3A%3A1"},
		{"timestamp no ms", "Gov-Client-Public-IP-Timestamp", "2020-09-21T14:30:05Z", false, hmrcsim.IssueInvalid, false, ""},
		{"timestamp offset", "Gov-Client-Public-IP-Timestamp", "2020-09-21T14:30:05.123+01:00", false, hmrcsim.IssueInvalid, false, ""},
		{"timestamp month 13", "Gov-Client-Public-IP-Timestamp", "2020-13-21T14:30:05.123Z", false, hmrcsim.IssueInvalid, false, ""},
		{"local ips timestamp", "Gov-Client-Local-IPs-Timestamp", "2020-09-21 14:30:05.123", true, hmrcsim.IssueInvalid, false, ""},
		{"port zero", "Gov-Client-Public-Port", "0", false, hmrcsim.IssueInvalid, false, ""},
		{"port too big", "Gov-Client-Public-Port", "65536", false, hmrcsim.IssueInvalid, false, ""},
		{"port text", "Gov-Client-Public-Port", "abc", false, hmrcsim.IssueInvalid, false, ""},
		{"port 443", "Gov-Client-Public-Port", "443", false, hmrcsim.IssuePotentiallyInvalid, true, ""},
		{"screens no depth", "Gov-Client-Screens", "width=1920&height=1080&scaling-factor=1", false, hmrcsim.IssueInvalid, false, ""},
		{"screens zero width", "Gov-Client-Screens", "width=0&height=1080&scaling-factor=1&colour-depth=16", false, hmrcsim.IssueInvalid, false, ""},
		{"screens bad scaling", "Gov-Client-Screens", "width=1&height=1&scaling-factor=big&colour-depth=16", false, hmrcsim.IssueInvalid, false, ""},
		{"screens not kv", "Gov-Client-Screens", "1920x1080", false, hmrcsim.IssueInvalid, false, ""},
		{"window no height", "Gov-Client-Window-Size", "width=1256", false, hmrcsim.IssueInvalid, false, ""},
		{"window negative", "Gov-Client-Window-Size", "width=-1&height=803", false, hmrcsim.IssueInvalid, false, ""},
		{"timezone GMT", "Gov-Client-Timezone", "GMT", false, hmrcsim.IssueInvalid, false, ""},
		{"timezone no colon", "Gov-Client-Timezone", "UTC+0100", false, hmrcsim.IssueInvalid, false, ""},
		// HMRC's warning: "Web applications do not usually provide the os field".
		{"user ids web with os", "Gov-Client-User-IDs", "os=alice&my-application=alice123", false, hmrcsim.IssuePotentiallyInvalid, true, ""},
		{"user ids not kv", "Gov-Client-User-IDs", "alice123", false, hmrcsim.IssueInvalid, false, ""},
		{"user ids batch without os", "Gov-Client-User-IDs", "my-application=alice123", true, hmrcsim.IssuePotentiallyInvalid, true, ""},
		{"vendor version not kv", "Gov-Vendor-Version", "2.2.2", false, hmrcsim.IssueInvalid, false, ""},
		{"vendor version empty value", "Gov-Vendor-Version", "my-web-app=", false, hmrcsim.IssueInvalid, false, ""},
		{"product name raw space", "Gov-Vendor-Product-Name", "Product Name", false, hmrcsim.IssueInvalid, false, ""},
		{"product name bad escape", "Gov-Vendor-Product-Name", "Product%2", false, hmrcsim.IssueInvalid, false, ""},
		{"product name bad hex", "Gov-Vendor-Product-Name", "Product%zzName", false, hmrcsim.IssueInvalid, false, ""},
		{"forwarded no for", "Gov-Vendor-Forwarded", "by=203.0.113.6", false, hmrcsim.IssueInvalid, false, ""},
		{"forwarded not ip", "Gov-Vendor-Forwarded", "by=proxy&for=198.51.100.0", false, hmrcsim.IssueInvalid, false, ""},
		{"forwarded private hop", "Gov-Vendor-Forwarded", "by=203.0.113.6&for=198.51.100.0,by=10.0.0.1&for=203.0.113.6", false, hmrcsim.IssuePotentiallyInvalid, true, ""},
		// No pair by=Gov-Vendor-Public-IP&for=Gov-Client-Public-IP: HMRC's
		// cross-validation error, on all three headers.
		{"forwarded pair mismatch", "Gov-Vendor-Forwarded", "by=203.0.113.7&for=198.51.100.0", false, hmrcsim.IssueCrossHeader, false, ""},
		{"forwarded ipv6 encoded mismatch", "Gov-Vendor-Forwarded", "by=2001%3Adb8%3A%3A1&for=198.51.100.0", false, hmrcsim.IssueCrossHeader, false, ""},
		{"forwarded client mismatch", "Gov-Client-Public-IP", "198.51.100.1", false, hmrcsim.IssueCrossHeader, false, ""},
		{"forwarded pair on a later hop", "Gov-Vendor-Forwarded", "by=2001%3Adb8%3A%3A1&for=198.51.100.7,by=203.0.113.6&for=198.51.100.0", false, "", false, ""},
		{"vendor public ip bad", "Gov-Vendor-Public-IP", "not-an-ip", false, hmrcsim.IssueInvalid, false, ""},
		{"mfa bad type", "Gov-Client-Multi-Factor", "type=SMS&timestamp=2021-11-21T13%3A23Z&unique-reference=abc", false, hmrcsim.IssueInvalid, false, ""},
		{"mfa bad timestamp", "Gov-Client-Multi-Factor", "type=TOTP&timestamp=21-11-2021&unique-reference=abc", false, hmrcsim.IssueInvalid, false, ""},
		{"mfa no reference", "Gov-Client-Multi-Factor", "type=TOTP&timestamp=2021-11-21T13%3A23Z", false, hmrcsim.IssueInvalid, false, ""},
		{"mfa second item bad", "Gov-Client-Multi-Factor", "type=TOTP&timestamp=2021-11-21T13%3A23%3A10.123Z&unique-reference=a,type=X&timestamp=2021-11-21T13%3A23Z&unique-reference=b", false, hmrcsim.IssueInvalid, false, ""},
		{"non ascii", "Gov-Client-User-IDs", "my-application=alïce", false, hmrcsim.IssueInvalid, false, ""},
		{"empty required", "Gov-Client-Timezone", "", false, hmrcsim.IssueEmpty, false, ""},
		{"local ips bad", "Gov-Client-Local-IPs", "10.1.2.3,nope", true, hmrcsim.IssueInvalid, false, ""},
		{"mac bad", "Gov-Client-MAC-Addresses", "ea:43:1a", true, hmrcsim.IssueInvalid, false, ""},
		{"user agent missing keys", "Gov-Client-User-Agent", "os-family=Windows", true, hmrcsim.IssuePotentiallyInvalid, true, ""},
		// Placeholders: never send null/undefined.
		{"placeholder null", "Gov-Client-Browser-JS-User-Agent", "null", false, hmrcsim.IssueInvalid, false, ""},
		{"placeholder undefined", "Gov-Client-Device-ID", "undefined", false, hmrcsim.IssueInvalid, false, ""},
		{"placeholder multi-factor", "Gov-Client-Multi-Factor", "undefined", false, hmrcsim.IssueInvalid, false, ""},
		{"placeholder license", "Gov-Vendor-License-IDs", "NULL", false, hmrcsim.IssueInvalid, false, ""},
		{"placeholder in kv value", "Gov-Client-User-IDs", "my-application=undefined", false, hmrcsim.IssueInvalid, false, ""},
		{"placeholder license value", "Gov-Vendor-License-IDs", "sw=null", false, hmrcsim.IssueInvalid, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := webHeaders()
			if tc.batch {
				h = batchHeaders()
			}
			h.Set(tc.header, tc.value)
			if tc.forwarded != "" {
				h.Set("Gov-Vendor-Forwarded", tc.forwarded)
			}
			res := hmrcsim.ValidateFraudHeaders(h)
			if tc.code == "" {
				if res.Code != hmrcsim.FraudValid {
					t.Errorf("%s=%q: want valid, got %+v", tc.header, tc.value, res)
				}
				return
			}
			want, list := hmrcsim.FraudInvalid, res.Errors
			if tc.warn {
				want, list = hmrcsim.FraudPotentiallyInvalid, res.Warnings
			}
			if res.Code != want || !issueFor(list, tc.code, tc.header) {
				t.Errorf("%s=%q: want %s with %s, got %+v", tc.header, tc.value, want, tc.code, res)
			}
		})
	}
}

func TestFraudEmptyAllowedHeadersWarn(t *testing.T) {
	for _, name := range []string{"Gov-Client-Multi-Factor", "Gov-Vendor-License-IDs"} {
		h := webHeaders()
		h.Set(name, "")
		res := hmrcsim.ValidateFraudHeaders(h)
		if res.Code != hmrcsim.FraudPotentiallyInvalid || len(res.Errors) != 0 || !issueFor(res.Warnings, hmrcsim.IssueEmpty, name) {
			t.Errorf("%s empty: %+v", name, res)
		}
	}
	// Both empty: one merged EMPTY_HEADER warning naming both.
	h := webHeaders()
	h.Set("Gov-Client-Multi-Factor", "")
	h.Set("Gov-Vendor-License-IDs", "")
	res := hmrcsim.ValidateFraudHeaders(h)
	if len(res.Warnings) != 1 || len(res.Warnings[0].Headers) != 2 {
		t.Errorf("merged warnings: %+v", res.Warnings)
	}
}

func TestFraudMissingHeadersMerged(t *testing.T) {
	h := webHeaders()
	h.Del("Gov-Client-Screens")
	h.Del("Gov-Client-Window-Size")
	res := hmrcsim.ValidateFraudHeaders(h)
	if len(res.Errors) != 1 || !slices.Equal(res.Errors[0].Headers, []string{"gov-client-screens", "gov-client-window-size"}) {
		t.Errorf("%+v", res.Errors)
	}
}

// appToken gets an application-restricted token through client_credentials.
func (e *env) appToken() string {
	e.t.Helper()
	status, body := e.tokenPost(url.Values{
		"client_id": {clientID}, "client_secret": {clientSecret}, "grant_type": {"client_credentials"},
	})
	tok, _ := body["access_token"].(string)
	if status != 200 || tok == "" {
		e.t.Fatalf("client_credentials: %d %v", status, body)
	}
	return tok
}

func TestFraudValidateEndpoint(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	app := e.appToken()
	call := func(token string, h http.Header, accept string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/test/fraud-prevention-headers/validate", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		req.Header.Set("Accept", accept)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		p := e.do(http.DefaultClient, req)
		m := map[string]any{}
		if err := json.Unmarshal([]byte(p.body), &m); err != nil {
			t.Fatalf("body %q: %v", p.body, err)
		}
		return p.status, m
	}
	const v1 = "application/vnd.hmrc.1.0+json"

	if status, body := call(app, webHeaders(), v1); status != 200 || body["code"] != "VALID_HEADERS" || body["specVersion"] != "3.3" {
		t.Errorf("valid: %d %v", status, body)
	}
	// The simulator's own address: a real client on 127.0.0.1 gets a warning.
	h := webHeaders()
	h.Set("Gov-Client-Public-IP", "127.0.0.1")
	h.Set("Gov-Vendor-Forwarded", "by=203.0.113.6&for=127.0.0.1")
	if status, body := call(app, h, v1); status != 200 || body["code"] != "POTENTIALLY_INVALID_HEADERS" {
		t.Errorf("loopback: %d %v", status, body)
	}
	// Bad headers still answer 200; the verdict is in the body.
	if status, body := call(app, nil, v1); status != 200 || body["code"] != "INVALID_HEADERS" {
		t.Errorf("none: %d %v", status, body)
	}
	if status, body := call("", webHeaders(), v1); status != 401 || body["code"] != "MISSING_CREDENTIALS" {
		t.Errorf("no token: %d %v", status, body)
	}
	if status, body := call(app, webHeaders(), "application/json"); status != 406 || body["code"] != "ACCEPT_HEADER_INVALID" {
		t.Errorf("bad accept: %d %v", status, body)
	}
	user := e.connect().AccessToken
	if status, body := call(user, webHeaders(), v1); status != 401 || body["code"] != "INCORRECT_ACCESS_TOKEN_TYPE" {
		t.Errorf("user token: %d %v", status, body)
	}
}

func TestFraudFeedback(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	app := e.appToken()
	feedback := func(api, method string) (int, map[string]any) {
		t.Helper()
		return e.api("GET", "/test/fraud-prevention-headers/"+api+"/validation-feedback?connectionMethod="+method, app)
	}
	if status, body := feedback("vat-mtd", "WEB_APP_VIA_SERVER"); status != 404 || body["code"] != "MATCHING_RESOURCE_NOT_FOUND" {
		t.Errorf("before any request: %d %v", status, body)
	}
	if _, ok := e.sim.LastFraudResult("vat-mtd"); ok {
		t.Error("LastFraudResult before any request")
	}

	record := func(method, path string, h http.Header) {
		r := httptest.NewRequest(method, path, nil)
		r.Header = h
		e.sim.RecordFraudHeaders("vat-mtd", r)
	}
	bad := webHeaders()
	bad.Del("Gov-Client-Screens")
	record("GET", "/organisations/vat/123456789/obligations", bad)
	record("GET", "/organisations/vat/123456789/obligations", webHeaders()) // replaces the bad one
	record("POST", "/organisations/vat/123456789/returns", bad)

	last, ok := e.sim.LastFraudResult("vat-mtd")
	if !ok || last.Code != "INVALID_HEADERS" || !issueFor(last.Errors, "MISSING_HEADER", "gov-client-screens") {
		t.Errorf("LastFraudResult: %v %+v", ok, last)
	}
	status, body := feedback("vat-mtd", "WEB_APP_VIA_SERVER")
	reqs, _ := body["requests"].([]any)
	if status != 200 || len(reqs) != 2 {
		t.Fatalf("feedback: %d %v", status, body)
	}
	got := map[string]string{}
	for _, r := range reqs {
		m := r.(map[string]any)
		if m["requestTimestamp"] != "2026-04-06T09:00:00.000Z" {
			t.Errorf("timestamp: %v", m["requestTimestamp"])
		}
		got[m["method"].(string)+" "+m["path"].(string)] = m["code"].(string)
	}
	want := map[string]string{
		"GET /organisations/vat/123456789/obligations": "VALID_HEADERS",
		"POST /organisations/vat/123456789/returns":    "INVALID_HEADERS",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("feedback %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	// Other APIs and other connection methods have nothing.
	if status, _ := feedback("obligations-mtd", "WEB_APP_VIA_SERVER"); status != 404 {
		t.Errorf("other api: %d", status)
	}
	if status, _ := feedback("vat-mtd", "BATCH_PROCESS_DIRECT"); status != 404 {
		t.Errorf("other connection method: %d", status)
	}
	if status, body := feedback("vat-mtd", "NOPE"); status != 400 {
		t.Errorf("bad connection method: %d %v", status, body)
	}

	// Each request is broken down by header, as HMRC's feedback is: the
	// missing header named, the others valid with the value sent, and the
	// IP cross-validation of a web request.
	var post map[string]any
	for _, r := range reqs {
		if m := r.(map[string]any); m["method"] == "POST" {
			post = m
		}
	}
	headers := map[string]map[string]any{}
	for _, h := range asSlice(post["headers"]) {
		m := h.(map[string]any)
		headers[m["header"].(string)] = m
	}
	if len(headers) != len(webRequired) {
		t.Errorf("feedback names %d headers, want the %d required: %v", len(headers), len(webRequired), post["headers"])
	}
	if m := headers["gov-client-screens"]; m["code"] != "MISSING_HEADER" || !slices.Equal(strs(m["errors"]), []string{"Header required"}) {
		t.Errorf("missing header in feedback: %v", m)
	}
	if m := headers["gov-client-timezone"]; m["code"] != "VALID_HEADER" || m["value"] != "UTC+00:00" || len(asSlice(m["errors"])) != 0 {
		t.Errorf("valid header in feedback: %v", m)
	}
	cross := asSlice(post["crossValidation"])
	if len(cross) != 1 || cross[0].(map[string]any)["code"] != "VALID_HEADERS" {
		t.Errorf("crossValidation: %v", post["crossValidation"])
	}
	// connectionMethod is optional: without it every method's requests.
	batch := batchHeaders()
	record("GET", "/organisations/vat/123456789/returns/26A1", batch)
	if status, body := e.api("GET", "/test/fraud-prevention-headers/vat-mtd/validation-feedback", app); status != 200 || len(asSlice(body["requests"])) != 3 {
		t.Errorf("without connectionMethod: %d %v", status, body)
	}
	if status, body := feedback("vat-mtd", "BATCH_PROCESS_DIRECT"); status != 200 || len(asSlice(body["requests"])) != 1 {
		t.Errorf("batch only: %d %v", status, body)
	}
	// An inconsistent Gov-Vendor-Forwarded is a cross-validation error.
	h := webHeaders()
	h.Set("Gov-Vendor-Forwarded", "by=203.0.113.7&for=198.51.100.0")
	record("DELETE", "/organisations/vat/123456789/x", h)
	status, body = feedback("vat-mtd", "WEB_APP_VIA_SERVER")
	for _, r := range asSlice(body["requests"]) {
		m := r.(map[string]any)
		if m["method"] != "DELETE" {
			continue
		}
		c := asSlice(m["crossValidation"])
		if m["code"] != "INVALID_HEADERS" || len(c) != 1 || c[0].(map[string]any)["code"] != "INVALID_HEADERS" ||
			!strings.Contains(strings.Join(strs(c[0].(map[string]any)["errors"]), " "), "Gov-Vendor-Forwarded must include Gov-Client-Public-IP") {
			t.Errorf("cross-validation error: %d %v", status, m)
		}
	}
	if status, _ := e.api("GET", "/test/fraud-prevention-headers/vat-mtd/validation-feedback?connectionMethod=WEB_APP_VIA_SERVER", ""); status != 401 {
		t.Errorf("no token: %d", status)
	}
}

// Servers keep separate feedback.
func TestFraudFeedbackPerServer(t *testing.T) {
	a, b := hmrcsim.New(hmrcsim.Options{}), hmrcsim.New(hmrcsim.Options{})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header = webHeaders()
	a.RecordFraudHeaders("vat-mtd", r)
	if _, ok := b.LastFraudResult("vat-mtd"); ok {
		t.Error("feedback leaked between servers")
	}
	if res, ok := a.LastFraudResult("vat-mtd"); !ok || res.Code != "VALID_HEADERS" {
		t.Errorf("%v %+v", ok, res)
	}
}
