package hmrcsim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// allScopes lets one grant reach both the ITSA and the VAT endpoints.
var allScopes = []string{"read:self-assessment", "write:self-assessment", "read:vat", "write:vat"}

// savedEnv is a simulator with something of everything in it, and what a
// client of it holds.
type savedEnv struct {
	*env
	spentRefresh, refreshTok, accessTok string // spentRefresh was used before the save
	appToken                            string
	createdUser, createdPassword        string
}

// populate connects the VAT-registered test user on 5 July 2026 (the end
// of 2026-27's first ITSA period; VAT quarter 26A1 has ended), refreshes
// once, submits an ITSA cumulative update and a VAT return, creates a test
// user and advances the simulator clock by an hour through /admin/clock.
func populate(t *testing.T) *savedEnv {
	t.Helper()
	e := vatEnv(t)
	e.clock.Advance(90 * 24 * time.Hour)
	e.conf.Scopes = allScopes
	first := e.connect()
	second, err := e.refresh(t.Context(), first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	se := &savedEnv{env: e, spentRefresh: first.RefreshToken, refreshTok: second.RefreshToken, accessTok: second.AccessToken}

	bid := e.businessID(se.accessTok)
	if r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), se.accessTok, acceptProp, "", q1Body); r.status != http.StatusNoContent {
		t.Fatalf("ITSA PUT: %d %v", r.status, r.body)
	}
	if r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", se.accessTok, validReturn("26A1", nil), nil); r.status != http.StatusCreated {
		t.Fatalf("VAT return: %d %v", r.status, r.body)
	}
	se.appToken = e.appToken()
	status, u := e.apiWith(http.DefaultClient, "POST", "/create-test-user/individuals", se.appToken,
		strings.NewReader(`{"serviceNames":["national-insurance","mtd-income-tax"]}`))
	if status != http.StatusCreated {
		t.Fatalf("create test user: %d %v", status, u)
	}
	se.createdUser, se.createdPassword = u["userId"].(string), u["password"].(string)

	resp, err := http.Post(e.srv.URL+"/admin/clock", "application/json", strings.NewReader(`{"advance":"1h"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/clock: %v %v", resp, err)
	}
	resp.Body.Close()
	return se
}

func save(t *testing.T, sim *hmrcsim.Server) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sim.SaveState(&buf); err != nil {
		t.Fatalf("SaveState: %v", err)
	}
	return buf.Bytes()
}

// restarted is what a restart of the binary gives: a new simulator (on the
// same clock, with nothing registered unless prepare registers it) loading
// the snapshot, on a new listener.
func (e *env) restarted(t *testing.T, snapshot []byte, prepare func(*hmrcsim.Server)) *env {
	t.Helper()
	sim := hmrcsim.New(hmrcsim.Options{Now: e.clock.Now, RateLimit: -1, Controls: hmrcsim.ControlsOn})
	if prepare != nil {
		prepare(sim)
	}
	if err := sim.LoadState(bytes.NewReader(snapshot)); err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	conf := *e.conf
	conf.Endpoint.AuthURL, conf.Endpoint.TokenURL = srv.URL+"/oauth/authorize", srv.URL+"/oauth/token"
	return &env{t: t, sim: sim, srv: srv, clock: e.clock, conf: &conf}
}

func TestStateSurvivesRestart(t *testing.T) {
	old := populate(t)
	snapshot := save(t, old.sim)
	e := old.restarted(t, snapshot, nil)

	if again := save(t, e.sim); !bytes.Equal(again, snapshot) {
		t.Errorf("a loaded snapshot saves differently:\n got %s\nwant %s", again, snapshot)
	}

	// The access token works, and the ITSA obligation is still fulfilled.
	ds := details(t, e.itsa("GET", obligationsPath(""), old.accessTok, acceptOBL, "", ""))
	if ds[0]["status"] != "fulfilled" || ds[0]["receivedDate"] != "2026-07-05" || ds[1]["status"] != "open" {
		t.Errorf("ITSA obligations after restart: %v", ds)
	}
	bid := e.businessID(old.accessTok)
	r := e.itsa("GET", cumulativePath(itsaNINO, bid, taxYear), old.accessTok, acceptProp, "", "")
	var want map[string]any
	_ = json.Unmarshal([]byte(q1Body), &want)
	want["submittedOn"] = "2026-07-05T09:00:00.000Z"
	if r.status != http.StatusOK || !reflect.DeepEqual(r.body, want) {
		t.Errorf("ITSA summary after restart: %d\n got %v\nwant %v", r.status, r.body, want)
	}

	// The VAT return still fulfils its obligation and makes a second one a duplicate.
	obl := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/obligations?from=2026-01-01&to=2026-03-31", old.accessTok, "", nil)
	if keys, statuses := obligationKeys(obl.body); !slices.Equal(keys, []string{"26A1"}) || !slices.Equal(statuses, []string{"F"}) {
		t.Errorf("VAT obligations after restart: %d %v", obl.status, obl.body)
	}
	dup := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", old.accessTok, validReturn("26A1", nil), nil)
	if codes, _ := items(dup.body); dup.status != http.StatusForbidden || !slices.Equal(codes, []string{"DUPLICATE_SUBMISSION"}) {
		t.Errorf("resubmitted VAT return: %d %v", dup.status, dup.body)
	}
	if view := e.vatCall("GET", "/organisations/vat/"+vatVRN+"/returns/26A1", old.accessTok, "", nil); view.status != http.StatusOK || view.body["netVatDue"] != 100.10 {
		t.Errorf("view VAT return: %d %v", view.status, view.body)
	}

	// The application token and the created test user survive.
	if status, body := e.api("GET", "/create-test-user/services", old.appToken); status != http.StatusOK {
		t.Errorf("application token after restart: %d %v", status, body)
	}
	jar, _ := cookiejar.New(nil)
	loc, _, err := hmrcsim.Consent(&http.Client{Jar: jar}, e.conf.AuthCodeURL("s"), old.createdUser, old.createdPassword, true)
	if u, _ := url.Parse(loc); err != nil || u.Query().Get("code") == "" {
		t.Errorf("created user's sign-in after restart: %q %v", loc, err)
	}

	// The clock offset is kept, so the clock does not move back.
	var clock map[string]string
	resp, err := http.Get(e.srv.URL + "/admin/clock")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&clock)
	resp.Body.Close()
	if clock["offset"] != "1h0m0s" {
		t.Errorf("clock after restart: %v", clock)
	}

	// The access token was issued at 09:00 (the simulator's 10:00 now) and
	// dies at 13:00, not later.
	e.clock.Advance(3*time.Hour - time.Minute)
	if status, body := e.itsaAPI(old.accessTok); status != http.StatusOK {
		t.Errorf("access token a minute before expiry: %d %v", status, body)
	}
	e.clock.Advance(time.Minute)
	if status, body := e.itsaAPI(old.accessTok); status != http.StatusUnauthorized || body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("access token at expiry: %d %v", status, body)
	}

	// The refresh token spent before the restart is still reuse; the current
	// one works exactly once.
	if _, err := e.refresh(t.Context(), old.spentRefresh); retrieveError(t, err).ErrorCode != "invalid_grant" {
		t.Errorf("refresh token used before the restart: %v", err)
	}
	third, err := e.refresh(t.Context(), old.refreshTok)
	if err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if _, err := e.refresh(t.Context(), old.refreshTok); retrieveError(t, err).ErrorCode != "invalid_grant" {
		t.Errorf("second use of the refresh token: %v", err)
	}
	if s := e.sim.Stats(); s.Refreshes != 1 || s.RefreshReuses != 2 {
		t.Errorf("stats: %d refreshes, %d reuses; want 1 and 2", s.Refreshes, s.RefreshReuses)
	}
	if status, body := e.itsaAPI(third.AccessToken); status != http.StatusOK {
		t.Errorf("new access token: %d %v", status, body)
	}

	// The 18 months still count from the consent (2026-07-05 09:00 on the
	// simulator's clock, which now runs an hour ahead of e.clock).
	consent := time.Date(2026, 7, 5, 9, 0, 0, 0, time.UTC)
	e.clock.Advance(consent.AddDate(0, 18, 0).Add(-time.Hour - time.Minute).Sub(e.clock.Now()))
	fourth, err := e.refresh(t.Context(), third.RefreshToken)
	if err != nil {
		t.Fatalf("refresh a minute before the grant ends: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.refresh(t.Context(), fourth.RefreshToken); retrieveError(t, err).ErrorCode != "invalid_grant" {
		t.Errorf("refresh after 18 months: %v", err)
	}
}

// itsaAPI is a user-restricted call that changes nothing.
func (e *env) itsaAPI(token string) (int, map[string]any) {
	e.t.Helper()
	r := e.itsa("GET", obligationsPath(""), token, acceptOBL, "", "")
	return r.status, r.body
}

// The configuration of the restarted process (here a new client secret and
// a new password for the demo user) wins over the snapshot's copies.
func TestLoadStateKeepsRegisteredApplicationsAndUsers(t *testing.T) {
	old := populate(t)
	e := old.restarted(t, save(t, old.sim), func(sim *hmrcsim.Server) {
		sim.AddApplication(hmrcsim.Application{ClientID: clientID, ClientSecret: "rotated-secret", RedirectURIs: []string{redirectURI}})
		sim.AddTestUser(hmrcsim.TestUser{UserID: userID, Password: "new-password", NINO: itsaNINO, VRN: vatVRN})
	})
	if _, err := e.refresh(t.Context(), old.refreshTok); retrieveError(t, err).ErrorCode != "invalid_client" {
		t.Errorf("refresh with the snapshot's secret: %v", err)
	}
	e.conf.ClientSecret = "rotated-secret"
	if _, err := e.refresh(t.Context(), old.refreshTok); err != nil {
		t.Errorf("refresh with the configured secret: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	if _, _, err := hmrcsim.Consent(&http.Client{Jar: jar}, e.conf.AuthCodeURL("s"), userID, userPassword, true); err == nil {
		t.Error("the snapshot's password still signs in")
	}
	jar, _ = cookiejar.New(nil)
	if _, _, err := hmrcsim.Consent(&http.Client{Jar: jar}, e.conf.AuthCodeURL("s"), userID, "new-password", true); err != nil {
		t.Errorf("the configured password: %v", err)
	}
	// The created user, which the configuration does not name, is restored.
	jar, _ = cookiejar.New(nil)
	if _, _, err := hmrcsim.Consent(&http.Client{Jar: jar}, e.conf.AuthCodeURL("s"), old.createdUser, old.createdPassword, true); err != nil {
		t.Errorf("created user: %v", err)
	}
}

func TestLoadStateRefusesBadSnapshots(t *testing.T) {
	e := populate(t)
	good := save(t, e.sim)
	// edit returns good with one change made to its decoded JSON.
	edit := func(change func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := func(m map[string]any, list string) map[string]any { return m[list].([]any)[0].(map[string]any) }
	tests := []struct {
		name, snapshot, want string
	}{
		{"Empty", "", "not a snapshot"},
		{"Truncated", string(good[:len(good)/2]), "not a snapshot"},
		{"TrailingData", string(good) + "{}", "not a snapshot"},
		{"NotAnObject", "[1,2]", "not a snapshot"},
		{"NoVersion", edit(func(m map[string]any) { delete(m, "version") }), "has no version"},
		{"NewerVersion", edit(func(m map[string]any) { m["version"] = 2 }), "version 2 is not supported"},
		{"VersionZero", edit(func(m map[string]any) { m["version"] = 0 }), "version 0 is not supported"},
		{"VersionAsString", edit(func(m map[string]any) { m["version"] = "1" }), "not a snapshot"},
		{"UnknownField", edit(func(m map[string]any) { m["sessions"] = []any{} }), `unknown field "sessions"`},
		{"WrongType", edit(func(m map[string]any) { m["grants"] = "none" }), "cannot unmarshal"},
		{"NegativeClockOffset", edit(func(m map[string]any) { m["clockOffset"] = "-1h" }), "clockOffset"},
		{"ApplicationWithoutSecret", edit(func(m map[string]any) { delete(first(m, "applications"), "clientSecretSha256") }), "client ID and secret are required"},
		{"ApplicationBadSecretHash", edit(func(m map[string]any) { first(m, "applications")["clientSecretSha256"] = "abc" }), "not a SHA-256"},
		{"DuplicateUser", edit(func(m map[string]any) { m["users"] = append(m["users"].([]any), first(m, "users")) }), "appears twice"},
		{"GrantWithoutConsentTime", edit(func(m map[string]any) { delete(first(m, "grants"), "grantedAt") }), "grantedAt and expiresAt are required"},
		{"GrantUnknownScope", edit(func(m map[string]any) { first(m, "grants")["scopes"] = []any{"write:everything"} }), "unknown scope"},
		{"RefreshTokenAlsoUsed", edit(func(m map[string]any) {
			g := first(m, "grants")
			g["usedRefreshTokens"] = append(g["usedRefreshTokens"].([]any), g["refreshToken"])
		}), "used refresh token empty or repeated"},
		{"AccessTokenWithoutExpiry", edit(func(m map[string]any) { delete(first(m, "grants"), "accessTokenExpiresAt") }), "access token repeated or without expiry"},
		{"ApplicationTokenWithoutClient", edit(func(m map[string]any) { delete(first(m, "applicationTokens"), "clientId") }), "client ID and expiresAt are required"},
		{"ITSABadNINO", edit(func(m map[string]any) { first(m, "itsa")["nino"] = "AA123456A" }), "invalid NINO"},
		{"ITSABadTaxYear", edit(func(m map[string]any) { first(m, "itsa")["taxYear"] = "2026-28" }), "invalid business ID or tax year"},
		{"ITSASummaryNotAnObject", edit(func(m map[string]any) { first(m, "itsa")["summary"] = []any{1} }), "summary must be an object"},
		{"ITSABadReceivedDate", edit(func(m map[string]any) { first(m, "itsa")["received"] = map[string]any{"2026-07-05": "yesterday"} }), `received date "yesterday"`},
		{"VATBadPeriodKey", edit(func(m map[string]any) { first(m, "vatReturns")["return"].(map[string]any)["periodKey"] = "26A" }), "invalid VRN or period key"},
		{"VATMissingBox", edit(func(m map[string]any) { delete(first(m, "vatReturns")["return"].(map[string]any), "netVatDue") }), "all nine boxes are required"},
		{"VATBoxNotANumber", edit(func(m map[string]any) { first(m, "vatReturns")["return"].(map[string]any)["netVatDue"] = "lots" }), `"lots"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.sim.LoadState(strings.NewReader(tt.snapshot))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadState: %v, want an error containing %q", err, tt.want)
			}
			if after := save(t, e.sim); !bytes.Equal(after, good) {
				t.Fatalf("a refused snapshot changed the simulator:\n%s", after)
			}
		})
	}
	// And the simulator still answers as before.
	if _, err := e.refresh(t.Context(), e.refreshTok); err != nil {
		t.Errorf("refresh after the refused snapshots: %v", err)
	}
	// An unreadable source is an error too.
	if err := e.sim.LoadState(iotest.ErrReader(errors.New("disk on fire"))); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("LoadState from a failing reader: %v", err)
	}
}

