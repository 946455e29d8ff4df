package web_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/web"
)

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.UTC
	}
	return l
}()

func date(t time.Time) string { return t.In(london).Format("2 January 2006") }

// TestJourney walks the whole landlord journey in a browser with cookies:
// sign in, connect through HMRC's pages, refresh, test, disconnect.
func TestJourney(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()

	if p := b.get("/"); p.url.Path != "/signin" {
		t.Fatalf("/ without a session ended on %s, want /signin", p.url)
	}
	if p := b.get("/settings/hmrc"); p.url.Path != "/signin" {
		t.Fatalf("settings without a session ended on %s, want /signin", p.url)
	}

	p := b.signIn(landlordEmail, landlordPassword)
	if p.status != http.StatusOK || p.url.Path != "/settings/hmrc" {
		t.Fatalf("sign-in ended on %s (status %d)", p.url, p.status)
	}
	p.mustContain(t, "HMRC connection", "Status Not connected", "Connect to HMRC")
	p.mustNotContain(t, "Refresh now", "Disconnect")
	if env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax) != nil {
		t.Fatal("a connection exists before connecting")
	}

	grantedAt := env.Clock.Now()
	p = b.connect()
	p.mustContain(t,
		"Connected to HMRC.",
		"Status Connected",
		"Connected since "+date(grantedAt),
		"read:self-assessment", "write:self-assessment",
		"Access token Expires in 4 hours",
		"Authority ends "+date(grantedAt.AddDate(0, 18, 0)),
		"Last refreshed never",
		"Refresh now", "Test connection", "Disconnect",
		"Recent activity",
	)
	conn := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
	if conn == nil || conn.Status != mtdconnect.StatusConnected {
		t.Fatalf("after connecting, connection = %+v", conn)
	}
	// A reload does not repeat the one-time message.
	b.get("/settings/hmrc").mustNotContain(t, "Connected to HMRC.")

	// Refresh now.
	env.Clock.Advance(time.Hour)
	p = b.post("/settings/hmrc/refresh", p.findForm(t, "/settings/hmrc/refresh").values)
	if p.url.Path != "/settings/hmrc" {
		t.Fatalf("refresh ended on %s", p.url)
	}
	p.mustContain(t, "Refreshed.", "Status Connected", "Last refreshed "+date(env.Clock.Now()))
	p.mustNotContain(t, "Last refreshed Last refreshed", "Authority Authority", "Access token Access token")
	p.mustNotContain(t, "Last refreshed never")
	refreshed := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
	if refreshed.LastRefreshAt.IsZero() || refreshed.Version <= conn.Version {
		t.Errorf("after refresh: last refresh %v, version %d (was %d)", refreshed.LastRefreshAt, refreshed.Version, conn.Version)
	}

	// Test connection: HMRC's Business Details list, which needs the NINO.
	setNINO(t, env, env.landlord.ID, testNINO)
	p = b.post("/settings/hmrc/test", p.findForm(t, "/settings/hmrc/test").values)
	p.mustContain(t, "HMRC answered: your UK property business is X")

	// Disconnect asks first, and nothing changes until confirmed.
	before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
	confirm := b.post("/settings/hmrc/disconnect", p.findForm(t, "/settings/hmrc/disconnect").values)
	confirm.mustContain(t, "Disconnect from HMRC?", "Yes, disconnect")
	env.assertUnchanged(env.landlord.ID, before)

	p = b.post("/settings/hmrc/disconnect", confirm.findForm(t, "/settings/hmrc/disconnect").values)
	p.mustContain(t, "Disconnected from HMRC.", "Status Not connected", "Manage authorised applications", "Connect to HMRC")
	if !strings.Contains(p.body, `href="`+env.SimURL+`/applications-manage-authority"`) {
		t.Errorf("the page does not link to HMRC's manage page:\n%s", p.body)
	}
	if c := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); c != nil {
		t.Errorf("after disconnect, connection = %+v", c)
	}
	p.mustContain(t, "Disconnected", "Connected", "Access refreshed") // recent activity

	// Sign out ends the session.
	p = b.post("/signout", p.findForm(t, "/signout").values)
	if p.url.Path != "/signin" {
		t.Fatalf("sign-out ended on %s", p.url)
	}
	if p := b.get("/settings/hmrc"); p.url.Path != "/signin" {
		t.Errorf("after sign-out, settings ended on %s", p.url)
	}
}

