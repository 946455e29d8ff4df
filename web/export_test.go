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
