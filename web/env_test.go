package web_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/proxy"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/landlord"
	"github.com/mtdconnect/mtdconnect/web"
)

// Fixed test identities.
const (
	landlordEmail    = "landlord@example.com"
	landlordPassword = "correct horse battery staple"
	otherEmail       = "other@example.com"
	otherPassword    = "another long passphrase"
	simUserID        = "gg-test-user-1"
	simPassword      = "sim-password"
	clientID         = "mtdconnect-test-client"
	clientSecret     = "mtdconnect-test-secret"
)

// testEnv is a whole deployment: the shared HMRC test deployment (a
// sqlite file, the HMRC simulator, the real hmrc.Client pointing at it)
// and the web server, on httptest.
type testEnv struct {
	*hmrctest.Env
	itsa    *itsa.Client
	vat     *vat.Client
	service *landlord.Service
	metrics *prometheus.Registry // the proxy's metrics
	t       *testing.T
	url     string // the web server
	apiKey  string
	// httpClient makes the API calls, checking each against the OpenAPI
	// description (validatingTransport).
	httpClient *http.Client
	server     *web.Server
	// secrets are values seen in the test that must never be logged:
	// authorisation codes, session cookies.
	secrets []string

	landlord *mtdconnect.User
	other    *mtdconnect.User

	// webOpts change the web server's configuration (see withWeb).
	webOpts []func(*web.Config)
}

// withWeb changes the web server's configuration.
func withWeb(f func(*web.Config)) envOption {
	return func(env *testEnv, _ *hmrc.Config) { env.webOpts = append(env.webOpts, f) }
}

// envOption varies the deployment newTestEnv builds: it is called with
// the store, sealer, simulator and URLs in place and may change the HMRC
// client's configuration before the client is made.
type envOption func(env *testEnv, cfg *hmrc.Config)

func newTestEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	return newTestEnvOn(t, nil, opts...)
}

