package mtdconnect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is a sum of money in pounds, kept as the exact decimal text sent
// on the wire so that HMRC's rules (decimal places, ranges, box sums) can be
// checked exactly, with no float rounding. Build one with Pence or
// ParseAmount, or unmarshal it from a JSON number. The zero Amount is not a
// number: an amount left out.
//
// Income Tax, VAT and the pages all speak of amounts, so the type lives
// here; the ranges each HMRC API allows are checked where its requests are
// built (hmrc/itsa, hmrc/vat).
type Amount struct{ text string }

// Pence returns the amount p/100 pounds, e.g. Pence(123456) is 1234.56.
func Pence(p int64) *Amount {
	neg := p < 0
	u := uint64(p)
	if neg {
		u = -u
	}
	s := fmt.Sprintf("%d.%02d", u/100, u%100)
	if neg {
		s = "-" + s
	}
	return &Amount{text: s}
}

// ParseAmount reads a number in plain decimal notation ("1234.56", "-5",
// "0.5"). Exponents ("1e5"), hexadecimal, digit separators and infinities
// are refused: an amount of money is written the way a person reads it,
// so what is checked is what the landlord meant. It checks no range: the
// HMRC API that takes the amount does.
func ParseAmount(s string) (*Amount, error) {
	if _, ok := parseDecimal(s); !ok {
		return nil, amountError(s)
	}
	return &Amount{text: s}, nil
}

// amountError says why s is not an amount, naming the notation when it is
// a number written another way.
func amountError(s string) error {
	lower := strings.ToLower(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil || strings.ContainsAny(lower, "ex_") ||
		strings.Contains(lower, "inf") || strings.Contains(lower, "nan") {
		return fmt.Errorf("%w, like 1250.00: %s has an exponent, hexadecimal digits, digit separators or an infinity", ErrAmountNotation, s)
	}
	return fmt.Errorf("mtdconnect: %q is not a number", s)
}

// ErrAmountNotation means an amount was a number written other than in
// plain decimal notation ("1e5", "0x10", "1_000", "Inf").
var ErrAmountNotation = errors.New("mtdconnect: amounts must be in plain decimal notation")

// String is the amount as it is sent.
func (a Amount) String() string { return a.text }

// Valid reports whether the amount is a number (the zero Amount is not).
func (a Amount) Valid() bool {
	_, ok := parseDecimal(a.text)
	return ok
}

// Pence returns the amount's value in pence and true when it is a whole
// number of pence of at most 17 digits ("1.000" is 100 pence; "0.001" and
// anything beyond every HMRC range are not).
func (a Amount) Pence() (int64, bool) {
	n, ok := parseDecimal(a.text)
	return n.pence, ok && n.inPence
}

// Scale is the number of decimal places as written, as HMRC's services
// read an amount into a Java BigDecimal: "1.000" is 3. HMRC
// refuses more than 2 where it wants pounds and pence, whatever the value.
func (a Amount) Scale() int {
	n, _ := parseDecimal(a.text)
	return n.scale
}

// MarshalJSON writes the amount as a JSON number.
func (a Amount) MarshalJSON() ([]byte, error) {
	if _, ok := parseDecimal(a.text); !ok {
		return nil, fmt.Errorf("mtdconnect: amount %q is not a number", a.text)
	}
	return []byte(a.text), nil
}

// UnmarshalJSON accepts a JSON number in plain decimal notation only (not
// a string, not an exponent), keeping its text.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if _, ok := parseDecimal(s); !ok {
		if !strings.HasPrefix(s, `"`) {
			return amountError(s)
		}
		return fmt.Errorf("mtdconnect: amount must be a JSON number, not %s", s)
	}
	a.text = s
	return nil
}

// decimal is an amount's text analysed exactly.
type decimal struct {
	scale int   // BigDecimal.scale: digits after the point ("1.000" is 3)
	pence int64 // the value in pence, when inPence
	// inPence: the value is a whole number of pence of at most 17 digits.
	// Anything else is outside every Income Tax and VAT range or below a
	// penny.
	inPence bool
}

func parseDecimal(s string) (decimal, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	run := func() string {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return s[j:i]
	}
	intDigits := run()
	if intDigits == "" || (len(intDigits) > 1 && intDigits[0] == '0') {
		return decimal{}, false
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		if frac = run(); frac == "" {
			return decimal{}, false
		}
	}
	if i != len(s) {
		return decimal{}, false
	}
	n := decimal{scale: len(frac)}
	// value = digits × 10^e, digits without leading or trailing zeros.
	digits := strings.TrimLeft(intDigits+frac, "0")
	e := -n.scale
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		e++
	}
	if digits == "" {
		n.inPence = true
		return n, true
	}
	if e < -2 || len(digits)+e+2 > maxDigitsOfPence {
		return n, true
	}
	p, err := strconv.ParseInt(digits+strings.Repeat("0", e+2), 10, 64)
	if err != nil {
		return n, true
	}
	if neg {
		p = -p
	}
	n.pence, n.inPence = p, true
	return n, true
}

// maxDigitsOfPence: beyond this many digits of pence a value is outside
// every Income Tax and VAT range.
const maxDigitsOfPence = 17
