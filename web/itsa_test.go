package web_test

import (
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/landlord"
	"github.com/mtdconnect/mtdconnect/web"
)

// The fraud prevention data of the test deployment: the landlord's browser
// at testClientIP reaches a load balancer at testVendorIP, played by the
// loopback peer the tests connect from (deviceTransport).
const (
	testServerDeviceID = "8d3c2f0e-6a1b-4c5d-9e7f-0a1b2c3d4e5f"
	testVendorIP       = "203.0.113.6"
	testClientIP       = "198.51.100.7"
	testClientPort     = 51234
	// testDeviceJSON is what /static/fph.js collects in a browser.
	testDeviceJSON = `{"ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",` +
		`"screens":[{"width":1920,"height":1080,"scalingFactor":1,"colourDepth":24}],"windowWidth":1256,"windowHeight":803,"tzOffset":0}`
	// testNINO is the simulator test user's (env_test.go).
	testNINO = "AA123456A"
)

var (
	testLicences       = map[string]string{"mtdconnect": "LICENCE-TEST-0001"}
	testTrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
)

// seedDeviceCookie sets the cookie /static/fph.js writes on the first page
// a browser loads.
func seedDeviceCookie(t *testing.T, jar http.CookieJar, server string) {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(u, []*http.Cookie{{Name: fraud.CookieName, Value: base64.RawURLEncoding.EncodeToString([]byte(testDeviceJSON)), Path: "/"}})
}

// deviceTransport adds what the load balancer in front of the service
// would: where the browser connected from.
type deviceTransport struct{}

func (deviceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Forwarded", fmt.Sprintf(`for="%s:%d";by=%s;proto=https`, testClientIP, testClientPort, testVendorIP))
	return http.DefaultTransport.RoundTrip(r)
}

// signInWithTOTP adds an authenticator app to the landlord's account
// through the security settings and signs in again with a code from it,
// as a landlord who chose the second factor does.
func (b *browser) signInWithTOTP(email, password string) {
	b.t.Helper()
	b.signIn(email, password)
	p := b.get("/settings/security/totp")
	m := regexp.MustCompile(`<code id="totp-key">([A-Z2-7 ]+)</code>`).FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no key on the enrolment page:\n%s", p.text())
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		b.t.Fatal(err)
	}
	f := p.findForm(b.t, "/settings/security/totp")
	f.values.Set("code", web.TOTPCode(secret, b.env.Clock.Now()))
	if p := b.post("/settings/security/totp", f.values); p.status != http.StatusOK {
		b.t.Fatalf("enrolment: status %d:\n%s", p.status, p.text())
	}
	b.post("/signout", url.Values{})
	b.env.Clock.Advance(31 * time.Second) // a code is good once
	p = b.post("/signin", url.Values{"email": {email}, "password": {password}})
	f = p.findForm(b.t, "/signin/code")
	f.values.Set("code", web.TOTPCode(secret, b.env.Clock.Now()))
	if p := b.post("/signin/code", f.values); p.url.Path != "/settings/hmrc" {
		b.t.Fatalf("sign-in with a code ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	if c := b.cookie(sessionCookieName); c != "" {
		b.env.secrets = append(b.env.secrets, c)
	}
}

// cookiesCarry reports whether a cookie set by h holds s, as is or in a
// base64url-encoded part (the flash cookie is payload.signature).
func cookiesCarry(h http.Header, s string) bool {
	for _, c := range h.Values("Set-Cookie") {
		if strings.Contains(c, s) {
			return true
		}
		value, _, _ := strings.Cut(c, ";")
		_, value, _ = strings.Cut(value, "=")
		for part := range strings.SplitSeq(value, ".") {
			if b, err := base64.RawURLEncoding.DecodeString(part); err == nil && strings.Contains(string(b), s) {
				return true
			}
		}
	}
	return false
}

