package hmrc

// Local validation of Income Tax (MTD) requests, mirroring HMRC's own
// validators (property-business-api v6.0: ResolveTaxYear, ResolveBusinessId,
// ResolveParsedNumber, ResolveFromAndToDates, DateValidator,
// ResolveNonEmptyJsonObject and Def1_CreateUkPropertyCumulativeSummaryRulesValidator)
// so that a request HMRC would reject for its shape is never sent. Codes,
// messages and JSON-pointer paths are HMRC's.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	// Tax years and HMRC's dates are UK calendar dates: the zone must be
	// there even on a host (or container) without a zone database.
	_ "time/tzdata"
)

// ValidationError is one HMRC-style validation error.
type ValidationError struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Paths   []string `json:"paths,omitempty"`
}

func (e ValidationError) Error() string {
	if len(e.Paths) == 0 {
		return e.Code + ": " + e.Message
	}
	return e.Code + ": " + e.Message + " (" + strings.Join(e.Paths, ", ") + ")"
}

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
)

var (
	itsaErrTaxYearFormat  = ValidationError{Code: CodeFormatTaxYear, Message: "The provided tax year is invalid"}
	itsaErrTaxYearRange   = ValidationError{Code: CodeRuleTaxYearRangeInvalid, Message: "A tax year range of one year is required"}
	itsaErrTaxYearNotSupp = ValidationError{Code: CodeRuleTaxYearNotSupported, Message: "The tax year specified does not lie within the supported range"}
	itsaErrBusinessID     = ValidationError{Code: CodeFormatBusinessID, Message: "The provided Business ID is invalid"}
	itsaErrFromDate       = ValidationError{Code: CodeFormatFromDate, Message: "The provided From date is invalid"}
	itsaErrToDate         = ValidationError{Code: CodeFormatToDate, Message: "The provided To date is invalid"}
	itsaErrToBeforeFrom   = ValidationError{Code: CodeRuleToDateBeforeFromDate, Message: "The To date cannot be earlier than the From date"}
	itsaErrMissingDates   = ValidationError{Code: CodeRuleMissingSubmission, Message: "Submission start/end date not provided"}
	itsaErrBothExpenses   = ValidationError{Code: CodeRuleBothExpenses, Message: "Both expenses and consolidatedExpenses can not be present at the same time"}
	itsaErrEmptyBody      = ValidationError{Code: CodeRuleIncorrectOrEmptyBody, Message: "An empty or non-matching body was submitted"}
)

func itsaErr(base ValidationError, paths ...string) ValidationError {
	base.Paths = paths
	return base
}

// TaxYear is a UK tax year, held as the calendar year it starts in: TaxYear(2025)
// is 2025-26, 6 April 2025 to 5 April 2026.
type TaxYear int

// CumulativeFirstTaxYear is the first tax year of cumulative quarterly
// updates (Property Business v6.0 cumulative summary).
const CumulativeFirstTaxYear TaxYear = 2025

var itsaTaxYearPattern = regexp.MustCompile(`^20([1-9][0-9])-([1-9][0-9])$`)