// TestCallbackFailures checks every way the callback can fail: each shows
// a clear page and leaves the stored connection exactly as it was.
func TestCallbackFailures(t *testing.T) {
	withQuery := func(t *testing.T, cb string, set map[string]string) string {
		t.Helper()
		u, err := url.Parse(cb)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		for k, v := range set {
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	const notUsed = "Nothing was changed."

	tests := []struct {
		name   string
		status int
		want   string
		// visit returns the callback URL to visit, as the landlord.
		visit func(t *testing.T, env *testEnv, b *browser) string
	}{
		{"MissingState", http.StatusBadRequest, "missing its security check", func(t *testing.T, env *testEnv, b *browser) string {
			return withQuery(t, b.authorizeAtHMRC("grant"), map[string]string{"state": ""})
		}},
		{"ForgedState", http.StatusBadRequest, "not recognised, or it was already used", func(t *testing.T, env *testEnv, b *browser) string {
			return withQuery(t, b.authorizeAtHMRC("grant"), map[string]string{"state": "forged-state-value"})
		}},
		{"ExpiredState", http.StatusBadRequest, "More than 10 minutes passed", func(t *testing.T, env *testEnv, b *browser) string {
			cb := b.authorizeAtHMRC("grant")
			env.Clock.Advance(11 * time.Minute)
			return cb
		}},
		{"AccessDenied", http.StatusOK, "You chose not to grant authority at HMRC. Nothing was changed.", func(t *testing.T, env *testEnv, b *browser) string {
			return b.authorizeAtHMRC("deny")
		}},
		{"FailedExchange", http.StatusBadRequest, "HMRC did not accept the authorisation code. It may have expired or been used already. Connect again.", func(t *testing.T, env *testEnv, b *browser) string {
			return withQuery(t, b.authorizeAtHMRC("grant"), map[string]string{"code": "not-a-code-hmrc-issued"})
		}},
		{"ReplayedCode", http.StatusBadRequest, "HMRC did not accept the authorisation code.", func(t *testing.T, env *testEnv, b *browser) string {
			// A code HMRC already exchanged, under a fresh state.
			old, err := url.Parse(b.authorizeAtHMRC("grant"))
			if err != nil {
				t.Fatal(err)
			}
			b.get(old.String()) // connects: the code is spent
			return withQuery(t, b.authorizeAtHMRC("grant"), map[string]string{"code": old.Query().Get("code")})
		}},
		{"ReplayedCallback", http.StatusBadRequest, "not recognised, or it was already used", func(t *testing.T, env *testEnv, b *browser) string {
			cb := b.authorizeAtHMRC("grant")
			if p := b.get(cb); p.url.Path != "/settings/hmrc" {
				t.Fatalf("first use of the callback ended on %s:\n%s", p.url, p.text())
			}
			return cb
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			b := env.browser()
			b.signIn(landlordEmail, landlordPassword)
			b.connect()
			cb := tt.visit(t, env, b)
			before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
			if before == nil {
				t.Fatal("no connection to compare with")
			}
			p := b.get(cb)
			if p.status != tt.status {
				t.Errorf("status = %d, want %d", p.status, tt.status)
			}
			back := "Back to HMRC connection settings"
			if tt.name == "AccessDenied" {
				back = "Back to your HMRC connection for Income Tax" // the tax it came from (TestDeclineGoesBack)
			}
			p.mustContain(t, tt.want, back)
			if tt.name != "FailedExchange" && tt.name != "ReplayedCode" {
				p.mustContain(t, notUsed)
			}
			env.assertUnchanged(env.landlord.ID, before)
		})
	}

	t.Run("AnotherUsersState", func(t *testing.T) {
		env := newTestEnv(t)
		landlord := env.browser()
		landlord.signIn(landlordEmail, landlordPassword)
		landlord.connect()
		other := env.browser()
		other.signIn(otherEmail, otherPassword)

		cb := landlord.authorizeAtHMRC("grant")
		before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		p := other.get(cb)
		if p.status != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", p.status)
		}
		p.mustContain(t, "started by a different account", "Nothing was changed.")
		env.assertUnchanged(env.landlord.ID, before)
		if c := env.connection(env.other.ID, mtdconnect.PurposeIncomeTax); c != nil {
			t.Errorf("the other user got a connection: %+v", c)
		}
		// The attempt still belongs to the landlord, who can finish it.
		if p := landlord.get(cb); p.url.Path != "/settings/hmrc" {
			t.Errorf("the landlord's own callback ended on %s:\n%s", p.url, p.text())
		}
	})

	t.Run("NotSignedIn", func(t *testing.T) {
		env := newTestEnv(t)
		b := env.browser()
		b.signIn(landlordEmail, landlordPassword)
		b.connect()
		cb := b.authorizeAtHMRC("grant")
		before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		p := env.browser().get(cb)
		if p.status != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", p.status)
		}
		p.mustContain(t, "Sign in and try connecting again", "Nothing was changed.")
		env.assertUnchanged(env.landlord.ID, before)
	})
}

