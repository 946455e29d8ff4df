package itsa

// Local validation of Income Tax (MTD) requests, mirroring HMRC's own
// validators (property-business-api v6.0: ResolveTaxYear, ResolveBusinessId,
// ResolveParsedNumber, ResolveFromAndToDates, DateValidator,
// ResolveNonEmptyJsonObject and Def1_CreateUkPropertyCumulativeSummaryRulesValidator)
// so that a request HMRC would reject for its shape is never sent. Codes,
// messages and JSON-pointer paths are HMRC's.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	// Tax years and HMRC's dates are UK calendar dates: the zone must be
	// there even on a host (or container) without a zone database.
	_ "time/tzdata"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// HMRC error codes and messages used here.
const (
	CodeFormatTaxYear            = "FORMAT_TAX_YEAR"
	CodeRuleTaxYearRangeInvalid  = "RULE_TAX_YEAR_RANGE_INVALID"
	CodeRuleTaxYearNotSupported  = "RULE_TAX_YEAR_NOT_SUPPORTED"
	CodeFormatBusinessID         = "FORMAT_BUSINESS_ID"
	CodeFormatValue              = "FORMAT_VALUE"
	CodeFormatFromDate           = "FORMAT_FROM_DATE"
	CodeFormatToDate             = "FORMAT_TO_DATE"
	CodeRuleToDateBeforeFromDate = "RULE_TO_DATE_BEFORE_FROM_DATE"
	CodeRuleMissingSubmission    = "RULE_MISSING_SUBMISSION_DATES"
	CodeRuleBothExpenses         = "RULE_BOTH_EXPENSES_SUPPLIED"
	CodeRuleIncorrectOrEmptyBody = "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"

	// The Obligations API's date range codes (ObligationsDateRangeSupport).
	CodeRangeToDateBeforeFromDate = "RANGE_TO_DATE_BEFORE_FROM_DATE"
	CodeRuleFromDateNotSupported  = "RULE_FROM_DATE_NOT_SUPPORTED"
	CodeRuleDateRangeInvalid      = "RULE_DATE_RANGE_INVALID"
)

var (
	errTaxYearFormat  = hmrc.ValidationError{Code: CodeFormatTaxYear, Message: "The provided tax year is invalid"}
	errTaxYearRange   = hmrc.ValidationError{Code: CodeRuleTaxYearRangeInvalid, Message: "A tax year range of one year is required"}
	errTaxYearNotSupp = hmrc.ValidationError{Code: CodeRuleTaxYearNotSupported, Message: "The tax year specified does not lie within the supported range"}
	errBusinessID     = hmrc.ValidationError{Code: CodeFormatBusinessID, Message: "The provided Business ID is invalid"}
	errFromDate       = hmrc.ValidationError{Code: CodeFormatFromDate, Message: "The provided From date is invalid"}
	errToDate         = hmrc.ValidationError{Code: CodeFormatToDate, Message: "The provided To date is invalid"}
	errToBeforeFrom   = hmrc.ValidationError{Code: CodeRuleToDateBeforeFromDate, Message: "The To date cannot be earlier than the From date"}
	errMissingDates   = hmrc.ValidationError{Code: CodeRuleMissingSubmission, Message: "Submission start/end date not provided"}
	errBothExpenses   = hmrc.ValidationError{Code: CodeRuleBothExpenses, Message: "Both expenses and consolidatedExpenses can not be present at the same time"}
	errEmptyBody      = hmrc.ValidationError{Code: CodeRuleIncorrectOrEmptyBody, Message: "An empty or non-matching body was submitted"}

	// Obligations (obligations-api CommonMtdErrors.scala).
	errOblToBeforeFrom  = hmrc.ValidationError{Code: CodeRangeToDateBeforeFromDate, Message: "The To date must be after the From date"}
	errOblFromNotSupp   = hmrc.ValidationError{Code: CodeRuleFromDateNotSupported, Message: "The specified from date is not supported as too early"}
	errOblToDate        = hmrc.ValidationError{Code: CodeFormatToDate, Message: "The provided toDate is invalid"}
	errOblRangeInvalid  = hmrc.ValidationError{Code: CodeRuleDateRangeInvalid, Message: "The specified date range is invalid"}
	obligationsEarliest = time.Date(2018, time.April, 6, 0, 0, 0, 0, time.UTC)
	obligationsLatest   = time.Date(2099, time.December, 31, 0, 0, 0, 0, time.UTC)
	obligationsMaxDays  = 366
)

