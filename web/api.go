package web

// The JSON API the platform's backend calls (docs/API.md). It stays in this
// package, next to the pages, because both share the one error vocabulary
// (classify → problem), the request log and the building of the
// fraud-prevention origin; both call the landlord service for every action.
// This file holds the API's plumbing, the connection and Income Tax; VAT and
// the receipts are in vat_api.go.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// requireAPIKey admits requests bearing a known API key
// (Authorization: Bearer mtdc_…). API requests carry no cookies' authority.
// The key's ID is the actor of what the request does.
func (s *Server) requireAPIKey(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		key = strings.TrimSpace(key)
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(key, apiKeyPrefix) || len(key) > 200 {
			s.unauthorized(w, r)
			return
		}
		k, err := s.store.APIKeyByHash(r.Context(), HashAPIKey(key))
		if errors.Is(err, mtdconnect.ErrNotFound) {
			s.unauthorized(w, r)
			return
		}
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		info(r.Context()).apiKeyID = k.ID
		h(w, r)
	}
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="mtdconnect"`)
	s.writeJSONError(w, r, problem{Status: http.StatusUnauthorized, Code: "unauthorized",
		Message: "A valid API key is required: Authorization: Bearer <key>."})
}

// apiHandler is one API endpoint: it returns the status and the value to
// answer with as JSON (nil: no body), or an error for apiError.
type apiHandler func(w http.ResponseWriter, r *http.Request) (int, any, error)

// jsonAPI serves h.
func (s *Server) jsonAPI(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, v, err := h(w, r)
		switch {
		case err != nil:
			s.apiError(w, r, err)
		case v == nil:
			w.WriteHeader(status)
		default:
			s.writeJSON(w, r, status, v)
		}
	}
}

// byAPI is the actor of an API request: the platform, by its key's ID.
func byAPI(r *http.Request) landlord.Actor { return landlord.ByPlatform(info(r.Context()).apiKeyID) }

// apiUserID reads the path's {id}: errBadRequest when it is not a positive
// number. Whether the user exists is the service's answer
// (landlord.ErrUnknownUser).
func apiUserID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errBadRequest
	}
	info(r.Context()).userID = id
	return id, nil
}

// apiUser reads {id} and ?purpose= (itsa by default).
func apiUser(r *http.Request) (int64, mtdconnect.Purpose, error) {
	purpose := mtdconnect.PurposeIncomeTax
	if v := r.URL.Query().Get("purpose"); v != "" {
		purpose = mtdconnect.Purpose(v)
		if !purpose.Valid() {
			return 0, "", errBadRequest
		}
	}
	id, err := apiUserID(r)
	return id, purpose, err
}

// testScenario is the platform's Gov-Test-Scenario header, passed on to
// HMRC's sandbox ("" for none; the client refuses one when it calls
// production).
func testScenario(r *http.Request) string {
	return strings.TrimSpace(r.Header.Get("Gov-Test-Scenario"))
}

// ---- the connection ----

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

// status reads the connection as the platform sees it.
func (s *Server) status(r *http.Request, userID int64, p mtdconnect.Purpose) (*connectionStatus, error) {
	st, err := s.landlord.Status(r.Context(), userID, p)
	if err != nil {
		return nil, err
	}
	return &connectionStatus{
		UserID: st.UserID, Purpose: st.Purpose, Status: st.Status, Reason: st.Reason, Scopes: st.Scopes,
		ConnectedSince: timePtr(st.ConnectedSince), AccessTokenExpiresAt: timePtr(st.AccessTokenExpiresAt),
		AuthorityEndsAt: timePtr(st.AuthorityEndsAt), LastRefreshAt: timePtr(st.LastRefreshAt),
	}, nil
}

// handleAPIStatus is GET /api/v1/users/{id}/hmrc[?purpose=].
func (s *Server) handleAPIStatus(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, purpose, err := apiUser(r)
	if err != nil {
		return 0, nil, err
	}
	st, err := s.status(r, id, purpose)
	return http.StatusOK, st, err
}

// handleAPIRefresh refreshes now and answers with the new status.
func (s *Server) handleAPIRefresh(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, purpose, err := apiUser(r)
	if err == nil {
		err = s.landlord.Refresh(r.Context(), byAPI(r), id, purpose)
	}
	if err != nil {
		return 0, nil, err
	}
	st, err := s.status(r, id, purpose)
	return http.StatusOK, st, err
}

// handleAPITest checks the connection with a cheap call of its own API.
func (s *Server) handleAPITest(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, purpose, err := apiUser(r)
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	msg, err := s.landlord.Test(r.Context(), byAPI(r), id, purpose, origin, testScenario(r))
	return http.StatusOK, struct {
		UserID  int64              `json:"user_id"`
		Purpose mtdconnect.Purpose `json:"purpose"`
		OK      bool               `json:"ok"`
		Message string             `json:"message"`
	}{id, purpose, true, msg}, err
}

// handleAPIDisconnect is DELETE /api/v1/users/{id}/hmrc[?purpose=].
func (s *Server) handleAPIDisconnect(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, purpose, err := apiUser(r)
	if err == nil {
		err = s.landlord.Disconnect(r.Context(), byAPI(r), id, purpose)
	}
	return http.StatusNoContent, nil, err
}

// ---- Income Tax: obligations and the UK property cumulative summary ----

type apiObligation struct {
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Due         string `json:"due"`
	Status      string `json:"status"`             // HMRC's: open or fulfilled
	Received    string `json:"received,omitempty"` // HMRC's received date
	// Sent is this service's receipt of an update covering the period
	// that HMRC accepted but does not show as received yet (it may take
	// up to an hour).
	Sent *apiSent `json:"sent,omitempty"`
}

type apiSent struct {
	SubmissionID  int64     `json:"submission_id"`
	SubmittedAt   time.Time `json:"submitted_at"`
	CorrelationID string    `json:"correlation_id"`
}

// handleAPIObligations is GET /api/v1/users/{id}/hmrc/obligations
// [?taxYear=2025-26]: the UK property obligations of the tax year (the
// current one by default).
func (s *Server) handleAPIObligations(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	taxYear := itsa.CurrentTaxYear(s.now())
	if v := r.URL.Query().Get("taxYear"); v != "" {
		if taxYear, err = itsa.ParseTaxYear(v); err != nil {
			return 0, nil, err
		}
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	q, err := s.landlord.Obligations(r.Context(), id, taxYear, origin, testScenario(r))
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		UserID              int64           `json:"user_id"`
		TaxYear             string          `json:"tax_year"`
		QuarterlyPeriodType string          `json:"quarterly_period_type,omitempty"`
		CanChoose           bool            `json:"quarterly_period_type_can_change"`
		FetchedAt           time.Time       `json:"fetched_at"`
		Obligations         []apiObligation `json:"obligations"`
	}{id, taxYear.String(), q.PeriodType, q.CanChoosePeriodType, q.FetchedAt.UTC(), []apiObligation{}}
	for _, ob := range q.Obligations {
		o := apiObligation{PeriodStart: ob.Start, PeriodEnd: ob.End, Due: ob.Due, Status: ob.Status, Received: ob.Received}
		if ob.AwaitingHMRC() {
			o.Sent = &apiSent{SubmissionID: ob.Sent.ID, SubmittedAt: ob.Sent.SubmittedAt.UTC(), CorrelationID: ob.Sent.CorrelationID}
		}
		out.Obligations = append(out.Obligations, o)
	}
	return http.StatusOK, out, nil
}

// handleAPIPeriodType is PUT /api/v1/users/{id}/hmrc/quarterly-period-type:
// {"quarterly_period_type": "standard"|"calendar"} for the current tax
// year, before its first update.
func (s *Server) handleAPIPeriodType(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		QuarterlyPeriodType string `json:"quarterly_period_type"`
		// The landlord's confirmation that their accounting period runs
		// from 1 April to 31 March: required for calendar quarters.
		AprilToMarch bool `json:"accounting_period_1_april_to_31_march"`
	}
	if err := decodeJSONBody(w, r, &body); err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callSends)
	if err != nil {
		return 0, nil, err
	}
	taxYear, err := s.landlord.ChooseQuarterlyPeriodType(r.Context(), byAPI(r), landlord.QuartersChoice{UserID: id,
		PeriodType: body.QuarterlyPeriodType, AprilToMarch: body.AprilToMarch, Origin: origin, TestScenario: testScenario(r)})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		UserID              int64  `json:"user_id"`
		TaxYear             string `json:"tax_year"`
		QuarterlyPeriodType string `json:"quarterly_period_type"`
	}{id, taxYear.String(), body.QuarterlyPeriodType}, nil
}

// maxAPIBody bounds an API request body; a cumulative summary is well
// under 2 KiB.
const maxAPIBody = 64 << 10

// handleAPIPutCumulative is PUT
// /api/v1/users/{id}/hmrc/property/uk/cumulative/{taxYear}: the body is
// HMRC's own (fromDate, toDate, ukProperty), checked as HMRC would before
// anything is sent; an accepted one is kept as a receipt.
func (s *Server) handleAPIPutCumulative(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	taxYear, err := itsa.ParseTaxYear(r.PathValue("taxYear"))
	if err != nil {
		return 0, nil, err
	}
	var body itsa.UKPropertyCumulative
	if err := decodeJSONBody(w, r, &body); err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callSends)
	if err != nil {
		return 0, nil, err
	}
	sub, err := s.landlord.SubmitQuarterlyUpdate(r.Context(), byAPI(r), landlord.QuarterlyUpdate{
		UserID: id, TaxYear: taxYear, Body: body, Origin: origin, TestScenario: testScenario(r),
	})
	var lost *landlord.ReceiptError
	if errors.As(err, &lost) {
		// HMRC has the update: report success with its reference (the
		// service logged that our copy of the receipt is lost).
		err = nil
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		UserID        int64     `json:"user_id"`
		TaxYear       string    `json:"tax_year"`
		SubmissionID  int64     `json:"submission_id,omitempty"`
		CorrelationID string    `json:"correlation_id"`
		SubmittedAt   time.Time `json:"submitted_at"`
	}{id, taxYear.String(), sub.ID, sub.CorrelationID, sub.SubmittedAt.UTC()}, nil
}

// handleAPIGetCumulative is GET of the same path: what HMRC holds for the
// tax year, in HMRC's shape.
func (s *Server) handleAPIGetCumulative(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	taxYear, err := itsa.ParseTaxYear(r.PathValue("taxYear"))
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	summary, err := s.landlord.CumulativeSummary(r.Context(), id, taxYear, origin, testScenario(r))
	return http.StatusOK, summary, err
}

// decodeJSONBody reads one JSON object strictly into v: no unknown
// fields, nothing after it, amounts as JSON numbers.
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
