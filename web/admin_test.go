package web_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// The sandbox application of the admin tests: registered at the simulator
// (standing in for HMRC's sandbox) and stored in the service.
const (
	sbClientID    = "Ip0lBXBsUUdxkFRVm6Wq7SAqn5ka"
	sbSecret1     = "3d9f7fe9-0cf2-4f83-a9b1-5c1e7d2a0001"
	sbSecret2     = "8c41e2a0-77d3-4b5e-9f10-aa62c3b90002"
	adminEmail    = "admin@example.com"
	adminPassword = "administrator passphrase"
)

// adminEnv is a deployment set up for HMRC's sandbox with the application
// stored in the service, as `mtdconnect app set` leaves it.
type adminEnv struct {
	*testEnv
	apps  *hmrc.Applications
	admin *mtdconnect.User
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	e := &adminEnv{}
	e.testEnv = newTestEnv(t, func(env *testEnv, cfg *hmrc.Config) {
		ctx := env.t.Context()
		env.Sim.AddApplication(hmrcsim.Application{ClientID: sbClientID, ClientSecret: sbSecret1, RedirectURIs: []string{cfg.RedirectURL}})
		e.apps = hmrc.NewApplications(env.Store, env.Sealer, env.Clock.Now)
		if _, err := e.apps.Set(ctx, hmrc.EnvSandbox, sbClientID, sbSecret1, nil, 0); err != nil {
			env.t.Fatal(err)
		}
		id, secret, err := e.apps.Credentials(ctx, hmrc.EnvSandbox)
		if err != nil {
			env.t.Fatal(err)
		}
		cfg.ClientID, cfg.ClientSecret, cfg.CredentialsFromStore, cfg.Environment = id, secret, true, hmrc.EnvSandbox
	})
	e.secrets = append(e.secrets, sbSecret1, sbSecret2, adminPassword)

	e.admin = e.createUser(adminEmail, adminPassword)
	e.admin.Admin = true
	if err := e.Store.UpdateUser(t.Context(), e.admin); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *adminEnv) adminBrowser() *browser {
	b := e.browser()
	b.signIn(adminEmail, adminPassword)
	return b
}

// allowAndConnect records the administrator's consent and returns the
// landlord's browser, signed in and connected.
func (e *adminEnv) allowAndConnect() *browser {
	e.t.Helper()
	if _, err := e.apps.Confirm(e.t.Context(), hmrc.EnvSandbox, e.admin.ID); err != nil {
		e.t.Fatal(err)
	}
	landlord := e.browser()
	landlord.signIn(landlordEmail, landlordPassword)
	landlord.connect()
	return landlord
}

func (e *adminEnv) app() *mtdconnect.Application {
	e.t.Helper()
	a, err := e.apps.Get(e.t.Context(), hmrc.EnvSandbox)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func TestAdminPageOnlyForAdministrators(t *testing.T) {
	e := newAdminEnv(t)
	before := e.app()

	anon := e.browser()
	if p := anon.get("/admin/hmrc"); p.url.Path != "/signin" {
		t.Fatalf("signed out: ended on %s", p.url)
	}
	b := e.browser()
	b.signIn(landlordEmail, landlordPassword)
	p := b.get("/admin/hmrc")
	if p.status != http.StatusForbidden {
		t.Fatalf("landlord got %d, want 403", p.status)
	}
	p.mustContain(t, "For administrators only", "Nothing was changed")
	p.mustNotContain(t, sbClientID)
	posts := []struct {
		path string
		form url.Values
	}{
		{"/admin/hmrc/application", url.Values{"client_id": {"AnotherClientId"}, "client_secret": {sbSecret2}}},
		{"/admin/hmrc/fraud-headers", url.Values{}},
		{"/admin/hmrc/secrets", url.Values{"client_secret": {sbSecret2}}},
		{"/admin/hmrc/secrets/remove", url.Values{"id": {before.Secrets[0].ID}}},
		{"/admin/hmrc/consent", url.Values{"allow": {"yes"}}},
	}
	for _, tt := range posts {
		if p := b.post(tt.path, tt.form); p.status != http.StatusForbidden {
			t.Errorf("landlord POST %s: %d, want 403", tt.path, p.status)
		}
	}
	if after := e.app(); !reflect.DeepEqual(after, before) {
		t.Fatalf("a landlord changed the application:\n%+v\n%+v", before, after)
	}
	if _, err := e.apps.Confirmation(t.Context(), hmrc.EnvSandbox); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Fatalf("a landlord recorded the consent: %v", err)
	}
}

