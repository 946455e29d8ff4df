package landlord

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// Connect sessions: the platform's backend asks for a single-use link for
// one landlord and one purpose; the landlord's browser opens it (hosted
// page), goes to HMRC, comes back to the callback, and is sent to the
// platform's allowed return URL with the outcome. The link's token is its
// only credential: 256 random bits, stored hashed, usable once.
//
// The browser that pressed Continue to HMRC is the one HMRC's answer must
// come back to (a cookie whose hash the session keeps): otherwise someone
// who started a link for their own account could send HMRC's sign-in page
// to another person, and that person's grant would connect the first
// person's account.

// DefaultConnectSessionLifetime is how long a link works before Continue
// to HMRC is pressed, unless configured.
const DefaultConnectSessionLifetime = 30 * time.Minute

// Errors of connect sessions.
var (
	// ErrReturnURLNotAllowed: the return URL is not one an administrator
	// allowed.
	ErrReturnURLNotAllowed = errors.New("landlord: the return URL is not allowed")
	// ErrConnectLinkUnknown: no connect session has this token.
	ErrConnectLinkUnknown = errors.New("landlord: unknown connect link")
	// ErrConnectSessionUnknown: no connect session has this ID.
	ErrConnectSessionUnknown = errors.New("landlord: unknown connect session")
)

// ConnectLinkError is a connect link that cannot be used (any more):
// Session says where it is (its Status, its Error) and where to go back.
type ConnectLinkError struct {
	Session *mtdconnect.ConnectSession
	Problem ConnectProblem
}

// ConnectProblem is why a link or HMRC's answer to it could not be used.
type ConnectProblem string

// The problems.
const (
	ProblemLinkExpired   ConnectProblem = "link expired"
	ProblemLinkUsed      ConnectProblem = "link used"
	ProblemOtherBrowser  ConnectProblem = "other browser"
	ProblemHMRCExpired   ConnectProblem = "more than 10 minutes at HMRC"
	ProblemCodeRefused   ConnectProblem = "HMRC refused the code"
	ProblemUnavailable   ConnectProblem = "HMRC unavailable"
	ProblemInternal      ConnectProblem = "internal error"
	ProblemLandlordGone  ConnectProblem = "landlord deleted"
	ProblemAlreadyFinish ConnectProblem = "already finished"
)

func (e *ConnectLinkError) Error() string {
	return "landlord: connect session " + e.Session.ID + ": " + string(e.Problem)
}

// ConnectRequest is what the platform asks a link for.
type ConnectRequest struct {
	UserID    int64
	Purpose   mtdconnect.Purpose
	ReturnURL string
	Display   string // mtdconnect.DisplayRedirect (the default) or DisplayPopup
}

// ConnectRequestError is a refused ConnectRequest field: field and why.
type ConnectRequestError struct{ Field, Message string }

func (e *ConnectRequestError) Error() string {
	return "landlord: connect session: " + e.Field + ": " + e.Message
}

// maxReturnURL bounds a return URL (browsers and servers cope with far
// longer; a return URL needs no more).
const maxReturnURL = 2000

// CreateConnectSession makes a link for req.UserID to connect req.Purpose,
// asked by the platform with API key keyID. It returns the session and the
// token that goes into the link (shown once; only its hash is stored).
// Reconnecting is the same call.
func (s *Service) CreateConnectSession(ctx context.Context, keyID int64, req ConnectRequest) (*mtdconnect.ConnectSession, string, error) {
	if _, err := s.user(ctx, req.UserID); err != nil {
		return nil, "", err
	}
	if !req.Purpose.Valid() {
		return nil, "", &ConnectRequestError{Field: "purpose", Message: "must be itsa or vat"}
	}
	switch req.Display {
	case "":
		req.Display = mtdconnect.DisplayRedirect
	case mtdconnect.DisplayRedirect, mtdconnect.DisplayPopup:
	default:
		return nil, "", &ConnectRequestError{Field: "display", Message: "must be redirect or popup"}
	}
	if err := s.checkReturnURL(ctx, req.ReturnURL); err != nil {
		return nil, "", err
	}
	tok := make([]byte, 32)
	rand.Read(tok)
	token := base64.RawURLEncoding.EncodeToString(tok)
	id := make([]byte, 16)
	rand.Read(id)
	now := s.now()
	cs := &mtdconnect.ConnectSession{
		ID: "cs_" + base64.RawURLEncoding.EncodeToString(id), TokenHash: HashConnectToken(token),
		UserID: req.UserID, Purpose: req.Purpose, ReturnURL: req.ReturnURL, Display: req.Display,
		Status: mtdconnect.ConnectPending, CreatedBy: keyID, CreatedAt: now, ExpiresAt: now.Add(s.connectLifetime),
	}
	if err := s.store.CreateConnectSession(ctx, cs); errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, "", ErrUnknownUser
	} else if err != nil {
		return nil, "", fmt.Errorf("landlord: create connect session: %w", err)
	}
	s.record(ctx, ByPlatform(keyID), "connect session created", req.UserID, req.Purpose, slog.String("connect_session", cs.ID))
	return cs, token, nil
}

