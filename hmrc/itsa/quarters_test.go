package itsa_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// Calendar quarters chosen before the year's first update: HMRC's
// obligations follow them, PeriodTypeOf tells them apart, and once an
// update is in HMRC refuses to change them.
func TestQuarterlyPeriodType(t *testing.T) {
	e, audit := newITSAEnv(t) // 1 May 2026: tax year 2026-27
	ctx := t.Context()
	o := signedInOrigin()
	obs, err := e.client.Obligations(ctx, e.userID, itsaNINO, 2026, o)
	if err != nil || itsa.PeriodTypeOf(obs) != itsa.PeriodTypeStandard {
		t.Fatalf("before choosing: %v, %v", obs, err)
	}
	resp, err := e.client.SetQuarterlyPeriodType(ctx, e.userID, itsaNINO, 2026, itsa.PeriodTypeCalendar, o)
	if err != nil || resp.Status != 204 || len(resp.CorrelationID) != 36 {
		t.Fatalf("calendar quarters: %+v, %v", resp, err)
	}
	obs, err = e.client.Obligations(ctx, e.userID, itsaNINO, 2026, o)
	var ends []string
	for _, ob := range obs {
		ends = append(ends, ob.End)
	}
	if err != nil || !slices.Equal(ends, []string{"2026-06-30", "2026-09-30", "2026-12-31", "2027-03-31"}) || itsa.PeriodTypeOf(obs) != itsa.PeriodTypeCalendar {
		t.Fatalf("obligations after calendar quarters: %v, %v", ends, err)
	}

	// A bad type or tax year: refused here, nothing sent.
	before := e.Sim.Stats().APIRequests
	for _, bad := range []struct {
		year itsa.TaxYear
		typ  string
		code string
	}{{2026, "monthly", itsa.CodeRuleIncorrectOrEmptyBody}, {2026, "", itsa.CodeRuleIncorrectOrEmptyBody}, {1999, "standard", itsa.CodeFormatTaxYear}} {
		_, err := e.client.SetQuarterlyPeriodType(ctx, e.userID, itsaNINO, bad.year, bad.typ, o)
		if !hmrc.HasErrorCode(err, bad.code) {
			t.Errorf("%v %q: %v, want %s", bad.year, bad.typ, err, bad.code)
		}
	}
	if n := e.Sim.Stats().APIRequests - before; n != 0 {
		t.Errorf("%d refused requests reached HMRC", n)
	}

	// Another tax year than the current: HMRC's refusal.
	_, err = e.client.SetQuarterlyPeriodType(ctx, e.userID, itsaNINO, 2025, itsa.PeriodTypeCalendar, o)
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != "RULE_REQUEST_CANNOT_BE_FULFILLED" {
		t.Errorf("2025-26: %v", err)
	}

	// After the year's first update the quarters are fixed.
	e.Clock.Advance(61 * 24 * time.Hour) // 1 July 2026
	q1 := itsa.UKPropertyCumulative{FromDate: "2026-04-06", ToDate: "2026-06-30", UKProperty: q1Summary().UKProperty}
	if _, err := e.client.SubmitUKPropertyCumulative(ctx, e.userID, itsaNINO, 2026, q1, o); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.SetQuarterlyPeriodType(ctx, e.userID, itsaNINO, 2026, itsa.PeriodTypeStandard, o)
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "RULE_BUSINESS_ID_STATE_CONFLICT" {
		t.Errorf("after the first update: %v", err)
	}
	for _, s := range audit.all() {
		if s.res.Code != "VALID_HEADERS" {
			t.Errorf("%s: %+v", s.what, s.res)
		}
	}
}

// HMRC's Obligations date-range rules (ObligationsDateRangeSupport), every
// one at once, and a tax year before 2018-19 refused without a call.
func TestCheckObligationsDateRange(t *testing.T) {
	d := func(s string) time.Time {
		x, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	tests := []struct {
		from, to string
		codes    []string
	}{
		{"2025-04-06", "2026-04-05", nil},
		{"2025-04-06", "2026-04-06", nil},                                     // from + 365 days: still less than from + 366
		{"2023-04-06", "2024-04-06", []string{itsa.CodeRuleDateRangeInvalid}}, // 366 days later: the year holds 29 February
		{"2025-04-06", "2025-04-06", []string{itsa.CodeRuleDateRangeInvalid}},
		{"2025-04-06", "2025-04-07", nil},
		{"2025-04-06", "2025-04-05", []string{itsa.CodeRangeToDateBeforeFromDate}},
		{"2018-04-05", "2018-07-05", []string{itsa.CodeRuleFromDateNotSupported}},
		{"2018-04-06", "2018-07-05", nil},
		{"2099-12-01", "2100-01-01", []string{itsa.CodeFormatToDate}},
		{"2017-04-06", "2018-04-07", []string{itsa.CodeRuleDateRangeInvalid, itsa.CodeRuleFromDateNotSupported}},
	}
	for _, tt := range tests {
		var codes []string
		for _, e := range itsa.CheckObligationsDateRange(d(tt.from), d(tt.to)) {
			codes = append(codes, e.Code)
		}
		if !slices.Equal(codes, tt.codes) {
			t.Errorf("%s to %s: %v, want %v", tt.from, tt.to, codes, tt.codes)
		}
	}

	e, _ := newITSAEnv(t)
	_, err := e.client.Obligations(t.Context(), e.userID, itsaNINO, 2017, signedInOrigin())
	if !hmrc.HasErrorCode(err, itsa.CodeRuleFromDateNotSupported) || e.Sim.Stats().APIRequests != 0 {
		t.Errorf("2017-18: %v after %d calls", err, e.Sim.Stats().APIRequests)
	}
}

// Business Details' list is read whole: the self-employment's trading
// type and name, the property businesses without them.
func TestBusinesses(t *testing.T) {
	e, _ := newITSAEnv(t)
	list, err := e.client.Businesses(t.Context(), e.userID, itsaNINO, signedInOrigin(), itsa.WithTestScenario("BUSINESS_AND_PROPERTY"))
	if err != nil || len(list) != 3 {
		t.Fatalf("BUSINESS_AND_PROPERTY: %+v, %v", list, err)
	}
	se := list[0]
	if se.TypeOfBusiness != "self-employment" || se.TradingType == "" || se.TradingName == "" || !itsa.ValidBusinessID(se.BusinessID) {
		t.Errorf("self-employment %+v", se)
	}
	for _, b := range list[1:] {
		if b.TradingType != "" || b.TradingName != "" {
			t.Errorf("property business %+v has a trading type or name", b)
		}
	}
	if list[1].TypeOfBusiness != itsa.TypeUKProperty || list[2].TypeOfBusiness != "foreign-property" {
		t.Errorf("list %+v", list)
	}
}
