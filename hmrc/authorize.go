package hmrc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/mtdconnect/mtdconnect"
)

// AuthorizationLifetime is how long a started authorisation waits for HMRC
// to send the landlord back: HMRC honours an authorisation code 10
// minutes, so a pending request lives no longer.
const AuthorizationLifetime = 10 * time.Minute

const codeLifetime = AuthorizationLifetime

// sealedPair is the plaintext inside Connection.Tokens.
type sealedPair struct {
	Access  string `json:"a"`
	Refresh string `json:"r"`
}

// StartAuthorization records a pending authorisation for the user and
// returns HMRC's authorise URL with a fresh state and a PKCE S256
// challenge. redirectURI "" means the configured web callback; pass
// OOBRedirectURI for the manual flow.
func (c *Client) StartAuthorization(ctx context.Context, userID int64, purpose mtdconnect.Purpose, redirectURI string) (authURL, state string, err error) {
	if !purpose.Valid() {
		return "", "", fmt.Errorf("hmrc: unknown purpose %q", purpose)
	}
	if err := c.requireConsent(ctx); err != nil {
		return "", "", err
	}
	if redirectURI == "" {
		redirectURI = c.cfg.RedirectURL
	}
	b := make([]byte, 32)
	rand.Read(b)
	state = base64.RawURLEncoding.EncodeToString(b)
	verifier := oauth2.GenerateVerifier()
	sealed, err := c.sealer.Seal([]byte(verifier), verifierAD(state))
	if err != nil {
		return "", "", err
	}
	now := c.now()
	p := &mtdconnect.PendingAuthorization{
		State: state, UserID: userID, Purpose: purpose, Verifier: sealed,
		RedirectURI: redirectURI, CreatedAt: now, ExpiresAt: now.Add(codeLifetime),
	}
	if err := c.store.CreatePendingAuthorization(ctx, p); err != nil {
		return "", "", fmt.Errorf("hmrc: start authorisation: %w", err)
	}
	conf := c.oauthConfig(c.creds.current(ctx))
	conf.RedirectURL = redirectURI
	conf.Scopes = purpose.Scopes()
	return conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), state, nil
}

// takePending checks that state names an unexpired request of userID and
// consumes it, so a replayed callback finds nothing. A request of another
// user is left alone for its owner.
func (c *Client) takePending(ctx context.Context, userID int64, state string) (*mtdconnect.PendingAuthorization, error) {
	if state == "" {
		return nil, ErrStateUnknown
	}
	p, err := c.store.PendingAuthorization(ctx, state)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrStateUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("hmrc: read authorisation request: %w", err)
	}
	if p.UserID != userID {
		return nil, ErrStateOtherUser
	}
	if err := c.store.DeletePendingAuthorization(ctx, state); errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrStateUnknown // consumed concurrently
	} else if err != nil {
		return nil, fmt.Errorf("hmrc: consume authorisation request: %w", err)
	}
	if !c.now().Before(p.ExpiresAt) {
		return nil, ErrStateExpired
	}
	return p, nil
}

// CompleteAuthorization exchanges the code HMRC sent back for the pending
// request named by state, and stores the new token pair sealed. A new grant
// replaces whatever connection the user had for that purpose.
func (c *Client) CompleteAuthorization(ctx context.Context, userID int64, state, code string) (*mtdconnect.Connection, error) {
	p, err := c.takePending(ctx, userID, state)
	if err != nil {
		return nil, err
	}
	if code == "" {
		return nil, &ExchangeError{Code: "invalid_request", Description: "no authorisation code was given"}
	}
	verifier, err := c.sealer.Open(p.Verifier, verifierAD(state))
	if err != nil {
		return nil, fmt.Errorf("hmrc: open verifier: %w", err)
	}
	// One read of the credentials for the exchange and the connection,
	// which records the application that issued its tokens.
	cr := c.creds.current(ctx)
	conf := c.oauthConfig(cr)
	conf.RedirectURL = p.RedirectURI
	if err := c.limiter.Wait(ctx, Interactive); err != nil {
		return nil, err
	}
	// The exchange is not retried: a code is single-use, and a lost answer
	// cannot be asked for again.
	tok, err := conf.Exchange(c.oauthContext(ctx), code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 && re.Response.StatusCode != 429 {
			c.audit(ctx, userID, p.Purpose, mtdconnect.AuditRefreshFailed, "HMRC refused the authorisation code: "+re.ErrorCode)
			return nil, &ExchangeError{Code: re.ErrorCode, Description: re.ErrorDescription}
		}
		c.noteThrottle(ctx, err)
		return nil, fmt.Errorf("%w: exchange code: %v", ErrUnavailable, redact(err))
	}
	now := c.now()
	scopes, _ := tok.Extra("scope").(string)
	if scopes == "" {
		scopes = scopeString(p.Purpose)
	}
	conn := &mtdconnect.Connection{
		UserID: userID, Purpose: p.Purpose, Status: mtdconnect.StatusConnected,
		Scopes: scopes, AccessExpiresAt: c.expiry(tok), GrantedAt: now,
		Environment: c.cfg.Environment, ClientID: cr.clientID,
		LastUsedAt: now,
	}
	if conn.Tokens, err = c.sealPair(userID, p.Purpose, tok.AccessToken, tok.RefreshToken); err != nil {
		return nil, err
	}
	if err := c.store.SaveConnection(ctx, conn, c.eventsOf(ctx, nil, conn)...); err != nil {
		return nil, fmt.Errorf("hmrc: save connection: %w", err)
	}
	c.audit(ctx, userID, p.Purpose, mtdconnect.AuditConnected, "authority granted for "+scopes)
	c.log.Info("hmrc connected", "user_id", userID, "purpose", p.Purpose)
	return conn, nil
}

