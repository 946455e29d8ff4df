package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// testVRN is the simulator test user's VAT registration number (withVAT).
const testVRN = "123456789"

// withVAT gives the simulator's test user a VRN, as a Create Test User
// with mtd-vat does; the user keeps its NINO, so one Government Gateway
// account holds both taxes.
func withVAT(env *testEnv) {
	env.Sim.AddTestUser(hmrcsim.TestUser{
		UserID: simUserID, Password: simPassword, NINO: testNINO, VRN: testVRN, FullName: "Test Landlord",
		AffinityGroup: "Individual", ServiceNames: []string{"mtd-income-tax", "mtd-vat"},
	})
}

// vatLandlord is the landlord's browser, signed in (with the second factor
// when mfa is set), their VRN saved and connected for VAT.
func (env *testEnv) vatLandlord(mfa bool) *browser {
	env.t.Helper()
	withVAT(env)
	b := env.signedIn(mfa)
	b.setVRN(testVRN)
	b.connectVAT()
	return b
}

// connectVAT connects for VAT from the VAT tab of the settings, granting
// at the simulator, and returns the settings page it ends on.
func (b *browser) connectVAT() page {
	b.t.Helper()
	connect := b.get("/settings/hmrc?purpose=vat").findForm(b.t, "/settings/hmrc/connect")
	if connect.values.Get("purpose") != "vat" {
		b.t.Fatalf("the VAT tab's connect form is for %q", connect.values.Get("purpose"))
	}
	signIn := b.post("/settings/hmrc/connect", connect.values)
	if !strings.HasPrefix(signIn.url.String(), b.env.SimURL+"/oauth/authorize") {
		b.t.Fatalf("connect led to %s (status %d)", signIn.url, signIn.status)
	}
	if scope := signIn.url.Query().Get("scope"); scope != "read:vat write:vat" {
		b.t.Errorf("VAT connect asks for scope %q", scope)
	}
	f := signIn.findForm(b.t, "/oauth/authorize/sign-in")
	f.values.Set("user_id", simUserID)
	f.values.Set("password", simPassword)
	g := b.post(b.env.SimURL+f.action, f.values).findForm(b.t, "/oauth/authorize/grant")
	g.values.Set("decision", "grant")
	resp := b.do(b.noFollow, b.postRequest(b.env.SimURL+g.action, g.values))
	loc := resp.header.Get("Location")
	if u, err := url.Parse(loc); err == nil && u.Query().Get("code") != "" {
		b.env.secrets = append(b.env.secrets, u.Query().Get("code"))
	}
	p := b.get(loc)
	if p.status != http.StatusOK || p.url.Path != "/settings/hmrc" || p.url.Query().Get("purpose") != "vat" {
		b.t.Fatalf("callback ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	return p
}

// setVRN saves a VRN through the VAT page.
func (b *browser) setVRN(vrn string) page {
	b.t.Helper()
	f := b.get("/vat").findForm(b.t, "/vat/vrn")
	f.values.Set("vrn", vrn)
	return b.post("/vat/vrn", f.values)
}

// vatPeriod is a VAT obligation as the simulator sets them: calendar
// quarters from the one a year back to the current one.
type vatPeriod struct {
	key               string
	start, end, due   time.Time
	startS, endS      string
	words, dueW, endW string // "1 July 2025 to 30 September 2025"
	ended             bool
}

func vatPeriods(now time.Time) []vatPeriod {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(-1, 0, 0)
	var out []vatPeriod
	for q := time.Date(first.Year(), (first.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC); !q.After(today); q = q.AddDate(0, 3, 0) {
		end := q.AddDate(0, 3, -1)
		due := end.AddDate(0, 0, 1).AddDate(0, 1, 6)
		out = append(out, vatPeriod{
			key: fmt.Sprintf("%02dA%d", q.Year()%100, int(q.Month()-1)/3+1), start: q, end: end, due: due,
			startS: q.Format(time.DateOnly), endS: end.Format(time.DateOnly),
			words: q.Format("2 January 2006") + " to " + end.Format("2 January 2006"),
			dueW:  due.Format("2 January 2006"), endW: end.Format("2 January 2006"),
			ended: today.After(end),
		})
	}
	return out
}

// returnForm fills the return form of p with a good return: boxes 3 and 5
// left to be worked out, the declaration made.
func returnForm(t *testing.T, p page) url.Values {
	t.Helper()
	f := p.findForm(t, "/vat/submit").values
	for k, v := range map[string]string{
		"vatDueSales": "£1,000.00", "vatDueAcquisitions": "0", "totalVatDue": "", "vatReclaimedCurrPeriod": "250.50",
		"netVatDue": "", "totalValueSalesExVAT": "5,000", "totalValuePurchasesExVAT": "2000",
		"totalValueGoodsSuppliedExVAT": "0", "totalAcquisitionsExVAT": "0", "finalised": "true",
	} {
		f.Set(k, v)
	}
	return f
}

// TestVATJourney: sign in (with a second factor), add the VRN, connect for
// VAT, see the obligations, file a return, see the receipt (kept), the
// obligation fulfilled and the return as HMRC holds it; a second return
// for the period is refused as a duplicate. Every HMRC call's fraud
// headers are VALID_HEADERS.
func TestVATJourney(t *testing.T) {
	env := newTestEnv(t)
	withVAT(env)
	b := env.browser()
	b.signInWithTOTP(landlordEmail, landlordPassword)

	p := b.get("/vat")
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	p.mustContain(t, "VAT returns", "Connect mtdconnect to HMRC for VAT before filing VAT returns", "VAT registration number",
		"No VAT returns filed through mtdconnect yet")
	p.mustNotContain(t, "Submit VAT return to HMRC")
	if f := p.findForm(t, "/settings/hmrc/connect"); f.values.Get("purpose") != "vat" || !strings.Contains(p.body, `<a href="/vat">VAT returns</a>`) {
		t.Error("no button to connect for VAT, or no VAT link in the navigation")
	}

	p = b.setVRN(" gb 123 456 789 ")
	if p.status != http.StatusOK || p.url.Path != "/vat" {
		t.Fatalf("status %d at %s", p.status, p.url)
	}
	p.mustContain(t, "Your VAT registration number is saved.", "VAT registration number 123456789.")
	if u := env.user(env.landlord.ID); u.VRN != testVRN || u.NINO != "" {
		t.Errorf("stored VRN %q, NINO %q", u.VRN, u.NINO)
	}

	set := b.connectVAT()
	set.mustContain(t, "Connected to HMRC.", "read:vat", "write:vat")
	if c := env.connection(env.landlord.ID, mtdconnect.PurposeVAT); c == nil || c.Scopes != "read:vat write:vat" || c.Status != mtdconnect.StatusConnected {
		t.Fatalf("VAT connection %+v", c)
	}
	if c := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); c != nil {
		t.Fatalf("connecting for VAT made an Income Tax connection: %+v", c)
	}

	now := env.Clock.Now()
	periods := vatPeriods(now)
	target := periods[0] // a year back: ended, open
	p = b.get("/vat")
	if p.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", p.status, p.text())
	}
	env.fraudVerdict(t, hmrcsim.VATFraudAPI, true)
	for _, ob := range periods {
		// One wording with the other pages and the API: an open return
		// due before the landlord connected is "Not sent", not an alarm.
		state := "Open"
		if ob.due.Before(now) {
			state = "Not sent"
		}
		p.mustContain(t, ob.words+" "+ob.dueW+" "+state)
		if !ob.ended {
			p.mustContain(t, "You can file after the period ends on "+ob.endW)
		}
	}
	p.mustContain(t, "VAT return for "+target.words, "Box 1 VAT due on sales and other outputs",
		"Box 5 Net VAT to pay to HMRC or reclaim (the difference between boxes 3 and 4)",
		"Box 9 Total value of acquisitions of goods and related costs (excluding VAT) made in Northern Ireland from EU Member States",
		"When you submit this VAT information you are making a legal declaration that the information is true and complete. A false declaration can result in prosecution.",
		"Submit VAT return to HMRC")
	form := returnForm(t, p)
	if form.Get("periodKey") != target.key || form.Get("start") != target.startS || form.Get("end") != target.endS {
		t.Fatalf("form for %v, want %s", form, target.key)
	}

	before := env.Clock.Now()
	p = b.post("/vat/submit", form)
	if p.status != http.StatusOK || !strings.HasPrefix(p.url.Path, "/vat/receipts/") {
		t.Fatalf("submit ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	env.fraudVerdict(t, hmrcsim.VATFraudAPI, true)
	subs, err := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeVAT, 10)
	if err != nil || len(subs) != 1 {
		t.Fatalf("receipts %v, %v", subs, err)
	}
	sub := subs[0]
	if p.url.Path != fmt.Sprintf("/vat/receipts/%d", sub.ID) {
		t.Errorf("receipt page %s for submission %d", p.url.Path, sub.ID)
	}
	wantBody := fmt.Sprintf(`{"periodKey":%q,"vatDueSales":1000.00,"vatDueAcquisitions":0,"totalVatDue":1000.00,"vatReclaimedCurrPeriod":250.50,`+
		`"netVatDue":749.50,"totalValueSalesExVAT":5000,"totalValuePurchasesExVAT":2000,"totalValueGoodsSuppliedExVAT":0,"totalAcquisitionsExVAT":0,"finalised":true}`, target.key)
	var rec struct{ ProcessingDate, FormBundleNumber, PaymentIndicator, ChargeRefNumber string }
	if err := json.Unmarshal(sub.Response, &rec); err != nil {
		t.Fatal(err)
	}
	if sub.Kind != mtdconnect.SubmissionVATReturn || sub.Purpose != mtdconnect.PurposeVAT || sub.Period != target.key ||
		!sameJSON(t, sub.Body, wantBody) || len(sub.ReceiptID) != 36 || len(sub.CorrelationID) != 36 ||
		!sub.PeriodStart.Equal(target.start) || !sub.PeriodEnd.Equal(target.end) ||
		sub.SubmittedAt.Before(before.Truncate(time.Millisecond)) || len(rec.FormBundleNumber) != 12 ||
		rec.PaymentIndicator != "DD" || rec.ChargeRefNumber == "" {
		t.Errorf("submission %+v\nbody %s\nresponse %s", sub, sub.Body, sub.Response)
	}
	p.mustContain(t, "HMRC received your VAT return", target.words+" (period "+target.key+")",
		"Form bundle number "+rec.FormBundleNumber, "Receipt ID "+sub.ReceiptID, "HMRC correlation ID "+sub.CorrelationID,
		"Charge reference "+rec.ChargeRefNumber, "HMRC will collect it by Direct Debit (DD)", "You owe HMRC £749.50.",
		"1 VAT due on sales and other outputs £1,000.00", "3 Total VAT due (the sum of boxes 1 and 2) £1,000.00",
		"4 VAT reclaimed on purchases and other inputs", "£250.50", "£749.50",
		"6 Total value of sales and all other outputs excluding any VAT. Include your box 8 figure £5,000.00")
	if pd, err := time.Parse(time.RFC3339Nano, rec.ProcessingDate); err != nil {
		t.Errorf("processing date %q: %v", rec.ProcessingDate, err)
	} else {
		p.mustContain(t, "Processing date "+pd.In(london).Format("2 January 2006 at 15:04"))
	}

	// The obligation is now fulfilled; the receipt is listed.
	p = b.get("/vat")
	p.mustContain(t, target.words+" "+target.dueW+" Received on "+env.Clock.Now().UTC().Format("2 January 2006"),
		"Receipts", rec.FormBundleNumber)
	p.mustNotContain(t, "VAT return for "+target.words)
	if !strings.Contains(p.body, fmt.Sprintf(`href="/vat/receipts/%d"`, sub.ID)) || !strings.Contains(p.body, `href="/vat/returns/`+target.key+`"`) {
		t.Error("the receipt or the return is not linked")
	}

	// The return as HMRC holds it.
	p = b.get("/vat/returns/" + target.key)
	if p.status != http.StatusOK {
		t.Fatalf("view: status %d:\n%s", p.status, p.text())
	}
	env.fraudVerdict(t, hmrcsim.VATFraudAPI, true)
	p.mustContain(t, "VAT return for period "+target.key, "As HMRC holds it", "2 VAT due on acquisitions of goods made in Northern Ireland from EU Member States £0.00",
		"5 Net VAT to pay to HMRC or reclaim (the difference between boxes 3 and 4) £749.50", "7 Total value of purchases and all other inputs excluding any VAT. Include your box 9 figure £2,000.00",
		"You owe HMRC £749.50.", "Your receipt for this return")

	// A second return for the period: HMRC refuses it as a duplicate.
	requests := env.Sim.Stats().APIRequests
	p = b.post("/vat/submit", form)
	if p.status != http.StatusConflict {
		t.Fatalf("duplicate: status %d:\n%s", p.status, p.text())
	}
	// The period's obligation, read to check the form's period, and the
	// return HMRC refuses.
	if env.Sim.Stats().APIRequests != requests+2 {
		t.Errorf("duplicate: %d HMRC requests, want 2", env.Sim.Stats().APIRequests-requests)
	}
	p.mustContain(t, "HMRC already has a return for this period", "View the return HMRC holds for this period")
	if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeVAT, 10); len(subs) != 1 {
		t.Errorf("a refused return left a receipt: %d receipts", len(subs))
	}

	// Another landlord sees neither the receipt nor anything of this VAT.
	o := env.browser()
	o.signIn(otherEmail, otherPassword)
	if p := o.get(fmt.Sprintf("/vat/receipts/%d", sub.ID)); p.status != http.StatusNotFound || strings.Contains(p.text(), rec.FormBundleNumber) {
		t.Errorf("another landlord's receipt: status %d", p.status)
	}
	if p := o.get("/vat/returns/" + target.key); p.status != http.StatusConflict || strings.Contains(p.text(), "£749.50") {
		t.Errorf("another landlord's return: status %d:\n%s", p.status, p.text())
	}
	for _, bad := range []string{"/vat/receipts/0", "/vat/receipts/abc", "/vat/receipts/999999", "/vat/returns/ABCDE", "/vat/returns/a1"} {
		if p := b.get(bad); p.status != http.StatusNotFound {
			t.Errorf("%s: status %d", bad, p.status)
		}
	}
	// An Income Tax receipt is not a VAT one.
	itsa := &mtdconnect.Submission{UserID: env.landlord.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionUKPropertyCumulative,
		Period: "2025-26", Body: []byte(`{}`), CorrelationID: "c", SubmittedAt: now}
	if err := env.Store.SaveSubmission(t.Context(), itsa); err != nil {
		t.Fatal(err)
	}
	if p := b.get(fmt.Sprintf("/vat/receipts/%d", itsa.ID)); p.status != http.StatusNotFound {
		t.Errorf("an Income Tax receipt as a VAT one: status %d", p.status)
	}
}

// TestVATReturnChecks: each problem HMRC's rules would refuse is shown
// next to its box, what was typed is kept, and nothing is sent to HMRC.
func TestVATReturnChecks(t *testing.T) {
	env := newTestEnv(t)
	b := env.vatLandlord(true)
	p := b.get("/vat")
	good := returnForm(t, p)

	for _, tt := range []struct {
		name    string
		values  map[string]string
		field   string // the error's id prefix: box1…box9, declaration
		message string
	}{
		{"box 3 is not box 1 + box 2", map[string]string{"totalVatDue": "999.99"}, "box3",
			"Box 3 must be box 1 plus box 2, which is £1,000.00. Correct it, or leave it empty to have it worked out"},
		{"box 5 is not box 3 − box 4", map[string]string{"netVatDue": "750.50"}, "box5",
			"Box 5 must be the difference between box 3 and box 4, which is £749.50 (never negative)"},
		{"box 5 is negative", map[string]string{"vatDueSales": "100", "netVatDue": "-150.50"}, "box5",
			"Enter box 5 as £0 or more, up to £99,999,999,999.99"},
		{"box 5 of a repayment worked out wrongly", map[string]string{"vatDueSales": "100", "totalVatDue": "100", "netVatDue": "0"}, "box5",
			"which is £150.50 (never negative)"},
		{"box 6 with pence", map[string]string{"totalValueSalesExVAT": "5000.50"}, "box6",
			"Enter box 6 in whole pounds, with no pence, between −£9,999,999,999,999 and £9,999,999,999,999"},
		{"box 7 with pence", map[string]string{"totalValuePurchasesExVAT": "1.5"}, "box7", "Enter box 7 in whole pounds, with no pence"},
		{"box 8 with pence", map[string]string{"totalValueGoodsSuppliedExVAT": "0.01"}, "box8", "Enter box 8 in whole pounds, with no pence"},
		{"box 9 with pence", map[string]string{"totalAcquisitionsExVAT": "-3.25"}, "box9", "Enter box 9 in whole pounds, with no pence"},
		{"box 1 with three decimals", map[string]string{"vatDueSales": "10.005"}, "box1",
			"Enter box 1 in pounds and pence, with no more than 2 decimal places"},
		{"box 4 too large", map[string]string{"vatReclaimedCurrPeriod": "10000000000000"}, "box4", "Enter box 4 in pounds and pence"},
		{"box 2 not a number", map[string]string{"vatDueAcquisitions": "twelve"}, "box2", "Enter box 2 as an amount in pounds, like 1250.00"},
		{"box 7 not a number", map[string]string{"totalValuePurchasesExVAT": "lots"}, "box7", "Enter box 7 as an amount in pounds, like 1250"},
		{"box 1 missing", map[string]string{"vatDueSales": ""}, "box1", "Enter box 1. If there is nothing to declare in it, enter 0"},
		{"box 8 missing", map[string]string{"totalValueGoodsSuppliedExVAT": " "}, "box8", "Enter box 8."},
		{"no declaration", map[string]string{"finalised": ""}, "declaration", "Confirm the declaration to file the return"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range good {
				f[k] = v
			}
			for k, v := range tt.values {
				f.Set(k, v)
			}
			requests := env.Sim.Stats().APIRequests
			p := b.post("/vat/submit", f)
			if p.status != http.StatusBadRequest {
				t.Fatalf("status %d:\n%s", p.status, p.text())
			}
			if got := env.Sim.Stats().APIRequests; got != requests {
				t.Errorf("%d requests reached HMRC", got-requests)
			}
			p.mustContain(t, "There is a problem", tt.message)
			m := fmt.Sprintf(`<p class="error-message" id="%s-error"><span class="visually-hidden">Error:</span> `, tt.field)
			if i := strings.Index(p.body, m); i < 0 || !strings.Contains(p.text(), tt.message) {
				t.Errorf("no error next to %s:\n%s", tt.field, p.body)
			}
			if !strings.Contains(p.body, `href="#`+tt.field+`"`) {
				t.Errorf("the summary does not link to %s", tt.field)
			}
			// Only that field is in error.
			if n := strings.Count(p.body, `class="error-message" id=`); n != 1 {
				t.Errorf("%d fields in error, want 1:\n%s", n, p.text())
			}
			// What was typed is kept.
			back := p.findForm(t, "/vat/submit").values
			for k, v := range tt.values {
				if k != "finalised" && back.Get(k) != v {
					t.Errorf("%s holds %q, want %q", k, back.Get(k), v)
				}
			}
			if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeVAT, 10); len(subs) != 0 {
				t.Errorf("a refused return left a receipt: %+v", subs)
			}
		})
	}

	t.Run("several problems at once", func(t *testing.T) {
		f := url.Values{}
		for k, v := range good {
			f[k] = v
		}
		f.Set("totalValueSalesExVAT", "1.5")
		f.Set("vatDueSales", "")
		f.Del("finalised")
		p := b.post("/vat/submit", f)
		p.mustContain(t, "Enter box 6 in whole pounds", "Enter box 1.", "Confirm the declaration to file the return")
		if strings.Contains(p.body, `checked`) {
			t.Error("the declaration is ticked although it was not")
		}
	})

	t.Run("period not ended", func(t *testing.T) {
		periods := vatPeriods(env.Clock.Now())
		current := periods[len(periods)-1]
		f := url.Values{}
		for k, v := range good {
			f[k] = v
		}
		f.Set("periodKey", current.key)
		f.Set("start", current.startS)
		f.Set("end", current.endS)
		requests := env.Sim.Stats().APIRequests
		p := b.post("/vat/submit", f)
		if p.status != http.StatusUnprocessableEntity || env.Sim.Stats().APIRequests != requests {
			t.Errorf("status %d, %d HMRC requests", p.status, env.Sim.Stats().APIRequests-requests)
		}
		p.mustContain(t, "The period has not ended yet", "You can file after the period ends on "+current.endW+".")
	})

	t.Run("tampered period", func(t *testing.T) {
		for _, c := range []map[string]string{
			{"periodKey": "ABCDE"}, {"periodKey": ""}, {"start": "2025-13-01"}, {"end": "yesterday"},
			{"start": "2025-06-30", "end": "2025-04-01"},
		} {
			f := url.Values{}
			for k, v := range good {
				f[k] = v
			}
			for k, v := range c {
				f.Set(k, v)
			}
			if p := b.post("/vat/submit", f); p.status != http.StatusBadRequest {
				t.Errorf("%v: status %d", c, p.status)
			}
		}
	})
}

