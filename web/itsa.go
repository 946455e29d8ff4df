package web

// Quarterly updates for a landlord's UK property business (Making Tax
// Digital for Income Tax, 2025-26 onwards): the obligations of the current
// tax year, a form of year-to-date income and expenses for an open one, and
// the receipts of what was sent.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// amountField is one amount of the UK property cumulative summary, as the
// form asks for it.
type amountField struct {
	name  string // the form field: the HMRC path below /ukProperty/, dotted
	group string // income, itemised, either (with both kinds of expenses) or consolidated
	label string
	hint  string
}

// The amounts, in the order the form asks for them. Labels follow HMRC's
// own descriptions of the fields (Property Business v6.0).
var amountFields = []amountField{
	{"income.periodAmount", "income", "Rents and other property income", "Rents received, before any expenses."},
	{"income.premiumsOfLeaseGrant", "income", "Premiums for the grant of a lease", ""},
	{"income.reversePremiums", "income", "Reverse premiums and inducements", ""},
	{"income.otherIncome", "income", "Other property income", ""},
	{"income.taxDeducted", "income", "Tax already deducted from your rents", "For example under the Non-Resident Landlord Scheme."},
	{"income.rentARoom.rentsReceived", "income", "Rent a Room: rents received", ""},

	{"expenses.premisesRunningCosts", "itemised", "Rent, rates, insurance and ground rents", ""},
	{"expenses.repairsAndMaintenance", "itemised", "Property repairs and maintenance", ""},
	{"expenses.financialCosts", "itemised", "Loan interest and other financial costs", "Not residential property finance costs, which go below."},
	{"expenses.professionalFees", "itemised", "Legal, management and other professional fees", ""},
	{"expenses.costOfServices", "itemised", "Costs of services provided, including wages", ""},
	{"expenses.travelCosts", "itemised", "Travel costs", ""},
	{"expenses.other", "itemised", "Other allowable property expenses", ""},

	{"expenses.consolidatedExpenses", "consolidated", "Total expenses", "All your expenses as one amount, instead of the itemised list."},

	{"expenses.residentialFinancialCost", "either", "Residential property finance costs", "Mortgage interest and other finance costs of residential property."},
	{"expenses.residentialFinancialCostsCarriedForward", "either", "Residential finance costs brought forward", "Finance costs not yet relieved from earlier years."},
	{"expenses.rentARoom.amountClaimed", "either", "Rent a Room: relief claimed", ""},
}

// fieldOfPath is the form field of an HMRC JSON pointer, e.g.
// /ukProperty/income/periodAmount → income.periodAmount.
func fieldOfPath(path string) string {
	return strings.ReplaceAll(strings.TrimPrefix(path, "/ukProperty/"), "/", ".")
}

