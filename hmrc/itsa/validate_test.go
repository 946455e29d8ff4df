package itsa

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

func TestParseTaxYear(t *testing.T) {
	tests := []struct {
		in   string
		want TaxYear
		code string
	}{
		{"2025-26", 2025, ""},
		{"2010-11", 2010, ""},
		{"2098-99", 2098, ""},
		{"2099-00", 0, CodeFormatTaxYear},
		{"2009-10", 0, CodeFormatTaxYear},
		{"2025-2026", 0, CodeFormatTaxYear},
		{"2025/26", 0, CodeFormatTaxYear},
		{"25-26", 0, CodeFormatTaxYear},
		{" 2025-26", 0, CodeFormatTaxYear},
		{"", 0, CodeFormatTaxYear},
		{"2025-27", 0, CodeRuleTaxYearRangeInvalid},
		{"2025-25", 0, CodeRuleTaxYearRangeInvalid},
		{"2025-24", 0, CodeRuleTaxYearRangeInvalid},
	}
	for _, tt := range tests {
		got, err := ParseTaxYear(tt.in)
		if tt.code == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseTaxYear(%q) = %v, %v", tt.in, got, err)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
			continue
		}
		var ve *hmrc.ValidationError
		if !errors.As(err, &ve) || ve.Code != tt.code || got != 0 {
			t.Errorf("ParseTaxYear(%q) = %v, %v; want code %s", tt.in, got, err, tt.code)
		}
	}
	if y := TaxYear(2025); y.FirstDay() != "2025-04-06" || y.LastDay() != "2026-04-05" || !y.Valid() {
		t.Errorf("2025: %s %s %v", y.FirstDay(), y.LastDay(), y.Valid())
	}
	for _, y := range []TaxYear{0, 2009, 2099, -1} {
		if y.Valid() {
			t.Errorf("TaxYear(%d).Valid()", y)
		}
	}
}

func TestCurrentTaxYear(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skip("no zone database")
	}
	tests := []struct {
		t    time.Time
		want TaxYear
	}{
		{time.Date(2025, 4, 5, 23, 59, 59, 0, london), 2024},
		{time.Date(2025, 4, 6, 0, 0, 0, 0, london), 2025},
		{time.Date(2025, 4, 5, 23, 30, 0, 0, time.UTC), 2025}, // 00:30 BST on 6 April
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 2025},
		{time.Date(2026, 4, 5, 12, 0, 0, 0, time.UTC), 2025},
		{time.Date(2026, 4, 6, 12, 0, 0, 0, time.UTC), 2026},
		{time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC), 2025},
	}
	for _, tt := range tests {
		if got := CurrentTaxYear(tt.t); got != tt.want {
			t.Errorf("CurrentTaxYear(%v) = %v, want %v", tt.t, got, tt.want)
		}
	}
}

func TestValidBusinessID(t *testing.T) {
	for id, ok := range map[string]bool{
		"XAIS12345678910": true, "XPIS12345678901": true, "X1IS12345678901": true,
		"xpis12345678901": false, "XPIS1234567890": false, "XPIS123456789012": false,
		"YPIS12345678901": false, "XPXS12345678901": false, "": false, "XPIS1234567890A": false,
	} {
		if ValidBusinessID(id) != ok {
			t.Errorf("ValidBusinessID(%q) = %v", id, !ok)
		}
		err := ValidateBusinessID(id)
		var ve *hmrc.ValidationError
		if ok != (err == nil) || (err != nil && (!errors.As(err, &ve) || ve.Code != CodeFormatBusinessID)) {
			t.Errorf("ValidateBusinessID(%q) = %v", id, err)
		}
	}
}

func amt(s string) *mtdconnect.Amount {
	a, err := mtdconnect.ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

// TestAmountRange: an Income Tax amount has at most 2 decimal places as
// written and lies within ±99,999,999,999.99.
func TestAmountRange(t *testing.T) {
	tests := []struct {
		in    string
		pence int64
		ok    bool // whole pence within range
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"0.00", 0, true},
		{"1234.56", 123456, true},
		{"1234.5", 123450, true},
		{"-1234.56", -123456, true},
		{"99999999999.99", 9999999999999, true},
		{"-99999999999.99", -9999999999999, true},
		{"100000000000", 0, false},
		{"99999999999.991", 0, false},
		{"1.000", 0, false}, // scale 3, as BigDecimal
		{"0.001", 0, false},
		{"99999999999999999999999999", 0, false},
	}
	for _, tt := range tests {
		a, err := mtdconnect.ParseAmount(tt.in)
		if err != nil {
			t.Errorf("ParseAmount(%q): %v", tt.in, err)
			continue
		}
		p, ok := pence(a)
		if ok != tt.ok || p != tt.pence {
			t.Errorf("pence(%q) = %d, %v; want %d, %v", tt.in, p, ok, tt.pence, tt.ok)
		}
	}
}

