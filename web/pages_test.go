package web_test

import (
	"encoding/base32"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/web"
)

// TestSigninNext: a landlord sent to sign in lands on the page they asked
// for, and sign-in never sends anyone to another site.
func TestSigninNext(t *testing.T) {
	env := newTestEnv(t)

	t.Run("AskedFor", func(t *testing.T) {
		b := env.browser()
		p := b.get("/vat?x=1")
		if p.url.Path != "/signin" || p.url.Query().Get("next") != "/vat?x=1" {
			t.Fatalf("/vat without a session ended on %s", p.url)
		}
		f := p.findForm(t, "/signin")
		if f.values.Get("next") != "/vat?x=1" {
			t.Fatalf("the sign-in form carries next %q", f.values.Get("next"))
		}
		f.values.Set("email", landlordEmail)
		f.values.Set("password", landlordPassword)
		p = b.post("/signin", f.values)
		if p.status != http.StatusOK || p.url.RequestURI() != "/vat?x=1" {
			t.Errorf("sign-in ended on %s (status %d), want /vat?x=1", p.url, p.status)
		}
		// Signed in already: /signin?next= goes straight on.
		if p := b.get("/signin?next=" + url.QueryEscape("/tax-year")); !strings.HasPrefix(p.url.Path, "/tax-year") {
			t.Errorf("signed in, /signin?next=/tax-year ended on %s", p.url)
		}
	})

	t.Run("WrongPasswordKeepsNext", func(t *testing.T) {
		b := env.browser()
		p := b.post("/signin", url.Values{"email": {landlordEmail}, "password": {"wrong"}, "next": {"/quarterly"}})
		f := p.findForm(t, "/signin")
		if f.values.Get("next") != "/quarterly" {
			t.Fatalf("after a wrong password the form carries next %q", f.values.Get("next"))
		}
		f.values.Set("password", landlordPassword)
		if p := b.post("/signin", f.values); p.url.Path != "/quarterly" {
			t.Errorf("sign-in ended on %s, want /quarterly", p.url)
		}
	})

	t.Run("AfterTheCode", func(t *testing.T) {
		b := env.browser()
		b.signIn(otherEmail, otherPassword)
		p := b.get("/settings/security/totp")
		m := regexp.MustCompile(`<code id="totp-key">([A-Z2-7 ]+)</code>`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no key on the enrolment page:\n%s", p.text())
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		f := p.findForm(t, "/settings/security/totp")
		f.values.Set("code", web.TOTPCode(secret, env.Clock.Now()))
		b.post("/settings/security/totp", f.values)
		b.post("/signout", url.Values{})

		f = b.get("/tax-year").findForm(t, "/signin")
		f.values.Set("email", otherEmail)
		f.values.Set("password", otherPassword)
		code := b.post("/signin", f.values).findForm(t, "/signin/code")
		env.Clock.Advance(31 * time.Second) // a code is good once
		code.values.Set("code", web.TOTPCode(secret, env.Clock.Now()))
		if p := b.post("/signin/code", code.values); !strings.HasPrefix(p.url.Path, "/tax-year") {
			t.Errorf("sign-in with a code ended on %s (status %d), want /tax-year", p.url, p.status)
		}
	})

	for _, next := range []string{
		"//evil.example", "https://evil.example", "https://evil.example/settings", "/\\evil.example",
		"//evil.example/%2e%2e", "http:/evil.example", "javascript:alert(1)", "evil.example", " /vat",
		"/signout", "/signin?next=//evil.example",
	} {
		t.Run("Refused/"+next, func(t *testing.T) {
			b := env.browser()
			p := b.get("/signin?next=" + url.QueryEscape(next))
			if strings.Contains(p.body, `name="next"`) {
				t.Errorf("the sign-in form carries next=%q", next)
			}
			resp := b.do(b.noFollow, b.postRequest("/signin", url.Values{"email": {landlordEmail}, "password": {landlordPassword}, "next": {next}}))
			if loc := resp.header.Get("Location"); resp.status != http.StatusSeeOther || loc != "/settings/hmrc" {
				t.Errorf("next=%q: status %d, Location %q, want 303 to /settings/hmrc", next, resp.status, loc)
			}
		})
	}
}

// TestNotFoundPage: an unknown address gets the site's own page, with the
// menu for a signed-in landlord, not Go's plain text; the favicon is there.
func TestNotFoundPage(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	for _, path := range []string{"/no-such-page", "/static/no-such.css", "/settings/hmrc/nope"} {
		p := b.get(path)
		if p.status != http.StatusNotFound || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: status %d, %s, want 404 HTML", path, p.status, p.header.Get("Content-Type"))
		}
		p.mustContain(t, "Page not found", "check it is correct", "Go to mtdconnect's home page")
		p.mustNotContain(t, "404 page not found", "Sign out")
		if p.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP on the 404 page", path)
		}
	}
	b.signIn(landlordEmail, landlordPassword)
	p := b.get("/no-such-page")
	if p.status != http.StatusNotFound {
		t.Errorf("signed in: status %d", p.status)
	}
	p.mustContain(t, "Page not found", "Quarterly updates", "VAT returns", "Sign out")

	fav := b.get("/favicon.ico")
	if fav.status != http.StatusOK || fav.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(fav.body, "<svg") {
		t.Errorf("/favicon.ico: status %d, %s", fav.status, fav.header.Get("Content-Type"))
	}
	if !strings.Contains(p.body, `<link rel="icon" href="/static/favicon.svg"`) {
		t.Errorf("pages do not name their icon")
	}
	if s := b.get("/static/favicon.svg"); s.status != http.StatusOK {
		t.Errorf("/static/favicon.svg: status %d", s.status)
	}
}