// ParseTaxYear parses HMRC's YYYY-YY form, e.g. "2025-26". A malformed value
// gives a *ValidationError with code FORMAT_TAX_YEAR; a span other than one
// year ("2025-27") gives RULE_TAX_YEAR_RANGE_INVALID.
func ParseTaxYear(s string) (TaxYear, error) {
	m := itsaTaxYearPattern.FindStringSubmatch(s)
	if m == nil {
		e := itsaErr(itsaErrTaxYearFormat)
		return 0, &e
	}
	start, _ := strconv.Atoi(m[1])
	end, _ := strconv.Atoi(m[2])
	if end != start+1 {
		e := itsaErr(itsaErrTaxYearRange)
		return 0, &e
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
		panic("hmrc: " + err.Error())
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

var itsaBusinessIDPattern = regexp.MustCompile(`^X[A-Z0-9]{1}IS[0-9]{11}$`)

// ValidBusinessID reports whether id has HMRC's businessId form, e.g.
// "XAIS12345678910" (ResolveBusinessId: ^X[A-Z0-9]{1}IS[0-9]{11}$).
func ValidBusinessID(id string) bool { return itsaBusinessIDPattern.MatchString(id) }

// ValidateBusinessID returns a FORMAT_BUSINESS_ID *ValidationError when id
// is malformed, nil otherwise.
func ValidateBusinessID(id string) error {
	if ValidBusinessID(id) {
		return nil
	}
	e := itsaErr(itsaErrBusinessID)
	return &e
}

// Amount is a sum of money in pounds, kept as the exact decimal text sent
// on the wire so that HMRC's rules (at most 2 decimal places, ranges) can be
// checked exactly, with no float rounding. Build one with Pence or
// ParseAmount, or unmarshal it from a JSON number. The zero Amount is not a
// number and fails validation.
type Amount struct{ text string }

// Pence returns the amount p/100 pounds, e.g. Pence(123456) is 1234.56.
func Pence(p int64) *Amount {
	neg := p < 0
	u := uint64(p)
	if neg {
		u = -u
	}
	s := fmt.Sprintf("%d.%02d", u/100, u%100)
	if neg {
		s = "-" + s
	}
	return &Amount{text: s}
}

// ParseAmount reads a decimal number in JSON number syntax ("1234.56",
// "-5", "0.5"). It does not check HMRC's rules; Validate does.
func ParseAmount(s string) (*Amount, error) {
	if _, ok := parseDecimal(s); !ok {
		return nil, fmt.Errorf("hmrc: %q is not a number", s)
	}
	return &Amount{text: s}, nil
}

// String is the amount as it is sent.
func (a Amount) String() string { return a.text }

// Pence returns the amount in pence and true when it is a whole number of
// pence that fits HMRC's range (|amount| ≤ 99999999999.99).
func (a Amount) Pence() (int64, bool) {
	n, ok := parseDecimal(a.text)
	if !ok {
		return 0, false
	}
	return n.itsaPence()
}

// MarshalJSON writes the amount as a JSON number.
func (a Amount) MarshalJSON() ([]byte, error) {
	if _, ok := parseDecimal(a.text); !ok {
		return nil, fmt.Errorf("hmrc: amount %q is not a number", a.text)
	}
	return []byte(a.text), nil
}

// UnmarshalJSON accepts a JSON number only (not a string), keeping its text.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if _, ok := parseDecimal(s); !ok {
		return fmt.Errorf("hmrc: amount must be a JSON number, not %s", s)
	}
	a.text = s
	return nil
}

const itsaMaxPence = 9999999999999 // 99999999999.99

// itsaPence is n in pence when Income Tax takes it as an amount: at most 2
// decimal places as written ("1.000" is refused, as HMRC's BigDecimal
// scale refuses it) and |n| ≤ 99999999999.99.
func (n decimal) itsaPence() (int64, bool) {
	if n.scale > 2 || !n.inPence || n.pence > itsaMaxPence || n.pence < -itsaMaxPence {
		return 0, false
	}
	return n.pence, true
}

// decimal is an amount's text analysed exactly, as HMRC's services read it
// into a Java BigDecimal; the Income Tax and VAT checks share it.
type decimal struct {
	scale int   // BigDecimal.scale: digits after the point minus the exponent ("1.000" is 3, "1e2" is −2)
	whole bool  // the value is an integer
	pence int64 // the value in pence, when inPence
	// inPence: the value is a whole number of pence of at most 17 digits.
	// Anything else is outside every Income Tax and VAT range or below a
	// penny.
	inPence bool
}

