// Package hmrctest is a test deployment of the service's HMRC side: a
// SQLite store in a temporary directory, a sealer, the HMRC simulator on
// httptest and a real hmrc.Client pointing at it, with its logs captured
// and every token the simulator issued recorded. The tests of hmrc, of the
// API packages on top of it, of the service layer and of web share it.
//
// Like storetest it is imported only by tests: it imports hmrcsim, which
// production code never does.
package hmrctest

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

// The application the deployment calls HMRC as, registered at the
// simulator, and this server's identity in the fraud prevention headers.
const (
	ClientID     = "mtdconnect-test-client"
	ClientSecret = "mtdconnect-test-secret"
	// DeviceID is this server's own device ID (Gov-Client-Device-ID of
	// batch calls).
	DeviceID = "3f1c9a52-8d0e-4b7a-9c61-2e5d7f4a8b10"
	// RedirectURL is the callback registered when Options names none.
	RedirectURL = "http://127.0.0.1/callback"
)

// Licences is this software's licence in the tests, so that batch calls
// need no header declared missing.
var Licences = map[string]string{"mtdconnect": "LICENCE-TEST-0001"}

// LogBuffer collects log output written from many goroutines.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Bytes is a copy of everything logged so far.
func (l *LogBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// Logger is a debug-level text logger writing to l.
func (l *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TokenRecorder is an http.RoundTripper that remembers every token the
// simulator issued, as seen on the wire, so tests can look for them where
// they must not be.
type TokenRecorder struct {
	Next http.RoundTripper // nil: http.DefaultTransport

	mu     sync.Mutex
	tokens []string
	// afterToken, when set, runs after each token-endpoint exchange.
	afterToken func()
}

var tokenRe = regexp.MustCompile(`"(?:access_token|refresh_token)"\s*:\s*"([^"]+)"`)

// RoundTrip forwards req and records the tokens of a token-endpoint answer.
func (r *TokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := r.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if req.URL.Path == "/oauth/token" {
		r.mu.Lock()
		after := r.afterToken
		r.mu.Unlock()
		if after != nil {
			after()
		}
	}
	if err != nil || req.URL.Path != "/oauth/token" {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	for _, m := range tokenRe.FindAllSubmatch(b, -1) {
		r.tokens = append(r.tokens, string(m[1]))
	}
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// AfterToken makes f run after each token-endpoint exchange (nil: none).
func (r *TokenRecorder) AfterToken(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.afterToken = f
}

// Tokens are the access and refresh tokens issued so far.
func (r *TokenRecorder) Tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

// Options vary the deployment New builds.
type Options struct {
	// Start is where the clock of the simulator and of the client start.
	// Zero: now, to the second (x/oauth2 computes a token's expiry from
	// the wall clock, so a clock far from it skews expiries).
	Start time.Time
	// RedirectURL is the callback the client uses and the application
	// registers (with the out-of-band URI). Default RedirectURL.
	RedirectURL string
	// Configure, when set, changes the client's configuration before
	// Env.Client is made; the simulator, store and sealer are in place.
	Configure func(e *Env, cfg *hmrc.Config)
	// Mode is the simulator's: its demo (the zero value) or HMRC's
	// sandbox test data.
	Mode hmrcsim.Mode
	// FulfilmentDelay is the simulator's (0: HMRC's hour).
	FulfilmentDelay time.Duration
	// Store, when set, is the deployment's store (PostgreSQL, say),
	// closed at cleanup; nil: a SQLite file in a temporary directory.
	Store mtdconnect.Store
}

// Env is one deployment. Its fields are set by New.
type Env struct {
	Clock  *hmrcsim.Clock
	Sim    *hmrcsim.Server
	SimURL string
	DBPath string // the store's file; empty for Options.Store
	Store  mtdconnect.Store
	Sealer *seal.Sealer
	Logs   *LogBuffer
	Logger *slog.Logger // writes to Logs
	Tokens *TokenRecorder
	// Client is the service's HMRC client, with Config's configuration.
	Client *hmrc.Client

	redirectURL string
	configure   func(*Env, *hmrc.Config)
}

// New builds a deployment; t.Cleanup takes it down. At cleanup it fails
// the test if the logs hold a token the simulator issued or the client
// secret.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	start := opts.Start
	if start.IsZero() {
		start = time.Now().UTC().Truncate(time.Second)
	}
	e := &Env{
		Clock: hmrcsim.NewClock(start), Logs: &LogBuffer{}, Tokens: &TokenRecorder{},
		redirectURL: cmpOr(opts.RedirectURL, RedirectURL), configure: opts.Configure,
	}
	e.Logger = e.Logs.Logger()
	e.Sim = hmrcsim.New(hmrcsim.Options{Now: e.Clock.Now, RateLimit: -1, Mode: opts.Mode, FulfilmentDelay: opts.FulfilmentDelay})
	e.Sim.AddApplication(hmrcsim.Application{ClientID: ClientID, ClientSecret: ClientSecret, Name: "mtdconnect (test)",
		RedirectURIs: []string{e.redirectURL, hmrc.OOBRedirectURI}})
	srv := httptest.NewServer(e.Sim.Handler())
	t.Cleanup(srv.Close)
	e.SimURL = srv.URL

	e.Store = opts.Store
	if e.Store == nil {
		e.DBPath = filepath.Join(t.TempDir(), "mtdconnect.db")
		st, err := sqlite.Open(t.Context(), e.DBPath)
		if err != nil {
			t.Fatal(err)
		}
		e.Store = st
	}
	t.Cleanup(func() { e.Store.Close() })
	kh, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	if e.Sealer, err = seal.New(kh); err != nil {
		t.Fatal(err)
	}
	e.Client = e.NewClient(t)
	t.Cleanup(func() {
		logs := e.Logs.String()
		if os.Getenv("MTDCONNECT_TEST_SHOW_LOGS") != "" {
			t.Logf("logs:\n%s", logs)
		}
		for _, secret := range append(e.Tokens.Tokens(), ClientSecret) {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs hold a token or secret ending in %q", secret[max(0, len(secret)-4):])
			}
		}
	})
	return e
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Config is the client configuration of the deployment: the simulator's
// URLs, the store and sealer, the clock, fast retries, the token recorder
// as transport, this server's device ID and licence, and Options.Configure.
func (e *Env) Config(t testing.TB) hmrc.Config {
	t.Helper()
	cfg := hmrc.Config{
		ClientID: ClientID, ClientSecret: ClientSecret,
		AuthorizeURL: e.SimURL + "/oauth/authorize", TokenURL: e.SimURL + "/oauth/token", APIURL: e.SimURL,
		RedirectURL: e.redirectURL, Environment: hmrc.EnvSimulator,
		Store: e.Store, Sealer: e.Sealer, Now: e.Clock.Now, Rate: 1000,
		HTTPClient:     &http.Client{Transport: e.Tokens, Timeout: 5 * time.Second},
		Logger:         e.Logger,
		RequestTimeout: 2 * time.Second, RetryBase: 10 * time.Millisecond,
		Vendor:   fraud.Vendor{LicenseIDs: Licences},
		DeviceID: DeviceID,
		// Used only where the host has no DMI data (many VMs), as a
		// deployment sets MTDCONNECT_DEVICE_MANUFACTURER/_MODEL.
		DeviceManufacturer: "Test Cloud", DeviceModel: "Test VM",
	}
	if e.configure != nil {
		e.configure(e, &cfg)
	}
	return cfg
}

// NewClient returns another instance of the service over the same store:
// Config changed by mods.
func (e *Env) NewClient(t testing.TB, mods ...func(*hmrc.Config)) *hmrc.Client {
	t.Helper()
	cfg := e.Config(t)
	for _, m := range mods {
		m(&cfg)
	}
	c, err := hmrc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CreateUser stores a landlord with the given email and identifiers
// (either may be empty).
func (e *Env) CreateUser(t testing.TB, email, nino, vrn string) *mtdconnect.User {
	t.Helper()
	u := &mtdconnect.User{Email: email, PasswordHash: "x", NINO: nino, VRN: vrn}
	if err := e.Store.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// Connect runs the whole authorisation of userID for purpose with the
// client c: the authorise URL, the simulator's sign-in and grant pages as
// the test user simUser, the callback's code, the exchange.
func (e *Env) Connect(t testing.TB, c *hmrc.Client, userID int64, purpose mtdconnect.Purpose, simUser, simPassword string) *mtdconnect.Connection {
	t.Helper()
	authURL, state, err := c.StartAuthorization(t.Context(), userID, purpose, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.CompleteAuthorization(t.Context(), userID, state, Grant(t, authURL, state, simUser, simPassword))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// Grant opens HMRC's authorise URL at the simulator, signs in as the test
// user simUser, grants authority and returns the code of HMRC's answer,
// checking that it comes back with state.
func Grant(t testing.TB, authURL, state, simUser, simPassword string) (code string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	loc, _, err := hmrcsim.Consent(&http.Client{Jar: jar}, authURL, simUser, simPassword, true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("state"); got != state {
		t.Fatalf("callback state = %q, want %q", got, state)
	}
	return u.Query().Get("code")
}

// BrowserOrigin is a landlord's browser as fph.js and the web server
// describe it, signed in with a second factor: the fraud prevention data of
// a call HMRC's validator (and the simulator's) grades VALID_HEADERS.
func BrowserOrigin() *fraud.Origin {
	return &fraud.Origin{
		Method: fraud.WebAppViaServer,
		Device: fraud.Device{
			DeviceID:              "beec798b-b366-47fa-b1f8-92cede14a1ce",
			JSUserAgent:           "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
			Screens:               []fraud.Screen{{Width: 1920, Height: 1080, ScalingFactor: 1, ColourDepth: 24}},
			WindowWidth:           1256,
			WindowHeight:          803,
			TimezoneOffsetMinutes: 0,
		},
		ClientIP:   "198.51.100.7",
		ClientPort: 51234,
		ReceivedAt: time.Now(),
		UserIDs:    map[string]string{"mtdconnect": "1"},
		Vendor: fraud.Vendor{
			ProductName: "mtdconnect",
			Version:     "0.1.0",
			PublicIP:    "203.0.113.6",
			LicenseIDs:  map[string]string{"mtdconnect": "demo"},
		},
		MultiFactor: []fraud.MultiFactor{{
			Type: "TOTP", At: time.Now().Add(-10 * time.Minute),
			UniqueReference: "c6f1b0a4e1d9f7a35b0e5c9a0f2d8e7b41c3a9d6e2f0b7c8a1d4e6f9b2c5a8d3",
		}},
	}
}