// CheckObligationsDateRange checks an Obligations v3.0 date range as HMRC's
// service does (ObligationsDateRangeSupport), every rule together: to not
// before from (RANGE_TO_DATE_BEFORE_FROM_DATE), from not before 6 April
// 2018 (RULE_FROM_DATE_NOT_SUPPORTED), to not after 2099
// (FORMAT_TO_DATE), and to strictly less than from + 366 days and not from
// itself (RULE_DATE_RANGE_INVALID). Dates are read as calendar dates in
// their own location. Nil when HMRC would accept it.
func CheckObligationsDateRange(from, to time.Time) []*hmrc.ValidationError {
	from, to = civilDate(from), civilDate(to)
	var errs []*hmrc.ValidationError
	if to.Before(from) {
		errs = append(errs, errOf(errOblToBeforeFrom))
	}
	if from.Before(obligationsEarliest) {
		errs = append(errs, errOf(errOblFromNotSupp))
	}
	if to.After(obligationsLatest) {
		errs = append(errs, errOf(errOblToDate))
	}
	if !to.Before(from.AddDate(0, 0, obligationsMaxDays)) || to.Equal(from) {
		errs = append(errs, errOf(errOblRangeInvalid))
	}
	return merge(errs)
}

// civilDate is t's calendar date, in t's location, as midnight UTC.
func civilDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// errOf is a copy of one of the errors above, at paths.
func errOf(base hmrc.ValidationError, paths ...string) *hmrc.ValidationError {
	base.Paths = paths
	return &base
}

// TaxYear is a UK tax year, held as the calendar year it starts in: TaxYear(2025)
// is 2025-26, 6 April 2025 to 5 April 2026.
type TaxYear int

// CumulativeFirstTaxYear is the first tax year of cumulative quarterly
// updates (Property Business v6.0 cumulative summary).
const CumulativeFirstTaxYear TaxYear = 2025

var taxYearPattern = regexp.MustCompile(`^20([1-9][0-9])-([1-9][0-9])$`)

// ParseTaxYear parses HMRC's YYYY-YY form, e.g. "2025-26". A malformed value
// gives a *hmrc.ValidationError with code FORMAT_TAX_YEAR; a span other than one
// year ("2025-27") gives RULE_TAX_YEAR_RANGE_INVALID.
func ParseTaxYear(s string) (TaxYear, error) {
	m := taxYearPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, errOf(errTaxYearFormat)
	}
	start, _ := strconv.Atoi(m[1])
	end, _ := strconv.Atoi(m[2])
	if end != start+1 {
		return 0, errOf(errTaxYearRange)
	}
	return TaxYear(2000 + start), nil
}

// CurrentTaxYear is the UK tax year containing t, judged by the UK calendar
// date (Europe/London): a tax year runs from 6 April to 5 April.
func CurrentTaxYear(t time.Time) TaxYear {
	t = t.In(london)
	y := t.Year()
	if t.Month() < time.April || (t.Month() == time.April && t.Day() < 6) {
		y--
	}
	return TaxYear(y)
}

// london is the UK's zone. time/tzdata is linked in, so loading it fails
// only if the name is wrong.
var london = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("itsa: " + err.Error())
	}
	return loc
}()

// String is the HMRC form, "2025-26".
func (y TaxYear) String() string {
	return fmt.Sprintf("%d-%02d", int(y), (int(y)+1)%100)
}

// FirstDay is 6 April of the starting year, as "2025-04-06".
func (y TaxYear) FirstDay() string { return fmt.Sprintf("%04d-04-06", int(y)) }

// LastDay is 5 April of the following year, as "2026-04-05".
func (y TaxYear) LastDay() string { return fmt.Sprintf("%04d-04-05", int(y)+1) }

// Valid reports whether y has a form ParseTaxYear accepts (2010-11 to 2098-99).
func (y TaxYear) Valid() bool {
	_, err := ParseTaxYear(y.String())
	return y >= 2010 && y <= 2098 && err == nil
}