// newTestEnvOn is newTestEnv on the given store, which it closes when the
// test ends; nil: a SQLite file of its own (Env.DBPath).
func newTestEnvOn(t *testing.T, store mtdconnect.Store, opts ...envOption) *testEnv {
	t.Helper()
	ctx := t.Context()
	env := &testEnv{t: t, httpClient: &http.Client{Timeout: 30 * time.Second,
		Transport: &validatingTransport{t: t, base: http.DefaultTransport}}}
	webSrv := httptest.NewUnstartedServer(nil)
	env.url = "http://" + webSrv.Listener.Addr().String()
	callback := env.url + "/oauth/hmrc/callback"
	// The clock starts at the real time (hmrctest's default): x/oauth2
	// computes a token's expiry from time.Now, so a clock far from it
	// would skew expiries.
	hmrctest.New(t, hmrctest.Options{
		RedirectURL: callback, Store: store,
		Configure: func(h *hmrctest.Env, cfg *hmrc.Config) {
			env.Env = h
			// The server as the device of batch calls (API calls without
			// the landlord's device data), and a licence, so that no
			// fraud header needs HMRC's missing-data process.
			cfg.DeviceID, cfg.Vendor.LicenseIDs = testServerDeviceID, testLicences
			for _, o := range opts {
				o(env, cfg)
			}
		},
	})
	env.Sim.AddTestUser(hmrcsim.TestUser{
		UserID: simUserID, Password: simPassword, NINO: "AA123456A", FullName: "Test Landlord",
		AffinityGroup: "Individual", ServiceNames: []string{"mtd-income-tax"},
	})
	env.itsa, env.vat = itsa.New(env.Client, env.Store), vat.New(env.Client)
	env.metrics = prometheus.NewPedanticRegistry()
	px, err := proxy.New(env.Client, env.metrics)
	if err != nil {
		t.Fatal(err)
	}
	env.service, err = landlord.New(landlord.Config{Store: env.Store, HMRC: env.Client, ITSA: env.itsa, VAT: env.vat,
		Proxy: px, Logger: env.Logger, Now: env.Clock.Now, ReturnURLs: []string{testPlatformURL + "/settings"},
		// Waiting for HMRC's calculation moves the shared clock instead.
		Wait: func(ctx context.Context, d time.Duration) error { env.Clock.Advance(d); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(env.config())
	if err != nil {
		t.Fatal(err)
	}
	env.server = srv
	webSrv.Config.Handler = srv.Handler()
	webSrv.Start()
	t.Cleanup(webSrv.Close)

	env.landlord = env.createUser(landlordEmail, landlordPassword)
	env.other = env.createUser(otherEmail, otherPassword)

	key, hash := web.NewAPIKey()
	if err := env.Store.CreateAPIKey(ctx, &mtdconnect.APIKey{Name: "platform", Hash: hash, Scopes: mtdconnect.AllScopes}); err != nil {
		t.Fatal(err)
	}
	env.apiKey = key

	t.Cleanup(func() {
		// Whatever a test did, the logs never carry secrets (hmrctest
		// checks the tokens), nor the landlords' identifiers (personal
		// data): the NINOs and VRNs the tests use.
		logs := env.Logs.String()
		secrets := append([]string{env.apiKey, simPassword, landlordPassword, otherPassword,
			testNINO, "AB123456C", testVRN, "987654321"}, env.secrets...)
		for _, secret := range secrets {
			if i := strings.Index(logs, secret); i >= 0 {
				t.Errorf("logs contain a secret ending in %q: %s", secret[max(0, len(secret)-4):], logs[max(0, i-300):min(len(logs), i+100)])
			}
		}
	})
	return env
}

// config is the web server's configuration in the deployment.
func (env *testEnv) config() web.Config {
	cfg := web.Config{
		Store: env.Store, HMRC: env.Client, Landlord: env.service, Logger: env.Logger, Now: env.Clock.Now,
		Sealer:             env.Sealer, // authenticator-app secrets (mfa.go)
		PublicURL:          env.url,
		ManageAuthorityURL: env.SimURL + "/applications-manage-authority",
		AuthorizeURL:       env.SimURL + "/oauth/authorize",
		// The test browsers connect from loopback, which stands in for a
		// load balancer at testVendorIP (see deviceTransport).
		TrustedProxies: testTrustedProxies,
		VendorPublicIP: testVendorIP,
		LicenceIDs:     testLicences,
		PlatformName:   testPlatformName,
	}
	for _, f := range env.webOpts {
		f(&cfg)
	}
	return cfg
}

// The landlord platform of the connect-session tests: its name and where
// its landlords may be sent back to (configured: its settings pages).
const (
	testPlatformName = "Acme Lettings"
	testPlatformURL  = "https://platform.example"
)

func (env *testEnv) createUser(email, password string) *mtdconnect.User {
	env.t.Helper()
	hash, err := web.HashPassword(password)
	if err != nil {
		env.t.Fatal(err)
	}
	u := &mtdconnect.User{Email: email, PasswordHash: hash}
	if err := env.Store.CreateUser(env.t.Context(), u); err != nil {
		env.t.Fatal(err)
	}
	return u
}

// connection returns the stored connection row, or nil when there is none.
func (env *testEnv) connection(userID int64, p mtdconnect.Purpose) *mtdconnect.Connection {
	env.t.Helper()
	c, err := env.Store.Connection(context.WithoutCancel(env.t.Context()), userID, p)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil
	}
	if err != nil {
		env.t.Fatal(err)
	}
	return c
}

// assertUnchanged fails unless the connection row is exactly as before
// (tokens, status and version included).
func (env *testEnv) assertUnchanged(userID int64, before *mtdconnect.Connection) {
	env.t.Helper()
	after := env.connection(userID, mtdconnect.PurposeIncomeTax)
	if !reflect.DeepEqual(before, after) {
		env.t.Errorf("connection of user %d changed:\nbefore %+v\nafter  %+v", userID, before, after)
	}
}

// browser is a landlord's browser: a cookie jar, following redirects like
// a browser does.
type browser struct {
	t        *testing.T
	env      *testEnv
	client   *http.Client
	noFollow *http.Client
}

func (env *testEnv) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		env.t.Fatal(err)
	}
	// What /static/fph.js does on the first page a real browser loads.
	seedDeviceCookie(env.t, jar, env.url)
	return &browser{
		t: env.t, env: env,
		client: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: deviceTransport{}},
		noFollow: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: deviceTransport{},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// signedIn is the landlord's browser, signed in; with the second factor
// (an authenticator app added first) when mfa is set.
func (env *testEnv) signedIn(mfa bool) *browser {
	env.t.Helper()
	b := env.browser()
	if mfa {
		b.signInWithTOTP(landlordEmail, landlordPassword)
	} else {
		b.signIn(landlordEmail, landlordPassword)
	}
	return b
}

// page is a response with its body read.
type page struct {
	status int
	url    *url.URL
	header http.Header
	body   string
}

// text is the body with tags removed and whitespace collapsed, for
// asserting on what a landlord reads.
func (p page) text() string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(p.body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func (p page) mustContain(t *testing.T, wants ...string) {
	t.Helper()
	text := p.text()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("page %s (status %d) does not say %q; it says:\n%s", p.url, p.status, want, text)
		}
	}
}

func (p page) mustNotContain(t *testing.T, unwanted ...string) {
	t.Helper()
	text := p.text()
	for _, s := range unwanted {
		if strings.Contains(text, s) {
			t.Errorf("page %s says %q; it should not:\n%s", p.url, s, text)
		}
	}
}

// mustRefuseField checks the page a form posting to path comes back on when
// it refused what was typed into field: status 400, the problem in the
// summary and next to the field, and the field keeping what was typed.
func (p page) mustRefuseField(t *testing.T, path, field, problem, typed string) {
	t.Helper()
	if p.status != http.StatusBadRequest || p.url.Path != path {
		t.Fatalf("status %d at %s", p.status, p.url)
	}
	p.mustContain(t, "There is a problem", problem)
	if !strings.Contains(p.body, `<p class="error-message" id="`+field+`-error">`) ||
		!strings.Contains(p.body, `aria-describedby="`+field+`-hint `+field+`-error"`) {
		t.Errorf("no error next to the field:\n%s", p.body)
	}
	if got := p.findForm(t, path).values.Get(field); got != typed {
		t.Errorf("field holds %q, want what was typed %q", got, typed)
	}
}

