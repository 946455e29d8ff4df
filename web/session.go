package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// hashSessionToken is what the store keeps of a session cookie.
func hashSessionToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

type userKey struct{}

// currentUser is the signed-in user of a request wrapped by requireUser.
func currentUser(ctx context.Context) *mtdconnect.User {
	u, _ := ctx.Value(userKey{}).(*mtdconnect.User)
	return u
}

// sessionUser returns the signed-in user, or nil when the request has no
// live session. An expired session is deleted.
func (s *Server) sessionUser(r *http.Request) (*mtdconnect.User, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	hash := hashSessionToken(c.Value)
	sess, err := s.store.SessionByHash(r.Context(), hash)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(sess.ExpiresAt) {
		if err := s.store.DeleteSession(r.Context(), hash); err != nil && !errors.Is(err, mtdconnect.ErrNotFound) {
			s.log.Error("delete expired session", "err", err)
		}
		return nil, nil
	}
	u, err := s.store.UserByID(r.Context(), sess.UserID)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	info(r.Context()).userID = u.ID
	return u, nil
}

// requireUser sends visitors without a session to the sign-in page.
func (s *Server) requireUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.sessionUser(r)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if u == nil {
			// Back to the page asked for once signed in (a form's POST
			// cannot be replayed: its page is asked for again instead).
			to := "/signin"
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				if next := safeNext(r.URL.RequestURI()); next != "" {
					to += "?next=" + url.QueryEscape(next)
				}
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	}
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	u, err := s.sessionUser(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if u == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/settings/hmrc", http.StatusSeeOther)
}

type signinPage struct {
	Email string
	Error string
	Flash *flash // e.g. why a half-finished sign-in was dropped
	Next  string // the page to go on to once signed in (safeNext)
}

// nextCookie carries the page asked for across the authenticator code
// step; it is checked with safeNext again when used.
const nextCookie = "mtdconnect_next"

// safeNext returns next if it is a path on this site ("/quarterly?x=1"),
// "" otherwise: never another site ("//evil.example", "https://...",
// "/\\evil.example"), so sign-in cannot be made to redirect away.
func safeNext(next string) string {
	if len(next) > 2000 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") || !mtdconnect.ValidText(next) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	if u.Path == "/signin" || strings.HasPrefix(u.Path, "/signin/") || u.Path == "/signout" {
		return ""
	}
	return next
}

// afterSignin is where a landlord goes once signed in: the page they
// asked for, or their HMRC connection.
func afterSignin(next string) string {
	if next = safeNext(next); next != "" {
		return next
	}
	return "/settings/hmrc"
}

