package web

// The landlord's Income Tax year after the quarterly updates: "Your tax
// year" (the obligations, their deadlines, what is next), an estimate, the
// year-end adjustments (the UK property annual submission), the final
// calculation and the final declaration made with it, and an amendment.
// What mtdconnect does not build (other income, accounting adjustments,
// losses) is signposted where a landlord would need it. Every action goes
// through the landlord service; HMRC's calculation is shown, never worked
// out here.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// yearEndPages are the year end's pages and forms (browserRoutes).
func (s *Server) yearEndPages() []route {
	return []route{
		{"GET /tax-year", s.requireUser(s.handleTaxYearCurrent)},
		{"GET /tax-year/{taxYear}", s.requireUser(s.handleTaxYear)},
		{"POST /tax-year/{taxYear}/estimate", s.requireUser(s.handleCalculate(calc.InYear))},
		{"POST /tax-year/{taxYear}/final-calculation", s.requireUser(s.handleCalculate(calc.IntentToFinalise))},
		{"POST /tax-year/{taxYear}/amend", s.requireUser(s.handleCalculate(calc.IntentToAmend))},
		{"GET /tax-year/{taxYear}/amend", s.requireUser(s.handleAmend)},
		{"GET /tax-year/{taxYear}/calculations/{id}", s.requireUser(s.handleCalculation)},
		{"POST /tax-year/{taxYear}/calculations/{id}/declare", s.requireUser(s.handleDeclare(calc.FinalDeclaration))},
		{"POST /tax-year/{taxYear}/calculations/{id}/confirm-amendment", s.requireUser(s.handleDeclare(calc.ConfirmAmendment))},
		{"GET /tax-year/{taxYear}/adjustments", s.requireUser(s.handleAdjustments)},
		{"POST /tax-year/{taxYear}/adjustments", s.requireUser(s.handleAdjustmentsSubmit)},
		{"GET /tax-year/{taxYear}/income-and-expenses", s.requireUser(s.handleCorrection)},
		{"POST /tax-year/{taxYear}/income-and-expenses", s.requireUser(s.handleCorrectionSubmit)},
		{"GET /tax-year/{taxYear}/receipts/{id}", s.requireUser(s.handleYearEndReceipt)},
	}
}

// onlineServicesURL is where a landlord does at HMRC what mtdconnect does
// not: other income, losses, accounting adjustments.
const onlineServicesURL = "https://www.gov.uk/log-in-register-hmrc-online-services"

// yearEndKinds are the receipts of the year end.
var yearEndKinds = []string{mtdconnect.SubmissionUKPropertyAnnual, mtdconnect.SubmissionFinalDeclaration, mtdconnect.SubmissionAmendment}

// yearPage is what every year-end page shows above its own content.
type yearPage struct {
	TaxYear, Base string // "2026-27" and "/tax-year/2026-27"
	Ends, From    string // "5 April 2027", "6 April 2027"

	NeedNINO    bool
	NeedConnect bool
	Reconnect   string
	Problem     *yearProblem
	// since is when the landlord connected for Income Tax
	// (landlord.StateDueBeforeConnected).
	since time.Time
}

// yearProblem is a problem as the year-end pages show it: with the
// individual problems behind it (missing updates, HMRC's errors).
type yearProblem struct {
	pageProblem
	Details []string
}

func yearProblemOf(p problem) *yearProblem {
	yp := &yearProblem{pageProblem: *pageProblemOf(p)}
	for _, e := range p.Errors {
		yp.Details = append(yp.Details, e.Message)
	}
	return yp
}

// pageTaxYear reads {taxYear}: a year of cumulative updates, up to the
// current one. It answers a page of its own and returns false otherwise.
func (s *Server) pageTaxYear(w http.ResponseWriter, r *http.Request) (itsa.TaxYear, bool) {
	y, err := itsa.ParseTaxYear(r.PathValue("taxYear"))
	if err != nil || y < itsa.CumulativeFirstTaxYear || y > itsa.CurrentTaxYear(s.now()) {
		s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such tax year",
			Text: "Your tax year can be shown for the tax years from 2025-26 to the current one."})
		return 0, false
	}
	return y, true
}

