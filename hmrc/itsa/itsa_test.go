package itsa_test

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// The test user at the simulator, and the landlord's NINO (the test
// user's).
const (
	simUser     = "100000000001"
	simPassword = "sim-password"
	itsaNINO    = "TC663795B"
)

// env is the shared test deployment (clock at 1 May 2026) with a landlord
// whose HMRC client's requests pass through a fraud audit.
type env struct {
	*hmrctest.Env
	hmrc   *hmrc.Client
	client *itsa.Client
	userID int64
}

// fphAudit validates the fraud prevention headers of every API request the
// client sends (token requests excepted: HMRC wants none there), with the
// simulator's validator, so no call escapes the check.
type fphAudit struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []fphSeen
}

type fphSeen struct {
	what string // method and path
	res  hmrcsim.FraudResult
}

func (a *fphAudit) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.URL.Path, "/oauth/") {
		res := hmrcsim.ValidateFraudHeaders(req.Header)
		a.mu.Lock()
		a.seen = append(a.seen, fphSeen{req.Method + " " + req.URL.Path, res})
		a.mu.Unlock()
	}
	return a.next.RoundTrip(req)
}

func (a *fphAudit) all() []fphSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// newITSAEnv is the deployment connected for Income Tax.
func newITSAEnv(t *testing.T) (*env, *fphAudit) {
	t.Helper()
	h := hmrctest.New(t, hmrctest.Options{Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)})
	h.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: itsaNINO})
	e := &env{Env: h, userID: h.CreateUser(t, "landlord@example.com", itsaNINO, "").ID}
	audit := &fphAudit{next: h.Tokens}
	e.hmrc = itsaClient(t, e, audit)
	e.client = itsa.New(e.hmrc, h.Store)
	h.Connect(t, e.hmrc, e.userID, mtdconnect.PurposeIncomeTax, simUser, simPassword)
	return e, audit
}

// itsaClient is an HMRC client of the deployment sending through rt.
func itsaClient(t *testing.T, e *env, rt http.RoundTripper, mod ...func(*hmrc.Config)) *hmrc.Client {
	t.Helper()
	transport := func(c *hmrc.Config) { c.HTTPClient = &http.Client{Transport: rt, Timeout: 5 * time.Second} }
	return e.NewClient(t, append([]func(*hmrc.Config){transport}, mod...)...)
}

// signedInOrigin is a landlord's browser, signed in with a second factor:
// only a landlord with MFA can get VALID_HEADERS.
func signedInOrigin() *fraud.Origin { return hmrctest.BrowserOrigin() }

// itsaOrigin is one way of originating calls: the landlord's browser or
// this server (batch).
type itsaOrigin struct {
	name string
	new  func(t *testing.T, e *env) *fraud.Origin
	// want checks the verdict on a call's headers.
	want func(t *testing.T, what string, res hmrcsim.FraudResult)
}

func itsaOrigins() []itsaOrigin {
	return []itsaOrigin{
		{
			name: "Web",
			new:  func(*testing.T, *env) *fraud.Origin { return signedInOrigin() },
			want: func(t *testing.T, what string, res hmrcsim.FraudResult) {
				t.Helper()
				if res.Code != hmrcsim.FraudValid {
					t.Errorf("%s: fraud headers %s: %+v", what, res.Code, res)
				}
			},
		},
		{
			name: "Batch",
			new: func(t *testing.T, e *env) *fraud.Origin {
				t.Helper()
				r, err := e.hmrc.BatchOrigin(map[string]string{"mtdconnect": "1"})
				if err != nil {
					t.Fatal(err)
				}
				return r
			},
			want: wantBatchVerdict,
		},
	}
}

// wantBatchVerdict wants VALID_HEADERS for a BATCH_PROCESS_DIRECT call:
// with the configured maker and model filling in what a host without DMI
// data cannot say, nothing may be left for the validator to remark on.
func wantBatchVerdict(t *testing.T, what string, res hmrcsim.FraudResult) {
	t.Helper()
	if res.Code != hmrcsim.FraudValid {
		t.Errorf("%s: fraud headers %s: %+v", what, res.Code, res)
	}
}

