package hmrc

import (
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func vamt(t testing.TB, s string) Amount {
	t.Helper()
	a, err := ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return *a
}

// validVATReturn is HMRC's OAS example (box 3 = 1 + 2, box 5 = |3 − 4|).
func validVATReturn(t testing.TB) VATReturn {
	return VATReturn{
		PeriodKey: "26A1", VATDueSales: vamt(t, "105.50"), VATDueAcquisitions: vamt(t, "-100.45"),
		TotalVATDue: vamt(t, "5.05"), VATReclaimedCurrPeriod: vamt(t, "105.15"), NetVATDue: vamt(t, "100.10"),
		TotalValueSalesExVAT: vamt(t, "300"), TotalValuePurchasesExVAT: vamt(t, "300"),
		TotalValueGoodsSuppliedExVAT: vamt(t, "3000"), TotalAcquisitionsExVAT: vamt(t, "3000"), Finalised: true,
	}
}

type vatWant struct{ code, path string }

func vatGot(errs []ValidationError) []vatWant {
	var out []vatWant
	for _, e := range errs {
		if len(e.Paths) != 1 || e.Message == "" {
			return []vatWant{{"malformed " + e.Error(), ""}}
		}
		out = append(out, vatWant{e.Code, e.Paths[0]})
	}
	return out
}

func TestVATReturnValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*VATReturn)
		want   []vatWant
	}{
		{"Valid", func(*VATReturn) {}, nil},
		{"ValidRepaymentZero", func(r *VATReturn) { r.VATReclaimedCurrPeriod, r.NetVATDue = vamt(t, "5.05"), vamt(t, "0") }, nil},
		{"ValidLargest", func(r *VATReturn) {
			r.VATDueSales, r.VATDueAcquisitions, r.TotalVATDue = vamt(t, "9999999999999.99"), vamt(t, "0"), vamt(t, "9999999999999.99")
			r.VATReclaimedCurrPeriod, r.NetVATDue = vamt(t, "9900000000000"), vamt(t, "99999999999.99")
			r.TotalValueSalesExVAT, r.TotalAcquisitionsExVAT = vamt(t, "9999999999999"), vamt(t, "-9999999999999")
		}, nil},
		{"WholePoundsWithZeroPence", func(r *VATReturn) { r.TotalValueSalesExVAT = vamt(t, "300.00") }, nil},
		{"WholePoundsByExponent", func(r *VATReturn) { r.TotalValueSalesExVAT = vamt(t, "3e2") }, nil},
		{"HashPeriodKey", func(r *VATReturn) { r.PeriodKey = "#001" }, nil},
		{"MissingPeriodKey", func(r *VATReturn) { r.PeriodKey = "" }, []vatWant{{CodeVATMandatoryFieldMissing, "/periodKey"}}},
		{"MissingBox", func(r *VATReturn) { r.TotalValuePurchasesExVAT = Amount{} }, []vatWant{{CodeVATMandatoryFieldMissing, "/totalValuePurchasesExVAT"}}},
		{"PeriodKeyLowerCase", func(r *VATReturn) { r.PeriodKey = "26a1" }, []vatWant{{CodeVATPeriodKeyInvalid, "/periodKey"}}},
		{"PeriodKeyFiveChars", func(r *VATReturn) { r.PeriodKey = "26A11" }, []vatWant{{CodeVATPeriodKeyInvalid, "/periodKey"}}},
		{"Box1ThreeDecimals", func(r *VATReturn) { r.VATDueSales = vamt(t, "105.505") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/vatDueSales"}}},
		// HMRC judges the written scale: 105.500 is refused.
		{"Box1TrailingZero", func(r *VATReturn) { r.VATDueSales = vamt(t, "105.500") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/vatDueSales"}}},
		{"Box2TooLarge", func(r *VATReturn) { r.VATDueAcquisitions = vamt(t, "10000000000000") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/vatDueAcquisitions"}}},
		{"Box4TooSmall", func(r *VATReturn) { r.VATReclaimedCurrPeriod = vamt(t, "-10000000000000.00") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/vatReclaimedCurrPeriod"}}},
		{"Box5Negative", func(r *VATReturn) { r.NetVATDue = vamt(t, "-100.10") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/netVatDue"}}},
		{"Box5TooLarge", func(r *VATReturn) { r.NetVATDue = vamt(t, "100000000000") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/netVatDue"}}},
		{"Box6Pence", func(r *VATReturn) { r.TotalValueSalesExVAT = vamt(t, "300.5") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/totalValueSalesExVAT"}}},
		{"Box8TooLarge", func(r *VATReturn) { r.TotalValueGoodsSuppliedExVAT = vamt(t, "1e13") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/totalValueGoodsSuppliedExVAT"}}},
		{"Box9HugeExponent", func(r *VATReturn) { r.TotalAcquisitionsExVAT = vamt(t, "1e99999999999") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/totalAcquisitionsExVAT"}}},
		{"Box1TinyExponent", func(r *VATReturn) { r.VATDueSales = vamt(t, "1e-99999999999") }, []vatWant{{CodeVATInvalidMonetaryAmount, "/vatDueSales"}}},
		{"Box3NotSum", func(r *VATReturn) { r.TotalVATDue, r.NetVATDue = vamt(t, "5.06"), vamt(t, "100.09") }, []vatWant{{CodeVATTotalValue, "/totalVatDue"}}},
		{"Box5NotDifference", func(r *VATReturn) { r.NetVATDue = vamt(t, "100.11") }, []vatWant{{CodeVATNetValue, "/netVatDue"}}},
		{"Box5SignedDifference", func(r *VATReturn) { r.NetVATDue = vamt(t, "0") }, []vatWant{{CodeVATNetValue, "/netVatDue"}}},
		{"NotFinalised", func(r *VATReturn) { r.Finalised = false }, []vatWant{{CodeVATNotFinalised, "/finalised"}}},
		{"SumsAndDeclarationTogether", func(r *VATReturn) { r.TotalVATDue, r.Finalised = vamt(t, "6"), false },
			[]vatWant{{CodeVATNetValue, "/netVatDue"}, {CodeVATTotalValue, "/totalVatDue"}, {CodeVATNotFinalised, "/finalised"}}},
		// The sums are not judged while a field is wrong (HMRC's levels).
		{"FieldsBeforeSums", func(r *VATReturn) { r.TotalVATDue, r.PeriodKey, r.Finalised = vamt(t, "6"), "x", false },
			[]vatWant{{CodeVATPeriodKeyInvalid, "/periodKey"}}},
		{"SeveralFields", func(r *VATReturn) {
			r.VATDueSales, r.TotalAcquisitionsExVAT, r.PeriodKey = vamt(t, "1.001"), vamt(t, "1.5"), ""
		},
			[]vatWant{{CodeVATMandatoryFieldMissing, "/periodKey"}, {CodeVATInvalidMonetaryAmount, "/vatDueSales"}, {CodeVATInvalidMonetaryAmount, "/totalAcquisitionsExVAT"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validVATReturn(t)
			tt.change(&r)
			if got := vatGot(r.Validate()); !slices.Equal(got, tt.want) {
				t.Fatalf("Validate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVATFillTotals(t *testing.T) {
	r := VATReturn{VATDueSales: vamt(t, "1000.10"), VATDueAcquisitions: vamt(t, "-0.10"), VATReclaimedCurrPeriod: vamt(t, "1250.5")}
	if err := r.FillTotals(); err != nil {
		t.Fatal(err)
	}
	if r.TotalVATDue.String() != "1000.00" || r.NetVATDue.String() != "250.50" || !r.Repayable() || r.Payable() {
		t.Fatalf("box 3 %s, box 5 %s, payable %v", r.TotalVATDue, r.NetVATDue, r.Payable())
	}
	bad := VATReturn{VATDueSales: vamt(t, "1.001"), VATDueAcquisitions: vamt(t, "0"), VATReclaimedCurrPeriod: vamt(t, "0")}
	var ve *ValidationError
	if err := bad.FillTotals(); !errors.As(err, &ve) || ve.Code != CodeVATInvalidMonetaryAmount || bad.TotalVATDue != (Amount{}) {
		t.Fatalf("FillTotals of a bad box 1 = %v, box 3 %q", err, bad.TotalVATDue)
	}
	missing := VATReturn{VATDueSales: vamt(t, "1")}
	if err := missing.FillTotals(); !errors.As(err, &ve) || ve.Code != CodeVATMandatoryFieldMissing {
		t.Fatalf("FillTotals without box 2 = %v", err)
	}
}

func TestVATObligationsQuery(t *testing.T) {
	d := func(s string) time.Time {
		x, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	var zero time.Time
	tests := []struct {
		name     string
		from, to time.Time
		status   string
		want     map[string]string
		code     string
	}{
		{"Range", d("2025-04-06"), d("2026-04-05"), "", map[string]string{"from": "2025-04-06", "to": "2026-04-05"}, ""},
		{"366Days", d("2025-04-06"), d("2026-04-06"), "F", map[string]string{"from": "2025-04-06", "to": "2026-04-06", "status": "F"}, ""},
		{"OneDay", d("2025-04-06"), d("2025-04-06"), "O", map[string]string{"from": "2025-04-06", "to": "2025-04-06", "status": "O"}, ""},
		{"OpenWithoutDates", zero, zero, "O", map[string]string{"status": "O"}, ""},
		{"367Days", d("2025-04-05"), d("2026-04-06"), "", nil, CodeVATInvalidDateRange},
		{"ToBeforeFrom", d("2025-04-06"), d("2025-04-05"), "", nil, CodeVATInvalidDateRange},
		{"NoDates", zero, zero, "", nil, CodeVATInvalidDateFrom},
		{"FulfilledWithoutDates", zero, zero, "F", nil, CodeVATInvalidDateFrom},
		{"FromOnly", d("2025-04-06"), zero, "", nil, CodeVATInvalidDateTo},
		{"ToOnly", zero, d("2025-04-06"), "", nil, CodeVATInvalidDateFrom},
		{"BadStatus", d("2025-04-06"), d("2025-05-06"), "A", nil, CodeVATInvalidStatus},
		// A date is the calendar date where it is: 23:30 in London on 31
		// March is 31 March, though it is 1 April in UTC... and the other way.
		{"LocalDates", time.Date(2025, 4, 6, 0, 30, 0, 0, time.FixedZone("BST", 3600)), time.Date(2025, 4, 7, 23, 0, 0, 0, time.FixedZone("X", -3600)), "",
			map[string]string{"from": "2025-04-06", "to": "2025-04-07"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := vatObligationsQuery(tt.from, tt.to, tt.status)
			if tt.code != "" {
				if !HasErrorCode(err, tt.code) || q != nil {
					t.Fatalf("= %v, %v; want %s", q, err, tt.code)
				}
				return
			}
			if err != nil || len(q) != len(tt.want) {
				t.Fatalf("= %v, %v; want %v", q, err, tt.want)
			}
			for k, v := range tt.want {
				if q[k] != v {
					t.Errorf("%s = %q, want %q", k, q[k], v)
				}
			}
		})
	}
}

// HMRC's VAT error bodies, as its service writes them, become one APIError
// shape: the code in Code, every field error in Errors with its path.
func TestVATNormalise(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   string
		items  []APIErrorItem
	}{
		{"QueryError", 400, `{"statusCode":400,"message":"INVALID_DATE_RANGE"}`, CodeVATInvalidDateRange, nil},
		{"Flat", 400, `{"code":"VRN_INVALID","message":"The provided Vrn is invalid"}`, CodeVRNInvalid, nil},
		{"FlatWithPath", 400, `{"code":"INVALID_MONETARY_AMOUNT","message":"m","path":"/vatDueSales"}`, CodeVATInvalidMonetaryAmount,
			[]APIErrorItem{{Code: CodeVATInvalidMonetaryAmount, Message: "m", Paths: []string{"/vatDueSales"}}}},
		{"Wrapped", 403, `{"code":"BUSINESS_ERROR","message":"Business validation error","errors":[{"code":"DUPLICATE_SUBMISSION","message":"d"}]}`,
			CodeVATBusinessError, []APIErrorItem{{Code: CodeVATDuplicateSubmission, Message: "d"}}},
		{"Several", 400, `{"code":"INVALID_REQUEST","message":"Invalid request","errors":[{"code":"VAT_NET_VALUE","message":"n","path":"/netVatDue"},{"code":"VAT_TOTAL_VALUE","message":"t","path":"/totalVatDue"}]}`,
			CodeVATInvalidRequest, []APIErrorItem{{Code: CodeVATNetValue, Message: "n", Paths: []string{"/netVatDue"}}, {Code: CodeVATTotalValue, Message: "t", Paths: []string{"/totalVatDue"}}}},
		{"NotJSON", 502, `<html>bad gateway</html>`, "Bad Gateway", nil},
	}
	c := &Client{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &Response{Status: tt.status, Body: []byte(tt.body), Header: http.Header{}}
			ae := c.apiError(resp)
			vatNormalise(ae, resp.Body)
			if ae.Code != tt.code || ae.Message == "" || !slices.EqualFunc(ae.Errors, tt.items, func(a, b APIErrorItem) bool {
				return a.Code == b.Code && a.Message == b.Message && slices.Equal(a.Paths, b.Paths)
			}) {
				t.Fatalf("= %+v", ae)
			}
			for _, it := range tt.items {
				if !HasErrorCode(fmtWrap(ae), it.Code) {
					t.Errorf("HasErrorCode(%s) false", it.Code)
				}
			}
		})
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("context"), errors.Join(err)) }

func TestHasErrorCode(t *testing.T) {
	r := validVATReturn(t)
	r.Finalised = false
	err := errors.Join(errors.New("other"), ValidationErrors(r.Validate()))
	if !HasErrorCode(err, CodeVATNotFinalised) || HasErrorCode(err, CodeVATTotalValue) || HasErrorCode(nil, CodeVATNotFinalised) {
		t.Fatal("HasErrorCode on a joined validation error")
	}
	if !HasErrorCode(&ValidationError{Code: CodeVRNInvalid}, CodeVRNInvalid) {
		t.Fatal("HasErrorCode on *ValidationError")
	}
}

// vatOracle judges a return with math/big, independently of vatParse: the
// written scale (fraction digits minus exponent) for boxes 1–5, the value
// for the ranges, whole pounds for boxes 6–9, then the sums.
func vatOracle(r VATReturn) bool {
	if !regexp.MustCompile(`^[#0-9A-Z]{4}$`).MatchString(r.PeriodKey) || !r.Finalised {
		return false
	}
	rat := func(s string) *big.Rat { x, _ := new(big.Rat).SetString(s); return x }
	scale := func(s string) int {
		m, e, _ := strings.Cut(strings.ToLower(s), "e")
		exp, _ := strconv.Atoi(e)
		_, frac, _ := strings.Cut(m, ".")
		return len(frac) - exp
	}
	in := func(x *big.Rat, lo, hi string) bool { return x.Cmp(rat(lo)) >= 0 && x.Cmp(rat(hi)) <= 0 }
	var v [9]*big.Rat
	for i, b := range r.boxes() {
		s := b.a.String()
		v[i] = rat(s)
		if v[i] == nil {
			return false
		}
		switch {
		case i < 4 && (scale(s) > 2 || !in(v[i], "-9999999999999.99", "9999999999999.99")):
			return false
		case i == 4 && (scale(s) > 2 || !in(v[i], "0", "99999999999.99")):
			return false
		case i > 4 && (!v[i].IsInt() || !in(v[i], "-9999999999999", "9999999999999")):
			return false
		}
	}
	diff := new(big.Rat).Sub(v[2], v[3])
	return new(big.Rat).Add(v[0], v[1]).Cmp(v[2]) == 0 && diff.Abs(diff).Cmp(v[4]) == 0
}

var vatFuzzExponent = regexp.MustCompile(`[eE][+-]?0*[0-9]{3,}`)

func FuzzVATReturnValidate(f *testing.F) {
	f.Add("26A1", "105.50", "-100.45", "5.05", "105.15", "100.10", "300", "300", "3000", "3000", true)
	f.Add("#001", "100", "100", "200", "100", "100", "500", "500", "500", "500", true)
	f.Add("26A1", "1.000", "0", "1.000", "0", "1", "3e2", "300.00", "0", "-0", true)
	f.Add("26A1", "9999999999999.99", "0", "9999999999999.99", "9900000000000", "99999999999.99", "9999999999999", "-9999999999999", "0", "0", true)
	f.Add("26a1", "1e2", "0.5e1", "105", "0", "105", "1E+2", "0", "0", "0", false)
	f.Add("", "-0.01", "0.01", "0", "0", "0", "0.0", "1.5", "1e-1", "0", true)
	f.Fuzz(func(t *testing.T, key, b1, b2, b3, b4, b5, b6, b7, b8, b9 string, finalised bool) {
		var boxes [9]Amount
		for i, s := range []string{b1, b2, b3, b4, b5, b6, b7, b8, b9} {
			// The oracle expands exponents with math/big; keep them small.
			if vatFuzzExponent.MatchString(s) {
				return
			}
			a, err := ParseAmount(s)
			if err != nil {
				return
			}
			boxes[i] = *a
		}
		r := VATReturn{PeriodKey: key, VATDueSales: boxes[0], VATDueAcquisitions: boxes[1], TotalVATDue: boxes[2],
			VATReclaimedCurrPeriod: boxes[3], NetVATDue: boxes[4], TotalValueSalesExVAT: boxes[5], TotalValuePurchasesExVAT: boxes[6],
			TotalValueGoodsSuppliedExVAT: boxes[7], TotalAcquisitionsExVAT: boxes[8], Finalised: finalised}
		errs := r.Validate()
		for _, e := range errs {
			if e.Code == "" || e.Message == "" || len(e.Paths) != 1 {
				t.Fatalf("incomplete error %+v", e)
			}
		}
		if valid := len(errs) == 0; valid != vatOracle(r) {
			t.Fatalf("Validate = %v, oracle says valid=%v for %+v", errs, !valid, r)
		}
		if len(errs) > 0 {
			return
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("a valid return does not marshal: %v", err)
		}
		var again VATReturn
		if err := json.Unmarshal(raw, &again); err != nil || len(again.Validate()) != 0 {
			t.Fatalf("%s: round trip %v %v", raw, err, again.Validate())
		}
	})
}
