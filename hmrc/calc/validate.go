package calc

// Local validation of Individual Calculations requests, mirroring HMRC's
// v8 validators (Def1_TriggerCalculationValidator, the list and retrieve
// validators, Def1_SubmitFinalDeclarationValidator and its rules, the
// ResolveTaxYear, ResolveCalculationId and calculation type resolvers):
// codes and messages are HMRC's.

import (
	"errors"
	"regexp"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// HMRC error codes of the Individual Calculations API, the local ones and
// those HMRC's service answers that callers branch on.
const (
	CodeFormatTaxYear                 = "FORMAT_TAX_YEAR"
	CodeRuleTaxYearNotSupported       = "RULE_TAX_YEAR_NOT_SUPPORTED"
	CodeFormatCalculationID           = "FORMAT_CALCULATION_ID"
	CodeFormatCalculationType         = "FORMAT_CALCULATION_TYPE"
	CodeRuleCalculationTypeNotAllowed = "RULE_CALCULATION_TYPE_NOT_ALLOWED"
	CodeRuleSubmissionFailed          = "RULE_SUBMISSION_FAILED"

	CodeRuleNoIncomeSubmissions        = "RULE_NO_INCOME_SUBMISSIONS_EXIST"
	CodeRuleFinalDeclarationReceived   = "RULE_FINAL_DECLARATION_RECEIVED"
	CodeRuleCalculationInProgress      = "RULE_CALCULATION_IN_PROGRESS"
	CodeRulePrematureFinalisation      = "RULE_PREMATURE_FINALISATION"
	CodeRuleTaxYearNotEnded            = "RULE_TAX_YEAR_NOT_ENDED"
	CodeRuleDeclarationNotReceived     = "RULE_DECLARATION_NOT_RECEIVED"
	CodeRuleOutsideAmendmentWindow     = "RULE_OUTSIDE_AMENDMENT_WINDOW"
	CodeRuleRecentSubmissionsExist     = "RULE_RECENT_SUBMISSIONS_EXIST"
	CodeRuleFinalDeclarationTaxYear    = "RULE_FINAL_DECLARATION_TAX_YEAR"
	CodeRuleFinalDeclarationInProgress = "RULE_FINAL_DECLARATION_IN_PROGRESS"
	CodeRuleIncomeSourcesChanged       = "RULE_INCOME_SOURCES_CHANGED"
	CodeRuleIncomeSourcesInvalid       = "RULE_INCOME_SOURCES_INVALID"
	CodeRuleResidencyChanged           = "RULE_RESIDENCY_CHANGED"
	CodeRuleBusinessValidation         = "RULE_BUSINESS_VALIDATION_FAILURE"
)

var (
	errTaxYearFormat = hmrc.ValidationError{Code: CodeFormatTaxYear, Message: "The provided tax year format is invalid"}
	errTaxYearNotSup = hmrc.ValidationError{Code: CodeRuleTaxYearNotSupported, Message: "The tax year specified does not lie within the supported range"}
	errCalcID        = hmrc.ValidationError{Code: CodeFormatCalculationID, Message: "The provided calculation ID is invalid"}
	errCalcType      = hmrc.ValidationError{Code: CodeFormatCalculationType, Message: "The provided calculation type is not valid"}
	errTypeNotAllwd  = hmrc.ValidationError{Code: CodeRuleCalculationTypeNotAllowed, Message: "The provided calculation type is not applicable for this tax year"}
	errSubmission    = hmrc.ValidationError{Code: CodeRuleSubmissionFailed, Message: "The submission cannot be completed due to validation failures"}
)

func errOf(e hmrc.ValidationError) *hmrc.ValidationError { return &e }

// FirstTaxYear is the earliest tax year HMRC calculates, lists and
// retrieves: 2017-18.
const FirstTaxYear itsa.TaxYear = 2017

// idPattern is HMRC's calculation ID: eight digits, or a UUID (versions 1
// to 5), matched whole.
var idPattern = regexp.MustCompile(`^(?:[0-9]{8}|[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$`)

// ValidID reports whether id has the form of HMRC's calculation IDs.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// checkNINOAndYear is the NINO and the tax year of every call: a
// *mtdconnect.NINOError and *hmrc.ValidationError values joined. min is the
// first supported tax year (0: none).
func checkNINOAndYear(nino string, taxYear itsa.TaxYear, min itsa.TaxYear) (string, []error) {
	n, err := mtdconnect.ParseNINO(nino)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case !taxYear.Valid():
		errs = append(errs, errOf(errTaxYearFormat))
	case taxYear < min:
		errs = append(errs, errOf(errTaxYearNotSup))
	}
	return n, errs
}

func checkTrigger(nino string, taxYear itsa.TaxYear, t Type) (string, error) {
	n, errs := checkNINOAndYear(nino, taxYear, FirstTaxYear)
	switch {
	case t != InYear && t != IntentToFinalise && t != IntentToAmend:
		errs = append(errs, errOf(errCalcType))
	case len(errs) == 0 && t == IntentToAmend && taxYear < AmendmentFirstTaxYear:
		errs = append(errs, errOf(errTypeNotAllwd))
	}
	return n, errors.Join(errs...)
}

func checkRetrieve(nino string, taxYear itsa.TaxYear, id string) (string, error) {
	n, errs := checkNINOAndYear(nino, taxYear, FirstTaxYear)
	if !ValidID(id) {
		errs = append(errs, errOf(errCalcID))
	}
	return n, errors.Join(errs...)
}

func checkList(nino string, taxYear itsa.TaxYear, t Type) (string, error) {
	n, errs := checkNINOAndYear(nino, taxYear, FirstTaxYear)
	switch t {
	case "", InYear, IntentToFinalise, FinalDeclaration:
	case IntentToAmend, ConfirmAmendment:
		// 2023-24 and 2024-25 know no amendments.
		if len(errs) == 0 && (taxYear == 2023 || taxYear == 2024) {
			errs = append(errs, errOf(errTypeNotAllwd))
		}
	default:
		errs = append(errs, errOf(errCalcType))
	}
	return n, errors.Join(errs...)
}

func checkSubmit(nino string, taxYear itsa.TaxYear, id string, t Type) (string, error) {
	n, errs := checkNINOAndYear(nino, taxYear, 0)
	if !ValidID(id) {
		errs = append(errs, errOf(errCalcID))
	}
	switch {
	case t != FinalDeclaration && t != ConfirmAmendment:
		errs = append(errs, errOf(errCalcType))
	case len(errs) == 0 && t == ConfirmAmendment && taxYear < AmendmentFirstTaxYear:
		errs = append(errs, errOf(errSubmission))
	}
	return n, errors.Join(errs...)
}

// CheckSubmission refuses, as HMRC would, a final declaration or an
// amendment's confirmation (t) whose NINO, tax year, calculation ID or type
// is malformed: a *mtdconnect.NINOError and *hmrc.ValidationError values
// joined; nil when Submit would send it.
func CheckSubmission(nino string, taxYear itsa.TaxYear, id string, t Type) error {
	_, err := checkSubmit(nino, taxYear, id, t)
	return err
}
