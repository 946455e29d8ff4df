package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect"
)

var shownKeyRE = regexp.MustCompile(`<code class="secret">(mtdc_[A-Za-z0-9_-]+)</code>`)

// An administrator makes, rotates and revokes keys on the admin page; a
// key is shown once, on the answer that made it, and does only what its
// scopes allow.
func TestAdminAPIKeys(t *testing.T) {
	env := newTestEnv(t)
	admin := env.createUser("keys-admin@example.com", "an admin passphrase")
	admin.Admin = true
	if err := env.Store.UpdateUser(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	b.signIn("keys-admin@example.com", "an admin passphrase")
	me := fmt.Sprintf("/api/v1/users/id:%d", env.landlord.ID)

	page := b.get("/admin/api-keys")
	page.mustContain(t, "API keys", "platform", "create connect sessions and read their outcome")
	f := page.findForm(t, "/admin/api-keys")
	f.values.Set("name", "billing backend")
	f.values["scope"] = []string{"users", "connect"}
	created := b.post("/admin/api-keys", f.values)
	m := shownKeyRE.FindStringSubmatch(created.body)
	if created.status != http.StatusOK || m == nil {
		t.Fatalf("create: %d, no key shown:\n%s", created.status, created.text())
	}
	key := m[1]
	env.secrets = append(env.secrets, key)
	created.mustContain(t, "Copy the new key for “billing backend” now", "connect users")
	if b.cookie("mtdconnect_flash") != "" && strings.Contains(b.cookie("mtdconnect_flash"), "mtdc_") {
		t.Error("the key travelled in a cookie")
	}
	if again := b.get("/admin/api-keys"); strings.Contains(again.body, key) {
		t.Error("the key is shown a second time")
	}
	if r := env.apiAs(t, key, http.MethodGet, me, ""); r.status != http.StatusOK {
		t.Errorf("the new key with the users scope: %d %v", r.status, r.body)
	}
	if r := env.apiAs(t, key, http.MethodGet, me+"/hmrc", ""); r.status != http.StatusForbidden || r.body["scope"] != "connections:read" {
		t.Errorf("the new key beyond its scopes: %d %v", r.status, r.body)
	}

	// Refused: no scopes, no name. Nothing is made.
	before, _ := env.Store.APIKeys(t.Context())
	for _, vals := range []url.Values{{"name": {"no scopes"}}, {"name": {" "}, "scope": {"users"}}, {"name": {"x"}, "scope": {"admin"}}} {
		vals.Set("fph", "")
		p := b.post("/admin/api-keys", vals)
		if p.status != http.StatusBadRequest || shownKeyRE.MatchString(p.body) {
			t.Errorf("%v: %d, want 400 and no key", vals, p.status)
		}
		p.mustContain(t, "There is a problem")
	}
	if after, _ := env.Store.APIKeys(t.Context()); len(after) != len(before) {
		t.Errorf("refused forms made keys: %d, then %d", len(before), len(after))
	}

	// Rotate: a new key, the old one works during the grace period.
	keys, _ := env.Store.APIKeys(t.Context())
	id := keys[len(keys)-1].ID
	rotated := b.post("/admin/api-keys/rotate", url.Values{"fph": {""}, "id": {fmt.Sprint(id)}})
	m = shownKeyRE.FindStringSubmatch(rotated.body)
	if m == nil || m[1] == key {
		t.Fatalf("rotate showed no new key:\n%s", rotated.text())
	}
	newKey := m[1]
	env.secrets = append(env.secrets, newKey)
	rotated.mustContain(t, "Rotated: works until")
	for _, k := range []string{key, newKey} {
		if r := env.apiAs(t, k, http.MethodGet, me, ""); r.status != http.StatusOK {
			t.Errorf("during the grace period: %d %v", r.status, r.body)
		}
	}
	if p := b.post("/admin/api-keys/rotate", url.Values{"fph": {""}, "id": {fmt.Sprint(id)}}); !strings.Contains(p.text(), "rotated already") {
		t.Errorf("rotating twice: %s", p.text())
	}

	// Revoke: refused at once.
	keys, _ = env.Store.APIKeys(t.Context())
	newID := keys[len(keys)-1].ID
	revoked := b.post("/admin/api-keys/revoke", url.Values{"fph": {""}, "id": {fmt.Sprint(newID)}})
	revoked.mustContain(t, fmt.Sprintf("API key %d is revoked", newID))
	if r := env.apiAs(t, newKey, http.MethodGet, me, ""); r.status != http.StatusUnauthorized {
		t.Errorf("a revoked key: %d", r.status)
	}

	// Not for landlords; not from another site.
	landlord := env.signedIn(false)
	if p := landlord.get("/admin/api-keys"); p.status != http.StatusForbidden {
		t.Errorf("a landlord opened the keys page: %d", p.status)
	}
	req := b.postRequest("/admin/api-keys", url.Values{"name": {"evil"}, "scope": {string(mtdconnect.ScopeUsers)}})
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := b.do(b.client, req); p.status != http.StatusForbidden {
		t.Errorf("a cross-site POST: %d", p.status)
	}
	if after, _ := env.Store.APIKeys(t.Context()); len(after) != len(keys) {
		t.Error("a refused request made a key")
	}
}
