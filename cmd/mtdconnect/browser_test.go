package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of the
// service's loggers and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browserFreeAddr returns a loopback address with a port that was free a
// moment ago.
func browserFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

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

// startBrowserService runs `mtdconnect serve` in-process against the
// built-in HMRC simulator and returns its base URL once /healthz answers.
func startBrowserService(t *testing.T) (baseURL string, logs *syncBuffer) {
	t.Helper()
	addr, simAddr := browserFreeAddr(t), browserFreeAddr(t)
	env := map[string]string{
		"MTDCONNECT_ADDR":           addr,
		"MTDCONNECT_SIMULATOR_ADDR": simAddr,
		"MTDCONNECT_DATA_DIR":       t.TempDir(),
		"MTDCONNECT_HMRC":           "simulator",
	}
	getenv := func(k string) string { return env[k] }

	logs = new(syncBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, getenv, strings.NewReader(""), logs, logs)
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

	baseURL = "http://" + addr
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err // let Cleanup see it too
			t.Fatalf("run returned before serving: %v\noutput:\n%s", err, logs)
		default:
		}
		resp, err := client.Get(baseURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return baseURL, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not healthy after 20s (last error %v)\noutput:\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserLandlordJourney drives headless Chromium through the
// landlord's journey: sign in, connect to HMRC via the simulator's
// Government Gateway sign-in and grant page, see the connection, and test it.
// The pages are served with the strict CSP, so this also proves fph.js and
// the cross-origin form redirects work without inline script.
func TestBrowserLandlordJourney(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// Collect console messages, browser log entries (where Chrome reports
	// CSP violations) and uncaught exceptions.
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

	// where describes the page the browser is on, for failure messages.
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
	bodyText := func(name string) string {
		t.Helper()
		// textContent, not innerText: the status tag is upper-cased by CSS.
		body, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS("body")))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, where())
		}
		return body
	}

	// Sign in to mtdconnect. fph.js (external, so allowed by the CSP) fills
	// the hidden fph input on load; wait for it, proving the script ran.
	const fphSel = `form[action="/signin"] input[name="fph"]`
	step("open sign-in page",
		chromedp.Navigate(baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('`+fphSel+`').value !== ""`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	fph, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(fphSel)))
	if err != nil {
		t.Fatalf("read fph input: %v", err)
	}
	if !strings.Contains(fph, `"ua"`) {
		t.Errorf("fph input = %q, want the device JSON written by fph.js", fph)
	}
	step("sign in",
		chromedp.SendKeys(chromedp.CSS(`#email`), demoEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button[contains(., 'Sign in')]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/signin"]`)),
	)

	// Not connected yet.
	step("open settings",
		chromedp.Navigate(baseURL+"/settings/hmrc"),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)
	if body := bodyText("read settings"); !strings.Contains(body, "Not connected") {
		t.Fatalf("settings page before connecting lacks %q:\n%s", "Not connected", body)
	}

	// Connect: off to the simulator's Government Gateway sign-in, then its
	// grant page, then back to mtdconnect's callback and the settings page.
	step("connect to HMRC",
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
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, baseURL+"/settings/hmrc") {
		t.Errorf("after granting authority the browser is at %s, want %s/settings/hmrc", loc, baseURL)
	}
	status, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(`dl.summary strong.tag`)))
	if err != nil {
		t.Fatalf("read status tag: %v\n%s", err, where())
	}
	if status != "Connected" {
		t.Errorf("status tag = %q, want %q", status, "Connected")
	}
	body := bodyText("read connected settings")
	for _, want := range []string{"Connected", "read:self-assessment", "Authority ends on"} {
		if !strings.Contains(body, want) {
			t.Errorf("connected settings page lacks %q", want)
		}
	}
	if strings.Contains(body, "Not connected") {
		t.Errorf("connected settings page still says %q", "Not connected")
	}
	if t.Failed() {
		t.Fatalf("connected settings page:\n%s", body)
	}

	// Test the connection: HMRC's Business Details list, which needs the
	// landlord's NINO (the simulator's test user's, from the banner).
	step("enter the NINO",
		chromedp.SendKeys(chromedp.CSS(`#nino`), simUserNINO),
		chromedp.Click(chromedp.Search(`//button[contains(., 'National Insurance number')]`)),
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'is saved')]`)),
	)
	step("test connection",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Test connection')]`)),
		chromedp.WaitVisible(chromedp.Search(`//main//*[contains(text(), 'HMRC answered')]`)),
	)
	if body := bodyText("read test result"); !strings.Contains(body, "HMRC answered: your UK property business is") {
		t.Fatalf("after Test connection the page lacks %q:\n%s", "HMRC answered", body)
	}

	t.Logf("browser console:\n%s", consoleText())
	// The flow worked under the CSP; still, no violation should be reported.
	for _, line := range strings.Split(consoleText(), "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Content-Security-Policy") {
			t.Errorf("CSP violation: %s", line)
		}
	}
}
