package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/mtdconnect/mtdconnect"
)

// Limits on what a platform may send, far above any MTD path or query.
const (
	maxPathLen  = 1024
	maxQueryLen = 2048
)

// Methods are the HTTP methods passed on; HMRC's MTD APIs use GET, POST,
// PUT and DELETE. Others (OPTIONS, TRACE, CONNECT) are refused.
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Refusals of a request before anything is sent.
var (
	// ErrNotAllowed: the path is well formed but not below the context of
	// an allowed family (Families).
	ErrNotAllowed = errors.New("proxy: the path is not in one of the MTD APIs the proxy passes calls on to")
	// ErrMethod: a method not in Methods.
	ErrMethod = errors.New("proxy: the method is not passed on")
)

// PathError is a path or query refused for its form (an encoded slash, a
// dot segment, an absolute URL...). Problem says what, without quoting the
// path, which may hold a NINO.
type PathError struct{ Problem string }

func (e *PathError) Error() string { return "proxy: the path " + e.Problem }

// IdentifierError is a path or query that names a NINO or VRN other than
// the landlord's, or none where one is needed: a landlord's authority is
// used for their own identifiers only. Problem names no identifier.
type IdentifierError struct{ Problem string }

func (e *IdentifierError) Error() string { return "proxy: the path " + e.Problem }

// Target is a request the proxy may pass on, once its identifiers are
// checked against the landlord's (Request.Identifier): a method and a path
// below an allowed family's context, its segments percent-encoded afresh.
type Target struct {
	Family *Family
	Method string
	Path   string     // as sent to HMRC, e.g. /individuals/business/details/AA123456A/list
	Query  url.Values // as sent to HMRC, encoded anew
	segs   []string   // the path's segments, decoded
}

// Shapes of the landlord's identifiers in a path: any segment shaped like
// a NINO (any case, the suffix letter optional) or a VRN (9 digits) is
// taken as naming a taxpayer, whatever its place.
var (
	ninoShape = regexp.MustCompile(`(?i)^[A-Z]{2}[0-9]{6}[A-Z]?$`)
	vrnShape  = regexp.MustCompile(`^[0-9]{9}$`)
)

// Parse checks a request of the platform's for the proxy: method, then the
// path as the platform sent it (escaped, below HMRC's API host, starting
// with /) and the raw query. It refuses, with a *PathError, anything that
// could reach other than the endpoint it seems to name: a segment that is
// empty (//), a dot segment (. or .., encoded or not), an encoded slash or
// backslash, a backslash, a colon (an absolute URL), a control character,
// a character outside ASCII, and any character HMRC's MTD paths do not use
// (each decoded segment is letters, digits and - . _ ~ #). A well-formed
// path outside the allowed families is ErrNotAllowed; the VAT family also
// needs a VRN right after its context.
func Parse(method, escapedPath, rawQuery string) (*Target, error) {
	if !slices.Contains(Methods, method) {
		return nil, ErrMethod
	}
	segs, err := parsePath(escapedPath)
	if err != nil {
		return nil, err
	}
	query, err := parseQuery(rawQuery)
	if err != nil {
		return nil, err
	}
	f := family(segs)
	if f == nil {
		return nil, ErrNotAllowed
	}
	if f.Purpose == mtdconnect.PurposeVAT && !vrnShape.MatchString(segs[len(f.segs)]) {
		// /organisations/vat/check-vat-number/… is another API.
		return nil, ErrNotAllowed
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return &Target{Family: f, Method: method, Path: b.String(), Query: query, segs: segs}, nil
}

func splitPath(p string) []string { return strings.Split(strings.TrimPrefix(p, "/"), "/") }

func parsePath(p string) ([]string, error) {
	switch {
	case p == "" || p == "/":
		return nil, &PathError{Problem: "is empty: name an MTD API path, such as /individuals/business/details/{nino}/list"}
	case len(p) > maxPathLen:
		return nil, &PathError{Problem: fmt.Sprintf("is longer than %d characters", maxPathLen)}
	case p[0] != '/':
		return nil, &PathError{Problem: "must start with /"}
	}
	raw := splitPath(p)
	segs := make([]string, len(raw))
	for i, r := range raw {
		if r == "" {
			return nil, &PathError{Problem: "has an empty segment (// or a trailing /)"}
		}
		if err := checkRaw(r); err != nil {
			return nil, err
		}
		lower := strings.ToLower(r)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
			return nil, &PathError{Problem: "has an encoded slash or backslash (%2F, %5C)"}
		}
		s, err := url.PathUnescape(r)
		if err != nil {
			return nil, &PathError{Problem: "has a malformed percent-escape"}
		}
		if strings.Trim(s, ".") == "" {
			return nil, &PathError{Problem: "has a dot segment (. or .., encoded or not)"}
		}
		for j := 0; j < len(s); j++ {
			switch c := s[j]; {
			case c < 0x20 || c == 0x7f:
				return nil, &PathError{Problem: "has a control character (encoded)"}
			case c >= 0x80:
				return nil, &PathError{Problem: "has a character outside ASCII (encoded)"}
			case c == ':':
				return nil, &PathError{Problem: "has a colon: an absolute URL or another host is never passed on"}
			case !pathChar(c):
				return nil, &PathError{Problem: fmt.Sprintf("has the character %q, which HMRC's MTD paths do not use", c)}
			}
		}
		segs[i] = s
	}
	return segs, nil
}

