package web

// VAT returns (Making Tax Digital for VAT): the landlord's VAT registration
// number, the obligations of the last 12 months and every open one, the
// nine-box return for an open period that has ended, HMRC's receipt, and
// the returns HMRC holds. Every HMRC call here uses the VAT connection
// (scopes read:vat and write:vat), never the Income Tax one.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// vatCallError is the error of a VAT call, with what classify needs to
// word it for VAT: HMRC uses some codes on both the VAT and the Income Tax
// APIs (CLIENT_OR_AGENT_NOT_AUTHORISED, RULE_INSOLVENT_TRADER), and the
// landlord must read about the VAT registration number, not the National
// Insurance number.
type vatCallError struct {
	err error
	// submit: the call was a return's submission, whose outcome is
	// unknown when it fails with hmrc.ErrUnavailable.
	submit    bool
	periodEnd string // the period's last day, YYYY-MM-DD, when known
}

func (e *vatCallError) Error() string { return e.err.Error() }
func (e *vatCallError) Unwrap() error { return e.err }

func vatCall(err error) error {
	if err == nil {
		return nil
	}
	return &vatCallError{err: err}
}

// classifyVAT words VAT's own errors and those of VAT calls; classify asks
// it before its general cases. It reports false for anything that is not
// VAT's, or that the general wording fits.
func classifyVAT(err error) (problem, bool) {
	var vrnErr *mtdconnect.VRNError
	switch {
	case errors.Is(err, landlord.ErrNoVRN):
		return problem{Status: http.StatusConflict, Code: "vrn_required", Title: "Add your VAT registration number",
			Message: "Your VAT registration number is needed before mtdconnect can read or send your VAT returns. Add it on the VAT returns page.",
			Action:  actionSettings}, true
	case errors.As(err, &vrnErr):
		return problem{Status: http.StatusConflict, Code: "vrn_invalid", Title: "Check your VAT registration number",
			Message: "The VAT registration number saved for you " + vrnErr.Problem + ". Correct it on the VAT returns page.",
			Action:  actionSettings}, true
	}
	var vc *vatCallError
	if !errors.As(err, &vc) {
		return problem{}, false
	}
	var api *hmrc.APIError
	isAPI := errors.As(err, &api)
	p := problem{}
	if isAPI {
		p.Code = api.Code
	}
	switch {
	case hmrc.HasErrorCode(err, vat.CodeDuplicateSubmission):
		p.Status, p.Code, p.Title = http.StatusConflict, vat.CodeDuplicateSubmission, "HMRC already has a return for this period"
		p.Message = "HMRC already has a return for this period, so this one was not filed. A period's return can be filed " +
			"only once: view the return HMRC holds. To correct a mistake in it, adjust your next return or tell HMRC."
	case hmrc.HasErrorCode(err, vat.CodeTaxPeriodNotEnded), errors.Is(err, landlord.ErrPeriodNotEnded):
		p = vatNotEnded(vc.periodEnd)
	case hmrc.HasErrorCode(err, vat.CodeNotFinalised):
		p.Status, p.Code, p.Title = http.StatusUnprocessableEntity, vat.CodeNotFinalised, "Confirm the declaration"
		p.Message = "HMRC accepts a return only with the declaration that it is true and complete. Nothing was filed."
	case vc.submit && errors.Is(err, hmrc.ErrUnavailable):
		// The submission is never repeated after a failure HMRC may have
		// acted on: whether the return was filed is unknown.
		p.Status, p.Code, p.Title = http.StatusServiceUnavailable, "submission_unconfirmed", "We could not confirm HMRC received your return"
		p.Message = "We could not confirm HMRC received your return; check the obligations before trying again. " +
			"If HMRC has it, the period shows as fulfilled. Sending it again is safe: HMRC refuses a second return for a period as a duplicate, it never files it twice."
	case hmrc.HasErrorCode(err, vat.CodeClientNotAuthorised):
		p.Status, p.Code, p.Title, p.Action = http.StatusForbidden, vat.CodeClientNotAuthorised, "HMRC says this connection cannot act for you", actionSettings
		p.Message = "HMRC says the Government Gateway account you connected for VAT cannot act for the VAT registration number " +
			"saved for you. Check the number on the VAT returns page, or connect for VAT again signing in with the account that holds your VAT."
	case hmrc.HasErrorCode(err, vat.CodeVRNInvalid):
		p.Status, p.Code, p.Title, p.Action = http.StatusConflict, vat.CodeVRNInvalid, "Check your VAT registration number", actionSettings
		p.Message = "HMRC says your VAT registration number is not valid. Correct it on the VAT returns page."
	case hmrc.HasErrorCode(err, vat.CodeInsolventTrader):
		p.Status, p.Code, p.Title = http.StatusUnprocessableEntity, vat.CodeInsolventTrader, "HMRC cannot take VAT returns online"
		p.Message = "HMRC's records show an insolvency for this VAT registration, so it does not take returns online. Contact HMRC."
	case hmrc.HasErrorCode(err, vat.CodeDateRangeTooLarge):
		p.Status, p.Code, p.Title = http.StatusUnprocessableEntity, vat.CodeDateRangeTooLarge, "Too old to view"
		p.Message = "HMRC shows returns of the last four years only."
	case errors.Is(err, vat.ErrNoReturn):
		p.Status, p.Code, p.Title = http.StatusNotFound, "no_vat_return", "HMRC holds no return for this period"
		p.Message = "HMRC holds no VAT return for this period."
	case errors.Is(err, hmrc.ErrNotConnected), errors.Is(err, mtdconnect.ErrNotFound):
		p.Status, p.Code, p.Title, p.Action = http.StatusNotFound, "not_connected", "Not connected to HMRC for VAT", actionReconnect
		p.Message = "This account is not connected to HMRC for VAT. Connect for VAT first."
	default:
		return problem{}, false
	}
	if isAPI {
		for _, e := range api.Errors {
			p.Errors = append(p.Errors, fieldError{Code: e.Code, Message: e.Message, Paths: slices.Clone(e.Paths)})
		}
	}
	return p, true
}

