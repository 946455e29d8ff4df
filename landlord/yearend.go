package landlord

// The landlord's Income Tax year after the quarterly updates (HMRC's
// end-to-end service guide, "Making updates at the end of a tax year" and
// "Tax calculations"): the year at a glance, an estimate of the tax, the UK
// property annual submission (allowances and adjustments), the final
// calculation and the final declaration made with it, and an amendment
// (an intent-to-amend calculation and its confirmation) within 12 months of
// the filing date. HMRC's calculation is the only one: the service shows
// it, never works out tax itself.
//
// A declaration is refused here, before anything is sent, where HMRC would
// refuse it: not agreed to, quarterly updates missing, a calculation with
// errors, one that is not the latest (a newer calculation, or figures sent
// after it), a year already declared, an amendment out of time.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// Errors of the year end callers branch on. Each is returned before
// anything is sent to HMRC, except ErrSubmissionUnconfirmed.
var (
	// ErrNotAgreed means the landlord did not agree to HMRC's declaration
	// (DeclarationText): HMRC requires it before a final declaration or an
	// amendment's confirmation.
	ErrNotAgreed = errors.New("landlord: the declaration was not agreed to")
	// ErrAlreadyDeclared means HMRC has the tax year's final declaration.
	ErrAlreadyDeclared = errors.New("landlord: HMRC already has the final declaration for this tax year")
	// ErrAlreadyConfirmed means the amendment made with the calculation
	// was confirmed already.
	ErrAlreadyConfirmed = errors.New("landlord: this amendment was confirmed already")
	// ErrWrongCalculation means the calculation is not of the kind the
	// declaration needs: a final declaration is made with the final
	// (intent-to-finalise) calculation, an amendment confirmed with an
	// intent-to-amend one, never with an estimate.
	ErrWrongCalculation = errors.New("landlord: the calculation is not the kind this declaration is made with")
	// ErrNotLatest means the calculation is not the latest: a newer one of
	// its kind exists, or figures were sent after it. HMRC's
	// RULE_RECENT_SUBMISSIONS_EXIST: ask for a new calculation.
	ErrNotLatest = errors.New("landlord: the calculation is not the latest")
	// ErrOutsideAmendmentWindow means the tax year can no longer be
	// amended: 12 months after its filing date have passed.
	ErrOutsideAmendmentWindow = errors.New("landlord: outside the amendment window")
	// ErrSubmissionUnconfirmed means a declaration (or an amendment's
	// confirmation) was sent but HMRC's answer never came: it may have been
	// made. It is never sent again by itself; sending it again is safe
	// (HMRC refuses a second one).
	ErrSubmissionUnconfirmed = errors.New("landlord: sent, but HMRC's answer never came")
)

// UpdatesMissingError means quarterly updates HMRC requires before the
// final declaration have not been received: HMRC's final calculation would
// have errors and the declaration be refused.
type UpdatesMissingError struct {
	Missing []itsa.Obligation
}

func (e *UpdatesMissingError) Error() string {
	return fmt.Sprintf("landlord: %d quarterly update(s) of the tax year not received", len(e.Missing))
}

// CalculationErrorsError means HMRC's calculation found errors: it has no
// result and no declaration can be made with it. Messages are HMRC's.
type CalculationErrorsError struct {
	CalculationID string
	Messages      []calc.Message
}

func (e *CalculationErrorsError) Error() string {
	return fmt.Sprintf("landlord: HMRC's calculation %s has %d error(s)", e.CalculationID, len(e.Messages))
}

// CalculationPendingError means HMRC had not finished the calculation when
// the service stopped waiting; retrieve it by its ID later.
type CalculationPendingError struct {
	CalculationID string
}

func (e *CalculationPendingError) Error() string {
	return "landlord: HMRC has not finished calculation " + e.CalculationID + " yet"
}

// DeclarationText is HMRC's declaration, which the landlord must read and
// agree to before the final declaration or an amendment's confirmation
// (HMRC's end-to-end service guide, "Agreeing to the declaration").
const DeclarationText = "I declare that the information and tax return I have submitted are (taken together) correct and complete " +
	"to the best of my knowledge. I understand that I may have to pay financial penalties and face prosecution if I give false information."

