package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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

// The deployment the Income Tax browser test plays: the service behind a
// load balancer at itsaVendorIP (played by loopback, a trusted proxy), the
// landlord's browser at itsaClientIP on the internet.
const (
	itsaVendorIP   = "203.0.113.6"
	itsaClientIP   = "198.51.100.7"
	itsaClientPort = 51234
)

// simFeedback asks the simulator's Test Fraud Prevention Headers API for
// its feedback on the latest requests to api, as a developer would at
// HMRC: with an application-restricted token.
func simFeedback(t *testing.T, simURL, api string) []map[string]any {
	t.Helper()
	// The simulator limits the application to 3 requests a second, as
	// HMRC does: after a 429, pause and try again, as HMRC advises.
	do := func(newReq func() *http.Request) *http.Response {
		for attempt := 1; ; attempt++ {
			resp, err := http.DefaultClient.Do(newReq())
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusTooManyRequests || attempt == 10 {
				return resp
			}
			resp.Body.Close()
			time.Sleep(500 * time.Millisecond)
		}
	}
	resp := do(func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, simURL+"/oauth/token", strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "client_id": {simClientID}, "client_secret": {simClientSecret},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("application token: %v (status %d)", err, resp.StatusCode)
	}
	resp = do(func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, simURL+"/test/fraud-prevention-headers/"+api+"/validation-feedback?connectionMethod=WEB_APP_VIA_SERVER", nil)
		req.Header.Set("Accept", "application/vnd.hmrc.1.0+json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return req
	})
	defer resp.Body.Close()
	var fb struct {
		Requests []map[string]any `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fb); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s feedback: status %d, %v", api, resp.StatusCode, err)
	}
	return fb.Requests
}

// TestBrowserQuarterlyUpdate drives headless Chromium through a landlord's
// quarterly update: sign in with an authenticator app, add the National
// Insurance number, connect at the simulator, see the obligations, send an
// update, see the receipt and the obligation received. The simulator's
// verdict on the fraud prevention headers of every HMRC call the journey
// made is VALID_HEADERS.
func TestBrowserQuarterlyUpdate(t *testing.T) {
	b := newBrowserRun(t, 120*time.Second, map[string]string{
		"MTDCONNECT_TRUSTED_PROXIES":  "127.0.0.1,::1",
		"MTDCONNECT_VENDOR_PUBLIC_IP": itsaVendorIP,
		"MTDCONNECT_LICENCE_IDS":      "mtdconnect=browser-test-licence",
	})
	button := func(label string) chromedp.Search {
		return chromedp.Search(`//main//button[contains(., '` + label + `')]`)
	}

	// What the load balancer adds to every request: where the browser
	// connected from.
	b.step("play the load balancer", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{
			"Forwarded": fmt.Sprintf(`for="%s:%d";by=%s;proto=https`, itsaClientIP, itsaClientPort, itsaVendorIP),
		}})
		return err
	}))

	// Sign in with the password, add an authenticator app, and sign in
	// again with a code from it: HMRC is then told of the second factor.
	b.step("sign in",
		chromedp.Navigate(b.baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)
	b.step("open the authenticator app page",
		chromedp.Navigate(b.baseURL+"/settings/security/totp"),
		chromedp.WaitVisible(chromedp.CSS(`#totp-key`)),
	)
	key, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(`#totp-key`)))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(key), " ", ""))
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
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
		chromedp.Click(chromedp.Search(`//form[@action="/signout"]//button`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	)
	b.step("sign in with password and code",
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/signin/code"] #code`)),
		// The app's next code: the one just used is refused (and the
		// server accepts one step either side).
		chromedp.SendKeys(chromedp.CSS(`#code`), web.TOTPCode(secret, time.Now().Add(30*time.Second))),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)

	// The quarterly page asks for the NINO first, then for a connection.
	b.step("open quarterly updates",
		chromedp.Click(chromedp.Search(`//nav//a[contains(., 'Quarterly updates')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Quarterly updates')]`)),
	)
	if body := b.innerText("quarterly without NINO", "main"); !strings.Contains(body, "Add your National Insurance number before sending quarterly updates") {
		t.Fatalf("quarterly page without a NINO:\n%s", body)
	}
	b.step("enter the NINO",
		chromedp.Click(chromedp.Search(`//main//a[contains(., 'Add your National Insurance number')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#nino`)),
		chromedp.SendKeys(chromedp.CSS(`#nino`), "tc 66 37 95 b"),
		chromedp.Click(button("National Insurance number")),
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'is saved')]`)),
	)
	if body := b.innerText("NINO saved", "main"); !strings.Contains(body, "Your National Insurance number is saved.") {
		t.Errorf("after saving the NINO:\n%s", body)
	}
	if v, _ := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("#nino"))); v != simUserNINO {
		t.Errorf("the NINO field shows %q after saving, want it normalised to %s", v, simUserNINO)
	}

	b.step("connect to HMRC",
		chromedp.Click(button("Connect to HMRC")),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
	)
	b.grantAtSimulator()

	// The obligations of the tax year with a period HMRC takes an update
	// for today (the previous one early in a tax year).
	now := time.Now()
	year := itsa.CurrentTaxYear(now)
	firstEnd := time.Date(int(year), time.July, 5, 0, 0, 0, 0, time.UTC)
	page := b.baseURL + "/quarterly"
	if firstEnd.After(now.AddDate(0, 0, 10)) {
		year--
		firstEnd = firstEnd.AddDate(-1, 0, 0)
		page += "?taxYear=" + year.String()
		if year < itsa.CumulativeFirstTaxYear {
			t.Skip("no cumulative period HMRC takes an update for yet")
		}
	}
	period := fmt.Sprintf("6 April %d to %s", int(year), firstEnd.Format("2 January 2006"))
	b.step("see the obligations",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
		chromedp.WaitVisible(chromedp.CSS(`#income-periodAmount`)),
	)
	body := b.innerText("obligations", "main")
	for _, want := range []string{"Tax year " + year.String(), period, "Update for " + period, "one consolidated total"} {
		if !strings.Contains(body, want) {
			t.Errorf("quarterly page lacks %q", want)
		}
	}
	if strings.Count(body, "6 April "+fmt.Sprint(int(year))+" to") < 4 {
		t.Errorf("quarterly page does not list the 4 periods:\n%s", body)
	}
	b.checkPage("quarterly updates")

	b.step("send the update",
		chromedp.SendKeys(chromedp.CSS(`#income-periodAmount`), "12,500.00"),
		chromedp.SendKeys(chromedp.CSS(`#expenses-repairsAndMaintenance`), "1200.50"),
		chromedp.SendKeys(chromedp.CSS(`#expenses-residentialFinancialCost`), "300"),
		chromedp.Click(button("Send update to HMRC")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC received your update')]`)),
	)
	body = b.innerText("receipt", "main")
	for _, want := range []string{"Tax year " + year.String(), period, "HMRC reference", "Rents and other property income (Income) £12,500.00",
		"Property repairs and maintenance (Expenses) £1,200.50", "Residential property finance costs (Expenses) £300.00"} {
		if !strings.Contains(body, want) {
			t.Errorf("receipt lacks %q:\n%s", want, body)
		}
	}
	ref, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.Search(`//dt[.='HMRC reference']/following-sibling::dd/code`)))
	if err != nil || len(strings.TrimSpace(ref)) != 36 {
		t.Errorf("HMRC reference %q, %v", ref, err)
	}
	b.checkPage("quarterly receipt")

	b.step("back to the obligations",
		chromedp.Click(chromedp.Search(`//main//a[contains(., 'Back to your quarterly updates')]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
	)
	if page != b.baseURL+"/quarterly" {
		b.step("the tax year of the update", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`table.obligations`)))
	}
	row, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.Search(`//table[contains(@class,'obligations')]//tr[td[contains(., '`+period+`')]]`)))
	if err != nil {
		t.Fatal(err)
	}
	// HMRC may take up to an hour to mark it received (the demo takes 2
	// minutes): the receipt shows at once, and the page says why the
	// obligation is not received yet.
	if r := strings.Join(strings.Fields(row), " "); !strings.Contains(r, "Sent on") || !strings.Contains(r, "It may take HMRC up to an hour to show it as received") {
		t.Errorf("the obligation of the update is not shown as sent: %q", r)
	}
	if body := b.innerText("receipts", "main"); !strings.Contains(body, strings.TrimSpace(ref)) {
		t.Errorf("the receipt is not listed:\n%s", body)
	}

	// Every HMRC call of the journey came from the browser, with valid
	// fraud prevention headers.
	for _, api := range []string{"business-details-mtd", "obligations-mtd", "property-business-mtd"} {
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
