package landlord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/sandbox"
)

// How long HMRC's obligations are kept (in the store, shared by every
// instance) before HMRC is asked again. Obligations change when the
// landlord sends an update (which this service knows at once, from its
// receipt), when HMRC processes it ("it may take up to an hour", HMRC's
// end-to-end guide), when the quarters are chosen (which forgets them) and,
// rarely, when other software files for the landlord. So:
const (
	// ObligationsTTL bounds how stale the obligations shown may be: an
	// update filed elsewhere shows within 15 minutes, and a landlord's
	// visits to the pages in between cost HMRC nothing.
	ObligationsTTL = 15 * time.Minute
	// SentRecheck is how long obligations are kept while an update this
	// service sent is not yet shown by HMRC as received: HMRC's "received"
	// replaces the receipt's "sent" within 5 minutes of HMRC marking it.
	SentRecheck = 5 * time.Minute
	// FulfilmentWindow is how long HMRC says it may take to mark an
	// obligation as fulfilled after an update.
	FulfilmentWindow = time.Hour
)

// ErrCalendarNeedsAprilYear means calendar quarters were refused because
// the landlord did not confirm an accounting period of 1 April to 31
// March: HMRC's guide says software "must avoid allowing customers with
// accounting periods other than 1 April to 31 March to make this change"
// (only they benefit from it).
var ErrCalendarNeedsAprilYear = errors.New("landlord: calendar quarters are for an accounting period of 1 April to 31 March")

// QuartersChoice is a landlord's choice of quarters for the current tax
// year.
type QuartersChoice struct {
	UserID     int64
	PeriodType string // itsa.PeriodTypeStandard or itsa.PeriodTypeCalendar
	// AprilToMarch is the landlord's confirmation that their accounting
	// period runs from 1 April to 31 March, required for calendar quarters.
	AprilToMarch bool
	Origin       *fraud.Origin
	TestScenario string // HMRC's sandbox Gov-Test-Scenario; "" for none
}

// ErrQuartersFixed means the quarterly period type was not changed
// because an update was already sent for the tax year: HMRC fixes the
// quarters at the year's first update.
var ErrQuartersFixed = errors.New("landlord: an update was sent for this tax year, so its quarters can no longer be changed")

// incomeTaxUser reads the landlord of an Income Tax call, who must have a
// National Insurance number.
func (s *Service) incomeTaxUser(ctx context.Context, userID int64) (*mtdconnect.User, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.NINO == "" {
		return nil, ErrNoNINO
	}
	return u, nil
}

// Obligation is one of HMRC's quarterly obligations with what this service
// knows of it: the receipt of an update it sent that covers the period.
type Obligation struct {
	itsa.Obligation
	// Sent is the receipt of the latest update this service sent that
	// covers the period, when HMRC does not show it as received yet; nil
	// otherwise.
	Sent *mtdconnect.Submission
}

// AwaitingHMRC reports an update that was sent (and accepted) while HMRC
// still shows the obligation open: HMRC may take up to an hour to mark it.
func (o Obligation) AwaitingHMRC() bool { return o.Sent != nil && !o.Fulfilled() }

// QuarterlyObligations are the quarterly obligations of one tax year of
// the landlord's UK property business.
type QuarterlyObligations struct {
	TaxYear     itsa.TaxYear
	BusinessID  string
	Obligations []Obligation // in period order
	// PeriodType is the quarters HMRC's obligations follow:
	// itsa.PeriodTypeStandard or itsa.PeriodTypeCalendar; "" when there are
	// none to tell from.
	PeriodType string
	// CanChoosePeriodType: the quarters may still be chosen (the current
	// tax year, before its first update).
	CanChoosePeriodType bool
	// FetchedAt is when HMRC was asked.
	FetchedAt time.Time
}

// obligationsKey names a cached answer: the business and the tax year.
func obligationsKey(businessID string, taxYear itsa.TaxYear) string {
	return "itsa:" + businessID + ":" + taxYear.String()
}

