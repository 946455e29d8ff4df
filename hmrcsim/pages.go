package hmrcsim

import (
	"bytes"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

// session is a browser's state on the simulator's "www" pages. It is keyed by
// an HttpOnly cookie; the pages carry only opaque references to it.
type session struct {
	// forms holds the anti-forgery token of every rendered form. Each token is
	// single-use and bound to one purpose and one authorize request, so a
	// POST must come from the page the simulator rendered.
	forms      map[string]formRef
	pending    map[string]*authRequest // authorize requests by reference
	manageUser string                  // signed in on the manage-authority page
}

type formRef struct{ purpose, ref string }

const sessionCookie = "hmrcsim_session"

// newForm issues an anti-forgery token for one page; callers hold s.mu.
func (sess *session) newForm(purpose, ref string) string {
	tok := randomHex()
	sess.forms[tok] = formRef{purpose, ref}
	return tok
}

// useForm spends an anti-forgery token; callers hold s.mu.
func (sess *session) useForm(tok, purpose, ref string) bool {
	f, ok := sess.forms[tok]
	if !ok || f != (formRef{purpose, ref}) {
		return false
	}
	delete(sess.forms, tok)
	return true
}

// browserSession returns the request's session, starting one if needed.
func (s *Server) browserSession(w http.ResponseWriter, r *http.Request) *session {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		sess := s.sessions[c.Value]
		s.mu.Unlock()
		if sess != nil {
			return sess
		}
	}
	id := randomHex()
	sess := &session{forms: map[string]formRef{}, pending: map[string]*authRequest{}}
	s.mu.Lock()
	s.sessions[id] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	return sess
}

// postedForm parses a POSTed page form and spends its anti-forgery token,
// answering 403 itself when the session or token is missing or wrong.
func (s *Server) postedForm(w http.ResponseWriter, r *http.Request, purpose string) (*session, bool) {
	if err := r.ParseForm(); err != nil {
		renderPage(w, http.StatusBadRequest, "error", errorPage{Status: http.StatusBadRequest, Code: "invalid_request", Message: "The form could not be read"})
		return nil, false
	}
	var sess *session
	ok := false
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		sess = s.sessions[c.Value]
		ok = sess != nil && sess.useForm(r.PostForm.Get("csrf_token"), purpose, r.PostForm.Get("auth_request"))
		s.mu.Unlock()
	}
	if !ok {
		renderPage(w, http.StatusForbidden, "error", expiredPage())
		return nil, false
	}
	return sess, true
}

// ---- Manage authorised applications (revocation) ----

type manageRow struct {
	ClientID, Name, Scopes, GrantedAt string
	granted                           time.Time
}

// handleManage is HMRC's "manage authorised applications" page: sign in,
// then a list of applications with a "Remove authority" button each.
func (s *Server) handleManage(w http.ResponseWriter, r *http.Request) {
	sess := s.browserSession(w, r)
	s.mu.Lock()
	user := sess.manageUser
	if user == "" {
		csrf := sess.newForm("manage-sign-in", "")
		s.mu.Unlock()
		renderPage(w, http.StatusOK, "sign-in", signInPage{Action: "/applications-manage-authority/sign-in", CSRF: csrf})
		return
	}
	page := managePage{UserID: user, Apps: s.authorisedLocked(user), CSRF: sess.newForm("manage", "")}
	s.mu.Unlock()
	renderPage(w, http.StatusOK, "manage", page)
}