func validBody() UKPropertyCumulative {
	return UKPropertyCumulative{
		FromDate: "2025-04-06",
		ToDate:   "2025-07-05",
		UKProperty: UKProperty{
			Income: &UKPropertyIncome{
				PremiumsOfLeaseGrant: amt("42.12"),
				ReversePremiums:      amt("84.31"),
				PeriodAmount:         amt("9884.93"),
				TaxDeducted:          amt("842.99"),
				OtherIncome:          amt("31.44"),
				RentARoom:            &UKPropertyRentARoom{RentsReceived: amt("947.66")},
			},
			Expenses: &UKPropertyExpenses{
				PremisesRunningCosts:                    amt("1500.50"),
				RepairsAndMaintenance:                   amt("-1000.25"),
				FinancialCosts:                          amt("5000"),
				ProfessionalFees:                        amt("300.99"),
				CostOfServices:                          amt("500.75"),
				Other:                                   amt("100"),
				ResidentialFinancialCost:                amt("9000.10"),
				TravelCosts:                             amt("400.4"),
				ResidentialFinancialCostsCarriedForward: amt("300.13"),
				RentARoom:                               &UKPropertyRentARoomExpenses{AmountClaimed: amt("860.88")},
			},
		},
	}
}

func TestValidateUKPropertyValid(t *testing.T) {
	b := validBody()
	if errs := b.Validate(2025); errs != nil {
		t.Fatalf("valid body: %v", errs)
	}
	out, err := b.MarshalBody(2025)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"fromDate":"2025-04-06"`, `"ukProperty":{"income":{"premiumsOfLeaseGrant":42.12,`, `"rentARoom":{"rentsReceived":947.66}`, `"repairsAndMaintenance":-1000.25`, `"financialCosts":5000,`, `"travelCosts":400.4,`, `"rentARoom":{"amountClaimed":860.88}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("JSON %s lacks %s", out, want)
		}
	}
	var back UKPropertyCumulative
	if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, b) {
		t.Errorf("round trip: %v\n%+v", err, back)
	}

	consolidated := UKPropertyCumulative{UKProperty: UKProperty{Expenses: &UKPropertyExpenses{
		ConsolidatedExpenses:                    amt("-12.5"),
		ResidentialFinancialCost:                amt("1"),
		ResidentialFinancialCostsCarriedForward: amt("2"),
		RentARoom:                               &UKPropertyRentARoomExpenses{AmountClaimed: amt("3")},
	}}}
	if errs := consolidated.Validate(2026); errs != nil {
		t.Errorf("consolidated: %v", errs)
	}
	incomeOnly := UKPropertyCumulative{UKProperty: UKProperty{Income: &UKPropertyIncome{PeriodAmount: mtdconnect.Pence(0)}}}
	if errs := incomeOnly.Validate(2025); errs != nil {
		t.Errorf("income only: %v", errs)
	}
}

func TestValidateUKPropertyRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*UKPropertyCumulative)
		year   TaxYear
		want   []*hmrc.ValidationError
	}{
		{"tax year before cumulative", nil, 2024, []*hmrc.ValidationError{{Code: CodeRuleTaxYearNotSupported, Message: "The tax year specified does not lie within the supported range"}}},
		{"tax year invalid", nil, 0, []*hmrc.ValidationError{{Code: CodeFormatTaxYear, Message: "The provided tax year is invalid"}}},
		{"income too many dp", func(b *UKPropertyCumulative) { b.UKProperty.Income.PeriodAmount = amt("1.001") }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{"/ukProperty/income/periodAmount"}}}},
		{"trailing zero dp", func(b *UKPropertyCumulative) { b.UKProperty.Income.PeriodAmount = amt("1.000") }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{"/ukProperty/income/periodAmount"}}}},
		{"negative income merged", func(b *UKPropertyCumulative) {
			b.UKProperty.Income.PeriodAmount = amt("-1")
			b.UKProperty.Income.RentARoom.RentsReceived = amt("100000000000")
			b.UKProperty.Expenses.ResidentialFinancialCost = amt("-0.01")
		}, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{
				"/ukProperty/income/periodAmount", "/ukProperty/income/rentARoom/rentsReceived", "/ukProperty/expenses/residentialFinancialCost"}}}},
		{"both ranges", func(b *UKPropertyCumulative) {
			b.UKProperty.Expenses.Other = amt("-99999999999.991")
			b.UKProperty.Expenses.RepairsAndMaintenance = amt("-100000000000")
			b.UKProperty.Expenses.RentARoom.AmountClaimed = amt("-1")
		}, 2025,
			[]*hmrc.ValidationError{
				{Code: CodeFormatValue, Message: "The value must be between -99999999999.99 and 99999999999.99", Paths: []string{"/ukProperty/expenses/repairsAndMaintenance", "/ukProperty/expenses/other"}},
				{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{"/ukProperty/expenses/rentARoom/amountClaimed"}},
			}},
		{"zero amount value", func(b *UKPropertyCumulative) { b.UKProperty.Income.TaxDeducted = &mtdconnect.Amount{} }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{"/ukProperty/income/taxDeducted"}}}},
		{"both expenses", func(b *UKPropertyCumulative) { b.UKProperty.Expenses.ConsolidatedExpenses = amt("10") }, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleBothExpenses, Message: "Both expenses and consolidatedExpenses can not be present at the same time", Paths: []string{"/ukProperty/expenses"}}}},
		{"both expenses travel only", func(b *UKPropertyCumulative) {
			b.UKProperty.Expenses = &UKPropertyExpenses{TravelCosts: amt("1"), ConsolidatedExpenses: amt("2")}
		}, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleBothExpenses, Message: "Both expenses and consolidatedExpenses can not be present at the same time", Paths: []string{"/ukProperty/expenses"}}}},
		{"completely empty", func(b *UKPropertyCumulative) { *b = UKPropertyCumulative{} }, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleIncorrectOrEmptyBody, Message: "An empty or non-matching body was submitted"}}},
		{"empty ukProperty with dates", func(b *UKPropertyCumulative) { b.UKProperty = UKProperty{} }, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleIncorrectOrEmptyBody, Message: "An empty or non-matching body was submitted", Paths: []string{"/ukProperty"}}}},
		{"empty nested objects", func(b *UKPropertyCumulative) {
			b.UKProperty.Income = &UKPropertyIncome{}
			b.UKProperty.Expenses.RentARoom = &UKPropertyRentARoomExpenses{}
		}, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleIncorrectOrEmptyBody, Message: "An empty or non-matching body was submitted", Paths: []string{"/ukProperty/income", "/ukProperty/expenses/rentARoom"}}}},
		{"empty rent a room income", func(b *UKPropertyCumulative) { b.UKProperty.Income.RentARoom = &UKPropertyRentARoom{} }, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleIncorrectOrEmptyBody, Message: "An empty or non-matching body was submitted", Paths: []string{"/ukProperty/income/rentARoom"}}}},
		{"bad from date", func(b *UKPropertyCumulative) { b.FromDate = "2025-02-30" }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatFromDate, Message: "The provided From date is invalid"}}},
		{"from date before 1900", func(b *UKPropertyCumulative) { b.FromDate = "1899-12-31" }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatFromDate, Message: "The provided From date is invalid"}}},
		{"bad to date", func(b *UKPropertyCumulative) { b.ToDate = "05/07/2025" }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatToDate, Message: "The provided To date is invalid"}}},
		{"to date after 2099", func(b *UKPropertyCumulative) { b.ToDate = "2100-01-01" }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatToDate, Message: "The provided To date is invalid"}}},
		{"to before from", func(b *UKPropertyCumulative) { b.ToDate = "2025-04-05" }, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleToDateBeforeFromDate, Message: "The To date cannot be earlier than the From date"}}},
		{"only from date", func(b *UKPropertyCumulative) { b.ToDate = "" }, 2025,
			[]*hmrc.ValidationError{{Code: CodeRuleMissingSubmission, Message: "Submission start/end date not provided"}}},
		{"only bad to date", func(b *UKPropertyCumulative) { b.FromDate, b.ToDate = "", "x" }, 2025,
			[]*hmrc.ValidationError{{Code: CodeFormatToDate, Message: "The provided To date is invalid"}, {Code: CodeRuleMissingSubmission, Message: "Submission start/end date not provided"}}},
		{"many, sorted by code", func(b *UKPropertyCumulative) {
			b.ToDate = "2025-01-01"
			b.UKProperty.Expenses.ConsolidatedExpenses = amt("0.001")
			b.UKProperty.Income.OtherIncome = amt("-5")
		}, 2025,
			[]*hmrc.ValidationError{
				{Code: CodeFormatValue, Message: "The value must be between -99999999999.99 and 99999999999.99", Paths: []string{"/ukProperty/expenses/consolidatedExpenses"}},
				{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{"/ukProperty/income/otherIncome"}},
				{Code: CodeRuleBothExpenses, Message: "Both expenses and consolidatedExpenses can not be present at the same time", Paths: []string{"/ukProperty/expenses"}},
				{Code: CodeRuleToDateBeforeFromDate, Message: "The To date cannot be earlier than the From date"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := validBody()
			if tt.mutate != nil {
				tt.mutate(&b)
			}
			got := b.Validate(tt.year)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate =\n %+v\nwant\n %+v", got, tt.want)
			}
			if _, err := b.MarshalBody(tt.year); err == nil {
				t.Error("MarshalBody accepted an invalid body")
			} else {
				var ve *hmrc.ValidationError
				if !errors.As(err, &ve) || ve.Code != tt.want[0].Code {
					t.Errorf("MarshalBody error %v", err)
				}
			}
		})
	}
}

