package web_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/landlord"
)

const returnURL = testPlatformURL + "/settings/hmrc?tab=connection"

// platformLandlord creates a platform's landlord by ref through the API.
func (env *testEnv) platformLandlord(t *testing.T, ref string) *mtdconnect.User {
	t.Helper()
	if r := env.apiAs(t, env.apiKey, http.MethodPut, userPath(ref), `{"display_name": "Jo `+ref+`"}`); r.status != http.StatusCreated {
		t.Fatalf("PUT %s: %d %v", ref, r.status, r.body)
	}
	u, err := env.Store.UserByRef(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// connectLink is a connect session as the platform got it.
type connectLink struct {
	id, url, token string
}

// newConnectLink asks the API for a link for ref.
func (env *testEnv) newConnectLink(t *testing.T, ref, purpose, display string) connectLink {
	t.Helper()
	body := fmt.Sprintf(`{"user": %q, "purpose": %q, "return_url": %q}`, ref, purpose, returnURL)
	if display != "" {
		body = fmt.Sprintf(`{"user": %q, "purpose": %q, "return_url": %q, "display": %q}`, ref, purpose, returnURL, display)
	}
	r := env.apiAs(t, env.apiKey, http.MethodPost, "/api/v1/connect-sessions", body)
	if r.status != http.StatusCreated {
		t.Fatalf("POST connect-sessions: %d %v", r.status, r.body)
	}
	link := connectLink{id: r.body["id"].(string), url: r.body["url"].(string)}
	if !strings.HasPrefix(link.url, env.url+"/connect/") {
		t.Fatalf("url %q is not a hosted connect page", link.url)
	}
	link.token = strings.TrimPrefix(link.url, env.url+"/connect/")
	env.secrets = append(env.secrets, link.token)
	return link
}

// session reads a connect session through the API.
func (env *testEnv) session(t *testing.T, id string) map[string]any {
	t.Helper()
	r := env.apiAs(t, env.apiKey, http.MethodGet, "/api/v1/connect-sessions/"+id, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET connect-sessions/%s: %d %v", id, r.status, r.body)
	}
	return r.body
}

// continueToHMRC opens the link and presses Continue to HMRC; it returns
// HMRC's sign-in page.
func (b *browser) continueToHMRC(link connectLink) page {
	b.t.Helper()
	p := b.get(link.url)
	if p.status != http.StatusOK {
		b.t.Fatalf("the connect page: %d\n%s", p.status, p.text())
	}
	u, _ := url.Parse(link.url)
	return b.post(link.url, p.findForm(b.t, u.Path).values)
}

// wantBack checks that the page offers the way back to the platform with
// the outcome, and nothing else in the query.
func wantBack(t *testing.T, p page, link connectLink, status string) {
	t.Helper()
	m := backRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("page %s has no way back to the platform:\n%s", p.url, p.text())
	}
	checkReturn(t, strings.ReplaceAll(m[1], "&amp;", "&"), link, status)
}

func checkReturn(t *testing.T, raw string, link connectLink, status string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != testPlatformURL+"/settings/hmrc" {
		t.Fatalf("back to %q, not to the return URL", raw)
	}
	q := u.Query()
	if q.Get("connect_session") != link.id || q.Get("status") != status || q.Get("purpose") != "itsa" || q.Get("tab") != "connection" {
		t.Errorf("back to %q: want connect_session=%s status=%s purpose=itsa and the platform's own tab", raw, link.id, status)
	}
	for k := range q {
		switch k {
		case "connect_session", "status", "purpose", "tab", "error":
		default:
			t.Errorf("the way back carries %q: %s", k, raw)
		}
	}
}

// backRE finds the "Back to the platform" link of a hosted page.
var backRE = regexp.MustCompile(`<a class="button" href="([^"]+)" id="back-to-platform">`)

// The whole journey of a platform's landlord who never signs in to
// mtdconnect: a link, the hosted page, HMRC, and back to the platform.
func TestConnectSession(t *testing.T) {
	env := newTestEnv(t)
	u := env.platformLandlord(t, "landlord-7")
	link := env.newConnectLink(t, "landlord-7", "itsa", "")
	if raw, err := base64.RawURLEncoding.DecodeString(link.token); err != nil || len(raw) < 16 {
		t.Errorf("token %d bytes (%v), want at least 128 bits", len(raw), err)
	}
	cs, err := env.Store.ConnectSession(t.Context(), link.id)
	if err != nil || strings.Contains(string(cs.TokenHash), link.token) || len(cs.TokenHash) != 32 {
		t.Fatalf("stored session %+v, %v: want only a hash of the token", cs, err)
	}
	if s := env.session(t, link.id); s["status"] != "pending" || s["user"] != "landlord-7" || s["purpose"] != "itsa" ||
		s["display"] != "redirect" || s["url"] != nil || s["started_at"] != nil {
		t.Errorf("a new session: %v", s)
	}

	b := env.browser()
	p := b.get(link.url)
	p.mustContain(t, "Connect Acme Lettings to HMRC", "Government Gateway",
		"see your Income Tax details", "send your quarterly property updates", "18 months", "manage authorised software", "Continue to HMRC")
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if p.header.Get("Referrer-Policy") != "no-referrer" || p.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", p.header)
	}
	if strings.Contains(p.body, "<script>") {
		t.Error("inline script on the connect page")
	}
	signIn := b.post(link.url, p.findForm(t, "/connect/"+link.token).values)
	if s := env.session(t, link.id); s["status"] != "pending" || s["started_at"] == nil {
		t.Errorf("after Continue: %v", s)
	}
	callback := b.grantAtHMRC(signIn, "grant")
	resp := b.do(b.noFollow, mustGet(t, callback))
	if resp.status != http.StatusSeeOther {
		t.Fatalf("callback: %d\n%s", resp.status, resp.body)
	}
	checkReturn(t, resp.header.Get("Location"), link, "connected")
	if strings.Contains(resp.header.Get("Location"), "code=") || strings.Contains(resp.header.Get("Location"), "TC66") {
		t.Errorf("the way back carries a code or an identifier: %s", resp.header.Get("Location"))
	}
	conn := env.connection(u.ID, mtdconnect.PurposeIncomeTax)
	if conn == nil || conn.Status != mtdconnect.StatusConnected {
		t.Fatalf("connection %+v", conn)
	}
	s := env.session(t, link.id)
	if s["status"] != "connected" || s["error"] != "" || s["finished_at"] == nil {
		t.Errorf("after the callback: %v", s)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodGet, userPath("landlord-7")+"/hmrc", ""); r.body["status"] != "connected" {
		t.Errorf("status: %v", r.body)
	}
	// Who did it: the platform, by the key that made the link.
	if !strings.Contains(env.Logs.String(), "by.kind=platform") {
		t.Error("the connection is not logged as the platform's")
	}

	// Replay: the same answer again changes nothing.
	replay := b.get(callback)
	if replay.status != http.StatusBadRequest {
		t.Errorf("replayed callback: %d", replay.status)
	}
	replay.mustContain(t, "This link was already used")
	wantBack(t, replay, link, "connected")
	env.assertUnchanged(u.ID, conn)
	// The link again: used.
	again := b.get(link.url)
	again.mustContain(t, "This link was already used")
	wantBack(t, again, link, "connected")
	if post := b.post(link.url, url.Values{}); !strings.Contains(post.text(), "already used") {
		t.Errorf("Continue on a used link: %s", post.text())
	}
	env.assertUnchanged(u.ID, conn)
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Every failure lands on a hosted page with the way back carrying the
// status, and the connection changes only on success.
func TestConnectSessionFailures(t *testing.T) {
	env := newTestEnv(t)
	u := env.platformLandlord(t, "p-1")
	noConnection := func(t *testing.T) {
		t.Helper()
		if c := env.connection(u.ID, mtdconnect.PurposeIncomeTax); c != nil {
			t.Fatalf("connection %+v, want none", c)
		}
	}

	t.Run("Denied", func(t *testing.T) {
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		b := env.browser()
		p := b.get(b.grantAtHMRC(b.continueToHMRC(link), "deny"))
		p.mustContain(t, "You did not grant authority", "Acme Lettings is not connected")
		wantBack(t, p, link, "denied")
		if s := env.session(t, link.id); s["status"] != "denied" || s["error"] != "access_denied" {
			t.Errorf("session %v", s)
		}
		noConnection(t)
	})

	t.Run("Cancelled", func(t *testing.T) {
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		b := env.browser()
		p := b.get(link.url)
		cancel := b.post(link.url+"/cancel", p.findForm(t, "/connect/"+link.token+"/cancel").values)
		cancel.mustContain(t, "You did not connect to HMRC")
		wantBack(t, cancel, link, "denied")
		if s := env.session(t, link.id); s["status"] != "denied" || s["error"] != "cancelled" {
			t.Errorf("session %v", s)
		}
		b.get(link.url).mustContain(t, "This link was already used")
		noConnection(t)
	})

	t.Run("Expired", func(t *testing.T) {
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		env.Clock.Advance(landlord.DefaultConnectSessionLifetime)
		b := env.browser()
		p := b.get(link.url)
		p.mustContain(t, "This link has expired")
		wantBack(t, p, link, "expired")
		if s := env.session(t, link.id); s["status"] != "expired" || s["error"] != "link_expired" {
			t.Errorf("session %v", s)
		}
		if p := b.post(link.url, url.Values{}); !strings.Contains(p.text(), "expired") {
			t.Errorf("Continue on an expired link: %s", p.text())
		}
		noConnection(t)
	})

	t.Run("TooLongAtHMRC", func(t *testing.T) {
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		b := env.browser()
		callback := b.grantAtHMRC(b.continueToHMRC(link), "grant")
		env.Clock.Advance(11 * time.Minute)
		p := b.get(callback)
		p.mustContain(t, "The connection attempt expired")
		wantBack(t, p, link, "expired")
		noConnection(t)
	})

	t.Run("OtherBrowser", func(t *testing.T) {
		// A presses Continue; HMRC's answer arrives in browser B (someone
		// sent B the sign-in page, or a phone opened it elsewhere).
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		a := env.browser()
		signIn := a.continueToHMRC(link)
		b := env.browser()
		callback := b.grantAtHMRC(b.get(signIn.url.String()), "grant")
		p := b.get(callback)
		p.mustContain(t, "Finish connecting in the browser you started in", "nothing was changed")
		wantBack(t, p, link, "failed")
		if s := env.session(t, link.id); s["status"] != "failed" || s["error"] != "other_browser" {
			t.Errorf("session %v", s)
		}
		// The answer is dead for A too.
		a.get(callback).mustContain(t, "already used")
		noConnection(t)
	})

	t.Run("CodeRefused", func(t *testing.T) {
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		b := env.browser()
		callback, _ := url.Parse(b.grantAtHMRC(b.continueToHMRC(link), "grant"))
		q := callback.Query()
		q.Set("code", "not-the-code-hmrc-gave")
		callback.RawQuery = q.Encode()
		p := b.get(callback.String())
		p.mustContain(t, "HMRC did not accept the authorisation")
		wantBack(t, p, link, "failed")
		if s := env.session(t, link.id); s["status"] != "failed" || s["error"] != "code_refused" {
			t.Errorf("session %v", s)
		}
		noConnection(t)
	})

	t.Run("CrossSitePOST", func(t *testing.T) {
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		b := env.browser()
		req := b.postRequest(link.url, url.Values{})
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if p := b.do(b.noFollow, req); p.status != http.StatusForbidden {
			t.Errorf("cross-site Continue: %d", p.status)
		}
		req = b.postRequest(link.url, url.Values{})
		req.Header.Set("Origin", "https://evil.example")
		if p := b.do(b.noFollow, req); p.status != http.StatusForbidden {
			t.Errorf("Continue with a foreign Origin: %d", p.status)
		}
		if s := env.session(t, link.id); s["status"] != "pending" || s["started_at"] != nil {
			t.Errorf("a refused POST used the link: %v", s)
		}
	})

	t.Run("BrowserCookie", func(t *testing.T) {
		// The cookie binding HMRC's answer to this browser: HttpOnly,
		// SameSite=Lax (HMRC's redirect back is a top-level GET), an hour,
		// and Secure except on plain-http localhost (this test server).
		link := env.newConnectLink(t, "p-1", "itsa", "redirect")
		b := env.browser()
		b.get(link.url)
		p := b.do(b.noFollow, b.postRequest(link.url, url.Values{}))
		c := ""
		for _, v := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(v, "mtdconnect_connect=") {
				c = v
			}
		}
		if p.status != http.StatusSeeOther || !strings.HasPrefix(c, "mtdconnect_connect=") || !strings.Contains(c, "HttpOnly") ||
			!strings.Contains(c, "SameSite=Lax") || !strings.Contains(c, "Max-Age=3600") || !strings.Contains(c, "Path=/") {
			t.Errorf("Continue: %d, Set-Cookie %q", p.status, c)
		}
		if strings.Contains(c, link.token) {
			t.Error("the cookie holds the link's token")
		}
	})

	t.Run("UnknownLink", func(t *testing.T) {
		b := env.browser()
		p := b.get("/connect/" + strings.Repeat("A", 43))
		if p.status != http.StatusNotFound {
			t.Errorf("status %d", p.status)
		}
		p.mustContain(t, "This link does not work")
	})

	t.Run("ForgedState", func(t *testing.T) {
		b := env.browser()
		p := b.get("/oauth/hmrc/callback?state=forged-state&code=forged-code")
		if p.status < 400 {
			t.Errorf("a forged state: %d", p.status)
		}
		noConnection(t)
	})
}

