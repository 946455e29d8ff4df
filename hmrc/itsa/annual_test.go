package itsa_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// decodeAnnual reads a body as the JSON API does (strictly).
func decodeAnnual(t *testing.T, s string) itsa.UKPropertyAnnual {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var b itsa.UKPropertyAnnual
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return b
}

// errorsText is each error as "CODE path path…".
func errorsText(errs []*hmrc.ValidationError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, strings.TrimSpace(e.Code+" "+strings.Join(e.Paths, " ")))
	}
	return out
}

// The annual submission is checked as HMRC's validators check it (the
// def2 validator, its rules validator, the emptiness checker): the same
// codes, messages, paths and order, on bodies as a platform sends them.
func TestValidateUKPropertyAnnual(t *testing.T) {
	for _, c := range annualCases() {
		t.Run(c.name, func(t *testing.T) {
			got := errorsText(decodeAnnual(t, c.body).Validate(c.year))
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
	// HMRC's messages, including the allowance's range as HMRC's Scala
	// prints it.
	errs := decodeAnnual(t, `{"ukProperty":{"allowances":{"propertyIncomeAllowance":2000}}}`).Validate(2026)
	if len(errs) != 1 || errs[0].Message != "The value must be between 0 and 1000.0" {
		t.Errorf("%+v", errs)
	}
}

type annualCase struct {
	name, body string
	year       itsa.TaxYear
	want       []string
}

func annualCases() []annualCase {
	const (
		body   = "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED"
		adj    = "/ukProperty/adjustments"
		alw    = "/ukProperty/allowances"
		sba0   = alw + "/structuredBuildingAllowance/0"
		esba1  = alw + "/enhancedStructuredBuildingAllowance/1"
		bldg   = `"building":{"name":"Plaza","postcode":"TF3 4EH"}`
		sbaOK  = `{"amount":234.34,"firstYear":{"qualifyingDate":"2026-03-29","qualifyingAmountExpenditure":3434.45},` + bldg + `}`
		sbaMin = `{"amount":1,` + bldg + `}`
	)
	return []annualCase{
		{"HMRC's example, all other allowances", `{"ukProperty":{"adjustments":{"balancingCharge":565.34,"privateUseAdjustment":533.54,"businessPremisesRenovationAllowanceBalancingCharges":563.34,"nonResidentLandlord":true,"rentARoom":{"jointlyLet":true}},"allowances":{"annualInvestmentAllowance":678.45,"businessPremisesRenovationAllowance":573.45,"otherCapitalAllowance":452.34,"costOfReplacingDomesticItems":567.34,"zeroEmissionsCarAllowance":454.34,"structuredBuildingAllowance":[` + sbaOK + `],"enhancedStructuredBuildingAllowance":[` + sbaOK + `]}}}`, 2025, nil},
		{"HMRC's example, property income allowance", `{"ukProperty":{"adjustments":{"balancingCharge":565.34,"nonResidentLandlord":false},"allowances":{"propertyIncomeAllowance":1000}}}`, 2026, nil},
		{"adjustments only", `{"ukProperty":{"adjustments":{"nonResidentLandlord":false}}}`, 2026, nil},
		{"before 2025-26", `{"ukProperty":{"adjustments":{"nonResidentLandlord":false}}}`, 2024, []string{"RULE_TAX_YEAR_NOT_SUPPORTED"}},
		{"empty body", `{}`, 2026, []string{body}},
		{"empty ukProperty", `{"ukProperty":{}}`, 2026, []string{body + " /ukProperty"}},
		{"nonResidentLandlord left out", `{"ukProperty":{"adjustments":{"balancingCharge":1}}}`, 2026, []string{body + " " + adj + "/nonResidentLandlord"}},
		{"required fields left out, sorted; emptiness not reported with them", `{"ukProperty":{"adjustments":{"rentARoom":{}},"allowances":{"structuredBuildingAllowance":[{"firstYear":{}}],"enhancedStructuredBuildingAllowance":[]}}}`, 2026,
			[]string{body + " " + adj + "/nonResidentLandlord " + adj + "/rentARoom/jointlyLet " + sba0 + "/amount " + sba0 + "/building " + sba0 + "/firstYear/qualifyingAmountExpenditure " + sba0 + "/firstYear/qualifyingDate"}},
		{"empty allowances", `{"ukProperty":{"allowances":{}}}`, 2026, []string{body + " " + alw}},
		{"empty building list", `{"ukProperty":{"allowances":{"annualInvestmentAllowance":5,"structuredBuildingAllowance":[]}}}`, 2026, []string{body + " " + alw + "/structuredBuildingAllowance"}},
		{"amounts out of range or with 3 decimals", `{"ukProperty":{"adjustments":{"balancingCharge":-1,"privateUseAdjustment":100000000000,"nonResidentLandlord":true},"allowances":{"annualInvestmentAllowance":1.500,"otherCapitalAllowance":0.01}}}`, 2026,
			[]string{"FORMAT_VALUE " + adj + "/balancingCharge " + adj + "/privateUseAdjustment " + alw + "/annualInvestmentAllowance"}},
		{"property income allowance over £1,000", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":1000.01}}}`, 2026, []string{"FORMAT_VALUE " + alw + "/propertyIncomeAllowance"}},
		{"property income allowance with another allowance", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":100,"structuredBuildingAllowance":[` + sbaMin + `]}}}`, 2026, []string{"RULE_BOTH_ALLOWANCES_SUPPLIED " + alw}},
		{"property income allowance with private use (HMRC's downstream rule)", `{"ukProperty":{"adjustments":{"privateUseAdjustment":20,"nonResidentLandlord":false},"allowances":{"propertyIncomeAllowance":100}}}`, 2026, []string{"RULE_PROPERTY_INCOME_ALLOWANCE"}},
		{"a building's strings, date, name or number", `{"ukProperty":{"allowances":{"enhancedStructuredBuildingAllowance":[` + sbaMin + `,{"amount":5,"firstYear":{"qualifyingDate":"2026-02-30","qualifyingAmountExpenditure":5},"building":{"number":"#12","postcode":"TF3 4EH"}},{"amount":1,"building":{"postcode":"TF3 4EH"}}]}}}`, 2026,
			[]string{"FORMAT_DATE " + esba1 + "/firstYear/qualifyingDate", "FORMAT_STRING " + esba1 + "/building/number", "RULE_BUILDING_NAME_NUMBER " + alw + "/enhancedStructuredBuildingAllowance/2/building"}},
	}
}

// The local checks and the simulator (written from HMRC's validators)
// agree: each body of the table sent as it is, unchecked, gets the same
// codes and paths from the simulator, and a body the checks pass is
// accepted.
func TestAnnualValidationMatchesSimulator(t *testing.T) {
	e, _ := newITSAEnv(t)
	bid, err := e.client.UKPropertyBusinessID(t.Context(), e.userID, itsaNINO, signedInOrigin())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range annualCases() {
		t.Run(c.name, func(t *testing.T) {
			resp, err := e.hmrc.Do(t.Context(), hmrc.Call{
				API: itsa.APIPropertyBusiness, UserID: e.userID, Purpose: mtdconnect.PurposeIncomeTax,
				Method: http.MethodPut, Path: "/individuals/business/property/uk/" + itsaNINO + "/" + bid + "/annual/" + c.year.String(),
				Accept: "application/vnd.hmrc.6.0+json", RawBody: []byte(c.body), ContentType: "application/json",
				Fraud: signedInOrigin(), PassThrough: true,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if resp.Status != http.StatusOK {
				ae := hmrc.ParseAPIError(itsa.APIPropertyBusiness, resp)
				for _, it := range ae.Errors {
					got = append(got, strings.TrimSpace(it.Code+" "+strings.Join(it.Paths, " ")))
				}
				if len(ae.Errors) == 0 {
					got = []string{ae.Code}
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("simulator: %d %q\nlocal checks: %q", resp.Status, got, c.want)
			}
		})
	}
}

func annualBody() itsa.UKPropertyAnnual {
	yes, no := true, false
	return itsa.UKPropertyAnnual{UKProperty: &itsa.UKPropertyYear{
		Adjustments: &itsa.UKPropertyAdjustments{
			BalancingCharge: mtdconnect.Pence(20000), NonResidentLandlord: &no,
			RentARoom: &itsa.UKPropertyRentARoomShare{JointlyLet: &yes},
		},
		Allowances: &itsa.UKPropertyAllowances{
			CostOfReplacingDomesticItems: mtdconnect.Pence(50000),
			StructuredBuildingAllowance: []itsa.BuildingAllowance{{
				Amount:    mtdconnect.Pence(12345),
				FirstYear: &itsa.BuildingFirstYear{QualifyingDate: "2025-05-01", QualifyingAmountExpenditure: mtdconnect.Pence(400000)},
				Building:  &itsa.Building{Number: "12", Postcode: "TF3 4EH"},
			}},
		},
	}}
}

// The annual submission's round trip at the simulator: none, submitted,
// read back as sent (with HMRC's submittedOn), replaced, deleted; HMRC's
// own refusals are APIErrors; a body refused locally sends nothing; every
// call carries valid fraud prevention headers.
func TestUKPropertyAnnualFlow(t *testing.T) {
	e, audit := newITSAEnv(t)
	ctx := t.Context()
	origin := signedInOrigin()
	const year itsa.TaxYear = 2025

	if _, err := e.client.UKPropertyAnnual(ctx, e.userID, itsaNINO, year, origin); !errors.Is(err, itsa.ErrNoAnnualSubmission) {
		t.Fatalf("before any submission: %v", err)
	}
	resp, err := e.client.SubmitUKPropertyAnnual(ctx, e.userID, itsaNINO, year, annualBody(), origin)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || resp.CorrelationID == "" {
		t.Errorf("PUT answered %d, correlation ID %q", resp.Status, resp.CorrelationID)
	}
	got, err := e.client.UKPropertyAnnual(ctx, e.userID, itsaNINO, year, origin)
	if err != nil {
		t.Fatal(err)
	}
	if got.SubmittedOn == "" || !reflect.DeepEqual(got.UKPropertyAnnual, annualBody()) {
		sent, _ := json.Marshal(annualBody())
		back, _ := json.Marshal(got)
		t.Errorf("read back\n%s\nsent\n%s", back, sent)
	}

	// A replacement is whole: what it leaves out is gone.
	no := false
	pia := itsa.UKPropertyAnnual{UKProperty: &itsa.UKPropertyYear{
		Adjustments: &itsa.UKPropertyAdjustments{NonResidentLandlord: &no},
		Allowances:  &itsa.UKPropertyAllowances{PropertyIncomeAllowance: mtdconnect.Pence(100000)},
	}}
	if _, err := e.client.SubmitUKPropertyAnnual(ctx, e.userID, itsaNINO, year, pia, origin); err != nil {
		t.Fatal(err)
	}
	if got, err := e.client.UKPropertyAnnual(ctx, e.userID, itsaNINO, year, origin); err != nil || !reflect.DeepEqual(got.UKPropertyAnnual, pia) {
		t.Errorf("after the replacement: %+v, %v", got, err)
	}

	// Refused locally: nothing reaches HMRC.
	before := e.Sim.Stats().APIRequests
	bad := pia
	bad.UKProperty = &itsa.UKPropertyYear{Allowances: &itsa.UKPropertyAllowances{PropertyIncomeAllowance: mtdconnect.Pence(100001)}}
	_, err = e.client.SubmitUKPropertyAnnual(ctx, e.userID, itsaNINO, year, bad, origin)
	if verrs := hmrc.ValidationErrorsIn(err); len(verrs) != 1 || verrs[0].Code != itsa.CodeFormatValue {
		t.Errorf("over the allowance: %v", err)
	}
	if _, err := e.client.SubmitUKPropertyAnnual(ctx, e.userID, "not a nino", year, pia, origin); err == nil {
		t.Error("a malformed NINO was accepted")
	}
	if after := e.Sim.Stats().APIRequests; after != before {
		t.Errorf("refused locally, yet %d requests reached the simulator", after-before)
	}

	// HMRC's own refusals, through its sandbox scenarios.
	_, err = e.client.SubmitUKPropertyAnnual(ctx, e.userID, itsaNINO, year, pia, origin, itsa.WithTestScenario("OUTSIDE_AMENDMENT_WINDOW"))
	if !hmrc.HasErrorCode(err, itsa.CodeRuleOutsideAmendmentWindow) {
		t.Errorf("OUTSIDE_AMENDMENT_WINDOW: %v", err)
	}
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.API != itsa.APIPropertyBusiness {
		t.Errorf("not an APIError of the property business API: %v", err)
	}

	if _, err := e.client.DeleteUKPropertyAnnual(ctx, e.userID, itsaNINO, year, origin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UKPropertyAnnual(ctx, e.userID, itsaNINO, year, origin); !errors.Is(err, itsa.ErrNoAnnualSubmission) {
		t.Errorf("after deleting: %v", err)
	}
	if _, err := e.client.DeleteUKPropertyAnnual(ctx, e.userID, itsaNINO, year, origin); !errors.Is(err, itsa.ErrNoAnnualSubmission) {
		t.Errorf("deleting again: %v", err)
	}
	for _, s := range audit.all() {
		if s.res.Code != "VALID_HEADERS" {
			t.Errorf("%s: fraud headers %s: %+v", s.what, s.res.Code, s.res)
		}
	}
}

// The final declaration obligation: open for a year of Making Tax Digital,
// none for a year before it; a tax year HMRC does not take is refused
// before anything is sent.
func TestFinalDeclarationObligation(t *testing.T) {
	e, _ := newITSAEnv(t)
	ctx := t.Context()
	ob, err := e.client.FinalDeclarationObligation(ctx, e.userID, itsaNINO, 2025, signedInOrigin())
	if err != nil {
		t.Fatal(err)
	}
	want := &itsa.DeclarationObligation{Start: "2025-04-06", End: "2026-04-05", Due: "2027-01-31", Status: itsa.ObligationOpen}
	if !reflect.DeepEqual(ob, want) {
		t.Errorf("2025-26: %+v, want %+v", ob, want)
	}
	if ob, err := e.client.FinalDeclarationObligation(ctx, e.userID, itsaNINO, 2022, signedInOrigin()); err != nil || ob != nil {
		t.Errorf("2022-23, before the simulator's MTD: %+v, %v", ob, err)
	}
	before := e.Sim.Stats().APIRequests
	_, err = e.client.FinalDeclarationObligation(ctx, e.userID, itsaNINO, 2016, signedInOrigin())
	if verrs := hmrc.ValidationErrorsIn(err); len(verrs) != 1 || verrs[0].Code != itsa.CodeRuleTaxYearNotSupported {
		t.Errorf("2016-17: %v", err)
	}
	if after := e.Sim.Stats().APIRequests; after != before {
		t.Errorf("refused locally, yet %d requests were sent", after-before)
	}

}

// In HMRC's sandbox the final declaration obligation is canned (2018-19,
// HMRC's example, whatever year is asked): it is not taken for another
// year's. DYNAMIC answers for the year asked.
func TestFinalDeclarationObligationSandbox(t *testing.T) {
	h := hmrctest.New(t, hmrctest.Options{Start: time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC), Mode: hmrcsim.ModeSandbox})
	h.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: itsaNINO})
	userID := h.CreateUser(t, "landlord@example.com", itsaNINO, "").ID
	h.Connect(t, h.Client, userID, mtdconnect.PurposeIncomeTax, simUser, simPassword)
	c := itsa.New(h.Client, h.Store)
	if ob, err := c.FinalDeclarationObligation(t.Context(), userID, itsaNINO, 2026, signedInOrigin()); err != nil || ob != nil {
		t.Errorf("DEFAULT for 2026-27: %+v, %v", ob, err)
	}
	if ob, err := c.FinalDeclarationObligation(t.Context(), userID, itsaNINO, 2018, signedInOrigin()); err != nil || ob == nil || ob.Due != "2020-01-31" {
		t.Errorf("DEFAULT for 2018-19: %+v, %v", ob, err)
	}
	ob, err := c.FinalDeclarationObligation(t.Context(), userID, itsaNINO, 2026, signedInOrigin(), itsa.WithTestScenario("DYNAMIC"))
	if err != nil || ob == nil || ob.Start != "2026-04-06" || ob.Due != "2028-01-31" || ob.Fulfilled() {
		t.Errorf("DYNAMIC: %+v, %v", ob, err)
	}
}
