package web

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// purposeOf reads the optional purpose (itsa, the default, or vat) from a
// query or form.
func purposeOf(r *http.Request) (mtdconnect.Purpose, error) {
	v := r.FormValue("purpose")
	if v == "" {
		return mtdconnect.PurposeIncomeTax, nil
	}
	p := mtdconnect.Purpose(v)
	if !p.Valid() {
		return "", errBadRequest
	}
	return p, nil
}

func settingsURL(p mtdconnect.Purpose) string {
	if p == mtdconnect.PurposeIncomeTax {
		return "/settings/hmrc"
	}
	return "/settings/hmrc?purpose=" + url.QueryEscape(string(p))
}

type purposeTab struct {
	Value   mtdconnect.Purpose
	Label   string
	Current bool
}

type activityRow struct {
	At, What, Purpose, Detail string
}

type settingsPage struct {
	Purpose      mtdconnect.Purpose
	PurposeLabel string
	Purposes     []purposeTab
	Flash        *flash

	Status, StatusCode, Reason string
	HasConnection              bool // connected or needing reconnect
	Connected                  bool
	NeedsReconnect             bool

	ConnectedSince string
	Scopes         []string
	AccessExpires  string
	AuthorityEnds  string
	LastRefreshed  string

	Activity           []activityRow
	ManageAuthorityURL string

	// Reminders: what is due next for Income Tax, and the connections
	// whose authority ends within renewWithin.
	DueNext []dueRow
	Renew   []renewRow

	// The National Insurance number, asked for on the Income Tax tab.
	ShowNINO  bool
	NINO      string // as stored, empty until given
	NINOInput string // what was typed, when it was refused
	NINOError string
}

// renewWithin is how long before HMRC's authority ends the pages ask the
// landlord to renew it.
const renewWithin = 30 * 24 * time.Hour

// dueRow is one thing due, as the pages say it.
type dueRow struct {
	What, Due, Link, LinkText string
	// State is open, overdue or due_before_connected, worded as on the
	// obligations' pages (landlord.State).
	State landlord.State
}

// renewRow is a connection whose authority ends soon.
type renewRow struct {
	Purpose      mtdconnect.Purpose
	PurposeLabel string
	Ends, In     string
}

var auditLabels = map[string]string{
	mtdconnect.AuditConnected:          "Connected",
	mtdconnect.AuditRefreshed:          "Access refreshed",
	mtdconnect.AuditRefreshFailed:      "Problem with HMRC",
	mtdconnect.AuditRefreshInterrupted: "Refresh interrupted",
	mtdconnect.AuditNeedsReconnect:     "Needs reconnect",
	mtdconnect.AuditDisconnected:       "Disconnected",
	mtdconnect.AuditConsentDenied:      "Authority not granted",
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	purpose, err := purposeOf(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page, err := s.settingsPage(w, r, purpose)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "settings_hmrc", "HMRC connection", page)
}

// settingsPage gathers what the settings page of purpose shows.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, purpose mtdconnect.Purpose) (settingsPage, error) {
	u := currentUser(r.Context())
	page := settingsPage{
		Purpose:            purpose,
		PurposeLabel:       purpose.Label(),
		Flash:              s.takeFlash(w, r),
		ManageAuthorityURL: s.manageAuthorityURL,
		ShowNINO:           purpose == mtdconnect.PurposeIncomeTax,
		NINO:               u.NINO,
	}
	for _, p := range []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT} {
		page.Purposes = append(page.Purposes, purposeTab{Value: p, Label: p.Label(), Current: p == purpose})
	}
	st, err := s.landlord.Status(r.Context(), u.ID, purpose)
	if err != nil {
		return page, err
	}
	// The value alone: the summary's label says "Status".
	page.StatusCode, page.Status = string(st.Status), st.Status.Label()
	if st.Status != mtdconnect.StatusNotConnected {
		now := s.now()
		page.HasConnection = true
		page.Connected = st.Connected()
		page.NeedsReconnect = st.Status == mtdconnect.StatusNeedsReconnect
		page.Reason = st.Reason
		page.ConnectedSince = s.formatTime(st.ConnectedSince)
		page.Scopes = st.Scopes
		if d := st.AccessTokenExpiresAt.Sub(now); d > 0 {
			page.AccessExpires = "Expires in " + humanDuration(d)
		} else {
			page.AccessExpires = "Expired; it is refreshed when next needed"
		}
		page.AuthorityEnds = s.formatDate(st.AuthorityEndsAt)
		page.LastRefreshed = "never"
		if !st.LastRefreshAt.IsZero() {
			page.LastRefreshed = s.formatTime(st.LastRefreshAt) + " (" + humanDuration(now.Sub(st.LastRefreshAt)) + " ago)"
		}
	}
	if err := s.reminders(r, u, &page); err != nil {
		return page, err
	}
	events, err := s.store.Audit(r.Context(), u.ID, 10)
	if err != nil {
		return page, err
	}
	for _, e := range events {
		what := auditLabels[e.Kind]
		if what == "" {
			what = e.Kind
		}
		page.Activity = append(page.Activity, activityRow{
			At: s.formatTime(e.At), What: what, Purpose: e.Purpose.Label(), Detail: e.Detail,
		})
	}
	return page, nil
}