// DeclarationIntro is HMRC's sentence before the declaration.
const DeclarationIntro = "Before you can submit the information displayed here in response to your notice to file from " +
	"HM Revenue & Customs, you must read and agree to the following statement by ticking the box."

// ---- the year at a glance ----

// Step is what the landlord has to do next in a tax year.
type Step string

// The steps, in the order a year brings them.
const (
	StepNone             Step = "none"              // HMRC has no obligations for the year
	StepQuarterlyUpdate  Step = "quarterly-update"  // send the next quarterly update
	StepWaitForYearEnd   Step = "wait-for-year-end" // every update sent; finalise after the year ends
	StepFinalDeclaration Step = "final-declaration" // year-end adjustments, final calculation, declaration
	StepDone             Step = "done"              // declared; amendments possible until the window closes
)

// YearStatus is a landlord's Income Tax year at a glance: the quarterly
// obligations and the final declaration, HMRC's due dates and states, and
// what is next.
type YearStatus struct {
	TaxYear itsa.TaxYear
	Today   time.Time // the UK date it was worked out on, as midnight UTC
	// Quarterly are the quarterly obligations with the receipts of updates
	// HMRC does not show as received yet (Obligation.AwaitingHMRC).
	Quarterly []Obligation
	// FinalDeclaration is nil when HMRC has no final declaration
	// obligation for the year (not in Making Tax Digital that year, or the
	// year has not begun).
	FinalDeclaration *itsa.DeclarationObligation
	Next             Step
	// NextDue is when Next is due (YYYY-MM-DD): the update's due date, the
	// final declaration's, or for StepDone the last day of the amendment
	// window; "" for StepNone and StepWaitForYearEnd.
	NextDue string
	// NextObligation is the update of StepQuarterlyUpdate.
	NextObligation *Obligation
	// Ended reports whether the tax year is over (by the service's clock).
	Ended bool
	// AmendableUntil is the last day an amendment is accepted, once
	// declared: 12 months after the final declaration's due date.
	AmendableUntil string
}

// DaysUntil is how many days from Today to date (YYYY-MM-DD): negative
// when it has passed; 0 when date is not a date.
func (y *YearStatus) DaysUntil(date string) int {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return 0
	}
	return int(d.Sub(y.Today).Hours() / 24)
}

// yearEnd is the first day after the tax year, as midnight UTC.
func yearEnd(y itsa.TaxYear) time.Time {
	return time.Date(int(y)+1, time.April, 6, 0, 0, 0, 0, time.UTC)
}

// filingDate is 31 January after the tax year: the final declaration's
// usual due date, when HMRC's obligation does not say.
func filingDate(y itsa.TaxYear) string { return fmt.Sprintf("%04d-01-31", int(y)+2) }

// amendableUntil is the last day of the amendment window: 12 months after
// the filing date due (HMRC's obligation's, or 31 January after the year).
func amendableUntil(y itsa.TaxYear, due string) string {
	d, err := time.Parse(time.DateOnly, due)
	if err != nil {
		d, _ = time.Parse(time.DateOnly, filingDate(y))
	}
	return d.AddDate(1, 0, 0).Format(time.DateOnly)
}

