package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/postgres"
	"github.com/mtdconnect/mtdconnect/web"
)

// postgresStore opens a store on a fresh schema of the test database,
// dropped when the test ends; the test is skipped without one.
func postgresStore(t *testing.T) mtdconnect.Store {
	t.Helper()
	base := os.Getenv("MTDCONNECT_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("MTDCONNECT_TEST_POSTGRES_DSN is not set: the PostgreSQL variant is skipped")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// badText is text no store keeps: each probe sends one of them.
var badText = []struct{ name, value string }{
	{"NUL", "ab\x00cd"},
	{"invalid UTF-8", "ab\xff\xfecd"},
	{"long", strings.Repeat("a", 3000) + "@example.com"},
}

// The form fields and query parameters the pages read, all set in each
// probe, so whichever a route reads carries the bad text.
var textFields = []string{"email", "password", "code", "pending", "purpose", "confirm", "nino", "vrn",
	"taxYear", "period", "periodKey", "state", "error", "error_description", "client_id", "client_secret",
	"redirect_uris", "secret_id", "environment", "income", "expenses", "vatDueSales", "start", "end",
	"name", "scopes", "url", "id", "type", "return_url", "display"}

// TestBadTextNeverAnswers500: every browser form and API route, given
// text no store can keep (a NUL byte, invalid UTF-8, a key longer than an
// index takes) in any field, query parameter, path segment, JSON string or
// Gov-Test-Scenario, answers 400 and logs no error, on both stores.
func TestBadTextNeverAnswers500(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) *testEnv
	}{
		{"sqlite", func(t *testing.T) *testEnv { return newTestEnv(t) }},
		{"postgres", func(t *testing.T) *testEnv { return newTestEnvOn(t, postgresStore(t)) }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			env := st.open(t)
			browserRoutes, apiRoutes := probeRoutes(env.server)
			admin := *env.landlord
			admin.Admin = true
			if err := env.Store.UpdateUser(t.Context(), &admin); err != nil {
				t.Fatal(err)
			}
			b := env.browser()
			b.signIn(landlordEmail, landlordPassword)
			b.connect()
			id := strconv.FormatInt(env.landlord.ID, 10)
			var long bool // the probe's text is only long
			check := func(t *testing.T, what string, status int, body string) {
				t.Helper()
				// A long value is refused where it would be a key (an
				// email, a state, a path, a scenario); elsewhere it may be
				// taken, or refused as any wrong value is. Never a 5xx.
				if long && status < 500 && !strings.HasPrefix(what, "POST /signin ") && !strings.Contains(what, "/callback") {
					return
				}
				if status != http.StatusBadRequest {
					t.Errorf("%s: status %d, want 400:\n%.300s", what, status, body)
				}
			}
			for _, bad := range badText {
				long = bad.name == "long"
				b.signIn(landlordEmail, landlordPassword)
				for _, rt := range browserRoutes {
					form := url.Values{}
					for _, f := range textFields {
						form.Set(f, bad.value)
					}
					// The bad text in the query string, and in a form body.
					u := rt.path + "?" + form.Encode()
					var p page
					if rt.method == "GET" {
						p = b.do(b.noFollow, mustRequest(t, "GET", env.url+u, nil))
					} else {
						p = b.do(b.noFollow, b.postRequest(rt.path, form))
					}
					check(t, fmt.Sprintf("%s %s with %s", rt.method, rt.pattern, bad.name), p.status, p.text())
				}
				// In each path segment that is a wildcard.
				long = false
				for _, rt := range browserRoutes {
					for _, path := range rt.withBad(bad.value) {
						var p page
						if rt.method == "GET" {
							p = b.do(b.noFollow, mustRequest(t, "GET", env.url+path, nil))
						} else {
							p = b.do(b.noFollow, b.postRequest(path, url.Values{}))
						}
						check(t, fmt.Sprintf("%s %s{%s}", rt.method, rt.pattern, bad.name), p.status, p.text())
					}
				}
				long = bad.name == "long"
				for _, rt := range apiRoutes {
					path := strings.ReplaceAll(rt.path, "{user}", "id:"+id)
					q := url.Values{}
					for _, f := range textFields {
						q.Set(f, bad.value)
					}
					// In the query string.
					status, body := env.rawAPI(t, rt.method, path+"?"+q.Encode(), "", nil)
					check(t, fmt.Sprintf("%s %s?…%s", rt.method, rt.pattern, bad.name), status, body)
					long = false // a scenario or a path this long is refused
					// As Gov-Test-Scenario (a NUL cannot be in a header:
					// net/http refuses it on both ends).
					if !strings.Contains(bad.value, "\x00") {
						status, body = env.rawAPI(t, rt.method, path, "", http.Header{"Gov-Test-Scenario": {bad.value}})
						check(t, fmt.Sprintf("%s %s with Gov-Test-Scenario %s", rt.method, rt.pattern, bad.name), status, body)
					}
					// In each path segment that is a wildcard.
					for _, p := range rt.withBad(bad.value) {
						status, body = env.rawAPI(t, rt.method, strings.ReplaceAll(p, "{user}", "id:"+id), "", nil)
						check(t, fmt.Sprintf("%s %s with a wildcard %s", rt.method, rt.pattern, bad.name), status, body)
					}
					long = bad.name == "long"
					if rt.body != "" && bad.name != "long" {
						// In JSON strings: NUL as JSON writes it, invalid
						// UTF-8 as raw bytes.
						v := strings.ReplaceAll(bad.value, "\x00", `\u0000`)
						js := fmt.Sprintf(rt.body, v, v)
						status, body = env.rawAPI(t, rt.method, path, js, nil)
						check(t, fmt.Sprintf("%s %s with a JSON string %s", rt.method, rt.pattern, bad.name), status, body)
					}
				}
			}
			// A test scenario that is well formed but has no place in
			// production is refused where the API takes it; here, in the
			// simulator, a well-formed one passes.
			if status, body := env.rawAPI(t, "GET", "/api/v1/users/id:"+id+"/hmrc/obligations", "", http.Header{"Gov-Test-Scenario": {"not a scenario"}}); status != http.StatusBadRequest {
				t.Errorf("a malformed Gov-Test-Scenario: status %d, want 400: %s", status, body)
			}
			for _, line := range strings.Split(env.Logs.String(), "\n") {
				if strings.Contains(line, "level=ERROR") {
					t.Errorf("an error was logged: %.300s", line)
				}
			}
		})
	}
}

