package hmrc_test

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

const (
	clientID     = "test-client"
	clientSecret = "test-secret"
	simUser      = "100000000001"
	simPassword  = "sim-password"
)

// syncBuffer captures logs written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// tokenRecorder remembers every token the simulator issued, as seen on
// the wire, so tests can look for them where they must not be.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
	next   http.RoundTripper
	// afterToken, when set, runs after each token-endpoint exchange.
	afterToken func()
}

var tokenRe = regexp.MustCompile(`"(?:access_token|refresh_token)"\s*:\s*"([^"]+)"`)

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
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

func (r *tokenRecorder) Tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

type env struct {
	clock    *hmrcsim.Clock
	sim      *hmrcsim.Server
	simURL   string
	dbPath   string
	store    *sqlite.Store
	sealer   *seal.Sealer
	client   *hmrc.Client
	logs     *syncBuffer
	recorder *tokenRecorder
	userID   int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: hmrcsim.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)), logs: &syncBuffer{}}
	e.sim = hmrcsim.New(hmrcsim.Options{Now: e.clock.Now, RateLimit: 1000})
	e.sim.AddApplication(hmrcsim.Application{ClientID: clientID, ClientSecret: clientSecret, Name: "test",
		RedirectURIs: []string{"http://127.0.0.1/callback", hmrc.OOBRedirectURI}})
	e.sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: "TC663795B"})
	srv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(srv.Close)
	e.simURL = srv.URL

	e.dbPath = filepath.Join(t.TempDir(), "mtdconnect.db")
	st, err := sqlite.Open(t.Context(), e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.store = st
	kh, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	e.sealer, _ = seal.New(kh)
	e.recorder = &tokenRecorder{next: http.DefaultTransport}
	e.client = e.newClient(t)
	u := &mtdconnect.User{Email: "landlord@example.com", PasswordHash: "x", NINO: "TC663795B"}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	e.userID = u.ID
	return e
}