// TaxYearStatus reads the landlord's obligations of taxYear from HMRC (two
// calls: the quarterly ones and the final declaration's) and says what is
// next. testScenario is HMRC's sandbox Gov-Test-Scenario, sent on both.
func (s *Service) TaxYearStatus(ctx context.Context, userID int64, taxYear itsa.TaxYear, origin *fraud.Origin, testScenario string) (*YearStatus, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	// The service's own obligations: kept for all instances, and with the
	// receipts of updates HMRC may take an hour to show as received.
	obligations, err := s.Obligations(ctx, u.ID, taxYear, origin, testScenario)
	if err != nil {
		return nil, err
	}
	quarterly := obligations.Obligations
	final, err := s.itsa.FinalDeclarationObligation(ctx, u.ID, u.NINO, taxYear, origin, itsa.WithTestScenario(testScenario))
	if err != nil {
		return nil, err
	}
	ty := &YearStatus{TaxYear: taxYear, Today: s.today(), Quarterly: quarterly, FinalDeclaration: final}
	ty.Ended = !ty.Today.Before(yearEnd(taxYear))
	// An update sent and accepted is not asked for again while HMRC has
	// yet to mark it received.
	open := slices.IndexFunc(quarterly, func(o Obligation) bool { return !o.Fulfilled() && !o.AwaitingHMRC() })
	switch {
	case final != nil && final.Fulfilled():
		ty.Next = StepDone
		ty.AmendableUntil = amendableUntil(taxYear, final.Due)
		ty.NextDue = ty.AmendableUntil
	case open >= 0:
		ty.Next, ty.NextObligation, ty.NextDue = StepQuarterlyUpdate, &quarterly[open], quarterly[open].Due
	case len(quarterly) == 0 && final == nil:
		ty.Next = StepNone
	case !ty.Ended:
		ty.Next = StepWaitForYearEnd
	default:
		ty.Next = StepFinalDeclaration
		ty.NextDue = filingDate(taxYear)
		if final != nil && final.Due != "" {
			ty.NextDue = final.Due
		}
	}
	return ty, nil
}

// ---- tax calculations ----

// How the service waits for a calculation: HMRC asks for at least 5
// seconds before the first retrieve; after that the service looks again
// less and less often, and stops after about a minute (the calculation is
// then pending: the caller retrieves it by its ID later). The first
// retrieve is the one expected to succeed and goes at the caller's
// priority; the others queue behind other landlords' calls (Scheduled).
var (
	calcFirstWait = 5 * time.Second
	calcPollWaits = []time.Duration{2 * time.Second, 3 * time.Second, 5 * time.Second, 8 * time.Second, 13 * time.Second, 21 * time.Second}
)

// CalculationRequest asks HMRC for a tax calculation.
type CalculationRequest struct {
	UserID  int64
	TaxYear itsa.TaxYear
	// Type is calc.InYear (an estimate), calc.IntentToFinalise (the
	// calculation for the final declaration, after the tax year) or
	// calc.IntentToAmend (after the final declaration, within the
	// amendment window).
	Type         calc.Type
	Origin       *fraud.Origin
	TestScenario string // HMRC's sandbox Gov-Test-Scenario; "" for none
}

// Calculate triggers a calculation, waits for HMRC to finish it and
// returns it, errors included (calc.Calculation.HasErrors): HMRC's errors
// are what the landlord must correct. A calculation HMRC has not finished
// within about a minute is a *CalculationPendingError with its ID. An
// intent-to-amend calculation outside the amendment window is refused here
// (ErrOutsideAmendmentWindow), and nothing is sent.
func (s *Service) Calculate(ctx context.Context, by Actor, r CalculationRequest) (*calc.Calculation, error) {
	u, err := s.incomeTaxUser(ctx, r.UserID)
	if err != nil {
		return nil, err
	}
	if r.Type == calc.IntentToAmend && r.TestScenario == "" {
		if err := s.checkAmendmentWindow(ctx, u, r.TaxYear, r.Origin); err != nil {
			return nil, err
		}
	}
	id, resp, err := s.calc.Trigger(ctx, u.ID, u.NINO, r.TaxYear, r.Type, r.Origin, calc.WithTestScenario(r.TestScenario))
	if err != nil {
		return nil, err
	}
	s.record(ctx, by, "tax calculation triggered", u.ID, mtdconnect.PurposeIncomeTax,
		slog.String("tax_year", r.TaxYear.String()), slog.String("type", string(r.Type)),
		slog.String("calculation_id", id), slog.String("correlation_id", resp.CorrelationID))
	return s.awaitCalculation(ctx, u, r.TaxYear, id, r.Origin, r.TestScenario)
}

