package hmrc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mtdconnect/mtdconnect"
)

// How a failed refresh is handled.
type failure int

const (
	failTransient  failure = iota // 5xx, timeout, reset: HMRC may or may not have applied it
	failThrottled                 // 429: not applied
	failInProgress                // HMRC is still running an earlier refresh of this grant
	failGrantGone                 // invalid_grant (or invalid_request): re-authorise
	failClient                    // our application's credentials were refused
)

// pollInterval is how often a caller waiting for another process's refresh
// looks at the store again.
const pollInterval = 50 * time.Millisecond

// accessToken returns an access token for the connection that is valid for
// at least the refresh margin, refreshing the pair first when needed.
// rejected is a token HMRC just answered 401 INVALID_CREDENTIALS to: if the
// store still holds it, it is refreshed; if another instance refreshed in
// the meantime, the new one is returned.
//
// The refresh protocol, across goroutines and processes sharing the store:
//  1. take a lease on the row by compare-and-swap (the write-ahead marker
//     that a refresh is in flight);
//  2. ask HMRC, outside any database transaction;
//  3. write the new pair and clear the lease in one compare-and-swap keyed
//     on the leased version, before the new access token is used.
//
// Losers of step 1 wait and read the winner's pair. A lease found expired
// means its holder died between 2 and 3: the stored refresh token is tried
// once, and if HMRC had already applied it, the connection is marked
// "refresh interrupted" rather than failing silently.
func (c *Client) accessToken(ctx context.Context, userID int64, p mtdconnect.Purpose, prio Priority, rejected string) (string, error) {
	// Background work takes only a slot of the budget that is free now,
	// which takes long when the budget is busy. A background refresh
	// books its slot before it takes the connection (the lock below, then
	// the lease), so a landlord's call on the same connection never waits
	// behind it: the landlord's call refreshes at its own priority.
	slotHeld := false
	var slotAt time.Time
	if prio == Background && c.refreshLooksDue(ctx, userID, p, rejected) {
		at, err := c.limiter.wait(ctx, prio)
		if err != nil {
			return "", err
		}
		slotHeld, slotAt = true, at
	}
	// Goroutines of this process queue here, so only one of them takes
	// the lease; the others then find the fresh pair in the store.
	k := connKey{userID, p}
	lock := c.lockConn(k)
	if !lock.TryLock() {
		// The slot is in the past once the holder is done: sending on it
		// would go over the budget.
		slotHeld = false
		lock.Lock()
	}
	defer c.unlockConn(k, lock)

	waitUntil := time.Now().Add(c.cfg.LeaseDuration + c.cfg.RequestTimeout)
	leaseWaited := false
	for {
		conn, err := c.store.Connection(ctx, userID, p)
		if errors.Is(err, mtdconnect.ErrNotFound) {
			return "", ErrNotConnected
		}
		if err != nil {
			return "", fmt.Errorf("hmrc: read connection: %w", err)
		}
		if err := c.usable(ctx, conn); err != nil {
			return "", err
		}
		now := c.now()
		if conn.RefreshLeaseOwner != "" && now.Before(conn.RefreshLeaseUntil) {
			// Another process is refreshing: wait for its answer. A slot
			// booked before is spent by the time it ends.
			slotHeld = false
			leaseWaited = c.metrics.leaseWait(leaseWaited)
			if time.Now().After(waitUntil) {
				return "", fmt.Errorf("%w: a refresh is still in progress", ErrUnavailable)
			}
			if err := sleep(ctx, pollInterval); err != nil {
				return "", err
			}
			continue
		}
		interrupted := conn.RefreshLeaseOwner != ""
		pair, err := c.openPair(conn)
		if err != nil {
			return "", err
		}
		if !interrupted && pair.Access != rejected && now.Add(c.cfg.RefreshMargin).Before(conn.AccessExpiresAt) {
			c.touch(ctx, conn, now)
			return pair.Access, nil
		}
		leased := *conn
		leased.RefreshLeaseOwner = c.owner
		leased.RefreshLeaseUntil = now.Add(c.cfg.LeaseDuration)
		// Counted from before the lease is written to after it is cleared,
		// so Drain covers the whole window a stop must not cut.
		c.refreshing.add()
		// Not cancelled with the caller: a lease the database took but
		// whose answer was abandoned would hold the connection for a
		// whole lease, then read as a refresh interrupted by a crash.
		if err := c.store.UpdateConnection(context.WithoutCancel(ctx), &leased); errors.Is(err, mtdconnect.ErrConflict) {
			c.refreshing.done()
			slotHeld = false
			continue // someone else moved first; look again
		} else if err != nil {
			c.refreshing.done()
			return "", fmt.Errorf("hmrc: lease connection for refresh: %w", err)
		}
		defer c.refreshing.done()
		if interrupted {
			c.audit(ctx, userID, p, mtdconnect.AuditRefreshInterrupted,
				"an earlier refresh did not finish (its process stopped); trying the stored refresh token once")
			c.log.Warn("hmrc refresh interrupted earlier; recovering", "user_id", userID, "purpose", p, "lease_owner", conn.RefreshLeaseOwner)
		}
		// Taking the lease took time: a slot reached late is not used.
		return c.refreshLeased(ctx, &leased, pair.Refresh, prio, interrupted, slotHeld && c.limiter.onTime(slotAt))
	}
}

