package calc_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const (
	simUser     = "100000000001"
	simPassword = "sim-password"
	nino        = "TC663795B"
)

// fphAudit checks the fraud prevention headers of every API request with
// the simulator's validator.
type fphAudit struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string // "METHOD path: code"
}

func (a *fphAudit) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.URL.Path, "/oauth/") {
		res := hmrcsim.ValidateFraudHeaders(req.Header)
		a.mu.Lock()
		a.seen = append(a.seen, req.Method+" "+req.URL.Path+": "+res.Code)
		a.mu.Unlock()
	}
	return a.next.RoundTrip(req)
}

type env struct {
	*hmrctest.Env
	calc   *calc.Client
	itsa   *itsa.Client
	userID int64
	audit  *fphAudit
}

// newEnv is a landlord connected for Income Tax, on 1 May 2027: 2026-27
// has ended.
func newEnv(t *testing.T) *env {
	t.Helper()
	h := hmrctest.New(t, hmrctest.Options{Start: time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC)})
	h.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: nino})
	e := &env{Env: h, userID: h.CreateUser(t, "landlord@example.com", nino, "").ID, audit: &fphAudit{next: h.Tokens}}
	c := h.NewClient(t, func(cfg *hmrc.Config) { cfg.HTTPClient = &http.Client{Transport: e.audit, Timeout: 5 * time.Second} })
	e.calc, e.itsa = calc.New(c), itsa.New(c, h.Store)
	h.Connect(t, c, e.userID, mtdconnect.PurposeIncomeTax, simUser, simPassword)
	return e
}

// sendYear sends the four cumulative updates of 2026-27: rents £20,000,
// expenses £4,000, finance costs £3,000 by the year's end.
func (e *env) sendYear(t *testing.T) {
	t.Helper()
	for i, end := range []string{"2026-07-05", "2026-10-05", "2027-01-05", "2027-04-05"} {
		q := int64(i + 1)
		body := itsa.UKPropertyCumulative{FromDate: "2026-04-06", ToDate: end, UKProperty: itsa.UKProperty{
			Income:   &itsa.UKPropertyIncome{PeriodAmount: mtdconnect.Pence(q * 500000)},
			Expenses: &itsa.UKPropertyExpenses{ConsolidatedExpenses: mtdconnect.Pence(q * 100000), ResidentialFinancialCost: mtdconnect.Pence(q * 75000)},
		}}
		if _, err := e.itsa.SubmitUKPropertyCumulative(t.Context(), e.userID, nino, 2026, body, hmrctest.BrowserOrigin()); err != nil {
			t.Fatal(err)
		}
	}
}

func pounds(m *calc.Money) string {
	if m == nil {
		return "<nil>"
	}
	return m.String()
}

