package mtdconnect

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// IDHandlePrefix starts the API's name for a landlord without a ref (the
// built-in pages' landlords, a deleted landlord's records): "id:42". A ref
// may not start with it, so the two never collide.
const IDHandlePrefix = "id:"

// MaxRefLength is the longest ref, in characters.
const MaxRefLength = 255

// RefError says why a platform's landlord ID was refused, in words the
// platform's developer reads.
type RefError struct{ Problem string }

func (e *RefError) Error() string { return "the landlord's ID " + e.Problem }

// ParseRef checks a platform's own identifier of a landlord: 1 to 255
// characters of printable UTF-8 (letters, digits, punctuation, symbols and
// the plain space; no control or invisible formatting characters), not
// starting or ending with a space, not "." or ".." (they cannot be a URL
// path segment), and not starting with "id:". It is returned unchanged: refs
// are compared exactly, case and all.
func ParseRef(s string) (string, error) {
	switch {
	case s == "":
		return "", &RefError{Problem: "must not be empty"}
	case !utf8.ValidString(s):
		return "", &RefError{Problem: "must be UTF-8 text"}
	case utf8.RuneCountInString(s) > MaxRefLength:
		return "", &RefError{Problem: "must be at most " + strconv.Itoa(MaxRefLength) + " characters"}
	case strings.HasPrefix(s, IDHandlePrefix):
		return "", &RefError{Problem: `must not start with "id:" (that form names mtdconnect's own numeric IDs)`}
	case s == "." || s == "..":
		return "", &RefError{Problem: `must not be "." or ".."`}
	case strings.TrimSpace(s) != s:
		return "", &RefError{Problem: "must not start or end with a space"}
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", &RefError{Problem: "must hold only printable characters (no control or invisible characters)"}
		}
	}
	return s, nil
}

// RetainUntil is until when a deleted landlord's receipts and audit are
// kept: the later of
//   - 31 January five years after the online filing deadline of the tax
//     year in which the landlord was deleted (HMRC's rule for Making Tax
//     Digital Income Tax records: five years after the 31 January deadline;
//     no quarterly update can be for a later tax year than that one), and
//   - six years after the deletion (HMRC's rule for VAT records).
//
// It returns the first moment they may go: 1 February of that year, UTC.
func RetainUntil(deletedAt time.Time) time.Time {
	// Early April is always British Summer Time (clocks go forward in the
	// last week of March), so UTC+1 gives the UK date across the 5/6 April
	// boundary without the zone database.
	d := deletedAt.In(time.FixedZone("BST", 3600))
	endYear := d.Year() // the tax year ends on 5 April of endYear
	if d.Month() > time.April || d.Month() == time.April && d.Day() > 5 {
		endYear++
	}
	// Filing deadline: 31 January of endYear+1; five years after it.
	incomeTax := time.Date(endYear+6, time.February, 1, 0, 0, 0, 0, time.UTC)
	vat := deletedAt.UTC().AddDate(6, 0, 0)
	if vat.After(incomeTax) {
		return vat
	}
	return incomeTax
}