// SaveState runs while the simulator serves: race-free (go test -race), and
// every snapshot taken mid-traffic loads into a new simulator.
func TestSaveStateWhileServing(t *testing.T) {
	e := vatEnv(t)
	e.clock.Advance(90 * 24 * time.Hour)
	e.conf.Scopes = allScopes
	tok := e.connect()
	bid := e.businessID(tok.AccessToken)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var snapshots [][]byte
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var buf bytes.Buffer
			if err := e.sim.SaveState(&buf); err != nil {
				t.Errorf("SaveState: %v", err)
				return
			}
			snapshots = append(snapshots, buf.Bytes())
		}
	})
	for i, key := range []string{"25A1", "25A2", "25A3", "25A4"} {
		next, err := e.refresh(t.Context(), tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		tok = next
		if r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok.AccessToken, acceptProp, "", q1Body); r.status != http.StatusNoContent {
			t.Fatalf("ITSA PUT: %d %v", r.status, r.body)
		}
		if r := e.vatCall("POST", "/organisations/vat/"+vatVRN+"/returns", tok.AccessToken, validReturn(key, nil), nil); r.status != http.StatusCreated {
			t.Fatalf("VAT return %s: %d %v", key, r.status, r.body)
		}
	}
	close(stop)
	wg.Wait()
	snapshots = append(snapshots, save(t, e.sim))
	for i, snap := range snapshots {
		if err := hmrcsim.New(hmrcsim.Options{}).LoadState(bytes.NewReader(snap)); err != nil {
			t.Fatalf("snapshot %d of %d does not load: %v", i, len(snapshots), err)
		}
	}
	// The last one has the last refresh token.
	last := e.restarted(t, snapshots[len(snapshots)-1], nil)
	if _, err := last.refresh(t.Context(), tok.RefreshToken); err != nil {
		t.Errorf("refresh from the last snapshot: %v", err)
	}
}

