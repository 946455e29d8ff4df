package web_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/web"
)

const codeStepCookieName = "mtdconnect_signin"

var (
	totpKeyRE = regexp.MustCompile(`<code id="totp-key">([A-Z2-7 ]+)</code>`)
	otpauthRE = regexp.MustCompile(`href="(otpauth://[^"]+)"`)
	b32       = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// enrolPage reads the secret an enrolment page shows, and its form.
func (b *browser) enrolPage(p page) ([]byte, form) {
	b.t.Helper()
	m := totpKeyRE.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no key on the enrolment page %s (status %d):\n%s", p.url, p.status, p.text())
	}
	key := strings.ReplaceAll(m[1], " ", "")
	secret, err := b32.DecodeString(key)
	if err != nil {
		b.t.Fatal(err)
	}
	// The key must never reach the logs.
	b.env.secrets = append(b.env.secrets, key, m[1])
	return secret, p.findForm(b.t, "/settings/security/totp")
}

// enrolTOTP adds an authenticator app through the security settings and
// returns its secret.
func (b *browser) enrolTOTP() []byte {
	b.t.Helper()
	secret, _ := b.enrolTOTPWithCodes()
	return secret
}

// enrolTOTPWithCodes adds an authenticator app and returns its secret and
// the recovery codes shown, once, on the page the enrolment ends on.
func (b *browser) enrolTOTPWithCodes() ([]byte, []string) {
	b.t.Helper()
	secret, f := b.enrolPage(b.get("/settings/security/totp"))
	f.values.Set("code", web.TOTPCode(secret, b.env.Clock.Now()))
	p := b.post("/settings/security/totp", f.values)
	if p.status != http.StatusOK || p.url.Path != "/settings/security/totp" {
		b.t.Fatalf("enrolment ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	p.mustContain(b.t, "Your authenticator app is set up.", "Your recovery codes", "This is the only time they are shown")
	return secret, b.recoveryCodes(p)
}

var recoveryCodeRE = regexp.MustCompile(`<li><code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code></li>`)

// recoveryCodes reads the codes a recovery codes page shows; they must
// never reach the logs.
func (b *browser) recoveryCodes(p page) []string {
	b.t.Helper()
	var codes []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(p.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		b.t.Fatalf("%d recovery codes shown, want 10:\n%s", len(codes), p.text())
	}
	b.env.secrets = append(b.env.secrets, codes...)
	return codes
}

// wrongCode is a well-formed code that no step near now accepts.
func wrongCode(secret []byte, now time.Time) string {
	near := map[string]bool{}
	for d := -1; d <= 1; d++ {
		near[web.TOTPCode(secret, now.Add(time.Duration(d)*30*time.Second))] = true
	}
	for c := 0; ; c++ {
		code := strings.Repeat(string(rune('0'+c%10)), 6)
		if !near[code] {
			return code
		}
	}
}

func (env *testEnv) user(id int64) *mtdconnect.User {
	env.t.Helper()
	u, err := env.Store.UserByID(env.t.Context(), id)
	if err != nil {
		env.t.Fatal(err)
	}
	return u
}

// session is the stored session of the browser's cookie, nil if none.
func (b *browser) session() *mtdconnect.Session {
	b.t.Helper()
	token := b.cookie(sessionCookieName)
	if token == "" {
		return nil
	}
	b.env.secrets = append(b.env.secrets, token)
	h := sha256.Sum256([]byte(token))
	s, err := b.env.Store.SessionByHash(b.t.Context(), h[:])
	if err != nil {
		b.t.Fatalf("session of the cookie: %v", err)
	}
	return s
}

// sqliteFiles is the bytes of the test's SQLite database (with its WAL).
// newTestEnv puts it in a t.TempDir directory; they share one parent.
func sqliteFiles(t *testing.T) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(filepath.Dir(t.TempDir()), "*", "mtdconnect.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("cannot find the SQLite file: %v", err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestSecurityTOTPEnrol(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.get("/settings/security").mustContain(t, "Sign-in security", "Authenticator app", "Off", "Add an authenticator app")

	p := b.get("/settings/security/totp")
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("enrolment page CSP %q", csp)
	}
	secret, f := b.enrolPage(p)
	p.mustContain(t, "Add an authenticator app", landlordEmail, "Time-based")
	// The otpauth:// link adds the same secret, for mtdconnect and this
	// landlord.
	m := otpauthRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no otpauth link:\n%s", p.body)
	}
	uri, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if q := uri.Query(); uri.Path != "/mtdconnect:"+landlordEmail || q.Get("issuer") != "mtdconnect" || q.Get("secret") != b32.EncodeToString(secret) {
		t.Errorf("otpauth link %s", uri)
	}
	// The form carries the secret sealed, not in clear.
	pending, err := base64.RawURLEncoding.DecodeString(f.values.Get("pending"))
	if err != nil || bytes.Contains(pending, secret) || strings.Contains(f.values.Get("pending"), b32.EncodeToString(secret)) {
		t.Errorf("pending %q (%v) carries the secret in clear", f.values.Get("pending"), err)
	}
	// Each visit shows a new secret: nothing is kept until confirmed.
	if again, _ := b.enrolPage(b.get("/settings/security/totp")); bytes.Equal(again, secret) {
		t.Error("a second visit showed the same secret")
	}

	notEnrolled := func(t *testing.T) {
		t.Helper()
		if u := env.user(env.landlord.ID); len(u.TOTPSecret) != 0 || u.TOTPLastStep != 0 {
			t.Errorf("landlord enrolled: %d-byte secret, last step %d", len(u.TOTPSecret), u.TOTPLastStep)
		}
	}
	now := env.Clock.Now()
	tampered := []byte(f.values.Get("pending"))
	tampered[10] ^= 'A' ^ 'B'
	for _, tt := range []struct {
		name    string
		code    string
		pending string
		status  int
		path    string
		says    string
	}{
		{"wrong code", wrongCode(secret, now), "", http.StatusBadRequest, "/settings/security/totp", "That code is wrong."},
		{"code of two minutes ago", web.TOTPCode(secret, now.Add(-2*time.Minute)), "", http.StatusBadRequest, "/settings/security/totp", "That code is wrong."},
		{"not digits", "12ab56", "", http.StatusBadRequest, "/settings/security/totp", "Enter the 6-digit code"},
		{"no code", "", "", http.StatusBadRequest, "/settings/security/totp", "Enter the 6-digit code"},
		{"tampered form", web.TOTPCode(secret, now), string(tampered), http.StatusOK, "/settings/security/totp", "That set-up was not finished"},
		{"no secret in the form", web.TOTPCode(secret, now), "-", http.StatusOK, "/settings/security/totp", "That set-up was not finished"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"code": {tt.code}, "pending": {f.values.Get("pending")}}
			if tt.pending != "" {
				v.Set("pending", strings.TrimPrefix(tt.pending, "-"))
			}
			p := b.post("/settings/security/totp", v)
			if p.status != tt.status || p.url.Path != tt.path {
				t.Errorf("status %d on %s, want %d on %s", p.status, p.url.Path, tt.status, tt.path)
			}
			p.mustContain(t, tt.says, "Nothing was saved")
			notEnrolled(t)
		})
	}

	t.Run("another landlord's form", func(t *testing.T) {
		ob := env.browser()
		ob.signIn(otherEmail, otherPassword)
		p := ob.post("/settings/security/totp", url.Values{"code": {web.TOTPCode(secret, now)}, "pending": {f.values.Get("pending")}})
		p.mustContain(t, "That set-up was not finished", "Nothing was saved")
		if u := env.user(env.other.ID); len(u.TOTPSecret) != 0 {
			t.Error("the other landlord got the landlord's secret")
		}
		notEnrolled(t)
	})

	t.Run("after 15 minutes", func(t *testing.T) {
		env.Clock.Advance(15*time.Minute + time.Second)
		p := b.post("/settings/security/totp", url.Values{"code": {web.TOTPCode(secret, env.Clock.Now())}, "pending": {f.values.Get("pending")}})
		p.mustContain(t, "That set-up was not finished within 15 minutes", "Nothing was saved")
		notEnrolled(t)
	})

	// A form opened before the app is added cannot replace it afterwards.
	earlier, earlierForm := b.enrolPage(b.get("/settings/security/totp"))
	secret = b.enrolTOTP()
	b.get("/settings/security").mustContain(t, "On", "Remove authenticator app", "You have 10 unused recovery codes")
	u := env.user(env.landlord.ID)
	if len(u.TOTPSecret) == 0 || bytes.Contains(u.TOTPSecret, secret) {
		t.Errorf("stored secret %x: want it sealed", u.TOTPSecret)
	}
	if want := env.Clock.Now().Unix() / 30; u.TOTPLastStep != want {
		t.Errorf("last step %d, want %d: the enrolment code must not work again", u.TOTPLastStep, want)
	}
	if db := sqliteFiles(t); bytes.Contains(db, secret) || bytes.Contains(db, []byte(b32.EncodeToString(secret))) {
		t.Error("the SQLite file holds the secret in clear")
	}

	t.Run("already enrolled", func(t *testing.T) {
		p := b.get("/settings/security/totp")
		if p.url.Path != "/settings/security" {
			t.Errorf("ended on %s", p.url.Path)
		}
		p.mustContain(t, "You already have an authenticator app.")
		earlierForm.values.Set("code", web.TOTPCode(earlier, env.Clock.Now()))
		p = b.post("/settings/security/totp", earlierForm.values)
		p.mustContain(t, "You already have an authenticator app.")
		if got := env.user(env.landlord.ID); !bytes.Equal(got.TOTPSecret, u.TOTPSecret) {
			t.Error("an earlier form replaced the authenticator app")
		}
	})
}

