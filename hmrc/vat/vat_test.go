package vat_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const (
	testVRN     = "123456789"
	simUser     = "100000000001"
	simPassword = "sim-password"
)

// env is the shared test deployment (clock at 1 May 2026) with a test user
// at the simulator and a landlord, whose NINO is the test user's.
type env struct {
	*hmrctest.Env
	hmrc   *hmrc.Client
	client *vat.Client
	userID int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	h := hmrctest.New(t, hmrctest.Options{Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)})
	h.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: "TC663795B"})
	return &env{Env: h, hmrc: h.Client, client: vat.New(h.Client), userID: h.CreateUser(t, "landlord@example.com", "TC663795B", "").ID}
}

// connect connects the landlord for Income Tax.
func (e *env) connect(t *testing.T) {
	t.Helper()
	e.Connect(t, e.hmrc, e.userID, mtdconnect.PurposeIncomeTax, simUser, simPassword)
}

// vatEnv is newEnv whose test user is VAT-registered since 15 January 2025
// (quarters 25A1 to 26A2) and has granted VAT authority.
func vatEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: "TC663795B",
		VRN: testVRN, VATRegistrationDate: "2025-01-15"})
	if c := e.Connect(t, e.hmrc, e.userID, mtdconnect.PurposeVAT, simUser, simPassword); c.Scopes != "read:vat write:vat" {
		t.Fatalf("VAT connection scopes %q", c.Scopes)
	}
	return e
}

// webOrigin is a landlord's browser.
func webOrigin() *fraud.Origin { return hmrctest.BrowserOrigin() }

func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func money(t *testing.T, s string) mtdconnect.Amount {
	t.Helper()
	a, err := mtdconnect.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return *a
}

// aReturn is HMRC's OAS example for periodKey: box 3 = 1 + 2, box 5 = |3 − 4|.
func aReturn(t *testing.T, periodKey string) vat.Return {
	return vat.Return{
		PeriodKey: periodKey, VATDueSales: money(t, "105.50"), VATDueAcquisitions: money(t, "-100.45"),
		TotalVATDue: money(t, "5.05"), VATReclaimedCurrPeriod: money(t, "105.15"), NetVATDue: money(t, "100.10"),
		TotalValueSalesExVAT: money(t, "300"), TotalValuePurchasesExVAT: money(t, "300"),
		TotalValueGoodsSuppliedExVAT: money(t, "3000"), TotalAcquisitionsExVAT: money(t, "3000"), Finalised: true,
	}
}

// validHeaders checks the simulator judged the last VAT call's fraud
// prevention headers valid.
func (e *env) validHeaders(t *testing.T, what string) {
	t.Helper()
	res, ok := e.Sim.LastFraudResult(hmrcsim.VATFraudAPI)
	if !ok || res.Code != "VALID_HEADERS" {
		t.Errorf("%s: fraud headers %v %+v", what, ok, res)
	}
}

// landlordOrigin is a landlord who signed in with a second factor, so
// HMRC's validator has nothing to flag.
func landlordOrigin() *fraud.Origin { return hmrctest.BrowserOrigin() }

func keysOf(list []vat.Obligation) []string {
	var out []string
	for _, o := range list {
		out = append(out, o.PeriodKey)
	}
	return out
}