// TestDeclineGoesBack: declining at HMRC keeps the menu and leads back to
// the tax the landlord was connecting for.
func TestDeclineGoesBack(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(false)
	for _, tc := range []struct {
		purpose  mtdconnect.Purpose
		settings string
		back     string
	}{
		{mtdconnect.PurposeIncomeTax, "/settings/hmrc", "Back to your HMRC connection for Income Tax"},
		{mtdconnect.PurposeVAT, "/settings/hmrc?purpose=vat", "Back to your HMRC connection for VAT"},
	} {
		connect := b.get(tc.settings).findForm(t, "/settings/hmrc/connect")
		p := b.get(b.grantAtHMRC(b.post("/settings/hmrc/connect", connect.values), "deny"))
		p.mustContain(t, "You did not grant authority", "Nothing was changed", tc.back, "Quarterly updates", "Sign out")
		if !strings.Contains(p.body, `<a href="`+tc.settings+`">`+tc.back+`</a>`) {
			t.Errorf("%s: the page does not link back to %s:\n%s", tc.purpose, tc.settings, p.body)
		}
	}
}

// TestConnectForVATFromVATPage: the VAT page's Connect button starts the
// VAT connection itself, not the settings page.
func TestConnectForVATFromVATPage(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(false)
	p := b.get("/vat")
	f := p.findForm(t, "/settings/hmrc/connect")
	if f.values.Get("purpose") != "vat" {
		t.Fatalf("the VAT page's connect form has purpose %q", f.values.Get("purpose"))
	}
	at := b.post("/settings/hmrc/connect", f.values)
	if !strings.HasPrefix(at.url.String(), env.SimURL+"/oauth/authorize") || !strings.Contains(at.url.Query().Get("scope"), "read:vat") {
		t.Fatalf("Connect to HMRC for VAT led to %s", at.url)
	}
	settings := b.get(b.grantAtHMRC(at, "grant"))
	if settings.url.RequestURI() != "/settings/hmrc?purpose=vat" {
		t.Errorf("after granting, the browser is at %s", settings.url)
	}
	settings.mustContain(t, "Status Connected", "read:vat")
}

