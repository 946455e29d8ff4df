package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// sentRecorder records every HMRC API request the service sends (not the
// token endpoint's): what a refusal "before anything is sent" must leave
// untouched.
type sentRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent []string // "METHOD path"
	// invalid are the requests whose fraud prevention headers the
	// simulator's validator does not grade VALID_HEADERS, with its verdict.
	invalid []string
}

func (s *sentRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/oauth/") {
		res := hmrcsim.ValidateFraudHeaders(r.Header)
		s.mu.Lock()
		s.sent = append(s.sent, r.Method+" "+r.URL.Path)
		if res.Code != hmrcsim.FraudValid {
			s.invalid = append(s.invalid, fmt.Sprintf("%s %s: %s %+v %+v", r.Method, r.URL.Path, res.Code, res.Errors, res.Warnings))
		}
		s.mu.Unlock()
	}
	return s.next.RoundTrip(r)
}

// since returns the requests sent after the first n.
func (s *sentRecorder) since(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent[n:])
}

func (s *sentRecorder) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// writes are the requests of sent that change something at HMRC.
func writes(sent []string) []string {
	var out []string
	for _, s := range sent {
		if !strings.HasPrefix(s, "GET ") {
			out = append(out, s)
		}
	}
	return out
}

// yearEndEnv is a deployment whose clock is moved to 1 May after the
// current tax year (the year returned), which has then ended: its four
// quarterly updates can be sent and the year finalised.
func yearEndEnv(t *testing.T) (*testEnv, itsa.TaxYear, *sentRecorder) {
	t.Helper()
	rec := &sentRecorder{}
	env := newTestEnv(t, func(env *testEnv, cfg *hmrc.Config) {
		rec.next = env.Tokens
		cfg.HTTPClient = &http.Client{Transport: rec, Timeout: 5 * time.Second}
	})
	y := itsa.CurrentTaxYear(env.Clock.Now())
	env.Clock.Advance(time.Date(int(y)+1, time.May, 1, 9, 0, 0, 0, time.UTC).Sub(env.Clock.Now()))
	return env, y, rec
}

// quarterEnds are the standard quarters' last days of y.
func quarterEnds(y itsa.TaxYear) []string {
	return []string{fmt.Sprintf("%d-07-05", y), fmt.Sprintf("%d-10-05", y), fmt.Sprintf("%d-01-05", y+1), fmt.Sprintf("%d-04-05", y+1)}
}

// sendQuarters sends the first n quarterly updates of y through the
// quarterly form: by the year's end, rents £20,000, expenses £4,000 and
// finance costs £3,000 (TAX-CALCULATION.md's worked example).
func (b *browser) sendQuarters(y itsa.TaxYear, n int) {
	b.t.Helper()
	for i, end := range quarterEnds(y)[:n] {
		q := i + 1
		p := b.post("/quarterly/submit", url.Values{
			"taxYear": {y.String()}, "from": {y.FirstDay()}, "to": {end},
			"income.periodAmount":               {fmt.Sprint(5000 * q)},
			"expenses.consolidatedExpenses":     {fmt.Sprint(1000 * q)},
			"expenses.residentialFinancialCost": {fmt.Sprint(750 * q)},
		})
		if p.status != http.StatusOK || !strings.HasPrefix(p.url.Path, "/quarterly/receipts/") {
			b.t.Fatalf("update to %s: %s (status %d):\n%s", end, p.url, p.status, p.text())
		}
	}
}

// calculationID is the ID in a calculation page's address.
func calculationID(t *testing.T, p page) string {
	t.Helper()
	_, id, ok := strings.Cut(p.url.Path, "/calculations/")
	if !ok || p.status != http.StatusOK {
		t.Fatalf("not a calculation page: %s (status %d):\n%s", p.url, p.status, p.text())
	}
	return id
}

