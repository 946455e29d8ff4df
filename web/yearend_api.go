package web

// The year end in the JSON API (docs/API.md, "Income Tax: the year end"):
// every step of the pages, for the platform's backend. The service does the
// work; these handlers decode, call and encode.

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// apiTaxYear reads {user} and {taxYear}.
func (s *Server) apiTaxYear(r *http.Request) (int64, itsa.TaxYear, error) {
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, 0, err
	}
	y, err := itsa.ParseTaxYear(r.PathValue("taxYear"))
	return id, y, err
}

// ---- the year at a glance ----

type apiDeadline struct {
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Due         string `json:"due"`
	Status      string `json:"status"`
	// State is the one wording of the pages too (landlord.State).
	State        landlord.State `json:"state"`
	Received     string         `json:"received,omitempty"`
	DaysUntilDue *int           `json:"days_until_due,omitempty"` // open ones only; negative when overdue
	// Sent is the receipt of an update HMRC does not show as received yet.
	Sent *apiSent `json:"sent,omitempty"`
}

func deadline(ty *landlord.YearStatus, start, end, due, status, received string, sent bool, since time.Time) apiDeadline {
	d := apiDeadline{PeriodStart: start, PeriodEnd: end, Due: due, Status: status, Received: received,
		State: landlord.StateOf(status == itsa.ObligationFulfilled, sent, due, ty.Today.Format(time.DateOnly), since)}
	if status != itsa.ObligationFulfilled {
		n := ty.DaysUntil(due)
		d.DaysUntilDue = &n
	}
	return d
}

// handleAPITaxYear is GET /api/v1/users/{user}/hmrc/tax-years/{taxYear}: the
// quarterly obligations and the final declaration, HMRC's due dates and
// states, and what is next.
func (s *Server) handleAPITaxYear(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, y, err := s.apiTaxYear(r)
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	ty, err := s.landlord.TaxYearStatus(r.Context(), id, y, origin, testScenario(r))
	if err != nil {
		return 0, nil, err
	}
	since, err := s.connectedSince(r, id, mtdconnect.PurposeIncomeTax)
	if err != nil {
		return 0, nil, err
	}
	type next struct {
		Step         landlord.Step `json:"step"`
		Due          string        `json:"due,omitempty"`
		DaysUntilDue *int          `json:"days_until_due,omitempty"`
	}
	out := struct {
		User             string        `json:"user"`
		TaxYear          string        `json:"tax_year"`
		Today            string        `json:"today"`
		Ended            bool          `json:"ended"`
		Quarterly        []apiDeadline `json:"quarterly"`
		FinalDeclaration *apiDeadline  `json:"final_declaration"`
		Next             next          `json:"next"`
		AmendableUntil   string        `json:"amendable_until,omitempty"`
	}{User: apiHandle(r), TaxYear: y.String(), Today: ty.Today.Format(time.DateOnly), Ended: ty.Ended, Quarterly: []apiDeadline{},
		Next: next{Step: ty.Next, Due: ty.NextDue}, AmendableUntil: ty.AmendableUntil}
	for _, o := range ty.Quarterly {
		d := deadline(ty, o.Start, o.End, o.Due, o.Status, o.Received, o.AwaitingHMRC(), since)
		if o.AwaitingHMRC() {
			d.Sent = &apiSent{SubmissionID: o.Sent.ID, SubmittedAt: o.Sent.SubmittedAt.UTC(), CorrelationID: o.Sent.CorrelationID}
		}
		out.Quarterly = append(out.Quarterly, d)
	}
	if fd := ty.FinalDeclaration; fd != nil {
		d := deadline(ty, fd.Start, fd.End, fd.Due, fd.Status, fd.Received, false, since)
		out.FinalDeclaration = &d
	}
	if ty.NextDue != "" {
		n := ty.DaysUntil(ty.NextDue)
		out.Next.DaysUntilDue = &n
	}
	return http.StatusOK, out, nil
}

// ---- calculations ----

// apiCalculation is a calculation as the API answers it: mtdconnect's
// summary (amounts in pounds, as HMRC gave them), HMRC's messages and
// disclaimer, and HMRC's answer whole.
type apiCalculation struct {
	User          string          `json:"user"`
	TaxYear       string          `json:"tax_year"`
	CalculationID string          `json:"calculation_id"`
	Type          calc.Type       `json:"type"`
	PeriodFrom    string          `json:"period_from"`
	PeriodTo      string          `json:"period_to"`
	CalculatedAt  string          `json:"calculated_at,omitempty"`
	Declarable    bool            `json:"declarable"` // a final or amended calculation without errors, not yet declared
	Disclaimer    string          `json:"disclaimer,omitempty"`
	Errors        []calc.Message  `json:"errors"`
	Warnings      []calc.Message  `json:"warnings"`
	Info          []calc.Message  `json:"info"`
	Summary       *apiSummary     `json:"summary"`
	Declaration   string          `json:"declaration,omitempty"` // HMRC's wording, to show before declaring
	HMRC          json.RawMessage `json:"hmrc"`
}

