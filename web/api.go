package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
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

// apiPathUser returns the user named by the path's {id}: errBadRequest
// when it is not a positive number, errUnknownUser when there is none.
func (s *Server) apiPathUser(r *http.Request) (*mtdconnect.User, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errBadRequest
	}
	info(r.Context()).userID = id
	u, err := s.store.UserByID(r.Context(), id)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, errUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("web: api user %d: %w", id, err)
	}
	return u, nil
}

// apiUser reads {id} and ?purpose= and checks that the user exists.
func (s *Server) apiUser(r *http.Request) (int64, mtdconnect.Purpose, error) {
	purpose := mtdconnect.PurposeIncomeTax
	if v := r.URL.Query().Get("purpose"); v != "" {
		purpose = mtdconnect.Purpose(v)
		if !purpose.Valid() {
			return 0, "", errBadRequest
		}
	}
	u, err := s.apiPathUser(r)
	if err != nil {
		return 0, "", err
	}
	return u.ID, purpose, nil
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
	origin, err := s.apiOrigin(r, id)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	msg, err := s.landlord.Test(r.Context(), id, purpose, origin)
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

// ---- Income Tax: obligations and the UK property cumulative summary ----

// apiITSAUser reads {id} and returns the user, who must have a National
// Insurance number for any Income Tax call.
func (s *Server) apiITSAUser(r *http.Request) (*mtdconnect.User, error) {
	u, err := s.apiPathUser(r)
	if err != nil {
		return nil, err
	}
	if u.NINO == "" {
		return nil, landlord.ErrNoNINO
	}
	return u, nil
}

// testScenario is the platform's Gov-Test-Scenario header, passed on to
// HMRC's sandbox ("" for none; the client refuses one when it calls
// production).
func testScenario(r *http.Request) string {
	return strings.TrimSpace(r.Header.Get("Gov-Test-Scenario"))
}

type apiObligation struct {
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Due         string `json:"due"`
	Status      string `json:"status"`
	Received    string `json:"received,omitempty"`
}

// handleAPIObligations is GET /api/v1/users/{id}/hmrc/obligations
// [?taxYear=2025-26]: the UK property obligations of the tax year (the
// current one by default).
func (s *Server) handleAPIObligations(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiITSAUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	taxYear := itsa.CurrentTaxYear(s.now())
	if v := r.URL.Query().Get("taxYear"); v != "" {
		if taxYear, err = itsa.ParseTaxYear(v); err != nil {
			s.apiError(w, r, err)
			return
		}
	}
	origin, err := s.apiOrigin(r, u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	obligations, err := s.itsa.Obligations(r.Context(), u.ID, u.NINO, taxYear, origin, itsa.WithTestScenario(testScenario(r)))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := struct {
		UserID      int64           `json:"user_id"`
		TaxYear     string          `json:"tax_year"`
		Obligations []apiObligation `json:"obligations"`
	}{u.ID, taxYear.String(), []apiObligation{}}
	for _, ob := range obligations {
		out.Obligations = append(out.Obligations, apiObligation{
			PeriodStart: ob.Start, PeriodEnd: ob.End, Due: ob.Due, Status: ob.Status, Received: ob.Received,
		})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// maxAPIBody bounds an API request body; a cumulative summary is well
// under 2 KiB.
const maxAPIBody = 64 << 10

// handleAPIPutCumulative is PUT
// /api/v1/users/{id}/hmrc/property/uk/cumulative/{taxYear}: the body is
// HMRC's own (fromDate, toDate, ukProperty), checked as HMRC would before
// anything is sent; an accepted one is kept as a receipt.
func (s *Server) handleAPIPutCumulative(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiITSAUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	taxYear, err := itsa.ParseTaxYear(r.PathValue("taxYear"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	body, err := decodeCumulative(w, r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if verrs := body.Validate(taxYear); len(verrs) > 0 {
		s.apiError(w, r, hmrc.JoinValidationErrors(verrs))
		return
	}
	origin, err := s.apiOrigin(r, u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	// The platform may hang up; the receipt of an update HMRC accepted
	// must still be kept (see handleVATSubmit).
	ctx := context.WithoutCancel(r.Context())
	resp, err := s.itsa.SubmitUKPropertyCumulative(ctx, u.ID, u.NINO, taxYear, body, origin, itsa.WithTestScenario(testScenario(r)))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	raw, err := json.Marshal(body)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	sub := &mtdconnect.Submission{
		UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionUKPropertyCumulative,
		Period: taxYear.String(), Body: raw, Response: resp.Body, CorrelationID: resp.CorrelationID, SubmittedAt: s.now(),
	}
	sub.PeriodStart, _ = time.Parse(time.DateOnly, body.FromDate)
	sub.PeriodEnd, _ = time.Parse(time.DateOnly, body.ToDate)
	if err := s.store.SaveSubmission(ctx, sub); err != nil {
		// HMRC has the update: report success with its reference, and
		// log that the receipt is lost.
		s.log.LogAttrs(r.Context(), slog.LevelError, "save receipt of an accepted update", requestAttrs(r),
			slog.String("correlation_id", resp.CorrelationID), slog.String("err", err.Error()))
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		UserID        int64     `json:"user_id"`
		TaxYear       string    `json:"tax_year"`
		SubmissionID  int64     `json:"submission_id,omitempty"`
		CorrelationID string    `json:"correlation_id"`
		SubmittedAt   time.Time `json:"submitted_at"`
	}{u.ID, taxYear.String(), sub.ID, resp.CorrelationID, sub.SubmittedAt.UTC()})
}

// decodeJSONBody reads one JSON object strictly into v: no unknown
// fields, nothing after it.
func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return &jsonBodyError{Problem: "send it as Content-Type: application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return &jsonBodyError{Problem: "it is empty"}
		case errors.As(err, &tooBig):
			return &jsonBodyError{Problem: fmt.Sprintf("it is larger than %d bytes", maxAPIBody)}
		}
		return &jsonBodyError{Problem: strings.TrimPrefix(strings.TrimPrefix(err.Error(), "json: "), "mtdconnect: ")}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &jsonBodyError{Problem: "there is data after the JSON object"}
	}
	return nil
}

// decodeCumulative reads the JSON body strictly: one object, no unknown
// fields, amounts as JSON numbers.
func decodeCumulative(w http.ResponseWriter, r *http.Request) (itsa.UKPropertyCumulative, error) {
	var body itsa.UKPropertyCumulative
	err := decodeJSONBody(w, r, &body)
	return body, err
}

// handleAPIGetCumulative is GET of the same path: what HMRC holds for the
// tax year, in HMRC's shape.
func (s *Server) handleAPIGetCumulative(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiITSAUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	taxYear, err := itsa.ParseTaxYear(r.PathValue("taxYear"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	origin, err := s.apiOrigin(r, u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	summary, err := s.itsa.UKPropertyCumulative(r.Context(), u.ID, u.NINO, taxYear, origin, itsa.WithTestScenario(testScenario(r)))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, summary)
}
