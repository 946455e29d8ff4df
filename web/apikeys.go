package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mtdconnect/mtdconnect"
)

// API keys of the platform's backend: made, listed, revoked and rotated by
// an administrator, on the admin page here or on the command line (which
// calls the same functions). Only a key's hash is stored; the key is shown
// once, in the answer that made it, never in a cookie or a log.

// APIKeyError is a request about keys refused for what it asked.
type APIKeyError struct{ Message string }

func (e *APIKeyError) Error() string { return e.Message }

// maxAPIKeyName bounds a key's name, in characters.
const maxAPIKeyName = 100

// CreateAPIKey makes a key named name holding scopes, and returns the key
// (to show once) and what is stored of it.
func CreateAPIKey(ctx context.Context, store mtdconnect.Store, name string, scopes []mtdconnect.Scope) (string, *mtdconnect.APIKey, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", nil, &APIKeyError{Message: "give the key a name: what it is for, such as the platform's backend"}
	case utf8.RuneCountInString(name) > maxAPIKeyName || !printableText(name):
		return "", nil, &APIKeyError{Message: fmt.Sprintf("the name must be at most %d printable characters", maxAPIKeyName)}
	case len(scopes) == 0:
		return "", nil, &APIKeyError{Message: "choose at least one scope: a key without scopes can do nothing"}
	}
	for _, sc := range scopes {
		if !sc.Valid() {
			return "", nil, &APIKeyError{Message: (&mtdconnect.ScopeError{Scope: string(sc)}).Error()}
		}
	}
	key, hash := NewAPIKey()
	k := &mtdconnect.APIKey{Name: name, Hash: hash, Scopes: scopes}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		return "", nil, fmt.Errorf("web: create api key: %w", err)
	}
	return key, k, nil
}

// RotateAPIKey makes a successor of key id (same name and scopes) and
// returns it; key id keeps working until now+mtdconnect.APIKeyRotationGrace.
func RotateAPIKey(ctx context.Context, store mtdconnect.Store, id int64, now time.Time) (string, *mtdconnect.APIKey, error) {
	key, hash := NewAPIKey()
	k, err := store.RotateAPIKey(ctx, id, hash, now.Add(mtdconnect.APIKeyRotationGrace))
	switch {
	case errors.Is(err, mtdconnect.ErrNotFound):
		return "", nil, &APIKeyError{Message: fmt.Sprintf("there is no API key %d", id)}
	case errors.Is(err, mtdconnect.ErrConflict):
		return "", nil, &APIKeyError{Message: fmt.Sprintf("API key %d is revoked or was rotated already; rotate its successor, or create a new key", id)}
	case err != nil:
		return "", nil, fmt.Errorf("web: rotate api key: %w", err)
	}
	return key, k, nil
}

// RevokeAPIKey revokes key id at now: every instance refuses it from its
// next request.
func RevokeAPIKey(ctx context.Context, store mtdconnect.Store, id int64, now time.Time) error {
	err := store.RevokeAPIKey(ctx, id, now)
	switch {
	case errors.Is(err, mtdconnect.ErrNotFound):
		return &APIKeyError{Message: fmt.Sprintf("there is no API key %d", id)}
	case errors.Is(err, mtdconnect.ErrConflict):
		return &APIKeyError{Message: fmt.Sprintf("API key %d was revoked already", id)}
	case err != nil:
		return fmt.Errorf("web: revoke api key: %w", err)
	}
	return nil
}

// APIKeyState says in words whether k works at now: "active", "revoked",
// "expired" (a rotated key past its grace) or "expires <time>".
func APIKeyState(k *mtdconnect.APIKey, now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return "revoked"
	case k.ExpiresAt.IsZero():
		return "active"
	case !now.Before(k.ExpiresAt):
		return "expired"
	}
	return "rotated: works until " + k.ExpiresAt.UTC().Format(time.RFC3339)
}

func printableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsFunc(s, isControl) }

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// ---- the admin page ----

const adminKeysPath = "/admin/api-keys"

type apiKeyRow struct {
	ID                          int64
	Name, Scopes, Created, Used string
	State                       string
	Active                      bool
}

type scopeChoice struct {
	Value       mtdconnect.Scope
	Description string
	Checked     bool
}

type adminKeysPage struct {
	Flash  *flash
	Keys   []apiKeyRow
	Scopes []scopeChoice
	Name   string
	Error  string
	// NewKey is a key made by this request, shown this once.
	NewKey     string
	NewKeyName string
	Grace      string
}

