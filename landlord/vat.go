package landlord

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
)

// vatUser reads the landlord of a VAT call, who must have a VAT
// registration number.
func (s *Service) vatUser(ctx context.Context, userID int64) (*mtdconnect.User, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.VRN == "" {
		return nil, ErrNoVRN
	}
	return u, nil
}

// RecentVATPeriod is the last 12 months to today (UK dates, as midnight
// UTC): from the same day a year ago, the most one VAT obligations query
// may span (HMRC's DateRangeValidation: to no later than from plus one
// year).
func (s *Service) RecentVATPeriod() (from, to time.Time) {
	to = s.today()
	// A year before 29 February is 1 March: still within HMRC's year.
	return to.AddDate(-1, 0, 0), to
}

// VATObligationList is the VAT obligations of one VAT registration number.
type VATObligationList struct {
	VRN         string // the landlord's
	Obligations []vat.Obligation
}

// VATObligations returns the VAT obligations whose period overlaps from..to
// (from before to, to at most a year after from) of the given status (vat.StatusOpen,
// vat.StatusFulfilled or "" for both); from and to may be zero together
// with status vat.StatusOpen, for every open obligation. A query HMRC would
// refuse is a *hmrc.ValidationError, and nothing is sent.
func (s *Service) VATObligations(ctx context.Context, userID int64, from, to time.Time, status string, origin *fraud.Origin, testScenario string) (*VATObligationList, error) {
	u, err := s.vatUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	list, err := s.vat.Obligations(ctx, u.ID, u.VRN, from, to, status, origin, vat.WithTestScenario(testScenario))
	if err != nil {
		return nil, err
	}
	return &VATObligationList{VRN: u.VRN, Obligations: list}, nil
}

// VATObligationsToShow returns the obligations a landlord looks at: those
// of the last 12 months up to today, and every open one (an overdue return
// from longer ago, the current period), in period order.
func (s *Service) VATObligationsToShow(ctx context.Context, userID int64, origin *fraud.Origin) ([]vat.Obligation, error) {
	u, err := s.vatUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	from, to := s.RecentVATPeriod()
	recent, err := s.vat.Obligations(ctx, u.ID, u.VRN, from, to, "", origin)
	if err != nil {
		return nil, err
	}
	open, err := s.vat.Obligations(ctx, u.ID, u.VRN, time.Time{}, time.Time{}, vat.StatusOpen, origin)
	if err != nil {
		return nil, err
	}
	list := recent
	for _, o := range open {
		if !slices.ContainsFunc(list, func(x vat.Obligation) bool { return x.PeriodKey == o.PeriodKey && x.Start == o.Start }) {
			list = append(list, o)
		}
	}
	slices.SortStableFunc(list, func(a, b vat.Obligation) int {
		return strings.Compare(a.Start+a.End+a.PeriodKey, b.Start+b.End+b.PeriodKey)
	})
	return list, nil
}

// VATReturn returns the return HMRC holds for periodKey, as filed;
// vat.ErrNoReturn when none was filed.
func (s *Service) VATReturn(ctx context.Context, userID int64, periodKey string, origin *fraud.Origin, testScenario string) (*vat.Return, error) {
	u, err := s.vatUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.vat.Return(ctx, u.ID, u.VRN, periodKey, origin, vat.WithTestScenario(testScenario))
}

// VATFiling is a VAT return to file.
type VATFiling struct {
	UserID int64
	Return vat.Return
	// PeriodStart and PeriodEnd are the obligation's dates, when known:
	// they are recorded with the receipt, and a period that has not ended
	// is refused here (ErrPeriodNotEnded) without spending HMRC's budget.
	PeriodStart, PeriodEnd time.Time
	Origin                 *fraud.Origin
	TestScenario           string // HMRC's sandbox Gov-Test-Scenario; "" for none
}

// FileVATReturn files the nine-box return and keeps HMRC's receipt. Nothing
// is sent when HMRC would refuse the return for its shape or its sums
// (*hmrc.ValidationError values joined) or its period has not ended. The
// submission is never repeated after a failure HMRC may have acted on: the
// error then wraps hmrc.ErrUnavailable and the return may or may not have
// been filed. Once HMRC has answered, the receipt is kept even if the
// caller went away; one that cannot be stored is a *ReceiptError (the
// return was filed: do not file it again).
func (s *Service) FileVATReturn(ctx context.Context, by Actor, f VATFiling) (*vat.Receipt, *mtdconnect.Submission, error) {
	u, err := s.vatUser(ctx, f.UserID)
	if err != nil {
		return nil, nil, err
	}
	// HMRC takes a return from the day after its period ends.
	if !f.PeriodEnd.IsZero() && !f.PeriodEnd.Before(s.today()) {
		return nil, nil, ErrPeriodNotEnded
	}
	ctx = context.WithoutCancel(ctx)
	rec, err := s.vat.SubmitReturn(ctx, u.ID, u.VRN, f.Return, f.Origin, vat.WithTestScenario(f.TestScenario))
	if err != nil {
		return nil, nil, err
	}
	attrs := []slog.Attr{slog.String("period_key", rec.PeriodKey), slog.String("form_bundle", rec.FormBundleNumber)}
	if rec.FormBundleNumber == "" {
		// HMRC filed it; its answer is kept as it came.
		s.log.LogAttrs(ctx, slog.LevelWarn, "VAT return filed but HMRC's receipt body is unreadable",
			slog.Int64("user_id", u.ID), slog.String("correlation_id", rec.CorrelationID), slog.String("receipt_id", rec.ReceiptID))
	}
	sub := rec.Submission(u.ID)
	sub.PeriodStart, sub.PeriodEnd = f.PeriodStart, f.PeriodEnd
	return rec, sub, s.keep(ctx, by, "VAT return filed", sub, attrs...)
}
