package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/mtdconnect/mtdconnect/landlord"
)

// The admin page of connect links: the return URLs connect sessions may
// send landlords back to. Those set by configuration are listed (they are
// changed where they are set); those stored here are added and removed.

const adminConnectPath = "/admin/connect"

type returnURLRow struct {
	URL, Added string
	Configured bool
}

type adminConnectPage struct {
	Flash    *flash
	Platform string
	URLs     []returnURLRow
	Lifetime string
	Input    string
	Error    string
}

func (s *Server) handleAdminConnect(w http.ResponseWriter, r *http.Request) {
	s.renderAdminConnect(w, r, http.StatusOK, "", "")
}

func (s *Server) renderAdminConnect(w http.ResponseWriter, r *http.Request, status int, input, problem string) {
	page := adminConnectPage{Flash: s.takeFlash(w, r), Platform: s.platformName, Input: input, Error: problem,
		Lifetime: humanDuration(s.landlord.ConnectSessionLifetime())}
	for _, u := range s.landlord.ConfiguredReturnURLs() {
		page.URLs = append(page.URLs, returnURLRow{URL: u, Configured: true})
	}
	stored, err := s.store.ReturnURLs(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for _, u := range stored {
		page.URLs = append(page.URLs, returnURLRow{URL: u.URL, Added: s.formatTime(u.AddedAt) + " by " + s.who(r.Context(), u.AddedBy)})
	}
	title := "Connect links"
	if problem != "" {
		title = "Error: " + title
	}
	s.render(w, r, status, "admin_connect", title, page)
}

func (s *Server) handleAdminReturnURLAdd(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	input := r.PostFormValue("url")
	p, err := s.landlord.AddReturnURL(r.Context(), landlord.ByAdministrator(strconv.FormatInt(u.ID, 10)), u.ID, input)
	var re *landlord.ReturnURLError
	if errors.As(err, &re) {
		s.renderAdminConnect(w, r, http.StatusBadRequest, input, sentence(re.Message))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.setFlash(w, flash{Kind: "success", Text: "Connect sessions may now return to " + p + "."})
	http.Redirect(w, r, adminConnectPath, http.StatusSeeOther)
}

func (s *Server) handleAdminReturnURLRemove(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	url := r.PostFormValue("url")
	err := s.landlord.RemoveReturnURL(r.Context(), landlord.ByAdministrator(strconv.FormatInt(u.ID, 10)), url)
	var re *landlord.ReturnURLError
	switch {
	case errors.As(err, &re):
		s.setFlash(w, flash{Kind: "error", Text: sentence(re.Message)})
	case err != nil:
		s.serverError(w, r, err)
		return
	default:
		s.setFlash(w, flash{Kind: "success", Text: "New connect sessions may no longer return to " + url + "."})
	}
	http.Redirect(w, r, adminConnectPath, http.StatusSeeOther)
}
