package vat

// Local validation of VAT (MTD) v1.0 requests, mirroring HMRC's own
// validators (vat-api app/v1/controllers/requestParsers/validators:
// SubmitReturnValidator, ObligationParameterFormatValidation,
// DateRangeValidation, PeriodKeyValidation) so that a request HMRC would
// reject for its shape or its sums is never sent. Codes, messages and
// JSON-pointer paths are HMRC's.

import (
	"cmp"
	"fmt"
	"regexp"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// VAT (MTD) error codes: the local checks below give the validation ones,
// HMRC gives all of them.
const (
	CodeVRNInvalid            = "VRN_INVALID"
	CodePeriodKeyInvalid      = "PERIOD_KEY_INVALID"
	CodeMandatoryFieldMissing = "MANDATORY_FIELD_MISSING"
	CodeInvalidMonetaryAmount = "INVALID_MONETARY_AMOUNT"
	CodeTotalValue            = "VAT_TOTAL_VALUE"
	CodeNetValue              = "VAT_NET_VALUE"
	CodeNotFinalised          = "NOT_FINALISED"
	CodeInvalidDateFrom       = "INVALID_DATE_FROM"
	CodeInvalidDateTo         = "INVALID_DATE_TO"
	CodeInvalidDateRange      = "INVALID_DATE_RANGE"
	CodeInvalidStatus         = "INVALID_STATUS"
	CodeMissingDateRange      = "MISSING_DATE_RANGE"
	CodeDuplicateSubmission   = "DUPLICATE_SUBMISSION"
	CodeTaxPeriodNotEnded     = "TAX_PERIOD_NOT_ENDED"
	CodeNotFound              = "NOT_FOUND"
	CodeClientNotAuthorised   = "CLIENT_OR_AGENT_NOT_AUTHORISED"
	CodeInsolventTrader       = "RULE_INSOLVENT_TRADER"
	CodeDateRangeTooLarge     = "DATE_RANGE_TOO_LARGE"
	CodeInvalidRequest        = "INVALID_REQUEST"
	CodeBusinessError         = "BUSINESS_ERROR"
)

// HMRC's messages and limits (SubmitReturnValidator, submitReturnErrors.scala).
const (
	msgMoney13             = "amount should be a monetary value (to 2 decimal places), between -9,999,999,999,999.99 and 9,999,999,999,999.99"
	msgMoneyNet            = "amount should be a monetary value (to 2 decimal places), between 0 and 99,999,999,999.99"
	msgMoneyWhole          = "The value must be between -9999999999999 and 9999999999999"
	msgMandatory           = "a mandatory field is missing"
	msgBodyPeriodKey       = "period key should be a 4 character string"
	msgTotal               = "totalVatDue should be equal to vatDueSales + vatDueAcquisitions"
	msgNet                 = "netVatDue should be the difference between the largest and the smallest values among totalVatDue and vatReclaimedCurrPeriod"
	msgNotFinalised        = "The return cannot be accepted without a declaration it is finalised."
	max13Pence       int64 = 999999999999999 // boxes 1–4: ±9,999,999,999,999.99
	maxNetPence      int64 = 9999999999999   // box 5: 0..99,999,999,999.99
	maxWholePence    int64 = 999999999999900 // boxes 6–9: ±9,999,999,999,999
)

// Obligation statuses in the VAT API's query and answer.
const (
	StatusOpen      = "O"
	StatusFulfilled = "F"
)

var periodKeyPattern = regexp.MustCompile(`^[#0-9A-Z]{4}$`)

// ValidPeriodKey reports whether key has HMRC's period key form: four
// characters of A–Z, 0–9 and #, e.g. "18A1" or "#001".
func ValidPeriodKey(key string) bool { return periodKeyPattern.MatchString(key) }

// Return is the nine-box VAT return, as HMRC's Submit VAT return takes it
// and View VAT return gives it back. Boxes 1 to 5 are pounds with at most 2
// decimal places; boxes 6 to 9 are whole pounds. Build amounts with
// mtdconnect.Pence or mtdconnect.ParseAmount; a zero Amount is a missing box.
type Return struct {
	PeriodKey string `json:"periodKey"`
	// Box 1: VAT due on sales and other outputs.
	VATDueSales mtdconnect.Amount `json:"vatDueSales"`
	// Box 2: VAT due on acquisitions from other EC member states.
	VATDueAcquisitions mtdconnect.Amount `json:"vatDueAcquisitions"`
	// Box 3: total VAT due, box 1 + box 2.
	TotalVATDue mtdconnect.Amount `json:"totalVatDue"`
	// Box 4: VAT reclaimed on purchases and other inputs.
	VATReclaimedCurrPeriod mtdconnect.Amount `json:"vatReclaimedCurrPeriod"`
	// Box 5: net VAT, |box 3 − box 4|, never negative: HMRC works out
	// from boxes 3 and 4 whether it is to pay or to be repaid.
	NetVATDue mtdconnect.Amount `json:"netVatDue"`
	// Box 6: total value of sales and outputs excluding VAT, whole pounds.
	TotalValueSalesExVAT mtdconnect.Amount `json:"totalValueSalesExVAT"`
	// Box 7: total value of purchases and inputs excluding VAT, whole pounds.
	TotalValuePurchasesExVAT mtdconnect.Amount `json:"totalValuePurchasesExVAT"`
	// Box 8: total value of supplies of goods to EC member states, whole pounds.
	TotalValueGoodsSuppliedExVAT mtdconnect.Amount `json:"totalValueGoodsSuppliedExVAT"`
	// Box 9: total value of acquisitions of goods from EC member states, whole pounds.
	TotalAcquisitionsExVAT mtdconnect.Amount `json:"totalAcquisitionsExVAT"`
	// Finalised is the landlord's declaration that the return is final;
	// HMRC refuses a return without it. View VAT return does not send it
	// back; Return (the call) sets it, as HMRC holds only final returns.
	Finalised bool `json:"finalised"`
}

// box names one amount of a return for the checks.
type box struct {
	a    mtdconnect.Amount
	name string // HMRC's field name
	kind boxKind
}

type boxKind int

const (
	boxPence boxKind = iota // boxes 1–4
	boxNet                  // box 5
	boxWhole                // boxes 6–9
)

func (r Return) boxes() []box {
	return []box{
		{r.VATDueSales, "vatDueSales", boxPence},
		{r.VATDueAcquisitions, "vatDueAcquisitions", boxPence},
		{r.TotalVATDue, "totalVatDue", boxPence},
		{r.VATReclaimedCurrPeriod, "vatReclaimedCurrPeriod", boxPence},
		{r.NetVATDue, "netVatDue", boxNet},
		{r.TotalValueSalesExVAT, "totalValueSalesExVAT", boxWhole},
		{r.TotalValuePurchasesExVAT, "totalValuePurchasesExVAT", boxWhole},
		{r.TotalValueGoodsSuppliedExVAT, "totalValueGoodsSuppliedExVAT", boxWhole},
		{r.TotalAcquisitionsExVAT, "totalAcquisitionsExVAT", boxWhole},
	}
}

// errAt builds a validation error at a JSON pointer.
func errAt(code, message, field string) *hmrc.ValidationError {
	return &hmrc.ValidationError{Code: code, Message: message, Paths: []string{"/" + field}}
}

// Validate checks the return as HMRC would and returns nil when HMRC would
// accept it. HMRC checks in levels and reports only the first level with
// problems; so does Validate for the fields (a missing box, a box with more
// decimal places or out of its range, a malformed period key), because
// sums of malformed amounts mean nothing. Once the fields are right, the
// sums (box 3 = box 1 + box 2: VAT_TOTAL_VALUE; box 5 = |box 3 − box 4|:
// VAT_NET_VALUE) and the declaration (NOT_FINALISED) are reported
// together, so a landlord sees every remaining problem at once. Each error
// carries the field's JSON pointer, e.g. "/totalVatDue".
func (r Return) Validate() []*hmrc.ValidationError {
	var errs []*hmrc.ValidationError
	boxes := r.boxes()
	if r.PeriodKey == "" {
		errs = append(errs, errAt(CodeMandatoryFieldMissing, msgMandatory, "periodKey"))
	}
	for _, b := range boxes {
		if !b.a.Valid() {
			errs = append(errs, errAt(CodeMandatoryFieldMissing, msgMandatory, b.name))
			continue
		}
		if msg := boxProblem(b.kind, b.a); msg != "" {
			errs = append(errs, errAt(CodeInvalidMonetaryAmount, msg, b.name))
		}
	}
	if r.PeriodKey != "" && !ValidPeriodKey(r.PeriodKey) {
		errs = append(errs, errAt(CodePeriodKeyInvalid, msgBodyPeriodKey, "periodKey"))
	}
	if len(errs) > 0 {
		return errs
	}
	var p [5]int64 // boxes 1 to 5, all valid now
	for i := range p {
		p[i], _ = boxes[i].a.Pence()
	}
	box1, box2, box3, box4, box5 := p[0], p[1], p[2], p[3], p[4]
	if abs(box3-box4) != box5 {
		errs = append(errs, errAt(CodeNetValue, msgNet, "netVatDue"))
	}
	if box1+box2 != box3 {
		errs = append(errs, errAt(CodeTotalValue, msgTotal, "totalVatDue"))
	}
	if !r.Finalised {
		errs = append(errs, errAt(CodeNotFinalised, msgNotFinalised, "finalised"))
	}
	return errs
}

// boxProblem is HMRC's message for an amount its box does not take, ""
// when it is fine. Boxes 1–5 are judged on their written scale, as HMRC
// does: "1.000" is refused although it is a whole number of pence.
func boxProblem(kind boxKind, a mtdconnect.Amount) string {
	p, ok := a.Pence()
	switch kind {
	case boxPence:
		if !ok || a.Scale() > 2 || abs(p) > max13Pence {
			return msgMoney13
		}
	case boxNet:
		if !ok || a.Scale() > 2 || p < 0 || p > maxNetPence {
			return msgMoneyNet
		}
	case boxWhole:
		if !ok || p%100 != 0 || abs(p) > maxWholePence {
			return msgMoneyWhole
		}
	}
	return ""
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// FillTotals sets box 3 to box 1 + box 2 and box 5 to |box 3 − box 4|, for
// forms that let the landlord enter boxes 1, 2 and 4 only. It fails,
// changing nothing, when one of those three is missing or not a valid
// amount for its box.
func (r *Return) FillTotals() error {
	var pence [3]int64
	for i, b := range []box{
		{r.VATDueSales, "vatDueSales", boxPence},
		{r.VATDueAcquisitions, "vatDueAcquisitions", boxPence},
		{r.VATReclaimedCurrPeriod, "vatReclaimedCurrPeriod", boxPence},
	} {
		if !b.a.Valid() {
			return errAt(CodeMandatoryFieldMissing, msgMandatory, b.name)
		}
		if msg := boxProblem(b.kind, b.a); msg != "" {
			return errAt(CodeInvalidMonetaryAmount, msg, b.name)
		}
		pence[i], _ = b.a.Pence()
	}
	total := pence[0] + pence[1]
	if abs(total) > max13Pence || abs(total-pence[2]) > maxNetPence {
		return errAt(CodeInvalidMonetaryAmount, "box 3 or box 5 would be outside HMRC's range", "totalVatDue")
	}
	r.TotalVATDue = *mtdconnect.Pence(total)
	r.NetVATDue = *mtdconnect.Pence(abs(total - pence[2]))
	return nil
}

// Payable reports whether the return leaves VAT to pay (box 3 above box 4);
// Repayable whether HMRC owes the landlord (box 3 below box 4). Both are
// false for a return whose boxes 3 and 4 are not valid amounts.
func (r Return) Payable() bool { return r.compare34() > 0 }

// Repayable: see Payable.
func (r Return) Repayable() bool { return r.compare34() < 0 }

func (r Return) compare34() int {
	a, okA := r.TotalVATDue.Pence()
	b, okB := r.VATReclaimedCurrPeriod.Pence()
	if !okA || !okB {
		return 0
	}
	return cmp.Compare(a, b)
}

// obligationsQuery checks an obligations query as HMRC's VAT service does
// (ObligationParameterFormatValidation, then DateRangeValidation) before
// anything is sent, and returns its query parameters. from and to (dates,
// or zero for none) are required together: with neither, status "O" asks
// for every open obligation, "F" is MISSING_DATE_RANGE and none
// INVALID_DATE_FROM; one alone is INVALID_DATE_TO (to missing) or
// INVALID_DATE_FROM. With both, from must be before to, and to no later
// than from plus one year (INVALID_DATE_RANGE): 366 days with both ends
// counted, 367 across a 29 February. status is "", "O" or "F". Dates are
// read in their own location.
func obligationsQuery(from, to time.Time, status string) (map[string]string, error) {
	fail := func(code, msg string) (map[string]string, error) {
		return nil, &hmrc.ValidationError{Code: code, Message: msg}
	}
	statusOK := status == "" || status == StatusOpen || status == StatusFulfilled
	q := map[string]string{}
	if status != "" {
		q["status"] = status
	}
	switch {
	case from.IsZero() && to.IsZero():
		switch status {
		case StatusOpen:
			return q, nil
		case StatusFulfilled:
			return fail(CodeMissingDateRange, "from and to dates are required for fulfilled obligations")
		case "":
			return fail(CodeInvalidDateFrom, "from and to dates are required unless only open obligations (status O) are asked for")
		}
		return fail(CodeInvalidStatus, fmt.Sprintf("status must be O (open) or F (fulfilled), or empty for both, not %q", status))
	case to.IsZero():
		return fail(CodeInvalidDateTo, "a to date is required with a from date")
	case from.IsZero():
		return fail(CodeInvalidDateFrom, "a from date is required with a to date")
	case !statusOK:
		return fail(CodeInvalidStatus, fmt.Sprintf("status must be O (open) or F (fulfilled), or empty for both, not %q", status))
	}
	f, t := civil(from), civil(to)
	if !f.Before(t) || plusYear(f).Before(t) {
		return fail(CodeInvalidDateRange, fmt.Sprintf("the from date must be before the to date, and the to date no later than one year after it (%s to %s)",
			f.Format(time.DateOnly), t.Format(time.DateOnly)))
	}
	q["from"], q["to"] = f.Format(time.DateOnly), t.Format(time.DateOnly)
	return q, nil
}

// plusYear is d one year later as Java's LocalDate.plusYears(1) makes it:
// 29 February becomes 28 February.
func plusYear(d time.Time) time.Time {
	if d.Month() == time.February && d.Day() == 29 {
		return time.Date(d.Year()+1, time.February, 28, 0, 0, 0, 0, d.Location())
	}
	return d.AddDate(1, 0, 0)
}

// civil is t's calendar date, in t's location, as midnight UTC.
func civil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