// A link is bound to its landlord: it never connects another, and HMRC's
// answer for one link cannot finish another (state swapped).
func TestConnectSessionBinding(t *testing.T) {
	env := newTestEnv(t)
	a := env.platformLandlord(t, "A")
	bUser := env.platformLandlord(t, "B")
	linkA := env.newConnectLink(t, "A", "itsa", "redirect")
	linkB := env.newConnectLink(t, "B", "itsa", "redirect")

	// One browser starts both; HMRC's answer to A is presented with B's
	// state.
	br := env.browser()
	callbackA, _ := url.Parse(br.grantAtHMRC(br.continueToHMRC(linkA), "grant"))
	br.continueToHMRC(linkB)
	csB, err := env.Store.ConnectSession(t.Context(), linkB.id)
	if err != nil {
		t.Fatal(err)
	}
	swapped := *callbackA
	q := swapped.Query()
	q.Set("state", csB.State)
	swapped.RawQuery = q.Encode()
	p := br.get(swapped.String())
	p.mustContain(t, "HMRC did not accept the authorisation")
	if c := env.connection(bUser.ID, mtdconnect.PurposeIncomeTax); c != nil {
		t.Fatal("HMRC's answer to A's link connected B")
	}
	if s := env.session(t, linkB.id); s["status"] != "failed" {
		t.Errorf("B's session %v", s)
	}

	// A's own answer connects A, and only A.
	resp := br.do(br.noFollow, mustGet(t, callbackA.String()))
	checkReturn(t, resp.header.Get("Location"), linkA, "connected")
	if c := env.connection(a.ID, mtdconnect.PurposeIncomeTax); c == nil {
		t.Error("A is not connected")
	}
	if c := env.connection(bUser.ID, mtdconnect.PurposeIncomeTax); c != nil {
		t.Error("B is connected")
	}
}

