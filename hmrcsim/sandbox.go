package hmrcsim

import (
	"encoding/json"
	"time"
)

// Canned Income Tax answers: the fixtures behind HMRC's documented
// Gov-Test-Scenario values, and ModeSandbox's DEFAULT answers. Where HMRC
// publishes the data (an OAS example) it is used as is; where the test-data
// table only describes it, the comment says what was chosen.

// cannedObligationsITSA is the downstream answer of a canned obligations
// scenario ("" is the sandbox's DEFAULT). The Obligations service passes
// no business to its downstream call (RetrieveObligationsConnector sends
// only the NINO, dates and status), so each fixture holds every business
// the test data names and the service's own filter picks the one asked
// for (retrieve_income_tax_income_expenditure.yaml, test data):
//
//   - DEFAULT: the OAS's non-cumulative example (2019-20, a
//     self-employment business XAIS12345678910);
//   - CUMULATIVE: cumulative periods of the tax year the clock is in, the
//     first three fulfilled, as the OAS's cumulative examples;
//   - OPEN, FULFILLED: one open (fulfilled) first period of that year for
//     each of the businesses X[BPF]IS12345678903 (…902);
//   - DYNAMIC: one period from fromDate to toDate with the status asked
//     for (open without one) for X[BPF]IS12345678901. Without dates the
//     service asks its downstream for today to today + 366 days
//     (ObligationsDateRangeSupport.defaultDateRange), or nothing when the
//     status is open; the tax year the clock is in then.
func cannedObligationsITSA(sc string, q oblQuery, now time.Time) []obligation {
	year := taxYearStartOf(now)
	p := quarterlyPeriods(year, periodStandard, false)
	firstPeriod := func(status string) obligationDetail {
		d := obligationDetail{PeriodStartDate: p.start.Format(isoDate), PeriodEndDate: p.ends[0].Format(isoDate),
			DueDate: p.dues[0].Format(isoDate), Status: status}
		if status == "fulfilled" {
			d.ReceivedDate = receivedBefore(p.dues[0])
		}
		return d
	}
	threeBusinesses := func(suffix string, d obligationDetail) []obligation {
		var out []obligation
		for _, b := range []struct{ typ, prefix string }{{"self-employment", "XBIS"}, {"uk-property", "XPIS"}, {"foreign-property", "XFIS"}} {
			out = append(out, obligation{TypeOfBusiness: b.typ, BusinessID: b.prefix + "1234567890" + suffix, ObligationDetails: []obligationDetail{d}})
		}
		return out
	}
	switch sc {
	case "OPEN":
		return threeBusinesses("3", firstPeriod("open"))
	case "FULFILLED":
		return threeBusinesses("2", firstPeriod("fulfilled"))
	case "DYNAMIC":
		from, to := q.from, q.to
		switch {
		case !q.dated && q.status != "open":
			from, to = dateOf(now), dateOf(now).AddDate(0, 0, 366)
		case !q.dated:
			from, to = p.start, p.ends[3]
		}
		due := to.AddDate(0, 1, 2) // a period ending on the 5th is due on the 7th of the next month
		d := obligationDetail{PeriodStartDate: from.Format(isoDate), PeriodEndDate: to.Format(isoDate), DueDate: due.Format(isoDate), Status: "open"}
		if q.status == "fulfilled" {
			d.Status, d.ReceivedDate = "fulfilled", receivedBefore(due)
		}
		return threeBusinesses("1", d)
	case "CUMULATIVE":
		var ds []obligationDetail
		for i, end := range p.ends {
			d := obligationDetail{PeriodStartDate: p.start.Format(isoDate), PeriodEndDate: end.Format(isoDate),
				DueDate: p.dues[i].Format(isoDate), Status: "open"}
			if i < 3 {
				d.Status, d.ReceivedDate = "fulfilled", receivedBefore(p.dues[i])
			}
			ds = append(ds, d)
		}
		return []obligation{{TypeOfBusiness: "self-employment", BusinessID: "XAIS12345678910", ObligationDetails: ds}}
	}
	var ds []obligationDetail
	for i, q := range []struct{ start, end, due, received string }{
		{"2019-04-06", "2019-07-05", "2019-08-05", "2019-08-01"},
		{"2019-07-06", "2019-10-05", "2019-11-05", "2019-11-01"},
		{"2019-10-06", "2020-01-05", "2020-02-05", "2020-02-01"},
		{"2020-01-06", "2020-04-05", "2020-05-05", ""},
	} {
		d := obligationDetail{PeriodStartDate: q.start, PeriodEndDate: q.end, DueDate: q.due, Status: "open"}
		if i < 3 {
			d.Status, d.ReceivedDate = "fulfilled", q.received
		}
		ds = append(ds, d)
	}
	return []obligation{{TypeOfBusiness: "self-employment", BusinessID: "XAIS12345678910", ObligationDetails: ds}}
}

// receivedBefore is a canned received date: the 1st of the due date's
// month, as in HMRC's examples (due 2026-08-07, received 2026-08-01).
func receivedBefore(due time.Time) string {
	return day(due.Year(), due.Month(), 1).Format(isoDate)
}

// cannedCumulative is the Property Business GET's example response
// (uk_property_cumulative_summary_retrieve/def1/response.json, and
// consolidated_response.json): the sandbox's DEFAULT and the
// UK_PROPERTY_FULL_EXPENSES and UK_PROPERTY_CONSOLIDATED scenarios.
func cannedCumulative(consolidated bool) json.RawMessage {
	if consolidated {
		return json.RawMessage(`{"submittedOn":"2025-07-07T10:59:47.544Z","fromDate":"2025-04-06","toDate":"2025-07-05",` +
			`"ukProperty":{"income":{"premiumsOfLeaseGrant":4889.23,"reversePremiums":847.35,"periodAmount":747.45,"taxDeducted":984.29,` +
			`"otherIncome":954.32,"rentARoom":{"rentsReceived":488.39}},"expenses":{"residentialFinancialCost":2884.99,` +
			`"residentialFinancialCostsCarriedForward":483.91,"rentARoom":{"amountClaimed":88.55},"consolidatedExpenses":998.18}}}`)
	}
	return json.RawMessage(`{"submittedOn":"2025-07-07T10:59:47.544Z","fromDate":"2025-04-06","toDate":"2025-07-05",` +
		`"ukProperty":{"income":{"premiumsOfLeaseGrant":4889.23,"reversePremiums":847.35,"periodAmount":747.45,"taxDeducted":984.29,` +
		`"otherIncome":954.32,"rentARoom":{"rentsReceived":488.39}},"expenses":{"premisesRunningCosts":-4141.21,` +
		`"repairsAndMaintenance":-582.25,"financialCosts":829.39,"professionalFees":-4992.31,"costOfServices":-98.5,"other":488.95,` +
		`"residentialFinancialCost":2884.99,"travelCosts":48.93,"residentialFinancialCostsCarriedForward":483.91,` +
		`"rentARoom":{"amountClaimed":88.55}}}}`)
}
