package web

// Guessing at sign-in is bounded without handing an attacker a way to lock
// the landlord out:
//
//   - only wrong guesses count, never a sign-in that succeeds;
//   - they count per account and per source: the browser, when it holds
//     the account's known-device cookie (set when it signed in before), or
//     else its address, so someone guessing from elsewhere spends their own
//     allowance, not the landlord's;
//   - guesses from anywhere but a known device also count for the account
//     as a whole and for their address across accounts, which bounds
//     guessing from many addresses, or at many accounts. Only then can a
//     landlord on a browser that never signed in be made to wait; their own
//     browser never is.
//
// The counts are rate budgets in the store (ReserveSlot), so every instance
// shares them; a bucket allows burst guesses at once, then one per
// interval. Budgets that have run down are deleted by the expiry sweep.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect/seal"
)

// limit is a bucket of guesses: burst at once, then one per interval.
type limit struct {
	name     string
	burst    int
	interval time.Duration
}

// The buckets. Passwords: 10 wrong from one source, then one every 30 s;
// 30 for the account from all unknown sources, then one a minute; 100 from
// one address over all accounts, then one every 6 s. Authenticator codes
// (the second step, and removing the app): 5 from one source, then one a
// minute; 10 for the account from unknown sources, then one a minute.
var (
	passwordPerSource  = limit{"signin-src", 10, 30 * time.Second}
	passwordPerAccount = limit{"signin-acct", 30, time.Minute}
	passwordPerAddress = limit{"signin-addr", 100, 6 * time.Second}
	codePerSource      = limit{"code-src", 5, time.Minute}
	codePerAccount     = limit{"code-acct", 10, time.Minute}
)

// guessKeys are the buckets one guess counts in.
type guessKeys struct {
	keys   []string
	limits []limit
}

func (g *guessKeys) add(l limit, parts ...string) {
	// Hashed: an attacker's 60,000-character email must not become a
	// 60,000-character row.
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	g.keys = append(g.keys, l.name+":"+hex.EncodeToString(h[:16]))
	g.limits = append(g.limits, l)
}

// passwordKeys are the buckets of a password guess at the account named by
// email (whether or not it exists, so the answers do not tell), made by r.
// userID is the account's, 0 when there is none.
func (s *Server) passwordKeys(r *http.Request, email string, userID int64) guessKeys {
	account := "email:" + strings.ToLower(email)
	var g guessKeys
	if dev, ok := s.knownDevice(r, userID); ok {
		g.add(passwordPerSource, account, "device:"+dev)
		return g
	}
	addr := s.sourceAddress(r)
	g.add(passwordPerSource, account, "addr:"+addr)
	g.add(passwordPerAccount, account)
	g.add(passwordPerAddress, "addr:"+addr)
	return g
}

// codeKeys are the buckets of an authenticator code guess for userID.
func (s *Server) codeKeys(r *http.Request, userID int64) guessKeys {
	account := "user:" + strconv.FormatInt(userID, 10)
	var g guessKeys
	if dev, ok := s.knownDevice(r, userID); ok {
		g.add(codePerSource, account, "device:"+dev)
		return g
	}
	g.add(codePerSource, account, "addr:"+s.sourceAddress(r))
	g.add(codePerAccount, account)
	return g
}

// allowed looks, without counting, whether every bucket has room for one
// more guess; if not, it says how long until it has.
func (s *Server) allowed(ctx context.Context, g guessKeys) (time.Duration, error) {
	now := s.now()
	var wait time.Duration
	for i, key := range g.keys {
		l := g.limits[i]
		at, _, err := s.store.ReserveSlot(ctx, key, l.interval, -1, now)
		if err != nil {
			return 0, fmt.Errorf("web: count guesses: %w", err)
		}
		// Room while the bucket's next slot is within burst-1 intervals.
		wait = max(wait, at.Sub(now.Add(time.Duration(l.burst-1)*l.interval)))
	}
	return wait, nil
}

// countAlways is a maxWait no bucket reaches: a wrong guess is always
// counted.
const countAlways = 100 * 365 * 24 * time.Hour

// failed counts a wrong guess in every bucket. It is not cancelled with
// the request: a guesser hanging up must not go uncounted.
func (s *Server) failed(ctx context.Context, g guessKeys) {
	ctx = context.WithoutCancel(ctx)
	for i, key := range g.keys {
		if _, _, err := s.store.ReserveSlot(ctx, key, g.limits[i].interval, countAlways, s.now()); err != nil {
			s.log.Error("count a wrong sign-in guess", "err", err)
		}
	}
}