func mustRequest(t *testing.T, method, u string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// rawAPI calls the API and returns the status and body as they are.
func (env *testEnv) rawAPI(t *testing.T, method, path, body string, header http.Header) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := mustRequest(t, method, env.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+env.apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// probeRoutes are every route of srv, enumerated from it, with a plausible
// value in each wildcard: what the probes find is what a new route gets.
func probeRoutes(srv *web.Server) (browser, api []probeRoute) {
	var signout probeRoute
	for _, pattern := range web.BrowserRoutes(srv) {
		rt := probeRouteOf(pattern)
		if rt.path == "/signout" {
			signout = rt // last: it ends the session the others use
			continue
		}
		browser = append(browser, rt)
	}
	browser = append(browser, signout)
	for pattern := range web.APIRoutes(srv) {
		rt := probeRouteOf(pattern)
		if rt.method != "GET" && rt.method != "DELETE" {
			// Whichever fields the route reads: the body is refused
			// whole for a string no store keeps.
			rt.body = `{"nino":"%s","email":"%s","purpose":"income-tax"}`
		}
		api = append(api, rt)
	}
	slices.SortFunc(api, func(a, b probeRoute) int { return strings.Compare(a.pattern, b.pattern) })
	return browser, api
}

// probeRoute is a route of the server as a probe calls it.
type probeRoute struct {
	pattern      string // as registered: "GET /quarterly/receipts/{id}"
	method, path string // the path with a plausible value in each wildcard but {user}
	body         string // a JSON body with two %s for the bad text; "" for none
}

// wildcardValues are plausible values of the routes' wildcards ({user} is
// left for the probe: the landlord's own).
var wildcardValues = map[string]string{
	"id": "1", "token": "cs-token", "taxYear": "2025-26", "periodKey": "18A1",
	"calculationId": "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c",
	"path":          "individuals/business/details/AA123456A/list",
}

var wildcardRE = regexp.MustCompile(`\{([A-Za-z]*)(\.\.\.)?\}`)

func probeRouteOf(pattern string) probeRoute {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	path = wildcardRE.ReplaceAllStringFunc(path, func(w string) string {
		name := wildcardRE.FindStringSubmatch(w)[1]
		if name == "user" {
			return w
		}
		return wildcardValues[name]
	})
	return probeRoute{pattern: pattern, method: method, path: path}
}

// withBad is the route's path once for each of its wildcards (but {user},
// which the API probe sends separately), with bad there instead.
func (rt probeRoute) withBad(bad string) []string {
	_, pattern, _ := strings.Cut(rt.pattern, " ")
	var out []string
	for _, m := range wildcardRE.FindAllStringIndex(pattern, -1) {
		p := pattern[:m[0]] + url.PathEscape(bad) + pattern[m[1]:]
		out = append(out, probeRouteOf(rt.method+" "+p).path)
	}
	return out
}
