package web

// The JSON API the platform's backend calls (docs/API.md). It stays in this
// package, next to the pages, because both share the one error vocabulary
// (classify → problem), the request log and the building of the
// fraud-prevention origin; both call the landlord service for every action.
// This file holds the API's plumbing, the connection and Income Tax's
// quarterly updates; the year end is in yearend_api.go, VAT and the receipts
// in vat_api.go.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/docs"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// apiRoute is one endpoint of the JSON API and the scope its API key
// needs.
type apiRoute struct {
	pattern string
	scope   mtdconnect.Scope
	handler http.HandlerFunc
}

// apiRoutes is the whole JSON API. The OpenAPI description
// (docs/openapi.json) must describe each, with its scope (x-scope): a test
// checks. A route with no scope needs no key.
func (s *Server) apiRoutes() []apiRoute {
	const user = "/api/v1/users/{user}"
	return []apiRoute{
		{"GET " + user, mtdconnect.ScopeUsers, s.jsonAPI(s.handleAPIProfile)},
		{"PUT " + user, mtdconnect.ScopeUsers, s.jsonAPI(s.handleAPIPutUser)},
		{"PATCH " + user, mtdconnect.ScopeUsers, s.jsonAPI(s.handleAPIPatchProfile)},
		{"DELETE " + user, mtdconnect.ScopeUsers, s.jsonAPI(s.handleAPIDeleteUser)},
		{"GET " + user + "/hmrc", mtdconnect.ScopeConnectionsRead, s.jsonAPI(s.handleAPIStatus)},
		{"POST " + user + "/hmrc/refresh", mtdconnect.ScopeConnectionsWrite, s.jsonAPI(s.handleAPIRefresh)},
		{"POST " + user + "/hmrc/test", mtdconnect.ScopeConnectionsWrite, s.jsonAPI(s.handleAPITest)},
		{"DELETE " + user + "/hmrc", mtdconnect.ScopeConnectionsWrite, s.jsonAPI(s.handleAPIDisconnect)},
		{"GET " + user + "/hmrc/obligations", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIObligations)},
		{"PUT " + user + "/hmrc/quarterly-period-type", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIPeriodType)},
		{"PUT " + user + "/hmrc/property/uk/cumulative/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIPutCumulative)},
		{"GET " + user + "/hmrc/property/uk/cumulative/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIGetCumulative)},
		// The year end (yearend_api.go).
		{"GET " + user + "/hmrc/tax-years/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPITaxYear)},
		{"GET " + user + "/hmrc/calculations/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPICalculations)},
		{"POST " + user + "/hmrc/calculations/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPICalculate)},
		{"GET " + user + "/hmrc/calculations/{taxYear}/{calculationId}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPICalculation)},
		{"POST " + user + "/hmrc/calculations/{taxYear}/{calculationId}/final-declaration", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIDeclare(calc.FinalDeclaration))},
		{"POST " + user + "/hmrc/calculations/{taxYear}/{calculationId}/confirm-amendment", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIDeclare(calc.ConfirmAmendment))},
		{"PUT " + user + "/hmrc/property/uk/annual/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIPutAnnual)},
		{"GET " + user + "/hmrc/property/uk/annual/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIGetAnnual)},
		{"DELETE " + user + "/hmrc/property/uk/annual/{taxYear}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIDeleteAnnual)},
		{"GET " + user + "/hmrc/vat/obligations", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIVATObligations)},
		{"POST " + user + "/hmrc/vat/returns", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIVATSubmit)},
		{"GET " + user + "/hmrc/vat/returns/{periodKey}", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPIVATReturn)},
		{"GET " + user + "/hmrc/submissions", mtdconnect.ScopeSubmissions, s.jsonAPI(s.handleAPISubmissions)},
		// The proxy (proxy_api.go): GET serves HEAD too.
		{"GET " + user + "/hmrc/proxy/{path...}", mtdconnect.ScopeProxy, s.handleAPIProxy},
		{"POST " + user + "/hmrc/proxy/{path...}", mtdconnect.ScopeProxy, s.handleAPIProxy},
		{"PUT " + user + "/hmrc/proxy/{path...}", mtdconnect.ScopeProxy, s.handleAPIProxy},
		{"PATCH " + user + "/hmrc/proxy/{path...}", mtdconnect.ScopeProxy, s.handleAPIProxy},
		{"DELETE " + user + "/hmrc/proxy/{path...}", mtdconnect.ScopeProxy, s.handleAPIProxy},
		{"POST /api/v1/connect-sessions", mtdconnect.ScopeConnect, s.jsonAPI(s.handleAPICreateConnectSession)},
		{"GET /api/v1/connect-sessions/{id}", mtdconnect.ScopeConnect, s.jsonAPI(s.handleAPIConnectSession)},
		// Webhooks (webhooks_api.go).
		{"POST /api/v1/webhooks", mtdconnect.ScopeWebhooks, s.jsonAPI(s.handleAPICreateWebhook)},
		{"GET /api/v1/webhooks", mtdconnect.ScopeWebhooks, s.jsonAPI(s.handleAPIWebhooks)},
		{"GET /api/v1/webhooks/{id}", mtdconnect.ScopeWebhooks, s.jsonAPI(s.handleAPIWebhook)},
		{"DELETE /api/v1/webhooks/{id}", mtdconnect.ScopeWebhooks, s.jsonAPI(s.handleAPIDeleteWebhook)},
		{"POST /api/v1/webhooks/{id}/rotate-secret", mtdconnect.ScopeWebhooks, s.jsonAPI(s.handleAPIRotateWebhook)},
		{"GET /api/v1/webhooks/{id}/deliveries", mtdconnect.ScopeWebhooks, s.jsonAPI(s.handleAPIWebhookDeliveries)},
		{"POST /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", mtdconnect.ScopeWebhooks, s.jsonAPI(s.handleAPIRedeliver)},
		// The description of all of it needs no key.
		{"GET /api/v1/openapi.json", "", handleOpenAPI},
	}
}

// handleOpenAPI serves docs/openapi.json.
func handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(docs.OpenAPI)
}

// requireAPIKey admits requests bearing an active API key
// (Authorization: Bearer mtdc_…) that holds scope. API requests carry no
// cookies' authority. The key is read from the store on every request,
// never from a cache, so a revoked key is refused at once by every
// instance. The key's ID (never the key) is logged and is the actor of what
// the request does.
func (s *Server) requireAPIKey(scope mtdconnect.Scope, h http.HandlerFunc) http.HandlerFunc {
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
		now := s.now()
		info(r.Context()).apiKeyID = k.ID
		if !k.Active(now) {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "revoked or expired api key refused", slog.Int64("api_key_id", k.ID))
			s.unauthorized(w, r)
			return
		}
		s.touchAPIKey(r, k, now)
		if !k.Allows(scope) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mtdconnect", error="insufficient_scope", scope="`+string(scope)+`"`)
			s.writeJSONError(w, r, problem{Status: http.StatusForbidden, Code: "insufficient_scope", Scope: string(scope),
				Message: "This API key does not have the scope " + string(scope) + ", which this request needs. Nothing was changed."})
			return
		}
		h(w, r)
	}
}