// The whole VAT journey: connect, obligations, submit, receipt, the
// obligation fulfilled, the return viewed, the receipt kept.
func TestVATJourney(t *testing.T) {
	e := vatEnv(t)
	ctx := t.Context()
	list, err := e.client.Obligations(ctx, e.userID, "GB 123 456 789", day(t, "2025-05-01"), day(t, "2026-04-30"), "", landlordOrigin())
	if err != nil {
		t.Fatal(err)
	}
	e.validHeaders(t, "obligations")
	if got := keysOf(list); !slices.Equal(got, []string{"25A2", "25A3", "25A4", "26A1", "26A2"}) {
		t.Fatalf("obligations %v", got)
	}
	if o := list[3]; o.Start != "2026-01-01" || o.End != "2026-03-31" || o.Due != "2026-05-07" || !o.Open() || o.Received != "" {
		t.Fatalf("26A1 = %+v", o)
	}

	ret := aReturn(t, "26A1")
	rec, err := e.client.SubmitReturn(ctx, e.userID, testVRN, ret, landlordOrigin())
	if err != nil {
		t.Fatal(err)
	}
	e.validHeaders(t, "submit")
	if len(rec.FormBundleNumber) != 12 || len(rec.ReceiptID) != 36 || len(rec.CorrelationID) != 36 ||
		rec.ReceiptTimestamp != "2026-05-01T09:00:00Z" || rec.ProcessingDate != "2026-05-01T09:00:00.000Z" ||
		rec.PaymentIndicator != "BANK" || rec.ChargeRefNumber != "" || rec.PeriodKey != "26A1" || !rec.SubmittedAt.Equal(e.Clock.Now()) {
		t.Fatalf("receipt %+v", rec)
	}
	var sent map[string]any
	if err := json.Unmarshal(rec.Request, &sent); err != nil || sent["finalised"] != true || sent["totalVatDue"] != 5.05 || len(sent) != 11 {
		t.Fatalf("request kept %s: %v", rec.Request, err)
	}
	if !strings.Contains(string(rec.Body), rec.FormBundleNumber) {
		t.Fatalf("raw body %s", rec.Body)
	}

	// The receipt is kept in the store as a Submission.
	sub := rec.Submission(e.userID)
	if err := e.Store.SaveSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	saved, err := e.Store.Submissions(ctx, e.userID, mtdconnect.PurposeVAT, 10)
	if err != nil || len(saved) != 1 || saved[0].Kind != mtdconnect.SubmissionVATReturn || saved[0].Period != "26A1" ||
		saved[0].ReceiptID != rec.ReceiptID || saved[0].CorrelationID != rec.CorrelationID || string(saved[0].Response) != string(rec.Body) {
		t.Fatalf("saved submissions %+v, %v", saved, err)
	}

	done, err := e.client.Obligations(ctx, e.userID, testVRN, day(t, "2026-01-01"), day(t, "2026-03-31"), vat.StatusFulfilled, landlordOrigin())
	if err != nil || len(done) != 1 || done[0].PeriodKey != "26A1" || done[0].Open() || done[0].Received != "2026-05-01" {
		t.Fatalf("fulfilled %+v, %v", done, err)
	}
	open, err := e.client.Obligations(ctx, e.userID, testVRN, time.Time{}, time.Time{}, vat.StatusOpen, landlordOrigin())
	if got := keysOf(open); err != nil || slices.Contains(got, "26A1") || !slices.Contains(got, "25A1") {
		t.Fatalf("open %v, %v", got, err)
	}

	got, err := e.client.Return(ctx, e.userID, testVRN, "26A1", landlordOrigin())
	if err != nil {
		t.Fatal(err)
	}
	e.validHeaders(t, "view")
	if *got != ret {
		t.Fatalf("viewed %+v\nsent   %+v", *got, ret)
	}
	if _, err := e.client.Return(ctx, e.userID, testVRN, "25A4", landlordOrigin()); !errors.Is(err, vat.ErrNoReturn) {
		t.Fatalf("unfiled period: %v", err)
	}
}