// setNINO saves a NINO through the settings page.
func (b *browser) setNINO(nino string) page {
	b.t.Helper()
	f := b.get("/settings/hmrc").findForm(b.t, "/settings/nino")
	f.values.Set("nino", nino)
	return b.post("/settings/nino", f.values)
}

// fraudVerdict checks the simulator's verdict on the latest request to api
// (business-details-mtd, obligations-mtd, property-business-mtd). With
// mfa, the headers must be VALID_HEADERS; without (mtdconnect's sign-in
// has no second factor), the only remark allowed is the empty
// Gov-Client-Multi-Factor, declared missing per the spec's process.
func (env *testEnv) fraudVerdict(t *testing.T, api string, mfa bool) {
	t.Helper()
	res, ok := env.Sim.LastFraudResult(api)
	if !ok {
		t.Fatalf("the simulator received no %s request", api)
	}
	if mfa {
		if res.Code != hmrcsim.FraudValid {
			t.Errorf("%s: verdict %s: errors %+v warnings %+v", api, res.Code, res.Errors, res.Warnings)
		}
		return
	}
	want := []hmrcsim.FraudIssue{{Code: hmrcsim.IssueEmpty, Headers: []string{"gov-client-multi-factor"}}}
	var got []hmrcsim.FraudIssue
	for _, w := range res.Warnings {
		got = append(got, hmrcsim.FraudIssue{Code: w.Code, Headers: w.Headers})
	}
	if res.Code != hmrcsim.FraudPotentiallyInvalid || len(res.Errors) > 0 || !slices.EqualFunc(got, want, func(a, b hmrcsim.FraudIssue) bool {
		return a.Code == b.Code && slices.Equal(a.Headers, b.Headers)
	}) {
		t.Errorf("%s: verdict %s: errors %+v warnings %+v; want only the empty multi-factor warning", api, res.Code, res.Errors, res.Warnings)
	}
}

// period is a cumulative obligation as the simulator sets them.
type period struct {
	taxYear        itsa.TaxYear
	start, end     time.Time
	due            time.Time
	startS, endS   string
	startW, endW   string // in words
	dueW           string
	submittableNow bool
}

// periods are the four cumulative periods of y (all start on 6 April;
// due the 5th of the next month in 2025-26, the 7th after).
func periods(y itsa.TaxYear, now time.Time) []period {
	dueDay := 7
	if y <= 2025 {
		dueDay = 5
	}
	start := time.Date(int(y), time.April, 6, 0, 0, 0, 0, time.UTC)
	latest := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	var out []period
	for _, e := range []time.Time{
		time.Date(int(y), time.July, 5, 0, 0, 0, 0, time.UTC), time.Date(int(y), time.October, 5, 0, 0, 0, 0, time.UTC),
		time.Date(int(y)+1, time.January, 5, 0, 0, 0, 0, time.UTC), time.Date(int(y)+1, time.April, 5, 0, 0, 0, 0, time.UTC),
	} {
		due := time.Date(e.Year(), e.Month()+1, dueDay, 0, 0, 0, 0, time.UTC)
		out = append(out, period{
			taxYear: y, start: start, end: e, due: due,
			startS: start.Format(time.DateOnly), endS: e.Format(time.DateOnly),
			startW: start.Format("2 January 2006"), endW: e.Format("2 January 2006"), dueW: due.Format("2 January 2006"),
			submittableNow: !e.After(latest),
		})
	}
	return out
}

// firstOpen is the obligation the quarterly page offers by default that
// HMRC accepts today: the first period of the current tax year, or of the
// previous one early in a tax year. It returns the page to open too.
func firstOpen(t *testing.T, now time.Time) (period, string) {
	t.Helper()
	y := itsa.CurrentTaxYear(now)
	if p := periods(y, now)[0]; p.submittableNow {
		return p, "/quarterly"
	}
	if y-1 < itsa.CumulativeFirstTaxYear {
		t.Skip("no cumulative period HMRC accepts an update for yet")
	}
	return periods(y-1, now)[0], "/quarterly?taxYear=" + (y - 1).String()
}