func newYearPage(y itsa.TaxYear) yearPage {
	return yearPage{TaxYear: y.String(), Base: "/tax-year/" + y.String(),
		Ends: formatISODate(y.LastDay()), From: formatISODate(fmt.Sprintf("%04d-04-06", int(y)+1))}
}

// ready checks what every year-end page needs before HMRC can be asked: a
// NINO and a usable Income Tax connection; it fills p and returns false
// when one is missing.
func (s *Server) ready(r *http.Request, u *mtdconnect.User, p *yearPage) (bool, error) {
	if u.NINO == "" {
		p.NeedNINO = true
		return false, nil
	}
	st, err := s.landlord.Status(r.Context(), u.ID, mtdconnect.PurposeIncomeTax)
	switch {
	case err != nil:
		return false, err
	case st.Status == mtdconnect.StatusNotConnected:
		p.NeedConnect = true
		return false, nil
	case st.Status == mtdconnect.StatusNeedsReconnect:
		p.Reconnect = st.Reason
		return false, nil
	}
	p.since = st.ConnectedSince
	return true, nil
}

// ---- Your tax year ----

type deadlineRow struct {
	What, Period, Due, Status, StatusCode, Received, Days string
	Link                                                  string
	// Sent is when an update HMRC does not show as received yet was sent.
	Sent string
}

type nextStep struct {
	Title, Text, Link, LinkText string
}

type taxYearPage struct {
	yearPage
	OtherYears []yearLink
	Loaded     bool // HMRC's obligations were read
	Rows       []deadlineRow
	Next       nextStep
	Declared   bool
	Amendable  bool // declared, and the amendment window is open
	Until      string
	Receipts   []receiptRow

	OnlineServicesURL string
}

// daysText says how far away a due date is.
func daysText(days int) string {
	switch {
	case days == 0:
		return "due today"
	case days == 1:
		return "due tomorrow"
	case days > 1:
		return fmt.Sprintf("due in %d days", days)
	case days == -1:
		return "1 day overdue"
	}
	return fmt.Sprintf("%d days overdue", -days)
}

func (s *Server) handleTaxYearCurrent(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/tax-year/"+itsa.CurrentTaxYear(s.now()).String(), http.StatusSeeOther)
}

