package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/sandbox"
)

// The admin page for the HMRC application the service calls as: client
// ID, redirect URIs, client secrets (only their last 4 characters ever
// shown) and the one-time consent to call HMRC's external web services.
// It manages the application of the environment the service runs in.

const adminHMRCPath = "/admin/hmrc"

// requireAdmin lets only signed-in administrators through; others get a
// page saying the page is for administrators.
func (s *Server) requireAdmin(h http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if u := currentUser(r.Context()); !u.Admin {
			s.log.Info("admin page refused", "user_id", u.ID, "path", r.URL.Path)
			s.renderMessage(w, r, http.StatusForbidden, message{
				Title: "For administrators only",
				Text:  "This page is for the administrators of this service. Nothing was changed. Ask an administrator if the HMRC application needs a change.",
				Back:  true,
			})
			return
		}
		h(w, r)
	})
}

type secretRow struct {
	ID, Last4, Added string
	InUse            bool
}

type adminPage struct {
	Flash *flash

	Environment string
	Label       string // "HMRC's sandbox"
	Simulator   bool
	// InUseClientID is the application the running service calls as;
	// Overridden says it comes from environment variables, not from here.
	InUseClientID string
	Overridden    bool

	Stored       bool
	ClientID     string
	RedirectURIs []string
	RedirectText string // the textarea's content
	Secrets      []secretRow
	CanRemove    bool
	CanAdd       bool
	MaxSecrets   int
	Updated      string

	Callback           string
	CallbackRegistered bool

	Confirmed   bool
	ConfirmedBy string
	ConfirmedAt string

	// CanCheckFraud: the environment has HMRC's Test Fraud Prevention
	// Headers API (the sandbox, the simulator). FraudChecks are its
	// verdicts after the button was pressed.
	CanCheckFraud bool
	FraudChecks   []fraudCheck
}

// fraudCheck is HMRC's verdict on one origin's fraud prevention headers.
type fraudCheck struct {
	Origin        string // in words
	Code, Message string // HMRC's verdict
	CorrelationID string
	Failed        string // why no verdict came
	Errors        []fraudIssue
	Warnings      []fraudIssue
}

type fraudIssue struct{ Code, Headers, Message string }

var envLabels = map[string]string{
	hmrc.EnvSandbox:    "HMRC's sandbox",
	hmrc.EnvProduction: "HMRC production",
	hmrc.EnvSimulator:  "the built-in HMRC simulator",
}

func (s *Server) handleAdminHMRC(w http.ResponseWriter, r *http.Request) {
	s.renderAdminHMRC(w, r, nil)
}

// renderAdminHMRC renders the admin page, with checks when the fraud
// prevention headers were just checked.
func (s *Server) renderAdminHMRC(w http.ResponseWriter, r *http.Request, checks []fraudCheck) {
	ctx := r.Context()
	id := s.hmrc.Identity(ctx)
	page := adminPage{
		Flash:         s.takeFlash(w, r),
		Environment:   id.Environment,
		Label:         envLabels[id.Environment],
		Simulator:     id.Environment == hmrc.EnvSimulator,
		InUseClientID: id.ClientID,
		Overridden:    !id.FromStore && id.Environment != hmrc.EnvSimulator,
		Callback:      id.RedirectURL,
		MaxSecrets:    hmrc.MaxClientSecrets,
		CanCheckFraud: id.Environment != hmrc.EnvProduction,
		FraudChecks:   checks,
	}
	if page.Label == "" {
		page.Label = id.Environment
	}
	if page.Simulator {
		s.render(w, r, http.StatusOK, "admin_hmrc", "HMRC application", page)
		return
	}
	apps := s.hmrc.Applications()
	app, err := apps.Get(ctx, id.Environment)
	switch {
	case errors.Is(err, hmrc.ErrNoApplication):
		page.CanAdd = false
	case err != nil:
		s.serverError(w, r, err)
		return
	default:
		page.Stored = true
		page.ClientID = app.ClientID
		page.RedirectURIs = app.RedirectURIs
		page.RedirectText = strings.Join(app.RedirectURIs, "\n")
		page.CanRemove = len(app.Secrets) > 1
		page.CanAdd = len(app.Secrets) < hmrc.MaxClientSecrets
		for i, sec := range app.Secrets {
			page.Secrets = append(page.Secrets, secretRow{ID: sec.ID, Last4: sec.Last4, Added: s.formatTime(sec.AddedAt), InUse: i == 0})
		}
		page.Updated = s.formatTime(app.UpdatedAt) + " by " + s.who(ctx, app.UpdatedBy)
		page.CallbackRegistered = slices.ContainsFunc(app.RedirectURIs, func(u string) bool {
			// HMRC accepts a registered URI that is a prefix of the one used.
			return strings.HasPrefix(page.Callback, u)
		})
	}
	c, err := apps.Confirmation(ctx, id.Environment)
	switch {
	case errors.Is(err, mtdconnect.ErrNotFound):
	case err != nil:
		s.serverError(w, r, err)
		return
	default:
		page.Confirmed = true
		page.ConfirmedBy = s.who(ctx, c.UserID)
		page.ConfirmedAt = s.formatTime(c.At)
	}
	s.render(w, r, http.StatusOK, "admin_hmrc", "HMRC application", page)
}