// amountSlot returns where a field's amount lives in b, creating the
// objects on the way when create is set (nil when they are missing and
// create is not).
func amountSlot(b *itsa.UKPropertyCumulative, name string, create bool) **mtdconnect.Amount {
	p := &b.UKProperty
	income := func() *itsa.UKPropertyIncome {
		if p.Income == nil && create {
			p.Income = &itsa.UKPropertyIncome{}
		}
		return p.Income
	}
	expenses := func() *itsa.UKPropertyExpenses {
		if p.Expenses == nil && create {
			p.Expenses = &itsa.UKPropertyExpenses{}
		}
		return p.Expenses
	}
	group, field, _ := strings.Cut(name, ".")
	if group == "income" {
		in := income()
		if in == nil {
			return nil
		}
		switch field {
		case "periodAmount":
			return &in.PeriodAmount
		case "premiumsOfLeaseGrant":
			return &in.PremiumsOfLeaseGrant
		case "reversePremiums":
			return &in.ReversePremiums
		case "otherIncome":
			return &in.OtherIncome
		case "taxDeducted":
			return &in.TaxDeducted
		case "rentARoom.rentsReceived":
			if in.RentARoom == nil {
				if !create {
					return nil
				}
				in.RentARoom = &itsa.UKPropertyRentARoom{}
			}
			return &in.RentARoom.RentsReceived
		}
		return nil
	}
	ex := expenses()
	if ex == nil {
		return nil
	}
	switch field {
	case "premisesRunningCosts":
		return &ex.PremisesRunningCosts
	case "repairsAndMaintenance":
		return &ex.RepairsAndMaintenance
	case "financialCosts":
		return &ex.FinancialCosts
	case "professionalFees":
		return &ex.ProfessionalFees
	case "costOfServices":
		return &ex.CostOfServices
	case "travelCosts":
		return &ex.TravelCosts
	case "other":
		return &ex.Other
	case "consolidatedExpenses":
		return &ex.ConsolidatedExpenses
	case "residentialFinancialCost":
		return &ex.ResidentialFinancialCost
	case "residentialFinancialCostsCarriedForward":
		return &ex.ResidentialFinancialCostsCarriedForward
	case "rentARoom.amountClaimed":
		if ex.RentARoom == nil {
			if !create {
				return nil
			}
			ex.RentARoom = &itsa.UKPropertyRentARoomExpenses{}
		}
		return &ex.RentARoom.AmountClaimed
	}
	return nil
}

// parseFormAmount reads an amount as a landlord types it: "1,250.50",
// "£1250.5", "-£20". It returns nil for an empty field.
func parseFormAmount(s string) (*mtdconnect.Amount, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	neg := false
	for _, minus := range []string{"-", "−"} { // hyphen-minus, or the minus sign a phone may type
		if rest, ok := strings.CutPrefix(s, minus); ok {
			neg, s = true, rest
			break
		}
	}
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "£"))
	s = strings.ReplaceAll(s, ",", "")
	if neg {
		s = "-" + s
	}
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-.") {
		s = strings.Replace(s, ".", "0.", 1)
	}
	return mtdconnect.ParseAmount(s)
}

// notationHint is added to an amount's error when it was a number written
// in another notation (1e5, 0x10, 1_000, Inf), which the landlord may not
// have meant as the sum it is.
func notationHint(err error, typed string) string {
	if !errors.Is(err, mtdconnect.ErrAmountNotation) {
		return ""
	}
	return ", in plain figures (" + strings.TrimSpace(typed) + " is not)"
}

// formatAmount shows an amount in pounds, e.g. £1,234.50.
func formatAmount(a *mtdconnect.Amount) string {
	p, ok := a.Pence()
	if !ok {
		return a.String()
	}
	sign := ""
	if p < 0 {
		sign, p = "−", -p
	}
	pounds := strconv.FormatInt(p/100, 10)
	var b strings.Builder
	for i, c := range pounds {
		if i > 0 && (len(pounds)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return fmt.Sprintf("%s£%s.%02d", sign, b.String(), p%100)
}

// formatISODate shows HMRC's YYYY-MM-DD as 5 July 2025.
func formatISODate(s string) string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return t.Format("2 January 2006")
}

// earlyDays is how long before its period ends HMRC takes a cumulative
// update: "Cannot submit data more than 10 days before end of period"
// (RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED).
const earlyDays = 10

// acceptedFrom is the first day (YYYY-MM-DD) HMRC takes an update for the
// period ending on end.
func acceptedFrom(end string) string {
	t, err := time.Parse(time.DateOnly, end)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, -earlyDays).Format(time.DateOnly)
}

// dueBeforeConnectedNote explains landlord.StateDueBeforeConnected.
const dueBeforeConnectedNote = "Due before you connected mtdconnect. If you sent it another way, HMRC will show it as received; your HMRC online account says whether anything is owed."

// ---- page data ----