// wantFraudChecked checks every request sent since from, and the
// simulator's verdict on the latest call of each API.
func wantFraudChecked(t *testing.T, e *env, audit *fphAudit, o itsaOrigin, from int) int {
	t.Helper()
	seen := audit.all()
	for _, s := range seen[from:] {
		o.want(t, s.what, s.res)
	}
	for _, api := range []string{"business-details-mtd", "obligations-mtd", "property-business-mtd"} {
		if res, ok := e.Sim.LastFraudResult(api); ok {
			o.want(t, "simulator "+api, res)
		}
	}
	return len(seen)
}

func q1Summary() itsa.UKPropertyCumulative {
	return itsa.UKPropertyCumulative{
		FromDate: "2025-04-06", ToDate: "2025-07-05",
		UKProperty: itsa.UKProperty{
			Income: &itsa.UKPropertyIncome{
				PeriodAmount: mtdconnect.Pence(300050),
				RentARoom:    &itsa.UKPropertyRentARoom{RentsReceived: mtdconnect.Pence(1000)},
			},
			Expenses: &itsa.UKPropertyExpenses{
				PremisesRunningCosts:     mtdconnect.Pence(-1225),
				ResidentialFinancialCost: mtdconnect.Pence(10000),
			},
		},
	}
}

func q2Summary() itsa.UKPropertyCumulative {
	return itsa.UKPropertyCumulative{
		FromDate: "2025-04-06", ToDate: "2025-10-05",
		UKProperty: itsa.UKProperty{
			Income: &itsa.UKPropertyIncome{PeriodAmount: mtdconnect.Pence(610000)},
			Expenses: &itsa.UKPropertyExpenses{
				ConsolidatedExpenses:     mtdconnect.Pence(5001),
				ResidentialFinancialCost: mtdconnect.Pence(100),
			},
		},
	}
}