// parseDecimal analyses JSON number syntax -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?.
func parseDecimal(s string) (decimal, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	run := func() string {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return s[j:i]
	}
	intDigits := run()
	if intDigits == "" || (len(intDigits) > 1 && intDigits[0] == '0') {
		return decimal{}, false
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		if frac = run(); frac == "" {
			return decimal{}, false
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		ds := run()
		if ds == "" {
			return decimal{}, false
		}
		for _, c := range ds {
			if exp < 10_000_000 { // beyond this the outcome no longer changes
				exp = exp*10 + int(c-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return decimal{}, false
	}
	n := decimal{scale: len(frac) - exp}
	// value = digits × 10^e, digits without leading or trailing zeros.
	digits := strings.TrimLeft(intDigits+frac, "0")
	e := -n.scale
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		e++
	}
	if digits == "" {
		n.whole, n.inPence = true, true
		return n, true
	}
	n.whole = e >= 0
	if e < -2 || len(digits)+e+2 > maxDigitsOfPence {
		return n, true
	}
	p, err := strconv.ParseInt(digits+strings.Repeat("0", e+2), 10, 64)
	if err != nil {
		return n, true
	}
	if neg {
		p = -p
	}
	n.pence, n.inPence = p, true
	return n, true
}

// maxDigitsOfPence: beyond this many digits of pence a value is outside
// every Income Tax and VAT range.
const maxDigitsOfPence = 17

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
	PremiumsOfLeaseGrant *Amount              `json:"premiumsOfLeaseGrant,omitempty"`
	ReversePremiums      *Amount              `json:"reversePremiums,omitempty"`
	PeriodAmount         *Amount              `json:"periodAmount,omitempty"`
	TaxDeducted          *Amount              `json:"taxDeducted,omitempty"`
	OtherIncome          *Amount              `json:"otherIncome,omitempty"`
	RentARoom            *UKPropertyRentARoom `json:"rentARoom,omitempty"`
}

// UKPropertyRentARoom is income.rentARoom.
type UKPropertyRentARoom struct {
	RentsReceived *Amount `json:"rentsReceived,omitempty"`
}

// UKPropertyExpenses: the seven itemised expenses and ConsolidatedExpenses
// may be negative (−99999999999.99..99999999999.99); the residential finance
// costs and rent-a-room amount are 0..99999999999.99. ConsolidatedExpenses
// may be sent only with ResidentialFinancialCost,
// ResidentialFinancialCostsCarriedForward and RentARoom.
type UKPropertyExpenses struct {
	PremisesRunningCosts                    *Amount                      `json:"premisesRunningCosts,omitempty"`
	RepairsAndMaintenance                   *Amount                      `json:"repairsAndMaintenance,omitempty"`
	FinancialCosts                          *Amount                      `json:"financialCosts,omitempty"`
	ProfessionalFees                        *Amount                      `json:"professionalFees,omitempty"`
	CostOfServices                          *Amount                      `json:"costOfServices,omitempty"`
	Other                                   *Amount                      `json:"other,omitempty"`
	ResidentialFinancialCost                *Amount                      `json:"residentialFinancialCost,omitempty"`
	TravelCosts                             *Amount                      `json:"travelCosts,omitempty"`
	ResidentialFinancialCostsCarriedForward *Amount                      `json:"residentialFinancialCostsCarriedForward,omitempty"`
	RentARoom                               *UKPropertyRentARoomExpenses `json:"rentARoom,omitempty"`
	ConsolidatedExpenses                    *Amount                      `json:"consolidatedExpenses,omitempty"`
}

// UKPropertyRentARoomExpenses is expenses.rentARoom.
type UKPropertyRentARoomExpenses struct {
	AmountClaimed *Amount `json:"amountClaimed,omitempty"`
}

type itsaAmountField struct {
	a    *Amount
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
func (b UKPropertyCumulative) Validate(taxYear TaxYear) []ValidationError {
	if !taxYear.Valid() {
		return []ValidationError{itsaErr(itsaErrTaxYearFormat)}
	}
	if taxYear < CumulativeFirstTaxYear {
		return []ValidationError{itsaErr(itsaErrTaxYearNotSupp)}
	}

	var errs []ValidationError
	p := b.UKProperty

	// Emptiness (ResolveNonEmptyJsonObject): ukProperty is required, and no
	// object may be empty.
	if p.Income == nil && p.Expenses == nil {
		if b.FromDate == "" && b.ToDate == "" {
			return []ValidationError{itsaErr(itsaErrEmptyBody)}
		}
		errs = append(errs, itsaErr(itsaErrEmptyBody, "/ukProperty"))
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
		errs = append(errs, itsaErr(itsaErrEmptyBody, empty...))
	}

	errs = append(errs, itsaValidateDates(b.FromDate, b.ToDate)...)

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
	var inRAR, exRAR *Amount
	if in.RentARoom != nil {
		inRAR = in.RentARoom.RentsReceived
	}
	if ex.RentARoom != nil {
		exRAR = ex.RentARoom.AmountClaimed
	}
	const e = "/ukProperty/expenses/"
	const i = "/ukProperty/income/"
	mayBeNegative := []itsaAmountField{
		{ex.PremisesRunningCosts, e + "premisesRunningCosts"},
		{ex.RepairsAndMaintenance, e + "repairsAndMaintenance"},
		{ex.FinancialCosts, e + "financialCosts"},
		{ex.ProfessionalFees, e + "professionalFees"},
		{ex.CostOfServices, e + "costOfServices"},
		{ex.Other, e + "other"},
		{ex.TravelCosts, e + "travelCosts"},
		{ex.ConsolidatedExpenses, e + "consolidatedExpenses"},
	}
	nonNegative := []itsaAmountField{
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
		if f.a != nil && !itsaAmountOK(f.a, -itsaMaxPence) {
			errs = append(errs, ValidationError{Code: CodeFormatValue, Message: "The value must be between -99999999999.99 and 99999999999.99", Paths: []string{f.path}})
		}
	}
	for _, f := range nonNegative {
		if f.a != nil && !itsaAmountOK(f.a, 0) {
			errs = append(errs, ValidationError{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{f.path}})
		}
	}

	// consolidatedExpenses only with the residential finance costs and rentARoom.
	if ex.ConsolidatedExpenses != nil {
		for _, f := range mayBeNegative[:7] {
			if f.a != nil {
				errs = append(errs, itsaErr(itsaErrBothExpenses, "/ukProperty/expenses"))
				break
			}
		}
	}
	return itsaMerge(errs)
}

func itsaAmountOK(a *Amount, minPence int64) bool {
	n, ok := parseDecimal(a.text)
	if !ok {
		return false
	}
	p, ok := n.itsaPence()
	return ok && p >= minPence
}

// itsaValidateDates mirrors DateValidator.validateFromAndToDates and
// ResolveFromAndToDates: ISO dates, from-year ≥ 1900, to-year ≤ 2099, to not
// before from, and both or neither.
func itsaValidateDates(from, to string) []ValidationError {
	if from == "" && to == "" {
		return nil
	}
	var errs []ValidationError
	f, fok := itsaParseDate(from)
	t, tok := itsaParseDate(to)
	if from != "" && (!fok || f.Year() < 1900) {
		errs = append(errs, itsaErr(itsaErrFromDate))
		fok = false
	}
	if to != "" && (!tok || t.Year() > 2099) {
		errs = append(errs, itsaErr(itsaErrToDate))
		tok = false
	}
	switch {
	case from == "" || to == "":
		errs = append(errs, itsaErr(itsaErrMissingDates))
	case fok && tok && t.Before(f):
		errs = append(errs, itsaErr(itsaErrToBeforeFrom))
	}
	return errs
}

// itsaParseDate accepts exactly YYYY-MM-DD with a real calendar date.
func itsaParseDate(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil && t.Format(time.DateOnly) == s
}

// itsaMerge merges errors with the same code and message, concatenating
// their paths in order, and sorts by code (HMRC's Validator.combineErrors).
// An error without paths absorbs nothing and is kept once.
func itsaMerge(errs []ValidationError) []ValidationError {
	if len(errs) == 0 {
		return nil
	}
	var out []ValidationError
	for _, e := range errs {
		j := slices.IndexFunc(out, func(o ValidationError) bool { return o.Code == e.Code && o.Message == e.Message })
		if j < 0 {
			e.Paths = slices.Clone(e.Paths)
			out = append(out, e)
			continue
		}
		if len(out[j].Paths) == 0 || len(e.Paths) == 0 {
			out[j].Paths = nil // HMRC: paths combine only when both have them
			continue
		}
		out[j].Paths = append(out[j].Paths, e.Paths...)
	}
	slices.SortStableFunc(out, func(a, b ValidationError) int { return cmp.Compare(a.Code, b.Code) })
	return out
}

// ValidationErrors joins a Validate result into one error (nil when empty),
// each element a ValidationError, for callers that want an error value.
func ValidationErrors(errs []ValidationError) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// MarshalBody validates b for taxYear and, if HMRC would accept its shape,
// returns its JSON; otherwise the error is ValidationErrors of the problems.
func (b UKPropertyCumulative) MarshalBody(taxYear TaxYear) ([]byte, error) {
	if errs := b.Validate(taxYear); len(errs) > 0 {
		return nil, ValidationErrors(errs)
	}
	return json.Marshal(b)
}
