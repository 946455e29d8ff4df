package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserVATJourney drives headless Chromium through a VAT return: sign
// in, connect for VAT (granting at the simulator), enter the VRN, see the
// obligations, file a return, see the receipt and the obligation
// fulfilled. The pages keep the strict CSP throughout.
func TestBrowserVATJourney(t *testing.T) {
	chrome := findChromium(t)
	baseURL, logs := startBrowserService(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	var (
		consoleMu sync.Mutex
		console   []string
	)
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			consoleMu.Lock()
			console = append(console, fmt.Sprintf("%s (%s)", m, m.URL))
			consoleMu.Unlock()
		}
	}()
	consoleText := func() string {
		consoleMu.Lock()
		defer consoleMu.Unlock()
		return strings.Join(console, "\n")
	}
	defer func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", consoleText())
			t.Logf("service output:\n%s", logs)
		}
	}()
	where := func() string {
		sctx, scancel := context.WithTimeout(bctx, 3*time.Second)
		defer scancel()
		url, _ := chromedp.Run(sctx, chromedp.Location())
		body, _ := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("body")))
		return fmt.Sprintf("at %s\npage:\n%s", url, body)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, where())
		}
	}
	text := func(name string, sel string) string {
		t.Helper()
		// textContent, not innerText: tags are upper-cased by CSS.
		s, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, where())
		}
		return strings.Join(strings.Fields(s), " ")
	}
	mustSay := func(name, sel string, wants ...string) {
		t.Helper()
		got := text(name, sel)
		for _, want := range wants {
			if !strings.Contains(got, want) {
				t.Errorf("%s: %q lacks %q:\n%s", name, sel, want, got)
			}
		}
	}

	step("sign in",
		chromedp.Navigate(baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('form[action="/signin"] input[name="fph"]').value !== ""`,
			chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button[contains(., 'Sign in')]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/signin"]`)),
	)

	// The VAT page, from the navigation: no VAT connection yet.
	step("open the VAT page",
		chromedp.Click(chromedp.Search(`//nav//a[.='VAT returns']`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'VAT returns')]`)),
	)
	mustSay("VAT page before connecting", "main", "Connect mtdconnect to HMRC for VAT before filing VAT returns")

	// Connect for VAT: the VAT tab of the settings, the simulator's
	// Government Gateway sign-in and grant page, back to the VAT tab.
	step("go to the VAT connection",
		chromedp.Click(chromedp.Search(`//a[contains(., 'Connect to HMRC for VAT')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., 'Connect to HMRC')]`)),
	)
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.HasSuffix(loc, "/settings/hmrc?purpose=vat") {
		t.Fatalf("the VAT connect link led to %s", loc)
	}
	step("connect to HMRC for VAT",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Connect to HMRC')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
	)
	step("sign in at the simulator",
		chromedp.SendKeys(chromedp.CSS(`#user_id`), simUserID),
		chromedp.SendKeys(chromedp.CSS(`#password`), simUserPassword),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
	)
	step("grant authority",
		chromedp.Click(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., 'Test connection')]`)),
	)
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.HasPrefix(loc, baseURL+"/settings/hmrc?purpose=vat") {
		t.Errorf("after granting authority the browser is at %s", loc)
	}
	mustSay("VAT connection", "dl.summary", "Connected", "read:vat", "write:vat")

	// The VRN, typed as it is printed on a certificate.
	step("enter the VRN",
		chromedp.Click(chromedp.Search(`//nav//a[.='VAT returns']`)),
		chromedp.WaitVisible(chromedp.CSS(`#vrn`)),
		chromedp.SendKeys(chromedp.CSS(`#vrn`), "GB "+simUserVRN[:3]+" "+simUserVRN[3:7]+" "+simUserVRN[7:]),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Save VAT registration number')]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
	)
	mustSay("VAT page", "main", "Your VAT registration number is saved.", "Your VAT periods")

	// The earliest period is a year back: ended, open, and its return form
	// is offered.
	first := text("first period", `table.obligations tbody tr:first-child td:first-child`)
	mustSay("first period row", `table.obligations tbody tr:first-child`, "Open")
	mustSay("return form", "#return", "VAT return for "+first)

	// File it: boxes 3 and 5 left for the service to work out.
	var fill []chromedp.Action[chromedp.Void]
	for id, v := range map[string]string{"box1": "1,000.00", "box2": "0", "box4": "250.50", "box6": "5000", "box7": "2000", "box8": "0", "box9": "0"} {
		fill = append(fill, chromedp.SendKeys(chromedp.CSS("#"+id), v))
	}
	step("fill the return", fill...)
	step("submit without the declaration",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Submit VAT return to HMRC')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#declaration-error`)),
	)
	mustSay("declaration error", "#declaration-error", "Confirm the declaration to file the return")
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.CSS("#box1"))); v != "1,000.00" {
		t.Errorf("box 1 holds %q after the refusal", v)
	}
	step("declare and submit",
		chromedp.Click(chromedp.CSS(`#declaration`)),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Submit VAT return to HMRC')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC received your VAT return')]`)),
	)
	mustSay("receipt", "main", first, "Form bundle number", "Receipt ID", "HMRC correlation ID", "Processing date",
		"You owe HMRC £749.50.", "HMRC will collect it by Direct Debit (DD)")
	// Box 3 as worked out by the service.
	mustSay("box 3 sent", `table.activity tbody tr:nth-child(3)`, "Total VAT due (the sum of boxes 1 and 2)", "£1,000.00")

	step("back to the VAT page",
		chromedp.Click(chromedp.Search(`//a[contains(., 'Back to your VAT returns')]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
	)
	mustSay("first period after filing", `table.obligations tbody tr:first-child`, first, "Fulfilled", "received", "View return")
	mustSay("receipts", "main", "Receipts", first)

	for _, line := range strings.Split(consoleText(), "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Content-Security-Policy") {
			t.Errorf("CSP violation: %s", line)
		}
	}
}
