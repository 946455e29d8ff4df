package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mtdconnect/mtdconnect/hmrc"
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

// startServiceWith is startBrowserService with more configuration.
func startServiceWith(t *testing.T, extra map[string]string) (baseURL, simURL string, logs *syncBuffer) {
	t.Helper()
	addr, simAddr := browserFreeAddr(t), browserFreeAddr(t)
	env := map[string]string{
		"MTDCONNECT_ADDR":           addr,
		"MTDCONNECT_SIMULATOR_ADDR": simAddr,
		"MTDCONNECT_DATA_DIR":       t.TempDir(),
		"MTDCONNECT_HMRC":           "simulator",
	}
	for k, v := range extra {
		env[k] = v
	}
	logs = new(syncBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), logs, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run returned %v\noutput:\n%s", err, logs)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("run did not return within 15s of cancel\noutput:\n%s", logs)
		}
	})
	baseURL, simURL = "http://"+addr, "http://"+simAddr
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("run returned before serving: %v\noutput:\n%s", err, logs)
		default:
		}
		resp, err := client.Get(baseURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return baseURL, simURL, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not healthy after 20s (last error %v)\noutput:\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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
	chrome := findChromium(t)
	baseURL, simURL, logs := startServiceWith(t, map[string]string{
		"MTDCONNECT_TRUSTED_PROXIES":  "127.0.0.1,::1",
		"MTDCONNECT_VENDOR_PUBLIC_IP": itsaVendorIP,
		"MTDCONNECT_LICENCE_IDS":      "mtdconnect=browser-test-licence",
	})

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
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
		loc, _ := chromedp.Run(sctx, chromedp.Location())
		body, _ := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("body")))
		return fmt.Sprintf("at %s\npage:\n%s", loc, body)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, where())
		}
	}
	bodyText := func(name string) string {
		t.Helper()
		// innerText, so table cells come apart; the status tags are
		// upper-cased by CSS, so they are read with textContent instead.
		body, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, where())
		}
		return strings.Join(strings.Fields(body), " ")
	}
	button := func(label string) chromedp.Search {
		return chromedp.Search(`//main//button[contains(., '` + label + `')]`)
	}

	// What the load balancer adds to every request: where the browser
	// connected from.
	step("play the load balancer", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{
			"Forwarded": fmt.Sprintf(`for="%s:%d";by=%s;proto=https`, itsaClientIP, itsaClientPort, itsaVendorIP),
		}})
		return err
	}))

	// Sign in with the password, add an authenticator app, and sign in
	// again with a code from it: HMRC is then told of the second factor.
	step("sign in",
		chromedp.Navigate(baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)
	step("open the authenticator app page",
		chromedp.Navigate(baseURL+"/settings/security/totp"),
		chromedp.WaitVisible(chromedp.CSS(`#totp-key`)),
	)
	key, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(`#totp-key`)))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(key), " ", ""))
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	step("turn the app on",
		chromedp.SendKeys(chromedp.CSS(`#code`), web.TOTPCode(secret, time.Now())),
		chromedp.Click(button("Turn on")),
		chromedp.WaitNotPresent(chromedp.CSS(`#totp-key`)),
	)
	step("sign out",
		chromedp.Click(chromedp.Search(`//form[@action="/signout"]//button`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	)
	step("sign in with password and code",
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
	step("open quarterly updates",
		chromedp.Click(chromedp.Search(`//nav//a[contains(., 'Quarterly updates')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Quarterly updates')]`)),
	)
	if body := bodyText("quarterly without NINO"); !strings.Contains(body, "Add your National Insurance number before sending quarterly updates") {
		t.Fatalf("quarterly page without a NINO:\n%s", body)
	}
	step("enter the NINO",
		chromedp.Click(chromedp.Search(`//main//a[contains(., 'Add your National Insurance number')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#nino`)),
		chromedp.SendKeys(chromedp.CSS(`#nino`), "tc 66 37 95 b"),
		chromedp.Click(button("National Insurance number")),
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'is saved')]`)),
	)
	if body := bodyText("NINO saved"); !strings.Contains(body, "Your National Insurance number is saved.") {
		t.Errorf("after saving the NINO:\n%s", body)
	}
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.CSS("#nino"))); v != simUserNINO {
		t.Errorf("the NINO field shows %q after saving, want it normalised to %s", v, simUserNINO)
	}

	step("connect to HMRC",
		chromedp.Click(button("Connect to HMRC")),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
		chromedp.SendKeys(chromedp.CSS(`#user_id`), simUserID),
		chromedp.SendKeys(chromedp.CSS(`#password`), simUserPassword),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
		chromedp.Click(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., 'Test connection')]`)),
	)

	// The obligations of the tax year with a period HMRC takes an update
	// for today (the previous one early in a tax year).
	now := time.Now()
	year := hmrc.CurrentTaxYear(now)
	firstEnd := time.Date(int(year), time.July, 5, 0, 0, 0, 0, time.UTC)
	page := baseURL + "/quarterly"
	if firstEnd.After(now.AddDate(0, 0, 10)) {
		year--
		firstEnd = firstEnd.AddDate(-1, 0, 0)
		page += "?taxYear=" + year.String()
		if year < hmrc.CumulativeFirstTaxYear {
			t.Skip("no cumulative period HMRC takes an update for yet")
		}
	}
	period := fmt.Sprintf("6 April %d to %s", int(year), firstEnd.Format("2 January 2006"))
	step("see the obligations",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
		chromedp.WaitVisible(chromedp.CSS(`#income-periodAmount`)),
	)
	body := bodyText("obligations")
	for _, want := range []string{"Tax year " + year.String(), period, "Update for " + period, "one consolidated total"} {
		if !strings.Contains(body, want) {
			t.Errorf("quarterly page lacks %q", want)
		}
	}
	if strings.Count(body, "6 April "+fmt.Sprint(int(year))+" to") < 4 {
		t.Errorf("quarterly page does not list the 4 periods:\n%s", body)
	}

	step("send the update",
		chromedp.SendKeys(chromedp.CSS(`#income-periodAmount`), "12,500.00"),
		chromedp.SendKeys(chromedp.CSS(`#expenses-repairsAndMaintenance`), "1200.50"),
		chromedp.SendKeys(chromedp.CSS(`#expenses-residentialFinancialCost`), "300"),
		chromedp.Click(button("Send update to HMRC")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC received your update')]`)),
	)
	body = bodyText("receipt")
	for _, want := range []string{"Tax year " + year.String(), period, "HMRC reference", "Rents and other property income (Income) £12,500.00",
		"Property repairs and maintenance (Expenses) £1,200.50", "Residential property finance costs (Expenses) £300.00"} {
		if !strings.Contains(body, want) {
			t.Errorf("receipt lacks %q:\n%s", want, body)
		}
	}
	ref, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.Search(`//dt[.='HMRC reference']/following-sibling::dd/code`)))
	if err != nil || len(strings.TrimSpace(ref)) != 36 {
		t.Errorf("HMRC reference %q, %v", ref, err)
	}

	step("back to the obligations",
		chromedp.Click(chromedp.Search(`//main//a[contains(., 'Back to your quarterly updates')]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.obligations`)),
	)
	if page != baseURL+"/quarterly" {
		step("the tax year of the update", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`table.obligations`)))
	}
	row, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.Search(`//table[contains(@class,'obligations')]//tr[td[contains(., '`+period+`')]]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row, "Received") {
		t.Errorf("the obligation of the update is not received: %q", strings.Join(strings.Fields(row), " "))
	}
	if body := bodyText("receipts"); !strings.Contains(body, strings.TrimSpace(ref)) {
		t.Errorf("the receipt is not listed:\n%s", body)
	}

	// Every HMRC call of the journey came from the browser, with valid
	// fraud prevention headers.
	for _, api := range []string{"business-details-mtd", "obligations-mtd", "property-business-mtd"} {
		reqs := simFeedback(t, simURL, api)
		if len(reqs) == 0 {
			t.Errorf("%s: no requests", api)
		}
		for _, r := range reqs {
			if r["code"] != hmrcsim.FraudValid {
				t.Errorf("%s %s %s: %v: errors %v warnings %v", api, r["method"], r["path"], r["code"], r["errors"], r["warnings"])
			}
		}
	}
	for _, line := range strings.Split(consoleText(), "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Content-Security-Policy") {
			t.Errorf("CSP violation: %s", line)
		}
	}
}
