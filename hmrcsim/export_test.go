package hmrcsim

import "time"

// SetYearEndSandbox switches the year-end APIs to the sandbox-faithful face,
// for tests, until the simulator has one mode option for every API.
func SetYearEndSandbox(s *Server, on bool) {
	s.year.mu.Lock()
	defer s.year.mu.Unlock()
	s.year.sandboxFaithful = on
}

// SetFinalDeclarationLag sets how long a final declaration takes to fulfil
// its obligation, for tests.
func SetFinalDeclarationLag(s *Server, d time.Duration) {
	s.year.mu.Lock()
	defer s.year.mu.Unlock()
	s.year.obligationLag = d
}
