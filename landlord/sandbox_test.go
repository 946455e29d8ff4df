package landlord_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/sandbox"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// TestSandboxJourney drives the whole Income Tax and VAT journey through
// the service against the simulator's sandbox-faithful mode, with the
// scenarios a developer uses in HMRC's sandbox (docs/SANDBOX.md): a test
// user from Create Test User, the default business list's
// self-employment only, a UK property test business from the Self
// Assessment Test Support API, STATEFUL for the developer's own data,
// canned scenarios for the refusals, and every call's fraud prevention
// headers valid.
func TestSandboxJourney(t *testing.T) {
	// 2 July 2026: the first calendar quarter of 2026-27 has ended.
	h := hmrctest.New(t, hmrctest.Options{Start: time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC), Mode: hmrcsim.ModeSandbox})
	svc, err := landlord.New(landlord.Config{Store: h.Store, HMRC: h.Client, ITSA: itsa.New(h.Client, h.Store), VAT: vat.New(h.Client),
		Logger: h.Logger, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	by := landlord.ByLandlord(1)
	o := origin()

	// A test user, created as `mtdconnect sandbox create-user` does, and a
	// landlord with its identifiers connected as it for both purposes.
	tu, err := sandbox.New(h.Client).CreateTestUser(ctx, []string{sandbox.ServiceMTDIncomeTax, sandbox.ServiceMTDVAT})
	if err != nil {
		t.Fatal(err)
	}
	u := h.CreateUser(t, "landlord@example.com", tu.NINO, tu.VRN)
	for _, p := range []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT} {
		authURL, state, err := svc.StartConnect(ctx, by, u.ID, p, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CompleteConnect(ctx, by, u.ID, state, hmrctest.Grant(t, authURL, state, tu.UserID, tu.Password)); err != nil {
			t.Fatal(err)
		}
	}

	// The sandbox's default business list has a self-employment only: no
	// UK property business, as the real sandbox answers.
	msg, err := svc.Test(ctx, by, u.ID, mtdconnect.PurposeIncomeTax, o, "")
	if err != nil || msg != "HMRC answered: no UK property business is registered for your National Insurance number" {
		t.Fatalf("connection test before the test business: %q, %v", msg, err)
	}
	if _, err := svc.Obligations(ctx, u.ID, 2026, o, ""); !errors.Is(err, itsa.ErrNoUKProperty) {
		t.Fatalf("obligations before the test business: %v", err)
	}

	// The UK property test business, stored as the landlord's.
	bid, err := svc.CreateTestBusiness(ctx, by, u.ID, o)
	if err != nil || !itsa.ValidBusinessID(bid) {
		t.Fatalf("test business %q, %v", bid, err)
	}
	if b, err := h.Store.IncomeTaxBusiness(ctx, u.ID); err != nil || b.BusinessID != bid || b.NINO != tu.NINO {
		t.Fatalf("stored business %+v, %v", b, err)
	}
	// STATEFUL lists it: the connection test (which asks HMRC afresh) finds
	// it only with the scenario, and keeps the stored ID.
	if msg, err := svc.Test(ctx, by, u.ID, mtdconnect.PurposeIncomeTax, o, itsa.ScenarioStateful); err != nil || msg != "HMRC answered: your UK property business is "+bid {
		t.Fatalf("STATEFUL connection test: %q, %v; want %s", msg, err, bid)
	}
	if b, err := h.Store.IncomeTaxBusiness(ctx, u.ID); err != nil || b.BusinessID != bid {
		t.Fatalf("stored business after the STATEFUL test: %+v, %v", b, err)
	}

	// The quarters: calendar, stored for the test business (STATEFUL), before
	// the first update; only for a landlord whose accounting period runs
	// from 1 April to 31 March.
	if _, err := svc.ChooseQuarterlyPeriodType(ctx, by, landlord.QuartersChoice{UserID: u.ID, PeriodType: itsa.PeriodTypeCalendar,
		Origin: o, TestScenario: itsa.ScenarioStateful}); !errors.Is(err, landlord.ErrCalendarNeedsAprilYear) {
		t.Fatalf("calendar quarters without the April year: %v", err)
	}
	if _, err := svc.ChooseQuarterlyPeriodType(ctx, by, landlord.QuartersChoice{UserID: u.ID, PeriodType: itsa.PeriodTypeCalendar,
		AprilToMarch: true, Origin: o, TestScenario: itsa.ScenarioStateful}); err != nil {
		t.Fatalf("calendar quarters: %v", err)
	}

	// Obligations: the sandbox's are canned and tied to HMRC's own business
	// IDs, not the test business: the default, OPEN and NO_OBLIGATIONS_FOUND
	// give the landlord none; the refusals come as HMRC sends them.
	for _, sc := range []string{"", "OPEN", "NO_OBLIGATIONS_FOUND"} {
		q, err := svc.Obligations(ctx, u.ID, 2026, o, sc)
		if err != nil || len(q.Obligations) != 0 || q.BusinessID != bid {
			t.Errorf("obligations %q: %+v, %v", sc, q, err)
		}
	}
	for sc, want := range map[string]struct {
		status int
		code   string
	}{"INSOLVENT_TRADER": {400, "RULE_INSOLVENT_TRADER"}, "NOT_FOUND": {404, "MATCHING_RESOURCE_NOT_FOUND"}, "STATEFUL": {400, "RULE_INCORRECT_GOV_TEST_SCENARIO"}} {
		var ae *hmrc.APIError
		if _, err := svc.Obligations(ctx, u.ID, 2026, o, sc); !errors.As(err, &ae) || ae.Status != want.status || ae.Code != want.code {
			t.Errorf("obligations %s: %v, want %d %s", sc, err, want.status, want.code)
		}
	}

	// The update, STATEFUL: stored for the test business with the calendar
	// quarter's dates, and read back.
	update := itsa.UKPropertyCumulative{FromDate: "2026-04-06", ToDate: "2026-06-30", UKProperty: itsa.UKProperty{
		Income: &itsa.UKPropertyIncome{PeriodAmount: mtdconnect.Pence(750000)}}}
	sub, err := svc.SubmitQuarterlyUpdate(ctx, by, landlord.QuarterlyUpdate{UserID: u.ID, TaxYear: 2026, Body: update, Origin: o, TestScenario: itsa.ScenarioStateful})
	if err != nil || sub.ID == 0 || len(sub.CorrelationID) != 36 {
		t.Fatalf("STATEFUL update: %+v, %v", sub, err)
	}
	got, err := svc.CumulativeSummary(ctx, u.ID, 2026, o, itsa.ScenarioStateful)
	if err != nil || got.ToDate != "2026-06-30" || got.SubmittedOn != "2026-07-02T09:00:00.000Z" || got.UKProperty.Income.PeriodAmount.String() != "7500.00" {
		t.Fatalf("STATEFUL read-back: %+v, %v", got, err)
	}
	// The default answers: the PUT "simulates success" and stores nothing,
	// the GET is HMRC's example.
	if _, err := svc.SubmitQuarterlyUpdate(ctx, by, landlord.QuarterlyUpdate{UserID: u.ID, TaxYear: 2026, Body: update, Origin: o}); err != nil {
		t.Errorf("default update: %v", err)
	}
	if ex, err := svc.CumulativeSummary(ctx, u.ID, 2026, o, ""); err != nil || ex.SubmittedOn == "" || ex.SubmittedOn == got.SubmittedOn {
		t.Errorf("default read-back (HMRC's example): %+v, %v", ex, err)
	}
	// HMRC's refusals of an update, flat (no errors[]): codes a platform
	// can branch on.
	for _, sc := range []string{"END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE", "START_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE",
		"START_DATE_NOT_ALIGNED_TO_COMMENCEMENT_DATE", "ADVANCE_SUBMISSION_REQUIRES_PERIOD_END_DATE",
		"SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS", "START_AND_END_DATE_NOT_ALLOWED", "MISSING_SUBMISSION_DATES"} {
		var ae *hmrc.APIError
		_, err := svc.SubmitQuarterlyUpdate(ctx, by, landlord.QuarterlyUpdate{UserID: u.ID, TaxYear: 2026, Body: update, Origin: o, TestScenario: sc})
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "RULE_"+sc || len(ae.Errors) != 0 {
			t.Errorf("update %s: %v (%+v)", sc, err, ae)
		}
	}
	var ae *hmrc.APIError
	if _, err := svc.CumulativeSummary(ctx, u.ID, 2026, o, "FOREIGN_PROPERTY"); !errors.As(err, &ae) || ae.Code != "RULE_TYPE_OF_BUSINESS_INCORRECT" {
		t.Errorf("read-back FOREIGN_PROPERTY: %v", err)
	}
	// The quarters are fixed now: refused here, from the receipt.
	if _, err := svc.ChooseQuarterlyPeriodType(ctx, by, landlord.QuartersChoice{UserID: u.ID, PeriodType: itsa.PeriodTypeStandard,
		Origin: o, TestScenario: itsa.ScenarioStateful}); !errors.Is(err, landlord.ErrQuartersFixed) {
		t.Errorf("quarters after an update: %v", err)
	}

	// VAT: the sandbox's default obligations (one quarter of four met), a
	// return for the first open one, its read-back, and a period with no
	// return: HMRC's empty 404.
	from, to := svc.RecentVATPeriod()
	list, err := svc.VATObligations(ctx, u.ID, from, to, "", o, "")
	if err != nil || len(list.Obligations) != 4 {
		t.Fatalf("VAT obligations: %+v, %v", list, err)
	}
	var open *vat.Obligation
	for i, ob := range list.Obligations {
		if ob.Open() && open == nil {
			open = &list.Obligations[i]
		}
	}
	if open == nil {
		t.Fatalf("no open VAT obligation in %+v", list.Obligations)
	}
	start, _ := time.Parse(time.DateOnly, open.Start)
	end, _ := time.Parse(time.DateOnly, open.End)
	rec, vsub, err := svc.FileVATReturn(ctx, by, landlord.VATFiling{UserID: u.ID, Return: vatReturn(t, open.PeriodKey), PeriodStart: start, PeriodEnd: end, Origin: o})
	if err != nil || len(rec.FormBundleNumber) != 12 || vsub.ID == 0 {
		t.Fatalf("VAT return: %+v, %+v, %v", rec, vsub, err)
	}
	if r, err := svc.VATReturn(ctx, u.ID, open.PeriodKey, o, ""); err != nil || r.PeriodKey != open.PeriodKey || !r.Finalised {
		t.Errorf("view the return: %+v, %v", r, err)
	}
	if _, err := svc.VATReturn(ctx, u.ID, "26A1", o, ""); !errors.Is(err, vat.ErrNoReturn) {
		t.Errorf("view a period with no return: %v, want ErrNoReturn (HMRC's empty 404)", err)
	}
	if _, _, err := svc.FileVATReturn(ctx, by, landlord.VATFiling{UserID: u.ID, Return: vatReturn(t, open.PeriodKey), Origin: o, TestScenario: "DUPLICATE_SUBMISSION"}); !hmrc.HasErrorCode(err, vat.CodeDuplicateSubmission) {
		t.Errorf("DUPLICATE_SUBMISSION: %v", err)
	}
	monthly, err := svc.VATObligations(ctx, u.ID, from, to, "", o, "MULTIPLE_OPEN_MONTHLY")
	if err != nil || len(monthly.Obligations) != 12 {
		t.Errorf("MULTIPLE_OPEN_MONTHLY: %+v, %v", monthly, err)
	}

	// Every MTD call carried fraud prevention headers HMRC's validator
	// finds valid.
	for _, api := range []string{"business-details-mtd", "obligations-mtd", "property-business-mtd", "vat-mtd"} {
		res, ok := h.Sim.LastFraudResult(api)
		if !ok || res.Code != hmrcsim.FraudValid {
			t.Errorf("%s: %+v (seen %v)", api, res, ok)
		}
	}
}
