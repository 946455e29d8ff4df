package web_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/web"
)

// fromTransport is a load balancer that says the browser connected from
// ip.
type fromTransport struct{ ip string }

func (t fromTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Forwarded", fmt.Sprintf(`for="%s:40000";by=%s;proto=https`, t.ip, testVendorIP))
	return http.DefaultTransport.RoundTrip(r)
}

// browserFrom is a fresh browser connecting from ip.
func (env *testEnv) browserFrom(ip string) *browser {
	b := env.browser()
	jar, err := cookiejar.New(nil)
	if err != nil {
		env.t.Fatal(err)
	}
	seedDeviceCookie(env.t, jar, env.url)
	b.client = &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: fromTransport{ip}}
	b.noFollow = &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: fromTransport{ip},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

func (b *browser) signOut() {
	b.t.Helper()
	p := b.get("/settings/hmrc")
	b.post("/signout", p.findForm(b.t, "/signout").values)
}

// TestSigninAttackerCannotLockTheOwnerOut: someone who knows a landlord's
// email and keeps guessing (a wrong password every 2 s, for hours) is held
// to a few guesses a minute, but the landlord's own browser, which signed
// in before, signs in every time; so does the landlord from another place,
// until guesses from many places add up. The landlord's own sign-ins
// are not counted against them.
func TestSigninAttackerCannotLockTheOwnerOut(t *testing.T) {
	env := newTestEnv(t)
	owner := env.browser()
	owner.signIn(landlordEmail, landlordPassword).mustContain(t, "HMRC connection")
	owner.signOut()

	attacker := env.browserFrom("192.0.2.66")
	wrong := url.Values{"email": {landlordEmail}, "password": {"not-the-password"}}
	refused := 0
	for i := range 300 { // 10 minutes of a guess every 2 s
		p := attacker.post("/signin", wrong)
		switch p.status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			refused++
			if n, err := strconv.Atoi(p.header.Get("Retry-After")); err != nil || n < 1 {
				t.Fatalf("attempt %d refused without a Retry-After: %q", i, p.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("attempt %d: status %d", i, p.status)
		}
		env.Clock.Advance(2 * time.Second)
		if i%30 == 29 {
			// The owner signs in, in the middle of it.
			if p := owner.signIn(landlordEmail, landlordPassword); p.url.Path != "/settings/hmrc" {
				t.Fatalf("after %d guesses by someone else, the owner's sign-in ended on %s (status %d):\n%s", i+1, p.url.Path, p.status, p.text())
			}
			owner.signOut()
		}
	}
	if refused < 250 {
		t.Errorf("the attacker's guesses were refused %d times of 300; want most of them", refused)
	}
	// The landlord on a borrowed laptop elsewhere signs in too.
	if p := env.browserFrom("198.51.100.200").signIn(landlordEmail, landlordPassword); p.url.Path != "/settings/hmrc" {
		t.Errorf("the owner from another place: ended on %s (status %d)", p.url.Path, p.status)
	}

	// The owner's own sign-ins are never held back.
	for i := range 30 {
		if p := owner.signIn(landlordEmail, landlordPassword); p.url.Path != "/settings/hmrc" {
			t.Fatalf("the owner's sign-in %d in a row: ended on %s (status %d)", i+1, p.url.Path, p.status)
		}
		owner.signOut()
	}

	// Guesses from many places at once are bounded for the account as a
	// whole; the owner's browser still signs in.
	for i := range 60 {
		b := env.browserFrom(fmt.Sprintf("203.0.%d.%d", 113+i/250, i%250+1))
		for range 3 {
			b.post("/signin", wrong)
		}
	}
	if p := env.browserFrom("198.51.100.201").post("/signin", wrong); p.status != http.StatusTooManyRequests {
		t.Errorf("after 180 guesses from 60 places, another place's guess: status %d, want 429", p.status)
	}
	if p := owner.signIn(landlordEmail, landlordPassword); p.url.Path != "/settings/hmrc" {
		t.Errorf("the owner's browser after guesses from 60 places: ended on %s (status %d)", p.url.Path, p.status)
	}
}

// TestSigninCodeAttackerCannotLockTheOwnerOut: someone with the password
// guessing authenticator codes is held back, and the landlord's browser
// still gets through the code step.
func TestSigninCodeAttackerCannotLockTheOwnerOut(t *testing.T) {
	env := newTestEnv(t)
	owner := env.browser()
	owner.signIn(landlordEmail, landlordPassword)
	secret := owner.enrolTOTP()
	owner.signOut()
	// The owner's browser signs in with a code once.
	env.Clock.Advance(31 * time.Second)
	owner.signInPassword(landlordEmail, landlordPassword)
	if p := owner.postCode(web.TOTPCode(secret, env.Clock.Now())); p.url.Path != "/settings/hmrc" {
		t.Fatalf("sign-in with a code ended on %s", p.url.Path)
	}
	owner.signOut()

	attacker := env.browserFrom("192.0.2.66")
	refused, ownerTries := 0, 0
	for i := range 300 { // 10 minutes of a guess every 2 s
		if attacker.halfCookie() == "" {
			attacker.signInPassword(landlordEmail, landlordPassword)
		}
		p := attacker.postCode(wrongCode(secret, env.Clock.Now()))
		env.Clock.Advance(2 * time.Second)
		if p.status == http.StatusTooManyRequests {
			refused++
			continue
		}
		if i < 10 {
			continue
		}
		// A guess got through: the owner signs in right after it, when
		// the guesses have used up what a minute allows.
		ownerTries++
		owner.signInPassword(landlordEmail, landlordPassword)
		if p := owner.postCode(web.TOTPCode(secret, env.Clock.Now())); p.url.Path != "/settings/hmrc" || owner.session() == nil {
			t.Fatalf("after %d code guesses by someone else, the owner's code: ended on %s (status %d):\n%s", i+1, p.url.Path, p.status, p.text())
		}
		owner.signOut()
		env.Clock.Advance(30 * time.Second) // a code is good once
	}
	if refused < 250 || ownerTries < 3 {
		t.Errorf("the attacker's code guesses were refused %d times of 300, and let the owner try %d times; want most refused, and 3 tries", refused, ownerTries)
	}
}

// TestSigninConcurrencyBounded: password hashing takes 19 MiB each, so only
// a few run at once; a sign-in beyond what waits briefly is answered 503
// with Retry-After, never a 500, and the others are answered as usual.
func TestSigninConcurrencyBounded(t *testing.T) {
	env := newTestEnv(t, withWeb(func(c *web.Config) { c.MaxPasswordChecks = 1 }))
	// One at a time, a check of 20-50 ms: more than the 2 s a sign-in
	// waits for its turn, and not so many that a loaded test machine
	// cannot answer them all within the client's timeout.
	const n = 150
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[int]int{}
	)
	for i := range n {
		wg.Go(func() {
			b := env.browserFrom(fmt.Sprintf("203.0.%d.%d", 113+i/250, i%250+1))
			p := b.post("/signin", url.Values{"email": {fmt.Sprintf("nobody%d@example.com", i)}, "password": {"a guess"}})
			mu.Lock()
			defer mu.Unlock()
			counts[p.status]++
			if p.status == http.StatusServiceUnavailable {
				if n, err := strconv.Atoi(p.header.Get("Retry-After")); err != nil || n < 1 {
					t.Errorf("503 without a Retry-After: %q", p.header.Get("Retry-After"))
				}
				p.mustContain(t, "Too many people are signing in")
			}
		})
	}
	wg.Wait()
	if counts[http.StatusServiceUnavailable] == 0 || counts[http.StatusUnauthorized] == 0 || counts[http.StatusServiceUnavailable]+counts[http.StatusUnauthorized] != n {
		t.Errorf("%d concurrent sign-ins answered %v; want 401s and some 503s, nothing else", n, counts)
	}
}