type quarterlyPage struct {
	TaxYear string
	// since is when the landlord connected for Income Tax: what was due
	// before is not an alarm (landlord.StateDueBeforeConnected).
	since time.Time

	NeedNINO    bool
	NeedConnect bool
	Reconnect   string // why the connection needs reconnecting
	Problem     *pageProblem

	Obligations []obligationRow
	// Quarters says which quarters HMRC's obligations follow; Choose
	// offers the choice (the current tax year, before its first update).
	Quarters *quartersChoice
	Form     *updateForm
	// FormOnly: the form came back with errors after a POST; the
	// obligations are not read from HMRC again for it.
	FormOnly   bool
	Receipts   []receiptRow
	OtherYears []yearLink
}

type yearLink struct{ Label, Link string }

type pageProblem struct {
	Title, Message      string
	Reconnect, Settings bool
}

type obligationRow struct {
	Period, Due, Status, StatusCode, Received string
	Open, Selected, Overdue                   bool
	Link                                      string
	// Correct offers to send the received period again, corrected: the
	// latest period mtdconnect sent an update for (an earlier one is
	// corrected by the next update, which is year to date).
	Correct bool
	// From is when HMRC first takes the update, in words, while it is too
	// early to send it (no link is offered then).
	From string
	// Sent says that an update covering the period was sent and accepted
	// while HMRC does not show it as received yet: when, and what HMRC is
	// expected to do.
	Sent, SentNote string
}

// quartersChoice is the quarterly period type on the page.
type quartersChoice struct {
	TaxYear  string
	Current  string // standard, calendar, or "" when HMRC's obligations do not tell
	Choose   bool   // the choice is still open
	Standard string // the standard quarters' ends, in words
	Calendar string
}

type updateForm struct {
	TaxYear, From, To, Period string
	// StartedFrom is the period of the update whose figures fill the form.
	StartedFrom string
	// Correction: HMRC has an update for this period already; this one
	// replaces it.
	Correction bool
	// TooEarly is when HMRC first takes the update, in words, while it is
	// too early to send it.
	TooEarly string

	Summary                         []summaryItem
	Income, Itemised, Either        []formField
	Consolidated                    formField
	IncomeError, ExpensesError, Err string
}

// formField is one amount input of the quarterly update or VAT return
// form (the "amount" template in layout.html).
type formField struct {
	Name, ID, Label, Hint, Value, Error string
	Box                                 int  // the VAT return's box number; 0 elsewhere
	Whole                               bool // whole pounds only
}

type summaryItem struct{ Anchor, Text string }

type receiptRow struct {
	Link, TaxYear, Period, SubmittedAt, CorrelationID string
}

// newUpdateForm is the empty form for the period from..to of taxYear.
func newUpdateForm(taxYear itsa.TaxYear, from, to string) *updateForm {
	f := &updateForm{TaxYear: taxYear.String(), From: from, To: to,
		Period: formatISODate(from) + " to " + formatISODate(to)}
	for _, af := range amountFields {
		ff := formField{Name: af.name, ID: strings.ReplaceAll(af.name, ".", "-"), Label: af.label, Hint: af.hint}
		switch af.group {
		case "income":
			f.Income = append(f.Income, ff)
		case "itemised":
			f.Itemised = append(f.Itemised, ff)
		case "either":
			f.Either = append(f.Either, ff)
		case "consolidated":
			f.Consolidated = ff
		}
	}
	return f
}

// fields calls fn on every field of the form.
func (f *updateForm) fields(fn func(*formField)) {
	for _, list := range [][]formField{f.Income, f.Itemised, f.Either} {
		for i := range list {
			fn(&list[i])
		}
	}
	fn(&f.Consolidated)
}

