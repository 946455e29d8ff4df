package hmrc_test

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// The sandbox application of these tests, registered at the simulator
// (standing in for HMRC's sandbox) and stored in the service.
const (
	sbClientID = "Ip0lBXBsUUdxkFRVm6Wq7SAqn5ka"
	sbSecret1  = "3d9f7fe9-0cf2-4f83-a9b1-5c1e7d2a0001"
	sbSecret2  = "8c41e2a0-77d3-4b5e-9f10-aa62c3b90002"
	sbSecret3  = "f0e1d2c3-b4a5-4968-8776-655443320003"
	sbRedirect = "http://127.0.0.1/callback"
)

// credEnv is newEnv with the service set up as for HMRC's sandbox: the
// application stored (secret sealed) rather than given by variables.
type credEnv struct {
	*env
	apps    *hmrc.Applications
	adminID int64
}

func newCredEnv(t *testing.T) *credEnv {
	t.Helper()
	e := &credEnv{env: newEnv(t)}
	e.Sim.AddApplication(hmrcsim.Application{ClientID: sbClientID, ClientSecret: sbSecret1, Name: "sandbox app",
		RedirectURIs: []string{sbRedirect, hmrc.OOBRedirectURI}})
	e.apps = hmrc.NewApplications(e.Store, e.Sealer, e.Clock.Now)
	if _, err := e.apps.Set(t.Context(), hmrc.EnvSandbox, sbClientID, sbSecret1, []string{"https://mtd.example.co.uk/oauth/hmrc/callback"}, 0); err != nil {
		t.Fatal(err)
	}
	admin := &mtdconnect.User{Email: "admin@example.com", PasswordHash: "x", Admin: true}
	if err := e.Store.CreateUser(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	e.adminID = admin.ID
	e.client = e.sandboxClient(t)
	return e
}

// sandboxClient is one instance of the service started as cmd does with a
// stored application: the credentials read from the store, then followed.
func (e *credEnv) sandboxClient(t *testing.T) *hmrc.Client {
	t.Helper()
	id, secret, err := e.apps.Credentials(t.Context(), hmrc.EnvSandbox)
	if err != nil {
		t.Fatal(err)
	}
	return e.NewClient(t, func(c *hmrc.Config) {
		c.ClientID, c.ClientSecret, c.CredentialsFromStore = id, secret, true
		c.RedirectURL, c.Environment = sbRedirect, hmrc.EnvSandbox
	})
}

func (e *credEnv) confirm(t *testing.T) {
	t.Helper()
	if _, err := e.apps.Confirm(t.Context(), hmrc.EnvSandbox, e.adminID); err != nil {
		t.Fatal(err)
	}
}

func (e *credEnv) app(t *testing.T) *mtdconnect.Application {
	t.Helper()
	a, err := e.apps.Get(t.Context(), hmrc.EnvSandbox)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// atRest is every byte the service keeps: the SQLite files and the logs.
func (e *credEnv) atRest(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{"logs": e.Logs.Bytes()}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(e.DBPath + suffix); err == nil {
			files["database"+suffix] = b
		}
	}
	return files
}

// Bad input is refused with words an administrator can act on, and the
// stored application is left as it was.
func TestCredentialInputRefused(t *testing.T) {
	e := newCredEnv(t)
	ctx := t.Context()
	if _, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, sbSecret2, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, strings.Repeat("s", 20)+e.Clock.Now().Format("150405.000000000"), 0); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Second)
	}
	// Five secrets now: the HMRC limit.
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"UnknownEnvironment", func() error {
			_, err := e.apps.Set(ctx, "staging", sbClientID, sbSecret3, nil, 0)
			return err
		}, "sandbox or production"},
		{"SimulatorEnvironment", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSimulator, sbClientID, sbSecret3, nil, 0)
			return err
		}, "built-in demo application"},
		{"EmptyClientID", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, "  ", sbSecret3, nil, 0)
			return err
		}, "client ID is required"},
		{"ClientIDWithSpaces", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, "my client", sbSecret3, nil, 0)
			return err
		}, "only letters, digits"},
		{"NewClientIDWithoutSecret", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, "AnotherClientId", "", nil, 0)
			return err
		}, "needs its client secret"},
		{"NothingToChange", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, sbClientID, "", nil, 0)
			return err
		}, "nothing to change"},
		{"ShortSecret", func() error {
			_, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, "abc123", 0)
			return err
		}, "too short"},
		{"SecretWithSpace", func() error {
			_, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, "secret is two words long", 0)
			return err
		}, "may not contain spaces"},
		{"SixthSecret", func() error {
			_, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, sbSecret3, 0)
			return err
		}, "at most 5 client secrets"},
		{"PlainHTTPRedirect", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, sbClientID, "", []string{"http://mtd.example.co.uk/cb"}, 0)
			return err
		}, "plain http"},
		{"FragmentRedirect", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, sbClientID, "", []string{"https://mtd.example.co.uk/cb#x"}, 0)
			return err
		}, "#fragment"},
		{"IPRedirect", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, sbClientID, "", []string{"https://192.0.2.1/cb"}, 0)
			return err
		}, "IP address"},
		{"RelativeRedirect", func() error {
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, sbClientID, "", []string{"/oauth/hmrc/callback"}, 0)
			return err
		}, "not an absolute URL"},
		{"SixRedirects", func() error {
			var uris []string
			for _, h := range []string{"a", "b", "c", "d", "e", "f"} {
				uris = append(uris, "https://"+h+".example.co.uk/cb")
			}
			_, err := e.apps.Set(ctx, hmrc.EnvSandbox, sbClientID, "", uris, 0)
			return err
		}, "at most 5 redirect URIs"},
		{"RemoveUnknown", func() error {
			_, err := e.apps.RemoveSecret(ctx, hmrc.EnvSandbox, "zzzz", 0)
			return err
		}, "no client secret ending in"},
		{"RemoveNothing", func() error {
			_, err := e.apps.RemoveSecret(ctx, hmrc.EnvSandbox, " ", 0)
			return err
		}, "say which secret"},
		{"AddToMissingApplication", func() error {
			_, err := e.apps.AddSecret(ctx, hmrc.EnvProduction, sbSecret3, 0)
			return err
		}, "no HMRC application is stored"},
	}
	before := e.app(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if after := e.app(t); !reflect.DeepEqual(after, before) {
				t.Fatalf("refused input changed the application:\n%+v\nto\n%+v", before, after)
			}
		})
	}
	if _, err := e.apps.Get(ctx, hmrc.EnvProduction); !errors.Is(err, hmrc.ErrNoApplication) {
		t.Fatalf("production application after refused input: %v", err)
	}
}