// refreshLooksDue reads the connection without taking it and says whether
// accessToken would refresh it now. Anything unusual answers false:
// accessToken finds and reports it.
func (c *Client) refreshLooksDue(ctx context.Context, userID int64, p mtdconnect.Purpose, rejected string) bool {
	conn, err := c.store.Connection(ctx, userID, p)
	if err != nil || conn.Status != mtdconnect.StatusConnected {
		return false
	}
	if conn.RefreshLeaseOwner != "" {
		// Refreshing elsewhere (nothing to book), or interrupted.
		return !c.now().Before(conn.RefreshLeaseUntil)
	}
	pair, err := c.openPair(conn)
	if err != nil {
		return false
	}
	return pair.Access == rejected || !c.now().Add(c.cfg.RefreshMargin).Before(conn.AccessExpiresAt)
}

// usable refuses connections that must not be used as they are.
func (c *Client) usable(ctx context.Context, conn *mtdconnect.Connection) error {
	if conn.Status == mtdconnect.StatusNeedsReconnect {
		return &ReconnectError{Reason: conn.Reason}
	}
	// A sandbox token is never sent to production, nor one of another
	// application: HMRC would refuse it, and it would leak across.
	if _, err := c.checkApplication(ctx, conn); err != nil {
		return err
	}
	if !c.now().Before(conn.GrantEndsAt()) {
		if err := c.markReconnect(ctx, conn, mtdconnect.ReasonGrantExpired); err != nil && !errors.Is(err, mtdconnect.ErrConflict) {
			return err
		}
		return &ReconnectError{Reason: mtdconnect.ReasonGrantExpired}
	}
	return nil
}

// refreshLeased refreshes a connection this process holds the lease of.
// slotHeld says the first request's slot of the budget is already booked.
func (c *Client) refreshLeased(ctx context.Context, conn *mtdconnect.Connection, refreshToken string, prio Priority, interrupted, slotHeld bool) (string, error) {
	// Detached from the caller: a landlord closing the page must not
	// abandon a refresh HMRC may already have applied. Bounded well inside
	// the lease so a live holder never outlives it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LeaseDuration*3/4)
	defer cancel()

	// Checked again with the credentials the refresh is sent with: the
	// application may have changed since usable looked.
	conf, err := c.checkApplication(rctx, conn)
	if err != nil {
		var gone *ReconnectError
		if !errors.As(err, &gone) {
			c.release(ctx, conn, "the HMRC application could not be read")
		}
		return "", err
	}
	ambiguous := interrupted || conn.RefreshFailures > 0
	var lastErr error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(rctx, backoff(c.cfg.RetryBase, attempt-1)); err != nil {
				break
			}
		}
		if attempt > 1 || !slotHeld {
			// This process holds the lease now, and landlords may be
			// waiting on it: background work books its retries, and a
			// first try whose slot went by while the lease was taken, as
			// scheduled work, not as "only a slot free now".
			waitAs := prio
			if waitAs == Background {
				waitAs = Scheduled
			}
			if err := c.limiter.Wait(rctx, waitAs); err != nil {
				var busy *BusyError
				if attempt == 1 && errors.As(err, &busy) {
					// Nothing was sent: not a failure of the refresh.
					c.unlease(ctx, conn)
					return "", err
				}
				lastErr = err
				break
			}
		}
		tok, err := conf.TokenSource(c.oauthContext(rctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
		c.metrics.refreshAttempt(err, interrupted)
		if err == nil {
			return c.saveRefreshed(ctx, conn, tok)
		}
		lastErr = err
		switch classify(err) {
		case failGrantGone:
			reason := mtdconnect.ReasonRevoked
			if ambiguous {
				// An earlier attempt may have been applied by HMRC with
				// its answer lost: say so, rather than blame the landlord.
				reason = mtdconnect.ReasonRefreshInterrupted
			}
			if err := c.markReconnect(ctx, conn, reason); err != nil {
				return "", err
			}
			return "", &ReconnectError{Reason: reason}
		case failClient:
			c.release(ctx, conn, "HMRC refused this service's client credentials")
			return "", fmt.Errorf("hmrc: refresh: application credentials refused: %v", redact(err))
		case failThrottled:
			c.limiter.Throttled(rctx)
		case failTransient:
			ambiguous = true
		case failInProgress:
			// Only a request of ours that HMRC is still serving can hold
			// the grant: wait for it to end, then try again.
		}
		c.log.Warn("hmrc refresh failed; retrying", "user_id", conn.UserID, "purpose", conn.Purpose, "attempt", attempt, "err", redact(err))
	}
	detail := "HMRC could not be reached to refresh the token: " + redact(lastErr)
	c.release(ctx, conn, detail)
	c.audit(ctx, conn.UserID, conn.Purpose, mtdconnect.AuditRefreshFailed, detail)
	return "", fmt.Errorf("%w: refresh: %s", ErrUnavailable, redact(lastErr))
}

