package web

// The optional second factor at sign-in: an authenticator app (TOTP,
// totp.go). A landlord adds one under Settings → Sign-in security; from
// then on signing in takes the password and then a code, and the session
// records when the code was checked (Session.MFAAt), which HMRC's
// Gov-Client-Multi-Factor header reports (secondFactors).

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/seal"
)

const (
	// codeStepCookie carries a half-finished sign-in (password right,
	// code not yet) from the password page to the code page.
	codeStepCookie   = "mtdconnect_signin"
	codeStepPath     = "/signin"
	codeStepLifetime = 5 * time.Minute
	// codeStepMaxFails wrong codes in a row drop the half sign-in.
	codeStepMaxFails = 5

	// pendingTOTPLifetime is how long an enrolment page stays usable.
	pendingTOTPLifetime = 15 * time.Minute

	securityPath = "/settings/security"
)

// codeStep is the content of the half-signed-in cookie, sealed: sealing
// both hides and authenticates it, and the keyset is shared by every
// instance (unlike the per-process flash key), so the code may be posted to
// another instance than the password was.
type codeStep struct {
	UserID  int64 `json:"u"`
	Expires int64 `json:"e"` // Unix seconds
	Fails   int   `json:"f"` // wrong codes so far
}

var codeStepAD = seal.AD("signin", "code-step")

func (s *Server) setCodeStep(w http.ResponseWriter, st codeStep) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	ct, err := s.sealer.Seal(b, codeStepAD)
	if err != nil {
		return fmt.Errorf("web: seal sign-in step: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: codeStepCookie, Value: base64.RawURLEncoding.EncodeToString(ct), Path: codeStepPath,
		MaxAge: max(1, int(st.Expires-s.now().Unix())), HttpOnly: true, Secure: s.secureCookies,
		// Only ever sent by this site's own pages.
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// codeStepOf returns the request's half-finished sign-in, if it has a live
// one.
func (s *Server) codeStepOf(r *http.Request) (codeStep, bool) {
	var st codeStep
	c, err := r.Cookie(codeStepCookie)
	if s.sealer == nil || err != nil || c.Value == "" || len(c.Value) > 512 {
		return st, false
	}
	ct, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return st, false
	}
	b, err := s.sealer.Open(ct, codeStepAD)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, st.UserID > 0 && s.now().Unix() < st.Expires
}

func (s *Server) clearCodeStep(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: codeStepCookie, Value: "", Path: codeStepPath, MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteStrictMode,
	})
}

// startCodeStep is the end of the password step for a landlord with an
// authenticator app: no session yet, only the half-signed-in cookie.
func (s *Server) startCodeStep(w http.ResponseWriter, r *http.Request, u *mtdconnect.User) {
	if s.sealer == nil {
		// Fail closed: without the sealer the code cannot be checked, and
		// the password alone must not be enough.
		s.log.Error("sign-in needs an authenticator code, but the server has no sealer configured", "user_id", u.ID)
		s.renderMessage(w, r, http.StatusServiceUnavailable, message{
			Title: "Sign-in is not available",
			Text: "Your account asks for a code from your authenticator app, but this server is not set up to check it. " +
				"You are not signed in. Please tell your administrator.",
		})
		return
	}
	if err := s.setCodeStep(w, codeStep{UserID: u.ID, Expires: s.now().Add(codeStepLifetime).Unix()}); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("password accepted; waiting for the authenticator code", "user_id", u.ID)
	http.Redirect(w, r, "/signin/code", http.StatusSeeOther)
}

// codeStepLost sends a browser whose half sign-in is gone (expired, never
// started, or dropped) back to the start, saying why.
func (s *Server) codeStepLost(w http.ResponseWriter, r *http.Request, text string) {
	s.clearCodeStep(w)
	s.setFlash(w, flash{Kind: "error", Text: text})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

const textCodeStepExpired = "Your sign-in was stopped, or took longer than 5 minutes. Sign in again with your email and password."

type codePage struct {
	Error string
}

func (s *Server) handleSigninCodePage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.codeStepOf(r); !ok {
		s.codeStepLost(w, r, textCodeStepExpired)
		return
	}
	s.render(w, r, http.StatusOK, "signin_code", "Enter your code", codePage{})
}

