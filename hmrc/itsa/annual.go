package itsa

// The UK property annual submission (Property Business v6.0, 2025-26
// onwards): the year's allowances and adjustments, sent after the tax year
// and before the final declaration, and amended the same way. Validation
// mirrors HMRC's Def2_CreateAmendUkPropertyAnnualSubmissionValidator, its
// rules validator and ResolveNonEmptyJsonObject, so that nothing HMRC would
// refuse for its shape is sent.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// HMRC error codes of the annual submission.
const (
	CodeFormatString                = "FORMAT_STRING"
	CodeFormatDate                  = "FORMAT_DATE"
	CodeRuleBothAllowances          = "RULE_BOTH_ALLOWANCES_SUPPLIED"
	CodeRuleBuildingNameNumber      = "RULE_BUILDING_NAME_NUMBER"
	CodeRulePropertyIncomeAllowance = "RULE_PROPERTY_INCOME_ALLOWANCE"
	CodeRuleOutsideAmendmentWindow  = "RULE_OUTSIDE_AMENDMENT_WINDOW"
	CodeRuleTypeOfBusinessIncorrect = "RULE_TYPE_OF_BUSINESS_INCORRECT"
)

var (
	errFormatString   = hmrc.ValidationError{Code: CodeFormatString, Message: "The supplied string format is not valid"}
	errFormatDate     = hmrc.ValidationError{Code: CodeFormatDate, Message: "The supplied date format is not valid"}
	errBothAllowances = hmrc.ValidationError{Code: CodeRuleBothAllowances, Message: "Both allowances and property allowances must not be present at the same time"}
	errBuildingName   = hmrc.ValidationError{Code: CodeRuleBuildingNameNumber, Message: "Postcode must be supplied along with at least one of name or number"}
	errAllowancePUA   = hmrc.ValidationError{Code: CodeRulePropertyIncomeAllowance, Message: "The propertyIncomeAllowance cannot be submitted if privateUseAdjustment is supplied"}
)

// ErrNoAnnualSubmission means HMRC holds no annual submission for the tax
// year.
var ErrNoAnnualSubmission = errors.New("itsa: no annual submission for this tax year")

// PropertyIncomeAllowanceMax is the most the property income allowance can
// be, in pence (£1,000).
const PropertyIncomeAllowanceMax = 100000

// UKPropertyAnnual is the body of Property Business v6.0 "Create and Amend
// a UK Property Business Annual Submission"
// (PUT /individuals/business/property/uk/{nino}/{businessId}/annual/{taxYear}),
// 2025-26 onwards. A submission replaces the previous one whole: send every
// figure again when amending.
type UKPropertyAnnual struct {
	// UKProperty is required; nil stands for a body without it.
	UKProperty *UKPropertyYear `json:"ukProperty"`
}

// UKPropertyYear holds the year's adjustments and allowances.
type UKPropertyYear struct {
	Adjustments *UKPropertyAdjustments `json:"adjustments,omitempty"`
	Allowances  *UKPropertyAllowances  `json:"allowances,omitempty"`
}

// UKPropertyAdjustments: amounts 0..99999999999.99. NonResidentLandlord is
// required whenever adjustments are sent (nil: left out, which HMRC
// refuses).
type UKPropertyAdjustments struct {
	BalancingCharge                                     *mtdconnect.Amount        `json:"balancingCharge,omitempty"`
	PrivateUseAdjustment                                *mtdconnect.Amount        `json:"privateUseAdjustment,omitempty"`
	BusinessPremisesRenovationAllowanceBalancingCharges *mtdconnect.Amount        `json:"businessPremisesRenovationAllowanceBalancingCharges,omitempty"`
	NonResidentLandlord                                 *bool                     `json:"nonResidentLandlord"`
	RentARoom                                           *UKPropertyRentARoomShare `json:"rentARoom,omitempty"`
}

// UKPropertyRentARoomShare says whether Rent a Room income is shared with
// someone else (the relief's limit is then halved). JointlyLet is required.
type UKPropertyRentARoomShare struct {
	JointlyLet *bool `json:"jointlyLet"`
}

