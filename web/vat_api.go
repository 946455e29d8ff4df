package web

// The JSON API's VAT endpoints (docs/API.md, "VAT"), and the list of stored
// receipts of both purposes.

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/landlord"
)

type apiVATObligation struct {
	PeriodKey   string `json:"period_key"`
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Due         string `json:"due"`
	Status      string `json:"status"` // open or fulfilled
	// State is the one wording of the pages too (landlord.State).
	State    landlord.State `json:"state"`
	Received string         `json:"received,omitempty"`
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
		from, to = s.landlord.RecentVATPeriod()
	}
	return from, to, status, nil
}

// handleAPIVATObligations is GET
// /api/v1/users/{user}/hmrc/vat/obligations[?from=&to=&status=].
func (s *Server) handleAPIVATObligations(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	from, to, status, err := s.vatObligationsQuery(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	list, err := s.landlord.VATObligations(r.Context(), id, from, to, status, origin, testScenario(r))
	if err != nil {
		return 0, nil, vatCall(err)
	}
	out := struct {
		User        string             `json:"user"`
		VRN         string             `json:"vrn"`
		From        string             `json:"from,omitempty"`
		To          string             `json:"to,omitempty"`
		Obligations []apiVATObligation `json:"obligations"`
	}{User: apiHandle(r), VRN: list.VRN, Obligations: []apiVATObligation{}}
	if !from.IsZero() {
		out.From = from.Format(time.DateOnly)
	}
	if !to.IsZero() {
		out.To = to.Format(time.DateOnly)
	}
	since, err := s.connectedSince(r, id, mtdconnect.PurposeVAT)
	if err != nil {
		return 0, nil, err
	}
	today := s.now().In(s.london).Format(time.DateOnly)
	for _, ob := range list.Obligations {
		st := "open"
		if !ob.Open() {
			st = "fulfilled"
		}
		out.Obligations = append(out.Obligations, apiVATObligation{
			PeriodKey: ob.PeriodKey, PeriodStart: ob.Start, PeriodEnd: ob.End, Due: ob.Due, Status: st, Received: ob.Received,
			State: landlord.StateOf(!ob.Open(), false, ob.Due, today, since),
		})
	}
	return http.StatusOK, out, nil
}

// apiVATReceipt is HMRC's receipt of a return as the API gives it.
type apiVATReceipt struct {
	User             string    `json:"user"`
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

// handleAPIVATSubmit is POST /api/v1/users/{user}/hmrc/vat/returns: the body
// is HMRC's own nine-box return (periodKey, the nine boxes, finalised),
// checked as HMRC would before anything is sent; a filed one is kept as a
// receipt at once.
func (s *Server) handleAPIVATSubmit(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	var ret vat.Return
	if err := decodeJSONBody(w, r, &ret); err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callSends)
	if err != nil {
		return 0, nil, err
	}
	rec, sub, err := s.landlord.FileVATReturn(r.Context(), byAPI(r), landlord.VATFiling{
		UserID: id, Return: ret, Origin: origin, TestScenario: testScenario(r),
	})
	var lost *landlord.ReceiptError
	if errors.As(err, &lost) {
		// HMRC filed the return: report success with its references (the
		// service logged that our copy of the receipt is lost).
		err = nil
	}
	if err != nil {
		return 0, nil, &vatCallError{err: err, submit: true}
	}
	w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(apiHandle(r))+"/hmrc/vat/returns/"+url.PathEscape(ret.PeriodKey))
	return http.StatusCreated, apiVATReceipt{
		User: apiHandle(r), PeriodKey: ret.PeriodKey, SubmissionID: sub.ID,
		ProcessingDate: rec.ProcessingDate, FormBundleNumber: rec.FormBundleNumber,
		PaymentIndicator: rec.PaymentIndicator, ChargeRefNumber: rec.ChargeRefNumber,
		ReceiptID: rec.ReceiptID, ReceiptTimestamp: rec.ReceiptTimestamp, CorrelationID: rec.CorrelationID,
		SubmittedAt: rec.SubmittedAt.UTC(),
	}, nil
}

// handleAPIVATReturn is GET
// /api/v1/users/{user}/hmrc/vat/returns/{periodKey}: the return HMRC holds,
// in HMRC's shape. A # in the period key is sent as %23.
func (s *Server) handleAPIVATReturn(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	key := r.PathValue("periodKey")
	if !vat.ValidPeriodKey(key) {
		return 0, nil, &hmrc.ValidationError{Code: vat.CodePeriodKeyInvalid,
			Message: "the period key must be four characters of A–Z, 0–9 and # (sent as %23), like 18A1 or #001"}
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	ret, err := s.landlord.VATReturn(r.Context(), id, key, origin, testScenario(r))
	if err != nil {
		return 0, nil, vatCall(err)
	}
	return http.StatusOK, ret, nil
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

// handleAPISubmissions is GET /api/v1/users/{user}/hmrc/submissions
// [?purpose=itsa|vat]: the receipts of what HMRC accepted, newest first,
// of one purpose or both.
func (s *Server) handleAPISubmissions(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var q landlord.ReceiptQuery
	if v := r.URL.Query().Get("purpose"); v != "" {
		p := mtdconnect.Purpose(v)
		if !p.Valid() {
			return 0, nil, errBadRequest
		}
		q.Purposes = []mtdconnect.Purpose{p}
	}
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	subs, err := s.landlord.Receipts(r.Context(), id, q)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		User        string          `json:"user"`
		Submissions []apiSubmission `json:"submissions"`
	}{User: apiHandle(r), Submissions: []apiSubmission{}}
	for _, sub := range subs {
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
	return http.StatusOK, out, nil
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