// DenyAuthorization records that the landlord declined at HMRC, and
// returns the purpose they were asked for (so the landlord can be taken
// back to it). The pending request is consumed; the connection, if any, is
// untouched.
func (c *Client) DenyAuthorization(ctx context.Context, userID int64, state, description string) (mtdconnect.Purpose, error) {
	p, err := c.takePending(ctx, userID, state)
	if err != nil {
		return "", err
	}
	detail := "authority not granted at HMRC"
	if description != "" {
		detail += ": " + truncate(description, 200)
	}
	c.audit(ctx, userID, p.Purpose, mtdconnect.AuditConsentDenied, detail)
	return p.Purpose, nil
}

// Connection returns the user's connection for purpose, or
// mtdconnect.ErrNotFound. A grant past its 18 months is marked as needing
// reconnection on the way.
func (c *Client) Connection(ctx context.Context, userID int64, purpose mtdconnect.Purpose) (*mtdconnect.Connection, error) {
	conn, err := c.store.Connection(ctx, userID, purpose)
	if err != nil {
		return nil, err
	}
	if conn.Status == mtdconnect.StatusConnected && !c.now().Before(conn.GrantEndsAt()) {
		if err := c.markReconnect(ctx, conn, mtdconnect.ReasonGrantExpired); err != nil && !errors.Is(err, mtdconnect.ErrConflict) {
			return nil, err
		}
		return c.store.Connection(ctx, userID, purpose)
	}
	// A connection of an application no longer in use is marked on the
	// way too, so the landlord sees it needs reconnecting.
	if conn.Status == mtdconnect.StatusConnected && conn.Environment == c.cfg.Environment {
		var re *ReconnectError
		if _, err := c.checkApplication(ctx, conn); errors.As(err, &re) {
			return c.store.Connection(ctx, userID, purpose)
		} else if err != nil {
			return nil, err
		}
	}
	return conn, nil
}

// Disconnect deletes the user's tokens for purpose. HMRC has no revocation
// endpoint for applications; the landlord removes the authority there.
func (c *Client) Disconnect(ctx context.Context, userID int64, purpose mtdconnect.Purpose) error {
	before, err := c.store.Connection(ctx, userID, purpose)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return ErrNotConnected
	} else if err != nil {
		return fmt.Errorf("hmrc: disconnect: %w", err)
	}
	if err := c.store.DeleteConnection(ctx, userID, purpose, c.eventsOf(ctx, before, nil)...); err != nil && !errors.Is(err, mtdconnect.ErrNotFound) {
		return fmt.Errorf("hmrc: disconnect: %w", err)
	}
	c.audit(ctx, userID, purpose, mtdconnect.AuditDisconnected, "tokens deleted")
	c.log.Info("hmrc disconnected", "user_id", userID, "purpose", purpose)
	return nil
}

func (c *Client) sealPair(userID int64, p mtdconnect.Purpose, access, refresh string) ([]byte, error) {
	b, err := json.Marshal(sealedPair{Access: access, Refresh: refresh})
	if err != nil {
		return nil, err
	}
	return c.sealer.Seal(b, tokensAD(userID, p))
}

func (c *Client) openPair(conn *mtdconnect.Connection) (sealedPair, error) {
	var sp sealedPair
	b, err := c.sealer.Open(conn.Tokens, tokensAD(conn.UserID, conn.Purpose))
	if err != nil {
		return sp, fmt.Errorf("hmrc: open tokens of user %d: %w", conn.UserID, err)
	}
	return sp, json.Unmarshal(b, &sp)
}

func (c *Client) audit(ctx context.Context, userID int64, p mtdconnect.Purpose, kind, detail string) {
	e := &mtdconnect.AuditEvent{UserID: userID, Purpose: p, Kind: kind, Detail: detail, At: c.now()}
	// The audit must not be lost with a cancelled request.
	if err := c.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		c.log.Error("audit", "user_id", userID, "kind", kind, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// expiry is when tok's access token expires on the client's clock; x/oauth2
// computes tok.Expiry from the wall clock, which tests replace.
func (c *Client) expiry(tok *oauth2.Token) time.Time {
	if tok.ExpiresIn > 0 {
		return c.now().Add(time.Duration(tok.ExpiresIn) * time.Second).UTC()
	}
	return tok.Expiry.UTC()
}
