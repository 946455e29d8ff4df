package web

import (
	"bytes"
	"encoding/base32"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/seal"
)

// TestTOTPRFC6238 checks the SHA1 test vectors of RFC 6238 Appendix B
// (8 digits there; the secret is the ASCII string "12345678901234567890").
func TestTOTPRFC6238(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tt := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		if got := totpCode(secret, totpStep(time.Unix(tt.unix, 0)), 8); got != tt.want {
			t.Errorf("T=%d: code %s, want %s", tt.unix, got, tt.want)
		}
	}
	// The 6-digit code apps show is the same truncation, 6 digits wide
	// (RFC 4226 Appendix D: HOTP of counter 1 is 287082).
	if got := TOTPCode(secret, time.Unix(59, 0)); got != "287082" {
		t.Errorf("6-digit code at T=59: %s, want 287082", got)
	}
}

func TestTOTPCheck(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0) // step 37037037
	step := totpStep(now)
	code := func(d int64) string { return totpCode(secret, step+d, 6) }
	wrong := code(0)
	wrong = string(rune('0'+(wrong[0]-'0'+1)%10)) + wrong[1:]
	for _, tt := range []struct {
		name     string
		input    string
		last     int64
		wantStep int64
		wantErr  error
	}{
		{"current step", code(0), 0, step, nil},
		{"as the app shows it, with a space", code(0)[:3] + " " + code(0)[3:], 0, step, nil},
		{"surrounding spaces and a dash", "  " + code(0)[:3] + "-" + code(0)[3:] + " ", 0, step, nil},
		{"phone clock 30 s behind", code(-1), 0, step - 1, nil},
		{"phone clock 30 s ahead", code(1), 0, step + 1, nil},
		{"60 s behind: too far", code(-2), 0, 0, errTOTPWrong},
		{"60 s ahead: too far", code(2), 0, 0, errTOTPWrong},
		{"one digit wrong", wrong, 0, 0, errTOTPWrong},
		{"replayed: step already used", code(0), step, 0, errTOTPReused},
		{"replayed: older than the last used", code(-1), step, 0, errTOTPReused},
		{"next step after the last used", code(1), step, step + 1, nil},
		{"empty", "", 0, 0, errTOTPFormat},
		{"five digits", code(0)[:5], 0, 0, errTOTPFormat},
		{"seven digits", code(0) + "1", 0, 0, errTOTPFormat},
		{"letters", "12a456", 0, 0, errTOTPFormat},
		{"full-width digits", "１２３４５６", 0, 0, errTOTPFormat},
		{"8-digit code of the vectors", "14050471", 0, 0, errTOTPFormat},
		{"very long", strings.Repeat(" ", 40) + code(0), 0, 0, errTOTPFormat},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkTOTP(secret, tt.input, now, tt.last)
			if !errors.Is(err, tt.wantErr) || got != tt.wantStep {
				t.Errorf("checkTOTP(%q, last %d) = %d, %v; want %d, %v", tt.input, tt.last, got, err, tt.wantStep, tt.wantErr)
			}
		})
	}
	// Another secret's code is wrong.
	if _, err := checkTOTP([]byte("another secret, 20 b"), code(0), now, 0); !errors.Is(err, errTOTPWrong) {
		t.Errorf("other secret's code: %v", err)
	}
}

func TestTOTPKeyAndURI(t *testing.T) {
	secret := NewTOTPSecret()
	if len(secret) != 20 || bytes.Equal(secret, NewTOTPSecret()) {
		t.Fatalf("secret %x: want 20 random bytes", secret)
	}
	key := TOTPKey(secret)
	groups := strings.Split(key, " ")
	if len(groups) != 8 {
		t.Errorf("key %q: want 8 groups of 4", key)
	}
	for _, g := range groups {
		if len(g) != 4 {
			t.Errorf("key %q: group %q", key, g)
		}
	}
	back, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(key, " ", ""))
	if err != nil || !bytes.Equal(back, secret) {
		t.Errorf("key %q decodes to %x, %v; want %x", key, back, err, secret)
	}

	uri := TOTPURI("jo+lettings@example.com", secret)
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/mtdconnect:jo+lettings@example.com" {
		t.Errorf("URI %s: scheme %q host %q label %q", uri, u.Scheme, u.Host, u.Path)
	}
	if q.Get("secret") != strings.ReplaceAll(key, " ", "") || q.Get("issuer") != "mtdconnect" ||
		q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Errorf("URI %s: query %v", uri, q)
	}
}

func TestTOTPSealAndReference(t *testing.T) {
	kh, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	secret := NewTOTPSecret()
	sealed, err := SealTOTPSecret(s, 7, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed secret contains the secret")
	}
	if got, err := s.Open(sealed, seal.AD("user", "7", "totp")); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("open with the user's AD: %x, %v", got, err)
	}
	if _, err := openTOTPSecret(s, 8, sealed); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("another user's row opened it: %v", err)
	}

	ref := totpReference(7, secret)
	if len(ref) != 64 || strings.Contains(ref, TOTPKey(secret)) {
		t.Errorf("reference %q: want 64 hex digits", ref)
	}
	if totpReference(7, secret) != ref {
		t.Error("reference is not stable")
	}
	if totpReference(8, secret) == ref || totpReference(7, NewTOTPSecret()) == ref {
		t.Error("reference does not change with the user or the secret")
	}
}