// UKPropertyAllowances: capital allowances 0..99999999999.99, or the
// property income allowance (0..1000) alone, instead of every other
// allowance.
type UKPropertyAllowances struct {
	AnnualInvestmentAllowance           *mtdconnect.Amount  `json:"annualInvestmentAllowance,omitempty"`
	BusinessPremisesRenovationAllowance *mtdconnect.Amount  `json:"businessPremisesRenovationAllowance,omitempty"`
	OtherCapitalAllowance               *mtdconnect.Amount  `json:"otherCapitalAllowance,omitempty"`
	CostOfReplacingDomesticItems        *mtdconnect.Amount  `json:"costOfReplacingDomesticItems,omitempty"`
	ZeroEmissionsCarAllowance           *mtdconnect.Amount  `json:"zeroEmissionsCarAllowance,omitempty"`
	PropertyIncomeAllowance             *mtdconnect.Amount  `json:"propertyIncomeAllowance,omitempty"`
	StructuredBuildingAllowance         []BuildingAllowance `json:"structuredBuildingAllowance,omitempty"`
	EnhancedStructuredBuildingAllowance []BuildingAllowance `json:"enhancedStructuredBuildingAllowance,omitempty"`
}

// BuildingAllowance is one structures and buildings allowance claim.
// Amount and Building (with its postcode, and a name or number) are
// required.
type BuildingAllowance struct {
	Amount    *mtdconnect.Amount `json:"amount"`
	FirstYear *BuildingFirstYear `json:"firstYear,omitempty"`
	Building  *Building          `json:"building"`
}

// BuildingFirstYear is the first year's claim: both fields required.
type BuildingFirstYear struct {
	QualifyingDate              string             `json:"qualifyingDate"` // YYYY-MM-DD
	QualifyingAmountExpenditure *mtdconnect.Amount `json:"qualifyingAmountExpenditure"`
}

// Building names a building: a postcode, and a name or a number.
type Building struct {
	Name     string `json:"name,omitempty"`
	Number   string `json:"number,omitempty"`
	Postcode string `json:"postcode"`
}

// UKPropertyAnnualSubmission is what HMRC holds: the submission and when it
// arrived.
type UKPropertyAnnualSubmission struct {
	SubmittedOn string `json:"submittedOn,omitempty"` // HMRC's timestamp
	UKPropertyAnnual
}

// buildingTextPattern is HMRC's pattern of a building's name, number and
// postcode.
var buildingTextPattern = regexp.MustCompile("^[0-9a-zA-ZÀ-˿’\\- _&`():.'^]{1,90}$")

// errValue is FORMAT_VALUE for the range 0..max as HMRC words it.
func errValue(path, max string) *hmrc.ValidationError {
	return &hmrc.ValidationError{Code: CodeFormatValue, Message: "The value must be between 0 and " + max, Paths: []string{path}}
}