func (b *browser) do(c *http.Client, req *http.Request) page {
	b.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(body)}
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.env.url + u
	}
	return u
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, b.abs(u), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(b.client, req)
}

func (b *browser) postRequest(u string, form url.Values) *http.Request {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	return b.do(b.client, b.postRequest(u, form))
}

func (b *browser) signIn(email, password string) page {
	b.t.Helper()
	p := b.post("/signin", url.Values{"email": {email}, "password": {password}})
	if c := b.cookie(sessionCookieName); c != "" {
		b.env.secrets = append(b.env.secrets, c)
	}
	return p
}

const sessionCookieName = "mtdconnect_session"

// cookie returns the value of the browser's cookie for the web server.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.env.url)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// form is one HTML form of a page: its action and its prefilled fields.
type form struct {
	action string
	values url.Values
}

var (
	formRE  = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input\b([^>]*)>`)
	// buttonRE finds a button's formaction: a form with buttons posting to
	// several actions is found under each.
	buttonRE = regexp.MustCompile(`<button\b[^>]*\bformaction="([^"]*)"`)
	attrRE   = regexp.MustCompile(`([a-zA-Z_-]+)="([^"]*)"`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// findForm returns the page's form posting to action.
func (p page) findForm(t *testing.T, action string) form {
	t.Helper()
	for _, f := range formRE.FindAllStringSubmatch(p.body, -1) {
		a := attrs(f[1])
		if a["action"] != action {
			found := false
			for _, b := range buttonRE.FindAllStringSubmatch(f[2], -1) {
				found = found || b[1] == action
			}
			if !found {
				continue
			}
			a["action"] = action
		}
		vals := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(f[2], -1) {
			ia := attrs(in[1])
			if ia["name"] != "" {
				vals.Set(ia["name"], ia["value"])
			}
		}
		return form{action: a["action"], values: vals}
	}
	t.Fatalf("page %s has no form posting to %s:\n%s", p.url, action, p.body)
	return form{}
}

// authorizeAtHMRC starts connecting (POST /settings/hmrc/connect), signs in
// at the simulator and answers its grant page with decision (grant or
// deny). It returns the callback URL HMRC redirects to, without visiting it.
func (b *browser) authorizeAtHMRC(decision string) string {
	b.t.Helper()
	connect := b.get("/settings/hmrc").findForm(b.t, "/settings/hmrc/connect")
	return b.grantAtHMRC(b.post("/settings/hmrc/connect", connect.values), decision)
}

// grantAtHMRC signs in on HMRC's sign-in page signIn (where a Connect
// button led) and answers the grant page with decision. It returns the
// callback URL HMRC redirects to, without visiting it.
func (b *browser) grantAtHMRC(signIn page, decision string) string {
	b.t.Helper()
	if signIn.status != http.StatusOK || !strings.HasPrefix(signIn.url.String(), b.env.SimURL+"/oauth/authorize") {
		b.t.Fatalf("connect led to %s (status %d), not to HMRC's sign-in:\n%s", signIn.url, signIn.status, signIn.body)
	}
	f := signIn.findForm(b.t, "/oauth/authorize/sign-in")
	f.values.Set("user_id", simUserID)
	f.values.Set("password", simPassword)
	grant := b.post(b.env.SimURL+f.action, f.values)
	grant.mustContain(b.t, "Grant authority")
	g := grant.findForm(b.t, "/oauth/authorize/grant")
	g.values.Set("decision", decision)
	resp := b.do(b.noFollow, b.postRequest(b.env.SimURL+g.action, g.values))
	if resp.status != http.StatusFound {
		b.t.Fatalf("grant answered %d, want a redirect:\n%s", resp.status, resp.body)
	}
	loc := resp.header.Get("Location")
	if !strings.HasPrefix(loc, b.env.url+"/oauth/hmrc/callback?") {
		b.t.Fatalf("HMRC redirected to %q, not to the callback", loc)
	}
	if u, err := url.Parse(loc); err == nil && u.Query().Get("code") != "" {
		b.env.secrets = append(b.env.secrets, u.Query().Get("code"))
	}
	return loc
}

// connect runs the whole journey and returns the settings page it ends on.
func (b *browser) connect() page {
	b.t.Helper()
	p := b.get(b.authorizeAtHMRC("grant"))
	if p.status != http.StatusOK || p.url.Path != "/settings/hmrc" {
		b.t.Fatalf("callback ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	return p
}

// api calls the JSON API with the given key ("" for none).
func (env *testEnv) api(method, path, key string) (int, string) {
	env.t.Helper()
	req, err := http.NewRequestWithContext(env.t.Context(), method, env.url+path, nil)
	if err != nil {
		env.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := env.httpClient.Do(req)
	if err != nil {
		env.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && ct != "application/json" {
		env.t.Errorf("%s %s: content type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, string(body)
}

func newTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	return ts
}