func TestCredentialRemoveSecret(t *testing.T) {
	e := newCredEnv(t)
	ctx := t.Context()
	if _, err := e.apps.RemoveSecret(ctx, hmrc.EnvSandbox, "0001", 0); err == nil || !strings.Contains(err.Error(), "only client secret") {
		t.Fatalf("removing the only secret: %v", err)
	}
	e.Clock.Advance(time.Hour)
	app, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, sbSecret2, e.adminID)
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Secrets) != 2 || app.Secrets[0].Last4 != "0002" || app.Secrets[1].Last4 != "0001" {
		t.Fatalf("secrets after adding = %+v, want …0002 then …0001", app.Secrets)
	}
	if !app.Secrets[0].AddedAt.Equal(e.Clock.Now()) || app.UpdatedBy != e.adminID {
		t.Fatalf("added at %v by %d", app.Secrets[0].AddedAt, app.UpdatedBy)
	}
	if _, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, sbSecret2, 0); err == nil || !strings.Contains(err.Error(), "already stored (…0002)") {
		t.Fatalf("adding the same secret twice: %v", err)
	}
	// Removing the newest goes back to the previous one.
	if _, err := e.apps.RemoveSecret(ctx, hmrc.EnvSandbox, app.Secrets[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, secret, err := e.apps.Credentials(ctx, hmrc.EnvSandbox); err != nil || secret != sbSecret1 {
		t.Fatalf("after removing the newest, credentials use …%s, %v", secret[len(secret)-4:], err)
	}
}

// A client secret is sealed at rest, bound to its application, and never
// written in clear to the database or the logs, through a rotation.
func TestCredentialSecretSealedAtRest(t *testing.T) {
	e := newCredEnv(t)
	e.confirm(t)
	e.connect(t)
	e.Sim.AddApplication(hmrcsim.Application{ClientID: sbClientID, ClientSecret: sbSecret2, RedirectURIs: []string{sbRedirect}})
	if _, err := e.apps.AddSecret(t.Context(), hmrc.EnvSandbox, sbSecret2, e.adminID); err != nil {
		t.Fatal(err)
	}
	if err := e.client.ReloadCredentials(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}
	app := e.app(t)
	if len(app.Secrets) != 2 {
		t.Fatalf("%d secrets stored, want 2", len(app.Secrets))
	}
	for name, b := range e.atRest(t) {
		for _, s := range []string{sbSecret1, sbSecret2} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("client secret …%s is in clear in the %s", s[len(s)-4:], name)
			}
		}
	}
	// Bound to the environment and client ID: the same row copied to
	// production, or kept under another client ID, does not open.
	for _, moved := range []struct{ env, clientID string }{{hmrc.EnvProduction, sbClientID}, {hmrc.EnvSandbox, "OtherClientId"}} {
		cp := *app
		cp.Environment, cp.ClientID = moved.env, moved.clientID
		if err := e.Store.SaveApplication(t.Context(), &cp); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.apps.Credentials(t.Context(), moved.env); err == nil {
			t.Errorf("a secret moved to %s/%s opened", moved.env, moved.clientID)
		}
	}
}

