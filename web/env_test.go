package web_test

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/sqlite"
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

// syncBuffer collects log output written from server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is a whole deployment: a sqlite file, the HMRC simulator, the
// real hmrc.Client pointing at it and the web server, on httptest.
type testEnv struct {
	t      *testing.T
	clock  *hmrcsim.Clock
	store  mtdconnect.Store
	dbPath string // the store's file; empty on PostgreSQL
	sealer *seal.Sealer
	sim    *hmrcsim.Server
	simURL string
	url    string // the web server
	logs   *syncBuffer
	apiKey string
	hmrc   *hmrc.Client
	logger *slog.Logger
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
	path := filepath.Join(t.TempDir(), "mtdconnect.db")
	store, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnvOn(t, store, opts...)
	env.dbPath = path
	return env
}

// newTestEnvOn is newTestEnv on the given store, which it closes when the
// test ends.
func newTestEnvOn(t *testing.T, store mtdconnect.Store, opts ...envOption) *testEnv {
	t.Helper()
	ctx := t.Context()
	// The clock starts at the real time: x/oauth2 computes a token's expiry
	// from time.Now, so a clock far from it would skew expiries.
	env := &testEnv{t: t, clock: hmrcsim.NewClock(time.Now().UTC().Truncate(time.Second)), logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() { store.Close() })
	env.store = store

	env.sim = hmrcsim.New(hmrcsim.Options{Now: env.clock.Now, RateLimit: -1})
	simSrv := httptest.NewServer(env.sim.Handler())
	t.Cleanup(simSrv.Close)
	env.simURL = simSrv.URL

	webSrv := httptest.NewUnstartedServer(nil)
	env.url = "http://" + webSrv.Listener.Addr().String()
	callback := env.url + "/oauth/hmrc/callback"

	env.sim.AddApplication(hmrcsim.Application{
		ClientID: clientID, ClientSecret: clientSecret, Name: "mtdconnect (test)",
		RedirectURIs: []string{callback},
	})
	env.sim.AddTestUser(hmrcsim.TestUser{
		UserID: simUserID, Password: simPassword, NINO: "AA123456A", FullName: "Test Landlord",
		AffinityGroup: "Individual", ServiceNames: []string{"mtd-income-tax"},
	})

	kh, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	env.sealer = sealer
	cfg := hmrc.Config{
		ClientID: clientID, ClientSecret: clientSecret,
		AuthorizeURL: env.simURL + "/oauth/authorize", TokenURL: env.simURL + "/oauth/token", APIURL: env.simURL,
		RedirectURL: callback, Environment: "simulator",
		Store: store, Sealer: sealer, Logger: logger, Now: env.clock.Now,
		RetryBase: time.Millisecond,
		// The server as the device of batch calls (API calls without the
		// landlord's device data), and a licence, so that no fraud header
		// needs HMRC's missing-data process.
		DeviceID: testServerDeviceID,
		Vendor:   hmrc.Vendor{LicenseIDs: testLicences},
		// For hosts without DMI data, as MTDCONNECT_DEVICE_MANUFACTURER/_MODEL.
		DeviceManufacturer: "Test Cloud", DeviceModel: "Test VM",
	}
	for _, o := range opts {
		o(env, &cfg)
	}
	client, err := hmrc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.hmrc, env.logger = client, logger
	webCfg := web.Config{
		Store: store, HMRC: client, Logger: logger, Now: env.clock.Now,
		Sealer:             sealer, // authenticator-app secrets (mfa.go)
		PublicURL:          env.url,
		ManageAuthorityURL: env.simURL + "/applications-manage-authority",
		AuthorizeURL:       env.simURL + "/oauth/authorize",
		// The test browsers connect from loopback, which stands in for a
		// load balancer at testVendorIP (see deviceTransport).
		TrustedProxies: testTrustedProxies,
		VendorPublicIP: testVendorIP,
		LicenceIDs:     testLicences,
	}
	for _, f := range env.webOpts {
		f(&webCfg)
	}
	srv, err := web.New(webCfg)
	if err != nil {
		t.Fatal(err)
	}
	webSrv.Config.Handler = srv.Handler()
	webSrv.Start()
	t.Cleanup(webSrv.Close)

	env.landlord = env.createUser(landlordEmail, landlordPassword)
	env.other = env.createUser(otherEmail, otherPassword)

	key, hash := web.NewAPIKey()
	if err := store.CreateAPIKey(ctx, &mtdconnect.APIKey{Name: "platform", Hash: hash}); err != nil {
		t.Fatal(err)
	}
	env.apiKey = key

	t.Cleanup(func() {
		// Whatever a test did, the logs never carry secrets.
		logs := env.logs.String()
		if os.Getenv("MTDCONNECT_TEST_SHOW_LOGS") != "" {
			t.Logf("logs:\n%s", logs)
		}
		// Nor the landlords' identifiers (personal data): the NINOs and
		// VRNs the tests use.
		secrets := append([]string{env.apiKey, clientSecret, simPassword, landlordPassword, otherPassword,
			testNINO, "AB123456C", testVRN, "987654321"}, env.secrets...)
		for _, secret := range secrets {
			if strings.Contains(logs, secret) {
				t.Errorf("logs contain a secret ending in %q", secret[max(0, len(secret)-4):])
			}
		}
	})
	return env
}

func (env *testEnv) createUser(email, password string) *mtdconnect.User {
	env.t.Helper()
	hash, err := web.HashPassword(password)
	if err != nil {
		env.t.Fatal(err)
	}
	u := &mtdconnect.User{Email: email, PasswordHash: hash}
	if err := env.store.CreateUser(env.t.Context(), u); err != nil {
		env.t.Fatal(err)
	}
	return u
}

// connection returns the stored connection row, or nil when there is none.
func (env *testEnv) connection(userID int64, p mtdconnect.Purpose) *mtdconnect.Connection {
	env.t.Helper()
	c, err := env.store.Connection(context.WithoutCancel(env.t.Context()), userID, p)
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
	attrRE  = regexp.MustCompile(`([a-zA-Z_-]+)="([^"]*)"`)
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
			continue
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
	signIn := b.post("/settings/hmrc/connect", connect.values)
	if signIn.status != http.StatusOK || !strings.HasPrefix(signIn.url.String(), b.env.simURL+"/oauth/authorize") {
		b.t.Fatalf("connect led to %s (status %d), not to HMRC's sign-in:\n%s", signIn.url, signIn.status, signIn.body)
	}
	f := signIn.findForm(b.t, "/oauth/authorize/sign-in")
	f.values.Set("user_id", simUserID)
	f.values.Set("password", simPassword)
	grant := b.post(b.env.simURL+f.action, f.values)
	grant.mustContain(b.t, "Grant authority")
	g := grant.findForm(b.t, "/oauth/authorize/grant")
	g.values.Set("decision", decision)
	resp := b.do(b.noFollow, b.postRequest(b.env.simURL+g.action, g.values))
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
	resp, err := http.DefaultClient.Do(req)
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
