package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

var busyText = regexp.MustCompile(`Try again in (\d+) seconds`)

// TestHMRCBusy: when HMRC's rate budget is booked further ahead than a
// landlord should wait, the page and the API say so at once (503, with
// Retry-After) and nothing is sent to HMRC.
func TestHMRCBusy(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	p := b.connect()
	setNINO(t, env, env.landlord.ID, testNINO)
	before := env.Sim.Stats()

	// The deployment's other instances have booked the budget a minute
	// ahead (the limiter keeps real time).
	if err := env.Store.DelaySlots(t.Context(), "hmrc:simulator", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// A page that asks HMRC as it loads.
	got := b.get("/quarterly")
	if got.status != http.StatusServiceUnavailable {
		t.Errorf("quarterly updates while HMRC's budget is busy: status %d, want 503", got.status)
	}
	got.mustContain(t, "HMRC is busy", "Nothing was sent to HMRC")
	if !busyText.MatchString(got.text()) {
		t.Errorf("the page does not say when to try again:\n%s", got.text())
	}
	// An action whose answer is shown on the settings page.
	got = b.post("/settings/hmrc/test", p.findForm(t, "/settings/hmrc/test").values)
	got.mustContain(t, "HMRC is busy", "Nothing was sent to HMRC")
	if m := busyText.FindStringSubmatch(got.text()); m == nil {
		t.Errorf("the settings page does not say when to try again:\n%s", got.text())
	} else if n, _ := strconv.Atoi(m[1]); n < 50 || n > 60 {
		t.Errorf("try again in %d seconds; want the time until the budget has room (about 57)", n)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the refusals took %v; they must come at once", d)
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.url+"/api/v1/users/id:"+strconv.FormatInt(env.landlord.ID, 10)+"/hmrc/test", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || body["error"] != "hmrc_busy" {
		t.Errorf("API while busy: %d %v; want 503 hmrc_busy", resp.StatusCode, body)
	}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 50 || n > 60 {
		t.Errorf("API while busy: Retry-After %q; want the seconds until the budget has room (about 57)", resp.Header.Get("Retry-After"))
	}
	after := env.Sim.Stats()
	if after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
		t.Errorf("HMRC received %d API and %d token requests while the budget was busy, want none",
			after.APIRequests-before.APIRequests, after.TokenRequests-before.TokenRequests)
	}
	if c := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); c.Status != mtdconnect.StatusConnected || c.RefreshFailures != 0 {
		t.Errorf("the connection changed: %s, %d failures", c.Status, c.RefreshFailures)
	}
}
