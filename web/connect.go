package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// Connect sessions: the platform's API to make a link, and the hosted
// pages the landlord's browser opens with it (docs/API.md, "Connect
// sessions"). The landlord never signs in to mtdconnect: the link is the
// only credential, and the browser that pressed Continue to HMRC is the one
// HMRC's answer must come back to (connectCookie).

// connectCookie binds HMRC's answer to the browser that pressed Continue
// to HMRC: HttpOnly, SameSite=Lax (HMRC's redirect back is a top-level
// GET, which carries it), Secure except on plain-http localhost. One value
// per browser serves every link it opens within its hour.
const (
	connectCookie         = "mtdconnect_connect"
	connectCookieLifetime = time.Hour
)

// browserBinding returns the hash of the browser's connect cookie, or nil
// when it has none.
func browserBinding(r *http.Request) []byte {
	c, err := r.Cookie(connectCookie)
	if err != nil || len(c.Value) != 43 {
		return nil
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return nil
	}
	h := sha256.Sum256([]byte("browser:" + c.Value))
	return h[:]
}

// bindBrowser gives the browser a connect cookie (keeping the one it has)
// and returns its hash.
func (s *Server) bindBrowser(w http.ResponseWriter, r *http.Request) []byte {
	value := ""
	if c, err := r.Cookie(connectCookie); err == nil && browserBinding(r) != nil {
		value = c.Value
	} else {
		b := make([]byte, 32)
		rand.Read(b)
		value = base64.RawURLEncoding.EncodeToString(b)
	}
	http.SetCookie(w, &http.Cookie{
		Name: connectCookie, Value: value, Path: "/", MaxAge: int(connectCookieLifetime.Seconds()),
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
	})
	h := sha256.Sum256([]byte("browser:" + value))
	return h[:]
}

// ---- the API ----

type apiConnectRequest struct {
	User      string `json:"user"`
	Purpose   string `json:"purpose"`
	ReturnURL string `json:"return_url"`
	Display   string `json:"display"`
}

// apiConnectSession is a connect session as the platform sees it: never
// its token (the URL carries it once, when it is made).
type apiConnectSession struct {
	ID         string                          `json:"id"`
	URL        string                          `json:"url,omitempty"`
	User       string                          `json:"user"`
	Purpose    mtdconnect.Purpose              `json:"purpose"`
	Display    string                          `json:"display"`
	ReturnURL  string                          `json:"return_url"`
	Status     mtdconnect.ConnectSessionStatus `json:"status"`
	Error      string                          `json:"error"`
	CreatedAt  time.Time                       `json:"created_at"`
	ExpiresAt  time.Time                       `json:"expires_at"`
	StartedAt  *time.Time                      `json:"started_at"`
	FinishedAt *time.Time                      `json:"finished_at"`
}

func connectSessionOf(cs *mtdconnect.ConnectSession, handle string) apiConnectSession {
	return apiConnectSession{
		ID: cs.ID, User: handle, Purpose: cs.Purpose, Display: cs.Display, ReturnURL: cs.ReturnURL,
		Status: cs.Status, Error: cs.Error, CreatedAt: cs.CreatedAt.UTC(), ExpiresAt: cs.ExpiresAt.UTC(),
		StartedAt: timePtr(cs.StartedAt), FinishedAt: timePtr(cs.FinishedAt),
	}
}

// handleAPICreateConnectSession is POST /api/v1/connect-sessions.
func (s *Server) handleAPICreateConnectSession(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var body apiConnectRequest
	if err := decodeJSONBody(w, r, &body); err != nil {
		return 0, nil, err
	}
	if body.User == "" {
		return 0, nil, &landlord.ConnectRequestError{Field: "user", Message: "is required: the landlord's ID on the platform (PUT /api/v1/users/{ref} first)"}
	}
	u, err := s.landlord.UserByHandle(r.Context(), body.User)
	if err != nil {
		return 0, nil, err
	}
	info(r.Context()).userID = u.ID
	cs, token, err := s.landlord.CreateConnectSession(r.Context(), apiKeyID(r), landlord.ConnectRequest{
		UserID: u.ID, Purpose: mtdconnect.Purpose(body.Purpose), ReturnURL: body.ReturnURL, Display: body.Display,
	})
	if err != nil {
		return 0, nil, err
	}
	out := connectSessionOf(cs, u.Handle())
	out.URL = s.publicURL + "/connect/" + token
	w.Header().Set("Location", "/api/v1/connect-sessions/"+cs.ID)
	return http.StatusCreated, out, nil
}

// handleAPIConnectSession is GET /api/v1/connect-sessions/{id}: the
// outcome so far.
func (s *Server) handleAPIConnectSession(w http.ResponseWriter, r *http.Request) (int, any, error) {
	cs, err := s.landlord.ConnectSession(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	u, err := s.store.UserByID(r.Context(), cs.UserID)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return 0, nil, landlord.ErrConnectSessionUnknown
	}
	if err != nil {
		return 0, nil, err
	}
	info(r.Context()).userID = u.ID
	return http.StatusOK, connectSessionOf(cs, u.Handle()), nil
}