// The consent gate: no landlord connects before an administrator allowed
// the service to call HMRC's external web services; the page then says
// who allowed it and when.
func TestAdminConsentGatesConnect(t *testing.T) {
	e := newAdminEnv(t)
	landlord := e.browser()
	landlord.signIn(landlordEmail, landlordPassword)
	connect := landlord.get("/settings/hmrc").findForm(t, "/settings/hmrc/connect")
	p := landlord.post("/settings/hmrc/connect", connect.values)
	if p.status != http.StatusForbidden || strings.HasPrefix(p.url.String(), e.SimURL) {
		t.Fatalf("connect before consent: %d at %s", p.status, p.url)
	}
	p.mustContain(t, "An administrator must first allow this service to call HMRC's external web services (Admin → HMRC application)")
	if s := e.Sim.Stats(); s.TokenRequests != 0 {
		t.Fatalf("HMRC was called before consent: %+v", s)
	}

	admin := e.adminBrowser()
	page := admin.get("/admin/hmrc")
	page.mustContain(t, "Allow this service to call HMRC's external web services")
	// Without the box ticked nothing is recorded.
	p = admin.post("/admin/hmrc/consent", url.Values{})
	p.mustContain(t, "Tick the box")
	if _, err := e.apps.Confirmation(t.Context(), hmrc.EnvSandbox); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Fatalf("consent recorded without the box ticked: %v", err)
	}
	f := page.findForm(t, "/admin/hmrc/consent")
	f.values.Set("allow", "yes")
	at := e.Clock.Now()
	p = admin.post("/admin/hmrc/consent", f.values)
	if p.url.Path != "/admin/hmrc" {
		t.Fatalf("consent ended on %s", p.url)
	}
	p.mustContain(t, "Landlords can connect", "Allowed by "+adminEmail+" on "+at.In(london).Format("2 January 2006 at 15:04"))
	p.mustNotContain(t, "Tick the box")
	c, err := e.apps.Confirmation(t.Context(), hmrc.EnvSandbox)
	if err != nil || c.UserID != e.admin.ID || !c.At.Equal(at) {
		t.Fatalf("consent = %+v, %v; want by %d at %v", c, err, e.admin.ID, at)
	}

	landlord.connect().mustContain(t, "Connected to HMRC")
	if conn := e.connection(e.landlord.ID, mtdconnect.PurposeIncomeTax); conn.Environment != hmrc.EnvSandbox || conn.ClientID != sbClientID {
		t.Fatalf("connection of %s/%s", conn.Environment, conn.ClientID)
	}
}