// A year through the API: an estimate, the final calculation, the final
// declaration, an amendment and its confirmation; a calculation is not
// there until HMRC has had 5 seconds; every call's fraud prevention
// headers are valid.
func TestYearEnd(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	o := hmrctest.BrowserOrigin()
	const year itsa.TaxYear = 2026

	if _, _, err := e.calc.Trigger(ctx, e.userID, nino, year, calc.InYear, o); !hmrc.HasErrorCode(err, calc.CodeRuleNoIncomeSubmissions) {
		t.Fatalf("with nothing sent: %v", err)
	}
	e.sendYear(t)
	if list, err := e.calc.List(ctx, e.userID, nino, year, "", o); err != nil || len(list) != 0 {
		t.Fatalf("no calculation yet: %+v, %v", list, err)
	}

	id, resp, err := e.calc.Trigger(ctx, e.userID, nino, year, calc.InYear, o)
	if err != nil || !calc.ValidID(id) || resp.Status != http.StatusAccepted || resp.CorrelationID == "" {
		t.Fatalf("trigger: %q %+v %v", id, resp, err)
	}
	if _, err := e.calc.Retrieve(ctx, e.userID, nino, year, id, o); !errors.Is(err, calc.ErrNotReady) {
		t.Fatalf("at once: %v, want ErrNotReady", err)
	}
	e.Clock.Advance(5 * time.Second)
	est, err := e.calc.Retrieve(ctx, e.userID, nino, year, id, o)
	if err != nil {
		t.Fatal(err)
	}
	// TAX-CALCULATION.md's worked example: profit 16,000, taxable 3,430,
	// tax 686.00, finance cost relief 600.00 (20% of 3,000): due 86.00.
	d := est.Detail
	if est.Type() != calc.InYear || est.HasErrors() || d == nil || d.TaxCalculation == nil || d.EndOfYearEstimate == nil ||
		pounds(d.TaxCalculation.TotalIncomeTaxAndNicsDue) != "86.00" || pounds(d.AllowancesAndDeductions.PersonalAllowance) != "12570" ||
		len(d.BusinessProfitAndLoss) != 1 || pounds(d.BusinessProfitAndLoss[0].TaxableProfit) != "16000" ||
		pounds(d.Reliefs.ResidentialFinanceCosts.TotalResidentialFinanceCostsRelief) != "600.00" || est.Metadata.PeriodTo != "2027-04-05" {
		t.Errorf("estimate: %s", est.Raw)
	}

	// The final calculation, and the declaration made with it.
	final, _, err := e.calc.Trigger(ctx, e.userID, nino, year, calc.IntentToFinalise, o)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(5 * time.Second)
	fc, err := e.calc.Retrieve(ctx, e.userID, nino, year, final, o)
	if err != nil || fc.Type() != calc.IntentToFinalise || fc.HasErrors() {
		t.Fatalf("final calculation: %+v, %v", fc, err)
	}
	list, err := e.calc.List(ctx, e.userID, nino, year, "", o)
	if err != nil || len(list) != 2 || list[0].CalculationID != final || list[1].CalculationID != id ||
		list[0].CalculationType != calc.IntentToFinalise || list[0].LiabilityAmount.String() != "86.00" {
		t.Errorf("list, newest first: %+v, %v", list, err)
	}
	// An estimate is not what a declaration is made with.
	if _, err := e.calc.Submit(ctx, e.userID, nino, year, id, calc.FinalDeclaration, o); !hmrc.HasErrorCode(err, "MATCHING_RESOURCE_NOT_FOUND") {
		t.Errorf("declaring with the estimate: %v", err)
	}
	resp, err = e.calc.Submit(ctx, e.userID, nino, year, final, calc.FinalDeclaration, o)
	if err != nil || resp.Status != http.StatusNoContent {
		t.Fatalf("final declaration: %+v, %v", resp, err)
	}
	e.Clock.Advance(time.Hour) // HMRC may take up to an hour to show it received
	if ob, err := e.itsa.FinalDeclarationObligation(ctx, e.userID, nino, year, o); err != nil || ob == nil || !ob.Fulfilled() || ob.Received != "2027-05-01" {
		t.Errorf("the obligation after declaring: %+v, %v", ob, err)
	}
	if fc, err := e.calc.Retrieve(ctx, e.userID, nino, year, final, o); err != nil || !fc.Declared() || fc.Type() != calc.DeclareFinalisation {
		t.Errorf("the declared calculation: %+v, %v", fc, err)
	}
	if _, err := e.calc.Submit(ctx, e.userID, nino, year, final, calc.FinalDeclaration, o); !hmrc.HasErrorCode(err, calc.CodeRuleFinalDeclarationReceived) {
		t.Errorf("declaring again: %v", err)
	}

	// An amendment: an intent-to-amend calculation, confirmed.
	amend, _, err := e.calc.Trigger(ctx, e.userID, nino, year, calc.IntentToAmend, o)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(5 * time.Second)
	if ac, err := e.calc.Retrieve(ctx, e.userID, nino, year, amend, o); err != nil || ac.Type() != calc.IntentToAmend {
		t.Fatalf("intent to amend: %+v, %v", ac, err)
	}
	if _, err := e.calc.Submit(ctx, e.userID, nino, year, amend, calc.ConfirmAmendment, o); err != nil {
		t.Fatal(err)
	}
	if list, err := e.calc.List(ctx, e.userID, nino, year, calc.ConfirmAmendment, o); err != nil || len(list) != 1 || list[0].CalculationID != amend {
		t.Errorf("confirmed amendments: %+v, %v", list, err)
	}

	e.audit.mu.Lock()
	defer e.audit.mu.Unlock()
	calls := 0
	for _, s := range e.audit.seen {
		if strings.Contains(s, "/individuals/calculations/") {
			calls++
		}
		if !strings.HasSuffix(s, ": VALID_HEADERS") {
			t.Errorf("fraud headers: %s", s)
		}
	}
	if calls != 16 {
		t.Errorf("%d Individual Calculations calls, want 16", calls)
	}
	if res, ok := e.Sim.LastFraudResult("individual-calculations-mtd"); !ok || res.Code != hmrcsim.FraudValid {
		t.Errorf("the simulator's verdict: %+v", res)
	}
}