// ---- the hosted pages ----

// scopeWords says what each HMRC scope lets mtdconnect do, in the
// landlord's words.
var scopeWords = map[string]string{
	"read:self-assessment":  "see your Income Tax details: your property business, your deadlines and what you have sent",
	"write:self-assessment": "send your quarterly property updates to HMRC for you",
	"read:vat":              "see your VAT deadlines and the VAT returns you have filed",
	"write:vat":             "file your VAT returns with HMRC for you",
}

type connectPage struct {
	Platform           string
	PurposeLabel       string
	Asks               []string
	ManageAuthorityURL string
	Token              string // the link's, for the forms' actions
	Expires            string
}

// connectResult is a hosted page that ends a connect session (or cannot
// start one): what happened, and the way back to the platform with the
// outcome.
type connectResult struct {
	Title, Text string
	Platform    string
	BackURL     string // "" when the platform is not known (an unknown link)
	// Popup: the outcome is posted to window.opener (for Origin only) by
	// /static/connect.js, which closes the window when connected.
	Popup                              bool
	Origin                             string
	Session, Status, Purpose, ErrorKey string
}

// connectPageHeaders are the headers of the hosted connect pages: no
// Referer (the link's token is in the URL), and, for a popup, an opener
// policy that keeps window.opener, to which the outcome is posted.
func (s *Server) connectPageHeaders(w http.ResponseWriter, cs *mtdconnect.ConnectSession) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if cs != nil && cs.Display == mtdconnect.DisplayPopup {
		w.Header().Set("Cross-Origin-Opener-Policy", "unsafe-none")
	}
}

