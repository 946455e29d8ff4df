package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/web"
)

// apiResponse is an API answer: status, headers, decoded body.
type apiResponse struct {
	status int
	header http.Header
	body   map[string]any
}

// apiAs calls the API with key (and a JSON body unless body is "").
func (env *testEnv) apiAs(t *testing.T, key, method, path, body string) apiResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, env.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := env.httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := apiResponse{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

// newKey stores a key with the given scopes and returns it; the key is a
// secret the logs must never show.
func (env *testEnv) newKey(name string, scopes ...mtdconnect.Scope) (string, *mtdconnect.APIKey) {
	env.t.Helper()
	key, hash := web.NewAPIKey()
	k := &mtdconnect.APIKey{Name: name, Hash: hash, Scopes: scopes}
	if err := env.Store.CreateAPIKey(env.t.Context(), k); err != nil {
		env.t.Fatal(err)
	}
	env.secrets = append(env.secrets, key)
	return key, k
}

func userPath(ref string) string { return "/api/v1/users/" + url.PathEscape(ref) }

// A key may do what its scopes say, and no more: the refusal names the
// scope, changes nothing, and the request log names the key's ID.
func TestAPIScopes(t *testing.T) {
	env := newTestEnv(t)
	readOnly, k := env.newKey("dashboard", mtdconnect.ScopeConnectionsRead)
	me := fmt.Sprintf("/api/v1/users/id:%d", env.landlord.ID)

	if r := env.apiAs(t, readOnly, http.MethodGet, me+"/hmrc", ""); r.status != http.StatusOK || r.body["status"] != "not_connected" {
		t.Fatalf("a key with connections:read reading a status: %d %v", r.status, r.body)
	}
	for _, tc := range []struct {
		method, path, body string
		scope              mtdconnect.Scope
	}{
		{http.MethodPost, me + "/hmrc/refresh", "", mtdconnect.ScopeConnectionsWrite},
		{http.MethodDelete, me + "/hmrc", "", mtdconnect.ScopeConnectionsWrite},
		{http.MethodGet, me, "", mtdconnect.ScopeUsers},
		{http.MethodPut, userPath("new-landlord"), `{}`, mtdconnect.ScopeUsers},
		{http.MethodDelete, me, "", mtdconnect.ScopeUsers},
		{http.MethodGet, me + "/hmrc/obligations", "", mtdconnect.ScopeSubmissions},
		{http.MethodGet, me + "/hmrc/submissions", "", mtdconnect.ScopeSubmissions},
		{http.MethodPut, me + "/hmrc/quarterly-period-type", `{"quarterly_period_type":"calendar"}`, mtdconnect.ScopeSubmissions},
		{http.MethodGet, me + "/hmrc/tax-years/2025-26", "", mtdconnect.ScopeSubmissions},
		{http.MethodPost, me + "/hmrc/calculations/2025-26", `{"type":"in-year"}`, mtdconnect.ScopeSubmissions},
		{http.MethodPost, me + "/hmrc/calculations/2025-26/f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c/final-declaration", `{"declaration_agreed":true}`, mtdconnect.ScopeSubmissions},
		{http.MethodDelete, me + "/hmrc/property/uk/annual/2025-26", "", mtdconnect.ScopeSubmissions},
		{http.MethodPost, "/api/v1/webhooks", `{"url":"https://platform.example/hooks"}`, mtdconnect.ScopeWebhooks},
		{http.MethodGet, "/api/v1/webhooks", "", mtdconnect.ScopeWebhooks},
		{http.MethodGet, "/api/v1/webhooks/1/deliveries", "", mtdconnect.ScopeWebhooks},
		{http.MethodDelete, "/api/v1/webhooks/1", "", mtdconnect.ScopeWebhooks},
		{http.MethodPost, "/api/v1/webhooks/1/rotate-secret", "", mtdconnect.ScopeWebhooks},
	} {
		r := env.apiAs(t, readOnly, tc.method, tc.path, tc.body)
		if r.status != http.StatusForbidden || r.body["error"] != "insufficient_scope" || r.body["scope"] != string(tc.scope) ||
			!strings.Contains(r.body["message"].(string), string(tc.scope)) {
			t.Errorf("%s %s: %d %v, want 403 insufficient_scope naming %s", tc.method, tc.path, r.status, r.body, tc.scope)
		}
		if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="`+string(tc.scope)+`"`) {
			t.Errorf("%s %s: WWW-Authenticate %q", tc.method, tc.path, h)
		}
	}
	if _, err := env.Store.UserByRef(t.Context(), "new-landlord"); err == nil {
		t.Error("a key without the users scope created a landlord")
	}
	if list, _ := env.Store.WebhookEndpoints(t.Context()); len(list) != 0 {
		t.Error("a key without the webhooks scope made a webhook endpoint")
	}
	if u := env.user(env.landlord.ID); u.Deleted() {
		t.Error("a key without the users scope deleted a landlord")
	}
	if !strings.Contains(env.Logs.String(), fmt.Sprintf("api_key_id=%d", k.ID)) {
		t.Error("the request log does not name the key's ID")
	}
}

// A revoked key is refused on its next request; a rotated one works next
// to its successor for the grace period, then stops; last use is written
// at most once a minute.
func TestAPIKeyRevokeRotateTouch(t *testing.T) {
	env := newTestEnv(t)
	key, k := env.newKey("backend", mtdconnect.ScopeConnectionsRead)
	path := fmt.Sprintf("/api/v1/users/id:%d/hmrc", env.landlord.ID)
	ok := func(key string) bool {
		t.Helper()
		r := env.apiAs(t, key, http.MethodGet, path, "")
		if r.status != http.StatusOK && r.status != http.StatusUnauthorized {
			t.Fatalf("status %d %v", r.status, r.body)
		}
		return r.status == http.StatusOK
	}
	lastUsed := func(id int64) time.Time {
		t.Helper()
		got, err := env.Store.APIKey(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}

	if !ok(key) {
		t.Fatal("a new key was refused")
	}
	first := lastUsed(k.ID)
	if first.IsZero() {
		t.Fatal("the key's use was not recorded")
	}
	env.Clock.Advance(30 * time.Second)
	ok(key)
	if got := lastUsed(k.ID); !got.Equal(first) {
		t.Errorf("a second use within a minute wrote the last use again (%v, first %v)", got, first)
	}
	env.Clock.Advance(31 * time.Second)
	ok(key)
	if got := lastUsed(k.ID); !got.After(first) {
		t.Errorf("a use after a minute was not recorded (%v, first %v)", got, first)
	}

	// Rotation: both work during the grace period, then only the new one.
	newKey, newHash := web.NewAPIKey()
	env.secrets = append(env.secrets, newKey)
	next, err := env.Store.RotateAPIKey(t.Context(), k.ID, newHash, env.Clock.Now().Add(mtdconnect.APIKeyRotationGrace))
	if err != nil {
		t.Fatal(err)
	}
	if !ok(key) || !ok(newKey) {
		t.Fatal("during the grace period both keys must work")
	}
	env.Clock.Advance(mtdconnect.APIKeyRotationGrace)
	if ok(key) {
		t.Error("the rotated key still works after its grace period")
	}
	if !ok(newKey) {
		t.Error("the new key stopped working")
	}

	// Revocation: refused at once (no cache of the earlier success).
	if err := env.Store.RevokeAPIKey(t.Context(), next.ID, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	r := env.apiAs(t, newKey, http.MethodGet, path, "")
	if r.status != http.StatusUnauthorized || r.body["error"] != "unauthorized" {
		t.Errorf("a revoked key: %d %v, want 401", r.status, r.body)
	}
}

// The platform creates and updates its landlords by its own ID: PUT is
// idempotent (201, then 200), refuses bad details without writing
// anything, and such landlords can never sign in to the pages.
func TestAPIPutUser(t *testing.T) {
	env := newTestEnv(t)
	ref := "acct/42 Ünïcødé"
	path := userPath(ref)
	body := `{"email": "jo@platform.example", "display_name": "Jo Landlord", "nino": "tc 66 37 95 b", "vrn": "GB 666 724 939"}`

	r := env.apiAs(t, env.apiKey, http.MethodPut, path, body)
	if r.status != http.StatusCreated || r.body["user"] != ref || r.body["nino"] != "TC663795B" || r.body["vrn"] != "666724939" ||
		r.body["email"] != "jo@platform.example" || r.body["display_name"] != "Jo Landlord" {
		t.Fatalf("PUT new: %d %v", r.status, r.body)
	}
	created := r.body["created_at"]
	again := env.apiAs(t, env.apiKey, http.MethodPut, path, body)
	if again.status != http.StatusOK || fmt.Sprint(again.body) != fmt.Sprint(r.body) || again.body["created_at"] != created {
		t.Errorf("PUT again: %d %v, want 200 and the same landlord", again.status, again.body)
	}
	// A field left out is kept; "" clears.
	r = env.apiAs(t, env.apiKey, http.MethodPut, path, `{"vrn": "", "display_name": "Jo L."}`)
	if r.status != http.StatusOK || r.body["vrn"] != "" || r.body["nino"] != "TC663795B" || r.body["display_name"] != "Jo L." {
		t.Errorf("PUT changing two fields: %d %v", r.status, r.body)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodGet, path, ""); r.status != http.StatusOK || r.body["display_name"] != "Jo L." {
		t.Errorf("GET: %d %v", r.status, r.body)
	}
	u, err := env.Store.UserByRef(t.Context(), ref)
	if err != nil || u.PasswordHash != "" || u.Admin {
		t.Fatalf("stored landlord %+v, %v: want no password", u, err)
	}

	// Refused without writing: bad details, bad refs.
	for _, tc := range []struct {
		name, path, body, code string
	}{
		{"BadNINO", userPath("p-2"), `{"nino": "TC66379"}`, "invalid_request"},
		{"BadEmail", userPath("p-2"), `{"email": "not an email"}`, "invalid_request"},
		{"OneBadOneGood", userPath("p-2"), `{"nino": "TC663795B", "vrn": "12"}`, "invalid_request"},
		{"UnknownField", userPath("p-2"), `{"password": "x"}`, "invalid_json"},
		{"IDForm", "/api/v1/users/id:77", `{}`, "invalid_user"},
		{"TooLong", userPath(strings.Repeat("é", 256)), `{}`, "invalid_user"},
		{"ControlCharacter", "/api/v1/users/a%09b", `{}`, "invalid_user"},
		{"LeadingSpace", "/api/v1/users/%20p", `{}`, "invalid_user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.apiAs(t, env.apiKey, http.MethodPut, tc.path, tc.body)
			if r.status != http.StatusBadRequest || r.body["error"] != tc.code {
				t.Errorf("%d %v, want 400 %s", r.status, r.body, tc.code)
			}
		})
	}
	if _, err := env.Store.UserByRef(t.Context(), "p-2"); err == nil {
		t.Error("a refused PUT created a landlord")
	}
	if r := env.apiAs(t, env.apiKey, http.MethodPut, userPath(strings.Repeat("é", 255)), `{}`); r.status != http.StatusCreated {
		t.Errorf("a ref of 255 characters: %d %v", r.status, r.body)
	}
	// The sign-in email of a built-in landlord is theirs to change.
	me := fmt.Sprintf("/api/v1/users/id:%d", env.landlord.ID)
	if r := env.apiAs(t, env.apiKey, http.MethodPatch, me, `{"email": "taken@example.com"}`); r.status != http.StatusBadRequest {
		t.Errorf("PATCH a built-in landlord's email: %d %v", r.status, r.body)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodPatch, userPath("nobody-here"), `{}`); r.status != http.StatusNotFound {
		t.Errorf("PATCH an unknown ref: %d %v", r.status, r.body)
	}

	// A platform's landlord with the same email as a landlord who signs in
	// changes nothing for the one who signs in, and never signs in.
	env.apiAs(t, env.apiKey, http.MethodPut, userPath("same-email"), `{"email": "`+landlordEmail+`"}`)
	b := env.browser()
	if p := b.signIn("jo@platform.example", ""); p.status != http.StatusUnauthorized {
		t.Errorf("a platform's landlord signed in with no password: %d", p.status)
	}
	if p := b.signIn(landlordEmail, landlordPassword); p.url.Path != "/settings/hmrc" {
		t.Errorf("the built-in landlord can no longer sign in: %s", p.url)
	}
}

// Deleting a landlord deletes their tokens and sessions at once, keeps
// their receipts readable by id:N until the retention ends, and frees the
// ref: the same ref again is a new landlord.
func TestAPIDeleteUser(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(false)
	b.connect()
	me := fmt.Sprintf("/api/v1/users/id:%d", env.landlord.ID)
	sub := &mtdconnect.Submission{UserID: env.landlord.ID, Purpose: mtdconnect.PurposeVAT, Kind: mtdconnect.SubmissionVATReturn,
		Period: "26A1", Body: []byte(`{}`), Response: []byte(`{}`), CorrelationID: "c-1", ReceiptID: "r-1", SubmittedAt: env.Clock.Now()}
	if err := env.Store.SaveSubmission(t.Context(), sub); err != nil {
		t.Fatal(err)
	}

	r := env.apiAs(t, env.apiKey, http.MethodDelete, me, "")
	if r.status != http.StatusOK || r.body["user"] != fmt.Sprintf("id:%d", env.landlord.ID) || r.body["receipts"] != me+"/hmrc/submissions" {
		t.Fatalf("DELETE: %d %v", r.status, r.body)
	}
	kept, err := time.Parse(time.RFC3339, r.body["records_kept_until"].(string))
	if err != nil || !kept.Equal(mtdconnect.RetainUntil(env.Clock.Now()).Truncate(time.Millisecond)) {
		t.Errorf("records_kept_until %v (%v), want %v", r.body["records_kept_until"], err, mtdconnect.RetainUntil(env.Clock.Now()))
	}
	if c := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); c != nil {
		t.Error("the landlord's tokens outlived the deletion")
	}
	if p := b.get("/settings/hmrc"); p.url.Path != "/signin" {
		t.Errorf("the deleted landlord's session still works: %s", p.url)
	}
	for _, path := range []string{me, me + "/hmrc", me + "/hmrc/obligations"} {
		if r := env.apiAs(t, env.apiKey, http.MethodGet, path, ""); r.status != http.StatusGone || r.body["error"] != "user_deleted" {
			t.Errorf("GET %s of a deleted landlord: %d %v, want 410 user_deleted", path, r.status, r.body)
		}
	}
	r = env.apiAs(t, env.apiKey, http.MethodGet, me+"/hmrc/submissions", "")
	if subs, _ := r.body["submissions"].([]any); r.status != http.StatusOK || len(subs) != 1 {
		t.Errorf("receipts of a deleted landlord: %d %v, want the one kept", r.status, r.body)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodDelete, me, ""); r.status != http.StatusGone {
		t.Errorf("DELETE twice: %d %v", r.status, r.body)
	}

	// A platform's landlord: the ref is free at once, and the new landlord
	// of that ref sees nothing of the old one.
	env.apiAs(t, env.apiKey, http.MethodPut, userPath("p-9"), `{"nino": "TC663795B"}`)
	old, err := env.Store.UserByRef(t.Context(), "p-9")
	if err != nil {
		t.Fatal(err)
	}
	sub2 := *sub
	sub2.ID, sub2.UserID = 0, old.ID
	if err := env.Store.SaveSubmission(t.Context(), &sub2); err != nil {
		t.Fatal(err)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodDelete, userPath("p-9"), ""); r.status != http.StatusOK {
		t.Fatalf("DELETE p-9: %d %v", r.status, r.body)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodGet, userPath("p-9"), ""); r.status != http.StatusNotFound {
		t.Errorf("GET a deleted ref: %d %v, want 404", r.status, r.body)
	}
	r = env.apiAs(t, env.apiKey, http.MethodPut, userPath("p-9"), `{}`)
	if r.status != http.StatusCreated || r.body["nino"] != "" {
		t.Fatalf("PUT the deleted ref again: %d %v, want a new landlord", r.status, r.body)
	}
	r = env.apiAs(t, env.apiKey, http.MethodGet, userPath("p-9")+"/hmrc/submissions", "")
	if subs, _ := r.body["submissions"].([]any); len(subs) != 0 {
		t.Errorf("the new landlord of a ref sees the old one's receipts: %v", r.body)
	}
	r = env.apiAs(t, env.apiKey, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/submissions", old.ID), "")
	if subs, _ := r.body["submissions"].([]any); len(subs) != 1 {
		t.Errorf("the old landlord's receipts: %v", r.body)
	}

	// Administrators are not deleted through the API.
	admin := env.createUser("admin@example.com", "an admin passphrase")
	admin.Admin = true
	if err := env.Store.UpdateUser(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	if r := env.apiAs(t, env.apiKey, http.MethodDelete, fmt.Sprintf("/api/v1/users/id:%d", admin.ID), ""); r.status != http.StatusConflict || r.body["error"] != "user_is_administrator" {
		t.Errorf("DELETE an administrator: %d %v", r.status, r.body)
	}
}
