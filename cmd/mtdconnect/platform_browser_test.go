package main

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
)

// startExamplePlatform builds examples/landlord-platform and runs it as a
// process of its own against mtdconnect at mtdconnectURL, with apiKey, on
// addr. It returns the platform's URL once it listens.
func startExamplePlatform(t *testing.T, addr, mtdconnectURL, apiKey string) (string, *hmrctest.LogBuffer) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "landlord-platform")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./examples/landlord-platform")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example platform: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"EXAMPLE_ADDR=" + addr, "EXAMPLE_MTDCONNECT_URL=" + mtdconnectURL, "EXAMPLE_API_KEY=" + apiKey}
	logs := new(hmrctest.LogBuffer)
	banner := newBannerWatch()
	urls := banner.url
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logs, banner), logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("example platform output:\n%s", logs)
		}
	})
	select {
	case u := <-urls:
		return u, logs
	case err := <-exited:
		t.Fatalf("the example platform exited: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("the example platform announced no address within 30s\n%s", logs)
	}
	return "", nil
}

// TestExamplePlatform walks headless Chromium through the journey of a
// platform's landlord, who never signs in to mtdconnect: sign in to the
// example platform (its own process, using only mtdconnect's public API
// with its own scoped key) → Settings → HMRC Connection → Connect to HMRC →
// mtdconnect's hosted page → the simulator's Government Gateway sign-in →
// Grant authority → back on the platform: Connected; Disconnect; then a
// refused consent ends on the platform's "not connected" message.
func TestExamplePlatform(t *testing.T) {
	platformAddr := freeAddr(t)
	b := newBrowserRun(t, 120*time.Second, map[string]string{
		"MTDCONNECT_CONNECT_RETURN_URLS": "http://" + platformAddr,
		"MTDCONNECT_PLATFORM_NAME":       "Acme Lettings",
		// The platform's webhook receiver is on loopback, over http.
		"MTDCONNECT_WEBHOOKS_ALLOW_LOOPBACK": "true",
	})
	key := strings.TrimSpace(b.env.run(t, nil, "apikey", "create", "--name", "example platform",
		"--scopes", "users,connect,connections:read,connections:write,webhooks"))
	platform, platformLogs := startExamplePlatform(t, platformAddr, b.baseURL, key)

	b.step("sign in to the platform",
		chromedp.Navigate(platform+"/signin"),
		chromedp.SendKeys(chromedp.CSS(`#email`), "alice@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "alice-demo"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Your properties')]`)),
	)
	b.step("Settings → HMRC Connection",
		chromedp.Click(chromedp.Search(`//header//a[contains(., 'Settings')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Settings')]`)),
		chromedp.Click(chromedp.Search(`//a[contains(., 'HMRC Connection')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC Connection')]`)),
	)
	if got := b.text("status before connecting", "#hmrc-status"); got != "Not connected" {
		t.Fatalf("status %q before connecting", got)
	}

	// Connect: mtdconnect's hosted page, never its sign-in.
	b.step("Connect to HMRC",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Connect to HMRC')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Connect Acme Lettings to HMRC')]`)),
	)
	if loc := b.read("location", chromedp.Location()); !strings.HasPrefix(loc, b.baseURL+"/connect/") {
		t.Errorf("Connect led to %s, not to mtdconnect's hosted page", loc)
	}
	b.mustSay("hosted page", "main", "Government Gateway", "18 months", "send your quarterly property updates")
	b.checkPage("hosted connect page")
	b.step("Continue to HMRC",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Continue to HMRC')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
	)
	b.step("sign in at the simulator and grant authority",
		chromedp.SendKeys(chromedp.CSS(`#user_id`), simUserID),
		chromedp.SendKeys(chromedp.CSS(`#password`), simUserPassword),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
		chromedp.Click(chromedp.Search(`//button[@value='grant' and contains(., 'Grant authority')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#hmrc-status`)),
	)
	if loc := b.read("location", chromedp.Location()); !strings.HasPrefix(loc, platform+"/settings/hmrc") {
		t.Errorf("after granting, the browser is at %s, not back on the platform", loc)
	}
	if got := b.text("status after connecting", "#hmrc-status"); got != "Connected" {
		t.Fatalf("status %q after connecting\n%s", got, b.where())
	}
	b.mustSay("flash after connecting", "#flash", "Connected to HMRC")
	// mtdconnect's webhook, signed and checked by the platform, says so
	// too.
	heard := func(want string) {
		t.Helper()
		var got string
		for range 50 {
			b.step("reload", chromedp.Navigate(platform+"/settings/hmrc"), chromedp.WaitVisible(chromedp.CSS(`#hmrc-status`)))
			if got = b.text("the page", "main"); strings.Contains(got, "Last heard from mtdconnect: "+want) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("the platform did not hear %q from the webhooks: %s\n%s", want, got, platformLogs)
	}
	heard("Connected")

	// Disconnect.
	b.step("Disconnect",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Disconnect')]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id='flash' and contains(., 'Disconnected')]`)),
	)
	if got := b.text("status after disconnecting", "#hmrc-status"); got != "Not connected" {
		t.Errorf("status %q after disconnecting", got)
	}
	b.mustSay("flash after disconnecting", "#flash", "Disconnected from HMRC")
	heard("Not connected (disconnected by the platform)")

	// A refused consent: mtdconnect's hosted page says so, and the way back
	// lands on the platform's "not connected" message.
	b.step("connect again and deny",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Connect to HMRC')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., 'Continue to HMRC')]`)),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Continue to HMRC')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
		chromedp.SendKeys(chromedp.CSS(`#user_id`), simUserID),
		chromedp.SendKeys(chromedp.CSS(`#password`), simUserPassword),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[@value='deny']`)),
		chromedp.Click(chromedp.Search(`//button[@value='deny']`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'You did not grant authority')]`)),
	)
	b.checkPage("hosted connect page, declined")
	b.step("back to the platform",
		chromedp.Click(chromedp.CSS(`#back-to-platform`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id='flash' and contains(., 'Not connected')]`)),
	)
	if got := b.text("status after denying", "#hmrc-status"); got != "Not connected" {
		t.Errorf("status %q after a refused consent", got)
	}
	b.mustSay("flash after denying", "#flash", "Not connected to HMRC", "you did not give Acme Lettings authority")
	b.noCSPViolations()
	if strings.Contains(platformLogs.String(), key) || strings.Contains(b.logs.String(), key) {
		t.Error("a log holds the API key")
	}
}