// vatNotEnded is the problem of a return for a period that has not ended
// (HMRC's TAX_PERIOD_NOT_ENDED), with the period's last day when known.
func vatNotEnded(periodEnd string) problem {
	p := problem{Status: http.StatusUnprocessableEntity, Code: vat.CodeTaxPeriodNotEnded, Title: "The period has not ended yet",
		Message: "HMRC does not accept a return before its period has ended, so nothing was filed."}
	if periodEnd != "" {
		p.Message += " You can file after the period ends on " + formatISODate(periodEnd) + "."
	} else {
		p.Message += " You can file after the period ends."
	}
	return p
}

// vatProblem is a problem as the VAT pages show it, with the links that
// fit VAT's problems.
type vatProblem struct {
	pageProblem
	ViewLink        string // the return HMRC already holds
	ObligationsLink bool   // check the obligations (a submission of unknown outcome)
}

func vatProblemOf(p problem) *vatProblem {
	vp := &vatProblem{pageProblem: *pageProblemOf(p)}
	if p.Code == "submission_unconfirmed" {
		vp.ObligationsLink = true
	}
	return vp
}

// ---- the nine boxes ----

// vatBoxDef is one box of the return as the form asks for it.
type vatBoxDef struct {
	n     int
	name  string // HMRC's field name, also the form field's
	label string // HMRC's wording of the box
	hint  string
	whole bool // boxes 6 to 9: whole pounds
}

// vatBoxes are the nine boxes, labelled as HMRC's VAT return form and the
// VAT API's schema label them.
var vatBoxes = []vatBoxDef{
	{1, "vatDueSales", "VAT due on sales and other outputs", "", false},
	{2, "vatDueAcquisitions", "VAT due on acquisitions of goods made in Northern Ireland from EU Member States", "", false},
	{3, "totalVatDue", "Total VAT due (the sum of boxes 1 and 2)", "Leave it empty to have it worked out: box 1 plus box 2.", false},
	{4, "vatReclaimedCurrPeriod", "VAT reclaimed on purchases and other inputs (including acquisitions in Northern Ireland from EU Member States)", "", false},
	{5, "netVatDue", "Net VAT to pay to HMRC or reclaim (the difference between boxes 3 and 4)", "Leave it empty to have it worked out. It is never negative: HMRC sees from boxes 3 and 4 whether you pay or reclaim.", false},
	{6, "totalValueSalesExVAT", "Total value of sales and all other outputs excluding any VAT. Include your box 8 figure", "Whole pounds, no pence.", true},
	{7, "totalValuePurchasesExVAT", "Total value of purchases and all other inputs excluding any VAT. Include your box 9 figure", "Whole pounds, no pence.", true},
	{8, "totalValueGoodsSuppliedExVAT", "Total value of dispatches of goods and related costs (excluding VAT) from Northern Ireland to EU Member States", "Whole pounds, no pence.", true},
	{9, "totalAcquisitionsExVAT", "Total value of acquisitions of goods and related costs (excluding VAT) made in Northern Ireland from EU Member States", "Whole pounds, no pence.", true},
}

