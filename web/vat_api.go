package web

// The JSON API's VAT endpoints (docs/API.md, "VAT"), mirroring the VAT
// page, and the list of stored receipts of both purposes.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// apiVATUser reads {id} and returns the user, who must have a VAT
// registration number for any VAT call.
func (s *Server) apiVATUser(r *http.Request) (*mtdconnect.User, error) {
	u, err := s.apiPathUser(r)
	if err != nil {
		return nil, err
	}
	if u.VRN == "" {
		return nil, landlord.ErrNoVRN
	}
	return u, nil
}

type apiVATObligation struct {
	PeriodKey   string `json:"period_key"`
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Due         string `json:"due"`
	Status      string `json:"status"` // open or fulfilled
	Received    string `json:"received,omitempty"`
}

// apiVATStatuses are the statuses the API takes and gives, and HMRC's.
var apiVATStatuses = map[string]string{"open": vat.StatusOpen, "fulfilled": vat.StatusFulfilled}

// vatObligationsQuery reads ?from=&to=&status=. Without dates the range
// is the last 12 months to today, as on the VAT page, except with
// status=open alone, which asks HMRC for every open obligation.
func (s *Server) vatObligationsQuery(q url.Values) (from, to time.Time, status string, err error) {
	var errs []error
	date := func(name, code string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			errs = append(errs, &hmrc.ValidationError{Code: code, Message: name + " must be a date like 2026-03-31, not " + strconv.Quote(v)})
		}
		return t
	}
	from = date("from", vat.CodeInvalidDateFrom)
	to = date("to", vat.CodeInvalidDateTo)
	if v := q.Get("status"); v != "" {
		var ok bool
		if status, ok = apiVATStatuses[v]; !ok {
			errs = append(errs, &hmrc.ValidationError{Code: vat.CodeInvalidStatus,
				Message: "status must be open or fulfilled, or left out for both, not " + strconv.Quote(v)})
		}
	}
	if len(errs) > 0 {
		return from, to, status, errors.Join(errs...)
	}
	if !q.Has("from") && !q.Has("to") && status != vat.StatusOpen {
		to = s.vatToday()
		from = vatRecentFrom(to)
	}
	return from, to, status, nil
}