// halfCookie is the half-signed-in cookie the browser would send to the
// code page ("" if none): it is scoped to /signin.
func (b *browser) halfCookie() string {
	b.t.Helper()
	u, _ := url.Parse(b.env.url + "/signin/code")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == codeStepCookieName {
			return c.Value
		}
	}
	return ""
}

// signInPassword posts the password and returns the response, without
// following the redirect.
func (b *browser) signInPassword(email, password string) page {
	b.t.Helper()
	return b.do(b.noFollow, b.postRequest("/signin", url.Values{"email": {email}, "password": {password}}))
}

func (b *browser) postCode(code string) page {
	b.t.Helper()
	return b.post("/signin/code", url.Values{"code": {code}})
}

// noSession fails if the browser holds a session.
func (b *browser) noSession(t *testing.T) {
	t.Helper()
	if b.cookie(sessionCookieName) != "" {
		t.Error("the browser got a session cookie")
	}
}

func TestSigninTOTP(t *testing.T) {
	env := newTestEnv(t)
	setup := env.browser()
	setup.signIn(landlordEmail, landlordPassword)
	secret := setup.enrolTOTP()
	// Each part starts when the last one's guesses are long forgotten
	// (five at once, then one a minute) and its codes are stale.
	rest := func() { env.Clock.Advance(5 * time.Minute) }

	t.Run("code needed", func(t *testing.T) {
		rest()
		b := env.browser()
		p := b.signInPassword(landlordEmail, landlordPassword)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin/code" {
			t.Fatalf("password step: status %d to %q", p.status, p.header.Get("Location"))
		}
		var half *http.Cookie
		for _, c := range (&http.Response{Header: p.header}).Cookies() {
			switch c.Name {
			case sessionCookieName:
				t.Errorf("a session cookie came with the password alone: %+v", c)
			case codeStepCookieName:
				half = c
			}
		}
		if half == nil || !half.HttpOnly || half.SameSite != http.SameSiteStrictMode || half.Path != "/signin" || half.MaxAge != 300 {
			t.Fatalf("half-signed-in cookie %+v: want HttpOnly, SameSite=Strict, Path=/signin, Max-Age=300", half)
		}
		// Nothing is granted before the code.
		if p := b.get("/settings/hmrc"); p.url.Path != "/signin" {
			t.Errorf("settings with the password alone: ended on %s", p.url.Path)
		}
		b.get("/signin/code").mustContain(t, "Enter the code from your authenticator app")

		now := env.Clock.Now()
		p = b.postCode(wrongCode(secret, now))
		if p.status != http.StatusUnauthorized {
			t.Errorf("wrong code: status %d", p.status)
		}
		p.mustContain(t, "That code is wrong.", "You can try 4 more times before you need to sign in again.")
		b.noSession(t)
		p = b.postCode("12345")
		if p.status != http.StatusBadRequest {
			t.Errorf("5 digits: status %d", p.status)
		}
		p.mustContain(t, "Enter the 6-digit code")
		b.noSession(t)

		code := web.TOTPCode(secret, now)
		p = b.postCode(code[:3] + " " + code[3:])
		if p.status != http.StatusOK || p.url.Path != "/settings/hmrc" {
			t.Fatalf("right code: status %d on %s:\n%s", p.status, p.url.Path, p.text())
		}
		sess := b.session()
		if sess == nil || !sess.MFAAt.Equal(now.Truncate(time.Millisecond)) {
			t.Fatalf("session %+v: want MFAAt %v", sess, now)
		}
		if b.halfCookie() != "" {
			t.Error("the half-signed-in cookie outlived the sign-in")
		}

		// The same code, in another browser (seen over a shoulder): refused.
		thief := env.browser()
		thief.signInPassword(landlordEmail, landlordPassword)
		p = thief.postCode(code)
		p.mustContain(t, "That code has already been used.")
		thief.noSession(t)
		// The next code is good.
		env.Clock.Advance(30 * time.Second)
		if p := thief.postCode(web.TOTPCode(secret, env.Clock.Now())); p.url.Path != "/settings/hmrc" || thief.session() == nil {
			t.Errorf("next code: ended on %s", p.url.Path)
		}
	})

	t.Run("five wrong codes", func(t *testing.T) {
		rest()
		b := env.browser()
		b.signInPassword(landlordEmail, landlordPassword)
		first := b.halfCookie()
		if first == "" {
			t.Fatal("no half-signed-in cookie after the password")
		}
		now := env.Clock.Now()
		for i, left := range []string{"4 more times", "3 more times", "2 more times", "once more"} {
			p := b.postCode(wrongCode(secret, now))
			if p.status != http.StatusUnauthorized {
				t.Errorf("wrong code %d: status %d", i+1, p.status)
			}
			p.mustContain(t, "You can try "+left)
		}
		p := b.postCode(wrongCode(secret, now))
		if p.url.Path != "/signin" {
			t.Fatalf("fifth wrong code: ended on %s", p.url.Path)
		}
		p.mustContain(t, "You entered 5 wrong codes, so this sign-in was stopped. Sign in again with your email and password")
		if b.halfCookie() != "" {
			t.Error("the half sign-in was kept")
		}
		p = b.postCode(web.TOTPCode(secret, now))
		if p.url.Path != "/signin" {
			t.Errorf("code after the drop: ended on %s", p.url.Path)
		}
		b.noSession(t)

		// Sending the first cookie again does not buy more guesses: they
		// are counted on the server.
		srv, _ := url.Parse(env.url)
		b.client.Jar.SetCookies(srv, []*http.Cookie{{Name: codeStepCookieName, Value: first, Path: "/signin"}})
		p = b.postCode(web.TOTPCode(secret, now))
		if p.status != http.StatusTooManyRequests {
			t.Errorf("replayed half sign-in: status %d", p.status)
		}
		p.mustContain(t, "You have tried too many codes. Try again in 60 seconds.")
		b.noSession(t)

		// A minute later the landlord signs in.
		env.Clock.Advance(time.Minute)
		b2 := env.browser()
		b2.signInPassword(landlordEmail, landlordPassword)
		if p := b2.postCode(web.TOTPCode(secret, env.Clock.Now())); p.url.Path != "/settings/hmrc" {
			t.Errorf("a minute later: ended on %s:\n%s", p.url.Path, p.text())
		}
	})

	t.Run("after 5 minutes", func(t *testing.T) {
		rest()
		b := env.browser()
		b.signInPassword(landlordEmail, landlordPassword)
		env.Clock.Advance(5*time.Minute + time.Second)
		p := b.postCode(web.TOTPCode(secret, env.Clock.Now()))
		if p.url.Path != "/signin" {
			t.Errorf("ended on %s", p.url.Path)
		}
		p.mustContain(t, "took longer than 5 minutes", "Sign in again with your email and password.")
		b.noSession(t)
	})

	t.Run("forged half sign-in", func(t *testing.T) {
		rest()
		b := env.browser()
		srv, _ := url.Parse(env.url)
		forged := base64.RawURLEncoding.EncodeToString([]byte(`{"u":1,"e":99999999999,"f":0}`))
		b.client.Jar.SetCookies(srv, []*http.Cookie{{Name: codeStepCookieName, Value: forged, Path: "/signin"}})
		if p := b.get("/signin/code"); p.url.Path != "/signin" {
			t.Errorf("forged cookie: code page shown on %s", p.url.Path)
		}
		if p := b.postCode(web.TOTPCode(secret, env.Clock.Now())); p.url.Path != "/signin" {
			t.Errorf("forged cookie: code accepted, ended on %s", p.url.Path)
		}
		b.noSession(t)
	})

	t.Run("landlord without an app", func(t *testing.T) {
		b := env.browser()
		p := b.signIn(otherEmail, otherPassword)
		if p.url.Path != "/settings/hmrc" {
			t.Fatalf("ended on %s", p.url.Path)
		}
		if b.halfCookie() != "" {
			t.Error("a half-signed-in cookie for a landlord without an app")
		}
		if sess := b.session(); sess == nil || !sess.MFAAt.IsZero() {
			t.Errorf("session %+v: want one without MFAAt", sess)
		}
		b.get("/settings/security").mustContain(t, "Off")
	})

	t.Run("server without a sealer", func(t *testing.T) {
		// The landlord's app cannot be checked there: the password alone
		// must not sign in.
		cfg := env.config()
		cfg.Sealer, cfg.PublicURL = nil, "http://127.0.0.1"
		srv, err := web.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		plain := *env
		plain.url = ts.URL
		b := plain.browser()
		p := b.signInPassword(landlordEmail, landlordPassword)
		if p.status != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", p.status)
		}
		p.mustContain(t, "this server is not set up to check it", "You are not signed in")
		b.noSession(t)
		if b.halfCookie() != "" {
			t.Error("a half-signed-in cookie without a sealer")
		}
		ob := plain.browser()
		ob.signIn(otherEmail, otherPassword)
		ob.get("/settings/security").mustContain(t, "Authenticator apps are not available on this server.")
		env.secrets = append(env.secrets, plain.secrets...)
	})
}