// TestVATNumber: the VRN is normalised and checked; a bad one is shown next
// to the field and changes nothing.
func TestVATNumber(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	for _, tt := range []struct{ in, problem string }{
		{"", "Your VAT registration number must not be empty."},
		{"   ", "Your VAT registration number must not be empty."},
		{"12345678", "Your VAT registration number must be 9 digits, optionally starting with GB, like GB123456789."},
		{"1234567890", "must be 9 digits"},
		{"GB12345678X", "must be 9 digits"},
		{"XI123456789", "must be 9 digits"},
		{"１２３４５６７８９", "must be 9 digits"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			b.setVRN(tt.in).mustRefuseField(t, "/vat/vrn", "vrn", tt.problem, tt.in)
			if u := env.user(env.landlord.ID); u.VRN != "" {
				t.Errorf("bad input stored VRN %q", u.VRN)
			}
		})
	}
	f := b.get("/vat").findForm(t, "/vat/vrn")
	f.values.Set("vrn", "987654321")
	if saved := b.do(b.noFollow, b.postRequest("/vat/vrn", f.values)); cookiesCarry(saved.header, "987654321") {
		t.Errorf("a cookie carries the VRN: %q", saved.header.Values("Set-Cookie"))
	}
	b.get("/vat").mustContain(t, "Your VAT registration number is saved.", "VAT registration number 987654321.")
	// A bad change leaves the saved one alone.
	b.setVRN("98765432").mustContain(t, "must be 9 digits")
	if u := env.user(env.landlord.ID); u.VRN != "987654321" {
		t.Errorf("stored VRN %q after a refused change", u.VRN)
	}
	if u := env.user(env.other.ID); u.VRN != "" {
		t.Errorf("other user's VRN %q", u.VRN)
	}

	// A VRN that is not the one of the Government Gateway account that
	// granted the authority: HMRC refuses, and the page says what to do.
	withVAT(env)
	b.connectVAT()
	p := b.get("/vat")
	if p.status != http.StatusForbidden {
		t.Errorf("status %d", p.status)
	}
	p.mustContain(t, "HMRC says the Government Gateway account you connected for VAT cannot act for the VAT registration number saved for you",
		"Check your VAT registration number")
}

