package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	return m
}

func TestAPI(t *testing.T) {
	env := newTestEnv(t)
	user := fmt.Sprintf("/api/v1/users/%d/hmrc", env.landlord.ID)

	t.Run("Unauthorized", func(t *testing.T) {
		for _, key := range []string{"", "mtdc_not-a-key-we-issued", "not-even-the-format", env.apiKey + "x"} {
			status, body := env.api(http.MethodGet, user, key)
			if status != http.StatusUnauthorized {
				t.Errorf("key %q: status %d, want 401", key, status)
			}
			if m := decode(t, body); m["error"] != "unauthorized" || m["message"] == "" {
				t.Errorf("key %q: body %s", key, body)
			}
		}
	})

	t.Run("NotConnected", func(t *testing.T) {
		status, body := env.api(http.MethodGet, user, env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		m := decode(t, body)
		if m["status"] != "not_connected" || m["user_id"] != float64(env.landlord.ID) || m["purpose"] != "itsa" {
			t.Errorf("body %s", body)
		}
		if status, body := env.api(http.MethodPost, user+"/refresh", env.apiKey); status != http.StatusNotFound || decode(t, body)["error"] != "not_connected" {
			t.Errorf("refresh while not connected: %d %s", status, body)
		}
		if status, _ := env.api(http.MethodDelete, user, env.apiKey); status != http.StatusNotFound {
			t.Errorf("delete while not connected: %d", status)
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		for path, want := range map[string]int{
			"/api/v1/users/999999/hmrc":       http.StatusNotFound,
			"/api/v1/users/abc/hmrc":          http.StatusBadRequest,
			"/api/v1/users/-1/hmrc":           http.StatusBadRequest,
			user + "?purpose=corporation-tax": http.StatusBadRequest,
			"/api/v1/nothing-here":            http.StatusNotFound,
		} {
			status, body := env.api(http.MethodGet, path, env.apiKey)
			if status != want {
				t.Errorf("%s: status %d, want %d: %s", path, status, want, body)
			}
			if m := decode(t, body); m["error"] == "" || m["message"] == "" {
				t.Errorf("%s: body %s", path, body)
			}
		}
		if _, body := env.api(http.MethodGet, "/api/v1/users/999999/hmrc", env.apiKey); decode(t, body)["error"] != "user_not_found" {
			t.Errorf("unknown user: %s", body)
		}
		// Form bodies are refused: an HTML form elsewhere cannot drive the API.
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, env.url+user+"/refresh", strings.NewReader("a=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+env.apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("form body: status %d, want 415", resp.StatusCode)
		}
	})

	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.connect()

	t.Run("Status", func(t *testing.T) {
		status, body := env.api(http.MethodGet, user, env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		m := decode(t, body)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"access_token_expires_at", "authority_ends_at", "connected_since", "last_refresh_at", "purpose", "reason", "scopes", "status", "user_id"}
		if !slices.Equal(keys, want) {
			t.Errorf("keys %v, want %v", keys, want)
		}
		if m["status"] != "connected" || m["reason"] != "" || m["last_refresh_at"] != nil {
			t.Errorf("body %s", body)
		}
		if sc, _ := m["scopes"].([]any); len(sc) != 2 || sc[0] != "read:self-assessment" {
			t.Errorf("scopes %v", m["scopes"])
		}
		since, err1 := time.Parse(time.RFC3339, m["connected_since"].(string))
		ends, err2 := time.Parse(time.RFC3339, m["authority_ends_at"].(string))
		if _, err3 := time.Parse(time.RFC3339, m["access_token_expires_at"].(string)); err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("times not RFC 3339: %s", body)
		}
		if !ends.Equal(mtdconnect.GrantEnd(since)) {
			t.Errorf("authority ends %v, connected since %v", ends, since)
		}
		if status, body := env.api(http.MethodGet, user+"?purpose=vat", env.apiKey); status != http.StatusOK || decode(t, body)["status"] != "not_connected" {
			t.Errorf("vat: %d %s", status, body)
		}
	})

	t.Run("Refresh", func(t *testing.T) {
		before := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		status, body := env.api(http.MethodPost, user+"/refresh", env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		if m := decode(t, body); m["status"] != "connected" || m["last_refresh_at"] == nil {
			t.Errorf("body %s", body)
		}
		if after := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); after.Version <= before.Version {
			t.Errorf("version %d after refresh, was %d", after.Version, before.Version)
		}
	})

	t.Run("Test", func(t *testing.T) {
		status, body := env.api(http.MethodPost, user+"/test", env.apiKey)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		if m := decode(t, body); m["message"] != "Hello User" || m["ok"] != true {
			t.Errorf("body %s", body)
		}
	})

	t.Run("NeverTokens", func(t *testing.T) {
		_, body := env.api(http.MethodGet, user, env.apiKey)
		conn := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax)
		if strings.Contains(body, "refresh_token\"") || strings.Contains(body, fmt.Sprintf("%x", conn.Tokens[:8])) {
			t.Errorf("status carries token material: %s", body)
		}
	})

	t.Run("NeedsReconnect", func(t *testing.T) {
		env.sim.Revoke(simUserID, clientID)
		status, body := env.api(http.MethodPost, user+"/refresh", env.apiKey)
		if status != http.StatusConflict {
			t.Fatalf("status %d, want 409: %s", status, body)
		}
		if m := decode(t, body); m["error"] != "needs_reconnect" || m["reason"] != mtdconnect.ReasonRevoked {
			t.Errorf("body %s", body)
		}
		if _, body := env.api(http.MethodGet, user, env.apiKey); decode(t, body)["status"] != "needs_reconnect" || decode(t, body)["reason"] != mtdconnect.ReasonRevoked {
			t.Errorf("status after revocation: %s", body)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if status, body := env.api(http.MethodDelete, user, env.apiKey); status != http.StatusNoContent {
			t.Fatalf("status %d: %s", status, body)
		}
		if c := env.connection(env.landlord.ID, mtdconnect.PurposeIncomeTax); c != nil {
			t.Errorf("connection left: %+v", c)
		}
		if _, body := env.api(http.MethodGet, user, env.apiKey); decode(t, body)["status"] != "not_connected" {
			t.Errorf("after delete: %s", body)
		}
	})
}
