package web_test

import (
	"bytes"
	"html"
	"image"
	"image/color"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	qr "github.com/piglig/go-qr"

	"github.com/mtdconnect/mtdconnect/web"
)

var qrModuleRE = regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`)

// decodeQR reads the inline SVG QR code of an enrolment page back into the
// text it carries, as a phone's camera would.
func decodeQR(t *testing.T, body string) string {
	t.Helper()
	svg := regexp.MustCompile(`(?s)<svg[^>]*id="totp-qr".*?</svg>`).FindString(body)
	if svg == "" {
		t.Fatalf("no QR code on the page:\n%s", body)
	}
	const scale = 6
	n := 0
	mods := qrModuleRE.FindAllStringSubmatch(svg, -1)
	for _, m := range mods {
		x, _ := strconv.Atoi(m[1])
		n = max(n, x+5)
	}
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, m := range mods {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		for dy := range scale {
			for dx := range scale {
				img.SetGray(x*scale+dx, y*scale+dy, color.Gray{})
			}
		}
	}
	text, err := qr.Decode(img)
	if err != nil {
		t.Fatalf("the QR code does not decode: %v", err)
	}
	return text
}

// TestRecoveryCodes: the enrolment page shows a QR code of the app's
// otpauth URI, drawn in the page; adding the app gives 10 recovery codes,
// shown once and stored hashed; each signs in once at the code step; wrong
// ones count for the sign-in throttle like wrong app codes; new ones are
// made from the security page with a code from the app, and the old ones
// stop working.
func TestRecoveryCodes(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)

	p := b.get("/settings/security/totp")
	secret, _ := b.enrolPage(p)
	if got, want := decodeQR(t, p.body), web.TOTPURI(landlordEmail, secret); got != want {
		t.Errorf("the QR code carries %q, want %q", got, want)
	}
	if strings.Contains(p.body, "<img") || strings.Contains(p.body, `src="http`) {
		t.Error("the enrolment page loads an image: the QR code must be drawn in the page")
	}
	if !strings.Contains(html.UnescapeString(p.body), `aria-label="QR code to add mtdconnect to your authenticator app"`) {
		t.Error("the QR code has no text alternative")
	}

	secret, codes := b.enrolTOTPWithCodes()
	if db := sqliteFiles(t); bytes.Contains(db, []byte(codes[0])) || bytes.Contains(db, []byte(strings.ReplaceAll(codes[0], "-", ""))) {
		t.Error("the SQLite file holds a recovery code in clear")
	}
	b.get("/settings/security").mustContain(t, "You have 10 unused recovery codes")
	b.signOut()

	// A recovery code signs in once, typed any way.
	env.Clock.Advance(31 * time.Second)
	b.signInPassword(landlordEmail, landlordPassword)
	p = b.postCode(" " + strings.ToLower(strings.ReplaceAll(codes[3], "-", " ")) + " ")
	if p.url.Path != "/settings/hmrc" {
		t.Fatalf("sign-in with a recovery code ended on %s (status %d):\n%s", p.url.Path, p.status, p.text())
	}
	p.mustContain(t, "You signed in with a recovery code", "You have 9 recovery codes left")
	b.signOut()
	b.signInPassword(landlordEmail, landlordPassword)
	p = b.postCode(codes[3])
	if p.status != http.StatusUnauthorized {
		t.Fatalf("a used recovery code: status %d", p.status)
	}
	p.mustContain(t, "That recovery code is wrong, or was used already")
	b.noSession(t)

	// Wrong recovery codes count as wrong app codes do: an attacker with the
	// password is held back.
	attacker := env.browserFrom("192.0.2.77")
	throttled := false
	for i := range 40 {
		if attacker.halfCookie() == "" {
			attacker.signInPassword(landlordEmail, landlordPassword)
		}
		if p := attacker.postCode("AAAA-BBBB-CCCC-DD" + string(rune('A'+i%20)) + "Q"); p.status == http.StatusTooManyRequests {
			throttled = true
			p.mustContain(t, "You have tried too many codes")
			break
		}
	}
	if !throttled {
		t.Error("40 wrong recovery codes from one place were never throttled")
	}
	attacker.noSession(t)

	// New codes from the security page need a code from the app.
	b.signIn(landlordEmail, landlordPassword)
	env.Clock.Advance(31 * time.Second)
	b.postCode(web.TOTPCode(secret, env.Clock.Now()))
	f := b.get("/settings/security").findForm(t, "/settings/security/recovery-codes")
	f.values.Set("code", wrongCode(secret, env.Clock.Now()))
	p = b.post("/settings/security/recovery-codes", f.values)
	if p.status != http.StatusBadRequest {
		t.Fatalf("new codes with a wrong app code: status %d", p.status)
	}
	p.mustContain(t, "That code is wrong", "No new recovery codes were made")
	env.Clock.Advance(31 * time.Second)
	f.values.Set("code", web.TOTPCode(secret, env.Clock.Now()))
	p = b.post("/settings/security/recovery-codes", f.values)
	if p.status != http.StatusOK {
		t.Fatalf("new codes: status %d:\n%s", p.status, p.text())
	}
	p.mustContain(t, "Your recovery codes", "Your earlier recovery codes no longer work")
	fresh := b.recoveryCodes(p)
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the codes page may be cached: Cache-Control %q", cc)
	}
	b.get("/settings/security").mustContain(t, "You have 10 unused recovery codes")
	b.signOut()
	b.signInPassword(landlordEmail, landlordPassword)
	if p := b.postCode(codes[0]); p.status != http.StatusUnauthorized {
		t.Errorf("an old recovery code after new ones were made: status %d", p.status)
	}
	if p := b.postCode(fresh[9]); p.url.Path != "/settings/hmrc" {
		t.Errorf("a new recovery code: ended on %s (status %d)", p.url.Path, p.status)
	}
}