// After a rotation, the running client refreshes with the new secret
// without a restart, and goes on working once the old one is deleted.
//
// hmrcsim.Application holds one secret, so "HMRC deletes the old secret"
// is played by replacing the simulator's application with the new one.
func TestCredentialRotationUsedWithoutRestart(t *testing.T) {
	e := newCredEnv(t)
	e.confirm(t)
	e.connect(t)
	ctx := t.Context()

	// HMRC now knows only the new secret; the service still has the old.
	e.Sim.AddApplication(hmrcsim.Application{ClientID: sbClientID, ClientSecret: sbSecret2, RedirectURIs: []string{sbRedirect}})
	if err := e.client.Refresh(ctx, e.userID, mtdconnect.PurposeIncomeTax); err == nil || !strings.Contains(err.Error(), "credentials refused") {
		t.Fatalf("refresh with the old secret: %v, want HMRC to refuse the credentials", err)
	}
	if c := e.conn(t); c.Status != mtdconnect.StatusConnected {
		t.Fatalf("refused credentials changed the connection: %s %q", c.Status, c.Reason)
	}

	// An administrator adds the new secret; the client re-reads the stored
	// application within a minute.
	if _, err := e.apps.AddSecret(ctx, hmrc.EnvSandbox, sbSecret2, e.adminID); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second)
	before := e.Sim.Stats().Refreshes
	if err := e.client.Refresh(ctx, e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatalf("refresh after the rotation: %v", err)
	}
	if got := e.Sim.Stats().Refreshes; got != before+1 {
		t.Fatalf("HMRC saw %d refreshes, want %d", got, before+1)
	}

	// The old secret is removed from the service too: nothing changes.
	if _, err := e.apps.RemoveSecret(ctx, hmrc.EnvSandbox, "0001", e.adminID); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second)
	if err := e.client.Refresh(ctx, e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatalf("refresh after removing the old secret: %v", err)
	}
	if msg, err := useConnection(ctx, e.client, e.userID); err != nil || !itsa.ValidBusinessID(msg) {
		t.Fatalf("Business Details = %q, %v", msg, err)
	}
	if c := e.conn(t); c.Status != mtdconnect.StatusConnected || c.ClientID != sbClientID {
		t.Fatalf("after the rotation: %s %q client %s", c.Status, c.Reason, c.ClientID)
	}
	for _, s := range []string{sbSecret1, sbSecret2} {
		if bytes.Contains(e.Logs.Bytes(), []byte(s)) {
			t.Fatalf("client secret …%s is in the logs", s[len(s)-4:])
		}
	}
}

// No connection is made in sandbox or production before an administrator
// allowed the service to call HMRC's external web services; the consent
// records who and when, and the first one stands.
func TestConsentGate(t *testing.T) {
	e := newCredEnv(t)
	ctx := t.Context()
	authURL, _, err := e.client.StartAuthorization(ctx, e.userID, mtdconnect.PurposeIncomeTax, "")
	if !errors.Is(err, hmrc.ErrNotConfirmed) || authURL != "" {
		t.Fatalf("StartAuthorization before consent = %q, %v; want ErrNotConfirmed", authURL, err)
	}
	if _, err := e.apps.Confirmation(ctx, hmrc.EnvSandbox); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Fatalf("consent before any: %v", err)
	}
	if got := e.Sim.Stats(); got.TokenRequests != 0 || got.CodeExchanges != 0 {
		t.Fatalf("HMRC was called before consent: %+v", got)
	}

	at := e.Clock.Now()
	c, err := e.apps.Confirm(ctx, hmrc.EnvSandbox, e.adminID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "hmrc-external-services:sandbox" || c.UserID != e.adminID || !c.At.Equal(at) {
		t.Fatalf("consent = %+v, want by %d at %v", c, e.adminID, at)
	}
	e.Clock.Advance(time.Hour)
	again, err := e.apps.Confirm(ctx, hmrc.EnvSandbox, 0)
	if err != nil || again.UserID != e.adminID || !again.At.Equal(at) {
		t.Fatalf("second consent = %+v, %v; want the first to stand", again, err)
	}
	if _, err := e.apps.Confirm(ctx, hmrc.EnvSimulator, 0); err == nil {
		t.Fatal("a consent for the simulator was recorded")
	}
	if conn := e.connect(t); conn.Status != mtdconnect.StatusConnected || conn.Environment != hmrc.EnvSandbox || conn.ClientID != sbClientID {
		t.Fatalf("connection after consent: %+v", conn)
	}
	// The consent of one environment is not another's.
	if _, err := e.apps.Confirmation(ctx, hmrc.EnvProduction); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Fatalf("production consent: %v", err)
	}
}

