package hmrcsim_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

var hexToken = regexp.MustCompile(`^[0-9a-f]{32,}$`)

func TestCodeFlowWithPKCE(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	verifier := oauth2.GenerateVerifier()
	p := e.authorize(e.conf.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier)), "grant")
	if p.status != http.StatusFound {
		t.Fatalf("grant: status %d", p.status)
	}
	cb, _ := url.Parse(p.location)
	if got := strings.Split(p.location, "?")[0]; got != redirectURI {
		t.Errorf("redirected to %q, want %q", got, redirectURI)
	}
	if cb.Query().Get("state") != "state-123" || !hexToken.MatchString(cb.Query().Get("code")) {
		t.Fatalf("callback %q: want code and state", p.location)
	}

	tok, err := e.conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if !hexToken.MatchString(tok.AccessToken) || !hexToken.MatchString(tok.RefreshToken) || tok.AccessToken == tok.RefreshToken {
		t.Errorf("tokens %q / %q: want distinct unguessable hex", tok.AccessToken, tok.RefreshToken)
	}
	if tok.TokenType != "bearer" || tok.ExpiresIn != 14400 {
		t.Errorf("token_type %q expires_in %d, want bearer 14400", tok.TokenType, tok.ExpiresIn)
	}
	if got := tok.Extra("scope"); got != "read:self-assessment write:self-assessment hello" {
		t.Errorf("scope = %v", got)
	}
	if status, body := e.api("GET", "/hello/user", tok.AccessToken); status != 200 || body["message"] != "Hello User" {
		t.Errorf("hello/user: %d %v", status, body)
	}
	if st := e.sim.Stats(); st.CodeExchanges != 1 || st.TokenRequests != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGrantPageWording(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	b := e.browser()
	p := e.get(b, e.conf.AuthCodeURL("s"))
	p = e.submit(b, p, url.Values{"user_id": {userID}, "password": {userPassword}})
	for _, want := range []string{
		"Landlord Tax App", "read:self-assessment", "write:self-assessment",
		"Grant authority", "Do not grant authority",
		"This authority will last for 18 months. You can remove this authority at any time",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("grant page lacks %q", want)
		}
	}
}

func TestDeny(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	p := e.authorize(e.conf.AuthCodeURL("30de877c"), "deny")
	want := redirectURI + "?error=access_denied&error_description=user+denied+the+authorization&error_code=USER_DENIED_AUTHORIZATION&state=30de877c"
	if p.status != http.StatusFound || p.location != want {
		t.Fatalf("deny: %d %q\nwant %q", p.status, p.location, want)
	}
}