// retrySeconds is wait in whole seconds for Retry-After, at least 1.
func retrySeconds(wait time.Duration) int {
	return max(1, int((wait+time.Second-1)/time.Second))
}

// waitWords says how long to wait in words: "20 seconds", "3 minutes".
func waitWords(wait time.Duration) string {
	if n := retrySeconds(wait); n < 120 {
		return plural(n, "second")
	}
	return plural(int((wait+time.Minute-1)/time.Minute), "minute")
}

// sourceAddress is where the request came from, as far as a guess counts:
// the client's IPv4 address, or its IPv6 /64 (one subscriber's network).
func (s *Server) sourceAddress(r *http.Request) string {
	client, _, err := s.clientPeer(r)
	if err != nil || !client.addr.IsValid() {
		return "unknown"
	}
	a := client.addr
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return netip.PrefixFrom(a, 32).Masked().Addr().String()
}

// The known-device cookie: set when a browser signs in, sealed (so every
// instance can read it and nobody can forge it) and bound to the account.
// It says "this browser signed in to this account before": its guesses are
// counted apart from everyone else's.
const (
	knownDeviceCookie   = "mtdconnect_known_device"
	knownDevicePath     = "/signin"
	knownDeviceLifetime = 400 * 24 * time.Hour // browsers cap a cookie there
)

var knownDeviceAD = seal.AD("signin", "known-device")

type knownDeviceValue struct {
	UserID int64  `json:"u"`
	ID     string `json:"d"`
}

// knownDevice returns the ID of the request's known-device cookie if it
// names userID.
func (s *Server) knownDevice(r *http.Request, userID int64) (string, bool) {
	v, ok := s.readKnownDevice(r)
	if !ok || userID == 0 || v.UserID != userID {
		return "", false
	}
	return v.ID, true
}

func (s *Server) readKnownDevice(r *http.Request) (knownDeviceValue, bool) {
	var v knownDeviceValue
	c, err := r.Cookie(knownDeviceCookie)
	if s.sealer == nil || err != nil || c.Value == "" || len(c.Value) > 512 {
		return v, false
	}
	ct, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return v, false
	}
	b, err := s.sealer.Open(ct, knownDeviceAD)
	if err != nil || json.Unmarshal(b, &v) != nil || v.ID == "" {
		return knownDeviceValue{}, false
	}
	return v, true
}

// rememberDevice sets the known-device cookie for userID, keeping the
// browser's device ID if it already had one for that account.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, userID int64) {
	if s.sealer == nil {
		return
	}
	id, ok := s.knownDevice(r, userID)
	if !ok {
		b := make([]byte, 16)
		rand.Read(b)
		id = hex.EncodeToString(b)
	}
	b, _ := json.Marshal(knownDeviceValue{UserID: userID, ID: id})
	ct, err := s.sealer.Seal(b, knownDeviceAD)
	if err != nil {
		s.log.Error("seal the known-device cookie", "err", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: knownDeviceCookie, Value: base64.RawURLEncoding.EncodeToString(ct), Path: knownDevicePath,
		MaxAge: int(knownDeviceLifetime.Seconds()), HttpOnly: true, Secure: s.secureCookies,
		// Only the site's own sign-in pages send it.
		SameSite: http.SameSiteStrictMode,
	})
}

// Password checks run argon2id with 19 MiB each: a few at a time, so a
// burst of sign-ins cannot take the memory. A sign-in waits up to
// passwordCheckWait for its turn, then is told to try again.
const (
	passwordCheckWait  = 2 * time.Second
	passwordCheckRetry = 5 // seconds, for Retry-After
)

var errBusySignins = errors.New("web: too many password checks at once")

// checkPassword checks password against hash (a dummy when hash is empty,
// so that a wrong email takes as long as a wrong password) when a check
// slot is free within passwordCheckWait; errBusySignins otherwise.
func (s *Server) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	t := time.NewTimer(passwordCheckWait)
	defer t.Stop()
	select {
	case s.passwordChecks <- struct{}{}:
	case <-t.C:
		return false, errBusySignins
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.passwordChecks }()
	if hash == "" {
		CheckPassword(dummyHash(), password)
		return false, nil
	}
	return CheckPassword(hash, password), nil
}