func (s *Server) handleSigninPage(w http.ResponseWriter, r *http.Request) {
	u, err := s.sessionUser(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	next := safeNext(r.URL.Query().Get("next"))
	if u != nil {
		http.Redirect(w, r, afterSignin(next), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "signin", "Sign in", signinPage{Flash: s.takeFlash(w, r), Next: next})
}

// Longest sign-in input taken: an email address can be no longer (RFC
// 5321's path limit), and no one types a longer password.
const (
	maxEmailBytes    = 254
	maxPasswordBytes = 1024
)

func (s *Server) handleSignin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	if len(email) > maxEmailBytes || len(password) > maxPasswordBytes || !mtdconnect.ValidText(email) || !mtdconnect.ValidText(password) {
		// Refused before anything is looked up, counted or stored.
		s.render(w, r, http.StatusBadRequest, "signin", "Error: Sign in", signinPage{Next: next,
			Error: fmt.Sprintf("Enter an email address of at most %d characters and a password of at most %d.", maxEmailBytes, maxPasswordBytes)})
		return
	}
	var u *mtdconnect.User
	if email != "" {
		var err error
		u, err = s.store.UserByEmail(r.Context(), email)
		if errors.Is(err, mtdconnect.ErrNotFound) {
			u = nil
		} else if err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	var userID int64
	if u != nil {
		userID = u.ID
	}
	keys := s.passwordKeys(r, email, userID)
	if wait, err := s.allowed(r.Context(), keys); err != nil {
		s.serverError(w, r, err)
		return
	} else if wait > 0 {
		s.log.Warn("sign-in refused: too many wrong passwords from this source")
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		s.render(w, r, http.StatusTooManyRequests, "signin", "Error: Sign in",
			signinPage{Email: email, Next: next, Error: "Too many wrong passwords for this account from here. Try again in " + waitWords(wait) + "."})
		return
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := s.checkPassword(r.Context(), hash, password)
	if errors.Is(err, errBusySignins) {
		s.log.Warn("sign-in refused: too many password checks at once")
		w.Header().Set("Retry-After", strconv.Itoa(passwordCheckRetry))
		s.render(w, r, http.StatusServiceUnavailable, "signin", "Error: Sign in",
			signinPage{Email: email, Next: next, Error: fmt.Sprintf("Too many people are signing in at this moment. Try again in %d seconds.", passwordCheckRetry)})
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ok {
		s.failed(r.Context(), keys)
		s.log.Info("sign-in failed")
		s.render(w, r, http.StatusUnauthorized, "signin", "Sign in",
			signinPage{Email: email, Next: next, Error: "Email or password is wrong."})
		return
	}
	info(r.Context()).userID = u.ID
	if len(u.TOTPSecret) > 0 {
		// The password is right, but nothing is granted until the code
		// from the authenticator app is (mfa.go).
		if next != "" {
			http.SetCookie(w, &http.Cookie{Name: nextCookie, Value: url.QueryEscape(next), Path: "/signin", MaxAge: int(codeStepLifetime.Seconds()),
				HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode})
		}
		s.startCodeStep(w, r, u)
		return
	}
	s.startSession(w, r, u, time.Time{})
}

// startSession signs u in: a new session, its cookie, and on to the
// settings. mfaAt is when a second factor was checked; zero if none.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *mtdconnect.User, mfaAt time.Time) {
	// A fresh session every time: a cookie planted before sign-in is
	// worthless after it.
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" {
		s.store.DeleteSession(r.Context(), hashSessionToken(old.Value))
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	sess := &mtdconnect.Session{TokenHash: hashSessionToken(token), UserID: u.ID, MFAAt: mfaAt, CreatedAt: now, ExpiresAt: now.Add(sessionLifetime)}
	if err := s.store.CreateSession(r.Context(), sess); err != nil {
		s.serverError(w, r, err)
		return
	}
	info(r.Context()).userID = u.ID
	s.log.Info("signed in", "user_id", u.ID, "second_factor", !mfaAt.IsZero())
	s.rememberDevice(w, r, u.ID)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/",
		MaxAge: int(sessionLifetime.Seconds()), HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
	})
	// The page asked for: from the sign-in form, or kept across the
	// authenticator code step.
	next := r.PostFormValue("next")
	if c, err := r.Cookie(nextCookie); err == nil {
		if next == "" {
			next, _ = url.QueryUnescape(c.Value)
		}
		http.SetCookie(w, &http.Cookie{Name: nextCookie, Value: "", Path: "/signin", MaxAge: -1,
			HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, afterSignin(next), http.StatusSeeOther)
}

func (s *Server) handleSignout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.store.DeleteSession(r.Context(), hashSessionToken(c.Value)); err != nil && !errors.Is(err, mtdconnect.ErrNotFound) {
			s.serverError(w, r, err)
			return
		}
	}
	s.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// flash is a one-time message shown on the next settings page, carried
// by a short-lived signed cookie (Post/Redirect/Get).
type flash struct {
	Kind         string `json:"k"` // success or error
	Text         string `json:"t"`
	Disconnected bool   `json:"d,omitempty"` // explain how to remove the authority at HMRC too
	// AlsoEnds is the connection still in use that removing mtdconnect at
	// HMRC would end too: HMRC keeps one authority per application.
	AlsoEnds string `json:"a,omitempty"`
}

func (s *Server) setFlash(w http.ResponseWriter, f flash) {
	b, _ := json.Marshal(f)
	payload := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: payload + "." + base64.RawURLEncoding.EncodeToString(s.flashMAC(payload)),
		Path: "/", MaxAge: 120, HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// takeFlash returns the pending flash, if any, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	s.clearCookie(w, flashCookie)
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.flashMAC(payload)) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil {
		return nil
	}
	return &f
}

func (s *Server) flashMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.flashKey)
	m.Write([]byte("flash:" + payload))
	return m.Sum(nil)
}