// Validate checks b as HMRC would for taxYear, returning nil when HMRC would
// accept its shape: first the tax year, then the body's structure (required
// fields, reported alone), then its empty objects and arrays, then the
// rules (amounts, strings, dates, the building's name or number, the
// property income allowance alone and without a private use adjustment).
// Errors with the same code and message are merged, sorted by code.
func (b UKPropertyAnnual) Validate(taxYear TaxYear) []*hmrc.ValidationError {
	if !taxYear.Valid() {
		return []*hmrc.ValidationError{errOf(errTaxYearFormat)}
	}
	if taxYear < CumulativeFirstTaxYear {
		return []*hmrc.ValidationError{errOf(errTaxYearNotSupp)}
	}
	p := b.UKProperty
	if p == nil {
		return []*hmrc.ValidationError{errOf(errEmptyBody)}
	}

	// Structure: required fields left out, paths sorted as HMRC's reads
	// report them.
	var missing []string
	const adj, alw = "/ukProperty/adjustments", "/ukProperty/allowances"
	if a := p.Adjustments; a != nil {
		if a.NonResidentLandlord == nil {
			missing = append(missing, adj+"/nonResidentLandlord")
		}
		if a.RentARoom != nil && a.RentARoom.JointlyLet == nil {
			missing = append(missing, adj+"/rentARoom/jointlyLet")
		}
	}
	var empty []string
	if p.Adjustments == nil && p.Allowances == nil {
		empty = append(empty, "/ukProperty")
	}
	if a := p.Allowances; a != nil {
		if a.AnnualInvestmentAllowance == nil && a.BusinessPremisesRenovationAllowance == nil && a.OtherCapitalAllowance == nil &&
			a.CostOfReplacingDomesticItems == nil && a.ZeroEmissionsCarAllowance == nil && a.PropertyIncomeAllowance == nil &&
			a.StructuredBuildingAllowance == nil && a.EnhancedStructuredBuildingAllowance == nil {
			empty = append(empty, alw)
		}
		for _, list := range []struct {
			name  string
			items []BuildingAllowance
		}{{"structuredBuildingAllowance", a.StructuredBuildingAllowance}, {"enhancedStructuredBuildingAllowance", a.EnhancedStructuredBuildingAllowance}} {
			path := alw + "/" + list.name
			if list.items != nil && len(list.items) == 0 {
				empty = append(empty, path)
			}
			for i, item := range list.items {
				ip := path + "/" + strconv.Itoa(i)
				if item.Amount == nil {
					missing = append(missing, ip+"/amount")
				}
				if fy := item.FirstYear; fy != nil {
					if fy.QualifyingDate == "" {
						missing = append(missing, ip+"/firstYear/qualifyingDate")
					}
					if fy.QualifyingAmountExpenditure == nil {
						missing = append(missing, ip+"/firstYear/qualifyingAmountExpenditure")
					}
				}
				switch {
				case item.Building == nil:
					missing = append(missing, ip+"/building")
				case item.Building.Postcode == "":
					missing = append(missing, ip+"/building/postcode")
				}
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return []*hmrc.ValidationError{errOf(errEmptyBody, missing...)}
	}
	if len(empty) > 0 {
		return []*hmrc.ValidationError{errOf(errEmptyBody, empty...)}
	}

	// Rules, in HMRC's order.
	var errs []*hmrc.ValidationError
	money := func(a *mtdconnect.Amount, path string) {
		if a != nil && !annualAmountOK(a, maxPence) {
			errs = append(errs, errValue(path, "99999999999.99"))
		}
	}
	a := p.Adjustments
	if a == nil {
		a = &UKPropertyAdjustments{}
	}
	al := p.Allowances
	if al == nil {
		al = &UKPropertyAllowances{}
	}
	money(a.BalancingCharge, adj+"/balancingCharge")
	money(a.PrivateUseAdjustment, adj+"/privateUseAdjustment")
	money(a.BusinessPremisesRenovationAllowanceBalancingCharges, adj+"/businessPremisesRenovationAllowanceBalancingCharges")
	money(al.AnnualInvestmentAllowance, alw+"/annualInvestmentAllowance")
	money(al.BusinessPremisesRenovationAllowance, alw+"/businessPremisesRenovationAllowance")
	money(al.OtherCapitalAllowance, alw+"/otherCapitalAllowance")
	money(al.CostOfReplacingDomesticItems, alw+"/costOfReplacingDomesticItems")
	money(al.ZeroEmissionsCarAllowance, alw+"/zeroEmissionsCarAllowance")
	if pia := al.PropertyIncomeAllowance; pia != nil && !annualAmountOK(pia, PropertyIncomeAllowanceMax) {
		errs = append(errs, errValue(alw+"/propertyIncomeAllowance", "1000.0"))
	}
	for _, list := range []struct {
		name  string
		items []BuildingAllowance
	}{{"structuredBuildingAllowance", al.StructuredBuildingAllowance}, {"enhancedStructuredBuildingAllowance", al.EnhancedStructuredBuildingAllowance}} {
		for i, item := range list.items {
			ip := alw + "/" + list.name + "/" + strconv.Itoa(i)
			if fy := item.FirstYear; fy != nil {
				money(fy.QualifyingAmountExpenditure, ip+"/firstYear/qualifyingAmountExpenditure")
			}
			money(item.Amount, ip+"/amount")
			bld := item.Building
			for _, f := range []struct{ v, name string }{{bld.Name, "name"}, {bld.Number, "number"}, {bld.Postcode, "postcode"}} {
				if f.v != "" && !buildingTextPattern.MatchString(f.v) {
					errs = append(errs, errOf(errFormatString, ip+"/building/"+f.name))
				}
			}
			if fy := item.FirstYear; fy != nil {
				if _, ok := parseDate(fy.QualifyingDate); !ok {
					errs = append(errs, errOf(errFormatDate, ip+"/firstYear/qualifyingDate"))
				}
			}
			if bld.Name == "" && bld.Number == "" {
				errs = append(errs, errOf(errBuildingName, ip+"/building"))
			}
		}
	}
	if al.PropertyIncomeAllowance != nil && (al.AnnualInvestmentAllowance != nil || al.BusinessPremisesRenovationAllowance != nil ||
		al.OtherCapitalAllowance != nil || al.CostOfReplacingDomesticItems != nil || al.ZeroEmissionsCarAllowance != nil ||
		al.StructuredBuildingAllowance != nil || al.EnhancedStructuredBuildingAllowance != nil) {
		errs = append(errs, errOf(errBothAllowances, alw))
	}
	if len(errs) > 0 {
		return merge(errs)
	}
	// HMRC's service refuses the allowance with a private use adjustment
	// after its validators pass (a downstream rule, without a path): the
	// answer is certain, so it is not worth a call.
	if al.PropertyIncomeAllowance != nil && a.PrivateUseAdjustment != nil {
		return []*hmrc.ValidationError{errOf(errAllowancePUA)}
	}
	return nil
}

// annualAmountOK: 0..max pence, at most 2 decimal places as written.
func annualAmountOK(a *mtdconnect.Amount, max int64) bool {
	p, ok := pence(a)
	return ok && p >= 0 && p <= max
}

// annualPath is the annual submission's path for PUT and GET; DELETE has
// one path for UK and foreign property, without /uk.
func annualPath(nino, businessID string, taxYear TaxYear, uk bool) string {
	p := "/individuals/business/property/"
	if uk {
		p += "uk/"
	}
	return p + nino + "/" + businessID + "/annual/" + taxYear.String()
}

// SubmitUKPropertyAnnual creates or replaces the UK property annual
// submission for taxYear (2025-26 onwards). Nothing is sent when the NINO,
// the tax year or the body would be refused for its shape: the error then
// joins a *mtdconnect.NINOError and/or *hmrc.ValidationError values. HMRC's
// own refusals are *hmrc.APIError. On success HMRC answers 200 with no body;
// the Response carries its X-CorrelationId.
func (c *Client) SubmitUKPropertyAnnual(ctx context.Context, userID int64, nino string, taxYear TaxYear, body UKPropertyAnnual, origin *fraud.Origin, opts ...Option) (*hmrc.Response, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if taxYear.Valid() && taxYear >= CumulativeFirstTaxYear {
		err = errors.Join(err, hmrc.JoinValidationErrors(body.Validate(taxYear)))
	}
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("itsa: encode UK property annual submission: %w", err)
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, o, userID, hmrc.Call{
		API: APIPropertyBusiness, Method: http.MethodPut, Path: annualPath(n, bid, taxYear, true),
		Accept: acceptPropertyBusiness, Body: json.RawMessage(raw), Fraud: origin,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("itsa: submit UK property annual submission %s: %w", taxYear, err)
	}
	return resp, nil
}

// UKPropertyAnnual returns the annual submission HMRC holds for taxYear
// (2025-26 onwards); ErrNoAnnualSubmission when there is none.
func (c *Client) UKPropertyAnnual(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *fraud.Origin, opts ...Option) (*UKPropertyAnnualSubmission, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
	if err != nil {
		return nil, err
	}
	var out UKPropertyAnnualSubmission
	_, err = c.do(ctx, o, userID, hmrc.Call{
		API: APIPropertyBusiness, Method: http.MethodGet, Path: annualPath(n, bid, taxYear, true),
		Accept: acceptPropertyBusiness, Fraud: origin,
	}, &out)
	if ae, ok := notFound(err, "MATCHING_RESOURCE_NOT_FOUND"); ok {
		return nil, fmt.Errorf("%w (%w)", ErrNoAnnualSubmission, ae)
	}
	if err != nil {
		return nil, fmt.Errorf("itsa: UK property annual submission %s: %w", taxYear, err)
	}
	return &out, nil
}

// DeleteUKPropertyAnnual deletes the annual submission HMRC holds for
// taxYear (2025-26 onwards); ErrNoAnnualSubmission when there is none.
func (c *Client) DeleteUKPropertyAnnual(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *fraud.Origin, opts ...Option) (*hmrc.Response, error) {
	n, err := checkCumulativeTarget(nino, taxYear)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	bid, err := c.UKPropertyBusinessID(ctx, userID, n, origin, WithPriority(o.priority))
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, o, userID, hmrc.Call{
		API: APIPropertyBusiness, Method: http.MethodDelete, Path: annualPath(n, bid, taxYear, false),
		Accept: acceptPropertyBusiness, Fraud: origin,
	}, nil)
	if ae, ok := notFound(err, "MATCHING_RESOURCE_NOT_FOUND"); ok {
		return nil, fmt.Errorf("%w (%w)", ErrNoAnnualSubmission, ae)
	}
	if err != nil {
		return nil, fmt.Errorf("itsa: delete UK property annual submission %s: %w", taxYear, err)
	}
	return resp, nil
}
