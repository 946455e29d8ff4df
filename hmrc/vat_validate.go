package hmrc

// Local validation of VAT (MTD) v1.0 requests, mirroring HMRC's own
// validators (vat-api app/v1/controllers/requestParsers/validators:
// SubmitReturnValidator, ObligationParameterFormatValidation,
// DateRangeValidation, PeriodKeyValidation) so that a request HMRC would
// reject for its shape or its sums is never sent. Codes, messages and
// JSON-pointer paths are HMRC's.

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// VAT (MTD) error codes: the local checks below give the validation ones,
// HMRC gives all of them.
const (
	CodeVRNInvalid               = "VRN_INVALID"
	CodeVATPeriodKeyInvalid      = "PERIOD_KEY_INVALID"
	CodeVATMandatoryFieldMissing = "MANDATORY_FIELD_MISSING"
	CodeVATInvalidMonetaryAmount = "INVALID_MONETARY_AMOUNT"
	CodeVATTotalValue            = "VAT_TOTAL_VALUE"
	CodeVATNetValue              = "VAT_NET_VALUE"
	CodeVATNotFinalised          = "NOT_FINALISED"
	CodeVATInvalidDateFrom       = "INVALID_DATE_FROM"
	CodeVATInvalidDateTo         = "INVALID_DATE_TO"
	CodeVATInvalidDateRange      = "INVALID_DATE_RANGE"
	CodeVATInvalidStatus         = "INVALID_STATUS"
	CodeVATDuplicateSubmission   = "DUPLICATE_SUBMISSION"
	CodeVATTaxPeriodNotEnded     = "TAX_PERIOD_NOT_ENDED"
	CodeVATNotFound              = "NOT_FOUND"
	CodeVATClientNotAuthorised   = "CLIENT_OR_AGENT_NOT_AUTHORISED"
	CodeVATInsolventTrader       = "RULE_INSOLVENT_TRADER"
	CodeVATDateRangeTooLarge     = "DATE_RANGE_TOO_LARGE"
	CodeVATInvalidRequest        = "INVALID_REQUEST"
	CodeVATBusinessError         = "BUSINESS_ERROR"
)

// HMRC's messages and limits (SubmitReturnValidator, submitReturnErrors.scala).
const (
	vatMsgMoney13             = "amount should be a monetary value (to 2 decimal places), between -9,999,999,999,999.99 and 9,999,999,999,999.99"
	vatMsgMoneyNet            = "amount should be a monetary value (to 2 decimal places), between 0 and 99,999,999,999.99"
	vatMsgMoneyWhole          = "The value must be between -9999999999999 and 9999999999999"
	vatMsgMandatory           = "a mandatory field is missing"
	vatMsgBodyPeriodKey       = "period key should be a 4 character string"
	vatMsgTotal               = "totalVatDue should be equal to vatDueSales + vatDueAcquisitions"
	vatMsgNet                 = "netVatDue should be the difference between the largest and the smallest values among totalVatDue and vatReclaimedCurrPeriod"
	vatMsgNotFinalised        = "The return cannot be accepted without a declaration it is finalised."
	vatMaxDays                = 366             // an obligations query spans at most 366 days, both ends counted
	vatMax13Pence       int64 = 999999999999999 // boxes 1–4: ±9,999,999,999,999.99
	vatMaxNetPence      int64 = 9999999999999   // box 5: 0..99,999,999,999.99
	vatMaxWholePence    int64 = 999999999999900 // boxes 6–9: ±9,999,999,999,999
)

// Obligation statuses in the VAT API's query and answer.
const (
	VATStatusOpen      = "O"
	VATStatusFulfilled = "F"
)

var vatPeriodKeyPattern = regexp.MustCompile(`^[#0-9A-Z]{4}$`)

// ValidVATPeriodKey reports whether key has HMRC's period key form: four
// characters of A–Z, 0–9 and #, e.g. "18A1" or "#001".
func ValidVATPeriodKey(key string) bool { return vatPeriodKeyPattern.MatchString(key) }

