package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// nothingSent ends the message of a refusal made before anything was sent.
const nothingSent = " Nothing was sent to HMRC."

// classifyYearEnd words the year end's errors: the landlord service's
// refusals and HMRC's answers of the Individual Calculations API (and the
// annual submission's own). classify asks it before its general cases; it
// reports false for anything else.
func classifyYearEnd(err error) (problem, bool) {
	var (
		missing *landlord.UpdatesMissingError
		errs    *landlord.CalculationErrorsError
		pending *landlord.CalculationPendingError
		api     *hmrc.APIError
	)
	switch {
	case errors.Is(err, landlord.ErrNotAgreed):
		return problem{Status: http.StatusBadRequest, Code: "declaration_not_agreed", Title: "Agree to the declaration",
			Message: "HMRC takes a final declaration, or an amendment's confirmation, only once you have read its declaration and agreed to it." + nothingSent}, true
	case errors.As(err, &missing):
		p := problem{Status: http.StatusConflict, Code: "updates_missing", Title: "Quarterly updates are missing",
			Message: "HMRC has not received every quarterly update of the tax year, so it would refuse your final declaration. Send the update for " +
				periodsText(missing.Missing) + " first, then ask for a new final calculation." + nothingSent}
		for _, o := range missing.Missing {
			p.Errors = append(p.Errors, fieldError{Code: "UPDATE_MISSING", Message: "No update received for " + formatISODate(o.Start) + " to " + formatISODate(o.End)})
		}
		return p, true
	case errors.As(err, &errs):
		p := problem{Status: http.StatusConflict, Code: "calculation_has_errors", Title: "HMRC found errors in this calculation",
			Message: "HMRC found errors in this calculation, so no declaration can be made with it. Correct them, then ask for a new calculation." + nothingSent}
		for _, m := range errs.Messages {
			p.Errors = append(p.Errors, fieldError{Code: m.ID, Message: m.Text})
		}
		return p, true
	case errors.Is(err, landlord.ErrNotLatest):
		return problem{Status: http.StatusConflict, Code: "calculation_not_latest", Title: "This is not your latest calculation",
			Message: "Figures were sent, or a newer calculation made, after this calculation, so HMRC would refuse a declaration made with it. " +
				"Ask for a new calculation and check it before you declare." + nothingSent}, true
	case errors.Is(err, landlord.ErrAlreadyDeclared):
		return problem{Status: http.StatusConflict, Code: "already_declared", Title: "HMRC already has your final declaration",
			Message: "HMRC already has your final declaration for this tax year. To change it, amend it instead." + nothingSent}, true
	case errors.Is(err, landlord.ErrAlreadyConfirmed):
		return problem{Status: http.StatusConflict, Code: "already_confirmed", Title: "This amendment is confirmed already",
			Message: "You confirmed the amendment made with this calculation already. To change your return again, make a new amendment." + nothingSent}, true
	case errors.Is(err, landlord.ErrWrongCalculation):
		return problem{Status: http.StatusConflict, Code: "wrong_calculation", Title: "This calculation cannot be declared",
			Message: "A final declaration is made with your final calculation, and an amendment confirmed with your amended calculation, never with an estimate. " +
				"Ask for the right calculation first." + nothingSent}, true
	case errors.Is(err, landlord.ErrOutsideAmendmentWindow), hmrc.HasErrorCode(err, calc.CodeRuleOutsideAmendmentWindow) && apiOf(err, calc.API):
		return problem{Status: http.StatusUnprocessableEntity, Code: "outside_amendment_window", Title: "Too late to amend this tax year",
			Message: "HMRC accepts amendments until 12 months after the deadline for the final declaration, and that window has closed. " +
				"Contact HMRC to correct your return."}, true
	case errors.Is(err, landlord.ErrSubmissionUnconfirmed):
		return problem{Status: http.StatusServiceUnavailable, Code: "submission_unconfirmed", Title: "We could not confirm HMRC received it",
			Message: "Your declaration was sent, but HMRC's answer never arrived, so it may or may not have been received. Check your tax year: " +
				"once HMRC has it, the final declaration shows as received (this can take up to an hour). Sending it again is safe: HMRC refuses a second one."}, true
	case errors.As(err, &pending):
		return problem{Status: http.StatusAccepted, Code: "calculation_pending", Title: "HMRC is still working out your calculation",
			Message: "HMRC has not finished calculation " + pending.CalculationID + " yet. Look again in a minute."}, true
	case errors.Is(err, calc.ErrNotReady):
		return problem{Status: http.StatusNotFound, Code: "calculation_not_found", Title: "No such calculation",
			Message: "HMRC has no finished calculation with this ID for this tax year. If you asked for it just now, HMRC may still be working it out: look again in a few seconds."}, true
	case errors.Is(err, itsa.ErrNoAnnualSubmission):
		return problem{Status: http.StatusNotFound, Code: "no_annual_submission", Title: "No year-end adjustments sent",
			Message: "HMRC holds no year-end adjustments (annual submission) for this tax year."}, true
	case !errors.As(err, &api):
		return problem{}, false
	}

	p := problem{Code: api.Code}
	if api.API == itsa.APIPropertyBusiness {
		switch api.Code {
		case itsa.CodeRulePropertyIncomeAllowance:
			p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC did not accept the figures"
			p.Message = "HMRC does not take the property income allowance with a private use adjustment: remove one of them."
		case itsa.CodeRuleTypeOfBusinessIncorrect:
			p.Status, p.Title = http.StatusUnprocessableEntity, "Not a UK property business"
			p.Message = "HMRC says the business is not a UK property business, so it takes no UK property adjustments for it."
		default:
			return problem{}, false
		}
		return p, true
	}
	if api.API != calc.API {
		return problem{}, false
	}
	switch api.Code {
	case calc.CodeRuleNoIncomeSubmissions:
		p.Status, p.Title = http.StatusUnprocessableEntity, "Nothing to calculate yet"
		p.Message = "HMRC has no income for this tax year to calculate from yet. Send a quarterly update first."
	case calc.CodeRulePrematureFinalisation, calc.CodeRuleTaxYearNotEnded, calc.CodeRuleFinalDeclarationTaxYear:
		p.Status, p.Title = http.StatusUnprocessableEntity, "The tax year has not ended"
		p.Message = "HMRC gives the final calculation, and takes the final declaration, only after the tax year has ended (from 6 April). Get an estimate instead."
	case calc.CodeRuleCalculationInProgress, calc.CodeRuleFinalDeclarationInProgress:
		p.Status, p.Title = http.StatusConflict, "HMRC is still calculating"
		p.Message = "HMRC is still working out your last calculation. Try again in a few seconds."
	case calc.CodeRuleFinalDeclarationReceived:
		p.Status, p.Code, p.Title = http.StatusConflict, "already_declared", "HMRC already has your final declaration"
		p.Message = "HMRC already has your final declaration for this tax year. To change it, amend it instead."
	case calc.CodeRuleDeclarationNotReceived:
		p.Status, p.Title = http.StatusConflict, "Nothing to amend yet"
		p.Message = "HMRC has no final declaration for this tax year yet, so there is nothing to amend. Make your final declaration first."
	case calc.CodeRuleRecentSubmissionsExist, calc.CodeRuleIncomeSourcesChanged, calc.CodeRuleResidencyChanged:
		p.Status, p.Title = http.StatusConflict, "This calculation is out of date"
		p.Message = "HMRC says your details changed after this calculation. Ask for a new calculation and check it before you declare."
	case calc.CodeRuleSubmissionFailed, calc.CodeRuleBusinessValidation:
		p.Status, p.Title = http.StatusConflict, "HMRC found errors"
		p.Message = "HMRC found errors in what it holds for this tax year, so it refused. Check your calculation's messages, correct the figures and try again."
	case calc.CodeRuleIncomeSourcesInvalid:
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC found no income source"
		p.Message = "HMRC found no valid income source for this tax year. Check that your property income is signed up for Making Tax Digital."
	case "MATCHING_RESOURCE_NOT_FOUND", "NOT_FOUND":
		p.Status, p.Code, p.Title = http.StatusNotFound, "calculation_not_found", "No such calculation"
		p.Message = "HMRC has no calculation of this ID, of the kind this needs, for this tax year."
	default:
		return problem{}, false
	}
	for _, e := range api.Errors {
		p.Errors = append(p.Errors, fieldError{Code: e.Code, Message: e.Message, Paths: e.Paths})
	}
	return p, true
}

// apiOf reports whether err is an answer of HMRC's API api.
func apiOf(err error, api string) bool {
	var ae *hmrc.APIError
	return errors.As(err, &ae) && ae.API == api
}

// periodsText words obligations' periods: "6 April 2026 to 5 January 2027
// and 6 April 2026 to 5 April 2027".
func periodsText(obs []itsa.Obligation) string {
	var parts []string
	for _, o := range obs {
		parts = append(parts, formatISODate(o.Start)+" to "+formatISODate(o.End))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
