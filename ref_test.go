package mtdconnect

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"42", true},
		{"acct_9f8e", true},
		{"a/b c", true},
		{"家主-7", true},
		{strings.Repeat("é", 255), true},
		{"id-7", true},
		{"", false},
		{strings.Repeat("é", 256), false},
		{"id:7", false},
		{".", false},
		{"..", false},
		{" lead", false},
		{"trail ", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"zero\u200bwidth", false},
		{"bad\xffutf8", false},
	} {
		got, err := ParseRef(tc.in)
		var re *RefError
		switch {
		case tc.ok && (err != nil || got != tc.in):
			t.Errorf("ParseRef(%q) = %q, %v; want it unchanged", tc.in, got, err)
		case !tc.ok && !errors.As(err, &re):
			t.Errorf("ParseRef(%q) = %q, %v; want a *RefError", tc.in, got, err)
		}
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes("users, connect connect\tconnections:read")
	if err != nil || JoinScopes(got) != "connect connections:read users" {
		t.Errorf("ParseScopes = %v, %v", got, err)
	}
	if got, err := ParseScopes(""); err != nil || len(got) != 0 {
		t.Errorf("ParseScopes(\"\") = %v, %v", got, err)
	}
	var se *ScopeError
	if _, err := ParseScopes("connect,admin"); !errors.As(err, &se) || se.Scope != "admin" || !strings.Contains(err.Error(), "webhooks") {
		t.Errorf("unknown scope: %v", err)
	}
}

func TestAPIKeyActive(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		k    APIKey
		want bool
	}{
		{"new", APIKey{}, true},
		{"revoked", APIKey{RevokedAt: now}, false},
		{"rotated, in grace", APIKey{ExpiresAt: now.Add(time.Second)}, true},
		{"rotated, grace over", APIKey{ExpiresAt: now}, false},
	} {
		if got := tc.k.Active(now); got != tc.want {
			t.Errorf("%s: Active = %v", tc.name, got)
		}
	}
	k := APIKey{Scopes: []Scope{ScopeConnect}}
	if !k.Allows(ScopeConnect) || k.Allows(ScopeUsers) {
		t.Error("Allows")
	}
}

func TestRetainUntil(t *testing.T) {
	london := time.FixedZone("BST", 3600)
	for _, tc := range []struct {
		deleted time.Time
		want    string
	}{
		// Tax year 2026-27 (ends 5 April 2027): deadline 31 January 2028,
		// five years on: 31 January 2033 (later than six years on).
		{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), "2033-02-01T00:00:00Z"},
		// The last minute of tax year 2025-26 in the UK (it is BST): six
		// years on is later than 31 January 2032.
		{time.Date(2026, 4, 5, 23, 59, 0, 0, london), "2032-04-05T22:59:00Z"},
		// The first minute of tax year 2026-27 in the UK, still 5 April UTC.
		{time.Date(2026, 4, 6, 0, 0, 0, 0, london), "2033-02-01T00:00:00Z"},
		// January: tax year 2025-26, deadline 31 January 2027; 31 January
		// 2032 is later than six years on.
		{time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), "2032-02-01T00:00:00Z"},
	} {
		if got := RetainUntil(tc.deleted).Format(time.RFC3339); got != tc.want {
			t.Errorf("RetainUntil(%v) = %s, want %s", tc.deleted, got, tc.want)
		}
	}
}

func TestReasonCode(t *testing.T) {
	for reason, code := range map[string]string{
		"": "", ReasonRevoked: "revoked", ReasonGrantExpired: "grant_expired",
		ReasonRefreshInterrupted: "refresh_interrupted", ReasonOtherApplication: "other_application", "something new": "other",
	} {
		if got := ReasonCode(reason); got != code {
			t.Errorf("ReasonCode(%q) = %q, want %q", reason, got, code)
		}
	}
}
