package hmrc_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/seal"
)

const (
	clientID     = hmrctest.ClientID
	clientSecret = hmrctest.ClientSecret
	simUser      = "100000000001"
	simPassword  = "sim-password"
)

// env is the shared test deployment (clock at 1 May 2026) with a test user
// at the simulator and a landlord, whose NINO is the test user's.
type env struct {
	*hmrctest.Env
	client *hmrc.Client
	userID int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{Env: hmrctest.New(t, hmrctest.Options{Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)})}
	e.client = e.Client
	e.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: "TC663795B"})
	e.userID = e.CreateUser(t, "landlord@example.com", "TC663795B", "").ID
	return e
}

// newClient returns another instance of the service over the same store.
func (e *env) newClient(t *testing.T) *hmrc.Client { return e.NewClient(t) }

// connect runs the whole authorisation: authorise URL, the simulator's
// pages, the callback's code, the exchange.
func (e *env) connect(t *testing.T) *mtdconnect.Connection {
	t.Helper()
	return e.Connect(t, e.client, e.userID, mtdconnect.PurposeIncomeTax, simUser, simPassword)
}

func (e *env) conn(t *testing.T) *mtdconnect.Connection {
	t.Helper()
	c, err := e.Store.Connection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
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
	if want := e.Clock.Now().AddDate(0, 18, 0); !conn.GrantEndsAt().Equal(want) {
		t.Errorf("authority ends %v, want %v", conn.GrantEndsAt(), want)
	}
	msg, err := useConnection(t.Context(), e.client, e.userID)
	if err != nil || !strings.HasPrefix(msg, "X") {
		t.Fatalf("Business Details = %q, %v", msg, err)
	}
	if got := e.Sim.Stats().Refreshes; got != 0 {
		t.Errorf("refreshes = %d, want 0 for a fresh token", got)
	}
}

func TestExpiredTokenRefreshedOnce(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	before := e.conn(t)
	e.Clock.Advance(4*time.Hour + time.Minute)

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
			if _, err := useConnection(context.Background(), c, e.userID); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := e.Sim.Stats()
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
	e.Sim.Revoke(simUser, clientID)
	_, err := useConnection(t.Context(), e.client, e.userID)
	var re *hmrc.ReconnectError
	if !errors.As(err, &re) || re.Reason != mtdconnect.ReasonRevoked {
		t.Fatalf("Business Details err = %v, want needs reconnect: %s", err, mtdconnect.ReasonRevoked)
	}
	c := e.conn(t)
	if c.Status != mtdconnect.StatusNeedsReconnect || c.Reason != mtdconnect.ReasonRevoked || c.Tokens != nil {
		t.Fatalf("connection = %s %q tokens=%d bytes", c.Status, c.Reason, len(c.Tokens))
	}
	// Nothing more is asked of HMRC for a dead grant.
	calls := e.Sim.Stats().TokenRequests
	if err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); !errors.As(err, &re) {
		t.Fatalf("Refresh err = %v", err)
	}
	if e.Sim.Stats().TokenRequests != calls {
		t.Fatal("a refresh of a dead grant reached HMRC")
	}
}