// authorisedLocked lists the applications user currently authorises, one row
// per application, as HMRC's page does: an application granted several
// times (Income Tax, then VAT, or a re-grant) is one row with every
// permission of its grants, since its authority is the user's authority for
// that application, and "Remove authority" ends all of it (revokeLocked).
// The row's date is the earliest grant still in force.
func (s *Server) authorisedLocked(user string) []manageRow {
	var rows []manageRow
	scopes := map[string][]string{}
	for _, g := range s.grants {
		if g.userID != user || !s.grantUsable(g) {
			continue
		}
		i := slices.IndexFunc(rows, func(m manageRow) bool { return m.ClientID == g.clientID })
		if i < 0 {
			rows = append(rows, manageRow{ClientID: g.clientID, Name: s.apps[g.clientID].Name, granted: g.grantedAt})
			i = len(rows) - 1
		}
		if g.grantedAt.Before(rows[i].granted) {
			rows[i].granted = g.grantedAt
		}
		for _, sc := range g.scopes {
			if !slices.Contains(scopes[g.clientID], sc) {
				scopes[g.clientID] = append(scopes[g.clientID], sc)
			}
		}
	}
	for i := range rows {
		sc := scopes[rows[i].ClientID]
		slices.Sort(sc)
		rows[i].Scopes = strings.Join(sc, " ")
		rows[i].GrantedAt = rows[i].granted.Format("2 January 2006")
	}
	return rows
}

func (s *Server) handleManageSignIn(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.postedForm(w, r, "manage-sign-in")
	if !ok {
		return
	}
	userID, password := r.PostForm.Get("user_id"), r.PostForm.Get("password")
	s.mu.Lock()
	u := s.users[userID]
	if u == nil || u.Password != password {
		csrf := sess.newForm("manage-sign-in", "")
		s.mu.Unlock()
		renderPage(w, http.StatusOK, "sign-in", signInPage{
			Action: "/applications-manage-authority/sign-in", CSRF: csrf, UserID: userID,
			Error: "Enter a correct Government Gateway user ID and password",
		})
		return
	}
	sess.manageUser = userID
	s.mu.Unlock()
	http.Redirect(w, r, "/applications-manage-authority", http.StatusSeeOther)
}

func (s *Server) handleManageRemove(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.postedForm(w, r, "manage")
	if !ok {
		return
	}
	s.mu.Lock()
	if user := sess.manageUser; user != "" {
		s.revokeLocked(user, r.PostForm.Get("client_id"))
	}
	s.mu.Unlock()
	http.Redirect(w, r, "/applications-manage-authority", http.StatusSeeOther)
}

// handleIndex is a landing page for the offline demo: where to start and
// which test users exist (the simulator is local-only, so showing their
// passwords is the point).
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	page := indexPage{}
	for _, u := range s.users {
		page.Users = append(page.Users, *u)
	}
	s.mu.Unlock()
	slices.SortFunc(page.Users, func(a, b TestUser) int { return strings.Compare(a.UserID, b.UserID) })
	renderPage(w, http.StatusOK, "index", page)
}

// ---- Templates ----

type errorPage struct {
	Status        int
	Code, Message string
}

func expiredPage() errorPage {
	return errorPage{Status: http.StatusForbidden, Code: "invalid_request", Message: "This page has expired or was not sent by the simulator. Start again from your application."}
}

type signInPage struct {
	Action, CSRF, Ref, AppName, UserID, Error string
}

type scopeView struct{ Scope, Description string }

type grantPage struct {
	AppName, CSRF, Ref string
	Scopes             []scopeView
}

func describeScopes(scopes []string) []scopeView {
	out := make([]scopeView, 0, len(scopes))
	for _, sc := range scopes {
		out = append(out, scopeView{sc, knownScopes[sc]})
	}
	return out
}

type oobPage struct {
	Code    string
	Auto    bool
	Minutes int
}

type managePage struct {
	UserID, CSRF string
	Apps         []manageRow
}

type indexPage struct{ Users []TestUser }