// TestITSAFlow is the landlord's year: find the business, see the
// obligations, submit, read back, amend; from the browser and as batch work.
func TestITSAFlow(t *testing.T) {
	for _, o := range itsaOrigins() {
		t.Run(o.name, func(t *testing.T) {
			e, audit := newITSAEnv(t)
			ctx := t.Context()
			origin := func() *fraud.Origin { return o.new(t, e) }
			apiCalls := func() int64 { return e.Sim.Stats().APIRequests }

			// The business ID costs one call, then none, whatever the NINO's spelling.
			id, err := e.client.UKPropertyBusinessID(ctx, e.userID, itsaNINO, origin())
			if err != nil || !itsa.ValidBusinessID(id) || !strings.HasPrefix(id, "XPIS") {
				t.Fatalf("UKPropertyBusinessID = %q, %v", id, err)
			}
			if n := apiCalls(); n != 1 {
				t.Fatalf("%d API calls for the first lookup, want 1", n)
			}
			again, err := e.client.UKPropertyBusinessID(ctx, e.userID, " tc 66 37 95 b ", origin())
			if err != nil || again != id || apiCalls() != 1 {
				t.Fatalf("second lookup = %q, %v after %d API calls; want %q from the cache", again, err, apiCalls(), id)
			}
			// Stored with the landlord: another instance (another client
			// on the same store) asks HMRC nothing either.
			other := itsa.New(itsaClient(t, e, e.Tokens), e.Store)
			if id2, err := other.UKPropertyBusinessID(ctx, e.userID, itsaNINO, origin()); err != nil || id2 != id || apiCalls() != 1 {
				t.Fatalf("another instance's lookup = %q, %v after %d API calls", id2, err, apiCalls())
			}
			if b, err := e.Store.IncomeTaxBusiness(ctx, e.userID); err != nil || b.BusinessID != id || b.NINO != itsaNINO || b.Environment != hmrc.EnvSimulator {
				t.Fatalf("stored business %+v, %v", b, err)
			}
			checked := wantFraudChecked(t, e, audit, o, 0)

			// 2025-26: four cumulative periods from 6 April, all open.
			obs, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2025, origin())
			if err != nil {
				t.Fatal(err)
			}
			if apiCalls() != 2 {
				t.Errorf("obligations made %d API calls, want 1 (business ID cached)", apiCalls()-1)
			}
			wantObligations(t, obs, id, []string{"open", "open", "open", "open"}, nil)

			// Q1 submitted: the first obligation is fulfilled, today.
			resp, err := e.client.SubmitUKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, q1Summary(), origin())
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusNoContent || len(resp.CorrelationID) != 36 {
				t.Errorf("submit: status %d correlation %q", resp.Status, resp.CorrelationID)
			}
			// HMRC takes up to an hour to mark the obligation fulfilled.
			obs, err = e.client.Obligations(ctx, e.userID, itsaNINO, 2025, origin())
			if err != nil {
				t.Fatal(err)
			}
			wantObligations(t, obs, id, []string{"open", "open", "open", "open"}, nil)
			e.Clock.Advance(time.Hour)
			obs, err = e.client.Obligations(ctx, e.userID, itsaNINO, 2025, origin())
			if err != nil {
				t.Fatal(err)
			}
			wantObligations(t, obs, id, []string{"fulfilled", "open", "open", "open"}, []string{"2026-05-01"})

			got, err := e.client.UKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, origin())
			if want := q1Summary(); err != nil || !reflect.DeepEqual(got.UKPropertyCumulative, want) || got.SubmittedOn != "2026-05-01T09:00:00.000Z" {
				t.Fatalf("GET = %+v, %v; want %+v submitted on 2026-05-01T09:00:00.000Z", got, err, want)
			}

			// A later update amends it (PUT, the same path) and fulfils Q2.
			if _, err := e.client.SubmitUKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, q2Summary(), origin()); err != nil {
				t.Fatal(err)
			}
			got, err = e.client.UKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, origin())
			if want := q2Summary(); err != nil || !reflect.DeepEqual(got.UKPropertyCumulative, want) || got.SubmittedOn != "2026-05-01T10:00:00.000Z" {
				t.Fatalf("GET after amend = %+v, %v; want %+v", got, err, want)
			}
			e.Clock.Advance(time.Hour)
			obs, err = e.client.Obligations(ctx, e.userID, itsaNINO, 2025, origin())
			if err != nil {
				t.Fatal(err)
			}
			wantObligations(t, obs, id, []string{"fulfilled", "fulfilled", "open", "open"}, []string{"2026-05-01", "2026-05-01"})

			// Another tax year has nothing submitted.
			if _, err := e.client.UKPropertyCumulative(ctx, e.userID, itsaNINO, 2026, origin()); !errors.Is(err, itsa.ErrNoSubmission) {
				t.Errorf("GET 2026-27 = %v, want ErrNoSubmission", err)
			}
			if n := apiCalls(); n != 10 {
				t.Errorf("%d API calls in the flow, want 10 (one business lookup)", n)
			}
			if wantFraudChecked(t, e, audit, o, checked) != 10 {
				t.Errorf("fraud headers checked on %d requests, want 10", len(audit.all()))
			}
		})
	}
}

func wantObligations(t *testing.T, obs []itsa.Obligation, id string, status, received []string) {
	t.Helper()
	ends := []string{"2025-07-05", "2025-10-05", "2026-01-05", "2026-04-05"}
	dues := []string{"2025-08-05", "2025-11-05", "2026-02-05", "2026-05-05"}
	if len(obs) != len(ends) {
		t.Fatalf("obligations %+v, want %d", obs, len(ends))
	}
	for i, ob := range obs {
		want := itsa.Obligation{BusinessID: id, TypeOfBusiness: itsa.TypeUKProperty, Start: "2025-04-06", End: ends[i], Due: dues[i], Status: status[i]}
		if i < len(received) {
			want.Received = received[i]
		}
		if ob != want {
			t.Errorf("obligation %d = %+v, want %+v", i, ob, want)
		}
		if ob.Fulfilled() != (status[i] == itsa.ObligationFulfilled) {
			t.Errorf("obligation %d: Fulfilled() = %v", i, ob.Fulfilled())
		}
	}
}

