package web

// APIRoutes lists the API's routes and the scope each needs, for the test
// that the OpenAPI description describes every one.
func APIRoutes(s *Server) map[string]string {
	out := map[string]string{}
	for _, rt := range s.apiRoutes() {
		out[rt.pattern] = string(rt.scope)
	}
	return out
}