// TestVATWithoutMFA: a landlord signed in with a password only. The
// headers are complete but for Gov-Client-Multi-Factor, which is declared
// missing (the spec's process for a sign-in without a second factor):
// HMRC's validator reports that, and only that.
func TestVATWithoutMFA(t *testing.T) {
	env := newTestEnv(t)
	b := env.vatLandlord(false)
	p := b.get("/vat")
	if p.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", p.status, p.text())
	}
	env.fraudVerdict(t, hmrcsim.VATFraudAPI, false)
	p = b.post("/vat/submit", returnForm(t, p))
	if !strings.HasPrefix(p.url.Path, "/vat/receipts/") {
		t.Fatalf("submit ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	env.fraudVerdict(t, hmrcsim.VATFraudAPI, false)
}

// TestVATSubmitOutcomeUnknown: HMRC files the return but the answer is
// lost. The landlord is told to check before trying again; the obligation
// then shows fulfilled, and a second try is refused as a duplicate.
func TestVATSubmitOutcomeUnknown(t *testing.T) {
	env := newTestEnv(t)
	b := env.vatLandlord(true)
	target := vatPeriods(env.Clock.Now())[0]
	form := returnForm(t, b.get("/vat"))

	env.Sim.SetFaults(hmrcsim.Faults{LostResponseRate: 1, Methods: []string{http.MethodPost}})
	p := b.post("/vat/submit", form)
	env.Sim.SetFaults(hmrcsim.Faults{})
	if p.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d:\n%s", p.status, p.text())
	}
	p.mustContain(t, "We could not confirm HMRC received your return; check the obligations before trying again", "Check your VAT obligations")
	if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeVAT, 10); len(subs) != 0 {
		t.Errorf("receipts %+v without HMRC's answer", subs)
	}
	b.get("/vat").mustContain(t, target.words+" "+target.dueW+" Received")
	b.post("/vat/submit", form).mustContain(t, "HMRC already has a return for this period")
}

