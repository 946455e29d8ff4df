package hmrcsim

import "net/http"

// HMRC's Hello World API: one endpoint per access level, for connectivity
// checks of each kind of token.

func (s *Server) helloWorld(w http.ResponseWriter, r *http.Request) {
	if !requireAccept(w, r, "1.0") {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "Hello World"})
}

func (s *Server) helloApplication(w http.ResponseWriter, r *http.Request) {
	if !requireAccept(w, r, "1.0") {
		return
	}
	if _, ok := s.apiApplication(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "Hello Application"})
}

func (s *Server) helloUser(w http.ResponseWriter, r *http.Request) {
	if !requireAccept(w, r, "1.0") {
		return
	}
	// HMRC wants scope "hello"; any user-restricted token will do here, so the
	// ITSA and VAT journeys can use it as a cheap token check.
	if _, ok := s.apiUser(w, r, ""); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "Hello User"})
}
