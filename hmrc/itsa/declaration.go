package itsa

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// DeclarationObligation is the final declaration obligation of a tax year
// (Obligations v3.0 "crystallisation"): the year's period, due 31 January
// after it, fulfilled by the final declaration. HMRC may take up to an hour
// after the declaration to mark it fulfilled.
type DeclarationObligation struct {
	Start, End string // the tax year, YYYY-MM-DD
	Due        string // YYYY-MM-DD, HMRC's
	Status     string // ObligationOpen or ObligationFulfilled
	Received   string // YYYY-MM-DD when fulfilled, else empty
}

// Fulfilled reports whether HMRC has the final declaration.
func (o DeclarationObligation) Fulfilled() bool { return o.Status == ObligationFulfilled }

// DeclarationObligationFirstTaxYear is the first tax year HMRC's
// Obligations API gives final declaration obligations for (2017-18).
const DeclarationObligationFirstTaxYear TaxYear = 2017

// FinalDeclarationObligation returns the final declaration obligation of
// taxYear; nil (and no error) when HMRC has none for it (NO_OBLIGATIONS_FOUND:
// the landlord was not in Making Tax Digital that year, or the year has
// not begun). A malformed NINO or tax year is refused before anything is
// sent.
func (c *Client) FinalDeclarationObligation(ctx context.Context, userID int64, nino string, taxYear TaxYear, origin *fraud.Origin, opts ...Option) (*DeclarationObligation, error) {
	n, err := mtdconnect.ParseNINO(nino)
	switch {
	case !taxYear.Valid():
		err = errors.Join(err, errOf(errTaxYearFormat))
	case taxYear < DeclarationObligationFirstTaxYear:
		err = errors.Join(err, errOf(errTaxYearNotSupp))
	}
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	var out struct {
		Obligations []obligationDetail `json:"obligations"`
	}
	_, err = c.do(ctx, o, userID, hmrc.Call{
		API: APIObligations, Method: http.MethodGet, Path: "/obligations/details/" + n + "/crystallisation",
		Query: url.Values{"taxYear": {taxYear.String()}}, Accept: acceptObligations, Fraud: origin,
	}, &out)
	if _, ok := notFound(err, "NO_OBLIGATIONS_FOUND", "MATCHING_RESOURCE_NOT_FOUND"); ok {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("itsa: final declaration obligation %s: %w", taxYear, err)
	}
	// HMRC answers for the year asked; anything else (a sandbox's canned
	// example year) is not this year's.
	i := slices.IndexFunc(out.Obligations, func(ob obligationDetail) bool {
		return ob.PeriodStartDate == taxYear.FirstDay() && ob.PeriodEndDate == taxYear.LastDay()
	})
	if i < 0 {
		return nil, nil
	}
	ob := out.Obligations[i]
	return &DeclarationObligation{Start: ob.PeriodStartDate, End: ob.PeriodEndDate, Due: ob.DueDate, Status: ob.Status, Received: ob.ReceivedDate}, nil
}

// obligationDetail is one obligation as HMRC's Obligations API sends it.
type obligationDetail struct {
	PeriodStartDate string `json:"periodStartDate"`
	PeriodEndDate   string `json:"periodEndDate"`
	DueDate         string `json:"dueDate"`
	Status          string `json:"status"`
	ReceivedDate    string `json:"receivedDate"`
}