// incomeTaxLandlord is the landlord's browser, signed in (with the second
// factor when mfa is set), their NINO saved and connected for Income Tax.
func (env *testEnv) incomeTaxLandlord(mfa bool) *browser {
	env.t.Helper()
	b := env.signedIn(mfa)
	b.setNINO(testNINO)
	b.connect()
	return b
}

func TestSettingsNINO(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	p := b.get("/settings/hmrc")
	p.mustContain(t, "National Insurance number", "Save National Insurance number")

	for _, tt := range []struct {
		in, problem string
	}{
		{"", "Your National Insurance number must not be empty."},
		{"   ", "Your National Insurance number must not be empty."},
		{"AA12345", "Your National Insurance number must be 2 letters, 6 digits and a letter A–D, like QQ123456C."},
		{"AA 12 34 56 7", "must be 2 letters, 6 digits and a letter A–D"},
		{"BG123456A", "Your National Insurance number starts with BG, which no National Insurance number does."},
		{"DA123456A", "starts with DA, which no National Insurance number does"},
		{"AA123456E", "Your National Insurance number must end with the letter A, B, C or D (or no letter)."},
		{"ＡＡ123456A", "must be 2 letters, 6 digits"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			b.setNINO(tt.in).mustRefuseField(t, "/settings/nino", "nino", tt.problem, tt.in)
			if u, _ := env.Store.UserByID(t.Context(), env.landlord.ID); u.NINO != "" {
				t.Errorf("bad input stored NINO %q", u.NINO)
			}
		})
	}

	// Saving answers with a flash cookie, which is signed, not encrypted:
	// the number must not be in it.
	f := b.get("/settings/hmrc").findForm(t, "/settings/nino")
	f.values.Set("nino", " aa 12 34 56 a ")
	if saved := b.do(b.noFollow, b.postRequest("/settings/nino", f.values)); cookiesCarry(saved.header, "AA123456A") {
		t.Errorf("a cookie carries the NINO: %q", saved.header.Values("Set-Cookie"))
	}
	p = b.get("/settings/hmrc")
	if p.status != http.StatusOK || p.url.Path != "/settings/hmrc" {
		t.Fatalf("status %d at %s", p.status, p.url)
	}
	p.mustContain(t, "Your National Insurance number is saved.", "Change National Insurance number")
	if got := p.findForm(t, "/settings/nino").values.Get("nino"); got != "AA123456A" {
		t.Errorf("field shows %q", got)
	}
	if u, _ := env.Store.UserByID(t.Context(), env.landlord.ID); u.NINO != "AA123456A" {
		t.Errorf("stored NINO %q", u.NINO)
	}
	// A bad change leaves the saved one alone.
	b.setNINO("nonsense").mustContain(t, "must be 2 letters")
	if u, _ := env.Store.UserByID(t.Context(), env.landlord.ID); u.NINO != "AA123456A" {
		t.Errorf("stored NINO %q after a refused change", u.NINO)
	}
	// The other user is untouched.
	if u, _ := env.Store.UserByID(t.Context(), env.other.ID); u.NINO != "" {
		t.Errorf("other user's NINO %q", u.NINO)
	}
}

