package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserVATJourney drives headless Chromium through a VAT return: sign
// in, connect for VAT (granting at the simulator), enter the VRN, see the
// obligations, file a return, see the receipt and the obligation
// fulfilled. The pages keep the strict CSP throughout.
func TestBrowserVATJourney(t *testing.T) {
	b := newBrowserRun(t, 90*time.Second, nil)

	b.step("sign in",
		chromedp.Navigate(b.baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('form[action="/signin"] input[name="fph"]').value !== ""`,
			chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button[contains(., 'Sign in')]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/signin"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)

	// The VAT page, from the navigation: no VAT connection yet.
	b.step("open the VAT page",
		chromedp.Click(chromedp.Search(`//nav//a[.='VAT returns']`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'VAT returns')]`)),
	)
	b.mustSay("VAT page before connecting", "main", "Connect mtdconnect to HMRC for VAT before filing VAT returns")
	b.checkPage("VAT page before connecting")

	// Connect for VAT: straight from the VAT page to the simulator's
	// Government Gateway sign-in and grant page, back to the VAT tab.
	b.step("connect to HMRC for VAT",
		chromedp.Click(chromedp.Search(`//main//button[contains(., 'Connect to HMRC for VAT')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
	)
	b.grantAtSimulator()
	if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); !strings.HasPrefix(loc, b.baseURL+"/settings/hmrc?purpose=vat") {
		t.Errorf("after granting authority the browser is at %s", loc)
	}
	b.mustSay("VAT connection", "dl.summary", "Connected", "read:vat", "write:vat")

	// The VRN, typed as it is printed on a certificate.
	b.step("enter the VRN",
		chromedp.Click(chromedp.Search(`//nav//a[.='VAT returns']`)),
		chromedp.WaitVisible(chromedp.CSS(`#vrn`)),
		chromedp.SendKeys(chromedp.CSS(`#vrn`), "GB "+simUserVRN[:3]+" "+simUserVRN[3:7]+" "+simUserVRN[7:]),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Save VAT registration number')]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
	)
	b.mustSay("VAT page", "main", "Your VAT registration number is saved.", "Your VAT periods")

	// The earliest period is a year back: ended, open, and its return form
	// is offered.
	first := b.text("first period", `table.obligations tbody tr:first-child td:first-child`)
	b.mustSay("first period row", `table.obligations tbody tr:first-child`, "Not sent")
	b.mustSay("return form", "#return", "VAT return for "+first)
	b.checkPage("VAT return form")

	// File it: boxes 3 and 5 left for the service to work out.
	var fill []chromedp.Action[chromedp.Void]
	for id, v := range map[string]string{"box1": "1,000.00", "box2": "0", "box4": "250.50", "box6": "5000", "box7": "2000", "box8": "0", "box9": "0"} {
		fill = append(fill, chromedp.SendKeys(chromedp.CSS("#"+id), v))
	}
	b.step("fill the return", fill...)
	b.step("submit without the declaration",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Submit VAT return to HMRC')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#declaration-error`)),
	)
	b.mustSay("declaration error", "#declaration-error", "Confirm the declaration to file the return")
	b.checkPage("VAT return refused")
	if v, _ := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("#box1"))); v != "1,000.00" {
		t.Errorf("box 1 holds %q after the refusal", v)
	}
	b.step("declare and submit",
		chromedp.Click(chromedp.CSS(`#declaration`)),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Submit VAT return to HMRC')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC received your VAT return')]`)),
	)
	b.mustSay("receipt", "main", first, "Form bundle number", "Receipt ID", "HMRC correlation ID", "Processing date",
		"You owe HMRC £749.50.", "HMRC will collect it by Direct Debit (DD)")
	// Box 3 as worked out by the service.
	b.mustSay("box 3 sent", `table.activity tbody tr:nth-child(3)`, "Total VAT due (the sum of boxes 1 and 2)", "£1,000.00")
	b.checkPage("VAT receipt")

	b.step("back to the VAT page",
		chromedp.Click(chromedp.Search(`//a[contains(., 'Back to your VAT returns')]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
	)
	b.mustSay("first period after filing", `table.obligations tbody tr:first-child`, first, "Received", "View return")
	b.mustSay("receipts", "main", "Receipts", first)
	b.checkPage("VAT page after filing")

	b.noCSPViolations()
}
