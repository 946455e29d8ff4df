// Package mtdconnect holds the vocabulary of the service that connects UK
// landlords to HMRC's Making Tax Digital APIs: users, their HMRC connections,
// the pending authorisations that lead to one, the audit of what happened to
// a connection, and the Store contract that the sqlite and postgres packages
// implement. It imports only the standard library; every other package points
// inward to it.
package mtdconnect

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the product version, set at build time by cmd/mtdconnect.
var Version = "0.1.0"

// Errors returned by every Store implementation. Callers test with errors.Is.
var (
	// ErrNotFound means the row asked for does not exist (or was already
	// consumed, for single-use rows such as pending authorisations).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a compare-and-swap lost: the row's version moved on
	// since it was read, or a unique value (an email) is taken.
	ErrConflict = errors.New("conflict")
	// ErrInvalidText means a text value cannot be stored or looked up: it
	// is not valid UTF-8, holds a NUL byte, or is a key (an email, a state,
	// a budget's name) longer than MaxKeyBytes. Nothing was written. The
	// error never quotes the value.
	ErrInvalidText = errors.New("text not valid UTF-8, holding a NUL byte, or too long for a key")
)

// MaxKeyBytes is the longest text a Store takes as a key or a unique value:
// PostgreSQL's btree indexes refuse entries much over 2.7 KB.
const MaxKeyBytes = 1024

// ValidText reports whether s can be stored as text: valid UTF-8 without a
// NUL byte (PostgreSQL refuses both; SQLite would keep them and hand them
// back to pages and logs).
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// CheckText returns ErrInvalidText unless every value is ValidText.
func CheckText(values ...string) error {
	for _, v := range values {
		if !ValidText(v) {
			return ErrInvalidText
		}
	}
	return nil
}

// CheckKey returns ErrInvalidText unless every value is ValidText and at
// most MaxKeyBytes long.
func CheckKey(values ...string) error {
	for _, v := range values {
		if len(v) > MaxKeyBytes || !ValidText(v) {
			return ErrInvalidText
		}
	}
	return nil
}

// Purpose says what an HMRC connection is for. Each purpose has its own
// scopes, tokens and refresh lifecycle; a user may hold one of each.
type Purpose string

const (
	PurposeIncomeTax Purpose = "itsa"
	PurposeVAT       Purpose = "vat"
)

// Scopes returns the only scopes requested for the purpose.
func (p Purpose) Scopes() []string {
	switch p {
	case PurposeVAT:
		return []string{"read:vat", "write:vat"}
	default:
		return []string{"read:self-assessment", "write:self-assessment"}
	}
}

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool { return p == PurposeIncomeTax || p == PurposeVAT }

// Label is the name a landlord reads.
func (p Purpose) Label() string {
	if p == PurposeVAT {
		return "VAT"
	}
	return "Income Tax"
}

// Status is the state of a connection as the landlord and the platform see it.
type Status string

const (
	// StatusNotConnected is reported when no connection row exists.
	StatusNotConnected Status = "not_connected"
	StatusConnected    Status = "connected"
	// StatusNeedsReconnect means the grant is gone (revoked at HMRC, past its
	// 18 months, or lost in an interrupted refresh); Reason says which.
	StatusNeedsReconnect Status = "needs_reconnect"
)

// Label is the status in words a landlord reads.
func (s Status) Label() string {
	switch s {
	case StatusConnected:
		return "Connected"
	case StatusNeedsReconnect:
		return "Needs reconnect"
	default:
		return "Not connected"
	}
}

// Reasons a connection needs reconnecting. They are shown to landlords.
const (
	ReasonRevoked            = "authority removed at HMRC"
	ReasonGrantExpired       = "authority expired (18 months after it was granted)"
	ReasonRefreshInterrupted = "refresh interrupted"
	ReasonOtherApplication   = "connected to a different HMRC application"
)

// ReasonCode is the stable code of a reason a connection needs
// reconnecting, for programs: revoked, grant_expired, refresh_interrupted,
// other_application; "other" for a reason without a code, "" for none.
func ReasonCode(reason string) string {
	switch reason {
	case "":
		return ""
	case ReasonRevoked:
		return "revoked"
	case ReasonGrantExpired:
		return "grant_expired"
	case ReasonRefreshInterrupted:
		return "refresh_interrupted"
	case ReasonOtherApplication:
		return "other_application"
	}
	return "other"
}