func (s *Server) handleSigninCode(w http.ResponseWriter, r *http.Request) {
	st, ok := s.codeStepOf(r)
	if !ok {
		s.codeStepLost(w, r, textCodeStepExpired)
		return
	}
	u, err := s.store.UserByID(r.Context(), st.UserID)
	if errors.Is(err, mtdconnect.ErrNotFound) || (err == nil && len(u.TOTPSecret) == 0) {
		// The user or their authenticator app went away meanwhile: the
		// password step decides afresh what is needed.
		s.codeStepLost(w, r, "Your account changed while you were signing in. Sign in again with your email and password.")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	info(r.Context()).userID = u.ID
	code := r.PostFormValue("code")
	recovery, isRecovery := normaliseRecoveryCode(code)
	if _, ok := normaliseCode(code); !ok && !isRecovery {
		// Not a guess: nothing is counted.
		s.render(w, r, http.StatusBadRequest, "signin_code", "Error: Enter your code", codePage{Error: codeMessage(errTOTPFormat)})
		return
	}
	keys := s.codeKeys(r, u.ID)
	if wait, err := s.allowed(r.Context(), keys); err != nil {
		s.serverError(w, r, err)
		return
	} else if wait > 0 {
		s.log.Warn("authenticator code refused: too many wrong codes from this source", "user_id", u.ID)
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		s.render(w, r, http.StatusTooManyRequests, "signin_code", "Error: Enter your code", codePage{Error: tooManyCodes(wait)})
		return
	}
	var step int64
	if isRecovery {
		// Used up here, atomically: of two sign-ins with one code, one
		// wins.
		err = s.useRecoveryCode(r, u, recovery)
	} else {
		step, err = s.checkUserCode(u, code)
	}
	if isCodeRefusal(err) {
		s.failed(r.Context(), keys)
		st.Fails++
		s.log.Info("sign-in code refused", "user_id", u.ID, "fails", st.Fails, "reason", err.Error())
		if st.Fails >= codeStepMaxFails {
			s.codeStepLost(w, r, fmt.Sprintf("You entered %d wrong codes, so this sign-in was stopped. "+
				"Sign in again with your email and password, then enter the code your authenticator app shows.", st.Fails))
			return
		}
		if err := s.setCodeStep(w, st); err != nil {
			s.serverError(w, r, err)
			return
		}
		left := codeStepMaxFails - st.Fails
		text := codeMessage(err) + " You can try " + plural(left, "more time") + " before you need to sign in again."
		if left == 1 {
			text = codeMessage(err) + " You can try once more before you need to sign in again."
		}
		s.render(w, r, http.StatusUnauthorized, "signin_code", "Error: Enter your code", codePage{Error: text})
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if isRecovery {
		left, err := s.store.RecoveryCodesLeft(r.Context(), u.ID)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		s.log.Info("signed in with a recovery code", "user_id", u.ID, "left", left)
		s.clearCodeStep(w)
		s.setFlash(w, flash{Kind: "success", Text: "You signed in with a recovery code, which cannot be used again. You have " +
			plural(left, "recovery code") + " left: get new ones under Settings → Sign-in security."})
		s.startSession(w, r, u, s.now())
		return
	}
	// Compare-and-set: of two sign-ins racing with one code, one wins.
	if err := s.store.UseTOTPStep(r.Context(), u.ID, step); errors.Is(err, mtdconnect.ErrConflict) {
		s.failed(r.Context(), keys)
		s.render(w, r, http.StatusUnauthorized, "signin_code", "Error: Enter your code", codePage{Error: codeMessage(errTOTPReused)})
		return
	} else if err != nil {
		s.serverError(w, r, err)
		return
	}
	updated := *u
	updated.TOTPLastStep = step
	s.clearCodeStep(w)
	s.startSession(w, r, &updated, s.now())
}

// tooManyCodes says how long to wait after too many wrong codes.
func tooManyCodes(wait time.Duration) string {
	return "You have tried too many codes. Try again in " + waitWords(wait) + "."
}

func isCodeRefusal(err error) bool {
	return errors.Is(err, errTOTPWrong) || errors.Is(err, errTOTPReused) || errors.Is(err, errTOTPFormat) ||
		errors.Is(err, errRecoveryWrong)
}

// checkUserCode checks a code against u's authenticator app and returns
// the step to store as u.TOTPLastStep.
func (s *Server) checkUserCode(u *mtdconnect.User, code string) (int64, error) {
	secret, err := openTOTPSecret(s.sealer, u.ID, u.TOTPSecret)
	if err != nil {
		return 0, err
	}
	return checkTOTP(secret, code, s.now(), u.TOTPLastStep)
}

// secondFactors reports the second factor of the sign-in behind r, for
// Gov-Client-Multi-Factor: the authenticator app, when the session was
// opened with a code (Session.MFAAt) and u still has that app. nil when
// the session had no second factor. The reference is the same on every
// call for as long as the app stays enrolled.
//
// A session opened with an app that was since removed reports none: the
// factor it names no longer exists.
func (s *Server) secondFactors(r *http.Request, u *mtdconnect.User) ([]fraud.MultiFactor, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	sess, err := s.store.SessionByHash(r.Context(), hashSessionToken(c.Value))
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web: read session for multi-factor: %w", err)
	}
	if sess.UserID != u.ID || sess.MFAAt.IsZero() || len(u.TOTPSecret) == 0 {
		return nil, nil
	}
	if s.sealer == nil {
		return nil, errors.New("web: multi-factor: no sealer configured to open the authenticator secret")
	}
	secret, err := openTOTPSecret(s.sealer, u.ID, u.TOTPSecret)
	if err != nil {
		return nil, err
	}
	return []fraud.MultiFactor{{Type: "TOTP", At: sess.MFAAt.UTC(), UniqueReference: totpReference(u.ID, secret)}}, nil
}

// Settings → Sign-in security.

type securityPage struct {
	Flash        *flash
	Available    bool // the server can seal secrets
	Enrolled     bool
	CodesLeft    int    // unused recovery codes
	CodesLeftErr bool   // they could not be counted
	Error        string // the code was refused
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request) securityPage {
	u := currentUser(r.Context())
	page := securityPage{Flash: s.takeFlash(w, r), Available: s.sealer != nil, Enrolled: len(u.TOTPSecret) > 0}
	if page.Enrolled {
		n, err := s.store.RecoveryCodesLeft(r.Context(), u.ID)
		if err != nil {
			s.log.Warn("count recovery codes", "user_id", u.ID, "err", err.Error())
		}
		page.CodesLeft, page.CodesLeftErr = n, err != nil
	}
	return page
}

func (s *Server) handleSecurity(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "security", "Sign-in security", s.securityPage(w, r))
}

