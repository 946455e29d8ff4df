package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// The platform manages its webhook endpoints through the API, on both
// stores: bad input is refused with 400 and nothing stored; the secret is
// shown once; each action's event is queued for the endpoint in the order
// it happened, naming the landlord by handle and never their NINO; the
// delivery log, a rotation, a redelivery and a deletion.
func TestWebhooksAPI(t *testing.T) {
	for _, c := range []struct {
		name string
		env  func(t *testing.T) *testEnv
	}{
		{"sqlite", func(t *testing.T) *testEnv { return newTestEnv(t) }},
		{"postgres", func(t *testing.T) *testEnv { return newTestEnvOn(t, postgresStore(t)) }},
	} {
		t.Run(c.name, func(t *testing.T) { testWebhooksAPI(t, c.env(t)) })
	}
}

func testWebhooksAPI(t *testing.T, env *testEnv) {
	ctx := t.Context()
	for _, bad := range []struct{ name, body, want string }{
		{"no url", `{"events":[]}`, "url"},
		{"not a URL", `{"url":"platform.example/hooks"}`, "absolute"},
		{"http off loopback", `{"url":"http://platform.example/hooks"}`, "https"},
		{"loopback not allowed", `{"url":"https://127.0.0.1/hooks"}`, "loopback"},
		{"private address", `{"url":"https://10.1.2.3/hooks"}`, "private"},
		{"cloud metadata", `{"url":"https://169.254.169.254/latest"}`, "private"},
		{"unknown event type", `{"url":"https://platform.example/hooks","events":["connection.exploded"]}`, "connection.exploded"},
		{"unknown field", `{"url":"https://platform.example/hooks","secret":"mine"}`, "secret"},
		{"bad text", `{"url":"https://platform.example/\u0000"}`, ""},
	} {
		status, m := env.apiCall(t, http.MethodPost, "/api/v1/webhooks", bad.body, nil)
		if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(m["message"]), bad.want) {
			t.Errorf("%s: %d %v, want 400 naming %q", bad.name, status, m, bad.want)
		}
	}
	if list, err := env.Store.WebhookEndpoints(ctx); err != nil || len(list) != 0 {
		t.Fatalf("refused endpoints were stored: %v %v", list, err)
	}

	status, m := env.apiCall(t, http.MethodPost, "/api/v1/webhooks", `{"url":"https://platform.example/hooks/mtd",
		"events":["connection.connected","connection.disconnected","submission.accepted"]}`, nil)
	secret, _ := m["secret"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(secret, "whsec_") || m["status"] != "enabled" {
		t.Fatalf("create: %d %v", status, m)
	}
	env.secrets = append(env.secrets, secret, strings.TrimPrefix(secret, "whsec_"))
	path := fmt.Sprintf("/api/v1/webhooks/%v", m["id"])
	status, m = env.apiCall(t, http.MethodGet, "/api/v1/webhooks", "", nil)
	list, _ := m["webhooks"].([]any)
	if status != http.StatusOK || len(list) != 1 || strings.Contains(fmt.Sprint(m), "whsec_") {
		t.Fatalf("list: %d %v (the secret is shown once)", status, m)
	}
	stored, _ := env.Store.WebhookEndpoints(ctx)
	if strings.Contains(string(stored[0].Secret), "whsec_") {
		t.Fatal("the secret is stored in the clear")
	}

	// The landlord connects, sends a quarterly update, and the platform
	// disconnects them: three events, in order.
	y := itsa.CurrentTaxYear(env.Clock.Now())
	env.Clock.Advance(time.Date(int(y)+1, time.May, 1, 9, 0, 0, 0, time.UTC).Sub(env.Clock.Now()))
	env.apiLandlord(t)
	env.sendQuarterAPI(t, y, 1, "")
	if r := env.apiAs(t, env.apiKey, http.MethodDelete, fmt.Sprintf("/api/v1/users/id:%d/hmrc", env.landlord.ID), ""); r.status != http.StatusNoContent {
		t.Fatalf("disconnect: %d %v", r.status, r.body)
	}
	status, m = env.apiCall(t, http.MethodGet, path+"/deliveries", "", nil)
	ds, _ := m["deliveries"].([]any)
	if status != http.StatusOK || len(ds) != 3 {
		t.Fatalf("deliveries: %d %v, want 3", status, m)
	}
	var types []string
	for i, d := range ds {
		d := d.(map[string]any)
		types = append(types, d["type"].(string))
		if d["state"] != "pending" || d["attempts"] != 0.0 || d["sequence"] != float64(3-i) || !strings.HasPrefix(d["message_id"].(string), "msg_") {
			t.Errorf("delivery %v", d)
		}
	}
	want := []string{mtdconnect.EventDisconnected, mtdconnect.EventSubmissionAccepted, mtdconnect.EventConnected}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("deliveries newest first: %v, want %v", types, want)
	}
	events, err := env.Store.Events(ctx, env.landlord.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]map[string]any{}
	for _, e := range events {
		if strings.Contains(string(e.Data), testNINO) {
			t.Errorf("event %s names the NINO: %s", e.Type, e.Data)
		}
		var d map[string]any
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d["landlord"] != env.landlord.Handle() || d["purpose"] != "itsa" {
			t.Errorf("event %s: %s", e.Type, e.Data)
		}
		byType[e.Type] = d
	}
	if d := byType[mtdconnect.EventDisconnected]; d["by"] != "platform" {
		t.Errorf("disconnected: %v, want by platform", d)
	}
	if d := byType[mtdconnect.EventSubmissionAccepted]; d["kind"] != mtdconnect.SubmissionUKPropertyCumulative || d["period"] != y.String() ||
		d["correlation_id"] == nil || d["period_end"] != quarterEnds(y)[0] {
		t.Errorf("submission.accepted: %v", d)
	}
	if d := byType[mtdconnect.EventConnected]; d["authority_ends_at"] == nil || d["status"] != "connected" {
		t.Errorf("connected: %v", d)
	}

	// Rotate: a new secret, the old one signing for the overlap.
	status, m = env.apiCall(t, http.MethodPost, path+"/rotate-secret", "", nil)
	if s, _ := m["secret"].(string); status != http.StatusOK || !strings.HasPrefix(s, "whsec_") || s == secret || m["previous_secret_expires_at"] == nil {
		t.Fatalf("rotate: %d %v", status, m)
	} else {
		env.secrets = append(env.secrets, s)
	}

	did := ds[0].(map[string]any)["id"]
	if r := env.apiAs(t, env.apiKey, http.MethodPost, fmt.Sprintf("%s/deliveries/%v/redeliver", path, did), ""); r.status != http.StatusAccepted {
		t.Errorf("redeliver: %d %v", r.status, r.body)
	}
	if status, m := env.apiCall(t, http.MethodPost, path+"/deliveries/99999/redeliver", "", nil); status != http.StatusNotFound || m["error"] != "delivery_not_found" {
		t.Errorf("redeliver unknown: %d %v", status, m)
	}
	if status, m := env.apiCall(t, http.MethodGet, path+"/deliveries?limit=0", "", nil); status != http.StatusBadRequest {
		t.Errorf("limit 0: %d %v", status, m)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodDelete, path, ""); r.status != http.StatusNoContent {
		t.Errorf("delete: %d %v", r.status, r.body)
	}
	for _, p := range []string{path, path + "/deliveries", "/api/v1/webhooks/nope"} {
		if status, m := env.apiCall(t, http.MethodGet, p, "", nil); status != http.StatusNotFound || m["error"] != "webhook_not_found" {
			t.Errorf("GET %s after delete: %d %v", p, status, m)
		}
	}
}
