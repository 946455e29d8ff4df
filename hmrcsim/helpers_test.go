package hmrcsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const (
	clientID     = "test-client-id"
	clientSecret = "test-client-secret"
	redirectURI  = "https://landlord.example/hmrc/callback"
	oobURI       = "urn:ietf:wg:oauth:2.0:oob"
	userID       = "563812297114"
	userPassword = "correct-horse"
)

// env is one simulator on a real HTTP listener, plus an x/oauth2 client set up
// the way HMRC wants (credentials in the form body).
type env struct {
	t     *testing.T
	sim   *hmrcsim.Server
	srv   *httptest.Server
	clock *hmrcsim.Clock
	conf  *oauth2.Config
}

// newEnv starts a simulator; unless opts says otherwise the rate limit is off
// so that only the throttling test meets it.
func newEnv(t *testing.T, opts hmrcsim.Options) *env {
	t.Helper()
	c := hmrcsim.NewClock(time.Date(2026, 4, 6, 9, 0, 0, 0, time.UTC))
	opts.Now = c.Now
	if opts.RateLimit == 0 {
		opts.RateLimit = -1
	}
	sim := hmrcsim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	sim.AddApplication(hmrcsim.Application{
		ClientID: clientID, ClientSecret: clientSecret, Name: "Landlord Tax App",
		RedirectURIs: []string{redirectURI, oobURI, oobURI + ":auto"},
	})
	sim.AddTestUser(hmrcsim.TestUser{UserID: userID, Password: userPassword, NINO: "AA123456A", FullName: "Ida Newton"})
	return &env{t: t, sim: sim, srv: srv, clock: c, conf: &oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURI,
		// hello too, so that /hello/user can check a token's life.
		Scopes: []string{"read:self-assessment", "write:self-assessment", "hello"},
		Endpoint: oauth2.Endpoint{
			AuthURL: srv.URL + "/oauth/authorize", TokenURL: srv.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}}
}

// browser is a cookie-keeping client that stops at redirects, as the tests
// want to see where HMRC sends the user.
func (e *env) browser() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status   int
	body     string
	location string
}

func (e *env) do(c *http.Client, req *http.Request) page {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location")}
}

func (e *env) get(c *http.Client, u string) page {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return e.do(c, req)
}

func (e *env) post(c *http.Client, u string, form url.Values) page {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(c, req)
}

type htmlForm struct {
	action string
	fields url.Values
}

var (
	formRE   = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)">(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	titleRE  = regexp.MustCompile(`<title>([^<]*)</title>`)
)

// forms finds the POST forms of a simulator page and their hidden fields.
func forms(t *testing.T, body string) []htmlForm {
	t.Helper()
	var out []htmlForm
	for _, m := range formRE.FindAllStringSubmatch(body, -1) {
		f := htmlForm{action: html.UnescapeString(m[1]), fields: url.Values{}}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			f.fields.Set(h[1], html.UnescapeString(h[2]))
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		t.Fatalf("no form on page:\n%s", body)
	}
	return out
}

// submit posts a page's only (or first) form with extra fields.
func (e *env) submit(c *http.Client, p page, extra url.Values) page {
	e.t.Helper()
	f := forms(e.t, p.body)[0]
	for k, v := range extra {
		f.fields[k] = v
	}
	return e.post(c, e.srv.URL+f.action, f.fields)
}

// authorize walks the HTML journey (sign in, grant or deny) and returns the
// final response: a redirect, or the out-of-band page.
func (e *env) authorize(authURL, decision string) page {
	e.t.Helper()
	b := e.browser()
	p := e.get(b, authURL)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Sign in") {
		e.t.Fatalf("authorize: status %d\n%s", p.status, p.body)
	}
	p = e.submit(b, p, url.Values{"user_id": {userID}, "password": {userPassword}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Grant authority") {
		e.t.Fatalf("sign-in: status %d\n%s", p.status, p.body)
	}
	return e.submit(b, p, url.Values{"decision": {decision}})
}

// code runs a granted journey and returns the code from the redirect.
func (e *env) code(opts ...oauth2.AuthCodeOption) string {
	e.t.Helper()
	p := e.authorize(e.conf.AuthCodeURL("state-123", opts...), "grant")
	if p.status != http.StatusFound {
		e.t.Fatalf("grant: status %d\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Query().Get("code")
}

// connect runs the full journey with PKCE and exchanges the code.
func (e *env) connect() *oauth2.Token {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := e.code(oauth2.S256ChallengeOption(verifier))
	tok, err := e.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatalf("exchange: %v", err)
	}
	return tok
}

// refresh asks for a refresh the way mtdconnect does: x/oauth2 makes the
// request, given only the stored refresh token.
func (e *env) refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	return e.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// api calls an API with HMRC's Accept header and an optional bearer token.
func (e *env) api(method, path, token string) (int, map[string]any) {
	e.t.Helper()
	return e.apiWith(http.DefaultClient, method, path, token, nil)
}

func (e *env) apiWith(c *http.Client, method, path, token string, body io.Reader) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	req.Header.Set("Accept", "application/vnd.hmrc.1.0+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// tokenPost posts a raw form to /oauth/token and decodes the JSON answer.
func (e *env) tokenPost(form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/oauth/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// retrieveError unwraps x/oauth2's error for an HMRC token-endpoint answer.
func retrieveError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want an OAuth error answer, got %T: %v", err, err)
	}
	return re
}