// handleAPIVATObligations is GET
// /api/v1/users/{id}/hmrc/vat/obligations[?from=&to=&status=].
func (s *Server) handleAPIVATObligations(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiVATUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	from, to, status, err := s.vatObligationsQuery(r.URL.Query())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	origin, err := s.apiOrigin(r, u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	obligations, err := s.vat.Obligations(r.Context(), u.ID, u.VRN, from, to, status, origin, vat.WithTestScenario(testScenario(r)))
	if err != nil {
		s.apiError(w, r, vatCall(err))
		return
	}
	out := struct {
		UserID      int64              `json:"user_id"`
		VRN         string             `json:"vrn"`
		From        string             `json:"from,omitempty"`
		To          string             `json:"to,omitempty"`
		Obligations []apiVATObligation `json:"obligations"`
	}{UserID: u.ID, VRN: u.VRN, Obligations: []apiVATObligation{}}
	if !from.IsZero() {
		out.From = from.Format(time.DateOnly)
	}
	if !to.IsZero() {
		out.To = to.Format(time.DateOnly)
	}
	for _, ob := range obligations {
		st := "open"
		if !ob.Open() {
			st = "fulfilled"
		}
		out.Obligations = append(out.Obligations, apiVATObligation{
			PeriodKey: ob.PeriodKey, PeriodStart: ob.Start, PeriodEnd: ob.End, Due: ob.Due, Status: st, Received: ob.Received,
		})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// apiVATReceipt is HMRC's receipt of a return as the API gives it.
type apiVATReceipt struct {
	UserID           int64     `json:"user_id"`
	PeriodKey        string    `json:"period_key"`
	SubmissionID     int64     `json:"submission_id,omitempty"`
	ProcessingDate   string    `json:"processing_date"`
	FormBundleNumber string    `json:"form_bundle_number"`
	PaymentIndicator string    `json:"payment_indicator,omitempty"`
	ChargeRefNumber  string    `json:"charge_ref_number,omitempty"`
	ReceiptID        string    `json:"receipt_id"`
	ReceiptTimestamp string    `json:"receipt_timestamp,omitempty"`
	CorrelationID    string    `json:"correlation_id"`
	SubmittedAt      time.Time `json:"submitted_at"`
}

// handleAPIVATSubmit is POST /api/v1/users/{id}/hmrc/vat/returns: the body
// is HMRC's own nine-box return (periodKey, the nine boxes, finalised),
// checked as HMRC would before anything is sent; a filed one is kept as a
// receipt at once.
func (s *Server) handleAPIVATSubmit(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiVATUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	var ret vat.Return
	if err := decodeJSONBody(w, r, &ret); err != nil {
		s.apiError(w, r, err)
		return
	}
	if verrs := ret.Validate(); len(verrs) > 0 {
		s.apiError(w, r, hmrc.JoinValidationErrors(verrs))
		return
	}
	origin, err := s.apiOrigin(r, u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	// The platform may hang up; the receipt of a return HMRC filed must
	// still be kept (see handleVATSubmit).
	ctx := context.WithoutCancel(r.Context())
	rec, err := s.vat.SubmitReturn(ctx, u.ID, u.VRN, ret, origin, vat.WithTestScenario(testScenario(r)))
	if err != nil {
		s.apiError(w, r, &vatCallError{err: err, submit: true})
		return
	}
	sub := rec.Submission(u.ID)
	if err := s.store.SaveSubmission(ctx, sub); err != nil {
		// HMRC filed the return: report success with its references, and
		// log that our copy of the receipt is lost.
		s.log.LogAttrs(r.Context(), slog.LevelError, "save receipt of a filed VAT return", requestAttrs(r),
			slog.String("form_bundle", rec.FormBundleNumber), slog.String("receipt_id", rec.ReceiptID), slog.String("err", err.Error()))
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/users/%d/hmrc/vat/returns/%s", u.ID, url.PathEscape(ret.PeriodKey)))
	s.writeJSON(w, r, http.StatusCreated, apiVATReceipt{
		UserID: u.ID, PeriodKey: ret.PeriodKey, SubmissionID: sub.ID,
		ProcessingDate: rec.ProcessingDate, FormBundleNumber: rec.FormBundleNumber,
		PaymentIndicator: rec.PaymentIndicator, ChargeRefNumber: rec.ChargeRefNumber,
		ReceiptID: rec.ReceiptID, ReceiptTimestamp: rec.ReceiptTimestamp, CorrelationID: rec.CorrelationID,
		SubmittedAt: rec.SubmittedAt.UTC(),
	})
}

// handleAPIVATReturn is GET
// /api/v1/users/{id}/hmrc/vat/returns/{periodKey}: the return HMRC holds,
// in HMRC's shape. A # in the period key is sent as %23.
func (s *Server) handleAPIVATReturn(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiVATUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	key := r.PathValue("periodKey")
	if !vat.ValidPeriodKey(key) {
		s.apiError(w, r, &hmrc.ValidationError{Code: vat.CodePeriodKeyInvalid,
			Message: "the period key must be four characters of A–Z, 0–9 and # (sent as %23), like 18A1 or #001"})
		return
	}
	origin, err := s.apiOrigin(r, u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	ret, err := s.vat.Return(r.Context(), u.ID, u.VRN, key, origin, vat.WithTestScenario(testScenario(r)))
	if err != nil {
		s.apiError(w, r, vatCall(err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, ret)
}

// apiSubmission is a stored receipt as the API gives it.
type apiSubmission struct {
	ID            int64              `json:"id"`
	Purpose       mtdconnect.Purpose `json:"purpose"`
	Kind          string             `json:"kind"`
	Period        string             `json:"period"`
	PeriodStart   string             `json:"period_start,omitempty"`
	PeriodEnd     string             `json:"period_end,omitempty"`
	SubmittedAt   time.Time          `json:"submitted_at"`
	CorrelationID string             `json:"correlation_id"`
	ReceiptID     string             `json:"receipt_id,omitempty"`
	Body          json.RawMessage    `json:"body"`
	Response      json.RawMessage    `json:"response,omitempty"`
}

// maxAPISubmissions bounds the list; receipts are few (four a year per
// purpose and business).
const maxAPISubmissions = 100

// handleAPISubmissions is GET /api/v1/users/{id}/hmrc/submissions
// [?purpose=itsa|vat]: the receipts of what HMRC accepted, newest first,
// of one purpose or both.
func (s *Server) handleAPISubmissions(w http.ResponseWriter, r *http.Request) {
	purposes := []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT}
	if v := r.URL.Query().Get("purpose"); v != "" {
		p := mtdconnect.Purpose(v)
		if !p.Valid() {
			s.apiError(w, r, errBadRequest)
			return
		}
		purposes = []mtdconnect.Purpose{p}
	}
	u, err := s.apiPathUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	id := u.ID
	var subs []*mtdconnect.Submission
	for _, p := range purposes {
		list, err := s.store.Submissions(r.Context(), id, p, maxAPISubmissions)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		subs = append(subs, list...)
	}
	slices.SortStableFunc(subs, func(a, b *mtdconnect.Submission) int {
		return cmp.Or(b.SubmittedAt.Compare(a.SubmittedAt), cmp.Compare(b.ID, a.ID))
	})
	out := struct {
		UserID      int64           `json:"user_id"`
		Submissions []apiSubmission `json:"submissions"`
	}{UserID: id, Submissions: []apiSubmission{}}
	for _, sub := range subs[:min(len(subs), maxAPISubmissions)] {
		a := apiSubmission{
			ID: sub.ID, Purpose: sub.Purpose, Kind: sub.Kind, Period: sub.Period, SubmittedAt: sub.SubmittedAt.UTC(),
			CorrelationID: sub.CorrelationID, ReceiptID: sub.ReceiptID, Body: rawJSON(sub.Body), Response: rawJSON(sub.Response),
		}
		if !sub.PeriodStart.IsZero() {
			a.PeriodStart = sub.PeriodStart.Format(time.DateOnly)
		}
		if !sub.PeriodEnd.IsZero() {
			a.PeriodEnd = sub.PeriodEnd.Format(time.DateOnly)
		}
		out.Submissions = append(out.Submissions, a)
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// rawJSON passes stored JSON through; anything that is not JSON (it
// should not happen) becomes a JSON string rather than breaking the answer.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}