// touchAPIKey records the key's use at most once per
// mtdconnect.APIKeyTouchInterval: the store writes only if the stored time
// is older, so a busy key (on any number of instances) writes about once a
// minute. A failed write costs the request nothing.
func (s *Server) touchAPIKey(r *http.Request, k *mtdconnect.APIKey, now time.Time) {
	if now.Sub(k.LastUsedAt) < mtdconnect.APIKeyTouchInterval {
		return
	}
	if err := s.store.TouchAPIKey(r.Context(), k.ID, now, now.Add(-mtdconnect.APIKeyTouchInterval)); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "record api key use", slog.Int64("api_key_id", k.ID), slog.String("err", err.Error()))
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
func byAPI(r *http.Request) landlord.Actor { return landlord.ByPlatform(apiKeyID(r)) }

// apiKeyID is the ID of the API key the request was made with (0 outside
// requireAPIKey).
func apiKeyID(r *http.Request) int64 { return info(r.Context()).apiKeyID }

// apiUserID resolves the path's {user} (the platform's ref, or "id:" and
// mtdconnect's ID) to the landlord's ID, and notes their handle for
// apiHandle. Unknown: landlord.ErrUnknownUser; malformed: a
// *mtdconnect.RefError. A deleted landlord is found: the service refuses
// to act for them (*landlord.DeletedError) but lists their receipts.
func (s *Server) apiUserID(r *http.Request) (int64, error) {
	u, err := s.landlord.UserByHandle(r.Context(), r.PathValue("user"))
	if err != nil {
		return 0, err
	}
	ri := info(r.Context())
	ri.userID, ri.handle = u.ID, u.Handle()
	return u.ID, nil
}