// Obligations returns the quarterly-update obligations of the landlord's UK
// property business whose period ends in taxYear, open and fulfilled, in
// period order, with the receipts of updates HMRC does not show as received
// yet. HMRC's answer is kept for ObligationsTTL (SentRecheck while an update
// awaits HMRC), so the pages and instances share one call.
// testScenario is HMRC's sandbox Gov-Test-Scenario ("" for none): its
// canned answer is neither kept nor taken from what is kept.
func (s *Service) Obligations(ctx context.Context, userID int64, taxYear itsa.TaxYear, origin *fraud.Origin, testScenario string) (*QuarterlyObligations, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	receipts, err := s.quarterlyReceipts(ctx, u.ID, taxYear)
	if err != nil {
		return nil, err
	}
	opts := []itsa.Option{itsa.WithTestScenario(testScenario)}
	bid, err := s.itsa.UKPropertyBusinessID(ctx, u.ID, u.NINO, origin, opts...)
	if err != nil {
		return nil, err
	}
	now := s.now()
	key := obligationsKey(bid, taxYear)
	var list []itsa.Obligation
	var fetched time.Time
	if testScenario == "" {
		list, fetched = s.keptObligations(ctx, u.ID, key, receipts, now)
	}
	if list == nil {
		if list, err = s.itsa.Obligations(ctx, u.ID, u.NINO, taxYear, origin, opts...); err != nil {
			return nil, err
		}
		fetched = now
		if testScenario == "" {
			s.keepObligations(ctx, u.ID, key, list, now)
		}
	}
	return s.quarterlyView(taxYear, bid, list, receipts, fetched), nil
}

// keptObligations returns the obligations kept under key if still fresh,
// nil otherwise.
func (s *Service) keptObligations(ctx context.Context, userID int64, key string, receipts []*mtdconnect.Submission, now time.Time) ([]itsa.Obligation, time.Time) {
	c, err := s.store.CachedObligations(ctx, userID, key)
	if err != nil {
		if !errors.Is(err, mtdconnect.ErrNotFound) {
			s.log.LogAttrs(ctx, slog.LevelWarn, "read kept obligations", slog.Int64("user_id", userID), slog.String("err", err.Error()))
		}
		return nil, time.Time{}
	}
	var list []itsa.Obligation
	if json.Unmarshal(c.Body, &list) != nil || list == nil {
		return nil, time.Time{}
	}
	ttl := ObligationsTTL
	for _, ob := range list {
		if !ob.Fulfilled() && coveringReceipt(ob, receipts) != nil {
			ttl = SentRecheck
		}
	}
	if age := now.Sub(c.FetchedAt); age < 0 || age >= ttl {
		return nil, time.Time{}
	}
	return list, c.FetchedAt
}

// keepObligations stores HMRC's answer; a failure costs a call next time.
func (s *Service) keepObligations(ctx context.Context, userID int64, key string, list []itsa.Obligation, now time.Time) {
	body, err := json.Marshal(list)
	if err == nil {
		err = s.store.SaveObligations(ctx, &mtdconnect.CachedObligations{UserID: userID, Key: key, Body: body, FetchedAt: now})
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "keep obligations", slog.Int64("user_id", userID), slog.String("err", err.Error()))
	}
}

// forgetObligations drops the landlord's kept obligations, after something
// that changes them (the quarters chosen) or the authority to read them
// gone (disconnected).
func (s *Service) forgetObligations(ctx context.Context, userID int64) {
	if err := s.store.DeleteObligations(ctx, userID); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "forget kept obligations", slog.Int64("user_id", userID), slog.String("err", err.Error()))
	}
}

// quarterlyReceipts are the landlord's receipts of UK property updates for
// taxYear, newest first.
func (s *Service) quarterlyReceipts(ctx context.Context, userID int64, taxYear itsa.TaxYear) ([]*mtdconnect.Submission, error) {
	subs, err := s.store.Submissions(ctx, userID, mtdconnect.PurposeIncomeTax, maxReceipts)
	if err != nil {
		return nil, fmt.Errorf("landlord: read receipts: %w", err)
	}
	return slices.DeleteFunc(subs, func(sub *mtdconnect.Submission) bool {
		return sub.Kind != mtdconnect.SubmissionUKPropertyCumulative || sub.Period != taxYear.String()
	}), nil
}

// coveringReceipt is the newest receipt of an update whose period reaches
// the obligation's end (updates are year-to-date, so a later one covers the
// earlier periods too); nil when none does.
func coveringReceipt(ob itsa.Obligation, receipts []*mtdconnect.Submission) *mtdconnect.Submission {
	end, err := time.Parse(time.DateOnly, ob.End)
	if err != nil {
		return nil
	}
	for _, r := range receipts { // newest first
		if !r.PeriodEnd.IsZero() && !r.PeriodEnd.Before(end) {
			return r
		}
	}
	return nil
}