func renderPage(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "hmrcsim: template: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var pages = template.Must(template.New("").Parse(pageTemplates))

// pageTemplates are deliberately plain: stable ids and names for tests that
// drive the journey with string matching, and the wording HMRC uses.
const pageTemplates = `
{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.}}</title>
<style>body{font-family:Arial,sans-serif;max-width:40em;margin:2em auto}header{background:#0b0c0c;color:#fff;padding:.5em}
label,input,button{display:block;margin:.4em 0}.error{color:#d4351c;font-weight:bold}code#code{font-size:1.4em}</style>
</head><body><header>HM Revenue &amp; Customs &mdash; local simulator</header><main>
{{end}}
{{define "foot"}}</main><footer><p>This is a local HMRC simulator for development and tests. It is not connected to HMRC.</p></footer></body></html>
{{end}}

{{define "error"}}{{template "head" "Sorry, there is a problem"}}
<h1>Sorry, there is a problem</h1>
<p>HTTP status <span id="status">{{.Status}}</span></p>
<p>Error: <code id="error">{{.Code}}</code></p>
<p id="error-description">{{.Message}}</p>
{{template "foot"}}{{end}}

{{define "sign-in"}}{{template "head" "Sign in - Government Gateway"}}
<h1>Sign in using Government Gateway</h1>
{{if .AppName}}<p>To continue, <strong>{{.AppName}}</strong> needs you to sign in.</p>{{end}}
{{if .Error}}<p class="error" id="error-summary">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{if .Ref}}<input type="hidden" name="auth_request" value="{{.Ref}}">{{end}}
<label for="user_id">Government Gateway user ID</label>
<input id="user_id" name="user_id" autocomplete="username" value="{{.UserID}}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button>
</form>
{{template "foot"}}{{end}}

{{define "grant"}}{{template "head" "Grant authority"}}
<h1>Grant authority</h1>
<p><strong id="application">{{.AppName}}</strong> wants authority to interact with HMRC on your behalf. It will be able to:</p>
<ul id="scopes">{{range .Scopes}}<li><span class="scope">{{.Scope}}</span>{{if .Description}}: {{.Description}}{{end}}</li>{{end}}</ul>
<p>This authority will last for 18 months. You can remove this authority at any time.</p>
<form method="post" action="/oauth/authorize/grant">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<input type="hidden" name="auth_request" value="{{.Ref}}">
<button type="submit" name="decision" value="grant">Grant authority</button>
<button type="submit" name="decision" value="deny">Do not grant authority</button>
</form>
{{template "foot"}}{{end}}

{{define "oob"}}{{template "head" (printf "Success code=%s" .Code)}}
<h1>Authority granted</h1>
{{if .Auto}}<p>You can now close this window and return to your application.</p>
{{else}}<p>Copy this code, switch to your application and paste it there, then close this window:</p>{{end}}
<p><code id="code">{{.Code}}</code></p>
<p>This code is valid for {{.Minutes}} minutes.</p>
{{template "foot"}}{{end}}

{{define "oob-denied"}}{{template "head" "Denied error=access_denied"}}
<h1>Authority not granted</h1>
<p>You did not grant authority. You can close this window.</p>
{{template "foot"}}{{end}}

{{define "manage"}}{{template "head" "Manage authorised applications"}}
<h1>Applications you have authorised</h1>
<p>Signed in as <span id="user">{{.UserID}}</span></p>
{{if .Apps}}<table><tr><th>Application</th><th>Authority</th><th>Granted</th><th></th></tr>
{{range .Apps}}<tr class="application"><td>{{.Name}}</td><td>{{.Scopes}}</td><td>{{.GrantedAt}}</td><td>
<form method="post" action="/applications-manage-authority/remove">
<input type="hidden" name="csrf_token" value="{{$.CSRF}}">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<button type="submit">Remove authority</button>
<p class="hint">Removing it ends every permission listed for this application.</p>
</form></td></tr>
{{end}}</table>
{{else}}<p id="none">You have not authorised any applications.</p>{{end}}
{{template "foot"}}{{end}}

{{define "index"}}{{template "head" "HMRC simulator"}}
<h1>HMRC simulator</h1>
<p>Start the authorisation journey from your application; it sends you to <code>/oauth/authorize</code>.</p>
<p><a href="/applications-manage-authority">Manage authorised applications</a></p>
<h2>Test users</h2>
{{if .Users}}<table><tr><th>User ID</th><th>Password</th><th>Name</th><th>NINO</th><th>VRN</th></tr>
{{range .Users}}<tr><td>{{.UserID}}</td><td>{{.Password}}</td><td>{{.FullName}}</td><td>{{.NINO}}</td><td>{{.VRN}}</td></tr>{{end}}
</table>{{else}}<p>No test users yet. Create one with POST /create-test-user/individuals.</p>{{end}}
{{template "foot"}}{{end}}
`