var businessIDPattern = regexp.MustCompile(`^X[A-Z0-9]{1}IS[0-9]{11}$`)

// ValidBusinessID reports whether id has HMRC's businessId form, e.g.
// "XAIS12345678910" (ResolveBusinessId: ^X[A-Z0-9]{1}IS[0-9]{11}$).
func ValidBusinessID(id string) bool { return businessIDPattern.MatchString(id) }

// ValidateBusinessID returns a FORMAT_BUSINESS_ID *hmrc.ValidationError when id
// is malformed, nil otherwise.
func ValidateBusinessID(id string) error {
	if ValidBusinessID(id) {
		return nil
	}
	return errOf(errBusinessID)
}

// maxPence is the largest Income Tax amount, 99999999999.99, in pence.
const maxPence = 9999999999999

// pence is a in pence when Income Tax takes it as an amount: at most 2
// decimal places as written ("1.000" is refused, as HMRC's BigDecimal
// scale refuses it) and |a| ≤ 99999999999.99.
func pence(a *mtdconnect.Amount) (int64, bool) {
	p, ok := a.Pence()
	if !ok || a.Scale() > 2 || p > maxPence || p < -maxPence {
		return 0, false
	}
	return p, true
}

// UKPropertyCumulative is the body of Property Business v6.0 "Create and
// Amend a UK Property Cumulative Period Summary"
// (PUT /individuals/business/property/uk/{nino}/{businessId}/cumulative/{taxYear}),
// tax year 2025-26 onwards. FromDate and ToDate (YYYY-MM-DD) are optional
// but go together.
type UKPropertyCumulative struct {
	FromDate   string     `json:"fromDate,omitempty"`
	ToDate     string     `json:"toDate,omitempty"`
	UKProperty UKProperty `json:"ukProperty"`
}

// UKProperty holds year-to-date income and expenses.
type UKProperty struct {
	Income   *UKPropertyIncome   `json:"income,omitempty"`
	Expenses *UKPropertyExpenses `json:"expenses,omitempty"`
}

// UKPropertyIncome amounts are all 0..99999999999.99. A nil amount is left out.
type UKPropertyIncome struct {
	PremiumsOfLeaseGrant *mtdconnect.Amount   `json:"premiumsOfLeaseGrant,omitempty"`
	ReversePremiums      *mtdconnect.Amount   `json:"reversePremiums,omitempty"`
	PeriodAmount         *mtdconnect.Amount   `json:"periodAmount,omitempty"`
	TaxDeducted          *mtdconnect.Amount   `json:"taxDeducted,omitempty"`
	OtherIncome          *mtdconnect.Amount   `json:"otherIncome,omitempty"`
	RentARoom            *UKPropertyRentARoom `json:"rentARoom,omitempty"`
}

// UKPropertyRentARoom is income.rentARoom.
type UKPropertyRentARoom struct {
	RentsReceived *mtdconnect.Amount `json:"rentsReceived,omitempty"`
}

// UKPropertyExpenses: the seven itemised expenses and ConsolidatedExpenses
// may be negative (−99999999999.99..99999999999.99); the residential finance
// costs and rent-a-room amount are 0..99999999999.99. ConsolidatedExpenses
// may be sent only with ResidentialFinancialCost,
// ResidentialFinancialCostsCarriedForward and RentARoom.
type UKPropertyExpenses struct {
	PremisesRunningCosts                    *mtdconnect.Amount           `json:"premisesRunningCosts,omitempty"`
	RepairsAndMaintenance                   *mtdconnect.Amount           `json:"repairsAndMaintenance,omitempty"`
	FinancialCosts                          *mtdconnect.Amount           `json:"financialCosts,omitempty"`
	ProfessionalFees                        *mtdconnect.Amount           `json:"professionalFees,omitempty"`
	CostOfServices                          *mtdconnect.Amount           `json:"costOfServices,omitempty"`
	Other                                   *mtdconnect.Amount           `json:"other,omitempty"`
	ResidentialFinancialCost                *mtdconnect.Amount           `json:"residentialFinancialCost,omitempty"`
	TravelCosts                             *mtdconnect.Amount           `json:"travelCosts,omitempty"`
	ResidentialFinancialCostsCarriedForward *mtdconnect.Amount           `json:"residentialFinancialCostsCarriedForward,omitempty"`
	RentARoom                               *UKPropertyRentARoomExpenses `json:"rentARoom,omitempty"`
	ConsolidatedExpenses                    *mtdconnect.Amount           `json:"consolidatedExpenses,omitempty"`
}

