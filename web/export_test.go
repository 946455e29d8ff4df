package web

import "strings"

// APIRoutes lists the API's routes and the scope each needs, for the test
// that the OpenAPI description describes every one. A wildcard of several
// segments ({path...}) is written as OpenAPI's path parameter ({path}).
func APIRoutes(s *Server) map[string]string {
	out := map[string]string{}
	for _, rt := range s.apiRoutes() {
		out[strings.ReplaceAll(rt.pattern, "...}", "}")] = string(rt.scope)
	}
	return out
}

// BrowserRoutes lists the patterns of the browser side's pages and forms
// ("GET /quarterly/receipts/{id}"), for the tests that probe every one.
func BrowserRoutes(s *Server) []string {
	var out []string
	for _, rt := range s.browserRoutes() {
		out = append(out, rt.pattern)
	}
	return out
}