// handleTaxYear shows the year at a glance: the quarterly updates and the
// final declaration with their due dates and states, what is next, the
// year-end steps and their receipts.
func (s *Server) handleTaxYear(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	page := taxYearPage{yearPage: newYearPage(y), OnlineServicesURL: onlineServicesURL}
	current := itsa.CurrentTaxYear(s.now())
	for o := max(current-1, itsa.CumulativeFirstTaxYear); o <= current; o++ {
		if o != y {
			page.OtherYears = append(page.OtherYears, yearLink{Label: o.String(), Link: "/tax-year/" + o.String()})
		}
	}
	receipts, err := s.yearEndReceipts(r, u, y)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.Receipts = receipts
	title := "Your tax year " + y.String()
	ready, err := s.ready(r, u, &page.yearPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ready {
		s.render(w, r, http.StatusOK, "taxyear", title, page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var ty *landlord.YearStatus
	if err == nil {
		ty, err = s.landlord.TaxYearStatus(r.Context(), u.ID, y, origin, "")
	}
	if err != nil {
		p := s.logProblem(r, err)
		page.Problem = yearProblemOf(p)
		s.render(w, r, p.Status, "taxyear", "Error: "+title, page)
		return
	}
	page.Loaded = true
	for _, o := range ty.Quarterly {
		row := deadlineRow{What: "Quarterly update", Period: formatISODate(o.Start) + " to " + formatISODate(o.End), Due: formatISODate(o.Due)}
		row.Status, row.StatusCode, row.Received, row.Days = obligationState(ty, o.Fulfilled(), o.AwaitingHMRC(), o.Due, o.Received, page.since)
		if o.AwaitingHMRC() {
			row.Sent = s.formatTime(o.Sent.SubmittedAt)
		}
		if !o.Fulfilled() && !o.AwaitingHMRC() && acceptedFrom(o.End) <= ty.Today.Format(time.DateOnly) {
			row.Link = "/quarterly?taxYear=" + y.String() + "&period=" + o.End + "#update"
		}
		page.Rows = append(page.Rows, row)
	}
	if fd := ty.FinalDeclaration; fd != nil {
		row := deadlineRow{What: "Final declaration", Period: formatISODate(fd.Start) + " to " + formatISODate(fd.End), Due: formatISODate(fd.Due)}
		row.Status, row.StatusCode, row.Received, row.Days = obligationState(ty, fd.Fulfilled(), false, fd.Due, fd.Received, page.since)
		page.Rows = append(page.Rows, row)
		page.Declared = fd.Fulfilled()
	}
	if ty.Next == landlord.StepDone {
		page.Until = formatISODate(ty.AmendableUntil)
		page.Amendable = ty.DaysUntil(ty.AmendableUntil) >= 0
	}
	page.Next = nextStepOf(ty, page.yearPage)
	s.render(w, r, http.StatusOK, "taxyear", title, page)
}

// obligationState words an obligation's state on the day of ty
// (landlord.StateOf, as every page and the API word it).
func obligationState(ty *landlord.YearStatus, fulfilled, sent bool, due, received string, since time.Time) (status, code, receivedOn, days string) {
	state := landlord.StateOf(fulfilled, sent, due, ty.Today.Format(time.DateOnly), since)
	switch state {
	case landlord.StateReceived:
		if received != "" {
			receivedOn = formatISODate(received)
		}
	case landlord.StateOpen, landlord.StateOverdue:
		days = daysText(ty.DaysUntil(due))
	}
	return state.Label(), state.Tag(), receivedOn, days
}

// nextStepOf says what the landlord does next, in words.
func nextStepOf(ty *landlord.YearStatus, p yearPage) nextStep {
	due := func() string { return formatISODate(ty.NextDue) + " (" + daysText(ty.DaysUntil(ty.NextDue)) + ")" }
	switch ty.Next {
	case landlord.StepQuarterlyUpdate:
		o := ty.NextObligation
		text := "Your update for " + formatISODate(o.Start) + " to " + formatISODate(o.End) + " is due by " + due() + "."
		if from := acceptedFrom(o.End); from > ty.Today.Format(time.DateOnly) {
			return nextStep{Title: "Your next quarterly update", Text: text + " You can send it from " + formatISODate(from) + "."}
		}
		return nextStep{Title: "Send your next quarterly update", Text: text,
			Link: "/quarterly?taxYear=" + p.TaxYear + "&period=" + o.End + "#update", LinkText: "Send this update"}
	case landlord.StepWaitForYearEnd:
		return nextStep{Title: "Every quarterly update is sent",
			Text: "After the tax year ends on " + p.Ends + ", check your year-end adjustments and make your final declaration. " +
				"You can get an estimate of your tax now."}
	case landlord.StepFinalDeclaration:
		return nextStep{Title: "Finalise your tax year",
			Text: "Check your year-end adjustments, get your final calculation and make your final declaration by " + due() + ".",
			Link: p.Base + "/adjustments", LinkText: "Start with your year-end adjustments"}
	case landlord.StepDone:
		until := "The window for amendments has closed."
		if ty.DaysUntil(ty.AmendableUntil) >= 0 {
			until = "You can amend it until " + formatISODate(ty.AmendableUntil) + " (" + strconv.Itoa(ty.DaysUntil(ty.AmendableUntil)) + " days left)."
		}
		return nextStep{Title: "HMRC has your final declaration", Text: "Your tax year " + p.TaxYear + " is finalised. " + until}
	}
	return nextStep{Title: "Nothing to do", Text: "HMRC has no Making Tax Digital obligations for you in tax year " + p.TaxYear + "."}
}

// yearEndReceipts lists the year end's receipts of tax year y, newest
// first.
func (s *Server) yearEndReceipts(r *http.Request, u *mtdconnect.User, y itsa.TaxYear) ([]receiptRow, error) {
	subs, err := s.landlord.Receipts(r.Context(), u.ID, landlord.ReceiptQuery{Purposes: []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax}})
	if err != nil {
		return nil, err
	}
	var out []receiptRow
	for _, sub := range subs {
		if sub.Period != y.String() || !slices.Contains(yearEndKinds, sub.Kind) {
			continue
		}
		out = append(out, receiptRow{
			Link: "/tax-year/" + y.String() + "/receipts/" + strconv.FormatInt(sub.ID, 10), TaxYear: sub.Period,
			Period: submissionWhat(sub.Kind), SubmittedAt: s.formatTime(sub.SubmittedAt), CorrelationID: sub.CorrelationID,
		})
	}
	return out, nil
}

// submissionWhat names a kind of year-end receipt.
func submissionWhat(kind string) string {
	switch kind {
	case mtdconnect.SubmissionUKPropertyAnnual:
		return "Year-end adjustments"
	case mtdconnect.SubmissionFinalDeclaration:
		return "Final declaration"
	case mtdconnect.SubmissionAmendment:
		return "Amendment confirmed"
	}
	return kind
}

// ---- calculations ----

type calcPage struct {
	yearPage
	ID, Title, Lead, Type string
	PeriodFrom, PeriodTo  string
	CalculatedAt          string
	Pending               bool // HMRC has not finished it
	Disclaimer            string
	Errors, Warnings      []string
	Info                  []string
	Summary               *calcSummary

	// Declare is the form of a final calculation not yet declared (or an
	// amended one not yet confirmed, by Type); Button and Agreeing word it.
	Declare           bool
	Button, Agreeing  string
	DeclarationIntro  string
	DeclarationText   string
	AgreeError        string
	AgreeSummary      []summaryItem // the form's error summary
	OnlineServicesURL string
}

// handleCalculate triggers a calculation of kind t (an estimate, the final
// calculation, an amended one), waits for HMRC and shows it.
func (s *Server) handleCalculate(t calc.Type) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := currentUser(r.Context())
		y, ok := s.pageTaxYear(w, r)
		if !ok {
			return
		}
		page := calcPage{yearPage: newYearPage(y)}
		ready, err := s.ready(r, u, &page.yearPage)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if !ready {
			s.render(w, r, http.StatusConflict, "calculation", "Error: Your tax calculation", page)
			return
		}
		origin, err := s.browserOrigin(r, u)
		var c *calc.Calculation
		if err == nil {
			c, err = s.landlord.Calculate(r.Context(), landlord.ByLandlord(u.ID), landlord.CalculationRequest{
				UserID: u.ID, TaxYear: y, Type: t, Origin: origin,
			})
		}
		var pending *landlord.CalculationPendingError
		switch {
		case errors.As(err, &pending):
			http.Redirect(w, r, page.Base+"/calculations/"+pending.CalculationID, http.StatusSeeOther)
		case err != nil:
			p := s.logProblem(r, err)
			page.Problem = yearProblemOf(p)
			page.Title = "Your tax calculation"
			s.render(w, r, p.Status, "calculation", "Error: Your tax calculation", page)
		default:
			http.Redirect(w, r, page.Base+"/calculations/"+c.Metadata.CalculationID, http.StatusSeeOther)
		}
	}
}

