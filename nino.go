package mtdconnect

import (
	"regexp"
	"strings"
	"unicode"
)

// ninoPattern is the regex every MTD ITSA API uses to validate a NINO
// (ResolveNino.scala in property-business-api, business-details-api,
// obligations-api and individual-calculations-api). The suffix is optional
// there, although the Developer Hub describes it as a letter A–D; we accept
// what HMRC's APIs accept. The trailing space the regex allows never reaches
// it because ParseNINO strips all whitespace first.
var ninoPattern = regexp.MustCompile(`^([ACEHJLMOPRSWXY][A-CEGHJ-NPR-TW-Z]|B[A-CEHJ-NPR-TW-Z]|G[ACEGHJ-NPR-TW-Z]|[KT][A-CEGHJ-MPR-TW-Z]|N[A-CEGHJL-NPR-SW-Z]|Z[A-CEGHJ-NPR-TW-Y])[0-9]{6}[A-D ]?$`)

// ninoShape is the outline of a NINO before its prefix is checked: two
// letters, six digits and an optional letter.
var ninoShape = regexp.MustCompile(`^[A-Z]{2}[0-9]{6}[A-Z]?$`)

// ninoRejectedPrefixes are never allocated (HMRC's reject list). The regex
// above already excludes them; they are listed so the landlord gets the
// prefix message rather than the generic one.
var ninoRejectedPrefixes = map[string]bool{
	"BG": true, "GB": true, "NK": true, "KN": true, "TN": true, "NT": true, "ZZ": true,
}

// NINO problems, in words a landlord reads.
const (
	ninoProblemEmpty  = "must not be empty"
	ninoProblemShape  = "must be 2 letters, 6 digits and a letter A–D, like QQ123456C"
	ninoProblemSuffix = "must end with the letter A, B, C or D (or no letter)"
)

// NINOError says why a National Insurance number was rejected. Problem is a
// sentence fragment a landlord can read ("must not be empty"); Input is what
// they typed, unchanged. Error leaves Input out: a mistyped NINO is still
// personal data, and errors end up in logs.
type NINOError struct {
	Input   string
	Problem string
}

func (e *NINOError) Error() string { return "National Insurance number " + e.Problem }

// ParseNINO normalises and validates a National Insurance number the way
// HMRC's MTD APIs do: all whitespace is removed, ASCII letters are
// upper-cased, and the result must match HMRC's NINO regex (which excludes
// the prefixes BG, GB, NK, KN, TN, NT and ZZ and the first letters D, F, I,
// Q, U, V). The suffix letter is optional, as in HMRC's regex. On success it
// returns the normalised form, e.g. " ab 12 34 56 c" becomes "AB123456C";
// ParseNINO of that result returns it unchanged. On failure the
// error is a *NINOError.
func ParseNINO(s string) (string, error) {
	n := ninoNormalise(s)
	if n == "" {
		return "", &NINOError{Input: s, Problem: ninoProblemEmpty}
	}
	if !ninoShape.MatchString(n) {
		return "", &NINOError{Input: s, Problem: ninoProblemShape}
	}
	prefix := n[:2]
	if ninoRejectedPrefixes[prefix] || !ninoPattern.MatchString(prefix+"000000") {
		return "", &NINOError{Input: s, Problem: "starts with " + prefix + ", which no National Insurance number does"}
	}
	if !ninoPattern.MatchString(n) {
		// The shape and prefix are right, so only the suffix can be wrong.
		return "", &NINOError{Input: s, Problem: ninoProblemSuffix}
	}
	return n, nil
}

// ninoNormalise drops every Unicode whitespace rune and upper-cases ASCII
// letters only, so that no non-ASCII rune can case-map into an ASCII letter
// (for example U+017F LATIN SMALL LETTER LONG S upper-cases to "S").
func ninoNormalise(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			continue
		case 'a' <= r && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// VRNError says why a VAT registration number was rejected, in the same shape
// as NINOError (Error leaves Input out too).
type VRNError struct {
	Input   string
	Problem string
}

func (e *VRNError) Error() string { return "VAT registration number " + e.Problem }

// ParseVRN normalises and validates a VAT registration number: whitespace is
// removed, an optional "GB" prefix (any case) is dropped, and what remains
// must be exactly 9 ASCII digits (HMRC's VAT API regex ^\d{9}$). No
// check-digit test is made, because HMRC's API makes none and sandbox VRNs
// need not pass one. On failure the error is a *VRNError.
func ParseVRN(s string) (string, error) {
	n := ninoNormalise(s)
	if n == "" {
		return "", &VRNError{Input: s, Problem: "must not be empty"}
	}
	n = strings.TrimPrefix(n, "GB")
	if len(n) != 9 || strings.IndexFunc(n, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return "", &VRNError{Input: s, Problem: "must be 9 digits, optionally starting with GB, like GB123456789"}
	}
	return n, nil
}