// validationCodes lists the ValidationError codes in a (joined) error, and
// whether a NINO error is among them.
func validationCodes(err error) (codes []string, nino bool) {
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		case *hmrc.ValidationError:
			codes = append(codes, x.Code)
		case *mtdconnect.NINOError:
			nino = true
		default:
			walk(errors.Unwrap(err))
		}
	}
	walk(err)
	return codes, nino
}

// Whatever HMRC would refuse for its shape is refused here, and nothing at
// all reaches HMRC: no API call, no token request.
func TestITSALocalValidationSendsNothing(t *testing.T) {
	e, audit := newITSAEnv(t)
	ctx := t.Context()
	threeDecimals, err := mtdconnect.ParseAmount("10.005")
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*itsa.UKPropertyCumulative)) itsa.UKPropertyCumulative {
		b := q1Summary()
		f(&b)
		return b
	}
	submit := func(nino string, ty itsa.TaxYear, b itsa.UKPropertyCumulative) func() error {
		return func() error {
			_, err := e.client.SubmitUKPropertyCumulative(ctx, e.userID, nino, ty, b, signedInOrigin())
			return err
		}
	}
	cases := []struct {
		name  string
		call  func() error
		codes []string
		nino  bool
	}{
		{"MalformedNINO", submit("TC66379", 2025, q1Summary()), nil, true},
		{"NINOWithRejectedPrefix", submit("GB123456A", 2025, q1Summary()), nil, true},
		{"TaxYear2024", submit(itsaNINO, 2024, q1Summary()), []string{"RULE_TAX_YEAR_NOT_SUPPORTED"}, false},
		{"TaxYearOutOfRange", submit(itsaNINO, 1999, q1Summary()), []string{"FORMAT_TAX_YEAR"}, false},
		{"NINOAndTaxYear", submit("nope", 2024, q1Summary()), []string{"RULE_TAX_YEAR_NOT_SUPPORTED"}, true},
		{"BothExpenses", submit(itsaNINO, 2025, with(func(b *itsa.UKPropertyCumulative) {
			b.UKProperty.Expenses.ConsolidatedExpenses = mtdconnect.Pence(100)
		})), []string{"RULE_BOTH_EXPENSES_SUPPLIED"}, false},
		{"ThreeDecimals", submit(itsaNINO, 2025, with(func(b *itsa.UKPropertyCumulative) {
			b.UKProperty.Income.PeriodAmount = threeDecimals
		})), []string{"FORMAT_VALUE"}, false},
		{"NegativeIncome", submit(itsaNINO, 2025, with(func(b *itsa.UKPropertyCumulative) {
			b.UKProperty.Income.PeriodAmount = mtdconnect.Pence(-1)
		})), []string{"FORMAT_VALUE"}, false},
		{"EmptyBody", submit(itsaNINO, 2025, itsa.UKPropertyCumulative{}), []string{"RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"}, false},
		{"ToBeforeFrom", submit(itsaNINO, 2025, with(func(b *itsa.UKPropertyCumulative) {
			b.ToDate = "2025-04-05"
		})), []string{"RULE_TO_DATE_BEFORE_FROM_DATE"}, false},
		{"GetTaxYear2024", func() error {
			_, err := e.client.UKPropertyCumulative(ctx, e.userID, itsaNINO, 2024, signedInOrigin())
			return err
		}, []string{"RULE_TAX_YEAR_NOT_SUPPORTED"}, false},
		{"GetMalformedNINO", func() error {
			_, err := e.client.UKPropertyCumulative(ctx, e.userID, "TC663795E", 2025, signedInOrigin())
			return err
		}, nil, true},
		{"ObligationsMalformedNINO", func() error {
			_, err := e.client.Obligations(ctx, e.userID, "12345678", 2025, signedInOrigin())
			return err
		}, nil, true},
		{"ObligationsTaxYearOutOfRange", func() error {
			_, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2099, signedInOrigin())
			return err
		}, []string{"FORMAT_TAX_YEAR"}, false},
		{"BusinessIDMalformedNINO", func() error {
			_, err := e.client.UKPropertyBusinessID(ctx, e.userID, "", signedInOrigin())
			return err
		}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.Sim.Stats()
			err := c.call()
			codes, nino := validationCodes(err)
			if err == nil || !slices.Equal(codes, c.codes) || nino != c.nino {
				t.Fatalf("err = %v; codes %v nino %v, want %v %v", err, codes, nino, c.codes, c.nino)
			}
			if after := e.Sim.Stats(); after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
				t.Fatalf("HMRC was asked: %d API and %d token requests", after.APIRequests-before.APIRequests, after.TokenRequests-before.TokenRequests)
			}
		})
	}
	// The paths say which field, as HMRC's would.
	_, err = e.client.SubmitUKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, with(func(b *itsa.UKPropertyCumulative) {
		b.UKProperty.Income.PeriodAmount = threeDecimals
		b.UKProperty.Expenses.RepairsAndMaintenance = mtdconnect.Pence(1)
		b.UKProperty.Expenses.ConsolidatedExpenses = mtdconnect.Pence(1)
	}), signedInOrigin())
	var ve *hmrc.ValidationError
	if !errors.As(err, &ve) || ve.Code != "FORMAT_VALUE" || !slices.Equal(ve.Paths, []string{"/ukProperty/income/periodAmount"}) {
		t.Errorf("first validation error = %+v (all: %v)", ve, err)
	}
	if codes, _ := validationCodes(err); !slices.Equal(codes, []string{"FORMAT_VALUE", "RULE_BOTH_EXPENSES_SUPPLIED"}) {
		t.Errorf("codes %v", codes)
	}
	// No fraud prevention data: refused before any request too.
	if _, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2025, nil); err == nil || !strings.Contains(err.Error(), "fraud prevention") {
		t.Errorf("Obligations without origin = %v", err)
	}
	if n := len(audit.all()); n != 0 || e.Sim.Stats().APIRequests != 0 {
		t.Fatalf("%d requests reached the simulator", n)
	}
}