func TestWrongPasswordReshowsForm(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	b := e.browser()
	p := e.get(b, e.conf.AuthCodeURL("s"))
	p = e.submit(b, p, url.Values{"user_id": {userID}, "password": {"wrong"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Enter a correct") || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("wrong password: %d\n%s", p.status, p.body)
	}
	// The re-shown form has a fresh anti-forgery token and still works.
	p = e.submit(b, p, url.Values{"user_id": {userID}, "password": {userPassword}})
	if !strings.Contains(p.body, "Grant authority") {
		t.Fatalf("second attempt: %d\n%s", p.status, p.body)
	}
}

func TestPagesRejectForgedPosts(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	b := e.browser()
	p := e.get(b, e.conf.AuthCodeURL("s"))
	f := forms(t, p.body)[0]
	f.fields.Set("csrf_token", "forged")
	f.fields.Set("user_id", userID)
	f.fields.Set("password", userPassword)
	if got := e.post(b, e.srv.URL+f.action, f.fields); got.status != http.StatusForbidden {
		t.Errorf("forged token: %d, want 403", got.status)
	}
	// Another browser (no session cookie) cannot replay the genuine form.
	f = forms(t, p.body)[0]
	f.fields.Set("user_id", userID)
	f.fields.Set("password", userPassword)
	if got := e.post(e.browser(), e.srv.URL+f.action, f.fields); got.status != http.StatusForbidden {
		t.Errorf("other session: %d, want 403", got.status)
	}
}

func TestOutOfBand(t *testing.T) {
	for _, uri := range []string{oobURI, oobURI + ":auto"} {
		t.Run(uri, func(t *testing.T) {
			e := newEnv(t, hmrcsim.Options{})
			e.conf.RedirectURL = uri
			p := e.authorize(e.conf.AuthCodeURL("s"), "grant")
			if p.status != http.StatusOK {
				t.Fatalf("status %d", p.status)
			}
			title := titleRE.FindStringSubmatch(p.body)
			code, ok := strings.CutPrefix(title[1], "Success code=")
			if !ok || !hexToken.MatchString(code) {
				t.Fatalf("title %q: want the code", title[1])
			}
			if !strings.Contains(p.body, `<code id="code">`+code+`</code>`) || !strings.Contains(p.body, "valid for 10 minutes") {
				t.Errorf("page lacks the copyable code or its lifetime:\n%s", p.body)
			}
			if _, err := e.conf.Exchange(context.Background(), code); err != nil {
				t.Errorf("exchange with oob redirect_uri: %v", err)
			}
		})
	}
}

func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tests := []struct {
		name   string
		change func(q url.Values)
		code   string
		msg    string
	}{
		{"client_id missing", func(q url.Values) { q.Del("client_id") }, "invalid_request", "client_id is required"},
		{"client_id invalid", func(q url.Values) { q.Set("client_id", "nope") }, "invalid_request", "client_id is invalid"},
		{"redirect_uri missing", func(q url.Values) { q.Del("redirect_uri") }, "invalid_request", "redirect_uri is required"},
		{"redirect_uri not registered", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, "invalid_request", "redirect_uri is invalid"},
		{"redirect_uri not exact", func(q url.Values) { q.Set("redirect_uri", redirectURI+"/") }, "invalid_request", "redirect_uri is invalid"},
		{"response_type missing", func(q url.Values) { q.Del("response_type") }, "invalid_request", "response_type is required"},
		{"response_type invalid", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type", "response_type must be &#39;code&#39;"},
		{"scope missing", func(q url.Values) { q.Del("scope") }, "invalid_request", "scope is required"},
		{"scope invalid", func(q url.Values) { q.Set("scope", "read:self-assessment read:everything") }, "invalid_scope", "scope is invalid"},
		{"client_secret present", func(q url.Values) { q.Set("client_secret", clientSecret) }, "invalid_request", "client_secret should NOT be present"},
		{"code_challenge empty", func(q url.Values) { q.Set("code_challenge", ""); q.Set("code_challenge_method", "S256") }, "invalid_request", "code_challenge if present, cannot be empty"},
		{"code_challenge_method plain", func(q url.Values) { q.Set("code_challenge", "abc"); q.Set("code_challenge_method", "plain") }, "invalid_request", "code_challenge_method, if present, must be S256"},
		{"code_challenge without method", func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request", "code_challenge_method should be present when code_challenge is present"},
		{"method without code_challenge", func(q url.Values) { q.Set("code_challenge_method", "S256") }, "invalid_request", "code_challenge should be present when code_challenge_method is present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{
				"response_type": {"code"}, "client_id": {clientID}, "scope": {"read:self-assessment"},
				"state": {"s"}, "redirect_uri": {redirectURI},
			}
			tt.change(q)
			p := e.get(e.browser(), e.srv.URL+"/oauth/authorize?"+q.Encode())
			if p.status != http.StatusBadRequest || p.location != "" {
				t.Fatalf("status %d location %q, want a 400 page", p.status, p.location)
			}
			if !strings.Contains(p.body, `<code id="error">`+tt.code+`</code>`) || !strings.Contains(p.body, tt.msg) {
				t.Errorf("page lacks %s / %s:\n%s", tt.code, tt.msg, p.body)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	verifier := oauth2.GenerateVerifier()
	// Codes are made per row (a successful exchange would spend them).
	plainCode := func() string { return e.code() }
	pkceCode := func() string { return e.code(oauth2.S256ChallengeOption(verifier)) }
	base := func(code string) url.Values {
		return url.Values{
			"client_id": {clientID}, "client_secret": {clientSecret}, "grant_type": {"authorization_code"},
			"redirect_uri": {redirectURI}, "code": {code},
		}
	}
	tests := []struct {
		name   string
		form   func() url.Values
		status int
		code   string
		desc   string
	}{
		{"client_id missing", func() url.Values { f := base("x"); f.Del("client_id"); return f }, 400, "invalid_request", "client_id is required"},
		{"client_id invalid", func() url.Values { f := base("x"); f.Set("client_id", "nope"); return f }, 401, "invalid_client", "invalid client id or secret"},
		{"client_secret missing", func() url.Values { f := base("x"); f.Del("client_secret"); return f }, 400, "invalid_request", "client_secret is required"},
		{"client_secret invalid", func() url.Values { f := base("x"); f.Set("client_secret", "nope"); return f }, 401, "invalid_client", "invalid client id or secret"},
		{"grant_type missing", func() url.Values { f := base("x"); f.Del("grant_type"); return f }, 400, "invalid_request", "grant_type is required"},
		{"grant_type invalid", func() url.Values { f := base("x"); f.Set("grant_type", "password"); return f }, 400, "invalid_request", "unsupported grant_type"},
		{"redirect_uri missing", func() url.Values { f := base(plainCode()); f.Del("redirect_uri"); return f }, 400, "invalid_request", "redirect_uri is required"},
		{"redirect_uri differs", func() url.Values { f := base(plainCode()); f.Set("redirect_uri", oobURI); return f }, 400, "invalid_request", "redirect_uri is invalid"},
		{"code missing", func() url.Values { f := base(""); return f }, 400, "invalid_request", "code is required for given grant_type"},
		{"code invalid", func() url.Values { return base("0123456789abcdef0123456789abcdef") }, 400, "invalid_request", "code is invalid"},
		{"code_verifier not expected", func() url.Values { f := base(plainCode()); f.Set("code_verifier", verifier); return f }, 400, "invalid_request", "code_verifier is not expected"},
		{"code_verifier missing", func() url.Values { return base(pkceCode()) }, 400, "invalid_request", "code_verifier is expected when code_challenge was supplied"},
		{"code_verifier too short", func() url.Values { f := base(pkceCode()); f.Set("code_verifier", "short"); return f }, 400, "invalid_request", "code_verifier must contain valid characters of length between 43 and 128"},
		{"code_verifier bad chars", func() url.Values { f := base(pkceCode()); f.Set("code_verifier", strings.Repeat("!", 50)); return f }, 400, "invalid_request", "code_verifier must contain valid characters of length between 43 and 128"},
		{"code_verifier mismatch", func() url.Values { f := base(pkceCode()); f.Set("code_verifier", oauth2.GenerateVerifier()); return f }, 400, "invalid_grant", "code_verifier is invalid"},
		{"refresh_token missing", func() url.Values {
			return url.Values{"client_id": {clientID}, "client_secret": {clientSecret}, "grant_type": {"refresh_token"}}
		}, 400, "invalid_request", "refresh_token is required"},
		{"refresh_token invalid", func() url.Values {
			return url.Values{"client_id": {clientID}, "client_secret": {clientSecret}, "grant_type": {"refresh_token"}, "refresh_token": {"nope"}}
		}, 400, "invalid_grant", "refresh_token is invalid"},
		{"client_credentials bad scope", func() url.Values {
			return url.Values{"client_id": {clientID}, "client_secret": {clientSecret}, "grant_type": {"client_credentials"}, "scope": {"read:everything"}}
		}, 400, "invalid_scope", "scope is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.tokenPost(tt.form())
			if status != tt.status || body["error"] != tt.code || body["error_description"] != tt.desc {
				t.Errorf("got %d %v, want %d %s %q", status, body, tt.status, tt.code, tt.desc)
			}
		})
	}
}

// HMRC takes client credentials from the body only: Basic auth is not enough,
// and a JSON body is not a form.
func TestTokenCredentialsOnlyInBody(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	req, _ := http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("basic auth: %v %v, want 400", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader(`{"client_id":"`+clientID+`"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("json body: %v %v, want 400", resp, err)
	} else {
		resp.Body.Close()
	}
	// x/oauth2 with credentials in the header fails the same way.
	conf := *e.conf
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	_, err := conf.Exchange(context.Background(), e.code())
	if re := retrieveError(t, err); re.ErrorCode != "invalid_request" || re.ErrorDescription != "client_id is required" {
		t.Errorf("header auth: %v", re)
	}
}

func TestCodeSingleUseAndTenMinutes(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	ctx := context.Background()
	code := e.code()
	if _, err := e.conf.Exchange(ctx, code); err != nil {
		t.Fatal(err)
	}
	_, err := e.conf.Exchange(ctx, code)
	if re := retrieveError(t, err); re.Response.StatusCode != 400 || re.ErrorCode != "invalid_request" || re.ErrorDescription != "code is invalid" {
		t.Errorf("replay: %v", re)
	}

	code = e.code()
	e.clock.Advance(9*time.Minute + 59*time.Second)
	if _, err := e.conf.Exchange(ctx, code); err != nil {
		t.Errorf("exchange at 9m59s: %v", err)
	}
	code = e.code()
	e.clock.Advance(10 * time.Minute)
	_, err = e.conf.Exchange(ctx, code)
	if re := retrieveError(t, err); re.ErrorDescription != "code is invalid" {
		t.Errorf("exchange at 10m: %v", re)
	}
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	first := e.connect()

	// Raw refresh: HMRC's refresh answer has no scope.
	status, body := e.tokenPost(url.Values{
		"client_id": {clientID}, "client_secret": {clientSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
	})
	if status != 200 || body["expires_in"] != float64(14400) || body["token_type"] != "bearer" {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if _, has := body["scope"]; has {
		t.Errorf("refresh response has scope: %v", body)
	}
	newAccess, newRefresh := body["access_token"].(string), body["refresh_token"].(string)
	if newAccess == first.AccessToken || newRefresh == first.RefreshToken || !hexToken.MatchString(newRefresh) {
		t.Fatalf("refresh did not rotate: %v", body)
	}

	// The previous access token dies at once, although it had hours left.
	if status, body := e.api("GET", "/hello/user", first.AccessToken); status != 401 || body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("old access token: %d %v", status, body)
	}
	if status, _ := e.api("GET", "/hello/user", newAccess); status != 200 {
		t.Errorf("new access token: %d", status)
	}

	// Single use: the spent refresh token is invalid_grant, and counted.
	_, err := e.refresh(context.Background(), first.RefreshToken)
	if re := retrieveError(t, err); re.Response.StatusCode != 400 || re.ErrorCode != "invalid_grant" || re.ErrorDescription != "refresh_token is invalid" {
		t.Errorf("reuse: %v", re)
	}
	// x/oauth2 refreshes with the rotated token.
	third, err := e.refresh(context.Background(), newRefresh)
	if err != nil || third.RefreshToken == newRefresh {
		t.Fatalf("second refresh: %v %v", third, err)
	}
	if st := e.sim.Stats(); st.Refreshes != 2 || st.RefreshReuses != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestConcurrentRefresh(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	// Latency holds the grant "in progress" long enough for every racer to hit it.
	e.sim.SetFaults(hmrcsim.Faults{Latency: 300 * time.Millisecond})

	const n = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		successes int
		other     []string
	)
	for range n {
		wg.Go(func() {
			_, err := e.refresh(context.Background(), tok.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				successes++
				return
			}
			re := retrieveError(t, err)
			switch {
			case re.ErrorCode == "invalid_request" && re.ErrorDescription == "Refresh operation is already in progress":
			case re.ErrorCode == "invalid_grant":
			default:
				other = append(other, re.Error())
			}
		})
	}
	wg.Wait()
	if successes != 1 || len(other) > 0 {
		t.Fatalf("successes = %d (want 1), unexpected errors %v", successes, other)
	}
	if st := e.sim.Stats(); st.Refreshes != 1 || st.InProgressRejections == 0 {
		t.Errorf("stats %+v: want 1 refresh and some in-progress rejections", st)
	}
}

func TestGrantDiesAfter18MonthsDespiteRefreshes(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect()
	rt := tok.RefreshToken
	// Refresh monthly for 17 months: each works, none extends the grant.
	for range 17 {
		e.clock.Advance(30 * 24 * time.Hour)
		next, err := e.refresh(context.Background(), rt)
		if err != nil {
			t.Fatalf("refresh within 18 months: %v", err)
		}
		rt = next.RefreshToken
	}
	// 2026-04-06 09:00 + 18 months = 2027-10-06 09:00.
	deadline := time.Date(2027, 10, 6, 9, 0, 0, 0, time.UTC)
	e.clock.Advance(deadline.Sub(e.clock.Now()) - time.Second)
	next, err := e.refresh(context.Background(), rt)
	if err != nil {
		t.Fatalf("refresh one second before 18 months: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err = e.refresh(context.Background(), next.RefreshToken)
	if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
		t.Errorf("refresh at 18 months: %v", re)
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	status, body := e.tokenPost(url.Values{
		"client_id": {clientID}, "client_secret": {clientSecret}, "grant_type": {"client_credentials"},
	})
	if status != 200 || body["token_type"] != "bearer" || body["expires_in"] != float64(14400) {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	if _, has := body["refresh_token"]; has {
		t.Errorf("application token came with a refresh token: %v", body)
	}
	app := body["access_token"].(string)
	if status, body := e.api("GET", "/hello/application", app); status != 200 || body["message"] != "Hello Application" {
		t.Errorf("hello/application: %d %v", status, body)
	}
	if status, body := e.api("GET", "/hello/user", app); status != 401 || body["code"] != "INCORRECT_ACCESS_TOKEN_TYPE" {
		t.Errorf("hello/user with app token: %d %v", status, body)
	}
}