// TestRevokedAtHMRC removes the authority at HMRC: the next refresh or test
// finds out, and the page says so and offers to connect again.
func TestRevokedAtHMRC(t *testing.T) {
	for _, action := range []string{"refresh", "test"} {
		t.Run(action, func(t *testing.T) {
			env := newTestEnv(t)
			setNINO(t, env, env.landlord.ID, testNINO) // Test connection needs it
			b := env.browser()
			b.signIn(landlordEmail, landlordPassword)
			p := b.connect()
			env.Sim.Revoke(simUserID, clientID)

			p = b.post("/settings/hmrc/"+action, p.findForm(t, "/settings/hmrc/"+action).values)
			p.mustContain(t,
				"HMRC no longer accepts this connection: "+mtdconnect.ReasonRevoked+". Connect again.",
				"Status Needs reconnect — "+mtdconnect.ReasonRevoked,
				"Reconnect to HMRC",
			)
			p.mustNotContain(t, "Refresh now", "Test connection")
			conn := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
			if conn.Status != mtdconnect.StatusNeedsReconnect || conn.Reason != mtdconnect.ReasonRevoked {
				t.Errorf("connection status %q reason %q", conn.Status, conn.Reason)
			}
			// A reload still shows it.
			b.get("/settings/hmrc").mustContain(t, "Needs reconnect", mtdconnect.ReasonRevoked)

			// Connecting again repairs it.
			p = b.connect()
			p.mustContain(t, "Connected to HMRC.", "Status Connected")
		})
	}
}

