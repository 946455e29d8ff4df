package web_test

import (
	"fmt"
	"net/http"
	"testing"
)

// The platform reads and sets a landlord's NINO and VRN; a bad value is
// refused with its field and nothing changes.
func TestAPIProfile(t *testing.T) {
	env := newTestEnv(t)
	path := fmt.Sprintf("/api/v1/users/id:%d", env.landlord.ID)

	status, m := env.apiCall(t, http.MethodGet, path, "", nil)
	if status != http.StatusOK || m["email"] != env.landlord.Email || m["user"] != fmt.Sprintf("id:%d", env.landlord.ID) {
		t.Fatalf("GET profile: %d %v", status, m)
	}

	status, m = env.apiCall(t, http.MethodPatch, path, `{"nino": "tc 66 37 95 b", "vrn": "GB 666 724 939"}`, nil)
	if status != http.StatusOK || m["nino"] != "TC663795B" || m["vrn"] != "666724939" {
		t.Fatalf("PATCH both: %d %v", status, m)
	}

	cases := []struct {
		name, body string
		status     int
		code, path string
	}{
		{"BadNINO", `{"nino": "TC66379"}`, http.StatusBadRequest, "invalid_request", "/nino"},
		{"BadVRN", `{"vrn": "12345"}`, http.StatusBadRequest, "invalid_request", "/vrn"},
		{"OneBadOneGood", `{"nino": "AA000000A", "vrn": "x"}`, http.StatusBadRequest, "invalid_request", "/vrn"},
		{"BrokenJSON", `{"nino": `, http.StatusBadRequest, "invalid_json", ""},
		{"UnknownField", `{"password": "x"}`, http.StatusBadRequest, "invalid_json", ""},
		{"NotAnObject", `["TC663795B"]`, http.StatusBadRequest, "invalid_json", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, m := env.apiCall(t, http.MethodPatch, path, tc.body, nil)
			if status != tc.status || m["error"] != tc.code {
				t.Fatalf("status %d %v, want %d %s", status, m, tc.status, tc.code)
			}
			if tc.path != "" {
				errs, _ := m["errors"].([]any)
				found := false
				for _, e := range errs {
					if paths, _ := e.(map[string]any)["paths"].([]any); len(paths) == 1 && paths[0] == tc.path {
						found = true
					}
				}
				if !found {
					t.Errorf("errors %v lack path %s", m["errors"], tc.path)
				}
			}
			u, err := env.Store.UserByID(t.Context(), env.landlord.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u.NINO != "TC663795B" || u.VRN != "666724939" {
				t.Errorf("after a refused PATCH the user has NINO %q VRN %q, want them unchanged", u.NINO, u.VRN)
			}
		})
	}

	// Leaving a field out keeps it; "" clears it.
	status, m = env.apiCall(t, http.MethodPatch, path, `{"vrn": ""}`, nil)
	if status != http.StatusOK || m["nino"] != "TC663795B" || m["vrn"] != "" {
		t.Fatalf("PATCH clearing the VRN: %d %v", status, m)
	}

	if status, m := env.apiCall(t, http.MethodGet, "/api/v1/users/id:999999", "", nil); status != http.StatusNotFound || m["error"] != "user_not_found" {
		t.Errorf("unknown user: %d %v", status, m)
	}
}
