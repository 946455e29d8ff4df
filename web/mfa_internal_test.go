package web

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// TestMFAHeader: a session opened with an authenticator code gives a
// Gov-Client-Multi-Factor that HMRC's validator (the simulator's copy)
// takes without remark, and the whole set of headers is VALID_HEADERS.
func TestMFAHeader(t *testing.T) {
	s, u := originServer(t, defaultOriginConfig())
	sealer := s.sealer
	secret := NewTOTPSecret()
	var err error
	u.TOTPSecret, err = SealTOTPSecret(sealer, u.ID, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.SetTOTP(t.Context(), u.ID, u.TOTPSecret, 0); err != nil {
		t.Fatal(err)
	}
	mfaAt := time.Date(2026, 5, 1, 9, 30, 15, 0, time.UTC)
	session := func(token string, userID int64, mfa time.Time) *http.Cookie {
		t.Helper()
		if err := s.store.CreateSession(t.Context(), &mtdconnect.Session{
			TokenHash: hashSessionToken(token), UserID: userID, MFAAt: mfa, CreatedAt: mfaAt, ExpiresAt: mfaAt.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: sessionCookie, Value: token}
	}
	withTOTP := session("session-with-totp", u.ID, mfaAt)
	request := func(c *http.Cookie) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/quarterly", nil)
		r.RemoteAddr = "10.0.0.5:40000"
		r.Header.Set("X-Forwarded-For", "198.51.100.7:51234")
		r.AddCookie(fphCookie(deviceJSON))
		if c != nil {
			r.AddCookie(c)
		}
		return r
	}

	got, err := s.secondFactors(request(withTOTP), u)
	if err != nil {
		t.Fatal(err)
	}
	want := []fraud.MultiFactor{{Type: "TOTP", At: mfaAt, UniqueReference: totpReference(u.ID, secret)}}
	if !slices.Equal(got, want) {
		t.Fatalf("factors %+v, want %+v", got, want)
	}
	// The same factor, sealed again (a new ciphertext), has the same
	// reference: it names the app, not its ciphertext.
	resealed := *u
	if resealed.TOTPSecret, err = SealTOTPSecret(sealer, u.ID, secret); err != nil {
		t.Fatal(err)
	}
	if again, err := s.secondFactors(request(withTOTP), &resealed); err != nil || !slices.Equal(again, want) {
		t.Errorf("after resealing: %+v, %v", again, err)
	}

	// In the origin of a browser call (origin.go asks secondFactors), the
	// header is valid and the simulator has nothing to say about it.
	origin, _, err := originOf(s, u, request(withTOTP))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(origin.MultiFactor, want) || slices.Contains(origin.MissingData, "Gov-Client-Multi-Factor") {
		t.Errorf("origin: multi-factor %+v, missing %v", origin.MultiFactor, origin.MissingData)
	}
	h, err := origin.Headers()
	if err != nil {
		t.Fatal(err)
	}
	if v := h.Get("Gov-Client-Multi-Factor"); v != "type=TOTP&timestamp=2026-05-01T09%3A30%3A15.000Z&unique-reference="+want[0].UniqueReference {
		t.Errorf("Gov-Client-Multi-Factor %q", v)
	}
	res := hmrcsim.ValidateFraudHeaders(h)
	for _, issue := range append(res.Errors, res.Warnings...) {
		if slices.Contains(issue.Headers, "gov-client-multi-factor") {
			t.Errorf("validator on the multi-factor header: %+v", issue)
		}
	}
	if res.Code != hmrcsim.FraudValid {
		t.Errorf("verdict %s: %+v %+v", res.Code, res.Errors, res.Warnings)
	}

	// No second factor to report.
	other := &mtdconnect.User{Email: "other@example.com", PasswordHash: "x"}
	if err := s.store.CreateUser(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	noTOTP := *u
	noTOTP.TOTPSecret = nil
	for _, tt := range []struct {
		name string
		c    *http.Cookie
		u    *mtdconnect.User
	}{
		{"no session cookie", nil, u},
		{"unknown session", &http.Cookie{Name: sessionCookie, Value: "no-such-session"}, u},
		{"session signed in with the password only", session("session-password-only", u.ID, time.Time{}), u},
		{"another user's session", withTOTP, other},
		{"authenticator app removed since", withTOTP, &noTOTP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := s.secondFactors(request(tt.c), tt.u); err != nil || got != nil {
				t.Errorf("factors %+v, %v; want none", got, err)
			}
		})
	}

	// A secret that does not open (another key, another row) is an error,
	// never a made-up reference.
	moved := *u
	moved.ID = other.ID
	if _, err := s.secondFactors(request(session("session-of-other", other.ID, mfaAt)), &moved); err == nil {
		t.Error("a secret sealed for another user's row was used")
	}
}
