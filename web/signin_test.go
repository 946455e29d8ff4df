package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Wrong passwords are bounded per account and source, across instances
// (the count is in the store); from that source, the right password waits
// too, then works.
func TestSigninThrottled(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	wrong := url.Values{"email": {landlordEmail}, "password": {"not-the-password"}}
	for i := range 10 {
		if p := b.post("/signin", wrong); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, p.status)
		}
	}
	p := b.post("/signin", url.Values{"email": {landlordEmail}, "password": {landlordPassword}})
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("11th attempt: status %d, want 429", p.status)
	}
	p.mustContain(t, "Too many wrong passwords for this account from here. Try again in 30 seconds.")
	if got := p.header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After %q, want 30", got)
	}
	if b.cookie("mtdconnect_session") != "" {
		t.Fatal("a session was opened past the limit")
	}
	// Another account is not affected.
	other := env.createUser("neighbour@example.com", "other-password-1")
	if p := env.browser().post("/signin", url.Values{"email": {other.Email}, "password": {"other-password-1"}}); p.status != http.StatusOK {
		t.Errorf("another account: status %d", p.status)
	}
	// 30 seconds later, one more attempt is allowed.
	env.Clock.Advance(30 * time.Second)
	b.signIn(landlordEmail, landlordPassword).mustContain(t, "HMRC connection")
}
