package web

// HMRC's tax calculation as a landlord reads it: a summary in the order of
// HMRC's SA302 tax calculation (income, allowances, taxable income, the tax
// in its bands, reliefs, National Insurance, what was deducted, what is
// due), and an in-year estimate's forecast of the whole year. The pages
// and the JSON API both use it; neither works out any figure itself.

import (
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
)

// estimateDisclaimer is HMRC's disclaimer for an in-year or final
// calculation (end-to-end service guide, "Tax calculations"), with the date
// of the last figures HMRC used.
func estimateDisclaimer(periodTo string) string {
	return "This calculation is only based on information HMRC have received about your income and expenses to " +
		formatISODate(periodTo) + ". This may change as we receive further information about you during the tax year."
}

// calcLine is one line of a calculation summary.
type calcLine struct {
	Label  string
	Amount string // as shown, e.g. £1,250.00; "" for a heading
	Total  bool   // a total line, shown bold
	Note   string // a short explanation under the label
	Key    string // the line's key in the JSON API
	value  *mtdconnect.Amount
}

// calcSummary is a calculation in a landlord's words.
type calcSummary struct {
	Income   []calcLine // the property business's figures
	Tax      []calcLine // from total income to what is due
	Estimate []calcLine // an in-year calculation's forecast of the whole year
	// Due is the total Income Tax and National Insurance due, as shown; a
	// negative amount is a repayment (Repayment set).
	Due       string
	Repayment bool
	Loss      bool // the property business made a loss (see the Individual Losses signpost)
}

func money(m *calc.Money) *mtdconnect.Amount {
	if m == nil {
		return nil
	}
	return &m.Amount
}

func line(label string, m *calc.Money, key string) calcLine {
	l := calcLine{Label: label, Key: key, value: money(m)}
	if l.value != nil {
		l.Amount = formatAmount(l.value)
	}
	return l
}

