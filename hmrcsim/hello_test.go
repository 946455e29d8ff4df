package hmrcsim_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

func TestHelloErrors(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()

	if status, body := e.api("GET", "/hello/world", ""); status != 200 || body["message"] != "Hello World" {
		t.Errorf("hello/world: %d %v", status, body)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/hello/world", nil)
	if p := e.do(http.DefaultClient, req); p.status != 406 || !strings.Contains(p.body, "ACCEPT_HEADER_INVALID") {
		t.Errorf("no Accept: %d %s", p.status, p.body)
	}
	if status, body := e.api("GET", "/hello/user", ""); status != 401 || body["code"] != "MISSING_CREDENTIALS" {
		t.Errorf("no token: %d %v", status, body)
	}
	if status, body := e.api("GET", "/hello/user", "0123456789abcdef0123456789abcdef"); status != 401 || body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("unknown token: %d %v", status, body)
	}
	if status, body := e.api("GET", "/hello/application", tok.AccessToken); status != 401 || body["code"] != "INCORRECT_ACCESS_TOKEN_TYPE" {
		t.Errorf("user token on hello/application: %d %v", status, body)
	}
	if status, body := e.api("GET", "/hello/nothing", tok.AccessToken); status != 404 || body["code"] != "MATCHING_RESOURCE_NOT_FOUND" {
		t.Errorf("unknown path: %d %v", status, body)
	}

	// Access tokens last 4 hours and do not slide with use.
	e.clock.Advance(4*time.Hour - time.Second)
	if status, _ := e.api("GET", "/hello/user", tok.AccessToken); status != 200 {
		t.Errorf("at 3h59m59s: %d", status)
	}
	e.clock.Advance(time.Second)
	if status, body := e.api("GET", "/hello/user", tok.AccessToken); status != 401 || body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("at 4h: %d %v", status, body)
	}
}

func TestRevocationPage(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	b := e.browser()
	manage := e.srv.URL + "/applications-manage-authority"

	p := e.get(b, manage)
	if !strings.Contains(p.body, "Sign in") {
		t.Fatalf("manage page without sign-in:\n%s", p.body)
	}
	p = e.submit(b, p, url.Values{"user_id": {userID}, "password": {userPassword}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", p.status, p.body)
	}
	p = e.get(b, manage)
	if !strings.Contains(p.body, "Landlord Tax App") || !strings.Contains(p.body, "Remove authority") {
		t.Fatalf("manage page does not list the application:\n%s", p.body)
	}
	f := forms(t, p.body)[0]

	// A POST without the page's anti-forgery token is refused.
	forged := url.Values{"client_id": {clientID}, "csrf_token": {"forged"}}
	if got := e.post(b, e.srv.URL+f.action, forged); got.status != http.StatusForbidden {
		t.Errorf("forged remove: %d", got.status)
	}
	if status, _ := e.api("GET", "/hello/user", tok.AccessToken); status != 200 {
		t.Fatalf("token died after a forged remove: %d", status)
	}

	if got := e.post(b, e.srv.URL+f.action, f.fields); got.status != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", got.status, got.body)
	}
	if p = e.get(b, manage); !strings.Contains(p.body, `id="none"`) {
		t.Errorf("application still listed:\n%s", p.body)
	}
	if status, body := e.api("GET", "/hello/user", tok.AccessToken); status != 401 || body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("access token after revocation: %d %v", status, body)
	}
	assertRefreshDead(t, e, tok.RefreshToken)
}

func TestRevoke(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	other := e.connect() // a re-grant: HMRC keeps both valid until revoked
	e.sim.Revoke(userID, clientID)
	for _, tk := range []string{tok.AccessToken, other.AccessToken} {
		if status, body := e.api("GET", "/hello/user", tk); status != 401 || body["code"] != "INVALID_CREDENTIALS" {
			t.Errorf("after Revoke: %d %v", status, body)
		}
	}
	assertRefreshDead(t, e, tok.RefreshToken)
	assertRefreshDead(t, e, other.RefreshToken)
}

func assertRefreshDead(t *testing.T, e *env, refreshToken string) {
	t.Helper()
	_, err := e.refresh(t.Context(), refreshToken)
	if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" || re.ErrorDescription != "refresh_token is invalid" {
		t.Errorf("refresh after revocation: %v", re)
	}
}

func TestIndexListsTestUsers(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	if p := e.get(http.DefaultClient, e.srv.URL+"/"); p.status != 200 || !strings.Contains(p.body, userID) || !strings.Contains(p.body, "AA123456A") {
		t.Errorf("index: %d\n%s", p.status, p.body)
	}
}

// HMRC's Hello World user endpoint wants scope hello: a token granted for
// Income Tax only is refused, as HMRC refuses it.
func TestHelloUserNeedsHelloScope(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	e.conf.Scopes = []string{"read:self-assessment", "write:self-assessment"}
	tok := e.connect()
	if status, body := e.api("GET", "/hello/user", tok.AccessToken); status != 403 || body["code"] != "INVALID_SCOPE" {
		t.Fatalf("hello/user with an Income Tax token: %d %v, want 403 INVALID_SCOPE", status, body)
	}
}

// TestManageAuthorityOneRowPerApplication: an application the user
// authorised twice with different scopes (mtdconnect's Income Tax, then
// its VAT connection) is one row on HMRC's page with both sets of
// permissions, and removing it ends both grants.
func TestManageAuthorityOneRowPerApplication(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	incomeTax := e.connect()
	e.conf.Scopes = []string{"read:vat", "write:vat"}
	vat := e.connect()

	b := e.browser()
	manage := e.srv.URL + "/applications-manage-authority"
	e.submit(b, e.get(b, manage), url.Values{"user_id": {userID}, "password": {userPassword}})
	p := e.get(b, manage)
	if n := strings.Count(p.body, `<tr class="application">`); n != 1 {
		t.Fatalf("%d rows for one application, want 1:\n%s", n, p.body)
	}
	if !strings.Contains(p.body, "hello read:self-assessment read:vat write:self-assessment write:vat") {
		t.Errorf("the row does not list both grants' permissions:\n%s", p.body)
	}
	f := forms(t, p.body)[0]
	if got := e.post(b, e.srv.URL+f.action, f.fields); got.status != http.StatusSeeOther {
		t.Fatalf("remove: %d", got.status)
	}
	for name, tok := range map[string]string{"Income Tax": incomeTax.RefreshToken, "VAT": vat.RefreshToken} {
		if _, err := e.refresh(t.Context(), tok); err == nil {
			t.Errorf("the %s grant still refreshes after removing the application", name)
		}
	}
}
