package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var shownSecretRE = regexp.MustCompile(`<code class="secret">(whsec_[^<]+)</code>`)

// shownSecret is the secret the page shows (html/template escapes "+").
func shownSecret(body string) string {
	m := shownSecretRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// An administrator adds an endpoint on the admin page (a bad URL refused,
// nothing stored), sees its secret once, rotates it, reads the delivery
// log, redelivers and deletes.
func TestAdminWebhooks(t *testing.T) {
	env := newTestEnv(t)
	admin := env.createUser("hooks-admin@example.com", "an admin passphrase")
	admin.Admin = true
	if err := env.Store.UpdateUser(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	b.signIn("hooks-admin@example.com", "an admin passphrase")

	page := b.get("/admin/webhooks")
	page.mustContain(t, "Webhooks", "No webhook endpoints yet", "connection.needs_reconnect")
	for _, bad := range []string{"http://platform.example/hooks", "https://192.168.0.10/hooks"} {
		p := b.post("/admin/webhooks", url.Values{"fph": {""}, "url": {bad}})
		if p.status != http.StatusBadRequest || !strings.Contains(p.text(), "There is a problem") {
			t.Errorf("%s: %d\n%s", bad, p.status, p.text())
		}
	}
	if list, _ := env.Store.WebhookEndpoints(t.Context()); len(list) != 0 {
		t.Fatal("a refused endpoint was stored")
	}
	created := b.post("/admin/webhooks", url.Values{"fph": {""}, "url": {"https://platform.example/hooks"}, "event": {"connection.connected"}})
	secret := shownSecret(created.body)
	if created.status != http.StatusOK || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("create: %d, no secret shown:\n%s", created.status, created.text())
	}
	env.secrets = append(env.secrets, secret)
	if again := b.get("/admin/webhooks"); strings.Contains(again.text(), secret) {
		t.Error("the secret is shown a second time")
	}

	// The landlord connects: one delivery queued, in the log.
	b2 := env.browser()
	b2.signIn(landlordEmail, landlordPassword)
	b2.connect()
	log := b.get("/admin/webhooks?endpoint=1")
	log.mustContain(t, "Deliveries of endpoint 1", "connection.connected", "pending", "Redeliver")
	rotated := b.post("/admin/webhooks/rotate", url.Values{"fph": {""}, "id": {"1"}})
	if n := shownSecret(rotated.body); n == "" || n == secret {
		t.Fatalf("rotate: %d\n%s", rotated.status, rotated.text())
	} else {
		env.secrets = append(env.secrets, n)
	}
	if p := b.post("/admin/webhooks/redeliver", url.Values{"fph": {""}, "id": {"1"}, "delivery": {"1"}}); !strings.Contains(p.text(), "due again") {
		t.Errorf("redeliver: %s", p.text())
	}
	if p := b.post("/admin/webhooks/delete", url.Values{"fph": {""}, "id": {"1"}}); !strings.Contains(p.text(), "deleted") {
		t.Errorf("delete: %s", p.text())
	}
	if list, _ := env.Store.WebhookEndpoints(t.Context()); len(list) != 0 {
		t.Error("the endpoint was not deleted")
	}
}