func TestSecurityTOTPRemove(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	secret := b.enrolTOTP()
	enrolCode := web.TOTPCode(secret, env.Clock.Now())
	enrolled := env.user(env.landlord.ID)

	p := b.get("/settings/security")
	p.mustContain(t, "On", "Remove authenticator app")
	p.findForm(t, "/settings/security/totp/remove")
	for _, tt := range []struct {
		name   string
		code   string
		status int
		says   string
	}{
		{"wrong code", wrongCode(secret, env.Clock.Now()), http.StatusBadRequest, "That code is wrong."},
		{"no code", "", http.StatusBadRequest, "Enter the 6-digit code"},
		{"the code already used", enrolCode, http.StatusBadRequest, "That code has already been used."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/settings/security/totp/remove", url.Values{"code": {tt.code}})
			if p.status != tt.status {
				t.Errorf("status %d, want %d", p.status, tt.status)
			}
			p.mustContain(t, tt.says, "Your authenticator app was not removed.", "On")
			if u := env.user(env.landlord.ID); !bytes.Equal(u.TOTPSecret, enrolled.TOTPSecret) || u.TOTPLastStep != enrolled.TOTPLastStep {
				t.Error("the user changed")
			}
		})
	}

	t.Run("from another site", func(t *testing.T) {
		env.Clock.Advance(30 * time.Second)
		req := b.postRequest("/settings/security/totp/remove", url.Values{"code": {web.TOTPCode(secret, env.Clock.Now())}})
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if p := b.do(b.client, req); p.status != http.StatusForbidden {
			t.Errorf("status %d, want 403", p.status)
		}
		if u := env.user(env.landlord.ID); !bytes.Equal(u.TOTPSecret, enrolled.TOTPSecret) {
			t.Error("removed from another site")
		}
	})

	env.Clock.Advance(30 * time.Second)
	p = b.post("/settings/security/totp/remove", url.Values{"code": {web.TOTPCode(secret, env.Clock.Now())}})
	if p.url.Path != "/settings/security" {
		t.Fatalf("ended on %s (status %d)", p.url.Path, p.status)
	}
	p.mustContain(t, "Your authenticator app is removed.", "Off")
	if u := env.user(env.landlord.ID); len(u.TOTPSecret) != 0 || u.TOTPLastStep != 0 {
		t.Errorf("after removal: %d-byte secret, last step %d", len(u.TOTPSecret), u.TOTPLastStep)
	}
	p = b.post("/settings/security/totp/remove", url.Values{"code": {web.TOTPCode(secret, env.Clock.Now())}})
	p.mustContain(t, "You have no authenticator app to remove.")

	// The password alone signs in again.
	b.post("/signout", url.Values{})
	nb := env.browser()
	if p := nb.signIn(landlordEmail, landlordPassword); p.url.Path != "/settings/hmrc" {
		t.Errorf("sign-in after removal ended on %s", p.url.Path)
	}
}