// TestVATPurposesApart: a VAT connection is never used for Income Tax,
// nor an Income Tax one for VAT, on the pages and in the API.
func TestVATPurposesApart(t *testing.T) {
	env := newTestEnv(t)
	withVAT(env)

	// The landlord connects for Income Tax only.
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.setNINO(testNINO)
	b.setVRN(testVRN)
	b.connect()
	p := b.get("/vat")
	p.mustContain(t, "Connect mtdconnect to HMRC for VAT before filing VAT returns", "Connect to HMRC for VAT")
	p.mustNotContain(t, "Submit VAT return to HMRC")
	if _, called := env.Sim.LastFraudResult(hmrcsim.VATFraudAPI); called {
		t.Error("the VAT API was called without a VAT connection")
	}
	b.get("/vat/returns/25A1").mustContain(t, "Connect mtdconnect to HMRC for VAT before viewing VAT returns")
	status, m := env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/vat/obligations", env.landlord.ID), "", platformDevice())
	if status != http.StatusNotFound || m["error"] != "not_connected" || !strings.Contains(m["message"].(string), "for VAT") {
		t.Errorf("%d %v", status, m)
	}
	if _, called := env.Sim.LastFraudResult(hmrcsim.VATFraudAPI); called {
		t.Error("the VAT API was called without a VAT connection")
	}
	// The Income Tax connection works for Income Tax.
	if status, m := env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/obligations", env.landlord.ID), "", platformDevice()); status != http.StatusOK {
		t.Errorf("Income Tax: %d %v", status, m)
	}

	// The other landlord connects for VAT only.
	o := env.browser()
	o.signIn(otherEmail, otherPassword)
	o.setNINO(testNINO)
	o.setVRN(testVRN)
	o.connectVAT()
	if c := env.connection(env.other.ID, mtdconnect.PurposeIncomeTax); c != nil {
		t.Fatalf("Income Tax connection %+v", c)
	}
	q := o.get("/quarterly")
	q.mustContain(t, "Connect mtdconnect to HMRC for Income Tax before sending quarterly updates")
	status, m = env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/obligations", env.other.ID), "", platformDevice())
	if status != http.StatusNotFound || m["error"] != "not_connected" {
		t.Errorf("Income Tax with a VAT connection only: %d %v", status, m)
	}
	// The VAT connection works for VAT: the simulator checks the token's
	// scope, so an Income Tax token would be refused there.
	o.get("/vat").mustContain(t, "Your VAT periods")
	status, m = env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/vat/obligations", env.other.ID), "", platformDevice())
	if status != http.StatusOK {
		t.Errorf("VAT: %d %v", status, m)
	}

	// Each connection has only its purpose's scopes.
	vat, itsa := env.connection(env.other.ID, mtdconnect.PurposeVAT), env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
	if vat.Scopes != "read:vat write:vat" || itsa.Scopes != "read:self-assessment write:self-assessment" {
		t.Errorf("scopes: VAT %q, Income Tax %q", vat.Scopes, itsa.Scopes)
	}
	// Disconnecting VAT leaves Income Tax alone (the landlord now holds both).
	b.connectVAT()
	f := b.get("/settings/hmrc?purpose=vat").findForm(t, "/settings/hmrc/disconnect")
	f.values.Set("confirm", "yes")
	b.post("/settings/hmrc/disconnect", f.values)
	if env.connection(env.landlord.ID, mtdconnect.PurposeVAT) != nil || env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax) == nil {
		t.Error("disconnecting VAT did not leave exactly the Income Tax connection")
	}
	b.get("/vat").mustContain(t, "Connect mtdconnect to HMRC for VAT before filing VAT returns")
}