// handleAdminFraudCheck sends this deployment's fraud prevention headers to
// HMRC's Test Fraud Prevention Headers API (sandbox and simulator only):
// those of the administrator's own browser, as every landlord's page
// request sends them (WEB_APP_VIA_SERVER), and those of this server for
// calls no landlord starts (BATCH_PROCESS_DIRECT); the page shows HMRC's
// verdict, errors and warnings for each.
func (s *Server) handleAdminFraudCheck(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	if s.hmrc.Environment() == hmrc.EnvProduction {
		s.adminFlashError(w, r, &hmrc.ApplicationError{Message: "HMRC's Test Fraud Prevention Headers API exists in its sandbox only"})
		return
	}
	sb := sandbox.New(s.hmrc)
	check := func(name string, origin *fraud.Origin, err error) fraudCheck {
		c := fraudCheck{Origin: name}
		var v *sandbox.FraudVerdict
		if err == nil {
			v, err = sb.ValidateFraudHeaders(r.Context(), origin)
		}
		if err != nil {
			p := s.logProblem(r, err)
			c.Failed = p.Message
			if p.Code == "internal" {
				// A host that cannot be described (fraud.Batch.Origin
				// names the header and the setting): no secret in it.
				c.Failed = "These headers could not be built: " + err.Error()
			}
			return c
		}
		c.Code, c.Message, c.CorrelationID = v.Code, v.Message, v.CorrelationID
		for _, i := range v.Errors {
			c.Errors = append(c.Errors, fraudIssue{Code: i.Code, Headers: strings.Join(i.Headers, ", "), Message: i.Message})
		}
		for _, i := range v.Warnings {
			c.Warnings = append(c.Warnings, fraudIssue{Code: i.Code, Headers: strings.Join(i.Headers, ", "), Message: i.Message})
		}
		return c
	}
	browser, err := s.browserOrigin(r, u)
	checks := []fraudCheck{check("Your browser, as a landlord's page request sends them (WEB_APP_VIA_SERVER)", browser, err)}
	batch, err := s.hmrc.BatchOrigin(map[string]string{"mtdconnect": strconv.FormatInt(u.ID, 10)})
	checks = append(checks, check("This server, for calls no landlord starts (BATCH_PROCESS_DIRECT)", batch, err))
	s.log.Info("fraud prevention headers checked", "user_id", u.ID, "web", checks[0].Code, "batch", checks[1].Code)
	s.renderAdminHMRC(w, r, checks)
}

// who names an administrator: their email, or the command line (user 0).
func (s *Server) who(ctx context.Context, userID int64) string {
	if userID == 0 {
		return "the command line"
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return fmt.Sprintf("user %d", userID)
	}
	return u.Email
}