// apiHandle is how answers name the landlord of the request: the handle
// apiUserID found.
func apiHandle(r *http.Request) string { return info(r.Context()).handle }

// apiUser reads {user} and ?purpose= (itsa by default).
func (s *Server) apiUser(r *http.Request) (int64, mtdconnect.Purpose, error) {
	purpose := mtdconnect.PurposeIncomeTax
	if v := r.URL.Query().Get("purpose"); v != "" {
		purpose = mtdconnect.Purpose(v)
		if !purpose.Valid() {
			return 0, "", errBadRequest
		}
	}
	id, err := s.apiUserID(r)
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
	User    string             `json:"user"`
	Purpose mtdconnect.Purpose `json:"purpose"`
	Status  mtdconnect.Status  `json:"status"`
	// ReasonCode and Reason say why a reconnect is needed (status
	// needs_reconnect): a stable code for programs, words for landlords.
	ReasonCode           string     `json:"reason_code"`
	Reason               string     `json:"reason"`
	Scopes               []string   `json:"scopes"`
	ConnectedSince       *time.Time `json:"connected_since"`
	AccessTokenExpiresAt *time.Time `json:"access_token_expires_at"`
	AuthorityEndsAt      *time.Time `json:"authority_ends_at"`
	LastRefreshAt        *time.Time `json:"last_refresh_at"`
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
		User: apiHandle(r), Purpose: st.Purpose, Status: st.Status,
		ReasonCode: mtdconnect.ReasonCode(st.Reason), Reason: st.Reason, Scopes: st.Scopes,
		ConnectedSince: timePtr(st.ConnectedSince), AccessTokenExpiresAt: timePtr(st.AccessTokenExpiresAt),
		AuthorityEndsAt: timePtr(st.AuthorityEndsAt), LastRefreshAt: timePtr(st.LastRefreshAt),
	}, nil
}

// handleAPIStatus is GET /api/v1/users/{user}/hmrc[?purpose=].
func (s *Server) handleAPIStatus(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, purpose, err := s.apiUser(r)
	if err != nil {
		return 0, nil, err
	}
	st, err := s.status(r, id, purpose)
	return http.StatusOK, st, err
}

// handleAPIRefresh refreshes now and answers with the new status.
func (s *Server) handleAPIRefresh(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, purpose, err := s.apiUser(r)
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
	id, purpose, err := s.apiUser(r)
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	msg, err := s.landlord.Test(r.Context(), byAPI(r), id, purpose, origin, testScenario(r))
	return http.StatusOK, struct {
		User    string             `json:"user"`
		Purpose mtdconnect.Purpose `json:"purpose"`
		OK      bool               `json:"ok"`
		Message string             `json:"message"`
	}{apiHandle(r), purpose, true, msg}, err
}