func (s *Server) adminKeysPage(ctx context.Context) (adminKeysPage, error) {
	page := adminKeysPage{Grace: humanDuration(mtdconnect.APIKeyRotationGrace)}
	for _, sc := range mtdconnect.AllScopes {
		page.Scopes = append(page.Scopes, scopeChoice{Value: sc, Description: sc.Description()})
	}
	keys, err := s.store.APIKeys(ctx)
	if err != nil {
		return page, err
	}
	now := s.now()
	for _, k := range keys {
		row := apiKeyRow{ID: k.ID, Name: k.Name, Scopes: mtdconnect.JoinScopes(k.Scopes), Created: s.formatTime(k.CreatedAt),
			Used: "never", Active: k.Active(now)}
		if !k.LastUsedAt.IsZero() {
			row.Used = s.formatTime(k.LastUsedAt)
		}
		switch {
		case !k.RevokedAt.IsZero():
			row.State = "Revoked " + s.formatTime(k.RevokedAt)
		case k.ExpiresAt.IsZero():
			row.State = "Active"
		case row.Active:
			row.State = "Rotated: works until " + s.formatTime(k.ExpiresAt)
		default:
			row.State = "Expired " + s.formatTime(k.ExpiresAt)
		}
		page.Keys = append(page.Keys, row)
	}
	return page, nil
}

func (s *Server) handleAdminKeys(w http.ResponseWriter, r *http.Request) {
	page, err := s.adminKeysPage(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.Flash = s.takeFlash(w, r)
	s.render(w, r, http.StatusOK, "admin_keys", "API keys", page)
}

// handleAdminKeyCreate makes a key and shows it on the answer itself: it
// is never put in a cookie (the flash cookie is signed, not secret).
func (s *Server) handleAdminKeyCreate(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	if err := r.ParseForm(); err != nil {
		s.serverError(w, r, errBadRequest)
		return
	}
	var scopes []mtdconnect.Scope
	for _, v := range r.PostForm["scope"] {
		scopes = append(scopes, mtdconnect.Scope(v))
	}
	mtdconnect.SortScopes(scopes)
	key, k, err := CreateAPIKey(r.Context(), s.store, r.PostFormValue("name"), scopes)
	var ke *APIKeyError
	if errors.As(err, &ke) {
		page, perr := s.adminKeysPage(r.Context())
		if perr != nil {
			s.serverError(w, r, perr)
			return
		}
		page.Name, page.Error = r.PostFormValue("name"), sentence(ke.Message)
		for i := range page.Scopes {
			for _, sc := range scopes {
				page.Scopes[i].Checked = page.Scopes[i].Checked || sc == page.Scopes[i].Value
			}
		}
		s.render(w, r, http.StatusBadRequest, "admin_keys", "Error: API keys", page)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("api key created", "user_id", u.ID, "api_key_id", k.ID, "scopes", mtdconnect.JoinScopes(k.Scopes))
	s.showNewKey(w, r, key, k)
}

func (s *Server) showNewKey(w http.ResponseWriter, r *http.Request, key string, k *mtdconnect.APIKey) {
	page, err := s.adminKeysPage(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.NewKey, page.NewKeyName = key, k.Name
	s.render(w, r, http.StatusOK, "admin_keys", "API keys", page)
}

func (s *Server) adminKeyID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (s *Server) handleAdminKeyRevoke(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	id, ok := s.adminKeyID(r)
	if !ok {
		s.serverError(w, r, errBadRequest)
		return
	}
	if err := RevokeAPIKey(r.Context(), s.store, id, s.now()); err != nil {
		s.adminKeysError(w, r, err)
		return
	}
	s.log.Info("api key revoked", "user_id", u.ID, "api_key_id", id)
	s.setFlash(w, flash{Kind: "success", Text: fmt.Sprintf("API key %d is revoked: it is refused from now on.", id)})
	http.Redirect(w, r, adminKeysPath, http.StatusSeeOther)
}

func (s *Server) handleAdminKeyRotate(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	id, ok := s.adminKeyID(r)
	if !ok {
		s.serverError(w, r, errBadRequest)
		return
	}
	key, k, err := RotateAPIKey(r.Context(), s.store, id, s.now())
	if err != nil {
		s.adminKeysError(w, r, err)
		return
	}
	s.log.Info("api key rotated", "user_id", u.ID, "api_key_id", id, "new_api_key_id", k.ID)
	s.showNewKey(w, r, key, k)
}

func (s *Server) adminKeysError(w http.ResponseWriter, r *http.Request, err error) {
	var ke *APIKeyError
	if !errors.As(err, &ke) {
		s.serverError(w, r, err)
		return
	}
	s.setFlash(w, flash{Kind: "error", Text: sentence(ke.Message)})
	http.Redirect(w, r, adminKeysPath, http.StatusSeeOther)
}