// fail puts message next to the field name ("" for the form as a whole;
// "income" or "expenses" for a whole group) and in the error summary.
func (f *updateForm) fail(name, message string) {
	anchor := "#amounts"
	switch name {
	case "income":
		f.IncomeError = message
		anchor = "#income"
	case "expenses":
		f.ExpensesError = message
		anchor = "#expenses"
	case "":
		if f.Err == "" {
			f.Err = message
		}
	default:
		found := false
		f.fields(func(ff *formField) {
			if ff.Name == name {
				found = true
				if ff.Error == "" {
					ff.Error = message
				}
				anchor = "#" + ff.ID
			}
		})
		if !found {
			f.fail("", message)
			return
		}
	}
	f.Summary = append(f.Summary, summaryItem{Anchor: anchor, Text: message})
}

// bind reads the form's amounts into a body for the period, failing each
// field that is not an amount.
func (f *updateForm) bind(r *http.Request) itsa.UKPropertyCumulative {
	body := itsa.UKPropertyCumulative{FromDate: f.From, ToDate: f.To}
	f.fields(func(ff *formField) {
		ff.Value = r.PostFormValue(ff.Name)
		a, err := parseFormAmount(ff.Value)
		switch {
		case err != nil:
			ff.Error = "Enter " + strings.ToLower(ff.Label[:1]) + ff.Label[1:] + " as an amount in pounds, like 1250.00" + notationHint(err, ff.Value)
			f.Summary = append(f.Summary, summaryItem{Anchor: "#" + ff.ID, Text: ff.Error})
		case a != nil:
			*amountSlot(&body, ff.Name, true) = a
		}
	})
	return body
}

// failAll puts each of HMRC's (or the local checks') errors next to the
// field its path names, in words.
func (f *updateForm) failAll(errs []fieldError) {
	for _, e := range errs {
		msg := validationMessage(e.Code, e.Message)
		if len(e.Paths) == 0 {
			f.fail("", msg)
			continue
		}
		for _, p := range e.Paths {
			switch name := fieldOfPath(p); name {
			case "/ukProperty", "":
				f.fail("", msg)
			default:
				f.fail(name, msg)
			}
		}
	}
}

// validationMessage turns an HMRC validation error into words.
func validationMessage(code, message string) string {
	switch {
	case code == itsa.CodeFormatValue && strings.Contains(message, "-99999999999.99"):
		return "Enter an amount between −£99,999,999,999.99 and £99,999,999,999.99, in pounds and pence (no more than 2 decimal places)"
	case code == itsa.CodeFormatValue:
		return "Enter an amount of £0 or more, up to £99,999,999,999.99, in pounds and pence (no more than 2 decimal places)"
	case code == itsa.CodeRuleBothExpenses:
		return "Give either the itemised expenses or one consolidated total, not both: clear one of them"
	case code == itsa.CodeRuleIncorrectOrEmptyBody:
		return "Enter at least one amount"
	case code == itsa.CodeFormatFromDate || code == itsa.CodeFormatToDate || code == itsa.CodeRuleToDateBeforeFromDate ||
		code == itsa.CodeRuleMissingSubmission || strings.Contains(code, "DATE"):
		return "The period of this update is not one HMRC accepts. Go back to your quarterly updates and choose the period again"
	}
	return message
}

// ---- handlers ----

// quarterlyReady checks what every quarterly page needs before HMRC can be
// asked: a NINO and a usable Income Tax connection. It fills page and
// returns false when one is missing.
func (s *Server) quarterlyReady(r *http.Request, u *mtdconnect.User, page *quarterlyPage) (bool, error) {
	if u.NINO == "" {
		page.NeedNINO = true
		return false, nil
	}
	st, err := s.landlord.Status(r.Context(), u.ID, mtdconnect.PurposeIncomeTax)
	switch {
	case err != nil:
		return false, err
	case st.Status == mtdconnect.StatusNotConnected:
		page.NeedConnect = true
		return false, nil
	case st.Status == mtdconnect.StatusNeedsReconnect:
		page.Reconnect = st.Reason
		return false, nil
	}
	page.since = st.ConnectedSince
	return true, nil
}

