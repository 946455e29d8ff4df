package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// requireAPIKey admits requests bearing a known API key
// (Authorization: Bearer mtdc_…). API requests carry no cookies' authority.
func (s *Server) requireAPIKey(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		key = strings.TrimSpace(key)
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(key, apiKeyPrefix) || len(key) > 200 {
			s.unauthorized(w, r)
			return
		}
		_, err := s.store.APIKeyByHash(r.Context(), HashAPIKey(key))
		if errors.Is(err, mtdconnect.ErrNotFound) {
			s.unauthorized(w, r)
			return
		}
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		h(w, r)
	}
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="mtdconnect"`)
	s.writeJSONError(w, r, problem{Status: http.StatusUnauthorized, Code: "unauthorized",
		Message: "A valid API key is required: Authorization: Bearer <key>."})
}

// apiUser reads {id} and ?purpose= and checks that the user exists.
func (s *Server) apiUser(r *http.Request) (int64, mtdconnect.Purpose, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, "", errBadRequest
	}
	info(r.Context()).userID = id
	purpose := mtdconnect.PurposeIncomeTax
	if v := r.URL.Query().Get("purpose"); v != "" {
		purpose = mtdconnect.Purpose(v)
		if !purpose.Valid() {
			return 0, "", errBadRequest
		}
	}
	if _, err := s.store.UserByID(r.Context(), id); errors.Is(err, mtdconnect.ErrNotFound) {
		return 0, "", errUnknownUser
	} else if err != nil {
		return 0, "", err
	}
	return id, purpose, nil
}

// connectionStatus is a connection as the platform sees it: never tokens.
type connectionStatus struct {
	UserID               int64              `json:"user_id"`
	Purpose              mtdconnect.Purpose `json:"purpose"`
	Status               mtdconnect.Status  `json:"status"`
	Reason               string             `json:"reason"`
	Scopes               []string           `json:"scopes"`
	ConnectedSince       *time.Time         `json:"connected_since"`
	AccessTokenExpiresAt *time.Time         `json:"access_token_expires_at"`
	AuthorityEndsAt      *time.Time         `json:"authority_ends_at"`
	LastRefreshAt        *time.Time         `json:"last_refresh_at"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// status reads the connection; not connected is a status, not an error.
func (s *Server) status(ctx context.Context, userID int64, purpose mtdconnect.Purpose) (*connectionStatus, error) {
	st := &connectionStatus{UserID: userID, Purpose: purpose, Status: mtdconnect.StatusNotConnected, Scopes: []string{}}
	conn, err := s.hmrc.Connection(ctx, userID, purpose)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st.Status = conn.Status
	st.Reason = conn.Reason
	st.Scopes = strings.Fields(conn.Scopes)
	st.ConnectedSince = timePtr(conn.GrantedAt)
	st.AccessTokenExpiresAt = timePtr(conn.AccessExpiresAt)
	if !conn.GrantedAt.IsZero() {
		st.AuthorityEndsAt = timePtr(conn.GrantEndsAt())
	}
	st.LastRefreshAt = timePtr(conn.LastRefreshAt)
	return st, nil
}

func (s *Server) handleAPIStatus(w http.ResponseWriter, r *http.Request) {
	id, purpose, err := s.apiUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	st, err := s.status(r.Context(), id, purpose)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, st)
}

// handleAPIRefresh refreshes now and answers with the new status.
func (s *Server) handleAPIRefresh(w http.ResponseWriter, r *http.Request) {
	id, purpose, err := s.apiUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if err := s.hmrc.Refresh(r.Context(), id, purpose); err != nil {
		s.apiError(w, r, err)
		return
	}
	st, err := s.status(r.Context(), id, purpose)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, st)
}

func (s *Server) handleAPITest(w http.ResponseWriter, r *http.Request) {
	id, purpose, err := s.apiUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	msg, err := s.hmrc.TestConnection(r.Context(), id, purpose)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		UserID  int64              `json:"user_id"`
		Purpose mtdconnect.Purpose `json:"purpose"`
		OK      bool               `json:"ok"`
		Message string             `json:"message"`
	}{id, purpose, true, msg})
}

func (s *Server) handleAPIDisconnect(w http.ResponseWriter, r *http.Request) {
	id, purpose, err := s.apiUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if err := s.hmrc.Disconnect(r.Context(), id, purpose); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