// handleNINO saves the landlord's National Insurance number, normalised
// (spaces removed, upper case). One that HMRC's rule refuses changes
// nothing: the page comes back with what was typed and what is wrong with
// it, next to the field.
func (s *Server) handleNINO(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.saveNINO(w, r, true); !ok {
		return
	}
	// The flash cookie is signed, not encrypted: the number stays out of
	// it (the page shows it in the field).
	s.setFlash(w, flash{Kind: "success", Text: "Your National Insurance number is saved."})
	http.Redirect(w, r, settingsURL(mtdconnect.PurposeIncomeTax), http.StatusSeeOther)
}

// saveNINO saves the National Insurance number posted in the Income Tax
// tab's form, which Connect and Test connection submit too: what the
// landlord typed next to those buttons is never thrown away. An empty
// field changes nothing unless required. It returns the landlord as saved,
// or false when it answered with the page and the field's error (nothing
// changed).
func (s *Server) saveNINO(w http.ResponseWriter, r *http.Request, required bool) (*mtdconnect.User, bool) {
	u := currentUser(r.Context())
	input := r.PostFormValue("nino")
	if strings.TrimSpace(input) == "" && !required {
		return u, true
	}
	nino, err := mtdconnect.ParseNINO(input)
	if err != nil {
		var ne *mtdconnect.NINOError
		if !errors.As(err, &ne) {
			s.serverError(w, r, err)
			return nil, false
		}
		s.ninoRefused(w, r, input, "Your National Insurance number "+ne.Problem+".")
		return nil, false
	}
	if nino != u.NINO {
		updated := *u
		updated.NINO = nino
		if err := s.store.UpdateUser(r.Context(), &updated); err != nil {
			s.serverError(w, r, err)
			return nil, false
		}
		s.log.Info("national insurance number saved", "user_id", u.ID)
		u = &updated
	}
	return u, true
}

// ninoRefused answers with the Income Tax settings page, problem next to
// the National Insurance number field and what was typed kept in it.
func (s *Server) ninoRefused(w http.ResponseWriter, r *http.Request, input, problem string) {
	page, err := s.settingsPage(w, r, mtdconnect.PurposeIncomeTax)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.NINOInput = input
	page.NINOError = problem
	s.render(w, r, http.StatusBadRequest, "settings_hmrc", "Error: HMRC connection", page)
}

// handleConnect starts the authorisation and sends the browser to HMRC.
// It is a POST so that cross-origin protection covers it.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	purpose, err := purposeOf(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if purpose == mtdconnect.PurposeIncomeTax {
		if _, ok := s.saveNINO(w, r, false); !ok {
			return
		}
	}
	authURL, _, err := s.landlord.StartConnect(r.Context(), landlord.ByLandlord(u.ID), u.ID, purpose, "")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	purpose, err := purposeOf(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.landlord.Refresh(r.Context(), landlord.ByLandlord(u.ID), u.ID, purpose); err != nil {
		s.flashError(w, r, err)
	} else {
		s.setFlash(w, flash{Kind: "success", Text: "Refreshed. HMRC issued a new access token."})
	}
	http.Redirect(w, r, settingsURL(purpose), http.StatusSeeOther)
}