// handleCalculation shows one of HMRC's calculations: an estimate with
// HMRC's disclaimer; the final calculation with HMRC's declaration; an
// amended one with its confirmation; HMRC's errors where there are any.
func (s *Server) handleCalculation(w http.ResponseWriter, r *http.Request) {
	s.showCalculation(w, r, nil, "")
}

// showCalculation renders calculation {id} of {taxYear}, with failed (a
// refused declaration) above it and agreeError next to the checkbox.
func (s *Server) showCalculation(w http.ResponseWriter, r *http.Request, failed *problem, agreeError string) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !calc.ValidID(id) {
		s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such calculation", Text: "There is no calculation at this address."})
		return
	}
	page := calcPage{yearPage: newYearPage(y), ID: id, Title: "Your tax calculation", OnlineServicesURL: onlineServicesURL}
	status := http.StatusOK
	switch {
	case failed != nil:
		page.Problem, status = yearProblemOf(*failed), failed.Status
	case agreeError != "":
		status = http.StatusBadRequest
	}
	ready, err := s.ready(r, u, &page.yearPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ready {
		s.render(w, r, http.StatusConflict, "calculation", "Error: Your tax calculation", page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var c *calc.Calculation
	if err == nil {
		c, err = s.landlord.Calculation(r.Context(), u.ID, y, id, origin, "")
	}
	if errors.Is(err, calc.ErrNotReady) {
		page.Pending = true
		s.render(w, r, status, "calculation", page.Title, page)
		return
	}
	if err != nil {
		p := s.logProblem(r, err)
		if page.Problem == nil {
			page.Problem, status = yearProblemOf(p), p.Status
		}
		s.render(w, r, status, "calculation", "Error: "+page.Title, page)
		return
	}
	page.Title, page.Lead = calculationKind(c)
	page.Type = string(c.Type())
	page.PeriodFrom, page.PeriodTo = formatISODate(c.Metadata.PeriodFrom), formatISODate(c.Metadata.PeriodTo)
	page.CalculatedAt = s.hmrcTime(c.Metadata.CalculationTimestamp)
	if !c.Declared() && !c.Confirmed() {
		page.Disclaimer = estimateDisclaimer(c.Metadata.PeriodTo)
	}
	if m := c.Messages; m != nil {
		for _, e := range m.Errors {
			page.Errors = append(page.Errors, e.Text)
		}
		for _, e := range m.Warnings {
			page.Warnings = append(page.Warnings, e.Text)
		}
		for _, e := range m.Info {
			page.Info = append(page.Info, e.Text)
		}
	}
	page.Summary = summarise(c)
	if !c.HasErrors() && !c.Declared() && !c.Confirmed() {
		switch c.Type() {
		case calc.IntentToFinalise:
			page.Declare, page.Button = true, "Make your final declaration"
			page.Agreeing = "I agree to the declaration and want to make my final declaration for " + page.TaxYear
		case calc.IntentToAmend:
			page.Declare, page.Button = true, "Confirm your amendment"
			page.Agreeing = "I agree to the declaration and want to confirm my amendment for " + page.TaxYear
		}
		page.DeclarationIntro, page.DeclarationText = landlord.DeclarationIntro, landlord.DeclarationText
	}
	if agreeError != "" {
		page.AgreeError = agreeError
		page.AgreeSummary = []summaryItem{{Anchor: "#agree", Text: agreeError}}
	}
	title := page.Title
	if status >= 400 {
		title = "Error: " + title
	}
	s.render(w, r, status, "calculation", title, page)
}

// handleDeclare makes the final declaration (kind calc.FinalDeclaration)
// or confirms an amendment (calc.ConfirmAmendment) with calculation {id},
// once the landlord ticked HMRC's declaration, and shows the receipt.
func (s *Server) handleDeclare(kind calc.Type) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := currentUser(r.Context())
		y, ok := s.pageTaxYear(w, r)
		if !ok {
			return
		}
		origin, err := s.browserOrigin(r, u)
		var sub *mtdconnect.Submission
		if err == nil {
			d := landlord.Declaration{UserID: u.ID, TaxYear: y, CalculationID: r.PathValue("id"),
				Agreed: r.PostFormValue("agree") == "yes", Origin: origin}
			if kind == calc.ConfirmAmendment {
				sub, err = s.landlord.ConfirmAmendment(r.Context(), landlord.ByLandlord(u.ID), d)
			} else {
				sub, err = s.landlord.Declare(r.Context(), landlord.ByLandlord(u.ID), d)
			}
		}
		var lost *landlord.ReceiptError
		switch {
		case errors.Is(err, landlord.ErrNotAgreed):
			s.showCalculation(w, r, nil, "Tick the box to agree to the declaration before you send it")
		case errors.As(err, &lost):
			what := "final declaration"
			if kind == calc.ConfirmAmendment {
				what = "amendment"
			}
			s.renderMessage(w, r, http.StatusOK, message{Title: "HMRC accepted your " + what,
				Text: "HMRC accepted your " + what + " for " + y.String() + ", but mtdconnect could not keep the receipt. HMRC's reference is " +
					lost.Submission.CorrelationID + " (calculation " + lost.Submission.ReceiptID + "): note it down. Do not send it again."})
		case err != nil:
			p := s.logProblem(r, err)
			s.showCalculation(w, r, &p, "")
		default:
			http.Redirect(w, r, "/tax-year/"+y.String()+"/receipts/"+strconv.FormatInt(sub.ID, 10), http.StatusSeeOther)
		}
	}
}

