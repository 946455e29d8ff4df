package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/web"
)

// advanceSimulator moves the built-in simulator's clock (HMRC's) forward
// by d, as its /admin/clock control does for a demo.
func (b *browserRun) advanceSimulator(d time.Duration) {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"advance": d.String()})
	resp, err := http.Post(b.simURL+"/admin/clock", "application/json", bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("advance the simulator's clock: status %d", resp.StatusCode)
	}
}

// incomeTaxLandlord plays the landlord behind a load balancer (as
// TestBrowserQuarterlyUpdate does): signed in with an authenticator app,
// the NINO saved, connected for Income Tax at the simulator.
func (b *browserRun) incomeTaxLandlord() {
	b.t.Helper()
	button := func(label string) chromedp.Search {
		return chromedp.Search(`//main//button[contains(., '` + label + `')]`)
	}
	b.step("play the load balancer", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{
			"Forwarded": fmt.Sprintf(`for="%s:%d";by=%s;proto=https`, itsaClientIP, itsaClientPort, itsaVendorIP),
		}})
		return err
	}))
	b.step("sign in",
		chromedp.Navigate(b.baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
		chromedp.Navigate(b.baseURL+"/settings/security/totp"),
		chromedp.WaitVisible(chromedp.CSS(`#totp-key`)),
	)
	key := b.text("authenticator key", `#totp-key`)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(key, " ", ""))
	if err != nil {
		b.t.Fatalf("key %q: %v", key, err)
	}
	b.step("turn the app on",
		chromedp.SendKeys(chromedp.CSS(`#code`), web.TOTPCode(secret, time.Now())),
		chromedp.Click(button("Turn on")),
		chromedp.WaitNotPresent(chromedp.CSS(`#totp-key`)),
		// The security page that follows, loaded, before its Sign out is
		// clicked (a node of the page going away cannot be).
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'Your authenticator app is set up')]`)),
		chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	b.step("sign out",
		chromedp.WaitVisible(chromedp.Search(`//form[@action="/signout"]//button`)),
		chromedp.Click(chromedp.Search(`//form[@action="/signout"]//button`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	)
	b.step("sign in with password and code",
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/signin/code"] #code`)),
		// The app's next code: the one just used is refused.
		chromedp.SendKeys(chromedp.CSS(`#code`), web.TOTPCode(secret, time.Now().Add(30*time.Second))),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)
	b.step("save the NINO",
		chromedp.WaitVisible(chromedp.CSS(`#nino`)),
		chromedp.SendKeys(chromedp.CSS(`#nino`), simUserNINO),
		chromedp.Click(button("National Insurance number")),
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'is saved')]`)),
	)
	b.step("connect to HMRC",
		chromedp.WaitVisible(button("Connect to HMRC")),
		chromedp.Click(button("Connect to HMRC")),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
	)
	b.grantAtSimulator()
}

// TestBrowserYearEnd drives headless Chromium through a landlord's whole
// Income Tax year, HMRC's clock moved past the year's end: the four
// quarterly updates, the year at a glance, an estimate, the year-end
// adjustments, the final calculation, HMRC's declaration (refused until
// ticked), the declaration's receipt, and the final declaration shown as
// received. Every HMRC call of the journey has valid fraud prevention
// headers in the simulator's feedback, and the pages keep to the CSP.
func TestBrowserYearEnd(t *testing.T) {
	b := newBrowserRun(t, 240*time.Second, map[string]string{
		"MTDCONNECT_TRUSTED_PROXIES":  "127.0.0.1,::1",
		"MTDCONNECT_VENDOR_PUBLIC_IP": itsaVendorIP,
		"MTDCONNECT_LICENCE_IDS":      "mtdconnect=browser-test-licence",
		// HMRC's clock is moved through the simulator's control endpoint.
		"MTDCONNECT_SIMULATOR_CONTROLS": "true",
	})
	b.incomeTaxLandlord()
	// The tax year under way: once connected, HMRC's clock goes to 10
	// April after it (as the README's demo does), so the year's four
	// periods have ended and it can be finalised. The access token has
	// then expired at HMRC, not here: the first call renews it.
	year := itsa.CurrentTaxYear(time.Now())
	ty := year.String()
	b.advanceSimulator(time.Until(time.Date(int(year)+1, time.April, 10, 10, 0, 0, 0, time.UTC)))
	button := func(label string) chromedp.Search {
		return chromedp.Search(`//main//button[contains(., '` + label + `')]`)
	}

	// Four quarterly updates (year to date): rents £20,000, expenses
	// £4,000, finance costs £3,000 by the year's end.
	ends := []string{fmt.Sprintf("%d-07-05", year), fmt.Sprintf("%d-10-05", year), fmt.Sprintf("%d-01-05", year+1), fmt.Sprintf("%d-04-05", year+1)}
	for i, end := range ends {
		q := i + 1
		b.step("quarterly update to "+end,
			chromedp.Navigate(b.baseURL+"/quarterly?taxYear="+ty+"&period="+end+"#update"),
			chromedp.WaitVisible(chromedp.CSS(`#income-periodAmount`)),
			// The form starts from the last update's figures: replace them.
			chromedp.Clear(chromedp.CSS(`#income-periodAmount`)),
			chromedp.Clear(chromedp.CSS(`#expenses-consolidatedExpenses`)),
			chromedp.Clear(chromedp.CSS(`#expenses-residentialFinancialCost`)),
			chromedp.SendKeys(chromedp.CSS(`#income-periodAmount`), fmt.Sprint(5000*q)),
			chromedp.SendKeys(chromedp.CSS(`#expenses-consolidatedExpenses`), fmt.Sprint(1000*q)),
			chromedp.SendKeys(chromedp.CSS(`#expenses-residentialFinancialCost`), fmt.Sprint(750*q)),
			chromedp.Click(button("Send update to HMRC")),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC received your update')]`)),
		)
	}

	// The year at a glance, from the navigation.
	b.step("open your tax year",
		chromedp.Click(chromedp.Search(`//nav//a[contains(., 'Your tax year')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Your tax year')]`)),
		chromedp.Navigate(b.baseURL+"/tax-year/"+ty),
		chromedp.WaitVisible(chromedp.CSS(`#deadlines`)),
	)
	// HMRC may take up to an hour to mark the updates received (the demo's
	// HMRC takes demoFulfilmentDelay): each shows as sent, with why, until
	// mtdconnect asks HMRC again (landlord.SentRecheck, on its own clock).
	deadlines := b.text("deadlines", `#deadlines`)
	if strings.Count(deadlines, "Sent on") != 4 || strings.Count(deadlines, "HMRC may take up to an hour to show it as received") != 4 ||
		!strings.Contains(deadlines, "Final declaration") ||
		!strings.Contains(deadlines, fmt.Sprintf("31 January %d", int(year)+2)) {
		t.Errorf("deadlines:\n%s", deadlines)
	}
	b.mustSay("what mtdconnect does not do", `main`, "What mtdconnect does not send", "Business Source Adjustable Summary", "HMRC online services")
	b.checkPage("tax year")

	// An estimate: HMRC asks for 5 seconds, the page waits for it.
	b.step("get an estimate",
		chromedp.Click(button("Get an estimate of your tax")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Your tax estimate')]`)),
	)
	b.mustSay("estimate", `main`, "HMRC says: This calculation is only based on information HMRC have received about your income and expenses to 5 April "+fmt.Sprint(int(year)+1),
		"Taxable profit£16,000.00", "Total Income Tax and National Insurance due£86.00")
	b.checkPage("estimate")
	b.step("open the year-end adjustments",
		chromedp.Navigate(b.baseURL+"/tax-year/"+ty+"/adjustments"),
		chromedp.WaitVisible(chromedp.CSS(`#adjustments-nonResidentLandlord-no`)),
	)
	b.checkPage("year-end adjustments")

	// The year-end adjustments.
	b.step("send the year-end adjustments",
		chromedp.Navigate(b.baseURL+"/tax-year/"+ty+"/adjustments"),
		chromedp.WaitVisible(chromedp.CSS(`#adjustments-nonResidentLandlord-no`)),
		chromedp.Click(chromedp.CSS(`#adjustments-nonResidentLandlord-no`)),
		chromedp.SendKeys(chromedp.CSS(`#adjustments-balancingCharge`), "200"),
		chromedp.SendKeys(chromedp.CSS(`#allowances-costOfReplacingDomesticItems`), "500"),
		chromedp.Click(button("Send year-end adjustments to HMRC")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC received your year-end adjustments')]`)),
	)
	b.mustSay("adjustments receipt", `main`, "Balancing charges (Adjustments)£200.00", "Replacing domestic items (Allowances)£500.00")
	b.checkPage("adjustments receipt")

	// The final calculation and HMRC's declaration.
	b.step("get the final calculation",
		chromedp.Navigate(b.baseURL+"/tax-year/"+ty),
		chromedp.WaitVisible(button("Get your final calculation")),
		chromedp.Click(button("Get your final calculation")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Your final calculation')]`)),
	)
	b.mustSay("final calculation", `main`, "Taxable profit£15,700.00", "Total Income Tax and National Insurance due£26.00",
		"I declare that the information and tax return I have submitted are (taken together) correct and complete")
	b.checkPage("final calculation")
	b.step("declare without agreeing",
		chromedp.Click(button("Make your final declaration")),
		chromedp.WaitVisible(chromedp.CSS(`#agree-error`)),
	)
	b.mustSay("not agreed", `main`, "There is a problem", "Tick the box to agree to the declaration")
	if focus := b.read("focus", chromedp.Evaluate[string](`document.activeElement.id`)); focus != "error-summary" {
		t.Errorf("after the refusal the focus is on %q, want the error summary", focus)
	}
	b.checkPage("declaration refused")
	b.step("agree and declare",
		chromedp.Click(chromedp.CSS(`#agree`)),
		chromedp.Click(button("Make your final declaration")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC received your final declaration')]`)),
	)
	b.mustSay("declaration receipt", `main`, "Tax year "+ty, "HMRC reference", "Calculation ID", "The calculation you agreed to",
		"Total Income Tax and National Insurance due£26.00")
	b.checkPage("declaration receipt")

	// The obligation is met once HMRC shows it (its clock moved past the
	// demo's delay).
	b.advanceSimulator(demoFulfilmentDelay)
	b.step("back to the tax year",
		chromedp.Navigate(b.baseURL+"/tax-year/"+ty),
		chromedp.WaitVisible(chromedp.CSS(`#deadlines`)),
	)
	row := b.read("final declaration row", chromedp.TextContent(chromedp.Search(`//table[@id='deadlines']//tr[td[contains(., 'Final declaration')]]`)))
	if !strings.Contains(row, "Received") {
		t.Errorf("the final declaration is not received: %q", row)
	}
	b.mustSay("declared", `main`, "HMRC has your final declaration", "Amend your tax year "+ty)

	for _, api := range []string{"individual-calculations-mtd", "property-business-mtd", "obligations-mtd"} {
		reqs := simFeedback(t, b.simURL, api)
		if len(reqs) == 0 {
			t.Errorf("%s: no requests", api)
		}
		for _, r := range reqs {
			if r["code"] != hmrcsim.FraudValid {
				t.Errorf("%s %s %s: %v: errors %v warnings %v", api, r["method"], r["path"], r["code"], r["errors"], r["warnings"])
			}
		}
	}
	b.noCSPViolations()
}
