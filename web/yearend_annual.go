package web

// The year-end adjustments form: the UK property annual submission
// (Property Business v6.0) as a landlord fills it in. Field names are
// HMRC's JSON paths below /ukProperty/, dotted, so HMRC's (and the local
// checks') errors land next to their fields, as on the quarterly form.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// annualAmount is one amount of the annual submission as the form asks
// for it. Labels follow HMRC's descriptions of the fields.
type annualAmount struct {
	name, group, label, hint string
}

var annualAmounts = []annualAmount{
	{"adjustments.balancingCharge", "adjustments", "Balancing charges",
		"If you sold, gave away or stopped using something you claimed a capital allowance for."},
	{"adjustments.privateUseAdjustment", "adjustments", "Private use adjustment",
		"Expenses you included that were not wholly for your property business."},
	{"adjustments.businessPremisesRenovationAllowanceBalancingCharges", "adjustments", "Business Premises Renovation Allowance balancing charges",
		"Income from selling renovated business premises, or from a premium for a long lease of them, within 7 years of first use."},
	{"allowances.annualInvestmentAllowance", "capital", "Annual Investment Allowance",
		"Equipment (not cars) bought for the business, up to the annual limit."},
	{"allowances.businessPremisesRenovationAllowance", "capital", "Business Premises Renovation Allowance",
		"Renovating or converting derelict business premises."},
	{"allowances.otherCapitalAllowance", "capital", "Other capital allowances",
		"All other capital allowances, including the Electric Charge Point Allowance."},
	{"allowances.costOfReplacingDomesticItems", "capital", "Replacing domestic items",
		"Replacing furniture, furnishings, appliances and kitchenware in a residential let."},
	{"allowances.zeroEmissionsCarAllowance", "capital", "Zero-emission car allowance",
		"New zero-emission cars bought for the business."},
	{"allowances.propertyIncomeAllowance", "pia", "Property income allowance",
		"Up to £1,000, instead of your expenses and every other allowance."},
}

// buildingKinds are the two structures and buildings allowances.
var buildingKinds = []struct{ name, legend, hint string }{
	{"structuredBuildingAllowance", "Structures and buildings allowance",
		"For the construction or renovation of non-residential structures and buildings."},
	{"enhancedStructuredBuildingAllowance", "Enhanced structures and buildings allowance",
		"The higher rate, for buildings in a freeport or investment zone tax site."},
}

// choiceField is a set of radio buttons.
type choiceField struct {
	Name, ID, Legend, Hint, Value, Error string
	Options                              []choiceOption
}

type choiceOption struct{ Value, Label, ID string }

// textInput is one text (or date) input with its label, hint and error.
type textInput struct {
	Name, ID, Label, Hint, Value, Error, Type string
	Short                                     bool
}

type buildingRow struct {
	Index                                int
	Amount, QualifyingAmount             formField
	QualifyingDate, Name, Number, PostCd textInput
}

type buildingGroup struct {
	Name, Legend, Hint string
	Rows               []buildingRow
	Count              int // rows on the form, posted back
}

type annualForm struct {
	TaxYear string
	Summary []summaryItem
	Err     string

	NonResident, RentARoom  choiceField
	Adjustments, Capital    []formField
	PropertyIncomeAllowance formField
	Buildings               []buildingGroup
	AllowancesError         string
}

func idOf(name string) string { return strings.ReplaceAll(name, ".", "-") }

// maxBuildingRows bounds the buildings of each kind a posted form may say
// it has.
const maxBuildingRows = 20