// ---- amend ----

type amendPage struct {
	yearPage
	Loaded, Declared, Open bool
	Until                  string
	OnlineServicesURL      string
}

// handleAmend explains an amendment after the final declaration and
// starts one: change the figures, then ask HMRC for the amended
// calculation and confirm it.
func (s *Server) handleAmend(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	page := amendPage{yearPage: newYearPage(y), OnlineServicesURL: onlineServicesURL}
	title := "Amend your tax year " + y.String()
	ready, err := s.ready(r, u, &page.yearPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ready {
		s.render(w, r, http.StatusOK, "amend", title, page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var ty *landlord.YearStatus
	if err == nil {
		ty, err = s.landlord.TaxYearStatus(r.Context(), u.ID, y, origin, "")
	}
	if err != nil {
		p := s.logProblem(r, err)
		page.Problem = yearProblemOf(p)
		s.render(w, r, p.Status, "amend", "Error: "+title, page)
		return
	}
	page.Loaded = true
	page.Declared = ty.Next == landlord.StepDone
	if page.Declared {
		page.Until = formatISODate(ty.AmendableUntil)
		page.Open = ty.DaysUntil(ty.AmendableUntil) >= 0
	}
	s.render(w, r, http.StatusOK, "amend", title, page)
}

// ---- year-end adjustments ----

type adjustmentsPage struct {
	yearPage
	Form              *annualForm
	SubmittedOn       string // when HMRC received what the form shows
	OnlineServicesURL string
}

// handleAdjustments shows the annual submission form, filled with what
// HMRC holds (an amendment sends every figure again).
func (s *Server) handleAdjustments(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	page := adjustmentsPage{yearPage: newYearPage(y), OnlineServicesURL: onlineServicesURL}
	title := "Year-end adjustments " + y.String()
	ready, err := s.ready(r, u, &page.yearPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ready {
		s.render(w, r, http.StatusOK, "adjustments", title, page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var held *itsa.UKPropertyAnnualSubmission
	if err == nil {
		held, err = s.landlord.AnnualSubmission(r.Context(), u.ID, y, origin, "")
	}
	switch {
	case errors.Is(err, itsa.ErrNoAnnualSubmission):
		page.Form = newAnnualForm(y, nil, nil)
	case err != nil:
		p := s.logProblem(r, err)
		page.Problem = yearProblemOf(p)
		s.render(w, r, p.Status, "adjustments", "Error: "+title, page)
		return
	default:
		page.Form = newAnnualForm(y, &held.UKPropertyAnnual, nil)
		page.SubmittedOn = s.hmrcTime(held.SubmittedOn)
	}
	s.render(w, r, http.StatusOK, "adjustments", title, page)
}

// handleAdjustmentsSubmit sends the annual submission. Bad figures come
// back next to their fields and nothing is sent; an accepted one is
// recorded and its receipt shown.
func (s *Server) handleAdjustmentsSubmit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	page := adjustmentsPage{yearPage: newYearPage(y), OnlineServicesURL: onlineServicesURL}
	form := newAnnualForm(y, nil, r)
	page.Form = form
	again := func(status int) {
		s.render(w, r, status, "adjustments", "Error: Year-end adjustments "+y.String(), page)
	}
	ready, err := s.ready(r, u, &page.yearPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	body := form.bind(r)
	if !ready {
		page.Form = nil
		again(http.StatusConflict)
		return
	}
	if len(form.Summary) > 0 {
		again(http.StatusBadRequest)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var sub *mtdconnect.Submission
	if err == nil {
		sub, err = s.landlord.SubmitAnnualSubmission(r.Context(), landlord.ByLandlord(u.ID), landlord.AnnualUpdate{
			UserID: u.ID, TaxYear: y, Body: body, Origin: origin,
		})
	}
	var lost *landlord.ReceiptError
	switch {
	case errors.As(err, &lost):
		s.renderMessage(w, r, http.StatusOK, message{Title: "HMRC accepted your year-end adjustments",
			Text: "HMRC accepted your year-end adjustments for " + y.String() + ", but mtdconnect could not keep the receipt. HMRC's reference is " +
				lost.Submission.CorrelationID + ": note it down. You do not need to send them again."})
	case len(hmrc.ValidationErrorsIn(err)) > 0:
		form.failAll(classify(err).Errors)
		again(http.StatusBadRequest)
	case err != nil:
		p := s.logProblem(r, err)
		switch {
		case len(p.Errors) > 0:
			// HMRC refused figures the local checks passed: its reasons
			// by field.
			form.failField("", p.Message)
			form.failAll(p.Errors)
		case p.Code == itsa.CodeRulePropertyIncomeAllowance:
			form.failAll([]fieldError{{Code: p.Code, Message: p.Message}})
		default:
			page.Problem = yearProblemOf(p)
		}
		again(p.Status)
	default:
		http.Redirect(w, r, "/tax-year/"+y.String()+"/receipts/"+strconv.FormatInt(sub.ID, 10), http.StatusSeeOther)
	}
}

// ---- receipts ----

type yearReceiptPage struct {
	yearPage
	Kind, What, SubmittedAt, CorrelationID, CalculationID string
	Declaration                                           bool // a final declaration or a confirmed amendment
	Lines                                                 []receiptLine
	Summary                                               *calcSummary
	CalculationLink                                       string
}

// handleYearEndReceipt shows a receipt of the year end: what was sent (or
// the calculation declared), when, and HMRC's references.
func (s *Server) handleYearEndReceipt(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	notFound := func() {
		s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such receipt", Text: "There is no receipt at this address."})
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		notFound()
		return
	}
	sub, err := s.landlord.Receipt(r.Context(), u.ID, id, "")
	if errors.Is(err, mtdconnect.ErrNotFound) || err == nil && (sub.Period != y.String() || !slices.Contains(yearEndKinds, sub.Kind)) {
		notFound()
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page := yearReceiptPage{yearPage: newYearPage(y), Kind: sub.Kind, What: submissionWhat(sub.Kind),
		SubmittedAt: s.formatTime(sub.SubmittedAt), CorrelationID: sub.CorrelationID, CalculationID: sub.ReceiptID}
	switch sub.Kind {
	case mtdconnect.SubmissionUKPropertyAnnual:
		var body itsa.UKPropertyAnnual
		if err := json.Unmarshal(sub.Body, &body); err != nil {
			s.serverError(w, r, fmt.Errorf("receipt %d: %w", sub.ID, err))
			return
		}
		page.Lines = annualLines(body)
	default:
		page.Declaration = true
		page.CalculationLink = page.Base + "/calculations/" + sub.ReceiptID
		if len(sub.Response) > 0 {
			// What the landlord agreed to, as HMRC returned it.
			if c, err := calc.ParseCalculation(sub.Response); err == nil {
				page.Summary = summarise(c)
			}
		}
	}
	s.render(w, r, http.StatusOK, "yearend_receipt", "Receipt: "+page.What+" "+y.String(), page)
}

// ---- correcting the year's income and expenses ----

type correctionPage struct {
	yearPage
	Form *updateForm
}

// handleCorrection shows the year's income and expenses as HMRC holds
// them (its latest cumulative summary), to send again corrected: after the
// final declaration (an amendment), or when the final calculation asks for
// a change (claiming the property income allowance means removing every
// expense). The quarterly updates page offers only open periods.
func (s *Server) handleCorrection(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	page := correctionPage{yearPage: newYearPage(y)}
	title := "Correct your income and expenses " + y.String()
	ready, err := s.ready(r, u, &page.yearPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ready {
		s.render(w, r, http.StatusOK, "correction", title, page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var summary *itsa.UKPropertySummary
	if err == nil {
		summary, err = s.landlord.CumulativeSummary(r.Context(), u.ID, y, origin, "")
	}
	if err != nil {
		p := s.logProblem(r, err)
		if errors.Is(err, itsa.ErrNoSubmission) {
			p.Message = "HMRC holds no quarterly update for " + y.String() + " yet: send your first one from the quarterly updates page."
		}
		page.Problem = yearProblemOf(p)
		s.render(w, r, p.Status, "correction", "Error: "+title, page)
		return
	}
	held := &summary.UKPropertyCumulative
	from, to := held.FromDate, held.ToDate
	if from == "" || to == "" {
		from, to = y.FirstDay(), y.LastDay()
	}
	page.Form = newUpdateForm(y, from, to)
	page.Form.fields(func(ff *formField) {
		if slot := amountSlot(held, ff.Name, false); slot != nil && *slot != nil {
			ff.Value = (*slot).String()
		}
	})
	s.render(w, r, http.StatusOK, "correction", title, page)
}

// handleCorrectionSubmit sends the corrected year-to-date figures as a
// quarterly update of the same period, and shows its receipt.
func (s *Server) handleCorrectionSubmit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	y, ok := s.pageTaxYear(w, r)
	if !ok {
		return
	}
	from, to := r.PostFormValue("from"), r.PostFormValue("to")
	_, err1 := time.Parse(time.DateOnly, from)
	_, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil || from < y.FirstDay() || to > y.LastDay() || to < from {
		s.serverError(w, r, errBadRequest)
		return
	}
	page := correctionPage{yearPage: newYearPage(y), Form: newUpdateForm(y, from, to)}
	again := func(status int) {
		s.render(w, r, status, "correction", "Error: Correct your income and expenses "+y.String(), page)
	}
	ready, err := s.ready(r, u, &page.yearPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	body := page.Form.bind(r)
	if !ready {
		page.Form = nil
		again(http.StatusConflict)
		return
	}
	if len(page.Form.Summary) > 0 {
		again(http.StatusBadRequest)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var sub *mtdconnect.Submission
	if err == nil {
		sub, err = s.landlord.SubmitQuarterlyUpdate(r.Context(), landlord.ByLandlord(u.ID), landlord.QuarterlyUpdate{
			UserID: u.ID, TaxYear: y, Body: body, Origin: origin,
		})
	}
	var lost *landlord.ReceiptError
	switch {
	case errors.As(err, &lost):
		s.renderMessage(w, r, http.StatusOK, message{Title: "HMRC accepted your corrected figures",
			Text: "HMRC accepted your corrected income and expenses for " + y.String() + ", but mtdconnect could not keep the receipt. " +
				"HMRC's reference is " + lost.Submission.CorrelationID + ": note it down. You do not need to send them again."})
	case len(hmrc.ValidationErrorsIn(err)) > 0:
		page.Form.failAll(classify(err).Errors)
		again(http.StatusBadRequest)
	case err != nil:
		p := s.logProblem(r, err)
		if len(p.Errors) > 0 {
			page.Form.fail("", p.Message)
			page.Form.failAll(p.Errors)
		} else {
			page.Problem = yearProblemOf(p)
		}
		again(p.Status)
	default:
		http.Redirect(w, r, "/quarterly/receipts/"+strconv.FormatInt(sub.ID, 10), http.StatusSeeOther)
	}
}