// saveRefreshed stores the rotated pair and clears the lease. The write is
// retried: losing it would lose the single-use refresh token.
func (c *Client) saveRefreshed(ctx context.Context, conn *mtdconnect.Connection, tok *oauth2.Token) (string, error) {
	sealed, err := c.sealPair(conn.UserID, conn.Purpose, tok.AccessToken, tok.RefreshToken)
	if err != nil {
		return "", err
	}
	now := c.now()
	next := *conn
	next.Tokens = sealed
	next.AccessExpiresAt = c.expiry(tok)
	next.LastRefreshAt = now
	next.LastUsedAt = now
	next.RefreshLeaseOwner, next.RefreshLeaseUntil = "", time.Time{}
	next.RefreshFailures, next.LastError = 0, ""
	wctx := context.WithoutCancel(ctx)
	events := c.eventsOf(wctx, conn, &next)
	for attempt := 1; ; attempt++ {
		err = c.store.UpdateConnection(wctx, &next, events...)
		if err == nil {
			break
		}
		if errors.Is(err, mtdconnect.ErrConflict) || errors.Is(err, mtdconnect.ErrNotFound) || attempt == 5 {
			// The row moved on under our lease (a new grant, a
			// disconnect) or the store is down: the new pair is lost.
			c.log.Error("hmrc rotated tokens could not be saved", "user_id", conn.UserID, "purpose", conn.Purpose, "err", err)
			return "", fmt.Errorf("hmrc: save refreshed tokens: %w", err)
		}
		_ = sleep(wctx, backoff(50*time.Millisecond, attempt))
	}
	c.audit(ctx, conn.UserID, conn.Purpose, mtdconnect.AuditRefreshed, "access token refreshed")
	c.log.Info("hmrc token refreshed", "user_id", conn.UserID, "purpose", conn.Purpose)
	return tok.AccessToken, nil
}

// release clears our lease after a refresh that HMRC did not complete,
// keeping the stored pair: the refresh token was not (known to be) used.
func (c *Client) release(ctx context.Context, conn *mtdconnect.Connection, detail string) {
	next := *conn
	next.RefreshLeaseOwner, next.RefreshLeaseUntil = "", time.Time{}
	next.RefreshFailures++
	next.LastError = truncate(detail, 300)
	wctx := context.WithoutCancel(ctx)
	if err := c.store.UpdateConnection(wctx, &next, c.eventsOf(wctx, conn, &next)...); err != nil {
		c.log.Error("hmrc release refresh lease", "user_id", conn.UserID, "err", err)
	}
}

// unlease clears our lease of a refresh that never reached HMRC.
func (c *Client) unlease(ctx context.Context, conn *mtdconnect.Connection) {
	next := *conn
	next.RefreshLeaseOwner, next.RefreshLeaseUntil = "", time.Time{}
	if err := c.store.UpdateConnection(context.WithoutCancel(ctx), &next); err != nil {
		c.log.Error("hmrc release refresh lease", "user_id", conn.UserID, "err", err)
	}
}