// HMRC's own refusals come back as *APIError with their code, status and
// (for field errors) paths.
func TestITSAHMRCRefusalIsAPIError(t *testing.T) {
	e, _ := newITSAEnv(t)
	// A well-formed NINO that is not the signed-in landlord's.
	_, err := e.client.Obligations(t.Context(), e.userID, "AA123456A", 2025, signedInOrigin())
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != "CLIENT_OR_AGENT_NOT_AUTHORISED" || len(ae.CorrelationID) != 36 {
		t.Fatalf("someone else's NINO: %v (%+v)", err, ae)
	}
}

// Gov-Test-Scenario reaches the call it is set on, and only in the sandbox.
func TestITSATestScenario(t *testing.T) {
	e, audit := newITSAEnv(t)
	ctx := t.Context()
	o := signedInOrigin()
	scenario := itsa.WithTestScenario

	// No UK property business: a clear error, and nothing stored.
	for _, sc := range []string{"FOREIGN_PROPERTY", "NOT_FOUND"} {
		if _, err := e.client.UKPropertyBusinessID(ctx, e.userID, itsaNINO, o, scenario(sc)); !errors.Is(err, itsa.ErrNoUKProperty) {
			t.Errorf("%s: err = %v, want ErrNoUKProperty", sc, err)
		}
	}
	var ae *hmrc.APIError
	if _, err := e.client.UKPropertyBusinessID(ctx, e.userID, itsaNINO, o, scenario("NOT_FOUND")); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("NOT_FOUND keeps HMRC's answer: %v", err)
	}
	// A canned answer (PROPERTY) is the sandbox's test data, not the
	// landlord's: not stored.
	if id, err := e.client.UKPropertyBusinessID(ctx, e.userID, itsaNINO, o, scenario("PROPERTY")); err != nil || !itsa.ValidBusinessID(id) {
		t.Errorf("PROPERTY: %q, %v", id, err)
	}
	if _, err := e.Store.IncomeTaxBusiness(ctx, e.userID); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Errorf("a scenario's business was stored: %v", err)
	}

	// With no business stored, the scenario goes on the lookup the call
	// needs first: Business Details knows no NO_OBLIGATIONS_FOUND.
	before := e.Sim.Stats().APIRequests
	if _, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2025, o, scenario("NO_OBLIGATIONS_FOUND")); !errors.As(err, &ae) ||
		ae.API != itsa.APIBusinessDetails || ae.Code != "RULE_INCORRECT_GOV_TEST_SCENARIO" {
		t.Errorf("NO_OBLIGATIONS_FOUND with no business stored: %v", err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 1 {
		t.Errorf("%d API calls, want the lookup only", n)
	}
	// STATEFUL reaches the landlord's own data (in the sandbox, their test
	// business): stored, and used by the calls after it.
	id, err := e.client.UKPropertyBusinessID(ctx, e.userID, itsaNINO, o, scenario(itsa.ScenarioStateful))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := e.Store.IncomeTaxBusiness(ctx, e.userID); err != nil || b.BusinessID != id {
		t.Fatalf("STATEFUL's business not stored: %+v, %v", b, err)
	}
	before = e.Sim.Stats().APIRequests
	obs, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2025, o, scenario("NO_OBLIGATIONS_FOUND"))
	if err != nil || obs == nil || len(obs) != 0 {
		t.Errorf("NO_OBLIGATIONS_FOUND: %v, %v; want an empty list", obs, err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 1 {
		t.Errorf("obligations with a stored business made %d API calls, want 1", n)
	}
	_, err = e.client.SubmitUKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, q1Summary(), o, scenario("EARLY_DATA_SUBMISSION_NOT_ACCEPTED"))
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED" {
		t.Errorf("early submission: %v", err)
	}
	if _, err := e.client.UKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, o); !errors.Is(err, itsa.ErrNoSubmission) {
		t.Errorf("the refused submission was stored: %v", err)
	}
	if _, err := e.client.SubmitUKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, q1Summary(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UKPropertyCumulative(ctx, e.userID, itsaNINO, 2025, o, scenario("NOT_FOUND")); !errors.Is(err, itsa.ErrNoSubmission) {
		t.Errorf("GET NOT_FOUND = %v, want ErrNoSubmission", err)
	}
	_, err = e.client.Obligations(ctx, e.userID, itsaNINO, 2025, o, scenario("NO_SUCH_SCENARIO"))
	if !errors.As(err, &ae) || ae.Code != "RULE_INCORRECT_GOV_TEST_SCENARIO" {
		t.Errorf("unknown scenario: %v", err)
	}
	for _, s := range audit.all() {
		if s.res.Code != hmrcsim.FraudValid {
			t.Errorf("%s: %+v", s.what, s.res)
		}
	}

	// Refused without a request: a malformed name, or production.
	before = e.Sim.Stats().APIRequests
	if _, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2025, o, scenario("open\r\nX-Evil: 1")); err == nil {
		t.Error("a malformed scenario name was accepted")
	}
	if n := e.Sim.Stats().APIRequests - before; n != 0 {
		t.Errorf("%d calls with a malformed scenario reached HMRC", n)
	}
	// Refused first, before the connection is even looked at.
	prod := itsa.New(itsaClient(t, e, e.Tokens, func(c *hmrc.Config) { c.Environment = "production" }), e.Store)
	if _, err := prod.Obligations(ctx, e.userID, itsaNINO, 2025, o, scenario("OPEN")); err == nil || !strings.Contains(err.Error(), "sandbox only") {
		t.Errorf("production with a scenario: %v", err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 0 {
		t.Errorf("%d calls with a scenario reached HMRC", n)
	}
}

// The business ID is fetched once even when a landlord's pages ask for it
// at the same moment.
func TestITSABusinessIDFetchedOnce(t *testing.T) {
	e, _ := newITSAEnv(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			ids[i], errs[i] = e.client.UKPropertyBusinessID(t.Context(), e.userID, itsaNINO, signedInOrigin())
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("lookup %d = %q, %v", i, ids[i], errs[i])
		}
	}
	if n := e.Sim.Stats().APIRequests; n != 1 {
		t.Fatalf("%d API calls for 8 concurrent lookups, want 1", n)
	}
}