// checkRaw refuses what must not appear in a path even before decoding.
func checkRaw(r string) error {
	for j := 0; j < len(r); j++ {
		switch c := r[j]; {
		case c < 0x20 || c == 0x7f:
			return &PathError{Problem: "has a control character"}
		case c >= 0x80:
			return &PathError{Problem: "has a character outside ASCII"}
		case c == '\\':
			return &PathError{Problem: "has a backslash"}
		}
	}
	return nil
}

// pathChar reports whether c may appear in a decoded segment: what HMRC's
// MTD path parameters are made of (NINOs, tax years, business and
// calculation IDs, dates, VAT period keys, which may hold #).
func pathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '#'
}

func parseQuery(raw string) (url.Values, error) {
	if len(raw) > maxQueryLen {
		return nil, &PathError{Problem: fmt.Sprintf("has a query longer than %d characters", maxQueryLen)}
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &PathError{Problem: "has a malformed query string"}
	}
	for k, vs := range q {
		for _, v := range append([]string{k}, vs...) {
			if strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
				return nil, &PathError{Problem: "has a control character in its query"}
			}
		}
	}
	return q, nil
}

// checkIdentifiers refuses a target that names a taxpayer other than the
// landlord whose identifier (NINO for Income Tax, VRN for VAT) is given, or
// that names none of theirs: every MTD path of a taxpayer's data names
// them. Income Tax paths must name the landlord's NINO, and any segment or
// query value shaped like a NINO must be it; VAT paths name the landlord's
// VRN after the context, and any segment or query value shaped like a VRN
// must be it and none like a NINO. NINOs are compared without their
// optional suffix letter, which HMRC's APIs accept either way.
func (t *Target) checkIdentifiers(identifier string) error {
	if identifier == "" {
		return &IdentifierError{Problem: "cannot be checked: the landlord has no identifier for " + t.Family.Purpose.Label()}
	}
	vat := t.Family.Purpose == mtdconnect.PurposeVAT
	own := false
	check := func(v string) error {
		switch {
		case ninoShape.MatchString(v) && !vat && sameNINO(v, identifier):
			own = true
		case ninoShape.MatchString(v):
			return &IdentifierError{Problem: "names a National Insurance number that is not the landlord's"}
		case vat && vrnShape.MatchString(v) && v == identifier:
			own = true
		case vat && vrnShape.MatchString(v):
			return &IdentifierError{Problem: "names a VAT registration number that is not the landlord's"}
		}
		return nil
	}
	for _, s := range t.segs[len(t.Family.segs):] {
		if err := check(s); err != nil {
			return err
		}
	}
	for _, vs := range t.Query {
		for _, v := range vs {
			if err := check(v); err != nil {
				return err
			}
		}
	}
	if !own {
		what := "the landlord's National Insurance number"
		if vat {
			what = "the landlord's VAT registration number"
		}
		return &IdentifierError{Problem: "does not name " + what + ", as every path of the landlord's data at HMRC does"}
	}
	return nil
}

func sameNINO(a, b string) bool {
	return len(a) >= 8 && len(b) >= 8 && strings.EqualFold(a[:8], b[:8])
}