// HashConnectToken is what the store keeps of a connect link's token.
func HashConnectToken(token string) []byte {
	h := sha256.Sum256([]byte("connect:" + token))
	return h[:]
}

// ConnectSession returns the session id as the platform sees it now: a
// pending one whose time is up is expired on the way.
func (s *Service) ConnectSession(ctx context.Context, id string) (*mtdconnect.ConnectSession, error) {
	cs, err := s.store.ConnectSession(ctx, id)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrConnectSessionUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("landlord: read connect session: %w", err)
	}
	return s.settle(ctx, cs)
}

// settle expires a pending session whose time is up: the link was not used
// before ExpiresAt, or the landlord never came back from HMRC within its
// 10 minutes. A landlord who did come back but whose outcome was not
// recorded (a crash between the two writes) is found connected.
func (s *Service) settle(ctx context.Context, cs *mtdconnect.ConnectSession) (*mtdconnect.ConnectSession, error) {
	if cs.Status != mtdconnect.ConnectPending {
		return cs, nil
	}
	now := s.now()
	status, code := mtdconnect.ConnectExpired, mtdconnect.ConnectErrorLinkExpired
	switch {
	case cs.StartedAt.IsZero() && now.Before(cs.ExpiresAt):
		return cs, nil
	case !cs.StartedAt.IsZero() && now.Before(cs.StartedAt.Add(hmrc.AuthorizationLifetime)):
		return cs, nil
	case !cs.StartedAt.IsZero():
		code = mtdconnect.ConnectErrorHMRCExpired
		if conn, err := s.store.Connection(ctx, cs.UserID, cs.Purpose); err == nil && !conn.GrantedAt.Before(cs.StartedAt) {
			status, code = mtdconnect.ConnectConnected, ""
		}
	}
	return s.finish(ctx, cs, status, code)
}

// finish records the session's outcome; if another request recorded one
// first, that one stands and is returned.
func (s *Service) finish(ctx context.Context, cs *mtdconnect.ConnectSession, status mtdconnect.ConnectSessionStatus, code string) (*mtdconnect.ConnectSession, error) {
	ctx = context.WithoutCancel(ctx)
	err := s.store.FinishConnectSession(ctx, cs.ID, status, code, s.now())
	if err != nil && !errors.Is(err, mtdconnect.ErrConflict) {
		return nil, fmt.Errorf("landlord: finish connect session: %w", err)
	}
	got, rerr := s.store.ConnectSession(ctx, cs.ID)
	if rerr != nil {
		return nil, fmt.Errorf("landlord: read connect session: %w", rerr)
	}
	if err == nil {
		s.record(ctx, ByPlatform(cs.CreatedBy), "connect session "+string(status), cs.UserID, cs.Purpose,
			slog.String("connect_session", cs.ID), slog.String("error", code))
	}
	return got, nil
}

