package landlord

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// Due is one thing the landlord must send HMRC, and by when.
type Due struct {
	TaxYear itsa.TaxYear
	// Kind is mtdconnect.SubmissionUKPropertyCumulative (a quarterly
	// update) or mtdconnect.SubmissionFinalDeclaration.
	Kind string
	// Start and End are the quarterly update's period (YYYY-MM-DD); empty
	// for the final declaration.
	Start, End string
	Due        string // YYYY-MM-DD
}

// DueNext says what the landlord has to send next for Income Tax, earliest
// first: for last tax year and this one, the first quarterly update not yet
// sent, and the year's final declaration (due 31 January after it) unless
// this service holds its receipt. A year HMRC shows no obligations for
// (Making Tax Digital did not apply) has nothing due. It reads Obligations,
// so the pages share HMRC's kept answer: HMRC is asked at most once per
// ObligationsTTL, whatever the page views. It needs the NINO (ErrNoNINO)
// and a connection, like Obligations.
func (s *Service) DueNext(ctx context.Context, userID int64, origin *fraud.Origin) ([]Due, error) {
	now := s.now()
	current := itsa.CurrentTaxYear(now)
	subs, err := s.store.Submissions(ctx, userID, mtdconnect.PurposeIncomeTax, maxReceipts)
	if err != nil {
		return nil, fmt.Errorf("landlord: read receipts: %w", err)
	}
	var due []Due
	for _, y := range []itsa.TaxYear{current - 1, current} {
		obs, err := s.Obligations(ctx, userID, y, origin, "")
		if err != nil {
			return nil, err
		}
		if len(obs.Obligations) == 0 {
			continue
		}
		if i := slices.IndexFunc(obs.Obligations, func(o Obligation) bool { return !o.Fulfilled() && !o.AwaitingHMRC() }); i >= 0 {
			o := obs.Obligations[i]
			due = append(due, Due{TaxYear: y, Kind: mtdconnect.SubmissionUKPropertyCumulative, Start: o.Start, End: o.End, Due: o.Due})
		}
		declared := slices.ContainsFunc(subs, func(sub *mtdconnect.Submission) bool {
			return sub.Kind == mtdconnect.SubmissionFinalDeclaration && sub.Period == y.String()
		})
		if !declared {
			due = append(due, Due{TaxYear: y, Kind: mtdconnect.SubmissionFinalDeclaration, Due: filingDate(y)})
		}
	}
	slices.SortStableFunc(due, func(a, b Due) int { return cmp.Compare(a.Due, b.Due) })
	return due, nil
}