type apiSummary struct {
	Property []apiLine       `json:"property"`
	Tax      []apiLine       `json:"tax"`
	Estimate []apiLine       `json:"estimate,omitempty"`
	TotalDue json.RawMessage `json:"total_due,omitempty"`
}

// apiLine is one line of a summary: a key for programs, the label a
// landlord reads, the amount as a JSON number.
type apiLine struct {
	Key    string             `json:"key,omitempty"`
	Label  string             `json:"label"`
	Amount *mtdconnect.Amount `json:"amount"`
}

func apiLines(ls []calcLine) []apiLine {
	out := []apiLine{}
	for _, l := range ls {
		if l.value == nil {
			continue
		}
		out = append(out, apiLine{Key: l.Key, Label: l.Label, Amount: l.value})
	}
	return out
}

func messagesOr(m []calc.Message) []calc.Message {
	if m == nil {
		return []calc.Message{}
	}
	return m
}

func toAPICalculation(user string, y itsa.TaxYear, c *calc.Calculation) apiCalculation {
	a := apiCalculation{User: user, TaxYear: y.String(), CalculationID: c.Metadata.CalculationID, Type: c.Type(),
		PeriodFrom: c.Metadata.PeriodFrom, PeriodTo: c.Metadata.PeriodTo, CalculatedAt: c.Metadata.CalculationTimestamp,
		Errors: []calc.Message{}, Warnings: []calc.Message{}, Info: []calc.Message{}, HMRC: c.Raw}
	if m := c.Messages; m != nil {
		a.Errors, a.Warnings, a.Info = messagesOr(m.Errors), messagesOr(m.Warnings), messagesOr(m.Info)
	}
	if !c.Declared() && !c.Confirmed() {
		a.Disclaimer = estimateDisclaimer(c.Metadata.PeriodTo)
		if !c.HasErrors() && (c.Type() == calc.IntentToFinalise || c.Type() == calc.IntentToAmend) {
			a.Declarable, a.Declaration = true, landlord.DeclarationText
		}
	}
	if sum := summarise(c); sum != nil {
		a.Summary = &apiSummary{Property: apiLines(sum.Income), Tax: apiLines(sum.Tax)}
		if len(sum.Estimate) > 0 {
			a.Summary.Estimate = apiLines(sum.Estimate)
		}
		if d := c.Detail.TaxCalculation.TotalIncomeTaxAndNicsDue; d != nil {
			a.Summary.TotalDue, _ = d.MarshalJSON()
		}
	}
	return a
}

// handleAPICalculate is POST /api/v1/users/{user}/hmrc/calculations/{taxYear}
// with {"type": "in-year" | "intent-to-finalise" | "intent-to-amend"}: HMRC
// calculates, mtdconnect waits (at least 5 seconds, as HMRC asks) and
// answers with the calculation (200), or with its ID (202) when HMRC takes
// longer than about a minute.
func (s *Server) handleAPICalculate(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, y, err := s.apiTaxYear(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Type calc.Type `json:"type"`
	}
	if err := decodeJSONBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	if req.Type != calc.InYear && req.Type != calc.IntentToFinalise && req.Type != calc.IntentToAmend {
		return 0, nil, &jsonBodyError{Problem: `"type" must be "in-year", "intent-to-finalise" or "intent-to-amend"`}
	}
	origin, err := s.apiOrigin(r, id, callSends)
	if err != nil {
		return 0, nil, err
	}
	c, err := s.landlord.Calculate(r.Context(), byAPI(r), landlord.CalculationRequest{
		UserID: id, TaxYear: y, Type: req.Type, Origin: origin, TestScenario: testScenario(r),
	})
	var pending *landlord.CalculationPendingError
	if errors.As(err, &pending) {
		w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(apiHandle(r))+"/hmrc/calculations/"+y.String()+"/"+url.PathEscape(pending.CalculationID))
		return http.StatusAccepted, struct {
			User          string `json:"user"`
			TaxYear       string `json:"tax_year"`
			CalculationID string `json:"calculation_id"`
			Status        string `json:"status"`
		}{apiHandle(r), y.String(), pending.CalculationID, "pending"}, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAPICalculation(apiHandle(r), y, c), nil
}