// The simulator is not HMRC: it needs no consent.
func TestConsentNotNeededForSimulator(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.client.StartAuthorization(t.Context(), e.userID, mtdconnect.PurposeIncomeTax, ""); err != nil {
		t.Fatalf("simulator StartAuthorization: %v", err)
	}
}

// A token issued to another application or environment is never sent.
func TestCredentialOtherApplicationRefused(t *testing.T) {
	tests := []struct {
		name       string
		env        string
		clientID   string
		wantStatus mtdconnect.Status
	}{
		// Another client ID of this environment: the grant is of no use
		// to the application now in use; marked so the landlord sees it.
		{"OtherClientID", hmrc.EnvSandbox, "SomeOtherClientId", mtdconnect.StatusNeedsReconnect},
		// Another environment: refused but left alone (a misconfigured
		// process must not destroy the database's connections).
		{"OtherEnvironment", hmrc.EnvProduction, sbClientID, mtdconnect.StatusConnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCredEnv(t)
			e.confirm(t)
			e.connect(t)
			c := e.conn(t)
			c.Environment, c.ClientID = tt.env, tt.clientID
			c.AccessExpiresAt = e.Clock.Now().Add(-time.Minute) // a refresh would be due, too
			if err := e.Store.UpdateConnection(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			before := e.Sim.Stats()
			_, err := useConnection(t.Context(), e.client, e.userID)
			var re *hmrc.ReconnectError
			if !errors.As(err, &re) || re.Reason != mtdconnect.ReasonOtherApplication {
				t.Fatalf("Business Details err = %v, want needs reconnect: %s", err, mtdconnect.ReasonOtherApplication)
			}
			if after := e.Sim.Stats(); after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
				t.Fatalf("a request reached HMRC: before %+v after %+v", before, after)
			}
			got := e.conn(t)
			if got.Status != tt.wantStatus {
				t.Fatalf("status = %s, want %s", got.Status, tt.wantStatus)
			}
			if tt.wantStatus == mtdconnect.StatusNeedsReconnect && (got.Reason != mtdconnect.ReasonOtherApplication || got.Tokens != nil) {
				t.Fatalf("marked with reason %q, tokens kept: %v", got.Reason, got.Tokens != nil)
			}
			if err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); !errors.As(err, &re) {
				t.Fatalf("Refresh err = %v, want needs reconnect", err)
			}
		})
	}
}

// An administrator changes the client ID: connections of the old
// application need reconnecting (on every instance), new ones work, and
// an instance that has not yet seen the change does not throw away a
// connection made through the new application.
func TestCredentialClientIDChange(t *testing.T) {
	e := newCredEnv(t)
	e.confirm(t)
	e.connect(t)
	ctx := t.Context()
	stale := e.sandboxClient(t) // another instance, still on the old application

	const newID = "NewClientIdFromTheDeveloperHub"
	e.Sim.AddApplication(hmrcsim.Application{ClientID: newID, ClientSecret: sbSecret3, RedirectURIs: []string{sbRedirect}})
	app, err := e.apps.Set(ctx, hmrc.EnvSandbox, newID, sbSecret3, nil, e.adminID)
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Secrets) != 1 || app.Secrets[0].Last4 != "0003" || len(app.RedirectURIs) != 0 {
		t.Fatalf("a new client ID keeps the old application's secrets or URIs: %+v", app)
	}
	if err := e.client.ReloadCredentials(ctx); err != nil {
		t.Fatal(err)
	}
	if id := e.client.Identity(ctx); id.ClientID != newID || !id.FromStore || id.Environment != hmrc.EnvSandbox {
		t.Fatalf("identity after the change: %+v", id)
	}
	// The landlord's settings page shows it needs reconnecting.
	got, err := e.client.Connection(ctx, e.userID, mtdconnect.PurposeIncomeTax)
	if err != nil || got.Status != mtdconnect.StatusNeedsReconnect || got.Reason != mtdconnect.ReasonOtherApplication {
		t.Fatalf("old connection after the change: %+v, %v", got, err)
	}
	// Reconnecting goes through the new application.
	conn := e.connect(t)
	if conn.ClientID != newID {
		t.Fatalf("new connection of client %s, want %s", conn.ClientID, newID)
	}
	// The stale instance looks again before judging, and uses it.
	if id := stale.Identity(ctx); id.ClientID != sbClientID {
		t.Fatalf("stale instance already on %s", id.ClientID)
	}
	if msg, err := useConnection(ctx, stale, e.userID); err != nil || !itsa.ValidBusinessID(msg) {
		t.Fatalf("stale instance: %q, %v", msg, err)
	}
	if c := e.conn(t); c.Status != mtdconnect.StatusConnected {
		t.Fatalf("the stale instance marked the new connection: %s %q", c.Status, c.Reason)
	}
}