// UKPropertyRentARoomExpenses is expenses.rentARoom.
type UKPropertyRentARoomExpenses struct {
	AmountClaimed *mtdconnect.Amount `json:"amountClaimed,omitempty"`
}

type amountField struct {
	a    *mtdconnect.Amount
	path string
}

// Validate checks b as HMRC would for taxYear, returning nil when HMRC would
// accept its shape. As HMRC does, errors with the same code and message are
// merged into one with all their paths, and the list is sorted by code. A
// tax year before 2025-26 gives RULE_TAX_YEAR_NOT_SUPPORTED alone (HMRC
// rejects it before looking at the body); an invalid one FORMAT_TAX_YEAR.
//
// Not checked locally (HMRC decides from its own records): the date
// alignment rules, RULE_START_AND_END_DATE_NOT_ALLOWED, early submission and
// the amendment window.
func (b UKPropertyCumulative) Validate(taxYear TaxYear) []*hmrc.ValidationError {
	if !taxYear.Valid() {
		return []*hmrc.ValidationError{errOf(errTaxYearFormat)}
	}
	if taxYear < CumulativeFirstTaxYear {
		return []*hmrc.ValidationError{errOf(errTaxYearNotSupp)}
	}

	var errs []*hmrc.ValidationError
	p := b.UKProperty

	// Emptiness (ResolveNonEmptyJsonObject): ukProperty is required, and no
	// object may be empty.
	if p.Income == nil && p.Expenses == nil {
		if b.FromDate == "" && b.ToDate == "" {
			return []*hmrc.ValidationError{errOf(errEmptyBody)}
		}
		errs = append(errs, errOf(errEmptyBody, "/ukProperty"))
	}
	var empty []string
	if in := p.Income; in != nil {
		if *in == (UKPropertyIncome{}) {
			empty = append(empty, "/ukProperty/income")
		} else if in.RentARoom != nil && in.RentARoom.RentsReceived == nil {
			empty = append(empty, "/ukProperty/income/rentARoom")
		}
	}
	if ex := p.Expenses; ex != nil {
		if *ex == (UKPropertyExpenses{}) {
			empty = append(empty, "/ukProperty/expenses")
		} else if ex.RentARoom != nil && ex.RentARoom.AmountClaimed == nil {
			empty = append(empty, "/ukProperty/expenses/rentARoom")
		}
	}
	if len(empty) > 0 {
		errs = append(errs, errOf(errEmptyBody, empty...))
	}

	errs = append(errs, validateDates(b.FromDate, b.ToDate)...)

	// Amounts (ResolveParsedNumber): negative-allowed fields first, then the
	// others, in HMRC's order.
	in := p.Income
	if in == nil {
		in = &UKPropertyIncome{}
	}
	ex := p.Expenses
	if ex == nil {
		ex = &UKPropertyExpenses{}
	}
	var inRAR, exRAR *mtdconnect.Amount
	if in.RentARoom != nil {
		inRAR = in.RentARoom.RentsReceived
	}
	if ex.RentARoom != nil {
		exRAR = ex.RentARoom.AmountClaimed
	}
	const e = "/ukProperty/expenses/"
	const i = "/ukProperty/income/"
	mayBeNegative := []amountField{
		{ex.PremisesRunningCosts, e + "premisesRunningCosts"},
		{ex.RepairsAndMaintenance, e + "repairsAndMaintenance"},
		{ex.FinancialCosts, e + "financialCosts"},
		{ex.ProfessionalFees, e + "professionalFees"},
		{ex.CostOfServices, e + "costOfServices"},
		{ex.Other, e + "other"},
		{ex.TravelCosts, e + "travelCosts"},
		{ex.ConsolidatedExpenses, e + "consolidatedExpenses"},
	}
	nonNegative := []amountField{
		{in.PremiumsOfLeaseGrant, i + "premiumsOfLeaseGrant"},
		{in.ReversePremiums, i + "reversePremiums"},
		{in.PeriodAmount, i + "periodAmount"},
		{in.TaxDeducted, i + "taxDeducted"},
		{in.OtherIncome, i + "otherIncome"},
		{inRAR, i + "rentARoom/rentsReceived"},
		{ex.ResidentialFinancialCost, e + "residentialFinancialCost"},
		{ex.ResidentialFinancialCostsCarriedForward, e + "residentialFinancialCostsCarriedForward"},
		{exRAR, e + "rentARoom/amountClaimed"},
	}
	for _, f := range mayBeNegative {
		if f.a != nil && !amountOK(f.a, -maxPence) {
			errs = append(errs, &hmrc.ValidationError{Code: CodeFormatValue, Message: "The value must be between -99999999999.99 and 99999999999.99", Paths: []string{f.path}})
		}
	}
	for _, f := range nonNegative {
		if f.a != nil && !amountOK(f.a, 0) {
			errs = append(errs, &hmrc.ValidationError{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{f.path}})
		}
	}

	// consolidatedExpenses only with the residential finance costs and rentARoom.
	if ex.ConsolidatedExpenses != nil {
		for _, f := range mayBeNegative[:7] {
			if f.a != nil {
				errs = append(errs, errOf(errBothExpenses, "/ukProperty/expenses"))
				break
			}
		}
	}
	return merge(errs)
}