// handleAPICalculation is GET …/calculations/{taxYear}/{calculationId}.
func (s *Server) handleAPICalculation(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, y, err := s.apiTaxYear(r)
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	c, err := s.landlord.Calculation(r.Context(), id, y, r.PathValue("calculationId"), origin, testScenario(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAPICalculation(apiHandle(r), y, c), nil
}

// handleAPICalculations is GET …/calculations/{taxYear}[?type=]: HMRC's
// list, newest first.
func (s *Server) handleAPICalculations(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, y, err := s.apiTaxYear(r)
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	list, err := s.landlord.Calculations(r.Context(), id, y, calc.Type(r.URL.Query().Get("type")), origin, testScenario(r))
	if err != nil {
		return 0, nil, err
	}
	type item struct {
		CalculationID   string          `json:"calculation_id"`
		Type            calc.Type       `json:"type"`
		CalculatedAt    string          `json:"calculated_at"`
		Trigger         string          `json:"trigger,omitempty"`
		Outcome         string          `json:"outcome,omitempty"`
		LiabilityAmount json.RawMessage `json:"liability_amount,omitempty"`
		FromDate        string          `json:"from_date,omitempty"`
		ToDate          string          `json:"to_date,omitempty"`
	}
	out := struct {
		User         string `json:"user"`
		TaxYear      string `json:"tax_year"`
		Calculations []item `json:"calculations"`
	}{apiHandle(r), y.String(), []item{}}
	for _, c := range list {
		it := item{CalculationID: c.CalculationID, Type: c.CalculationType, CalculatedAt: c.CalculationTimestamp,
			Trigger: c.CalculationTrigger, Outcome: c.CalculationOutcome, FromDate: c.FromDate, ToDate: c.ToDate}
		if c.LiabilityAmount != nil {
			it.LiabilityAmount, _ = c.LiabilityAmount.MarshalJSON()
		}
		out.Calculations = append(out.Calculations, it)
	}
	return http.StatusOK, out, nil
}

// apiReceipt is the answer of an accepted year-end submission.
type apiReceipt struct {
	User          string    `json:"user"`
	TaxYear       string    `json:"tax_year"`
	Kind          string    `json:"kind"`
	SubmissionID  int64     `json:"submission_id,omitempty"`
	CalculationID string    `json:"calculation_id,omitempty"`
	CorrelationID string    `json:"correlation_id"`
	SubmittedAt   time.Time `json:"submitted_at"`
}

func toAPIReceipt(user string, y itsa.TaxYear, sub *mtdconnect.Submission) apiReceipt {
	return apiReceipt{User: user, TaxYear: y.String(), Kind: sub.Kind, SubmissionID: sub.ID, CalculationID: sub.ReceiptID,
		CorrelationID: sub.CorrelationID, SubmittedAt: sub.SubmittedAt.UTC()}
}

// handleAPIDeclare is POST …/calculations/{taxYear}/{calculationId}/final-declaration
// (kind calc.FinalDeclaration) or …/confirm-amendment, with
// {"declaration_agreed": true}: the landlord was shown HMRC's declaration
// and agreed to it.
func (s *Server) handleAPIDeclare(kind calc.Type) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) (int, any, error) {
		id, y, err := s.apiTaxYear(r)
		if err != nil {
			return 0, nil, err
		}
		var req struct {
			DeclarationAgreed bool `json:"declaration_agreed"`
		}
		if err := decodeJSONBody(w, r, &req); err != nil {
			return 0, nil, err
		}
		origin, err := s.apiOrigin(r, id, callSends)
		if err != nil {
			return 0, nil, err
		}
		d := landlord.Declaration{UserID: id, TaxYear: y, CalculationID: r.PathValue("calculationId"),
			Agreed: req.DeclarationAgreed, Origin: origin, TestScenario: testScenario(r)}
		var sub *mtdconnect.Submission
		if kind == calc.ConfirmAmendment {
			sub, err = s.landlord.ConfirmAmendment(r.Context(), byAPI(r), d)
		} else {
			sub, err = s.landlord.Declare(r.Context(), byAPI(r), d)
		}
		var lost *landlord.ReceiptError
		if errors.As(err, &lost) {
			// HMRC has it: report success with its references (the
			// service logged that our copy of the receipt is lost).
			sub, err = lost.Submission, nil
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, toAPIReceipt(apiHandle(r), y, sub), nil
	}
}

// ---- the annual submission ----

// handleAPIPutAnnual is PUT /api/v1/users/{user}/hmrc/property/uk/annual/{taxYear}:
// the body is HMRC's own, checked as HMRC would before anything is sent; an
// accepted one is kept as a receipt.
func (s *Server) handleAPIPutAnnual(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, y, err := s.apiTaxYear(r)
	if err != nil {
		return 0, nil, err
	}
	var body itsa.UKPropertyAnnual
	if err := decodeJSONBody(w, r, &body); err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callSends)
	if err != nil {
		return 0, nil, err
	}
	sub, err := s.landlord.SubmitAnnualSubmission(r.Context(), byAPI(r), landlord.AnnualUpdate{
		UserID: id, TaxYear: y, Body: body, Origin: origin, TestScenario: testScenario(r),
	})
	var lost *landlord.ReceiptError
	if errors.As(err, &lost) {
		sub, err = lost.Submission, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAPIReceipt(apiHandle(r), y, sub), nil
}

// handleAPIGetAnnual is GET of the same path: what HMRC holds, in HMRC's
// shape.
func (s *Server) handleAPIGetAnnual(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, y, err := s.apiTaxYear(r)
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callReads)
	if err != nil {
		return 0, nil, err
	}
	held, err := s.landlord.AnnualSubmission(r.Context(), id, y, origin, testScenario(r))
	return http.StatusOK, held, err
}

// handleAPIDeleteAnnual is DELETE of the same path: 204.
func (s *Server) handleAPIDeleteAnnual(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, y, err := s.apiTaxYear(r)
	if err != nil {
		return 0, nil, err
	}
	origin, err := s.apiOrigin(r, id, callSends)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.landlord.DeleteAnnualSubmission(r.Context(), byAPI(r), id, y, origin, testScenario(r))
}
