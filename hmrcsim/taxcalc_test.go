package hmrcsim

import (
	"slices"
	"testing"
)

// gbp writes pounds and pence as pence, so the cases read like the working.
func gbp(pounds, pennies int64) pence { return pence(pounds*100 + pennies) }

// TestComputeTax checks the calculation against examples worked by hand.
// Every case shows its working; the rates are 2025-26's and 2026-27's for
// England and Northern Ireland: personal allowance £12,570 (withdrawn £1 for
// every £2 over £100,000), basic rate 20% on the first £37,700 of taxable
// income, higher rate 40% up to £125,140, additional rate 45% above, finance
// cost relief at 20%.
func TestComputeTax(t *testing.T) {
	type want struct {
		taxable       pounds // taxable property profit
		loss          pounds
		allowance     pounds // personal allowance given
		taxableIncome pounds
		bands         []pence // tax in each band used, basic first
		charged       pence
		relief        pence // finance cost tax reduction
		carried       pence // finance costs carried forward
		due           pence // income tax due
		balance       pence // after tax deducted at source
	}
	cases := []struct {
		name string
		year int
		in   propertyYear
		want want
	}{
		{
			// Profit 20,000 - 4,000 = 16,000; taxable 16,000 - 12,570 = 3,430;
			// tax 3,430 × 20% = 686.00. Finance costs: lowest of 3,000, the
			// profit 16,000 and the income over the allowance 3,430 is
			// 3,000; relief 3,000 × 20% = 600.00; due 686 - 600 = 86.00.
			name: "basic-rate landlord with a mortgage", year: 2026,
			in: propertyYear{Rents: gbp(20000, 0), Expenses: gbp(4000, 0), ResidentialFinanceCosts: gbp(3000, 0)},
			want: want{taxable: 16000, allowance: 12570, taxableIncome: 3430, bands: []pence{gbp(686, 0)},
				charged: gbp(686, 0), relief: gbp(600, 0), due: gbp(86, 0), balance: gbp(86, 0)},
		},
		{
			// Profit 60,000 - 5,000 = 55,000; taxable 55,000 - 12,570 = 42,430:
			// 37,700 × 20% = 7,540.00 and 4,730 × 40% = 1,892.00, charged
			// 9,432.00. Finance costs 10,000 (below the profit and the
			// income over the allowance): relief only at 20%, 2,000.00; due
			// 7,432.00.
			name: "higher-rate landlord gets finance costs at 20% only", year: 2026,
			in: propertyYear{Rents: gbp(60000, 0), Expenses: gbp(5000, 0), ResidentialFinanceCosts: gbp(10000, 0)},
			want: want{taxable: 55000, allowance: 12570, taxableIncome: 42430, bands: []pence{gbp(7540, 0), gbp(1892, 0)},
				charged: gbp(9432, 0), relief: gbp(2000, 0), due: gbp(7432, 0), balance: gbp(7432, 0)},
		},
		{
			// Profit 110,000: 10,000 over 100,000 withdraws 5,000 of the
			// allowance, leaving 7,570; taxable 102,430: 37,700 × 20% =
			// 7,540.00, 64,730 × 40% = 25,892.00; charged 33,432.00.
			name: "personal allowance tapered", year: 2026,
			in: propertyYear{Rents: gbp(120000, 0), Expenses: gbp(10000, 0)},
			want: want{taxable: 110000, allowance: 7570, taxableIncome: 102430, bands: []pence{gbp(7540, 0), gbp(25892, 0)},
				charged: gbp(33432, 0), due: gbp(33432, 0), balance: gbp(33432, 0)},
		},
		{
			// Profit 125,140: 25,140 over 100,000 withdraws 12,570, all of
			// it; taxable 125,140: 7,540.00 + 87,440 × 40% = 34,976.00;
			// charged 42,516.00, nothing yet at 45%.
			name: "allowance fully withdrawn at 125,140", year: 2026,
			in: propertyYear{Rents: gbp(125140, 0)},
			want: want{taxable: 125140, allowance: 0, taxableIncome: 125140, bands: []pence{gbp(7540, 0), gbp(34976, 0)},
				charged: gbp(42516, 0), due: gbp(42516, 0), balance: gbp(42516, 0)},
		},
		{
			// Profit 200,000, no allowance: 7,540.00 + 34,976.00 + (200,000 -
			// 125,140) 74,860 × 45% = 33,687.00; charged 76,203.00.
			name: "additional rate", year: 2025,
			in: propertyYear{Rents: gbp(200000, 0)},
			want: want{taxable: 200000, allowance: 0, taxableIncome: 200000,
				bands:   []pence{gbp(7540, 0), gbp(34976, 0), gbp(33687, 0)},
				charged: gbp(76203, 0), due: gbp(76203, 0), balance: gbp(76203, 0)},
		},
		{
			// Profit 100,003: 3 over the threshold withdraws 1 (half of
			// 3, rounded down), allowance 12,569; taxable 87,434: 7,540.00 +
			// 49,734 × 40% = 19,893.60; charged 27,433.60.
			name: "odd excess over the taper threshold", year: 2025,
			in: propertyYear{Rents: gbp(100003, 0)},
			want: want{taxable: 100003, allowance: 12569, taxableIncome: 87434, bands: []pence{gbp(7540, 0), gbp(19893, 60)},
				charged: gbp(27433, 60), due: gbp(27433, 60), balance: gbp(27433, 60)},
		},
		{
			// Profit 14,000; taxable 1,430; tax 286.00. Finance costs 6,000
			// are limited to the income over the allowance, 1,430: relief
			// 286.00, which clears the tax; 6,000 - 1,430 = 4,570.00 is
			// carried forward.
			name: "finance costs limited by income over the allowance", year: 2026,
			in: propertyYear{Rents: gbp(14000, 0), ResidentialFinanceCosts: gbp(6000, 0)},
			want: want{taxable: 14000, allowance: 12570, taxableIncome: 1430, bands: []pence{gbp(286, 0)},
				charged: gbp(286, 0), relief: gbp(286, 0), carried: gbp(4570, 0), due: 0, balance: 0},
		},
		{
			// Finance costs of the year 2,000 and 1,500 brought forward make
			// 3,500, below the profit 30,000 and the income over the
			// allowance 17,430: relief 700.00. Tax 17,430 × 20% = 3,486.00,
			// due 2,786.00.
			name: "finance costs brought forward", year: 2026,
			in: propertyYear{Rents: gbp(30000, 0), ResidentialFinanceCosts: gbp(2000, 0), FinanceCostsBroughtForward: gbp(1500, 0)},
			want: want{taxable: 30000, allowance: 12570, taxableIncome: 17430, bands: []pence{gbp(3486, 0)},
				charged: gbp(3486, 0), relief: gbp(700, 0), due: gbp(2786, 0), balance: gbp(2786, 0)},
		},
		{
			// Rents 14,000 less the property income allowance 1,000 instead
			// of expenses: profit 13,000; taxable 430; tax 86.00.
			name: "property income allowance", year: 2026,
			in: propertyYear{Rents: gbp(14000, 0), PropertyIncomeAllowance: gbp(1000, 0)},
			want: want{taxable: 13000, allowance: 12570, taxableIncome: 430, bands: []pence{gbp(86, 0)},
				charged: gbp(86, 0), due: gbp(86, 0), balance: gbp(86, 0)},
		},
		{
			// Rents 800: the 1,000 allowance is limited to the 800 of
			// receipts, so no loss: profit 0.
			name: "property income allowance cannot make a loss", year: 2026,
			in:   propertyYear{Rents: gbp(800, 0), PropertyIncomeAllowance: gbp(1000, 0)},
			want: want{allowance: 12570},
		},
		{
			// Rents 20,000 + rent-a-room rents 9,000 = 29,000; expenses 2,000
			// + rent-a-room relief 7,500 = 9,500; profit 19,500; taxable
			// 6,930; tax 1,386.00.
			name: "rent-a-room relief", year: 2026,
			in: propertyYear{Rents: gbp(20000, 0), Expenses: gbp(2000, 0), RentARoomRents: gbp(9000, 0), RentARoomClaimed: gbp(7500, 0)},
			want: want{taxable: 19500, allowance: 12570, taxableIncome: 6930, bands: []pence{gbp(1386, 0)},
				charged: gbp(1386, 0), due: gbp(1386, 0), balance: gbp(1386, 0)},
		},
		{
			// The same, but the room is let jointly: the relief is limited
			// to 7,500 / 2 = 3,750; expenses 5,750; profit 23,250; taxable
			// 10,680; tax 2,136.00.
			name: "rent-a-room relief halved when let jointly", year: 2026,
			in: propertyYear{Rents: gbp(20000, 0), Expenses: gbp(2000, 0), RentARoomRents: gbp(9000, 0), RentARoomClaimed: gbp(7500, 0),
				RentARoomJointlyLet: true},
			want: want{taxable: 23250, allowance: 12570, taxableIncome: 10680, bands: []pence{gbp(2136, 0)},
				charged: gbp(2136, 0), due: gbp(2136, 0), balance: gbp(2136, 0)},
		},
		{
			// Rents 30,000 - expenses 5,000 = 25,000; + balancing charge
			// 1,000 + private use 500; - capital allowances 2,300: 24,200;
			// taxable 11,630; tax 2,326.00.
			name: "balancing charges, private use and capital allowances", year: 2026,
			in: propertyYear{Rents: gbp(30000, 0), Expenses: gbp(5000, 0), BalancingCharges: gbp(1000, 0), PrivateUse: gbp(500, 0),
				CapitalAllowances: gbp(2300, 0)},
			want: want{taxable: 24200, allowance: 12570, taxableIncome: 11630, bands: []pence{gbp(2326, 0)},
				charged: gbp(2326, 0), due: gbp(2326, 0), balance: gbp(2326, 0)},
		},
		{
			// Rents 10,000 - expenses 12,000 = a loss of 2,000; no tax; the
			// finance costs 1,000 find no profit and are carried forward.
			name: "loss", year: 2026,
			in:   propertyYear{Rents: gbp(10000, 0), Expenses: gbp(12000, 0), ResidentialFinanceCosts: gbp(1000, 0)},
			want: want{loss: 2000, allowance: 12570, carried: gbp(1000, 0)},
		},
		{
			// Rents 20,000.99 - expenses 3,000.50 = 17,000.49, taxed as
			// 17,000; taxable 4,430; tax 886.00. Finance costs 1,234.56 ×
			// 20% = 246.912, relief 246.91; due 639.09.
			name: "pence: profit rounded down, relief to the penny", year: 2026,
			in: propertyYear{Rents: gbp(20000, 99), Expenses: gbp(3000, 50), ResidentialFinanceCosts: gbp(1234, 56)},
			want: want{taxable: 17000, allowance: 12570, taxableIncome: 4430, bands: []pence{gbp(886, 0)},
				charged: gbp(886, 0), relief: gbp(246, 91), due: gbp(639, 9), balance: gbp(639, 9)},
		},
		{
			// Profit 20,000; taxable 7,430; tax 1,486.00; 2,000.00 already
			// deducted from the rents: 514.00 to be repaid.
			name: "tax deducted at source exceeds the tax", year: 2026,
			in: propertyYear{Rents: gbp(20000, 0), TaxDeducted: gbp(2000, 0)},
			want: want{taxable: 20000, allowance: 12570, taxableIncome: 7430, bands: []pence{gbp(1486, 0)},
				charged: gbp(1486, 0), due: gbp(1486, 0), balance: -gbp(514, 0)},
		},
		{
			// Negative expenses (a correction) add to the profit: 12,000 -
			// (-1,000) = 13,000 plus lease premiums 500, reverse premiums 250
			// and other income 250 = 14,000; taxable 1,430; tax 286.00.
			name: "every kind of receipt, negative expenses", year: 2025,
			in: propertyYear{Rents: gbp(12000, 0), LeasePremiums: gbp(500, 0), ReversePremiums: gbp(250, 0), OtherIncome: gbp(250, 0),
				Expenses: -gbp(1000, 0)},
			want: want{taxable: 14000, allowance: 12570, taxableIncome: 1430, bands: []pence{gbp(286, 0)},
				charged: gbp(286, 0), due: gbp(286, 0), balance: gbp(286, 0)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := taxYearRates[tc.year]
			if !ok {
				t.Fatalf("no rates for %d", tc.year)
			}
			c := computeTax(r, tc.in)
			var bands []pence
			for _, b := range c.Bands {
				bands = append(bands, b.Tax)
			}
			got := want{
				taxable: c.Profit.Taxable, loss: c.Profit.Loss, allowance: c.AllowanceGiven, taxableIncome: c.TaxableIncome,
				bands: bands, charged: c.IncomeTaxCharged, relief: c.FinanceCosts.Relief, carried: c.FinanceCosts.CarriedForward,
				due: c.IncomeTaxDue, balance: c.BalanceDue,
			}
			if got.taxable != tc.want.taxable || got.loss != tc.want.loss || got.allowance != tc.want.allowance ||
				got.taxableIncome != tc.want.taxableIncome || !slices.Equal(got.bands, tc.want.bands) ||
				got.charged != tc.want.charged || got.relief != tc.want.relief || got.carried != tc.want.carried ||
				got.due != tc.want.due || got.balance != tc.want.balance {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if c.TotalIncome != c.Profit.Taxable {
				t.Errorf("total income %d, taxable profit %d", c.TotalIncome, c.Profit.Taxable)
			}
		})
	}
}

func TestTaxYearsCovered(t *testing.T) {
	for _, y := range []int{2025, 2026} {
		if _, ok := taxYearRates[y]; !ok {
			t.Errorf("no rates for %d-%02d", y, (y+1)%100)
		}
	}
	if _, ok := taxYearRates[2027]; ok {
		t.Error("2027-28 has rates: its property income rates (22/42/47%) need their own band logic and docs first")
	}
}

func TestPenceText(t *testing.T) {
	for p, want := range map[pence]string{0: "£0.00", 99: "£0.99", 100000: "£1,000.00", 12345678: "£123,456.78", 123456789012: "£1,234,567,890.12", -51400: "-£514.00"} {
		if got := p.text(); got != want {
			t.Errorf("%d: %s, want %s", p, got, want)
		}
	}
}

func TestPenceNumber(t *testing.T) {
	for p, want := range map[pence]string{0: "0.00", 5: "0.05", 123456: "1234.56", -51400: "-514.00", -7: "-0.07"} {
		if got := p.number().String(); got != want {
			t.Errorf("%d: %s, want %s", p, got, want)
		}
	}
}