// VATReturn is the nine-box VAT return, as HMRC's Submit VAT return takes it
// and View VAT return gives it back. Boxes 1 to 5 are pounds with at most 2
// decimal places; boxes 6 to 9 are whole pounds. Build amounts with Pence or
// ParseAmount; a zero Amount is a missing box.
type VATReturn struct {
	PeriodKey string `json:"periodKey"`
	// Box 1: VAT due on sales and other outputs.
	VATDueSales Amount `json:"vatDueSales"`
	// Box 2: VAT due on acquisitions from other EC member states.
	VATDueAcquisitions Amount `json:"vatDueAcquisitions"`
	// Box 3: total VAT due, box 1 + box 2.
	TotalVATDue Amount `json:"totalVatDue"`
	// Box 4: VAT reclaimed on purchases and other inputs.
	VATReclaimedCurrPeriod Amount `json:"vatReclaimedCurrPeriod"`
	// Box 5: net VAT, |box 3 − box 4|, never negative: HMRC works out
	// from boxes 3 and 4 whether it is to pay or to be repaid.
	NetVATDue Amount `json:"netVatDue"`
	// Box 6: total value of sales and outputs excluding VAT, whole pounds.
	TotalValueSalesExVAT Amount `json:"totalValueSalesExVAT"`
	// Box 7: total value of purchases and inputs excluding VAT, whole pounds.
	TotalValuePurchasesExVAT Amount `json:"totalValuePurchasesExVAT"`
	// Box 8: total value of supplies of goods to EC member states, whole pounds.
	TotalValueGoodsSuppliedExVAT Amount `json:"totalValueGoodsSuppliedExVAT"`
	// Box 9: total value of acquisitions of goods from EC member states, whole pounds.
	TotalAcquisitionsExVAT Amount `json:"totalAcquisitionsExVAT"`
	// Finalised is the landlord's declaration that the return is final;
	// HMRC refuses a return without it. View VAT return does not send it
	// back; VATReturn (the call) sets it, as HMRC holds only final returns.
	Finalised bool `json:"finalised"`
}

// vatBox names one amount of a return for the checks.
type vatBox struct {
	a    Amount
	name string // HMRC's field name
	kind vatBoxKind
}

type vatBoxKind int

const (
	vatBoxPence vatBoxKind = iota // boxes 1–4
	vatBoxNet                     // box 5
	vatBoxWhole                   // boxes 6–9
)

func (r VATReturn) boxes() []vatBox {
	return []vatBox{
		{r.VATDueSales, "vatDueSales", vatBoxPence},
		{r.VATDueAcquisitions, "vatDueAcquisitions", vatBoxPence},
		{r.TotalVATDue, "totalVatDue", vatBoxPence},
		{r.VATReclaimedCurrPeriod, "vatReclaimedCurrPeriod", vatBoxPence},
		{r.NetVATDue, "netVatDue", vatBoxNet},
		{r.TotalValueSalesExVAT, "totalValueSalesExVAT", vatBoxWhole},
		{r.TotalValuePurchasesExVAT, "totalValuePurchasesExVAT", vatBoxWhole},
		{r.TotalValueGoodsSuppliedExVAT, "totalValueGoodsSuppliedExVAT", vatBoxWhole},
		{r.TotalAcquisitionsExVAT, "totalAcquisitionsExVAT", vatBoxWhole},
	}
}