func TestValidateUnmarshalledJSON(t *testing.T) {
	raw := `{"fromDate":"2025-04-06","toDate":"2025-07-05","ukProperty":{"income":{"periodAmount":1000,"taxDeducted":12.345},"expenses":{"consolidatedExpenses":-5.5,"residentialFinancialCost":0.10}}}`
	var b UKPropertyCumulative
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatal(err)
	}
	got := b.Validate(2025)
	want := []*hmrc.ValidationError{{Code: CodeFormatValue, Message: "The value must be between 0 and 99999999999.99", Paths: []string{"/ukProperty/income/taxDeducted"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	if err := json.Unmarshal([]byte(`{"ukProperty":{"income":{"periodAmount":"10"}}}`), &b); err == nil {
		t.Error("string amount accepted")
	}
}

// FuzzValidateUKProperty: never panics, and a body that validates
// re-marshals to JSON that unmarshals and validates again, unchanged.
func FuzzValidateUKProperty(f *testing.F) {
	seed, _ := json.Marshal(validBody())
	f.Add(seed, 2025)
	f.Add([]byte(`{"ukProperty":{"expenses":{"consolidatedExpenses":-1e2,"rentARoom":{"amountClaimed":0}}}}`), 2026)
	f.Add([]byte(`{"ukProperty":{"income":{"periodAmount":0e99999999}}}`), 2025)
	f.Add([]byte(`{"fromDate":"2025-04-06","ukProperty":{}}`), 2024)
	f.Add([]byte(`{}`), 2025)
	f.Add([]byte(`{"ukProperty":{"income":{"periodAmount":99999999999.99,"rentARoom":{}}}}`), 2030)
	f.Fuzz(func(t *testing.T, data []byte, year int) {
		var b UKPropertyCumulative
		if err := json.Unmarshal(data, &b); err != nil {
			return
		}
		errs := b.Validate(TaxYear(year))
		for _, e := range errs {
			if e.Code == "" || e.Message == "" {
				t.Fatalf("incomplete error %+v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		out, err := b.MarshalBody(TaxYear(year))
		if err != nil {
			t.Fatalf("valid body does not marshal: %v", err)
		}
		var again UKPropertyCumulative
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("re-marshalled JSON %s does not unmarshal: %v", out, err)
		}
		if errs := again.Validate(TaxYear(year)); errs != nil {
			t.Fatalf("re-marshalled JSON %s fails: %v", out, errs)
		}
		if !reflect.DeepEqual(again, b) {
			t.Fatalf("round trip changed the body:\n%+v\n%+v", b, again)
		}
	})
}
