// Package landlord is the one place of each action on a landlord's HMRC
// connections and filings, whoever asks for it: the landlord on the pages,
// the platform through the JSON API, an administrator on the command line.
// The pages and the API only decode, call and render.
//
// An action checks what it is given, calls HMRC (on a context detached from
// the caller's where the outcome must be kept: a submission HMRC accepted
// is recorded even if the browser went away), keeps the receipt and logs one
// line saying who did what (Actor). That line is written in one place per
// action, record, which is where the events for webhooks will be written.
//
// Errors are typed, never HTTP statuses: ErrUnknownUser, *DeletedError,
// ErrNoNINO, ErrNoVRN, ErrPeriodNotEnded, *ReceiptError, the year end's
// refusals (yearend.go), and what hmrc, hmrc/itsa, hmrc/calc and hmrc/vat
// return (*hmrc.ValidationError for a request refused before it was sent,
// *hmrc.APIError for HMRC's refusals, hmrc.ErrUnavailable...).
package landlord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/proxy"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
)

// Errors callers branch on.
var (
	// ErrUnknownUser means no landlord has the user ID given.
	ErrUnknownUser = errors.New("landlord: no such user")
	// ErrNoNINO and ErrNoVRN: the landlord's identifier the call needs is
	// not stored yet.
	ErrNoNINO = errors.New("landlord: no National Insurance number for the landlord")
	ErrNoVRN  = errors.New("landlord: no VAT registration number for the landlord")
	// ErrPeriodNotEnded means a VAT return was not filed because its period
	// has not ended: HMRC would refuse it (TAX_PERIOD_NOT_ENDED).
	ErrPeriodNotEnded = errors.New("landlord: the VAT period has not ended")
)

// ReceiptError means HMRC accepted a submission but its receipt could not
// be stored. The submission must not be sent again: Submission holds what
// HMRC answered (its references); its ID is 0.
type ReceiptError struct {
	Submission *mtdconnect.Submission
	Err        error
}

func (e *ReceiptError) Error() string {
	return "landlord: HMRC accepted the submission, but its receipt was not stored: " + e.Err.Error()
}

func (e *ReceiptError) Unwrap() error { return e.Err }

// ActorKind is who asked for an action.
type ActorKind string

// The actors.
const (
	ActorLandlord      ActorKind = "landlord"      // the landlord, on the pages
	ActorPlatform      ActorKind = "platform"      // the platform's backend, with an API key
	ActorAdministrator ActorKind = "administrator" // an administrator, on the command line
)

// Actor says who asked for an action: it is logged with it, and will say
// in an event whether a connection was, say, disconnected by the landlord,
// the platform or an administrator.
type Actor struct {
	Kind ActorKind
	// ID names the actor within its kind: the landlord's user ID, the API
	// key's ID (never the key), the administrator's name or "command line".
	ID string
}

// ByLandlord is the landlord userID, acting on the pages.
func ByLandlord(userID int64) Actor {
	return Actor{Kind: ActorLandlord, ID: strconv.FormatInt(userID, 10)}
}

// ByPlatform is the platform's backend, calling with the API key keyID.
func ByPlatform(keyID int64) Actor {
	return Actor{Kind: ActorPlatform, ID: strconv.FormatInt(keyID, 10)}
}

// ByAdministrator is an administrator; who is "command line" when the
// command line is all that is known.
func ByAdministrator(who string) Actor {
	if who == "" {
		who = "command line"
	}
	return Actor{Kind: ActorAdministrator, ID: who}
}

func (a Actor) String() string { return string(a.Kind) + " " + a.ID }

// LogValue logs the actor as by.kind and by.id.
func (a Actor) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(a.Kind)), slog.String("id", a.ID))
}

