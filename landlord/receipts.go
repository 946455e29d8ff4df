package landlord

import (
	"cmp"
	"context"
	"slices"

	"github.com/mtdconnect/mtdconnect"
)

// ReceiptQuery says which receipts to list.
type ReceiptQuery struct {
	// Purposes to list; none: Income Tax and VAT.
	Purposes []mtdconnect.Purpose
	// Kind keeps one kind (mtdconnect.SubmissionUKPropertyCumulative,
	// mtdconnect.SubmissionVATReturn); "": every kind.
	Kind string
	// Limit bounds the list; at most (and by default) 100.
	Limit int
}

// maxReceipts bounds a list; receipts are few (four a year per purpose and
// business).
const maxReceipts = 100

// Receipts lists the receipts of what HMRC accepted from the landlord,
// newest first; a deleted landlord's too, until they are purged.
func (s *Service) Receipts(ctx context.Context, userID int64, q ReceiptQuery) ([]*mtdconnect.Submission, error) {
	if _, err := s.records(ctx, userID); err != nil {
		return nil, err
	}
	purposes := q.Purposes
	if len(purposes) == 0 {
		purposes = []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT}
	}
	limit := q.Limit
	if limit <= 0 || limit > maxReceipts {
		limit = maxReceipts
	}
	var out []*mtdconnect.Submission
	for _, p := range purposes {
		list, err := s.store.Submissions(ctx, userID, p, limit)
		if err != nil {
			return nil, err
		}
		for _, sub := range list {
			if q.Kind == "" || sub.Kind == q.Kind {
				out = append(out, sub)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *mtdconnect.Submission) int {
		return cmp.Or(b.SubmittedAt.Compare(a.SubmittedAt), cmp.Compare(b.ID, a.ID))
	})
	return out[:min(len(out), limit)], nil
}

// Receipt returns the landlord's receipt id of the given kind ("" for any);
// mtdconnect.ErrNotFound when the landlord has none such.
func (s *Service) Receipt(ctx context.Context, userID, id int64, kind string) (*mtdconnect.Submission, error) {
	if _, err := s.records(ctx, userID); err != nil {
		return nil, err
	}
	sub, err := s.store.Submission(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	if kind != "" && sub.Kind != kind {
		return nil, mtdconnect.ErrNotFound
	}
	return sub, nil
}