func TestGrantEndsAfter18Months(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	for range 18 {
		e.Clock.Advance(31 * 24 * time.Hour)
		if e.Clock.Now().Before(e.conn(t).GrantEndsAt()) {
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
	e.Sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
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
	e.Sim.SetFaults(hmrcsim.Faults{})
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
	e.Sim.SetFaults(hmrcsim.Faults{LostResponseRate: 1})
	e.Tokens.AfterToken(func() { e.Sim.SetFaults(hmrcsim.Faults{}) })
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
			c.RefreshLeaseUntil = e.Clock.Now().Add(-time.Second)
			if err := e.Store.UpdateConnection(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			_, err := useConnection(t.Context(), e.client, e.userID)
			got := e.conn(t)
			if applied {
				var re *hmrc.ReconnectError
				if !errors.As(err, &re) || got.Reason != mtdconnect.ReasonRefreshInterrupted {
					t.Fatalf("err = %v, connection %s %q", err, got.Status, got.Reason)
				}
			} else if err != nil || got.Status != mtdconnect.StatusConnected || got.RefreshLeaseOwner != "" {
				t.Fatalf("err = %v, connection %s lease %q", err, got.Status, got.RefreshLeaseOwner)
			}
			events, err := e.Store.Audit(t.Context(), e.userID, 20)
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
	pt, err := e.Sealer.Open(c.Tokens, seal.AD("connection", "1", "itsa", "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	rt := regexp.MustCompile(`"r":"([^"]+)"`).FindStringSubmatch(string(pt))[1]
	resp, err := http.PostForm(e.SimURL+"/oauth/token", url.Values{
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
	if _, err := e.Store.Connection(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Fatalf("after disconnect: %v", err)
	}
	if _, err := useConnection(t.Context(), e.client, e.userID); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("Business Details after disconnect = %v", err)
	}
}

func TestAuthorizationRequestChecks(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	other := &mtdconnect.User{Email: "other@example.com", PasswordHash: "x"}
	if err := e.Store.CreateUser(ctx, other); err != nil {
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
	if _, err := e.Store.PendingAuthorization(ctx, state); err != nil {
		t.Fatalf("pending authorisation consumed by another user: %v", err)
	}
	e.Clock.Advance(11 * time.Minute)
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
		e.Clock.Advance(4 * time.Hour)
		if _, err := useConnection(t.Context(), e.client, e.userID); err != nil {
			t.Fatal(err)
		}
	}
	tokens := e.Tokens.Tokens()
	if len(tokens) < 8 {
		t.Fatalf("recorded %d tokens, want at least 8", len(tokens))
	}
	var files [][]byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(e.DBPath + suffix); err == nil {
			files = append(files, b)
		}
	}
	files = append(files, e.Logs.Bytes())
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
	c.RefreshLeaseOwner, c.RefreshLeaseUntil = "dead-host/1/abcd", e.Clock.Now().Add(-time.Second)
	if err := e.Store.UpdateConnection(t.Context(), c); err != nil {
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

// webOrigin is a landlord's browser: the fraud prevention data every call
// carries.
func webOrigin() *fraud.Origin { return hmrctest.BrowserOrigin() }

// useConnection makes the cheapest Income Tax call with c, Business
// Details (not cached), as a landlord's page would: the connection's token
// is used, refreshed first when due. It returns the UK property business ID.
func useConnection(ctx context.Context, c *hmrc.Client, userID int64) (string, error) {
	return itsa.New(c, nil).UKPropertyBusinessID(ctx, userID, "TC663795B", webOrigin(), itsa.WithoutCache())
}

// connectVAT runs the VAT authorisation (read:vat write:vat) for e.userID,
// granted at the simulator by the test user userID.
func (e *env) connectVAT(t *testing.T, userID, password string) *mtdconnect.Connection {
	t.Helper()
	return e.Connect(t, e.client, e.userID, mtdconnect.PurposeVAT, userID, password)
}

// The client describes this server as configured: its device ID, licence,
// and the maker and model a host without DMI data cannot say.
func TestBatchOriginAsConfigured(t *testing.T) {
	e := newEnv(t)
	r, err := e.client.BatchOrigin(map[string]string{"mtdconnect": "42"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != fraud.BatchProcessDirect || r.Device.DeviceID != hmrctest.DeviceID || r.BatchDevice == nil ||
		!reflect.DeepEqual(r.Vendor.LicenseIDs, hmrctest.Licences) || r.Vendor.ProductName != "mtdconnect" {
		t.Fatalf("origin %+v", r)
	}
	if r.BatchDevice.DeviceManufacturer == "" || r.BatchDevice.DeviceModel == "" {
		t.Errorf("no device maker or model: %+v", r.BatchDevice)
	}
	h, err := r.Headers()
	if err != nil {
		t.Fatal(err)
	}
	if v := hmrcsim.ValidateFraudHeaders(h); v.Code != hmrcsim.FraudValid {
		t.Errorf("verdict %s: %+v %+v", v.Code, v.Errors, v.Warnings)
	}
}