// Config configures a Service.
type Config struct {
	Store mtdconnect.Store
	HMRC  *hmrc.Client
	ITSA  *itsa.Client // over HMRC; share it, it keeps business IDs
	VAT   *vat.Client  // over HMRC
	// Proxy passes the platform's calls on to HMRC's MTD APIs (Proxy);
	// nil: one over HMRC without metrics.
	Proxy  *proxy.Client
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// Wait is how the service waits for HMRC between polls of a tax
	// calculation (HMRC asks for at least 5 seconds). nil: a timer. Tests
	// whose simulator runs on a shared clock pass one that moves it.
	Wait func(ctx context.Context, d time.Duration) error

	// ConnectSessionLifetime is how long a connect link works before the
	// landlord presses Continue to HMRC; 0: DefaultConnectSessionLifetime.
	ConnectSessionLifetime time.Duration
	// ReturnURLs are the return URLs connect sessions may send landlords
	// back to (origins or URL prefixes, ParseReturnURLPrefix), besides
	// those an administrator stores on the admin page.
	ReturnURLs []string
}

// Service runs the actions. It is safe for concurrent use.
type Service struct {
	store  mtdconnect.Store
	hmrc   *hmrc.Client
	itsa   *itsa.Client
	vat    *vat.Client
	calc   *calc.Client
	wait   func(context.Context, time.Duration) error
	proxy  *proxy.Client
	log    *slog.Logger
	now    func() time.Time
	london *time.Location

	connectLifetime time.Duration
	returnURLs      []string
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.HMRC == nil || cfg.ITSA == nil || cfg.VAT == nil {
		return nil, errors.New("landlord: store, hmrc, itsa and vat clients are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wait == nil {
		cfg.Wait = sleep
	}
	// HMRC's periods and tax years are UK calendar dates; hmrc/itsa links
	// the zone database in, so this fails only in a broken build.
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, fmt.Errorf("landlord: load the UK time zone: %w", err)
	}
	if cfg.Proxy == nil {
		if cfg.Proxy, err = proxy.New(cfg.HMRC, nil); err != nil {
			return nil, err
		}
	}
	if cfg.ConnectSessionLifetime == 0 {
		cfg.ConnectSessionLifetime = DefaultConnectSessionLifetime
	}
	if cfg.ConnectSessionLifetime < time.Minute || cfg.ConnectSessionLifetime > 7*24*time.Hour {
		return nil, fmt.Errorf("landlord: a connect session lifetime of %v is not between a minute and a week", cfg.ConnectSessionLifetime)
	}
	var returnURLs []string
	for _, u := range cfg.ReturnURLs {
		p, err := ParseReturnURLPrefix(u)
		if err != nil {
			return nil, err
		}
		returnURLs = append(returnURLs, p)
	}
	s := &Service{store: cfg.Store, hmrc: cfg.HMRC, itsa: cfg.ITSA, vat: cfg.VAT, calc: calc.New(cfg.HMRC), wait: cfg.Wait,
		proxy: cfg.Proxy, log: cfg.Logger, now: cfg.Now, london: london,
		connectLifetime: cfg.ConnectSessionLifetime, returnURLs: returnURLs}
	// The connection changes hmrc makes (the refresher's too) carry the
	// events this package decides on.
	cfg.HMRC.OnConnectionChange(s.connectionEvents)
	return s, nil
}

// user reads the landlord an action is for: ErrUnknownUser, or a
// *DeletedError for a deleted one.
func (s *Service) user(ctx context.Context, userID int64) (*mtdconnect.User, error) {
	u, err := s.records(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.Deleted() {
		return nil, &DeletedError{Handle: u.Handle(), DeletedAt: u.DeletedAt, KeptUntil: u.RecordsKeptUntil}
	}
	return u, nil
}

// records reads the landlord whose records are asked for, who may have
// been deleted (their receipts are kept for a while).
func (s *Service) records(ctx context.Context, userID int64) (*mtdconnect.User, error) {
	u, err := s.store.UserByID(ctx, userID)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("landlord: read user %d: %w", userID, err)
	}
	return u, nil
}

// record is the one place an action that changed something, or asked HMRC
// on someone's behalf, is reported once it is done: a log line with who did
// it. The webhook events are written with the change itself (events.go).
func (s *Service) record(ctx context.Context, by Actor, action string, userID int64, p mtdconnect.Purpose, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{slog.Any("by", by), slog.Int64("user_id", userID), slog.String("purpose", string(p))}, attrs...)
	s.log.LogAttrs(ctx, slog.LevelInfo, action, attrs...)
}

// today is the UK calendar date now, as midnight UTC.
func (s *Service) today() time.Time {
	y, m, d := s.now().In(s.london).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