// What HMRC would refuse for its shape is refused here, and nothing is
// sent.
func TestLocalValidationSendsNothing(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	o := hmrctest.BrowserOrigin()
	const good = "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c"
	codes := func(err error) []string {
		var out []string
		for _, v := range hmrc.ValidationErrorsIn(err) {
			out = append(out, v.Code)
		}
		var ne *mtdconnect.NINOError
		if errors.As(err, &ne) {
			out = append(out, "NINO")
		}
		return out
	}
	cases := []struct {
		name string
		call func() error
		want []string
	}{
		{"trigger before 2017-18", func() error {
			_, _, err := e.calc.Trigger(ctx, e.userID, nino, 2016, calc.InYear, o)
			return err
		}, []string{"RULE_TAX_YEAR_NOT_SUPPORTED"}},
		{"trigger of an unknown type", func() error {
			_, _, err := e.calc.Trigger(ctx, e.userID, nino, 2026, "final", o)
			return err
		}, []string{"FORMAT_CALCULATION_TYPE"}},
		{"intent to amend before 2025-26", func() error {
			_, _, err := e.calc.Trigger(ctx, e.userID, nino, 2024, calc.IntentToAmend, o)
			return err
		}, []string{"RULE_CALCULATION_TYPE_NOT_ALLOWED"}},
		{"retrieve with a malformed ID and NINO", func() error {
			_, err := e.calc.Retrieve(ctx, e.userID, "QQ12", 2026, "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1", o)
			return err
		}, []string{"FORMAT_CALCULATION_ID", "NINO"}},
		{"list of amendments in 2024-25", func() error {
			_, err := e.calc.List(ctx, e.userID, nino, 2024, calc.ConfirmAmendment, o)
			return err
		}, []string{"RULE_CALCULATION_TYPE_NOT_ALLOWED"}},
		{"declaration with an in-year type", func() error {
			_, err := e.calc.Submit(ctx, e.userID, nino, 2026, good, calc.InYear, o)
			return err
		}, []string{"FORMAT_CALCULATION_TYPE"}},
		{"confirmation of an amendment of 2024-25", func() error {
			_, err := e.calc.Submit(ctx, e.userID, nino, 2024, good, calc.ConfirmAmendment, o)
			return err
		}, []string{"RULE_SUBMISSION_FAILED"}},
		{"declaration with an ID of 7 digits", func() error {
			_, err := e.calc.Submit(ctx, e.userID, nino, 2026, "1234567", calc.FinalDeclaration, o)
			return err
		}, []string{"FORMAT_CALCULATION_ID"}},
	}
	before := e.Sim.Stats()
	for _, c := range cases {
		if got := codes(c.call()); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if after := e.Sim.Stats(); after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
		t.Errorf("refused locally, yet the simulator saw %d API and %d token requests",
			after.APIRequests-before.APIRequests, after.TokenRequests-before.TokenRequests)
	}
	if !calc.ValidID("12345678") || calc.ValidID("f2fb30e5-4ab6-6a29-b3c1-c7264259ff1c") {
		t.Error("HMRC's ID pattern: eight digits or a UUID of versions 1 to 5")
	}
}