// enrolPage shows a new secret and asks for a code from it.
type enrolPage struct {
	Flash   *flash
	Email   string
	Key     string        // base32, grouped
	URI     template.URL  // otpauth://, built here from known parts
	QR      template.HTML // the URI as a QR code, inline SVG made here
	Pending string        // the secret, sealed for this user, with its expiry
	Error   string
}

// A new authenticator secret travels in the enrolment form until it is
// confirmed, sealed to the user with its expiry: never stored, never in a
// cookie, and useless to anyone else.
func pendingAD(userID int64) []byte {
	return seal.AD("user", strconv.FormatInt(userID, 10), "totp-pending")
}

func (s *Server) sealPending(userID int64, secret []byte, expires time.Time) (string, error) {
	pt := binary.BigEndian.AppendUint64(nil, uint64(expires.Unix()))
	ct, err := s.sealer.Seal(append(pt, secret...), pendingAD(userID))
	if err != nil {
		return "", fmt.Errorf("web: seal new authenticator secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// errPendingExpired: the enrolment form is too old, tampered with, or
// another user's.
var errPendingExpired = errors.New("web: authenticator set-up expired or invalid")

func (s *Server) openPending(userID int64, v string) ([]byte, time.Time, error) {
	if v == "" || len(v) > 512 {
		return nil, time.Time{}, errPendingExpired
	}
	ct, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, time.Time{}, errPendingExpired
	}
	pt, err := s.sealer.Open(ct, pendingAD(userID))
	if err != nil || len(pt) != 8+totpSecretSize {
		return nil, time.Time{}, errPendingExpired
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(pt[:8])), 0)
	if !s.now().Before(expires) {
		return nil, time.Time{}, errPendingExpired
	}
	return pt[8:], expires, nil
}

// handleTOTPEnrolPage shows a fresh secret each time it is loaded: nothing
// is stored until a code from it is confirmed.
func (s *Server) handleTOTPEnrolPage(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	if s.refuseEnrol(w, r, u) {
		return
	}
	secret := NewTOTPSecret()
	pending, err := s.sealPending(u.ID, secret, s.now().Add(pendingTOTPLifetime))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page, err := s.enrolPage(u, secret, pending)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.Flash = s.takeFlash(w, r)
	s.render(w, r, http.StatusOK, "security_totp", "Add an authenticator app", page)
}

// enrolPage shows secret as a key, a link and a QR code.
func (s *Server) enrolPage(u *mtdconnect.User, secret []byte, pending string) (enrolPage, error) {
	uri := TOTPURI(u.Email, secret)
	code, err := qrSVG(uri, "QR code to add mtdconnect to your authenticator app")
	return enrolPage{Email: u.Email, Key: TOTPKey(secret), URI: template.URL(uri), QR: code, Pending: pending}, err
}

// refuseEnrol redirects to the security page, saying why, when u cannot add
// an authenticator app now.
func (s *Server) refuseEnrol(w http.ResponseWriter, r *http.Request, u *mtdconnect.User) bool {
	switch {
	case s.sealer == nil:
		// The security page says the feature is not available.
	case len(u.TOTPSecret) > 0:
		s.setFlash(w, flash{Kind: "error", Text: "You already have an authenticator app. To use another one, remove this one first."})
	default:
		return false
	}
	http.Redirect(w, r, securityPath, http.StatusSeeOther)
	return true
}

func (s *Server) handleTOTPEnrol(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	if s.refuseEnrol(w, r, u) {
		return
	}
	pending := r.PostFormValue("pending")
	secret, _, err := s.openPending(u.ID, pending)
	if err != nil {
		s.log.Info("authenticator set-up refused: expired or invalid form", "user_id", u.ID)
		s.setFlash(w, flash{Kind: "error", Text: "That set-up was not finished within 15 minutes, so it was stopped. " +
			"Nothing was saved. If you added mtdconnect to your authenticator app, delete it there and add the new key below."})
		http.Redirect(w, r, securityPath+"/totp", http.StatusSeeOther)
		return
	}
	// A new app: no step of it was used before.
	step, err := checkTOTP(secret, r.PostFormValue("code"), s.now(), 0)
	if err != nil {
		s.log.Info("authenticator set-up code refused", "user_id", u.ID, "reason", err.Error())
		page, perr := s.enrolPage(u, secret, pending)
		if perr != nil {
			s.serverError(w, r, perr)
			return
		}
		page.Error = codeMessage(err) + " Nothing was saved."
		s.render(w, r, http.StatusBadRequest, "security_totp", "Error: Add an authenticator app", page)
		return
	}
	sealed, err := SealTOTPSecret(s.sealer, u.ID, secret)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.store.SetTOTP(r.Context(), u.ID, sealed, step); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("authenticator app added", "user_id", u.ID)
	s.giveRecoveryCodes(w, r, u, true)
}

// handleTOTPRemove removes the authenticator app, given a current code from
// it: a borrowed session alone cannot turn the second factor off.
func (s *Server) handleTOTPRemove(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	if s.sealer == nil {
		http.Redirect(w, r, securityPath, http.StatusSeeOther)
		return
	}
	if len(u.TOTPSecret) == 0 {
		s.setFlash(w, flash{Kind: "error", Text: "You have no authenticator app to remove."})
		http.Redirect(w, r, securityPath, http.StatusSeeOther)
		return
	}
	if !s.checkCurrentCode(w, r, u, " Your authenticator app was not removed.") {
		return
	}
	if err := s.store.SetTOTP(r.Context(), u.ID, nil, 0); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("authenticator app removed", "user_id", u.ID)
	s.setFlash(w, flash{Kind: "success", Text: "Your authenticator app is removed. mtdconnect will ask only for your email and password when you sign in. " +
		"You can delete the mtdconnect account in the app."})
	http.Redirect(w, r, securityPath, http.StatusSeeOther)
}

// checkCurrentCode checks the code posted from the security page against
// u's authenticator app, under the sign-in throttle. It answers with the
// page and the problem (then outcome) when the code is refused, and
// returns whether it was accepted.
func (s *Server) checkCurrentCode(w http.ResponseWriter, r *http.Request, u *mtdconnect.User, outcome string) bool {
	refuse := func(status int, text string) {
		page := s.securityPage(w, r)
		page.Error = text
		s.render(w, r, status, "security", "Error: Sign-in security", page)
	}
	code := r.PostFormValue("code")
	if _, ok := normaliseCode(code); !ok {
		refuse(http.StatusBadRequest, codeMessage(errTOTPFormat)+outcome)
		return false
	}
	keys := s.codeKeys(r, u.ID)
	if wait, err := s.allowed(r.Context(), keys); err != nil {
		s.serverError(w, r, err)
		return false
	} else if wait > 0 {
		s.log.Warn("authenticator code refused: too many wrong codes from this source", "user_id", u.ID)
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		refuse(http.StatusTooManyRequests, tooManyCodes(wait)+outcome)
		return false
	}
	if _, err := s.checkUserCode(u, code); isCodeRefusal(err) {
		s.failed(r.Context(), keys)
		s.log.Info("authenticator code refused on the security page", "user_id", u.ID, "reason", err.Error())
		refuse(http.StatusBadRequest, codeMessage(err)+outcome)
		return false
	} else if err != nil {
		s.serverError(w, r, err)
		return false
	}
	return true
}
