package landlord_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// yearEnv is a landlord connected for Income Tax in a deployment whose
// clock starts at start; the service waits for HMRC with wait (nil: by
// moving the shared clock).
type yearEnv struct {
	*hmrctest.Env
	svc    *landlord.Service
	userID int64
}

func newYearEnv(t *testing.T, opts hmrctest.Options, wait func(context.Context, time.Duration) error) *yearEnv {
	t.Helper()
	h := hmrctest.New(t, opts)
	h.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: nino})
	if wait == nil {
		wait = func(ctx context.Context, d time.Duration) error { h.Clock.Advance(d); return ctx.Err() }
	}
	svc, err := landlord.New(landlord.Config{Store: h.Store, HMRC: h.Client, ITSA: itsa.New(h.Client, h.Store), VAT: vat.New(h.Client),
		Logger: h.Logger, Now: h.Clock.Now, Wait: wait})
	if err != nil {
		t.Fatal(err)
	}
	e := &yearEnv{Env: h, svc: svc, userID: h.CreateUser(t, "landlord@example.com", nino, "").ID}
	h.Connect(t, h.Client, e.userID, mtdconnect.PurposeIncomeTax, simUser, simPassword)
	return e
}

// sendUpdate sends quarter q (1 to 4) of 2026-27: by the year's end rents
// £20,000, expenses £4,000, finance costs £3,000.
func (e *yearEnv) sendUpdate(t *testing.T, q int) {
	t.Helper()
	ends := []string{"2026-07-05", "2026-10-05", "2027-01-05", "2027-04-05"}
	_, err := e.svc.SubmitQuarterlyUpdate(t.Context(), landlord.ByLandlord(e.userID), landlord.QuarterlyUpdate{
		UserID: e.userID, TaxYear: 2026, Origin: origin(),
		Body: itsa.UKPropertyCumulative{FromDate: "2026-04-06", ToDate: ends[q-1], UKProperty: itsa.UKProperty{
			Income: &itsa.UKPropertyIncome{PeriodAmount: mtdconnect.Pence(int64(q) * 500000)},
			Expenses: &itsa.UKPropertyExpenses{ConsolidatedExpenses: mtdconnect.Pence(int64(q) * 100000),
				ResidentialFinancialCost: mtdconnect.Pence(int64(q) * 75000)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// What is next, through the year: the next update and its due date, the
// wait for the year's end once every update is in, the final declaration
// and its due date, then the amendment window.
func TestTaxYearStatus(t *testing.T) {
	e := newYearEnv(t, hmrctest.Options{Start: time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC)}, nil)
	ctx := t.Context()
	status := func() *landlord.YearStatus {
		t.Helper()
		ty, err := e.svc.TaxYearStatus(ctx, e.userID, 2026, origin(), "")
		if err != nil {
			t.Fatal(err)
		}
		return ty
	}
	ty := status()
	if ty.Next != landlord.StepQuarterlyUpdate || ty.NextObligation.End != "2026-07-05" || ty.NextDue != "2026-08-07" ||
		ty.DaysUntil(ty.NextDue) != 6 || ty.Ended || len(ty.Quarterly) != 4 || ty.FinalDeclaration == nil || ty.FinalDeclaration.Due != "2028-01-31" {
		t.Errorf("in August: %+v", ty)
	}

	// Every update sent (the last one is taken from 10 days before its
	// period ends): the year is not over yet.
	e.Clock.Advance(time.Date(2027, 3, 30, 9, 0, 0, 0, time.UTC).Sub(e.Clock.Now()))
	for q := 1; q <= 4; q++ {
		e.sendUpdate(t, q)
	}
	if ty := status(); ty.Next != landlord.StepWaitForYearEnd || ty.NextDue != "" || ty.Ended {
		t.Errorf("every update in, before the year's end: %+v", ty)
	}
	e.Clock.Advance(7 * 24 * time.Hour)
	if ty := status(); ty.Next != landlord.StepFinalDeclaration || ty.NextDue != "2028-01-31" || !ty.Ended || ty.DaysUntil(ty.NextDue) != 300 {
		t.Errorf("after the year's end: %+v (%d days)", ty, ty.DaysUntil(ty.NextDue))
	}

	c, err := e.svc.Calculate(ctx, landlord.ByLandlord(e.userID), landlord.CalculationRequest{UserID: e.userID, TaxYear: 2026, Type: calc.IntentToFinalise, Origin: origin()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Declare(ctx, landlord.ByLandlord(e.userID), landlord.Declaration{UserID: e.userID, TaxYear: 2026,
		CalculationID: c.Metadata.CalculationID, Agreed: true, Origin: origin()}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Hour) // HMRC may take up to an hour to show it received
	if ty := status(); ty.Next != landlord.StepDone || ty.AmendableUntil != "2029-01-31" || ty.NextDue != "2029-01-31" || !ty.FinalDeclaration.Fulfilled() {
		t.Errorf("declared: %+v", ty)
	}
}

// The service waits 5 seconds before it first asks for a calculation, then
// less and less often, and stops after about a minute with the ID: a
// bounded number of calls, never a busy loop.
func TestCalculatePollsPolitely(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	e := newYearEnv(t, hmrctest.Options{Start: time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC)},
		func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, d) // HMRC's clock does not move: never ready
			return ctx.Err()
		})
	e.sendUpdate(t, 4)
	before := e.Sim.Stats().APIRequests
	_, err := e.svc.Calculate(t.Context(), landlord.ByLandlord(e.userID), landlord.CalculationRequest{UserID: e.userID, TaxYear: 2026, Type: calc.InYear, Origin: origin()})
	var pending *landlord.CalculationPendingError
	if !errors.As(err, &pending) || !calc.ValidID(pending.CalculationID) {
		t.Fatalf("%v, want a pending calculation", err)
	}
	want := []time.Duration{5 * time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, 8 * time.Second, 13 * time.Second, 21 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("waited %v, want %v", waits, want)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 1+int64(len(want)) {
		t.Errorf("%d calls to HMRC: want the trigger and one retrieve per wait", n)
	}
	// Later, by its ID.
	e.Clock.Advance(5 * time.Second)
	if c, err := e.svc.Calculation(t.Context(), e.userID, 2026, pending.CalculationID, origin(), ""); err != nil || c.Type() != calc.InYear {
		t.Errorf("later: %+v, %v", c, err)
	}
	// A caller that goes away stops the wait.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e.Clock.Advance(time.Minute)
	if _, err := e.svc.Calculate(ctx, landlord.ByLandlord(e.userID), landlord.CalculationRequest{UserID: e.userID, TaxYear: 2026, Type: calc.InYear, Origin: origin()}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// HMRC may take an hour to show an update as received: a declaration right
// after the last update is not refused for it (the receipt kept here shows
// HMRC accepted it), and the final declaration too shows as received an
// hour later. The receipts and the one log line per action say what was
// done, by whom, with HMRC's references.
func TestDeclareWhileHMRCCatchesUp(t *testing.T) {
	e := newYearEnv(t, hmrctest.Options{Start: time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC), FulfilmentDelay: time.Hour}, nil)
	ctx := t.Context()
	by := landlord.ByPlatform(7)
	for q := 1; q <= 4; q++ {
		e.sendUpdate(t, q)
	}
	yes := false
	annual, err := e.svc.SubmitAnnualSubmission(ctx, by, landlord.AnnualUpdate{UserID: e.userID, TaxYear: 2026, Origin: origin(),
		Body: itsa.UKPropertyAnnual{UKProperty: &itsa.UKPropertyYear{Adjustments: &itsa.UKPropertyAdjustments{
			BalancingCharge: mtdconnect.Pence(20000), NonResidentLandlord: &yes}}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.Calculate(ctx, by, landlord.CalculationRequest{UserID: e.userID, TaxYear: 2026, Type: calc.IntentToFinalise, Origin: origin()})
	if err != nil {
		t.Fatal(err)
	}
	// HMRC does not show the updates as received yet; the overview says
	// they were sent and the year's next step is the declaration.
	if ty, _ := e.svc.TaxYearStatus(ctx, e.userID, 2026, origin(), ""); ty.Next != landlord.StepFinalDeclaration ||
		slices.ContainsFunc(ty.Quarterly, func(o landlord.Obligation) bool { return !o.AwaitingHMRC() }) {
		t.Fatalf("HMRC shows the updates as received at once, or the overview does not say they were sent: %+v", ty)
	}
	sub, err := e.svc.Declare(ctx, by, landlord.Declaration{UserID: e.userID, TaxYear: 2026, CalculationID: c.Metadata.CalculationID, Agreed: true, Origin: origin()})
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ TaxYear, CalculationID, CalculationType string }
	declared, _ := calc.ParseCalculation(sub.Response)
	if json.Unmarshal(sub.Body, &body) != nil || body.CalculationID != c.Metadata.CalculationID || body.CalculationType != "final-declaration" ||
		sub.Kind != mtdconnect.SubmissionFinalDeclaration || sub.ReceiptID != c.Metadata.CalculationID || sub.Period != "2026-27" ||
		sub.PeriodStart.Format(time.DateOnly) != "2026-04-06" || sub.PeriodEnd.Format(time.DateOnly) != "2027-04-05" ||
		declared == nil || declared.Metadata.CalculationID != c.Metadata.CalculationID || sub.ID == 0 || len(sub.CorrelationID) != 36 {
		t.Errorf("receipt %+v\nbody %s", sub, sub.Body)
	}
	if annual.Kind != mtdconnect.SubmissionUKPropertyAnnual || annual.Period != "2026-27" || !strings.Contains(string(annual.Body), `"balancingCharge":200.00`) {
		t.Errorf("annual receipt %+v, body %s", annual, annual.Body)
	}

	ty, _ := e.svc.TaxYearStatus(ctx, e.userID, 2026, origin(), "")
	if ty.FinalDeclaration.Fulfilled() {
		t.Error("the final declaration shows as received at once")
	}
	e.Clock.Advance(time.Hour)
	if ty, _ := e.svc.TaxYearStatus(ctx, e.userID, 2026, origin(), ""); !ty.FinalDeclaration.Fulfilled() || ty.Next != landlord.StepDone {
		t.Errorf("an hour later: %+v", ty)
	}

	logs := e.Logs.String()
	for _, action := range []string{"tax calculation triggered", "annual submission sent", "final declaration made"} {
		if n := strings.Count(logs, logged(action)+" by.kind=platform by.id=7"); n != 1 {
			t.Errorf("%q logged %d times with the actor", action, n)
		}
	}
	if !strings.Contains(logs, fmt.Sprintf("calculation_id=%s", c.Metadata.CalculationID)) || strings.Contains(logs, nino) {
		t.Error("the log lacks the calculation's ID, or holds the NINO")
	}
}