// handleAdminApplication sets the client ID and redirect URIs, and adds a
// client secret when one is typed. A new client ID needs its secret.
func (s *Server) handleAdminApplication(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	env := s.hmrc.Identity(r.Context()).Environment
	apps := s.hmrc.Applications()
	old, err := apps.Get(r.Context(), env)
	if err != nil && !errors.Is(err, hmrc.ErrNoApplication) {
		s.adminFlashError(w, r, err)
		return
	}
	uris := strings.Split(strings.ReplaceAll(r.PostFormValue("redirect_uris"), "\r\n", "\n"), "\n")
	app, err := apps.Set(r.Context(), env, r.PostFormValue("client_id"), r.PostFormValue("client_secret"), uris, u.ID)
	if err != nil {
		s.adminFlashError(w, r, err)
		return
	}
	text := "Saved the HMRC application."
	if strings.TrimSpace(r.PostFormValue("client_secret")) != "" {
		text += fmt.Sprintf(" The client secret …%s is sealed and will not be shown again.", app.Secrets[0].Last4)
	}
	if old != nil && old.ClientID != app.ClientID {
		text += " The client ID changed: landlords connected through the previous application will need to connect again."
	}
	s.log.Info("hmrc application saved", "user_id", u.ID, "environment", env, "client_id", app.ClientID)
	s.adminDone(w, r, text)
}

func (s *Server) handleAdminAddSecret(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	env := s.hmrc.Identity(r.Context()).Environment
	app, err := s.hmrc.Applications().AddSecret(r.Context(), env, r.PostFormValue("client_secret"), u.ID)
	if err != nil {
		s.adminFlashError(w, r, err)
		return
	}
	s.log.Info("hmrc client secret added", "user_id", u.ID, "environment", env, "secret_id", app.Secrets[0].ID)
	s.adminDone(w, r, fmt.Sprintf("Added the client secret …%s; it is used from now on. The older secrets stay until you remove them, so no one is disconnected.", app.Secrets[0].Last4))
}

func (s *Server) handleAdminRemoveSecret(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	env := s.hmrc.Identity(r.Context()).Environment
	id := r.PostFormValue("id")
	before, err := s.hmrc.Applications().Get(r.Context(), env)
	if err != nil {
		s.adminFlashError(w, r, err)
		return
	}
	last4 := ""
	for _, sec := range before.Secrets {
		if sec.ID == id {
			last4 = sec.Last4
		}
	}
	if last4 == "" {
		// Only IDs are accepted here: the buttons send them.
		s.adminFlashError(w, r, &hmrc.ApplicationError{Message: "that client secret is no longer stored"})
		return
	}
	if _, err := s.hmrc.Applications().RemoveSecret(r.Context(), env, id, u.ID); err != nil {
		s.adminFlashError(w, r, err)
		return
	}
	s.log.Info("hmrc client secret removed", "user_id", u.ID, "environment", env, "secret_id", id)
	s.adminDone(w, r, "Removed the client secret …"+last4+". Delete it at HMRC's Developer Hub too, if not done yet.")
}

// handleAdminConsent records the administrator's one-time consent.
func (s *Server) handleAdminConsent(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	env := s.hmrc.Identity(r.Context()).Environment
	if r.PostFormValue("allow") != "yes" {
		s.adminFlashError(w, r, &hmrc.ApplicationError{Message: "tick the box to allow this service to call HMRC's external web services"})
		return
	}
	c, err := s.hmrc.Applications().Confirm(r.Context(), env, u.ID)
	if err != nil {
		s.adminFlashError(w, r, err)
		return
	}
	s.log.Info("hmrc external web services allowed", "user_id", u.ID, "environment", env, "confirmed_by", c.UserID)
	s.setFlash(w, flash{Kind: "success", Text: "This service may now call HMRC's external web services. Landlords can connect."})
	http.Redirect(w, r, adminHMRCPath, http.StatusSeeOther)
}

// adminDone makes this instance use the change at once (the others follow
// within a minute) and goes back to the page (Post/Redirect/Get).
func (s *Server) adminDone(w http.ResponseWriter, r *http.Request, text string) {
	kind := "success"
	if err := s.hmrc.ReloadCredentials(r.Context()); err != nil {
		s.logProblem(r, err)
		kind, text = "error", text+" This server could not reload it yet; it will within a minute."
	}
	s.setFlash(w, flash{Kind: kind, Text: text})
	http.Redirect(w, r, adminHMRCPath, http.StatusSeeOther)
}

func (s *Server) adminFlashError(w http.ResponseWriter, r *http.Request, err error) {
	s.flashError(w, r, err)
	http.Redirect(w, r, adminHMRCPath, http.StatusSeeOther)
}

// sentence makes a message fragment a sentence: capital first, full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