// newAnnualForm is the form for taxYear, filled with what HMRC holds
// (stored, when not nil), or shaped as the posted form r was (its number of
// buildings), when r is not nil.
func newAnnualForm(taxYear itsa.TaxYear, stored *itsa.UKPropertyAnnual, r *http.Request) *annualForm {
	f := &annualForm{TaxYear: taxYear.String()}
	f.NonResident = choiceField{Name: "adjustments.nonResidentLandlord", ID: "adjustments-nonResidentLandlord",
		Legend:  "Are you a non-resident landlord?",
		Hint:    "You are if you usually live outside the UK (for 6 months or more a year), whether or not tax is taken from your rents under the Non-Resident Landlord Scheme.",
		Options: []choiceOption{{"yes", "Yes", "adjustments-nonResidentLandlord-yes"}, {"no", "No", "adjustments-nonResidentLandlord-no"}}}
	f.RentARoom = choiceField{Name: "adjustments.rentARoom.jointlyLet", ID: "adjustments-rentARoom-jointlyLet",
		Legend: "Rent a Room: do you share the income with someone else?",
		Hint:   "If you let furnished rooms in your own home and claim Rent a Room relief. Sharing the income halves the £7,500 limit.",
		Options: []choiceOption{{"", "I do not claim Rent a Room relief", "adjustments-rentARoom-jointlyLet-none"},
			{"yes", "Yes, I share it", "adjustments-rentARoom-jointlyLet-yes"}, {"no", "No, it is all mine", "adjustments-rentARoom-jointlyLet-no"}}}
	for _, a := range annualAmounts {
		ff := formField{Name: a.name, ID: idOf(a.name), Label: a.label, Hint: a.hint}
		switch a.group {
		case "adjustments":
			f.Adjustments = append(f.Adjustments, ff)
		case "capital":
			f.Capital = append(f.Capital, ff)
		case "pia":
			f.PropertyIncomeAllowance = ff
		}
	}
	for _, k := range buildingKinds {
		n := 1 // a blank row for another building
		if stored != nil && stored.UKProperty != nil && stored.UKProperty.Allowances != nil {
			n += len(buildingsOf(stored.UKProperty.Allowances, k.name))
		}
		if r != nil {
			if c, err := strconv.Atoi(r.PostFormValue("allowances." + k.name + ".count")); err == nil && c >= 1 && c <= maxBuildingRows {
				n = c
			}
		}
		g := buildingGroup{Name: k.name, Legend: k.legend, Hint: k.hint, Count: n}
		for i := range n {
			g.Rows = append(g.Rows, newBuildingRow(k.name, i))
		}
		f.Buildings = append(f.Buildings, g)
	}
	if stored != nil {
		f.fill(stored)
	}
	return f
}

func newBuildingRow(kind string, i int) buildingRow {
	p := "allowances." + kind + "." + strconv.Itoa(i) + "."
	txt := func(name, label, hint string, short bool) textInput {
		return textInput{Name: p + name, ID: idOf(p + name), Label: label, Hint: hint, Type: "text", Short: short}
	}
	row := buildingRow{Index: i + 1,
		Amount:           formField{Name: p + "amount", ID: idOf(p + "amount"), Label: "Allowance claimed"},
		QualifyingAmount: formField{Name: p + "firstYear.qualifyingAmountExpenditure", ID: idOf(p + "firstYear.qualifyingAmountExpenditure"), Label: "First year only: qualifying expenditure"},
		QualifyingDate:   txt("firstYear.qualifyingDate", "First year only: date the building first qualified", "", true),
		Name:             txt("building.name", "Building name", "Give its name or its number, or both.", false),
		Number:           txt("building.number", "Building number", "", true),
		PostCd:           txt("building.postcode", "Postcode", "", true),
	}
	row.QualifyingDate.Type = "date"
	return row
}

func buildingsOf(a *itsa.UKPropertyAllowances, kind string) []itsa.BuildingAllowance {
	if kind == "enhancedStructuredBuildingAllowance" {
		return a.EnhancedStructuredBuildingAllowance
	}
	return a.StructuredBuildingAllowance
}

// annualAmountSlot returns where an amount field's value lives.
func annualAmountSlot(adj *itsa.UKPropertyAdjustments, alw *itsa.UKPropertyAllowances, name string) **mtdconnect.Amount {
	switch name {
	case "adjustments.balancingCharge":
		return &adj.BalancingCharge
	case "adjustments.privateUseAdjustment":
		return &adj.PrivateUseAdjustment
	case "adjustments.businessPremisesRenovationAllowanceBalancingCharges":
		return &adj.BusinessPremisesRenovationAllowanceBalancingCharges
	case "allowances.annualInvestmentAllowance":
		return &alw.AnnualInvestmentAllowance
	case "allowances.businessPremisesRenovationAllowance":
		return &alw.BusinessPremisesRenovationAllowance
	case "allowances.otherCapitalAllowance":
		return &alw.OtherCapitalAllowance
	case "allowances.costOfReplacingDomesticItems":
		return &alw.CostOfReplacingDomesticItems
	case "allowances.zeroEmissionsCarAllowance":
		return &alw.ZeroEmissionsCarAllowance
	case "allowances.propertyIncomeAllowance":
		return &alw.PropertyIncomeAllowance
	}
	return nil
}