// TestQuarterlyJourney: sign in, add the NINO, connect, see the
// obligations, send an update (after fixing the figures), see the receipt
// and the obligation received; every HMRC call's fraud headers pass the
// simulator's checks.
func TestQuarterlyJourney(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)

	p := b.get("/quarterly")
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	p.mustContain(t, "Quarterly updates", "Add your National Insurance number before sending quarterly updates", "No updates sent yet")
	if !strings.Contains(p.body, `href="/settings/hmrc#nino"`) {
		t.Error("no link to the settings to add the NINO")
	}
	b.setNINO(testNINO)
	p = b.get("/quarterly")
	p.mustContain(t, "Connect mtdconnect to HMRC for Income Tax before sending quarterly updates", "Connect to HMRC")
	p.mustNotContain(t, "Send update to HMRC")

	b.connect()
	now := env.Clock.Now()
	target, pageURL := firstOpen(t, now)
	p = b.get(pageURL)
	if p.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", p.status, p.text())
	}
	p.mustContain(t, "Tax year "+target.taxYear.String())
	for _, ob := range periods(target.taxYear, now) {
		p.mustContain(t, ob.startW+" to "+ob.endW+" "+ob.dueW)
	}
	p.mustContain(t, "Update for "+target.startW+" to "+target.endW, "itemised", "one consolidated total",
		"below the VAT registration threshold (£90,000)", "Send update to HMRC")
	env.fraudVerdict(t, "business-details-mtd", false)
	env.fraudVerdict(t, "obligations-mtd", false)

	form := p.findForm(t, "/quarterly/submit")
	if form.values.Get("from") != target.startS || form.values.Get("to") != target.endS || form.values.Get("taxYear") != target.taxYear.String() {
		t.Fatalf("form for %v", form.values)
	}

	// Figures HMRC would refuse are caught first, next to their fields,
	// and nothing is sent.
	for _, tt := range []struct {
		name    string
		values  map[string]string
		fieldID string // "" for the form or a group
		message string
	}{
		{"nothing entered", nil, "", "Enter at least one amount"},
		{"not a number", map[string]string{"income.periodAmount": "twelve"}, "income-periodAmount",
			"Enter rents and other property income as an amount in pounds, like 1250.00"},
		{"three decimal places", map[string]string{"income.periodAmount": "100.123"}, "income-periodAmount",
			"Enter an amount of £0 or more, up to £99,999,999,999.99, in pounds and pence (no more than 2 decimal places)"},
		{"negative income", map[string]string{"income.otherIncome": "-5"}, "income-otherIncome", "Enter an amount of £0 or more"},
		{"too large", map[string]string{"expenses.repairsAndMaintenance": "100000000000"}, "expenses-repairsAndMaintenance",
			"Enter an amount between −£99,999,999,999.99 and £99,999,999,999.99"},
		{"negative rent a room relief", map[string]string{"income.periodAmount": "10", "expenses.rentARoom.amountClaimed": "-1"},
			"expenses-rentARoom-amountClaimed", "Enter an amount of £0 or more"},
		{"itemised and consolidated", map[string]string{"income.periodAmount": "1000", "expenses.travelCosts": "10", "expenses.consolidatedExpenses": "20"},
			"", "Give either the itemised expenses or one consolidated total, not both: clear one of them"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form.values {
				f[k] = v
			}
			for k, v := range tt.values {
				f.Set(k, v)
			}
			p := b.post("/quarterly/submit", f)
			if p.status != http.StatusBadRequest {
				t.Fatalf("status %d:\n%s", p.status, p.text())
			}
			p.mustContain(t, "There is a problem", tt.message)
			if tt.fieldID != "" {
				if !strings.Contains(p.body, `id="`+tt.fieldID+`-error"`) {
					t.Errorf("no error next to %s", tt.fieldID)
				}
				// What was typed is kept.
				if got := p.findForm(t, "/quarterly/submit").values.Get(strings.ReplaceAll(tt.fieldID, "-", ".")); got != tt.values[strings.ReplaceAll(tt.fieldID, "-", ".")] {
					t.Errorf("field holds %q", got)
				}
			}
			if _, sent := env.Sim.LastFraudResult("property-business-mtd"); sent {
				t.Error("a refused update reached HMRC")
			}
			if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 10); len(subs) != 0 {
				t.Errorf("a refused update left a receipt: %+v", subs)
			}
		})
	}

	// A good one: itemised expenses, in the ways landlords type amounts.
	f := form.values
	f.Set("income.periodAmount", "£12,500.00")
	f.Set("expenses.repairsAndMaintenance", "1,200.5")
	f.Set("expenses.residentialFinancialCost", "300")
	f.Set("expenses.other", "-20")
	before := env.Clock.Now()
	p = b.post("/quarterly/submit", f)
	if p.status != http.StatusOK || !strings.HasPrefix(p.url.Path, "/quarterly/receipts/") {
		t.Fatalf("submit ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	subs, err := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 10)
	if err != nil || len(subs) != 1 {
		t.Fatalf("receipts %v, %v", subs, err)
	}
	sub := subs[0]
	if p.url.Path != fmt.Sprintf("/quarterly/receipts/%d", sub.ID) {
		t.Errorf("receipt page %s for submission %d", p.url.Path, sub.ID)
	}
	wantBody := fmt.Sprintf(`{"fromDate":%q,"toDate":%q,"ukProperty":{"income":{"periodAmount":12500.00},"expenses":{"repairsAndMaintenance":1200.5,"other":-20,"residentialFinancialCost":300}}}`, target.startS, target.endS)
	if sub.Kind != mtdconnect.SubmissionUKPropertyCumulative || sub.Period != target.taxYear.String() || string(sub.Body) != wantBody ||
		len(sub.CorrelationID) != 36 || sub.SubmittedAt.Before(before.Truncate(time.Millisecond)) ||
		!sub.PeriodStart.Equal(target.start) || !sub.PeriodEnd.Equal(target.end) {
		t.Errorf("submission %+v\nbody %s\nwant %s", sub, sub.Body, wantBody)
	}
	p.mustContain(t, "HMRC received your update", "Tax year "+target.taxYear.String(), target.startW+" to "+target.endW,
		"HMRC reference "+sub.CorrelationID,
		"Rents and other property income (Income) £12,500.00",
		"Property repairs and maintenance (Expenses) £1,200.50",
		"Other allowable property expenses (Expenses) −£20.00",
		"Residential property finance costs (Expenses) £300.00")
	env.fraudVerdict(t, "property-business-mtd", false)

	// HMRC holds exactly what was sent.
	if got, err := env.itsa.UKPropertyCumulative(t.Context(), env.landlord.ID, testNINO, target.taxYear, mustBatch(t, env)); err != nil ||
		got.UKProperty.Income.PeriodAmount.String() != "12500.00" || got.ToDate != target.endS {
		t.Errorf("HMRC holds %+v, %v", got, err)
	}

	// The obligation shows as sent at once, from the receipt: HMRC may take
	// up to an hour to show it as received.
	p = b.get(pageURL)
	p.mustContain(t, target.startW+" to "+target.endW+" "+target.dueW+" Sent on "+sub.SubmittedAt.In(london).Format("2 January 2006 at 15:04"),
		"HMRC accepted it. It may take HMRC up to an hour to show it as received.", "Receipts", sub.CorrelationID)
	sentOn := date(sub.SubmittedAt)
	// An hour later HMRC shows it received; the obligations kept meanwhile
	// are asked for again within landlord.SentRecheck (5 minutes).
	env.Clock.Advance(time.Hour + 5*time.Minute)
	p = b.get(pageURL)
	p.mustContain(t, target.startW+" to "+target.endW+" "+target.dueW+" Received on "+sentOn, "Receipts", sub.CorrelationID)
	if !strings.Contains(p.body, fmt.Sprintf(`href="/quarterly/receipts/%d"`, sub.ID)) {
		t.Error("the receipt is not linked")
	}

	// Another landlord cannot see it.
	o := env.browser()
	o.signIn(otherEmail, otherPassword)
	if p := o.get(fmt.Sprintf("/quarterly/receipts/%d", sub.ID)); p.status != http.StatusNotFound || strings.Contains(p.text(), sub.CorrelationID) {
		t.Errorf("another landlord's receipt: status %d", p.status)
	}
	for _, bad := range []string{"/quarterly/receipts/0", "/quarterly/receipts/abc", "/quarterly/receipts/999999"} {
		if p := b.get(bad); p.status != http.StatusNotFound {
			t.Errorf("%s: status %d", bad, p.status)
		}
	}
}

// mustBatch is a batch origin for checks the test makes itself.
func mustBatch(t *testing.T, env *testEnv) *fraud.Origin {
	t.Helper()
	o, err := env.Client.BatchOrigin(map[string]string{"mtdconnect-test": "1"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestQuarterlyValidHeaders: with a second factor at sign-in, the headers
// of every call of the journey are VALID_HEADERS.
func TestQuarterlyValidHeaders(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(true)
	target, pageURL := firstOpen(t, env.Clock.Now())
	p := b.get(pageURL)
	env.fraudVerdict(t, "business-details-mtd", true)
	env.fraudVerdict(t, "obligations-mtd", true)
	f := p.findForm(t, "/quarterly/submit").values
	f.Set("income.periodAmount", "100")
	f.Set("expenses.consolidatedExpenses", "40")
	f.Set("expenses.residentialFinancialCost", "10")
	p = b.post("/quarterly/submit", f)
	if !strings.HasPrefix(p.url.Path, "/quarterly/receipts/") {
		t.Fatalf("submit ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	p.mustContain(t, "Total expenses (Expenses) £40.00", target.endW)
	env.fraudVerdict(t, "property-business-mtd", true)
}

// TestQuarterlyReceiptKeptWhenBrowserLeaves: the landlord sends an update
// and closes the page while HMRC is still answering. HMRC accepts it, so
// the receipt must be kept all the same: an accepted update without one
// would look unsent.
func TestQuarterlyReceiptKeptWhenBrowserLeaves(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(false)
	_, pageURL := firstOpen(t, env.Clock.Now())
	form := b.get(pageURL).findForm(t, "/quarterly/submit").values
	form.Set("income.periodAmount", "1250.50")

	env.Sim.SetFaults(hmrcsim.Faults{Latency: time.Second})
	impatient := &http.Client{Jar: b.client.Jar, Transport: deviceTransport{}, Timeout: 200 * time.Millisecond}
	if resp, err := impatient.Do(b.postRequest("/quarterly/submit", form)); err == nil {
		resp.Body.Close()
		t.Fatalf("the browser did not give up: status %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		subs, err := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) == 1 && subs[0].CorrelationID != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no receipt of the update after the browser left: %+v", subs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	env.Sim.SetFaults(hmrcsim.Faults{})
	// The receipt is kept at once: the page says the update was sent, and
	// that HMRC may take up to an hour to show it as received.
	b.get(pageURL).mustContain(t, "Sent on", "HMRC accepted it. It may take HMRC up to an hour to show it as received.")
}

// TestQuarterlyProblems: what the landlord reads when something stands in
// the way, and that nothing reaches HMRC without the browser's data.
func TestQuarterlyProblems(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(false)

	t.Run("scripts off", func(t *testing.T) {
		nojs := env.browser()
		srv, _ := url.Parse(env.url)
		nojs.client.Jar.SetCookies(srv, []*http.Cookie{{Name: fraud.CookieName, Value: "", MaxAge: -1, Path: "/"}})
		nojs.signIn(landlordEmail, landlordPassword)
		p := nojs.get("/quarterly")
		if p.status != http.StatusBadRequest {
			t.Errorf("status %d", p.status)
		}
		p.mustContain(t, "Your browser must allow scripts for HMRC's fraud-prevention rules", "Nothing was sent to HMRC")
		if _, called := env.Sim.LastFraudResult("obligations-mtd"); called {
			t.Error("HMRC was called without the browser's data")
		}
	})

	t.Run("NINO of someone else", func(t *testing.T) {
		// A valid NINO, but not the one of the Government Gateway
		// account that granted the authority.
		b.setNINO("AB123456C")
		p := b.get("/quarterly")
		if p.status != http.StatusForbidden {
			t.Errorf("status %d", p.status)
		}
		p.mustContain(t, "HMRC says the Government Gateway account you connected cannot act for the National Insurance number saved in your settings",
			"Check your National Insurance number in your settings")
		b.setNINO(testNINO)
	})

	t.Run("too early", func(t *testing.T) {
		now := env.Clock.Now()
		y := itsa.CurrentTaxYear(now)
		var late *period
		for _, p := range periods(y, now) {
			if !p.submittableNow {
				late = &p
				break
			}
		}
		if late == nil {
			t.Skip("every period of this tax year can be sent now")
		}
		// The period is not offered: the page says from when it can be
		// sent, with no link to send it.
		from := late.end.AddDate(0, 0, -10).Format("2 January 2006")
		p := b.get("/quarterly")
		p.mustContain(t, late.startW+" to "+late.endW+" "+late.dueW+" Open You can send it from "+from)
		p.mustNotContain(t, "Update for "+late.startW+" to "+late.endW)
		if strings.Contains(p.body, `period=`+late.endS+`#update"`) {
			t.Error("a link offers to send the update now")
		}
		// Asked for by its address, its form says from when HMRC takes
		// it; sent anyway, HMRC's refusal names the date.
		p = b.get("/quarterly?period=" + late.endS)
		p.mustContain(t, "Update for "+late.startW+" to "+late.endW, "HMRC takes this update from "+from+", 10 days before the period ends")
		f := p.findForm(t, "/quarterly/submit").values
		f.Set("income.periodAmount", "100")
		p = b.post("/quarterly/submit", f)
		if p.status != http.StatusUnprocessableEntity {
			t.Errorf("status %d", p.status)
		}
		p.mustContain(t, "Too early to send this update", "HMRC takes the update for "+late.startW+" to "+late.endW+" from "+from+", 10 days before the period ends. Nothing was sent")
	})

	t.Run("tax year", func(t *testing.T) {
		for _, q := range []string{"2024-25", "2025-27", "20x5-26", itsa.CurrentTaxYear(env.Clock.Now()).String()[:4] + "-99"} {
			if p := b.get("/quarterly?taxYear=" + q); p.status != http.StatusNotFound {
				t.Errorf("%s: status %d", q, p.status)
			}
		}
	})

	t.Run("HMRC down", func(t *testing.T) {
		// The failure is logged, without the NINO of the call's path
		// (newTestEnv's clean-up checks the logs).
		env.Sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
		// The obligations read a moment ago are still kept: the page
		// shows them without asking HMRC.
		pageURL := "/quarterly?taxYear=" + itsa.CurrentTaxYear(env.Clock.Now()).String()
		if p := b.get(pageURL); p.status != http.StatusOK {
			t.Errorf("kept obligations: status %d", p.status)
		}
		env.Clock.Advance(landlord.ObligationsTTL)
		p := b.get(pageURL)
		env.Sim.SetFaults(hmrcsim.Faults{})
		if p.status != http.StatusServiceUnavailable {
			t.Errorf("status %d", p.status)
		}
		p.mustContain(t, "HMRC could not be reached. Try again in a few minutes.")
		if !strings.Contains(env.Logs.String(), "/obligations/details/{id}/income-and-expenditure") {
			t.Errorf("the failed call is not logged:\n%s", env.Logs.String())
		}
	})

	t.Run("authority removed at HMRC", func(t *testing.T) {
		env.Sim.Revoke(simUserID, clientID)
		env.Clock.Advance(5 * time.Hour) // the token must be refreshed, and HMRC refuses
		p := b.get("/quarterly")
		p.mustContain(t, "Connect to HMRC again", "Go to your HMRC connection")
		p = b.get("/quarterly")
		p.mustContain(t, "HMRC no longer accepts mtdconnect's connection (authority removed at HMRC)", "Reconnect to HMRC")
		p.mustNotContain(t, "Send update to HMRC")
	})
}

// Before the year's first update a landlord chooses standard or calendar
// quarters, on the page or through the API; HMRC's obligations then follow
// them. Refused without the landlord's device data through the API, and
// with nothing sent for a bad choice.
func TestQuarterlyPeriodTypeChoice(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(false)
	year := itsa.CurrentTaxYear(env.Clock.Now())
	p := b.get("/quarterly")
	p.mustContain(t, "Your quarters", "Standard quarters: 6 April to 5 July", "Calendar quarters: 1 April to 30 June",
		fmt.Sprintf("6 April %d to 5 July %d", int(year), int(year)))
	form := p.findForm(t, "/quarterly/period-type").values

	before := env.Sim.Stats().APIRequests
	bad := url.Values{"fph": form["fph"], "quarterlyPeriodType": {"monthly"}}
	if p := b.post("/quarterly/period-type", bad); p.status != http.StatusBadRequest {
		t.Errorf("a bad choice: status %d", p.status)
	} else {
		p.mustContain(t, "Choose standard or calendar quarters", "Nothing was sent to HMRC")
	}
	if env.Sim.Stats().APIRequests != before {
		t.Error("a bad choice reached HMRC")
	}

	// Calendar quarters only for an April to March accounting period.
	form.Set("quarterlyPeriodType", "calendar")
	form.Del("aprilToMarch") // the box left unticked
	p = b.post("/quarterly/period-type", form)
	if p.status != http.StatusBadRequest {
		t.Errorf("calendar quarters without the April year: status %d", p.status)
	}
	p.mustContain(t, "Calendar quarters are for landlords whose accounting period runs from 1 April to 31 March", "Nothing was sent to HMRC")
	form.Set("aprilToMarch", "yes")
	p = b.post("/quarterly/period-type", form)
	if p.status != http.StatusOK || p.url.Path != "/quarterly" {
		t.Fatalf("choosing ended on %s (status %d)", p.url, p.status)
	}
	// The obligations kept were forgotten: the page shows HMRC's new ones.
	p.mustContain(t, fmt.Sprintf("6 April %d to 30 June %d", int(year), int(year)), fmt.Sprintf("6 April %d to 31 March %d", int(year), int(year)+1))
	if !strings.Contains(p.body, `value="calendar" checked`) {
		t.Error("calendar quarters are not shown as chosen")
	}
	env.fraudVerdict(t, "business-details-mtd", false)

	// Through the API: the landlord's device data is required (it sends
	// data to HMRC); with it, back to standard.
	path := fmt.Sprintf("/api/v1/users/id:%d/hmrc/quarterly-period-type", env.landlord.ID)
	if status, m := env.apiCall(t, http.MethodPut, path, `{"quarterly_period_type":"standard"}`, nil); status != 400 || m["error"] != "device_data_required" {
		t.Errorf("without device data: %d %v", status, m)
	}
	if status, m := env.apiCall(t, http.MethodPut, path, `{"quarterly_period_type":"weekly"}`, platformDevice()); status != 400 || m["error"] != "invalid_request" {
		t.Errorf("a bad type: %d %v", status, m)
	}
	status, m := env.apiCall(t, http.MethodPut, path, `{"quarterly_period_type":"standard"}`, platformDevice())
	if status != 200 || m["quarterly_period_type"] != "standard" || m["tax_year"] != year.String() {
		t.Fatalf("standard quarters: %d %v", status, m)
	}
	status, m = env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/obligations", env.landlord.ID), "", platformDevice())
	if status != 200 || m["quarterly_period_type"] != "standard" || m["quarterly_period_type_can_change"] != true {
		t.Errorf("obligations after standard quarters: %d %v", status, m)
	}
}
