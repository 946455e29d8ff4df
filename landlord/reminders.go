package landlord

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mtdconnect/mtdconnect"
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
// this service holds its receipt. It never asks HMRC: it reads the
// obligations Obligations kept (whatever their age: their periods and due
// dates do not change, and this service's receipts mark what it sent), so
// a page can show it on every view. A year with nothing kept, or with no
// obligations (Making Tax Digital did not apply), has nothing due.
func (s *Service) DueNext(ctx context.Context, userID int64) ([]Due, error) {
	u, err := s.incomeTaxUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	biz, err := s.store.IncomeTaxBusiness(ctx, u.ID)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("landlord: read the business: %w", err)
	}
	if biz.NINO != u.NINO || biz.Environment != s.hmrc.Environment() {
		return nil, nil // another NINO's, or another environment's
	}
	current := itsa.CurrentTaxYear(s.now())
	subs, err := s.store.Submissions(ctx, u.ID, mtdconnect.PurposeIncomeTax, maxReceipts)
	if err != nil {
		return nil, fmt.Errorf("landlord: read receipts: %w", err)
	}
	var due []Due
	for _, y := range []itsa.TaxYear{current - 1, current} {
		c, err := s.store.CachedObligations(ctx, u.ID, obligationsKey(biz.BusinessID, y))
		if errors.Is(err, mtdconnect.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("landlord: read kept obligations: %w", err)
		}
		var list []itsa.Obligation
		if err := json.Unmarshal(c.Body, &list); err != nil {
			return nil, fmt.Errorf("landlord: read kept obligations: %w", err)
		}
		receipts := slices.DeleteFunc(slices.Clone(subs), func(sub *mtdconnect.Submission) bool {
			return sub.Kind != mtdconnect.SubmissionUKPropertyCumulative || sub.Period != y.String()
		})
		obs := s.quarterlyView(y, biz.BusinessID, list, receipts, c.FetchedAt)
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