// awaitCalculation retrieves calculation id once HMRC has had time to work
// it out, looking again a bounded number of times.
func (s *Service) awaitCalculation(ctx context.Context, u *mtdconnect.User, taxYear itsa.TaxYear, id string, origin *fraud.Origin, scenario string) (*calc.Calculation, error) {
	wait := calcFirstWait
	priority := hmrc.Interactive
	for attempt := 0; ; attempt++ {
		if err := s.wait(ctx, wait); err != nil {
			return nil, err
		}
		c, err := s.calc.Retrieve(ctx, u.ID, u.NINO, taxYear, id, origin, calc.WithPriority(priority), calc.WithTestScenario(scenario))
		if !errors.Is(err, calc.ErrNotReady) {
			return c, err
		}
		if attempt == len(calcPollWaits) {
			return nil, &CalculationPendingError{CalculationID: id}
		}
		wait, priority = calcPollWaits[attempt], hmrc.Scheduled
	}
}

// Calculation returns HMRC's calculation id of taxYear; calc.ErrNotReady
// while HMRC has not finished it (or has none of that ID).
func (s *Service) Calculation(ctx context.Context, userID int64, taxYear itsa.TaxYear, id string, origin *fraud.Origin, testScenario string) (*calc.Calculation, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.calc.Retrieve(ctx, u.ID, u.NINO, taxYear, id, origin, calc.WithTestScenario(testScenario))
}

// Calculations lists the landlord's finished calculations of taxYear,
// newest first, of type t ("" for all).
func (s *Service) Calculations(ctx context.Context, userID int64, taxYear itsa.TaxYear, t calc.Type, origin *fraud.Origin, testScenario string) ([]calc.Summary, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.calc.List(ctx, u.ID, u.NINO, taxYear, t, origin, calc.WithTestScenario(testScenario))
}

// ---- the annual submission ----

// AnnualSubmission returns the UK property annual submission HMRC holds for
// taxYear; itsa.ErrNoAnnualSubmission when there is none.
func (s *Service) AnnualSubmission(ctx context.Context, userID int64, taxYear itsa.TaxYear, origin *fraud.Origin, testScenario string) (*itsa.UKPropertyAnnualSubmission, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.itsa.UKPropertyAnnual(ctx, u.ID, u.NINO, taxYear, origin, itsa.WithTestScenario(testScenario))
}

// AnnualUpdate is a UK property annual submission to send.
type AnnualUpdate struct {
	UserID       int64
	TaxYear      itsa.TaxYear
	Body         itsa.UKPropertyAnnual // HMRC's own; it replaces what HMRC holds whole
	Origin       *fraud.Origin
	TestScenario string // HMRC's sandbox Gov-Test-Scenario; "" for none
}