func pageProblemOf(p problem) *pageProblem {
	return &pageProblem{Title: p.Title, Message: p.Message,
		Reconnect: p.Action == actionReconnect || p.Code == "needs_reconnect" || p.Code == "not_connected",
		Settings:  p.Action == actionSettings}
}

// handleQuarterly shows the obligations of the current tax year, the form
// for the selected open one (?period=end date; the earliest open one by
// default) and the receipts.
func (s *Server) handleQuarterly(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	now := s.now()
	current := itsa.CurrentTaxYear(now)
	taxYear := current
	if v := r.URL.Query().Get("taxYear"); v != "" {
		y, err := itsa.ParseTaxYear(v)
		if err != nil || y > current || y < itsa.CumulativeFirstTaxYear {
			s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such tax year",
				Text: "Quarterly updates can be shown for the tax years from 2025-26 to the current one."})
			return
		}
		taxYear = y
	}
	page := quarterlyPage{TaxYear: taxYear.String()}
	// The other tax years with cumulative updates: in April and May the
	// last update of the previous year is still due.
	for y := max(current-1, itsa.CumulativeFirstTaxYear); y <= current; y++ {
		if y != taxYear {
			page.OtherYears = append(page.OtherYears, yearLink{Label: y.String(), Link: "/quarterly?taxYear=" + y.String()})
		}
	}
	const status = http.StatusOK
	receipts, err := s.receipts(r, u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.Receipts = receipts

	ready, err := s.quarterlyReady(r, u, &page)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ready {
		s.render(w, r, status, "quarterly", "Quarterly updates", page)
		return
	}
	if taxYear < itsa.CumulativeFirstTaxYear {
		page.Problem = &pageProblem{Title: "Nothing to send yet",
			Message: "Quarterly updates through Making Tax Digital start with the 2025-26 tax year."}
		s.render(w, r, status, "quarterly", "Quarterly updates", page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var q *landlord.QuarterlyObligations
	if err == nil {
		q, err = s.landlord.Obligations(r.Context(), u.ID, taxYear, origin, "")
	}
	if err != nil {
		p := s.logProblem(r, err)
		page.Problem = pageProblemOf(p)
		s.render(w, r, p.Status, "quarterly", "Error: Quarterly updates", page)
		return
	}
	page.Quarters = &quartersChoice{TaxYear: taxYear.String(), Current: q.PeriodType, Choose: q.CanChoosePeriodType,
		Standard: "6 April to 5 July, 5 October, 5 January and 5 April", Calendar: "1 April to 30 June, 30 September, 31 December and 31 March"}

	// The form is for the period asked for, else the first open one not
	// sent yet (one sent may be sent again, to correct it).
	last, err := s.lastUpdate(r, u, taxYear)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// The period HMRC's latest update from mtdconnect runs to may be sent
	// again, corrected (HMRC refuses an update ending earlier than one it
	// has).
	correctable := func(ob landlord.Obligation) bool {
		return ob.Fulfilled() && last != nil && last.PeriodEnd.Format(time.DateOnly) == ob.End
	}
	// Only a period HMRC takes today is offered. One asked for by its
	// address (a link kept from earlier, or HMRC's clock ahead of ours in
	// a demo) gets its form, saying from when HMRC takes it.
	today := now.In(s.london).Format(time.DateOnly)
	selected := r.URL.Query().Get("period")
	var chosen *landlord.Obligation
	for i, ob := range q.Obligations {
		asked := selected == ob.End && (!ob.Fulfilled() || correctable(ob))
		offered := selected == "" && !ob.Fulfilled() && !ob.AwaitingHMRC() && acceptedFrom(ob.End) <= today
		if chosen == nil && (asked || offered) {
			chosen = &q.Obligations[i]
		}
	}
	for _, ob := range q.Obligations {
		state := landlord.StateOf(ob.Fulfilled(), ob.AwaitingHMRC(), ob.Due, today, page.since)
		row := obligationRow{
			Period: formatISODate(ob.Start) + " to " + formatISODate(ob.End),
			Due:    formatISODate(ob.Due), Status: state.Label(), StatusCode: state.Tag(), Open: !ob.Fulfilled(),
			Selected: chosen != nil && ob.End == chosen.End && ob.Start == chosen.Start,
			Link:     "/quarterly?taxYear=" + taxYear.String() + "&period=" + ob.End + "#update",
			Overdue:  state == landlord.StateOverdue,
		}
		switch state {
		case landlord.StateReceived:
			if ob.Received != "" {
				row.Received = formatISODate(ob.Received)
			}
		case landlord.StateSent:
			row.Sent = s.formatTime(ob.Sent.SubmittedAt)
			row.SentNote = "HMRC accepted it. It may take HMRC up to an hour to show it as received."
			if now.Sub(ob.Sent.SubmittedAt) > landlord.FulfilmentWindow {
				row.SentNote = "HMRC accepted it, but does not show it as received yet. If this lasts a day, check your HMRC online account."
			}
		case landlord.StateDueBeforeConnected:
			row.SentNote = dueBeforeConnectedNote
		}
		if from := acceptedFrom(ob.End); row.Open && today < from {
			row.From = formatISODate(from)
		}
		row.Correct = correctable(ob) && !row.Selected
		page.Obligations = append(page.Obligations, row)
	}
	if chosen != nil {
		page.Form = newUpdateForm(taxYear, chosen.Start, chosen.End)
		page.Form.Correction = chosen.Fulfilled()
		if from := acceptedFrom(chosen.End); today < from {
			page.Form.TooEarly = formatISODate(from)
		}
		// Year to date: the last update's figures are where this one
		// starts.
		page.Form.prefill(last)
	}
	s.render(w, r, status, "quarterly", "Quarterly updates", page)
}

// handleQuarterlyPeriodType chooses standard or calendar quarters for the
// current tax year, before its first update.
func (s *Server) handleQuarterlyPeriodType(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	periodType := r.PostFormValue("quarterlyPeriodType")
	if !itsa.ValidPeriodType(periodType) {
		s.renderMessage(w, r, http.StatusBadRequest, message{Title: "Choose your quarters",
			Text: "Choose standard or calendar quarters, then press the button again. Nothing was sent to HMRC.", Back: true})
		return
	}
	origin, err := s.browserOrigin(r, u)
	if err == nil {
		_, err = s.landlord.ChooseQuarterlyPeriodType(r.Context(), landlord.ByLandlord(u.ID), landlord.QuartersChoice{UserID: u.ID,
			PeriodType: periodType, AprilToMarch: r.PostFormValue("aprilToMarch") == "yes", Origin: origin})
	}
	if err != nil {
		p := s.logProblem(r, err)
		s.renderMessage(w, r, p.Status, message{Title: p.Title, Text: p.Message, Back: true})
		return
	}
	http.Redirect(w, r, "/quarterly#quarters", http.StatusSeeOther)
}

// receipts lists the landlord's UK property updates, newest first.
func (s *Server) receipts(r *http.Request, u *mtdconnect.User) ([]receiptRow, error) {
	subs, err := s.landlord.Receipts(r.Context(), u.ID, landlord.ReceiptQuery{
		Purposes: []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax}, Kind: mtdconnect.SubmissionUKPropertyCumulative, Limit: 50,
	})
	if err != nil {
		return nil, err
	}
	var out []receiptRow
	for _, sub := range subs {
		out = append(out, receiptRow{
			Link: "/quarterly/receipts/" + strconv.FormatInt(sub.ID, 10), TaxYear: sub.Period,
			Period: periodOf(sub), SubmittedAt: s.formatTime(sub.SubmittedAt), CorrelationID: sub.CorrelationID,
		})
	}
	return out, nil
}

// lastUpdate is the landlord's newest UK property update of taxYear sent
// through mtdconnect (updates are year to date: it holds the figures so
// far), nil when there is none.
func (s *Server) lastUpdate(r *http.Request, u *mtdconnect.User, taxYear itsa.TaxYear) (*mtdconnect.Submission, error) {
	subs, err := s.landlord.Receipts(r.Context(), u.ID, landlord.ReceiptQuery{
		Purposes: []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax}, Kind: mtdconnect.SubmissionUKPropertyCumulative,
	})
	if err != nil {
		return nil, err
	}
	for _, sub := range subs { // newest first
		if sub.Period == taxYear.String() {
			return sub, nil
		}
	}
	return nil, nil
}

