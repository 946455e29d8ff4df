package mtdconnect

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAmount(t *testing.T) {
	tests := []struct {
		in    string
		pence int64
		ok    bool // a whole number of pence of at most 17 digits
		scale int
	}{
		{"0", 0, true, 0},
		{"-0", 0, true, 0},
		{"0.00", 0, true, 2},
		{"1234.56", 123456, true, 2},
		{"1234.5", 123450, true, 1},
		{"-1234.56", -123456, true, 2},
		{"99999999999.99", 9999999999999, true, 2},
		{"-99999999999.99", -9999999999999, true, 2},
		{"100000000000", 10000000000000, true, 0},
		{"9999999999999.99", 999999999999999, true, 2},
		{"99999999999.991", 0, false, 3},
		{"1.000", 100, true, 3}, // a whole number of pence, written to 3 places
		{"0.001", 0, false, 3},
		{"99999999999999999999999999", 0, false, 0},
	}
	for _, tt := range tests {
		a, err := ParseAmount(tt.in)
		if err != nil {
			t.Errorf("ParseAmount(%q): %v", tt.in, err)
			continue
		}
		p, ok := a.Pence()
		if ok != tt.ok || (ok && p != tt.pence) {
			t.Errorf("%q.Pence() = %d, %v; want %d, %v", tt.in, p, ok, tt.pence, tt.ok)
		}
		if s := a.Scale(); s != tt.scale {
			t.Errorf("%q.Scale() = %d, want %d", tt.in, s, tt.scale)
		}
		if !a.Valid() || a.String() != tt.in {
			t.Errorf("%q: Valid %v, String %q", tt.in, a.Valid(), a.String())
		}
	}
	for _, s := range []string{"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x10", "1,000", "£5", " 1", "NaN", "1.2.3", `"1"`} {
		if _, err := ParseAmount(s); err == nil {
			t.Errorf("ParseAmount(%q) accepted", s)
		}
	}
	// Plain decimal notation only: what is checked is what a person reads.
	for _, s := range []string{"1e5", "1E5", "1.5e1", "12345e-2", "0x10", "1_000", "Inf", "-Inf", "NaN", "infinity"} {
		_, err := ParseAmount(s)
		if !errors.Is(err, ErrAmountNotation) {
			t.Errorf("ParseAmount(%q): %v, want ErrAmountNotation", s, err)
		}
		var a Amount
		if err := json.Unmarshal([]byte(`{"a":`+s+`}`), &struct{ A *Amount }{&a}); err == nil {
			t.Errorf("JSON %s accepted as an amount", s)
		}
	}
	var plain Amount
	if err := json.Unmarshal([]byte(`1e5`), &plain); !errors.Is(err, ErrAmountNotation) {
		t.Errorf("JSON 1e5: %v, want ErrAmountNotation", err)
	}
	for p, want := range map[int64]string{0: "0.00", 5: "0.05", -5: "-0.05", 123456: "1234.56", -100: "-1.00"} {
		if got := Pence(p).String(); got != want {
			t.Errorf("Pence(%d) = %q, want %q", p, got, want)
		}
	}
	if s := Pence(-9223372036854775808).String(); s != "-92233720368547758.08" {
		t.Errorf("Pence(min) = %q", s)
	}
	var a Amount
	if err := json.Unmarshal([]byte(`"12.00"`), &a); err == nil {
		t.Error("a JSON string was accepted as an amount")
	}
	if _, err := json.Marshal(Amount{}); err == nil {
		t.Error("zero Amount marshalled")
	}
	if (Amount{}).Valid() {
		t.Error("the zero Amount is valid")
	}
}