// In a popup, the end page posts the outcome to the opener (a static
// script reading data attributes; the CSP allows no inline script) and the
// opener policy keeps window.opener.
func TestConnectSessionPopup(t *testing.T) {
	env := newTestEnv(t)
	env.platformLandlord(t, "p-1")
	link := env.newConnectLink(t, "p-1", "itsa", "popup")
	b := env.browser()
	first := b.get(link.url)
	if coop := first.header.Get("Cross-Origin-Opener-Policy"); coop != "unsafe-none" {
		t.Errorf("COOP %q on a popup's connect page", coop)
	}
	p := b.get(b.grantAtHMRC(b.post(link.url, first.findForm(t, "/connect/"+link.token).values), "grant"))
	if p.status != http.StatusOK || p.header.Get("Cross-Origin-Opener-Policy") != "unsafe-none" {
		t.Fatalf("popup end: %d %v", p.status, p.header)
	}
	p.mustContain(t, "Connected to HMRC")
	for _, want := range []string{`data-origin="` + testPlatformURL + `"`, `data-session="` + link.id + `"`, `data-status="connected"`,
		`data-purpose="itsa"`, `<script src="/static/connect.js" defer></script>`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("popup end page lacks %s:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, "<script>") {
		t.Error("inline script")
	}
	js := b.get("/static/connect.js")
	if js.status != http.StatusOK || !strings.Contains(js.body, "window.opener.postMessage(message, origin)") {
		t.Errorf("connect.js: %d", js.status)
	}
}

// The API's side: what a platform may ask, and what is refused.
func TestConnectSessionAPI(t *testing.T) {
	env := newTestEnv(t)
	env.platformLandlord(t, "p-1")
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"NotAllowedReturnURL", `{"user": "p-1", "purpose": "itsa", "return_url": "https://evil.example/settings"}`, 400, "return_url_not_allowed"},
		{"OutsideThePrefix", `{"user": "p-1", "purpose": "itsa", "return_url": "https://platform.example/settingsx"}`, 400, "return_url_not_allowed"},
		{"OtherScheme", `{"user": "p-1", "purpose": "itsa", "return_url": "http://platform.example/settings"}`, 400, "return_url_not_allowed"},
		{"OtherPort", `{"user": "p-1", "purpose": "itsa", "return_url": "https://platform.example:8443/settings"}`, 400, "return_url_not_allowed"},
		{"DotSegments", `{"user": "p-1", "purpose": "itsa", "return_url": "https://platform.example/settings/../admin"}`, 400, "invalid_request"},
		{"UserInfo", `{"user": "p-1", "purpose": "itsa", "return_url": "https://x@platform.example/settings"}`, 400, "invalid_request"},
		{"Fragment", `{"user": "p-1", "purpose": "itsa", "return_url": "https://platform.example/settings#x"}`, 400, "invalid_request"},
		{"JavaScript", `{"user": "p-1", "purpose": "itsa", "return_url": "javascript:alert(1)"}`, 400, "invalid_request"},
		{"NoReturnURL", `{"user": "p-1", "purpose": "itsa"}`, 400, "invalid_request"},
		{"BadPurpose", `{"user": "p-1", "purpose": "corporation-tax", "return_url": "https://platform.example/settings"}`, 400, "invalid_request"},
		{"BadDisplay", `{"user": "p-1", "purpose": "itsa", "return_url": "https://platform.example/settings", "display": "iframe"}`, 400, "invalid_request"},
		{"NoUser", `{"purpose": "itsa", "return_url": "https://platform.example/settings"}`, 400, "invalid_request"},
		{"UnknownUser", `{"user": "nobody", "purpose": "itsa", "return_url": "https://platform.example/settings"}`, 404, "user_not_found"},
		{"UnknownField", `{"user": "p-1", "purpose": "itsa", "return_url": "https://platform.example/settings", "scopes": "all"}`, 400, "invalid_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.apiAs(t, env.apiKey, http.MethodPost, "/api/v1/connect-sessions", tc.body)
			if r.status != tc.status || r.body["error"] != tc.code {
				t.Errorf("%d %v, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	if r := env.apiAs(t, env.apiKey, http.MethodGet, "/api/v1/connect-sessions/cs_nothing", ""); r.status != http.StatusNotFound || r.body["error"] != "connect_session_not_found" {
		t.Errorf("unknown session: %d %v", r.status, r.body)
	}
	noConnect, _ := env.newKey("no connect", mtdconnect.ScopeUsers)
	if r := env.apiAs(t, noConnect, http.MethodPost, "/api/v1/connect-sessions", `{}`); r.status != http.StatusForbidden || r.body["scope"] != "connect" {
		t.Errorf("a key without connect: %d %v", r.status, r.body)
	}

	// A return URL the administrator allows on the admin page works at once.
	admin := env.createUser("connect-admin@example.com", "an admin passphrase")
	admin.Admin = true
	if err := env.Store.UpdateUser(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	ab := env.browser()
	ab.signIn("connect-admin@example.com", "an admin passphrase")
	page := ab.get("/admin/connect")
	page.mustContain(t, testPlatformURL+"/settings", "the configuration", "Acme Lettings")
	for _, bad := range []string{"not a url", "ftp://x.example", "https://x.example/?q=1", "https://u:p@x.example"} {
		p := ab.post("/admin/connect", url.Values{"fph": {""}, "url": {bad}})
		if p.status != http.StatusBadRequest {
			t.Errorf("allowing %q: %d", bad, p.status)
		}
	}
	added := ab.post("/admin/connect", url.Values{"fph": {""}, "url": {"https://Second.Example/"}})
	added.mustContain(t, "Connect sessions may now return to https://second.example.")
	body := `{"user": "p-1", "purpose": "vat", "return_url": "https://second.example/anywhere?x=1"}`
	if r := env.apiAs(t, env.apiKey, http.MethodPost, "/api/v1/connect-sessions", body); r.status != http.StatusCreated || r.body["purpose"] != "vat" {
		t.Errorf("with a return URL allowed on the admin page: %d %v", r.status, r.body)
	}
	removed := ab.post("/admin/connect/remove", url.Values{"fph": {""}, "url": {"https://second.example"}})
	removed.mustContain(t, "may no longer return to https://second.example")
	if r := env.apiAs(t, env.apiKey, http.MethodPost, "/api/v1/connect-sessions", body); r.status != http.StatusBadRequest {
		t.Errorf("after removal: %d %v", r.status, r.body)
	}

	// Deleting the landlord deletes their links.
	link := env.newConnectLink(t, "p-1", "itsa", "redirect")
	env.apiAs(t, env.apiKey, http.MethodDelete, userPath("p-1"), "")
	if r := env.apiAs(t, env.apiKey, http.MethodGet, "/api/v1/connect-sessions/"+link.id, ""); r.status != http.StatusNotFound {
		t.Errorf("a deleted landlord's session: %d %v", r.status, r.body)
	}
	env.browser().get(link.url).mustContain(t, "This link does not work")
}

// Reconnecting: the status says why a reconnect is needed, and a new link
// is the same call.
func TestConnectSessionReconnect(t *testing.T) {
	env := newTestEnv(t)
	u := env.platformLandlord(t, "p-1")
	b := env.browser()
	link := env.newConnectLink(t, "p-1", "itsa", "redirect")
	b.do(b.noFollow, mustGet(t, b.grantAtHMRC(b.continueToHMRC(link), "grant")))
	conn := env.connection(u.ID, mtdconnect.PurposeIncomeTax)
	conn.Status, conn.Reason = mtdconnect.StatusNeedsReconnect, mtdconnect.ReasonRevoked
	if err := env.Store.UpdateConnection(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	r := env.apiAs(t, env.apiKey, http.MethodGet, userPath("p-1")+"/hmrc", "")
	if r.body["status"] != "needs_reconnect" || r.body["reason_code"] != "revoked" || r.body["reason"] != mtdconnect.ReasonRevoked {
		t.Fatalf("status %v", r.body)
	}
	again := env.newConnectLink(t, "p-1", "itsa", "redirect")
	b.do(b.noFollow, mustGet(t, b.grantAtHMRC(b.continueToHMRC(again), "grant")))
	r = env.apiAs(t, env.apiKey, http.MethodGet, userPath("p-1")+"/hmrc", "")
	if r.body["status"] != "connected" || r.body["reason_code"] != "" {
		t.Errorf("after reconnecting: %v", r.body)
	}
}