// slot is where the box lives in a return.
func (d vatBoxDef) slot(r *vat.Return) *mtdconnect.Amount {
	switch d.n {
	case 1:
		return &r.VATDueSales
	case 2:
		return &r.VATDueAcquisitions
	case 3:
		return &r.TotalVATDue
	case 4:
		return &r.VATReclaimedCurrPeriod
	case 5:
		return &r.NetVATDue
	case 6:
		return &r.TotalValueSalesExVAT
	case 7:
		return &r.TotalValuePurchasesExVAT
	case 8:
		return &r.TotalValueGoodsSuppliedExVAT
	default:
		return &r.TotalAcquisitionsExVAT
	}
}

func vatBoxByName(name string) (vatBoxDef, bool) {
	for _, d := range vatBoxes {
		if d.name == name {
			return d, true
		}
	}
	return vatBoxDef{}, false
}

// vatBoxMessage words a validation error of one box.
func vatBoxMessage(d vatBoxDef, code string) string {
	box := "box " + strconv.Itoa(d.n)
	switch {
	case code == vat.CodeMandatoryFieldMissing:
		return "Enter " + box + ". If there is nothing to declare in it, enter 0"
	case code == vat.CodeInvalidMonetaryAmount && d.whole:
		return "Enter " + box + " in whole pounds, with no pence, between −£9,999,999,999,999 and £9,999,999,999,999"
	case code == vat.CodeInvalidMonetaryAmount && d.n == 5:
		return "Enter " + box + " as £0 or more, up to £99,999,999,999.99, with no more than 2 decimal places (it is never negative)"
	case code == vat.CodeInvalidMonetaryAmount:
		return "Enter " + box + " in pounds and pence, with no more than 2 decimal places, between −£9,999,999,999,999.99 and £9,999,999,999,999.99"
	}
	return ""
}

// vatDeclaration is HMRC's wording of the declaration the landlord makes by
// submitting a return.
const vatDeclaration = "When you submit this VAT information you are making a legal declaration that the information is true and complete. A false declaration can result in prosecution."

// ---- page data ----

type vatPage struct {
	// since is when the landlord connected for VAT
	// (landlord.StateDueBeforeConnected).
	since       time.Time
	VRN         string
	VRNInput    string // what was typed, when it was refused
	VRNError    string
	SettingsURL string // the VAT tab of the HMRC connection settings
	Flash       *flash

	NeedConnect bool
	Reconnect   string // why the connection needs reconnecting
	Problem     *vatProblem

	Obligations []vatObligationRow
	Form        *vatForm
	// FormOnly: the page came back after a POST with errors; HMRC is not
	// asked for the obligations again for it.
	FormOnly bool
	Receipts []vatReceiptRow
}

type vatObligationRow struct {
	PeriodKey, Period, Due, Status, StatusCode, Received string
	Open, Ended, Selected, Overdue                       bool
	FileLink, ViewLink, EndsOn                           string
}

type vatReceiptRow struct {
	Link, PeriodKey, Period, SubmittedAt, FormBundle string
}

type vatForm struct {
	PeriodKey, Start, End, Period string
	Boxes                         []formField
	Declaration                   string
	Declared                      bool
	DeclarationError              string
	Summary                       []summaryItem
	Err                           string
	// worked: boxes 3 and 5 when left empty, to be worked out; a box
	// that could not be is not reported missing (its inputs are at fault).
	worked map[string]bool
}

