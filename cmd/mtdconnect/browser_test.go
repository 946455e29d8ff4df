package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
)

// findChromium locates a Chromium binary, or skips (fails on CI).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MTDCONNECT_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found: install Debian's chromium or set MTDCONNECT_CHROME")
	}
	t.Skip("no Chromium found: install Debian's chromium or set MTDCONNECT_CHROME")
	return ""
}

// browserRun is one browser test: `mtdconnect serve` in-process against
// the built-in HMRC simulator, and a headless Chromium tab on it whose
// console is kept. On failure the test's log gets the console and the
// service's output.
type browserRun struct {
	t       *testing.T
	ctx     context.Context     // the tab; chromedp.Run and chromedp.Do take it
	baseURL string              // the service
	simURL  string              // the simulator
	logs    *hmrctest.LogBuffer // the service's output
	env     *cliEnv             // the service's environment, for commands on its database

	consoleMu sync.Mutex
	console   []string

	axeSkipped bool // checkPage said once that axe-core is not installed
}

// newBrowserRun starts the service, with the variables of extraEnv added
// to the ones it always gets, and a browser that must be done within
// timeout. Without Chromium the test is skipped (failed on CI).
func newBrowserRun(t *testing.T, timeout time.Duration, extraEnv map[string]string) *browserRun {
	t.Helper()
	chrome := findChromium(t)
	e := newServeEnv(t, extraEnv)
	logs := e.startInProcess(t, "serve").logs
	b := &browserRun{t: t, logs: logs, env: e,
		baseURL: "http://" + e.vars["MTDCONNECT_ADDR"], simURL: "http://" + e.vars["MTDCONNECT_SIMULATOR_ADDR"]}

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
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	b.ctx = bctx

	// Collect console messages, browser log entries (where Chrome reports
	// CSP violations) and uncaught exceptions.
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.consoleMu.Lock()
			b.console = append(b.console, fmt.Sprintf("%s (%s)", m, m.URL))
			b.consoleMu.Unlock()
		}
	}()
	// Registered last, so it runs first: before the browser and the
	// service stop.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", b.consoleText())
			t.Logf("service output:\n%s", logs)
		}
	})
	return b
}

func (b *browserRun) consoleText() string {
	b.consoleMu.Lock()
	defer b.consoleMu.Unlock()
	return strings.Join(b.console, "\n")
}

// where describes the page the browser is on, for failure messages.
func (b *browserRun) where() string {
	sctx, scancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer scancel()
	loc, _ := chromedp.Run(sctx, chromedp.Location())
	body, _ := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("body")))
	return fmt.Sprintf("at %s\npage:\n%s", loc, body)
}

// step runs actions in the tab, failing the test with where the browser
// is if one fails.
func (b *browserRun) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\n%s", name, err, b.where())
	}
}

// read runs one query for a string, failing the test if it fails, and
// returns the answer with its whitespace collapsed.
func (b *browserRun) read(name string, query chromedp.Action[string]) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, query)
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", name, err, b.where())
	}
	return strings.Join(strings.Fields(s), " ")
}

// text is the textContent of the element at the CSS selector sel: tags are
// upper-cased by CSS, which innerText would show.
func (b *browserRun) text(name, sel string) string {
	b.t.Helper()
	return b.read(name, chromedp.TextContent(chromedp.CSS(sel)))
}

// innerText is the rendered text of the element at sel, where table cells
// come apart.
func (b *browserRun) innerText(name, sel string) string {
	b.t.Helper()
	return b.read(name, chromedp.Text(chromedp.CSS(sel)))
}

// mustSay fails the test unless the text of the element at sel holds each
// of wants.
func (b *browserRun) mustSay(name, sel string, wants ...string) {
	b.t.Helper()
	got := b.text(name, sel)
	for _, want := range wants {
		if !strings.Contains(got, want) {
			b.t.Errorf("%s: %q lacks %q:\n%s", name, sel, want, got)
		}
	}
}

