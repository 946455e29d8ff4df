package hmrcsim

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The simulator's own Income Tax calculation for a landlord whose only income
// is one UK property business, so that the demo's estimates and final
// calculations are plausible. It is not HMRC's calculation and leaves out
// most of the tax code; docs/TAX-CALCULATION.md says what it covers, what it
// simplifies and which rates it uses. HMRC's own calculation is the one that
// counts.

// pence is an amount of money in pence; pounds is a whole-pound amount, as
// HMRC's calculation rounds incomes, allowances and bands to whole pounds.
type pence int64

type pounds int64

func (p pounds) pence() pence { return pence(p) * 100 }

// wholePounds drops the pence of a non-negative amount (HMRC rounds income
// down, in the taxpayer's favour).
func (p pence) wholePounds() pounds { return pounds(p / 100) }

// number writes p as a JSON number with two decimals, e.g. 1234.50.
func (p pence) number() json.Number {
	sign, v := "", int64(p)
	if v < 0 {
		sign, v = "-", -v
	}
	return json.Number(fmt.Sprintf("%s%d.%02d", sign, v/100, v%100))
}

// text writes p for people: £1,234.50, -£514.00.
func (p pence) text() string {
	n := p.number().String()
	sign := ""
	if n[0] == '-' {
		sign, n = "-", n[1:]
	}
	whole, frac, _ := strings.Cut(n, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return sign + "£" + whole + "." + frac
}

// taxRates are one tax year's Income Tax figures for England and Northern
// Ireland (Wales has had the same rates since 2019). Scotland's rates differ
// and are not modelled.
type taxRates struct {
	personalAllowance pounds
	// taperThreshold is the adjusted net income above which the personal
	// allowance is withdrawn, £1 for every £2.
	taperThreshold pounds
	// basicBand is the taxable income charged at the basic rate; income
	// above it is charged at the higher rate up to additionalThreshold,
	// and at the additional rate above that.
	basicBand, additionalThreshold        pounds
	basicRate, higherRate, additionalRate int64 // percent
	// financeCostRate is the rate of the tax reduction for residential
	// finance costs (ITTOIA 2005 s272A): the basic rate.
	financeCostRate int64
	// propertyAllowance is the property income allowance (ITTOIA 2005
	// s783A); rentARoomLimit the rent-a-room limit, halved when the
	// income is shared with someone else (ITTOIA 2005 s789).
	propertyAllowance, rentARoomLimit pounds
}

// englandRates2025 are the rates of 2025-26, unchanged in 2026-27: the
// allowance and the bands are frozen, and the separate property income rates
// announced in the 2025 Budget start only in 2027-28.
var englandRates2025 = taxRates{
	personalAllowance: 12_570, taperThreshold: 100_000,
	basicBand: 37_700, additionalThreshold: 125_140,
	basicRate: 20, higherRate: 40, additionalRate: 45,
	financeCostRate:   20,
	propertyAllowance: 1_000, rentARoomLimit: 7_500,
}

// taxYearRates holds the years the simulator can calculate, by start year.
var taxYearRates = map[int]taxRates{
	2025: englandRates2025,
	2026: englandRates2025,
}

// propertyYear is what the calculation reads for one UK property business
// and tax year: the cumulative summary's year-to-date figures and the annual
// submission's allowances and adjustments, in pence.
type propertyYear struct {
	// Income: periodAmount, premiumsOfLeaseGrant, reversePremiums,
	// otherIncome and rentARoom.rentsReceived of the cumulative summary.
	Rents, LeasePremiums, ReversePremiums, OtherIncome pence
	RentARoomRents                                     pence
	// Expenses are consolidatedExpenses or the sum of the itemised ones,
	// residential finance costs apart; either may be negative.
	Expenses pence
	// RentARoomClaimed is expenses.rentARoom.amountClaimed: the rent-a-room
	// relief claimed; RentARoomJointlyLet halves its limit.
	RentARoomClaimed    pence
	RentARoomJointlyLet bool
	// ResidentialFinanceCosts and the unrelieved ones brought forward
	// (residentialFinancialCostsCarriedForward) are relieved as a tax
	// reduction, never deducted from the profit.
	ResidentialFinanceCosts, FinanceCostsBroughtForward pence
	TaxDeducted                                         pence
	// Annual submission: every capital allowance (annual investment,
	// business premises renovation, other, replacement of domestic items,
	// zero-emission cars, structures and buildings), the property income
	// allowance, and the additions to profit.
	CapitalAllowances       pence
	PropertyIncomeAllowance pence
	BalancingCharges        pence // balancingCharge + businessPremisesRenovationAllowanceBalancingCharges
	PrivateUse              pence
}

// propertyProfit is the business's profit or loss for the year.
type propertyProfit struct {
	Income   pence // every receipt, rent-a-room rents included
	Expenses pence // expenses and the rent-a-room relief
	// NetProfit is Income - Expenses, negative for a loss.
	NetProfit pence
	// Additions are balancing charges and private use; Deductions are the
	// capital allowances and the property income allowance given.
	Additions, Deductions pence
	// Adjusted is NetProfit + Additions - Deductions, negative for a loss.
	Adjusted                        pence
	RentARoomRelief, AllowanceGiven pence
	Taxable, Loss                   pounds
}

// taxBand is the income charged at one rate.
type taxBand struct {
	Name   string // HMRC's band name: basic-rate, higher-rate, additional-rate
	Rate   int64  // percent
	Limit  pounds // the top of the band in taxable income; 0 for the additional rate
	Income pounds
	Tax    pence
}

// financeCostRelief is the basic-rate tax reduction for residential finance
// costs: the rate times the lowest of the costs (with those brought forward),
// the property profits, and the adjusted total income above the personal
// allowance; never more than the tax charged. What the first two limits leave
// unrelieved is carried forward.
type financeCostRelief struct {
	Claimed        pence // the costs of the year and those brought forward
	Allowable      pence // Claimed, limited to the property profits
	IncomeLimit    pence // adjusted total income above the personal allowance
	Relievable     pence // Allowable, limited to IncomeLimit
	Relief         pence // Rate % of Relievable, at most the tax charged
	CarriedForward pence // Claimed - Relievable
}

// taxComputation is the whole calculation.
type taxComputation struct {
	Profit propertyProfit
	// TotalIncome is the taxable property profit: the only income, so also
	// the adjusted net income and the adjusted total income.
	TotalIncome pounds
	// PersonalAllowance is the full allowance; AllowanceGiven what the
	// taper leaves of it.
	PersonalAllowance, AllowanceGiven pounds
	TaxableIncome                     pounds
	Bands                             []taxBand
	IncomeTaxCharged                  pence
	FinanceCosts                      financeCostRelief
	FinanceCostRate                   int64
	// IncomeTaxDue is the tax after the finance cost reduction; TaxDeducted
	// the tax already deducted from the rents; BalanceDue their
	// difference, negative for a repayment. No National Insurance: Class 4
	// is charged on trading profits only, never on property income.
	IncomeTaxDue, TaxDeducted, BalanceDue pence
}

// computeTax calculates the Income Tax of a landlord whose only income is the
// UK property business in. See docs/TAX-CALCULATION.md.
func computeTax(r taxRates, in propertyYear) taxComputation {
	c := taxComputation{Profit: propertyProfitOf(r, in), PersonalAllowance: r.personalAllowance, FinanceCostRate: r.financeCostRate}
	c.TotalIncome = c.Profit.Taxable

	// Personal allowance, withdrawn by £1 for every £2 of income over the
	// threshold (the half pound of an odd excess is not withdrawn).
	c.AllowanceGiven = r.personalAllowance
	if c.TotalIncome > r.taperThreshold {
		c.AllowanceGiven = max(0, r.personalAllowance-(c.TotalIncome-r.taperThreshold)/2)
	}
	c.TaxableIncome = max(0, c.TotalIncome-c.AllowanceGiven)

	bands := []taxBand{
		{Name: "basic-rate", Rate: r.basicRate, Limit: r.basicBand, Income: min(c.TaxableIncome, r.basicBand)},
		{Name: "higher-rate", Rate: r.higherRate, Limit: r.additionalThreshold,
			Income: min(max(c.TaxableIncome-r.basicBand, 0), r.additionalThreshold-r.basicBand)},
		{Name: "additional-rate", Rate: r.additionalRate, Income: max(c.TaxableIncome-r.additionalThreshold, 0)},
	}
	for _, b := range bands {
		if b.Income == 0 {
			continue
		}
		b.Tax = pence(int64(b.Income) * b.Rate) // pounds × percent = pence, exactly
		c.Bands = append(c.Bands, b)
		c.IncomeTaxCharged += b.Tax
	}

	f := &c.FinanceCosts
	f.Claimed = in.ResidentialFinanceCosts + in.FinanceCostsBroughtForward
	f.Allowable = min(f.Claimed, c.Profit.Taxable.pence())
	f.IncomeLimit = c.TaxableIncome.pence()
	f.Relievable = min(f.Allowable, f.IncomeLimit)
	f.Relief = min(f.Relievable*pence(r.financeCostRate)/100, c.IncomeTaxCharged)
	f.CarriedForward = f.Claimed - f.Relievable

	c.IncomeTaxDue = c.IncomeTaxCharged - f.Relief
	c.TaxDeducted = in.TaxDeducted
	c.BalanceDue = c.IncomeTaxDue - c.TaxDeducted
	return c
}

// propertyProfitOf works out the business's profit: receipts less expenses,
// the rent-a-room relief and the allowances, plus balancing charges and
// private use.
func propertyProfitOf(r taxRates, in propertyYear) propertyProfit {
	var p propertyProfit
	receipts := in.Rents + in.LeasePremiums + in.ReversePremiums + in.OtherIncome
	p.Income = receipts + in.RentARoomRents

	// Rent-a-room relief: what was claimed, up to the limit and the rents.
	limit := r.rentARoomLimit.pence()
	if in.RentARoomJointlyLet {
		limit /= 2
	}
	p.RentARoomRelief = max(0, min(in.RentARoomClaimed, limit, in.RentARoomRents))
	p.Expenses = in.Expenses + p.RentARoomRelief
	p.NetProfit = p.Income - p.Expenses

	// The property income allowance cannot make a loss: at most the
	// receipts it is set against (rent-a-room rents have their own relief).
	p.AllowanceGiven = max(0, min(in.PropertyIncomeAllowance, r.propertyAllowance.pence(), receipts))
	p.Additions = in.BalancingCharges + in.PrivateUse
	p.Deductions = in.CapitalAllowances + p.AllowanceGiven
	p.Adjusted = p.NetProfit + p.Additions - p.Deductions
	if p.Adjusted > 0 {
		p.Taxable = p.Adjusted.wholePounds()
	} else {
		p.Loss = (-p.Adjusted).wholePounds()
	}
	return p
}