// HMRC's sandbox scenarios reach HMRC and come back as APIErrors of this
// API; a scenario is never sent to production.
func TestTestScenario(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	o := hmrctest.BrowserOrigin()
	_, _, err := e.calc.Trigger(ctx, e.userID, nino, 2026, calc.IntentToFinalise, o, calc.WithTestScenario("TAX_YEAR_NOT_ENDED"))
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.API != calc.API || ae.Code != calc.CodeRuleTaxYearNotEnded {
		t.Errorf("TAX_YEAR_NOT_ENDED: %v", err)
	}
	if _, err := e.calc.Submit(ctx, e.userID, nino, 2026, "12345678", calc.FinalDeclaration, o, calc.WithTestScenario("RECENT_SUBMISSIONS_EXIST")); !hmrc.HasErrorCode(err, calc.CodeRuleRecentSubmissionsExist) {
		t.Errorf("RECENT_SUBMISSIONS_EXIST: %v", err)
	}
	prod := calc.New(e.NewClient(t, func(c *hmrc.Config) { c.Environment = hmrc.EnvProduction; c.APIURL = "https://api.example.invalid" }))
	if _, err := prod.List(ctx, e.userID, nino, 2026, "", o, calc.WithTestScenario("NOT_FOUND")); err == nil || !strings.Contains(err.Error(), "sandbox only") {
		t.Errorf("a scenario towards production: %v", err)
	}
}

// Against HMRC's sandbox test data (the simulator's sandbox mode), whose
// Individual Calculations answers are canned: a trigger gives HMRC's
// example ID, the calculation and the list are HMRC's examples, a
// declaration succeeds, and the scenarios of HMRC's tables come back as
// HMRC's errors.
func TestSandbox(t *testing.T) {
	h := hmrctest.New(t, hmrctest.Options{Start: time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC), Mode: hmrcsim.ModeSandbox})
	h.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: nino})
	userID := h.CreateUser(t, "landlord@example.com", nino, "").ID
	audit := &fphAudit{next: h.Tokens}
	c := h.NewClient(t, func(cfg *hmrc.Config) { cfg.HTTPClient = &http.Client{Transport: audit, Timeout: 5 * time.Second} })
	h.Connect(t, c, userID, mtdconnect.PurposeIncomeTax, simUser, simPassword)
	cl := calc.New(c)
	ctx := t.Context()
	o := hmrctest.BrowserOrigin()

	id, _, err := cl.Trigger(ctx, userID, nino, 2026, calc.IntentToFinalise, o)
	if err != nil || id != "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c" {
		t.Fatalf("trigger: %q, %v", id, err)
	}
	got, err := cl.Retrieve(ctx, userID, nino, 2026, id, o)
	if err != nil || got.HasErrors() || got.Type() != calc.IntentToFinalise || got.Detail.TaxCalculation.TotalIncomeTaxAndNicsDue == nil {
		t.Fatalf("retrieve: %+v, %v", got, err)
	}
	list, err := cl.List(ctx, userID, nino, 2026, "", o)
	if err != nil || len(list) != 2 || list[0].CalculationType != calc.FinalDeclaration || list[1].LiabilityAmount.String() != "236.89" {
		t.Errorf("list: %+v, %v", list, err)
	}
	if _, err := cl.Submit(ctx, userID, nino, 2026, id, calc.FinalDeclaration, o); err != nil {
		t.Errorf("declaration: %v", err)
	}
	if _, err := cl.Retrieve(ctx, userID, nino, 2026, id, o, calc.WithTestScenario("ERROR_MESSAGES_EXIST")); err != nil {
		t.Errorf("ERROR_MESSAGES_EXIST: %v", err)
	} else if got, _ := cl.Retrieve(ctx, userID, nino, 2026, id, o, calc.WithTestScenario("ERROR_MESSAGES_EXIST")); !got.HasErrors() || len(got.Errors()) != 1 {
		t.Errorf("ERROR_MESSAGES_EXIST: %+v", got)
	}
	if _, err := cl.Submit(ctx, userID, nino, 2026, id, calc.FinalDeclaration, o, calc.WithTestScenario("FINAL_DECLARATION_RECEIVED")); !hmrc.HasErrorCode(err, calc.CodeRuleFinalDeclarationReceived) {
		t.Errorf("FINAL_DECLARATION_RECEIVED: %v", err)
	}
	if _, err := cl.List(ctx, userID, nino, 2026, "", o, calc.WithTestScenario("NOT_FOUND")); err != nil {
		t.Errorf("list NOT_FOUND is an empty list: %v", err)
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	for _, s := range audit.seen {
		if !strings.HasSuffix(s, ": VALID_HEADERS") {
			t.Errorf("fraud headers: %s", s)
		}
	}
}