// TestSigninStoresBoundedRows: sign-in input is bounded before anything is
// counted or stored, and what wrong guesses write is small, bounded per
// source and gone once it has expired: the tables stay as small as what is
// live, whatever is sent.
func TestSigninStoresBoundedRows(t *testing.T) {
	env := newTestEnv(t)
	db, err := sql.Open("sqlite", env.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func() (n, bytes int) {
		t.Helper()
		if err := db.QueryRow(`SELECT count(*), coalesce(sum(length(name)), 0) FROM rate_slots`).Scan(&n, &bytes); err != nil {
			t.Fatal(err)
		}
		return n, bytes
	}
	attacker := env.browserFrom("192.0.2.66")
	long := strings.Repeat("a", 60000) + "@example.com"
	for i := range 300 {
		p := attacker.post("/signin", url.Values{"email": {long}, "password": {"a guess"}})
		if p.status != http.StatusBadRequest {
			t.Fatalf("sign-in %d with a 60,000-character email: status %d, want 400", i, p.status)
		}
	}
	p := attacker.post("/signin", url.Values{"email": {landlordEmail}, "password": {strings.Repeat("p", 2000)}})
	if p.status != http.StatusBadRequest {
		t.Errorf("a 2,000-character password: status %d, want 400", p.status)
	}
	p.mustContain(t, "Enter an email address of at most 254 characters")
	if n, _ := rows(); n != 0 {
		t.Fatalf("refused sign-ins wrote %d rows", n)
	}

	// 300 wrong guesses at different accounts from one address: each
	// counted guess writes a few small rows, the address's own bucket
	// stops the spray, and the sweep deletes them all once they expire.
	for i := range 300 {
		attacker.post("/signin", url.Values{"email": {fmt.Sprintf("user%d@example.com", i)}, "password": {"a guess"}})
	}
	n, size := rows()
	if n == 0 || n > 250 || size > 250*64 {
		t.Errorf("300 guesses left %d rows (%d bytes of keys); want a bounded few", n, size)
	}
	env.Clock.Advance(time.Hour)
	if _, err := env.Store.DeleteExpired(t.Context(), env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _ := rows(); n != 0 {
		t.Errorf("after they expired and the sweep ran, %d rows are left", n)
	}
}