// handleTest asks HMRC something the connection allows. On the Income Tax
// tab the National Insurance number typed next to the button is saved
// first; with none, the field says so, on the page where it is entered.
func (s *Server) handleTest(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	purpose, err := purposeOf(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if purpose == mtdconnect.PurposeIncomeTax {
		var ok bool
		if u, ok = s.saveNINO(w, r, false); !ok {
			return
		}
		if u.NINO == "" {
			s.ninoRefused(w, r, "", "Enter your National Insurance number to test your Income Tax connection: HMRC finds your property business with it.")
			return
		}
	}
	origin, err := s.browserOrigin(r, u)
	if err != nil {
		s.flashError(w, r, err)
	} else if msg, err := s.landlord.Test(r.Context(), landlord.ByLandlord(u.ID), u.ID, purpose, origin, ""); err != nil {
		s.flashError(w, r, err)
	} else {
		s.setFlash(w, flash{Kind: "success", Text: msg})
	}
	http.Redirect(w, r, settingsURL(purpose), http.StatusSeeOther)
}

// handleDisconnect asks first; with confirm=yes it deletes the tokens and
// explains how to remove the authority at HMRC too.
func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	purpose, err := purposeOf(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.render(w, r, http.StatusOK, "disconnect", "Disconnect from HMRC",
			struct {
				Purpose      mtdconnect.Purpose
				PurposeLabel string
			}{purpose, purpose.Label()})
		return
	}
	if err := s.landlord.Disconnect(r.Context(), landlord.ByLandlord(u.ID), u.ID, purpose); err != nil {
		s.flashError(w, r, err)
	} else {
		f := flash{Kind: "success", Text: "Disconnected from HMRC. mtdconnect has deleted its keys for your " +
			purpose.Label() + " connection.", Disconnected: true}
		// HMRC lists mtdconnect once, with every permission it was given:
		// removing it there ends the other connection too.
		for _, other := range []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT} {
			if other == purpose {
				continue
			}
			if st, err := s.landlord.Status(r.Context(), u.ID, other); err == nil && st.Status != mtdconnect.StatusNotConnected {
				f.AlsoEnds = other.Label()
			}
		}
		s.setFlash(w, f)
	}
	http.Redirect(w, r, settingsURL(purpose), http.StatusSeeOther)
}

// flashError shows err on the next settings page, in words from classify.
func (s *Server) flashError(w http.ResponseWriter, r *http.Request, err error) {
	p := s.logProblem(r, err)
	s.setFlash(w, flash{Kind: "error", Text: p.Message})
}

// reminders fills in what is due next (Income Tax, from the obligations
// the landlord service kept: no HMRC call on any view of the page) and
// the authorities that end within renewWithin. What HMRC cannot be asked
// (no NINO, no connection) or will not answer now leaves the list out; the
// page is still shown.
func (s *Server) reminders(r *http.Request, u *mtdconnect.User, page *settingsPage) error {
	ctx := r.Context()
	now := s.now()
	itsaConnected := false
	var itsaSince time.Time
	for _, p := range []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT} {
		st, err := s.landlord.Status(ctx, u.ID, p)
		if err != nil {
			return err
		}
		if !st.Connected() {
			continue
		}
		if p == mtdconnect.PurposeIncomeTax {
			itsaConnected, itsaSince = true, st.ConnectedSince
		}
		if left := st.AuthorityEndsAt.Sub(now); !st.AuthorityEndsAt.IsZero() && left <= renewWithin {
			page.Renew = append(page.Renew, renewRow{Purpose: p, PurposeLabel: p.Label(),
				Ends: s.formatDate(st.AuthorityEndsAt), In: humanDuration(left)})
		}
	}
	if !itsaConnected || u.NINO == "" {
		return nil
	}
	due, err := s.landlord.DueNext(ctx, u.ID)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "reminders left out", requestAttrs(r), slog.String("err", err.Error()))
		return nil
	}
	today := now.In(s.london).Format(time.DateOnly)
	for _, d := range due {
		row := dueRow{Due: s.formatDay(d.Due), State: landlord.StateOf(false, false, d.Due, today, itsaSince)}
		ty := d.TaxYear.String()
		if d.Kind == mtdconnect.SubmissionFinalDeclaration {
			row.What = "Final declaration for the tax year " + ty
			row.Link, row.LinkText = "/tax-year/"+ty, "Your tax year "+ty
		} else {
			row.What = "Quarterly update for " + s.formatDay(d.Start) + " to " + s.formatDay(d.End)
			row.Link, row.LinkText = "/quarterly?taxYear="+url.QueryEscape(ty)+"&period="+url.QueryEscape(d.End)+"#update", "Send the update for "+s.formatDay(d.End)
		}
		page.DueNext = append(page.DueNext, row)
	}
	return nil
}

// formatDay formats HMRC's YYYY-MM-DD as 7 August 2026 (as is if it is not
// one).
func (s *Server) formatDay(date string) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return d.Format("2 January 2006")
}