// grantAtSimulator plays the landlord on the simulator's Government
// Gateway sign-in and grant pages, as its test user, until the browser is
// back on mtdconnect's connection settings.
func (b *browserRun) grantAtSimulator() {
	b.t.Helper()
	b.step("sign in at the simulator",
		chromedp.SendKeys(chromedp.CSS(`#user_id`), simUserID),
		chromedp.SendKeys(chromedp.CSS(`#password`), simUserPassword),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
	)
	b.step("grant authority",
		chromedp.Click(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., 'Test connection')]`)),
	)
}

// noCSPViolations fails the test if the console reports a Content Security
// Policy violation: a flow may work under the CSP and still have one.
func (b *browserRun) noCSPViolations() {
	b.t.Helper()
	for _, line := range strings.Split(b.consoleText(), "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Content-Security-Policy") {
			b.t.Errorf("CSP violation: %s", line)
		}
	}
}

// TestBrowserLandlordJourney drives headless Chromium through the
// landlord's journey: sign in, connect to HMRC via the simulator's
// Government Gateway sign-in and grant page, see the connection, and test it.
// The pages are served with the strict CSP, so this also proves fph.js and
// the cross-origin form redirects work without inline script.
func TestBrowserLandlordJourney(t *testing.T) {
	b := newBrowserRun(t, 60*time.Second, nil)

	// Sign in to mtdconnect. fph.js (external, so allowed by the CSP) fills
	// the hidden fph input on load; wait for it, proving the script ran.
	const fphSel = `form[action="/signin"] input[name="fph"]`
	b.step("open sign-in page",
		chromedp.Navigate(b.baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('`+fphSel+`').value !== ""`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	fph, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(fphSel)))
	if err != nil {
		t.Fatalf("read fph input: %v", err)
	}
	if !strings.Contains(fph, `"ua"`) {
		t.Errorf("fph input = %q, want the device JSON written by fph.js", fph)
	}
	b.step("sign in",
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button[contains(., 'Sign in')]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/signin"]`)),
	)

	// Not connected yet.
	b.step("open settings",
		chromedp.Navigate(b.baseURL+"/settings/hmrc"),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)
	if body := b.text("read settings", "body"); !strings.Contains(body, "Not connected") {
		t.Fatalf("settings page before connecting lacks %q:\n%s", "Not connected", body)
	}

	// Connect: off to the simulator's Government Gateway sign-in, then its
	// grant page, then back to mtdconnect's callback and the settings page.
	b.step("connect to HMRC",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Connect to HMRC')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
	)
	b.grantAtSimulator()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, b.baseURL+"/settings/hmrc") {
		t.Errorf("after granting authority the browser is at %s, want %s/settings/hmrc", loc, b.baseURL)
	}
	status, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(`dl.summary strong.tag`)))
	if err != nil {
		t.Fatalf("read status tag: %v\n%s", err, b.where())
	}
	if status != "Connected" {
		t.Errorf("status tag = %q, want %q", status, "Connected")
	}
	body := b.text("read connected settings", "body")
	for _, want := range []string{"Connected", "read:self-assessment", "Authority ends"} {
		if !strings.Contains(body, want) {
			t.Errorf("connected settings page lacks %q", want)
		}
	}
	if strings.Contains(body, "Not connected") {
		t.Errorf("connected settings page still says %q", "Not connected")
	}
	b.checkPage("settings, connected")
	if t.Failed() {
		t.Fatalf("connected settings page:\n%s", body)
	}

	// Test the connection: HMRC's Business Details list, which needs the
	// landlord's NINO (the simulator's test user's, from the banner).
	b.step("enter the NINO",
		chromedp.SendKeys(chromedp.CSS(`#nino`), simUserNINO),
		chromedp.Click(chromedp.Search(`//button[contains(., 'National Insurance number')]`)),
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'is saved')]`)),
	)
	b.step("test connection",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Test connection')]`)),
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'HMRC answered')]`)),
	)
	if body := b.text("read test result", "body"); !strings.Contains(body, "HMRC answered: your UK property business is") {
		t.Fatalf("after Test connection the page lacks %q:\n%s", "HMRC answered", body)
	}

	t.Logf("browser console:\n%s", b.consoleText())
	// The flow worked under the CSP; still, no violation should be reported.
	b.noCSPViolations()
}