func amountOK(a *mtdconnect.Amount, minPence int64) bool {
	p, ok := pence(a)
	return ok && p >= minPence
}

// validateDates mirrors DateValidator.validateFromAndToDates and
// ResolveFromAndToDates: ISO dates, from-year ≥ 1900, to-year ≤ 2099, to not
// before from, and both or neither.
func validateDates(from, to string) []*hmrc.ValidationError {
	if from == "" && to == "" {
		return nil
	}
	var errs []*hmrc.ValidationError
	f, fok := parseDate(from)
	t, tok := parseDate(to)
	if from != "" && (!fok || f.Year() < 1900) {
		errs = append(errs, errOf(errFromDate))
		fok = false
	}
	if to != "" && (!tok || t.Year() > 2099) {
		errs = append(errs, errOf(errToDate))
		tok = false
	}
	switch {
	case from == "" || to == "":
		errs = append(errs, errOf(errMissingDates))
	case fok && tok && t.Before(f):
		errs = append(errs, errOf(errToBeforeFrom))
	}
	return errs
}

// parseDate accepts exactly YYYY-MM-DD with a real calendar date.
func parseDate(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil && t.Format(time.DateOnly) == s
}

// merge merges errors with the same code and message, concatenating
// their paths in order, and sorts by code (HMRC's Validator.combineErrors).
// An error without paths absorbs nothing and is kept once.
func merge(errs []*hmrc.ValidationError) []*hmrc.ValidationError {
	if len(errs) == 0 {
		return nil
	}
	var out []*hmrc.ValidationError
	for _, e := range errs {
		j := slices.IndexFunc(out, func(o *hmrc.ValidationError) bool { return o.Code == e.Code && o.Message == e.Message })
		if j < 0 {
			c := *e
			c.Paths = slices.Clone(e.Paths)
			out = append(out, &c)
			continue
		}
		if len(out[j].Paths) == 0 || len(e.Paths) == 0 {
			out[j].Paths = nil // HMRC: paths combine only when both have them
			continue
		}
		out[j].Paths = append(out[j].Paths, e.Paths...)
	}
	slices.SortStableFunc(out, func(a, b *hmrc.ValidationError) int { return cmp.Compare(a.Code, b.Code) })
	return out
}

// MarshalBody validates b for taxYear and, if HMRC would accept its shape,
// returns its JSON; otherwise the error joins the problems (hmrc.JoinValidationErrors).
func (b UKPropertyCumulative) MarshalBody(taxYear TaxYear) ([]byte, error) {
	if errs := b.Validate(taxYear); len(errs) > 0 {
		return nil, hmrc.JoinValidationErrors(errs)
	}
	return json.Marshal(b)
}