// returnTo is the session's return URL with the outcome in its query:
// connect_session, status, purpose, and error when there is one. Never a
// code, a token or an identifier of the landlord.
func returnTo(cs *mtdconnect.ConnectSession) string {
	u, err := url.Parse(cs.ReturnURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("connect_session", cs.ID)
	q.Set("status", string(cs.Status))
	q.Set("purpose", string(cs.Purpose))
	q.Del("error")
	if cs.Error != "" {
		q.Set("error", cs.Error)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// handleConnectPage is GET /connect/{token}: the hosted page saying who
// asks for what, with Continue to HMRC.
func (s *Server) handleConnectPage(w http.ResponseWriter, r *http.Request) {
	cs, err := s.landlord.OpenConnectLink(r.Context(), r.PathValue("token"))
	s.connectPageHeaders(w, cs)
	if err != nil {
		s.connectFailed(w, r, cs, err)
		return
	}
	page := connectPage{
		Platform: s.platformName, PurposeLabel: cs.Purpose.Label(), ManageAuthorityURL: s.manageAuthorityURL,
		Token: r.PathValue("token"), Expires: s.formatTime(cs.ExpiresAt),
	}
	for _, sc := range cs.Purpose.Scopes() {
		page.Asks = append(page.Asks, scopeWords[sc])
	}
	// Cancel goes back to the platform: its origin joins form-action,
	// which some browsers apply to the redirect after a form's POST.
	w.Header().Set("Content-Security-Policy", cspWithFormAction(s.formAction+" "+origin(cs.ReturnURL)))
	s.render(w, r, http.StatusOK, "connect", "Connect "+s.platformName+" to HMRC", page)
}

// handleConnectContinue is POST /connect/{token} (cross-origin protection
// covers it): it uses the link, binds this browser and goes to HMRC.
func (s *Server) handleConnectContinue(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	browser := s.bindBrowser(w, r)
	authURL, cs, err := s.landlord.ContinueConnectLink(r.Context(), token, browser)
	s.connectPageHeaders(w, cs)
	if err != nil {
		s.connectFailed(w, r, cs, err)
		return
	}
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// handleConnectCancel is POST /connect/{token}/cancel: the landlord chose
// not to connect; the platform hears "denied".
func (s *Server) handleConnectCancel(w http.ResponseWriter, r *http.Request) {
	cs, err := s.landlord.CancelConnectLink(r.Context(), r.PathValue("token"))
	s.connectPageHeaders(w, cs)
	if err != nil {
		s.connectFailed(w, r, cs, err)
		return
	}
	s.connectDone(w, r, cs, "You did not connect to HMRC", "Nothing was changed. You can connect later from "+s.platformName+".")
}

// connectCallback finishes a connect session with HMRC's answer.
func (s *Server) connectCallback(w http.ResponseWriter, r *http.Request, cs *mtdconnect.ConnectSession) {
	s.connectPageHeaders(w, cs)
	q := r.URL.Query()
	cs, err := s.landlord.FinishConnectLink(r.Context(), cs, browserBinding(r), landlord.HMRCReply{
		State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"), ErrorDescription: q.Get("error_description"),
	})
	if err != nil {
		s.connectFailed(w, r, cs, err)
		return
	}
	switch cs.Status {
	case mtdconnect.ConnectConnected:
		if cs.Display == mtdconnect.DisplayRedirect {
			http.Redirect(w, r, returnTo(cs), http.StatusSeeOther)
			return
		}
		s.connectDone(w, r, cs, "Connected to HMRC", "Your "+cs.Purpose.Label()+" is connected. You can close this window and carry on in "+s.platformName+".")
	default:
		s.connectDone(w, r, cs, "You did not grant authority",
			"You chose not to grant authority at HMRC, so "+s.platformName+" is not connected to HMRC. Nothing was changed.")
	}
}

// connectDone renders a page that ends the session with the way back.
func (s *Server) connectDone(w http.ResponseWriter, r *http.Request, cs *mtdconnect.ConnectSession, title, text string) {
	res := connectResult{Title: title, Text: text, Platform: s.platformName}
	status := http.StatusOK
	if cs != nil {
		res.BackURL, res.Session, res.Status, res.Purpose, res.ErrorKey = returnTo(cs), cs.ID, string(cs.Status), string(cs.Purpose), cs.Error
		if cs.Display == mtdconnect.DisplayPopup {
			res.Popup, res.Origin = true, origin(cs.ReturnURL)
		}
	}
	s.render(w, r, status, "connect_result", title, res)
}

// connectFailed shows why a link or HMRC's answer could not be used, with
// the way back to the platform carrying the session's status.
func (s *Server) connectFailed(w http.ResponseWriter, r *http.Request, cs *mtdconnect.ConnectSession, err error) {
	var le *landlord.ConnectLinkError
	var de *landlord.DeletedError
	title, text := "", ""
	switch {
	case errors.Is(err, landlord.ErrConnectLinkUnknown):
		s.logProblem(r, err)
		w.Header().Set("Referrer-Policy", "no-referrer")
		s.render(w, r, http.StatusNotFound, "connect_result", "This link does not work", connectResult{
			Title: "This link does not work", Platform: s.platformName,
			Text: "This connection link is not valid: it may be mistyped or incomplete. Nothing was changed. Go back to " +
				s.platformName + " and start connecting again from there."})
		return
	case errors.As(err, &le):
		s.log.Info("connect session refused", "connect_session", le.Session.ID, "problem", string(le.Problem))
		switch le.Problem {
		case landlord.ProblemLinkExpired:
			title, text = "This link has expired", "Connection links work for a short time only, and this one has expired. Nothing was changed. Go back to "+s.platformName+" and start connecting again."
		case landlord.ProblemLinkUsed, landlord.ProblemAlreadyFinish:
			title, text = "This link was already used", "Each connection link works once, and this one has been used. Nothing was changed by opening it again. Go back to "+s.platformName+" to see whether you are connected, and start again from there if not."
		case landlord.ProblemOtherBrowser:
			title, text = "Finish connecting in the browser you started in", "HMRC sent you back to a different browser (or a private window) from the one where you pressed Continue to HMRC. For your security, HMRC's answer is only used in that browser, so nothing was changed. Go back to "+s.platformName+" and start connecting again, and stay in the same browser until you are sent back."
		case landlord.ProblemHMRCExpired:
			title, text = "The connection attempt expired", "More than 10 minutes passed at HMRC, so HMRC's answer could not be used. Nothing was changed. Go back to "+s.platformName+" and start connecting again."
		case landlord.ProblemCodeRefused:
			title, text = "HMRC did not accept the authorisation", "HMRC did not accept the authorisation it had given, so you are not connected. Nothing was changed. Go back to "+s.platformName+" and try again."
		case landlord.ProblemUnavailable:
			title, text = "HMRC could not be reached", "HMRC could not be reached to finish connecting. Nothing was changed. Go back to "+s.platformName+" and try again in a few minutes."
		default:
			title, text = "Something went wrong", "Connecting to HMRC could not be finished. Nothing was changed. Go back to "+s.platformName+" and try again."
		}
	case errors.As(err, &de), errors.Is(err, landlord.ErrUnknownUser):
		s.logProblem(r, err)
		title, text = "This link can no longer be used", "The account this link was made for no longer exists. Nothing was changed."
	default:
		// HMRC refusing to start (not allowed yet, unavailable) or an
		// internal error: classify's words, with the way back.
		p := s.logProblem(r, err)
		title, text = p.Title, p.Message
		if p.Status >= 500 && p.Code == "internal" {
			text = "Connecting to HMRC could not be started. Nothing was changed. Go back to " + s.platformName + " and try again."
		}
	}
	res := connectResult{Title: title, Text: text, Platform: s.platformName}
	if cs != nil {
		res.BackURL, res.Session, res.Status, res.Purpose, res.ErrorKey = returnTo(cs), cs.ID, string(cs.Status), string(cs.Purpose), cs.Error
		if cs.Display == mtdconnect.DisplayPopup {
			res.Popup, res.Origin = true, origin(cs.ReturnURL)
		}
	}
	status := http.StatusBadRequest
	if errors.As(err, &le) && le.Problem == landlord.ProblemUnavailable {
		status = http.StatusServiceUnavailable
	}
	s.render(w, r, status, "connect_result", title, res)
}