// TestStatusLabelsSaidOnce: each summary value is said without its label
// again, and a connection needing reconnecting shows no authority end.
func TestStatusLabelsSaidOnce(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(false)
	p := b.connect()
	p.mustContain(t, "Status Connected", "Authority ends ", "Last refreshed never")
	p.mustNotContain(t, "Status Status", "Authority Authority", "Authority ends on", "Last refreshed Last refreshed", "Access token Access token")

	// HMRC revokes the grant: the connection needs reconnecting.
	env.Sim.Revoke(simUserID, clientID)
	b.post("/settings/hmrc/refresh", p.findForm(t, "/settings/hmrc/refresh").values)
	p = b.get("/settings/hmrc")
	p.mustContain(t, "Status Needs reconnect", "Reconnect to HMRC")
	p.mustNotContain(t, "Authority ends", "Access token")
}

// TestReminders: the settings page (the landlord's home) says what is due
// next with its date, from the obligations the quarterly pages kept (no
// view of it asks HMRC anything), and once HMRC's authority ends within 30
// days, a notice with Renew now, which starts reconnecting.
func TestReminders(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(false)
	now := env.Clock.Now()
	y := itsa.CurrentTaxYear(now)

	before := env.Sim.Stats().APIRequests
	b.get("/settings/hmrc").mustNotContain(t, "What is due next") // nothing kept yet
	if n := env.Sim.Stats().APIRequests - before; n != 0 {
		t.Errorf("the settings page asked HMRC %d times", n)
	}
	b.get("/quarterly") // HMRC's obligations, kept
	before = env.Sim.Stats().APIRequests
	p := b.get("/settings/hmrc")
	first := periods(y, now)[0]
	p.mustContain(t, "What is due next",
		"Quarterly update for "+first.startW+" to "+first.endW+": due "+first.dueW,
		fmt.Sprintf("Final declaration for the tax year %s: due 31 January %d", y, int(y)+2))
	p.mustNotContain(t, "Renew now")
	if !strings.Contains(p.body, `href="/quarterly?taxYear=`+y.String()+`&amp;period=`+first.endS+`#update"`) {
		t.Errorf("no link to send the update:\n%s", p.body)
	}
	b.get("/settings/hmrc?purpose=vat").mustContain(t, "What is due next")
	// Last year's periods, due before the landlord connected, are worded as
	// on the obligations' pages: "Not sent", not a red Overdue.
	b.get("/quarterly?taxYear=" + (y - 1).String())
	last := periods(y-1, now)[0]
	p = b.get("/settings/hmrc")
	p.mustContain(t, "Quarterly update for "+last.startW+" to "+last.endW+": due "+last.dueW+" Not sent")
	if strings.Contains(p.body, "tag-overdue") {
		t.Errorf("a period due before the landlord connected is a red Overdue:\n%s", p.body)
	}
	before = env.Sim.Stats().APIRequests
	// Long after the kept answer's 15 minutes, still nothing asked.
	env.Clock.Advance(2 * time.Hour)
	b.get("/settings/hmrc").mustContain(t, "Quarterly update for "+first.startW)
	if n := env.Sim.Stats().APIRequests - before; n != 0 {
		t.Errorf("three views of the settings asked HMRC %d times, want 0 (the kept obligations)", n)
	}

	// 17 months and 10 days on, the 18 months' authority ends in about 3
	// weeks: the notice, on both tabs, with Renew now.
	env.Clock.Advance(now.AddDate(0, 17, 10).Sub(env.Clock.Now()))
	b.signIn(landlordEmail, landlordPassword) // the session ended meanwhile
	ends := date(now.AddDate(0, 18, 0))
	for _, tab := range []string{"/settings/hmrc", "/settings/hmrc?purpose=vat"} {
		p = b.get(tab)
		p.mustContain(t, "Your Income Tax authority at HMRC ends on "+ends, "Renew now")
	}
	renew := p.findForm(t, "/settings/hmrc/connect")
	if renew.values.Get("purpose") != "itsa" {
		t.Fatalf("the first connect form is for %q, want the Income Tax renewal", renew.values.Get("purpose"))
	}
	at := b.post("/settings/hmrc/connect", renew.values)
	if !strings.HasPrefix(at.url.String(), env.SimURL+"/oauth/authorize") || !strings.Contains(at.url.Query().Get("scope"), "self-assessment") {
		t.Fatalf("Renew now led to %s", at.url)
	}
	after := b.get(b.grantAtHMRC(at, "grant"))
	after.mustContain(t, "Connected to HMRC.")
	after.mustNotContain(t, "Renew now")
}