// OpenConnectLink reads the session of a link the landlord opened: a
// *ConnectLinkError if it cannot be used any more (expired, used),
// ErrConnectLinkUnknown if there is none.
func (s *Service) OpenConnectLink(ctx context.Context, token string) (*mtdconnect.ConnectSession, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrConnectLinkUnknown
	}
	cs, err := s.store.ConnectSessionByToken(ctx, HashConnectToken(token))
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrConnectLinkUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("landlord: read connect link: %w", err)
	}
	if cs, err = s.settle(ctx, cs); err != nil {
		return nil, err
	}
	switch {
	case cs.Status == mtdconnect.ConnectExpired && cs.StartedAt.IsZero():
		return cs, &ConnectLinkError{Session: cs, Problem: ProblemLinkExpired}
	case cs.Status != mtdconnect.ConnectPending || cs.State != "":
		return cs, &ConnectLinkError{Session: cs, Problem: ProblemLinkUsed}
	}
	if _, err := s.user(ctx, cs.UserID); err != nil {
		return cs, err
	}
	return cs, nil
}

// ContinueConnectLink uses the link: it starts the authorisation at HMRC
// for the session's landlord and purpose, binds the session to the browser
// (browserHash, the hash of its cookie) and returns HMRC's authorise URL.
// Of two presses (two browsers, a replay), one wins; the other gets a
// *ConnectLinkError (ProblemLinkUsed).
func (s *Service) ContinueConnectLink(ctx context.Context, token string, browserHash []byte) (string, *mtdconnect.ConnectSession, error) {
	cs, err := s.OpenConnectLink(ctx, token)
	if err != nil {
		return "", cs, err
	}
	authURL, state, err := s.hmrc.StartAuthorization(ctx, cs.UserID, cs.Purpose, "")
	if err != nil {
		return "", cs, err
	}
	now := s.now()
	if err := s.store.StartConnectSession(ctx, cs.ID, state, browserHash, now); err != nil {
		// The authorisation just started is not this session's: drop it.
		if derr := s.store.DeletePendingAuthorization(context.WithoutCancel(ctx), state); derr != nil && !errors.Is(derr, mtdconnect.ErrNotFound) {
			s.log.Warn("drop an unused pending authorisation", "err", derr)
		}
		if errors.Is(err, mtdconnect.ErrConflict) {
			return "", cs, &ConnectLinkError{Session: cs, Problem: ProblemLinkUsed}
		}
		return "", cs, fmt.Errorf("landlord: start connect session: %w", err)
	}
	cs.State, cs.BrowserHash, cs.StartedAt = state, browserHash, now
	s.record(ctx, ByPlatform(cs.CreatedBy), "connection started", cs.UserID, cs.Purpose, slog.String("connect_session", cs.ID))
	return authURL, cs, nil
}

// CancelConnectLink records that the landlord chose not to go on, on the
// connect page: the session is denied (error "cancelled").
func (s *Service) CancelConnectLink(ctx context.Context, token string) (*mtdconnect.ConnectSession, error) {
	cs, err := s.OpenConnectLink(ctx, token)
	if err != nil {
		return cs, err
	}
	return s.finish(ctx, cs, mtdconnect.ConnectDenied, mtdconnect.ConnectErrorCancelled)
}

