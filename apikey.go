package mtdconnect

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scope is one thing an API key may do. A key used beyond its scopes is
// refused (403 insufficient_scope, naming the scope).
type Scope string

// The scopes.
const (
	// ScopeConnect creates connect sessions (the landlord's link to HMRC)
	// and reads their outcome.
	ScopeConnect Scope = "connect"
	// ScopeConnectionsRead reads a connection's status.
	ScopeConnectionsRead Scope = "connections:read"
	// ScopeConnectionsWrite refreshes, tests and disconnects connections.
	ScopeConnectionsWrite Scope = "connections:write"
	// ScopeSubmissions reads obligations and tax calculations, chooses the
	// quarters, sends quarterly updates, the year end's submissions and
	// declarations and VAT returns, and reads their receipts.
	ScopeSubmissions Scope = "submissions"
	// ScopeUsers creates, reads, updates and deletes landlords.
	ScopeUsers Scope = "users"
	// ScopeProxy calls HMRC's MTD APIs through the proxy.
	ScopeProxy Scope = "proxy"
	// ScopeWebhooks manages webhook endpoints and reads deliveries.
	ScopeWebhooks Scope = "webhooks"
)

// AllScopes are every scope, in the order they are listed everywhere. Keys
// made before scopes existed hold all of them.
var AllScopes = []Scope{
	ScopeConnect, ScopeConnectionsRead, ScopeConnectionsWrite, ScopeSubmissions,
	ScopeUsers, ScopeProxy, ScopeWebhooks,
}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return slices.Contains(AllScopes, s) }

// Description says in words what the scope lets a key do.
func (s Scope) Description() string {
	switch s {
	case ScopeConnect:
		return "create connect sessions and read their outcome"
	case ScopeConnectionsRead:
		return "read the status of landlords' HMRC connections"
	case ScopeConnectionsWrite:
		return "refresh, test and disconnect HMRC connections"
	case ScopeSubmissions:
		return "read obligations and tax calculations, send quarterly updates, the year end and VAT returns, read receipts"
	case ScopeUsers:
		return "create, read, update and delete landlords"
	case ScopeProxy:
		return "call HMRC's MTD APIs through the proxy"
	case ScopeWebhooks:
		return "manage webhooks"
	}
	return ""
}

// ScopeError names a scope that does not exist.
type ScopeError struct{ Scope string }

func (e *ScopeError) Error() string {
	names := make([]string, len(AllScopes))
	for i, s := range AllScopes {
		names[i] = string(s)
	}
	return "unknown scope " + strconv.Quote(e.Scope) + " (the scopes are " + strings.Join(names, ", ") + ")"
}

// ParseScopes reads scopes separated by commas and/or spaces. Each must be
// known; the result has no duplicates and is in the order of AllScopes. An
// empty list is an empty result, not an error: callers decide whether a
// key without scopes makes sense.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		sc := Scope(f)
		if !sc.Valid() {
			return nil, &ScopeError{Scope: f}
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	SortScopes(out)
	return out, nil
}

// SortScopes puts scopes in the order of AllScopes.
func SortScopes(scopes []Scope) {
	slices.SortFunc(scopes, func(a, b Scope) int {
		return slices.Index(AllScopes, a) - slices.Index(AllScopes, b)
	})
}

// JoinScopes writes scopes as the stores and the command line do: one
// space between each.
func JoinScopes(scopes []Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}

// API key lifetimes.
const (
	// APIKeyRotationGrace is how long a rotated key keeps working next to
	// its replacement: a day is time enough to deploy the new key to every
	// backend of the platform, and short enough that a key rotated because
	// it leaked stops soon (revoke it for at once).
	APIKeyRotationGrace = 24 * time.Hour
	// APIKeyTouchInterval bounds how often a key's LastUsedAt is written:
	// a busy key writes at most once per interval, not on every call.
	APIKeyTouchInterval = time.Minute
)

// Allows reports whether the key holds scope s.
func (k *APIKey) Allows(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Active reports whether the key may be used at now: not revoked and, if
// rotated, still within its grace period.
func (k *APIKey) Active(now time.Time) bool {
	if !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt) {
		return false
	}
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}