func newVATForm(periodKey, start, end string) *vatForm {
	f := &vatForm{PeriodKey: periodKey, Start: start, End: end,
		Period: formatISODate(start) + " to " + formatISODate(end), Declaration: vatDeclaration}
	for _, d := range vatBoxes {
		f.Boxes = append(f.Boxes, formField{Box: d.n, Name: d.name, ID: "box" + strconv.Itoa(d.n), Label: d.label, Hint: d.hint, Whole: d.whole})
	}
	return f
}

// fail puts message next to the box named name (HMRC's field name),
// "finalised" for the declaration or "" for the form as a whole, and in
// the error summary. The first message of a field wins.
func (f *vatForm) fail(name, message string) {
	switch name {
	case "finalised":
		if f.DeclarationError != "" {
			return
		}
		f.DeclarationError = message
		f.Summary = append(f.Summary, summaryItem{Anchor: "#declaration", Text: message})
		return
	case "":
		if f.Err == "" {
			f.Err = message
		}
		f.Summary = append(f.Summary, summaryItem{Anchor: "#return", Text: message})
		return
	}
	for i := range f.Boxes {
		if b := &f.Boxes[i]; b.Name == name {
			if b.Error == "" {
				b.Error = message
				f.Summary = append(f.Summary, summaryItem{Anchor: "#" + b.ID, Text: message})
			}
			return
		}
	}
	f.fail("", message)
}

// bind reads the form into a return: the amounts as typed, box 3 and box 5
// worked out where left empty, and the declaration. Amounts that cannot be
// read are failed next to their boxes.
func (f *vatForm) bind(r *http.Request) vat.Return {
	ret := vat.Return{PeriodKey: f.PeriodKey}
	empty := map[int]bool{}
	defer func() { f.worked = map[string]bool{"totalVatDue": empty[3], "netVatDue": empty[5]} }()
	for i := range f.Boxes {
		b := &f.Boxes[i]
		b.Value = r.PostFormValue(b.Name)
		a, err := parseFormAmount(b.Value)
		switch {
		case err != nil:
			example := "1250.00"
			if b.Whole {
				example = "1250"
			}
			f.fail(b.Name, "Enter box "+strconv.Itoa(b.Box)+" as an amount in pounds, like "+example+notationHint(err, b.Value))
		case a == nil:
			empty[b.Box] = true
		default:
			*vatBoxes[i].slot(&ret) = *a
		}
	}
	f.Declared = r.PostFormValue("finalised") == "true"
	ret.Finalised = f.Declared
	if len(f.Summary) > 0 {
		return ret
	}
	// Boxes 3 and 5 follow from the others (HMRC's arithmetic); a landlord
	// may leave them to us. One entered is kept, and checked by Validate.
	if empty[3] || empty[5] {
		filled := ret
		if filled.FillTotals() == nil {
			if empty[3] {
				ret.TotalVATDue = filled.TotalVATDue
			}
			if empty[5] {
				if net, ok := netOf(ret.TotalVATDue, ret.VATReclaimedCurrPeriod); ok {
					ret.NetVATDue = net
				}
			}
		}
	}
	return ret
}

// netOf is box 5 for the given boxes 3 and 4, |box 3 − box 4|, worked out
// by FillTotals as box 1 = box 3, box 2 = 0.
func netOf(box3, box4 mtdconnect.Amount) (mtdconnect.Amount, bool) {
	r := vat.Return{VATDueSales: box3, VATDueAcquisitions: *mtdconnect.Pence(0), VATReclaimedCurrPeriod: box4}
	if r.FillTotals() != nil {
		return mtdconnect.Amount{}, false
	}
	return r.NetVATDue, true
}