func TestVATDuplicateSubmission(t *testing.T) {
	e := vatEnv(t)
	if _, err := e.client.SubmitReturn(t.Context(), e.userID, testVRN, aReturn(t, "25A4"), webOrigin()); err != nil {
		t.Fatal(err)
	}
	before := e.Sim.Stats().APIRequests
	_, err := e.client.SubmitReturn(t.Context(), e.userID, testVRN, aReturn(t, "25A4"), webOrigin())
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != vat.CodeBusinessError ||
		!hmrc.HasErrorCode(err, vat.CodeDuplicateSubmission) {
		t.Fatalf("second submission: %v", err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 1 {
		t.Fatalf("a refused submission was sent %d times", n)
	}
}

func TestVATTaxPeriodNotEnded(t *testing.T) {
	e := vatEnv(t)
	_, err := e.client.SubmitReturn(t.Context(), e.userID, testVRN, aReturn(t, "26A2"), webOrigin())
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !hmrc.HasErrorCode(err, vat.CodeTaxPeriodNotEnded) {
		t.Fatalf("submission before the period ended: %v", err)
	}
	if _, err := e.client.Return(t.Context(), e.userID, testVRN, "26A2", webOrigin()); !errors.Is(err, vat.ErrNoReturn) {
		t.Fatalf("the refused return was stored: %v", err)
	}
}

// Whatever HMRC would refuse for its shape or its sums is refused here and
// nothing reaches HMRC (nor its token endpoint).
func TestVATInvalidRequestsNotSent(t *testing.T) {
	e := vatEnv(t)
	ctx := t.Context()
	bad := func(change func(*vat.Return)) vat.Return {
		r := aReturn(t, "25A4")
		change(&r)
		return r
	}
	submits := []struct {
		name string
		vrn  string
		ret  vat.Return
		code string
	}{
		{"Box3NotSum", testVRN, bad(func(r *vat.Return) { r.TotalVATDue, r.NetVATDue = money(t, "5.15"), money(t, "100.00") }), vat.CodeTotalValue},
		{"Box5NotDifference", testVRN, bad(func(r *vat.Return) { r.NetVATDue = money(t, "100.00") }), vat.CodeNetValue},
		{"Box5Negative", testVRN, bad(func(r *vat.Return) { r.NetVATDue = money(t, "-100.10") }), vat.CodeInvalidMonetaryAmount},
		{"Box1Decimals", testVRN, bad(func(r *vat.Return) { r.VATDueSales = money(t, "105.501") }), vat.CodeInvalidMonetaryAmount},
		{"Box6Pence", testVRN, bad(func(r *vat.Return) { r.TotalValueSalesExVAT = money(t, "300.50") }), vat.CodeInvalidMonetaryAmount},
		{"NotFinalised", testVRN, bad(func(r *vat.Return) { r.Finalised = false }), vat.CodeNotFinalised},
		{"PeriodKey", testVRN, bad(func(r *vat.Return) { r.PeriodKey = "Q1" }), vat.CodePeriodKeyInvalid},
		{"MissingBox", testVRN, bad(func(r *vat.Return) { r.TotalAcquisitionsExVAT = mtdconnect.Amount{} }), vat.CodeMandatoryFieldMissing},
		{"VRN", "12345678", aReturn(t, "25A4"), ""},
	}
	stats := e.Sim.Stats()
	for _, tt := range submits {
		t.Run("Submit"+tt.name, func(t *testing.T) {
			_, err := e.client.SubmitReturn(ctx, e.userID, tt.vrn, tt.ret, webOrigin())
			var vrnErr *mtdconnect.VRNError
			if tt.code == "" && !errors.As(err, &vrnErr) || tt.code != "" && !hmrc.HasErrorCode(err, tt.code) {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	queries := []struct {
		name     string
		vrn      string
		from, to time.Time
		status   string
		code     string
	}{
		{"367Days", testVRN, day(t, "2025-04-05"), day(t, "2026-04-06"), "", vat.CodeInvalidDateRange},
		{"ToBeforeFrom", testVRN, day(t, "2025-04-06"), day(t, "2025-04-05"), "", vat.CodeInvalidDateRange},
		{"NoDates", testVRN, time.Time{}, time.Time{}, "", vat.CodeInvalidDateFrom},
		{"FromOnly", testVRN, day(t, "2025-04-06"), time.Time{}, vat.StatusOpen, vat.CodeInvalidDateTo},
		{"Status", testVRN, day(t, "2025-04-06"), day(t, "2025-06-06"), "open", vat.CodeInvalidStatus},
		{"VRN", "GB12345678X", day(t, "2025-04-06"), day(t, "2025-06-06"), "", ""},
	}
	for _, tt := range queries {
		t.Run("Obligations"+tt.name, func(t *testing.T) {
			_, err := e.client.Obligations(ctx, e.userID, tt.vrn, tt.from, tt.to, tt.status, webOrigin())
			var vrnErr *mtdconnect.VRNError
			if tt.code == "" && !errors.As(err, &vrnErr) || tt.code != "" && !hmrc.HasErrorCode(err, tt.code) {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	if _, err := e.client.Return(ctx, e.userID, testVRN, "26-1", webOrigin()); !hmrc.HasErrorCode(err, vat.CodePeriodKeyInvalid) {
		t.Fatalf("view with a bad period key: %v", err)
	}
	if after := e.Sim.Stats(); after.APIRequests != stats.APIRequests || after.TokenRequests != stats.TokenRequests {
		t.Fatalf("refused requests reached HMRC: api %d→%d, token %d→%d", stats.APIRequests, after.APIRequests, stats.TokenRequests, after.TokenRequests)
	}
}

// The two authorities never mix: a landlord connected for Income Tax only
// is not connected for VAT, and the other way round.
func TestVATAndIncomeTaxConnectionsApart(t *testing.T) {
	e := newEnv(t)
	e.connect(t) // Income Tax only
	before := e.Sim.Stats()
	if _, err := e.client.Obligations(t.Context(), e.userID, testVRN, time.Time{}, time.Time{}, vat.StatusOpen, webOrigin()); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("VAT obligations with an Income Tax connection: %v", err)
	}
	if _, err := e.client.SubmitReturn(t.Context(), e.userID, testVRN, aReturn(t, "25A4"), webOrigin()); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("VAT return with an Income Tax connection: %v", err)
	}
	if after := e.Sim.Stats(); after.APIRequests != before.APIRequests {
		t.Fatal("a VAT call went out without a VAT connection")
	}

	v := vatEnv(t) // VAT only
	if _, err := itsa.New(v.hmrc, nil).UKPropertyBusinessID(t.Context(), v.userID, "TC663795B", webOrigin(), itsa.WithoutCache()); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("Income Tax call with a VAT connection: %v", err)
	}
}

func TestVATSomeoneElsesVRN(t *testing.T) {
	e := vatEnv(t)
	_, err := e.client.Obligations(t.Context(), e.userID, "987654321", time.Time{}, time.Time{}, vat.StatusOpen, webOrigin())
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != vat.CodeClientNotAuthorised {
		t.Fatalf("%v", err)
	}
}

func TestVATTestScenarios(t *testing.T) {
	e := vatEnv(t)
	ctx := t.Context()
	list, err := e.client.Obligations(ctx, e.userID, testVRN, day(t, "2017-01-01"), day(t, "2017-12-31"), "", webOrigin(),
		vat.WithTestScenario("QUARTERLY_TWO_MET"))
	if err != nil || len(list) != 4 || list[1].Open() || !list[2].Open() || list[0].PeriodKey != "#001" {
		t.Fatalf("QUARTERLY_TWO_MET: %+v, %v", list, err)
	}
	list, err = e.client.Obligations(ctx, e.userID, testVRN, day(t, "2017-01-01"), day(t, "2017-12-31"), "", webOrigin(),
		vat.WithTestScenario("NOT_FOUND"))
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("NOT_FOUND: %v, %v", list, err)
	}
	_, err = e.client.Obligations(ctx, e.userID, testVRN, time.Time{}, time.Time{}, vat.StatusOpen, webOrigin(),
		vat.WithTestScenario("INSOLVENT_TRADER"))
	if !hmrc.HasErrorCode(err, vat.CodeInsolventTrader) {
		t.Fatalf("INSOLVENT_TRADER: %v", err)
	}
	// A "#" period key goes URL-encoded and comes back.
	if _, err := e.client.SubmitReturn(ctx, e.userID, testVRN, aReturn(t, "#001"), webOrigin()); err != nil {
		t.Fatal(err)
	}
	if r, err := e.client.Return(ctx, e.userID, testVRN, "#001", webOrigin()); err != nil || r.PeriodKey != "#001" {
		t.Fatalf("view #001: %+v, %v", r, err)
	}
}

// A return is never sent twice: after a 500 it is not retried, and after a
// lost answer (HMRC filed it) the error says HMRC may have it; the second
// try is then refused as a duplicate, not filed again. A GET is retried.
func TestVATSubmitNotRetried(t *testing.T) {
	e := vatEnv(t)
	ctx := t.Context()
	e.Sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
	before := e.Sim.Stats().APIRequests
	if _, err := e.client.SubmitReturn(ctx, e.userID, testVRN, aReturn(t, "25A4"), webOrigin()); !errors.Is(err, hmrc.ErrUnavailable) {
		t.Fatalf("submit during 500s: %v", err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 1 {
		t.Fatalf("the return was sent %d times", n)
	}
	before = e.Sim.Stats().APIRequests
	if _, err := e.client.Obligations(ctx, e.userID, testVRN, time.Time{}, time.Time{}, vat.StatusOpen, webOrigin()); !errors.Is(err, hmrc.ErrUnavailable) {
		t.Fatalf("obligations during 500s: %v", err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 4 {
		t.Fatalf("the obligations GET was tried %d times, want 4 (MaxAttempts)", n)
	}

	e.Sim.SetFaults(hmrcsim.Faults{LostResponseRate: 1})
	_, err := e.client.SubmitReturn(ctx, e.userID, testVRN, aReturn(t, "25A4"), webOrigin())
	if !errors.Is(err, hmrc.ErrUnavailable) {
		t.Fatalf("submit with the answer lost: %v", err)
	}
	e.Sim.SetFaults(hmrcsim.Faults{})
	if _, err := e.client.SubmitReturn(ctx, e.userID, testVRN, aReturn(t, "25A4"), webOrigin()); !hmrc.HasErrorCode(err, vat.CodeDuplicateSubmission) {
		t.Fatalf("second try after a lost answer: %v", err)
	}
	if _, err := e.client.Return(ctx, e.userID, testVRN, "25A4", webOrigin()); err != nil {
		t.Fatalf("the filed return: %v", err)
	}
}