// handleAPIDisconnect is DELETE /api/v1/users/{user}/hmrc[?purpose=].
func (s *Server) handleAPIDisconnect(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, purpose, err := s.apiUser(r)
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
	Status      string `json:"status"` // HMRC's: open or fulfilled
	// State is the one wording of the pages too (landlord.State): open,
	// overdue, sent, received or due_before_connected.
	State    landlord.State `json:"state"`
	Received string         `json:"received,omitempty"` // HMRC's received date
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

// handleAPIObligations is GET /api/v1/users/{user}/hmrc/obligations
// [?taxYear=2025-26]: the UK property obligations of the tax year (the
// current one by default).
func (s *Server) handleAPIObligations(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
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
		User                string          `json:"user"`
		TaxYear             string          `json:"tax_year"`
		QuarterlyPeriodType string          `json:"quarterly_period_type,omitempty"`
		CanChoose           bool            `json:"quarterly_period_type_can_change"`
		FetchedAt           time.Time       `json:"fetched_at"`
		Obligations         []apiObligation `json:"obligations"`
	}{apiHandle(r), taxYear.String(), q.PeriodType, q.CanChoosePeriodType, q.FetchedAt.UTC(), []apiObligation{}}
	since, err := s.connectedSince(r, id, mtdconnect.PurposeIncomeTax)
	if err != nil {
		return 0, nil, err
	}
	today := s.now().In(s.london).Format(time.DateOnly)
	for _, ob := range q.Obligations {
		o := apiObligation{PeriodStart: ob.Start, PeriodEnd: ob.End, Due: ob.Due, Status: ob.Status, Received: ob.Received,
			State: landlord.StateOf(ob.Fulfilled(), ob.AwaitingHMRC(), ob.Due, today, since)}
		if ob.AwaitingHMRC() {
			o.Sent = &apiSent{SubmissionID: ob.Sent.ID, SubmittedAt: ob.Sent.SubmittedAt.UTC(), CorrelationID: ob.Sent.CorrelationID}
		}
		out.Obligations = append(out.Obligations, o)
	}
	return http.StatusOK, out, nil
}

// handleAPIPeriodType is PUT /api/v1/users/{user}/hmrc/quarterly-period-type:
// {"quarterly_period_type": "standard"|"calendar"} for the current tax
// year, before its first update.
func (s *Server) handleAPIPeriodType(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
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
		User                string `json:"user"`
		TaxYear             string `json:"tax_year"`
		QuarterlyPeriodType string `json:"quarterly_period_type"`
	}{apiHandle(r), taxYear.String(), body.QuarterlyPeriodType}, nil
}

// maxAPIBody bounds an API request body; a cumulative summary is well
// under 2 KiB.
const maxAPIBody = 64 << 10

// handleAPIPutCumulative is PUT
// /api/v1/users/{user}/hmrc/property/uk/cumulative/{taxYear}: the body is
// HMRC's own (fromDate, toDate, ukProperty), checked as HMRC would before
// anything is sent; an accepted one is kept as a receipt.
func (s *Server) handleAPIPutCumulative(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
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
		User          string    `json:"user"`
		TaxYear       string    `json:"tax_year"`
		SubmissionID  int64     `json:"submission_id,omitempty"`
		CorrelationID string    `json:"correlation_id"`
		SubmittedAt   time.Time `json:"submitted_at"`
	}{apiHandle(r), taxYear.String(), sub.ID, sub.CorrelationID, sub.SubmittedAt.UTC()}, nil
}

// handleAPIGetCumulative is GET of the same path: what HMRC holds for the
// tax year, in HMRC's shape.
func (s *Server) handleAPIGetCumulative(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
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

// connectedSince is when the landlord's connection for p was granted (zero
// without one), for landlord.StateOf.
func (s *Server) connectedSince(r *http.Request, id int64, p mtdconnect.Purpose) (time.Time, error) {
	st, err := s.landlord.Status(r.Context(), id, p)
	if err != nil {
		return time.Time{}, err
	}
	return st.ConnectedSince, nil
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