// failValidation puts one of HMRC's (or the local checks') errors next to
// its box, in words.
func (f *vatForm) failValidation(ret vat.Return, code, message string, paths []string) {
	if len(paths) == 0 {
		f.fail("", message)
		return
	}
	for _, p := range paths {
		name := strings.TrimPrefix(p, "/")
		switch {
		case code == vat.CodeNotFinalised || name == "finalised":
			f.fail("finalised", "Confirm the declaration to file the return")
		case code == vat.CodeTotalValue:
			msg := "Box 3 must be box 1 plus box 2"
			filled := ret
			if filled.FillTotals() == nil {
				msg += ", which is " + formatAmount(&filled.TotalVATDue)
			}
			f.fail("totalVatDue", msg+". Correct it, or leave it empty to have it worked out")
		case code == vat.CodeNetValue:
			msg := "Box 5 must be the difference between box 3 and box 4"
			if net, ok := netOf(ret.TotalVATDue, ret.VATReclaimedCurrPeriod); ok {
				msg += ", which is " + formatAmount(&net)
			}
			f.fail("netVatDue", msg+" (never negative). Correct it, or leave it empty to have it worked out")
		case code == vat.CodeMandatoryFieldMissing && f.worked[name]:
			// Left to be worked out from boxes that have their own errors.
		case name == "periodKey":
			f.fail("", "The period of this return is not one HMRC knows. Go back to your VAT returns and choose the period again")
		default:
			d, ok := vatBoxByName(name)
			if !ok {
				f.fail("", message)
				continue
			}
			if msg := vatBoxMessage(d, code); msg != "" {
				f.fail(name, msg)
			} else {
				f.fail(name, message)
			}
		}
	}
}

// ---- handlers ----

// vatReady checks what every VAT page needs before HMRC can be asked: a
// VRN and a usable VAT connection. It fills page and reports whether both
// are there.
func (s *Server) vatReady(r *http.Request, u *mtdconnect.User, page *vatPage) (bool, error) {
	st, err := s.landlord.Status(r.Context(), u.ID, mtdconnect.PurposeVAT)
	switch {
	case err != nil:
		return false, err
	case st.Status == mtdconnect.StatusNotConnected:
		page.NeedConnect = true
	case st.Status == mtdconnect.StatusNeedsReconnect:
		page.Reconnect = st.Reason
	}
	page.since = st.ConnectedSince
	return u.VRN != "" && !page.NeedConnect && page.Reconnect == "", nil
}

