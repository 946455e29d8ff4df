// Package landlord is the one place of each action a landlord's HMRC
// connection and filings go through, whoever asks: the landlord on the
// pages, the platform through the JSON API, an administrator on the command
// line. An action validates, calls HMRC (on a detached context where the
// outcome must be kept), keeps the receipt and logs one line; the pages and
// the API only decode, call and render.
package landlord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
)

// Errors callers branch on.
var (
	// ErrNoNINO and ErrNoVRN: the landlord's identifier the call needs is
	// not stored yet.
	ErrNoNINO = errors.New("landlord: no National Insurance number for the landlord")
	ErrNoVRN  = errors.New("landlord: no VAT registration number for the landlord")
)

// Config configures a Service.
type Config struct {
	Store  mtdconnect.Store
	HMRC   *hmrc.Client
	ITSA   *itsa.Client
	VAT    *vat.Client
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
}

// Service runs the actions. It is safe for concurrent use.
type Service struct {
	store mtdconnect.Store
	hmrc  *hmrc.Client
	itsa  *itsa.Client
	vat   *vat.Client
	log   *slog.Logger
	now   func() time.Time
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
	return &Service{store: cfg.Store, hmrc: cfg.HMRC, itsa: cfg.ITSA, vat: cfg.VAT, log: cfg.Logger, now: cfg.Now}, nil
}

// Test checks the connection with the cheapest call of the purpose's own
// API, because HMRC's Hello World user endpoint wants a "hello" scope that
// a connection never asks for: for Income Tax it lists the landlord's
// businesses (Business Details), for VAT their open obligations. It needs
// the landlord's NINO (ErrNoNINO) or VRN (ErrNoVRN), and returns what HMRC
// said, in words.
func (s *Service) Test(ctx context.Context, userID int64, p mtdconnect.Purpose, origin *fraud.Origin) (string, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("landlord: test connection: %w", err)
	}
	var msg string
	switch p {
	case mtdconnect.PurposeVAT:
		if u.VRN == "" {
			return "", ErrNoVRN
		}
		var obs []vat.Obligation
		obs, err = s.vat.Obligations(ctx, userID, u.VRN, time.Time{}, time.Time{}, vat.StatusOpen, origin)
		switch len(obs) {
		case 0:
			msg = "HMRC answered: no open VAT returns"
		case 1:
			msg = "HMRC answered: 1 open VAT return"
		default:
			msg = fmt.Sprintf("HMRC answered: %d open VAT returns", len(obs))
		}
	default:
		if u.NINO == "" {
			return "", ErrNoNINO
		}
		var id string
		// Not through the cache: the point is to ask HMRC now.
		id, err = s.itsa.UKPropertyBusinessID(ctx, userID, u.NINO, origin, itsa.WithoutCache())
		if errors.Is(err, itsa.ErrNoUKProperty) {
			msg, err = "HMRC answered: no UK property business is registered for your National Insurance number", nil
		} else {
			msg = "HMRC answered: your UK property business is " + id
		}
	}
	if err != nil {
		var ae *hmrc.APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			// A 401 that survived a refresh means the grant is gone.
			return "", &hmrc.ReconnectError{Reason: mtdconnect.ReasonRevoked}
		}
		return "", err
	}
	return msg, nil
}

// ITSA and VAT are the service's API clients, for the pages and the API
// until every action they take has its home here.
func (s *Service) ITSA() *itsa.Client { return s.itsa }

// VAT: see ITSA.
func (s *Service) VAT() *vat.Client { return s.vat }