// prefill fills the form with the figures of an earlier update, for the
// landlord to change to their totals so far.
func (f *updateForm) prefill(sub *mtdconnect.Submission) {
	var body itsa.UKPropertyCumulative
	if sub == nil || json.Unmarshal(sub.Body, &body) != nil {
		return
	}
	f.fields(func(ff *formField) {
		if slot := amountSlot(&body, ff.Name, false); slot != nil && *slot != nil {
			ff.Value = (*slot).String()
		}
	})
	f.StartedFrom = periodOf(sub)
}

// periodOf words the period a receipt is for: its dates, or the tax year
// or VAT period key when they were not recorded (the API may not give them).
func periodOf(sub *mtdconnect.Submission) string {
	if sub.PeriodStart.IsZero() || sub.PeriodEnd.IsZero() {
		if sub.Kind == mtdconnect.SubmissionVATReturn {
			return "Period " + sub.Period
		}
		return "Tax year " + sub.Period
	}
	return sub.PeriodStart.Format("2 January 2006") + " to " + sub.PeriodEnd.Format("2 January 2006")
}

// handleQuarterlySubmit sends the year-to-date figures for one period. Bad
// figures come back next to their fields and nothing is sent; an accepted
// update is recorded and its receipt shown (Post/Redirect/Get).
func (s *Server) handleQuarterlySubmit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	taxYear, err := itsa.ParseTaxYear(r.PostFormValue("taxYear"))
	if err != nil {
		s.serverError(w, r, errBadRequest)
		return
	}
	from, to := r.PostFormValue("from"), r.PostFormValue("to")
	_, err1 := time.Parse(time.DateOnly, from)
	_, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil || from < taxYear.FirstDay() || to > taxYear.LastDay() || to < from {
		s.serverError(w, r, errBadRequest)
		return
	}
	page := quarterlyPage{TaxYear: taxYear.String(), FormOnly: true}
	form := newUpdateForm(taxYear, from, to)
	page.Form = form
	again := func(status int) {
		s.render(w, r, status, "quarterly", "Error: Quarterly updates", page)
	}

	ready, err := s.quarterlyReady(r, u, &page)
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
	if err == nil && len(body.Validate(taxYear)) == 0 {
		// The period came from the page: it must be one of HMRC's
		// obligations (read from the kept copy, so this costs HMRC no call
		// most of the time), or nothing is sent. Figures HMRC would refuse
		// are answered first, without asking HMRC anything.
		var q *landlord.QuarterlyObligations
		if q, err = s.landlord.Obligations(r.Context(), u.ID, taxYear, origin, ""); err == nil &&
			!slices.ContainsFunc(q.Obligations, func(ob landlord.Obligation) bool { return ob.Start == from && ob.End == to }) {
			s.renderMessage(w, r, http.StatusBadRequest, message{Title: "This is not one of your quarterly periods",
				Text: "HMRC has no quarterly update for " + form.Period + " in tax year " + taxYear.String() +
					". Nothing was sent to HMRC. Go back to your quarterly updates and choose the period there."})
			return
		}
	}
	if err != nil {
		p := s.logProblem(r, err)
		if len(p.Errors) > 0 {
			form.fail("", p.Message)
			form.failAll(p.Errors)
		} else {
			page.Problem = pageProblemOf(p)
		}
		again(p.Status)
		return
	}
	sub, err := s.landlord.SubmitQuarterlyUpdate(r.Context(), landlord.ByLandlord(u.ID), landlord.QuarterlyUpdate{
		UserID: u.ID, TaxYear: taxYear, Body: body, Origin: origin,
	})
	var lost *landlord.ReceiptError
	switch {
	case errors.As(err, &lost):
		// HMRC has the update; only our copy of the receipt is lost. Say
		// so, with HMRC's reference, rather than inviting a resend.
		s.renderMessage(w, r, http.StatusOK, message{
			Title: "HMRC accepted your update",
			Text: "HMRC accepted your update for " + form.Period + ", but mtdconnect could not keep the receipt. " +
				"HMRC's reference is " + sub.CorrelationID + ": note it down. You do not need to send the update again.",
		})
	case len(hmrc.ValidationErrorsIn(err)) > 0:
		// Refused before it was sent: each problem next to its field.
		form.failAll(classify(err).Errors)
		again(http.StatusBadRequest)
	case err != nil:
		p := s.logProblem(r, err)
		if p.Code == "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED" {
			p.Message = "HMRC takes the update for " + form.Period + " from " + formatISODate(acceptedFrom(to)) +
				", 10 days before the period ends. Nothing was sent: send it from that day."
		}
		if len(p.Errors) > 0 {
			form.fail("", p.Message)
			form.failAll(p.Errors)
		} else {
			page.Problem = pageProblemOf(p)
		}
		again(p.Status)
	default:
		http.Redirect(w, r, "/quarterly/receipts/"+strconv.FormatInt(sub.ID, 10), http.StatusSeeOther)
	}
}