// An expired access token is refreshed on the way, and the stored business
// ID is not asked for again, however old it is (it changes only when the
// NINO does, or when a connection test asks HMRC afresh).
func TestITSAExpiredTokenAndStoredBusiness(t *testing.T) {
	e, _ := newITSAEnv(t)
	ctx := t.Context()
	if _, err := e.client.UKPropertyBusinessID(ctx, e.userID, itsaNINO, signedInOrigin()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance       time.Duration
		apiCalls      int64 // Obligations costs 1: the business ID is stored
		refreshes     int64
		totalAPICalls int64
	}{
		{4*time.Hour + time.Minute, 1, 1, 2},
		{19 * time.Hour, 1, 2, 3}, // 23h01m
		{30 * 24 * time.Hour, 1, 3, 4},
	}
	for i, s := range steps {
		e.Clock.Advance(s.advance)
		before := e.Sim.Stats().APIRequests
		obs, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2025, signedInOrigin())
		if err != nil || len(obs) != 4 {
			t.Fatalf("step %d: %d obligations, %v", i, len(obs), err)
		}
		st := e.Sim.Stats()
		if st.APIRequests-before != s.apiCalls || st.Refreshes != s.refreshes || st.APIRequests != s.totalAPICalls {
			t.Errorf("step %d: %d API calls (total %d), %d refreshes; want %d (%d), %d",
				i, st.APIRequests-before, st.APIRequests, st.Refreshes, s.apiCalls, s.totalAPICalls, s.refreshes)
		}
	}
}