// TestStateKeepsNoClientSecret: the simulator keeps a hash of the client
// secret, never the secret (which may be one a sandbox or production
// configuration gave): the snapshot holds no secret, and a restored
// simulator still checks it. A snapshot of an older simulator, with the
// secret in clear, loads and is saved without it.
func TestStateKeepsNoClientSecret(t *testing.T) {
	old := populate(t)
	snapshot := save(t, old.sim)
	if bytes.Contains(snapshot, []byte(clientSecret)) {
		t.Fatalf("the snapshot holds the client secret %q:\n%s", clientSecret, snapshot)
	}
	if !bytes.Contains(snapshot, []byte(`"clientSecretSha256"`)) {
		t.Fatalf("the snapshot holds no hash of the client secret:\n%s", snapshot)
	}
	e := old.restarted(t, snapshot, nil)
	if _, err := e.refresh(t.Context(), old.refreshTok); err != nil {
		t.Fatalf("refresh with the secret, after a restart: %v", err)
	}

	// An older simulator's snapshot: the secret in clear.
	var snap map[string]any
	if err := json.Unmarshal(save(t, e.sim), &snap); err != nil {
		t.Fatal(err)
	}
	apps := snap["applications"].([]any)
	app := apps[0].(map[string]any)
	delete(app, "clientSecretSha256")
	app["clientSecret"] = clientSecret
	legacy, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	e2 := e.restarted(t, legacy, nil)
	if again := save(t, e2.sim); bytes.Contains(again, []byte(clientSecret)) {
		t.Errorf("an older snapshot's secret is saved again:\n%s", again)
	}
	for _, tc := range []struct {
		secret string
		want   int
	}{{clientSecret, http.StatusOK}, {"another-secret", http.StatusUnauthorized}} {
		status, body := e2.tokenPost(url.Values{"client_id": {clientID}, "client_secret": {tc.secret}, "grant_type": {"client_credentials"}})
		if status != tc.want {
			t.Errorf("client_credentials with %q after an older snapshot: %d %v, want %d", tc.secret, status, body, tc.want)
		}
	}
}