// TestErrorSummaries: every form's problems come in GOV.UK's error
// summary: first on the page, focusable and focused (tabindex=-1,
// autofocus), each problem a link to its field.
func TestErrorSummaries(t *testing.T) {
	env := newTestEnv(t)
	summary := func(t *testing.T, p page, anchor, text string) {
		t.Helper()
		if !strings.Contains(p.body, `<div class="error-summary" role="alert" id="error-summary" tabindex="-1" autofocus aria-labelledby="error-summary-title">`) {
			t.Errorf("%s: no focusable error summary:\n%s", p.url, p.body)
		}
		if !strings.Contains(p.body, `<li><a href="`+anchor+`">`+text) {
			t.Errorf("%s: the summary does not link %q to %s:\n%s", p.url, text, anchor, p.body)
		}
		main := p.body[strings.Index(p.body, "<main"):]
		if i, j := strings.Index(main, `id="error-summary"`), strings.Index(main, `<form`); i < 0 || i > j {
			t.Errorf("%s: the summary is not before the form", p.url)
		}
	}
	b := env.browser()
	summary(t, b.signIn(landlordEmail, "wrong"), "#email", "Email or password is wrong.")
	b.signIn(landlordEmail, landlordPassword)
	summary(t, b.post("/settings/nino", url.Values{"nino": {"QQ 12"}}), "#nino", "Your National Insurance number")
	summary(t, b.post("/vat/vrn", url.Values{"vrn": {"12"}}), "#vrn", "")
	enrol := b.get("/settings/security/totp").findForm(t, "/settings/security/totp")
	enrol.values.Set("code", "12")
	summary(t, b.post("/settings/security/totp", enrol.values), "#code", "")
}

// TestErrorSummaryAllAtOnce: a VAT return with three problems lists all
// three at once, in the order of the boxes on the page, and HMRC's limits
// shared by two of them once.
func TestErrorSummaryAllAtOnce(t *testing.T) {
	env := newTestEnv(t)
	b := env.vatLandlord(true)
	f := url.Values{}
	for k, v := range returnForm(t, b.get("/vat")) {
		f[k] = v
	}
	f.Set("totalAcquisitionsExVAT", "-3.25") // box 9
	f.Set("totalValueSalesExVAT", "5000.50") // box 6
	f.Set("vatDueSales", "10.005")           // box 1
	f.Set("finalised", "")                   // the declaration, after the boxes
	p := b.post("/vat/submit", f)
	m := regexp.MustCompile(`(?s)<div class="error-summary".*?</ul>`).FindString(p.body)
	var order []string
	for _, a := range regexp.MustCompile(`<a href="#([a-z0-9]+)">`).FindAllStringSubmatch(m, -1) {
		order = append(order, a[1])
	}
	if want := []string{"box1", "box6", "box9", "declaration"}; !slices.Equal(order, want) {
		t.Errorf("the summary links %v, want %v:\n%s", order, want, m)
	}
	if n := strings.Count(m, "−£9,999,999,999,999 and £9,999,999,999,999"); n != 1 {
		t.Errorf("the whole-pounds range is said %d times in the summary, want once:\n%s", n, m)
	}
	if !strings.Contains(m, "<li>HMRC accepts amounts between −£9,999,999,999,999 and £9,999,999,999,999.</li>") {
		t.Errorf("the summary does not say the range once at its end:\n%s", m)
	}
}