// newClient returns another instance of the service over the same store.
func (e *env) newClient(t *testing.T) *hmrc.Client {
	t.Helper()
	c, err := hmrc.New(hmrc.Config{
		ClientID: clientID, ClientSecret: clientSecret,
		AuthorizeURL: e.simURL + "/oauth/authorize", TokenURL: e.simURL + "/oauth/token", APIURL: e.simURL,
		RedirectURL: "http://127.0.0.1/callback", Environment: "simulator",
		Store: e.store, Sealer: e.sealer, Now: e.clock.Now, Rate: 1000,
		HTTPClient:     &http.Client{Transport: e.recorder, Timeout: 5 * time.Second},
		Logger:         slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RequestTimeout: 2 * time.Second, RetryBase: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connect runs the whole authorisation: authorise URL, the simulator's
// pages, the callback's code, the exchange.
func (e *env) connect(t *testing.T) *mtdconnect.Connection {
	t.Helper()
	ctx := t.Context()
	authURL, state, err := e.client.StartAuthorization(ctx, e.userID, mtdconnect.PurposeIncomeTax, "")
	if err != nil {
		t.Fatal(err)
	}
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
	conn, err := e.client.CompleteAuthorization(ctx, e.userID, state, u.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func (e *env) conn(t *testing.T) *mtdconnect.Connection {
	t.Helper()
	c, err := e.store.Connection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConnect(t *testing.T) {
	e := newEnv(t)
	conn := e.connect(t)
	if conn.Status != mtdconnect.StatusConnected {
		t.Fatalf("status = %s", conn.Status)
	}
	if conn.Scopes != "read:self-assessment write:self-assessment" {
		t.Errorf("scopes = %q", conn.Scopes)
	}
	if want := e.clock.Now().AddDate(0, 18, 0); !conn.GrantEndsAt().Equal(want) {
		t.Errorf("authority ends %v, want %v", conn.GrantEndsAt(), want)
	}
	msg, err := e.client.TestConnection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax, webOrigin())
	if err != nil || !strings.HasPrefix(msg, "HMRC answered: your UK property business is X") {
		t.Fatalf("TestConnection = %q, %v", msg, err)
	}
	if got := e.sim.Stats().Refreshes; got != 0 {
		t.Errorf("refreshes = %d, want 0 for a fresh token", got)
	}
}

func TestExpiredTokenRefreshedOnce(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	before := e.conn(t)
	e.clock.Advance(4*time.Hour + time.Minute)

	// 50 goroutines of one instance and 50 of another all need a token.
	other := e.newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		c := e.client
		if i%2 == 1 {
			c = other
		}
		wg.Go(func() {
			if _, err := c.TestConnection(context.Background(), e.userID, mtdconnect.PurposeIncomeTax, webOrigin()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := e.sim.Stats()
	if st.Refreshes != 1 || st.RefreshReuses != 0 || st.InProgressRejections != 0 {
		t.Fatalf("simulator saw refreshes=%d reuses=%d in-progress=%d, want 1, 0, 0", st.Refreshes, st.RefreshReuses, st.InProgressRejections)
	}
	after := e.conn(t)
	if bytes.Equal(after.Tokens, before.Tokens) || !after.AccessExpiresAt.After(before.AccessExpiresAt) {
		t.Fatal("the rotated pair was not saved")
	}
	if after.RefreshLeaseOwner != "" || after.LastRefreshAt.IsZero() {
		t.Fatalf("lease %q left, last refresh %v", after.RefreshLeaseOwner, after.LastRefreshAt)
	}
}

func TestRevokedAtHMRC(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	e.sim.Revoke(simUser, clientID)
	_, err := e.client.TestConnection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax, webOrigin())
	var re *hmrc.ReconnectError
	if !errors.As(err, &re) || re.Reason != mtdconnect.ReasonRevoked {
		t.Fatalf("TestConnection err = %v, want needs reconnect: %s", err, mtdconnect.ReasonRevoked)
	}
	c := e.conn(t)
	if c.Status != mtdconnect.StatusNeedsReconnect || c.Reason != mtdconnect.ReasonRevoked || c.Tokens != nil {
		t.Fatalf("connection = %s %q tokens=%d bytes", c.Status, c.Reason, len(c.Tokens))
	}
	// Nothing more is asked of HMRC for a dead grant.
	calls := e.sim.Stats().TokenRequests
	if err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); !errors.As(err, &re) {
		t.Fatalf("Refresh err = %v", err)
	}
	if e.sim.Stats().TokenRequests != calls {
		t.Fatal("a refresh of a dead grant reached HMRC")
	}
}

func TestGrantEndsAfter18Months(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	for range 18 {
		e.clock.Advance(31 * 24 * time.Hour)
		if e.clock.Now().Before(e.conn(t).GrantEndsAt()) {
			if err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); err != nil {
				t.Fatalf("refresh within the grant: %v", err)
			}
		}
	}
	c, err := e.client.Connection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != mtdconnect.StatusNeedsReconnect || c.Reason != mtdconnect.ReasonGrantExpired {
		t.Fatalf("after 18 months: %s %q", c.Status, c.Reason)
	}
}

func TestTransientFailureKeepsTheStoredPair(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	before := e.conn(t)
	e.sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
	err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
	if !errors.Is(err, hmrc.ErrUnavailable) {
		t.Fatalf("Refresh during 5xx = %v, want ErrUnavailable", err)
	}
	mid := e.conn(t)
	if !bytes.Equal(mid.Tokens, before.Tokens) || mid.Status != mtdconnect.StatusConnected || mid.RefreshLeaseOwner != "" {
		t.Fatalf("a failed refresh changed the pair or left a lease: status %s lease %q", mid.Status, mid.RefreshLeaseOwner)
	}
	if mid.RefreshFailures == 0 || mid.LastError == "" {
		t.Fatal("the failure was not recorded")
	}
	e.sim.SetFaults(hmrcsim.Faults{})
	if err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatalf("Refresh after the fault: %v", err)
	}
	if c := e.conn(t); c.RefreshFailures != 0 || c.Status != mtdconnect.StatusConnected {
		t.Fatalf("after recovery: failures %d status %s", c.RefreshFailures, c.Status)
	}
}

func TestLostResponseIsNeverSilent(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	// HMRC applies the refresh but the answer never arrives: the stored
	// refresh token is now spent, and HMRC keeps no grace period.
	e.sim.SetFaults(hmrcsim.Faults{LostResponseRate: 1})
	e.recorder.mu.Lock()
	e.recorder.afterToken = func() { e.sim.SetFaults(hmrcsim.Faults{}) }
	e.recorder.mu.Unlock()
	err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
	var re *hmrc.ReconnectError
	if !errors.As(err, &re) || re.Reason != mtdconnect.ReasonRefreshInterrupted {
		t.Fatalf("Refresh = %v, want needs reconnect: refresh interrupted", err)
	}
	c := e.conn(t)
	if c.Status != mtdconnect.StatusNeedsReconnect || c.Reason != mtdconnect.ReasonRefreshInterrupted {
		t.Fatalf("connection = %s %q", c.Status, c.Reason)
	}
}

// A process that died holding the lease leaves it behind. The next user of
// the connection resolves it: Connected when HMRC had not applied the
// refresh, Needs reconnect (refresh interrupted) when it had.
func TestCrashWindowRecovery(t *testing.T) {
	for _, applied := range []bool{false, true} {
		name := "NotApplied"
		if applied {
			name = "AppliedThenCrashed"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.connect(t)
			c := e.conn(t)
			if applied {
				// The dead process's refresh reached HMRC.
				e.spendRefreshToken(t, c)
			}
			c.RefreshLeaseOwner = "dead-host/1/abcd"
			c.RefreshLeaseUntil = e.clock.Now().Add(-time.Second)
			if err := e.store.UpdateConnection(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			_, err := e.client.TestConnection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax, webOrigin())
			got := e.conn(t)
			if applied {
				var re *hmrc.ReconnectError
				if !errors.As(err, &re) || got.Reason != mtdconnect.ReasonRefreshInterrupted {
					t.Fatalf("err = %v, connection %s %q", err, got.Status, got.Reason)
				}
			} else if err != nil || got.Status != mtdconnect.StatusConnected || got.RefreshLeaseOwner != "" {
				t.Fatalf("err = %v, connection %s lease %q", err, got.Status, got.RefreshLeaseOwner)
			}
			events, err := e.store.Audit(t.Context(), e.userID, 20)
			if err != nil {
				t.Fatal(err)
			}
			if !hasKind(events, mtdconnect.AuditRefreshInterrupted) {
				t.Fatal("the audit does not record the interrupted refresh")
			}
		})
	}
}

func (e *env) spendRefreshToken(t *testing.T, c *mtdconnect.Connection) {
	t.Helper()
	pt, err := e.sealer.Open(c.Tokens, seal.AD("connection", "1", "itsa", "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	rt := regexp.MustCompile(`"r":"([^"]+)"`).FindStringSubmatch(string(pt))[1]
	resp, err := http.PostForm(e.simURL+"/oauth/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {clientID}, "client_secret": {clientSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("direct refresh: %d", resp.StatusCode)
	}
}

func hasKind(events []*mtdconnect.AuditEvent, kind string) bool {
	for _, ev := range events {
		if ev.Kind == kind {
			return true
		}
	}
	return false
}

func TestDisconnectDeletesTokens(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	if err := e.client.Disconnect(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Connection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Fatalf("after disconnect: %v", err)
	}
	if _, err := e.client.TestConnection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax, webOrigin()); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("TestConnection after disconnect = %v", err)
	}
}

func TestAuthorizationRequestChecks(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	other := &mtdconnect.User{Email: "other@example.com", PasswordHash: "x"}
	if err := e.store.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	_, state, err := e.client.StartAuthorization(ctx, e.userID, mtdconnect.PurposeIncomeTax, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		user  int64
		state string
		want  error
	}{
		{"Missing", e.userID, "", hmrc.ErrStateUnknown},
		{"Forged", e.userID, "forged-state", hmrc.ErrStateUnknown},
		{"OtherUser", other.ID, state, hmrc.ErrStateOtherUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.client.CompleteAuthorization(ctx, tt.user, tt.state, "code"); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The other user's attempt left the request for its owner.
	if _, err := e.store.PendingAuthorization(ctx, state); err != nil {
		t.Fatalf("pending authorisation consumed by another user: %v", err)
	}
	e.clock.Advance(11 * time.Minute)
	if _, err := e.client.CompleteAuthorization(ctx, e.userID, state, "code"); !errors.Is(err, hmrc.ErrStateExpired) {
		t.Fatalf("expired: err = %v", err)
	}
	if _, err := e.client.CompleteAuthorization(ctx, e.userID, state, "code"); !errors.Is(err, hmrc.ErrStateUnknown) {
		t.Fatalf("replayed: err = %v", err)
	}
}

func TestManualOutOfBandFlow(t *testing.T) {
	e := newEnv(t)
	authURL, state, err := e.client.StartAuthorization(t.Context(), e.userID, mtdconnect.PurposeIncomeTax, hmrc.OOBRedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	_, page, err := hmrcsim.Consent(&http.Client{Jar: jar}, authURL, simUser, simPassword, true)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<title>[^<]*code=([^<\s]+)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no code in the page title:\n%s", page)
	}
	if _, err := e.client.CompleteAuthorization(t.Context(), e.userID, state, m[1]); err != nil {
		t.Fatal(err)
	}
	if c := e.conn(t); c.Status != mtdconnect.StatusConnected {
		t.Fatalf("status %s", c.Status)
	}
}

// No token the simulator issued may be found in the database file or the
// logs, after a journey with refreshes.
func TestNoPlaintextTokenAtRest(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	for range 3 {
		e.clock.Advance(4 * time.Hour)
		if _, err := e.client.TestConnection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax, webOrigin()); err != nil {
			t.Fatal(err)
		}
	}
	tokens := e.recorder.Tokens()
	if len(tokens) < 8 {
		t.Fatalf("recorded %d tokens, want at least 8", len(tokens))
	}
	var files [][]byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(e.dbPath + suffix); err == nil {
			files = append(files, b)
		}
	}
	files = append(files, e.logs.Bytes())
	for _, tok := range tokens {
		for i, f := range files {
			if bytes.Contains(f, []byte(tok)) {
				t.Fatalf("a token issued by HMRC is in plain text in file %d", i)
			}
		}
	}
}

// After a crash, the refresher's next pass (the first one at start-up)
// resolves the interrupted refresh without waiting for a landlord.
func TestRefresherResolvesInterruptedRefresh(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	c := e.conn(t)
	e.spendRefreshToken(t, c) // the dead process's refresh reached HMRC
	c.RefreshLeaseOwner, c.RefreshLeaseUntil = "dead-host/1/abcd", e.clock.Now().Add(-time.Second)
	if err := e.store.UpdateConnection(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	n, err := (&hmrc.Refresher{Client: e.client}).Pass(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Pass = %d, %v; want 1 connection", n, err)
	}
	got := e.conn(t)
	if got.Status != mtdconnect.StatusNeedsReconnect || got.Reason != mtdconnect.ReasonRefreshInterrupted || got.RefreshLeaseOwner != "" {
		t.Fatalf("after the pass: %s %q lease %q", got.Status, got.Reason, got.RefreshLeaseOwner)
	}
}

// webOrigin is a landlord's browser as fph.js and the web server describe
// it: the fraud prevention data every call carries.
func webOrigin() *hmrc.Request {
	return &hmrc.Request{
		Method: hmrc.ConnectionWebAppViaServer,
		Device: hmrc.Device{
			DeviceID:              "beec798b-b366-47fa-b1f8-92cede14a1ce",
			JSUserAgent:           "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
			Screens:               []hmrc.Screen{{Width: 1920, Height: 1080, ScalingFactor: 1, ColourDepth: 24}},
			WindowWidth:           1256,
			WindowHeight:          803,
			TimezoneOffsetMinutes: 0,
		},
		ClientIP:   "198.51.100.7",
		ClientPort: 51234,
		ReceivedAt: time.Now(),
		UserIDs:    map[string]string{"mtdconnect": "1"},
		Vendor: hmrc.Vendor{
			ProductName: "mtdconnect",
			Version:     "0.1.0",
			PublicIP:    "203.0.113.6",
			LicenseIDs:  map[string]string{"mtdconnect": "demo"},
		},
		MissingData: []string{"Gov-Client-Multi-Factor"},
	}
}

// connectVAT runs the VAT authorisation (read:vat write:vat) for e.userID,
// granted at the simulator by the test user userID.
func (e *env) connectVAT(t *testing.T, userID, password string) *mtdconnect.Connection {
	t.Helper()
	ctx := t.Context()
	authURL, state, err := e.client.StartAuthorization(ctx, e.userID, mtdconnect.PurposeVAT, "")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	loc, _, err := hmrcsim.Consent(&http.Client{Jar: jar}, authURL, userID, password, true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("state") != state {
		t.Fatalf("callback %q: %v", loc, err)
	}
	conn, err := e.client.CompleteAuthorization(ctx, e.userID, state, u.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
