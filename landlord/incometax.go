package landlord

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

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

// Obligations returns the quarterly-update obligations of the landlord's UK
// property business whose period ends in taxYear, open and fulfilled, in
// period order. testScenario is HMRC's sandbox Gov-Test-Scenario ("" for
// none).
func (s *Service) Obligations(ctx context.Context, userID int64, taxYear itsa.TaxYear, origin *fraud.Origin, testScenario string) ([]itsa.Obligation, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.itsa.Obligations(ctx, u.ID, u.NINO, taxYear, origin, itsa.WithTestScenario(testScenario))
}

// CumulativeSummary returns the year-to-date UK property summary HMRC holds
// for taxYear, as last submitted; itsa.ErrNoSubmission when there is none.
func (s *Service) CumulativeSummary(ctx context.Context, userID int64, taxYear itsa.TaxYear, origin *fraud.Origin, testScenario string) (*itsa.UKPropertyCumulative, error) {
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
// and must not be sent again.
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

// keep stores the receipt of a submission HMRC accepted and records the
// action; a receipt that cannot be stored is a *ReceiptError, logged.
func (s *Service) keep(ctx context.Context, by Actor, action string, sub *mtdconnect.Submission, attrs ...slog.Attr) error {
	attrs = append(attrs, slog.String("correlation_id", sub.CorrelationID))
	if sub.ReceiptID != "" {
		attrs = append(attrs, slog.String("receipt_id", sub.ReceiptID))
	}
	if err := s.store.SaveSubmission(ctx, sub); err != nil {
		// HMRC has it; only our copy of the receipt is lost.
		s.log.LogAttrs(ctx, slog.LevelError, action+", but its receipt was not stored",
			append(attrs, slog.Int64("user_id", sub.UserID), slog.Any("by", by), slog.String("err", err.Error()))...)
		return &ReceiptError{Submission: sub, Err: err}
	}
	s.record(ctx, by, action, sub.UserID, sub.Purpose, append(attrs, slog.Int64("submission_id", sub.ID))...)
	return nil
}
