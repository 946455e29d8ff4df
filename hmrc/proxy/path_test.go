package proxy

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
)

const (
	ownNINO  = "AA123456A"
	ownVRN   = "123456789"
	apiHost  = "test-api.service.hmrc.gov.uk"
	apiBase  = "https://" + apiHost
	nino     = "/individuals/business/details/" + ownNINO + "/list"
	otherErr = "other"
)

// outcome names what Parse and the identifier check make of a request.
func outcome(method, p, query, identifier string) (string, *Target) {
	t, err := Parse(method, p, query)
	var (
		pe *PathError
		ie *IdentifierError
	)
	switch {
	case errors.Is(err, ErrMethod):
		return "method", nil
	case errors.As(err, &pe):
		return "path", nil
	case errors.Is(err, ErrNotAllowed):
		return "not_allowed", nil
	case err != nil:
		return otherErr, nil
	}
	switch err := t.checkIdentifiers(identifier); {
	case errors.As(err, &ie):
		return "identifier", t
	case err != nil:
		return otherErr, t
	}
	return "ok:" + t.Family.Name, t
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, method, path, query string
		vat                       bool
		want                      string
		sent                      string // the path sent, when not the one given
	}{
		// What the proxy is for, one path of each family.
		{"business details", "GET", nino, "", false, "ok:business-details", ""},
		{"obligations", "GET", "/obligations/details/AA123456A/income-and-expenditure", "typeOfBusiness=uk-property&businessId=XPIS12345678901", false, "ok:obligations", ""},
		{"cumulative", "PUT", "/individuals/business/property/uk/AA123456A/XPIS12345678901/cumulative/2025-26", "", false, "ok:property-business", ""},
		{"annual delete", "DELETE", "/individuals/business/property/AA123456A/XPIS12345678901/annual/2025-26", "", false, "ok:property-business", ""},
		{"furnished holiday lettings", "GET", "/individuals/business/property/uk/annual/furnished-holiday-lettings/AA123456A/2024-25", "", false, "ok:property-business", ""},
		{"calculation", "GET", "/individuals/calculations/AA123456A/self-assessment/2025-26/f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c", "", false, "ok:individual-calculations", ""},
		{"trigger", "POST", "/individuals/calculations/AA123456A/self-assessment/2025-26/trigger/in-year", "", false, "ok:individual-calculations", ""},
		{"losses", "GET", "/individuals/losses/AA123456A/brought-forward-losses/tax-year/2025-26", "", false, "ok:individual-losses", ""},
		{"bsas", "POST", "/individuals/self-assessment/adjustable-summary/AA123456A/trigger", "", false, "ok:self-assessment-bsas", ""},
		{"biss", "GET", "/individuals/self-assessment/income-summary/AA123456A/uk-property/2025-26/XPIS12345678901", "", false, "ok:self-assessment-biss", ""},
		{"itsa status", "GET", "/individuals/person/itsa-status/AA123456A/2025-26", "futureYears=true", false, "ok:self-assessment-individual-details", ""},
		{"accounts", "GET", "/accounts/self-assessment/AA123456A/balance-and-transactions", "onlyOpenItems=true", false, "ok:self-assessment-accounts", ""},
		{"other income", "PUT", "/individuals/other-income/AA123456A/2025-26", "", false, "ok:individuals-other-income", ""},
		{"HEAD", "HEAD", nino, "", false, "ok:business-details", ""},
		{"the NINO without its suffix", "GET", "/individuals/business/details/AA123456/list", "", false, "ok:business-details", ""},
		{"the NINO in lower case", "GET", "/individuals/business/details/aa123456a/list", "", false, "ok:business-details", ""},
		{"VAT obligations", "GET", "/organisations/vat/123456789/obligations", "status=O", true, "ok:vat", ""},
		{"VAT period key with #", "GET", "/organisations/vat/123456789/returns/%23001", "", true, "ok:vat", ""},
		{"escapes are sent anew", "GET", "/individuals/business/details/AA123456A/%6Cist", "", false, "ok:business-details", nino},

		// The form of the path.
		{"empty", "GET", "", "", false, "path", ""},
		{"root", "GET", "/", "", false, "path", ""},
		{"relative", "GET", "individuals/business/details/AA123456A/list", "", false, "path", ""},
		{"dot dot", "GET", "/individuals/business/details/AA123456A/../AB123456C/list", "", false, "path", ""},
		{"dot", "GET", "/individuals/business/details/./AA123456A/list", "", false, "path", ""},
		{"encoded dot dot", "GET", "/individuals/business/details/AA123456A/%2e%2e/AB123456C/list", "", false, "path", ""},
		{"half-encoded dot dot", "GET", "/individuals/business/details/AA123456A/.%2E/list", "", false, "path", ""},
		{"three dots", "GET", "/individuals/business/details/AA123456A/.../list", "", false, "path", ""},
		{"double slash", "GET", "/individuals//business/details/AA123456A/list", "", false, "path", ""},
		{"trailing slash", "GET", nino + "/", "", false, "path", ""},
		{"encoded slash", "GET", "/individuals/business/details/AA123456A%2Flist", "", false, "path", ""},
		{"encoded slash, lower case", "GET", "/individuals%2fbusiness/details/AA123456A/list", "", false, "path", ""},
		{"encoded backslash", "GET", "/individuals/business/details/AA123456A%5Clist", "", false, "path", ""},
		{"encoded backslash, lower case", "GET", "/individuals/business/details/AA123456A%5clist", "", false, "path", ""},
		{"backslash", "GET", `/individuals/business/details/AA123456A\list`, "", false, "path", ""},
		{"double-encoded slash", "GET", "/individuals/business/details/AA123456A%252Flist", "", false, "path", ""},
		{"absolute URL", "GET", "/https://evil.example/individuals/business/details/AA123456A/list", "", false, "path", ""},
		{"scheme and host", "GET", "/https:%2F%2Fevil.example/x", "", false, "path", ""},
		{"colon", "GET", "/individuals/business/details/AA123456A/list:x", "", false, "path", ""},
		{"userinfo", "GET", "/individuals/business/details/user@evil.example/list", "", false, "path", ""},
		{"NUL", "GET", "/individuals/business/details/AA123456A%00/list", "", false, "path", ""},
		{"raw control character", "GET", "/individuals/business/details/AA123456A\t/list", "", false, "path", ""},
		{"encoded newline", "GET", "/individuals/business/details/AA123456A%0d%0aHost:%20evil/list", "", false, "path", ""},
		{"DEL", "GET", "/individuals/business/details/AA123456A%7F/list", "", false, "path", ""},
		{"non-ASCII", "GET", "/individuals/business/details/AA123456A/lïst", "", false, "path", ""},
		{"encoded non-ASCII", "GET", "/individuals/business/details/AA123456A/l%C3%AFst", "", false, "path", ""},
		{"bad escape", "GET", "/individuals/business/details/AA123456A/%zz", "", false, "path", ""},
		{"question mark in the path", "GET", "/individuals/business/details/AA123456A/list%3Fx=1", "", false, "path", ""},
		{"space", "GET", "/individuals/business/details/AA123456A/li%20st", "", false, "path", ""},
		{"too long", "GET", nino + strings.Repeat("/a", maxPathLen), "", false, "path", ""},
		{"malformed query", "GET", nino, "a=%zz", false, "path", ""},
		{"semicolon query", "GET", nino, "a=1;b=2", false, "path", ""},
		{"query control character", "GET", nino, "a=%00", false, "path", ""},
		{"query too long", "GET", nino, "a=" + strings.Repeat("x", maxQueryLen), false, "path", ""},

		// What the proxy never reaches.
		{"token endpoint", "POST", "/oauth/token", "", false, "not_allowed", ""},
		{"authorize", "GET", "/oauth/authorize", "", false, "not_allowed", ""},
		{"test support", "POST", "/individuals/self-assessment-test-support/business/AA123456A", "", false, "not_allowed", ""},
		{"test support vendor state", "DELETE", "/individuals/self-assessment-test-support/vendor-state", "", false, "not_allowed", ""},
		{"create test user", "POST", "/create-test-user/individuals", "", false, "not_allowed", ""},
		{"fraud header validator", "GET", "/test/fraud-prevention-headers/validate", "", false, "not_allowed", ""},
		{"hello", "GET", "/hello/user", "", false, "not_allowed", ""},
		{"non-MTD individuals API", "GET", "/individuals/income/paye", "matchId=1", false, "not_allowed", ""},
		{"a context alone", "GET", "/individuals/business/details", "", false, "not_allowed", ""},
		{"a context's prefix", "GET", "/individuals/business/detailsx/AA123456A/list", "", false, "not_allowed", ""},
		{"check a VAT number", "GET", "/organisations/vat/check-vat-number/lookup/123456789", "", true, "not_allowed", ""},
		{"OPTIONS", "OPTIONS", nino, "", false, "method", ""},
		{"TRACE", "TRACE", nino, "", false, "method", ""},
		{"lower-case method", "get", nino, "", false, "method", ""},

		// Someone else's identifiers.
		{"another NINO", "GET", "/individuals/business/details/AB123456C/list", "", false, "identifier", ""},
		{"another NINO, lower case", "GET", "/individuals/business/details/ab123456c/list", "", false, "identifier", ""},
		{"another NINO after the landlord's", "GET", "/individuals/business/details/AA123456A/AB123456C", "", false, "identifier", ""},
		{"another NINO in the query", "GET", "/obligations/details/AA123456A/income-and-expenditure", "nino=AB123456C", false, "identifier", ""},
		{"no NINO", "GET", "/individuals/calculations/self-assessment/2025-26", "", false, "identifier", ""},
		{"another VRN", "GET", "/organisations/vat/987654321/obligations", "", true, "identifier", ""},
		{"another VRN later", "GET", "/organisations/vat/123456789/returns/987654321", "", true, "identifier", ""},
		{"a NINO in a VAT path", "GET", "/organisations/vat/123456789/AA123456A", "", true, "identifier", ""},
		{"another VRN in the query", "GET", "/organisations/vat/123456789/obligations", "vrn=987654321", true, "identifier", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := ownNINO
			if tt.vat {
				id = ownVRN
			}
			got, target := outcome(tt.method, tt.path, tt.query, id)
			if got != tt.want {
				t.Fatalf("%s %s?%s: %s, want %s", tt.method, tt.path, tt.query, got, tt.want)
			}
			if target == nil || !strings.HasPrefix(got, "ok:") {
				return
			}
			want := tt.sent
			if want == "" {
				want = tt.path
			}
			if target.Path != want {
				t.Errorf("sends %s, want %s", target.Path, want)
			}
		})
	}
}

