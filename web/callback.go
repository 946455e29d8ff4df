package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// handleCallback is where HMRC sends the landlord back, with ?code&state or
// ?error=access_denied&state. The query carries a credential (the code):
// it is never logged, and the answer forbids Referer headers, so the URL
// does not travel on with the page's stylesheet, script or links.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	// A connect session's answer (no one signs in), or a signed-in
	// landlord's.
	if state := r.URL.Query().Get("state"); state != "" {
		cs, err := s.landlord.ConnectSessionByState(r.Context(), state)
		if err == nil {
			s.connectCallback(w, r, cs)
			return
		}
		if !errors.Is(err, mtdconnect.ErrNotFound) {
			s.serverError(w, r, err)
			return
		}
	}
	u, err := s.sessionUser(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if u == nil {
		s.renderMessage(w, r, http.StatusUnauthorized, message{
			Title:  "Sign in and try connecting again",
			Text:   "You are not signed in, so this reply from HMRC was not used. Nothing was changed. Sign in and try connecting again.",
			SignIn: true,
		})
		return
	}
	// The landlord is signed in: the answer's pages keep the menu.
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		s.callbackFailed(w, r, errMissingState)
		return
	}
	if e := q.Get("error"); e != "" {
		// HMRC documents access_denied as the only error it redirects
		// with; treat any as the landlord not granting authority.
		purpose, err := s.landlord.DenyConnect(ctx, landlord.ByLandlord(u.ID), u.ID, state, q.Get("error_description"))
		if err != nil && !isStateError(err) {
			s.serverError(w, r, err)
			return
		}
		if err != nil {
			s.log.Info("consent denied with an unusable state", "user_id", u.ID, "err", err)
		}
		// Back to the tax the landlord was connecting for (an unusable
		// state does not say: Income Tax's, the first tab).
		if purpose == "" {
			purpose = mtdconnect.PurposeIncomeTax
		}
		back := message{Title: "You did not grant authority", Text: "You chose not to grant authority at HMRC. Nothing was changed.",
			Back: true, BackURL: settingsURL(purpose), BackText: "Back to your HMRC connection for " + purpose.Label()}
		s.renderMessage(w, r, http.StatusOK, back)
		return
	}
	conn, err := s.landlord.CompleteConnect(ctx, landlord.ByLandlord(u.ID), u.ID, state, q.Get("code"))
	if err != nil {
		s.callbackFailed(w, r, err)
		return
	}
	s.setFlash(w, flash{Kind: "success", Text: "Connected to HMRC."})
	http.Redirect(w, r, settingsURL(conn.Purpose), http.StatusSeeOther)
}

func isStateError(err error) bool {
	return errors.Is(err, hmrc.ErrStateUnknown) || errors.Is(err, hmrc.ErrStateExpired) || errors.Is(err, hmrc.ErrStateOtherUser)
}

func (s *Server) callbackFailed(w http.ResponseWriter, r *http.Request, err error) {
	p := s.logProblem(r, err)
	s.renderMessage(w, r, p.Status, message{Title: p.Title, Text: p.Message, Back: true})
}