// A landlord connected for VAT only is not connected for Income Tax: the
// VAT token is never used for an ITSA call.
func TestITSAVATConnectionNeverUsed(t *testing.T) {
	e, _ := newITSAEnv(t)
	ctx := t.Context()
	u := e.CreateUser(t, "vat-only@example.com", "", "")
	e.Connect(t, e.hmrc, u.ID, mtdconnect.PurposeVAT, simUser, simPassword)
	vatBefore, err := e.Store.Connection(ctx, u.ID, mtdconnect.PurposeVAT)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(2 * time.Minute) // a use would now be recorded
	before := e.Sim.Stats()
	o := signedInOrigin()
	calls := map[string]func() error{
		"UKPropertyBusinessID": func() error {
			_, err := e.client.UKPropertyBusinessID(ctx, u.ID, itsaNINO, o)
			return err
		},
		"Obligations": func() error { _, err := e.client.Obligations(ctx, u.ID, itsaNINO, 2025, o); return err },
		"Submit": func() error {
			_, err := e.client.SubmitUKPropertyCumulative(ctx, u.ID, itsaNINO, 2025, q1Summary(), o)
			return err
		},
		"Get": func() error { _, err := e.client.UKPropertyCumulative(ctx, u.ID, itsaNINO, 2025, o); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, hmrc.ErrNotConnected) {
			t.Errorf("%s: err = %v, want ErrNotConnected", name, err)
		}
	}
	after := e.Sim.Stats()
	if after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
		t.Errorf("HMRC was asked: %d API, %d token requests", after.APIRequests-before.APIRequests, after.TokenRequests-before.TokenRequests)
	}
	vatAfter, err := e.Store.Connection(ctx, u.ID, mtdconnect.PurposeVAT)
	if err != nil {
		t.Fatal(err)
	}
	if vatAfter.Version != vatBefore.Version || !vatAfter.LastUsedAt.Equal(vatBefore.LastUsedAt) {
		t.Errorf("the VAT connection was touched: version %d -> %d, last used %v -> %v",
			vatBefore.Version, vatAfter.Version, vatBefore.LastUsedAt, vatAfter.LastUsedAt)
	}
}
