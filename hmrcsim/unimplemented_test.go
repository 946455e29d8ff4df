package hmrcsim_test

import (
	"net/http"
	"testing"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// A path of an MTD API that the simulator does not implement is answered
// as HMRC's platform answers a path matching no endpoint: 404
// MATCHING_RESOURCE_NOT_FOUND, with a correlation ID, once the token is
// accepted; an expired or missing token gets HMRC's 401 first. Implemented
// endpoints of the same API are untouched, and every request is counted.
func TestUnimplementedMTDPaths(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	tok := e.connect().AccessToken
	before := e.sim.Stats()
	for _, p := range []string{
		"/individuals/losses/AA123456A/brought-forward-losses/tax-year/2025-26",
		"/individuals/self-assessment/adjustable-summary/AA123456A/2025-26",
		"/individuals/self-assessment/income-summary/AA123456A/uk-property/2025-26/XPIS12345678901",
		"/individuals/person/itsa-status/AA123456A/2025-26",
		"/accounts/self-assessment/AA123456A/balance-and-transactions",
		"/individuals/other-income/AA123456A/2025-26",
		"/individuals/business/details/AA123456A/XPIS12345678901/2025-26/accounting-type",
		"/obligations/details/AA123456A/unknown",
		"/individuals/business/property/foreign/AA123456A/XFIS12345678901/cumulative/2025-26",
		"/individuals/calculations/AA123456A/self-assessment",
		"/organisations/vat/123456789/liabilities",
	} {
		r := e.itsa(http.MethodGet, p, tok, "application/vnd.hmrc.1.0+json", "", "")
		if r.status != http.StatusNotFound || r.body["code"] != "MATCHING_RESOURCE_NOT_FOUND" {
			t.Errorf("%s: %d %v", p, r.status, r.body)
		}
	}
	r := e.itsa(http.MethodGet, "/individuals/losses/AA123456A/loss-claims/tax-year/2025-26", "expired-or-made-up", "application/vnd.hmrc.1.0+json", "", "")
	if r.status != http.StatusUnauthorized || r.body["code"] != "INVALID_CREDENTIALS" {
		t.Errorf("bad token: %d %v", r.status, r.body)
	}
	// An implemented endpoint of the same API still answers.
	r = e.itsa(http.MethodGet, "/individuals/business/details/AA123456A/list", tok, "application/vnd.hmrc.2.0+json", "", "")
	if r.status != http.StatusOK {
		t.Errorf("list: %d %v", r.status, r.body)
	}
	after := e.sim.Stats()
	if after.APIRequests-before.APIRequests != 13 || after.Requests-before.Requests != 13 {
		t.Errorf("counted %d API requests and %d requests, want 13 each", after.APIRequests-before.APIRequests, after.Requests-before.Requests)
	}
	// Outside those APIs, the platform's catch-all: counted as a request.
	resp, err := http.Get(e.srv.URL + "/individuals/income/paye")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || e.sim.Stats().Requests != after.Requests+1 {
		t.Errorf("unknown API: %d, %d requests", resp.StatusCode, e.sim.Stats().Requests-after.Requests)
	}
}