// vatErr builds a validation error at a JSON pointer.
func vatErr(code, message, field string) ValidationError {
	return ValidationError{Code: code, Message: message, Paths: []string{"/" + field}}
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
func (r VATReturn) Validate() []ValidationError {
	var errs []ValidationError
	boxes := r.boxes()
	if r.PeriodKey == "" {
		errs = append(errs, vatErr(CodeVATMandatoryFieldMissing, vatMsgMandatory, "periodKey"))
	}
	nums := make([]decimal, len(boxes))
	for i, b := range boxes {
		n, ok := parseDecimal(b.a.text)
		if !ok {
			errs = append(errs, vatErr(CodeVATMandatoryFieldMissing, vatMsgMandatory, b.name))
			continue
		}
		nums[i] = n
		if msg := vatBoxProblem(b.kind, n); msg != "" {
			errs = append(errs, vatErr(CodeVATInvalidMonetaryAmount, msg, b.name))
		}
	}
	if r.PeriodKey != "" && !ValidVATPeriodKey(r.PeriodKey) {
		errs = append(errs, vatErr(CodeVATPeriodKeyInvalid, vatMsgBodyPeriodKey, "periodKey"))
	}
	if len(errs) > 0 {
		return errs
	}
	box1, box2, box3, box4, box5 := nums[0].pence, nums[1].pence, nums[2].pence, nums[3].pence, nums[4].pence
	if vatAbs(box3-box4) != box5 {
		errs = append(errs, vatErr(CodeVATNetValue, vatMsgNet, "netVatDue"))
	}
	if box1+box2 != box3 {
		errs = append(errs, vatErr(CodeVATTotalValue, vatMsgTotal, "totalVatDue"))
	}
	if !r.Finalised {
		errs = append(errs, vatErr(CodeVATNotFinalised, vatMsgNotFinalised, "finalised"))
	}
	return errs
}

// vatBoxProblem is HMRC's message for an amount its box does not take, ""
// when it is fine. Boxes 1–5 are judged on their written scale, as HMRC
// does: "1.000" is refused although it is a whole number of pence.
func vatBoxProblem(kind vatBoxKind, n decimal) string {
	switch kind {
	case vatBoxPence:
		if n.scale > 2 || !n.inPence || vatAbs(n.pence) > vatMax13Pence {
			return vatMsgMoney13
		}
	case vatBoxNet:
		if n.scale > 2 || !n.inPence || n.pence < 0 || n.pence > vatMaxNetPence {
			return vatMsgMoneyNet
		}
	case vatBoxWhole:
		if !n.whole || !n.inPence || vatAbs(n.pence) > vatMaxWholePence {
			return vatMsgMoneyWhole
		}
	}
	return ""
}

func vatAbs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// FillTotals sets box 3 to box 1 + box 2 and box 5 to |box 3 − box 4|, for
// forms that let the landlord enter boxes 1, 2 and 4 only. It fails,
// changing nothing, when one of those three is missing or not a valid
// amount for its box.
func (r *VATReturn) FillTotals() error {
	var pence [3]int64
	for i, b := range []vatBox{
		{r.VATDueSales, "vatDueSales", vatBoxPence},
		{r.VATDueAcquisitions, "vatDueAcquisitions", vatBoxPence},
		{r.VATReclaimedCurrPeriod, "vatReclaimedCurrPeriod", vatBoxPence},
	} {
		n, ok := parseDecimal(b.a.text)
		if !ok {
			e := vatErr(CodeVATMandatoryFieldMissing, vatMsgMandatory, b.name)
			return &e
		}
		if msg := vatBoxProblem(b.kind, n); msg != "" {
			e := vatErr(CodeVATInvalidMonetaryAmount, msg, b.name)
			return &e
		}
		pence[i] = n.pence
	}
	total := pence[0] + pence[1]
	if vatAbs(total) > vatMax13Pence || vatAbs(total-pence[2]) > vatMaxNetPence {
		e := vatErr(CodeVATInvalidMonetaryAmount, "box 3 or box 5 would be outside HMRC's range", "totalVatDue")
		return &e
	}
	r.TotalVATDue = *Pence(total)
	r.NetVATDue = *Pence(vatAbs(total - pence[2]))
	return nil
}

// Payable reports whether the return leaves VAT to pay (box 3 above box 4);
// Repayable whether HMRC owes the landlord (box 3 below box 4). Both are
// false for a return whose boxes 3 and 4 are not valid amounts.
func (r VATReturn) Payable() bool { return r.compare34() > 0 }

// Repayable: see Payable.
func (r VATReturn) Repayable() bool { return r.compare34() < 0 }

func (r VATReturn) compare34() int {
	a, okA := parseDecimal(r.TotalVATDue.text)
	b, okB := parseDecimal(r.VATReclaimedCurrPeriod.text)
	if !okA || !okB || !a.inPence || !b.inPence {
		return 0
	}
	switch {
	case a.pence > b.pence:
		return 1
	case a.pence < b.pence:
		return -1
	}
	return 0
}

// vatObligationsQuery checks an obligations query as HMRC does before
// anything is sent: from and to (dates, or zero for none) are required
// together, unless status is "O" and both are zero; they span 366 days at
// most, both counted, and to is not before from; status is "", "O" or "F".
// Dates are read in their own location. It returns the query parameters.
func vatObligationsQuery(from, to time.Time, status string) (map[string]string, error) {
	var errs []error
	fail := func(code, msg string) {
		e := ValidationError{Code: code, Message: msg}
		errs = append(errs, &e)
	}
	if status != "" && status != VATStatusOpen && status != VATStatusFulfilled {
		fail(CodeVATInvalidStatus, fmt.Sprintf("status must be O (open) or F (fulfilled), or empty for both, not %q", status))
	}
	q := map[string]string{}
	if status != "" {
		q["status"] = status
	}
	switch {
	case from.IsZero() && to.IsZero():
		if status != VATStatusOpen {
			fail(CodeVATInvalidDateFrom, "from and to dates are required unless only open obligations (status O) are asked for")
		}
	case from.IsZero():
		fail(CodeVATInvalidDateFrom, "a from date is required with a to date")
	case to.IsZero():
		fail(CodeVATInvalidDateTo, "a to date is required with a from date")
	default:
		f, t := vatCivil(from), vatCivil(to)
		days := int(t.Sub(f).Hours()/24) + 1
		if days < 1 || days > vatMaxDays {
			fail(CodeVATInvalidDateRange, fmt.Sprintf("the to date must not be before the from date, and the range must be at most %d days (it is %d)", vatMaxDays, days))
		}
		q["from"], q["to"] = f.Format(time.DateOnly), t.Format(time.DateOnly)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return q, nil
}

// vatCivil is t's calendar date, in t's location, as midnight UTC.
func vatCivil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// HasErrorCode reports whether err, or an error it wraps or joins, carries
// HMRC's code: an *APIError's own code or one of its Errors (HMRC wraps
// some VAT errors, e.g. DUPLICATE_SUBMISSION inside BUSINESS_ERROR), or a
// local ValidationError's.
func HasErrorCode(err error, code string) bool {
	found := false
	vatWalk(err, func(e error) {
		switch x := e.(type) {
		case *APIError:
			found = found || x.Code == code || slices.ContainsFunc(x.Errors, func(it APIErrorItem) bool { return it.Code == code })
		case *ValidationError:
			found = found || x.Code == code
		case ValidationError:
			found = found || x.Code == code
		}
	})
	return found
}

func vatWalk(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			vatWalk(e, visit)
		}
	case interface{ Unwrap() error }:
		vatWalk(u.Unwrap(), visit)
	}
}