// vatToday is the landlord's calendar date, as HMRC's period ends are.
func (s *Server) vatToday() time.Time {
	y, m, d := s.now().In(s.london).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// vatPeriodEnded reports whether HMRC takes a return for a period ending on
// end (YYYY-MM-DD): from the day after.
func vatPeriodEnded(end string, today time.Time) bool {
	return end < today.Format(time.DateOnly)
}

func vatReturnLink(periodKey string) string { return "/vat/returns/" + url.PathEscape(periodKey) }

// handleVAT shows the VRN, the obligations, the return form for the
// selected open period (?period=key; the earliest open one that has ended
// by default) and the receipts.
func (s *Server) handleVAT(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	page := &vatPage{VRN: u.VRN, SettingsURL: settingsURL(mtdconnect.PurposeVAT), Flash: s.takeFlash(w, r)}
	receipts, err := s.vatReceipts(r, u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.Receipts = receipts
	ready, err := s.vatReady(r, u, page)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ready {
		s.render(w, r, http.StatusOK, "vat", "VAT returns", page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var obligations []vat.Obligation
	if err == nil {
		obligations, err = s.landlord.VATObligationsToShow(r.Context(), u.ID, origin)
	}
	if err != nil {
		p := s.logProblem(r, vatCall(err))
		page.Problem = vatProblemOf(p)
		s.render(w, r, p.Status, "vat", "Error: VAT returns", page)
		return
	}
	today := s.vatToday()
	selected := r.URL.Query().Get("period")
	var chosen *vat.Obligation
	for i, ob := range obligations {
		if ob.Open() && vatPeriodEnded(ob.End, today) && chosen == nil && (selected == "" || selected == ob.PeriodKey) {
			chosen = &obligations[i]
		}
	}
	for _, ob := range obligations {
		state := landlord.StateOf(!ob.Open(), false, ob.Due, today.Format(time.DateOnly), page.since)
		row := vatObligationRow{
			PeriodKey: ob.PeriodKey, Period: formatISODate(ob.Start) + " to " + formatISODate(ob.End),
			Due: formatISODate(ob.Due), Status: state.Label(), StatusCode: state.Tag(), Open: ob.Open(),
			Overdue:  state == landlord.StateOverdue,
			Ended:    vatPeriodEnded(ob.End, today),
			Selected: chosen != nil && ob.PeriodKey == chosen.PeriodKey && ob.Start == chosen.Start,
			FileLink: "/vat?period=" + url.QueryEscape(ob.PeriodKey) + "#return",
			ViewLink: vatReturnLink(ob.PeriodKey),
			EndsOn:   formatISODate(ob.End),
		}
		if state == landlord.StateReceived && ob.Received != "" {
			row.Received = formatISODate(ob.Received)
		}
		page.Obligations = append(page.Obligations, row)
	}
	if chosen != nil {
		page.Form = newVATForm(chosen.PeriodKey, chosen.Start, chosen.End)
	}
	s.render(w, r, http.StatusOK, "vat", "VAT returns", page)
}

// vatReceipts lists the landlord's VAT receipts, newest first.
func (s *Server) vatReceipts(r *http.Request, u *mtdconnect.User) ([]vatReceiptRow, error) {
	subs, err := s.vatReceiptList(r, u)
	if err != nil {
		return nil, err
	}
	var out []vatReceiptRow
	for _, sub := range subs {
		var rec vat.Receipt
		_ = json.Unmarshal(sub.Response, &rec) // an unreadable answer still lists the receipt
		out = append(out, vatReceiptRow{
			Link: "/vat/receipts/" + strconv.FormatInt(sub.ID, 10), PeriodKey: sub.Period, Period: periodOf(sub),
			SubmittedAt: s.formatTime(sub.SubmittedAt), FormBundle: rec.FormBundleNumber,
		})
	}
	return out, nil
}

// vatReceiptList is the landlord's VAT receipts, newest first.
func (s *Server) vatReceiptList(r *http.Request, u *mtdconnect.User) ([]*mtdconnect.Submission, error) {
	return s.landlord.Receipts(r.Context(), u.ID, landlord.ReceiptQuery{
		Purposes: []mtdconnect.Purpose{mtdconnect.PurposeVAT}, Kind: mtdconnect.SubmissionVATReturn, Limit: 50,
	})
}

// handleVATVRN saves the landlord's VAT registration number, normalised
// (spaces and a GB prefix removed). One that is not 9 digits changes
// nothing: the page comes back with what was typed and what is wrong.
func (s *Server) handleVATVRN(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	input := r.PostFormValue("vrn")
	vrn, err := mtdconnect.ParseVRN(input)
	if err != nil {
		var ve *mtdconnect.VRNError
		if !errors.As(err, &ve) {
			s.serverError(w, r, err)
			return
		}
		page := vatPage{VRN: u.VRN, VRNInput: input, VRNError: "Your VAT registration number " + ve.Problem + ".",
			SettingsURL: settingsURL(mtdconnect.PurposeVAT), FormOnly: true}
		if _, err := s.vatReady(r, u, &page); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, "vat", "Error: VAT returns", page)
		return
	}
	if vrn != u.VRN {
		updated := *u
		updated.VRN = vrn
		if err := s.store.UpdateUser(r.Context(), &updated); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.log.Info("vat registration number saved", "user_id", u.ID)
	}
	// Not in the flash cookie, which is signed, not encrypted: the page
	// shows the number.
	s.setFlash(w, flash{Kind: "success", Text: "Your VAT registration number is saved."})
	http.Redirect(w, r, "/vat", http.StatusSeeOther)
}

// handleVATSubmit files the return for one period. Bad figures come back
// next to their boxes and nothing is sent; a return HMRC accepts is
// recorded at once and its receipt shown (Post/Redirect/Get).
func (s *Server) handleVATSubmit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	key, start, end := r.PostFormValue("periodKey"), r.PostFormValue("start"), r.PostFormValue("end")
	startT, err1 := time.Parse(time.DateOnly, start)
	endT, err2 := time.Parse(time.DateOnly, end)
	if !vat.ValidPeriodKey(key) || err1 != nil || err2 != nil || endT.Before(startT) {
		s.serverError(w, r, errBadRequest)
		return
	}
	page := vatPage{VRN: u.VRN, SettingsURL: settingsURL(mtdconnect.PurposeVAT), FormOnly: true}
	form := newVATForm(key, start, end)
	page.Form = form
	again := func(status int) { s.render(w, r, status, "vat", "Error: VAT returns", page) }

	ready, err := s.vatReady(r, u, &page)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	ret := form.bind(r)
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
	if err == nil && len(ret.Validate()) == 0 && vatPeriodEnded(end, s.vatToday()) {
		// The period key and dates came from the page: they must be those
		// of one of HMRC's obligations, or nothing is sent (a fulfilled one
		// is HMRC's to refuse as a duplicate, with a link to the return). A return
		// HMRC would refuse, or one for a period not ended, is answered
		// first, without asking HMRC anything.
		var list *landlord.VATObligationList
		if list, err = s.landlord.VATObligations(r.Context(), u.ID, startT, endT, "", origin, ""); err == nil &&
			!slices.ContainsFunc(list.Obligations, func(ob vat.Obligation) bool { return ob.PeriodKey == key && ob.Start == start && ob.End == end }) {
			s.renderMessage(w, r, http.StatusBadRequest, message{Title: "This is not one of your VAT periods",
				Text: "HMRC has no VAT return for " + form.Period + " (period " + key + "). " +
					"Nothing was sent to HMRC. Go back to your VAT returns and choose the period there."})
			return
		}
	}
	if err != nil {
		p := s.logProblem(r, vatCall(err))
		page.Problem = vatProblemOf(p)
		again(p.Status)
		return
	}
	rec, sub, err := s.landlord.FileVATReturn(r.Context(), landlord.ByLandlord(u.ID), landlord.VATFiling{
		UserID: u.ID, Return: ret, PeriodStart: startT, PeriodEnd: endT, Origin: origin,
	})
	var lost *landlord.ReceiptError
	switch {
	case errors.As(err, &lost):
		// HMRC has the return; only our copy of the receipt is lost. Say
		// so, with HMRC's references, rather than inviting a resend.
		s.renderMessage(w, r, http.StatusOK, message{
			Title: "HMRC received your VAT return",
			Text: "HMRC received your VAT return for " + form.Period + ", but mtdconnect could not keep the receipt. " +
				"HMRC's form bundle number is " + rec.FormBundleNumber + " and its receipt ID " + rec.ReceiptID +
				": note them down. Do not send the return again.",
		})
	case len(hmrc.ValidationErrorsIn(err)) > 0:
		// Refused before it was sent: the declaration (the landlord's own
		// check, reported with the boxes' problems rather than only once
		// they are right), then each problem next to its box.
		if !ret.Finalised {
			form.fail("finalised", "Confirm the declaration to file the return")
		}
		for _, v := range hmrc.ValidationErrorsIn(err) {
			form.failValidation(ret, v.Code, v.Message, v.Paths)
		}
		again(http.StatusBadRequest)
	case err != nil:
		p := s.logProblem(r, &vatCallError{err: err, submit: true, periodEnd: end})
		if len(p.Errors) > 0 && p.Code != vat.CodeDuplicateSubmission {
			form.fail("", p.Message)
			for _, e := range p.Errors {
				form.failValidation(ret, e.Code, e.Message, e.Paths)
			}
		} else {
			page.Problem = vatProblemOf(p)
			if p.Code == vat.CodeDuplicateSubmission {
				page.Problem.ViewLink = vatReturnLink(key)
			}
		}
		again(p.Status)
	default:
		http.Redirect(w, r, "/vat/receipts/"+strconv.FormatInt(sub.ID, 10), http.StatusSeeOther)
	}
}

// vatBoxLine is one box of a return as the receipt and the view show it.
type vatBoxLine struct {
	Box           int
	Label, Amount string
}

func vatLines(ret *vat.Return) []vatBoxLine {
	var out []vatBoxLine
	for _, d := range vatBoxes {
		out = append(out, vatBoxLine{Box: d.n, Label: d.label, Amount: formatAmount(d.slot(ret))})
	}
	return out
}

// vatBalance says who pays whom, from boxes 3, 4 and 5.
func vatBalance(ret *vat.Return) string {
	switch {
	case ret.Payable():
		return "You owe HMRC " + formatAmount(&ret.NetVATDue) + "."
	case ret.Repayable():
		return "HMRC owes you " + formatAmount(&ret.NetVATDue) + "."
	}
	return "Nothing to pay and nothing to reclaim."
}

type vatReceiptPage struct {
	PeriodKey, Period, SubmittedAt, ProcessingDate                    string
	FormBundle, Payment, ChargeRef, ReceiptID, CorrelationID, Balance string
	ViewLink, Declaration                                             string
	Lines                                                             []vatBoxLine
}

// vatPaymentWords words HMRC's payment indicator.
func vatPaymentWords(indicator string) string {
	switch indicator {
	case "DD":
		return "HMRC will collect it by Direct Debit (DD)"
	case "BANK":
		return "HMRC will repay it into the bank account it holds for you (BANK)"
	case "":
		return "None"
	}
	return indicator
}

// handleVATReceipt shows one of the landlord's VAT receipts: what was
// sent and HMRC's references for it.
func (s *Server) handleVATReceipt(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	notFound := func() {
		s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such receipt", Text: "There is no VAT receipt at this address."})
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		notFound()
		return
	}
	sub, err := s.landlord.Receipt(r.Context(), u.ID, id, mtdconnect.SubmissionVATReturn)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var ret vat.Return
	if err := json.Unmarshal(sub.Body, &ret); err != nil {
		s.serverError(w, r, fmt.Errorf("vat receipt %d: %w", sub.ID, err))
		return
	}
	var rec vat.Receipt
	if len(sub.Response) > 0 {
		// HMRC filed the return even if its answer cannot be read: show
		// what there is.
		_ = json.Unmarshal(sub.Response, &rec)
	}
	page := vatReceiptPage{
		PeriodKey: sub.Period, Period: periodOf(sub), SubmittedAt: s.formatTime(sub.SubmittedAt),
		ProcessingDate: rec.ProcessingDate, FormBundle: rec.FormBundleNumber, Payment: vatPaymentWords(rec.PaymentIndicator),
		ChargeRef: rec.ChargeRefNumber, ReceiptID: sub.ReceiptID, CorrelationID: sub.CorrelationID,
		Balance: vatBalance(&ret), ViewLink: vatReturnLink(sub.Period), Lines: vatLines(&ret), Declaration: vatDeclaration,
	}
	if t, err := time.Parse(time.RFC3339Nano, rec.ProcessingDate); err == nil {
		page.ProcessingDate = s.formatTime(t)
	}
	s.render(w, r, http.StatusOK, "vat_receipt", "Receipt: VAT return", page)
}

type vatReturnPage struct {
	PeriodKey   string
	Problem     *vatProblem
	NeedVRN     bool
	NeedConnect bool
	Reconnect   string
	SettingsURL string
	Balance     string
	Lines       []vatBoxLine
	ReceiptLink string
}

// handleVATReturn shows the return HMRC holds for a period, as HMRC gives
// it back.
func (s *Server) handleVATReturn(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	key := r.PathValue("periodKey")
	if !vat.ValidPeriodKey(key) {
		s.renderMessage(w, r, http.StatusNotFound, message{Title: "No such period", Text: "There is no VAT period at this address."})
		return
	}
	page := vatReturnPage{PeriodKey: key, SettingsURL: settingsURL(mtdconnect.PurposeVAT), NeedVRN: u.VRN == ""}
	var vp vatPage
	ready, err := s.vatReady(r, u, &vp)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.NeedConnect, page.Reconnect = vp.NeedConnect, vp.Reconnect
	subs, err := s.vatReceiptList(r, u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for _, sub := range subs {
		if sub.Period == key {
			page.ReceiptLink = "/vat/receipts/" + strconv.FormatInt(sub.ID, 10)
			break
		}
	}
	if !ready {
		s.render(w, r, http.StatusConflict, "vat_return", "VAT return "+key, page)
		return
	}
	origin, err := s.browserOrigin(r, u)
	var ret *vat.Return
	if err == nil {
		ret, err = s.landlord.VATReturn(r.Context(), u.ID, key, origin, "")
	}
	if err != nil {
		p := s.logProblem(r, vatCall(err))
		page.Problem = vatProblemOf(p)
		s.render(w, r, p.Status, "vat_return", "Error: VAT return "+key, page)
		return
	}
	page.Lines, page.Balance = vatLines(ret), vatBalance(ret)
	s.render(w, r, http.StatusOK, "vat_return", "VAT return "+key, page)
}
