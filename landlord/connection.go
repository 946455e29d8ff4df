package landlord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
)

// ConnectionStatus is a landlord's connection for one purpose as anyone
// outside hmrc may see it: never a token.
type ConnectionStatus struct {
	UserID  int64
	Purpose mtdconnect.Purpose
	Status  mtdconnect.Status // StatusNotConnected when there is no connection
	Reason  string            // why it needs reconnecting, in words a landlord reads
	Scopes  []string
	// The times are zero when not known (no connection, never refreshed).
	ConnectedSince       time.Time // when HMRC granted the authority
	AccessTokenExpiresAt time.Time
	AuthorityEndsAt      time.Time // HMRC's 18 months from the grant
	LastRefreshAt        time.Time
}

// Connected reports whether HMRC's authority is held and usable.
func (c *ConnectionStatus) Connected() bool { return c.Status == mtdconnect.StatusConnected }

// Status reads the landlord's connection for p; none is a status
// (StatusNotConnected), not an error. A grant past its 18 months, or one of
// an application no longer in use, is marked as needing reconnection on
// the way.
func (s *Service) Status(ctx context.Context, userID int64, p mtdconnect.Purpose) (*ConnectionStatus, error) {
	if _, err := s.user(ctx, userID); err != nil {
		return nil, err
	}
	st := &ConnectionStatus{UserID: userID, Purpose: p, Status: mtdconnect.StatusNotConnected, Scopes: []string{}}
	conn, err := s.hmrc.Connection(ctx, userID, p)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st.Status, st.Reason, st.Scopes = conn.Status, conn.Reason, strings.Fields(conn.Scopes)
	st.ConnectedSince, st.AccessTokenExpiresAt, st.LastRefreshAt = conn.GrantedAt, conn.AccessExpiresAt, conn.LastRefreshAt
	if !conn.GrantedAt.IsZero() {
		st.AuthorityEndsAt = conn.GrantEndsAt()
	}
	return st, nil
}

// StartConnect begins connecting the landlord to HMRC for p: it returns
// HMRC's authorise URL to send the landlord to, and the state that will
// come back with HMRC's answer. redirectURI "" is the service's web
// callback; hmrc.OOBRedirectURI makes HMRC show the code instead.
func (s *Service) StartConnect(ctx context.Context, by Actor, userID int64, p mtdconnect.Purpose, redirectURI string) (authURL, state string, err error) {
	if _, err := s.user(ctx, userID); err != nil {
		return "", "", err
	}
	authURL, state, err = s.hmrc.StartAuthorization(ctx, userID, p, redirectURI)
	if err != nil {
		return "", "", err
	}
	s.record(ctx, by, "connection started", userID, p)
	return authURL, state, nil
}

// CompleteConnect finishes the connection StartConnect began, with the
// code HMRC sent back for state: the new grant replaces whatever
// connection the landlord had for that purpose. The exchange is not
// cancelled with the caller: a code is single-use, and tokens HMRC issued
// must be kept.
func (s *Service) CompleteConnect(ctx context.Context, by Actor, userID int64, state, code string) (*ConnectionStatus, error) {
	if _, err := s.user(ctx, userID); err != nil {
		return nil, err
	}
	conn, err := s.hmrc.CompleteAuthorization(withActor(context.WithoutCancel(ctx), by), userID, state, code)
	if err != nil {
		return nil, err
	}
	s.record(ctx, by, "connected", userID, conn.Purpose, slog.String("scopes", conn.Scopes))
	return s.Status(ctx, userID, conn.Purpose)
}

// DenyConnect records that the landlord declined at HMRC (HMRC sent back
// an error for state, with its description); the connection, if any, is
// untouched. It returns the state errors of hmrc (ErrStateUnknown...) when
// the answer cannot be matched to a request of this landlord. It returns
// the purpose the landlord declined.
func (s *Service) DenyConnect(ctx context.Context, by Actor, userID int64, state, description string) (mtdconnect.Purpose, error) {
	if _, err := s.user(ctx, userID); err != nil {
		return "", err
	}
	p, err := s.hmrc.DenyAuthorization(ctx, userID, state, description)
	if err != nil {
		return "", err
	}
	s.record(ctx, by, "connection declined", userID, p)
	return p, nil
}

// Refresh refreshes the connection's access token now, whatever its
// expiry (it is otherwise refreshed when needed).
func (s *Service) Refresh(ctx context.Context, by Actor, userID int64, p mtdconnect.Purpose) error {
	if _, err := s.user(ctx, userID); err != nil {
		return err
	}
	if err := s.hmrc.Refresh(ctx, userID, p); err != nil {
		return err
	}
	s.record(ctx, by, "connection refreshed", userID, p)
	return nil
}

// Test checks the connection with the cheapest call of the purpose's own
// API, because HMRC's Hello World user endpoint wants a "hello" scope that
// a connection never asks for: for Income Tax it lists the landlord's
// businesses (Business Details, asked now, not the stored business ID,
// which HMRC's answer replaces), for VAT
// their open obligations. It needs the landlord's NINO (ErrNoNINO) or VRN
// (ErrNoVRN), and returns what HMRC said, in words. testScenario is HMRC's
// sandbox Gov-Test-Scenario ("" for none): STATEFUL lists the sandbox's
// test businesses, and the one found is stored as the landlord's.
func (s *Service) Test(ctx context.Context, by Actor, userID int64, p mtdconnect.Purpose, origin *fraud.Origin, testScenario string) (string, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return "", err
	}
	var msg string
	switch p {
	case mtdconnect.PurposeVAT:
		if u.VRN == "" {
			return "", ErrNoVRN
		}
		var obs []vat.Obligation
		obs, err = s.vat.Obligations(ctx, userID, u.VRN, time.Time{}, time.Time{}, vat.StatusOpen, origin, vat.WithTestScenario(testScenario))
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
		id, err = s.itsa.UKPropertyBusinessID(ctx, userID, u.NINO, origin, itsa.WithoutCache(), itsa.WithTestScenario(testScenario))
		if errors.Is(err, itsa.ErrNoUKProperty) {
			msg, err = "HMRC answered: no UK property business is registered for your National Insurance number", nil
		} else {
			msg = "HMRC answered: your UK property business is " + id
		}
	}
	if err != nil {
		// A grant that is gone shows as its refresh refused (a
		// *hmrc.ReconnectError, the connection marked): a 401 alone says
		// only that HMRC refused the tokens the call carried.
		return "", err
	}
	s.record(ctx, by, "connection tested", userID, p)
	return msg, nil
}

// Disconnect deletes the landlord's tokens for p. HMRC has no revocation
// endpoint for applications: the landlord removes the authority there
// (hmrc.ProductionManageAuthorityURL). hmrc.ErrNotConnected when there is
// no connection.
func (s *Service) Disconnect(ctx context.Context, by Actor, userID int64, p mtdconnect.Purpose) error {
	if _, err := s.user(ctx, userID); err != nil {
		return err
	}
	if err := s.hmrc.Disconnect(withActor(ctx, by), userID, p); err != nil {
		return err
	}
	if p == mtdconnect.PurposeIncomeTax {
		// Read under the authority just given up.
		s.forgetObligations(ctx, userID)
	}
	s.record(ctx, by, "disconnected", userID, p)
	return nil
}