// formActions are the paths every form of the pages posts to, read from the
// templates, so a new form cannot escape TestCrossOriginPost.
func formActions(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v, %d files", err, len(files))
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`<(?:form\b[^>]*\baction|button\b[^>]*\bformaction)="([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
			// A year-end page's actions are under its tax year, some
			// under a calculation. A path segment from the connect link's
			// token is any segment: the protection comes before routing.
			action := strings.NewReplacer("{{.Base}}", "/tax-year/2025-26", "{{$.Base}}", "/tax-year/2025-26",
				"{{.ID}}", "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c", "{{.Token}}", "x").Replace(m[1])
			if strings.Contains(action, "{{") {
				t.Fatalf("%s: a form action the test cannot fill in: %s", f, m[1])
			}
			if !slices.Contains(out, action) {
				out = append(out, action)
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d form actions found: %q", len(out), out)
	}
	return out
}

// TestCrossOriginPost checks that a form on another site cannot drive the
// landlord's signed-in browser: every form action refuses a cross-site POST.
func TestCrossOriginPost(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.connect()
	before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)

	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"SecFetchSite", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"Origin", map[string]string{"Origin": "https://evil.example"}},
	} {
		for _, path := range formActions(t) {
			req := b.postRequest(path, url.Values{"confirm": {"yes"}})
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			p := b.do(b.noFollow, req)
			// The refusal of the cross-origin protection itself: the
			// admin routes would answer 403 to this landlord anyway.
			if p.status != http.StatusForbidden || !strings.Contains(p.text(), "This request came from another website") {
				t.Errorf("%s %s: status %d, want the cross-origin refusal:\n%s", tc.name, path, p.status, p.text())
			}
		}
	}
	env.assertUnchanged(env.landlord.ID, before)
	if p := b.get("/settings/hmrc"); p.url.Path != "/settings/hmrc" {
		t.Errorf("the session did not survive a cross-site sign-out: ended on %s", p.url)
	}

	// The same request from our own pages goes through.
	req := b.postRequest("/settings/hmrc/disconnect", url.Values{"confirm": {"yes"}})
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", env.url)
	if p := b.do(b.client, req); p.status != http.StatusOK || p.url.Path != "/settings/hmrc" {
		t.Errorf("same-origin disconnect: status %d on %s", p.status, p.url)
	}
	if c := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); c != nil {
		t.Errorf("same-origin disconnect left %+v", c)
	}
}

func TestSignIn(t *testing.T) {
	env := newTestEnv(t)

	t.Run("Wrong", func(t *testing.T) {
		for _, tc := range []struct{ email, password string }{
			{landlordEmail, "wrong password"},
			{"nobody@example.com", landlordPassword},
			{"", ""},
		} {
			b := env.browser()
			p := b.signIn(tc.email, tc.password)
			if p.status != http.StatusUnauthorized {
				t.Errorf("%q: status %d, want 401", tc.email, p.status)
			}
			p.mustContain(t, "Email or password is wrong.")
			if b.cookie(sessionCookieName) != "" {
				t.Errorf("%q: a session cookie was set", tc.email)
			}
		}
	})

	t.Run("CookieFlags", func(t *testing.T) {
		b := env.browser()
		p := b.do(b.noFollow, b.postRequest("/signin", url.Values{"email": {landlordEmail}, "password": {landlordPassword}}))
		if p.status != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", p.status)
		}
		var c *http.Cookie
		for _, sc := range (&http.Response{Header: p.header}).Cookies() {
			if sc.Name == sessionCookieName {
				c = sc
			}
		}
		if c == nil {
			t.Fatalf("no session cookie in %q", p.header.Values("Set-Cookie"))
		}
		env.secrets = append(env.secrets, c.Value)
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 12*60*60 {
			t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, Max-Age=43200", c)
		}
		if c.Secure {
			t.Errorf("cookie is Secure on plain http://127.0.0.1")
		}
		if len(c.Value) < 43 {
			t.Errorf("session token %q is short", c.Value)
		}
	})

	t.Run("Expires", func(t *testing.T) {
		b := env.browser()
		b.signIn(landlordEmail, landlordPassword)
		env.Clock.Advance(11 * time.Hour)
		if p := b.get("/settings/hmrc"); p.url.Path != "/settings/hmrc" {
			t.Fatalf("after 11 hours, ended on %s", p.url)
		}
		env.Clock.Advance(time.Hour + time.Minute)
		if p := b.get("/settings/hmrc"); p.url.Path != "/signin" {
			t.Errorf("after 12 hours, ended on %s, want /signin", p.url)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)

	for _, path := range []string{"/signin", "/settings/hmrc", "/oauth/hmrc/callback?state=x&code=y"} {
		p := b.get(path)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' " +
				env.SimURL + "; frame-ancestors 'none'; base-uri 'self'",
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Cache-Control":          "no-store",
		}
		for k, v := range want {
			if got := p.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if got := p.header.Get("Referrer-Policy"); got != "same-origin" && got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy = %q", path, got)
		}
		if got := p.header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("%s: HSTS %q on plain http", path, got)
		}
		if strings.Contains(p.body, "<style") || strings.Contains(p.body, " style=") || regexp.MustCompile(`<script>`).MatchString(p.body) {
			t.Errorf("%s: inline style or script", path)
		}
	}

	// Every page loads fph.js, and every form carries the fph field.
	p := b.get("/settings/hmrc")
	if !strings.Contains(p.body, `<script src="/static/fph.js" defer></script>`) {
		t.Error("the settings page does not load /static/fph.js")
	}
	forms := strings.Count(p.body, "<form ")
	if fph := strings.Count(p.body, `<input type="hidden" name="fph">`); forms == 0 || fph != forms {
		t.Errorf("%d forms, %d fph fields", forms, fph)
	}

	css := b.get("/static/app.css")
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: status %d, type %q", css.status, css.header.Get("Content-Type"))
	}
	// fph.js is written elsewhere; once it exists it is served as script.
	if _, err := os.Stat("static/fph.js"); err == nil {
		js := b.get("/static/fph.js")
		if js.status != http.StatusOK || !strings.Contains(js.header.Get("Content-Type"), "javascript") {
			t.Errorf("fph.js: status %d, type %q", js.status, js.header.Get("Content-Type"))
		}
	}
	if p := b.get("/static/"); p.status != http.StatusNotFound {
		t.Errorf("/static/ lists files: status %d", p.status)
	}
	if p := b.get("/healthz"); p.status != http.StatusOK || p.body != "ok" {
		t.Errorf("/healthz: %d %q", p.status, p.body)
	}
}

// TestSecureCookiesOverHTTPS checks the decisions that depend on the public
// URL: Secure cookies and HSTS over https.
func TestSecureCookiesOverHTTPS(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.config()
	cfg.PublicURL = "https://mtdconnect.example"
	srv, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTLSServer(t, srv.Handler())
	b := env.browser()
	b.client.Transport, b.noFollow.Transport = ts.Client().Transport, ts.Client().Transport
	req := b.postRequest(ts.URL+"/signin", url.Values{"email": {landlordEmail}, "password": {landlordPassword}})
	p := b.do(b.noFollow, req)
	if p.status != http.StatusSeeOther {
		t.Fatalf("status %d", p.status)
	}
	cookies := (&http.Response{Header: p.header}).Cookies()
	if len(cookies) == 0 || !cookies[0].Secure {
		t.Errorf("cookies %v: want Secure", p.header.Values("Set-Cookie"))
	}
	for _, c := range cookies {
		env.secrets = append(env.secrets, c.Value)
	}
	if got := p.header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("HSTS = %q", got)
	}
}

// setNINO stores the landlord's NINO ("" clears it), as the settings page
// would.
func setNINO(t *testing.T, env *testEnv, userID int64, nino string) {
	t.Helper()
	u, err := env.Store.UserByID(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	u.NINO = nino
	if err := env.Store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
}
