package proxy

import "github.com/mtdconnect/mtdconnect"

// Family is one of HMRC's MTD APIs the proxy passes calls on to: every path
// below its Context, for connections of its Purpose.
type Family struct {
	// Name is HMRC's name of the API's service without "-api" (as in
	// developer.service.hmrc.gov.uk/api-documentation/docs/api/service/
	// <name>-api), the API of hmrc.APIError and the family label of the
	// metrics.
	Name    string
	Purpose mtdconnect.Purpose
	// Context is the API's context on HMRC's API host, from its service's
	// conf/application.conf (api.gateway.context), with a leading slash.
	Context string
	segs    []string
}

// Families is the allow-list: the MTD APIs a landlord's connection may be
// used for through the proxy. Each Context was read from the API's service
// repository at github.com/hmrc/<name>-api, conf/application.conf
// (api.gateway.context); the list is the part of HMRC's Income Tax (MTD)
// end-to-end service guide API list (hmrc/income-tax-mtd-end-to-end-service-
// guide, api-list.md) that a landlord with property income needs, and VAT
// (MTD). Nothing else is reachable: not /oauth/*, not the test-support APIs
// (/individuals/self-assessment-test-support, /create-test-user,
// /test/fraud-prevention-headers), not Hello World, and not HMRC's
// non-MTD APIs that share the /individuals/ root (Individuals Income,
// Matching, Details, Employments: other services' data, other audiences).
// docs/API.md lists the same table.
var Families = []*Family{
	{Name: "business-details", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/business/details"},
	{Name: "obligations", Purpose: mtdconnect.PurposeIncomeTax, Context: "/obligations/details"},
	{Name: "property-business", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/business/property"},
	{Name: "individual-calculations", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/calculations"},
	{Name: "individual-losses", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/losses"},
	{Name: "self-assessment-bsas", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/self-assessment/adjustable-summary"},
	{Name: "self-assessment-biss", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/self-assessment/income-summary"},
	{Name: "self-assessment-individual-details", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/person"},
	{Name: "self-assessment-accounts", Purpose: mtdconnect.PurposeIncomeTax, Context: "/accounts/self-assessment"},
	{Name: "individuals-other-income", Purpose: mtdconnect.PurposeIncomeTax, Context: "/individuals/other-income"},
	{Name: "vat", Purpose: mtdconnect.PurposeVAT, Context: "/organisations/vat"},
}

func init() {
	for _, f := range Families {
		f.segs = splitPath(f.Context)
	}
}

// family returns the family whose context segs starts with, nil for none.
func family(segs []string) *Family {
	for _, f := range Families {
		if len(segs) > len(f.segs) && equalSegs(segs[:len(f.segs)], f.segs) {
			return f
		}
	}
	return nil
}

func equalSegs(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