type receiptPage struct {
	TaxYear, Period, SubmittedAt, CorrelationID string
	Lines                                       []receiptLine
	// CorrectLink sends a corrected update for the same period, when this
	// is the tax year's latest update; Later says a later update exists,
	// which already replaced these figures.
	CorrectLink string
	Later       bool
}

type receiptLine struct{ Label, Amount, Group string }

// handleReceipt shows one of the landlord's receipts: what was sent, when,
// and HMRC's reference.
func (s *Server) handleReceipt(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such receipt", Text: "There is no receipt at this address."})
		return
	}
	sub, err := s.landlord.Receipt(r.Context(), u.ID, id, mtdconnect.SubmissionUKPropertyCumulative)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such receipt", Text: "There is no receipt at this address."})
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var body itsa.UKPropertyCumulative
	if err := json.Unmarshal(sub.Body, &body); err != nil {
		s.serverError(w, r, fmt.Errorf("receipt %d: %w", sub.ID, err))
		return
	}
	page := receiptPage{TaxYear: sub.Period, Period: periodOf(sub), SubmittedAt: s.formatTime(sub.SubmittedAt), CorrelationID: sub.CorrelationID}
	if taxYear, err := itsa.ParseTaxYear(sub.Period); err == nil && !sub.PeriodEnd.IsZero() {
		last, err := s.lastUpdate(r, u, taxYear)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if last != nil && last.ID == sub.ID {
			page.CorrectLink = "/quarterly?taxYear=" + sub.Period + "&period=" + sub.PeriodEnd.Format(time.DateOnly) + "#update"
		} else {
			page.Later = true
		}
	}
	groups := map[string]string{"income": "Income", "itemised": "Expenses", "consolidated": "Expenses", "either": "Expenses"}
	for _, af := range amountFields {
		if slot := amountSlot(&body, af.name, false); slot != nil && *slot != nil {
			page.Lines = append(page.Lines, receiptLine{Label: af.label, Amount: formatAmount(*slot), Group: groups[af.group]})
		}
	}
	s.render(w, r, http.StatusOK, "quarterly_receipt", "Receipt: quarterly update", page)
}
