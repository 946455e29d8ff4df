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
	// As at HMRC, the token must carry scope "hello": an Income Tax or VAT
	// connection's token is refused (403 INVALID_SCOPE).
	if _, ok := s.apiUser(w, r, "hello"); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "Hello User"})
}