// A secret typed into the page is sealed, used at once by the running
// service, and never shown, logged or stored in clear.
func TestAdminRotateSecret(t *testing.T) {
	e := newAdminEnv(t)
	landlord := e.allowAndConnect()

	admin := e.adminBrowser()
	page := admin.get("/admin/hmrc")
	page.mustContain(t, sbClientID, "…0001", "In use")
	page.mustNotContain(t, sbSecret1)
	if strings.Contains(page.body, "style=") || strings.Contains(page.body, "<script>") {
		t.Fatal("the admin page has inline style or script")
	}

	// HMRC knows only the new secret from now on (the simulator holds one
	// secret per application); the service learns it from the page.
	e.Sim.AddApplication(hmrcsim.Application{ClientID: sbClientID, ClientSecret: sbSecret2, RedirectURIs: []string{e.url + "/oauth/hmrc/callback"}})
	f := page.findForm(t, "/admin/hmrc/secrets")
	f.values.Set("client_secret", sbSecret2)
	p := admin.post("/admin/hmrc/secrets", f.values)
	p.mustContain(t, "Added the client secret …0002", "…0001")
	for _, s := range []string{sbSecret1, sbSecret2} {
		if strings.Contains(p.body, s) {
			t.Fatalf("the page shows a client secret ending in %s", s[len(s)-4:])
		}
	}
	// No restart: the next refresh uses the new secret.
	refresh := landlord.get("/settings/hmrc").findForm(t, "/settings/hmrc/refresh")
	landlord.post("/settings/hmrc/refresh", refresh.values).mustContain(t, "Refreshed")

	// Remove the old one with its button.
	var old string
	for _, s := range e.app().Secrets {
		if s.Last4 == "0001" {
			old = s.ID
		}
	}
	rm := admin.get("/admin/hmrc")
	var found bool
	for _, m := range formRE.FindAllStringSubmatch(rm.body, -1) {
		if strings.Contains(m[2], `value="`+old+`"`) {
			found = true
		}
	}
	if !found {
		t.Fatal("no Remove button for the old secret")
	}
	p = admin.post("/admin/hmrc/secrets/remove", url.Values{"id": {old}})
	p.mustContain(t, "Removed the client secret …0001")
	if app := e.app(); len(app.Secrets) != 1 || app.Secrets[0].Last4 != "0002" || app.UpdatedBy != e.admin.ID {
		t.Fatalf("after removal: %+v", app)
	}
	if p := admin.get("/admin/hmrc"); strings.Contains(p.body, "/admin/hmrc/secrets/remove") {
		t.Fatal("the only secret has a Remove button")
	}
	landlord.post("/settings/hmrc/refresh", refresh.values).mustContain(t, "Refreshed")

	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(e.DBPath + suffix)
		if err != nil {
			continue
		}
		for _, s := range []string{sbSecret1, sbSecret2} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("client secret …%s is in clear in the database file%s", s[len(s)-4:], suffix)
			}
		}
	}
}

// Bad input is refused with a message and changes nothing; a new client
// ID warns that landlords must reconnect, and their connections say so.
func TestAdminSetApplication(t *testing.T) {
	e := newAdminEnv(t)
	landlord := e.allowAndConnect()
	admin := e.adminBrowser()
	before := e.app()

	bad := []struct {
		name string
		path string
		form url.Values
		want string
	}{
		{"NoClientID", "/admin/hmrc/application", url.Values{"client_id": {""}, "client_secret": {sbSecret2}}, "The client ID is required."},
		{"NewClientIDNoSecret", "/admin/hmrc/application", url.Values{"client_id": {"AnotherClientId"}}, "A new client ID needs its client secret."},
		{"ShortSecret", "/admin/hmrc/secrets", url.Values{"client_secret": {"short"}}, "The client secret is too short"},
		{"PlainHTTPRedirect", "/admin/hmrc/application", url.Values{"client_id": {sbClientID}, "redirect_uris": {"http://mtd.example.co.uk/cb"}}, "plain http"},
		{"RemoveUnknown", "/admin/hmrc/secrets/remove", url.Values{"id": {"not-an-id"}}, "That client secret is no longer stored."},
		{"RemoveOnly", "/admin/hmrc/secrets/remove", url.Values{"id": {before.Secrets[0].ID}}, "The only client secret cannot be removed"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := admin.post(tt.path, tt.form)
			if p.url.Path != "/admin/hmrc" {
				t.Fatalf("ended on %s", p.url)
			}
			p.mustContain(t, tt.want, "Nothing was changed.")
			if after := e.app(); !reflect.DeepEqual(after, before) {
				t.Fatalf("refused input changed the application")
			}
		})
	}

	const newID = "NewClientIdFromTheDeveloperHub"
	e.Sim.AddApplication(hmrcsim.Application{ClientID: newID, ClientSecret: sbSecret2, RedirectURIs: []string{e.url + "/oauth/hmrc/callback"}})
	p := admin.post("/admin/hmrc/application", url.Values{
		"client_id": {newID}, "client_secret": {sbSecret2},
		"redirect_uris": {"https://mtd.example.co.uk/oauth/hmrc/callback\r\n\r\n" + hmrc.OOBRedirectURI},
	})
	p.mustContain(t, "Saved the HMRC application", "The client ID changed: landlords connected through the previous application will need to connect again.",
		"client ID "+newID, "…0002")
	p.mustNotContain(t, "…0001", sbSecret2)
	app := e.app()
	if app.ClientID != newID || len(app.RedirectURIs) != 2 || app.UpdatedBy != e.admin.ID {
		t.Fatalf("stored %+v", app)
	}

	s := landlord.get("/settings/hmrc")
	s.mustContain(t, "Needs reconnect", mtdconnect.ReasonOtherApplication)
	landlord.connect().mustContain(t, "Connected to HMRC")
	if conn := e.connection(e.landlord.ID, mtdconnect.PurposeIncomeTax); conn.ClientID != newID {
		t.Fatalf("reconnected through %s", conn.ClientID)
	}
}

