package hmrcsim

import "net/http"

// mtdContexts are the contexts of HMRC's MTD APIs (each service's
// conf/application.conf, api.gateway.context) that a landlord's software
// may call, whether or not the simulator implements their endpoints: those
// it does are registered more specifically elsewhere.
var mtdContexts = []string{
	"/individuals/business/details",                   // business-details-api
	"/obligations/details",                            // obligations-api
	"/individuals/business/property",                  // property-business-api
	"/individuals/calculations",                       // individual-calculations-api
	"/individuals/losses",                             // individual-losses-api
	"/individuals/self-assessment/adjustable-summary", // self-assessment-bsas-api
	"/individuals/self-assessment/income-summary",     // self-assessment-biss-api
	"/individuals/person",                             // self-assessment-individual-details-api
	"/accounts/self-assessment",                       // self-assessment-accounts-api
	"/individuals/other-income",                       // individuals-other-income-api
	"/organisations/vat",                              // vat-api
}

// registerUnimplemented answers any other path below those contexts as
// HMRC's API platform answers a path that matches no endpoint of an API:
// 404 MATCHING_RESOURCE_NOT_FOUND. It is an API request like the others
// (rate limit, faults, X-CorrelationId), and a user-restricted token is
// required first, so a client's refresh-and-retry on 401 works there too.
func registerUnimplemented(s *Server, mux *http.ServeMux) {
	for _, c := range mtdContexts {
		s.handleAPI(mux, c+"/", func(w http.ResponseWriter, r *http.Request) {
			if _, ok := s.apiUser(w, r, ""); !ok {
				return
			}
			writeAPIError(w, http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND", "A resource with the name in the request can not be found in the API")
		})
	}
}