// GrantEnd is when an authority granted at t ends: 18 calendar months later,
// whatever refreshes happen in between.
func GrantEnd(grantedAt time.Time) time.Time { return grantedAt.AddDate(0, 18, 0) }

// User is a landlord (or an administrator). The built-in pages' landlords
// sign in with an email and a password; a platform's landlords are created
// by the platform through the API, named by its own Ref, and have no
// password: they can never sign in to the pages.
type User struct {
	ID int64
	// Ref is the platform's own identifier of the landlord (ParseRef),
	// unique; empty for the built-in pages' landlords and once deleted.
	Ref string
	// Email is the sign-in name of a built-in landlord (unique among
	// them); for a platform's landlord it is a contact address the
	// platform gave, possibly empty, and signs nobody in.
	Email        string
	DisplayName  string
	PasswordHash string // empty for a platform's landlord: no password matches
	NINO         string // normalised, empty until given
	VRN          string // 9 digits, empty until given
	Admin        bool
	// TOTPSecret is the sealed secret of the user's authenticator app
	// (second factor at sign-in); empty when none is enrolled.
	TOTPSecret []byte
	// TOTPLastStep is the last 30-second step whose code was accepted, so
	// a code is never accepted twice.
	TOTPLastStep int64
	CreatedAt    time.Time
	// DeletedAt is when the landlord was deleted (zero while they exist).
	// A deleted landlord is kept only as the owner of their receipts and
	// audit, without ref, email, name, NINO, VRN or credentials, until
	// RecordsKeptUntil (RetainUntil); then the row and its records go.
	DeletedAt        time.Time
	RecordsKeptUntil time.Time
}

// Deleted reports whether the landlord was deleted.
func (u *User) Deleted() bool { return !u.DeletedAt.IsZero() }

// Handle is how the JSON API names the landlord: the platform's Ref, or
// "id:" and the numeric ID for the built-in pages' landlords (and for a
// deleted landlord's records, whose ref is gone).
func (u *User) Handle() string {
	if u.Ref != "" {
		return u.Ref
	}
	return IDHandlePrefix + strconv.FormatInt(u.ID, 10)
}