// markReconnect records that the grant is gone and shreds the tokens.
func (c *Client) markReconnect(ctx context.Context, conn *mtdconnect.Connection, reason string) error {
	next := *conn
	next.Status = mtdconnect.StatusNeedsReconnect
	next.Reason = reason
	next.Tokens = nil
	next.RefreshLeaseOwner, next.RefreshLeaseUntil = "", time.Time{}
	wctx := context.WithoutCancel(ctx)
	if err := c.store.UpdateConnection(wctx, &next, c.eventsOf(wctx, conn, &next)...); err != nil {
		return fmt.Errorf("hmrc: mark needs reconnect: %w", err)
	}
	*conn = next
	c.metrics.reconnect(reason)
	c.audit(ctx, conn.UserID, conn.Purpose, mtdconnect.AuditNeedsReconnect, reason)
	c.log.Warn("hmrc connection needs reconnect", "user_id", conn.UserID, "purpose", conn.Purpose, "reason", reason)
	return nil
}

// touch records that the connection is in use, at most once a minute, so
// the background refresher keeps only used connections fresh.
func (c *Client) touch(ctx context.Context, conn *mtdconnect.Connection, now time.Time) {
	if now.Sub(conn.LastUsedAt) < time.Minute {
		return
	}
	if err := c.store.TouchConnection(ctx, conn.UserID, conn.Purpose, now); err != nil {
		c.log.Warn("hmrc touch connection", "user_id", conn.UserID, "err", err)
	}
}

// Refresh refreshes the connection now, whatever its expiry.
func (c *Client) Refresh(ctx context.Context, userID int64, p mtdconnect.Purpose) error {
	conn, err := c.store.Connection(ctx, userID, p)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return ErrNotConnected
	}
	if err != nil {
		return fmt.Errorf("hmrc: refresh: %w", err)
	}
	if err := c.usable(ctx, conn); err != nil {
		return err
	}
	pair, err := c.openPair(conn)
	if err != nil {
		return err
	}
	// Naming the current access token as rejected forces a refresh, unless
	// another caller has just refreshed, which serves as well.
	_, err = c.accessToken(ctx, userID, p, Interactive, pair.Access)
	return err
}

func classify(err error) failure {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return failTransient // transport: timeout, reset, refused
	}
	status := re.Response.StatusCode
	switch {
	case status == http.StatusTooManyRequests:
		return failThrottled
	case status >= 500:
		return failTransient
	case status == http.StatusUnauthorized || re.ErrorCode == "invalid_client":
		return failClient
	case re.ErrorCode == "invalid_request" && strings.Contains(strings.ToLower(re.ErrorDescription), "in progress"):
		return failInProgress
	default:
		// invalid_grant, and invalid_request (HMRC's documented code for
		// an expired grant), and any other refusal: the grant is gone.
		return failGrantGone
	}
}

func (c *Client) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

// noteThrottle slows the deployment down when HMRC answered 429.
func (c *Client) noteThrottle(ctx context.Context, err error) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusTooManyRequests {
		c.limiter.Throttled(ctx)
	}
}

// redact renders an error for logs and users. x/oauth2's errors quote the
// response body, which on success would hold tokens; errors here carry only
// HMRC's error code and description.
func redact(err error) string {
	if err == nil {
		return ""
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		s := fmt.Sprintf("HTTP %d", status)
		if re.ErrorCode != "" {
			s += " " + re.ErrorCode
		}
		if re.ErrorDescription != "" {
			s += ": " + truncate(re.ErrorDescription, 200)
		}
		return s
	}
	return truncate(err.Error(), 300)
}

func backoff(base time.Duration, n int) time.Duration {
	d := base << min(n-1, 6)
	// Full jitter spreads retries of many instances apart.
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// applicationToken gets an application-restricted access token with the
// client_credentials grant, the client ID and secret in the form body as
// HMRC wants. It asks for no scope: HMRC's test-support APIs need none. A token
// request is safe to repeat, so transient failures are retried.
func (c *Client) applicationToken(ctx context.Context) (string, error) {
	cr := c.creds.current(ctx)
	cc := clientcredentials.Config{
		ClientID: cr.clientID, ClientSecret: cr.secret,
		TokenURL: c.oauth.Endpoint.TokenURL, AuthStyle: oauth2.AuthStyleInParams,
	}
	var lastErr error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, backoff(c.cfg.RetryBase, attempt-1)); err != nil {
				return "", err
			}
		}
		if err := c.limiter.Wait(ctx, Interactive); err != nil {
			return "", err
		}
		tok, err := cc.Token(c.oauthContext(ctx))
		if err == nil {
			return tok.AccessToken, nil
		}
		lastErr = err
		switch classify(err) {
		case failThrottled:
			c.limiter.Throttled(ctx)
		case failTransient:
		default:
			return "", fmt.Errorf("hmrc: application token refused: %s", redact(err))
		}
	}
	return "", fmt.Errorf("%w: application token: %s", ErrUnavailable, redact(lastErr))
}