// amountFields calls fn on every amount field of the form.
func (f *annualForm) amountFields(fn func(*formField)) {
	for i := range f.Adjustments {
		fn(&f.Adjustments[i])
	}
	for i := range f.Capital {
		fn(&f.Capital[i])
	}
	fn(&f.PropertyIncomeAllowance)
	for g := range f.Buildings {
		for r := range f.Buildings[g].Rows {
			row := &f.Buildings[g].Rows[r]
			fn(&row.Amount)
			fn(&row.QualifyingAmount)
		}
	}
}

// textInputs calls fn on every text input of the form.
func (f *annualForm) textInputs(fn func(*textInput)) {
	for g := range f.Buildings {
		for r := range f.Buildings[g].Rows {
			row := &f.Buildings[g].Rows[r]
			fn(&row.QualifyingDate)
			fn(&row.Name)
			fn(&row.Number)
			fn(&row.PostCd)
		}
	}
}

func amountText(a *mtdconnect.Amount) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// fill shows what HMRC holds: an amendment sends every figure again.
func (f *annualForm) fill(stored *itsa.UKPropertyAnnual) {
	p := stored.UKProperty
	if p == nil {
		return
	}
	adj, alw := p.Adjustments, p.Allowances
	if adj == nil {
		adj = &itsa.UKPropertyAdjustments{}
	}
	if alw == nil {
		alw = &itsa.UKPropertyAllowances{}
	}
	if adj.NonResidentLandlord != nil {
		f.NonResident.Value = yesNo(*adj.NonResidentLandlord)
	}
	if adj.RentARoom != nil && adj.RentARoom.JointlyLet != nil {
		f.RentARoom.Value = yesNo(*adj.RentARoom.JointlyLet)
	}
	f.amountFields(func(ff *formField) {
		if slot := annualAmountSlot(adj, alw, ff.Name); slot != nil {
			ff.Value = amountText(*slot)
		}
	})
	for g := range f.Buildings {
		for i, b := range buildingsOf(alw, f.Buildings[g].Name) {
			row := &f.Buildings[g].Rows[i]
			row.Amount.Value = amountText(b.Amount)
			if b.FirstYear != nil {
				row.QualifyingDate.Value = b.FirstYear.QualifyingDate
				row.QualifyingAmount.Value = amountText(b.FirstYear.QualifyingAmountExpenditure)
			}
			if b.Building != nil {
				row.Name.Value, row.Number.Value, row.PostCd.Value = b.Building.Name, b.Building.Number, b.Building.Postcode
			}
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// failField puts message next to the field name (an amount, a text input
// or a choice), and in the error summary; a name the form does not have
// fails the form as a whole.
func (f *annualForm) failField(name, message string) {
	anchor := ""
	f.amountFields(func(ff *formField) {
		if ff.Name == name && anchor == "" {
			if ff.Error == "" {
				ff.Error = message
			}
			anchor = "#" + ff.ID
		}
	})
	f.textInputs(func(ti *textInput) {
		if ti.Name == name && anchor == "" {
			if ti.Error == "" {
				ti.Error = message
			}
			anchor = "#" + ti.ID
		}
	})
	for _, c := range []*choiceField{&f.NonResident, &f.RentARoom} {
		if c.Name == name && anchor == "" {
			if c.Error == "" {
				c.Error = message
			}
			anchor = "#" + c.Options[0].ID
		}
	}
	switch {
	case anchor != "":
	case name == "allowances":
		f.AllowancesError, anchor = message, "#allowances"
	default:
		if f.Err == "" {
			f.Err = message
		}
		anchor = "#adjustments-form"
	}
	f.Summary = append(f.Summary, summaryItem{Anchor: anchor, Text: message})
}

// bind reads the form into a body, failing each field that cannot be read.
func (f *annualForm) bind(r *http.Request) itsa.UKPropertyAnnual {
	adj := &itsa.UKPropertyAdjustments{}
	alw := &itsa.UKPropertyAllowances{}
	amount := func(ff *formField) *mtdconnect.Amount {
		ff.Value = r.PostFormValue(ff.Name)
		a, err := parseFormAmount(ff.Value)
		if err != nil {
			f.failField(ff.Name, "Enter "+strings.ToLower(ff.Label[:1])+ff.Label[1:]+" as an amount in pounds, like 1250.00"+notationHint(err, ff.Value))
			return nil
		}
		return a
	}
	for _, list := range [][]formField{f.Adjustments, f.Capital} {
		for i := range list {
			*annualAmountSlot(adj, alw, list[i].Name) = amount(&list[i])
		}
	}
	alw.PropertyIncomeAllowance = amount(&f.PropertyIncomeAllowance)

	f.NonResident.Value = r.PostFormValue(f.NonResident.Name)
	switch f.NonResident.Value {
	case "yes", "no":
		b := f.NonResident.Value == "yes"
		adj.NonResidentLandlord = &b
	default:
		f.NonResident.Value = ""
		f.failField(f.NonResident.Name, "Select yes if you are a non-resident landlord")
	}
	f.RentARoom.Value = r.PostFormValue(f.RentARoom.Name)
	switch f.RentARoom.Value {
	case "yes", "no":
		b := f.RentARoom.Value == "yes"
		adj.RentARoom = &itsa.UKPropertyRentARoomShare{JointlyLet: &b}
	default:
		f.RentARoom.Value = ""
	}

	for g := range f.Buildings {
		group := &f.Buildings[g]
		var list []itsa.BuildingAllowance
		for r2 := range group.Rows {
			row := &group.Rows[r2]
			b := itsa.BuildingAllowance{Amount: amount(&row.Amount)}
			qa := amount(&row.QualifyingAmount)
			for _, ti := range []*textInput{&row.QualifyingDate, &row.Name, &row.Number, &row.PostCd} {
				ti.Value = strings.TrimSpace(r.PostFormValue(ti.Name))
			}
			if row.Amount.Value == "" && row.QualifyingAmount.Value == "" && row.QualifyingDate.Value == "" &&
				row.Name.Value == "" && row.Number.Value == "" && row.PostCd.Value == "" {
				continue // a blank row: no building
			}
			if qa != nil || row.QualifyingDate.Value != "" {
				b.FirstYear = &itsa.BuildingFirstYear{QualifyingDate: row.QualifyingDate.Value, QualifyingAmountExpenditure: qa}
			}
			b.Building = &itsa.Building{Name: row.Name.Value, Number: row.Number.Value, Postcode: strings.ToUpper(row.PostCd.Value)}
			list = append(list, b)
		}
		if group.Name == "enhancedStructuredBuildingAllowance" {
			alw.EnhancedStructuredBuildingAllowance = list
		} else {
			alw.StructuredBuildingAllowance = list
		}
	}
	body := itsa.UKPropertyAnnual{UKProperty: &itsa.UKPropertyYear{Adjustments: adj}}
	if alw.AnnualInvestmentAllowance != nil || alw.BusinessPremisesRenovationAllowance != nil || alw.OtherCapitalAllowance != nil ||
		alw.CostOfReplacingDomesticItems != nil || alw.ZeroEmissionsCarAllowance != nil || alw.PropertyIncomeAllowance != nil ||
		alw.StructuredBuildingAllowance != nil || alw.EnhancedStructuredBuildingAllowance != nil {
		body.UKProperty.Allowances = alw
	}
	return body
}

// failAll puts HMRC's (or the local checks') errors next to their fields,
// in words.
func (f *annualForm) failAll(errs []fieldError) {
	for _, e := range errs {
		if len(e.Paths) == 0 {
			switch e.Code {
			case itsa.CodeRulePropertyIncomeAllowance:
				f.failField("allowances.propertyIncomeAllowance", annualMessage(e.Code, "", e.Message))
			default:
				f.failField("", annualMessage(e.Code, "", e.Message))
			}
			continue
		}
		for _, p := range e.Paths {
			name := fieldOfPath(p)
			if p == "/ukProperty" {
				name = "" // the form as a whole
			}
			msg := annualMessage(e.Code, name, e.Message)
			switch {
			case e.Code == itsa.CodeRuleBuildingNameNumber:
				name += ".name" // the building: shown at its name
			case strings.HasSuffix(name, ".building"):
				name += ".postcode"
			case strings.HasSuffix(name, ".firstYear"):
				name += ".qualifyingDate"
			}
			f.failField(name, msg)
		}
	}
}

// annualMessage words an error of the annual submission at the form field
// name.
func annualMessage(code, name, message string) string {
	switch code {
	case itsa.CodeFormatValue:
		if strings.HasSuffix(name, "propertyIncomeAllowance") {
			return "Enter a property income allowance between £0 and £1,000, in pounds and pence"
		}
		return "Enter an amount of £0 or more, up to £99,999,999,999.99, in pounds and pence (no more than 2 decimal places)"
	case itsa.CodeRuleBothAllowances:
		return "Claim either the property income allowance or the other allowances, not both: clear one of them"
	case itsa.CodeRulePropertyIncomeAllowance:
		return "You cannot claim the property income allowance with a private use adjustment: remove one of them"
	case itsa.CodeRuleBuildingNameNumber:
		return "Enter the building's name or number"
	case itsa.CodeFormatString:
		return "Use only letters, numbers, spaces and & ' ( ) : . - _ (up to 90 characters)"
	case itsa.CodeFormatDate:
		return "Enter a real date"
	case itsa.CodeRuleIncorrectOrEmptyBody:
		switch {
		case strings.HasSuffix(name, ".amount"):
			return "Enter the allowance claimed for this building"
		case strings.HasSuffix(name, ".postcode"), strings.HasSuffix(name, ".building"):
			return "Enter the building's postcode"
		case strings.HasSuffix(name, ".qualifyingDate"):
			return "Enter the date the building first qualified, with its qualifying expenditure"
		case strings.HasSuffix(name, ".qualifyingAmountExpenditure"):
			return "Enter the qualifying expenditure, with the date the building first qualified"
		case strings.HasSuffix(name, "nonResidentLandlord"):
			return "Select yes if you are a non-resident landlord"
		}
		return "Enter at least one allowance or adjustment"
	}
	return message
}

// annualLines are what an annual submission claims, for its receipt.
func annualLines(b itsa.UKPropertyAnnual) []receiptLine {
	var out []receiptLine
	p := b.UKProperty
	if p == nil {
		return nil
	}
	adj, alw := p.Adjustments, p.Allowances
	if adj == nil {
		adj = &itsa.UKPropertyAdjustments{}
	}
	if alw == nil {
		alw = &itsa.UKPropertyAllowances{}
	}
	if adj.NonResidentLandlord != nil {
		out = append(out, receiptLine{Label: "Non-resident landlord", Amount: yesNoWords(*adj.NonResidentLandlord), Group: "Adjustments"})
	}
	if adj.RentARoom != nil && adj.RentARoom.JointlyLet != nil {
		out = append(out, receiptLine{Label: "Rent a Room income shared", Amount: yesNoWords(*adj.RentARoom.JointlyLet), Group: "Adjustments"})
	}
	for _, a := range annualAmounts {
		if slot := annualAmountSlot(adj, alw, a.name); slot != nil && *slot != nil {
			group := "Allowances"
			if a.group == "adjustments" {
				group = "Adjustments"
			}
			out = append(out, receiptLine{Label: a.label, Amount: formatAmount(*slot), Group: group})
		}
	}
	for _, k := range buildingKinds {
		for _, bl := range buildingsOf(alw, k.name) {
			where := ""
			if bl.Building != nil {
				where = strings.TrimSpace(strings.Join([]string{bl.Building.Number, bl.Building.Name, bl.Building.Postcode}, " "))
			}
			amount := ""
			if bl.Amount != nil {
				amount = formatAmount(bl.Amount)
			}
			out = append(out, receiptLine{Label: k.legend + ": " + where, Amount: amount, Group: "Allowances"})
		}
	}
	return out
}

func yesNoWords(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}