// Connection is one user's HMRC authority for one purpose. Tokens holds the
// sealed access and refresh token pair: only package hmrc can open it.
type Connection struct {
	UserID  int64
	Purpose Purpose
	Status  Status
	Reason  string // why it needs reconnecting; empty when connected

	Scopes          string // space-separated, as granted
	Tokens          []byte // sealed; never logged, never shown
	AccessExpiresAt time.Time
	GrantedAt       time.Time
	Environment     string // simulator, sandbox or production
	ClientID        string // the HMRC application that issued the tokens

	LastRefreshAt time.Time // zero until the first refresh
	LastUsedAt    time.Time // last time a token was handed out for a call

	// RefreshLeaseUntil and RefreshLeaseOwner are the write-ahead marker of a
	// refresh in flight: set (by compare-and-swap) before HMRC is called and
	// cleared with the new token pair. A lease found expired means the holder
	// died between asking HMRC and saving the answer.
	RefreshLeaseUntil time.Time
	RefreshLeaseOwner string

	// RefreshFailures counts transient refresh failures in a row; LastError
	// is the latest, in words safe to show (never a token).
	RefreshFailures int
	LastError       string

	Version   int64 // bumped by every write; the compare-and-swap key
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GrantEndsAt is when HMRC's authority for this connection ends.
func (c *Connection) GrantEndsAt() time.Time { return GrantEnd(c.GrantedAt) }

// PendingAuthorization is a started "Connect to HMRC" that waits for HMRC to
// send the landlord back. It is single-use and lives 10 minutes.
type PendingAuthorization struct {
	State       string // random, unguessable; the key
	UserID      int64
	Purpose     Purpose
	Verifier    []byte // sealed PKCE code verifier
	RedirectURI string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// AuditEvent is one line of a connection's append-only history.
type AuditEvent struct {
	ID      int64
	UserID  int64
	Purpose Purpose
	Kind    string // e.g. connected, refreshed, refresh_failed, needs_reconnect, disconnected
	Detail  string // words safe to show; never a token
	At      time.Time
}

// Audit event kinds.
const (
	AuditConnected          = "connected"
	AuditRefreshed          = "refreshed"
	AuditRefreshFailed      = "refresh_failed"
	AuditRefreshInterrupted = "refresh_interrupted"
	AuditNeedsReconnect     = "needs_reconnect"
	AuditDisconnected       = "disconnected"
	AuditConsentDenied      = "consent_denied"
	// AuditUserDeleted is the last event of a deleted landlord.
	AuditUserDeleted = "deleted"
)

// Session is a signed-in browser. Only a hash of its cookie value is stored.
type Session struct {
	TokenHash []byte
	UserID    int64
	MFAAt     time.Time // when a second factor was used at sign-in; zero if none
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIKey authenticates the platform's backend. Only a hash is stored.
type APIKey struct {
	ID     int64
	Name   string
	Hash   []byte
	Scopes []Scope // what it may do, in the order of AllScopes
	// LastUsedAt is when it was last used, to within APIKeyTouchInterval
	// (writes are coalesced); zero if never.
	LastUsedAt time.Time
	// RevokedAt is when it was revoked; zero while it is not.
	RevokedAt time.Time
	// ExpiresAt is when a rotated key stops working (the rotation's grace
	// period); zero for a key that was not rotated.
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Submission is the receipt of one update or return HMRC accepted, kept so
// the landlord can see what was sent, when, and HMRC's reference for it.
type Submission struct {
	ID      int64
	UserID  int64
	Purpose Purpose
	Kind    string // one of the Submission… kinds below
	// Period names what the submission is for: a tax year ("2025-26") for
	// Income Tax, a period key for VAT.
	Period      string
	PeriodStart time.Time // zero when HMRC gave none
	PeriodEnd   time.Time
	// Body is the JSON sent to HMRC. A final declaration or an
	// amendment's confirmation has no body at HMRC (its path names the
	// calculation): Body then names the tax year, calculation ID and type.
	Body []byte
	// Response is HMRC's JSON answer, empty when it sent none. For a final
	// declaration or an amendment's confirmation it is the calculation the
	// landlord agreed to, as HMRC returned it (the answer to the
	// declaration itself is empty).
	Response      []byte
	CorrelationID string // HMRC's X-CorrelationId
	// ReceiptID is HMRC's own reference for what it accepted, where it
	// gives one: VAT's Receipt-ID header; the calculation ID of a final
	// declaration or an amendment's confirmation; empty for the UK
	// property updates and annual submission.
	ReceiptID   string
	SubmittedAt time.Time
}

// Submission kinds.
const (
	SubmissionUKPropertyCumulative = "uk-property-cumulative" // a quarterly update (year to date)
	SubmissionUKPropertyAnnual     = "uk-property-annual"     // the year's allowances and adjustments
	SubmissionFinalDeclaration     = "final-declaration"      // the tax year's final declaration
	SubmissionAmendment            = "confirm-amendment"      // an amendment confirmed after the declaration
	SubmissionVATReturn            = "vat-return"
)

// IncomeTaxBusiness is the landlord's UK property business as HMRC's
// Business Details API lists it: the businessId every Income Tax call of the
// landlord needs. It is kept so that every instance, after a restart too,
// uses it instead of asking HMRC again (HMRC's end-to-end guide: "the
// software should store this ID instead of making extra calls"). It holds
// for the NINO and the HMRC environment it was found for only.
type IncomeTaxBusiness struct {
	UserID      int64
	NINO        string // the National Insurance number HMRC was asked about
	Environment string // simulator, sandbox or production
	BusinessID  string // e.g. XPIS12345678901
	FoundAt     time.Time
}

// CachedObligations is HMRC's answer to one obligations query of a
// landlord, kept a short time so that the pages and instances that show it
// share one HMRC call. Body is the caller's encoding; the store only keeps
// it.
type CachedObligations struct {
	UserID    int64
	Key       string // what was asked, e.g. "itsa:XPIS12345678901:2025-26"
	Body      []byte
	FetchedAt time.Time
}

// Application is the HMRC developer application the service calls HMRC as,
// in one environment (sandbox or production). An administrator enters it
// once; environment variables, where set, override it.
type Application struct {
	Environment  string // sandbox or production; the key
	ClientID     string
	RedirectURIs []string
	// Secrets are the client secrets, newest first; the newest is used.
	// HMRC lets an application hold several, so a new one is added before
	// the old one is deleted and no connection is disturbed.
	Secrets   []ClientSecret
	UpdatedAt time.Time
	UpdatedBy int64 // the administrator's user ID; 0 for the command line
}

// ClientSecret is one client secret, sealed; only Last4 is ever shown.
type ClientSecret struct {
	ID      string // random, names the secret in the sealing's associated data
	Sealed  []byte
	Last4   string
	AddedAt time.Time
}

// Confirmation records that an administrator agreed to something once, such
// as letting the service call HMRC's external web services.
type Confirmation struct {
	Name   string // e.g. "hmrc-external-services:production"; the key
	UserID int64  // who confirmed; 0 for the command line
	At     time.Time
}

// DueQuery selects the connections the background refresher should refresh:
// connected, access token expiring in [ExpiresFrom, ExpiresBefore), and used
// since UsedSince (refreshing idle connections only spends rate budget).
type DueQuery struct {
	ExpiresFrom   time.Time
	ExpiresBefore time.Time
	UsedSince     time.Time
	Limit         int
}

// SealedSampleLimit is how many sealed values of each kind
// Store.SealedSamples returns: enough to tell the keyset that sealed them,
// few enough that the start does not wait for it.
const SealedSampleLimit = 3

// Store is the persistence contract. It holds no business rules: callers
// decide, the store records, atomically. Implementations: sqlite.Store (the
// default) and postgres.Store; storetest holds the suite both must pass.
//
// Times are stored with millisecond precision and returned in UTC. Text
// that cannot be stored (see ErrInvalidText) is refused with that error by
// every method that takes it, writes and look-ups alike.
type Store interface {
	// CreateUser sets ID and CreatedAt. ErrConflict if the ref is taken,
	// or, for a user without a ref (who signs in), if the email is.
	CreateUser(ctx context.Context, u *User) error
	// UserByID returns deleted users too (User.Deleted): they own their
	// receipts and audit until purged.
	UserByID(ctx context.Context, id int64) (*User, error)
	// UserByEmail finds the user who signs in with email: never a
	// platform's landlord (with a ref) nor a deleted one.
	UserByEmail(ctx context.Context, email string) (*User, error)
	UserByRef(ctx context.Context, ref string) (*User, error)
	// UpdateUser writes email, display name, password hash, NINO, VRN and
	// admin (not the ref); the second factor has its own writes, so a
	// settings save racing a sign-in cannot undo them. ErrNotFound for a
	// deleted user.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser deletes, in one transaction, the user's sessions,
	// connections (tokens), pending authorisations, connect sessions, UK
	// property business (it names their NINO) and kept obligations, and
	// keeps the row only as the owner of their receipts and audit:
	// ref, email, name, password, NINO, VRN, admin and second factor are
	// cleared, DeletedAt and RecordsKeptUntil set. ErrNotFound if there is
	// no such user or they were deleted already. The events are written
	// in the same transaction (as with every write taking events).
	DeleteUser(ctx context.Context, id int64, at, keepUntil time.Time, events ...*Event) error
	// PurgeDeletedUsers removes the deleted users whose RecordsKeptUntil
	// is not after before, with their receipts and audit, and says how
	// many went.
	PurgeDeletedUsers(ctx context.Context, before time.Time) (int, error)
	// SetTOTP enrols (sealed non-empty) or removes (empty) the user's
	// authenticator app and sets its last accepted step.
	SetTOTP(ctx context.Context, userID int64, sealed []byte, lastStep int64) error
	// UseTOTPStep records that the code of step was accepted, only if no
	// code of that step or a later one was: ErrConflict otherwise, so of
	// two sign-ins racing with one code only one succeeds.
	UseTOTPStep(ctx context.Context, userID, step int64) error
	// SetRecoveryCodes replaces the user's one-time recovery codes with
	// these hashes, in one transaction (none removes them all). SetTOTP
	// removing the app and DeleteUser remove them too.
	SetRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte, at time.Time) error
	// UseRecoveryCode uses up the user's code with this hash: ErrNotFound
	// when there is none (never issued, or used already), so of two
	// sign-ins racing with one code only one succeeds.
	UseRecoveryCode(ctx context.Context, userID int64, hash []byte) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)

	CreateSession(ctx context.Context, s *Session) error
	SessionByHash(ctx context.Context, hash []byte) (*Session, error)
	DeleteSession(ctx context.Context, hash []byte) error

	CreateAPIKey(ctx context.Context, k *APIKey) error // sets ID, CreatedAt
	// APIKeyByHash returns the key whatever its state: callers check
	// Active. It is read on every API call, never cached, so a revocation
	// is seen at once by every instance.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	APIKey(ctx context.Context, id int64) (*APIKey, error)
	APIKeys(ctx context.Context) ([]*APIKey, error) // every key, revoked too, oldest first
	// RevokeAPIKey sets RevokedAt: ErrNotFound if there is no such key,
	// ErrConflict if it was revoked already (the first revocation stands).
	RevokeAPIKey(ctx context.Context, id int64, at time.Time) error
	// RotateAPIKey creates a key with newHash and the name and scopes of
	// key id, and sets key id's ExpiresAt to oldExpiresAt, in one
	// transaction. ErrNotFound if there is no such key, ErrConflict if it
	// is revoked or rotated already.
	RotateAPIKey(ctx context.Context, id int64, newHash []byte, oldExpiresAt time.Time) (*APIKey, error)
	// TouchAPIKey sets LastUsedAt to at only if it is before ifBefore, so
	// that of many calls (on any instance) within an interval one writes.
	TouchAPIKey(ctx context.Context, id int64, at, ifBefore time.Time) error

	// CreateConnectSession stores cs: ErrConflict if its ID or token hash
	// is taken, ErrNotFound if its user does not exist.
	CreateConnectSession(ctx context.Context, cs *ConnectSession) error
	ConnectSession(ctx context.Context, id string) (*ConnectSession, error)
	ConnectSessionByToken(ctx context.Context, tokenHash []byte) (*ConnectSession, error)
	ConnectSessionByState(ctx context.Context, state string) (*ConnectSession, error)
	// StartConnectSession records that the link was used: state and
	// browserHash set, StartedAt = at, only if the session is pending and
	// was not started. ErrConflict otherwise (of two racers, one wins),
	// ErrNotFound if there is no such session.
	StartConnectSession(ctx context.Context, id, state string, browserHash []byte, at time.Time) error
	// FinishConnectSession moves a pending session to status (with errCode
	// saying why, for failures), FinishedAt = at. ErrConflict if it is not
	// pending any more (the first outcome stands), ErrNotFound if there is
	// no such session.
	FinishConnectSession(ctx context.Context, id string, status ConnectSessionStatus, errCode string, at time.Time) error

	// The return URLs an administrator allowed (besides the configured
	// ones). AddReturnURL: ErrConflict if listed already; RemoveReturnURL:
	// ErrNotFound if not listed.
	ReturnURLs(ctx context.Context) ([]*AllowedReturnURL, error)
	AddReturnURL(ctx context.Context, u *AllowedReturnURL) error
	RemoveReturnURL(ctx context.Context, url string) error

	CreatePendingAuthorization(ctx context.Context, p *PendingAuthorization) error
	PendingAuthorization(ctx context.Context, state string) (*PendingAuthorization, error)
	// DeletePendingAuthorization consumes it: exactly one of several
	// concurrent callers gets nil, the others ErrNotFound.
	DeletePendingAuthorization(ctx context.Context, state string) error

	Connection(ctx context.Context, userID int64, purpose Purpose) (*Connection, error)
	// SaveConnection creates the connection or replaces it whole (a new grant
	// supersedes the old one), whatever its version. It sets c.Version.
	SaveConnection(ctx context.Context, c *Connection, events ...*Event) error
	// UpdateConnection writes c only if the stored version is still
	// c.Version, then bumps c.Version. ErrConflict if it moved on,
	// ErrNotFound if the row is gone.
	UpdateConnection(ctx context.Context, c *Connection, events ...*Event) error
	// TouchConnection records a use without bumping the version.
	TouchConnection(ctx context.Context, userID int64, purpose Purpose, at time.Time) error
	DeleteConnection(ctx context.Context, userID int64, purpose Purpose, events ...*Event) error
	// DueConnections is served by an index: its cost grows with the number
	// of due connections, not with the number of connections.
	DueConnections(ctx context.Context, q DueQuery) ([]*Connection, error)
	// InterruptedRefreshes returns connections whose refresh lease ended
	// before the given time still held: their holder died between asking
	// HMRC and saving the answer. Oldest lease first; served by an index.
	InterruptedRefreshes(ctx context.Context, before time.Time, limit int) ([]*Connection, error)

	// SaveSubmission records an accepted submission; it sets ID.
	SaveSubmission(ctx context.Context, sub *Submission, events ...*Event) error
	// Submissions lists a user's submissions for a purpose, newest first.
	Submissions(ctx context.Context, userID int64, purpose Purpose, limit int) ([]*Submission, error)
	// Submission returns one of the user's submissions; ErrNotFound when it
	// does not exist or belongs to another user.
	Submission(ctx context.Context, userID, id int64) (*Submission, error)

	// IncomeTaxBusiness returns the landlord's stored UK property business;
	// ErrNotFound when none is stored.
	IncomeTaxBusiness(ctx context.Context, userID int64) (*IncomeTaxBusiness, error)
	// SaveIncomeTaxBusiness creates or replaces the landlord's UK property
	// business; ErrNotFound when the user does not exist.
	SaveIncomeTaxBusiness(ctx context.Context, b *IncomeTaxBusiness) error
	// DeleteIncomeTaxBusiness forgets it; none stored is not an error.
	DeleteIncomeTaxBusiness(ctx context.Context, userID int64) error

	// CachedObligations returns the answer kept for the user and key;
	// ErrNotFound when none is kept. Whether it is fresh is the caller's
	// judgement (FetchedAt).
	CachedObligations(ctx context.Context, userID int64, key string) (*CachedObligations, error)
	// SaveObligations creates or replaces the answer kept for (UserID,
	// Key); ErrNotFound when the user does not exist.
	SaveObligations(ctx context.Context, o *CachedObligations) error
	// DeleteObligations forgets every answer kept for the user.
	DeleteObligations(ctx context.Context, userID int64) error

	// SaveApplication creates or replaces the application of its
	// environment, secrets included.
	SaveApplication(ctx context.Context, a *Application) error
	Application(ctx context.Context, environment string) (*Application, error)
	// Confirm records c unless a confirmation of that name exists; either
	// way it returns the one stored (the first confirmation stands).
	Confirm(ctx context.Context, c *Confirmation) (*Confirmation, error)
	Confirmation(ctx context.Context, name string) (*Confirmation, error)

	// SealedSamples returns a few sealed values (SealedSampleLimit) of
	// each kind the store holds: connection tokens, authenticator app
	// secrets, pending authorisations' PKCE verifiers and the HMRC
	// applications' client secrets. The start checks that its keyset holds
	// their keys before anything is sealed anew; none means nothing sealed
	// is stored, the only case where a new keyset may be generated. A new
	// kind of sealed data is one more query in each store's sealedKinds.
	SealedSamples(ctx context.Context) ([][]byte, error)

	AppendAudit(ctx context.Context, e *AuditEvent) error                      // sets ID
	Audit(ctx context.Context, userID int64, limit int) ([]*AuditEvent, error) // newest first

	// ReserveSlot is the deployment-wide rate limiter: it books the next free
	// slot of the named budget, spaced interval apart, and returns when the
	// caller may go. It books nothing and returns ok=false when that slot is
	// later than now+maxWait, so low-priority work can step aside; then at
	// is that slot (at least now). A negative maxWait only looks.
	ReserveSlot(ctx context.Context, name string, interval, maxWait time.Duration, now time.Time) (at time.Time, ok bool, err error)
	// DelaySlots pushes the named budget's next free slot to at least until
	// (after a 429, the whole deployment slows down).
	DelaySlots(ctx context.Context, name string, until time.Time) error

	// Ping says whether the database answers a query now: the readiness
	// check of a load balancer. An error after Close.
	Ping(ctx context.Context) error

	// DeleteExpired deletes what has expired by now: sessions and pending
	// authorisations past their expiry, and rate budgets (sign-in
	// throttles included) whose next free slot is in the past, which
	// behave as if absent. It returns how many rows went. The service runs
	// it periodically (package expiry), so these tables stay as small as
	// what is live, whatever an attacker sends.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)

	WebhookStore

	Close() error
}