func (s *Service) quarterlyView(taxYear itsa.TaxYear, bid string, list []itsa.Obligation, receipts []*mtdconnect.Submission, fetched time.Time) *QuarterlyObligations {
	q := &QuarterlyObligations{TaxYear: taxYear, BusinessID: bid, PeriodType: itsa.PeriodTypeOf(list), FetchedAt: fetched,
		Obligations: make([]Obligation, 0, len(list))}
	anyFulfilled := false
	for _, ob := range list {
		o := Obligation{Obligation: ob}
		if !ob.Fulfilled() {
			o.Sent = coveringReceipt(ob, receipts)
		}
		anyFulfilled = anyFulfilled || ob.Fulfilled()
		q.Obligations = append(q.Obligations, o)
	}
	q.CanChoosePeriodType = taxYear == itsa.CurrentTaxYear(s.now()) && len(receipts) == 0 && !anyFulfilled
	return q
}

// CumulativeSummary returns the year-to-date UK property summary HMRC holds
// for taxYear, as last submitted; itsa.ErrNoSubmission when there is none.
func (s *Service) CumulativeSummary(ctx context.Context, userID int64, taxYear itsa.TaxYear, origin *fraud.Origin, testScenario string) (*itsa.UKPropertySummary, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.itsa.UKPropertyCumulative(ctx, u.ID, u.NINO, taxYear, origin, itsa.WithTestScenario(testScenario))
}

// QuarterlyUpdate is a year-to-date UK property update to send.
type QuarterlyUpdate struct {
	UserID  int64
	TaxYear itsa.TaxYear
	// Body is HMRC's own; its FromDate and ToDate, when given, are the
	// period the receipt is recorded for.
	Body         itsa.UKPropertyCumulative
	Origin       *fraud.Origin
	TestScenario string // HMRC's sandbox Gov-Test-Scenario; "" for none
}

// SubmitQuarterlyUpdate sends the update and keeps its receipt. Nothing is
// sent when HMRC would refuse it for its shape: the error then joins
// *hmrc.ValidationError values (and a *mtdconnect.NINOError for a malformed
// stored NINO). Once HMRC is asked, its answer is waited for and the
// receipt kept even if the caller goes away; a receipt that cannot be
// stored is a *ReceiptError with HMRC's reference: the update was accepted
// and must not be sent again. From the receipt on, Obligations shows the
// periods it covers as sent until HMRC shows them as received.
func (s *Service) SubmitQuarterlyUpdate(ctx context.Context, by Actor, q QuarterlyUpdate) (*mtdconnect.Submission, error) {
	u, err := s.incomeTaxUser(ctx, q.UserID)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(q.Body)
	if err != nil {
		return nil, fmt.Errorf("landlord: encode quarterly update: %w", err)
	}
	ctx = context.WithoutCancel(ctx)
	resp, err := s.itsa.SubmitUKPropertyCumulative(ctx, u.ID, u.NINO, q.TaxYear, q.Body, q.Origin, itsa.WithTestScenario(q.TestScenario))
	if err != nil {
		return nil, err
	}
	sub := &mtdconnect.Submission{
		UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionUKPropertyCumulative,
		Period: q.TaxYear.String(), Body: raw, Response: resp.Body, CorrelationID: resp.CorrelationID, SubmittedAt: s.now(),
	}
	sub.PeriodStart, _ = time.Parse(time.DateOnly, q.Body.FromDate)
	sub.PeriodEnd, _ = time.Parse(time.DateOnly, q.Body.ToDate)
	return sub, s.keep(ctx, by, "quarterly update submitted", sub, slog.String("tax_year", sub.Period))
}