// SubmitAnnualSubmission sends the year's allowances and adjustments and
// keeps the receipt (kind mtdconnect.SubmissionUKPropertyAnnual). Nothing is
// sent when HMRC would refuse it for its shape (*hmrc.ValidationError
// values joined). HMRC's refusal of a declared year whose amendment window
// has closed is ErrOutsideAmendmentWindow. A receipt that cannot be stored
// is a *ReceiptError: HMRC has the submission.
func (s *Service) SubmitAnnualSubmission(ctx context.Context, by Actor, a AnnualUpdate) (*mtdconnect.Submission, error) {
	u, err := s.incomeTaxUser(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(a.Body)
	if err != nil {
		return nil, fmt.Errorf("landlord: encode annual submission: %w", err)
	}
	ctx = context.WithoutCancel(ctx)
	resp, err := s.itsa.SubmitUKPropertyAnnual(ctx, u.ID, u.NINO, a.TaxYear, a.Body, a.Origin, itsa.WithTestScenario(a.TestScenario))
	if hmrc.HasErrorCode(err, itsa.CodeRuleOutsideAmendmentWindow) {
		return nil, fmt.Errorf("%w (%w)", ErrOutsideAmendmentWindow, err)
	}
	if err != nil {
		return nil, err
	}
	sub := &mtdconnect.Submission{
		UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionUKPropertyAnnual,
		Period: a.TaxYear.String(), Body: raw, Response: resp.Body, CorrelationID: resp.CorrelationID, SubmittedAt: s.now(),
	}
	sub.PeriodStart, sub.PeriodEnd = taxYearDates(a.TaxYear)
	return sub, s.keep(ctx, by, "annual submission sent", sub, slog.String("tax_year", sub.Period))
}

// DeleteAnnualSubmission deletes the annual submission HMRC holds for
// taxYear (the landlord claims no allowances or adjustments after all);
// itsa.ErrNoAnnualSubmission when there is none.
func (s *Service) DeleteAnnualSubmission(ctx context.Context, by Actor, userID int64, taxYear itsa.TaxYear, origin *fraud.Origin, testScenario string) error {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	resp, err := s.itsa.DeleteUKPropertyAnnual(ctx, u.ID, u.NINO, taxYear, origin, itsa.WithTestScenario(testScenario))
	if hmrc.HasErrorCode(err, itsa.CodeRuleOutsideAmendmentWindow) {
		return fmt.Errorf("%w (%w)", ErrOutsideAmendmentWindow, err)
	}
	if err != nil {
		return err
	}
	s.record(ctx, by, "annual submission deleted", u.ID, mtdconnect.PurposeIncomeTax,
		slog.String("tax_year", taxYear.String()), slog.String("correlation_id", resp.CorrelationID))
	return nil
}

// taxYearDates are the first and last days of y, as midnight UTC.
func taxYearDates(y itsa.TaxYear) (time.Time, time.Time) {
	return time.Date(int(y), time.April, 6, 0, 0, 0, 0, time.UTC), time.Date(int(y)+1, time.April, 5, 0, 0, 0, 0, time.UTC)
}

// ---- the final declaration and amendments ----

// Declaration is a final declaration, or an amendment's confirmation, to
// make with one of HMRC's calculations.
type Declaration struct {
	UserID  int64
	TaxYear itsa.TaxYear
	// CalculationID is the calculation the landlord was shown and agrees
	// to: an intent-to-finalise one for the final declaration, an
	// intent-to-amend one for an amendment.
	CalculationID string
	// Agreed says the landlord read HMRC's declaration (DeclarationText)
	// and agreed to it.
	Agreed       bool
	Origin       *fraud.Origin
	TestScenario string // HMRC's sandbox Gov-Test-Scenario; "" for none
}

// declarationBody is what a declaration's receipt says was sent: HMRC's
// POST has no body, its path names the calculation.
type declarationBody struct {
	TaxYear         string    `json:"taxYear"`
	CalculationID   string    `json:"calculationId"`
	CalculationType calc.Type `json:"calculationType"`
}

// Declare makes the final declaration of the tax year with the
// calculation d.CalculationID and keeps the receipt (kind
// mtdconnect.SubmissionFinalDeclaration: its ReceiptID is the calculation's
// ID and its Response the calculation declared, as HMRC returned it).
//
// It is refused before anything is sent when the landlord did not agree
// (ErrNotAgreed), the calculation's ID is malformed (*hmrc.ValidationError),
// or, from what HMRC holds (three reads: the calculation, the year's
// quarterly obligations and its calculations) and the receipts kept here:
// the calculation is not HMRC's final calculation (ErrWrongCalculation,
// calc.ErrNotReady when HMRC has none of that ID), HMRC found errors in it
// (*CalculationErrorsError), quarterly updates are missing
// (*UpdatesMissingError), the year is declared already
// (ErrAlreadyDeclared), or it is not the latest (ErrNotLatest). With a
// Gov-Test-Scenario those reads are skipped: HMRC's sandbox answers the
// declaration itself. A declaration HMRC may have received without
// answering is ErrSubmissionUnconfirmed.
func (s *Service) Declare(ctx context.Context, by Actor, d Declaration) (*mtdconnect.Submission, error) {
	return s.declare(ctx, by, d, calc.FinalDeclaration)
}

// ConfirmAmendment confirms the amendment HMRC calculated in the
// intent-to-amend calculation d.CalculationID and keeps the receipt (kind
// mtdconnect.SubmissionAmendment). It is refused before anything is sent as
// Declare is, except that the year's updates are not read again (it was
// declared), and when the amendment window has closed
// (ErrOutsideAmendmentWindow) or the amendment was confirmed already
// (ErrAlreadyConfirmed).
func (s *Service) ConfirmAmendment(ctx context.Context, by Actor, d Declaration) (*mtdconnect.Submission, error) {
	return s.declare(ctx, by, d, calc.ConfirmAmendment)
}

func (s *Service) declare(ctx context.Context, by Actor, d Declaration, kind calc.Type) (*mtdconnect.Submission, error) {
	u, err := s.incomeTaxUser(ctx, d.UserID)
	if err != nil {
		return nil, err
	}
	if !d.Agreed {
		return nil, ErrNotAgreed
	}
	if err := calc.CheckSubmission(u.NINO, d.TaxYear, d.CalculationID, kind); err != nil {
		return nil, err
	}
	var declared *calc.Calculation
	if d.TestScenario == "" {
		if kind == calc.ConfirmAmendment {
			if err := s.checkAmendmentWindow(ctx, u, d.TaxYear, d.Origin); err != nil {
				return nil, err
			}
		}
		if declared, err = s.checkDeclarable(ctx, u, d, kind); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(declarationBody{TaxYear: d.TaxYear.String(), CalculationID: d.CalculationID, CalculationType: kind})
	if err != nil {
		return nil, fmt.Errorf("landlord: encode declaration: %w", err)
	}
	ctx = context.WithoutCancel(ctx)
	resp, err := s.calc.Submit(ctx, u.ID, u.NINO, d.TaxYear, d.CalculationID, kind, d.Origin, calc.WithTestScenario(d.TestScenario))
	if errors.Is(err, hmrc.ErrUnavailable) {
		return nil, fmt.Errorf("%w: %w", ErrSubmissionUnconfirmed, err)
	}
	if err != nil {
		return nil, err
	}
	sub := &mtdconnect.Submission{
		UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionFinalDeclaration,
		Period: d.TaxYear.String(), Body: body, CorrelationID: resp.CorrelationID, ReceiptID: d.CalculationID, SubmittedAt: s.now(),
	}
	action := "final declaration made"
	if kind == calc.ConfirmAmendment {
		sub.Kind, action = mtdconnect.SubmissionAmendment, "amendment confirmed"
	}
	if declared != nil {
		sub.Response = declared.Raw
	}
	sub.PeriodStart, sub.PeriodEnd = taxYearDates(d.TaxYear)
	return sub, s.keep(ctx, by, action, sub, slog.String("tax_year", sub.Period), slog.String("calculation_id", d.CalculationID))
}

// checkDeclarable reads what HMRC holds and refuses, as HMRC would, a
// declaration of kind with d's calculation. It returns the calculation.
func (s *Service) checkDeclarable(ctx context.Context, u *mtdconnect.User, d Declaration, kind calc.Type) (*calc.Calculation, error) {
	want := calc.IntentToFinalise
	if kind == calc.ConfirmAmendment {
		want = calc.IntentToAmend
	}
	c, err := s.calc.Retrieve(ctx, u.ID, u.NINO, d.TaxYear, d.CalculationID, d.Origin)
	if err != nil {
		return nil, err
	}
	switch {
	case kind == calc.FinalDeclaration && c.Declared():
		return nil, ErrAlreadyDeclared
	case kind == calc.ConfirmAmendment && c.Confirmed():
		return nil, ErrAlreadyConfirmed
	case c.Type() != want:
		return nil, fmt.Errorf("%w: it is %s, not %s", ErrWrongCalculation, c.Type(), want)
	}
	receipts, err := s.store.Submissions(ctx, u.ID, mtdconnect.PurposeIncomeTax, maxReceipts)
	if err != nil {
		return nil, fmt.Errorf("landlord: read receipts: %w", err)
	}
	// Missing updates first: HMRC's calculation then has errors too, and
	// saying which update is missing is the clearer answer.
	if kind == calc.FinalDeclaration {
		obligations, err := s.itsa.Obligations(ctx, u.ID, u.NINO, d.TaxYear, d.Origin)
		if err != nil {
			return nil, err
		}
		if missing := missingUpdates(obligations, receipts, d.TaxYear); len(missing) > 0 {
			return nil, &UpdatesMissingError{Missing: missing}
		}
	}
	if c.HasErrors() {
		return nil, &CalculationErrorsError{CalculationID: d.CalculationID, Messages: c.Errors()}
	}
	list, err := s.calc.List(ctx, u.ID, u.NINO, d.TaxYear, "", d.Origin)
	if err != nil {
		return nil, err
	}
	if kind == calc.FinalDeclaration && slices.ContainsFunc(list, func(x calc.Summary) bool { return x.CalculationType == calc.FinalDeclaration }) {
		return nil, ErrAlreadyDeclared
	}
	// The newest calculation of its kind must be this one: HMRC lists
	// newest first, by its own clock.
	if i := slices.IndexFunc(list, func(x calc.Summary) bool { return x.CalculationType == want }); i >= 0 && list[i].CalculationID != d.CalculationID {
		return nil, fmt.Errorf("%w: HMRC has a newer calculation, %s", ErrNotLatest, list[i].CalculationID)
	}
	// Figures sent after it (through mtdconnect; HMRC refuses what others
	// sent). HMRC's timestamps and ours come from different clocks: a few
	// seconds' difference only hides a case HMRC still refuses.
	if asked, err := time.Parse(time.RFC3339, cmp.Or(c.Metadata.RequestedTimestamp, c.Metadata.CalculationTimestamp)); err == nil {
		for _, r := range receipts {
			if r.Period == d.TaxYear.String() && (r.Kind == mtdconnect.SubmissionUKPropertyCumulative || r.Kind == mtdconnect.SubmissionUKPropertyAnnual) &&
				r.SubmittedAt.After(asked) {
				return nil, fmt.Errorf("%w: figures were sent at %s, after it", ErrNotLatest, r.SubmittedAt.UTC().Format(time.RFC3339))
			}
		}
	}
	return c, nil
}

// missingUpdates are the quarterly obligations of taxYear HMRC shows open
// and for which no accepted update is kept here either (HMRC may take up
// to an hour to mark one met).
func missingUpdates(obligations []itsa.Obligation, receipts []*mtdconnect.Submission, taxYear itsa.TaxYear) []itsa.Obligation {
	var sentTo time.Time // the latest period end an accepted update covered
	for _, r := range receipts {
		if r.Kind == mtdconnect.SubmissionUKPropertyCumulative && r.Period == taxYear.String() && r.PeriodEnd.After(sentTo) {
			sentTo = r.PeriodEnd
		}
	}
	var missing []itsa.Obligation
	for _, o := range obligations {
		if o.Fulfilled() {
			continue
		}
		if end, err := time.Parse(time.DateOnly, o.End); err == nil && !sentTo.IsZero() && !sentTo.Before(end) {
			continue
		}
		missing = append(missing, o)
	}
	return missing
}

// checkAmendmentWindow refuses an amendment of taxYear after its window:
// 12 months after the final declaration's due date (HMRC's obligation's,
// or 31 January after the year). It reads the obligation (one call).
func (s *Service) checkAmendmentWindow(ctx context.Context, u *mtdconnect.User, taxYear itsa.TaxYear, origin *fraud.Origin) error {
	ob, err := s.itsa.FinalDeclarationObligation(ctx, u.ID, u.NINO, taxYear, origin)
	if err != nil {
		return err
	}
	due := ""
	if ob != nil {
		due = ob.Due
	}
	if s.today().Format(time.DateOnly) > amendableUntil(taxYear, due) {
		return ErrOutsideAmendmentWindow
	}
	return nil
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