// bandLabel words one of HMRC's tax bands.
func bandLabel(name string) string {
	switch name {
	case "basic-rate":
		return "Basic rate"
	case "higher-rate":
		return "Higher rate"
	case "additional-rate":
		return "Additional rate"
	case "starter-rate":
		return "Starter rate"
	case "intermediate-rate":
		return "Intermediate rate"
	case "advanced-rate":
		return "Advanced rate"
	case "top-rate":
		return "Top rate"
	}
	s := strings.ReplaceAll(name, "-", " ")
	if s == "" {
		return "Tax band"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// summarise words HMRC's calculation; nil when HMRC gave no result (it
// found errors).
func summarise(c *calc.Calculation) *calcSummary {
	d := c.Detail
	if d == nil || d.TaxCalculation == nil {
		return nil
	}
	s := &calcSummary{}
	for _, b := range d.BusinessProfitAndLoss {
		name := "Your property business"
		switch b.IncomeSourceType {
		case "uk-property":
			name = "UK property"
		case "foreign-property":
			name = "Foreign property"
		case "self-employment":
			name = "Self-employment"
		}
		s.Income = append(s.Income,
			calcLine{Label: name},
			line("Income", b.TotalIncome, "total_income"),
			line("Expenses", b.TotalExpenses, "total_expenses"),
			line("Adjustments added (balancing charges, private use)", b.TotalAdditions, "total_additions"),
			line("Allowances deducted (capital allowances, property income allowance)", b.TotalDeductions, "total_deductions"),
		)
		if b.NetLoss != nil || b.AdjustedIncomeTaxLoss != nil {
			s.Loss = true
			loss := b.AdjustedIncomeTaxLoss
			if loss == nil {
				loss = b.NetLoss
			}
			s.Income = append(s.Income, line("Loss", loss, "loss"))
		}
		tp := line("Taxable profit", b.TaxableProfit, "taxable_profit")
		tp.Total = true
		s.Income = append(s.Income, tp)
	}
	for i := range s.Income {
		if s.Income[i].Label != "" && s.Income[i].Amount == "" && s.Income[i].Key != "" {
			s.Income[i].Amount = "£0.00"
		}
	}

	tc := d.TaxCalculation
	it := tc.IncomeTax
	if it == nil {
		it = &calc.IncomeTax{}
	}
	add := func(l calcLine) {
		if l.value != nil {
			s.Tax = append(s.Tax, l)
		}
	}
	add(line("Total income received", it.TotalIncomeReceivedFromAllSources, "total_income_received"))
	allowance := line("minus Personal Allowance", it.TotalAllowancesAndDeductions, "personal_allowance")
	if aa := d.AllowancesAndDeductions; aa != nil && aa.ReducedPersonalAllowance != nil {
		allowance.Note = "Reduced from " + formatAmount(money(aa.PersonalAllowance)) + " because your income is over £100,000."
	}
	add(allowance)
	taxable := line("Total income on which tax has been charged", it.TotalTaxableIncome, "taxable_income")
	taxable.Total = true
	add(taxable)
	if pp := it.PayPensionsProfit; pp != nil {
		for _, b := range pp.TaxBands {
			if b.Income == nil || b.Income.String() == "0" {
				continue
			}
			label := bandLabel(b.Name) + ": " + formatAmount(money(b.Income))
			if b.Rate != nil {
				label += " at " + b.Rate.String() + "%"
			}
			add(line(label, b.TaxAmount, ""))
		}
	}
	charged := line("Income Tax charged", it.IncomeTaxCharged, "income_tax_charged")
	charged.Total = true
	add(charged)
	relief := line("minus Tax reductions (residential finance costs relief at the basic rate)", it.TotalReliefs, "reliefs")
	if relief.value == nil && d.Reliefs != nil && d.Reliefs.ResidentialFinanceCosts != nil {
		relief = line(relief.Label, d.Reliefs.ResidentialFinanceCosts.TotalResidentialFinanceCostsRelief, "reliefs")
	}
	add(relief)
	add(line("Income Tax due", it.TotalIncomeTaxDue, "income_tax_due"))
	nic := calcLine{Label: "National Insurance", Key: "national_insurance", Amount: "£0.00", value: mtdconnect.Pence(0),
		Note: "Class 4 National Insurance is charged on trading profits only, and property income pays no Class 2: none is due on property income."}
	if n := tc.Nics; n != nil && n.TotalNic != nil {
		nic = line("National Insurance (Class 2 and Class 4)", n.TotalNic, "national_insurance")
	}
	s.Tax = append(s.Tax, nic)
	add(line("minus Tax already deducted (for example under the Non-Resident Landlord Scheme)", tc.TotalTaxDeducted, "tax_deducted"))
	due := line("Total Income Tax and National Insurance due", tc.TotalIncomeTaxAndNicsDue, "total_due")
	due.Total = true
	if due.value != nil {
		if p, ok := due.value.Pence(); ok && p < 0 {
			s.Repayment = true
			due.Label = "HMRC owes you"
			due.Amount = formatAmount(mtdconnect.Pence(-p))
		}
		s.Due = due.Amount
		s.Tax = append(s.Tax, due)
	}

	if e := d.EndOfYearEstimate; e != nil {
		el := func(l calcLine) {
			if l.value != nil {
				s.Estimate = append(s.Estimate, l)
			}
		}
		el(line("Estimated income for the year", e.TotalEstimatedIncome, "total_estimated_income"))
		el(line("minus Allowances", e.TotalAllowancesAndDeductions, "allowances"))
		el(line("Estimated taxable income", e.TotalTaxableIncome, "taxable_income"))
		el(line("Estimated Income Tax", e.IncomeTaxAmount, "income_tax"))
		ni := line("Estimated National Insurance", e.TotalNicAmount, "national_insurance")
		if ni.value == nil {
			ni = calcLine{Label: ni.Label, Key: ni.Key, Amount: "£0.00", value: mtdconnect.Pence(0)}
		}
		el(ni)
		el(line("minus Tax already deducted", e.TotalTaxDeducted, "tax_deducted"))
		total := line("Estimated Income Tax and National Insurance for the year", e.IncomeTaxNicAmount, "total_due")
		total.Total = true
		el(total)
	}
	return s
}

// calculationKind words what a calculation is for.
func calculationKind(c *calc.Calculation) (title, lead string) {
	switch {
	case c.Declared():
		return "Your final calculation, declared", "You made your final declaration with this calculation."
	case c.Confirmed():
		return "Your amended calculation, confirmed", "You confirmed your amendment with this calculation."
	}
	switch c.Type() {
	case calc.InYear:
		return "Your tax estimate", "HMRC's estimate of your Income Tax, from the figures it has so far."
	case calc.IntentToFinalise:
		return "Your final calculation", "HMRC's calculation of your Income Tax for the whole year. Check it before you make your final declaration."
	case calc.IntentToAmend:
		return "Your amended calculation", "HMRC's calculation of your Income Tax with your amendments. Check it before you confirm the amendment."
	}
	return "Your tax calculation", "HMRC's calculation of your Income Tax."
}

// hmrcTime shows one of HMRC's timestamps (2027-04-10T09:00:00.000Z) as a
// UK time, or as it came if it is not one.
func (s *Server) hmrcTime(ts string) string {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return ts
	}
	return s.formatTime(t)
}