// ChooseQuarterlyPeriodType chooses standard or calendar quarters
// (itsa.PeriodTypeStandard, itsa.PeriodTypeCalendar) for the current tax
// year of the landlord's UK property business. Calendar quarters need the
// landlord's confirmation of a 1 April to 31 March accounting period
// (ErrCalendarNeedsAprilYear). HMRC takes the choice only before the
// year's first quarterly update: ErrQuartersFixed, without asking HMRC,
// when this service sent one; HMRC's own refusals are *hmrc.APIError
// (RULE_BUSINESS_ID_STATE_CONFLICT when another product sent one). HMRC
// then shows obligations for the quarters chosen, and they carry on into
// later years until changed.
func (s *Service) ChooseQuarterlyPeriodType(ctx context.Context, by Actor, c QuartersChoice) (itsa.TaxYear, error) {
	u, err := s.incomeTaxUser(ctx, c.UserID)
	if err != nil {
		return 0, err
	}
	periodType, origin, testScenario := c.PeriodType, c.Origin, c.TestScenario
	taxYear := itsa.CurrentTaxYear(s.now())
	if periodType == itsa.PeriodTypeCalendar && !c.AprilToMarch {
		return taxYear, ErrCalendarNeedsAprilYear
	}
	if itsa.ValidPeriodType(periodType) {
		receipts, err := s.quarterlyReceipts(ctx, u.ID, taxYear)
		if err != nil {
			return 0, err
		}
		if len(receipts) > 0 {
			return taxYear, ErrQuartersFixed
		}
	}
	ctx = context.WithoutCancel(ctx)
	resp, err := s.itsa.SetQuarterlyPeriodType(ctx, u.ID, u.NINO, taxYear, periodType, origin, itsa.WithTestScenario(testScenario))
	if err != nil {
		return taxYear, err
	}
	s.forgetObligations(ctx, u.ID)
	s.record(ctx, by, "quarterly period type chosen", u.ID, mtdconnect.PurposeIncomeTax,
		slog.String("tax_year", taxYear.String()), slog.String("period_type", periodType), slog.String("correlation_id", resp.CorrelationID))
	return taxYear, nil
}

// CreateTestBusiness creates a UK property test business for the landlord
// in HMRC's sandbox (Self Assessment Test Support "Create a Test
// Business"), through the landlord's Income Tax connection, and stores its
// ID as the landlord's business, so the sandbox's STATEFUL scenarios reach
// it. It is refused in production, where the API does not exist.
func (s *Service) CreateTestBusiness(ctx context.Context, by Actor, userID int64, origin *fraud.Origin) (string, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return "", err
	}
	ctx = context.WithoutCancel(ctx)
	id, err := sandbox.New(s.hmrc).CreateTestBusiness(ctx, u.ID, u.NINO, sandbox.BusinessUKProperty, origin)
	if err != nil {
		return "", err
	}
	nino, _ := mtdconnect.ParseNINO(u.NINO) // HMRC took it: well formed
	if err := s.store.SaveIncomeTaxBusiness(ctx, &mtdconnect.IncomeTaxBusiness{
		UserID: u.ID, NINO: nino, Environment: s.hmrc.Environment(), BusinessID: id, FoundAt: s.now(),
	}); err != nil {
		return id, fmt.Errorf("landlord: HMRC created the test business %s, but it was not stored: %w", id, err)
	}
	s.forgetObligations(ctx, u.ID)
	s.record(ctx, by, "test business created", u.ID, mtdconnect.PurposeIncomeTax, slog.String("business_id", id))
	return id, nil
}

// keep stores the receipt of a submission HMRC accepted and records the
// action; a receipt that cannot be stored is a *ReceiptError, logged.
func (s *Service) keep(ctx context.Context, by Actor, action string, sub *mtdconnect.Submission, attrs ...slog.Attr) error {
	attrs = append(attrs, slog.String("correlation_id", sub.CorrelationID))
	if sub.ReceiptID != "" {
		attrs = append(attrs, slog.String("receipt_id", sub.ReceiptID))
	}
	var events []*mtdconnect.Event
	if u, err := s.records(ctx, sub.UserID); err == nil {
		events = append(events, s.submissionEvent(u, sub))
	}
	if err := s.store.SaveSubmission(ctx, sub, events...); err != nil {
		// HMRC has it; only our copy of the receipt is lost.
		s.log.LogAttrs(ctx, slog.LevelError, action+", but its receipt was not stored",
			append(attrs, slog.Int64("user_id", sub.UserID), slog.Any("by", by), slog.String("err", err.Error()))...)
		return &ReceiptError{Submission: sub, Err: err}
	}
	s.record(ctx, by, action, sub.UserID, sub.Purpose, append(attrs, slog.Int64("submission_id", sub.ID))...)
	return nil
}