// The landlord's year in the pages: the deadlines, four quarterly updates,
// an estimate with HMRC's disclaimer, the year-end adjustments, the final
// calculation, HMRC's declaration (refused until agreed to, nothing sent),
// the declaration and its receipt, the obligation met; then an amendment
// and its confirmation. Every HMRC call has valid fraud prevention
// headers.
func TestYearEndJourney(t *testing.T) {
	env, y, rec := yearEndEnv(t)
	ty := y.String()
	b := env.incomeTaxLandlord(true)
	base := "/tax-year/" + ty

	p := b.get("/tax-year")
	if p.url.Path != "/tax-year/"+(y+1).String() {
		t.Errorf("/tax-year led to %s, want the current tax year", p.url.Path)
	}
	p = b.get(base)
	if p.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", p.status, p.text())
	}
	fdDue := fmt.Sprintf("31 January %d", int(y)+2)
	p.mustContain(t, "Your tax year "+ty, "Send your next quarterly update", "days overdue",
		"Final declaration", fdDue, "What mtdconnect does not send", "Business Source Adjustable Summary", "Losses")
	if !strings.Contains(p.body, `href="/tax-year"`) {
		t.Error("no link to the tax year in the navigation")
	}

	b.sendQuarters(y, 4)
	env.Clock.Advance(time.Hour) // HMRC may take up to an hour to show them received
	p = b.get(base)
	p.mustContain(t, "Finalise your tax year", "make your final declaration by "+fdDue)
	p.mustNotContain(t, "Overdue")
	if strings.Count(p.text(), "Received on") != 4 {
		t.Errorf("the four updates are not all received:\n%s", p.text())
	}

	// The estimate: HMRC's figures, its disclaimer.
	p = b.post(base+"/estimate", url.Values{})
	estimate := calculationID(t, p)
	p.mustContain(t, "Your tax estimate", "HMRC says: This calculation is only based on information HMRC have received about your income and expenses to 5 April "+fmt.Sprint(int(y)+1),
		"Taxable profit £16,000.00", "minus Personal Allowance £12,570.00", "Basic rate: £3,430.00 at 20% £686.00",
		"minus Tax reductions (residential finance costs relief at the basic rate) £600.00", "National Insurance £0.00",
		"Total Income Tax and National Insurance due £86.00", "Estimate for the whole tax year")
	p.mustNotContain(t, "Make your final declaration")

	// The year-end adjustments: refused locally next to the field, then sent.
	p = b.get(base + "/adjustments")
	p.mustContain(t, "Year-end adjustments "+ty, "Are you a non-resident landlord?", "Property income allowance", "Structures and buildings allowance")
	f := p.findForm(t, base+"/adjustments")
	f.values.Set("adjustments.nonResidentLandlord", "no")
	f.values.Set("allowances.propertyIncomeAllowance", "1000")
	f.values.Set("allowances.costOfReplacingDomesticItems", "500")
	before := rec.count()
	p = b.post(base+"/adjustments", f.values)
	if p.status != http.StatusBadRequest {
		t.Fatalf("both allowances: status %d:\n%s", p.status, p.text())
	}
	p.mustContain(t, "There is a problem", "Claim either the property income allowance or the other allowances, not both")
	if sent := rec.since(before); len(sent) != 0 {
		t.Errorf("refused adjustments were sent: %q", sent)
	}
	f.values.Set("allowances.propertyIncomeAllowance", "")
	f.values.Set("adjustments.balancingCharge", "200")
	p = b.post(base+"/adjustments", f.values)
	if p.status != http.StatusOK || !strings.Contains(p.url.Path, "/receipts/") {
		t.Fatalf("adjustments: %s (status %d):\n%s", p.url, p.status, p.text())
	}
	p.mustContain(t, "HMRC received your year-end adjustments", "Balancing charges (Adjustments) £200.00",
		"Replacing domestic items (Allowances) £500.00", "Non-resident landlord (Adjustments) No")
	// The form shows what HMRC holds.
	if got := b.get(base+"/adjustments").findForm(t, base+"/adjustments").values; got.Get("adjustments.balancingCharge") != "200" {
		t.Errorf("the form after sending: %v", got)
	}

	// The final calculation, with HMRC's declaration.
	p = b.post(base+"/final-calculation", url.Values{})
	final := calculationID(t, p)
	if final == estimate {
		t.Fatal("the final calculation is the estimate")
	}
	// 16,000 + 200 − 500 = 15,700: tax 626.00 − 600.00 = 26.00 (TAX-CALCULATION.md).
	p.mustContain(t, "Your final calculation", "Taxable profit £15,700.00", "Total Income Tax and National Insurance due £26.00",
		"HMRC's declaration", "I declare that the information and tax return I have submitted are (taken together) correct and complete",
		"Make your final declaration", "What mtdconnect does not send")
	declare := p.findForm(t, base+"/calculations/"+final+"/declare")
	declare.values.Del("agree") // the box, unticked

	// Not agreed: refused, the box marked, nothing sent.
	before = rec.count()
	p = b.post(base+"/calculations/"+final+"/declare", declare.values)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="agree-error"`) {
		t.Fatalf("not agreed: status %d:\n%s", p.status, p.text())
	}
	p.mustContain(t, "There is a problem", "Tick the box to agree to the declaration")
	if w := writes(rec.since(before)); len(w) != 0 {
		t.Errorf("a declaration not agreed to was sent: %q", w)
	}

	declare.values.Set("agree", "yes")
	p = b.post(base+"/calculations/"+final+"/declare", declare.values)
	if p.status != http.StatusOK || !strings.Contains(p.url.Path, "/receipts/") {
		t.Fatalf("declaration: %s (status %d):\n%s", p.url, p.status, p.text())
	}
	subs, err := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 20)
	if err != nil || len(subs) != 6 || subs[0].Kind != mtdconnect.SubmissionFinalDeclaration || subs[0].ReceiptID != final ||
		subs[0].Period != ty || len(subs[0].CorrelationID) != 36 || !strings.Contains(string(subs[0].Response), final) {
		t.Fatalf("receipts: %+v, %v", subs, err)
	}
	p.mustContain(t, "HMRC received your final declaration", "Tax year "+ty, "HMRC reference "+subs[0].CorrelationID,
		"Calculation ID "+final, "The calculation you agreed to", "Total Income Tax and National Insurance due £26.00")

	// The obligation is met (HMRC may take up to an hour to show it).
	env.Clock.Advance(time.Hour)
	p = b.get(base)
	p.mustContain(t, "HMRC has your final declaration", "Final declaration", "Received on 1 May "+fmt.Sprint(int(y)+1),
		"Amend your tax year "+ty, "Final declaration", "Year-end adjustments")
	p.mustNotContain(t, "Get your final calculation")

	// An amendment: a corrected figure, the amended calculation, confirmed.
	f = b.get(base+"/adjustments").findForm(t, base+"/adjustments")
	f.values.Set("adjustments.balancingCharge", "300")
	if p := b.post(base+"/adjustments", f.values); p.status != http.StatusOK {
		t.Fatalf("amended adjustments: status %d:\n%s", p.status, p.text())
	}
	b.get(base+"/amend").mustContain(t, "You can amend your return for "+ty+" until 31 January "+fmt.Sprint(int(y)+3), "Get your amended calculation")
	p = b.post(base+"/amend", url.Values{})
	amended := calculationID(t, p)
	p.mustContain(t, "Your amended calculation", "Taxable profit £15,800.00", "Total Income Tax and National Insurance due £46.00", "Confirm your amendment")
	confirm := p.findForm(t, base+"/calculations/"+amended+"/confirm-amendment")
	p = b.post(base+"/calculations/"+amended+"/confirm-amendment", confirm.values)
	if p.status != http.StatusOK || !strings.Contains(p.url.Path, "/receipts/") {
		t.Fatalf("confirmation: %s (status %d):\n%s", p.url, p.status, p.text())
	}
	p.mustContain(t, "HMRC received your amendment", "Calculation ID "+amended, "Total Income Tax and National Insurance due £46.00")

	for _, api := range []string{"individual-calculations-mtd", "property-business-mtd", "obligations-mtd"} {
		env.fraudVerdict(t, api, true)
	}
	// Not only the latest of each API: every request of the journey.
	if len(rec.invalid) > 0 || rec.count() < 20 {
		t.Errorf("%d requests, fraud prevention headers not valid on: %q", rec.count(), rec.invalid)
	}
	// A declared calculation shows as such, without a form.
	p = b.get(base + "/calculations/" + final)
	p.mustContain(t, "Your final calculation, declared")
	p.mustNotContain(t, "Make your final declaration", "HMRC says:")
}

// The year-end adjustments form refuses, next to each field and with
// nothing sent, what HMRC would refuse, and keeps what was typed.
func TestYearEndAdjustmentsForm(t *testing.T) {
	env, y, rec := yearEndEnv(t)
	b := env.incomeTaxLandlord(false)
	base := "/tax-year/" + y.String()
	action := base + "/adjustments"
	form := b.get(action).findForm(t, action)
	// The radios: unanswered (the form reader takes every option's value).
	form.values.Del("adjustments.nonResidentLandlord")
	form.values.Del("adjustments.rentARoom.jointlyLet")
	for _, tt := range []struct {
		name    string
		values  map[string]string
		fieldID string // "" for a group or the form
		message string
	}{
		{"non-resident question unanswered", map[string]string{"adjustments.balancingCharge": "10"}, "", "Select yes if you are a non-resident landlord"},
		{"not a number", map[string]string{"adjustments.nonResidentLandlord": "no", "adjustments.balancingCharge": "lots"}, "adjustments-balancingCharge",
			"Enter balancing charges as an amount in pounds, like 1250.00"},
		{"three decimal places", map[string]string{"adjustments.nonResidentLandlord": "no", "allowances.otherCapitalAllowance": "1.005"}, "allowances-otherCapitalAllowance",
			"Enter an amount of £0 or more, up to £99,999,999,999.99"},
		{"property income allowance over £1,000", map[string]string{"adjustments.nonResidentLandlord": "no", "allowances.propertyIncomeAllowance": "1000.01"},
			"allowances-propertyIncomeAllowance", "Enter a property income allowance between £0 and £1,000"},
		{"property income allowance with private use", map[string]string{"adjustments.nonResidentLandlord": "no", "allowances.propertyIncomeAllowance": "500",
			"adjustments.privateUseAdjustment": "20"}, "allowances-propertyIncomeAllowance", "You cannot claim the property income allowance with a private use adjustment"},
		{"a building without postcode", map[string]string{"adjustments.nonResidentLandlord": "no", "allowances.structuredBuildingAllowance.0.amount": "100",
			"allowances.structuredBuildingAllowance.0.building.name": "Mill House"}, "allowances-structuredBuildingAllowance-0-building-postcode", "Enter the building's postcode"},
		{"a building without name or number", map[string]string{"adjustments.nonResidentLandlord": "no", "allowances.structuredBuildingAllowance.0.amount": "100",
			"allowances.structuredBuildingAllowance.0.building.postcode": "TF3 4EH"}, "allowances-structuredBuildingAllowance-0-building-name", "Enter the building's name or number"},
		{"a first year without its date", map[string]string{"adjustments.nonResidentLandlord": "no", "allowances.enhancedStructuredBuildingAllowance.0.amount": "100",
			"allowances.enhancedStructuredBuildingAllowance.0.building.number": "3", "allowances.enhancedStructuredBuildingAllowance.0.building.postcode": "TF3 4EH",
			"allowances.enhancedStructuredBuildingAllowance.0.firstYear.qualifyingAmountExpenditure": "5000"},
			"allowances-enhancedStructuredBuildingAllowance-0-firstYear-qualifyingDate", "Enter the date the building first qualified"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form.values {
				f[k] = v
			}
			for k, v := range tt.values {
				f.Set(k, v)
			}
			before := rec.count()
			p := b.post(action, f)
			if p.status != http.StatusBadRequest {
				t.Fatalf("status %d:\n%s", p.status, p.text())
			}
			p.mustContain(t, "There is a problem", tt.message)
			if tt.fieldID != "" {
				if !strings.Contains(p.body, `id="`+tt.fieldID+`-error"`) {
					t.Errorf("no error next to %s:\n%s", tt.fieldID, p.text())
				}
				name := strings.ReplaceAll(tt.fieldID, "-", ".")
				if got := p.findForm(t, action).values.Get(name); got != tt.values[name] {
					t.Errorf("%s holds %q, want what was typed", name, got)
				}
			}
			if sent := rec.since(before); len(sent) != 0 {
				t.Errorf("refused, yet sent %q", sent)
			}
		})
	}
	if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 10); len(subs) != 0 {
		t.Errorf("refused adjustments left receipts: %+v", subs)
	}
}

// The pages where HMRC's view stops the year: a final calculation with
// HMRC's errors (an update missing) shows them and no declaration; a loss
// is signposted to where it can be claimed; a correction of the year's
// figures goes to HMRC as an update; a landlord without a NINO or a
// connection is told what to do first.
func TestYearEndPagesProblems(t *testing.T) {
	env, y, _ := yearEndEnv(t)
	base := "/tax-year/" + y.String()
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)
	b.get(base).mustContain(t, "Add your National Insurance number first")
	b.setNINO(testNINO)
	b.get(base).mustContain(t, "Connect mtdconnect to HMRC for Income Tax first")
	b.connect()

	b.sendQuarters(y, 3)
	p := b.post(base+"/final-calculation", url.Values{})
	calculationID(t, p)
	p.mustContain(t, "HMRC found problems, so there is no calculation", "The quarterly update for the UK property business for the period 6 April "+fmt.Sprint(int(y))+" to 5 April "+fmt.Sprint(int(y)+1)+" has not been received")
	p.mustNotContain(t, "Make your final declaration", "HMRC's declaration")

	// The year's figures corrected: expenses above income make a loss.
	f := b.get(base+"/income-and-expenses").findForm(t, base+"/income-and-expenses")
	if f.values.Get("income.periodAmount") != "15000" || f.values.Get("to") != quarterEnds(y)[2] {
		t.Fatalf("the correction form does not show what HMRC holds: %v", f.values)
	}
	f.values.Set("to", quarterEnds(y)[3])
	f.values.Set("expenses.consolidatedExpenses", "25000")
	if p := b.post(base+"/income-and-expenses", f.values); p.status != http.StatusOK || !strings.HasPrefix(p.url.Path, "/quarterly/receipts/") {
		t.Fatalf("correction: %s (status %d):\n%s", p.url, p.status, p.text())
	}
	p = b.post(base+"/estimate", url.Values{})
	calculationID(t, p)
	p.mustContain(t, "Your property business made a loss", "mtdconnect does not make loss claims", "Individual Losses", "Loss £10,000.00")
}

// Addresses that name nothing answer 404 pages, never an error of ours,
// and another landlord's receipt is not shown.
func TestYearEndPagesNotFound(t *testing.T) {
	env, y, _ := yearEndEnv(t)
	b := env.incomeTaxLandlord(false)
	b.sendQuarters(y, 1)
	f := b.get("/tax-year/"+y.String()+"/adjustments").findForm(t, "/tax-year/"+y.String()+"/adjustments")
	f.values.Set("adjustments.nonResidentLandlord", "yes")
	p := b.post("/tax-year/"+y.String()+"/adjustments", f.values)
	if p.status != http.StatusOK {
		t.Fatalf("adjustments: %d", p.status)
	}
	receipt := p.url.Path
	for _, path := range []string{
		"/tax-year/2024-25", "/tax-year/2099-00", "/tax-year/" + (y + 2).String(), "/tax-year/twenty",
		"/tax-year/" + y.String() + "/calculations/not-an-id", "/tax-year/" + y.String() + "/receipts/0",
		"/tax-year/" + y.String() + "/receipts/999", "/tax-year/" + (y - 1).String() + strings.TrimPrefix(receipt, "/tax-year/"+y.String()),
		"/tax-year/" + y.String() + "/receipts/1", // a quarterly update's receipt, shown on its own page
	} {
		if p := b.get(path); p.status != http.StatusNotFound {
			t.Errorf("%s: status %d:\n%s", path, p.status, p.text())
		}
	}
	o := env.browser()
	o.signIn(otherEmail, otherPassword)
	if p := o.get(receipt); p.status != http.StatusNotFound {
		t.Errorf("another landlord's receipt: status %d", p.status)
	}
}