// A landlord whose identifier is unknown is refused, never waved through.
func TestCheckIdentifiersNeedsOne(t *testing.T) {
	tg, err := Parse("GET", nino, "")
	if err != nil {
		t.Fatal(err)
	}
	var ie *IdentifierError
	if err := tg.checkIdentifiers(""); !errors.As(err, &ie) {
		t.Errorf("no identifier: %v", err)
	}
}

// FuzzParse checks what may be sent to HMRC whatever a platform sends: a
// path accepted is on HMRC's API host, below an allowed family's context,
// with no empty or dot segment and no encoded slash, and parsing what is
// sent gives it back unchanged; an identifier check passed means every
// NINO- or VRN-shaped segment is the landlord's. The seeds run with go
// test.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		nino, "/individuals/business/details/AB123456C/list", "/obligations/details/AA123456A/income-and-expenditure",
		"/individuals/business/property/uk/AA123456A/XPIS12345678901/cumulative/2025-26",
		"/individuals/calculations/AA123456A/self-assessment/2025-26/trigger/in-year",
		"/organisations/vat/123456789/returns/%23001", "/organisations/vat/987654321/obligations",
		"/individuals/business/details/AA123456A/../AB123456C/list", "/individuals/business/details/%2e%2e/x",
		"/individuals/business/details/AA123456A%2Flist", "/individuals/business/details/AA123456A%5clist",
		"/https://evil.example/x", "//evil.example/individuals/business/details/AA123456A/list", "/oauth/token",
		"/individuals/self-assessment-test-support/business/AA123456A", "/individuals/business/details/AA123456A%00",
		"/individuals/business/details/AA123456A/%252F", `/individuals\business`, "/organisations/vat/check-vat-number/lookup/1",
	} {
		f.Add("GET", s, "")
		f.Add("PUT", s, "a=1&nino=AB123456C")
	}
	f.Fuzz(func(t *testing.T, method, p, query string) {
		tg, err := Parse(method, p, query)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) && !errors.Is(err, ErrNotAllowed) && !errors.Is(err, ErrMethod) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !strings.HasPrefix(tg.Path, tg.Family.Context+"/") || strings.Contains(tg.Path, "//") {
			t.Fatalf("sends %q for family %s", tg.Path, tg.Family.Name)
		}
		u, err := url.Parse(apiBase + tg.Path)
		if err != nil || u.Host != apiHost || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("sends %q: %v %+v", tg.Path, err, u)
		}
		if path.Clean(u.Path) != u.Path {
			t.Fatalf("sends %q, which is not clean", tg.Path)
		}
		lower := strings.ToLower(tg.Path)
		for _, bad := range []string{"%2f", "%5c", "%2e", "%00", "\\", ":"} {
			if strings.Contains(lower, bad) {
				t.Fatalf("sends %q, with %s", tg.Path, bad)
			}
		}
		again, err := Parse(method, tg.Path, query)
		if err != nil || again.Path != tg.Path || again.Family != tg.Family {
			t.Fatalf("what is sent, %q, parses as %v %v", tg.Path, again, err)
		}
		owner := ownNINO
		if tg.Family.Purpose == "vat" {
			owner = ownVRN
		}
		if tg.checkIdentifiers(owner) != nil {
			return
		}
		for _, s := range tg.segs {
			if ninoShape.MatchString(s) && !strings.EqualFold(s[:8], ownNINO[:8]) || vrnShape.MatchString(s) && tg.Family.Purpose == "vat" && s != ownVRN {
				t.Fatalf("%q passed the check of %s", tg.Path, owner)
			}
		}
	})
}