// With the simulator there is nothing to set and no consent to give.
func TestAdminPageSimulator(t *testing.T) {
	env := newTestEnv(t)
	env.landlord.Admin = true
	if err := env.Store.UpdateUser(t.Context(), env.landlord); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	p := b.get("/admin/hmrc")
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	p.mustContain(t, "built-in HMRC simulator", "no consent is needed", clientID)
	p.mustNotContain(t, clientSecret)
	// Nothing to set: the one form is the fraud prevention headers check,
	// which the simulator answers as HMRC's sandbox does.
	if n, m := strings.Count(p.body, `action="/admin/hmrc/`), strings.Count(p.body, `action="/admin/hmrc/fraud-headers"`); n != 1 || m != 1 {
		t.Fatalf("the simulator's admin page has %d forms, %d of them the fraud headers check", n, m)
	}
	p = b.post("/admin/hmrc/fraud-headers", p.findForm(t, "/admin/hmrc/fraud-headers").values)
	p.mustContain(t, "(BATCH_PROCESS_DIRECT) VALID_HEADERS")
}

// The admin page's button sends this deployment's fraud prevention headers
// to HMRC's Test Fraud Prevention Headers API: the administrator's browser
// (as a landlord's page request sends them) and this server (batch), and
// shows HMRC's verdicts; not before the consent to call HMRC.
func TestAdminFraudHeadersCheck(t *testing.T) {
	e := newAdminEnv(t)
	b := e.adminBrowser()
	p := b.get("/admin/hmrc")
	p.mustContain(t, "Fraud prevention headers", "Check the fraud prevention headers")
	form := p.findForm(t, "/admin/hmrc/fraud-headers").values
	p = b.post("/admin/hmrc/fraud-headers", form)
	p.mustContain(t, "An administrator must first allow this service to call HMRC's external web services (Admin → HMRC application)")
	if _, err := e.apps.Confirm(t.Context(), hmrc.EnvSandbox, e.admin.ID); err != nil {
		t.Fatal(err)
	}
	p = b.post("/admin/hmrc/fraud-headers", form)
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	// Signed in with a password only: HMRC warns of the empty multi-factor
	// header; the server's batch headers are valid.
	p.mustContain(t, "Your browser, as a landlord's page request sends them (WEB_APP_VIA_SERVER) POTENTIALLY_INVALID_HEADERS",
		"EMPTY_HEADER gov-client-multi-factor",
		"This server, for calls no landlord starts (BATCH_PROCESS_DIRECT) VALID_HEADERS")
	if n := strings.Count(p.text(), "HMRC's reference:"); n != 2 {
		t.Errorf("%d references of HMRC's, want 2:\n%s", n, p.text())
	}
}