// ConnectSessionByState returns the connect session whose authorisation
// has state: mtdconnect.ErrNotFound when state is not a connect session's
// (it may be a signed-in landlord's).
func (s *Service) ConnectSessionByState(ctx context.Context, state string) (*mtdconnect.ConnectSession, error) {
	cs, err := s.store.ConnectSessionByState(ctx, state)
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// HMRCReply is HMRC's answer at the callback.
type HMRCReply struct {
	State            string
	Code             string
	Error            string // e.g. access_denied
	ErrorDescription string
}

// FinishConnectLink takes HMRC's answer for the connect session cs (found
// by its state), from the browser whose cookie hashes to browserHash. It
// returns the session as it ends: connected (the connection is stored),
// denied, or failed, with a *ConnectLinkError saying why it failed (or
// that it had finished already: a replayed answer). The connection changes
// only on success. It acts as the platform that created the session.
func (s *Service) FinishConnectLink(ctx context.Context, cs *mtdconnect.ConnectSession, browserHash []byte, reply HMRCReply) (*mtdconnect.ConnectSession, error) {
	if cs.Status != mtdconnect.ConnectPending {
		return cs, &ConnectLinkError{Session: cs, Problem: ProblemAlreadyFinish}
	}
	by := ByPlatform(cs.CreatedBy)
	if len(cs.BrowserHash) == 0 || subtle.ConstantTimeCompare(browserHash, cs.BrowserHash) != 1 {
		// The code is not used, and the authorisation is dropped so it
		// cannot be used from anywhere else either.
		if err := s.store.DeletePendingAuthorization(context.WithoutCancel(ctx), reply.State); err != nil && !errors.Is(err, mtdconnect.ErrNotFound) {
			return nil, fmt.Errorf("landlord: drop pending authorisation: %w", err)
		}
		return s.failed(ctx, cs, ProblemOtherBrowser, mtdconnect.ConnectErrorOtherBrowser)
	}
	if reply.Error != "" {
		_, err := s.DenyConnect(ctx, by, cs.UserID, reply.State, reply.ErrorDescription)
		var de *DeletedError
		switch {
		case errors.As(err, &de), errors.Is(err, ErrUnknownUser):
			return s.failed(ctx, cs, ProblemLandlordGone, mtdconnect.ConnectErrorInternal)
		case err != nil && !isStateError(err):
			return nil, err
		}
		cs, err = s.finish(ctx, cs, mtdconnect.ConnectDenied, mtdconnect.ConnectErrorAccessDenied)
		return cs, err
	}
	_, err := s.CompleteConnect(ctx, by, cs.UserID, reply.State, reply.Code)
	var (
		exchange *hmrc.ExchangeError
		deleted  *DeletedError
	)
	switch {
	case err == nil:
		return s.finish(ctx, cs, mtdconnect.ConnectConnected, "")
	case errors.As(err, &exchange):
		return s.failed(ctx, cs, ProblemCodeRefused, mtdconnect.ConnectErrorCodeRefused)
	case errors.Is(err, hmrc.ErrStateExpired):
		return s.failed(ctx, cs, ProblemHMRCExpired, mtdconnect.ConnectErrorHMRCExpired)
	case errors.Is(err, hmrc.ErrStateUnknown):
		// Consumed by a concurrent answer: its outcome stands.
		got, rerr := s.store.ConnectSession(context.WithoutCancel(ctx), cs.ID)
		if rerr != nil {
			return nil, fmt.Errorf("landlord: read connect session: %w", rerr)
		}
		return got, &ConnectLinkError{Session: got, Problem: ProblemAlreadyFinish}
	case errors.Is(err, hmrc.ErrUnavailable):
		return s.failed(ctx, cs, ProblemUnavailable, mtdconnect.ConnectErrorHMRCUnavailable)
	case errors.As(err, &deleted), errors.Is(err, ErrUnknownUser):
		return s.failed(ctx, cs, ProblemLandlordGone, mtdconnect.ConnectErrorInternal)
	}
	s.log.Error("connect session failed", "connect_session", cs.ID, "user_id", cs.UserID, "err", err)
	return s.failed(ctx, cs, ProblemInternal, mtdconnect.ConnectErrorInternal)
}

func (s *Service) failed(ctx context.Context, cs *mtdconnect.ConnectSession, p ConnectProblem, code string) (*mtdconnect.ConnectSession, error) {
	status := mtdconnect.ConnectFailed
	if code == mtdconnect.ConnectErrorHMRCExpired {
		status = mtdconnect.ConnectExpired
	}
	got, err := s.finish(ctx, cs, status, code)
	if err != nil {
		return nil, err
	}
	return got, &ConnectLinkError{Session: got, Problem: p}
}

func isStateError(err error) bool {
	return errors.Is(err, hmrc.ErrStateUnknown) || errors.Is(err, hmrc.ErrStateExpired) || errors.Is(err, hmrc.ErrStateOtherUser)
}

// ---- return URLs ----

// ReturnURLError says why a return URL (or an allowed prefix) was refused.
type ReturnURLError struct{ Message string }

func (e *ReturnURLError) Error() string { return "landlord: return URL: " + e.Message }

// ParseReturnURLPrefix checks an allowed return URL: an origin
// (https://platform.example, any path on it) or a URL prefix
// (https://platform.example/settings, that path and below). It returns it
// normalised (scheme and host in lower case, no trailing slash).
func ParseReturnURLPrefix(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return "", &ReturnURLError{Message: fmt.Sprintf("%q must be an absolute http or https URL", s)}
	case u.User != nil:
		return "", &ReturnURLError{Message: fmt.Sprintf("%q must not hold a user name or password", s)}
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return "", &ReturnURLError{Message: fmt.Sprintf("%q must be an origin or a path prefix, without ? or #", s)}
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// returnURLMatches reports whether u is allowed by prefix (as
// ParseReturnURLPrefix returns it): same scheme and host (and port), and
// a path equal to the prefix's or below it.
func returnURLMatches(u *url.URL, prefix string) bool {
	p, err := url.Parse(prefix)
	if err != nil || !strings.EqualFold(u.Scheme, p.Scheme) || !strings.EqualFold(u.Host, p.Host) {
		return false
	}
	path := u.EscapedPath()
	return p.Path == "" || path == p.EscapedPath() || strings.HasPrefix(path, p.EscapedPath()+"/")
}

// checkReturnURL refuses a return URL that is malformed or that no allowed
// prefix (configured or stored) allows.
func (s *Service) checkReturnURL(ctx context.Context, raw string) error {
	if raw == "" {
		return &ConnectRequestError{Field: "return_url", Message: "is required"}
	}
	u, err := url.Parse(raw)
	switch {
	case len(raw) > maxReturnURL:
		return &ConnectRequestError{Field: "return_url", Message: fmt.Sprintf("must be at most %d characters", maxReturnURL)}
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return &ConnectRequestError{Field: "return_url", Message: "must be an absolute http or https URL"}
	case u.User != nil || u.Fragment != "" || strings.Contains(raw, "#"):
		return &ConnectRequestError{Field: "return_url", Message: "must not hold a user name, a password or a #fragment"}
	case strings.Contains(u.EscapedPath(), "/../") || strings.HasSuffix(u.EscapedPath(), "/..") || strings.Contains(strings.ToLower(u.EscapedPath()), "%2e"):
		return &ConnectRequestError{Field: "return_url", Message: "must not hold dot segments"}
	}
	allowed, err := s.AllowedReturnURLs(ctx)
	if err != nil {
		return err
	}
	for _, a := range allowed {
		if returnURLMatches(u, a) {
			return nil
		}
	}
	return ErrReturnURLNotAllowed
}

// AllowedReturnURLs are the configured return URLs and the stored ones.
func (s *Service) AllowedReturnURLs(ctx context.Context) ([]string, error) {
	out := append([]string(nil), s.returnURLs...)
	stored, err := s.store.ReturnURLs(ctx)
	if err != nil {
		return nil, fmt.Errorf("landlord: read return URLs: %w", err)
	}
	for _, r := range stored {
		out = append(out, r.URL)
	}
	return out, nil
}

// ConnectSessionLifetime is how long a connect link works.
func (s *Service) ConnectSessionLifetime() time.Duration { return s.connectLifetime }

// ConfiguredReturnURLs are the return URLs allowed by configuration (they
// cannot be removed on the admin page).
func (s *Service) ConfiguredReturnURLs() []string { return append([]string(nil), s.returnURLs...) }

// AddReturnURL allows prefix (ParseReturnURLPrefix) as a return URL, added
// by administrator adminID (0 for the command line).
func (s *Service) AddReturnURL(ctx context.Context, by Actor, adminID int64, prefix string) (string, error) {
	p, err := ParseReturnURLPrefix(prefix)
	if err != nil {
		return "", err
	}
	err = s.store.AddReturnURL(ctx, &mtdconnect.AllowedReturnURL{URL: p, AddedBy: adminID, AddedAt: s.now()})
	if errors.Is(err, mtdconnect.ErrConflict) {
		return "", &ReturnURLError{Message: p + " is allowed already"}
	}
	if err != nil {
		return "", fmt.Errorf("landlord: add return URL: %w", err)
	}
	s.log.Info("return url allowed", slog.Any("by", by), slog.String("url", p))
	return p, nil
}

// RemoveReturnURL stops allowing a stored return URL; links made before
// keep theirs.
func (s *Service) RemoveReturnURL(ctx context.Context, by Actor, prefix string) error {
	err := s.store.RemoveReturnURL(ctx, prefix)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return &ReturnURLError{Message: prefix + " is not on the list"}
	}
	if err != nil {
		return fmt.Errorf("landlord: remove return URL: %w", err)
	}
	s.log.Info("return url removed", slog.Any("by", by), slog.String("url", prefix))
	return nil
}
